//! Counting a store's requests by who makes them. One store serves every part of a process
//! (the HTTP API, the outbox relay, each projection, the search rebuilds, …); each part gets
//! its own [`Label::labelled`] view of it, so `/metrics` shows what each part costs:
//!
//! - `moviebook_store_requests_total{operation, caller}`: one per call of the port
//!   (`get`, `batch_get`, `query`, `transact`, `ping`, `scan`), whatever its outcome — a failed
//!   conditional transaction is a request too, and DynamoDB charges for it;
//! - `moviebook_store_item_writes_total{caller}`: each put, update and delete of a
//!   transaction, the writes DynamoDB bills per item;
//! - `moviebook_store_condition_checks_total{caller}`: each check of a transaction, which
//!   writes nothing, kept apart so the writes read true;
//! - `moviebook_store_request_seconds{operation, caller}`: how long each request took,
//!   whatever its outcome, so a store that is falling behind shows as its own latency rather
//!   than only as the lag of what waits on it.
//!
//! Each request made inside a span (a request's, a consumer's) also gets a span of its own,
//! `store`, at debug level: the store's part in a trace. It costs nothing unless debug spans
//! of this module are wanted (`RUST_LOG`, or the trace export, which wants them).

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use metrics::{Counter, Histogram};
use tracing::{Instrument, Span};

use crate::{Item, Key, Page, Query, ScanPage, Store, StoreError, Write};

/// A labelled view of a store.
pub trait Label {
    /// The same store, its requests counted under `caller`. Label the store itself, not a
    /// labelled view of it: each view counts what passes through it.
    fn labelled(&self, caller: &'static str) -> Arc<dyn Store>;
}

impl Label for Arc<dyn Store> {
    fn labelled(&self, caller: &'static str) -> Arc<dyn Store> {
        Arc::new(Labelled {
            inner: self.clone(),
            counts: Counts::of(caller),
            caller,
        })
    }
}

/// A store counting the requests of one caller.
struct Labelled {
    inner: Arc<dyn Store>,
    counts: Counts,
    caller: &'static str,
}

impl Labelled {
    /// The span of one request. Only inside another span: a request of no request or event
    /// (a sweep, the relay's clean-up) would otherwise be a trace of its own, noise.
    fn span(&self, operation: &'static str) -> Span {
        if !tracing::enabled!(tracing::Level::DEBUG) || Span::current().is_none() {
            return Span::none();
        }
        tracing::debug_span!("store", operation, caller = self.caller)
    }
}

/// The count and the latencies of one operation of one caller.
struct Operation {
    requests: Counter,
    seconds: Histogram,
}

impl Operation {
    fn of(caller: &'static str, operation: &'static str) -> Self {
        Operation {
            requests: metrics::counter!(
                "moviebook_store_requests_total",
                "operation" => operation,
                "caller" => caller
            ),
            seconds: metrics::histogram!(
                "moviebook_store_request_seconds",
                "operation" => operation,
                "caller" => caller
            ),
        }
    }

    /// Counts `request` and records how long it took.
    async fn timed<T>(&self, request: impl Future<Output = T>) -> T {
        self.requests.increment(1);
        let started = Instant::now();
        let outcome = request.await;
        self.seconds.record(started.elapsed());
        outcome
    }
}

/// The metrics of one caller, registered once when the view is made rather than looked up
/// by name on every request.
struct Counts {
    get: Operation,
    batch_get: Operation,
    query: Operation,
    transact: Operation,
    ping: Operation,
    scan: Operation,
    item_writes: Counter,
    condition_checks: Counter,
}

impl Counts {
    fn of(caller: &'static str) -> Self {
        Counts {
            get: Operation::of(caller, "get"),
            batch_get: Operation::of(caller, "batch_get"),
            query: Operation::of(caller, "query"),
            transact: Operation::of(caller, "transact"),
            ping: Operation::of(caller, "ping"),
            scan: Operation::of(caller, "scan"),
            item_writes: metrics::counter!("moviebook_store_item_writes_total", "caller" => caller),
            condition_checks: metrics::counter!(
                "moviebook_store_condition_checks_total",
                "caller" => caller
            ),
        }
    }
}

#[async_trait]
impl Store for Labelled {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let request = self.inner.get(key).instrument(self.span("get"));
        self.counts.get.timed(request).await
    }

    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        let request = self
            .inner
            .batch_get(keys)
            .instrument(self.span("batch_get"));
        self.counts.batch_get.timed(request).await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        let request = self.inner.query(query).instrument(self.span("query"));
        self.counts.query.timed(request).await
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let checks = writes
            .iter()
            .filter(|write| matches!(write, Write::Check { .. }))
            .count();
        self.counts
            .item_writes
            .increment((writes.len() - checks) as u64);
        self.counts.condition_checks.increment(checks as u64);
        let request = self
            .inner
            .transact(writes)
            .instrument(self.span("transact"));
        self.counts.transact.timed(request).await
    }

    async fn scan(&self, after: Option<&Key>, limit: usize) -> Result<ScanPage, StoreError> {
        let request = self.inner.scan(after, limit).instrument(self.span("scan"));
        self.counts.scan.timed(request).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let request = self.inner.ping().instrument(self.span("ping"));
        self.counts.ping.timed(request).await
    }
}
