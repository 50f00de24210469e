//! The bus through broker outages: a stream of events is published the way the outbox relay
//! does it (retrying a batch while the bus says `Unavailable`) while every connection is
//! closed by the broker, and — separately — while the broker application stops and starts
//! again. Every event must be handled at least once, publish calls must fail fast during the
//! outage, and the same `RabbitBus` values must recover without being recreated.
//!
//! These tests disturb every client of the broker, so they take the broker lock exclusively
//! (every other RabbitMQ test holds it shared) and nextest runs them one at a time
//! (`.config/nextest.toml`). Whatever happens, the broker is left running.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bus::{Bus, Subscription};
use bus_rabbitmq::{RabbitBus, RabbitOptions};
use common::{BrokerLock, Cleanup, Recorder, event, eventually, url};
use domain::events::{Envelope, EventType};

const EVENTS: usize = 500;
const BATCH: usize = 5;
/// The disruption starts once this many events are published.
const DISRUPT_AFTER: usize = 150;

fn rabbitmqctl(args: &[&str]) -> bool {
    match Command::new("rabbitmqctl").args(args).output() {
        Ok(output) => {
            if !output.status.success() {
                eprintln!(
                    "rabbitmqctl {args:?} failed: {}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            output.status.success()
        }
        Err(error) => panic!("cannot run rabbitmqctl: {error}"),
    }
}

/// Starts the broker application again (and the node, if it is down), waiting until it
/// answers.
fn ensure_broker_running() {
    if !rabbitmqctl(&["-q", "start_app"]) {
        let _ = Command::new("rabbitmq-server").arg("-detached").status();
    }
    for _ in 0..60 {
        if rabbitmqctl(&["-q", "await_startup"]) {
            return;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    panic!("RabbitMQ did not come back");
}

/// Leaves the broker running even if the test fails half-way.
struct KeepBrokerRunning;

impl Drop for KeepBrokerRunning {
    fn drop(&mut self) {
        ensure_broker_running();
    }
}

#[derive(Clone, Copy, Debug)]
enum Disruption {
    CloseAllConnections,
    RestartBrokerApp,
}

async fn ctl(args: &'static [&'static str]) {
    let ok = tokio::task::spawn_blocking(move || rabbitmqctl(args))
        .await
        .expect("rabbitmqctl");
    assert!(ok, "rabbitmqctl {args:?} failed");
}

/// Disrupts the broker; while it is stopped, checks that the bus says so at once.
async fn disrupt(disruption: Disruption, bus: &RabbitBus) {
    match disruption {
        Disruption::CloseAllConnections => {
            ctl(&["-q", "close_all_connections", "test"]).await;
        }
        Disruption::RestartBrokerApp => {
            ctl(&["-q", "stop_app"]).await;
            let stopped = Instant::now();
            assert!(
                eventually(Duration::from_secs(2), || {
                    futures::executor::block_on(bus.ping()).is_err()
                })
                .await,
                "ping still answered with the broker stopped"
            );
            let started = Instant::now();
            let subscribed = bus
                .subscribe(Subscription {
                    consumer: "late".into(),
                    event_types: vec![EventType::UserDeleted],
                    handler: Recorder::done(),
                    partitioned: false,
                })
                .await;
            assert!(subscribed.is_err(), "subscribed with the broker stopped");
            assert!(started.elapsed() < Duration::from_secs(2), "subscribe hung");
            tokio::time::sleep(Duration::from_secs(2).saturating_sub(stopped.elapsed())).await;
            tokio::task::spawn_blocking(ensure_broker_running)
                .await
                .expect("start the broker");
        }
    }
}

struct PublishReport {
    /// Every event published, in order.
    events: Vec<Envelope>,
    unavailable: usize,
    slowest_call: Duration,
}

/// Publishes fresh events in batches, retrying a batch while the bus is unavailable — the
/// outbox relay's behaviour — until the disruption is over and at least `EVENTS` went out.
/// Publishing on until the disruption ends (rather than a fixed count) keeps calls landing
/// in the outage however long the broker takes to stop.
async fn publish_all(
    bus: RabbitBus,
    published: Arc<AtomicUsize>,
    disruption_over: Arc<AtomicBool>,
) -> PublishReport {
    let mut report = PublishReport {
        events: Vec::new(),
        unavailable: 0,
        slowest_call: Duration::ZERO,
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while !(disruption_over.load(Ordering::SeqCst) && report.events.len() >= EVENTS) {
        let batch: Vec<Envelope> = (0..BATCH).map(|_| event()).collect();
        loop {
            let started = Instant::now();
            let result = bus.publish(&batch).await;
            report.slowest_call = report.slowest_call.max(started.elapsed());
            match result {
                Ok(()) => break,
                Err(_) => {
                    report.unavailable += 1;
                    assert!(Instant::now() < deadline, "the bus never came back");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        report.events.extend(batch);
        published.store(report.events.len(), Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    report
}

async fn stream_through(disruption: Disruption) {
    let _lock = BrokerLock::exclusive();
    let _broker = KeepBrokerRunning;
    ensure_broker_running();
    let options = RabbitOptions {
        publish_timeout: Duration::from_secs(3),
        ..common::options()
    };
    let _cleanup = Cleanup::new(&options, &["projector"]);
    let connect = || async {
        RabbitBus::connect(&url(), options.clone())
            .await
            .expect("connect")
    };
    let publisher = connect().await;
    let (first, second) = (connect().await, connect().await);
    let (a, b) = (Recorder::done(), Recorder::done());
    for (bus, handler) in [(&first, &a), (&second, &b)] {
        bus.subscribe(Subscription {
            consumer: "projector".into(),
            event_types: vec![EventType::UserDeleted],
            handler: handler.clone(),
            partitioned: false,
        })
        .await
        .expect("subscribe");
    }

    let published = Arc::new(AtomicUsize::new(0));
    let disruption_over = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let publishing = tokio::spawn(publish_all(
        publisher.clone(),
        published.clone(),
        disruption_over.clone(),
    ));
    assert!(
        eventually(Duration::from_secs(30), || published.load(Ordering::SeqCst)
            >= DISRUPT_AFTER)
        .await
    );
    let disrupted_at = published.load(Ordering::SeqCst);
    disrupt(disruption, &second).await;
    disruption_over.store(true, Ordering::SeqCst);
    let report = publishing.await.expect("publisher");
    let events = &report.events;
    let handled_all = eventually(Duration::from_secs(60), || {
        let (seen_a, seen_b) = (a.seen(), b.seen());
        events
            .iter()
            .all(|e| seen_a.contains_key(&e.id) || seen_b.contains_key(&e.id))
    })
    .await;
    let elapsed = started.elapsed();
    let (seen_a, seen_b) = (a.seen(), b.seen());
    let missing = events
        .iter()
        .filter(|e| !seen_a.contains_key(&e.id) && !seen_b.contains_key(&e.id))
        .count();
    let deliveries: u32 = seen_a.values().chain(seen_b.values()).sum();
    eprintln!(
        "{disruption:?}: disrupted after {disrupted_at} published; {} events in {elapsed:?}; \
         {} publish calls answered Unavailable, slowest call {:?}; {deliveries} deliveries \
         ({} repeats); replicas handled {} and {}; connection generations {:?}/{:?}/{:?}",
        events.len(),
        report.unavailable,
        report.slowest_call,
        deliveries as usize - (events.len() - missing),
        seen_a.len(),
        seen_b.len(),
        publisher.connection_generation(),
        first.connection_generation(),
        second.connection_generation(),
    );
    assert!(
        handled_all,
        "{missing} of {} events never handled",
        events.len()
    );
    assert!(
        report.slowest_call < options.publish_timeout + Duration::from_secs(1),
        "a publish call hung for {:?}",
        report.slowest_call
    );
    if matches!(disruption, Disruption::RestartBrokerApp) {
        assert!(
            report.unavailable > 0,
            "publishing during a 2 s broker stop must have failed"
        );
    }
    // The same bus values reconnected by themselves.
    for bus in [&publisher, &first, &second] {
        assert!(
            eventually(Duration::from_secs(10), || bus
                .connection_generation()
                .is_some_and(|g| g > 1))
            .await,
            "a bus did not reconnect"
        );
        bus.ping().await.expect("ping after recovery");
    }
    // And they still work: a new event after the recovery is handled.
    let after = event();
    publisher
        .publish(std::slice::from_ref(&after))
        .await
        .expect("publish after recovery");
    assert!(
        eventually(Duration::from_secs(15), || a.times_seen(after.id)
            + b.times_seen(after.id)
            >= 1)
        .await
    );
    for bus in [publisher, first, second] {
        bus.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_event_is_lost_when_the_broker_closes_every_connection() {
    stream_through(Disruption::CloseAllConnections).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_event_is_lost_when_the_broker_restarts() {
    stream_through(Disruption::RestartBrokerApp).await;
}
