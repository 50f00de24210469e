//! Who may call: every gRPC call between MovieBook processes carries the deployment's
//! internal token (`authorization: Bearer <token>`, the token of
//! [`Purpose::InternalCall`] derived from the JWT secret), and the server refuses a call
//! without it, UNAUTHENTICATED, before any service sees it. The internal address is meant to
//! be unreachable from outside; the token keeps it closed when it is not (a wrong bind
//! address, a neighbour on the same network).

use std::sync::Arc;

use platform::deployment_token::{DeploymentToken, Purpose};
use tonic::metadata::AsciiMetadataValue;
use tonic::service::Interceptor;
use tonic::{Request, Status};

const AUTHORIZATION: &str = "authorization";
const SCHEME: &str = "Bearer ";

/// The internal token of the deployment whose JWT secret is `secret`.
pub fn internal_token(secret: &[u8]) -> DeploymentToken {
    DeploymentToken::derive(secret, Purpose::InternalCall)
}

/// Server side: lets through only calls that carry the internal token.
#[derive(Clone)]
pub struct RequireToken {
    token: Arc<DeploymentToken>,
}

impl RequireToken {
    /// Requires `token` (see [`internal_token`]).
    pub fn new(token: &DeploymentToken) -> Self {
        RequireToken {
            token: Arc::new(token.clone()),
        }
    }
}

impl Interceptor for RequireToken {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let presented = request
            .metadata()
            .get(AUTHORIZATION)
            .and_then(|value| value.as_bytes().strip_prefix(SCHEME.as_bytes()));
        if presented.is_some_and(|token| self.token.matches(token)) {
            return Ok(request);
        }
        // Worth a warning: inside a deployment it means two processes disagree on the JWT
        // secret; otherwise someone reached the internal address.
        tracing::warn!(
            with_token = presented.is_some(),
            "a gRPC call without the internal token was refused"
        );
        Err(Status::unauthenticated(
            "this call needs the deployment's internal token",
        ))
    }
}

/// Client side: puts the internal token on every call, and the context of the request it is
/// made for ([`crate::context`]).
#[derive(Clone)]
pub struct WithToken {
    value: AsciiMetadataValue,
}

impl WithToken {
    /// Sends `token` (see [`internal_token`]).
    pub fn new(token: &DeploymentToken) -> Self {
        // The token is base64url, always a valid header value. Were it not, the calls would
        // go without it and be refused (UNAUTHENTICATED), which says what is wrong.
        let mut value = AsciiMetadataValue::try_from(format!("{SCHEME}{}", token.expose()))
            .unwrap_or_else(|_| AsciiMetadataValue::from_static(""));
        // Kept out of HTTP/2 header compression tables.
        value.set_sensitive(true);
        WithToken { value }
    }
}

impl Interceptor for WithToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert(AUTHORIZATION, self.value.clone());
        crate::context::attach(request.metadata_mut());
        Ok(request)
    }
}
