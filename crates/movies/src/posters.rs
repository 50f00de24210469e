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
use pictures::{PictureRecord, Pictures};
use store::{Key, Record, StoreExt};
use uuid::Uuid;

use crate::MoviesService;
use crate::error::MoviesError;
use crate::records::{MovieRecord, cast_photo_key};

impl MoviesService {
    fn pictures(&self) -> &Pictures {
        &self.pictures
    }

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
        let processed = self.pictures().decode(content_type, body).await?;
        let movie = self.movie(id).await?;
        let poster = self.pictures().store(owner, processed).await?;
        match self.change_poster(&movie, Some(poster)).await {
            Ok(()) => Ok(UploadedPicture::of(&poster, owner)),
            Err(error) => {
                self.pictures().discard(owner, &poster).await;
                Err(error)
            }
        }
    }

    /// Deletes the movie's poster (nothing to do without one).
    pub async fn delete_poster(&self, id: &Uuid) -> Result<(), MoviesError> {
        let movie = self.movie(id).await?;
        self.change_poster(&movie, None).await
    }

    async fn change_poster(
        &self,
        movie: &MovieRecord,
        poster: Option<StoredPicture>,
    ) -> Result<(), MoviesError> {
        let announce = |poster, replaced| {
            Event::PosterChanged(PosterChanged {
                movie_id: movie.id,
                poster,
                replaced,
                cast_ids: movie.cast.iter().map(|member| member.actor_id).collect(),
            })
        };
        self.pictures()
            .change(
                &self.outbox,
                MovieRecord::key(&movie.id),
                MovieRecord::poster_key(&movie.id),
                poster,
                announce,
            )
            .await?
            .ok_or(MoviesError::MovieNotFound)?;
        Ok(())
    }

    /// The answer to a `GET` of one of the poster's files.
    pub async fn poster_file(
        &self,
        id: &Uuid,
        upload: &str,
        file_name: &str,
        headers: &HeaderMap,
    ) -> Result<Response, MoviesError> {
        let current = self
            .store()
            .get_record::<PictureRecord>(&MovieRecord::poster_key(id))
            .await?
            .and_then(|record| record.picture);
        Ok(self
            .pictures()
            .serve(
                PictureOwner::Movie(*id),
                current.as_ref(),
                upload,
                file_name,
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
