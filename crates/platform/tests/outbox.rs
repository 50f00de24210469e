//! The outbox relay on a real SQLite store and the in-process bus: what a process commits is
//! published without reading the store, what an earlier run left is published at start,
//! what another process of the same service left is swept up after its grace, an idle relay
//! reads one partition per sweep — counted by its labelled store's metrics, not timed (time
//! is paused and moved by hand) — and the relays of different services sharing one store
//! publish only their own services' records.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bus::memory::MemoryBus;
use bus::{Bus, Handler, Outcome, Subscription};
use domain::events::{Envelope, Event, EventType, UserDeleted};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use platform::dead_letters::StoredDeadLetters;
use platform::outbox::{OUTBOX_SHARDS, Outbox, Outboxes, record};
use store::{Key, Query, Store, Write};
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

/// The service the fixture's process plays unless a test says otherwise.
const SERVICE: &str = "users";

struct Fixture {
    _dir: Arc<TempDir>,
    store: Arc<dyn Store>,
    /// The relay's store requests, as `/metrics` counts them.
    metrics: PrometheusHandle,
    /// The outbox of [`SERVICE`], or of the first service the process plays.
    outbox: Outbox,
    services: Vec<&'static str>,
    published: Arc<Published>,
    stop: CancellationToken,
}

fn open_store(dir: &TempDir) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(&dir.path().join("store.db")).unwrap())
}

impl Fixture {
    async fn new() -> Fixture {
        Fixture::open(tempfile::tempdir().unwrap()).await
    }

    /// A process playing [`SERVICE`] on the store in `dir`, its relay running.
    async fn open(dir: TempDir) -> Fixture {
        let store = open_store(&dir);
        Fixture::playing(Arc::new(dir), store, &[SERVICE]).await
    }

    /// A process playing `services` on `store`, with a bus of its own, its relay running.
    async fn playing(
        dir: Arc<TempDir>,
        store: Arc<dyn Store>,
        services: &[&'static str],
    ) -> Fixture {
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
        let outboxes = Outboxes::new(store.clone());
        // As a process does: its services' outboxes first, then the relay that publishes them.
        let outbox = outboxes.of(services[0]);
        for service in &services[1..] {
            outboxes.of(service);
        }
        let recorder = PrometheusBuilder::new().build_recorder();
        let metrics = recorder.handle();
        let relay = metrics::with_local_recorder(&recorder, || outboxes.relay(bus, Duration::ZERO));
        let stop = CancellationToken::new();
        tokio::spawn(relay.run(stop.clone()));
        Fixture {
            _dir: dir,
            store,
            metrics,
            outbox,
            services: services.to_vec(),
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

    /// The records left in the outboxes of the process's services.
    async fn waiting(&self) -> usize {
        let mut waiting = 0;
        for service in &self.services {
            for shard in 0..OUTBOX_SHARDS {
                let partition = format!("outbox#{service}#{shard}");
                let page = self
                    .store
                    .query(&Query::prefix(partition, "", 100))
                    .await
                    .unwrap();
                waiting += page.items.len();
            }
        }
        waiting
    }
}

/// Puts a record of `envelope` in `service`'s outbox, as a process that died before
/// publishing it would have left it.
async fn leave(store: &dyn Store, service: &str, envelope: &Envelope) {
    store
        .transact(vec![record(service, envelope).unwrap()])
        .await
        .unwrap();
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
        2 * u64::from(OUTBOX_SHARDS),
        "the start sweeps every shard of its service's outbox once, and of the outbox \
         versions before shared"
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
        let store = open_store(&dir);
        for envelope in &left {
            leave(store.as_ref(), SERVICE, envelope).await;
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
        leave(f.store.as_ref(), SERVICE, envelope).await;
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
        Outboxes::new(store).of("api").labelled("relay")
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

#[tokio::test(start_paused = true)]
async fn relays_of_two_services_on_one_store_never_publish_each_others_records() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let store = open_store(&dir);
    let services = ["users", "actors"];
    // Every record each service gets, with its service.
    let mut written = Vec::new();
    // What each service's earlier run left: published at start.
    for service in services {
        let envelope = event();
        leave(store.as_ref(), service, &envelope).await;
        written.push((service, envelope.id));
    }
    let users = Fixture::playing(dir.clone(), store.clone(), &["users"]).await;
    let actors = Fixture::playing(dir, store.clone(), &["actors"]).await;
    settle().await;
    for f in [&users, &actors] {
        // What another process of the service left long ago: swept up past its grace ...
        let mut orphan = event();
        orphan.occurred_at -= 60_000_000;
        leave(store.as_ref(), f.services[0], &orphan).await;
        written.push((f.services[0], orphan.id));
        // ... and what the process itself commits.
        for _ in 0..3 {
            let envelope = event();
            f.outbox
                .commit(Vec::new(), std::slice::from_ref(&envelope))
                .await
                .unwrap();
            written.push((f.services[0], envelope.id));
        }
    }
    // Two rounds of every partition.
    tokio::time::sleep(Duration::from_secs(2 * 5 * u64::from(OUTBOX_SHARDS))).await;
    settle().await;

    for f in [&users, &actors] {
        let service = f.services[0];
        let mut expected: Vec<_> = written
            .iter()
            .filter(|(owner, _)| *owner == service)
            .map(|(_, id)| *id)
            .collect();
        expected.sort();
        let mut got = f.published.ids();
        got.sort();
        assert_eq!(
            got.len(),
            5,
            "{service} publishes each of its 5 records once"
        );
        assert_eq!(got, expected, "{service} publishes its own records only");
        assert_eq!(f.waiting().await, 0);
        f.stop.cancel();
    }
}

#[tokio::test(start_paused = true)]
async fn one_relay_publishes_every_service_its_process_plays_at_the_idle_cost_of_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    let services = ["movies", "users", "actors"];
    let mut left = Vec::new();
    for service in services {
        let envelope = event();
        leave(store.as_ref(), service, &envelope).await;
        left.push(envelope.id);
    }
    // A version before each service had its own outbox left one too.
    let shared = event();
    let Write::Put {
        mut item,
        condition,
    } = record("any", &shared).unwrap()
    else {
        panic!("an outbox record is a put");
    };
    item.key.pk = format!(
        "outbox#{}",
        u32::from(shared.id.as_bytes()[15]) % OUTBOX_SHARDS
    );
    store
        .transact(vec![Write::Put { item, condition }])
        .await
        .unwrap();
    left.push(shared.id);

    let f = Fixture::playing(Arc::new(dir), store, &services).await;
    settle().await;
    let mut got = f.published.ids();
    got.sort();
    left.sort();
    assert_eq!(
        got, left,
        "what each service and the shared outbox held, once"
    );
    assert_eq!(
        f.queries(),
        4 * u64::from(OUTBOX_SHARDS),
        "the start reads each partition once"
    );

    // Idle: still one partition per sweep, so three services cost what one does ...
    let after_start = f.queries();
    tokio::time::sleep(Duration::from_secs(60)).await;
    settle().await;
    let idle = f.queries() - after_start;
    assert!(
        (11..=13).contains(&idle),
        "{idle} queries in an idle minute"
    );

    // ... and every service's partitions take their turn.
    let mut orphans = Vec::new();
    for service in services {
        let mut orphan = event();
        orphan.occurred_at -= 60_000_000;
        leave(f.store.as_ref(), service, &orphan).await;
        orphans.push(orphan.id);
    }
    tokio::time::sleep(Duration::from_secs(5 * 3 * u64::from(OUTBOX_SHARDS))).await;
    settle().await;
    let published = f.published.ids();
    for orphan in orphans {
        assert_eq!(published.iter().filter(|id| **id == orphan).count(), 1);
    }
    assert_eq!(f.waiting().await, 0);
    f.stop.cancel();
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
    let outboxes = Outboxes::new(store);
    let outbox = outboxes.of(SERVICE);
    let stop = CancellationToken::new();
    tokio::spawn(
        outboxes
            .relay(bus.clone(), Duration::ZERO)
            .run(stop.clone()),
    );

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
