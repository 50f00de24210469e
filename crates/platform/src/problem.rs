//! The one error type of the HTTP API, and its mapping to RFC 9457 problem+json, done once.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::{FieldError, ValidationErrors};
use serde::Serialize;
use store::StoreError;

/// Everything a request can fail with, each variant one status of API.md.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),
    /// The body could not be read to its end (the client stopped sending it).
    #[error("the body could not be read: {0}")]
    UnreadableBody(String),
    #[error("{0}")]
    Unauthenticated(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(&'static str),
    /// The body is over the route's limit, which `limit` names ("1 MiB").
    #[error("the body is larger than {limit}")]
    PayloadTooLarge { limit: &'static str },
    /// The body's content type is not one the route reads; the message says which it reads.
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error(transparent)]
    Validation(#[from] ValidationErrors),
    #[error("too many attempts; try again in {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A dependency cannot answer now: `what` tells the client which, in words (never a host,
    /// a port or a driver's message); `cause` is for the log.
    #[error("{what}; try again later")]
    Unavailable { what: String, cause: String },
    /// More work at once than the server takes (a full password-hashing queue, the limit of
    /// requests in flight): refused at once rather than queued, to be retried.
    #[error("the server is busy; try again in a moment")]
    Overloaded,
    /// The request ran longer than the server's request timeout and was stopped.
    #[error("the request took too long and was stopped; try again in a moment")]
    TimedOut,
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A validation failure of one field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ApiError::Validation(ValidationErrors::single(field, message))
    }

    /// A dependency that cannot answer now: `what` for the client, `cause` for the log.
    pub fn unavailable(what: impl Into<String>, cause: impl Into<String>) -> Self {
        ApiError::Unavailable {
            what: what.into(),
            cause: cause.into(),
        }
    }

    /// A JSON route's answer to a body of another content type.
    pub fn not_json() -> Self {
        ApiError::UnsupportedMediaType("the body must be sent as application/json".into())
    }

    /// A JSON route's answer to a body over [`crate::http::MAX_BODY_BYTES`].
    pub fn json_too_large() -> Self {
        ApiError::PayloadTooLarge { limit: "1 MiB" }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson(_) | ApiError::UnreadableBody(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable { .. } | ApiError::Overloaded | ApiError::TimedOut => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn kind(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::MalformedJson(_) => ("malformed-json", "Malformed JSON"),
            ApiError::UnreadableBody(_) => ("unreadable-body", "Unreadable body"),
            ApiError::Unauthenticated(_) => ("unauthenticated", "Authentication required"),
            ApiError::Forbidden(_) => ("forbidden", "Forbidden"),
            ApiError::NotFound(_) => ("not-found", "Not found"),
            ApiError::MethodNotAllowed => ("method-not-allowed", "Method not allowed"),
            ApiError::Conflict(_) => ("conflict", "Conflict"),
            ApiError::PayloadTooLarge { .. } => ("payload-too-large", "Payload too large"),
            ApiError::UnsupportedMediaType(_) => {
                ("unsupported-media-type", "Unsupported media type")
            }
            ApiError::Validation(_) => ("validation", "Invalid request"),
            ApiError::TooManyRequests { .. } => ("too-many-requests", "Too many requests"),
            ApiError::Unavailable { .. } => ("unavailable", "Service unavailable"),
            ApiError::Overloaded => ("overloaded", "Server busy"),
            ApiError::TimedOut => ("timeout", "Request timed out"),
            ApiError::Internal(_) => ("internal", "Internal server error"),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(reason) => {
                ApiError::unavailable("the database is unavailable", reason)
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<crate::directory::DirectoryError> for ApiError {
    fn from(error: crate::directory::DirectoryError) -> Self {
        match error {
            crate::directory::DirectoryError::Unavailable(reason) => {
                ApiError::unavailable("a service this request needs is unavailable", reason)
            }
            crate::directory::DirectoryError::Failed(reason) => ApiError::Internal(reason),
        }
    }
}

impl From<crate::auth::AuthError> for ApiError {
    fn from(error: crate::auth::AuthError) -> Self {
        use crate::auth::AuthError;
        match error {
            AuthError::Unauthenticated(why) => ApiError::Unauthenticated(why),
            AuthError::Forbidden(why) => ApiError::Forbidden(why),
            AuthError::Directory(error) => error.into(),
            AuthError::Signing(reason) => ApiError::Internal(reason),
        }
    }
}

/// The problem+json body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Every failing field, for validation problems only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (slug, title) = self.kind();
        let detail = match &self {
            // The cause of an internal error is for the log, not for the client.
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                "the server could not complete the request".to_owned()
            }
            ApiError::Unavailable { what, cause } => {
                tracing::warn!(%what, %cause, "dependency unavailable");
                self.to_string()
            }
            other => other.to_string(),
        };
        let errors = match &self {
            ApiError::Validation(ValidationErrors(errors)) => Some(errors.clone()),
            _ => None,
        };
        let problem = Problem {
            kind: format!("urn:moviebook:problem:{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            errors,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        match &self {
            ApiError::TooManyRequests { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            ApiError::Unavailable { .. } | ApiError::Overloaded | ApiError::TimedOut => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(1u64));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;

    use super::*;

    async fn problem_of(error: ApiError) -> (StatusCode, Option<String>, serde_json::Value) {
        let response = error.into_response();
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = to_bytes(response.into_body(), 1 << 16).await.unwrap();
        (status, retry_after, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn an_unavailable_dependency_is_named_without_its_host_or_driver_message() {
        let cause = "dispatch failure: io error: connection refused (127.0.0.1:41253)";
        let (status, retry_after, problem) =
            problem_of(StoreError::Unavailable(cause.into()).into()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retry_after.as_deref(), Some("1"));
        assert_eq!(
            problem["detail"],
            "the database is unavailable; try again later"
        );
        assert!(!problem.to_string().contains("127.0.0.1"), "{problem}");
    }

    #[tokio::test]
    async fn an_internal_error_keeps_its_cause_to_the_log() {
        let (status, _, problem) =
            problem_of(ApiError::Internal("stored hash at /var/lib: bad".into())).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            problem["detail"],
            "the server could not complete the request"
        );
    }
}
