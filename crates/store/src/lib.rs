//! The store port: a DynamoDB-shaped item store that every service writes through.
//!
//! Items are addressed by a partition key and a sort key and carry a JSON object of
//! attributes. The operations are the ones DynamoDB offers cheaply — get, batch get,
//! query one partition by sort-key prefix in pages, and an all-or-nothing transaction
//! of conditional puts, updates (with atomic counters) and deletes — so that the SQLite
//! and DynamoDB adapters behave alike. Secondary access paths are index items that the
//! services write themselves. An item may expire ([`EXPIRES_AT`]): from then on it is
//! missing to every operation, and the store removes it some time later. The `conformance`
//! feature holds the suite that pins these semantics for every adapter. Every part of a process reads and writes through its own
//! [`Label::labelled`] view of the one store, which counts its requests in `/metrics`.

use std::ops::Bound;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde_json::{Map, Value};

#[cfg(feature = "conformance")]
pub mod conformance;
mod labelled;
mod record;

pub use labelled::Label;
pub use record::{Record, attr_equals, attrs_of};

/// An item's attributes.
pub type Attrs = Map<String, Value>;

/// The most writes one transaction may hold (DynamoDB's limit).
pub const MAX_TRANSACTION_WRITES: usize = 100;

/// The most keys one batch get may name (DynamoDB's limit).
pub const MAX_BATCH_GET_KEYS: usize = 100;

/// The attribute that makes an item expire: an integer, whole seconds since the Unix epoch
/// (DynamoDB's time-to-live format). Once that second has come the item is expired: reads do
/// not return it and conditions find it missing, so it is gone as far as anyone can tell; the
/// store deletes it later (the SQLite adapter within minutes, DynamoDB's time to live
/// typically within days). Only a put writes it: an item that expires is written whole, and
/// an update may not name it (updating an item that expired but is not deleted yet would, on
/// DynamoDB, start from its old attributes).
pub const EXPIRES_AT: &str = "expires_at";

/// Whole seconds since the Unix epoch, now: the clock [`EXPIRES_AT`] is read by.
pub fn epoch_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
        })
}

/// Whether attributes with this [`EXPIRES_AT`] have expired at `now` (epoch seconds).
pub fn expired(expires_at: Option<i64>, now: i64) -> bool {
    expires_at.is_some_and(|at| at <= now)
}

/// The address of an item.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Key {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

/// A stored item. Services read and write items as typed [`Record`]s; the attribute
/// accessors are for adapters and their tests.
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

/// When attributes make their item expire, if they do (see [`EXPIRES_AT`]).
pub fn expires_at(attrs: &Attrs) -> Option<i64> {
    attrs.get(EXPIRES_AT).and_then(Value::as_i64)
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
    /// The attribute must be absent, which it is on a missing item too: the condition of a
    /// first versioned write to an item that other writers may already have created.
    AttrAbsent(String),
}

/// One write of a transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Creates or replaces the whole item.
    Put { item: Item, condition: Condition },
    /// Creates the item if missing, sets the `set` attributes, and adds each `add` delta to
    /// an integer attribute (a missing attribute counts as 0), like DynamoDB's SET and ADD.
    /// Each attribute is named once across `set` and `add`; adding to an attribute that
    /// holds anything but an integer fails the transaction with [`StoreError::Invalid`].
    Update {
        key: Key,
        set: Attrs,
        add: Vec<(String, i64)>,
        condition: Condition,
    },
    /// Removes the item (nothing happens when it is missing and the condition allows it).
    Delete { key: Key, condition: Condition },
    /// Writes nothing; fails the transaction unless the condition holds.
    Check { key: Key, condition: Condition },
}

impl Write {
    /// An unconditional put.
    pub fn put(item: Item) -> Self {
        Write::Put {
            item,
            condition: Condition::Always,
        }
    }

    /// An unconditional delete.
    pub fn delete(key: Key) -> Self {
        Write::Delete {
            key,
            condition: Condition::Always,
        }
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
    /// Return items strictly after this sort key (in the query's direction). Any string is
    /// a position, even one outside the prefix: the page then starts at the prefix's first
    /// item or is empty, so a cursor a client tampered with cannot make the read fail.
    pub after: Option<String>,
    /// At most this many items (1..).
    pub limit: usize,
}

impl Query {
    /// The first `limit` items of a partition whose sort keys start with `sk_prefix`, ascending.
    pub fn prefix(pk: impl Into<String>, sk_prefix: impl Into<String>, limit: usize) -> Self {
        Query {
            pk: pk.into(),
            sk_prefix: sk_prefix.into(),
            descending: false,
            after: None,
            limit,
        }
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

impl Query {
    /// The sort keys this query reads, exactly. The prefix gives `prefix <= sk <
    /// successor(prefix)`; `after` may be any string, even outside the prefix, and it and
    /// the prefix's bound on the side the read starts from are both limits, of which the
    /// tighter is kept. Strings compare by their UTF-8 bytes, as both stores do. The range
    /// may be empty (an `after` before the prefix in a descending read).
    pub fn sk_range(&self) -> (Bound<String>, Bound<String>) {
        let prefix = self.sk_prefix.as_str();
        let successor = prefix_successor(prefix);
        let after = self.after.as_deref();
        let from_prefix = || {
            if prefix.is_empty() {
                Bound::Unbounded
            } else {
                Bound::Included(prefix.to_owned())
            }
        };
        if self.descending {
            let upper = match (after, successor) {
                (Some(after), Some(successor)) if successor.as_str() <= after => {
                    Bound::Excluded(successor)
                }
                (Some(after), _) => Bound::Excluded(after.to_owned()),
                (None, successor) => successor.map_or(Bound::Unbounded, Bound::Excluded),
            };
            (from_prefix(), upper)
        } else {
            let lower = match after {
                Some(after) if after >= prefix => Bound::Excluded(after.to_owned()),
                _ => from_prefix(),
            };
            (lower, successor.map_or(Bound::Unbounded, Bound::Excluded))
        }
    }
}

/// The least string greater than every string that starts with `prefix`, in code-point
/// (UTF-8 byte) order, or `None` when no string is: for "" and for a prefix made only of
/// the last code point.
pub fn prefix_successor(prefix: &str) -> Option<String> {
    let mut successor = prefix.to_owned();
    while let Some(last) = successor.pop() {
        // Trailing last code points cannot grow, so the one before them grows instead.
        let next = match last {
            char::MAX => continue,
            // The surrogates are not characters; the next one after them is.
            '\u{D7FF}' => '\u{E000}',
            _ => char::from_u32(u32::from(last) + 1)?,
        };
        successor.push(next);
        return Some(successor);
    }
    None
}

/// One page of a query.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<Item>,
    /// True exactly when more items match after the last one returned.
    pub more: bool,
}

/// One page of a [`Store::scan`].
#[derive(Debug, Clone, PartialEq)]
pub struct ScanPage {
    pub items: Vec<Item>,
    /// Where the next page starts (pass it back as `after`); `None` once every item was
    /// returned. A page may hold fewer items than asked for, even none, and still have a next.
    pub next: Option<Key>,
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
    /// The request itself is wrong (too many writes, one key written twice, an empty key, a
    /// counter added to an attribute that is not an integer).
    #[error("invalid store request: {0}")]
    Invalid(String),
    /// A stored item does not decode as the record its key says it is: a bug or an
    /// incompatible version, not a request to retry.
    #[error("malformed stored item: {0}")]
    Malformed(String),
}

/// The store port. An expired item (see [`EXPIRES_AT`]) is missing to every operation.
#[async_trait]
pub trait Store: Send + Sync {
    /// One item, or `None` (also for a key with an empty part, which no item has).
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;

    /// Several items at once (at most [`MAX_BATCH_GET_KEYS`]), in the order of `keys`,
    /// `None` where an item is missing; a key named twice answers twice (see
    /// [`check_batch_get`] for the requests refused).
    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError>;

    /// One page of one partition (see [`check_query`] for the requests refused).
    async fn query(&self, query: &Query) -> Result<Page, StoreError>;

    /// Applies every write or none (at most [`MAX_TRANSACTION_WRITES`], each key at most once;
    /// see [`check_transaction`]). When conditions fail, the error names the first failing write.
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError>;

    /// A page of every item of the store, in an order of the adapter's choosing, starting
    /// after the position `after` that the previous page returned as its `next` (`None`
    /// for the first page); at most `limit` (1..) items. It reads the whole table, so only
    /// audits use it (`moviebook verify`), never a request.
    async fn scan(&self, after: Option<&Key>, limit: usize) -> Result<ScanPage, StoreError>;

    /// Answers when the store is reachable, for readiness checks.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Checks the rules every adapter enforces before writing, so both refuse the same requests.
pub fn check_transaction(writes: &[Write]) -> Result<(), StoreError> {
    if writes.is_empty() {
        return Err(StoreError::Invalid(
            "a transaction needs at least one write".into(),
        ));
    }
    if writes.len() > MAX_TRANSACTION_WRITES {
        return Err(StoreError::Invalid(format!(
            "a transaction holds at most {MAX_TRANSACTION_WRITES} writes, not {}",
            writes.len()
        )));
    }
    let mut keys: Vec<&Key> = writes.iter().map(Write::key).collect();
    keys.iter().try_for_each(|key| check_key(key))?;
    keys.sort();
    if keys.windows(2).any(|pair| pair[0] == pair[1]) {
        return Err(StoreError::Invalid(
            "a transaction writes each key at most once".into(),
        ));
    }
    writes.iter().try_for_each(check_update_paths)?;
    writes.iter().try_for_each(check_expiry)
}

/// An item's expiry is an integer, and only a put writes it (see [`EXPIRES_AT`]).
fn check_expiry(write: &Write) -> Result<(), StoreError> {
    match write {
        Write::Put { item, .. } => match item.attrs.get(EXPIRES_AT) {
            Some(value) if value.as_i64().is_none() => Err(StoreError::Invalid(format!(
                "{EXPIRES_AT} must be an integer of epoch seconds, not {value}"
            ))),
            _ => Ok(()),
        },
        Write::Update { set, add, .. }
            if set.contains_key(EXPIRES_AT) || add.iter().any(|(name, _)| name == EXPIRES_AT) =>
        {
            Err(StoreError::Invalid(format!(
                "an update may not name {EXPIRES_AT}: an item that expires is put whole"
            )))
        }
        _ => Ok(()),
    }
}

/// DynamoDB refuses an update expression that names one attribute twice (its paths
/// "overlap"), so an update may set or add each attribute only once.
fn check_update_paths(write: &Write) -> Result<(), StoreError> {
    let Write::Update { set, add, .. } = write else {
        return Ok(());
    };
    let mut added: Vec<&str> = add.iter().map(|(name, _)| name.as_str()).collect();
    added.sort_unstable();
    let twice = added
        .windows(2)
        .find(|pair| pair[0] == pair[1])
        .map(|pair| pair[0]);
    match twice.or_else(|| added.iter().copied().find(|name| set.contains_key(*name))) {
        Some(name) => Err(StoreError::Invalid(format!(
            "an update names attribute {name:?} more than once"
        ))),
        None => Ok(()),
    }
}

/// DynamoDB refuses empty key strings, so no item ever has one.
fn check_key(key: &Key) -> Result<(), StoreError> {
    if key.pk.is_empty() || key.sk.is_empty() {
        return Err(StoreError::Invalid("keys must not be empty".into()));
    }
    Ok(())
}

/// Checks the rule every adapter enforces before a batch get, so both refuse the same
/// requests. (A key with an empty part is allowed: no item has one, so it answers `None`.)
pub fn check_batch_get(keys: &[Key]) -> Result<(), StoreError> {
    if keys.len() > MAX_BATCH_GET_KEYS {
        return Err(StoreError::Invalid(format!(
            "a batch get names at most {MAX_BATCH_GET_KEYS} keys, not {}",
            keys.len()
        )));
    }
    Ok(())
}

/// Checks the rule every adapter enforces before a query, so both refuse the same requests.
/// (An empty partition key is allowed and finds nothing; any `after` is a valid position.)
pub fn check_query(query: &Query) -> Result<(), StoreError> {
    if query.limit == 0 {
        return Err(StoreError::Invalid(
            "a query's limit must be at least 1".into(),
        ));
    }
    Ok(())
}

/// Checks the rule every adapter enforces before a scan.
pub fn check_scan(limit: usize) -> Result<(), StoreError> {
    if limit == 0 {
        return Err(StoreError::Invalid(
            "a scan's limit must be at least 1".into(),
        ));
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

    /// The record stored at `key`, or `None`; a stored item that does not decode as `R` is
    /// [`StoreError::Malformed`].
    async fn get_record<R: Record + Send>(&self, key: &Key) -> Result<Option<R>, StoreError> {
        self.get(key)
            .await?
            .map(|item| R::from_item(&item))
            .transpose()
    }
}

impl<S: Store + ?Sized> StoreExt for S {}

/// How many items one page of [`every_item`] asks for.
const SCAN_PAGE: usize = 1000;

/// Every item of the store, page after page: the whole table in memory, for audits.
pub async fn every_item(store: &dyn Store) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::new();
    let mut after = None;
    loop {
        let page = store.scan(after.as_ref(), SCAN_PAGE).await?;
        items.extend(page.items);
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(items),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successor_increments_the_last_code_point_that_can_grow() {
        assert_eq!(prefix_successor(""), None);
        assert_eq!(prefix_successor("a"), Some("b".into()));
        assert_eq!(prefix_successor("a#"), Some("a$".into()));
        assert_eq!(prefix_successor("é"), Some("ê".into()));
        assert_eq!(prefix_successor("\u{7F}"), Some("\u{80}".into()));
        assert_eq!(prefix_successor("\u{FFFF}"), Some("\u{10000}".into()));
        assert_eq!(prefix_successor("x\u{D7FF}"), Some("x\u{E000}".into()));
        assert_eq!(
            prefix_successor("ab\u{10FFFF}\u{10FFFF}"),
            Some("ac".into())
        );
        assert_eq!(prefix_successor("\u{10FFFF}"), None);
    }

    fn update(set: &[&str], add: &[&str]) -> Write {
        Write::Update {
            key: Key::new("p", "s"),
            set: set
                .iter()
                .map(|name| (name.to_string(), Value::Null))
                .collect(),
            add: add.iter().map(|name| (name.to_string(), 1)).collect(),
            condition: Condition::Always,
        }
    }

    #[test]
    fn an_update_names_each_attribute_once() {
        assert_eq!(
            check_transaction(&[update(&["a", "b"], &["c", "d"])]),
            Ok(())
        );
        assert!(check_transaction(&[update(&["a"], &["b", "a"])]).is_err());
        assert!(check_transaction(&[update(&[], &["b", "c", "b"])]).is_err());
    }

    #[test]
    fn reads_refuse_only_what_the_port_documents() {
        let keys = |n: usize| {
            (0..n)
                .map(|i| Key::new("p", i.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(check_batch_get(&[]), Ok(()));
        assert_eq!(check_batch_get(&keys(MAX_BATCH_GET_KEYS)), Ok(()));
        assert!(check_batch_get(&keys(MAX_BATCH_GET_KEYS + 1)).is_err());
        assert_eq!(check_batch_get(&[Key::new("p", "")]), Ok(()));

        assert_eq!(
            check_query(&Query::prefix("", "a#", 1).after(Some("z".into()))),
            Ok(())
        );
        assert!(check_query(&Query::prefix("p", "", 0)).is_err());
    }
}
