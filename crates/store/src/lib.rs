//! The store port: a DynamoDB-shaped item store that every service writes through.
//!
//! Items are addressed by a partition key and a sort key and carry a JSON object of
//! attributes. The operations are the ones DynamoDB offers cheaply — get, batch get,
//! query one partition by sort-key prefix in pages, and an all-or-nothing transaction
//! of conditional puts, updates (with atomic counters) and deletes — so that the SQLite
//! and DynamoDB adapters behave alike. Secondary access paths are index items that the
//! services write themselves. The `conformance` feature holds the suite that pins these
//! semantics for every adapter.

use async_trait::async_trait;
use serde_json::{Map, Value};

#[cfg(feature = "conformance")]
pub mod conformance;

/// An item's attributes.
pub type Attrs = Map<String, Value>;

/// The most writes one transaction may hold (DynamoDB's limit).
pub const MAX_TRANSACTION_WRITES: usize = 100;

/// The most keys one batch get may name (DynamoDB's limit).
pub const MAX_BATCH_GET_KEYS: usize = 100;

/// The address of an item.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Key { pk: pk.into(), sk: sk.into() }
    }
}

/// A stored item.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub key: Key,
    pub attrs: Attrs,
}

impl Item {
    pub fn new(key: Key, attrs: Attrs) -> Self {
        Item { key, attrs }
    }

    /// A string attribute.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).and_then(Value::as_str)
    }

    /// An integer attribute; counters that were never added to read as 0.
    pub fn int(&self, name: &str) -> i64 {
        self.attrs.get(name).and_then(Value::as_i64).unwrap_or(0)
    }

    /// Any attribute.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.attrs.get(name)
    }
}

/// A condition a write needs to hold on the item as it is before the transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// No condition.
    Always,
    /// The item must not exist.
    NotExists,
    /// The item must exist.
    Exists,
    /// The item must exist and its attribute must equal the value (JSON equality; an
    /// attribute that is absent equals nothing, not even `null`).
    AttrEquals(String, Value),
}

/// One write of a transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Creates or replaces the whole item.
    Put { item: Item, condition: Condition },
    /// Creates the item if missing, sets the `set` attributes, and adds each `add` delta to
    /// an integer attribute (a missing attribute counts as 0), like DynamoDB's SET and ADD.
    Update { key: Key, set: Attrs, add: Vec<(String, i64)>, condition: Condition },
    /// Removes the item (nothing happens when it is missing and the condition allows it).
    Delete { key: Key, condition: Condition },
    /// Writes nothing; fails the transaction unless the condition holds.
    Check { key: Key, condition: Condition },
}

impl Write {
    /// An unconditional put.
    pub fn put(item: Item) -> Self {
        Write::Put { item, condition: Condition::Always }
    }

    /// An unconditional delete.
    pub fn delete(key: Key) -> Self {
        Write::Delete { key, condition: Condition::Always }
    }

    /// The key the write touches.
    pub fn key(&self) -> &Key {
        match self {
            Write::Put { item, .. } => &item.key,
            Write::Update { key, .. } | Write::Delete { key, .. } | Write::Check { key, .. } => key,
        }
    }
}

/// A read of one partition, in sort-key order, starting after a given sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub pk: String,
    /// Only sort keys that start with this prefix ("" for all).
    pub sk_prefix: String,
    /// Newest-first style reads go backwards through the sort keys.
    pub descending: bool,
    /// Return items strictly after this sort key (in the query's direction).
    pub after: Option<String>,
    /// At most this many items (1..).
    pub limit: usize,
}

impl Query {
    /// The first `limit` items of a partition whose sort keys start with `sk_prefix`, ascending.
    pub fn prefix(pk: impl Into<String>, sk_prefix: impl Into<String>, limit: usize) -> Self {
        Query { pk: pk.into(), sk_prefix: sk_prefix.into(), descending: false, after: None, limit }
    }

    /// The same read in descending sort-key order.
    pub fn descending(mut self) -> Self {
        self.descending = true;
        self
    }

    /// The same read, continuing after `sk`.
    pub fn after(mut self, sk: Option<String>) -> Self {
        self.after = sk;
        self
    }
}

/// One page of a query.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<Item>,
    /// True exactly when more items match after the last one returned.
    pub more: bool,
}

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// The condition of the write at this index in the transaction did not hold; nothing was written.
    #[error("the condition of write {index} did not hold")]
    ConditionFailed { index: usize },
    /// The store cannot be reached or refused to work; nothing was written. Worth retrying later.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// The request itself is wrong (too many writes, one key written twice, an empty key).
    #[error("invalid store request: {0}")]
    Invalid(String),
}

/// The store port.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// One item, or `None`.
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;

    /// Several items at once (at most [`MAX_BATCH_GET_KEYS`]), in the order of `keys`,
    /// `None` where an item is missing.
    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError>;

    /// One page of one partition.
    async fn query(&self, query: &Query) -> Result<Page, StoreError>;

    /// Applies every write or none (at most [`MAX_TRANSACTION_WRITES`], each key at most once).
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError>;

    /// Answers when the store is reachable, for readiness checks.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Checks the rules every adapter enforces before writing, so both refuse the same requests.
pub fn check_transaction(writes: &[Write]) -> Result<(), StoreError> {
    if writes.is_empty() {
        return Err(StoreError::Invalid("a transaction needs at least one write".into()));
    }
    if writes.len() > MAX_TRANSACTION_WRITES {
        return Err(StoreError::Invalid(format!(
            "a transaction holds at most {MAX_TRANSACTION_WRITES} writes, not {}",
            writes.len()
        )));
    }
    let mut keys: Vec<&Key> = writes.iter().map(Write::key).collect();
    if keys.iter().any(|k| k.pk.is_empty() || k.sk.is_empty()) {
        return Err(StoreError::Invalid("keys must not be empty".into()));
    }
    keys.sort();
    if keys.windows(2).any(|pair| pair[0] == pair[1]) {
        return Err(StoreError::Invalid("a transaction writes each key at most once".into()));
    }
    Ok(())
}

/// Convenience calls built on the port.
#[async_trait]
pub trait StoreExt: Store {
    /// A single conditional write.
    async fn write(&self, write: Write) -> Result<(), StoreError> {
        self.transact(vec![write]).await
    }
}

impl<S: Store + ?Sized> StoreExt for S {}
