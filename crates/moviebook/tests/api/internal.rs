//! Internal surfaces stay internal: gRPC between services and `/metrics` are served on a
//! process's internal address (`MOVIEBOOK_INTERNAL_ADDR`), gRPC only to callers with the
//! deployment's internal token; the public address answers neither.

use platform::directory::{DirectoryError, UserDirectory, UserProfile};
use rpc::{ClientConfig, GrpcUserDirectory};

use crate::support::process::free_port;
use crate::support::*;

/// A JWT secret of the test's own, so that it can derive the deployment's internal token.
fn jwt_secret() -> String {
    format!(
        "jwt-{}-{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// The users directory at `url`, asked with the internal token of `secret`'s deployment.
fn users_at(url: &str, secret: &str) -> GrpcUserDirectory {
    GrpcUserDirectory::connect_lazy(
        url,
        &rpc::internal_token(secret.as_bytes()),
        &ClientConfig::default(),
    )
    .expect("a directory")
}

/// True when a gRPC call found no gRPC service: the public address answers it like any
/// unknown path, 404 problem+json, which tonic reads as a malformed answer.
fn not_found<T>(answer: &Result<T, DirectoryError>) -> bool {
    match answer {
        Err(DirectoryError::Failed(message) | DirectoryError::Unavailable(message)) => {
            message.contains("404")
        }
        _ => false,
    }
}

#[tokio::test]
async fn a_service_process_answers_grpc_and_metrics_on_its_internal_address_only() {
    own_server_only!("it starts a users process with an internal address");
    let secret = jwt_secret();
    let internal = format!("127.0.0.1:{}", free_port());
    let app = TestApp::spawn_with(&[
        ("MOVIEBOOK_ROLES", "users"),
        ("MOVIEBOOK_INTERNAL_ADDR", internal.as_str()),
        ("MOVIEBOOK_JWT_SECRET", secret.as_str()),
    ])
    .await;
    let user = app.sign_up_user("Grace").await;
    let id: uuid::Uuid = user.id.parse().expect("a user id");
    let internal_url = format!("http://{internal}");

    // The public address: the API, but neither /metrics nor gRPC, even with the token.
    app.root_get("/metrics").await.problem(404);
    let public = users_at(&app.base_url, &secret).user(id).await;
    assert!(not_found(&public), "gRPC on the public address: {public:?}");

    // The internal address: /metrics, and gRPC with the deployment's token.
    let metrics = app
        .client
        .get(format!("{internal_url}/metrics"))
        .send()
        .await
        .expect("GET /metrics on the internal address");
    assert_eq!(metrics.status(), 200);
    let metrics = metrics.text().await.expect("the metrics");
    assert!(
        metrics.contains("moviebook_http_requests_total"),
        "{metrics}"
    );
    assert_eq!(
        users_at(&internal_url, &secret).user(id).await.unwrap(),
        Some(UserProfile {
            id,
            name: "Grace".into()
        })
    );
    // Without it (another deployment's token) the call is refused.
    let stranger = users_at(
        &internal_url,
        "another deployment's secret, 32 bytes or more",
    )
    .user(id)
    .await;
    assert!(
        matches!(&stranger, Err(DirectoryError::Failed(m)) if m.contains("Unauthenticated")),
        "gRPC without the internal token: {stranger:?}"
    );
}

#[tokio::test]
async fn the_embedded_process_serves_no_grpc_and_keeps_metrics_on_its_one_address() {
    own_server_only!("it starts a process with a JWT secret of its own");
    let secret = jwt_secret();
    let app = TestApp::spawn_with(&[("MOVIEBOOK_JWT_SECRET", secret.as_str())]).await;
    app.metrics().await.expect(200);
    // Nothing calls an embedded process over gRPC: it serves none, token or not.
    let answer = users_at(&app.base_url, &secret)
        .user(uuid::Uuid::now_v7())
        .await;
    assert!(
        not_found(&answer),
        "gRPC on the embedded process: {answer:?}"
    );
}

#[tokio::test]
async fn a_service_process_without_an_internal_address_refuses_to_start() {
    own_server_only!("it starts a process that must refuse to start");
    let refusal = TestApp::start_refused(&[("MOVIEBOOK_ROLES", "actors")]).await;
    assert!(!refusal.status.success(), "{}", refusal.stderr);
    assert!(
        refusal.stderr.contains("MOVIEBOOK_INTERNAL_ADDR"),
        "the refusal names the setting: {}",
        refusal.stderr
    );
}
