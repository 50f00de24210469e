//! The actors service: creating actors, and reading an actor's page and the actor lists.
//! It owns the actor record (`crate::record`) and reads the filmography and the actor lists
//! from the projector's read models.

use std::sync::Arc;

use domain::NewActor;
use domain::events::{ActorCreated, Envelope, Event};
use platform::outbox::Outbox;
use platform::pagination::{PageOf, PageRequest};
use projector::actors_list::{self, ActorListing};
use projector::filmography::filmography;
use projector::search::ActorSearch;
use projector::searchable_list::SearchableList;
use store::{Condition, Record, Store, StoreExt, Write};
use uuid::Uuid;

use crate::ActorsError;
use crate::record::ActorRecord;
use crate::view::ActorView;

/// The actors service's commands and queries.
#[derive(Clone)]
pub struct ActorsService {
    outbox: Outbox,
    /// This process's index of names; it answers searches once it has been built (the
    /// process's bus watch feeds and rebuilds it, see [`ActorsService::name_search`]).
    names: Arc<ActorSearch>,
}

impl ActorsService {
    /// The service writing through `outbox` (and reading its store).
    pub fn new(outbox: Outbox) -> Self {
        ActorsService {
            outbox,
            names: Arc::new(ActorSearch::default()),
        }
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
        Ok(ActorView::of(record, Vec::new()))
    }

    /// An actor with its filmography.
    pub async fn get(&self, id: &Uuid) -> Result<ActorView, ActorsError> {
        let actor = self
            .store()
            .get_record(&ActorRecord::key(id))
            .await?
            .ok_or(ActorsError::NotFound)?;
        let movies = filmography(self.store(), id).await?;
        Ok(ActorView::of(actor, movies))
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
