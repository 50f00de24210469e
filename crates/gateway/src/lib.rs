//! The gateway: the one public address of a distributed MovieBook. It forwards each
//! `/api/v1/...` request to the service that owns the route, with a timeout, and answers
//! 503 problem+json for the routes of a service that does not answer — the other services'
//! routes keep working. `/readyz` is ready only when every service it forwards to is.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::uri::{PathAndQuery, Uri};
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

    /// The service that owns an API path, by its first segment after `/api/v1/`.
    pub fn owning(path: &str) -> Option<Service> {
        let rest = path.strip_prefix("/api/v1/")?;
        match rest.split('/').next()? {
            "movies" | "genres" => Some(Service::Movies),
            "users" | "auth" => Some(Service::Users),
            "actors" => Some(Service::Actors),
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
        // The services throttle logins per client address: they see the caller's, not ours.
        let client = self.addressing.client(client.ip(), request.headers());
        self.addressing.vouch(client, request.headers_mut());
        request.headers_mut().remove(axum::http::header::HOST);
        match tokio::time::timeout(FORWARD_TIMEOUT, self.client.request(request)).await {
            Ok(Ok(response)) => response.map(Body::new),
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
        assert_eq!(Service::owning("/api/v1/actors"), Some(Service::Actors));
        assert_eq!(Service::owning("/api/v1/openapi.json"), None);
        assert_eq!(Service::owning("/healthz"), None);
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
