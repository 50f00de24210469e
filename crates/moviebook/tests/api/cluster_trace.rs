//! One trace across the distributed deployment: a gateway, the three services and a
//! projector, each its own process on one DynamoDB table and a RabbitMQ virtual host of the
//! test's own, all exporting to one in-process OTLP receiver. A review written through the
//! gateway is one trace: the gateway's request, the movies service's request under it (the
//! context forwarded over HTTP), its store writes, the relay, the broker's publish and the
//! reviews projection in the projector process.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fake_opentelemetry_collector::{ExportedSpan, FakeCollectorServer};
use serde_json::json;

use crate::support::process::free_port;
use crate::support::*;
use crate::traces::{VirtualHost, ancestors, attribute, describe};

/// How long the spans of one review may take to arrive from every process.
const ARRIVAL: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_review_through_the_gateway_is_one_trace_across_the_processes() {
    own_server_only!("it starts a cluster of its own");
    let collector = FakeCollectorServer::start()
        .await
        .expect("start the OTLP receiver");
    let endpoint = collector.endpoint();
    let vhost = VirtualHost::new();
    let amqp_url = vhost.amqp_url();
    let admin_token = format!("admin-{}", uuid::Uuid::new_v4().simple());
    let jwt_secret = format!("secret-{}", uuid::Uuid::new_v4().simple());
    let table = format!("trace-{}", uuid::Uuid::new_v4().simple());
    let shared = [
        ("MOVIEBOOK_ADMIN_TOKEN", admin_token.as_str()),
        ("MOVIEBOOK_JWT_SECRET", jwt_secret.as_str()),
        ("MOVIEBOOK_DYNAMODB_TABLE", table.as_str()),
        ("MOVIEBOOK_BUS", "rabbitmq"),
        ("MOVIEBOOK_AMQP_URL", amqp_url.as_str()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let process = async |roles: &str, more: &[(&str, &str)]| {
        let mut env = shared.to_vec();
        env.push(("MOVIEBOOK_ROLES", roles));
        env.extend_from_slice(more);
        TestApp::spawn_with(&env).await
    };
    // Every process asks the users and actors services over gRPC, on their internal
    // addresses, which are chosen before any starts.
    let users_internal = format!("127.0.0.1:{}", free_port());
    let actors_internal = format!("127.0.0.1:{}", free_port());
    let users_url = format!("http://{users_internal}");
    let actors_url = format!("http://{actors_internal}");
    let directories = [
        ("MOVIEBOOK_USERS_INTERNAL_URL", users_url.as_str()),
        ("MOVIEBOOK_ACTORS_INTERNAL_URL", actors_url.as_str()),
    ];
    // Each process serves gRPC and /metrics on an internal address of its own.
    let with_internal = |addr: String| {
        let mut env: Vec<(&str, String)> = directories
            .iter()
            .map(|(name, value)| (*name, (*value).to_owned()))
            .collect();
        env.push(("MOVIEBOOK_INTERNAL_ADDR", addr));
        env
    };
    let spawn = async |roles: &str, env: Vec<(&str, String)>| {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        process(roles, &env).await
    };
    let fresh_internal = || format!("127.0.0.1:{}", free_port());
    let users = spawn("users", with_internal(users_internal.clone())).await;
    let actors = spawn("actors", with_internal(actors_internal.clone())).await;
    let movies = spawn("movies", with_internal(fresh_internal())).await;
    let _projector = spawn("projector", with_internal(fresh_internal())).await;
    let mut routes = with_internal(fresh_internal());
    routes.extend([
        ("MOVIEBOOK_MOVIES_URL", movies.base_url.clone()),
        ("MOVIEBOOK_USERS_URL", users.base_url.clone()),
        ("MOVIEBOOK_ACTORS_URL", actors.base_url.clone()),
    ]);
    let gateway = spawn("gateway", routes).await;

    let user = gateway.sign_up_user("Traced Across").await;
    let movie = gateway
        .create_movie("Traced Across", 2002, &["drama"], &[])
        .await;
    let movie_id = movie["id"].as_str().expect("a movie id");
    let request_id = format!("cluster-trace-{}", uuid::Uuid::now_v7());
    gateway
        .post_json_with_headers(
            &format!("/movies/{movie_id}/reviews"),
            &user.token,
            &json!({"score": 9}),
            &[("x-request-id", &request_id)],
        )
        .await
        .expect(201);

    let spans = one_trace_down_to_the_projection(collector, &request_id).await;
    let gateway_request = spans
        .iter()
        .find(|s| s.name == "request" && s.parent_span_id.is_empty())
        .expect("the gateway's request span");
    // From the projection up to the gateway's request: the broker's publish, the relay,
    // the movies service's request (forwarded by the gateway with the trace's context).
    let projection = spans
        .iter()
        .find(|s| s.name == "consume" && attribute(s, "consumer") == Some("reviews"))
        .expect("the reviews projection's span");
    let ancestors = ancestors(&spans, projection);
    let names: Vec<&str> = ancestors.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["publish", "relay", "request", "request"],
        "{}",
        describe(&spans)
    );
    let service_request = ancestors[2];
    assert_eq!(
        service_request.parent_span_id,
        gateway_request.span_id,
        "{}",
        describe(&spans)
    );
    // The movies service asked the users service for the reviewer's name over gRPC, in the
    // same trace (the context travels in the call's metadata).
    let grpc = spans
        .iter()
        .find(|s| {
            s.name == "request" && attribute(s, "path") == Some("/moviebook.v1.UserService/GetUser")
        })
        .unwrap_or_else(|| panic!("no gRPC call in the trace:\n{}", describe(&spans)));
    assert_eq!(
        grpc.parent_span_id,
        service_request.span_id,
        "{}",
        describe(&spans)
    );
}

/// Collects spans until the trace of the request `request_id` holds the reviews
/// projection's span and every span between it and the gateway's request, and the gRPC
/// call's; returns that trace's spans.
async fn one_trace_down_to_the_projection(
    mut collector: FakeCollectorServer,
    request_id: &str,
) -> Vec<ExportedSpan> {
    let mut traces: BTreeMap<String, Vec<ExportedSpan>> = BTreeMap::new();
    let started = Instant::now();
    loop {
        for span in collector
            .exported_spans(1, Duration::from_millis(500))
            .await
        {
            traces.entry(span.trace_id.clone()).or_default().push(span);
        }
        let review = traces.values().find(|spans| {
            spans
                .iter()
                .any(|s| s.name == "request" && attribute(s, "request_id") == Some(request_id))
        });
        if let Some(spans) = review
            && complete(spans)
        {
            return spans.clone();
        }
        assert!(
            started.elapsed() < ARRIVAL,
            "the review's trace did not reach from the gateway to the reviews projection \
             within {ARRIVAL:?}; so far:\n{}",
            review.map_or_else(|| "(none)".to_owned(), |spans| describe(spans))
        );
    }
}

/// Whether the projection's span, its ancestors up to a root and the gRPC call have arrived.
fn complete(spans: &[ExportedSpan]) -> bool {
    let Some(projection) = spans
        .iter()
        .find(|s| s.name == "consume" && attribute(s, "consumer") == Some("reviews"))
    else {
        return false;
    };
    let reaches_root = ancestors(spans, projection)
        .last()
        .is_some_and(|top| top.parent_span_id.is_empty());
    let grpc = spans
        .iter()
        .any(|s| attribute(s, "path") == Some("/moviebook.v1.UserService/GetUser"));
    reaches_root && grpc
}
