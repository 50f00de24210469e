//! HTTP plumbing shared by every service's router: reading a JSON body and a query string
//! the way API.md wants them refused, the 404 fallback, and the layers every router gets
//! (unknown methods refused, body limit, per-route metrics, panics turned into problem+json).

use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use domain::input::RequestBody;
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::ApiError;

/// Request bodies over this size are refused with 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON request body read as `T`: every failing field is listed in one 422.
/// No or another content type → 415; too large → 413; not JSON → 400.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: RequestBody> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &S) -> Result<Self, Self::Rejection> {
        if !is_json(request.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::not_json());
        }
        let bytes = read_body(request, MAX_BODY_BYTES)
            .await?
            .ok_or_else(ApiError::json_too_large)?;
        let body: Value = serde_json::from_slice(&bytes)
            .map_err(|error| ApiError::MalformedJson(error.to_string()))?;
        Ok(JsonBody(T::parse(&body)?))
    }
}

/// The most a picture upload's body may hold (API.md, "Pictures").
pub const MAX_PICTURE_BYTES: usize = 10 * 1024 * 1024;

/// A picture upload: the raw body with its declared content type, at most
/// [`MAX_PICTURE_BYTES`] (else 413, see [`read_body`]). Which content types are pictures is
/// the picture code's rule; a body without one is 415 here.
pub struct PictureBody {
    pub content_type: String,
    pub bytes: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for PictureBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &S) -> Result<Self, Self::Rejection> {
        let headers = request.headers();
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| {
                ApiError::UnsupportedMediaType(
                    "a picture must be sent with its Content-Type: image/jpeg, image/png or \
                     image/webp"
                        .into(),
                )
            })?;
        let bytes = read_body(request, MAX_PICTURE_BYTES)
            .await?
            .ok_or(ApiError::PayloadTooLarge { limit: "10 MiB" })?;
        Ok(PictureBody {
            content_type,
            bytes,
        })
    }
}

/// How much past its limit a body is still read before the 413, at the least.
const DRAINED_AT_LEAST: usize = 4 * 1024 * 1024;

/// Reads a request's body whole when it is at most `limit` bytes; `None` when it is longer.
/// A body over the limit is still read to its end, up to twice the limit (and at least 4 MiB
/// past it), before the caller answers 413: a server that stops reading closes on a client
/// that is still sending, which then sees a reset instead of the answer (through the gateway,
/// most of the time). A body declared longer than that is refused at once.
async fn read_body(request: Request, limit: usize) -> Result<Option<Bytes>, ApiError> {
    let drain_limit = limit + limit.max(DRAINED_AT_LEAST);
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > drain_limit as u64) {
        return Ok(None);
    }
    let mut body = request.into_body();
    let mut bytes = Vec::new();
    let mut read = 0usize;
    let mut over = declared.is_some_and(|length| length > limit as u64);
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(_) if over => break,
            Err(error) => return Err(ApiError::UnreadableBody(error.to_string())),
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        read += data.len();
        over |= read > limit;
        if over {
            if read > drain_limit {
                break;
            }
        } else {
            bytes.extend_from_slice(&data);
        }
    }
    Ok((!over).then(|| Bytes::from(bytes)))
}

/// A query string read as `T`. Query types take each parameter as text (so reading them
/// fails only for a query string that is not one) and check them in methods that list every
/// failing parameter; the same type is the `IntoParams` of the OpenAPI document.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let unreadable =
            |error: String| ApiError::MalformedJson(format!("the query string: {error}"));
        // A parameter given twice counts once, with its last value, as it always has.
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(query).map_err(|e| unreadable(e.to_string()))?;
        let params: serde_json::Map<String, Value> = pairs
            .into_iter()
            .map(|(name, value)| (name, Value::String(value)))
            .collect();
        serde_json::from_value(Value::Object(params))
            .map(Query)
            .map_err(|e| unreadable(e.to_string()))
    }
}

fn is_json(content_type: Option<&header::HeaderValue>) -> bool {
    let Some(Ok(value)) = content_type.map(|v| v.to_str()) else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The answer to every unknown route.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such route")
}

/// Turns the bare responses axum produces by itself (405, 413 from the body limit) into
/// problem+json, so that no error leaves the server without one.
pub async fn problem_for_bare_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    // The web pages' own error pages (HTML) are answers for people and stay as they are.
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| {
            v.as_bytes().starts_with(b"application/problem+json")
                || v.as_bytes().starts_with(b"text/html")
        });
    if is_problem || !(response.status().is_client_error() || response.status().is_server_error()) {
        return response;
    }
    match response.status() {
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed.into_response(),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::json_too_large().into_response(),
        StatusCode::NOT_FOUND => ApiError::NotFound("no such route").into_response(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::not_json().into_response(),
        StatusCode::BAD_REQUEST => ApiError::MalformedJson("bad request".into()).into_response(),
        StatusCode::SERVICE_UNAVAILABLE => {
            ApiError::unavailable("the server is unavailable", "a bare 503").into_response()
        }
        status if status.is_server_error() => {
            ApiError::Internal(format!("bare {status}")).into_response()
        }
        _ => response,
    }
}

/// The `method` label of a request that uses none of the methods the API knows.
pub const OTHER_METHOD: &str = "other";

/// The `method` label of `method`: one of the methods the API serves, or [`OTHER_METHOD`].
/// A closed set, because a label value that a client chooses is a new series in every
/// metric that carries it: 150 made-up methods made 150 series that lived as long as the
/// process.
pub fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => OTHER_METHOD,
    }
}

/// Answers a request with a method outside that set 405 before any handler sees it: no
/// route of the API takes one, and the gateway's fallback would otherwise forward it to a
/// service (which answered 405 after a hop) or answer 404 for a path it does not know.
pub async fn refuse_unknown_methods(request: Request, next: Next) -> Response {
    if method_label(request.method()) == OTHER_METHOD {
        return ApiError::MethodNotAllowed.into_response();
    }
    next.run(request).await
}

/// Records request count and latency per route (the matched pattern, not the raw path,
/// so ids do not explode the label set) and per method (from a closed set, for the same
/// reason).
pub async fn record_metrics(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("moviebook_http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("moviebook_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The problem+json answer to a panic inside a handler: the process keeps serving.
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    ApiError::Internal("a handler panicked".into()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_labels_are_a_closed_set() {
        for known in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
            let method = Method::from_bytes(known.as_bytes()).unwrap();
            assert_eq!(method_label(&method), known);
        }
        for unknown in ["FOO", "get", "TRACE", "CONNECT", "PROPFIND"] {
            let method = Method::from_bytes(unknown.as_bytes()).unwrap();
            assert_eq!(method_label(&method), OTHER_METHOD, "{unknown}");
        }
    }

    #[test]
    fn json_content_types() {
        let accepted = [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/merge-patch+json",
        ];
        for value in accepted {
            assert!(
                is_json(Some(&header::HeaderValue::from_static(value))),
                "{value}"
            );
        }
        assert!(!is_json(Some(&header::HeaderValue::from_static(
            "text/plain"
        ))));
        assert!(!is_json(None));
    }
}
