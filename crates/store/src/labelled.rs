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
//!   writes nothing, kept apart so the writes read true.
//!
//! Each request made inside a span (a request's, a consumer's) also gets a span of its own,
//! `store`, at debug level: the store's part in a trace. It costs nothing unless debug spans
//! of this module are wanted (`RUST_LOG`, or the trace export, which wants them).

use std::sync::Arc;

use async_trait::async_trait;
use metrics::Counter;
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

/// The counters of one caller, registered once when the view is made rather than looked
/// up by name on every request.
struct Counts {
    get: Counter,
    batch_get: Counter,
    query: Counter,
    transact: Counter,
    ping: Counter,
    scan: Counter,
    item_writes: Counter,
    condition_checks: Counter,
}

impl Counts {
    fn of(caller: &'static str) -> Self {
        let request = |operation: &'static str| {
            metrics::counter!(
                "moviebook_store_requests_total",
                "operation" => operation,
                "caller" => caller
            )
        };
        Counts {
            get: request("get"),
            batch_get: request("batch_get"),
            query: request("query"),
            transact: request("transact"),
            ping: request("ping"),
            scan: request("scan"),
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
        self.counts.get.increment(1);
        self.inner.get(key).instrument(self.span("get")).await
    }

    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        self.counts.batch_get.increment(1);
        self.inner
            .batch_get(keys)
            .instrument(self.span("batch_get"))
            .await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.counts.query.increment(1);
        self.inner.query(query).instrument(self.span("query")).await
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let checks = writes
            .iter()
            .filter(|write| matches!(write, Write::Check { .. }))
            .count();
        self.counts.transact.increment(1);
        self.counts
            .item_writes
            .increment((writes.len() - checks) as u64);
        self.counts.condition_checks.increment(checks as u64);
        self.inner
            .transact(writes)
            .instrument(self.span("transact"))
            .await
    }

    async fn scan(&self, after: Option<&Key>, limit: usize) -> Result<ScanPage, StoreError> {
        self.counts.scan.increment(1);
        self.inner
            .scan(after, limit)
            .instrument(self.span("scan"))
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.counts.ping.increment(1);
        self.inner.ping().instrument(self.span("ping")).await
    }
}
