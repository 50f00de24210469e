//! Each projection's own record of whether it has listed an entity or seen it deleted.
//! Events may arrive out of order: a "created" delivered after the "deleted" must not bring
//! the entity back, and a "deleted" must undo only what this projection had written.

use serde_json::{Map, json};
use store::{Condition, Item, Key, Store, StoreError, Write};
use uuid::Uuid;

/// Where an entity stands for one projection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// Neither created nor deleted yet.
    Unseen,
    /// Created and listed.
    Live,
    /// Deleted; stays so.
    Deleted,
}

fn key(projection: &str, id: &Uuid) -> Key {
    Key::new(format!("lifecycle#{id}"), projection)
}

const LIVE: &str = "live";
const DELETED: &str = "deleted";

/// Reads where `id` stands for `projection`.
pub async fn read(store: &dyn Store, projection: &str, id: &Uuid) -> Result<Lifecycle, StoreError> {
    Ok(match store.get(&key(projection, id)).await? {
        None => Lifecycle::Unseen,
        Some(item) if item.str("status") == Some(LIVE) => Lifecycle::Live,
        Some(_) => Lifecycle::Deleted,
    })
}

/// The write that moves `id` from `from` to `to`, conditional on `from` still holding.
pub fn transition(projection: &str, id: &Uuid, from: Lifecycle, to: Lifecycle) -> Write {
    let condition = match from {
        Lifecycle::Unseen => Condition::NotExists,
        Lifecycle::Live => Condition::AttrEquals("status".into(), json!(LIVE)),
        Lifecycle::Deleted => Condition::AttrEquals("status".into(), json!(DELETED)),
    };
    let status = if to == Lifecycle::Live { LIVE } else { DELETED };
    let mut attrs = Map::new();
    attrs.insert("status".into(), json!(status));
    Write::Put {
        item: Item::new(key(projection, id), attrs),
        condition,
    }
}

/// Where an entity goes for a projection when it is created (`deleting` false) or deleted,
/// and whether the projection's entries are to be written (or, on deletion, removed) — not
/// when a deletion arrives before the creation, as there is nothing to remove yet. `None`
/// when the event changes nothing: a repeat, or a creation arriving after the deletion.
pub fn next(state: Lifecycle, deleting: bool) -> Option<(Lifecycle, bool)> {
    match (state, deleting) {
        (Lifecycle::Unseen, false) => Some((Lifecycle::Live, true)),
        (Lifecycle::Live, true) => Some((Lifecycle::Deleted, true)),
        (Lifecycle::Unseen, true) => Some((Lifecycle::Deleted, false)),
        _ => None,
    }
}
