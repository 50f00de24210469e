//! gRPC and the HTTP API on one port: the gRPC routes merged into an axum router served by
//! `axum::serve`, under the same kind of layers the application puts on its router.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::Memory;
use platform::directory::{UserDirectory, UserProfile};
use rpc::pb::GetActorsRequest;
use rpc::pb::actor_service_client::ActorServiceClient;
use rpc::{ClientConfig, GrpcUserDirectory};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::Code;
use uuid::Uuid;

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: moviebook\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

#[tokio::test]
async fn grpc_and_http_share_the_axum_port() {
    let id = Uuid::now_v7();
    let mut memory = Memory::default();
    memory.users.insert(id, "Hedy".into());
    let (routes, _health) = rpc::grpc_routes(
        None,
        Some(Arc::new(memory) as Arc<dyn UserDirectory>),
        None,
        &common::token(),
    )
    .await;

    // Built like the application's router: routes merged, then the fallback, then layers.
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(routes.into_axum_router())
        .fallback(platform::http::not_found)
        .layer(axum::middleware::from_fn(platform::http::record_metrics))
        .layer(axum::middleware::from_fn(
            platform::http::problem_for_bare_errors,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(
            platform::http::MAX_BODY_BYTES,
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });

    // HTTP/1.1 still answered, and unknown paths still get the problem+json 404.
    let health = http_get(addr, "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.ends_with("ok"), "{health}");
    let missing = http_get(addr, "/nowhere").await;
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    assert!(missing.contains("application/problem+json"), "{missing}");

    // gRPC over HTTP/2 on the same port.
    let users = GrpcUserDirectory::connect_lazy(
        &format!("http://{addr}"),
        &common::token(),
        &ClientConfig::default(),
    )
    .unwrap();
    assert_eq!(
        users.user(id).await.unwrap(),
        Some(UserProfile {
            id,
            name: "Hedy".into()
        })
    );
    assert_eq!(users.user(Uuid::now_v7()).await.unwrap(), None);
    // A service this process does not serve falls to the application's problem+json 404.
    // tonic reads that body as a malformed gRPC message, INTERNAL (a gRPC-only server
    // answers UNIMPLEMENTED): either way the caller's directory reports an internal error,
    // a deployment mistake rather than an outage.
    let mut actors =
        ActorServiceClient::new(common::authenticated(&format!("http://{addr}")).await);
    let unrouted = actors
        .get_actors(GetActorsRequest { ids: Vec::new() })
        .await
        .unwrap_err();
    assert_eq!(unrouted.code(), Code::Internal, "{unrouted:?}");
    assert!(unrouted.message().contains("404"), "{unrouted:?}");

    let _ = stop.send(());
    // The lazily connected clients keep their HTTP/2 connections open; graceful shutdown
    // waits for them to go, so drop them first.
    drop((users, actors));
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
}
