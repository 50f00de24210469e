//! How many requests of one shape a DynamoDB endpoint answers per second, with no MovieBook
//! process in the way: the ceiling the emulator itself sets for `scripts/bench --lag`
//! (docs/performance.md). Each shape runs alone for the given seconds with `concurrency`
//! requests in flight, on a table of its own.
//!
//! `cargo run --release -p store-dynamodb --example ceiling -- ENDPOINT [SECONDS] [CONCURRENCY]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use store::{Condition, Item, Key, Store, Write};
use store_dynamodb::{DynamoConfig, DynamoStore};

/// The request shapes measured: a point read, a single put, and transactions of the sizes
/// MovieBook's review write and the reviews projection commit.
const SHAPES: [(&str, usize); 5] = [
    ("get", 0),
    ("put", 1),
    ("transaction of 2 items", 2),
    ("transaction of 6 items", 6),
    ("transaction of 12 items", 12),
];

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let endpoint = args
        .next()
        .ok_or("usage: ceiling ENDPOINT [SECONDS] [CONCURRENCY]")?;
    let seconds: u64 = args.next().map_or(Ok(10), |s| s.parse())?;
    let concurrency: usize = args.next().map_or(Ok(32), |s| s.parse())?;
    for (shape, items) in SHAPES {
        let table = format!("ceiling-{}", uuid::Uuid::now_v7().simple());
        let store: Arc<dyn Store> = Arc::new(
            DynamoStore::connect(DynamoConfig::new(table).with_endpoint(&endpoint)).await?,
        );
        // The read finds an item; writes go to keys of their own, as reviews of many movies do.
        store.transact(vec![put("read", 0)]).await?;
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let workers = (0..concurrency).map(|worker| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut n = 0usize;
                while Instant::now() < deadline {
                    let started = Instant::now();
                    let outcome = if items == 0 {
                        store.get(&Key::new("read#0", "item")).await.map(drop)
                    } else {
                        let writes = (0..items)
                            .map(|i| put(&format!("w{worker}-{n}"), i))
                            .collect();
                        store.transact(writes).await
                    };
                    outcome?;
                    latencies.push(started.elapsed());
                    n += 1;
                }
                Ok::<_, store::StoreError>(latencies)
            })
        });
        let mut latencies = Vec::new();
        for worker in futures::future::join_all(workers).await {
            latencies.extend(worker??);
        }
        latencies.sort();
        let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
        println!(
            "{shape}: {:.0} requests/s ({:.0} items/s), p50 {:.1} ms, p99 {:.1} ms",
            latencies.len() as f64 / seconds as f64,
            (latencies.len() * items.max(1)) as f64 / seconds as f64,
            at(0.5).as_secs_f64() * 1000.0,
            at(0.99).as_secs_f64() * 1000.0,
        );
    }
    Ok(())
}

/// A put of item `index` of the write `name`, each to a partition of its own.
fn put(name: &str, index: usize) -> Write {
    let attrs = json!({ "n": index, "text": "a review's worth of attributes" })
        .as_object()
        .cloned()
        .unwrap_or_default();
    Write::Put {
        item: Item::new(Key::new(format!("{name}#{index}"), "item"), attrs),
        condition: Condition::Always,
    }
}
