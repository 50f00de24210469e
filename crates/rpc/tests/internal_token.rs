//! Only MovieBook's own processes may call: a real server refuses every call that does not
//! carry the deployment's internal token, UNAUTHENTICATED, before any service answers.

mod common;

use common::{Memory, serve_memory};
use platform::directory::{DirectoryError, UserDirectory, UserProfile};
use rpc::pb::GetUserRequest;
use rpc::pb::user_service_client::UserServiceClient;
use rpc::{ClientConfig, GrpcUserDirectory};
use tonic::Code;
use tonic::metadata::AsciiMetadataValue;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use uuid::Uuid;

fn ask(id: Uuid) -> GetUserRequest {
    GetUserRequest { id: id.to_string() }
}

#[tokio::test]
async fn a_grpc_call_without_the_internal_token_is_refused() {
    let known = Uuid::now_v7();
    let mut memory = Memory::default();
    memory.users.insert(known, "Ada".into());
    let server = serve_memory(memory).await;

    // No token at all: the service and the health service both refuse.
    let mut bare = UserServiceClient::new(common::bare(&server.url()).await);
    let refused = bare.get_user(ask(known)).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    assert!(
        !refused.message().contains("Ada"),
        "a refusal says nothing of the answer: {refused:?}"
    );
    let mut health = HealthClient::new(common::bare(&server.url()).await);
    let refused = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");

    // Something that looks like a token but is not this deployment's.
    for presented in [
        "Bearer guess".to_owned(),
        format!("Basic {}", common::token().expose()),
        format!("Bearer {}x", common::token().expose()),
        format!(
            "Bearer {}",
            rpc::internal_token(b"another deployment").expose()
        ),
    ] {
        let mut request = tonic::Request::new(ask(known));
        let value = AsciiMetadataValue::try_from(presented.as_str()).unwrap();
        request.metadata_mut().insert("authorization", value);
        let refused = bare.get_user(request).await.unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated, "{presented}");
    }

    // A directory of another deployment (another JWT secret) is refused, and reports it as
    // a failure of the call, not an outage: retrying would not help.
    let stranger = GrpcUserDirectory::connect_lazy(
        &server.url(),
        &rpc::internal_token(b"another deployment"),
        &ClientConfig::default(),
    )
    .unwrap();
    let error = stranger.user(known).await.unwrap_err();
    assert!(
        matches!(&error, DirectoryError::Failed(m) if m.contains("Unauthenticated")),
        "{error:?}"
    );

    // The deployment's own directory is answered.
    let own =
        GrpcUserDirectory::connect_lazy(&server.url(), &common::token(), &ClientConfig::default())
            .unwrap();
    assert_eq!(
        own.user(known).await.unwrap(),
        Some(UserProfile {
            id: known,
            name: "Ada".into()
        })
    );
    drop((bare, health, stranger, own));
    server.stop().await;
}
