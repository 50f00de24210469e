//! Every request's id, `X-Request-Id`: kept from the client when it is a valid one, made
//! here otherwise, put on the request (so a gateway forwards it to the service), on every
//! response (errors, refusals of the limits and panics included), and given to the work of
//! the request: [`RequestId::current`] is the id of the request the running task serves,
//! which every log line written meanwhile names (the log format asks for it) and every call
//! to another service carries. The request's span, when there is one, continues the caller's
//! trace (`traceparent`).
//!
//! Cheap on purpose: this runs on every request, `/healthz` included. A fresh id is a
//! process-random prefix and a counter (no random draw per request), a client's valid id is
//! kept without a copy, and no span is made at the default log level unless traces are
//! exported.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use tower::{Layer, Service};
use tracing::Instrument;

/// The header that carries a request's id, both ways (and the gRPC metadata key).
pub const HEADER_NAME: &str = "x-request-id";
/// [`HEADER_NAME`] as a header name.
pub const HEADER: HeaderName = HeaderName::from_static(HEADER_NAME);

/// The longest id kept from a client.
pub const MAX_LEN: usize = 128;

/// One request's id: 1 to [`MAX_LEN`] characters of `A-Z a-z 0-9 . _ ~ : / + = -`.
#[derive(Clone, PartialEq, Eq)]
pub struct RequestId(HeaderValue);

tokio::task_local! {
    static CURRENT: RequestId;
}

impl RequestId {
    /// The client's id when it is a valid one: the characters of URL-safe tokens, base64,
    /// UUIDs and the usual trace ids, nothing that could break a log line or a header.
    pub fn from_client(value: &HeaderValue) -> Option<Self> {
        let bytes = value.as_bytes();
        let valid = !bytes.is_empty()
            && bytes.len() <= MAX_LEN
            && bytes.iter().all(|&b| {
                b.is_ascii_alphanumeric()
                    || matches!(b, b'.' | b'_' | b'~' | b':' | b'/' | b'+' | b'=' | b'-')
            });
        valid.then(|| RequestId(value.clone()))
    }

    /// A new id, unique in this process and, through its random prefix, across processes
    /// and restarts: `<16 hex digits>-<counter in hex>`.
    pub fn generate() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        // Relaxed: the ids need only be distinct, not ordered with anything else.
        let number = NEXT.fetch_add(1, Ordering::Relaxed);
        let prefix = prefix();
        let mut text = [0u8; 16 + 1 + 16];
        text[..16].copy_from_slice(prefix);
        text[16] = b'-';
        let digits = hex_digits(number, &mut text[17..]);
        let len = 17 + digits;
        // Hex digits and '-' are always a valid header value; the fallback is never taken.
        let value = HeaderValue::from_bytes(&text[..len])
            .unwrap_or_else(|_| HeaderValue::from_static("unnamed"));
        RequestId(value)
    }

    /// The id as text (always ASCII).
    pub fn as_str(&self) -> &str {
        // Only valid ids are made, and they are ASCII.
        self.0.to_str().unwrap_or_default()
    }

    /// The id as a header value.
    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }

    /// The id of the request the current task is serving, if it serves one.
    pub fn current() -> Option<RequestId> {
        CURRENT.try_with(RequestId::clone).ok()
    }

    /// Runs `future` as the work of the request with this id (see [`RequestId::current`]).
    pub fn scope<F: Future>(self, future: F) -> impl Future<Output = F::Output> {
        CURRENT.scope(self, future)
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({})", self.as_str())
    }
}

/// The process's prefix of fresh ids, drawn once.
fn prefix() -> &'static [u8; 16] {
    static PREFIX: OnceLock<[u8; 16]> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let mut text = [0u8; 16];
        text.copy_from_slice(format!("{:016x}", rand::random::<u64>()).as_bytes());
        text
    })
}

/// Writes `number` in lower-case hex at the start of `out` (at least one digit, at most 16),
/// and returns how many digits it wrote.
fn hex_digits(number: u64, out: &mut [u8]) -> usize {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let count = (64 - number.leading_zeros()).div_ceil(4).max(1) as usize;
    for (i, slot) in out[..count].iter_mut().enumerate() {
        let shift = 4 * (count - 1 - i);
        *slot = HEX[((number >> shift) & 0xf) as usize];
    }
    count
}

/// Gives every request an id and a span (see the module documentation), and logs a 5xx
/// answer as a warning: shed and timed-out requests are expected under load (their count is
/// in the metrics), and the cause of a real fault is logged as an error where it happens.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestIdLayer;

impl<S> Layer<S> for RequestIdLayer {
    type Service = WithRequestId<S>;

    fn layer(&self, inner: S) -> Self::Service {
        WithRequestId { inner }
    }
}

/// The service of [`RequestIdLayer`].
#[derive(Debug, Clone)]
pub struct WithRequestId<S> {
    inner: S,
}

impl<S> Service<Request> for WithRequestId<S>
where
    S: Service<Request, Response = Response> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let id = match request
            .headers()
            .get(HEADER)
            .and_then(RequestId::from_client)
        {
            Some(id) => id,
            None => {
                let id = RequestId::generate();
                request
                    .headers_mut()
                    .insert(HEADER, id.header_value().clone());
                id
            }
        };
        // The request's span: exported as the request's part of its trace when traces are
        // exported, and then on log lines too; otherwise only at debug level (`RUST_LOG`), for
        // its method and path. The log lines carry the id anyway (see `RequestId::current`):
        // a span at info on every request, built, formatted and torn down by the subscriber
        // whether or not the request logs anything, cost a tenth of /healthz's throughput.
        let span = if trace_context::enabled() {
            tracing::info_span!(
                "request",
                request_id = %id,
                method = %request.method(),
                path = %request.uri().path(),
            )
        } else {
            tracing::debug_span!(
                "request",
                request_id = %id,
                method = %request.method(),
                path = %request.uri().path(),
            )
        };
        // A caller's trace (a `traceparent` header: a client's, a gateway's, another
        // service's gRPC call) is continued, when traces are exported.
        trace_context::set_parent(&span, &trace_context::Headers(request.headers()));
        let started = Instant::now();
        let answer = CURRENT.sync_scope(id.clone(), || self.inner.call(request));
        let header = id.0.clone();
        let answered = async move {
            let mut response = answer.await?;
            let status = response.status();
            if status.is_server_error() {
                tracing::warn!(
                    status = status.as_u16(),
                    latency_ms = started.elapsed().as_millis() as u64,
                    "answered with a server error"
                );
            }
            response.headers_mut().insert(HEADER, header);
            Ok(response)
        };
        Box::pin(id.scope(answered).instrument(span))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_from_clients_are_kept_only_when_valid() {
        let longest = "a".repeat(MAX_LEN);
        for valid in [
            "a",
            "req-1",
            "0190c9b2-8f4e-7a3b-9c1d-2e3f4a5b6c7d",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "abc.DEF_~:/+=",
            longest.as_str(),
        ] {
            let value = HeaderValue::from_str(valid).unwrap();
            assert_eq!(
                RequestId::from_client(&value).map(|id| id.as_str().to_owned()),
                Some(valid.to_owned())
            );
        }
        let too_long = "a".repeat(MAX_LEN + 1);
        for invalid in [
            "",
            "with space",
            "semi;colon",
            "quote\"",
            "é",
            too_long.as_str(),
        ] {
            let value = HeaderValue::from_bytes(invalid.as_bytes()).unwrap();
            assert_eq!(RequestId::from_client(&value), None, "{invalid:?}");
        }
    }

    #[test]
    fn generated_ids_are_distinct_valid_and_share_the_process_prefix() {
        let ids: Vec<RequestId> = (0..1000).map(|_| RequestId::generate()).collect();
        let distinct: HashSet<&str> = ids.iter().map(RequestId::as_str).collect();
        assert_eq!(distinct.len(), ids.len());
        let prefix = std::str::from_utf8(prefix()).unwrap();
        for id in &ids {
            assert!(RequestId::from_client(id.header_value()).is_some(), "{id}");
            let (head, counter) = id.as_str().split_once('-').unwrap();
            assert_eq!(head, prefix);
            assert!(!counter.is_empty() && counter.len() <= 16, "{id}");
        }
    }

    #[test]
    fn hex_digits_are_written_without_leading_zeros() {
        let mut out = [0u8; 16];
        for (number, text) in [
            (0u64, "0"),
            (1, "1"),
            (0xf, "f"),
            (0x10, "10"),
            (0xdead_beef, "deadbeef"),
            (u64::MAX, "ffffffffffffffff"),
        ] {
            let count = hex_digits(number, &mut out);
            assert_eq!(std::str::from_utf8(&out[..count]).unwrap(), text);
        }
    }

    #[tokio::test]
    async fn the_current_id_is_the_one_of_the_scope() {
        assert_eq!(RequestId::current(), None);
        let id = RequestId::generate();
        let seen = id.clone().scope(async { RequestId::current() }).await;
        assert_eq!(seen, Some(id));
    }
}
