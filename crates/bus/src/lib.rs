//! The bus port: publish events, and subscribe named consumers to the event types they
//! need. A consumer's handler answers done, retry or reject; the adapter retries with
//! back-off and sets aside what is rejected, so one bad event never blocks the rest. What
//! keeps asking for a retry goes to the consumer's dead-letter queue on RabbitMQ; the
//! in-process bus fails the publish a few times, so the outbox keeps the event for a later
//! try, and then sets it aside on its shelf (the store).
//!
//! `memory` is the in-process adapter of the embedded deployment; `consumer_metrics` is what
//! every adapter shows of its consumers in `/metrics`; [`consume_span`] is how every adapter
//! puts a consumer's work into the trace of the events it handles.

use std::sync::Arc;

use async_trait::async_trait;
use domain::events::{Envelope, EventType};

pub mod consumer_metrics;
pub mod memory;

/// The span of a consumer handling `envelopes` (one, or a partition's batch), when traces are
/// exported (otherwise none, at no cost): the child of the first traced event's context (the
/// relay's or the broker's span of it), linked to the others'.
pub fn consume_span(consumer: &str, envelopes: &[Envelope]) -> tracing::Span {
    if !trace_context::enabled() {
        return tracing::Span::none();
    }
    let first = envelopes.first();
    let span = tracing::info_span!(
        parent: None,
        "consume",
        consumer,
        event = first.map(|e| tracing::field::display(e.id)),
        event_type = first.map(|e| e.event.event_type().as_str()),
        events = envelopes.len(),
    );
    let mut traces = envelopes.iter().filter_map(|e| e.trace.as_ref());
    if let Some(parent) = traces.next() {
        trace_context::set_parent(&span, &trace_context::stored(parent));
    }
    for other in traces {
        trace_context::add_link(&span, &trace_context::stored(other));
    }
    span
}

/// What a handler made of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Applied (or already applied before): acknowledge it.
    Done,
    /// Could not be applied now (a dependency is down, a write conflicted): try again later.
    Retry(String),
    /// Can never be applied: set it aside with this reason.
    Reject(String),
}

/// A consumer's event handler.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    async fn handle(&self, envelope: &Envelope) -> Outcome;

    /// Handles events of one partition that were waiting together, in their order, and
    /// answers one outcome per event. A partitioned consumer's adapter hands over what has
    /// queued up behind a partition's turn, so a handler may apply a burst at once; the
    /// default handles them one after the other.
    async fn handle_batch(&self, envelopes: &[Envelope]) -> Vec<Outcome> {
        let mut outcomes = Vec::with_capacity(envelopes.len());
        for envelope in envelopes {
            outcomes.push(self.handle(envelope).await);
        }
        outcomes
    }
}

/// A named consumer: the name identifies its queue (replicas of one consumer share it)
/// and its record of processed events.
#[derive(Clone)]
pub struct Subscription {
    pub consumer: String,
    pub event_types: Vec<EventType>,
    pub handler: Arc<dyn Handler>,
    /// Events with one partition key (`Event::partition_key`, e.g. a movie) reach this
    /// consumer one at a time, in one process at a time: for a consumer whose events of one
    /// key all write one item (a movie's tally), which concurrent handlers would fight over.
    /// Other consumers take any event anywhere, concurrently.
    pub partitioned: bool,
}

/// A process's own view of events as they are published, for what it keeps in memory (ready
/// answers, a search index). Unlike a subscription it has no queue that outlives the process
/// and no retries: a watcher sees an event at most once, and misses what is published while
/// it is not connected — which is why it is told each time its watch (re)starts.
#[async_trait]
pub trait Watcher: Send + Sync + 'static {
    /// The watch has (re)started: events published before now may never be seen, so what
    /// was derived from them must be refreshed from the store.
    async fn resync(&self);
    /// An event of a watched type was published.
    async fn saw(&self, envelope: &Envelope);
}

/// Why the bus failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    /// The bus cannot take events now; nothing was lost, the caller keeps them and tries later.
    #[error("the event bus is unavailable: {0}")]
    Unavailable(String),
}

/// The bus port.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Hands the events to the bus. `Ok` means the bus has taken responsibility for every
    /// one of them (a broker confirmed them, or the in-process consumers have handled
    /// them); only then may the outbox forget them.
    async fn publish(&self, envelopes: &[Envelope]) -> Result<(), BusError>;

    /// Starts delivering the named event types to a consumer.
    async fn subscribe(&self, subscription: Subscription) -> Result<(), BusError>;

    /// Starts showing this process's watcher every published event of these types, for as
    /// long as the process lives. The in-process bus shows each batch after its consumers
    /// have handled it.
    async fn watch(
        &self,
        event_types: Vec<EventType>,
        watcher: Arc<dyn Watcher>,
    ) -> Result<(), BusError>;

    /// Answers when the bus is reachable, for readiness checks.
    async fn ping(&self) -> Result<(), BusError>;
}
