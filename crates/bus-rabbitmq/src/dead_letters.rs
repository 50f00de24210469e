//! Operating a consumer's dead-letter queue: list what is in it (envelope and reason),
//! replay it into the consumer's queue once the cause is fixed, or purge it. A partitioned
//! consumer has one dead-letter queue for all its partitions, and replays go to its plain
//! queue, which its replicas share (see `topology`). This is the
//! library behind `moviebook dlq list|replay|purge --consumer NAME`.
//!
//! Listing takes messages without acknowledging them and closes its channel, which hands them
//! all back: the queue is unchanged. Replaying republishes a message (with a confirm) into
//! the consumer's work queue before acknowledging it in the dead-letter queue, so a failure
//! half-way can duplicate a message, never lose one. One call replays an event at most once,
//! so an event that fails again during the replay is not replayed in a loop.
//!
//! AMQP has no way to peek at a queue: messages looked at but left alone are taken without an
//! ack and handed back when the operation's channel closes; each operation waits until the
//! queue shows them again before it returns.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, Instant};

use domain::events::Envelope;
use domain::timestamp::Micros;
use lapin::Channel;
use lapin::message::BasicGetMessage;
use lapin::options::{
    BasicAckOptions, BasicGetOptions, ConfirmSelectOptions, QueueDeclareOptions, QueuePurgeOptions,
};
use lapin::types::{FieldTable, ShortString};
use uuid::Uuid;

use crate::RabbitBus;
use crate::error::RabbitError;
use crate::headers;
use crate::publisher::publish_to_queue;

/// A message in a consumer's dead-letter queue.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub consumer: String,
    /// The message id the publisher gave it (the event id), if any.
    pub message_id: Option<String>,
    /// The event, or `None` when the body is not an envelope (then see `body`).
    pub envelope: Option<Envelope>,
    /// The body as it was published.
    pub body: Vec<u8>,
    /// Why it was set aside: the handler's reason, "gave up after N attempts: ...", the
    /// decoding error, or what the broker said when it dead-lettered it itself.
    pub reason: String,
    /// How many times handlers failed it.
    pub attempts: u32,
    /// The routing key (event type and partition) it was published with.
    pub routing_key: Option<String>,
    /// When it was dead-lettered, if the adapter did it.
    pub dead_lettered_at: Option<Micros>,
}

impl DeadLetter {
    /// The event id: the envelope's, else the message id.
    pub fn id(&self) -> Option<Uuid> {
        self.envelope.as_ref().map(|e| e.id).or_else(|| {
            self.message_id
                .as_deref()
                .and_then(|id| Uuid::parse_str(id).ok())
        })
    }

    fn from_message(consumer: &str, message: &BasicGetMessage) -> DeadLetter {
        let delivery = &message.delivery;
        let properties = &delivery.properties;
        let reason = headers::get(properties, headers::REASON)
            .and_then(headers::text)
            .or_else(|| {
                headers::broker_death_reason(properties)
                    .map(|why| format!("dead-lettered by the broker: {why}"))
            })
            .unwrap_or_else(|| "unknown".into());
        DeadLetter {
            consumer: consumer.to_owned(),
            message_id: properties.message_id().as_ref().map(|id| id.to_string()),
            envelope: serde_json::from_slice(&delivery.data).ok(),
            body: delivery.data.clone(),
            reason,
            attempts: headers::attempts(properties),
            routing_key: headers::get(properties, headers::ROUTING_KEY).and_then(headers::text),
            dead_lettered_at: headers::get(properties, headers::DEAD_LETTERED_AT)
                .and_then(headers::int),
        }
    }

    /// What tells two dead letters apart within one pass: the event id, or the body.
    fn identity(&self) -> Identity {
        match self.id() {
            Some(id) => Identity::Id(id),
            None => {
                let mut hasher = DefaultHasher::new();
                self.body.hash(&mut hasher);
                Identity::Body(hasher.finish())
            }
        }
    }

    fn matches(&self, only: Option<&HashSet<Uuid>>) -> bool {
        match only {
            None => true,
            Some(ids) => self.id().is_some_and(|id| ids.contains(&id)),
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
enum Identity {
    Id(Uuid),
    Body(u64),
}

/// The longest an operation waits for the messages it handed back to show in the queue.
const GIVE_BACK_WAIT: Duration = Duration::from_secs(2);

impl RabbitBus {
    /// Up to `limit` messages of the consumer's dead-letter queue, oldest first, leaving the
    /// queue as it was.
    pub async fn dead_letters(
        &self,
        consumer: &str,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, RabbitError> {
        let queue = self.dead_letter_queue(consumer)?;
        let channel = self.operator_channel().await?;
        let mut in_hand = 0;
        let result = async {
            let mut listed = Vec::new();
            while listed.len() < limit {
                match get(&channel, &queue).await? {
                    Some(message) => {
                        in_hand += 1;
                        listed.push(DeadLetter::from_message(consumer, &message));
                    }
                    None => break,
                }
            }
            Ok(listed)
        }
        .await;
        self.give_back(channel, &queue, in_hand).await;
        result
    }

    /// Republishes the consumer's dead letters (all, or only the events in `only`) into its
    /// work queue, with a fresh attempt count. Returns how many were replayed.
    pub async fn replay_dead_letters(
        &self,
        consumer: &str,
        only: Option<&[Uuid]>,
    ) -> Result<usize, RabbitError> {
        let queue = self.dead_letter_queue(consumer)?;
        let target = self.shared().options.queue_name(consumer);
        let timeout = self.shared().options.publish_timeout;
        let only: Option<HashSet<Uuid>> = only.map(|ids| ids.iter().copied().collect());
        let channel = self.operator_channel().await?;
        let mut in_hand = 0;
        let result = async {
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await
                .map_err(RabbitError::amqp("confirm.select"))?;
            let mut replayed = 0;
            let mut seen = HashSet::new();
            while let Some(message) = get(&channel, &queue).await? {
                let letter = DeadLetter::from_message(consumer, &message);
                // Unmatched messages, and messages that failed again after being replayed in
                // this pass, stay unacked: they go back when the channel closes.
                if !letter.matches(only.as_ref()) || !seen.insert(letter.identity()) {
                    in_hand += 1;
                    continue;
                }
                let properties = &message.delivery.properties;
                let table = headers::without(
                    &headers::own_headers(properties),
                    &[
                        headers::ATTEMPT,
                        headers::REASON,
                        headers::CONSUMER,
                        headers::DEAD_LETTERED_AT,
                    ],
                );
                publish_to_queue(
                    &channel,
                    &target,
                    &message.delivery.data,
                    headers::republished(properties, table),
                    timeout,
                )
                .await?;
                message
                    .delivery
                    .ack(BasicAckOptions::default())
                    .await
                    .map_err(RabbitError::amqp("basic.ack"))?;
                replayed += 1;
            }
            Ok(replayed)
        }
        .await;
        self.give_back(channel, &queue, in_hand).await;
        if let Ok(replayed) = result {
            tracing::info!(%consumer, replayed, "dead letters replayed");
        }
        result
    }

    /// Deletes the consumer's dead letters (all, or only the events in `only`). Returns how
    /// many were deleted.
    pub async fn purge_dead_letters(
        &self,
        consumer: &str,
        only: Option<&[Uuid]>,
    ) -> Result<usize, RabbitError> {
        let queue = self.dead_letter_queue(consumer)?;
        let channel = self.operator_channel().await?;
        let mut in_hand = 0;
        let result = async {
            let Some(ids) = only else {
                let purged = channel
                    .queue_purge(short(&queue)?, QueuePurgeOptions::default())
                    .await
                    .map_err(RabbitError::amqp("queue.purge"))?;
                return Ok(usize::try_from(purged).unwrap_or(usize::MAX));
            };
            let ids: HashSet<Uuid> = ids.iter().copied().collect();
            let mut purged = 0;
            while let Some(message) = get(&channel, &queue).await? {
                if !DeadLetter::from_message(consumer, &message).matches(Some(&ids)) {
                    in_hand += 1;
                    continue;
                }
                message
                    .delivery
                    .ack(BasicAckOptions::default())
                    .await
                    .map_err(RabbitError::amqp("basic.ack"))?;
                purged += 1;
            }
            Ok(purged)
        }
        .await;
        self.give_back(channel, &queue, in_hand).await;
        if let Ok(purged) = result {
            tracing::info!(%consumer, purged, "dead letters purged");
        }
        result
    }

    fn dead_letter_queue(&self, consumer: &str) -> Result<String, RabbitError> {
        let options = &self.shared().options;
        options.validate_consumer(consumer)?;
        Ok(options.dead_letter_queue_name(consumer))
    }

    /// Closes a channel holding `in_hand` unacknowledged messages of `queue`, which hands
    /// them back, and waits (briefly) until the queue shows them again, so that the next
    /// operation sees the queue as it was.
    async fn give_back(&self, channel: Channel, queue: &str, in_hand: usize) {
        let before = if in_hand > 0 {
            count(&channel, queue).await.ok()
        } else {
            None
        };
        close(&channel).await;
        let Some(before) = before else {
            return;
        };
        let expected = u64::from(before) + in_hand as u64;
        let Ok(checker) = self.operator_channel().await else {
            return;
        };
        let deadline = Instant::now() + GIVE_BACK_WAIT;
        while Instant::now() < deadline {
            match count(&checker, queue).await {
                Ok(now) if u64::from(now) >= expected => break,
                Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                Err(_) => break,
            }
        }
        close(&checker).await;
    }

    async fn operator_channel(&self) -> Result<Channel, RabbitError> {
        self.shared()
            .session()?
            .connection
            .create_channel()
            .await
            .map_err(RabbitError::amqp("channel.open"))
    }
}

fn short(name: &str) -> Result<ShortString, RabbitError> {
    ShortString::try_new(name).map_err(|e| RabbitError::Invalid(e.to_string()))
}

async fn get(channel: &Channel, queue: &str) -> Result<Option<BasicGetMessage>, RabbitError> {
    channel
        .basic_get(short(queue)?, BasicGetOptions { no_ack: false })
        .await
        .map_err(RabbitError::amqp("basic.get"))
}

/// How many messages are ready in the queue (passively: the queue must exist).
async fn count(channel: &Channel, queue: &str) -> Result<u32, RabbitError> {
    let declared = channel
        .queue_declare(
            short(queue)?,
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(RabbitError::amqp("queue.declare (passive)"))?;
    Ok(declared.message_count())
}

async fn close(channel: &Channel) {
    if channel.status().connected() {
        let closing = channel.close(200, "OK".into());
        let _ = tokio::time::timeout(Duration::from_secs(5), closing).await;
    }
}
