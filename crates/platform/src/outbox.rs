//! The transactional outbox. A service writes its entity and an outbox record of the event
//! in one store transaction; the relay hands records to the bus and deletes them only after
//! the bus has taken them. A crash between the two repeats a publish, never loses one.
//!
//! Each service keeps its records in partitions of its own (`outbox#{service}#{shard}`), so
//! a relay publishes the records of the services its process plays and no other: services
//! sharing one store (the cluster's one DynamoDB table) never publish each other's events.
//! A process has one relay for every service it plays ([`Outboxes`]).
//!
//! The relay learns of its own process's commits from the commits themselves (they hand it
//! their events in memory), so publishing them costs no read of the store, and an idle
//! relay costs nothing. The store is read only for records nobody is publishing: at start
//! (those of this process before a crash), and in a slow sweep, one partition at a time, for
//! those of another process of the same service that died and is not coming back.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
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

/// Each service's outbox records are spread over this many partitions, so that no single
/// partition takes every write of the service.
pub const OUTBOX_SHARDS: u32 = 4;

/// How many records the relay publishes at once.
const BATCH: usize = 100;

/// How many committed events the relay holds in memory; beyond that (the bus has been down
/// for long) they wait in the store only, and the relay sweeps the store for them once the
/// bus takes events again.
const MOST_HELD: usize = 10_000;

/// How often the relay sweeps one partition of the store for records nobody is publishing:
/// a record of a process that died and stays down is published within one round of its
/// service's partitions after its grace (about 50 s for a relay of one service), at 0.2
/// store requests per second per relay, however many services it relays.
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

/// One partition of `service`'s outbox.
fn partition(service: &str, shard: u32) -> String {
    format!("outbox#{service}#{shard}")
}

/// One partition of the outbox every service shared before each had its own. Only versions
/// before that wrote there; a relay reads them once at start, so that what such a version
/// left behind when it stopped is still published after an upgrade.
fn shared_partition(shard: u32) -> String {
    format!("outbox#{shard}")
}

fn record_key(service: &str, envelope: &Envelope) -> Key {
    Key::new(
        partition(service, shard_of(&envelope.id, OUTBOX_SHARDS)),
        envelope.id.to_string(),
    )
}

/// An event waiting in the outbox, keyed by its service's shard and its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct OutboxRecord {
    envelope: Envelope,
}

impl Record for OutboxRecord {
    const KIND: &'static str = "outbox record";
}

/// The write that records an event in `service`'s outbox.
pub fn record(service: &str, envelope: &Envelope) -> Result<Write, StoreError> {
    let record = OutboxRecord {
        envelope: envelope.clone(),
    };
    Ok(Write::Put {
        item: record.to_item(record_key(service, envelope))?,
        condition: Condition::NotExists,
    })
}

/// Events to publish, each with the key of its outbox record (deleted once it is published).
#[derive(Default)]
struct Batch {
    keys: Vec<Key>,
    envelopes: Vec<Envelope>,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.envelopes.is_empty()
    }
}

/// What the outboxes of one process share with its relay: the events they committed that
/// the relay has not published yet, in commit order, and the services whose partitions it
/// sweeps.
#[derive(Default)]
struct Relayed {
    events: Mutex<VecDeque<(Key, Envelope)>>,
    /// How many events were left in the store only (more than [`MOST_HELD`] waited), until
    /// the relay has swept the store for them.
    left_in_store: AtomicUsize,
    wake: Notify,
    services: Mutex<Vec<&'static str>>,
}

/// A mutex guard even after a panic elsewhere: nothing panics while these locks are held,
/// and were one poisoned, what it guards is still whole.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Relayed {
    fn hand_over(&self, service: &str, envelopes: &[Envelope]) {
        if envelopes.is_empty() {
            return;
        }
        {
            let mut events = lock(&self.events);
            for envelope in envelopes {
                if events.len() < MOST_HELD {
                    events.push_back((record_key(service, envelope), envelope.clone()));
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

    fn take(&self, most: usize) -> Batch {
        let mut events = lock(&self.events);
        let most = most.min(events.len());
        let (keys, envelopes) = events.drain(..most).unzip();
        Batch { keys, envelopes }
    }

    /// Puts a batch that could not be published back in front, to be tried again.
    fn put_back(&self, batch: Batch) {
        let mut events = lock(&self.events);
        for waiting in batch.keys.into_iter().zip(batch.envelopes).rev() {
            events.push_front(waiting);
        }
    }

    fn relays(&self, service: &'static str) {
        let mut services = lock(&self.services);
        if !services.contains(&service) {
            services.push(service);
        }
    }

    /// Every partition of the services relayed, in the order the sweeps take them.
    fn partitions(&self) -> Vec<String> {
        let services = lock(&self.services);
        services
            .iter()
            .flat_map(|service| (0..OUTBOX_SHARDS).map(|shard| partition(service, shard)))
            .collect()
    }
}

/// The outboxes of the services one process plays, which one relay publishes.
#[derive(Clone)]
pub struct Outboxes {
    store: Arc<dyn Store>,
    relayed: Arc<Relayed>,
}

impl Outboxes {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Outboxes {
            store,
            relayed: Arc::default(),
        }
    }

    /// The outbox of `service`: its records in partitions of its own, its requests counted
    /// under the service's name (see `store::Label`), and its events published by this
    /// process's relay.
    pub fn of(&self, service: &'static str) -> Outbox {
        self.relayed.relays(service);
        Outbox {
            store: self.store.labelled(service),
            unlabelled: self.store.clone(),
            service,
            relayed: self.relayed.clone(),
        }
    }

    /// The relay that publishes the outboxes of this process's services, counting its store
    /// requests under `relay`.
    pub fn relay(&self, bus: Arc<dyn Bus>, delay: Duration) -> Relay {
        Relay {
            store: self.store.labelled("relay"),
            bus,
            relayed: self.relayed.clone(),
            delay,
        }
    }
}

/// Writes one service's entities together with their events, and hands the events to the
/// relay.
#[derive(Clone)]
pub struct Outbox {
    store: Arc<dyn Store>,
    /// The store as given, which each labelled view wraps (so a view of a view counts its
    /// requests once, under its own caller).
    unlabelled: Arc<dyn Store>,
    /// The service whose records these are.
    service: &'static str,
    relayed: Arc<Relayed>,
}

impl Outbox {
    /// The store this outbox writes to.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The same outbox with its requests counted under `caller` (see `store::Label`); its
    /// records are still its service's, and its commits still reach the same relay.
    pub fn labelled(&self, caller: &'static str) -> Outbox {
        Outbox {
            store: self.unlabelled.labelled(caller),
            unlabelled: self.unlabelled.clone(),
            service: self.service,
            relayed: self.relayed.clone(),
        }
    }

    /// Applies `writes` and records `events`, all or nothing. Condition failures keep the
    /// index of the caller's write they refer to.
    pub async fn commit(
        &self,
        mut writes: Vec<Write>,
        events: &[Envelope],
    ) -> Result<(), StoreError> {
        // When traces are exported, each event keeps the trace of the work that caused it
        // (a request, or the handling of another event), in its record too: it is published
        // in that trace even after a restart.
        let traced = traced(events);
        let events = traced.as_deref().unwrap_or(events);
        for envelope in events {
            writes.push(record(self.service, envelope)?);
        }
        self.store.transact(writes).await?;
        self.relayed.hand_over(self.service, events);
        Ok(())
    }
}

/// `events` with the current trace on those without one; `None` when traces are not exported
/// (or nothing is traced now), so that the events are not copied for nothing.
fn traced(events: &[Envelope]) -> Option<Vec<Envelope>> {
    let trace = trace_context::current()?;
    let traced = events
        .iter()
        .map(|envelope| Envelope {
            trace: envelope.trace.clone().or_else(|| Some(trace.clone())),
            ..envelope.clone()
        })
        .collect();
    Some(traced)
}

/// The relay's span of each traced event, and the events as the bus gets them: carrying the
/// context of that span rather than of the work that committed them, so that the consumers'
/// spans follow the relay's in the trace. `None` when traces are not exported.
fn relay_spans(envelopes: &[Envelope]) -> Option<(Vec<tracing::Span>, Vec<Envelope>)> {
    if !trace_context::enabled() {
        return None;
    }
    let mut spans = Vec::new();
    let mut carried = Vec::with_capacity(envelopes.len());
    for envelope in envelopes {
        let mut envelope = envelope.clone();
        if let Some(committed) = &envelope.trace {
            let span = tracing::info_span!(
                parent: None,
                "relay",
                event = %envelope.id,
                event_type = envelope.event.event_type().as_str(),
            );
            trace_context::set_parent(&span, &trace_context::stored(committed));
            envelope.trace = trace_context::of(&span).or_else(|| envelope.trace.clone());
            spans.push(span);
        }
        carried.push(envelope);
    }
    Some((spans, carried))
}

/// Moves the outbox records of a process's services to the bus.
pub struct Relay {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    relayed: Arc<Relayed>,
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
        // First what an earlier run of these services (or of a version whose services shared
        // one outbox) left, whatever its age.
        let mut swept_at_start = false;
        let mut sweeps = tokio::time::interval(SWEEP_EVERY);
        sweeps.set_missed_tick_behavior(MissedTickBehavior::Delay);
        sweeps.reset();
        let mut turn = 0;
        let mut pauses = RETRY_BACKOFF.build();
        loop {
            let published = if swept_at_start {
                self.publish_committed().await
            } else {
                self.sweep_at_start().await
            };
            match published {
                Ok(()) => {
                    swept_at_start = true;
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
                () = self.relayed.wake.notified() => {}
                _ = sweeps.tick() => {
                    if let Err(error) = self.sweep_next(&mut turn).await {
                        tracing::warn!(%error, "outbox sweep failed; the next one tries again");
                    }
                }
                () = shutdown.cancelled() => return,
            }
        }
    }

    /// Publishes what this process committed, then — when some of it was left in the store
    /// only — sweeps the store for it.
    async fn publish_committed(&self) -> Result<(), String> {
        loop {
            let batch = self.relayed.take(BATCH);
            if batch.is_empty() {
                break;
            }
            if let Err(error) = self.publish(&batch).await {
                self.relayed.put_back(batch);
                return Err(error);
            }
        }
        self.relayed.show_backlog(lock(&self.relayed.events).len());
        let left_in_store = self.relayed.left_in_store.load(Ordering::SeqCst);
        if left_in_store > 0 {
            self.sweep_own().await?;
            // Only what the sweep found: more may have been left meanwhile.
            self.relayed
                .left_in_store
                .fetch_sub(left_in_store, Ordering::SeqCst);
            self.relayed.show_backlog(lock(&self.relayed.events).len());
        }
        Ok(())
    }

    /// Publishes the records past their grace in the partition whose turn it is: one
    /// partition per sweep, every partition of every service relayed in turn.
    async fn sweep_next(&self, turn: &mut usize) -> Result<(), String> {
        let partitions = self.relayed.partitions();
        let Some(partition) = partitions.get(*turn % partitions.len().max(1)) else {
            return Ok(());
        };
        *turn = turn.wrapping_add(1);
        self.sweep(partition, SWEEP_GRACE).await
    }

    /// Publishes every record of the services relayed, and what versions with one shared
    /// outbox left.
    async fn sweep_at_start(&self) -> Result<(), String> {
        for shard in 0..OUTBOX_SHARDS {
            self.sweep(&shared_partition(shard), Duration::ZERO).await?;
        }
        self.sweep_own().await
    }

    /// Publishes every record of the services relayed.
    async fn sweep_own(&self) -> Result<(), String> {
        for partition in self.relayed.partitions() {
            self.sweep(&partition, Duration::ZERO).await?;
        }
        Ok(())
    }

    /// Publishes the records of one partition at least `grace` old.
    async fn sweep(&self, partition: &str, grace: Duration) -> Result<(), String> {
        let grace = i64::try_from(grace.as_micros()).unwrap_or(i64::MAX);
        loop {
            let page = self
                .store
                .query(&Query::prefix(partition, "", BATCH))
                .await
                .map_err(|e| e.to_string())?;
            let now = domain::timestamp::now_micros();
            let mut undecodable = Vec::new();
            let mut old = Batch::default();
            for item in page.items {
                match decode(&item) {
                    Some(envelope) if now.saturating_sub(envelope.occurred_at) >= grace => {
                        old.keys.push(item.key);
                        old.envelopes.push(envelope);
                    }
                    Some(_) => {}
                    None => undecodable.push(Write::delete(item.key)),
                }
            }
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
    async fn publish(&self, batch: &Batch) -> Result<(), String> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        // The relay's spans end when the records are deleted: they show the whole relay.
        let relayed = relay_spans(&batch.envelopes);
        let envelopes = relayed
            .as_ref()
            .map_or(&batch.envelopes[..], |(_, carried)| carried);
        self.bus
            .publish(envelopes)
            .await
            .map_err(|e| e.to_string())?;
        let deletes = batch.keys.iter().cloned().map(Write::delete);
        self.store
            .transact(deletes.collect())
            .await
            .map_err(|e| e.to_string())?;
        metrics::counter!("moviebook_outbox_published_total")
            .increment(batch.envelopes.len() as u64);
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
    fn an_event_is_stored_whole_in_the_envelope_attribute_of_its_services_shard() {
        let envelope = envelope();
        let Ok(Write::Put { item, condition }) = record("users", &envelope) else {
            panic!("an outbox record is a put");
        };
        assert_eq!(condition, Condition::NotExists);
        let shard = u32::from(envelope.id.as_bytes()[15]) % OUTBOX_SHARDS;
        assert_eq!(
            item.key,
            Key::new(format!("outbox#users#{shard}"), envelope.id.to_string())
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
        assert_eq!(
            decode(&Item::new(Key::new("outbox#users#0", "x"), attrs)),
            None
        );
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
