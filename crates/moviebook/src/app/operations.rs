//! The operations routes every process serves, whatever its roles: liveness, readiness,
//! metrics, the OpenAPI document and its explorer. Metrics are for the operators: on the
//! internal address when the process has one, on the public one otherwise.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bus::Bus;
use metrics_exporter_prometheus::PrometheusHandle;
use objects::ObjectStore;
use store::Store;

use crate::openapi;

/// What the operations routes read.
#[derive(Clone)]
pub struct Operations {
    /// Pinged by `/readyz`.
    pub store: Arc<dyn Store>,
    /// Pinged by `/readyz`.
    pub bus: Arc<dyn Bus>,
    /// Pinged by `/readyz` in the processes that serve pictures (the only ones that open it).
    pub images: Option<Arc<dyn ObjectStore>>,
    /// Asked by `/readyz` whether the services it forwards to are ready.
    pub gateway: Option<Arc<gateway::Gateway>>,
    /// Rendered by `/metrics`.
    pub metrics: PrometheusHandle,
}

/// The operations part of the OpenAPI document, from the handlers below.
#[derive(utoipa::OpenApi)]
#[openapi(paths(healthz, readyz, metrics))]
pub struct OperationsDoc;

/// The public operations routes: liveness, readiness, the OpenAPI document and its
/// explorer.
pub fn routes(operations: Operations, metrics: openapi::MetricsAt) -> serde_json::Result<Router> {
    Ok(Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(operations)
        .merge(openapi::route(metrics)?)
        .merge(openapi::explorer()))
}

/// `/metrics`, for the internal address when there is one, the public one otherwise.
pub fn metrics_routes(operations: Operations) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(operations)
}

/// Liveness: 200 while the process runs.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200)))]
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: 200 when the store, the bus and (in a process that serves pictures) the object
/// store answer, 503 otherwise.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200), (status = 503)))]
async fn readyz(State(ops): State<Operations>) -> Response {
    let answer = readiness(&ops).await;
    // For alerts: the answer of the last probe (a container health check probes every 10 s),
    // since nothing else tells Prometheus whether the store and the bus answer.
    let ready = if answer.status().is_success() {
        1.0
    } else {
        0.0
    };
    metrics::gauge!("moviebook_ready").set(ready);
    answer
}

/// What `/readyz` answers: 200 when every dependency answers, 503 naming what is down.
async fn readiness(ops: &Operations) -> Response {
    let images = async {
        match &ops.images {
            Some(images) => Some(images.ping().await),
            None => None,
        }
    };
    let (store, bus, images) = tokio::join!(ops.store.ping(), ops.bus.ping(), images);
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
        let down = down.join(", ");
        return platform::ApiError::unavailable(
            format!("not ready: {down}"),
            format!("services not ready: {down}"),
        )
        .into_response();
    }
    let images_ok = images.as_ref().is_none_or(Result::is_ok);
    if store.is_ok() && bus.is_ok() && images_ok {
        let mut body = serde_json::json!({ "store": "up", "bus": "up" });
        if images.is_some() {
            body["images"] = "up".into();
        }
        return (StatusCode::OK, axum::Json(body)).into_response();
    }
    // Not ready is a 503 like any other, so problem+json: a bare 5xx body would be turned
    // into a 500 by `problem_for_bare_errors`.
    // The answer names what is down; why (hosts, driver messages) goes to the log.
    let state = |name: &str, error: &Option<String>| match error {
        None => (format!("{name} up"), String::new()),
        Some(reason) => (format!("{name} down"), format!(" {name}: {reason}.")),
    };
    let (store, store_cause) = state("store", &store.err().map(|e| e.to_string()));
    let (bus, bus_cause) = state("bus", &bus.err().map(|e| e.to_string()));
    let (images, images_cause) = match images {
        Some(ping) => {
            let (state, cause) = state("images", &ping.err().map(|e| e.to_string()));
            (format!(", {state}"), cause)
        }
        None => (String::new(), String::new()),
    };
    platform::ApiError::unavailable(
        format!("not ready: {store}, {bus}{images}"),
        format!("readiness:{store_cause}{bus_cause}{images_cause}"),
    )
    .into_response()
}

/// Prometheus metrics in text format; served on the internal address instead when the
/// process has one (`MOVIEBOOK_INTERNAL_ADDR`).
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain")))]
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
