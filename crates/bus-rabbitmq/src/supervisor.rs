//! The supervisor: one task that owns the connection. It connects, declares the topology,
//! starts every subscription's consumer, then watches the connection and the channels it
//! depends on (checked at once on every error event, and periodically). When anything breaks it
//! withdraws the session — so `publish` answers `Unavailable` at once instead of hanging —
//! drops the connection, and reconnects with jittered exponential back-off, declaring the
//! topology and re-subscribing everything again. lapin's own recovery is not used: it does
//! not survive a broker restart, and a whole new connection is simpler to reason about.
//!
//! Subscriptions go through the supervisor too, so that the list it re-subscribes after a
//! reconnect is exactly the list that was running.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use backon::BackoffBuilder;
use bus::Subscription;
use futures::{Stream, StreamExt};
use lapin::options::ConfirmSelectOptions;
use lapin::{Channel, Connection, ConnectionProperties};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::consumer;
use crate::error::RabbitError;
use crate::options::RabbitOptions;
use crate::topology;

/// What the bus handles and the supervisor share.
pub(crate) struct Shared {
    pub url: String,
    pub options: Arc<RabbitOptions>,
    /// The open session, or none while (re)connecting or after shutdown.
    pub live: watch::Sender<Option<Arc<Session>>>,
    pub shutdown: CancellationToken,
    /// Set when the last handle was dropped without `shutdown`: stop without waiting.
    pub abandoned: AtomicBool,
    /// Every handler task in flight, so shutdown can wait for them.
    pub deliveries: TaskTracker,
}

impl Shared {
    pub fn session(&self) -> Result<Arc<Session>, RabbitError> {
        let session = self
            .live
            .borrow()
            .clone()
            .ok_or(RabbitError::NotConnected("reconnecting or shut down"))?;
        if session.connection.status().connected() {
            Ok(session)
        } else {
            Err(RabbitError::NotConnected("the connection closed"))
        }
    }
}

/// One connection and the publishing channel on it.
pub(crate) struct Session {
    pub generation: u64,
    pub connection: Connection,
    pub publisher: Channel,
}

pub(crate) enum Command {
    Subscribe {
        subscription: Subscription,
        reply: oneshot::Sender<Result<(), RabbitError>>,
    },
}

/// A session with its consumers, as the supervisor holds it.
pub(crate) struct Running {
    session: Arc<Session>,
    events: Pin<Box<dyn Stream<Item = lapin::Event> + Send>>,
    consumers: Vec<consumer::Running>,
    /// Stops this session's consumer loops.
    stop: CancellationToken,
}

impl Running {
    pub fn session(&self) -> Arc<Session> {
        self.session.clone()
    }
}

/// Opens a connection and sets up everything on it.
pub(crate) async fn establish(
    shared: &Shared,
    generation: u64,
    subscriptions: &[Subscription],
) -> Result<Running, RabbitError> {
    let options = &shared.options;
    let attempt = async {
        let properties = ConnectionProperties::default()
            .with_connection_name(options.connection_name.clone().into());
        let connection = Connection::connect(&shared.url, properties)
            .await
            .map_err(RabbitError::amqp("connect"))?;
        let events = Box::pin(connection.events_listener());
        let publisher = connection
            .create_channel()
            .await
            .map_err(RabbitError::amqp("channel.open"))?;
        publisher
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(RabbitError::amqp("confirm.select"))?;
        topology::declare_exchange(&publisher, options).await?;
        let stop = shared.shutdown.child_token();
        let mut consumers = Vec::with_capacity(subscriptions.len());
        for subscription in subscriptions {
            consumers.push(
                consumer::start(
                    &connection,
                    options,
                    subscription.clone(),
                    stop.child_token(),
                    shared.deliveries.clone(),
                )
                .await?,
            );
        }
        Ok(Running {
            session: Arc::new(Session {
                generation,
                connection,
                publisher,
            }),
            events,
            consumers,
            stop,
        })
    };
    tokio::time::timeout(options.connect_timeout, attempt)
        .await
        .map_err(|_| RabbitError::Timeout("connect and declare"))?
}

/// Why a session ended.
enum End {
    Broken(String),
    Shutdown,
}

/// Runs until shutdown: keeps a session open, reconnecting whenever it breaks.
pub(crate) async fn run(
    shared: Arc<Shared>,
    mut commands: mpsc::Receiver<Command>,
    first: Running,
) {
    let mut subscriptions: Vec<Subscription> = Vec::new();
    let mut running = first;
    let mut generation = running.session.generation;
    loop {
        shared.live.send_replace(Some(running.session.clone()));
        metrics::gauge!("moviebook_bus_connected").set(1.0);
        let end = watch_session(&shared, &mut running, &mut subscriptions, &mut commands).await;
        shared.live.send_replace(None);
        metrics::gauge!("moviebook_bus_connected").set(0.0);
        match end {
            End::Shutdown if shared.abandoned.load(Ordering::SeqCst) => {
                shared.deliveries.close();
                teardown(running, 200, "dropped").await;
                return;
            }
            End::Shutdown => {
                stop_gracefully(&shared, running).await;
                return;
            }
            End::Broken(why) => {
                tracing::warn!(generation, %why, "RabbitMQ connection lost; reconnecting");
                teardown(running, 320, "reconnecting").await;
            }
        }
        let mut pauses = shared.options.reconnect_backoff().build();
        running = loop {
            let attempt = tokio::select! {
                () = shared.shutdown.cancelled() => {
                    shared.deliveries.close();
                    return;
                }
                attempt = establish(&shared, generation + 1, &subscriptions) => attempt,
            };
            let pause = match attempt {
                Ok(running) => {
                    generation += 1;
                    metrics::counter!("moviebook_bus_reconnects_total").increment(1);
                    tracing::info!(
                        generation,
                        consumers = subscriptions.len(),
                        "RabbitMQ connection restored"
                    );
                    break running;
                }
                Err(error) => {
                    // The pauses never run out; were they to, the longest one would do.
                    let pause = pauses.next().unwrap_or(shared.options.reconnect_max);
                    tracing::warn!(generation, %error, ?pause, "cannot reconnect to RabbitMQ yet");
                    pause
                }
            };
            let deadline = tokio::time::Instant::now() + pause;
            // While disconnected, subscriptions are answered at once rather than queued.
            loop {
                tokio::select! {
                    () = shared.shutdown.cancelled() => {
                        shared.deliveries.close();
                        return;
                    }
                    () = tokio::time::sleep_until(deadline) => break,
                    Some(command) = commands.recv() => refuse(command),
                }
            }
        };
    }
}

fn refuse(command: Command) {
    match command {
        Command::Subscribe { reply, .. } => {
            let _ = reply.send(Err(RabbitError::NotConnected("reconnecting")));
        }
    }
}

async fn watch_session(
    shared: &Shared,
    running: &mut Running,
    subscriptions: &mut Vec<Subscription>,
    commands: &mut mpsc::Receiver<Command>,
) -> End {
    let mut tick = tokio::time::interval(shared.options.health_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shared.shutdown.cancelled() => return End::Shutdown,
            event = running.events.next() => match event {
                // Errors of a single channel (a refused declaration, an operator's basic.get
                // on a missing queue) come here too: only what breaks the session counts.
                Some(lapin::Event::Error(error)) => {
                    if let Some(why) = unhealthy(running) {
                        return End::Broken(format!("{why}: {error}"));
                    }
                    tracing::debug!(%error, "a RabbitMQ channel closed with an error");
                }
                Some(_) => {}
                None => return End::Broken("the connection's event stream ended".into()),
            },
            Some(command) = commands.recv() => match command {
                Command::Subscribe { subscription, reply } => {
                    let starting = consumer::start(
                        &running.session.connection,
                        &shared.options,
                        subscription.clone(),
                        running.stop.child_token(),
                        shared.deliveries.clone(),
                    );
                    let started = tokio::time::timeout(shared.options.connect_timeout, starting)
                        .await
                        .unwrap_or(Err(RabbitError::Timeout("subscribe")));
                    let answer = match started {
                        Ok(consumer) => {
                            running.consumers.push(consumer);
                            subscriptions.push(subscription);
                            Ok(())
                        }
                        Err(error) => Err(error),
                    };
                    let _ = reply.send(answer);
                }
            },
            _ = tick.tick() => {
                if let Some(why) = unhealthy(running) {
                    return End::Broken(why);
                }
            }
        }
    }
}

fn unhealthy(running: &Running) -> Option<String> {
    if !running.session.connection.status().connected() {
        return Some("the connection is not open".into());
    }
    if !running.session.publisher.status().connected() {
        return Some("the publishing channel closed".into());
    }
    running
        .consumers
        .iter()
        .find(|c| !c.healthy())
        .map(|c| format!("the consumer {} stopped", c.consumer))
}

/// Drops a broken session: its consumers stop, and the connection is closed if it still
/// pretends to be open. Handlers still running on it cannot ack; the broker redelivers.
async fn teardown(running: Running, code: u16, text: &str) {
    running.stop.cancel();
    for consumer in &running.consumers {
        consumer.task.abort();
    }
    let close = running.session.connection.close(code, text.into());
    let _ = tokio::time::timeout(Duration::from_secs(1), close).await;
}

/// Stops consuming, lets in-flight handlers finish (and ack), then closes the connection.
async fn stop_gracefully(shared: &Shared, running: Running) {
    running.stop.cancel();
    for consumer in running.consumers {
        if tokio::time::timeout(Duration::from_secs(3), consumer.task)
            .await
            .is_err()
        {
            tracing::warn!(consumer = %consumer.consumer, "consumer did not stop in time");
        }
    }
    shared.deliveries.close();
    if tokio::time::timeout(shared.options.shutdown_grace, shared.deliveries.wait())
        .await
        .is_err()
    {
        tracing::warn!("handlers still running at shutdown; their events are delivered again");
    }
    let close = running.session.connection.close(200, "shutdown".into());
    if let Ok(Err(error)) = tokio::time::timeout(Duration::from_secs(5), close).await {
        tracing::debug!(%error, "closing the RabbitMQ connection");
    }
    tracing::info!("RabbitMQ bus stopped");
}
