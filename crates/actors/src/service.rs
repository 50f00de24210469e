//! Creating and reading actors.

use std::sync::Arc;

use async_trait::async_trait;
use domain::events::{ActorCreated, Envelope, Event};
use domain::{ActorSummaryRef, NewActor};
use platform::ApiError;
use platform::directory::{ActorDirectory, DirectoryError};
use platform::outbox::Outbox;
use projector::filmography::{FilmographyEntry, filmography};
use serde::Serialize;
use serde_json::{Map, Value, json};
use store::{Condition, Item, Key, Store, Write};
use uuid::Uuid;

fn actor_key(id: &Uuid) -> Key {
    Key::new(format!("actor#{id}"), "actor")
}

/// An actor's page.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ActorView {
    pub id: Uuid,
    pub name: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    pub bio: Option<String>,
    pub thumbnail_url: Option<String>,
    pub pictures: Vec<String>,
    /// The filmography, newest release first (at most 100).
    pub movies: Vec<FilmographyEntry>,
}

/// The actors service's commands and queries.
#[derive(Clone)]
pub struct ActorsService {
    outbox: Outbox,
}

impl ActorsService {
    pub fn new(outbox: Outbox) -> Self {
        ActorsService { outbox }
    }

    fn store(&self) -> &dyn Store {
        self.outbox.store().as_ref()
    }

    /// The store, for the read models the actor endpoints serve.
    pub fn store_handle(&self) -> Arc<dyn Store> {
        self.outbox.store().clone()
    }

    /// Creates an actor and announces it.
    pub async fn create(&self, actor: NewActor) -> Result<ActorView, ApiError> {
        let id = domain::ids::new_id();
        let mut attrs = Map::new();
        attrs.insert("id".into(), json!(id));
        attrs.insert("name".into(), json!(actor.name));
        attrs.insert(
            "date_of_birth".into(),
            json!(actor.date_of_birth.map(domain::format_date)),
        );
        attrs.insert("bio".into(), json!(actor.bio));
        attrs.insert("thumbnail_url".into(), json!(actor.thumbnail_url));
        attrs.insert("pictures".into(), json!(actor.pictures));
        attrs.insert("created_at".into(), json!(domain::timestamp::now_micros()));
        let item = Item::new(actor_key(&id), attrs);
        let view =
            to_view(&item, Vec::new()).ok_or_else(|| ApiError::Internal("actor item".into()))?;
        let event = Envelope::new(Event::ActorCreated(ActorCreated {
            actor_id: id,
            name: actor.name,
            thumbnail_url: actor.thumbnail_url,
        }));
        self.outbox
            .commit(
                vec![Write::Put {
                    item,
                    condition: Condition::NotExists,
                }],
                &[event],
            )
            .await?;
        Ok(view)
    }

    /// An actor with its filmography.
    pub async fn get(&self, id: &Uuid) -> Result<ActorView, ApiError> {
        let item = self
            .store()
            .get(&actor_key(id))
            .await?
            .ok_or(ApiError::NotFound("no such actor"))?;
        let movies = filmography(self.store(), id).await?;
        to_view(&item, movies).ok_or_else(|| ApiError::Internal("actor item is malformed".into()))
    }
}

fn to_view(item: &Item, movies: Vec<FilmographyEntry>) -> Option<ActorView> {
    let text = |name: &str| item.str(name).map(str::to_owned);
    Some(ActorView {
        id: item.str("id")?.parse().ok()?,
        name: text("name")?,
        date_of_birth: text("date_of_birth"),
        bio: text("bio"),
        thumbnail_url: text("thumbnail_url"),
        pictures: item
            .get("pictures")
            .and_then(Value::as_array)
            .map(|p| {
                p.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        movies,
    })
}

/// Answers "which of these actors exist, and what are their names" from the actors' own items.
pub struct LocalActorDirectory {
    store: Arc<dyn Store>,
}

impl LocalActorDirectory {
    pub fn new(store: Arc<dyn Store>) -> Self {
        LocalActorDirectory { store }
    }
}

#[async_trait]
impl ActorDirectory for LocalActorDirectory {
    async fn actors(&self, ids: &[Uuid]) -> Result<Vec<Option<ActorSummaryRef>>, DirectoryError> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(store::MAX_BATCH_GET_KEYS) {
            let keys: Vec<Key> = chunk.iter().map(actor_key).collect();
            for item in self.store.batch_get(&keys).await? {
                found.push(item.and_then(|i| {
                    Some(ActorSummaryRef {
                        id: i.str("id")?.parse().ok()?,
                        name: i.str("name")?.to_owned(),
                    })
                }));
            }
        }
        Ok(found)
    }
}
