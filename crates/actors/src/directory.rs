//! The actors service's answer to other services in the same process: which actors exist
//! and what they are called, read from its own actor records (across processes the same
//! answer goes over gRPC, crate `rpc`).

use std::sync::Arc;

use async_trait::async_trait;
use domain::ActorSummaryRef;
use platform::directory::{ActorDirectory, DirectoryError};
use store::{Key, Record, Store};
use uuid::Uuid;

use crate::record::ActorRecord;

/// Answers "which of these actors exist, and what are their names" from the actors' own items.
pub struct LocalActorDirectory {
    store: Arc<dyn Store>,
}

impl LocalActorDirectory {
    /// A directory reading the actors' items in `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        LocalActorDirectory { store }
    }
}

#[async_trait]
impl ActorDirectory for LocalActorDirectory {
    async fn actors(&self, ids: &[Uuid]) -> Result<Vec<Option<ActorSummaryRef>>, DirectoryError> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(store::MAX_BATCH_GET_KEYS) {
            let keys: Vec<Key> = chunk.iter().map(ActorRecord::key).collect();
            for item in self.store.batch_get(&keys).await? {
                let summary = match item {
                    Some(item) => {
                        let actor = ActorRecord::from_item(&item)?;
                        Some(ActorSummaryRef {
                            id: actor.id,
                            name: actor.name,
                        })
                    }
                    None => None,
                };
                found.push(summary);
            }
        }
        Ok(found)
    }
}
