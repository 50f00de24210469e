//! The servers: each wraps a directory port and answers its `moviebook.v1` service.

use std::sync::Arc;

use platform::deployment_token::DeploymentToken;
use platform::directory::DirectoryError;
use platform::directory::{ActorDirectory, MovieDirectory, UserDirectory};
use tonic::service::Routes;
use tonic::service::interceptor::InterceptedService;
use tonic::{Request, Response, Status};
use tonic_health::server::HealthReporter;
use uuid::Uuid;

use crate::auth::RequireToken;
use crate::pb::actor_service_server::{ActorService, ActorServiceServer};
use crate::pb::movie_service_server::{MovieService, MovieServiceServer};
use crate::pb::user_service_server::{UserService, UserServiceServer};
use crate::pb::{
    ActorResult, GetActorsRequest, GetActorsResponse, GetMovieRequest, GetMovieResponse,
    GetUserRequest, GetUserResponse, Movie, User,
};

/// The most ids one `GetActors` call may ask for. A cast has at most 50 members; the bound
/// keeps one request from holding the server for long. The client splits longer lists.
pub const MAX_ACTOR_IDS: usize = 1000;

fn parse_id(field: &str, text: &str) -> Result<Uuid, Status> {
    text.parse()
        .map_err(|_| Status::invalid_argument(format!("{field}: {text:?} is not a UUID")))
}

/// A directory's failure as the caller should see it: an outage stays an outage (the caller
/// may retry or answer 503), anything else is this server's fault.
fn to_status(service: &'static str, error: DirectoryError) -> Status {
    match error {
        DirectoryError::Unavailable(reason) => Status::unavailable(reason),
        other => {
            // The caller only learns that it failed; the cause is logged where it happened.
            tracing::error!(service, error = %other, "gRPC request failed");
            Status::internal(other.to_string())
        }
    }
}

/// Serves `moviebook.v1.ActorService` from an [`ActorDirectory`].
#[derive(Clone)]
pub struct ActorGrpc {
    directory: Arc<dyn ActorDirectory>,
}

impl ActorGrpc {
    pub fn new(directory: Arc<dyn ActorDirectory>) -> Self {
        ActorGrpc { directory }
    }

    /// The tonic service, to add to a `Server` or `Routes`.
    pub fn into_service(self) -> ActorServiceServer<Self> {
        ActorServiceServer::new(self)
    }
}

#[tonic::async_trait]
impl ActorService for ActorGrpc {
    async fn get_actors(
        &self,
        request: Request<GetActorsRequest>,
    ) -> Result<Response<GetActorsResponse>, Status> {
        let ids = request.into_inner().ids;
        if ids.len() > MAX_ACTOR_IDS {
            return Err(Status::invalid_argument(format!(
                "ids: at most {MAX_ACTOR_IDS} per call, got {}",
                ids.len()
            )));
        }
        let ids = ids
            .iter()
            .map(|id| parse_id("ids", id))
            .collect::<Result<Vec<_>, _>>()?;
        let found = self
            .directory
            .actors(&ids)
            .await
            .map_err(|e| to_status("actors", e))?;
        // The port promises one answer per id; pairing them by position would silently
        // shift every later answer if an implementation broke that promise.
        if found.len() != ids.len() {
            return Err(to_status(
                "actors",
                DirectoryError::Failed(format!(
                    "the actor directory answered {} of {} ids",
                    found.len(),
                    ids.len()
                )),
            ));
        }
        let results = ids
            .iter()
            .zip(found)
            .map(|(id, actor)| match actor {
                Some(actor) => ActorResult {
                    id: id.to_string(),
                    found: true,
                    name: actor.name,
                },
                None => ActorResult {
                    id: id.to_string(),
                    found: false,
                    name: String::new(),
                },
            })
            .collect();
        Ok(Response::new(GetActorsResponse { results }))
    }
}

/// Serves `moviebook.v1.UserService` from a [`UserDirectory`].
#[derive(Clone)]
pub struct UserGrpc {
    directory: Arc<dyn UserDirectory>,
}

impl UserGrpc {
    pub fn new(directory: Arc<dyn UserDirectory>) -> Self {
        UserGrpc { directory }
    }

    /// The tonic service, to add to a `Server` or `Routes`.
    pub fn into_service(self) -> UserServiceServer<Self> {
        UserServiceServer::new(self)
    }
}

#[tonic::async_trait]
impl UserService for UserGrpc {
    async fn get_user(
        &self,
        request: Request<GetUserRequest>,
    ) -> Result<Response<GetUserResponse>, Status> {
        let id = parse_id("id", &request.into_inner().id)?;
        let user = self
            .directory
            .user(id)
            .await
            .map_err(|e| to_status("users", e))?;
        Ok(Response::new(GetUserResponse {
            found: user.is_some(),
            user: user.map(|u| User {
                id: u.id.to_string(),
                name: u.name,
            }),
        }))
    }
}

/// Serves `moviebook.v1.MovieService` from a [`MovieDirectory`].
#[derive(Clone)]
pub struct MovieGrpc {
    directory: Arc<dyn MovieDirectory>,
}

impl MovieGrpc {
    pub fn new(directory: Arc<dyn MovieDirectory>) -> Self {
        MovieGrpc { directory }
    }

    /// The tonic service, to add to a `Server` or `Routes`.
    pub fn into_service(self) -> MovieServiceServer<Self> {
        MovieServiceServer::new(self)
    }
}

#[tonic::async_trait]
impl MovieService for MovieGrpc {
    async fn get_movie(
        &self,
        request: Request<GetMovieRequest>,
    ) -> Result<Response<GetMovieResponse>, Status> {
        let id = parse_id("id", &request.into_inner().id)?;
        let movie = self
            .directory
            .movie(id)
            .await
            .map_err(|e| to_status("movies", e))?;
        Ok(Response::new(GetMovieResponse {
            found: movie.is_some(),
            movie: movie.map(|m| Movie {
                id: m.id.to_string(),
                title: m.title,
                release_year: m.release_year,
                genres: m.genres,
            }),
        }))
    }
}

/// The gRPC routes of a process: the services of the roles it plays (`None` for a role it
/// does not play) and `grpc.health.v1.Health`, which reports each served service, and the
/// server as a whole (`""`), as SERVING. Every one of them, health included, refuses a call
/// that does not carry `token` (see [`crate::internal_token`]) with UNAUTHENTICATED. See the
/// crate docs for how to serve them.
///
/// The returned [`HealthReporter`] lets the process mark services NOT_SERVING, e.g. while
/// it drains before shutting down, so that health-checking balancers stop sending to it.
pub async fn grpc_routes(
    actors: Option<Arc<dyn ActorDirectory>>,
    users: Option<Arc<dyn UserDirectory>>,
    movies: Option<Arc<dyn MovieDirectory>>,
    token: &DeploymentToken,
) -> (Routes, HealthReporter) {
    let require = RequireToken::new(token);
    let (health, health_service) = tonic_health::server::health_reporter();
    let mut routes = Routes::builder();
    if let Some(directory) = actors {
        health.set_serving::<ActorServiceServer<ActorGrpc>>().await;
        routes.add_service(InterceptedService::new(
            ActorGrpc::new(directory).into_service(),
            require.clone(),
        ));
    }
    if let Some(directory) = users {
        health.set_serving::<UserServiceServer<UserGrpc>>().await;
        routes.add_service(InterceptedService::new(
            UserGrpc::new(directory).into_service(),
            require.clone(),
        ));
    }
    if let Some(directory) = movies {
        health.set_serving::<MovieServiceServer<MovieGrpc>>().await;
        routes.add_service(InterceptedService::new(
            MovieGrpc::new(directory).into_service(),
            require.clone(),
        ));
    }
    routes.add_service(InterceptedService::new(health_service, require));
    (routes.routes(), health)
}
