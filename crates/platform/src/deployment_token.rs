//! Tokens by which MovieBook's own processes recognise each other: each is derived from the
//! deployment's JWT secret, which every role holds and no client does, so no setting of its
//! own is needed and a deployment that changes its secret changes them all.
//!
//! Each use has its own label, so that one token never opens another door: the gateway's hop
//! (`X-MovieBook-Hop`, [`crate::client_address`]) and the calls between services over gRPC
//! (`authorization: Bearer ...` on the internal address). One derivation makes them all:
//! HMAC-SHA256 of the label keyed by the secret, in unpadded base64url (43 ASCII characters,
//! valid in any HTTP header).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// What a token vouches for: each has its own label, so its own token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The gateway names the client of a request it forwards.
    GatewayHop,
    /// A MovieBook process calls another's gRPC services on its internal address.
    InternalCall,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::GatewayHop => b"moviebook gateway hop",
            Purpose::InternalCall => b"moviebook internal call",
        }
    }
}

/// A token derived from the deployment's secret for one purpose. Its text never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct DeploymentToken {
    text: String,
}

impl DeploymentToken {
    /// The token for `purpose` of the deployment whose JWT secret is `secret`.
    pub fn derive(secret: &[u8], purpose: Purpose) -> Self {
        // HMAC takes a key of any length, so this cannot fail; were it ever to, the token
        // would be empty and [`DeploymentToken::matches`] would refuse everything.
        let text = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
            .map(|mac| mac.chain_update(purpose.label()).finalize())
            .map(|tag| URL_SAFE_NO_PAD.encode(tag.into_bytes()))
            .unwrap_or_default();
        DeploymentToken { text }
    }

    /// The token's text, for the code that sends it.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// True when `presented` is this token, compared in constant time so that the answer's
    /// timing tells a guesser nothing about how much of a guess was right.
    pub fn matches(&self, presented: &[u8]) -> bool {
        !self.text.is_empty() && bool::from(presented.ct_eq(self.text.as_bytes()))
    }
}

impl fmt::Debug for DeploymentToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeploymentToken(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_purpose_and_each_secret_has_its_own_token() {
        let hop = DeploymentToken::derive(b"secret", Purpose::GatewayHop);
        let call = DeploymentToken::derive(b"secret", Purpose::InternalCall);
        let other = DeploymentToken::derive(b"other", Purpose::InternalCall);
        assert_ne!(hop, call);
        assert_ne!(call, other);
        assert_eq!(
            call,
            DeploymentToken::derive(b"secret", Purpose::InternalCall)
        );
        assert_eq!(call.expose().len(), 43, "{}", call.expose());
    }

    #[test]
    fn only_the_token_itself_matches() {
        let token = DeploymentToken::derive(b"secret", Purpose::InternalCall);
        assert!(token.matches(token.expose().as_bytes()));
        assert!(!token.matches(b""));
        assert!(!token.matches(&token.expose().as_bytes()[1..]));
        let hop = DeploymentToken::derive(b"secret", Purpose::GatewayHop);
        assert!(!token.matches(hop.expose().as_bytes()));
    }

    #[test]
    fn its_text_never_prints() {
        let token = DeploymentToken::derive(b"secret", Purpose::InternalCall);
        assert!(!format!("{token:?}").contains(token.expose()));
    }
}
