//! The list of all actors, newest first (`GET /actors` without a search), and what the actor
//! name search is rebuilt from (`crate::search`). Actors are never changed or deleted once
//! created, so an actor's listing is written once, with the event.

use async_trait::async_trait;
use domain::events::{ActorCreated, Envelope, Event, EventType};
use std::collections::BTreeMap;

use platform::audit::{self, Finding, Records, Stored};
use platform::consumer::Projection;
use serde::{Deserialize, Serialize};
use store::{Attrs, Key, Record, Store, StoreError, Write};
use uuid::Uuid;

use crate::{decode_or_skip, sharded};

/// The consumer's name, from when it also wrote a name index to the store: it names its
/// queue and its record of processed events, which stay as they were.
const ACTOR_LIST: &str = "actor-search";
const ALL_ACTORS: &str = "actors";

/// An actor as the list of all actors stores it: `actors#{s}` / `{created_at:020}#{actor}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ActorListingRecord {
    actor_id: Uuid,
    name: String,
    thumbnail_url: Option<String>,
}

impl Record for ActorListingRecord {
    const KIND: &'static str = "actor listing";
}

impl ActorListingRecord {
    fn of(actor: &ActorCreated) -> Self {
        ActorListingRecord {
            actor_id: actor.actor_id,
            name: actor.name.clone(),
            thumbnail_url: actor.thumbnail_url.clone(),
        }
    }

    fn into_listing(self) -> ActorListing {
        ActorListing {
            id: self.actor_id,
            name: self.name,
            thumbnail_url: self.thumbnail_url,
        }
    }
}

/// An actor as lists show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActorListing {
    pub id: Uuid,
    pub name: String,
    pub thumbnail_url: Option<String>,
}

impl ActorListing {
    /// The listing an actor's creation announces.
    pub(crate) fn of(actor: &ActorCreated) -> Self {
        ActorListingRecord::of(actor).into_listing()
    }
}

/// Lists actors.
pub struct ActorListProjection;

#[async_trait]
impl Projection for ActorListProjection {
    fn name(&self) -> &'static str {
        ACTOR_LIST
    }

    fn event_types(&self) -> Vec<EventType> {
        vec![EventType::ActorCreated]
    }

    async fn plan(
        &self,
        _store: &dyn Store,
        envelope: &Envelope,
    ) -> Result<Vec<Write>, StoreError> {
        let Event::ActorCreated(actor) = &envelope.event else {
            return Ok(Vec::new());
        };
        // Actors are never deleted, so listing twice rewrites the same item.
        let sk = format!(
            "{}#{}",
            domain::timestamp::sort_key(envelope.occurred_at),
            actor.actor_id
        );
        let key = Key::new(sharded::partition(ALL_ACTORS, &actor.actor_id), sk);
        Ok(vec![Write::put(
            ActorListingRecord::of(actor).to_item(key)?,
        )])
    }
}

/// Audits the list of all actors (`moviebook verify`): one listing per actor, in its
/// shard, with its name and thumbnail. The listing's time is the creation event's, a moment
/// after the record's: a listing found in the right shard under the actor's id keeps its
/// key, and a missing one is put at the record's time.
pub(crate) fn audit(records: &Records, stored: &Stored) -> Result<Vec<Finding>, StoreError> {
    let actual: BTreeMap<&Key, &Attrs> = stored.under("actors#").collect();
    let mut expected = BTreeMap::new();
    for (id, actor) in &records.actors {
        let partition = sharded::partition(ALL_ACTORS, id);
        let suffix = format!("#{id}");
        let listed = actual
            .keys()
            .find(|key| key.pk == partition && key.sk.ends_with(&suffix))
            .map(|key| (*key).clone());
        let key = listed.unwrap_or_else(|| {
            let sk = format!("{}{suffix}", domain::timestamp::sort_key(actor.created_at));
            Key::new(partition, sk)
        });
        let listing = ActorListingRecord {
            actor_id: *id,
            name: actor.name.clone(),
            thumbnail_url: actor.thumbnail_url.clone(),
        };
        expected.insert(key, listing.to_attrs()?);
    }
    Ok(audit::compare_entries(
        "actors list",
        &expected,
        actual.into_iter(),
    ))
}

/// One page of actors, newest first.
pub async fn actors_page(
    store: &dyn Store,
    after: Option<&str>,
    limit: usize,
) -> Result<(Vec<ActorListing>, Option<String>), StoreError> {
    let (items, cursor) = sharded::merged_page(store, ALL_ACTORS, "", true, after, limit).await?;
    let listings = items
        .iter()
        .filter_map(decode_or_skip::<ActorListingRecord>)
        .map(ActorListingRecord::into_listing);
    Ok((listings.collect(), cursor))
}

/// Every listed actor, in no particular order: what the name search is rebuilt from.
pub(crate) async fn every_actor(store: &dyn Store) -> Result<Vec<ActorListing>, StoreError> {
    let items = sharded::every_item(store, ALL_ACTORS).await?;
    let listings = items
        .iter()
        .filter_map(decode_or_skip::<ActorListingRecord>)
        .map(ActorListingRecord::into_listing);
    Ok(listings.collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::attribute_names;

    #[tokio::test]
    async fn an_actor_is_listed_with_its_name_and_thumbnail() {
        let actor = ActorCreated {
            actor_id: Uuid::now_v7(),
            name: "Keanu Reeves".into(),
            thumbnail_url: None,
        };
        let dir = tempfile::tempdir().unwrap();
        let store = store_sqlite::SqliteStore::open(&dir.path().join("store.db")).unwrap();
        let envelope = Envelope::new(Event::ActorCreated(actor.clone()));
        let writes = ActorListProjection.plan(&store, &envelope).await.unwrap();
        let [Write::Put { item, .. }] = writes.as_slice() else {
            panic!("one listing: {writes:?}");
        };
        assert!(item.key.pk.starts_with("actors#"));
        assert_eq!(
            attribute_names(&item.attrs),
            ["actor_id", "name", "thumbnail_url"]
        );
        store.transact(writes).await.unwrap();
        assert_eq!(
            every_actor(&store).await.unwrap(),
            [ActorListing::of(&actor)]
        );
    }
}
