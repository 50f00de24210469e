//! The list of all actors, newest first (`GET /actors` without a search), and what the actor
//! name search is rebuilt from (`crate::search`). An actor's listed facts never change once
//! created; their photo does, and is set on their listing from each photo change newer than
//! the one it holds. A deleted actor's listing is removed, and its lifecycle record
//! (`crate::lifecycle`, under this projection's name) keeps a creation or photo change
//! arriving after the deletion from listing it again.
//!
//! A listing is written in two parts, in either order: the actor's facts when it is created
//! and its photo on each change. Both find the listing's key the same way
//! (`listing_key`), so a photo change handled before (or while) its actor is listed
//! meets the listing at one key: each part is an update that leaves the other alone.

use async_trait::async_trait;
use domain::events::{ActorCreated, ActorDeleted, Envelope, Event, EventType, PhotoChanged};
use domain::picture::{PictureOwner, PictureView, StoredPicture};
use domain::timestamp::Micros;
use std::collections::{BTreeMap, BTreeSet};

use platform::audit::{self, Finding, Problem, Records, Stored};
use platform::consumer::Projection;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use store::{Attrs, Condition, Item, Key, Query, Record, Store, StoreError, Write};
use uuid::Uuid;

use crate::lifecycle::{self, Lifecycle};
use crate::{decode_or_skip, sharded};

/// The consumer's name, from when it also wrote a name index to the store: it names its
/// queue and its record of processed events, which stay as they were.
const ACTOR_LIST: &str = "actor-search";
const ALL_ACTORS: &str = "actors";
const VIEW: &str = "actors list";

/// How far from the time it is looked for around a listing's key time may be: listings
/// are keyed by the time of the actor's id, or (written before photos) of its creation
/// event, both within moments of the actor record's `created_at` and of the event's time.
const KEY_TIME_SLACK: Micros = 1_000_000;

/// How many listings one read of the slack around a key time takes.
const LOOKUP_PAGE: usize = 25;

/// An actor as the list of all actors stores it: `actors#{s}` / `{t:020}#{actor}`. The
/// parts are written apart (see the module's documentation); a listing whose photo came
/// first holds only that until its actor is listed, and no read shows it meanwhile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ActorListingRecord {
    #[serde(flatten)]
    facts: Option<ListedActor>,
    #[serde(flatten)]
    photo: ListingPhoto,
}

impl Record for ActorListingRecord {
    const KIND: &'static str = "actor listing";
}

/// The actor's part of a listing, set when it is created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ListedActor {
    actor_id: Uuid,
    name: String,
    thumbnail_url: Option<String>,
}

impl ListedActor {
    fn of(actor: &ActorCreated) -> Self {
        ListedActor {
            actor_id: actor.actor_id,
            name: actor.name.clone(),
            thumbnail_url: actor.thumbnail_url.clone(),
        }
    }
}

/// The photo's part of a listing: the photo of the newest change applied and that change's
/// event id, which orders the changes. Both absent until the first change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct ListingPhoto {
    /// Null once the photo is deleted: an update sets it, and cannot remove it.
    #[serde(default)]
    photo: Option<StoredPicture>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    photo_version: Option<Uuid>,
}

impl Record for ListingPhoto {
    const KIND: &'static str = "actor listing's photo";
}

/// The attributes of [`ListingPhoto`].
const PHOTO: &str = "photo";
const PHOTO_VERSION: &str = "photo_version";

impl ListingPhoto {
    /// The condition that the photo part is still the one read.
    fn unchanged(&self) -> Result<Condition, StoreError> {
        match self.photo_version {
            None => Ok(Condition::AttrAbsent(PHOTO_VERSION.into())),
            Some(version) => store::attr_equals(PHOTO_VERSION, &version),
        }
    }
}

impl ActorListingRecord {
    /// The listing lists show; `None` for a listing that holds only a photo so far.
    fn into_listing(self) -> Option<VersionedListing> {
        let facts = self.facts?;
        let photo = self.photo.photo.map(|photo| (photo, facts.actor_id));
        Some(VersionedListing {
            listing: ActorListing {
                id: facts.actor_id,
                name: facts.name,
                thumbnail_url: facts.thumbnail_url,
                photo: photo.map(|(photo, id)| photo.view(PictureOwner::Actor(id))),
            },
            photo_version: self.photo.photo_version,
        })
    }
}

/// An actor as lists show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ActorListing {
    pub id: Uuid,
    pub name: String,
    pub thumbnail_url: Option<String>,
    /// The actor's photo; null without one.
    pub photo: Option<PictureView>,
}

/// An actor's listing with the id of the photo change it shows: what the name search keeps
/// of each actor, so that photo changes it sees out of order leave the newest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionedListing {
    pub(crate) listing: ActorListing,
    pub(crate) photo_version: Option<Uuid>,
}

impl VersionedListing {
    /// The listing an actor's creation announces: no photo yet.
    pub(crate) fn of(actor: &ActorCreated) -> Self {
        VersionedListing {
            listing: ActorListing {
                id: actor.actor_id,
                name: actor.name.clone(),
                thumbnail_url: actor.thumbnail_url.clone(),
                photo: None,
            },
            photo_version: None,
        }
    }

    /// Shows the photo of the change `version`, if it is newer than the one shown.
    pub(crate) fn change_photo(&mut self, version: Uuid, photo: Option<StoredPicture>) {
        if domain::picture::is_newer(version, self.photo_version) {
            self.listing.photo =
                photo.map(|photo| photo.view(PictureOwner::Actor(self.listing.id)));
            self.photo_version = Some(version);
        }
    }

    /// The same actor listed again (a creation seen twice): the photo shown stays.
    pub(crate) fn relisted(self, held: &VersionedListing) -> Self {
        if self.photo_version.is_some() {
            return self;
        }
        VersionedListing {
            listing: ActorListing {
                photo: held.listing.photo.clone(),
                ..self.listing
            },
            photo_version: held.photo_version,
        }
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
        vec![
            EventType::ActorCreated,
            EventType::ActorDeleted,
            EventType::PhotoChanged,
        ]
    }

    /// A photo change's write is conditional on the photo's version; a creation's sets the
    /// same facts however often it comes, and a deletion's is conditional on the actor's
    /// lifecycle record.
    fn marks(&self, envelope: &Envelope) -> bool {
        !matches!(envelope.event, Event::PhotoChanged(_))
    }

    async fn plan(&self, store: &dyn Store, envelope: &Envelope) -> Result<Vec<Write>, StoreError> {
        let actor_id = match &envelope.event {
            Event::ActorCreated(actor) => actor.actor_id,
            Event::ActorDeleted(actor) => actor.actor_id,
            Event::PhotoChanged(change) => change.actor_id,
            _ => return Ok(Vec::new()),
        };
        // Nothing lists a deleted actor again, whatever arrives after its deletion.
        if lifecycle::read(store, ACTOR_LIST, &actor_id).await? == Lifecycle::Deleted {
            return Ok(Vec::new());
        }
        let mut writes = match &envelope.event {
            Event::ActorCreated(actor) => {
                let key = listing_key(store, &actor.actor_id, envelope.occurred_at).await?;
                // An update, not a put: a photo set before the actor was listed stays.
                vec![Write::Update {
                    key: key.key,
                    set: store::attrs_of(&ListedActor::of(actor), ActorListingRecord::KIND)?,
                    add: Vec::new(),
                    condition: Condition::Always,
                }]
            }
            Event::ActorDeleted(actor) => return deletion_writes(store, actor).await,
            Event::PhotoChanged(change) => photo_writes(store, envelope.id, change).await?,
            _ => Vec::new(),
        };
        if !writes.is_empty() {
            // A deletion committed since the lifecycle was read makes this plan read again.
            writes.push(lifecycle::still_unseen(ACTOR_LIST, &actor_id));
        }
        Ok(writes)
    }
}

/// The writes that unlist a deleted actor: its lifecycle record, read as unseen, and its
/// listing (with or without its facts) if there is one.
async fn deletion_writes(
    store: &dyn Store,
    actor: &ActorDeleted,
) -> Result<Vec<Write>, StoreError> {
    let found = listing_key(store, &actor.actor_id, actor.created_at).await?;
    let mut writes = vec![lifecycle::transition(
        ACTOR_LIST,
        &actor.actor_id,
        Lifecycle::Unseen,
        Lifecycle::Deleted,
    )?];
    if found.item.is_some() {
        writes.push(Write::delete(found.key));
    }
    Ok(writes)
}

/// The write that sets a photo change on its actor's listing, if it is newer than the photo
/// the listing holds: one conditional update (which makes the listing, holding only the
/// photo, when the actor is not listed yet).
async fn photo_writes(
    store: &dyn Store,
    version: Uuid,
    change: &PhotoChanged,
) -> Result<Vec<Write>, StoreError> {
    let found = listing_key(store, &change.actor_id, change.created_at).await?;
    let held = match &found.item {
        Some(item) => ListingPhoto::from_item(item)?,
        None => ListingPhoto::default(),
    };
    if !domain::picture::is_newer(version, held.photo_version) {
        return Ok(Vec::new());
    }
    let part = ListingPhoto {
        photo: change.photo,
        photo_version: Some(version),
    };
    Ok(vec![Write::Update {
        key: found.key,
        set: part.to_attrs()?,
        add: Vec::new(),
        condition: held.unchanged()?,
    }])
}

/// Where an actor's listing is, and what it held when looked up.
struct Found {
    key: Key,
    item: Option<Item>,
}

/// The key of `actor_id`'s listing: the one found in its shard within [`KEY_TIME_SLACK`]
/// of `around` (the actor's creation time, or its creation event's), or else where a new
/// listing goes — at the time of the actor's id, which every writer knows. Listings written
/// before photos are keyed by their creation event's time, which only the creation knew:
/// those are found.
async fn listing_key(
    store: &dyn Store,
    actor_id: &Uuid,
    around: Micros,
) -> Result<Found, StoreError> {
    let partition = sharded::partition(ALL_ACTORS, actor_id);
    let suffix = format!("#{actor_id}");
    let until = around.saturating_add(KEY_TIME_SLACK);
    let mut after = domain::timestamp::sort_key(around.saturating_sub(KEY_TIME_SLACK));
    loop {
        let page = store
            .query(&Query::prefix(partition.clone(), "", LOOKUP_PAGE).after(Some(after.clone())))
            .await?;
        for item in &page.items {
            if key_time(&item.key).is_some_and(|time| time > until) {
                return Ok(new_listing(partition, actor_id, around));
            }
            if item.key.sk.ends_with(&suffix) {
                return Ok(Found {
                    key: item.key.clone(),
                    item: Some(item.clone()),
                });
            }
        }
        match page.items.last() {
            Some(last) if page.more => after = last.key.sk.clone(),
            _ => return Ok(new_listing(partition, actor_id, around)),
        }
    }
}

fn new_listing(partition: String, actor_id: &Uuid, around: Micros) -> Found {
    let time = id_time(actor_id).unwrap_or(around);
    let sk = format!("{}#{actor_id}", domain::timestamp::sort_key(time));
    Found {
        key: Key::new(partition, sk),
        item: None,
    }
}

/// The time a UUID v7 was made, in microseconds (its milliseconds).
fn id_time(id: &Uuid) -> Option<Micros> {
    let (seconds, nanos) = id.get_timestamp()?.to_unix();
    let seconds = Micros::try_from(seconds).ok()?;
    Some(seconds * 1_000_000 + Micros::from(nanos / 1_000))
}

/// The time a listing's sort key starts with.
fn key_time(key: &Key) -> Option<Micros> {
    key.sk.split('#').next()?.parse().ok()
}

/// Audits the list of all actors (`moviebook verify`): one listing per actor, in its
/// shard, with its name, thumbnail and photo. A listing found in the right shard under the
/// actor's id keeps its key, and a missing one is put at the record's time. A listing that
/// differs is set right by an update on condition that its photo is still as read; its
/// photo version stays, as no event set the repaired photo, so a newer change still applies.
pub(crate) fn audit(records: &Records, stored: &Stored) -> Result<Vec<Finding>, StoreError> {
    let actual: BTreeMap<&Key, &Attrs> = stored.under("actors#").collect();
    let mut listed: BTreeSet<&Key> = BTreeSet::new();
    let mut findings = Vec::new();
    for (id, actor) in &records.actors {
        let partition = sharded::partition(ALL_ACTORS, id);
        let suffix = format!("#{id}");
        let found = actual
            .iter()
            .find(|(key, _)| key.pk == partition && key.sk.ends_with(&suffix));
        let facts = ListedActor {
            actor_id: *id,
            name: actor.name.clone(),
            thumbnail_url: actor.thumbnail_url.clone(),
        };
        let expected = ActorListingRecord {
            facts: Some(facts),
            photo: ListingPhoto {
                photo: actor.photo,
                photo_version: None,
            },
        }
        .to_attrs()?;
        let Some((key, attrs)) = found else {
            let sk = format!("{}{suffix}", domain::timestamp::sort_key(actor.created_at));
            let key = Key::new(partition, sk);
            let problem = Problem::Missing { expected };
            let repair = audit::plain_repair(&key, &problem).into_iter().collect();
            findings.push(Finding::one(VIEW, key, problem, repair));
            continue;
        };
        listed.insert(*key);
        // The photo's version is bookkeeping no record determines; a listing never given a
        // photo has no photo attribute, which shows as none.
        let mut shown = (*attrs).clone();
        shown.remove(PHOTO_VERSION);
        shown.entry(PHOTO).or_insert(Value::Null);
        let Some(problem) = audit::problem(Some(&shown), Some(&expected), &[]) else {
            continue;
        };
        let held = ListingPhoto::from_attrs(attrs).unwrap_or_default();
        let repair = Write::Update {
            key: (*key).clone(),
            set: expected,
            add: Vec::new(),
            condition: held.unchanged()?,
        };
        findings.push(Finding::one(VIEW, (*key).clone(), problem, vec![repair]));
    }
    for (key, attrs) in actual {
        if !listed.contains(key) {
            findings.push(audit::unexpected(VIEW, key, attrs));
        }
    }
    Ok(findings)
}

/// One page of actors, newest first.
pub async fn actors_page(
    store: &dyn Store,
    after: Option<&str>,
    limit: usize,
) -> Result<(Vec<ActorListing>, Option<String>), StoreError> {
    let (items, cursor) = sharded::merged_page(store, ALL_ACTORS, "", true, after, limit).await?;
    let listings = listings(&items).map(|versioned| versioned.listing);
    Ok((listings.collect(), cursor))
}

/// Every listed actor, in no particular order: what the name search is rebuilt from.
pub(crate) async fn every_actor(store: &dyn Store) -> Result<Vec<VersionedListing>, StoreError> {
    let items = sharded::every_item(store, ALL_ACTORS).await?;
    Ok(listings(&items).collect())
}

/// The listings of these items, leaving out those that hold only a photo so far.
fn listings(items: &[Item]) -> impl Iterator<Item = VersionedListing> + '_ {
    items
        .iter()
        .filter_map(decode_or_skip::<ActorListingRecord>)
        .filter_map(ActorListingRecord::into_listing)
}

#[cfg(test)]
mod tests {
    use domain::picture::ImageType;

    use super::*;
    use crate::test_support::attribute_names;

    fn store() -> (tempfile::TempDir, store_sqlite::SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = store_sqlite::SqliteStore::open(&dir.path().join("store.db")).unwrap();
        (dir, store)
    }

    fn actor() -> ActorCreated {
        ActorCreated {
            actor_id: Uuid::now_v7(),
            name: "Keanu Reeves".into(),
            thumbnail_url: None,
        }
    }

    #[tokio::test]
    async fn an_actor_is_listed_with_its_name_and_thumbnail_at_its_ids_time() {
        let actor = actor();
        let (_dir, store) = store();
        let envelope = Envelope::new(Event::ActorCreated(actor.clone()));
        let writes = ActorListProjection.plan(&store, &envelope).await.unwrap();
        let [Write::Update { key, set, .. }, Write::Check { .. }] = writes.as_slice() else {
            panic!("one listing, while the actor is not deleted: {writes:?}");
        };
        assert!(key.pk.starts_with("actors#"));
        let time = id_time(&actor.actor_id).unwrap();
        assert_eq!(key.sk, format!("{:020}#{}", time, actor.actor_id));
        assert_eq!(attribute_names(set), ["actor_id", "name", "thumbnail_url"]);
        store.transact(writes).await.unwrap();
        assert_eq!(
            every_actor(&store).await.unwrap(),
            [VersionedListing::of(&actor)]
        );
    }

    #[test]
    fn a_listing_keeps_its_attribute_names_and_one_with_only_a_photo_lists_nothing() {
        let photo = ListingPhoto {
            photo: Some(StoredPicture {
                upload_id: Uuid::now_v7(),
                image_type: ImageType::Jpeg,
                width: 3,
                height: 4,
            }),
            photo_version: Some(Uuid::now_v7()),
        };
        let record = ActorListingRecord {
            facts: Some(ListedActor::of(&actor())),
            photo,
        };
        let attrs = record.to_attrs().unwrap();
        assert_eq!(
            attribute_names(&attrs),
            [
                "actor_id",
                "name",
                "photo",
                "photo_version",
                "thumbnail_url"
            ]
        );
        assert_eq!(ActorListingRecord::from_attrs(&attrs).unwrap(), record);
        let only_photo = ActorListingRecord::from_attrs(&photo.to_attrs().unwrap()).unwrap();
        assert_eq!(only_photo.facts, None);
        assert_eq!(only_photo.into_listing(), None);
    }

    async fn apply(store: &store_sqlite::SqliteStore, envelope: &Envelope) {
        let writes = ActorListProjection.plan(store, envelope).await.unwrap();
        store.transact(writes).await.unwrap();
    }

    fn deletion(actor: &ActorCreated) -> Envelope {
        Envelope::new(Event::ActorDeleted(ActorDeleted {
            actor_id: actor.actor_id,
            name: actor.name.clone(),
            created_at: id_time(&actor.actor_id).unwrap(),
            photo: None,
        }))
    }

    fn photo_change(actor: &ActorCreated) -> Envelope {
        Envelope::new(Event::PhotoChanged(PhotoChanged {
            actor_id: actor.actor_id,
            photo: None,
            replaced: None,
            created_at: id_time(&actor.actor_id).unwrap(),
        }))
    }

    #[tokio::test]
    async fn a_deleted_actor_is_unlisted_and_nothing_arriving_later_lists_it_again() {
        let (_dir, store) = store();
        let (kept, gone) = (actor(), actor());
        let created = Envelope::new(Event::ActorCreated(gone.clone()));
        apply(&store, &Envelope::new(Event::ActorCreated(kept.clone()))).await;
        apply(&store, &created).await;
        apply(&store, &photo_change(&gone)).await;
        let deleted = deletion(&gone);
        apply(&store, &deleted).await;
        assert_eq!(
            every_actor(&store).await.unwrap(),
            [VersionedListing::of(&kept)]
        );
        // Redelivered or late: the creation, a photo change, the deletion itself.
        for late in [created, photo_change(&gone), deleted] {
            let writes = ActorListProjection.plan(&store, &late).await.unwrap();
            assert_eq!(writes, []);
        }
        assert_eq!(
            store
                .query(&Query::prefix(
                    sharded::partition(ALL_ACTORS, &gone.actor_id),
                    "",
                    10
                ))
                .await
                .unwrap()
                .items
                .iter()
                .filter(|item| item.key.sk.ends_with(&gone.actor_id.to_string()))
                .count(),
            0
        );
    }

    #[tokio::test]
    async fn a_deletion_arriving_first_keeps_the_actor_from_being_listed() {
        let (_dir, store) = store();
        let gone = actor();
        apply(&store, &deletion(&gone)).await;
        let created = Envelope::new(Event::ActorCreated(gone.clone()));
        assert_eq!(
            ActorListProjection.plan(&store, &created).await.unwrap(),
            []
        );
        assert!(every_actor(&store).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_creation_planned_before_a_deletion_commits_fails_on_the_lifecycle() {
        let (_dir, store) = store();
        let gone = actor();
        let created = Envelope::new(Event::ActorCreated(gone.clone()));
        let stale = ActorListProjection.plan(&store, &created).await.unwrap();
        apply(&store, &deletion(&gone)).await;
        assert!(matches!(
            store.transact(stale).await,
            Err(StoreError::ConditionFailed { .. })
        ));
    }

    #[tokio::test]
    async fn a_listing_written_at_its_creation_events_time_is_found_by_later_writes() {
        let actor = actor();
        let (_dir, store) = store();
        // As listings were keyed before photos: the creation event's time, a moment after
        // the record's.
        let created_at = id_time(&actor.actor_id).unwrap() + 700;
        let old_sk = format!("{:020}#{}", created_at + 40, actor.actor_id);
        let old_key = Key::new(sharded::partition(ALL_ACTORS, &actor.actor_id), old_sk);
        let old = ActorListingRecord {
            facts: Some(ListedActor::of(&actor)),
            photo: ListingPhoto::default(),
        };
        store
            .transact(vec![Write::put(old.to_item(old_key.clone()).unwrap())])
            .await
            .unwrap();
        let found = listing_key(&store, &actor.actor_id, created_at)
            .await
            .unwrap();
        assert_eq!(found.key, old_key);
        let far = created_at + 2 * KEY_TIME_SLACK;
        let elsewhere = listing_key(&store, &actor.actor_id, far).await.unwrap();
        assert_ne!(elsewhere.key, old_key);
        assert_eq!(elsewhere.item, None);
    }
}
