//! The in-process bus's dead letters in a real SQLite store: an event a consumer rejects is
//! kept across a restart, listed with its reason, replayed through the outbox to the
//! consumer (which takes it once the cause is fixed), or purged.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bus::memory::{DeadLetterShelf, MemoryBus};
use bus::{Bus, Handler, Outcome, Subscription};
use domain::events::{Envelope, Event, EventType, UserDeleted};
use platform::dead_letters::StoredDeadLetters;
use platform::outbox::Outboxes;
use store::Store;
use store_sqlite::SqliteStore;
use tokio_util::sync::CancellationToken;

/// Rejects every event until it is fixed; counts what it took.
#[derive(Default)]
struct Picky {
    fixed: AtomicBool,
    taken: AtomicU32,
}

#[async_trait]
impl Handler for Picky {
    async fn handle(&self, _: &Envelope) -> Outcome {
        if self.fixed.load(Ordering::SeqCst) {
            self.taken.fetch_add(1, Ordering::SeqCst);
            Outcome::Done
        } else {
            Outcome::Reject("picky refuses it".into())
        }
    }
}

/// A process: the store in `path`, the bus setting events aside in it, the picky consumer.
async fn process(path: &std::path::Path, picky: Arc<Picky>) -> (Arc<dyn Store>, MemoryBus) {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(path).unwrap());
    let bus = MemoryBus::new(Arc::new(StoredDeadLetters::new(store.clone())));
    bus.subscribe(Subscription {
        consumer: "picky".into(),
        event_types: vec![EventType::UserDeleted],
        handler: picky,
        partitioned: false,
    })
    .await
    .unwrap();
    (store, bus)
}

fn event() -> Envelope {
    Envelope::new(Event::UserDeleted(UserDeleted {
        user_id: domain::ids::new_id(),
    }))
}

#[tokio::test]
async fn a_rejected_event_is_kept_across_a_restart_listed_replayed_and_purged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let picky = Arc::new(Picky::default());
    let (first, second) = (event(), event());
    {
        let (_, bus) = process(&path, picky.clone()).await;
        // Set aside, and the publish goes on: the outbox is not held up by them.
        bus.publish(&[first.clone(), second.clone()]).await.unwrap();
    }

    // Another process (the CLI, or the server after a restart) finds them in the store.
    let (store, bus) = process(&path, picky.clone()).await;
    let letters = StoredDeadLetters::new(store.clone());
    let listed = letters.list("picky", 100).await.unwrap();
    let mut ids: Vec<_> = listed.iter().map(|l| l.envelope.id).collect();
    ids.sort();
    let mut expected = vec![first.id, second.id];
    expected.sort();
    assert_eq!(ids, expected);
    assert!(
        listed
            .iter()
            .all(|l| l.reason == "picky refuses it" && l.attempts == 1)
    );
    assert_eq!(letters.list("picky", 1).await.unwrap().len(), 1);
    assert!(letters.list("another", 100).await.unwrap().is_empty());
    assert_eq!(letters.waiting("picky").await.unwrap(), 2);
    assert_eq!(letters.waiting("another").await.unwrap(), 0);
    let unknown = event().id;
    assert_eq!(letters.purge("picky", Some(&[unknown])).await.unwrap(), 0);

    // The cause is fixed; one is replayed: back in the outbox, which the relay publishes.
    picky.fixed.store(true, Ordering::SeqCst);
    assert_eq!(letters.replay("picky", Some(&[first.id])).await.unwrap(), 1);
    assert_eq!(letters.replay("picky", Some(&[first.id])).await.unwrap(), 0);
    let stop = CancellationToken::new();
    let outboxes = Outboxes::new(store.clone());
    let _users = outboxes.of("users");
    tokio::spawn(
        outboxes
            .relay(Arc::new(bus), Duration::ZERO)
            .run(stop.clone()),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while picky.taken.load(Ordering::SeqCst) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the replay was not published"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    let left: Vec<_> = letters
        .list("picky", 100)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.envelope.id)
        .collect();
    assert_eq!(left, [second.id]);

    // The other is purged.
    assert_eq!(letters.purge("picky", None).await.unwrap(), 1);
    assert!(letters.list("picky", 100).await.unwrap().is_empty());
    assert_eq!(picky.taken.load(Ordering::SeqCst), 1);
}
