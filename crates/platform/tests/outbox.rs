//! The outbox relay on a real SQLite store and the in-process bus: what a process commits is
//! published without reading the store, what an earlier run left is published at start,
//! what another process left is swept up after its grace, and an idle relay reads one shard
//! per sweep — counted by its labelled store's metrics, not timed (time is paused and moved by hand).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bus::memory::MemoryBus;
use bus::{Bus, Handler, Outcome, Subscription};
use domain::events::{Envelope, Event, EventType, UserDeleted};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use platform::dead_letters::StoredDeadLetters;
use platform::outbox::{OUTBOX_SHARDS, Outbox, record};
use store::{Key, Query, Store};
use store_sqlite::SqliteStore;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

/// The value of a `/metrics` series, 0 when it is not shown.
fn counted(metrics: &PrometheusHandle, series: &str) -> u64 {
    metrics
        .render()
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse::<u64>().ok())
        .unwrap_or(0)
}

#[derive(Default)]
struct Published(Mutex<Vec<Envelope>>);

#[async_trait]
impl Handler for Published {
    async fn handle(&self, envelope: &Envelope) -> Outcome {
        self.0.lock().unwrap().push(envelope.clone());
        Outcome::Done
    }
}

impl Published {
    fn ids(&self) -> Vec<uuid::Uuid> {
        self.0.lock().unwrap().iter().map(|e| e.id).collect()
    }
}

struct Fixture {
    _dir: TempDir,
    store: Arc<dyn Store>,
    /// The relay's store requests, as `/metrics` counts them.
    metrics: PrometheusHandle,
    outbox: Outbox,
    published: Arc<Published>,
    stop: CancellationToken,
}

impl Fixture {
    async fn new() -> Fixture {
        Fixture::open(tempfile::tempdir().unwrap()).await
    }

    /// A process on the store in `dir`, its relay running.
    async fn open(dir: TempDir) -> Fixture {
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.path().join("store.db")).unwrap());
        let bus = Arc::new(MemoryBus::new(Arc::new(StoredDeadLetters::new(
            store.clone(),
        ))));
        let published = Arc::new(Published::default());
        bus.subscribe(Subscription {
            consumer: "recorder".into(),
            event_types: vec![EventType::UserDeleted],
            handler: published.clone(),
            partitioned: false,
        })
        .await
        .unwrap();
        let outbox = Outbox::new(store.clone());
        let recorder = PrometheusBuilder::new().build_recorder();
        let metrics = recorder.handle();
        let relay = metrics::with_local_recorder(&recorder, || {
            outbox.labelled("relay").relay(bus, Duration::ZERO)
        });
        let stop = CancellationToken::new();
        tokio::spawn(relay.run(stop.clone()));
        Fixture {
            _dir: dir,
            store,
            metrics,
            outbox,
            published,
            stop,
        }
    }

    fn queries(&self) -> u64 {
        counted(
            &self.metrics,
            "moviebook_store_requests_total{operation=\"query\",caller=\"relay\"}",
        )
    }

    /// The records left in the outbox.
    async fn waiting(&self) -> usize {
        let mut waiting = 0;
        for shard in 0..OUTBOX_SHARDS {
            let page = self
                .store
                .query(&Query::prefix(format!("outbox#{shard}"), "", 100))
                .await
                .unwrap();
            waiting += page.items.len();
        }
        waiting
    }
}

fn event() -> Envelope {
    Envelope::new(Event::UserDeleted(UserDeleted {
        user_id: domain::ids::new_id(),
    }))
}

/// Lets the relay run until it waits (time is paused: it moves only as far as asked).
async fn settle() {
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn what_a_process_commits_is_published_without_reading_the_store() {
    let f = Fixture::new().await;
    settle().await;
    let after_start = f.queries();
    assert_eq!(
        after_start,
        u64::from(OUTBOX_SHARDS),
        "the start sweeps every shard once"
    );

    let events: Vec<Envelope> = (0..3).map(|_| event()).collect();
    f.outbox.commit(Vec::new(), &events[..2]).await.unwrap();
    f.outbox.commit(Vec::new(), &events[2..]).await.unwrap();
    settle().await;

    assert_eq!(
        f.published.ids(),
        events.iter().map(|e| e.id).collect::<Vec<_>>()
    );
    assert_eq!(
        f.queries(),
        after_start,
        "no read of the store to publish them"
    );
    assert_eq!(
        f.waiting().await,
        0,
        "their records are deleted once published"
    );
    f.stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn records_an_earlier_run_left_are_published_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let left: Vec<Envelope> = (0..150).map(|_| event()).collect();
    {
        // The earlier run committed, and died before its relay published.
        let store = SqliteStore::open(&dir.path().join("store.db")).unwrap();
        for envelope in &left {
            store
                .transact(vec![record(envelope).unwrap()])
                .await
                .unwrap();
        }
    }
    let f = Fixture::open(dir).await;
    settle().await;
    let mut got = f.published.ids();
    got.sort();
    let mut expected: Vec<_> = left.iter().map(|e| e.id).collect();
    expected.sort();
    assert_eq!(got, expected);
    assert_eq!(f.waiting().await, 0);
    f.stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn an_idle_relay_reads_one_shard_every_five_seconds_and_sweeps_up_old_records() {
    let f = Fixture::new().await;
    settle().await;
    let after_start = f.queries();

    // A minute with nothing committed: one query per sweep, a shard at a time.
    tokio::time::sleep(Duration::from_secs(60)).await;
    settle().await;
    let idle = f.queries() - after_start;
    assert!(
        (11..=13).contains(&idle),
        "{idle} queries in an idle minute"
    );

    // Records another process committed and did not publish: an old one is swept up within
    // a round of the shards, a young one is left to its own process for its grace.
    let mut orphan = event();
    orphan.occurred_at -= 60_000_000;
    let young = event();
    for envelope in [&orphan, &young] {
        f.store
            .transact(vec![record(envelope).unwrap()])
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_secs(5 * u64::from(OUTBOX_SHARDS))).await;
    settle().await;
    assert_eq!(f.published.ids(), [orphan.id]);
    assert_eq!(f.waiting().await, 1, "the young record waits");
    f.stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_clean_stop_publishes_what_was_committed() {
    let f = Fixture::new().await;
    settle().await;
    let envelope = event();
    // Committed as the stop comes, before the relay had a turn.
    f.outbox
        .commit(Vec::new(), std::slice::from_ref(&envelope))
        .await
        .unwrap();
    f.stop.cancel();
    settle().await;
    assert_eq!(f.published.ids(), [envelope.id]);
}

#[tokio::test]
async fn a_relabelled_outbox_counts_under_its_new_caller_only() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("store.db")).unwrap());
    let recorder = PrometheusBuilder::new().build_recorder();
    let metrics = recorder.handle();
    let relay = metrics::with_local_recorder(&recorder, || {
        Outbox::new(store).labelled("api").labelled("relay")
    });

    relay.store().get(&Key::new("p", "a")).await.expect("read");

    let gets = |caller: &str| {
        let series =
            format!("moviebook_store_requests_total{{operation=\"get\",caller=\"{caller}\"}}");
        counted(&metrics, &series)
    };
    assert_eq!(gets("relay"), 1);
    assert_eq!(gets("api"), 0);
}

/// A bus that refuses every publish while it is down, as a broker that is not there.
#[derive(Default)]
struct Unreliable {
    down: std::sync::atomic::AtomicBool,
    published: Published,
}

#[async_trait]
impl Bus for Unreliable {
    async fn publish(&self, envelopes: &[Envelope]) -> Result<(), bus::BusError> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(bus::BusError::Unavailable("down for the test".into()));
        }
        for envelope in envelopes {
            self.published.handle(envelope).await;
        }
        Ok(())
    }

    async fn subscribe(&self, _: Subscription) -> Result<(), bus::BusError> {
        Ok(())
    }

    async fn watch(
        &self,
        _: Vec<EventType>,
        _: Arc<dyn bus::Watcher>,
    ) -> Result<(), bus::BusError> {
        Ok(())
    }

    async fn ping(&self) -> Result<(), bus::BusError> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn the_backlog_counts_every_committed_event_not_yet_published_also_past_what_memory_holds() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let metrics = recorder.handle();
    // The test's runtime has one thread, so the relay's task records here too.
    let _recording = metrics::set_default_local_recorder(&recorder);
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("store.db")).unwrap());
    let bus = Arc::new(Unreliable::default());
    bus.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let outbox = Outbox::new(store);
    let stop = CancellationToken::new();
    tokio::spawn(outbox.relay(bus.clone(), Duration::ZERO).run(stop.clone()));

    // More than the relay holds in memory (10,000), committed while the bus is down.
    let committed = 10_100;
    for _ in 0..committed / 100 {
        let events: Vec<Envelope> = (0..100).map(|_| event()).collect();
        outbox.commit(Vec::new(), &events).await.unwrap();
    }
    settle().await;
    let backlog = || counted(&metrics, "moviebook_outbox_backlog");
    assert_eq!(backlog(), committed);

    bus.down.store(false, std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(10)).await;
    settle().await;
    let mut published = bus.published.ids();
    published.sort();
    published.dedup();
    assert_eq!(published.len() as u64, committed);
    assert_eq!(backlog(), 0);
    stop.cancel();
}
