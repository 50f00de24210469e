//! The transactional outbox. A service writes its entity and an outbox record of the event
//! in one store transaction; the relay hands records to the bus and deletes them only after
//! the bus has taken them. A crash between the two repeats a publish, never loses one.
//!
//! The relay learns of its own process's commits from the commits themselves (they hand it
//! their events in memory), so publishing them costs no read of the store, and an idle
//! relay costs nothing. The store is read only for records nobody is publishing: at start
//! (those of this process before a crash), and in a slow sweep, one shard at a time, for
//! those of another process that died and is not coming back.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use bus::Bus;
use domain::events::Envelope;
use domain::ids::shard_of;
use serde::{Deserialize, Serialize};
use store::{Condition, Item, Key, Label, Query, Record, Store, StoreError, Write};
use tokio::sync::Notify;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// Outbox records are spread over this many partitions, so that no single partition takes
/// every write of the system.
pub const OUTBOX_SHARDS: u32 = 4;

/// How many records the relay publishes at once.
const BATCH: usize = 100;

/// How many committed events the relay holds in memory; beyond that (the bus has been down
/// for long) they wait in the store only, and the relay sweeps the store for them once the
/// bus takes events again.
const MOST_HELD: usize = 10_000;

/// How often the relay sweeps one shard of the store for records nobody is publishing: a
/// record of a process that died and stays down is published within `OUTBOX_SHARDS` sweeps
/// after its grace (about 50 s), at 0.2 store requests per second per relay.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// How old a record must be before a sweep takes it: younger ones are most likely being
/// published by the process that committed them (a second publish would be harmless, since
/// consumers are idempotent, but is not free).
const SWEEP_GRACE: Duration = Duration::from_secs(30);

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

fn record_key(envelope: &Envelope) -> Key {
    Key::new(
        partition(shard_of(&envelope.id, OUTBOX_SHARDS)),
        envelope.id.to_string(),
    )
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
    let record = OutboxRecord {
        envelope: envelope.clone(),
    };
    Ok(Write::Put {
        item: record.to_item(record_key(envelope))?,
        condition: Condition::NotExists,
    })
}

/// The events this process committed that its relay has not published yet, in commit order.
#[derive(Default)]
struct Committed {
    events: Mutex<VecDeque<Envelope>>,
    /// How many events were left in the store only (more than [`MOST_HELD`] waited), until
    /// the relay has swept the store for them.
    left_in_store: AtomicUsize,
    wake: Notify,
}

impl Committed {
    fn events(&self) -> std::sync::MutexGuard<'_, VecDeque<Envelope>> {
        // Nothing panics while the lock is held; were it poisoned, the queue is still whole.
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn hand_over(&self, envelopes: &[Envelope]) {
        if envelopes.is_empty() {
            return;
        }
        {
            let mut events = self.events();
            for envelope in envelopes {
                if events.len() < MOST_HELD {
                    events.push_back(envelope.clone());
                } else {
                    self.left_in_store.fetch_add(1, Ordering::SeqCst);
                }
            }
            self.show_backlog(events.len());
        }
        self.wake.notify_one();
    }

    /// Shows in `/metrics` how many committed events wait: `held` in memory, and those left
    /// in the store only — so the backlog keeps growing while the bus is down, past what
    /// memory holds.
    fn show_backlog(&self, held: usize) {
        let waiting = held + self.left_in_store.load(Ordering::SeqCst);
        metrics::gauge!("moviebook_outbox_backlog").set(waiting as f64);
    }

    fn take(&self, most: usize) -> Vec<Envelope> {
        let mut events = self.events();
        let most = most.min(events.len());
        events.drain(..most).collect()
    }

    /// Puts a batch that could not be published back in front, to be tried again.
    fn put_back(&self, batch: Vec<Envelope>) {
        let mut events = self.events();
        for envelope in batch.into_iter().rev() {
            events.push_front(envelope);
        }
    }
}

/// Writes entities together with their events, and hands the events to the relay.
#[derive(Clone)]
pub struct Outbox {
    store: Arc<dyn Store>,
    /// The store as given, which each labelled view wraps (so a view of a view counts its
    /// requests once, under its own caller).
    unlabelled: Arc<dyn Store>,
    committed: Arc<Committed>,
}

impl Outbox {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Outbox {
            unlabelled: store.clone(),
            store,
            committed: Arc::default(),
        }
    }

    /// The store this outbox writes to.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The same outbox with its requests counted under `caller` (see `store::Label`); its
    /// commits still reach this outbox's relay.
    pub fn labelled(&self, caller: &'static str) -> Outbox {
        Outbox {
            store: self.unlabelled.labelled(caller),
            unlabelled: self.unlabelled.clone(),
            committed: self.committed.clone(),
        }
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
        self.committed.hand_over(events);
        Ok(())
    }

    /// The relay that publishes this outbox's records.
    pub fn relay(&self, bus: Arc<dyn Bus>, delay: Duration) -> Relay {
        Relay {
            store: self.store.clone(),
            bus,
            committed: self.committed.clone(),
            delay,
        }
    }
}

/// Moves outbox records to the bus.
pub struct Relay {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    committed: Arc<Committed>,
    /// A pause before each publish; zero in normal operation (tests use it to crash in the gap).
    delay: Duration,
}

impl Relay {
    /// Publishes until `shutdown` is cancelled; then publishes what is left once more, so a
    /// clean stop leaves nothing waiting.
    pub async fn run(self, shutdown: CancellationToken) {
        self.publish_until(&shutdown).await;
        if let Err(error) = self.publish_committed().await {
            tracing::warn!(%error, "outbox left records at shutdown; they are published at the next start");
        }
    }

    async fn publish_until(&self, shutdown: &CancellationToken) {
        // First what an earlier run of this process (or any other) left, whatever its age.
        let mut swept_everything = false;
        let mut sweeps = tokio::time::interval(SWEEP_EVERY);
        sweeps.set_missed_tick_behavior(MissedTickBehavior::Delay);
        sweeps.reset();
        let mut next_shard = 0;
        let mut pauses = RETRY_BACKOFF.build();
        loop {
            let published = if swept_everything {
                self.publish_committed().await
            } else {
                self.sweep_everything().await
            };
            match published {
                Ok(()) => {
                    swept_everything = true;
                    pauses = RETRY_BACKOFF.build();
                }
                Err(error) => {
                    // The pauses never run out; were they to, the relay would wait a sweep.
                    let pause = pauses.next().unwrap_or(SWEEP_EVERY);
                    tracing::warn!(%error, ?pause, "outbox relay could not publish; will retry");
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        () = shutdown.cancelled() => return,
                    }
                    continue;
                }
            }
            tokio::select! {
                () = self.committed.wake.notified() => {}
                _ = sweeps.tick() => {
                    if let Err(error) = self.sweep(next_shard, SWEEP_GRACE).await {
                        tracing::warn!(%error, "outbox sweep failed; the next one tries again");
                    }
                    next_shard = (next_shard + 1) % OUTBOX_SHARDS;
                }
                () = shutdown.cancelled() => return,
            }
        }
    }

    /// Publishes what this process committed, then — when some of it was left in the store
    /// only — sweeps the store for it.
    async fn publish_committed(&self) -> Result<(), String> {
        loop {
            let batch = self.committed.take(BATCH);
            if batch.is_empty() {
                break;
            }
            if let Err(error) = self.publish(&batch).await {
                self.committed.put_back(batch);
                return Err(error);
            }
        }
        self.committed.show_backlog(self.committed.events().len());
        let left_in_store = self.committed.left_in_store.load(Ordering::SeqCst);
        if left_in_store > 0 {
            self.sweep_everything().await?;
            // Only what the sweep found: more may have been left meanwhile.
            self.committed
                .left_in_store
                .fetch_sub(left_in_store, Ordering::SeqCst);
            self.committed.show_backlog(self.committed.events().len());
        }
        Ok(())
    }

    async fn sweep_everything(&self) -> Result<(), String> {
        for shard in 0..OUTBOX_SHARDS {
            self.sweep(shard, Duration::ZERO).await?;
        }
        Ok(())
    }

    /// Publishes the records of one shard at least `grace` old.
    async fn sweep(&self, shard: u32, grace: Duration) -> Result<(), String> {
        let grace = i64::try_from(grace.as_micros()).unwrap_or(i64::MAX);
        loop {
            let page = self
                .store
                .query(&Query::prefix(partition(shard), "", BATCH))
                .await
                .map_err(|e| e.to_string())?;
            let now = domain::timestamp::now_micros();
            let mut undecodable = Vec::new();
            let old: Vec<Envelope> = page
                .items
                .iter()
                .filter_map(|item| {
                    let envelope = decode(item);
                    if envelope.is_none() {
                        undecodable.push(Write::delete(item.key.clone()));
                    }
                    envelope
                })
                .filter(|envelope| now.saturating_sub(envelope.occurred_at) >= grace)
                .collect();
            if !undecodable.is_empty() {
                self.store
                    .transact(undecodable)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            if old.is_empty() {
                return Ok(());
            }
            self.publish(&old).await?;
            if !page.more {
                return Ok(());
            }
        }
    }

    /// Hands a batch to the bus, then deletes its records.
    async fn publish(&self, envelopes: &[Envelope]) -> Result<(), String> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        self.bus
            .publish(envelopes)
            .await
            .map_err(|e| e.to_string())?;
        let deletes = envelopes.iter().map(|e| Write::delete(record_key(e)));
        self.store
            .transact(deletes.collect())
            .await
            .map_err(|e| e.to_string())?;
        metrics::counter!("moviebook_outbox_published_total").increment(envelopes.len() as u64);
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
