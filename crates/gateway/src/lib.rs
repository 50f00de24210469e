//! The gateway: the one public address of a distributed MovieBook. It forwards each
//! `/api/v1/...` request to the service that owns the route, with a timeout, and answers
//! 503 problem+json for the routes of a service that does not answer — the other services'
//! routes keep working. `/readyz` is ready only when every service it forwards to is.
//! It forwards messages, not connections: the hop-by-hop headers, which describe one
//! connection (the client's to the gateway, or the gateway's to a service), are dropped both
//! ways.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::CONNECTION;
use axum::http::uri::{PathAndQuery, Uri};
use axum::http::{HeaderMap, HeaderName};
use axum::response::{IntoResponse, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use platform::ApiError;
use platform::client_address::ClientAddressing;

/// The services the gateway forwards to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    Movies,
    Users,
    Actors,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::Movies => "movies",
            Service::Users => "users",
            Service::Actors => "actors",
        }
    }

    /// The service that owns an API path, by its first segment after `/api/v1/` — but a
    /// user's watch list (`/users/{id}/watchlist...`) is the movies service's, which knows
    /// the movies on it.
    pub fn owning(path: &str) -> Option<Service> {
        let rest = path.strip_prefix("/api/v1/")?;
        let mut segments = rest.split('/');
        match (segments.next()?, segments.nth(1)) {
            ("users", Some("watchlist")) => Some(Service::Movies),
            ("movies" | "genres", _) => Some(Service::Movies),
            ("users" | "auth", _) => Some(Service::Users),
            ("actors", _) => Some(Service::Actors),
            _ => None,
        }
    }
}

/// How long a forwarded request may take, answer included.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a readiness probe of a service may take.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Forwards requests to the services it knows the address of.
pub struct Gateway {
    client: Client<HttpConnector, Body>,
    upstreams: Vec<(Service, Uri)>,
    addressing: Arc<ClientAddressing>,
}

impl Gateway {
    /// A gateway to the services at these base URLs (`http://host:port`).
    pub fn new(upstreams: Vec<(Service, Uri)>, addressing: Arc<ClientAddressing>) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(1)));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Gateway {
            client,
            upstreams,
            addressing,
        }
    }

    fn upstream(&self, service: Service) -> Option<&Uri> {
        self.upstreams
            .iter()
            .find(|(s, _)| *s == service)
            .map(|(_, uri)| uri)
    }

    /// True when the gateway forwards the routes of `service`.
    pub fn forwards(&self, service: Service) -> bool {
        self.upstream(service).is_some()
    }

    /// Each forwarded service and whether its `/readyz` answers 200.
    pub async fn readiness(&self) -> Vec<(Service, bool)> {
        let probes = self.upstreams.iter().map(|(service, base)| async move {
            let ready = match join(base, "/readyz") {
                Some(uri) => {
                    let request = axum::http::Request::get(uri).body(Body::empty());
                    match request {
                        Ok(request) => matches!(
                            tokio::time::timeout(READY_TIMEOUT, self.client.request(request)).await,
                            Ok(Ok(response)) if response.status().is_success()
                        ),
                        Err(_) => false,
                    }
                }
                None => false,
            };
            (*service, ready)
        });
        futures::future::join_all(probes).await
    }

    async fn forward(
        &self,
        service: Service,
        client: SocketAddr,
        mut request: Request,
    ) -> Response {
        let Some(base) = self.upstream(service) else {
            return ApiError::NotFound("no such route").into_response();
        };
        let path = request
            .uri()
            .path_and_query()
            .map_or("/", PathAndQuery::as_str)
            .to_owned();
        let Some(uri) = join(base, &path) else {
            return ApiError::NotFound("no such route").into_response();
        };
        *request.uri_mut() = uri;
        // The client's address is read first, from its headers as they came; what the
        // client's own connection asked for is then dropped, before the gateway adds its own
        // headers, so that `Connection` cannot name those away.
        let client = self.addressing.client(client.ip(), request.headers());
        strip_hop_by_hop(request.headers_mut());
        // The services throttle logins per client address: they see the caller's, not ours.
        self.addressing.vouch(client, request.headers_mut());
        // The service's span follows the gateway's in the trace (when traces are exported);
        // the request id the service answers under is already among the headers.
        trace_context::inject_current(&mut trace_context::HeadersMut(request.headers_mut()));
        request.headers_mut().remove(axum::http::header::HOST);
        match tokio::time::timeout(FORWARD_TIMEOUT, self.client.request(request)).await {
            Ok(Ok(response)) => {
                let mut response = response.map(Body::new);
                strip_hop_by_hop(response.headers_mut());
                response
            }
            Ok(Err(error)) => ApiError::unavailable(
                format!("the {} service is unavailable", service.name()),
                error.to_string(),
            )
            .into_response(),
            Err(_) => ApiError::unavailable(
                format!("the {} service did not answer in time", service.name()),
                format!("no answer within {FORWARD_TIMEOUT:?}"),
            )
            .into_response(),
        }
    }
}

/// The hop-by-hop headers (RFC 9110 §7.6.1, with RFC 2616's `Keep-Alive`,
/// `Proxy-Authenticate`, `Proxy-Authorization`, `Trailer` and `Transfer-Encoding`, which
/// proxies still treat so).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Drops the headers that describe one connection rather than the message: a client must
/// not steer the gateway's connection to a service (an `Upgrade`, a `Transfer-Encoding` the
/// service would read differently, credentials meant for a proxy), and a service's
/// connection details are not the client's business. The body's framing is redone by the
/// HTTP library on each connection.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Every header `Connection` names is hop-by-hop too (RFC 9110 §7.6.1).
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

fn join(base: &Uri, path_and_query: &str) -> Option<Uri> {
    let mut parts = base.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(path_and_query).ok()?);
    Uri::from_parts(parts).ok()
}

/// The handler for every route this process does not serve itself: forwarded when a known
/// service owns it, 404 otherwise.
pub async fn forward_or_not_found(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    match Service::owning(request.uri().path()) {
        Some(service) if gateway.forwards(service) => {
            gateway.forward(service, client, request).await
        }
        _ => ApiError::NotFound("no such route").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_belong_to_their_services() {
        assert_eq!(
            Service::owning("/api/v1/movies/top-rated"),
            Some(Service::Movies)
        );
        assert_eq!(
            Service::owning("/api/v1/genres/drama/movies"),
            Some(Service::Movies)
        );
        assert_eq!(Service::owning("/api/v1/auth/token"), Some(Service::Users));
        assert_eq!(Service::owning("/api/v1/users"), Some(Service::Users));
        assert_eq!(Service::owning("/api/v1/users/u1"), Some(Service::Users));
        assert_eq!(
            Service::owning("/api/v1/users/u1/watchlist"),
            Some(Service::Movies)
        );
        assert_eq!(
            Service::owning("/api/v1/users/u1/watchlist/m1"),
            Some(Service::Movies)
        );
        assert_eq!(Service::owning("/api/v1/actors"), Some(Service::Actors));
        assert_eq!(Service::owning("/api/v1/openapi.json"), None);
        assert_eq!(Service::owning("/healthz"), None);
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_dropped() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("connection", "keep-alive, X-Secret"),
            ("connection", "x-other"),
            ("x-secret", "1"),
            ("x-other", "2"),
            ("keep-alive", "timeout=5"),
            ("proxy-authorization", "Basic YTpi"),
            ("proxy-authenticate", "Basic"),
            ("te", "trailers"),
            ("trailer", "x-checksum"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("authorization", "Bearer kept"),
            ("x-kept", "yes"),
        ] {
            headers.append(
                HeaderName::from_static(name),
                axum::http::HeaderValue::from_static(value),
            );
        }
        strip_hop_by_hop(&mut headers);
        let mut left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["authorization", "x-kept"]);
    }

    #[test]
    fn joins_a_base_url_and_a_path() {
        let base: Uri = "http://127.0.0.1:9000".parse().unwrap();
        assert_eq!(
            join(&base, "/api/v1/movies?limit=2").unwrap().to_string(),
            "http://127.0.0.1:9000/api/v1/movies?limit=2"
        );
    }
}
