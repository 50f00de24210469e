//! The gateway forwards messages, not connections: a request reaches the service without the
//! hop-by-hop headers of the client's connection, and the answer reaches the client without
//! those of the service's. The service here is a real HTTP server on a loopback port.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use gateway::{Gateway, Service};
use platform::client_address::{ClientAddressing, TrustedProxies};
use tower::ServiceExt;

/// Hop-by-hop headers, and the one each test message names in `Connection`.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "x-named-by-connection",
];

/// The service: answers with the names of the headers it received, in a body of unknown
/// length (so sent chunked: `Transfer-Encoding` on its connection), with hop-by-hop headers
/// of its own.
async fn echo_header_names(headers: HeaderMap) -> Response {
    let names: Vec<String> = headers.keys().map(|name| name.to_string()).collect();
    let body = serde_json::to_vec(&names).unwrap_or_default();
    let stream = futures::stream::once(async move { Ok::<_, Infallible>(Bytes::from(body)) });
    (
        [
            ("connection", "x-named-by-connection"),
            ("x-named-by-connection", "the service's connection detail"),
            ("keep-alive", "timeout=5"),
            ("proxy-authenticate", "Basic realm=\"internal\""),
            ("trailer", "x-checksum"),
            ("x-kept", "from the service"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

async fn service() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = Router::new().fallback(echo_header_names);
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}

#[tokio::test]
async fn hop_by_hop_headers_are_stripped_both_ways() {
    let service = service().await;
    let gateway = Arc::new(Gateway::new(
        vec![(
            Service::Movies,
            format!("http://{service}").parse().unwrap(),
        )],
        Arc::new(ClientAddressing::new(
            TrustedProxies::default(),
            "the deployment's JWT secret",
        )),
    ));
    let client: SocketAddr = "203.0.113.7:40000".parse().unwrap();
    let router = Router::new()
        .fallback(gateway::forward_or_not_found)
        .with_state(gateway)
        .layer(MockConnectInfo(client));

    let request = Request::get("/api/v1/movies")
        .header("connection", "keep-alive, X-Named-By-Connection")
        .header("x-named-by-connection", "the client's connection detail")
        .header("keep-alive", "timeout=5")
        .header("proxy-authorization", "Basic YTpi")
        .header("te", "trailers")
        .header("trailer", "x-checksum")
        .header("upgrade", "websocket")
        .header("x-kept", "from the client")
        .body(Body::empty())
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let answered: Vec<String> = response
        .headers()
        .keys()
        .map(|name| name.to_string())
        .collect();
    for name in HOP_BY_HOP {
        assert!(
            !answered.iter().any(|a| a == name),
            "the answer keeps {name}: {answered:?}"
        );
    }
    assert_eq!(
        response.headers().get("x-kept").unwrap(),
        "from the service"
    );

    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    let received: Vec<String> = serde_json::from_slice(&body).unwrap();
    for name in HOP_BY_HOP {
        assert!(
            !received.iter().any(|r| r == name),
            "the service received {name}: {received:?}"
        );
    }
    assert!(received.iter().any(|r| r == "x-kept"), "{received:?}");
    // The gateway's own hop headers are added after the stripping, so they arrive.
    assert!(
        received.iter().any(|r| r == "x-moviebook-hop"),
        "{received:?}"
    );
}
