//! Who is visiting: the session cookie, which holds the API token a person logged in with
//! (the pages call the API with it, so the API's own rules decide what they may do), and the
//! CSRF token every state-changing form carries.
//!
//! The CSRF token is a keyed hash of a random value kept in its own cookie together with the
//! session cookie's value: a form from another site cannot carry it (it cannot read this
//! site's pages or cookies), and a token taken from one session is worthless in another.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use uuid::Uuid;

/// The cookie holding the session.
const SESSION_COOKIE: &str = "moviebook_session";
/// The cookie holding the random value the CSRF token is made from.
const CSRF_COOKIE: &str = "moviebook_csrf";
/// The name of the hidden field of every state-changing form.
pub const CSRF_FIELD: &str = "csrf";

/// The key the CSRF tokens are made with: derived from the deployment's JWT secret, so every
/// process of a deployment accepts the tokens any of them made.
#[derive(Clone)]
pub struct CsrfKey(Arc<Hmac<Sha256>>);

impl CsrfKey {
    /// The key derived from `secret`.
    pub fn derive(secret: &[u8]) -> Self {
        let mut derivation = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        derivation.update(b"moviebook web forms: csrf key");
        let key = derivation.finalize().into_bytes();
        CsrfKey(Arc::new(
            <Hmac<Sha256> as KeyInit>::new_from_slice(&key)
                .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length")),
        ))
    }

    /// The token of the random value `nonce` within the session whose cookie is `session`.
    fn token(&self, nonce: &str, session: &str) -> String {
        let mut mac = (*self.0).clone();
        mac.update(nonce.as_bytes());
        mac.update(b"\n");
        mac.update(session.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

/// A signed-in person: the token the API gave them, and for a user, who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Session {
    User { id: Uuid, token: String },
    Admin { token: String },
}

impl Session {
    /// The cookie's value: the kind, the user's id, and the token (encoded, as an admin
    /// token may hold any character).
    fn cookie_value(&self) -> String {
        match self {
            Session::User { id, token } => {
                format!("u.{id}.{}", URL_SAFE_NO_PAD.encode(token))
            }
            Session::Admin { token } => format!("a.{}", URL_SAFE_NO_PAD.encode(token)),
        }
    }

    /// The session a cookie value holds; anything else is no session.
    fn from_cookie_value(value: &str) -> Option<Session> {
        let decode = |text: &str| {
            URL_SAFE_NO_PAD
                .decode(text)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                // A token the API cannot be sent (a forged cookie's) is no session.
                .filter(|token| !token.is_empty() && HeaderValue::from_str(token).is_ok())
        };
        if let Some(rest) = value.strip_prefix("u.") {
            let (id, token) = rest.split_once('.')?;
            Some(Session::User {
                id: Uuid::parse_str(id).ok()?,
                token: decode(token)?,
            })
        } else {
            Some(Session::Admin {
                token: decode(value.strip_prefix("a.")?)?,
            })
        }
    }
}

/// The value of the cookie `name` in a request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"'))
}

/// Whether the person reached the site over HTTPS: the proxy in front says so (the binary
/// itself serves plain HTTP). A cookie marked `Secure` by a forged header only fails to come
/// back to whoever forged it.
fn over_https(parts: &Parts) -> bool {
    let forwarded_proto = parts
        .headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"));
    let forwarded = parts
        .headers
        .get_all(header::FORWARDED)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("proto=https"));
    forwarded_proto || forwarded || parts.uri.scheme_str() == Some("https")
}

/// Who is visiting, as a page sees them: their session, the CSRF token of their forms, and
/// the cookies the answer must set.
#[derive(Debug, Clone)]
pub struct Visitor {
    session: Option<Session>,
    /// The session cookie's value as it came (the CSRF token is bound to it).
    session_cookie: String,
    nonce: String,
    /// True when the nonce was made for this request, so its cookie must be set.
    fresh_nonce: bool,
    key_token: String,
    secure: bool,
    /// The session cookie to set (`Some(None)`: to clear) with the answer.
    new_session: Option<Option<(Session, Option<u64>)>>,
}

impl<S> FromRequestParts<S> for Visitor
where
    CsrfKey: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let key = CsrfKey::from_ref(state);
        let session_cookie = cookie(&parts.headers, SESSION_COOKIE).unwrap_or_default();
        let session = Session::from_cookie_value(session_cookie);
        let existing = cookie(&parts.headers, CSRF_COOKIE)
            .filter(|nonce| nonce.len() == 43 && URL_SAFE_NO_PAD.decode(nonce).is_ok());
        let (nonce, fresh_nonce) = match existing {
            Some(nonce) => (nonce.to_owned(), false),
            None => (URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>()), true),
        };
        // A cookie that holds no session is not bound to: the token is the same as without.
        let session_cookie = if session.is_some() {
            session_cookie.to_owned()
        } else {
            String::new()
        };
        Ok(Visitor {
            key_token: key.token(&nonce, &session_cookie),
            session,
            session_cookie,
            nonce,
            fresh_nonce,
            secure: over_https(parts),
            new_session: None,
        })
    }
}

impl Visitor {
    /// The person's session, if they are signed in.
    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    /// The signed-in user's id.
    pub fn user_id(&self) -> Option<Uuid> {
        match self.session {
            Some(Session::User { id, .. }) => Some(id),
            _ => None,
        }
    }

    /// Whether the admin is signed in.
    pub fn is_admin(&self) -> bool {
        matches!(self.session, Some(Session::Admin { .. }))
    }

    /// The CSRF token the forms of this page carry.
    pub fn csrf(&self) -> &str {
        &self.key_token
    }

    /// Whether `sent` is this visitor's CSRF token (compared in constant time). A visitor
    /// without the CSRF cookie has no token yet, so nothing they send is accepted.
    pub fn csrf_matches(&self, sent: Option<&str>) -> bool {
        !self.fresh_nonce
            && sent.is_some_and(|sent| bool::from(sent.as_bytes().ct_eq(self.key_token.as_bytes())))
    }

    /// Signs `session` in with the answer (for `max_age` seconds, or the browser's session),
    /// and makes this page's forms carry the new session's token.
    pub fn sign_in(&mut self, session: Session, max_age: Option<u64>, key: &CsrfKey) {
        self.session_cookie = session.cookie_value();
        self.key_token = key.token(&self.nonce, &self.session_cookie);
        self.session = Some(session.clone());
        self.new_session = Some(Some((session, max_age)));
    }

    /// Signs the person out with the answer: their token was refused, or they asked.
    pub fn sign_out(&mut self, key: &CsrfKey) {
        if self.session.take().is_some() || !self.session_cookie.is_empty() {
            self.new_session = Some(None);
        }
        self.session_cookie.clear();
        self.key_token = key.token(&self.nonce, "");
    }

    /// The `Set-Cookie` headers the answer to this visit carries.
    pub fn cookies(&self) -> Vec<HeaderValue> {
        let attributes = if self.secure {
            "; Path=/; HttpOnly; SameSite=Lax; Secure"
        } else {
            "; Path=/; HttpOnly; SameSite=Lax"
        };
        let mut cookies = Vec::new();
        if self.fresh_nonce {
            cookies.push(format!("{CSRF_COOKIE}={}{attributes}", self.nonce));
        }
        match &self.new_session {
            Some(Some((session, max_age))) => {
                let max_age = max_age
                    .map(|s| format!("; Max-Age={s}"))
                    .unwrap_or_default();
                cookies.push(format!(
                    "{SESSION_COOKIE}={}{attributes}{max_age}",
                    session.cookie_value()
                ));
            }
            Some(None) => cookies.push(format!("{SESSION_COOKIE}={attributes}; Max-Age=0")),
            None => {}
        }
        cookies
            .into_iter()
            .filter_map(|cookie| HeaderValue::from_str(&cookie).ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_survives_its_cookie_and_anything_else_is_none() {
        let user = Session::User {
            id: Uuid::now_v7(),
            token: "a.b.c".into(),
        };
        let admin = Session::Admin {
            token: "any; token=with spaces".into(),
        };
        for session in [user, admin] {
            let value = session.cookie_value();
            assert!(
                HeaderValue::from_str(&value).is_ok() && !value.contains([';', ' ']),
                "{value}"
            );
            assert_eq!(Session::from_cookie_value(&value), Some(session));
        }
        // "Cg" is a line feed, which no header may hold.
        for junk in [
            "",
            "u.",
            "u.not-a-uuid.YQ",
            "x.YQ",
            "a.",
            "a.!!",
            "u.0190.YQ",
            "a.Cg",
        ] {
            assert_eq!(Session::from_cookie_value(junk), None, "{junk}");
        }
    }

    #[test]
    fn a_csrf_token_belongs_to_its_nonce_its_session_and_its_key() {
        let key = CsrfKey::derive(b"secret");
        let token = key.token("nonce", "u.1.x");
        assert_eq!(token, key.token("nonce", "u.1.x"));
        assert_ne!(token, key.token("other", "u.1.x"));
        assert_ne!(token, key.token("nonce", "u.2.x"));
        assert_ne!(token, CsrfKey::derive(b"other").token("nonce", "u.1.x"));
    }

    #[test]
    fn cookies_are_read_from_every_cookie_header() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; b=2"));
        headers.append(header::COOKIE, HeaderValue::from_static("moviebook_csrf=n"));
        assert_eq!(cookie(&headers, "b"), Some("2"));
        assert_eq!(cookie(&headers, CSRF_COOKIE), Some("n"));
        assert_eq!(cookie(&headers, "c"), None);
    }
}
