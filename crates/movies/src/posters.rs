//! A movie's poster: uploading, replacing and deleting it, serving its files, and the copies
//! of actors' photos that the cast on a movie's page shows. Which upload is current is the
//! movie's poster record (`movie#{id}` / `poster`); the files of a poster that stops being
//! current are removed by [`PictureFilesConsumer`](crate::consumers) from the change's event.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::response::Response;
use domain::events::{Event, PosterChanged};
use domain::picture::{PictureOwner, StoredPicture, UploadedPicture};
use pictures::PictureRecord;
use store::{Key, Record};
use uuid::Uuid;

use crate::MoviesService;
use crate::error::MoviesError;
use crate::records::{MovieRecord, cast_photo_key};

/// The movie's item and its poster item.
fn poster_keys(id: &Uuid) -> (Key, Key) {
    (MovieRecord::key(id), MovieRecord::poster_key(id))
}

/// The event of a change of `movie`'s poster.
fn poster_changed(
    movie: &MovieRecord,
) -> impl Fn(Option<StoredPicture>, Option<StoredPicture>) -> Event + '_ {
    |poster, replaced| {
        Event::PosterChanged(PosterChanged {
            movie_id: movie.id,
            poster,
            replaced,
            cast_ids: movie.cast.iter().map(|member| member.actor_id).collect(),
        })
    }
}

impl MoviesService {
    /// Makes an upload the movie's poster (replacing any), and announces it.
    pub async fn set_poster(
        &self,
        id: &Uuid,
        content_type: &str,
        body: Bytes,
    ) -> Result<UploadedPicture, MoviesError> {
        let owner = PictureOwner::Movie(*id);
        // The body is judged before the movie is looked up (docs/api.md's order of checks),
        // and nothing is stored for a movie that does not exist.
        let processed = self.pictures.decode(content_type, body).await?;
        let movie = self.movie(id).await?;
        let poster = self
            .pictures
            .store_and_change(
                &self.outbox,
                owner,
                poster_keys(id),
                processed,
                poster_changed(&movie),
            )
            .await?
            .ok_or(MoviesError::MovieNotFound)?;
        Ok(UploadedPicture::of(&poster, owner))
    }

    /// Deletes the movie's poster (nothing to do without one).
    pub async fn delete_poster(&self, id: &Uuid) -> Result<(), MoviesError> {
        let movie = self.movie(id).await?;
        let (movie_key, poster_key) = poster_keys(id);
        self.pictures
            .change(
                &self.outbox,
                movie_key,
                poster_key,
                None,
                poster_changed(&movie),
            )
            .await?
            .ok_or(MoviesError::MovieNotFound)?;
        Ok(())
    }

    /// The answer to a `GET` of one of the poster's files.
    pub async fn poster_file(
        &self,
        id: &Uuid,
        file: (&str, &str),
        headers: &HeaderMap,
    ) -> Result<Response, MoviesError> {
        let poster_key = MovieRecord::poster_key(id);
        Ok(self
            .pictures
            .serve_current(
                self.store(),
                &poster_key,
                PictureOwner::Movie(*id),
                file,
                headers,
            )
            .await?)
    }

    /// The photos of a cast, by actor, from this service's copies.
    pub(crate) async fn cast_photos(
        &self,
        cast: &[Uuid],
    ) -> Result<HashMap<Uuid, StoredPicture>, MoviesError> {
        let mut photos = HashMap::new();
        for chunk in cast.chunks(store::MAX_BATCH_GET_KEYS) {
            let keys: Vec<Key> = chunk.iter().map(cast_photo_key).collect();
            let found = self.store().batch_get(&keys).await?;
            for (actor, item) in chunk.iter().zip(found) {
                if let Some(item) = item
                    && let Some(photo) = PictureRecord::from_item(&item)?.picture
                {
                    photos.insert(*actor, photo);
                }
            }
        }
        Ok(photos)
    }

    /// Keeps this service's copy of an actor's photo at the change of event `version`.
    pub(crate) async fn copy_cast_photo(
        &self,
        actor_id: &Uuid,
        photo: Option<StoredPicture>,
        version: Uuid,
    ) -> Result<(), MoviesError> {
        let key = cast_photo_key(actor_id);
        Ok(PictureRecord::keep_copy(self.store(), key, photo, version).await?)
    }
}
