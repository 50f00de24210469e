//! Dead letters of the in-process bus, kept in the store: they survive restarts, and
//! `moviebook dlq list|replay|purge` reaches them from another process, as it reaches
//! RabbitMQ's dead-letter queues. A replay puts the event back in the outbox and removes the
//! letter in one transaction, so the running server's relay publishes it again (to every
//! consumer of its type: the others have applied it already and change nothing).

use async_trait::async_trait;
use bus::BusError;
use bus::memory::{DeadLetter, DeadLetterShelf};
use domain::events::{Envelope, EventType};
use domain::timestamp::Micros;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use store::{Condition, Key, Query, Record, Store, StoreError, Write};
use uuid::Uuid;

use crate::outbox;

/// How many letters one query reads.
const PAGE: usize = 100;

/// The service whose outbox publishes events of `event_type`: a replayed event goes back
/// there, where that service's relay finds it.
fn publisher(event_type: EventType) -> &'static str {
    match event_type {
        EventType::ActorCreated | EventType::ActorDeleted | EventType::PhotoChanged => "actors",
        EventType::MovieCreated
        | EventType::MovieDeleted
        | EventType::ReviewUpserted
        | EventType::ReviewDeleted
        | EventType::PosterChanged => "movies",
        EventType::UserRenamed | EventType::UserDeleted => "users",
    }
}

fn partition(consumer: &str) -> String {
    format!("deadletter#{consumer}")
}

fn letter_key(consumer: &str, event: &Uuid) -> Key {
    Key::new(partition(consumer), event.to_string())
}

/// A consumer's dead letter as stored: under the consumer, by event id (so in the order the
/// events were made).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StoredLetter {
    envelope: Envelope,
    reason: String,
    attempts: u32,
    dead_lettered_at: Micros,
}

impl Record for StoredLetter {
    const KIND: &'static str = "dead letter";
}

/// The dead letters of every consumer, in the store.
#[derive(Clone)]
pub struct StoredDeadLetters {
    store: Arc<dyn Store>,
}

impl StoredDeadLetters {
    pub fn new(store: Arc<dyn Store>) -> Self {
        StoredDeadLetters { store }
    }

    /// The first `limit` letters of `consumer`, oldest event first.
    pub async fn list(&self, consumer: &str, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let mut letters = Vec::new();
        let mut after = None;
        while letters.len() < limit {
            let query = Query::prefix(partition(consumer), "", PAGE.min(limit - letters.len()))
                .after(after.take());
            let page = self.store.query(&query).await?;
            for item in &page.items {
                letters.push(letter_of(consumer, StoredLetter::from_item(item)?));
            }
            match (page.more, page.items.last()) {
                (true, Some(last)) => after = Some(last.key.sk.clone()),
                _ => break,
            }
        }
        Ok(letters)
    }

    /// Puts the letters of `consumer` (all, or those of the events `only` names) back in the
    /// outbox; answers how many.
    pub async fn replay(&self, consumer: &str, only: Option<&[Uuid]>) -> Result<usize, StoreError> {
        let mut replayed = 0;
        for letter in self.chosen(consumer, only).await? {
            let key = letter_key(consumer, &letter.envelope.id);
            let service = publisher(letter.envelope.event.event_type());
            let back_in_the_outbox = outbox::record(service, &letter.envelope)?;
            let taken = Write::Delete {
                key,
                condition: Condition::Exists,
            };
            match self.store.transact(vec![back_in_the_outbox, taken]).await {
                Ok(()) => replayed += 1,
                // Replayed by someone else meanwhile, or still waiting in the outbox from an
                // earlier replay: either way it is on its way.
                Err(StoreError::ConditionFailed { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(replayed)
    }

    /// Deletes the letters of `consumer` (all, or those of the events `only` names); answers
    /// how many.
    pub async fn purge(&self, consumer: &str, only: Option<&[Uuid]>) -> Result<usize, StoreError> {
        let mut purged = 0;
        for letter in self.chosen(consumer, only).await? {
            let key = letter_key(consumer, &letter.envelope.id);
            let taken = Write::Delete {
                key,
                condition: Condition::Exists,
            };
            match self.store.transact(vec![taken]).await {
                Ok(()) => purged += 1,
                Err(StoreError::ConditionFailed { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(purged)
    }

    /// The letters of `consumer`: all of them, or those of the events `only` names, each
    /// read by its key.
    async fn chosen(
        &self,
        consumer: &str,
        only: Option<&[Uuid]>,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        let Some(ids) = only else {
            return self.list(consumer, usize::MAX).await;
        };
        let mut letters = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(store::MAX_BATCH_GET_KEYS) {
            let keys: Vec<Key> = chunk.iter().map(|id| letter_key(consumer, id)).collect();
            for item in self.store.batch_get(&keys).await?.into_iter().flatten() {
                letters.push(letter_of(consumer, StoredLetter::from_item(&item)?));
            }
        }
        Ok(letters)
    }
}

/// A stored letter as the bus port shows it.
fn letter_of(consumer: &str, stored: StoredLetter) -> DeadLetter {
    DeadLetter {
        consumer: consumer.to_owned(),
        envelope: stored.envelope,
        reason: stored.reason,
        attempts: stored.attempts,
        dead_lettered_at: stored.dead_lettered_at,
    }
}

#[async_trait]
impl DeadLetterShelf for StoredDeadLetters {
    async fn set_aside(&self, letter: DeadLetter) -> Result<(), BusError> {
        let key = letter_key(&letter.consumer, &letter.envelope.id);
        let stored = StoredLetter {
            envelope: letter.envelope,
            reason: letter.reason,
            attempts: letter.attempts,
            dead_lettered_at: letter.dead_lettered_at,
        };
        let item = stored
            .to_item(key)
            .map_err(|error| BusError::Unavailable(error.to_string()))?;
        self.store
            .transact(vec![Write::put(item)])
            .await
            .map_err(|error| BusError::Unavailable(format!("setting an event aside: {error}")))
    }

    /// Counts the consumer's letters without decoding them.
    async fn waiting(&self, consumer: &str) -> Result<u64, BusError> {
        let unavailable =
            |error: StoreError| BusError::Unavailable(format!("counting dead letters: {error}"));
        let mut count = 0;
        let mut after = None;
        loop {
            let query = Query::prefix(partition(consumer), "", PAGE).after(after.take());
            let page = self.store.query(&query).await.map_err(unavailable)?;
            count += page.items.len() as u64;
            match (page.more, page.items.last()) {
                (true, Some(last)) => after = Some(last.key.sk.clone()),
                _ => return Ok(count),
            }
        }
    }
}
