//! What a service may ask another service at once, when a write must check another
//! service's data: the reviewer's name and existence, a new movie's actors, a movie's
//! identity. In one process these are answered by the owning service directly; across
//! processes, over gRPC (crate `rpc`).

use async_trait::async_trait;
use domain::ActorSummaryRef;
use store::{Key, StoreError};
use uuid::Uuid;

/// Why a directory could not answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DirectoryError {
    /// The owning service or its store cannot be reached now; worth retrying later.
    #[error("{0}")]
    Unavailable(String),
    /// The owner failed or answered something that makes no sense: a bug to log.
    #[error("{0}")]
    Failed(String),
}

impl From<StoreError> for DirectoryError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(reason) => {
                DirectoryError::Unavailable(format!("store: {reason}"))
            }
            other => DirectoryError::Failed(other.to_string()),
        }
    }
}

/// A user as other services need to know one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserProfile {
    pub id: Uuid,
    pub name: String,
}

/// Where the users service keeps a user's record. Other services never read it; a write of
/// theirs that may only happen while the user exists carries a check that it does (every
/// service of a deployment shares the one store), which holds exactly as long as the user
/// does — see `auth::Claimed`.
pub fn user_record_key(id: &Uuid) -> Key {
    Key::new(format!("user#{id}"), "user")
}

/// Where the actors service keeps an actor's record. Other services never read it; the
/// movies service's audit (`moviebook verify`) asks whether it is there, which tells an
/// actor deleted from one whose record does not decode.
pub fn actor_record_key(id: &Uuid) -> Key {
    Key::new(format!("actor#{id}"), "actor")
}

/// Answers questions about users; owned by the users service.
#[async_trait]
pub trait UserDirectory: Send + Sync + 'static {
    /// The user, or `None` when there is no such user (or it was deleted).
    async fn user(&self, id: Uuid) -> Result<Option<UserProfile>, DirectoryError>;
}

/// Answers questions about actors; owned by the actors service.
#[async_trait]
pub trait ActorDirectory: Send + Sync + 'static {
    /// The actors with these ids, in the same order, `None` for ids that name no actor.
    async fn actors(&self, ids: &[Uuid]) -> Result<Vec<Option<ActorSummaryRef>>, DirectoryError>;
}

/// A movie as other services need to know one: its identity and catalogue facts. Its page
/// (cast, score, reviews) is served over HTTP, not asked for by services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovieRef {
    pub id: Uuid,
    pub title: String,
    pub release_year: i32,
    /// Lower-case genre names, in the order they were given.
    pub genres: Vec<String>,
}

/// Answers questions about movies; owned by the movies service.
#[async_trait]
pub trait MovieDirectory: Send + Sync + 'static {
    /// The movie, or `None` when there is no such movie (or it was deleted).
    async fn movie(&self, id: Uuid) -> Result<Option<MovieRef>, DirectoryError>;
}
