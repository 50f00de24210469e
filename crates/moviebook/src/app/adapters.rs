//! The ports' adapters a configuration picks: the store (SQLite or DynamoDB), the bus
//! (in-process or RabbitMQ) and, for the services that serve pictures, the object store (files
//! or S3), opened before any role is assembled on them.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use backon::{ExponentialBuilder, Retryable};
use bus::Bus;
use bus::memory::MemoryBus;
use bus_rabbitmq::{RabbitBus, RabbitOptions};
use domain::events::EventType;
use objects::{ObjectError, ObjectStore};
use objects_fs::FsObjectStore;
use objects_s3::{S3Config, S3ObjectStore};
use platform::dead_letters::StoredDeadLetters;
use store::{Store, StoreError};
use store_dynamodb::{DynamoConfig, DynamoStore};
use store_sqlite::SqliteStore;
use tokio::time::Instant;

use crate::config::{BusKind, Config, ImageStoreKind, StoreKind};

/// The folder of the data directory the file object store keeps pictures in.
pub const IMAGES_FOLDER: &str = "images";

/// How long start-up waits for DynamoDB (or S3) to answer: processes of a deployment may
/// start before their store does.
const STORE_START_DEADLINE: Duration = Duration::from_secs(30);

/// Pauses between start-up attempts to reach the store: short at first, since the store is
/// usually only a moment behind, growing to a few seconds; jittered so that the processes
/// of a deployment starting together do not knock in step.
const STORE_START_RETRY: ExponentialBuilder = ExponentialBuilder::new()
    .with_jitter()
    .with_min_delay(Duration::from_millis(100))
    .with_max_delay(Duration::from_secs(2))
    .without_max_times();

/// The store the configuration names, ready for use; and when it is SQLite, the same store
/// as itself, for the process to delete its expired items (DynamoDB deletes its own).
pub async fn open_store(
    config: &Config,
) -> anyhow::Result<(Arc<dyn Store>, Option<Arc<SqliteStore>>)> {
    Ok(match config.store {
        StoreKind::Sqlite => {
            let sqlite = Arc::new(
                SqliteStore::open(&config.data_dir.join(crate::data_dir::DATABASE))
                    .context("opening the SQLite store")?,
            );
            (sqlite.clone(), Some(sqlite))
        }
        StoreKind::Dynamodb => (Arc::new(connect_dynamodb(config).await?), None),
    })
}

/// The object store the configuration names, ready for use, when this process serves pictures
/// (`None` otherwise: the other roles never touch it, so need no S3 access).
pub async fn open_image_store(config: &Config) -> anyhow::Result<Option<Arc<dyn ObjectStore>>> {
    if !config.serves_pictures() {
        return Ok(None);
    }
    let store: Arc<dyn ObjectStore> = match config.image_store {
        ImageStoreKind::Fs => {
            let folder = config.data_dir.join(IMAGES_FOLDER);
            Arc::new(
                FsObjectStore::open(&folder)
                    .await
                    .with_context(|| format!("opening the picture folder {}", folder.display()))?,
            )
        }
        ImageStoreKind::S3 => {
            let mut s3 = S3Config::new(config.s3_bucket.clone());
            s3.aws.endpoint = config.s3_endpoint.clone();
            let store =
                while_unavailable(STORE_START_DEADLINE, || S3ObjectStore::connect(s3.clone()))
                    .await
                    .with_context(|| format!("opening the S3 bucket {}", config.s3_bucket))?;
            Arc::new(store)
        }
    };
    Ok(Some(store))
}

/// The bus the configuration names, and the RabbitMQ connection behind it if any, which
/// the application closes after its in-flight event handlers finish.
pub async fn connect_bus(
    config: &Config,
    store: &Arc<dyn Store>,
) -> anyhow::Result<(Arc<dyn Bus>, Option<Arc<RabbitBus>>)> {
    match config.bus {
        BusKind::Memory => {
            let shelf = StoredDeadLetters::new(store.clone());
            Ok((Arc::new(MemoryBus::new(Arc::new(shelf))), None))
        }
        BusKind::Rabbitmq => {
            let rabbit = Arc::new(
                RabbitBus::connect(&config.amqp_url, RabbitOptions::default())
                    .await
                    .context("connecting to RabbitMQ")?,
            );
            // Every consumer's queue exists before anything is published, whichever
            // process starts first: an event with no queue bound would be refused.
            for (consumer, event_types, partitioned) in consumers(config, store) {
                rabbit
                    .declare_consumer(&consumer, &event_types, partitioned)
                    .await
                    .with_context(|| format!("declaring the queue of {consumer}"))?;
            }
            for consumer in projector::RETIRED_CONSUMERS {
                rabbit
                    .retire_consumer(consumer)
                    .await
                    .with_context(|| format!("removing the queues of {consumer}"))?;
            }
            Ok((rabbit.clone(), Some(rabbit)))
        }
    }
}

/// Every consumer of the system with the event types it takes and whether it is
/// partitioned, whichever process runs it.
fn consumers(config: &Config, store: &Arc<dyn Store>) -> Vec<(String, Vec<EventType>, bool)> {
    projector::subscriptions(store.clone(), config.marker_retention())
        .into_iter()
        .map(|s| (s.consumer, s.event_types, s.partitioned))
        .chain(
            movies::consumers::CONSUMERS
                .iter()
                .chain([&actors::consumers::PHOTO_FILES])
                .map(|(name, types)| ((*name).to_owned(), types.to_vec(), false)),
        )
        .collect()
}

async fn connect_dynamodb(config: &Config) -> anyhow::Result<DynamoStore> {
    let mut dynamo = DynamoConfig::new(config.dynamodb_table.clone());
    dynamo.aws.endpoint = config.dynamodb_endpoint.clone();
    while_unavailable(STORE_START_DEADLINE, || {
        DynamoStore::connect(dynamo.clone())
    })
    .await
    .with_context(|| format!("opening the DynamoDB table {}", config.dynamodb_table))
}

/// An error that may only mean "not reachable yet", the one start-up waits out.
trait Unreachable: std::fmt::Display {
    fn is_unavailable(&self) -> bool;
}

impl Unreachable for StoreError {
    fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl Unreachable for ObjectError {
    fn is_unavailable(&self) -> bool {
        matches!(self, ObjectError::Unavailable(_))
    }
}

/// Repeats `attempt` while the store is unavailable, pausing as [`STORE_START_RETRY`] says,
/// until `deadline` from now: the last pause is cut short so that the last attempt is made
/// at the deadline, not after it. Any other failure ends it at once.
async fn while_unavailable<T, E, F>(deadline: Duration, attempt: impl FnMut() -> F) -> Result<T, E>
where
    E: Unreachable,
    F: Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + deadline;
    attempt
        .retry(STORE_START_RETRY)
        .when(|error| error.is_unavailable())
        .adjust(|_, pause| {
            let left = deadline.saturating_duration_since(Instant::now());
            pause
                .filter(|_| !left.is_zero())
                .map(|pause| pause.min(left))
        })
        .notify(|error, pause| {
            tracing::warn!(%error, ?pause, "not reachable yet; retrying");
        })
        .await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn an_unavailable_store_is_retried_until_the_deadline_and_no_longer() {
        let attempts = AtomicU32::new(0);
        let started = Instant::now();
        let result: Result<(), _> = while_unavailable(Duration::from_millis(400), || async {
            attempts.fetch_add(1, Ordering::SeqCst);
            Err(StoreError::Unavailable("not yet".into()))
        })
        .await;
        let waited = started.elapsed();
        assert!(matches!(result, Err(StoreError::Unavailable(_))));
        assert!(
            attempts.load(Ordering::SeqCst) >= 3,
            "pauses start short: {} attempts in 400 ms",
            attempts.load(Ordering::SeqCst)
        );
        assert!(
            waited >= Duration::from_millis(400) && waited < Duration::from_millis(900),
            "gave up after {waited:?}, the deadline was 400 ms"
        );
    }

    #[tokio::test]
    async fn a_store_that_comes_up_is_used() {
        let attempts = AtomicU32::new(0);
        let result = while_unavailable(Duration::from_secs(5), || async {
            match attempts.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Err(StoreError::Unavailable("starting".into())),
                _ => Ok("up"),
            }
        })
        .await;
        assert_eq!(result.ok(), Some("up"));
        assert_eq!(attempts.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn other_failures_are_not_retried() {
        let attempts = AtomicU32::new(0);
        let result: Result<(), _> = while_unavailable(Duration::from_secs(5), || async {
            attempts.fetch_add(1, Ordering::SeqCst);
            Err(StoreError::Invalid("a bad request".into()))
        })
        .await;
        assert!(matches!(result, Err(StoreError::Invalid(_))));
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
    }
}
