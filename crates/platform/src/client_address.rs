//! Who the client is, for what is counted per client (login throttling): the peer of the
//! connection, unless the peer is a proxy this deployment trusts.
//!
//! - Proxies in front of MovieBook (a load balancer, a TLS terminator) are trusted only when
//!   configured (`MOVIEBOOK_TRUSTED_PROXIES`): then `X-Forwarded-For` is read from its right
//!   end, skipping trusted proxies, to the first address that is not one. Anyone else's
//!   `X-Forwarded-For` is ignored, so a client cannot pick the address it is counted under.
//! - The gateway's hop to a service names the client in `X-MovieBook-Client`, vouched for by
//!   `X-MovieBook-Hop`: a token derived from the deployment's JWT secret, which every role
//!   holds and no client does ([`crate::deployment_token`]). Without a valid token the header
//!   is ignored.

use std::net::IpAddr;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use ipnet::IpNet;

use crate::deployment_token::{DeploymentToken, Purpose};

static CLIENT: HeaderName = HeaderName::from_static("x-moviebook-client");
static HOP: HeaderName = HeaderName::from_static("x-moviebook-hop");
static FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    fn trust(&self, address: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&address))
    }
}

impl std::str::FromStr for TrustedProxies {
    type Err = String;

    /// Comma-separated addresses and networks: `10.0.0.5, 192.168.0.0/16, ::1`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| {
                part.parse::<IpNet>()
                    .or_else(|_| part.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{part:?} is neither an IP address nor a network"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }
}

/// Tells the client's address from a request.
pub struct ClientAddressing {
    trusted: TrustedProxies,
    hop_token: DeploymentToken,
}

impl ClientAddressing {
    /// `secret`: the JWT secret every role of the deployment shares.
    pub fn new(trusted: TrustedProxies, secret: &str) -> Self {
        let hop_token = DeploymentToken::derive(secret.as_bytes(), Purpose::GatewayHop);
        ClientAddressing { trusted, hop_token }
    }

    /// The client of a request that came from `peer`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if let Some(client) = self.vouched(headers) {
            return client;
        }
        if !self.trusted.trust(peer) {
            return peer;
        }
        let forwarded = headers
            .get_all(&FORWARDED_FOR)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        let mut client = peer;
        for entry in forwarded.iter().rev() {
            let Ok(address) = entry.parse::<IpAddr>() else {
                break;
            };
            client = address;
            if !self.trusted.trust(address) {
                break;
            }
        }
        client
    }

    /// Names `client` on a request the gateway forwards to a service, replacing whatever the
    /// client sent in these headers.
    pub fn vouch(&self, client: IpAddr, headers: &mut HeaderMap) {
        headers.remove(&CLIENT);
        headers.remove(&HOP);
        if let (Ok(client), Ok(token)) = (
            HeaderValue::from_str(&client.to_string()),
            HeaderValue::from_str(self.hop_token.expose()),
        ) {
            headers.insert(CLIENT.clone(), client);
            headers.insert(HOP.clone(), token);
        }
    }

    fn vouched(&self, headers: &HeaderMap) -> Option<IpAddr> {
        let token = headers.get(&HOP)?;
        if !self.hop_token.matches(token.as_bytes()) {
            return None;
        }
        headers.get(&CLIENT)?.to_str().ok()?.trim().parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn an_untrusted_peers_forwarded_for_is_ignored() {
        let addressing = ClientAddressing::new(TrustedProxies::default(), "secret");
        let forged = headers(&[("x-forwarded-for", "10.9.9.9")]);
        assert_eq!(
            addressing.client(ip("203.0.113.7"), &forged),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn a_trusted_proxy_chain_is_read_from_the_right_to_the_first_untrusted_address() {
        let trusted: TrustedProxies = "10.0.0.0/8, 192.0.2.1".parse().unwrap();
        let addressing = ClientAddressing::new(trusted, "secret");
        let chain = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.7, 10.0.0.9")]);
        assert_eq!(
            addressing.client(ip("192.0.2.1"), &chain),
            ip("203.0.113.7")
        );
        let garbage = headers(&[("x-forwarded-for", "nonsense")]);
        assert_eq!(
            addressing.client(ip("192.0.2.1"), &garbage),
            ip("192.0.2.1")
        );
    }

    #[test]
    fn only_the_deployments_hop_token_vouches_for_a_client() {
        let gateway = ClientAddressing::new(TrustedProxies::default(), "secret");
        let mut forwarded = headers(&[("x-moviebook-client", "10.9.9.9")]);
        gateway.vouch(ip("203.0.113.7"), &mut forwarded);
        assert_eq!(
            gateway.client(ip("127.0.0.1"), &forwarded),
            ip("203.0.113.7")
        );

        let other_deployment = ClientAddressing::new(TrustedProxies::default(), "other");
        assert_eq!(
            other_deployment.client(ip("127.0.0.1"), &forwarded),
            ip("127.0.0.1")
        );
        let forged = headers(&[
            ("x-moviebook-client", "10.9.9.9"),
            ("x-moviebook-hop", "guess"),
        ]);
        assert_eq!(gateway.client(ip("127.0.0.1"), &forged), ip("127.0.0.1"));
    }

    #[test]
    fn trusted_proxies_parse_addresses_and_networks_and_name_a_bad_entry() {
        let parsed: TrustedProxies = " 10.0.0.1 ,::1, 192.168.0.0/16,".parse().unwrap();
        assert_eq!(parsed.0.len(), 3);
        assert!(parsed.trust(ip("192.168.4.4")));
        assert!(!parsed.trust(ip("10.0.0.2")));
        let error = "10.0.0.1, banana".parse::<TrustedProxies>().unwrap_err();
        assert!(error.contains("banana"), "{error}");
    }
}
