//! The adapter's settings and the names it gives to what it declares on the broker.
//!
//! Names are derived from two settings — the exchange and a queue prefix — so that several
//! deployments (or parallel test runs) can share one broker without meeting, and so that an
//! operator can tell from a queue's name which consumer and which purpose it serves.

use std::time::Duration;

use backon::ExponentialBuilder;
use domain::events::{Envelope, EventType};
use domain::ids::shard_of;

use crate::error::RabbitError;

/// The longest name RabbitMQ accepts for a queue or an exchange (an AMQP short string).
const MAX_NAME: usize = 255;

/// How the adapter talks to RabbitMQ. Every field has a production default.
#[derive(Debug, Clone)]
pub struct RabbitOptions {
    /// The durable topic exchange every event is published to, with its type and its
    /// partition as routing key (`review.upserted.5`, see [`RabbitOptions::routing_key`]).
    pub exchange: String,
    /// The first part of every queue name: a consumer `projector` gets `<prefix>.projector`,
    /// `<prefix>.projector.dlq` and `<prefix>.projector.retry.<delay>ms` (and, partitioned,
    /// `<prefix>.projector.p0` …).
    pub queue_prefix: String,
    /// How many partitions events are spread over by their partition key: the last part of
    /// every routing key, and the number of queues of a partitioned consumer. Publishers and
    /// consumers must agree on it; changing it moves keys between partitions, so a key's
    /// events published just before and after the change may run at once (harmless to the
    /// conditional writes of the consumers, just slower), and queues of partitions no longer
    /// used must be drained and deleted by hand.
    pub partitions: u32,
    /// How many unacknowledged deliveries a consumer holds at once; also how many of its
    /// handlers run concurrently.
    pub prefetch: u16,
    /// The wait before each retry of an event whose handler answered `Retry`. A handler is
    /// tried `retry_delays.len() + 1` times; after that the event goes to the consumer's
    /// dead-letter queue. Each delay is a queue of its own on the broker, so the list should
    /// stay short and change rarely.
    pub retry_delays: Vec<Duration>,
    /// The broker's own limit on deliveries of one message (the quorum queue's
    /// `x-delivery-limit`): a safety net for handlers that crash the process instead of
    /// answering, so that a poison event cannot crash every replica forever.
    pub delivery_limit: u32,
    /// The longest `publish` waits for the broker's confirms before it reports the bus
    /// unavailable (the outbox then keeps the events and tries again).
    pub publish_timeout: Duration,
    /// The longest one attempt to connect and declare the topology may take.
    pub connect_timeout: Duration,
    /// The longest first pause and the longest of all pauses between reconnection attempts:
    /// the pauses double from one to the other, each a random 50–100% of its bound, so that
    /// replicas that lost the broker together do not reconnect in lockstep.
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// How often the supervisor checks that the connection and its channels are open, besides
    /// reacting to the connection's error events at once.
    pub health_interval: Duration,
    /// How long `shutdown` lets in-flight handlers finish.
    pub shutdown_grace: Duration,
    /// How often each consumer counts the messages in its dead-letter queue for `/metrics`
    /// (`moviebook_dead_letters`), besides when it starts and whenever it dead-letters one:
    /// so that what the broker dead-letters itself (the delivery limit) shows, and what an
    /// operator replays or purges stops showing.
    pub dead_letter_count_interval: Duration,
    /// The name the connection shows in `rabbitmqctl list_connections` and the management UI.
    pub connection_name: String,
}

impl Default for RabbitOptions {
    fn default() -> Self {
        RabbitOptions {
            exchange: "moviebook.events".into(),
            queue_prefix: "moviebook".into(),
            // More than the replicas a partitioned consumer runs on, so a key's partition is
            // rarely shared with another busy key; few enough that every replica's consumer
            // per partition queue costs little.
            partitions: 8,
            prefetch: 32,
            // Not a back-off computed in a loop but part of the topology: each delay is a
            // retry queue whose message TTL holds the event, so the list is fixed. It grows
            // from a second (a conflict or a blip) to a minute (a dependency restarting).
            retry_delays: vec![
                Duration::from_secs(1),
                Duration::from_secs(4),
                Duration::from_secs(16),
                Duration::from_secs(60),
            ],
            delivery_limit: 20,
            publish_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            health_interval: Duration::from_millis(250),
            shutdown_grace: Duration::from_secs(30),
            // One passive declare per consumer and process every 30 s: nothing beside the
            // broker's own work, and well within an alert's minute.
            dead_letter_count_interval: Duration::from_secs(30),
            connection_name: "moviebook".into(),
        }
    }
}

impl RabbitOptions {
    /// The pauses between reconnection attempts, which never run out: the broker comes back
    /// when it comes back. backon's jitter adds up to one more step to each, so the steps are
    /// half the bounds (and never zero, which would not grow). Defaults: 50–100 ms first,
    /// 2.5–5 s at most, so a brief drop is bridged within a fraction of a second, while a long
    /// outage costs every replica a try only every few seconds.
    pub(crate) fn reconnect_backoff(&self) -> ExponentialBuilder {
        let step = |bound: Duration| (bound / 2).max(Duration::from_nanos(1));
        ExponentialBuilder::new()
            .with_jitter()
            .with_min_delay(step(self.reconnect_min))
            .with_max_delay(step(self.reconnect_max))
            .without_max_times()
    }

    /// How many times a handler is tried before its event is dead-lettered.
    pub fn attempts(&self) -> u32 {
        u32::try_from(self.retry_delays.len())
            .unwrap_or(u32::MAX - 1)
            .saturating_add(1)
    }

    /// The consumer's work queue, shared by all its replicas.
    pub fn queue_name(&self, consumer: &str) -> String {
        format!("{}.{consumer}", self.queue_prefix)
    }

    /// The queue of one partition of a partitioned consumer: every replica subscribes to it,
    /// one at a time consumes it (single active consumer).
    pub fn partition_queue_name(&self, consumer: &str, partition: u32) -> String {
        format!("{}.{consumer}.p{partition}", self.queue_prefix)
    }

    /// The partition an event belongs to.
    pub fn partition_of(&self, envelope: &Envelope) -> u32 {
        shard_of(&envelope.event.partition_key(), self.partitions)
    }

    /// The routing key an event is published with: its type, then its partition
    /// (`review.upserted.5`).
    pub fn routing_key(&self, envelope: &Envelope) -> String {
        format!(
            "{}.{}",
            envelope.event.event_type().as_str(),
            self.partition_of(envelope)
        )
    }

    /// The binding that takes every event of a type, whatever its partition — and also one
    /// published with the type alone, as before partitions.
    pub fn every_partition(event_type: EventType) -> String {
        format!("{}.#", event_type.as_str())
    }

    /// The consumer's dead-letter queue: events that were rejected, kept failing, or did not
    /// decode.
    pub fn dead_letter_queue_name(&self, consumer: &str) -> String {
        format!("{}.{consumer}.dlq", self.queue_prefix)
    }

    /// The queue where an event waits `delay` before it returns to the consumer's queue.
    pub fn retry_queue_name(&self, consumer: &str, delay: Duration) -> String {
        format!(
            "{}.{consumer}.retry.{}ms",
            self.queue_prefix,
            delay.as_millis()
        )
    }

    /// Every queue the adapter declares for a consumer (the partition queues only when the
    /// consumer is partitioned).
    pub fn queue_names(&self, consumer: &str) -> Vec<String> {
        let mut names = vec![
            self.queue_name(consumer),
            self.dead_letter_queue_name(consumer),
        ];
        names.extend(
            self.retry_delays
                .iter()
                .map(|delay| self.retry_queue_name(consumer, *delay)),
        );
        names.extend((0..self.partitions).map(|p| self.partition_queue_name(consumer, p)));
        names
    }

    pub(crate) fn validate(&self) -> Result<(), RabbitError> {
        check_name("exchange", &self.exchange)?;
        check_name("queue prefix", &self.queue_prefix)?;
        if self.prefetch == 0 {
            return Err(RabbitError::Invalid(
                "prefetch must be at least 1 (0 would mean unbounded)".into(),
            ));
        }
        if let Some(delay) = self
            .retry_delays
            .iter()
            .find(|d| d.as_millis() == 0 || d.as_millis() > i64::MAX as u128)
        {
            return Err(RabbitError::Invalid(format!(
                "retry delay {delay:?} must be between 1 ms and i64::MAX ms: a zero delay would retry hot"
            )));
        }
        if self.reconnect_min.is_zero() || self.reconnect_max < self.reconnect_min {
            return Err(RabbitError::Invalid(
                "reconnect_min must be positive and at most reconnect_max".into(),
            ));
        }
        if self.partitions == 0 {
            return Err(RabbitError::Invalid("partitions must be at least 1".into()));
        }
        if self.dead_letter_count_interval.is_zero() {
            return Err(RabbitError::Invalid(
                "dead_letter_count_interval must be positive".into(),
            ));
        }
        if self.delivery_limit == 0 {
            return Err(RabbitError::Invalid(
                "delivery_limit must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// Checks that a consumer's name makes valid queue names.
    pub(crate) fn validate_consumer(&self, consumer: &str) -> Result<(), RabbitError> {
        check_name("consumer name", consumer)?;
        let longest = self
            .queue_names(consumer)
            .into_iter()
            .map(|n| n.len())
            .max()
            .unwrap_or(0);
        if longest > MAX_NAME {
            return Err(RabbitError::Invalid(format!(
                "consumer name {consumer:?} makes queue names longer than {MAX_NAME} bytes"
            )));
        }
        Ok(())
    }
}

/// Names are restricted to a safe alphabet so they read well in `rabbitmqctl` output and
/// never need quoting in policies or shell commands.
fn check_name(what: &str, name: &str) -> Result<(), RabbitError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(RabbitError::Invalid(format!(
            "{what} {name:?} must be 1 to {MAX_NAME} characters of A-Z, a-z, 0-9, '.', '-' or '_'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_prefix_and_the_consumer() {
        let options = RabbitOptions::default();
        assert_eq!(options.queue_name("projector"), "moviebook.projector");
        assert_eq!(
            options.dead_letter_queue_name("projector"),
            "moviebook.projector.dlq"
        );
        assert_eq!(
            options.retry_queue_name("projector", Duration::from_secs(4)),
            "moviebook.projector.retry.4000ms"
        );
        assert_eq!(
            options.partition_queue_name("projector", 7),
            "moviebook.projector.p7"
        );
        assert_eq!(options.queue_names("projector").len(), 6 + 8);
        assert_eq!(options.attempts(), 5);
    }

    #[test]
    fn an_event_is_routed_by_its_type_and_the_partition_of_its_key() {
        let options = RabbitOptions::default();
        let movie_id = domain::ids::new_id();
        let review = Envelope::new(domain::events::Event::ReviewDeleted(
            domain::events::ReviewDeleted {
                movie_id,
                user_id: domain::ids::new_id(),
                score: 4,
            },
        ));
        let partition = shard_of(&movie_id, 8);
        assert_eq!(options.partition_of(&review), partition);
        assert_eq!(
            options.routing_key(&review),
            format!("review.deleted.{partition}")
        );
        assert_eq!(
            RabbitOptions::every_partition(EventType::ReviewDeleted),
            "review.deleted.#"
        );
    }

    #[test]
    fn reconnection_pauses_grow_within_their_bounds_and_never_run_out() {
        use backon::BackoffBuilder;

        let options = RabbitOptions::default();
        let pauses: Vec<Duration> = options.reconnect_backoff().build().take(30).collect();
        assert_eq!(pauses.len(), 30);
        assert!(pauses[0] >= options.reconnect_min / 2 && pauses[0] < options.reconnect_min);
        assert!(pauses.iter().all(|pause| *pause <= options.reconnect_max));
        assert!(pauses[29] >= options.reconnect_max / 2);
    }

    #[test]
    fn rejects_names_and_settings_the_broker_would_refuse_or_that_would_spin() {
        let options = RabbitOptions::default();
        assert!(options.validate().is_ok());
        assert!(options.validate_consumer("projector").is_ok());
        assert!(options.validate_consumer("").is_err());
        assert!(options.validate_consumer("a b").is_err());
        assert!(options.validate_consumer(&"x".repeat(250)).is_err());
        let zero_delay = RabbitOptions {
            retry_delays: vec![Duration::ZERO],
            ..RabbitOptions::default()
        };
        assert!(zero_delay.validate().is_err());
        let no_prefetch = RabbitOptions {
            prefetch: 0,
            ..RabbitOptions::default()
        };
        assert!(no_prefetch.validate().is_err());
    }
}
