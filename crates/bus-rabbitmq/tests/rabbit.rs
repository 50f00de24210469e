//! The RabbitMQ adapter against the real broker: publishing with confirms, consuming with
//! acks, retries with back-off, the dead-letter queue and its operator API, competing
//! consumers and a graceful shutdown. Each test uses an exchange and queues of its own and
//! deletes them, so the tests run in parallel; the tests that stop the broker live in
//! `outage.rs`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bus::{Bus, BusError, Outcome, Subscription};
use bus_rabbitmq::{RabbitBus, RabbitOptions};
use common::{BrokerLock, Cleanup, Recorder, event, eventually, eventually_async, url};
use domain::events::{Envelope, Event, EventType, ReviewDeleted};
use lapin::BasicProperties;
use lapin::options::{BasicGetOptions, BasicPublishOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(15);

async fn bus(options: &RabbitOptions) -> RabbitBus {
    RabbitBus::connect(&url(), options.clone())
        .await
        .unwrap_or_else(|e| panic!("cannot connect to RabbitMQ at {}: {e}", url()))
}

async fn subscribe(bus: &RabbitBus, consumer: &str, handler: Arc<Recorder>) {
    bus.subscribe(Subscription {
        consumer: consumer.into(),
        event_types: vec![EventType::UserDeleted],
        handler,
        partitioned: false,
    })
    .await
    .expect("subscribe");
}

/// Ready messages in a queue, as the broker counts them.
async fn ready(queue: &str) -> u32 {
    let connection = common::connect_raw().await.expect("raw connection");
    let channel = connection.create_channel().await.expect("channel");
    let declared = channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("passive declare");
    let _ = connection.close(200, "OK".into()).await;
    declared.message_count()
}

#[tokio::test]
async fn published_events_reach_the_subscribed_consumer() {
    let _lock = BrokerLock::shared();
    let options = common::options();
    let _cleanup = Cleanup::new(&options, &["reader"]);
    let bus = bus(&options).await;
    let handler = Recorder::done();
    subscribe(&bus, "reader", handler.clone()).await;

    let events: Vec<Envelope> = (0..10).map(|_| event()).collect();
    bus.publish(&events).await.expect("publish");
    assert!(
        eventually(WAIT, || handler.calls() == 10).await,
        "handled {} of 10",
        handler.calls()
    );
    for envelope in &events {
        assert_eq!(handler.times_seen(envelope.id), 1);
    }
    bus.ping().await.expect("ping");
    bus.shutdown().await;
    assert!(matches!(bus.ping().await, Err(BusError::Unavailable(_))));
    assert!(matches!(
        bus.publish(&[event()]).await,
        Err(BusError::Unavailable(_))
    ));
}

#[tokio::test]
async fn messages_are_persistent_json_with_the_event_id_and_type() {
    let _lock = BrokerLock::shared();
    let options = common::options();
    let mut cleanup = Cleanup::new(&options, &[]);
    let bus = bus(&options).await;
    // A plain queue bound to the exchange, to look at a message as the broker holds it.
    let probe = format!("{}.probe", options.queue_prefix);
    cleanup.also_queue(&probe);
    let connection = common::connect_raw().await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    channel
        .queue_declare(
            probe.as_str().into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    channel
        .queue_bind(
            probe.as_str().into(),
            options.exchange.as_str().into(),
            "user.deleted.#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();

    let envelope = event();
    bus.publish(std::slice::from_ref(&envelope)).await.unwrap();
    let message = channel
        .basic_get(probe.as_str().into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
        .expect("a message in the probe queue");
    let properties = &message.delivery.properties;
    // The type, then the partition of the event's key.
    assert_eq!(
        message.delivery.routing_key.as_str(),
        options.routing_key(&envelope)
    );
    assert!(
        message
            .delivery
            .routing_key
            .as_str()
            .starts_with("user.deleted.")
    );
    assert_eq!(*properties.delivery_mode(), Some(2));
    assert_eq!(
        properties.content_type().as_ref().map(|s| s.as_str()),
        Some("application/json")
    );
    assert_eq!(
        properties.message_id().as_ref().map(|s| s.to_string()),
        Some(envelope.id.to_string())
    );
    let body: Envelope = serde_json::from_slice(&message.delivery.data).unwrap();
    assert_eq!(body, envelope);
    let _ = connection.close(200, "OK".into()).await;
    bus.shutdown().await;
}

#[tokio::test]
async fn an_event_no_queue_is_bound_for_fails_to_publish_so_the_outbox_keeps_it() {
    let _lock = BrokerLock::shared();
    let options = common::options();
    let _cleanup = Cleanup::new(&options, &["reader"]);
    let bus = bus(&options).await;
    subscribe(&bus, "reader", Recorder::done()).await;
    let unrouted = Envelope::new(Event::ReviewDeleted(ReviewDeleted {
        movie_id: Uuid::now_v7(),
        user_id: Uuid::now_v7(),
        score: 3,
    }));
    let error = bus
        .publish(&[event(), unrouted])
        .await
        .expect_err("review.deleted has no queue");
    assert!(
        error.to_string().contains("could not route"),
        "unexpected error: {error}"
    );
    // Declaring the consumer's queue for the type makes the same event publishable.
    bus.declare_consumer("reader", &[EventType::ReviewDeleted], false)
        .await
        .unwrap();
    let retried = Envelope::new(Event::ReviewDeleted(ReviewDeleted {
        movie_id: Uuid::now_v7(),
        user_id: Uuid::now_v7(),
        score: 3,
    }));
    bus.publish(&[retried]).await.expect("now routable");
    bus.shutdown().await;
}

#[tokio::test]
async fn a_repeated_event_is_delivered_twice_and_an_idempotent_handler_applies_it_once() {
    let _lock = BrokerLock::shared();
    let options = common::options();
    let _cleanup = Cleanup::new(&options, &["raw", "idempotent"]);
    let bus = bus(&options).await;

    // The bus delivers what it is given: the same envelope twice is two deliveries.
    let raw = Recorder::done();
    subscribe(&bus, "raw", raw.clone()).await;
    // A consumer that records processed ids, like the projector's processed-event records.
    let applied = Arc::new(std::sync::Mutex::new(Vec::<Uuid>::new()));
    let processed = Arc::new(std::sync::Mutex::new(
        std::collections::HashSet::<Uuid>::new(),
    ));
    let idempotent = {
        let applied = applied.clone();
        let processed = processed.clone();
        Recorder::new(move |envelope, _| {
            if processed.lock().unwrap().insert(envelope.id) {
                applied.lock().unwrap().push(envelope.id);
            }
            Outcome::Done
        })
    };
    subscribe(&bus, "idempotent", idempotent.clone()).await;

    let envelope = event();
    bus.publish(std::slice::from_ref(&envelope)).await.unwrap();
    bus.publish(std::slice::from_ref(&envelope)).await.unwrap();
    assert!(eventually(WAIT, || raw.times_seen(envelope.id) == 2).await);
    assert!(eventually(WAIT, || idempotent.times_seen(envelope.id) == 2).await);
    assert_eq!(*applied.lock().unwrap(), vec![envelope.id]);
    bus.shutdown().await;
}

#[tokio::test]
async fn a_poison_message_goes_to_the_dead_letter_queue_and_the_next_event_is_handled() {
    let _lock = BrokerLock::shared();
    let options = common::options();
    let _cleanup = Cleanup::new(&options, &["reader"]);
    let bus = bus(&options).await;
    let handler = Recorder::done();
    subscribe(&bus, "reader", handler.clone()).await;

    let connection = common::connect_raw().await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    channel
        .basic_publish(
            options.exchange.as_str().into(),
            "user.deleted".into(),
            BasicPublishOptions::default(),
            b"\x00\xffnot json at all",
            BasicProperties::default().with_delivery_mode(2),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let good = event();
    bus.publish(std::slice::from_ref(&good)).await.unwrap();
    assert!(eventually(WAIT, || handler.times_seen(good.id) == 1).await);
    assert_eq!(
        handler.calls(),
        1,
        "the poison message never reached the handler"
    );

    let dlq = options.dead_letter_queue_name("reader");
    assert!(eventually_async(WAIT, || async { ready(&dlq).await == 1 }).await);
    let dead = bus.dead_letters("reader", 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert!(dead[0].envelope.is_none());
    assert_eq!(dead[0].body, b"\x00\xffnot json at all");
    assert!(
        dead[0].reason.contains("not an event envelope"),
        "reason: {}",
        dead[0].reason
    );
    assert_eq!(ready(&options.queue_name("reader")).await, 0);
    let _ = connection.close(200, "OK".into()).await;
    bus.shutdown().await;
}

#[tokio::test]
async fn a_handler_that_keeps_failing_is_retried_with_back_off_then_dead_lettered() {
    let _lock = BrokerLock::shared();
    let options = common::options();
    let _cleanup = Cleanup::new(&options, &["flaky"]);
    let bus = bus(&options).await;
    let handler = Recorder::new(|_, _| Outcome::Retry("the store is down".into()));
    subscribe(&bus, "flaky", handler.clone()).await;

    let envelope = event();
    bus.publish(std::slice::from_ref(&envelope)).await.unwrap();
    let dlq = options.dead_letter_queue_name("flaky");
    assert!(eventually_async(WAIT, || async { ready(&dlq).await == 1 }).await);
    let times = handler.call_times(envelope.id);
    assert_eq!(times.len(), 5, "tried once plus four retries");
    // Each retry waited at least its delay: back-off, not a hot loop.
    for (gap, delay) in times.windows(2).zip(&options.retry_delays) {
        let waited = gap[1] - gap[0];
        assert!(
            waited >= *delay,
            "waited {waited:?}, expected at least {delay:?}"
        );
    }

    let dead = bus.dead_letters("flaky", 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].envelope.as_ref(), Some(&envelope));
    assert_eq!(dead[0].attempts, 5);
    assert_eq!(
        dead[0].reason,
        "gave up after 5 attempts: the store is down"
    );
    assert_eq!(
        dead[0].routing_key.as_deref(),
        Some(options.routing_key(&envelope).as_str())
    );
    assert!(dead[0].dead_lettered_at.is_some());
    // Listing leaves the queue as it was.
    assert_eq!(bus.dead_letters("flaky", 10).await.unwrap().len(), 1);
    assert_eq!(handler.call_times(envelope.id).len(), 5);
    bus.shutdown().await;
}

#[tokio::test]
async fn retries_that_later_succeed_and_panics_are_handled_without_dead_letters() {
    let _lock = BrokerLock::shared();
    let options = common::options();
    let _cleanup = Cleanup::new(&options, &["recovering"]);
    let bus = bus(&options).await;
    let handler = Recorder::new(|_, seen| match seen {
        1 => Outcome::Retry("conflict".into()),
        2 => panic!("a handler bug on the second try"),
        _ => Outcome::Done,
    });
    subscribe(&bus, "recovering", handler.clone()).await;
    let envelope = event();
    bus.publish(std::slice::from_ref(&envelope)).await.unwrap();
    assert!(eventually(WAIT, || handler.times_seen(envelope.id) == 3).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(handler.times_seen(envelope.id), 3);
    assert_eq!(
        ready(&options.dead_letter_queue_name("recovering")).await,
        0
    );
    assert_eq!(ready(&options.queue_name("recovering")).await, 0);
    bus.shutdown().await;
}

#[tokio::test]
async fn rejected_events_go_straight_to_the_dead_letter_queue_with_their_reason() {
    let _lock = BrokerLock::shared();
    let options = common::options();
    let _cleanup = Cleanup::new(&options, &["strict"]);
    let bus = bus(&options).await;
    let handler = Recorder::new(|_, _| Outcome::Reject("malformed movie".into()));
    subscribe(&bus, "strict", handler.clone()).await;
    let envelope = event();
    bus.publish(std::slice::from_ref(&envelope)).await.unwrap();
    let dlq = options.dead_letter_queue_name("strict");
    assert!(eventually_async(WAIT, || async { ready(&dlq).await == 1 }).await);
    assert_eq!(handler.times_seen(envelope.id), 1);
    let dead = bus.dead_letters("strict", 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id(), Some(envelope.id));
    assert_eq!(dead[0].reason, "malformed movie");
    assert_eq!(dead[0].consumer, "strict");
    bus.shutdown().await;
}

/// This test process's metrics, as `/metrics` would render them: the consumers register
/// their series in the bus's own tasks, so the recorder is the process's (nextest runs each
/// test in a process of its own).
fn process_metrics() -> metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .expect("the test's metrics recorder")
        })
        .clone()
}

/// The value of one sample line of `/metrics`, e.g. `name{consumer="x"}`.
fn sample(metrics: &metrics_exporter_prometheus::PrometheusHandle, series: &str) -> Option<f64> {
    metrics
        .render()
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test]
async fn metrics_show_the_event_lag_and_the_dead_letters_waiting_until_they_are_purged() {
    let _lock = BrokerLock::shared();
    let metrics = process_metrics();
    let options = RabbitOptions {
        dead_letter_count_interval: Duration::from_millis(200),
        ..common::options()
    };
    let _cleanup = Cleanup::new(&options, &["tallied"]);
    let bus = bus(&options).await;
    let poison = event();
    let poison_id = poison.id;
    let handler = Recorder::new(move |envelope, _| {
        if envelope.id == poison_id {
            Outcome::Reject("a bug".into())
        } else {
            Outcome::Done
        }
    });
    subscribe(&bus, "tallied", handler.clone()).await;
    let dead_letters = "moviebook_dead_letters{consumer=\"tallied\"}";
    assert!(
        eventually(WAIT, || sample(&metrics, dead_letters) == Some(0.0)).await,
        "a consumer shows 0 dead letters from its start: {}",
        metrics.render()
    );

    let mut two_seconds_old = event();
    two_seconds_old.occurred_at -= 2_000_000;
    bus.publish(&[two_seconds_old.clone(), poison])
        .await
        .unwrap();
    assert!(eventually(WAIT, || handler.times_seen(two_seconds_old.id) == 1).await);
    assert!(
        eventually(WAIT, || sample(&metrics, dead_letters) == Some(1.0)).await,
        "the dead-lettered event shows: {}",
        metrics.render()
    );
    let lag = |what: &str| {
        sample(
            &metrics,
            &format!("moviebook_event_lag_seconds_{what}{{consumer=\"tallied\"}}"),
        )
    };
    assert_eq!(lag("count"), Some(1.0), "{}", metrics.render());
    let lag = lag("sum").unwrap_or_default();
    assert!((2.0..WAIT.as_secs_f64()).contains(&lag), "lag {lag} s");

    // An operator purges the dead letters: the periodic count shows them gone.
    assert_eq!(bus.purge_dead_letters("tallied", None).await.unwrap(), 1);
    assert!(
        eventually(WAIT, || sample(&metrics, dead_letters) == Some(0.0)).await,
        "purged dead letters stop showing: {}",
        metrics.render()
    );
    bus.shutdown().await;
}

#[tokio::test]
async fn dead_letters_can_be_replayed_one_by_one_or_all() {
    let _lock = BrokerLock::shared();
    let options = common::options();
    let _cleanup = Cleanup::new(&options, &["fixable"]);
    let bus = bus(&options).await;
    let broken = Arc::new(AtomicBool::new(true));
    let handler = {
        let broken = broken.clone();
        Recorder::new(move |_, _| {
            if broken.load(Ordering::SeqCst) {
                Outcome::Reject("a bug".into())
            } else {
                Outcome::Done
            }
        })
    };
    subscribe(&bus, "fixable", handler.clone()).await;
    let events: Vec<Envelope> = (0..3).map(|_| event()).collect();
    bus.publish(&events).await.unwrap();
    let dlq = options.dead_letter_queue_name("fixable");
    assert!(eventually_async(WAIT, || async { ready(&dlq).await == 3 }).await);
    let listed = bus.dead_letters("fixable", 10).await.unwrap();
    let mut ids: Vec<Uuid> = listed.iter().filter_map(|d| d.id()).collect();
    ids.sort();
    let mut expected: Vec<Uuid> = events.iter().map(|e| e.id).collect();
    expected.sort();
    assert_eq!(ids, expected);
    assert_eq!(bus.dead_letters("fixable", 2).await.unwrap().len(), 2);

    // The bug is fixed: replay one event, then the rest.
    broken.store(false, Ordering::SeqCst);
    let one = events[1].id;
    assert_eq!(
        bus.replay_dead_letters("fixable", Some(&[one]))
            .await
            .unwrap(),
        1
    );
    assert!(eventually(WAIT, || handler.times_seen(one) == 2).await);
    assert_eq!(handler.times_seen(events[0].id), 1);
    assert_eq!(bus.dead_letters("fixable", 10).await.unwrap().len(), 2);
    assert_eq!(bus.replay_dead_letters("fixable", None).await.unwrap(), 2);
    assert!(
        eventually(WAIT, || events
            .iter()
            .all(|e| handler.times_seen(e.id) == 2))
        .await
    );
    assert_eq!(ready(&dlq).await, 0);
    bus.shutdown().await;
}

#[tokio::test]
async fn replaying_events_that_fail_again_replays_each_once() {
    let _lock = BrokerLock::shared();
    let options = common::options();
    let _cleanup = Cleanup::new(&options, &["hopeless"]);
    let bus = bus(&options).await;
    let handler = Recorder::new(|_, _| Outcome::Reject("still broken".into()));
    subscribe(&bus, "hopeless", handler.clone()).await;
    let events: Vec<Envelope> = (0..20).map(|_| event()).collect();
    bus.publish(&events).await.unwrap();
    let dlq = options.dead_letter_queue_name("hopeless");
    assert!(eventually_async(WAIT, || async { ready(&dlq).await == 20 }).await);
    // The consumer rejects the replayed events at once, so they come back into the
    // dead-letter queue while the replay is still reading it.
    assert_eq!(bus.replay_dead_letters("hopeless", None).await.unwrap(), 20);
    assert!(
        eventually(WAIT, || events
            .iter()
            .all(|e| handler.times_seen(e.id) == 2))
        .await
    );
    assert!(eventually_async(WAIT, || async { ready(&dlq).await == 20 }).await);
    bus.shutdown().await;
}

#[tokio::test]
async fn dead_letters_can_be_purged_one_by_one_or_all() {
    let _lock = BrokerLock::shared();
    let options = common::options();
    let _cleanup = Cleanup::new(&options, &["doomed"]);
    let bus = bus(&options).await;
    subscribe(
        &bus,
        "doomed",
        Recorder::new(|_, _| Outcome::Reject("never".into())),
    )
    .await;
    let events: Vec<Envelope> = (0..4).map(|_| event()).collect();
    bus.publish(&events).await.unwrap();
    let dlq = options.dead_letter_queue_name("doomed");
    assert!(eventually_async(WAIT, || async { ready(&dlq).await == 4 }).await);
    assert_eq!(
        bus.purge_dead_letters("doomed", Some(&[events[0].id]))
            .await
            .unwrap(),
        1
    );
    let left: Vec<Uuid> = bus
        .dead_letters("doomed", 10)
        .await
        .unwrap()
        .iter()
        .filter_map(|d| d.id())
        .collect();
    assert_eq!(left.len(), 3);
    assert!(!left.contains(&events[0].id));
    assert_eq!(bus.purge_dead_letters("doomed", None).await.unwrap(), 3);
    assert!(bus.dead_letters("doomed", 10).await.unwrap().is_empty());
    bus.shutdown().await;
}

#[tokio::test]
async fn replicas_of_one_consumer_share_its_queue_and_each_event_is_handled_once() {
    let _lock = BrokerLock::shared();
    let options = common::options();
    let _cleanup = Cleanup::new(&options, &["projector", "audit"]);
    let first = bus(&options).await;
    let second = bus(&options).await;
    let (a, b) = (
        Recorder::slow(Duration::from_millis(2), |_, _| Outcome::Done),
        Recorder::slow(Duration::from_millis(2), |_, _| Outcome::Done),
    );
    subscribe(&first, "projector", a.clone()).await;
    subscribe(&second, "projector", b.clone()).await;
    // Another consumer gets every event too.
    let audit = Recorder::done();
    subscribe(&second, "audit", audit.clone()).await;

    let events: Vec<Envelope> = (0..200).map(|_| event()).collect();
    for batch in events.chunks(50) {
        first.publish(batch).await.unwrap();
    }
    assert!(eventually(WAIT, || a.calls() + b.calls() == 200).await);
    assert!(eventually(WAIT, || audit.calls() == 200).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(a.calls() + b.calls(), 200, "no event handled twice");
    for envelope in &events {
        assert_eq!(a.times_seen(envelope.id) + b.times_seen(envelope.id), 1);
    }
    assert!(
        a.calls() > 0 && b.calls() > 0,
        "both replicas worked: {} and {}",
        a.calls(),
        b.calls()
    );
    first.shutdown().await;
    second.shutdown().await;
}

#[tokio::test]
async fn shutdown_lets_in_flight_handlers_finish_and_acknowledge() {
    let _lock = BrokerLock::shared();
    let options = common::options();
    let _cleanup = Cleanup::new(&options, &["slow"]);
    let bus = bus(&options).await;
    let handler = Recorder::slow(Duration::from_millis(700), |_, _| Outcome::Done);
    subscribe(&bus, "slow", handler.clone()).await;
    let events: Vec<Envelope> = (0..5).map(|_| event()).collect();
    bus.publish(&events).await.unwrap();
    assert!(
        eventually(WAIT, || handler.calls() == 5).await,
        "all five started"
    );
    let started = Instant::now();
    bus.shutdown().await;
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "shutdown waited for the handlers"
    );
    // Every handler finished and acked: nothing comes back to the queue.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(ready(&options.queue_name("slow")).await, 0);
    // A new process subscribing sees nothing again.
    let again = self::bus(&options).await;
    let second = Recorder::done();
    subscribe(&again, "slow", second.clone()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(second.calls(), 0);
    again.shutdown().await;
}

#[tokio::test]
async fn unacknowledged_events_of_a_stopped_process_go_to_another_replica() {
    let _lock = BrokerLock::shared();
    let options = common::options();
    let _cleanup = Cleanup::new(&options, &["stuck"]);
    let first = bus(&options).await;
    // This replica never answers within the test: its process "dies" with events in hand.
    let stuck = Recorder::slow(Duration::from_secs(3600), |_, _| Outcome::Done);
    subscribe(&first, "stuck", stuck.clone()).await;
    let events: Vec<Envelope> = (0..3).map(|_| event()).collect();
    first.publish(&events).await.unwrap();
    assert!(eventually(WAIT, || stuck.calls() == 3).await);
    drop(first); // no graceful shutdown: the connection closes with the events unacked

    let second = bus(&options).await;
    let handler = Recorder::done();
    subscribe(&second, "stuck", handler.clone()).await;
    assert!(eventually(WAIT, || handler.calls() == 3).await);
    second.shutdown().await;
}

#[tokio::test]
async fn a_queue_declared_with_other_arguments_is_used_as_it_is() {
    let _lock = BrokerLock::shared();
    let options = common::options();
    let _cleanup = Cleanup::new(&options, &["evolving"]);
    let old = bus(&options).await;
    subscribe(&old, "evolving", Recorder::done()).await;
    old.shutdown().await;
    // A new version with another delivery limit cannot redeclare the queue with it, but it
    // must still consume (and publish) rather than fail.
    let changed = RabbitOptions {
        delivery_limit: options.delivery_limit + 7,
        ..options.clone()
    };
    let new = bus(&changed).await;
    let handler = Recorder::done();
    subscribe(&new, "evolving", handler.clone()).await;
    let envelope = event();
    new.publish(std::slice::from_ref(&envelope)).await.unwrap();
    assert!(eventually(WAIT, || handler.times_seen(envelope.id) == 1).await);
    new.ping().await.unwrap();
    new.shutdown().await;
}

#[tokio::test]
async fn an_event_whose_handler_never_answers_is_dead_lettered_by_the_delivery_limit() {
    let _lock = BrokerLock::shared();
    let options = RabbitOptions {
        delivery_limit: 1,
        ..common::options()
    };
    let _cleanup = Cleanup::new(&options, &["crashing"]);
    let envelope = event();
    // Each "process" takes the event and dies before answering (a handler that crashes it).
    for round in 0..2 {
        let bus = bus(&options).await;
        let hanging = Recorder::slow(Duration::from_secs(3600), |_, _| Outcome::Done);
        subscribe(&bus, "crashing", hanging.clone()).await;
        if round == 0 {
            bus.publish(std::slice::from_ref(&envelope)).await.unwrap();
        }
        assert!(eventually(WAIT, || hanging.calls() == 1).await);
        drop(bus);
    }
    let dlq = options.dead_letter_queue_name("crashing");
    assert!(eventually_async(WAIT, || async { ready(&dlq).await == 1 }).await);
    let observer = bus(&options).await;
    let dead = observer.dead_letters("crashing", 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id(), Some(envelope.id));
    assert!(
        dead[0].reason.contains("delivery_limit"),
        "reason: {}",
        dead[0].reason
    );
    observer.shutdown().await;
}

#[tokio::test]
async fn connecting_to_a_broker_that_is_not_there_fails_at_once() {
    let options = RabbitOptions {
        connect_timeout: Duration::from_secs(2),
        ..common::options()
    };
    let started = Instant::now();
    let result = RabbitBus::connect("amqp://guest:guest@127.0.0.1:1/%2f", options).await;
    assert!(matches!(result, Err(BusError::Unavailable(_))));
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn invalid_names_are_refused() {
    let _lock = BrokerLock::shared();
    let options = common::options();
    let _cleanup = Cleanup::new(&options, &[]);
    let bus = bus(&options).await;
    let result = bus
        .subscribe(Subscription {
            consumer: "no spaces please".into(),
            event_types: vec![EventType::UserDeleted],
            handler: Recorder::done(),
            partitioned: false,
        })
        .await;
    assert!(result.is_err());
    assert!(bus.dead_letters("../etc", 1).await.is_err());
    // A consumer that has no queues: an error for that call, and the bus stays connected.
    assert!(bus.dead_letters("nobody", 1).await.is_err());
    assert!(bus.replay_dead_letters("nobody", None).await.is_err());
    tokio::time::sleep(Duration::from_millis(300)).await;
    bus.ping().await.unwrap();
    assert_eq!(bus.connection_generation(), Some(1));
    bus.shutdown().await;
    let bad = RabbitOptions {
        exchange: String::new(),
        ..common::options()
    };
    assert!(RabbitBus::connect(&url(), bad).await.is_err());
}

#[tokio::test]
async fn a_retired_consumer_loses_its_queues_and_retiring_it_again_is_no_error() {
    let _lock = BrokerLock::shared();
    let options = common::options();
    let _cleanup = Cleanup::new(&options, &["retired"]);
    let bus = bus(&options).await;
    bus.declare_consumer("retired", &[EventType::UserDeleted], false)
        .await
        .expect("declare");
    bus.publish(&[event()]).await.expect("publish");
    let queue = options.queue_name("retired");
    assert!(
        eventually_async(WAIT, || async { ready(&queue).await == 1 }).await,
        "the event reached the consumer's queue"
    );

    bus.retire_consumer("retired").await.expect("retire");
    let connection = common::connect_raw().await.expect("raw connection");
    for name in options.queue_names("retired") {
        let channel = connection.create_channel().await.expect("channel");
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        assert!(
            channel
                .queue_declare(name.as_str().into(), passive, FieldTable::default())
                .await
                .is_err(),
            "{name} is gone"
        );
    }
    let _ = connection.close(200, "OK".into()).await;
    bus.retire_consumer("retired").await.expect("retire again");
    bus.shutdown().await;
}
