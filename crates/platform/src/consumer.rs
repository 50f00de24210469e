//! Applying an event exactly once. A [`Projection`] plans the writes an event causes; the
//! [`IdempotentConsumer`] commits them together with a marker saying "this consumer handled
//! this event", under the condition that the marker is new. A redelivered event's
//! transaction fails on its marker and changes nothing; two replicas racing on one event
//! cannot both commit. (A projection whose writes are versioned by the events themselves
//! needs no marker: [`Projection::marks`].)
//! Projections that read before they write put conditions on what they read, and a failed
//! condition re-plans from fresh reads. Markers expire after a retention far longer than any
//! redelivery (see [`DEFAULT_MARKER_RETENTION`]), so the store does not keep one per event
//! forever.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use backon::{BackoffBuilder, ExponentialBuilder};
use bus::{Handler, Outcome, Subscription};
use domain::events::{Envelope, EventType};
use domain::timestamp::Micros;
use serde::{Deserialize, Serialize};
use store::{Condition, Key, Record, Store, StoreError, Write};

/// The pauses before each re-plan of a plan whose reads went stale; when they run out the
/// bus retries later. Jittered and growing, so deliveries racing on one hot item (a movie's
/// score during a burst of reviews, handled by every replica at once) take turns instead of
/// colliding again. backon's jitter adds up to one more step, so the pauses lie in 2.5–5 ms,
/// 5–10 ms, … up to 125–250 ms: 19 pauses (20 plans) let a long burst drain within seconds
/// rather than fall through to the bus's much longer retry delays.
const REPLAN_BACKOFF: ExponentialBuilder = ExponentialBuilder::new()
    .with_jitter()
    .with_min_delay(Duration::from_micros(2500))
    .with_max_delay(Duration::from_millis(125))
    .with_max_times(19);

/// How long a processed-event marker is kept by default: a week. A marker only matters while
/// its event may come again — a broker's redelivery (seconds), the outbox's second publish
/// after an outage of the store (as long as the outage), a dead letter replayed by an
/// operator — so it must outlast all of them by far.
pub const DEFAULT_MARKER_RETENTION: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// A read model's update rule.
#[async_trait]
pub trait Projection: Send + Sync + 'static {
    /// The consumer name: its queue and its processed-event markers.
    fn name(&self) -> &'static str;

    /// The event types it needs.
    fn event_types(&self) -> Vec<EventType>;

    /// Whether its events of one partition key must be applied one at a time (see
    /// `bus::Subscription::partitioned`): true for a projection whose every event of a key
    /// rewrites one item, which concurrent deliveries would only fight over.
    fn partitioned(&self) -> bool {
        false
    }

    /// The writes that apply `envelope` (at most 99, leaving room for the marker); an
    /// empty plan still records the event as handled.
    async fn plan(&self, store: &dyn Store, envelope: &Envelope) -> Result<Vec<Write>, StoreError>;

    /// Whether the consumer records each handled event with a marker (the default). A
    /// projection whose own plan already makes a repeat change nothing — each of its writes
    /// conditional on a version that the event moves past, and events older than that
    /// version ignored — answers false and saves the marker's write.
    fn marks_events(&self) -> bool {
        true
    }

    /// Whether the consumer records this event with a marker: [`Projection::marks_events`]
    /// unless the projection versions some kinds of event and not others (a movie list's
    /// poster changes, next to its creations and deletions).
    fn marks(&self, _envelope: &Envelope) -> bool {
        self.marks_events()
    }

    /// The writes that apply several events of one partition, in their order, at once — for a
    /// partitioned projection, so that a burst on one key (a hot movie's reviews) costs one
    /// read and one transaction rather than one of each per event. The consumer adds one
    /// marker per event and splits a batch whose plan leaves no room for them. `None`, the
    /// default: this projection plans each event on its own.
    async fn plan_batch(
        &self,
        _store: &dyn Store,
        _envelopes: &[Envelope],
    ) -> Result<Option<Vec<Write>>, StoreError> {
        Ok(None)
    }
}

/// How many events one folded transaction covers at most: with their markers, a plan of a
/// few writes per key still fits DynamoDB's 100 writes per transaction for most batches.
const MOST_FOLDED: usize = 48;

/// How an attempt to apply a batch in one transaction went.
enum Folded {
    Applied,
    /// The plan and the markers do not fit in one transaction: fold fewer.
    TooLarge,
    /// The projection does not fold, one of the events was handled before, or a race:
    /// handle them one at a time, which sorts out each event's outcome.
    OneAtATime,
}

/// The key of the marker recording that `consumer` handled `event`. Markers are spread
/// over one partition per event, so no partition collects every event.
pub fn marker_key(event: &uuid::Uuid, consumer: &str) -> Key {
    Key::new(format!("processed#{event}"), consumer)
}

/// The marker that a consumer handled an event, at [`marker_key`]; only its existence is
/// read, its attributes say what and when for whoever looks at the store, and when the store
/// is to forget it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessedMarker {
    /// The event's routing key (`movie.created`).
    pub event_type: String,
    pub handled_at: Micros,
    /// When the marker expires (`store::EXPIRES_AT`, epoch seconds): its retention after
    /// it was written.
    pub expires_at: i64,
}

impl Record for ProcessedMarker {
    const KIND: &'static str = "processed-event marker";
}

/// Runs a projection exactly once per event.
pub struct IdempotentConsumer<P> {
    store: Arc<dyn Store>,
    projection: P,
    /// How long a marker is kept after it is written.
    marker_retention: Duration,
}

impl<P: Projection> IdempotentConsumer<P> {
    /// The consumer applying `projection` to `store`, its markers kept for `marker_retention`.
    pub fn new(store: Arc<dyn Store>, projection: P, marker_retention: Duration) -> Self {
        IdempotentConsumer {
            store,
            projection,
            marker_retention,
        }
    }

    /// The bus subscription that feeds this consumer.
    pub fn subscription(self) -> Subscription {
        Subscription {
            consumer: self.projection.name().to_owned(),
            event_types: self.projection.event_types(),
            partitioned: self.projection.partitioned(),
            handler: Arc::new(self),
        }
    }

    fn marker_of(&self, envelope: &Envelope) -> Key {
        marker_key(&envelope.id, self.projection.name())
    }

    /// The write recording that this consumer handled `envelope`, only if it had not.
    fn mark(&self, envelope: &Envelope) -> Result<Write, StoreError> {
        let retention = i64::try_from(self.marker_retention.as_secs()).unwrap_or(i64::MAX);
        let handled = ProcessedMarker {
            event_type: envelope.event.event_type().as_str().to_owned(),
            handled_at: domain::timestamp::now_micros(),
            expires_at: store::epoch_seconds().saturating_add(retention),
        };
        Ok(Write::Put {
            item: handled.to_item(self.marker_of(envelope))?,
            condition: Condition::NotExists,
        })
    }

    /// Applies the event once: `true` when it is (now or before), `false` when what the plan
    /// read changed meanwhile and it must be planned again. The marker is not read first: a
    /// repeat is rare, and its transaction fails on the marker's condition and writes nothing.
    async fn apply(&self, envelope: &Envelope) -> Result<bool, StoreError> {
        let mut writes = self.projection.plan(self.store.as_ref(), envelope).await?;
        if !self.projection.marks(envelope) {
            if writes.is_empty() {
                return Ok(true);
            }
            return match self.store.transact(writes).await {
                Ok(()) => Ok(true),
                Err(StoreError::ConditionFailed { .. }) => Ok(false),
                Err(other) => Err(other),
            };
        }
        let marker_index = writes.len();
        writes.push(self.mark(envelope)?);
        match self.store.transact(writes).await {
            Ok(()) => Ok(true),
            // Handled before, or another delivery of the same event won the race: it is
            // applied once.
            Err(StoreError::ConditionFailed { index }) if index == marker_index => Ok(true),
            // Another condition failed first: what the plan read changed since, or the event
            // was handled before and its writes' conditions no longer hold (a second
            // creation of one item). The marker tells which.
            Err(StoreError::ConditionFailed { .. }) => {
                Ok(self.store.get(&self.marker_of(envelope)).await?.is_some())
            }
            Err(other) => Err(other),
        }
    }

    /// The events of `envelopes`, each once, in order.
    fn distinct(envelopes: &[Envelope]) -> Vec<Envelope> {
        let mut distinct: Vec<Envelope> = Vec::with_capacity(envelopes.len());
        for envelope in envelopes {
            if !distinct.iter().any(|seen| seen.id == envelope.id) {
                distinct.push(envelope.clone());
            }
        }
        distinct
    }

    async fn apply_folded(&self, envelopes: &[Envelope]) -> Result<Folded, StoreError> {
        let Some(mut writes) = self
            .projection
            .plan_batch(self.store.as_ref(), envelopes)
            .await?
        else {
            return Ok(Folded::OneAtATime);
        };
        for envelope in envelopes {
            if self.projection.marks(envelope) {
                writes.push(self.mark(envelope)?);
            }
        }
        if writes.len() > store::MAX_TRANSACTION_WRITES {
            return Ok(Folded::TooLarge);
        }
        if writes.is_empty() {
            return Ok(Folded::Applied);
        }
        match self.store.transact(writes).await {
            Ok(()) => Ok(Folded::Applied),
            // One of them was handled before, or what the plan read changed meanwhile: one
            // at a time sorts out which.
            Err(StoreError::ConditionFailed { .. }) => Ok(Folded::OneAtATime),
            Err(other) => Err(other),
        }
    }

    /// Applies a batch in as few transactions as fit, answering whether every event of it
    /// is now handled. Anything short of that (a store error, a projection that does not
    /// fold, a repeat or a race) leaves the rest to one-at-a-time handling, which skips what
    /// was applied here by its marker.
    async fn fold(&self, envelopes: &[Envelope]) -> bool {
        let pending = Self::distinct(envelopes);
        let mut rest = pending.as_slice();
        while !rest.is_empty() {
            let mut take = rest.len();
            loop {
                match self.apply_folded(&rest[..take]).await {
                    Ok(Folded::Applied) => break,
                    Ok(Folded::TooLarge) if take > 1 => take /= 2,
                    Ok(Folded::TooLarge | Folded::OneAtATime) | Err(_) => return false,
                }
            }
            rest = &rest[take..];
        }
        true
    }
}

#[async_trait]
impl<P: Projection> Handler for IdempotentConsumer<P> {
    /// Folds each run of waiting events into one transaction where the projection can
    /// (see [`Projection::plan_batch`]), and otherwise handles them one at a time.
    async fn handle_batch(&self, envelopes: &[Envelope]) -> Vec<Outcome> {
        let mut outcomes = Vec::with_capacity(envelopes.len());
        for chunk in envelopes.chunks(MOST_FOLDED) {
            if chunk.len() > 1 && self.fold(chunk).await {
                outcomes.extend(std::iter::repeat_n(Outcome::Done, chunk.len()));
                continue;
            }
            for envelope in chunk {
                outcomes.push(self.handle(envelope).await);
            }
        }
        outcomes
    }

    async fn handle(&self, envelope: &Envelope) -> Outcome {
        let mut pauses = REPLAN_BACKOFF.build();
        loop {
            match self.apply(envelope).await {
                Ok(true) => return Outcome::Done,
                Ok(false) => match pauses.next() {
                    Some(pause) => tokio::time::sleep(pause).await,
                    None => {
                        return Outcome::Retry(
                            "the read model kept changing while the event was applied".into(),
                        );
                    }
                },
                Err(StoreError::Unavailable(reason)) => return Outcome::Retry(reason),
                Err(error) => return Outcome::Reject(error.to_string()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_marker_keeps_its_attribute_names_and_expires_by_the_stores_attribute() {
        let attrs = ProcessedMarker {
            event_type: "movie.created".into(),
            handled_at: 12,
            expires_at: 34,
        }
        .to_attrs()
        .unwrap();
        assert_eq!(attrs.get("event_type"), Some(&json!("movie.created")));
        assert_eq!(attrs.get("handled_at"), Some(&json!(12)));
        assert_eq!(attrs.get(store::EXPIRES_AT), Some(&json!(34)));
        assert_eq!(attrs.len(), 3);
    }
}
