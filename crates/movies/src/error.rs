//! What the movies service's commands and queries fail with. HTTP turns these into
//! problems once (`http`), the consumers into bus outcomes (`consumers`); the service
//! itself knows neither.

use domain::ValidationErrors;
use pictures::PicturesError;
use platform::directory::DirectoryError;
use projector::search::SearchError;
use store::StoreError;

/// Why a movies or reviews operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MoviesError {
    /// No movie has this id (or it was deleted).
    #[error("no such movie")]
    MovieNotFound,
    /// The user has no review of this movie (or the movie was deleted).
    #[error("no such review")]
    ReviewNotFound,
    /// No user has this id (or they were deleted).
    #[error("no such user")]
    UserNotFound,
    /// The movie is not on the user's watch list.
    #[error("the movie is not on the watch list")]
    NotOnWatchlist,
    /// The caller may not do this; the reason says why.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The token's user was deleted (or never existed).
    #[error("the token's user no longer exists")]
    UserGone,
    /// The request names something that cannot be: every failing field.
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    /// Every attempt found the review changed since it was read; `0` is what was being
    /// done to it ("written", "deleted").
    #[error("the review kept changing while it was {0}")]
    KeptChanging(&'static str),
    /// Every attempt found a watch list entry changed since it was read; `0` is what was
    /// being done ("removing a movie", "emptying a deleted user's list").
    #[error("the watch list kept changing while {0}")]
    WatchlistKeptChanging(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The title index cannot answer yet.
    #[error(transparent)]
    Search(#[from] SearchError),
    /// Another service's directory did not answer.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error(transparent)]
    Pictures(#[from] PicturesError),
}

impl MoviesError {
    /// Whether the same request may succeed later: an outage, or contention that passes.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            MoviesError::KeptChanging(_)
                | MoviesError::WatchlistKeptChanging(_)
                | MoviesError::Store(StoreError::Unavailable(_))
                | MoviesError::Search(
                    SearchError::NotBuilt | SearchError::Store(StoreError::Unavailable(_))
                )
                | MoviesError::Directory(DirectoryError::Unavailable(_))
        ) || matches!(self, MoviesError::Pictures(error) if error.is_transient())
    }
}
