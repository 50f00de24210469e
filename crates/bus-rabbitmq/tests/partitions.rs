//! Partitioned consumers on the real broker: one queue per partition with a single active
//! consumer, so the events of one key reach one handler at a time, in the order they were
//! published (what waits behind a turn handed over as one batch), whichever replica holds
//! the partition — and when that replica dies another
//! takes its partitions over without losing an event.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bus::{Bus, Handler, Outcome, Subscription};
use bus_rabbitmq::{RabbitBus, RabbitOptions};
use common::{BrokerLock, Cleanup, eventually, url};
use domain::events::{Envelope, Event, EventType, ReviewDeleted};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(20);

async fn bus(options: &RabbitOptions) -> RabbitBus {
    RabbitBus::connect(&url(), options.clone())
        .await
        .unwrap_or_else(|e| panic!("cannot connect to RabbitMQ at {}: {e}", url()))
}

/// A review of `movie_id`: partitioned by the movie.
fn review_of(movie_id: Uuid) -> Envelope {
    Envelope::new(Event::ReviewDeleted(ReviewDeleted {
        movie_id,
        user_id: Uuid::now_v7(),
        score: 5,
    }))
}

/// What every replica's handler shares: which keys are being handled now, the most events
/// of one key ever handled at once, the order each key's events were handled in, and the
/// events applied (a set, as an idempotent consumer's markers would make it).
#[derive(Default)]
struct Tally {
    running: Mutex<HashMap<Uuid, u32>>,
    most_at_once: Mutex<u32>,
    order: Mutex<HashMap<Uuid, Vec<Uuid>>>,
    applied: Mutex<HashSet<Uuid>>,
}

impl Tally {
    fn applied(&self) -> usize {
        self.applied.lock().unwrap().len()
    }
}

/// One replica's handler: takes `pause` per event, so that events handled concurrently
/// would overlap, and counts its own calls and the largest batch it was handed.
struct Replica {
    tally: Arc<Tally>,
    pause: Duration,
    calls: Mutex<u32>,
    largest_batch: Mutex<usize>,
}

impl Replica {
    fn new(tally: &Arc<Tally>, pause: Duration) -> Arc<Replica> {
        Arc::new(Replica {
            tally: tally.clone(),
            pause,
            calls: Mutex::new(0),
            largest_batch: Mutex::new(0),
        })
    }

    fn calls(&self) -> u32 {
        *self.calls.lock().unwrap()
    }

    fn largest_batch(&self) -> usize {
        *self.largest_batch.lock().unwrap()
    }
}

#[async_trait]
impl Handler for Replica {
    async fn handle(&self, envelope: &Envelope) -> Outcome {
        *self.calls.lock().unwrap() += 1;
        let key = envelope.event.partition_key();
        {
            let mut running = self.tally.running.lock().unwrap();
            let now = running.entry(key).or_default();
            *now += 1;
            let mut most = self.tally.most_at_once.lock().unwrap();
            *most = (*most).max(*now);
        }
        tokio::time::sleep(self.pause).await;
        if self.tally.applied.lock().unwrap().insert(envelope.id) {
            self.tally
                .order
                .lock()
                .unwrap()
                .entry(key)
                .or_default()
                .push(envelope.id);
        }
        *self.tally.running.lock().unwrap().entry(key).or_default() -= 1;
        Outcome::Done
    }

    async fn handle_batch(&self, envelopes: &[Envelope]) -> Vec<Outcome> {
        {
            let mut largest = self.largest_batch.lock().unwrap();
            *largest = (*largest).max(envelopes.len());
        }
        let mut outcomes = Vec::new();
        for envelope in envelopes {
            outcomes.push(self.handle(envelope).await);
        }
        outcomes
    }
}

async fn subscribe(bus: &RabbitBus, consumer: &str, handler: Arc<Replica>) {
    bus.subscribe(Subscription {
        consumer: consumer.into(),
        event_types: vec![EventType::ReviewDeleted],
        handler,
        partitioned: true,
    })
    .await
    .expect("subscribe");
}

#[tokio::test]
async fn a_partitioned_consumer_handles_one_event_of_a_key_at_a_time_in_publication_order() {
    let _lock = BrokerLock::shared();
    let options = common::options();
    let _cleanup = Cleanup::new(&options, &["tally", "audit"]);
    let (first, second) = (bus(&options).await, bus(&options).await);
    let tally = Arc::new(Tally::default());
    let (a, b) = (
        Replica::new(&tally, Duration::from_millis(3)),
        Replica::new(&tally, Duration::from_millis(3)),
    );
    subscribe(&first, "tally", a.clone()).await;
    subscribe(&second, "tally", b.clone()).await;
    // A consumer that is not partitioned still gets every event, whatever its partition.
    let audit_tally = Arc::new(Tally::default());
    let audit = Replica::new(&audit_tally, Duration::ZERO);
    second
        .subscribe(Subscription {
            consumer: "audit".into(),
            event_types: vec![EventType::ReviewDeleted],
            handler: audit.clone(),
            partitioned: false,
        })
        .await
        .unwrap();

    // Three hot movies and many others, interleaved, published in several batches.
    let hot: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    let events: Vec<Envelope> = (0..240)
        .map(|i| match i % 4 {
            3 => review_of(Uuid::now_v7()),
            n => review_of(hot[n]),
        })
        .collect();
    for batch in events.chunks(40) {
        first.publish(batch).await.unwrap();
    }
    assert!(
        eventually(WAIT, || tally.applied() == events.len()).await,
        "applied {} of {}",
        tally.applied(),
        events.len()
    );
    assert!(eventually(WAIT, || audit_tally.applied() == events.len()).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        (a.calls() + b.calls()) as usize,
        events.len(),
        "each event handled once"
    );
    assert_eq!(
        *tally.most_at_once.lock().unwrap(),
        1,
        "two events of one key ran at once"
    );
    // What queued up behind a partition's turn was handed over together, for the handler
    // to fold; never more than the prefetch.
    let largest = a.largest_batch().max(b.largest_batch());
    assert!(
        (2..=usize::from(options.prefetch)).contains(&largest),
        "largest batch {largest}"
    );
    let order = tally.order.lock().unwrap().clone();
    for movie in &hot {
        let published: Vec<Uuid> = events
            .iter()
            .filter(|e| e.event.partition_key() == *movie)
            .map(|e| e.id)
            .collect();
        assert_eq!(order[movie], published, "handled in publication order");
    }
    first.shutdown().await;
    second.shutdown().await;
}

#[tokio::test]
async fn partitions_of_a_replica_that_dies_are_taken_over_and_nothing_is_lost_or_doubled() {
    let _lock = BrokerLock::shared();
    let options = common::options();
    let _cleanup = Cleanup::new(&options, &["owner"]);
    let tally = Arc::new(Tally::default());
    // The first replica to subscribe is every partition's active consumer; the second waits.
    let first = bus(&options).await;
    let a = Replica::new(&tally, Duration::from_millis(10));
    subscribe(&first, "owner", a.clone()).await;
    let second = bus(&options).await;
    let b = Replica::new(&tally, Duration::from_millis(10));
    subscribe(&second, "owner", b.clone()).await;

    let movie = Uuid::now_v7();
    let before: Vec<Envelope> = (0..30).map(|_| review_of(movie)).collect();
    second.publish(&before).await.unwrap();
    assert!(eventually(WAIT, || tally.applied() == 30).await);
    assert_eq!(
        (a.calls(), b.calls()),
        (30, 0),
        "one replica owns the partition"
    );

    // The owner dies with events in hand: the connection closes without a shutdown, what it
    // had not acknowledged goes back to the partition's queue, and the other replica takes
    // the partition over.
    let during: Vec<Envelope> = (0..60).map(|_| review_of(movie)).collect();
    second.publish(&during).await.unwrap();
    assert!(eventually(WAIT, || a.calls() > 35).await);
    drop(first);
    let after: Vec<Envelope> = (0..30).map(|_| review_of(movie)).collect();
    second.publish(&after).await.unwrap();

    let total = before.len() + during.len() + after.len();
    assert!(
        eventually(WAIT, || tally.applied() == total).await,
        "applied {} of {total}",
        tally.applied()
    );
    assert!(b.calls() > 0, "the standby replica took over");
    // At least once: an event the dead replica was handling may come again (an idempotent
    // consumer applies it once), but no event is lost and none is handled more than twice.
    let handled = a.calls() + b.calls();
    assert!(
        (total as u32..=total as u32 + u32::from(options.prefetch)).contains(&handled),
        "handled {handled} times for {total} events"
    );
    second.shutdown().await;
}

#[tokio::test]
async fn a_partitioned_consumer_retries_and_dead_letters_like_any_other() {
    let _lock = BrokerLock::shared();
    let options = common::options();
    let _cleanup = Cleanup::new(&options, &["fussy"]);
    let bus = bus(&options).await;
    let rejected = review_of(Uuid::now_v7());
    let rejected_id = rejected.id;
    let refusing = Arc::new(Mutex::new(true));
    let still_refusing = refusing.clone();
    let answers = common::Recorder::new(move |envelope, seen| {
        if envelope.id == rejected_id && *still_refusing.lock().unwrap() {
            Outcome::Reject("not yet".into())
        } else if seen == 1 {
            Outcome::Retry("busy".into())
        } else {
            Outcome::Done
        }
    });
    bus.subscribe(Subscription {
        consumer: "fussy".into(),
        event_types: vec![EventType::ReviewDeleted],
        handler: answers.clone(),
        partitioned: true,
    })
    .await
    .unwrap();

    // Retried: back through the consumer's plain queue, and handled there.
    let retried = review_of(Uuid::now_v7());
    bus.publish(&[retried.clone(), rejected.clone()])
        .await
        .unwrap();
    assert!(eventually(WAIT, || answers.times_seen(retried.id) == 2).await);

    // Rejected: in the consumer's one dead-letter queue, with its partitioned routing key,
    // and replayed once the cause is gone.
    assert!(
        common::eventually_async(WAIT, || async {
            bus.dead_letters("fussy", 10).await.unwrap().len() == 1
        })
        .await
    );
    let dead = bus.dead_letters("fussy", 10).await.unwrap();
    assert_eq!(dead[0].id(), Some(rejected.id));
    assert_eq!(
        dead[0].routing_key.as_deref(),
        Some(options.routing_key(&rejected).as_str())
    );
    *refusing.lock().unwrap() = false;
    assert_eq!(bus.replay_dead_letters("fussy", None).await.unwrap(), 1);
    assert!(eventually(WAIT, || answers.times_seen(rejected.id) == 2).await);
    assert!(bus.dead_letters("fussy", 10).await.unwrap().is_empty());
    bus.shutdown().await;
}
