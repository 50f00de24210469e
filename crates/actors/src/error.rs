//! How the actors service's commands and queries fail, in its own terms; the HTTP edge
//! (`crate::http`) turns each case into its problem+json once.

use pictures::PicturesError;
use projector::search::SearchError;
use store::StoreError;

/// Why an actors service call failed.
#[derive(Debug, thiserror::Error)]
pub enum ActorsError {
    /// No actor has that id.
    #[error("no such actor")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The name index cannot answer yet.
    #[error(transparent)]
    Search(#[from] SearchError),
    #[error(transparent)]
    Pictures(#[from] PicturesError),
}
