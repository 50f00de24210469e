//! The clients: the directory ports answered by another process over gRPC.

use std::error::Error as _;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use domain::ActorSummaryRef;
use platform::deployment_token::DeploymentToken;
use platform::directory::{
    ActorDirectory, DirectoryError, MovieDirectory, MovieRef, UserDirectory, UserProfile,
};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};
use uuid::Uuid;

use crate::auth::WithToken;
use crate::pb::actor_service_client::ActorServiceClient;
use crate::pb::movie_service_client::MovieServiceClient;
use crate::pb::user_service_client::UserServiceClient;
use crate::pb::{GetActorsRequest, GetMovieRequest, GetUserRequest};
use crate::server::MAX_ACTOR_IDS;

/// How a client reaches its peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientConfig {
    /// The longest one directory call may take, connecting included. A caller is in the
    /// middle of serving an HTTP request, so a slow peer must fail that request rather than
    /// hold it.
    pub deadline: Duration,
    /// The longest a TCP connect may take: a peer host that drops packets would otherwise
    /// hold each connect for the operating system's SYN timeout (minutes).
    pub connect_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            deadline: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(1),
        }
    }
}

/// A channel to `url` (`http://host:port`) that connects on first use, and reconnects on
/// the next call after the connection is lost, so that processes may start in any order
/// and a restarted peer is found again. Clones share the connection; one channel may serve
/// every client of the same address. Fails only for a malformed URL. Call it inside a Tokio
/// runtime: the channel spawns its worker task at once.
pub fn lazy_channel(url: &str, config: &ClientConfig) -> Result<Channel, tonic::transport::Error> {
    let endpoint = Endpoint::from_shared(url.to_owned())?
        .connect_timeout(config.connect_timeout)
        // Pings find a connection whose peer vanished without closing it (a host that went
        // away, a dropped NAT entry), which would otherwise look alive until calls time out.
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10))
        .tcp_nodelay(true);
    Ok(endpoint.connect_lazy())
}

/// True for a failure of the connection rather than an answer of the peer: those mean the
/// peer is (for now) unavailable.
fn is_transport_failure(status: &Status) -> bool {
    match status.code() {
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::ResourceExhausted => {
            true
        }
        // A status that carries a source error was made on this side from a transport error
        // (an answer from the peer never has one). tonic also reports a connection torn down
        // mid-call as an "h2 protocol error" without a source.
        _ => status.source().is_some() || status.message().starts_with("h2 protocol error"),
    }
}

fn describe(status: &Status) -> String {
    let mut text = format!("{:?}: {}", status.code(), status.message());
    let mut source = status.source();
    while let Some(error) = source {
        // Transport errors repeat their cause's text at each level; say each part once.
        let part = error.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = error.source();
    }
    text
}

fn from_status(service: &'static str, status: &Status) -> DirectoryError {
    if is_transport_failure(status) {
        DirectoryError::Unavailable(format!("{service} service: {}", describe(status)))
    } else {
        DirectoryError::Failed(format!("{service} service: {}", describe(status)))
    }
}

fn malformed(service: &'static str, what: impl std::fmt::Display) -> DirectoryError {
    DirectoryError::Failed(format!("{service} service answered malformed: {what}"))
}

/// A request that tells the server our deadline (`grpc-timeout`), so that it may stop
/// working on an answer nobody waits for any more.
fn request<T>(message: T, deadline: Duration) -> Request<T> {
    let mut request = Request::new(message);
    request.set_timeout(deadline);
    request
}

/// Sends a directory request, and once more at once when it failed on the connection: the
/// first call on a pooled connection that the peer closed (it restarted) fails, the channel
/// then connects afresh, and every directory call is a read, safe to repeat. `call` clones the
/// client for each try: tonic clients take `&mut self`, and a clone is a handle to the same
/// channel.
async fn send<M, R, Fut>(
    service: &'static str,
    deadline: Duration,
    message: M,
    mut call: impl FnMut(Request<M>) -> Fut,
) -> Result<R, DirectoryError>
where
    M: Clone,
    Fut: Future<Output = Result<tonic::Response<R>, Status>>,
{
    let answer = match call(request(message.clone(), deadline)).await {
        Err(status) if is_transport_failure(&status) => call(request(message, deadline)).await,
        answer => answer,
    };
    answer
        .map(tonic::Response::into_inner)
        .map_err(|status| from_status(service, &status))
}

/// Runs one directory call under the deadline. The timer runs here, on the client, so it
/// also bounds waiting for a connection and for a server that ignores `grpc-timeout`.
async fn within<T>(
    service: &'static str,
    deadline: Duration,
    call: impl Future<Output = Result<T, DirectoryError>>,
) -> Result<T, DirectoryError> {
    tokio::time::timeout(deadline, call)
        .await
        .unwrap_or_else(|_| {
            Err(DirectoryError::Unavailable(format!(
                "{service} service: no answer within {deadline:?}"
            )))
        })
}

/// A channel whose every call carries the internal token.
type Authenticated = InterceptedService<Channel, WithToken>;

const USERS: &str = "users";
const ACTORS: &str = "actors";
const MOVIES: &str = "movies";

/// [`UserDirectory`] answered by the users service over gRPC.
#[derive(Clone)]
pub struct GrpcUserDirectory {
    client: UserServiceClient<Authenticated>,
    deadline: Duration,
}

impl GrpcUserDirectory {
    /// A directory over an existing channel (e.g. one shared with other clients), its calls
    /// carrying `token` (see [`crate::internal_token`]).
    pub fn new(channel: Channel, token: &DeploymentToken, config: &ClientConfig) -> Self {
        GrpcUserDirectory {
            client: UserServiceClient::with_interceptor(channel, WithToken::new(token)),
            deadline: config.deadline,
        }
    }

    /// A directory over its own lazily connecting channel to `url` (see [`lazy_channel`]),
    /// its calls carrying `token`.
    pub fn connect_lazy(
        url: &str,
        token: &DeploymentToken,
        config: &ClientConfig,
    ) -> Result<Self, tonic::transport::Error> {
        Ok(Self::new(lazy_channel(url, config)?, token, config))
    }
}

#[async_trait]
impl UserDirectory for GrpcUserDirectory {
    async fn user(&self, id: Uuid) -> Result<Option<UserProfile>, DirectoryError> {
        let message = GetUserRequest { id: id.to_string() };
        within(USERS, self.deadline, async {
            let answer = send(USERS, self.deadline, message, |request| {
                let mut client = self.client.clone();
                async move { client.get_user(request).await }
            })
            .await?;
            if !answer.found {
                return Ok(None);
            }
            let user = answer
                .user
                .ok_or_else(|| malformed(USERS, "found without a user"))?;
            if user.id.parse::<Uuid>().ok() != Some(id) {
                return Err(malformed(
                    USERS,
                    format!("asked for {id}, got {:?}", user.id),
                ));
            }
            Ok(Some(UserProfile {
                id,
                name: user.name,
            }))
        })
        .await
    }
}

/// [`ActorDirectory`] answered by the actors service over gRPC.
#[derive(Clone)]
pub struct GrpcActorDirectory {
    client: ActorServiceClient<Authenticated>,
    deadline: Duration,
}

impl GrpcActorDirectory {
    /// A directory over an existing channel (e.g. one shared with other clients), its calls
    /// carrying `token` (see [`crate::internal_token`]).
    pub fn new(channel: Channel, token: &DeploymentToken, config: &ClientConfig) -> Self {
        GrpcActorDirectory {
            client: ActorServiceClient::with_interceptor(channel, WithToken::new(token)),
            deadline: config.deadline,
        }
    }

    /// A directory over its own lazily connecting channel to `url` (see [`lazy_channel`]),
    /// its calls carrying `token`.
    pub fn connect_lazy(
        url: &str,
        token: &DeploymentToken,
        config: &ClientConfig,
    ) -> Result<Self, tonic::transport::Error> {
        Ok(Self::new(lazy_channel(url, config)?, token, config))
    }
}

#[async_trait]
impl ActorDirectory for GrpcActorDirectory {
    async fn actors(&self, ids: &[Uuid]) -> Result<Vec<Option<ActorSummaryRef>>, DirectoryError> {
        // One deadline for the whole answer, however many calls it takes.
        within(ACTORS, self.deadline, async {
            let mut found = Vec::with_capacity(ids.len());
            for chunk in ids.chunks(MAX_ACTOR_IDS) {
                let message = GetActorsRequest {
                    ids: chunk.iter().map(Uuid::to_string).collect(),
                };
                let results = send(ACTORS, self.deadline, message, |request| {
                    let mut client = self.client.clone();
                    async move { client.get_actors(request).await }
                })
                .await?
                .results;
                if results.len() != chunk.len() {
                    return Err(malformed(
                        ACTORS,
                        format!("{} results for {} ids", results.len(), chunk.len()),
                    ));
                }
                for (id, result) in chunk.iter().zip(results) {
                    // Checked, not trusted: a shifted answer would give a cast member
                    // another actor's name.
                    if result.id.parse::<Uuid>().ok() != Some(*id) {
                        return Err(malformed(
                            ACTORS,
                            format!("asked for {id}, got {:?}", result.id),
                        ));
                    }
                    found.push(result.found.then_some(ActorSummaryRef {
                        id: *id,
                        name: result.name,
                    }));
                }
            }
            Ok(found)
        })
        .await
    }
}

/// [`MovieDirectory`] answered by the movies service over gRPC.
#[derive(Clone)]
pub struct GrpcMovieDirectory {
    client: MovieServiceClient<Authenticated>,
    deadline: Duration,
}

impl GrpcMovieDirectory {
    /// A directory over an existing channel (e.g. one shared with other clients), its calls
    /// carrying `token` (see [`crate::internal_token`]).
    pub fn new(channel: Channel, token: &DeploymentToken, config: &ClientConfig) -> Self {
        GrpcMovieDirectory {
            client: MovieServiceClient::with_interceptor(channel, WithToken::new(token)),
            deadline: config.deadline,
        }
    }

    /// A directory over its own lazily connecting channel to `url` (see [`lazy_channel`]),
    /// its calls carrying `token`.
    pub fn connect_lazy(
        url: &str,
        token: &DeploymentToken,
        config: &ClientConfig,
    ) -> Result<Self, tonic::transport::Error> {
        Ok(Self::new(lazy_channel(url, config)?, token, config))
    }
}

#[async_trait]
impl MovieDirectory for GrpcMovieDirectory {
    async fn movie(&self, id: Uuid) -> Result<Option<MovieRef>, DirectoryError> {
        let message = GetMovieRequest { id: id.to_string() };
        within(MOVIES, self.deadline, async {
            let answer = send(MOVIES, self.deadline, message, |request| {
                let mut client = self.client.clone();
                async move { client.get_movie(request).await }
            })
            .await?;
            if !answer.found {
                return Ok(None);
            }
            let movie = answer
                .movie
                .ok_or_else(|| malformed(MOVIES, "found without a movie"))?;
            if movie.id.parse::<Uuid>().ok() != Some(id) {
                return Err(malformed(
                    MOVIES,
                    format!("asked for {id}, got {:?}", movie.id),
                ));
            }
            Ok(Some(MovieRef {
                id,
                title: movie.title,
                release_year: movie.release_year,
                genres: movie.genres,
            }))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_of_the_peer_are_not_outages() {
        for code in [
            Code::Internal,
            Code::InvalidArgument,
            Code::Unimplemented,
            Code::Unknown,
        ] {
            let error = from_status(USERS, &Status::new(code, "no"));
            assert!(
                matches!(error, DirectoryError::Failed(_)),
                "{code:?}: {error:?}"
            );
        }
    }

    #[test]
    fn transport_failures_are_outages() {
        for code in [Code::Unavailable, Code::DeadlineExceeded, Code::Cancelled] {
            let error = from_status(USERS, &Status::new(code, "gone"));
            assert!(
                matches!(&error, DirectoryError::Unavailable(m) if m.starts_with("users service: ")),
                "{code:?}: {error:?}"
            );
        }
        let reset = Status::from_error(Box::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        )));
        assert!(matches!(
            from_status(USERS, &reset),
            DirectoryError::Unavailable(_)
        ));
        let torn = Status::internal("h2 protocol error: connection closed");
        assert!(matches!(
            from_status(USERS, &torn),
            DirectoryError::Unavailable(_)
        ));
    }
}
