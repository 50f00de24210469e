//! OpenTelemetry traces (docs/api.md, "Running": `OTEL_EXPORTER_OTLP_ENDPOINT`): a review
//! written through the API is one trace, from the request through its store writes and the
//! outbox relay to the projection that counts it, exported over OTLP/gRPC to a collector (an
//! in-process one here).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fake_opentelemetry_collector::{ExportedSpan, FakeCollectorServer};
use serde_json::json;

use crate::support::*;

/// How long the spans of one review may take to arrive (they are sent every 100 ms).
const ARRIVAL: Duration = Duration::from_secs(20);

/// The spans of each trace, by trace id.
type Traces = BTreeMap<String, Vec<ExportedSpan>>;

/// A text attribute of a span. The receiver keeps each value as the `Debug` text of the
/// protocol's value (`Some(AnyValue { value: Some(StringValue("...")) })`).
pub(crate) fn attribute<'a>(span: &'a ExportedSpan, name: &str) -> Option<&'a str> {
    let value = span.attributes.get(name)?;
    let (_, text) = value.split_once("StringValue(\"")?;
    Some(text.split_once("\")")?.0)
}

/// Describes a trace for a failure message: each span's name, id, parent and attributes.
pub(crate) fn describe(spans: &[ExportedSpan]) -> String {
    spans
        .iter()
        .map(|s| {
            format!(
                "{} {} <- {} {:?}",
                s.name, s.span_id, s.parent_span_id, s.attributes
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The ancestors of `span` found in `spans`, nearest first, as far as the chain of parents goes.
pub(crate) fn ancestors<'a>(
    spans: &'a [ExportedSpan],
    span: &ExportedSpan,
) -> Vec<&'a ExportedSpan> {
    let mut chain: Vec<&ExportedSpan> = Vec::new();
    let mut parent = span.parent_span_id.as_str();
    while let Some(found) = spans.iter().find(|s| s.span_id == parent) {
        chain.push(found);
        parent = found.parent_span_id.as_str();
    }
    chain
}

/// A server of the test's own exporting its traces, every 100 ms, to a receiver of the test's.
async fn traced_app(env: &[(&str, &str)]) -> (TestApp, FakeCollectorServer) {
    let collector = FakeCollectorServer::start()
        .await
        .expect("start the OTLP receiver");
    let endpoint = collector.endpoint();
    let mut env = env.to_vec();
    env.extend([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ]);
    let app = TestApp::spawn_with(&env).await;
    (app, collector)
}

/// A RabbitMQ virtual host of the test's own, so that no other process consumes its events
/// and none is left in the queues others use; deleted when dropped.
pub(crate) struct VirtualHost(String);

impl VirtualHost {
    pub(crate) fn new() -> Self {
        let name = format!("moviebook-trace-{}", uuid::Uuid::now_v7().simple());
        let rabbitmqctl = |args: &[&str]| {
            let status = std::process::Command::new("rabbitmqctl")
                .arg("-q")
                .args(args)
                .status()
                .expect("run rabbitmqctl");
            assert!(status.success(), "rabbitmqctl {args:?}");
        };
        rabbitmqctl(&["add_vhost", &name]);
        rabbitmqctl(&["set_permissions", "-p", &name, "guest", ".*", ".*", ".*"]);
        VirtualHost(name)
    }

    pub(crate) fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:5672/{}", self.0)
    }
}

impl Drop for VirtualHost {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rabbitmqctl")
            .args(["-q", "delete_vhost", &self.0])
            .status();
    }
}

#[tokio::test]
async fn a_review_written_through_the_api_is_one_trace_down_to_its_projection() {
    own_server_only!("it tells the server where to export its traces");
    let (app, collector) = traced_app(&[]).await;
    a_review_is_one_trace(&app, collector, &["relay", "request"]).await;
}

#[tokio::test]
async fn over_rabbitmq_the_trace_goes_through_the_broker() {
    own_server_only!("it tells the server where to export its traces");
    let vhost = VirtualHost::new();
    let amqp_url = vhost.amqp_url();
    let env = [
        ("MOVIEBOOK_BUS", "rabbitmq"),
        ("MOVIEBOOK_AMQP_URL", amqp_url.as_str()),
    ];
    let (app, collector) = traced_app(&env).await;
    a_review_is_one_trace(&app, collector, &["publish", "relay", "request"]).await;
}

/// Posts a review and checks its trace: the request with its store writes, and the reviews
/// projection with its store writes under the spans `handed_over_by` names (the projection's
/// ancestors, nearest first: the relay, or the broker's publish under the relay, up to the
/// request) — one trace id throughout.
async fn a_review_is_one_trace(
    app: &TestApp,
    mut collector: FakeCollectorServer,
    handed_over_by: &[&str],
) {
    let user = app.sign_up_user("Traced Reviewer").await;
    let movie = app.create_movie("Traced", 2001, &["drama"], &[]).await;
    let movie_id = movie["id"].as_str().expect("a movie id");

    let request_id = format!("trace-test-{}", uuid::Uuid::now_v7());
    app.post_json_with_headers(
        &format!("/movies/{movie_id}/reviews"),
        &user.token,
        &json!({"score": 8}),
        &[("x-request-id", &request_id)],
    )
    .await
    .expect(201);

    let mut traces = Traces::new();
    let started = Instant::now();
    let (trace_id, spans) = loop {
        for span in collector
            .exported_spans(1, Duration::from_millis(500))
            .await
        {
            traces.entry(span.trace_id.clone()).or_default().push(span);
        }
        let review = traces.iter().find(|(_, spans)| {
            spans
                .iter()
                .any(|s| s.name == "request" && attribute(s, "request_id") == Some(&request_id))
        });
        // The projection's span may arrive before its ancestors end (the relay's span ends
        // after the batch it handed over), so the trace is complete once the chain is.
        if let Some((trace_id, spans)) = review
            && spans.iter().any(|s| {
                s.name == "consume"
                    && attribute(s, "consumer") == Some("reviews")
                    && ancestors(spans, s).last().map(|s| s.name.as_str()) == Some("request")
            })
        {
            break (trace_id.clone(), spans.clone());
        }
        assert!(
            started.elapsed() < ARRIVAL,
            "no trace of the review's request with the reviews projection's span and its \
             ancestors within {ARRIVAL:?}; the request's trace so far:\n{}",
            review.map_or_else(|| "(none)".to_owned(), |(_, spans)| describe(spans))
        );
    };

    // One trace, each span's parent in it: request → store writes, and request (its commit)
    // → relay → each consumer's span → that consumer's store writes.
    let request = spans
        .iter()
        .find(|s| s.name == "request" && attribute(s, "request_id") == Some(&request_id))
        .expect("the request's span");
    assert_eq!(
        attribute(request, "path"),
        Some(format!("/api/v1/movies/{movie_id}/reviews").as_str())
    );
    let projection = spans
        .iter()
        .find(|s| s.name == "consume" && attribute(s, "consumer") == Some("reviews"))
        .expect("the reviews projection's span");
    // The projection's ancestors, nearest first, up to the request.
    let chain = ancestors(&spans, projection);
    let names: Vec<&str> = chain.iter().map(|span| span.name.as_str()).collect();
    assert_eq!(names, handed_over_by, "{}", describe(&spans));
    let relay = chain
        .iter()
        .find(|span| span.name == "relay")
        .expect("the relay's span");
    assert_eq!(
        attribute(relay, "event_type"),
        Some("review.upserted"),
        "{}",
        describe(&spans)
    );
    let writes_of = |parent: &ExportedSpan| {
        spans
            .iter()
            .filter(|s| s.name == "store" && s.parent_span_id == parent.span_id)
            .count()
    };
    assert!(writes_of(request) >= 1, "{}", describe(&spans));
    assert!(writes_of(projection) >= 1, "{}", describe(&spans));
    assert!(
        spans.iter().all(|s| s.trace_id == trace_id),
        "{}",
        describe(&spans)
    );
}

#[tokio::test]
async fn a_callers_trace_is_continued() {
    own_server_only!("it tells the server where to export its traces");
    let (app, mut collector) = traced_app(&[]).await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller = "00f067aa0ba902b7";
    app.get_with_headers(
        &format!("{API}/movies"),
        &[("traceparent", &format!("00-{trace_id}-{caller}-01"))],
    )
    .await
    .expect(200);
    let started = Instant::now();
    loop {
        let spans = collector
            .exported_spans(1, Duration::from_millis(500))
            .await;
        // Among the probes of /healthz that waited for the server to start.
        let movies = spans
            .iter()
            .find(|s| s.name == "request" && attribute(s, "path") == Some("/api/v1/movies"));
        if let Some(request) = movies {
            assert_eq!(request.trace_id, trace_id);
            assert_eq!(request.parent_span_id, caller);
            return;
        }
        assert!(
            started.elapsed() < ARRIVAL,
            "no request span within {ARRIVAL:?}"
        );
    }
}
