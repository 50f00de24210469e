//! The in-process bus of the embedded deployment. Publishing calls each subscribed
//! consumer's handler directly and returns once every one has handled the event, so the
//! outbox keeps an event until it is applied: a crash before that repeats it after restart,
//! and idempotent consumers make the repeat harmless.
//!
//! What a consumer rejects, or keeps failing on through [`ROUNDS`] publishes of the event,
//! is set aside on the bus's [`DeadLetterShelf`] (the store, on the embedded deployment) and
//! the publish goes on: one bad event never holds up the others for good. Until then a
//! failure fails the publish, so the outbox keeps the event and tries again after a pause; if
//! setting aside fails too (the store is down), so does the publish, and nothing is lost.
//!
//! A partitioned consumer (`Subscription::partitioned`) holds a lock per partition while it
//! handles an event, so two events of one partition key never run at once — within a batch
//! or across publishes that overlap — and those of one batch run in publication order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use backon::{BackoffBuilder, ExponentialBuilder};
use domain::events::{Envelope, EventType};
use domain::ids::shard_of;
use domain::timestamp::{Micros, now_micros};
use futures::StreamExt;
use tracing::Instrument;
use uuid::Uuid;

use crate::consumer_metrics::ConsumerMetrics;
use crate::{Bus, BusError, Outcome, Subscription, Watcher};

/// How often a handler that asks for a retry is tried before publishing gives up for now (the
/// outbox keeps the event and publishes it again later).
const ATTEMPTS: u32 = 5;
/// The pauses between those tries. Publishing waits through them, holding up the relay, so
/// they stay short: 10–20 ms growing to 80–160 ms (backon's jitter adds up to one more step),
/// at most 0.3 s in all. Jittered, because a batch's deliveries run at once and those racing
/// on one hot item would otherwise retry in lockstep.
const RETRY_BACKOFF: ExponentialBuilder = ExponentialBuilder::new()
    .with_jitter()
    .with_min_delay(Duration::from_millis(10))
    .with_max_delay(Duration::from_millis(80))
    .with_max_times(ATTEMPTS as usize - 1);
/// How many publishes of an event a consumer may fail (each after [`ATTEMPTS`] tries) before
/// the event is set aside: the outbox's pauses between publishes make this several seconds,
/// so a dependency that blinks does not send events to the shelf.
pub const ROUNDS: u32 = 3;
/// How many deliveries run at once.
const IN_FLIGHT: usize = 32;
/// The partitions of a partitioned consumer: how many of its events (of different keys)
/// may run at once.
const PARTITIONS: u32 = 8;

/// An event a consumer rejected or kept failing on, set aside for an operator.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub consumer: String,
    pub envelope: Envelope,
    /// The handler's reason, or "gave up after N attempts: " and the last one.
    pub reason: String,
    /// How many times the consumer was handed the event.
    pub attempts: u32,
    pub dead_lettered_at: Micros,
}

/// Where the in-process bus sets events aside. (RabbitMQ keeps its own dead-letter queues.)
#[async_trait]
pub trait DeadLetterShelf: Send + Sync + 'static {
    /// Keeps `letter`; an error means it was not kept, and the event must stay published-not.
    async fn set_aside(&self, letter: DeadLetter) -> Result<(), BusError>;

    /// How many letters of `consumer` are kept (what `/metrics` shows from a subscription on).
    async fn waiting(&self, consumer: &str) -> Result<u64, BusError>;
}

/// A shelf in memory, lost with the process: for tests of the bus and its consumers.
#[derive(Default)]
pub struct MemoryShelf {
    letters: Mutex<Vec<DeadLetter>>,
}

impl MemoryShelf {
    /// The events set aside so far.
    pub fn letters(&self) -> Vec<DeadLetter> {
        self.letters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl DeadLetterShelf for MemoryShelf {
    async fn set_aside(&self, letter: DeadLetter) -> Result<(), BusError> {
        self.letters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(letter);
        Ok(())
    }

    async fn waiting(&self, consumer: &str) -> Result<u64, BusError> {
        let letters = self.letters.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(letters.iter().filter(|l| l.consumer == consumer).count() as u64)
    }
}

/// A watcher and the event types it watches.
#[derive(Clone)]
struct Watch {
    event_types: Vec<EventType>,
    watcher: Arc<dyn Watcher>,
}

/// A subscription, its metrics and, when it is partitioned, one lock per partition.
#[derive(Clone)]
struct Subscribed {
    subscription: Subscription,
    metrics: ConsumerMetrics,
    partitions: Option<Arc<[tokio::sync::Mutex<()>]>>,
}

impl Subscribed {
    /// Waits until no other event of the envelope's partition is being handled, for a
    /// partitioned consumer. tokio's lock is fair, so waiters go in the order they asked.
    async fn turn(&self, envelope: &Envelope) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        let partitions = self.partitions.as_ref()?;
        let partition = shard_of(&envelope.event.partition_key(), PARTITIONS);
        let lock = partitions.get(usize::try_from(partition).ok()?)?;
        Some(lock.lock().await)
    }
}

/// The in-process bus.
#[derive(Clone)]
pub struct MemoryBus {
    subscriptions: Arc<RwLock<Vec<Subscribed>>>,
    watchers: Arc<RwLock<Vec<Watch>>>,
    shelf: Arc<dyn DeadLetterShelf>,
    /// How many publishes each consumer failed each event in, until it succeeds or is set
    /// aside.
    failed_rounds: Arc<Mutex<HashMap<(String, Uuid), u32>>>,
}

impl MemoryBus {
    /// A bus that sets events aside on `shelf`.
    pub fn new(shelf: Arc<dyn DeadLetterShelf>) -> Self {
        MemoryBus {
            subscriptions: Arc::default(),
            watchers: Arc::default(),
            shelf,
            failed_rounds: Arc::default(),
        }
    }

    /// Counts one more failed publish of `envelope` for `consumer`; true when it was the
    /// last one allowed (and the count is forgotten).
    fn last_round(&self, consumer: &str, envelope: &Envelope) -> bool {
        let mut rounds = self
            .failed_rounds
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let key = (consumer.to_owned(), envelope.id);
        let failed = rounds.entry(key.clone()).or_insert(0);
        *failed += 1;
        if *failed >= ROUNDS {
            rounds.remove(&key);
            return true;
        }
        false
    }

    fn forget_rounds(&self, consumer: &str, envelope: &Envelope) {
        let mut rounds = self
            .failed_rounds
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !rounds.is_empty() {
            rounds.remove(&(consumer.to_owned(), envelope.id));
        }
    }

    async fn set_aside(
        &self,
        subscribed: &Subscribed,
        envelope: &Envelope,
        reason: String,
        attempts: u32,
    ) -> Result<(), BusError> {
        let letter = DeadLetter {
            consumer: subscribed.subscription.consumer.clone(),
            envelope: envelope.clone(),
            reason,
            attempts,
            dead_lettered_at: now_micros(),
        };
        self.shelf.set_aside(letter).await?;
        subscribed.metrics.dead_lettered();
        Ok(())
    }

    async fn deliver(&self, subscribed: &Subscribed, envelope: &Envelope) -> Result<(), BusError> {
        let span = crate::consume_span(
            &subscribed.subscription.consumer,
            std::slice::from_ref(envelope),
        );
        self.deliver_in_turn(subscribed, envelope)
            .instrument(span)
            .await
    }

    async fn deliver_in_turn(
        &self,
        subscribed: &Subscribed,
        envelope: &Envelope,
    ) -> Result<(), BusError> {
        let _turn = subscribed.turn(envelope).await;
        let subscription = &subscribed.subscription;
        let mut pauses = RETRY_BACKOFF.build();
        let mut attempt = 1;
        loop {
            match subscription.handler.handle(envelope).await {
                Outcome::Done => {
                    subscribed.metrics.handled(envelope);
                    self.forget_rounds(&subscription.consumer, envelope);
                    return Ok(());
                }
                Outcome::Reject(reason) => {
                    subscribed.metrics.failed();
                    tracing::error!(consumer = %subscription.consumer, event = %envelope.id, %reason, "event rejected: set aside");
                    self.forget_rounds(&subscription.consumer, envelope);
                    return self.set_aside(subscribed, envelope, reason, attempt).await;
                }
                Outcome::Retry(reason) => {
                    subscribed.metrics.retried();
                    tracing::warn!(consumer = %subscription.consumer, event = %envelope.id, attempt, %reason, "event will be retried");
                    if let Some(pause) = pauses.next() {
                        tokio::time::sleep(pause).await;
                        attempt += 1;
                        continue;
                    }
                    if self.last_round(&subscription.consumer, envelope) {
                        let attempts = attempt * ROUNDS;
                        subscribed.metrics.failed();
                        tracing::error!(consumer = %subscription.consumer, event = %envelope.id, attempts, %reason, "event failed too often: set aside");
                        let reason = format!("gave up after {attempts} attempts: {reason}");
                        return self.set_aside(subscribed, envelope, reason, attempts).await;
                    }
                    return Err(BusError::Unavailable(format!(
                        "consumer {} could not handle event {}: {reason}",
                        subscription.consumer, envelope.id
                    )));
                }
            }
        }
    }
}

#[async_trait]
impl Bus for MemoryBus {
    async fn publish(&self, envelopes: &[Envelope]) -> Result<(), BusError> {
        let subscriptions = self
            .subscriptions
            .read()
            .map(|s| s.clone())
            .map_err(|_| BusError::Unavailable("subscription list poisoned".into()))?;
        // Consumers tolerate any order and concurrent deliveries (as with several broker
        // consumers), so a batch is delivered concurrently, bounded like a prefetch window;
        // a partitioned consumer's events of one partition wait for their turn (`deliver`).
        // Deliveries start in publication order, so that is the order they take turns in.
        let mut deliveries: Vec<futures::future::BoxFuture<'_, Result<(), BusError>>> = Vec::new();
        for envelope in envelopes {
            let event_type = envelope.event.event_type();
            for subscribed in subscriptions
                .iter()
                .filter(|s| s.subscription.event_types.contains(&event_type))
            {
                deliveries.push(Box::pin(self.deliver(subscribed, envelope)));
            }
        }
        let results: Vec<Result<(), BusError>> = futures::stream::iter(deliveries)
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        // After the consumers, so that what a watcher refreshes is already projected. Also
        // when some delivery failed: the others did apply, and seeing an event twice (when
        // the outbox publishes it again) is harmless to a watcher.
        let watchers = self
            .watchers
            .read()
            .map(|w| w.clone())
            .map_err(|_| BusError::Unavailable("watcher list poisoned".into()))?;
        for envelope in envelopes {
            let event_type = envelope.event.event_type();
            for watch in watchers
                .iter()
                .filter(|w| w.event_types.contains(&event_type))
            {
                watch.watcher.saw(envelope).await;
            }
        }
        results.into_iter().collect()
    }

    async fn subscribe(&self, subscription: Subscription) -> Result<(), BusError> {
        let partitions = subscription.partitioned.then(|| {
            (0..PARTITIONS)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect()
        });
        let metrics = ConsumerMetrics::of(&subscription.consumer);
        // What earlier runs set aside; later letters are counted as they are set aside. (A
        // replay or purge by `moviebook dlq`, another process, shows from the next start.)
        match self.shelf.waiting(&subscription.consumer).await {
            Ok(waiting) => metrics.dead_letters_waiting(waiting),
            Err(error) => {
                tracing::warn!(consumer = %subscription.consumer, %error, "could not count the dead letters kept")
            }
        }
        self.subscriptions
            .write()
            .map_err(|_| BusError::Unavailable("subscription list poisoned".into()))?
            .push(Subscribed {
                metrics,
                subscription,
                partitions,
            });
        Ok(())
    }

    async fn watch(
        &self,
        event_types: Vec<EventType>,
        watcher: Arc<dyn Watcher>,
    ) -> Result<(), BusError> {
        // Registered before the resync, so that an event published while the watcher
        // refreshes is seen rather than missed.
        self.watchers
            .write()
            .map_err(|_| BusError::Unavailable("watcher list poisoned".into()))?
            .push(Watch {
                event_types,
                watcher: watcher.clone(),
            });
        watcher.resync().await;
        Ok(())
    }

    async fn ping(&self) -> Result<(), BusError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Handler;
    use domain::events::{Event, EventType, UserDeleted};
    use std::sync::atomic::{AtomicU32, Ordering};

    struct Counting {
        calls: AtomicU32,
        answer: fn(u32) -> Outcome,
    }

    #[async_trait]
    impl Handler for Counting {
        async fn handle(&self, _: &Envelope) -> Outcome {
            let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            (self.answer)(call)
        }
    }

    fn event() -> Envelope {
        Envelope::new(Event::UserDeleted(UserDeleted {
            user_id: domain::ids::new_id(),
        }))
    }

    async fn bus_with(
        answer: fn(u32) -> Outcome,
        types: Vec<EventType>,
    ) -> (MemoryBus, Arc<Counting>) {
        bus_on(Arc::new(MemoryShelf::default()), answer, types).await
    }

    async fn bus_on(
        shelf: Arc<MemoryShelf>,
        answer: fn(u32) -> Outcome,
        types: Vec<EventType>,
    ) -> (MemoryBus, Arc<Counting>) {
        let bus = MemoryBus::new(shelf);
        let handler = Arc::new(Counting {
            calls: AtomicU32::new(0),
            answer,
        });
        bus.subscribe(Subscription {
            consumer: "test".into(),
            event_types: types,
            handler: handler.clone(),
            partitioned: false,
        })
        .await
        .unwrap();
        (bus, handler)
    }

    #[tokio::test]
    async fn delivers_only_subscribed_types() {
        let (bus, handler) = bus_with(|_| Outcome::Done, vec![EventType::MovieCreated]).await;
        bus.publish(&[event()]).await.unwrap();
        assert_eq!(handler.calls.load(Ordering::SeqCst), 0);
        let (bus, handler) = bus_with(|_| Outcome::Done, vec![EventType::UserDeleted]).await;
        bus.publish(&[event(), event()]).await.unwrap();
        assert_eq!(handler.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn retries_until_the_handler_succeeds() {
        let (bus, handler) = bus_with(
            |call| {
                if call < 3 {
                    Outcome::Retry("busy".into())
                } else {
                    Outcome::Done
                }
            },
            vec![EventType::UserDeleted],
        )
        .await;
        bus.publish(&[event()]).await.unwrap();
        assert_eq!(handler.calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_handler_that_keeps_failing_fails_the_publish_until_its_last_round_then_is_set_aside()
    {
        let shelf = Arc::new(MemoryShelf::default());
        let (bus, handler) = bus_on(
            shelf.clone(),
            |_| Outcome::Retry("down".into()),
            vec![EventType::UserDeleted],
        )
        .await;
        let envelope = event();
        // The outbox keeps the event and publishes it again, until the last round.
        for round in 1..ROUNDS {
            assert!(
                bus.publish(std::slice::from_ref(&envelope)).await.is_err(),
                "round {round}"
            );
            assert!(shelf.letters().is_empty(), "set aside in round {round}");
        }
        bus.publish(std::slice::from_ref(&envelope)).await.unwrap();
        assert_eq!(handler.calls.load(Ordering::SeqCst), ATTEMPTS * ROUNDS);
        let letters = shelf.letters();
        assert_eq!(letters.len(), 1);
        assert_eq!(letters[0].envelope.id, envelope.id);
        assert_eq!(letters[0].attempts, ATTEMPTS * ROUNDS);
        assert_eq!(
            letters[0].reason,
            format!("gave up after {} attempts: down", ATTEMPTS * ROUNDS)
        );
    }

    #[tokio::test]
    async fn an_event_that_succeeds_before_its_last_round_starts_its_count_again() {
        let shelf = Arc::new(MemoryShelf::default());
        // Fails its first ATTEMPTS * (ROUNDS - 1) tries, then succeeds, then fails again.
        let (bus, _) = bus_on(
            shelf.clone(),
            |call| {
                if call == ATTEMPTS * (ROUNDS - 1) + 1 {
                    Outcome::Done
                } else {
                    Outcome::Retry("down".into())
                }
            },
            vec![EventType::UserDeleted],
        )
        .await;
        let envelope = event();
        for _ in 1..ROUNDS {
            assert!(bus.publish(std::slice::from_ref(&envelope)).await.is_err());
        }
        bus.publish(std::slice::from_ref(&envelope)).await.unwrap();
        // The success forgot the failed rounds: failing again takes all of them.
        for _ in 1..ROUNDS {
            assert!(bus.publish(std::slice::from_ref(&envelope)).await.is_err());
        }
        assert!(shelf.letters().is_empty());
    }

    #[derive(Default)]
    struct Seen {
        resyncs: AtomicU32,
        events: std::sync::Mutex<Vec<Envelope>>,
        /// How many times the consumer had handled when the watcher saw the event.
        handled_before: std::sync::Mutex<Vec<u32>>,
        consumer: std::sync::Mutex<Option<Arc<Counting>>>,
    }

    #[async_trait]
    impl Watcher for Seen {
        async fn resync(&self) {
            self.resyncs.fetch_add(1, Ordering::SeqCst);
        }
        async fn saw(&self, envelope: &Envelope) {
            self.events.lock().unwrap().push(envelope.clone());
            if let Some(consumer) = self.consumer.lock().unwrap().as_ref() {
                let handled = consumer.calls.load(Ordering::SeqCst);
                self.handled_before.lock().unwrap().push(handled);
            }
        }
    }

    #[tokio::test]
    async fn watchers_see_each_watched_event_once_after_the_consumers_handled_it() {
        let (bus, handler) = bus_with(|_| Outcome::Done, vec![EventType::UserDeleted]).await;
        let seen = Arc::new(Seen::default());
        *seen.consumer.lock().unwrap() = Some(handler);
        bus.watch(vec![EventType::UserDeleted], seen.clone())
            .await
            .unwrap();
        assert_eq!(seen.resyncs.load(Ordering::SeqCst), 1);

        let (first, second) = (event(), event());
        bus.publish(&[first.clone(), second.clone()]).await.unwrap();
        assert_eq!(*seen.events.lock().unwrap(), vec![first, second]);
        assert_eq!(*seen.handled_before.lock().unwrap(), vec![2, 2]);

        let other = Envelope::new(Event::MovieDeleted(domain::events::MovieSnapshot {
            movie_id: domain::ids::new_id(),
            title: "Alien".into(),
            release_year: 1979,
            genres: vec!["horror".into()],
            thumbnail_url: None,
            created_at: domain::timestamp::now_micros(),
            cast: vec![],
            poster: None,
        }));
        bus.publish(&[other]).await.unwrap();
        assert_eq!(seen.events.lock().unwrap().len(), 2);
    }

    /// Records, per partition key, the order events were handled in and whether two ever
    /// overlapped.
    #[derive(Default)]
    struct Overlaps {
        running: std::sync::Mutex<std::collections::HashMap<uuid::Uuid, u32>>,
        most_at_once: AtomicU32,
        most_keys_at_once: AtomicU32,
        order: std::sync::Mutex<Vec<uuid::Uuid>>,
    }

    #[async_trait]
    impl Handler for Overlaps {
        async fn handle(&self, envelope: &Envelope) -> Outcome {
            let key = envelope.event.partition_key();
            {
                let mut running = self.running.lock().unwrap();
                let here = running.entry(key).or_default();
                *here += 1;
                self.most_at_once.fetch_max(*here, Ordering::SeqCst);
                let keys = running.values().filter(|n| **n > 0).count() as u32;
                self.most_keys_at_once.fetch_max(keys, Ordering::SeqCst);
            }
            self.order.lock().unwrap().push(envelope.id);
            tokio::time::sleep(Duration::from_millis(2)).await;
            *self.running.lock().unwrap().entry(key).or_default() -= 1;
            Outcome::Done
        }
    }

    fn review_of(movie_id: uuid::Uuid) -> Envelope {
        Envelope::new(Event::ReviewDeleted(domain::events::ReviewDeleted {
            movie_id,
            user_id: domain::ids::new_id(),
            score: 5,
        }))
    }

    #[tokio::test]
    async fn a_partitioned_consumer_handles_one_event_of_a_key_at_a_time_in_publication_order() {
        let bus = MemoryBus::new(Arc::new(MemoryShelf::default()));
        let handler = Arc::new(Overlaps::default());
        bus.subscribe(Subscription {
            consumer: "tally".into(),
            event_types: vec![EventType::ReviewDeleted],
            handler: handler.clone(),
            partitioned: true,
        })
        .await
        .unwrap();
        let hot = domain::ids::new_id();
        let batch: Vec<Envelope> = (0..40).map(|_| review_of(hot)).collect();
        // Two publishes at once, as two relays would, and other movies beside the hot one.
        let others: Vec<Envelope> = (0..40).map(|_| review_of(domain::ids::new_id())).collect();
        let (first, second) = tokio::join!(bus.publish(&batch), bus.publish(&others));
        first.unwrap();
        second.unwrap();
        assert_eq!(handler.most_at_once.load(Ordering::SeqCst), 1);
        assert!(
            handler.most_keys_at_once.load(Ordering::SeqCst) > 1,
            "other movies' events were handled beside the hot one's"
        );
        let hot_order: Vec<uuid::Uuid> = handler
            .order
            .lock()
            .unwrap()
            .iter()
            .copied()
            .filter(|id| batch.iter().any(|e| e.id == *id))
            .collect();
        let published: Vec<uuid::Uuid> = batch.iter().map(|e| e.id).collect();
        assert_eq!(hot_order, published);
    }

    #[tokio::test]
    async fn rejected_events_are_set_aside_with_their_reason() {
        let shelf = Arc::new(MemoryShelf::default());
        let (bus, _) = bus_on(
            shelf.clone(),
            |_| Outcome::Reject("malformed".into()),
            vec![EventType::UserDeleted],
        )
        .await;
        let envelope = event();
        bus.publish(std::slice::from_ref(&envelope)).await.unwrap();
        let dead = shelf.letters();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].envelope.id, envelope.id);
        assert_eq!(dead[0].reason, "malformed");
        assert_eq!(dead[0].attempts, 1);
    }

    /// The value of one `/metrics` sample line, e.g. `name{consumer="x"}`.
    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
    }

    #[tokio::test]
    async fn metrics_show_each_consumers_lag_and_dead_letters() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let metrics = recorder.handle();
        // The test's runtime has one thread, so every task below records here.
        let _recording = ::metrics::set_default_local_recorder(&recorder);
        let bus = MemoryBus::new(Arc::new(MemoryShelf::default()));
        for (consumer, answer) in [
            ("applies", Outcome::Done),
            ("rejects", Outcome::Reject("malformed".into())),
        ] {
            let handler = Arc::new(Counting {
                calls: AtomicU32::new(0),
                answer: match answer {
                    Outcome::Done => |_| Outcome::Done,
                    _ => |_| Outcome::Reject("malformed".into()),
                },
            });
            bus.subscribe(Subscription {
                consumer: consumer.into(),
                event_types: vec![EventType::UserDeleted],
                handler,
                partitioned: false,
            })
            .await
            .unwrap();
        }
        let text = metrics.render();
        assert_eq!(
            sample(&text, "moviebook_dead_letters{consumer=\"rejects\"}"),
            Some(0.0),
            "a consumer's dead letters show 0 from its subscription on: {text}"
        );

        let mut three_seconds_old = event();
        three_seconds_old.occurred_at -= 3_000_000;
        bus.publish(&[three_seconds_old, event()]).await.unwrap();
        let text = metrics.render();
        let lag = |what: &str| {
            sample(
                &text,
                &format!("moviebook_event_lag_seconds_{what}{{consumer=\"applies\"}}"),
            )
        };
        assert_eq!(lag("count"), Some(2.0), "{text}");
        let sum = lag("sum").unwrap_or_default();
        assert!((3.0..4.0).contains(&sum), "lags summed to {sum}: {text}");
        assert_eq!(
            sample(
                &text,
                "moviebook_event_lag_seconds_count{consumer=\"rejects\"}"
            ),
            Some(0.0),
            "a rejected event is not handled: {text}"
        );
        assert_eq!(
            sample(&text, "moviebook_dead_letters{consumer=\"rejects\"}"),
            Some(2.0),
            "{text}"
        );
        assert_eq!(
            sample(&text, "moviebook_dead_letters{consumer=\"applies\"}"),
            Some(0.0),
            "{text}"
        );
        assert_eq!(
            sample(&text, "moviebook_events_failed_total{consumer=\"rejects\"}"),
            Some(2.0),
            "{text}"
        );
    }
}
