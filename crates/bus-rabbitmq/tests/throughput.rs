//! A measurement, not a check: how fast events go through the real broker, published in
//! batches as the outbox relay does and consumed with the default prefetch. Ignored by
//! default; run it with
//! `cargo test --release -p bus-rabbitmq --test throughput -- --ignored --nocapture`.

mod common;

use std::time::{Duration, Instant};

use bus::{Bus, Subscription};
use bus_rabbitmq::RabbitBus;
use common::{BrokerLock, Cleanup, Recorder, event, eventually, url};
use domain::events::{Envelope, EventType};

const EVENTS: usize = 20_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run it on purpose"]
async fn measure_publish_and_consume_rates() {
    let _lock = BrokerLock::shared();
    for batch in [1usize, 100, 1000] {
        let options = common::options();
        let _cleanup = Cleanup::new(&options, &["bench"]);
        let bus = RabbitBus::connect(&url(), options.clone()).await.unwrap();
        let handler = Recorder::done();
        // Declared without a consumer first, so publishing is measured alone.
        bus.declare_consumer("bench", &[EventType::UserDeleted], false)
            .await
            .unwrap();
        let count = if batch == 1 { EVENTS / 10 } else { EVENTS };
        let events: Vec<Envelope> = (0..count).map(|_| event()).collect();
        let started = Instant::now();
        for chunk in events.chunks(batch) {
            bus.publish(chunk).await.unwrap();
        }
        let publishing = started.elapsed();
        let started = Instant::now();
        bus.subscribe(Subscription {
            consumer: "bench".into(),
            event_types: vec![EventType::UserDeleted],
            handler: handler.clone(),
            partitioned: false,
        })
        .await
        .unwrap();
        assert!(eventually(Duration::from_secs(120), || handler.calls() == count).await);
        let consuming = started.elapsed();
        eprintln!(
            "batch {batch:>4}: published {count} in {publishing:?} ({:.0}/s); consumed in {consuming:?} ({:.0}/s)",
            count as f64 / publishing.as_secs_f64(),
            count as f64 / consuming.as_secs_f64(),
        );
        bus.shutdown().await;
    }
}
