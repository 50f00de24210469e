//! The operations routes every process serves, whatever its roles: liveness, readiness,
//! metrics, the OpenAPI document and its explorer.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bus::Bus;
use metrics_exporter_prometheus::PrometheusHandle;
use store::Store;

use crate::openapi;

/// What the operations routes read.
#[derive(Clone)]
pub struct Operations {
    /// Pinged by `/readyz`.
    pub store: Arc<dyn Store>,
    /// Pinged by `/readyz`.
    pub bus: Arc<dyn Bus>,
    /// Asked by `/readyz` whether the services it forwards to are ready.
    pub gateway: Option<Arc<gateway::Gateway>>,
    /// Rendered by `/metrics`.
    pub metrics: PrometheusHandle,
}

/// The operations routes.
pub fn routes(operations: Operations) -> Router {
    Router::new()
        .route(openapi::DOCUMENT_PATH, get(openapi::serve))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(operations)
        .merge(openapi::explorer())
}

async fn readyz(State(ops): State<Operations>) -> Response {
    let (store, bus) = tokio::join!(ops.store.ping(), ops.bus.ping());
    let services = match &ops.gateway {
        Some(gateway) => gateway.readiness().await,
        None => Vec::new(),
    };
    let down: Vec<&str> = services
        .iter()
        .filter(|(_, ready)| !ready)
        .map(|(s, _)| s.name())
        .collect();
    if !down.is_empty() {
        return platform::ApiError::Unavailable(format!("not ready: {}", down.join(", ")))
            .into_response();
    }
    if store.is_ok() && bus.is_ok() {
        let body = serde_json::json!({ "store": "up", "bus": "up" });
        return (StatusCode::OK, axum::Json(body)).into_response();
    }
    // Not ready is a 503 like any other, so problem+json: a bare 5xx body would be turned
    // into a 500 by `problem_for_bare_errors`.
    let state = |name: &str, error: Option<String>| match error {
        None => format!("{name} up"),
        Some(reason) => format!("{name} down ({reason})"),
    };
    let detail = format!(
        "{}; {}",
        state("store", store.err().map(|e| e.to_string())),
        state("bus", bus.err().map(|e| e.to_string()))
    );
    platform::ApiError::Unavailable(detail).into_response()
}

async fn metrics(State(ops): State<Operations>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        ops.metrics.render(),
    )
        .into_response()
}
