//! The transactional outbox. A service writes its entity and an outbox record of the event
//! in one store transaction; the relay hands records to the bus and deletes them only after
//! the bus has taken them. A crash between the two repeats a publish, never loses one.

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use bus::Bus;
use domain::events::Envelope;
use domain::ids::shard_of;
use serde::{Deserialize, Serialize};
use store::{Condition, Item, Key, Query, Record, Store, StoreError, Write};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Outbox records are spread over this many partitions, so that no single partition takes
/// every write of the system.
pub const OUTBOX_SHARDS: u32 = 4;

/// How many records the relay publishes at once.
const BATCH: usize = 100;

/// The longest the relay sleeps when nobody wakes it: bounds the delay for records written
/// by another process, or left over from before a crash.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// The pauses of the relay after a failed publish (the bus or the store is down), growing from
/// 25–50 ms to 2.5–5 s (backon's jitter adds up to one more step) and never running out: a
/// short outage is bridged at once, a long one costs a try every few seconds. Jittered,
/// because the relay of every replica retries against the same broker and store when they
/// come back.
const RETRY_BACKOFF: ExponentialBuilder = ExponentialBuilder::new()
    .with_jitter()
    .with_min_delay(Duration::from_millis(25))
    .with_max_delay(Duration::from_millis(2500))
    .without_max_times();

fn partition(shard: u32) -> String {
    format!("outbox#{shard}")
}

/// An event waiting in the outbox, keyed by its shard and its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct OutboxRecord {
    envelope: Envelope,
}

impl Record for OutboxRecord {
    const KIND: &'static str = "outbox record";
}

/// The write that records an event in the outbox.
pub fn record(envelope: &Envelope) -> Result<Write, StoreError> {
    let key = Key::new(
        partition(shard_of(&envelope.id, OUTBOX_SHARDS)),
        envelope.id.to_string(),
    );
    let record = OutboxRecord {
        envelope: envelope.clone(),
    };
    Ok(Write::Put {
        item: record.to_item(key)?,
        condition: Condition::NotExists,
    })
}

/// Writes entities together with their events, and wakes the relay.
#[derive(Clone)]
pub struct Outbox {
    store: Arc<dyn Store>,
    wake: Arc<Notify>,
}

impl Outbox {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Outbox {
            store,
            wake: Arc::new(Notify::new()),
        }
    }

    /// The store this outbox writes to.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Applies `writes` and records `events`, all or nothing. Condition failures keep the
    /// index of the caller's write they refer to.
    pub async fn commit(
        &self,
        mut writes: Vec<Write>,
        events: &[Envelope],
    ) -> Result<(), StoreError> {
        for envelope in events {
            writes.push(record(envelope)?);
        }
        self.store.transact(writes).await?;
        self.wake.notify_one();
        Ok(())
    }

    /// The relay that publishes this outbox's records.
    pub fn relay(&self, bus: Arc<dyn Bus>, delay: Duration) -> Relay {
        Relay {
            store: self.store.clone(),
            bus,
            wake: self.wake.clone(),
            delay,
        }
    }
}

/// Moves outbox records to the bus.
pub struct Relay {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    wake: Arc<Notify>,
    /// A pause before each publish; zero in normal operation (tests use it to crash in the gap).
    delay: Duration,
}

impl Relay {
    /// Publishes until `shutdown` is cancelled; then publishes what is left once more, so a
    /// clean stop leaves nothing waiting.
    pub async fn run(self, shutdown: CancellationToken) {
        self.publish_until(&shutdown).await;
        if let Err(error) = self.drain().await {
            tracing::warn!(%error, "outbox left records at shutdown; they are published at the next start");
        }
    }

    async fn publish_until(&self, shutdown: &CancellationToken) {
        let mut pauses = RETRY_BACKOFF.build();
        loop {
            match self.drain().await {
                Ok(()) => pauses = RETRY_BACKOFF.build(),
                Err(error) => {
                    // The pauses never run out; were they to, the relay would wait as if idle.
                    let pause = pauses.next().unwrap_or(POLL_INTERVAL);
                    tracing::warn!(%error, ?pause, "outbox relay could not publish; will retry");
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        () = shutdown.cancelled() => return,
                    }
                    continue;
                }
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(POLL_INTERVAL) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }

    /// Publishes every record present now.
    async fn drain(&self) -> Result<(), String> {
        let mut backlog = 0;
        for shard in 0..OUTBOX_SHARDS {
            loop {
                let page = self
                    .store
                    .query(&Query::prefix(partition(shard), "", BATCH))
                    .await
                    .map_err(|e| e.to_string())?;
                if page.items.is_empty() {
                    break;
                }
                backlog += page.items.len();
                metrics::gauge!("moviebook_outbox_backlog").set(backlog as f64);
                if !self.delay.is_zero() {
                    tokio::time::sleep(self.delay).await;
                }
                let envelopes: Vec<Envelope> = page.items.iter().filter_map(decode).collect();
                self.bus
                    .publish(&envelopes)
                    .await
                    .map_err(|e| e.to_string())?;
                let deletes = page
                    .items
                    .into_iter()
                    .map(|item| Write::delete(item.key))
                    .collect();
                self.store
                    .transact(deletes)
                    .await
                    .map_err(|e| e.to_string())?;
                metrics::counter!("moviebook_outbox_published_total")
                    .increment(envelopes.len() as u64);
                if !page.more {
                    break;
                }
            }
        }
        metrics::gauge!("moviebook_outbox_backlog").set(0.0);
        Ok(())
    }
}

fn decode(item: &Item) -> Option<Envelope> {
    match OutboxRecord::from_item(item) {
        Ok(record) => Some(record.envelope),
        // Only this code writes records, so an undecodable one is from an incompatible
        // version; it is logged and dropped rather than blocking every later event.
        Err(error) => {
            tracing::error!(key = ?item.key, %error, "dropping an outbox record that does not decode");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use domain::events::{Event, UserDeleted};
    use serde_json::{Value, json};

    use super::*;

    fn envelope() -> Envelope {
        Envelope::new(Event::UserDeleted(UserDeleted {
            user_id: domain::ids::new_id(),
        }))
    }

    #[test]
    fn an_event_is_stored_whole_in_the_envelope_attribute_of_its_shard() {
        let envelope = envelope();
        let Ok(Write::Put { item, condition }) = record(&envelope) else {
            panic!("an outbox record is a put");
        };
        assert_eq!(condition, Condition::NotExists);
        let shard = u32::from(envelope.id.as_bytes()[15]) % OUTBOX_SHARDS;
        assert_eq!(
            item.key,
            Key::new(format!("outbox#{shard}"), envelope.id.to_string())
        );
        assert_eq!(
            Value::Object(item.attrs.clone()),
            json!({ "envelope": envelope })
        );
        assert_eq!(decode(&item), Some(envelope));
    }

    #[test]
    fn a_record_that_does_not_decode_is_dropped() {
        let Value::Object(attrs) = json!({ "envelope": { "id": "not an event" } }) else {
            panic!("an object");
        };
        assert_eq!(decode(&Item::new(Key::new("outbox#0", "x"), attrs)), None);
    }

    #[test]
    fn the_relay_backs_off_up_to_five_seconds_and_never_gives_up() {
        let pauses: Vec<Duration> = RETRY_BACKOFF.build().take(20).collect();
        assert_eq!(pauses.len(), 20);
        assert!(pauses[0] >= Duration::from_millis(25) && pauses[0] < Duration::from_millis(50));
        assert!(pauses.iter().all(|pause| *pause <= Duration::from_secs(5)));
        assert!(pauses[19] >= Duration::from_millis(2500));
    }
}
