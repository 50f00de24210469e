//! The RabbitMQ adapter of the bus port, for the distributed deployment: events go through
//! a durable topic exchange into one durable quorum queue per consumer, which every replica
//! of that consumer shares — or, for a partitioned consumer, into one queue per partition
//! of the events' keys, each consumed by one replica at a time (see `topology` for the whole
//! layout).
//!
//! It keeps the port's promises with the broker's tools:
//! - `publish` returns `Ok` only when the broker has confirmed every message of the batch
//!   (persistent, routed to at least one queue), so the outbox forgets only what the broker
//!   has stored;
//! - consumers ack only after the handler's outcome is settled; `Retry` waits in a retry
//!   queue (one per configured delay, 1 s growing to a minute by default, never zero: no hot
//!   loop), and what keeps failing, is rejected, or does not decode goes to the consumer's
//!   dead-letter queue with its reason — never blocking the queue;
//! - a supervisor task owns the connection and rebuilds everything after a drop or a broker
//!   restart; meanwhile `publish` answers `Unavailable` at once so the outbox keeps its
//!   records.
//!
//! Delivery is at least once: consumers are idempotent (architecture, write path step 3).
//! Watches (`watch`) are the exception: at most once, on a private queue per process that
//! is declared again after every reconnect, with the watcher told to resync each time.

mod consumer;
mod dead_letters;
mod error;
mod headers;
mod options;
mod publisher;
mod supervisor;
mod topology;
mod watching;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bus::{Bus, BusError, Subscription, Watcher};
use domain::events::{Envelope, EventType};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use dead_letters::DeadLetter;
pub use error::RabbitError;
pub use headers::{
    ATTEMPT as ATTEMPT_HEADER, CONSUMER as CONSUMER_HEADER, REASON as REASON_HEADER,
};
pub use options::RabbitOptions;

use supervisor::{Command, Shared};

/// The RabbitMQ bus. Clones share one connection; the connection closes when `shutdown` is
/// called or the last clone is dropped.
#[derive(Clone)]
pub struct RabbitBus {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    commands: mpsc::Sender<Command>,
    supervisor: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Dropped without `shutdown`: stop at once, like a process that dies. The connection
        // closes, and what was delivered but not acknowledged goes back to the queues.
        self.shared.abandoned.store(true, Ordering::SeqCst);
        self.shared.shutdown.cancel();
    }
}

impl RabbitBus {
    /// Connects to `url` (`amqp://user:password@host:port/vhost`) and declares the exchange.
    /// Fails with `Unavailable` if the broker cannot be reached now; once connected, the bus
    /// reconnects by itself for as long as it lives.
    pub async fn connect(url: &str, options: RabbitOptions) -> Result<Self, BusError> {
        options.validate()?;
        let (live, _) = watch::channel(None);
        let shared = Arc::new(Shared {
            url: url.to_owned(),
            options: Arc::new(options),
            live,
            shutdown: CancellationToken::new(),
            abandoned: AtomicBool::new(false),
            deliveries: TaskTracker::new(),
        });
        let first = supervisor::establish(&shared, 1, &[]).await?;
        let (commands, receiver) = mpsc::channel(16);
        shared.live.send_replace(Some(first.session()));
        let task = tokio::spawn(supervisor::run(shared.clone(), receiver, first));
        Ok(RabbitBus {
            inner: Arc::new(Inner {
                shared,
                commands,
                supervisor: Mutex::new(Some(task)),
            }),
        })
    }

    /// Stops consuming, lets in-flight handlers finish and acknowledge (up to the options'
    /// `shutdown_grace`), then closes the connection. Publishing afterwards fails with
    /// `Unavailable`. Calling it again does nothing.
    pub async fn shutdown(&self) {
        self.inner.shared.shutdown.cancel();
        let task = self
            .inner
            .supervisor
            .lock()
            .map(|mut task| task.take())
            .unwrap_or_default();
        if let Some(task) = task
            && let Err(error) = task.await
        {
            tracing::warn!(%error, "the RabbitMQ supervisor ended abnormally");
        }
    }

    /// Declares a consumer's queues and bindings without consuming, so that events published
    /// before any replica of the consumer has started are kept for it rather than returned
    /// as unroutable.
    pub async fn declare_consumer(
        &self,
        consumer: &str,
        event_types: &[EventType],
        partitioned: bool,
    ) -> Result<(), RabbitError> {
        let session = self.shared().session()?;
        topology::declare_consumer(
            &session.connection,
            &self.shared().options,
            consumer,
            event_types,
            partitioned,
        )
        .await
    }

    /// Deletes every queue of a consumer that no longer exists, with what they hold (the
    /// consumer's events, retries and dead letters). Deleting a queue that is not there is
    /// no error, so this runs at every start.
    pub async fn retire_consumer(&self, consumer: &str) -> Result<(), RabbitError> {
        let session = self.shared().session()?;
        topology::delete_consumer(&session.connection, &self.shared().options, consumer).await
    }

    /// The settings this bus runs with (and so the names of its exchange and queues).
    pub fn options(&self) -> &RabbitOptions {
        &self.inner.shared.options
    }

    /// How many times the bus has connected since it was created (1 before any reconnect).
    pub fn connection_generation(&self) -> Option<u64> {
        self.inner
            .shared
            .live
            .borrow()
            .as_ref()
            .map(|session| session.generation)
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }
}

#[async_trait]
impl Bus for RabbitBus {
    async fn publish(&self, envelopes: &[Envelope]) -> Result<(), BusError> {
        if envelopes.is_empty() {
            return Ok(());
        }
        let session = self.shared().session()?;
        let options = &self.shared().options;
        publisher::publish_events(&session.publisher, options, envelopes)
        .await
        .map_err(|error| {
            tracing::warn!(%error, events = envelopes.len(), "publish failed; the outbox keeps the events");
            BusError::from(error)
        })
    }

    async fn subscribe(&self, subscription: Subscription) -> Result<(), BusError> {
        let options = &self.shared().options;
        options.validate_consumer(&subscription.consumer)?;
        self.shared().session()?;
        let (reply, answer) = oneshot::channel();
        self.inner
            .commands
            .send(Command::Subscribe {
                subscription,
                reply,
            })
            .await
            .map_err(|_| RabbitError::NotConnected("the bus is shut down"))?;
        let wait = options.connect_timeout + options.publish_timeout;
        match tokio::time::timeout(wait, answer).await {
            Ok(Ok(result)) => result.map_err(BusError::from),
            Ok(Err(_)) => Err(RabbitError::NotConnected("the bus is shut down").into()),
            Err(_) => Err(RabbitError::Timeout("subscribe").into()),
        }
    }

    async fn watch(
        &self,
        event_types: Vec<EventType>,
        watcher: Arc<dyn Watcher>,
    ) -> Result<(), BusError> {
        let session = self.shared().session()?;
        let first =
            watching::start(self.shared(), &session, &event_types, watcher.as_ref()).await?;
        tokio::spawn(watching::run(
            self.inner.shared.clone(),
            event_types,
            watcher,
            first,
        ));
        Ok(())
    }

    async fn ping(&self) -> Result<(), BusError> {
        let session = self.shared().session()?;
        if session.publisher.status().connected() {
            Ok(())
        } else {
            Err(RabbitError::NotConnected("the publishing channel closed").into())
        }
    }
}
