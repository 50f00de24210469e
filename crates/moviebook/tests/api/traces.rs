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
fn attribute<'a>(span: &'a ExportedSpan, name: &str) -> Option<&'a str> {
    let value = span.attributes.get(name)?;
    let (_, text) = value.split_once("StringValue(\"")?;
    Some(text.split_once("\")")?.0)
}

/// Describes a trace for a failure message: each span's name, id, parent and attributes.
fn describe(spans: &[ExportedSpan]) -> String {
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

/// A server of the test's own exporting its traces, every 100 ms, to a receiver of the test's.
async fn traced_app() -> (TestApp, FakeCollectorServer) {
    let collector = FakeCollectorServer::start()
        .await
        .expect("start the OTLP receiver");
    let endpoint = collector.endpoint();
    let app = TestApp::spawn_with(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ])
    .await;
    (app, collector)
}

#[tokio::test]
async fn a_review_written_through_the_api_is_one_trace_down_to_its_projection() {
    own_server_only!("it tells the server where to export its traces");
    let (app, mut collector) = traced_app().await;
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
        if let Some((trace_id, spans)) = review
            && spans
                .iter()
                .any(|s| s.name == "consume" && attribute(s, "consumer") == Some("reviews"))
        {
            break (trace_id.clone(), spans.clone());
        }
        assert!(
            started.elapsed() < ARRIVAL,
            "no trace of the review's request with the reviews projection's span within \
             {ARRIVAL:?}; the request's trace so far:\n{}",
            review.map_or_else(|| "(none)".to_owned(), |(_, spans)| describe(spans))
        );
    };

    // One trace, each span's parent in it: request → store writes, and request (its commit)
    // → relay → each consumer's span → that consumer's store writes.
    let by_id: BTreeMap<&str, &ExportedSpan> =
        spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let parent_of = |span: &ExportedSpan| by_id.get(span.parent_span_id.as_str()).copied();
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
    let relay = parent_of(projection).unwrap_or_else(|| {
        panic!(
            "the projection's parent is not in the trace:\n{}",
            describe(&spans)
        )
    });
    assert_eq!(relay.name, "relay", "{}", describe(&spans));
    assert_eq!(
        attribute(relay, "event_type"),
        Some("review.upserted"),
        "{}",
        describe(&spans)
    );
    let committed_by = parent_of(relay).unwrap_or_else(|| {
        panic!(
            "the relay's parent is not in the trace:\n{}",
            describe(&spans)
        )
    });
    assert_eq!(
        committed_by.span_id,
        request.span_id,
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
    let (app, mut collector) = traced_app().await;
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
