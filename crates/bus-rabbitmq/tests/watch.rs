//! Watching on RabbitMQ: a watcher sees what is published, is told to resync when its watch
//! starts, and — after the broker closed the bus's connection — is told to resync again and
//! sees what is published afterwards. Only this test's own connection is closed (found by its
//! name), so the test shares the broker with the others.

mod common;

use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bus::{Bus, Watcher};
use bus_rabbitmq::RabbitBus;
use common::{BrokerLock, Cleanup, event, eventually, options, url};
use domain::events::{Envelope, EventType};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Default)]
struct Seen {
    resyncs: AtomicU32,
    events: Mutex<Vec<Uuid>>,
}

impl Seen {
    fn saw(&self, id: Uuid) -> bool {
        self.events.lock().unwrap().contains(&id)
    }
}

#[async_trait]
impl Watcher for Seen {
    async fn resync(&self) {
        self.resyncs.fetch_add(1, Ordering::SeqCst);
    }
    async fn saw(&self, envelope: &Envelope) {
        self.events.lock().unwrap().push(envelope.id);
    }
}

/// Closes the broker's connections whose client named itself `name`.
fn close_connections_named(name: &str) -> usize {
    let listed = Command::new("rabbitmqctl")
        .args(["-q", "list_connections", "pid", "client_properties"])
        .output()
        .expect("rabbitmqctl list_connections");
    let listing = String::from_utf8_lossy(&listed.stdout);
    let mut closed = 0;
    for line in listing.lines().filter(|line| line.contains(name)) {
        let Some(pid) = line.split_whitespace().next() else {
            continue;
        };
        let status = Command::new("rabbitmqctl")
            .args(["-q", "close_connection", pid, "watch test"])
            .status()
            .expect("rabbitmqctl close_connection");
        assert!(status.success(), "could not close {pid}");
        closed += 1;
    }
    closed
}

#[tokio::test]
async fn a_watcher_sees_published_events_and_resyncs_after_the_connection_drops() {
    let _lock = BrokerLock::shared();
    let options = options();
    // A consumer's queue so that publishing is routable before the watch exists too.
    let _cleanup = Cleanup::new(&options, &["keeper"]);
    let name = options.connection_name.clone();
    let bus = RabbitBus::connect(&url(), options).await.expect("connect");
    bus.declare_consumer("keeper", &[EventType::UserDeleted], false)
        .await
        .expect("declare");
    let seen = Arc::new(Seen::default());
    bus.watch(vec![EventType::UserDeleted], seen.clone())
        .await
        .expect("watch");
    assert_eq!(
        seen.resyncs.load(Ordering::SeqCst),
        1,
        "told to resync at start"
    );

    let before = event();
    bus.publish(std::slice::from_ref(&before))
        .await
        .expect("publish");
    assert!(
        eventually(Duration::from_secs(5), || seen.saw(before.id)).await,
        "the watcher did not see the event"
    );

    let closed = tokio::task::spawn_blocking(move || close_connections_named(&name))
        .await
        .expect("rabbitmqctl");
    assert_eq!(closed, 1, "the bus's connection was not found");
    assert!(
        eventually(Duration::from_secs(10), || seen
            .resyncs
            .load(Ordering::SeqCst)
            >= 2)
        .await,
        "the watcher was not told to resync after the reconnect"
    );

    // Published once the bus is back (the outbox relay retries the same way).
    let after = event();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while bus.publish(std::slice::from_ref(&after)).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the bus did not come back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        eventually(Duration::from_secs(5), || seen.saw(after.id)).await,
        "the watcher did not see an event published after the reconnect"
    );
    assert_eq!(
        seen.events
            .lock()
            .unwrap()
            .iter()
            .filter(|id| **id == before.id)
            .count(),
        1,
        "an event was shown twice"
    );
    bus.shutdown().await;
}
