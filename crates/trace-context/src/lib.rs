//! Carrying a trace from one part of MovieBook to the next (W3C Trace Context: the
//! `traceparent` and `tracestate` texts), so that OpenTelemetry shows one trace from the
//! gateway through a service, its store writes, the outbox relay and the broker to the
//! projection. Each carrier has its adapter here or beside its own code: HTTP headers (here),
//! gRPC metadata (crates/rpc), the event envelope ([`TraceContext`], kept in the outbox
//! record), AMQP headers (crates/bus-rabbitmq).
//!
//! Everything is a no-op until [`enable`] (called once the OTLP exporter is installed), so a
//! process that exports no traces pays one relaxed atomic load per carrier and nothing more.

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub use domain::events::TraceContext;
pub use opentelemetry::propagation::{Extractor, Injector};

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turns context carrying on; called once, when traces are exported.
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// True once traces are exported: spans made only for traces are made only then.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Writes the context of `span` into `carrier`.
pub fn inject(span: &Span, carrier: &mut dyn Injector) {
    if enabled() {
        TraceContextPropagator::new().inject_context(&span.context(), carrier);
    }
}

/// Writes the context of the current span into `carrier`.
pub fn inject_current(carrier: &mut dyn Injector) {
    inject(&Span::current(), carrier);
}

/// Makes the context `carrier` holds the parent of `span`, which must be new (its trace not
/// yet started). A carrier without a valid context leaves `span` where it was.
pub fn set_parent(span: &Span, carrier: &dyn Extractor) {
    if !enabled() {
        return;
    }
    let parent = TraceContextPropagator::new().extract(carrier);
    if parent.span().span_context().is_valid() {
        // Fails only for a span already started or one the OpenTelemetry layer does not see;
        // it then stays where it was: a trace cut in two, nothing worse.
        let _ = span.set_parent(parent);
    }
}

/// Links `span` to the context `carrier` holds, when it is a valid one: for a span that
/// carries on the work of several traces at once (a batch of events), beside its parent.
pub fn add_link(span: &Span, carrier: &dyn Extractor) {
    if !enabled() {
        return;
    }
    let linked = TraceContextPropagator::new().extract(carrier);
    span.add_link(linked.span().span_context().clone());
}

/// The context of `span`, to keep with an event: `None` when nothing is exported or the span
/// is not traced.
pub fn of(span: &Span) -> Option<TraceContext> {
    if !enabled() {
        return None;
    }
    let mut context = TraceContext {
        traceparent: String::new(),
        tracestate: None,
    };
    inject(span, &mut Stored(&mut context));
    (!context.traceparent.is_empty()).then_some(context)
}

/// The context of the current span, as [`of`] gives it.
pub fn current() -> Option<TraceContext> {
    of(&Span::current())
}

/// A kept [`TraceContext`] as a carrier to read.
pub fn stored(context: &TraceContext) -> impl Extractor + '_ {
    StoredRef(context)
}

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";

struct Stored<'a>(&'a mut TraceContext);

impl Injector for Stored<'_> {
    fn set(&mut self, key: &str, value: String) {
        match key {
            TRACEPARENT => self.0.traceparent = value,
            // An empty tracestate says nothing; it is left out of the record.
            TRACESTATE if !value.is_empty() => self.0.tracestate = Some(value),
            _ => {}
        }
    }
}

struct StoredRef<'a>(&'a TraceContext);

impl Extractor for StoredRef<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            TRACEPARENT => Some(self.0.traceparent.as_str()),
            TRACESTATE => self.0.tracestate.as_deref(),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT, TRACESTATE]
    }
}

/// HTTP headers (or gRPC's, which are HTTP/2 headers) as a carrier to read.
pub struct Headers<'a>(pub &'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// HTTP headers as a carrier to write (a request forwarded to a service): replaces what the
/// client sent, so the service's span is the child of the gateway's.
pub struct HeadersMut<'a>(pub &'a mut http::HeaderMap);

impl Injector for HeadersMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    /// The context a new span gets from a kept `traceparent`, under a tracing subscriber
    /// with the OpenTelemetry layer.
    fn carried_from(traceparent: &str, check: impl FnOnce(&Span)) {
        enable();
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            let kept = TraceContext {
                traceparent: traceparent.into(),
                tracestate: None,
            };
            let span = tracing::info_span!("consume");
            set_parent(&span, &stored(&kept));
            check(&span);
        });
    }

    #[test]
    fn a_context_is_carried_from_a_record_to_a_span_and_out_to_headers() {
        carried_from(PARENT, |span| {
            let carried = of(span).expect("a traced span has a context");
            // The same trace, a span of its own.
            assert_eq!(carried.traceparent[..35], PARENT[..35]);
            assert_ne!(carried.traceparent, PARENT);

            let mut headers = http::HeaderMap::new();
            inject(span, &mut HeadersMut(&mut headers));
            assert_eq!(
                Headers(&headers).get("traceparent"),
                Some(carried.traceparent.as_str())
            );
        });
    }

    #[test]
    fn a_malformed_context_leaves_the_span_a_root() {
        carried_from("not a traceparent", |span| {
            let carried = of(span).expect("a traced span has a context");
            assert!(!carried.traceparent.contains(&PARENT[3..35]));
        });
    }
}
