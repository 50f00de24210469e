//! Consuming: one channel per subscription, manual acks, a bounded prefetch, and each
//! delivery handled in a task of its own (so up to `prefetch` handlers run at once, as
//! with the in-process bus). A partitioned subscription also consumes each of its partition
//! queues, handing a partition's deliveries to its handler one batch after the other (what
//! had arrived while the last batch was handled): the broker gives the partition to one
//! replica at a time, and this keeps it to one handler at a time.
//!
//! A delivery is acknowledged only after its fate is settled on the broker: handled
//! (`Done`), or republished — with a confirm — to a retry queue (`Retry`) or the dead-letter
//! queue (`Reject`, retries used up, a body that is not an envelope). If the connection
//! drops before the ack, the broker delivers the message again: consumers see events at
//! least once, and their idempotency absorbs the repeats.
//!
//! Each consumer also counts the messages in its dead-letter queue for `/metrics` (a passive
//! declare, which reads the queue's depth): when it starts, after it dead-letters one, and
//! every `dead_letter_count_interval`.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use bus::consumer_metrics::ConsumerMetrics;
use bus::{Outcome, Subscription};
use domain::events::Envelope;
use futures::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::{FieldTable, ShortString};
use lapin::{Channel, Connection};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::error::RabbitError;
use crate::headers;
use crate::options::RabbitOptions;
use crate::publisher::publish_to_queue;
use crate::topology;

/// When a message could not be set aside (the retry or dead-letter queue refused it), it is
/// handed back to the broker after this pause, so a persistent problem does not spin.
const REQUEUE_PAUSE: Duration = Duration::from_secs(1);

/// A subscription consuming on the current connection.
pub(crate) struct Running {
    pub consumer: String,
    pub channel: Channel,
    pub task: JoinHandle<()>,
}

impl Running {
    pub fn healthy(&self) -> bool {
        !self.task.is_finished() && self.channel.status().connected()
    }
}

/// Declares the subscription's queues and starts consuming them on a channel of its own.
pub(crate) async fn start(
    connection: &Connection,
    options: &Arc<RabbitOptions>,
    subscription: Subscription,
    stop: CancellationToken,
    deliveries: TaskTracker,
) -> Result<Running, RabbitError> {
    topology::declare_consumer(
        connection,
        options,
        &subscription.consumer,
        &subscription.event_types,
        subscription.partitioned,
    )
    .await?;
    let channel = connection
        .create_channel()
        .await
        .map_err(RabbitError::amqp("channel.open"))?;
    // The consumer republishes retries and dead letters on its own channel, so it needs
    // confirms too.
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(RabbitError::amqp("confirm.select"))?;
    channel
        .basic_qos(options.prefetch, BasicQosOptions { global: false })
        .await
        .map_err(RabbitError::amqp("basic.qos"))?;
    let mut queues = vec![(
        options.queue_name(&subscription.consumer),
        Turns::Concurrent,
    )];
    if subscription.partitioned {
        queues.extend((0..options.partitions).map(|p| {
            (
                options.partition_queue_name(&subscription.consumer, p),
                Turns::InTurn,
            )
        }));
    }
    let context = Arc::new(Context {
        dead_letter_queue: options.dead_letter_queue_name(&subscription.consumer),
        options: options.clone(),
        channel: channel.clone(),
        metrics: ConsumerMetrics::of(&subscription.consumer),
        subscription: subscription.clone(),
    });
    // Every queue's loop stops with the first that ends (its stream failed or the broker
    // cancelled it), so that the task ends and the supervisor rebuilds the session.
    let queues_stop = stop.child_token();
    let mut loops = Vec::with_capacity(queues.len());
    for (queue, turns) in &queues {
        let stream = channel
            .basic_consume(
                ShortString::try_new(queue.as_str())
                    .map_err(|e| RabbitError::Invalid(e.to_string()))?,
                ShortString::from(""),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(RabbitError::amqp("basic.consume"))?;
        loops.push(Box::pin(consume(
            context.clone(),
            stream,
            *turns,
            queues_stop.clone(),
            deliveries.clone(),
        )));
    }
    let counting = keep_counting_dead_letters(context.clone(), queues_stop.clone());
    let task = tokio::spawn(async move {
        let consuming = async {
            let (_, _, others) = futures::future::select_all(loops).await;
            queues_stop.cancel();
            futures::future::join_all(others).await;
        };
        tokio::join!(consuming, counting);
    });
    tracing::info!(consumer = %subscription.consumer, queues = queues.len(), "consuming");
    Ok(Running {
        consumer: subscription.consumer,
        channel,
        task,
    })
}

/// How a queue's deliveries are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Turns {
    /// Each in a task of its own, up to the prefetch at once.
    Concurrent,
    /// One after the other, in the order the queue delivers them: a partition.
    InTurn,
}

struct Context {
    options: Arc<RabbitOptions>,
    channel: Channel,
    subscription: Subscription,
    metrics: ConsumerMetrics,
    dead_letter_queue: String,
}

/// Counts the consumer's dead letters now and every `dead_letter_count_interval`, until `stop`.
async fn keep_counting_dead_letters(context: Arc<Context>, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(context.options.dead_letter_count_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        // A count in flight does not hold up the end of the consumer's task either.
        tokio::select! {
            biased;
            () = stop.cancelled() => return,
            () = context.count_dead_letters() => {}
        }
    }
}

async fn consume(
    context: Arc<Context>,
    stream: lapin::Consumer,
    turns: Turns,
    stop: CancellationToken,
    deliveries: TaskTracker,
) {
    let consumer = context.subscription.consumer.clone();
    let tag = stream.tag();
    // A partition hands over what has queued up behind its turn (up to the prefetch), for
    // the handler to apply together (`Handler::handle_batch`).
    let mut arrivals = match turns {
        Turns::Concurrent => stream.map(|next| vec![next]).boxed(),
        Turns::InTurn => stream
            .ready_chunks(usize::from(context.options.prefetch.max(1)))
            .boxed(),
    };
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => return cancel(&context, tag).await,
            next = arrivals.next() => {
                let Some(arrived) = next else {
                    tracing::warn!(%consumer, "the broker cancelled the consumer; the supervisor reconnects");
                    return;
                };
                let mut batch = Vec::with_capacity(arrived.len());
                let mut failure = None;
                for next in arrived {
                    match next {
                        Ok(delivery) => batch.push(delivery),
                        Err(error) => {
                            failure = Some(error);
                            break;
                        }
                    }
                }
                if turns == Turns::Concurrent {
                    for delivery in batch {
                        let handler = context.clone();
                        // In the tracker, so that shutdown waits for it to finish.
                        deliveries.spawn(async move { handler.handle(delivery).await });
                    }
                } else if !batch.is_empty() {
                    let handler = context.clone();
                    let handling = deliveries.spawn(async move { handler.handle_batch(batch).await });
                    tokio::select! {
                        biased;
                        () = stop.cancelled() => return cancel(&context, tag).await,
                        _ = handling => {}
                    }
                }
                if let Some(error) = failure {
                    tracing::warn!(%consumer, %error, "consumer stopped; the supervisor reconnects");
                    return;
                }
            }
        }
    }
}

/// Stops the broker sending more; what it already sent and nobody started goes back to the
/// queue when the channel closes.
async fn cancel(context: &Context, tag: ShortString) {
    let cancel = context
        .channel
        .basic_cancel(tag, BasicCancelOptions::default());
    if let Ok(Err(error)) = tokio::time::timeout(Duration::from_secs(2), cancel).await {
        tracing::debug!(consumer = %context.consumer(), %error, "could not cancel the consumer");
    }
}

impl Context {
    fn consumer(&self) -> &str {
        &self.subscription.consumer
    }

    async fn handle(&self, delivery: Delivery) {
        let Some(envelope) = self.accept(&delivery).await else {
            return;
        };
        let span = bus::consume_span(self.consumer(), std::slice::from_ref(&envelope));
        async {
            let outcome = AssertUnwindSafe(self.subscription.handler.handle(&envelope))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Outcome::Retry("the handler panicked".into()));
            self.settle(&delivery, &envelope, outcome).await;
        }
        .instrument(span)
        .await;
    }

    /// Handles a partition's waiting deliveries together, then settles each by its outcome.
    async fn handle_batch(&self, deliveries: Vec<Delivery>) {
        let mut accepted = Vec::with_capacity(deliveries.len());
        let mut envelopes = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            if let Some(envelope) = self.accept(&delivery).await {
                accepted.push(delivery);
                envelopes.push(envelope);
            }
        }
        if envelopes.is_empty() {
            return;
        }
        let span = bus::consume_span(self.consumer(), &envelopes);
        async {
            let panicked = || vec![Outcome::Retry("the handler panicked".into()); envelopes.len()];
            let outcomes = AssertUnwindSafe(self.subscription.handler.handle_batch(&envelopes))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| panicked());
            // A handler owes one outcome per event; one it did not give is retried.
            let outcomes = outcomes.into_iter().chain(std::iter::repeat_with(|| {
                Outcome::Retry("the handler gave no outcome".into())
            }));
            for ((delivery, envelope), outcome) in accepted.iter().zip(&envelopes).zip(outcomes) {
                self.settle(delivery, envelope, outcome).await;
            }
        }
        .instrument(span)
        .await;
    }

    /// The delivery's event, when it is one for this consumer's handler: a body that is not
    /// an envelope is dead-lettered, an event of a type no longer subscribed acknowledged.
    async fn accept(&self, delivery: &Delivery) -> Option<Envelope> {
        let consumer = self.consumer();
        let envelope = match serde_json::from_slice::<Envelope>(&delivery.data) {
            Ok(envelope) => envelope,
            Err(error) => {
                self.metrics.failed();
                let reason = format!("the message is not an event envelope: {error}");
                tracing::error!(%consumer, routing_key = %delivery.routing_key, %reason, "dead-lettering a message");
                let failed_before = headers::attempts(&delivery.properties);
                self.dead_letter(delivery, &reason, failed_before).await;
                return None;
            }
        };
        // The broker's span of the event, when it has one, is where the consumer's follows.
        let envelope = match headers::trace(&delivery.properties) {
            Some(trace) if trace_context::enabled() => Envelope {
                trace: Some(trace),
                ..envelope
            },
            _ => envelope,
        };
        let event_type = envelope.event.event_type();
        if !self.subscription.event_types.contains(&event_type) {
            // The queue is still bound to a type an earlier version subscribed to.
            tracing::debug!(%consumer, event = %envelope.id, event_type = event_type.as_str(), "skipping an event of a type not subscribed");
            self.ack(delivery).await;
            return None;
        }
        Some(envelope)
    }

    /// Acknowledges a handled delivery, or moves it to a retry queue or the dead letters.
    async fn settle(&self, delivery: &Delivery, envelope: &Envelope, outcome: Outcome) {
        let consumer = self.consumer().to_owned();
        let failed_before = headers::attempts(&delivery.properties);
        match outcome {
            Outcome::Done => {
                self.metrics.handled(envelope);
                self.ack(delivery).await;
            }
            Outcome::Reject(reason) => {
                self.metrics.failed();
                tracing::error!(%consumer, event = %envelope.id, %reason, "event rejected");
                self.dead_letter(delivery, &reason, failed_before + 1).await;
            }
            Outcome::Retry(reason) => {
                let failed = failed_before.saturating_add(1);
                if failed >= self.options.attempts() {
                    self.metrics.failed();
                    tracing::error!(%consumer, event = %envelope.id, attempts = failed, %reason, "event failed too often");
                    let reason = format!("gave up after {failed} attempts: {reason}");
                    self.dead_letter(delivery, &reason, failed).await;
                } else {
                    self.metrics.retried();
                    tracing::warn!(%consumer, event = %envelope.id, attempt = failed, %reason, "event will be retried");
                    self.retry(delivery, failed).await;
                }
            }
        }
    }

    /// The routing key the event was published with, kept across retries.
    fn original_routing_key(&self, delivery: &Delivery) -> String {
        headers::get(&delivery.properties, headers::ROUTING_KEY)
            .and_then(headers::text)
            .unwrap_or_else(|| delivery.routing_key.to_string())
    }

    async fn retry(&self, delivery: &Delivery, failed: u32) {
        let index = usize::try_from(failed.saturating_sub(1)).unwrap_or(usize::MAX);
        let Some(delay) = self
            .options
            .retry_delays
            .get(index)
            .or(self.options.retry_delays.last())
        else {
            return self
                .dead_letter(delivery, "no retry delays configured", failed)
                .await;
        };
        let mut table = headers::own_headers(&delivery.properties);
        headers::set_int(&mut table, headers::ATTEMPT, i64::from(failed));
        headers::set_text(
            &mut table,
            headers::ROUTING_KEY,
            &self.original_routing_key(delivery),
        );
        let queue = self.options.retry_queue_name(self.consumer(), *delay);
        self.set_aside(delivery, &queue, table).await;
    }

    async fn dead_letter(&self, delivery: &Delivery, reason: &str, attempts: u32) {
        let mut table = headers::own_headers(&delivery.properties);
        headers::set_text(
            &mut table,
            headers::REASON,
            &headers::truncate_reason(reason),
        );
        headers::set_text(&mut table, headers::CONSUMER, self.consumer());
        headers::set_text(
            &mut table,
            headers::ROUTING_KEY,
            &self.original_routing_key(delivery),
        );
        headers::set_int(&mut table, headers::ATTEMPT, i64::from(attempts));
        headers::set_int(
            &mut table,
            headers::DEAD_LETTERED_AT,
            domain::timestamp::now_micros(),
        );
        if self
            .set_aside(delivery, &self.dead_letter_queue, table)
            .await
        {
            self.count_dead_letters().await;
        }
    }

    /// Shows in `/metrics` how many messages wait in the consumer's dead-letter queue. Its
    /// replicas each count the same queue; a failed count leaves the last one shown.
    async fn count_dead_letters(&self) {
        let Ok(queue) = ShortString::try_new(self.dead_letter_queue.as_str()) else {
            return;
        };
        // Passive: the queue is only looked at, never created with other arguments.
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        let declare = self
            .channel
            .queue_declare(queue, passive, FieldTable::default());
        // A broker that does not answer is the supervisor's business; the count just waits.
        match tokio::time::timeout(self.options.publish_timeout, declare).await {
            Ok(Ok(declared)) => self
                .metrics
                .dead_letters_waiting(u64::from(declared.message_count())),
            Ok(Err(error)) => {
                tracing::debug!(consumer = %self.consumer(), %error, "could not count the dead letters");
            }
            Err(_) => {
                tracing::debug!(consumer = %self.consumer(), "counting the dead letters timed out");
            }
        }
    }

    /// Moves the message to another queue: republish with a confirm, then ack the original.
    /// Answers whether it was moved (else it is handed back to the broker).
    async fn set_aside(&self, delivery: &Delivery, queue: &str, table: FieldTable) -> bool {
        let properties = headers::republished(&delivery.properties, table);
        match publish_to_queue(
            &self.channel,
            queue,
            &delivery.data,
            properties,
            self.options.publish_timeout,
        )
        .await
        {
            Ok(()) => {
                self.ack(delivery).await;
                true
            }
            Err(error) => {
                tracing::warn!(consumer = %self.consumer(), %queue, %error, "could not move a message; handing it back to the broker");
                tokio::time::sleep(REQUEUE_PAUSE).await;
                let requeue = BasicNackOptions {
                    multiple: false,
                    requeue: true,
                };
                if let Err(error) = delivery.nack(requeue).await {
                    tracing::debug!(consumer = %self.consumer(), %error, "could not hand a message back; the broker redelivers it when the channel closes");
                }
                false
            }
        }
    }

    async fn ack(&self, delivery: &Delivery) {
        match delivery.ack(BasicAckOptions::default()).await {
            Ok(true) => {}
            Ok(false) | Err(_) => tracing::debug!(
                consumer = %self.consumer(),
                "the channel closed before the ack; the broker delivers the message again"
            ),
        }
    }
}
