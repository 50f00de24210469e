//! The movies service's answer to "does this movie exist, and what is it", for services in
//! the same process and for the gRPC server that answers the others.

use std::sync::Arc;

use async_trait::async_trait;
use platform::directory::{DirectoryError, MovieDirectory, MovieRef};
use store::{Store, StoreExt};
use uuid::Uuid;

use crate::records::MovieRecord;

/// Answers from the movie's own record.
pub struct LocalMovieDirectory {
    store: Arc<dyn Store>,
}

impl LocalMovieDirectory {
    /// A directory reading the movies in `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        LocalMovieDirectory { store }
    }
}

#[async_trait]
impl MovieDirectory for LocalMovieDirectory {
    async fn movie(&self, id: Uuid) -> Result<Option<MovieRef>, DirectoryError> {
        // A movie record that does not decode is a bug to see, not a movie to hide: the
        // same check the movie's page and its events make.
        let movie: Option<MovieRecord> = self.store.get_record(&MovieRecord::key(&id)).await?;
        Ok(movie.map(|movie| MovieRef {
            id,
            title: movie.title,
            release_year: movie.release_year,
            genres: movie.genres,
        }))
    }
}
