//! What the adapter declares on the broker, and why each piece looks the way it does.
//!
//! - One durable **topic exchange**; an event's routing key is its type and the partition of
//!   its key (`review.upserted.5`: `RabbitOptions::routing_key`, the movie for review events).
//! - Per consumer, one durable **quorum queue** `<prefix>.<consumer>` bound to each event
//!   type it handles, in every partition (`review.upserted.#`, which also takes a key
//!   published without a partition by an older version). Quorum queues keep a confirmed
//!   message through a broker restart (and replicate it in a cluster), and replicas of a
//!   consumer share the queue as competing consumers. Its `x-delivery-limit` dead-letters a
//!   message that was delivered too often without an answer (a handler that crashes its
//!   process) to the dead-letter queue.
//! - A **partitioned** consumer (one whose events of a key all rewrite one item: the movie
//!   scores) gets instead one quorum queue per partition, `<prefix>.<consumer>.p<i>`, bound
//!   to `<type>.<i>` and declared with `x-single-active-consumer`: every replica subscribes
//!   to every partition, the broker delivers each partition to one of them at a time and
//!   hands it to another when that one's channel closes (it died, or lost the broker). Each
//!   replica handles a partition's deliveries one after the other, so one movie's events
//!   never race for its tally, and its burst costs no conflicts and back-offs. The competing
//!   consumers of other consumers would let two replicas (and many handlers in each) write
//!   one movie's tally at once, which is what made a hot movie slow. Its plain queue
//!   `<prefix>.<consumer>` stays, bound to the bare type names, for what comes back without a
//!   partition: retries, dead letters replayed, events of an older publisher; its replicas
//!   compete for those, which the consumer's conditional writes make safe. Partitions do not
//!   spread over replicas by themselves (the first subscriber of a queue keeps it while it
//!   lives): one replica is the owner and the others stand by.
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
use lapin::options::{
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
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
    partitioned: bool,
) -> Result<(), RabbitError> {
    options.validate_consumer(consumer)?;
    let queue = options.queue_name(consumer);
    let dead_letters = options.dead_letter_queue_name(consumer);
    let mut declarer = Declarer {
        connection,
        options,
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
    let delivery_limit = i64::from(options.delivery_limit);
    let work_queue = |single_active: bool| {
        let mut args = vec![
            ("x-queue-type", QueueArg::Text("quorum")),
            ("x-delivery-limit", QueueArg::Int(delivery_limit)),
            ("x-dead-letter-exchange", QueueArg::Text("")),
            ("x-dead-letter-routing-key", QueueArg::Text(&dead_letters)),
        ];
        if single_active {
            args.push(("x-single-active-consumer", QueueArg::Bool(true)));
        }
        queue_args(&args)
    };
    declarer.queue(&queue, work_queue(false)).await?;
    declare_exchange(&declarer.channel, options).await?;
    if partitioned {
        for event_type in event_types {
            declarer.bind(&queue, event_type.as_str()).await?;
        }
        for partition in 0..options.partitions {
            let partition_queue = options.partition_queue_name(consumer, partition);
            declarer.queue(&partition_queue, work_queue(true)).await?;
            for event_type in event_types {
                let key = format!("{}.{partition}", event_type.as_str());
                declarer.bind(&partition_queue, &key).await?;
            }
        }
    } else {
        for event_type in event_types {
            let every_partition = RabbitOptions::every_partition(*event_type);
            declarer.bind(&queue, &every_partition).await?;
        }
    }
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        declarer.channel.close(200, "OK".into()),
    )
    .await;
    Ok(())
}

/// Deletes a consumer's queues (see [`crate::RabbitBus::retire_consumer`]).
pub(crate) async fn delete_consumer(
    connection: &Connection,
    options: &RabbitOptions,
    consumer: &str,
) -> Result<(), RabbitError> {
    options.validate_consumer(consumer)?;
    let channel = open(connection).await?;
    for queue in options.queue_names(consumer) {
        channel
            .queue_delete(short(&queue)?, QueueDeleteOptions::default())
            .await
            .map_err(RabbitError::amqp("queue.delete"))?;
    }
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        channel.close(200, "OK".into()),
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
    options: &'a RabbitOptions,
    channel: Channel,
}

impl Declarer<'_> {
    /// Binds a queue to the events exchange.
    async fn bind(&self, queue: &str, routing_key: &str) -> Result<(), RabbitError> {
        self.channel
            .queue_bind(
                short(queue)?,
                short(&self.options.exchange)?,
                short(routing_key)?,
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(RabbitError::amqp("queue.bind"))
    }

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
