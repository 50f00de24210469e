//! The client when its peer is not there: a port with nothing listening answers
//! unavailable well within the deadline, and a peer that stops and starts again on the
//! same port is reached again by the same client, without building a new one.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Memory, any_port, serve_on};
use platform::directory::DirectoryError;
use platform::directory::{ActorDirectory, MovieDirectory, UserDirectory};
use rpc::{ClientConfig, GrpcActorDirectory, GrpcMovieDirectory, GrpcUserDirectory};
use uuid::Uuid;

/// A loopback port that nothing listens on: bound once to learn a free one, then let go.
fn free_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

#[tokio::test]
async fn nothing_listening_is_unavailable_within_the_deadline() {
    let url = free_port();
    let config = ClientConfig::default();
    let users = GrpcUserDirectory::connect_lazy(&url, &common::token(), &config).unwrap();
    let actors = GrpcActorDirectory::connect_lazy(&url, &common::token(), &config).unwrap();
    let movies = GrpcMovieDirectory::connect_lazy(&url, &common::token(), &config).unwrap();

    let started = Instant::now();
    let user = users.user(Uuid::now_v7()).await.unwrap_err();
    let took = started.elapsed();
    println!("nothing listening: {user} after {took:?}");
    assert!(
        matches!(&user, DirectoryError::Unavailable(m) if m.starts_with("users service: ")),
        "{user:?}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");

    let started = Instant::now();
    let actor = actors.actors(&[Uuid::now_v7()]).await.unwrap_err();
    let movie = movies.movie(Uuid::now_v7()).await.unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(&actor, DirectoryError::Unavailable(m) if m.starts_with("actors service: ")),
        "{actor:?}"
    );
    assert!(
        matches!(&movie, DirectoryError::Unavailable(m) if m.starts_with("movies service: ")),
        "{movie:?}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test]
async fn a_peer_that_never_accepts_is_unavailable_within_the_deadline() {
    // A listener whose backlog is full and that never accepts: the TCP connect itself hangs
    // (as for a host that drops packets), so only the client's own timers end the call.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(any_port()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..8 {
        // Fill the backlog; once it is full, connects hang, and so will the client's.
        match tokio::time::timeout(
            Duration::from_millis(100),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            Ok(Ok(stream)) => fillers.push(stream),
            _ => break,
        }
    }
    let config = ClientConfig {
        deadline: Duration::from_millis(500),
        connect_timeout: Duration::from_millis(200),
    };
    let users =
        GrpcUserDirectory::connect_lazy(&format!("http://{addr}"), &common::token(), &config)
            .unwrap();

    let started = Instant::now();
    let error = users.user(Uuid::now_v7()).await.unwrap_err();
    let took = started.elapsed();
    println!("never accepting: {error} after {took:?}");
    assert!(matches!(error, DirectoryError::Unavailable(_)), "{error:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    drop(listener);
}

#[tokio::test]
async fn a_restarted_peer_is_reached_again_by_the_same_client() {
    let id = Uuid::now_v7();
    let memory = || {
        let mut memory = Memory::default();
        memory.users.insert(id, "Grace".into());
        Arc::new(memory)
    };
    let routes = || async {
        rpc::grpc_routes(
            None,
            Some(memory() as Arc<dyn UserDirectory>),
            None,
            &common::token(),
        )
        .await
        .0
    };

    let server = serve_on(any_port(), routes().await);
    let addr = server.addr;
    let users =
        GrpcUserDirectory::connect_lazy(&server.url(), &common::token(), &ClientConfig::default())
            .unwrap();
    assert_eq!(
        users.user(id).await.unwrap().map(|u| u.name),
        Some("Grace".into())
    );

    server.stop().await;
    let started = Instant::now();
    let down = users.user(id).await.unwrap_err();
    println!("peer stopped: {down} after {:?}", started.elapsed());
    assert!(matches!(down, DirectoryError::Unavailable(_)), "{down:?}");

    let server = serve_on(addr, routes().await);
    let started = Instant::now();
    let again = users.user(id).await;
    println!(
        "peer restarted: first call {:?} after {:?}",
        again.as_ref().map(|_| ()),
        started.elapsed()
    );
    assert_eq!(again.unwrap().map(|u| u.name), Some("Grace".into()));
    server.stop().await;
}

#[tokio::test]
async fn a_peer_restarted_between_two_calls_is_reached_by_the_next_call() {
    let id = Uuid::now_v7();
    let routes = || async {
        let mut memory = Memory::default();
        memory.users.insert(id, "Lise".into());
        rpc::grpc_routes(
            None,
            Some(Arc::new(memory) as Arc<dyn UserDirectory>),
            None,
            &common::token(),
        )
        .await
        .0
    };
    let server = serve_on(any_port(), routes().await);
    let addr = server.addr;
    let users =
        GrpcUserDirectory::connect_lazy(&server.url(), &common::token(), &ClientConfig::default())
            .unwrap();
    assert!(users.user(id).await.unwrap().is_some());

    // No call while it is down: the client learns of the restart only from its next call.
    server.stop().await;
    let server = serve_on(addr, routes().await);
    let started = Instant::now();
    let again = users.user(id).await;
    println!(
        "restarted between calls: next call {:?} after {:?}",
        again.as_ref().map(|_| ()),
        started.elapsed()
    );
    assert_eq!(again.unwrap().map(|u| u.name), Some("Lise".into()));
    server.stop().await;
}

/// A server on its own runtime, so that dropping the runtime kills it the way a crashed
/// process dies: every connection closed at once, no GOAWAY, nothing finished.
struct Crashable {
    addr: std::net::SocketAddr,
    runtime: tokio::runtime::Runtime,
    // Kept so that its stop signal is never sent (dropping it would stop the server
    // gracefully).
    running: common::Running,
}

impl Crashable {
    /// Starts it; call on a thread that may block.
    fn start(addr: std::net::SocketAddr, id: Uuid) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let running = runtime.block_on(async {
            let mut memory = Memory::default();
            memory.users.insert(id, "Emmy".into());
            let routes = rpc::grpc_routes(
                None,
                Some(Arc::new(memory) as Arc<dyn UserDirectory>),
                None,
                &common::token(),
            )
            .await
            .0;
            serve_on(addr, routes)
        });
        Crashable {
            addr: running.addr,
            runtime,
            running,
        }
    }

    /// Kills it; call on a thread that may block.
    fn crash(self) {
        drop(self.runtime);
        drop(self.running);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_crashed_and_came_back_is_reached_again() {
    let id = Uuid::now_v7();
    let server = tokio::task::spawn_blocking(move || Crashable::start(any_port(), id))
        .await
        .unwrap();
    let addr = server.addr;
    let users = GrpcUserDirectory::connect_lazy(
        &format!("http://{addr}"),
        &common::token(),
        &ClientConfig::default(),
    )
    .unwrap();
    assert!(users.user(id).await.unwrap().is_some());

    tokio::task::spawn_blocking(move || server.crash())
        .await
        .unwrap();
    let started = Instant::now();
    let down = users.user(id).await.unwrap_err();
    println!("crashed: {down} after {:?}", started.elapsed());
    assert!(matches!(down, DirectoryError::Unavailable(_)), "{down:?}");

    let server = tokio::task::spawn_blocking(move || Crashable::start(addr, id))
        .await
        .unwrap();
    let started = Instant::now();
    let again = users.user(id).await;
    println!(
        "came back: next call {:?} after {:?}",
        again.as_ref().map(|_| ()),
        started.elapsed()
    );
    assert!(again.unwrap().is_some());
    tokio::task::spawn_blocking(move || server.crash())
        .await
        .unwrap();
}
