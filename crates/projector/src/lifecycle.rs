//! The plan every projection that lists movies shares, and each such projection's own
//! record of whether it has listed a movie (or seen an actor) or seen it deleted. Events may
//! arrive out of order: a "created" delivered after the "deleted" must not bring the movie
//! back, and a "deleted" must undo only what this projection had written.

use async_trait::async_trait;
use domain::events::{Envelope, Event, EventType, MovieSnapshot};
use platform::audit::Stored;
use platform::consumer::Projection;
use serde::{Deserialize, Serialize};
use store::{Condition, Key, Record, Store, StoreError, Write};
use uuid::Uuid;

/// Where a movie stands for one projection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lifecycle {
    /// Neither created nor deleted yet.
    Unseen,
    /// Created and listed.
    Live,
    /// Deleted; stays so.
    Deleted,
}

/// A projection's record of one movie: `lifecycle#{movie}` / `{projection}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct LifecycleRecord {
    status: Status,
}

impl Record for LifecycleRecord {
    const KIND: &'static str = "projection lifecycle";
}

/// The attribute a transition's condition names: the status it read.
pub(crate) const STATUS: &str = "status";

/// A recorded status; an unseen movie has no record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Live,
    Deleted,
}

pub(crate) fn key(projection: &str, id: &Uuid) -> Key {
    Key::new(format!("lifecycle#{id}"), projection)
}

/// Reads where `id` stands for `projection`.
pub(crate) async fn read(
    store: &dyn Store,
    projection: &str,
    id: &Uuid,
) -> Result<Lifecycle, StoreError> {
    let item = store.get(&key(projection, id)).await?;
    Ok(state(item.as_ref().map(|item| &item.attrs)))
}

/// Where a movie stands, given its lifecycle record's attributes if it has one.
fn state(record: Option<&store::Attrs>) -> Lifecycle {
    match record {
        None => Lifecycle::Unseen,
        // Anything but a live record reads as deleted, as it always has: that state only
        // ever stops writes, so an unreadable record cannot bring a movie back.
        Some(attrs) => match LifecycleRecord::from_attrs(attrs) {
            Ok(LifecycleRecord {
                status: Status::Live,
            }) => Lifecycle::Live,
            _ => Lifecycle::Deleted,
        },
    }
}

/// Where `id` stands for `projection` in a scan of the store (`moviebook verify`).
pub(crate) fn stored_state(stored: &Stored, projection: &str, id: &Uuid) -> Lifecycle {
    state(stored.get(&key(projection, id)))
}

/// The movies `projection` has a lifecycle record of, in a scan of the store.
pub(crate) fn recorded<'a>(
    stored: &'a Stored,
    projection: &'a str,
) -> impl Iterator<Item = Uuid> + 'a {
    stored
        .under("lifecycle#")
        .filter(move |(key, _)| key.sk == projection)
        .filter_map(|(key, _)| key.pk.strip_prefix("lifecycle#")?.parse().ok())
}

/// The check a write that may only happen while `id` is not deleted for `projection`
/// carries, when it read it unseen: a deletion committed meanwhile makes the plan read
/// again.
pub(crate) fn still_unseen(projection: &str, id: &Uuid) -> Write {
    Write::Check {
        key: key(projection, id),
        condition: Condition::NotExists,
    }
}

/// The write that records `id` deleted for `projection` whatever it was: for a deletion
/// applied in several transactions, each of which may be the first to land.
pub(crate) fn deleted(projection: &str, id: &Uuid) -> Result<Write, StoreError> {
    Ok(Write::put(
        LifecycleRecord {
            status: Status::Deleted,
        }
        .to_item(key(projection, id))?,
    ))
}

/// The write that moves `id` from `from` to `to`, conditional on `from` still holding.
pub(crate) fn transition(
    projection: &str,
    id: &Uuid,
    from: Lifecycle,
    to: Lifecycle,
) -> Result<Write, StoreError> {
    let status = |state| match state {
        Lifecycle::Live => Status::Live,
        Lifecycle::Unseen | Lifecycle::Deleted => Status::Deleted,
    };
    let condition = match from {
        Lifecycle::Unseen => Condition::NotExists,
        Lifecycle::Live | Lifecycle::Deleted => store::attr_equals(STATUS, &status(from))?,
    };
    Ok(Write::Put {
        item: LifecycleRecord { status: status(to) }.to_item(key(projection, id))?,
        condition,
    })
}

/// Where a movie goes for a projection when it is created (`deleting` false) or deleted,
/// and whether the projection's entries are to be written (or, on deletion, removed) — not
/// when a deletion arrives before the creation, as there is nothing to remove yet. `None`
/// when the event changes nothing: a repeat, or a creation arriving after the deletion.
fn next(state: Lifecycle, deleting: bool) -> Option<(Lifecycle, bool)> {
    match (state, deleting) {
        (Lifecycle::Unseen, false) => Some((Lifecycle::Live, true)),
        (Lifecycle::Live, true) => Some((Lifecycle::Deleted, true)),
        (Lifecycle::Unseen, true) => Some((Lifecycle::Deleted, false)),
        _ => None,
    }
}

/// A projection that lists each movie while it lives: it writes its entries when the movie
/// is created and removes them when it is deleted, each once, in whatever order the events
/// arrive. [`MovieListing`] runs it.
#[async_trait]
pub(crate) trait ListsMovies: Send + Sync + 'static {
    /// The projection's name: its consumer, and the sort key of its lifecycle records.
    fn name(&self) -> &'static str;

    /// Where its entries are: the prefixes of their partition keys. Every entry holds the
    /// movie's id as `movie_id`.
    fn listed_under(&self) -> &'static [&'static str];

    /// The writes that list `movie` or, with `remove`, take its entries away again.
    fn entries(&self, movie: &MovieSnapshot, remove: bool) -> Result<Vec<Write>, StoreError>;

    /// The writes that list a created `movie`: its [`ListsMovies::entries`] unless the
    /// projection must read the store to know which to write.
    async fn listing(
        &self,
        _store: &dyn Store,
        movie: &MovieSnapshot,
    ) -> Result<Vec<Write>, StoreError> {
        self.entries(movie, false)
    }

    /// Other events it follows, whose writes are each conditional on a version that the
    /// event moves past (an event not newer than what it holds changes nothing), so they
    /// take no processed-event marker and no lifecycle.
    fn versioned_events(&self) -> &'static [EventType] {
        &[]
    }

    /// Other events it follows that are applied once each, with a processed-event marker.
    fn marked_events(&self) -> &'static [EventType] {
        &[]
    }

    /// The writes of one of [`ListsMovies::versioned_events`] or
    /// [`ListsMovies::marked_events`].
    async fn plan_other(
        &self,
        _store: &dyn Store,
        _envelope: &Envelope,
    ) -> Result<Vec<Write>, StoreError> {
        Ok(Vec::new())
    }
}

/// The projection that runs a [`ListsMovies`] through the movie's lifecycle.
pub(crate) struct MovieListing<L>(pub L);

#[async_trait]
impl<L: ListsMovies> Projection for MovieListing<L> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn event_types(&self) -> Vec<EventType> {
        let mut types = vec![EventType::MovieCreated, EventType::MovieDeleted];
        types.extend_from_slice(self.0.versioned_events());
        types.extend_from_slice(self.0.marked_events());
        types
    }

    fn marks(&self, envelope: &Envelope) -> bool {
        !self
            .0
            .versioned_events()
            .contains(&envelope.event.event_type())
    }

    async fn plan(&self, store: &dyn Store, envelope: &Envelope) -> Result<Vec<Write>, StoreError> {
        let (movie, remove) = match &envelope.event {
            Event::MovieCreated(movie) => (movie, false),
            Event::MovieDeleted(movie) => (movie, true),
            other
                if self.0.versioned_events().contains(&other.event_type())
                    || self.0.marked_events().contains(&other.event_type()) =>
            {
                return self.0.plan_other(store, envelope).await;
            }
            _ => return Ok(Vec::new()),
        };
        let name = self.0.name();
        let state = read(store, name, &movie.movie_id).await?;
        let Some((to, touch_entries)) = next(state, remove) else {
            return Ok(Vec::new());
        };
        let mut writes = vec![transition(name, &movie.movie_id, state, to)?];
        if touch_entries && remove {
            writes.extend(self.0.entries(movie, true)?);
        } else if touch_entries {
            writes.extend(self.0.listing(store, movie).await?);
        }
        Ok(writes)
    }
}

/// The write that puts `record` at `key`, or with `remove` deletes the item there: a
/// listing's entries are written and removed alike.
pub(crate) fn entry<R: Record>(key: Key, record: &R, remove: bool) -> Result<Write, StoreError> {
    Ok(if remove {
        Write::delete(key)
    } else {
        Write::put(record.to_item(key)?)
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use store::Item;

    use super::*;

    #[test]
    fn a_lifecycle_record_stores_its_status_by_name() {
        let attrs = LifecycleRecord {
            status: Status::Live,
        }
        .to_attrs()
        .unwrap();
        assert_eq!(attrs.get(STATUS), Some(&json!("live")));
        assert_eq!(attrs.len(), 1);
        let deleted = LifecycleRecord {
            status: Status::Deleted,
        };
        assert_eq!(
            deleted.to_attrs().unwrap().get(STATUS),
            Some(&json!("deleted"))
        );
    }

    #[tokio::test]
    async fn a_record_that_is_not_live_reads_as_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_sqlite::SqliteStore::open(&dir.path().join("store.db")).unwrap();
        let id = Uuid::now_v7();
        assert_eq!(read(&store, "p", &id).await.unwrap(), Lifecycle::Unseen);
        let live = transition("p", &id, Lifecycle::Unseen, Lifecycle::Live).unwrap();
        store.transact(vec![live]).await.unwrap();
        assert_eq!(read(&store, "p", &id).await.unwrap(), Lifecycle::Live);
        let mut attrs = store::Attrs::new();
        attrs.insert(STATUS.into(), json!("unknown"));
        store
            .transact(vec![Write::put(Item::new(key("p", &id), attrs))])
            .await
            .unwrap();
        assert_eq!(read(&store, "p", &id).await.unwrap(), Lifecycle::Deleted);
    }

    #[test]
    fn a_transition_is_conditional_on_the_status_it_read() {
        let id = Uuid::now_v7();
        let Write::Put { item, condition } =
            transition("p", &id, Lifecycle::Live, Lifecycle::Deleted).unwrap()
        else {
            panic!("a transition puts the record");
        };
        assert_eq!(
            condition,
            Condition::AttrEquals(STATUS.into(), json!("live"))
        );
        assert_eq!(item.key, key("p", &id));
        assert_eq!(
            LifecycleRecord::from_item(&item).unwrap().status,
            Status::Deleted
        );
        let Write::Put { condition, .. } =
            transition("p", &id, Lifecycle::Unseen, Lifecycle::Live).unwrap()
        else {
            panic!("a transition puts the record");
        };
        assert_eq!(condition, Condition::NotExists);
    }

    #[test]
    fn creation_and_deletion_move_each_state_once() {
        use Lifecycle::*;
        assert_eq!(next(Unseen, false), Some((Live, true)));
        assert_eq!(next(Live, true), Some((Deleted, true)));
        assert_eq!(next(Unseen, true), Some((Deleted, false)));
        assert_eq!(next(Live, false), None);
        assert_eq!(next(Deleted, false), None);
        assert_eq!(next(Deleted, true), None);
    }

    #[test]
    fn an_entry_is_put_or_removed_at_its_key() {
        let record = LifecycleRecord {
            status: Status::Live,
        };
        let at = Key::new("a", "b");
        assert_eq!(
            entry(at.clone(), &record, false).unwrap(),
            Write::put(Item::new(at.clone(), record.to_attrs().unwrap()))
        );
        assert_eq!(entry(at.clone(), &record, true).unwrap(), Write::delete(at));
    }
}
