//! What the adapter declares on the broker, and why each piece looks the way it does.
//!
//! - One durable **topic exchange**; an event's type (`movie.created`) is its routing key.
//! - Per consumer, one durable **quorum queue** `<prefix>.<consumer>` bound to each event
//!   type it handles. Quorum queues keep a confirmed message through a broker restart (and
//!   replicate it in a cluster), and replicas of a consumer share the queue as competing
//!   consumers. Its `x-delivery-limit` dead-letters a message that was delivered too often
//!   without an answer (a handler that crashes its process) to the dead-letter queue.
//! - Per consumer and retry delay, a **retry queue** `<prefix>.<consumer>.retry.<ms>ms`: a
//!   quorum queue with that message TTL, dead-lettering expired messages back into the
//!   consumer's queue (through the default exchange, so only this consumer sees the retry).
//!   One queue per delay keeps every message in it on the same TTL, so none waits behind a
//!   longer one. At-least-once dead-lettering keeps a message from being lost on its way
//!   back.
//! - Per consumer, a durable quorum **dead-letter queue** `<prefix>.<consumer>.dlq` holding
//!   what was rejected, kept failing or did not decode, with the reason in a header.
//!
//! Declarations are idempotent, so every connection (and every replica) declares everything
//! it uses; that is also how the topology comes back after a broker lost it. A queue that
//! already exists with other arguments (say, an older `delivery_limit`) is used as it is,
//! with a warning, rather than failing the connection: RabbitMQ cannot change a queue's
//! arguments, so the fix is a policy or deleting the queue, and meanwhile events flow.

use domain::events::EventType;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::types::{FieldTable, ShortString};
use lapin::{Channel, Connection, ErrorKind, ExchangeKind};

use crate::error::RabbitError;
use crate::headers::{QueueArg, millis, queue_args};
use crate::options::RabbitOptions;

fn short(name: &str) -> Result<ShortString, RabbitError> {
    ShortString::try_new(name).map_err(|e| RabbitError::Invalid(format!("name {name:?}: {e}")))
}

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

/// Declares the events exchange.
pub(crate) async fn declare_exchange(
    channel: &Channel,
    options: &RabbitOptions,
) -> Result<(), RabbitError> {
    channel
        .exchange_declare(
            short(&options.exchange)?,
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(RabbitError::amqp("exchange.declare"))
}

/// Declares a consumer's queues and binds its work queue to the event types, on a channel
/// of its own (a refused declaration closes the channel it was made on).
pub(crate) async fn declare_consumer(
    connection: &Connection,
    options: &RabbitOptions,
    consumer: &str,
    event_types: &[EventType],
) -> Result<(), RabbitError> {
    options.validate_consumer(consumer)?;
    let queue = options.queue_name(consumer);
    let dead_letters = options.dead_letter_queue_name(consumer);
    let mut declarer = Declarer {
        connection,
        channel: open(connection).await?,
    };

    declarer
        .queue(
            &dead_letters,
            queue_args(&[("x-queue-type", QueueArg::Text("quorum"))]),
        )
        .await?;
    for delay in &options.retry_delays {
        declarer
            .queue(
                &options.retry_queue_name(consumer, *delay),
                queue_args(&[
                    ("x-queue-type", QueueArg::Text("quorum")),
                    ("x-message-ttl", QueueArg::Int(millis(*delay))),
                    ("x-dead-letter-exchange", QueueArg::Text("")),
                    ("x-dead-letter-routing-key", QueueArg::Text(&queue)),
                    ("x-dead-letter-strategy", QueueArg::Text("at-least-once")),
                    ("x-overflow", QueueArg::Text("reject-publish")),
                ]),
            )
            .await?;
    }
    declarer
        .queue(
            &queue,
            queue_args(&[
                ("x-queue-type", QueueArg::Text("quorum")),
                (
                    "x-delivery-limit",
                    QueueArg::Int(i64::from(options.delivery_limit)),
                ),
                ("x-dead-letter-exchange", QueueArg::Text("")),
                ("x-dead-letter-routing-key", QueueArg::Text(&dead_letters)),
            ]),
        )
        .await?;

    declare_exchange(&declarer.channel, options).await?;
    for event_type in event_types {
        declarer
            .channel
            .queue_bind(
                short(&queue)?,
                short(&options.exchange)?,
                ShortString::from(event_type.as_str()),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(RabbitError::amqp("queue.bind"))?;
    }
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        declarer.channel.close(200, "OK".into()),
    )
    .await;
    Ok(())
}

async fn open(connection: &Connection) -> Result<Channel, RabbitError> {
    connection
        .create_channel()
        .await
        .map_err(RabbitError::amqp("channel.open"))
}

struct Declarer<'a> {
    connection: &'a Connection,
    channel: Channel,
}

impl Declarer<'_> {
    async fn queue(&mut self, name: &str, arguments: FieldTable) -> Result<(), RabbitError> {
        let declared = self
            .channel
            .queue_declare(short(name)?, durable(), arguments)
            .await;
        match declared {
            Ok(_) => Ok(()),
            Err(error) if precondition_failed(&error) => {
                tracing::warn!(
                    queue = name,
                    %error,
                    "the queue exists with other arguments; using it as it is \
                     (apply the new ones with a policy, or delete the queue)"
                );
                self.channel = open(self.connection).await?;
                self.channel
                    .queue_declare(
                        short(name)?,
                        QueueDeclareOptions {
                            passive: true,
                            ..QueueDeclareOptions::default()
                        },
                        FieldTable::default(),
                    )
                    .await
                    .map(|_| ())
                    .map_err(RabbitError::amqp("queue.declare (passive)"))
            }
            Err(error) => Err(RabbitError::amqp("queue.declare")(error)),
        }
    }
}

fn precondition_failed(error: &lapin::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::ProtocolError(e)
            if matches!(e.kind(), AMQPErrorKind::Soft(AMQPSoftError::PRECONDITIONFAILED))
    )
}
