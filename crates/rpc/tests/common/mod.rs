//! What the gRPC tests share: in-memory directories (the unit under test is the gRPC layer,
//! not a store) and a real tonic server on a loopback port that can be stopped and started
//! again on the same port.

#![allow(dead_code)] // each test file uses its own part

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use domain::ActorSummaryRef;
use platform::deployment_token::DeploymentToken;
use platform::directory::DirectoryError;
use platform::directory::{ActorDirectory, MovieDirectory, MovieRef, UserDirectory, UserProfile};
use rpc::auth::WithToken;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::service::Routes;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint, Server};
use uuid::Uuid;

/// The internal token of the tests' deployment.
pub fn token() -> DeploymentToken {
    rpc::internal_token(b"the tests' JWT secret, shared by every role")
}

/// A channel to `url`, connected now, whose calls carry the internal token: what a raw
/// generated client (`UserServiceClient::new`) is built on.
pub async fn authenticated(url: &str) -> InterceptedService<Channel, WithToken> {
    InterceptedService::new(bare(url).await, WithToken::new(&token()))
}

/// A channel to `url`, connected now, whose calls carry no token.
pub async fn bare(url: &str) -> Channel {
    Endpoint::from_shared(url.to_owned())
        .expect("a URL")
        .connect()
        .await
        .expect("connect")
}

/// Users, actors and movies held in maps.
#[derive(Default)]
pub struct Memory {
    pub users: HashMap<Uuid, String>,
    pub actors: HashMap<Uuid, String>,
    pub movies: HashMap<Uuid, MovieRef>,
}

#[async_trait]
impl UserDirectory for Memory {
    async fn user(&self, id: Uuid) -> Result<Option<UserProfile>, DirectoryError> {
        Ok(self.users.get(&id).map(|name| UserProfile {
            id,
            name: name.clone(),
        }))
    }
}

#[async_trait]
impl ActorDirectory for Memory {
    async fn actors(&self, ids: &[Uuid]) -> Result<Vec<Option<ActorSummaryRef>>, DirectoryError> {
        Ok(ids
            .iter()
            .map(|id| {
                self.actors.get(id).map(|name| ActorSummaryRef {
                    id: *id,
                    name: name.clone(),
                })
            })
            .collect())
    }
}

#[async_trait]
impl MovieDirectory for Memory {
    async fn movie(&self, id: Uuid) -> Result<Option<MovieRef>, DirectoryError> {
        Ok(self.movies.get(&id).cloned())
    }
}

/// How a misbehaving directory misbehaves.
#[derive(Clone, Copy)]
pub enum Failure {
    /// Its store is down.
    Unavailable,
    /// Something is broken.
    Internal,
    /// It answers, but only after this long.
    Slow(Duration),
}

/// A directory that fails every question the same way.
pub struct Failing(pub Failure);

impl Failing {
    async fn fail<T>(&self) -> Result<T, DirectoryError> {
        match self.0 {
            Failure::Unavailable => Err(DirectoryError::Unavailable(
                "store: connection refused".into(),
            )),
            Failure::Internal => Err(DirectoryError::Failed("item is malformed".into())),
            Failure::Slow(delay) => {
                tokio::time::sleep(delay).await;
                Err(DirectoryError::Failed("answered too late to matter".into()))
            }
        }
    }
}

#[async_trait]
impl UserDirectory for Failing {
    async fn user(&self, _: Uuid) -> Result<Option<UserProfile>, DirectoryError> {
        self.fail().await
    }
}

#[async_trait]
impl ActorDirectory for Failing {
    async fn actors(&self, _: &[Uuid]) -> Result<Vec<Option<ActorSummaryRef>>, DirectoryError> {
        self.fail().await
    }
}

#[async_trait]
impl MovieDirectory for Failing {
    async fn movie(&self, _: Uuid) -> Result<Option<MovieRef>, DirectoryError> {
        self.fail().await
    }
}

/// A tonic server running on a loopback port.
pub struct Running {
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl Running {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server gracefully (GOAWAY to its connections) and waits until it is gone,
    /// so that its port is free again.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task
            .await
            .expect("the server task panicked")
            .expect("the server failed");
    }
}

/// Binds `addr` with SO_REUSEADDR, so that a port just given up by a stopped server (its
/// connections in TIME_WAIT) can be bound again at once.
pub fn bind(addr: SocketAddr) -> TcpListener {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket.bind(addr).expect("bind");
    socket.listen(128).expect("listen")
}

/// Serves `routes` on `addr` (`127.0.0.1:0` for any free port).
pub fn serve_on(addr: SocketAddr, routes: Routes) -> Running {
    let listener = bind(addr);
    let addr = listener.local_addr().expect("local address");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        Server::builder()
            .add_routes(routes)
            .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
                let _ = stopped.await;
            })
            .await
    });
    Running { addr, stop, task }
}

pub fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Serves the three services and health from one directory of each kind.
pub async fn serve_all(
    actors: Arc<dyn ActorDirectory>,
    users: Arc<dyn UserDirectory>,
    movies: Arc<dyn MovieDirectory>,
) -> Running {
    let (routes, _health) =
        rpc::grpc_routes(Some(actors), Some(users), Some(movies), &token()).await;
    serve_on(any_port(), routes)
}

/// Serves all three services from one in-memory directory.
pub async fn serve_memory(memory: Memory) -> Running {
    let memory = Arc::new(memory);
    serve_all(memory.clone(), memory.clone(), memory).await
}
