//! Watching: a process's own, at-most-once view of published events (the bus port's
//! `watch`). Each watch has a queue of its own, `<prefix>.watch.<unique>`: exclusive (only
//! this connection may use it) and auto-deleted, so it lives exactly as long as the
//! connection it was declared on and never piles up events for a process that is gone. It
//! is bound to the events exchange for the watched types and consumed without acks — a
//! missed event is what `resync` is for, so redelivery would buy nothing.
//!
//! A task per watch follows the supervisor's session: whenever a new session appears (after
//! every reconnect), or the watch's channel dies on a live session, it declares a fresh
//! queue, starts consuming, and tells the watcher to resync before the first event — the
//! events published while no queue was bound are gone.

use std::sync::Arc;
use std::time::Duration;

use bus::Watcher;
use domain::events::{Envelope, EventType};
use futures::StreamExt;
use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{FieldTable, ShortString};
use uuid::Uuid;

use crate::error::RabbitError;
use crate::options::RabbitOptions;
use crate::supervisor::{Session, Shared};
use crate::topology;

/// The pause before declaring the watch again on a session whose channel for it closed
/// (say, an operator deleted the queue), so a persistent refusal does not spin.
const RESTART_PAUSE: Duration = Duration::from_millis(200);

/// A watch consuming on one session.
pub(crate) struct Started {
    generation: u64,
    deliveries: lapin::Consumer,
}

/// Declares the watch's queue on `session` and starts consuming it; the watcher is told to
/// resync before anything is delivered.
pub(crate) async fn start(
    shared: &Shared,
    session: &Session,
    event_types: &[EventType],
    watcher: &dyn Watcher,
) -> Result<Started, RabbitError> {
    let options = &shared.options;
    let declaring = async {
        let channel = session
            .connection
            .create_channel()
            .await
            .map_err(RabbitError::amqp("channel.open"))?;
        topology::declare_exchange(&channel, options).await?;
        let queue = format!("{}.watch.{}", options.queue_prefix, Uuid::now_v7().simple());
        let queue = ShortString::try_new(queue.as_str())
            .map_err(|e| RabbitError::Invalid(format!("queue name {queue:?}: {e}")))?;
        let private = QueueDeclareOptions {
            exclusive: true,
            auto_delete: true,
            ..QueueDeclareOptions::default()
        };
        channel
            .queue_declare(queue.clone(), private, FieldTable::default())
            .await
            .map_err(RabbitError::amqp("queue.declare"))?;
        for event_type in event_types {
            channel
                .queue_bind(
                    queue.clone(),
                    ShortString::try_new(options.exchange.as_str())
                        .map_err(|e| RabbitError::Invalid(e.to_string()))?,
                    ShortString::from(RabbitOptions::every_partition(*event_type)),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(RabbitError::amqp("queue.bind"))?;
        }
        let unacknowledged = BasicConsumeOptions {
            no_ack: true,
            exclusive: true,
            ..BasicConsumeOptions::default()
        };
        channel
            .basic_consume(
                queue,
                ShortString::from(""),
                unacknowledged,
                FieldTable::default(),
            )
            .await
            .map_err(RabbitError::amqp("basic.consume"))
    };
    let deliveries = tokio::time::timeout(options.connect_timeout, declaring)
        .await
        .map_err(|_| RabbitError::Timeout("declaring a watch"))??;
    // Deliveries wait in the consumer until the watcher has refreshed what it derives.
    watcher.resync().await;
    Ok(Started {
        generation: session.generation,
        deliveries,
    })
}

/// Shows the watcher every delivery for as long as the bus lives, starting the watch again
/// on every new session.
pub(crate) async fn run(
    shared: Arc<Shared>,
    event_types: Vec<EventType>,
    watcher: Arc<dyn Watcher>,
    first: Started,
) {
    let mut sessions = shared.live.subscribe();
    let mut running = first;
    loop {
        deliver(&shared, &mut running, &event_types, watcher.as_ref()).await;
        if shared.shutdown.is_cancelled() {
            return;
        }
        // The watch's channel closed: wait for an open session (the same one, if only the
        // channel died; the next one after a reconnect) and start again on it.
        let last = running.generation;
        running = loop {
            let session = tokio::select! {
                () = shared.shutdown.cancelled() => return,
                session = open_session(&shared, &mut sessions) => session,
            };
            let restarted = start(&shared, &session, &event_types, watcher.as_ref()).await;
            match restarted {
                Ok(started) => {
                    metrics::counter!("moviebook_bus_watch_restarts_total").increment(1);
                    tracing::info!(
                        generation = started.generation,
                        "watching events again; the watcher resynced"
                    );
                    break started;
                }
                Err(error) => {
                    tracing::warn!(generation = last, %error, "cannot watch events yet");
                    tokio::select! {
                        () = shared.shutdown.cancelled() => return,
                        () = tokio::time::sleep(RESTART_PAUSE) => {}
                    }
                }
            }
        };
    }
}

/// Hands deliveries to the watcher until the watch's channel closes or the bus shuts down.
async fn deliver(
    shared: &Shared,
    running: &mut Started,
    event_types: &[EventType],
    watcher: &dyn Watcher,
) {
    loop {
        let next = tokio::select! {
            () = shared.shutdown.cancelled() => return,
            next = running.deliveries.next() => next,
        };
        let delivery = match next {
            Some(Ok(delivery)) => delivery,
            Some(Err(error)) => {
                tracing::info!(generation = running.generation, %error, "the watch stopped");
                return;
            }
            None => return,
        };
        match serde_json::from_slice::<Envelope>(&delivery.data) {
            Ok(envelope) if event_types.contains(&envelope.event.event_type()) => {
                watcher.saw(&envelope).await;
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(routing_key = %delivery.routing_key, %error, "a watched message is not an event envelope");
            }
        }
    }
}

/// The open session to watch on, waiting for the supervisor to (re)connect if needed.
async fn open_session(
    shared: &Shared,
    sessions: &mut tokio::sync::watch::Receiver<Option<Arc<Session>>>,
) -> Arc<Session> {
    loop {
        if let Ok(session) = shared.session() {
            return session;
        }
        // Woken by the next session the supervisor publishes; checked again now and then in
        // case the current one closed without the supervisor noticing yet.
        let _ = tokio::time::timeout(RESTART_PAUSE, sessions.changed()).await;
    }
}
