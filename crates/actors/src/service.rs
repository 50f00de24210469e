//! The actors service: creating and deleting actors, and reading an actor's page and the
//! actor lists. It owns the actor record (`crate::record`) and reads the filmography and the
//! actor lists from the projector's read models.

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::response::Response;
use domain::NewActor;
use domain::events::{ActorCreated, ActorDeleted, Envelope, Event, PhotoChanged};
use domain::picture::{PictureOwner, StoredPicture, UploadedPicture};
use pictures::{PictureRecord, Pictures};
use platform::outbox::Outbox;
use platform::pagination::{PageOf, PageRequest};
use projector::actors_list::{self, ActorListing};
use projector::filmography::filmography;
use projector::search::ActorSearch;
use projector::searchable_list::SearchableList;
use store::{Condition, Key, Record, Store, StoreError, StoreExt, Write};
use uuid::Uuid;

use crate::ActorsError;
use crate::record::ActorRecord;
use crate::view::ActorView;

/// How many times a delete reads again when the actor's photo changed under it.
const DELETE_ATTEMPTS: usize = 5;

/// The actors service's commands and queries.
#[derive(Clone)]
pub struct ActorsService {
    outbox: Outbox,
    /// This process's index of names; it answers searches once it has been built (the
    /// process's bus watch feeds and rebuilds it, see [`ActorsService::name_search`]).
    names: Arc<ActorSearch>,
    /// Where photos are stored and served from.
    pictures: Pictures,
}

impl ActorsService {
    /// The service writing through `outbox` (and reading its store), whose photos are
    /// `pictures`.
    pub fn new(outbox: Outbox, pictures: Pictures) -> Self {
        ActorsService {
            outbox,
            names: Arc::new(ActorSearch::default()),
            pictures,
        }
    }

    /// The pictures of these actors, for the consumer that removes the files of photos that
    /// are no longer current.
    pub fn pictures(&self) -> &Pictures {
        &self.pictures
    }

    /// The index of names searches read, for the process to keep current from events.
    pub fn name_search(&self) -> &Arc<ActorSearch> {
        &self.names
    }

    fn store(&self) -> &dyn Store {
        self.outbox.store().as_ref()
    }

    /// Creates an actor and announces it.
    pub async fn create(&self, actor: NewActor) -> Result<ActorView, ActorsError> {
        let id = domain::ids::new_id();
        let record = ActorRecord {
            id,
            name: actor.name,
            date_of_birth: actor.date_of_birth.map(domain::format_date),
            bio: actor.bio,
            thumbnail_url: actor.thumbnail_url,
            pictures: actor.pictures,
            created_at: domain::timestamp::now_micros(),
        };
        let event = Envelope::new(Event::ActorCreated(ActorCreated {
            actor_id: id,
            name: record.name.clone(),
            thumbnail_url: record.thumbnail_url.clone(),
        }));
        let put = Write::Put {
            item: record.to_item(ActorRecord::key(&id))?,
            condition: Condition::NotExists,
        };
        self.outbox.commit(vec![put], &[event]).await?;
        Ok(ActorView::of(record, None, Vec::new()))
    }

    /// Deletes an actor with its photo record; its listings, filmography, places in casts
    /// and the photo's files follow through the event, which carries the photo.
    pub async fn delete(&self, id: &Uuid) -> Result<(), ActorsError> {
        for _ in 0..DELETE_ATTEMPTS {
            let (actor, photo) = self.actor_and_photo_record(id).await?;
            let actor = actor.ok_or(ActorsError::NotFound)?;
            let event = Envelope::new(Event::ActorDeleted(ActorDeleted {
                actor_id: actor.id,
                name: actor.name,
                created_at: actor.created_at,
                photo: photo.as_ref().and_then(|photo| photo.picture),
            }));
            let writes = vec![
                Write::Delete {
                    key: ActorRecord::key(id),
                    condition: Condition::Exists,
                },
                // A photo uploaded since it was read would outlive the actor: read again.
                Write::Delete {
                    key: ActorRecord::photo_key(id),
                    condition: PictureRecord::unchanged(photo.as_ref()),
                },
            ];
            match self.outbox.commit(writes, &[event]).await {
                // Gone meanwhile, or its photo changed: the next read tells which.
                Err(StoreError::ConditionFailed { .. }) => continue,
                other => return Ok(other?),
            }
        }
        Err(ActorsError::Pictures(pictures::PicturesError::Contended))
    }

    /// An actor with its photo and filmography.
    pub async fn get(&self, id: &Uuid) -> Result<ActorView, ActorsError> {
        let ((actor, photo), movies) = futures::try_join!(self.actor_and_photo(id), async {
            Ok(filmography(self.store(), id).await?)
        },)?;
        let actor = actor.ok_or(ActorsError::NotFound)?;
        Ok(ActorView::of(actor, photo, movies))
    }

    /// The actor (if any) and its photo, one partition's items read in one request.
    async fn actor_and_photo(
        &self,
        id: &Uuid,
    ) -> Result<(Option<ActorRecord>, Option<StoredPicture>), ActorsError> {
        let (actor, photo) = self.actor_and_photo_record(id).await?;
        Ok((actor, photo.and_then(|photo| photo.picture)))
    }

    /// The actor (if any) and its photo record (with the version a change is conditional
    /// on), in one request.
    async fn actor_and_photo_record(
        &self,
        id: &Uuid,
    ) -> Result<(Option<ActorRecord>, Option<PictureRecord>), ActorsError> {
        let mut found = self
            .store()
            .batch_get(&[ActorRecord::key(id), ActorRecord::photo_key(id)])
            .await?
            .into_iter();
        let actor = found
            .next()
            .flatten()
            .map(|item| ActorRecord::from_item(&item))
            .transpose()?;
        let photo = found
            .next()
            .flatten()
            .map(|item| PictureRecord::from_item(&item))
            .transpose()?;
        Ok((actor, photo))
    }

    /// Makes an upload the actor's photo (replacing any), and announces it.
    pub async fn set_photo(
        &self,
        id: &Uuid,
        content_type: &str,
        body: Bytes,
    ) -> Result<UploadedPicture, ActorsError> {
        let owner = PictureOwner::Actor(*id);
        // The body is judged before the actor is looked up (docs/api.md's order of checks),
        // and nothing is stored for an actor that does not exist.
        let processed = self.pictures.decode(content_type, body).await?;
        let actor = self.actor(id).await?;
        let photo = self
            .pictures
            .store_and_change(
                &self.outbox,
                owner,
                photo_keys(id),
                processed,
                photo_changed(&actor),
            )
            .await?
            .ok_or(ActorsError::NotFound)?;
        Ok(UploadedPicture::of(&photo, owner))
    }

    /// Deletes the actor's photo (nothing to do without one).
    pub async fn delete_photo(&self, id: &Uuid) -> Result<(), ActorsError> {
        let actor = self.actor(id).await?;
        let (actor_key, photo_key) = photo_keys(id);
        self.pictures
            .change(
                &self.outbox,
                actor_key,
                photo_key,
                None,
                photo_changed(&actor),
            )
            .await?
            .ok_or(ActorsError::NotFound)?;
        Ok(())
    }

    async fn actor(&self, id: &Uuid) -> Result<ActorRecord, ActorsError> {
        self.store()
            .get_record(&ActorRecord::key(id))
            .await?
            .ok_or(ActorsError::NotFound)
    }

    /// The answer to a `GET` of one of the photo's files.
    pub async fn photo_file(
        &self,
        id: &Uuid,
        file: (&str, &str),
        headers: &HeaderMap,
    ) -> Result<Response, ActorsError> {
        let photo_key = ActorRecord::photo_key(id);
        Ok(self
            .pictures
            .serve_current(
                self.store(),
                &photo_key,
                PictureOwner::Actor(*id),
                file,
                headers,
            )
            .await?)
    }

    /// One page of the actors a list asks for: every actor from the actor list, a search
    /// from the name index.
    pub async fn list(&self, list: SearchableList) -> Result<PageOf<ActorListing>, ActorsError> {
        Ok(match list {
            SearchableList::All(PageRequest { limit, cursor }) => {
                let (items, next) =
                    actors_list::actors_page(self.store(), cursor.as_deref(), limit).await?;
                PageOf::new(items, next)
            }
            SearchableList::Search { text, page } => {
                let (items, next) = self.names.search(&text, page.cursor.as_ref(), page.limit)?;
                PageOf::new(items, next)
            }
        })
    }
}

/// The actor's item and its photo item.
fn photo_keys(id: &Uuid) -> (Key, Key) {
    (ActorRecord::key(id), ActorRecord::photo_key(id))
}

/// The event of a change of `actor`'s photo.
fn photo_changed(
    actor: &ActorRecord,
) -> impl Fn(Option<StoredPicture>, Option<StoredPicture>) -> Event + '_ {
    |photo, replaced| {
        Event::PhotoChanged(PhotoChanged {
            actor_id: actor.id,
            photo,
            replaced,
            created_at: actor.created_at,
        })
    }
}
