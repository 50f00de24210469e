//! The SQLite adapter of the store port, for the embedded deployment: every item lives in
//! one table of one database file.
//!
//! The service is read-heavy, so reads go to a pool of read-only connections that WAL mode
//! lets run beside the single writer connection, which sits behind a mutex because SQLite
//! takes one writer at a time anyway. Calls are short, so they run on the calling task's
//! thread rather than being sent to a blocking pool, which measured faster here.
//!
//! Expired items (`store::EXPIRES_AT`) are left out of every read and condition at once, and
//! deleted by [`SqliteStore::sweep_expired`], which the embedded process runs every few
//! minutes: a local, indexed delete of bounded batches, not a request through the port.

pub mod backup;
mod connection;
mod range;
mod readers;

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, ToSql, TransactionBehavior};
use serde_json::Value;
use store::{
    Attrs, Condition, Item, Key, Page, Query, ScanPage, Store, StoreError, Write, check_batch_get,
    check_query, check_scan, check_transaction, epoch_seconds, expires_at,
};
use tokio_util::sync::CancellationToken;

use connection::{StoredAttrs, lock, open_writer, read_attrs, unavailable};
use range::PageSql;
use readers::Readers;

/// How often [`SqliteStore::sweep_expired`] deletes expired items. Expired items are already
/// invisible, so this only bounds the room they take: a few minutes' worth.
pub const EXPIRY_SWEEP_EVERY: Duration = Duration::from_secs(5 * 60);

/// How many expired items one delete takes at most, so that the writer is never held for
/// long; a sweep deletes batch after batch until none is left.
const EXPIRY_BATCH: usize = 1000;

/// A store kept in one SQLite database file.
pub struct SqliteStore {
    writer: Mutex<Connection>,
    readers: Readers,
}

impl SqliteStore {
    /// Opens the store kept in the database file at `path`, creating the file (not its
    /// directory) and the table when they do not exist yet. SQLite keeps its write-ahead
    /// log in two more files beside it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let writer = open_writer(path)?;
        Ok(SqliteStore {
            writer: Mutex::new(writer),
            readers: Readers::new(path.to_owned()),
        })
    }

    /// Deletes up to `most` expired items and answers how many it deleted. The items are found
    /// through the index of expiring items, oldest expiry first.
    pub fn remove_expired(&self, most: usize) -> Result<usize, StoreError> {
        let most = i64::try_from(most).unwrap_or(i64::MAX);
        lock(&self.writer)
            .prepare_cached(
                "DELETE FROM items WHERE (pk, sk) IN (
                     SELECT pk, sk FROM items
                     WHERE expires_at IS NOT NULL AND expires_at <= ?1
                     ORDER BY expires_at LIMIT ?2)",
            )
            .and_then(|mut statement| statement.execute((epoch_seconds(), most)))
            .map_err(unavailable)
    }

    /// Deletes every expired item now and then every [`EXPIRY_SWEEP_EVERY`], until `stop`.
    /// Each batch takes the writer for a moment only; a failed sweep is logged and the next
    /// one tries again.
    pub async fn sweep_expired(&self, stop: CancellationToken) {
        let mut sweeps = tokio::time::interval(EXPIRY_SWEEP_EVERY);
        sweeps.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = sweeps.tick() => {}
                () = stop.cancelled() => return,
            }
            let mut removed = 0;
            loop {
                match self.remove_expired(EXPIRY_BATCH) {
                    Ok(batch) => {
                        removed += batch;
                        if batch < EXPIRY_BATCH {
                            break;
                        }
                        // Writes waiting for the writer go first.
                        tokio::task::yield_now().await;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "deleting expired items failed; the next sweep tries again");
                        break;
                    }
                }
            }
            if removed > 0 {
                tracing::debug!(removed, "deleted expired items");
            }
        }
    }

    fn apply(&self, writes: &[Write]) -> Result<(), StoreError> {
        let mut conn = lock(&self.writer);
        // A rollback that failed (an I/O error) can leave a transaction open, and every
        // later BEGIN would then fail; closing it first keeps the writer usable.
        if !conn.is_autocommit() {
            conn.execute_batch("ROLLBACK").map_err(unavailable)?;
        }
        // IMMEDIATE takes the write lock before reading, so no other process can change
        // what the conditions saw. Returning early drops the transaction, which rolls back.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(unavailable)?;
        // Each key appears once, so reading them all before writing any is reading the
        // state before the transaction. An expired item reads as missing, so a put or an
        // update over it starts afresh.
        let now = epoch_seconds();
        let mut before = Vec::with_capacity(writes.len());
        for (index, write) in writes.iter().enumerate() {
            let current = read_attrs(&tx, write.key(), now)?;
            if !holds(condition(write), current.as_ref()) {
                return Err(StoreError::ConditionFailed { index });
            }
            before.push(current);
        }
        for (write, current) in writes.iter().zip(before) {
            match write {
                Write::Put { item, .. } => upsert(&tx, &item.key, &item.attrs)?,
                Write::Update { key, set, add, .. } => {
                    upsert(&tx, key, &updated(current.unwrap_or_default(), set, add)?)?;
                }
                Write::Delete { key, .. } => {
                    tx.prepare_cached("DELETE FROM items WHERE pk = ?1 AND sk = ?2")
                        .and_then(|mut statement| statement.execute((&key.pk, &key.sk)))
                        .map_err(unavailable)?;
                }
                Write::Check { .. } => {}
            }
        }
        tx.commit().map_err(unavailable)
    }
}

fn condition(write: &Write) -> &Condition {
    match write {
        Write::Put { condition, .. }
        | Write::Update { condition, .. }
        | Write::Delete { condition, .. }
        | Write::Check { condition, .. } => condition,
    }
}

fn holds(condition: &Condition, current: Option<&Attrs>) -> bool {
    match condition {
        Condition::Always => true,
        Condition::NotExists => current.is_none(),
        Condition::Exists => current.is_some(),
        Condition::AttrEquals(name, value) => {
            current.and_then(|attrs| attrs.get(name)) == Some(value)
        }
        Condition::AttrAbsent(name) => current.is_none_or(|attrs| !attrs.contains_key(name)),
    }
}

/// The attributes after an update's SET and ADD.
fn updated(mut attrs: Attrs, set: &Attrs, add: &[(String, i64)]) -> Result<Attrs, StoreError> {
    attrs.extend(
        set.iter()
            .map(|(name, value)| (name.clone(), value.clone())),
    );
    for (name, delta) in add {
        let current = match attrs.get(name) {
            None => 0,
            Some(value) => value.as_i64().ok_or_else(|| {
                StoreError::Invalid(format!(
                    "cannot add to attribute {name:?}, which holds {value}"
                ))
            })?,
        };
        let sum = current.checked_add(*delta).ok_or_else(|| {
            StoreError::Invalid(format!("adding {delta} to attribute {name:?} overflows"))
        })?;
        attrs.insert(name.clone(), Value::from(sum));
    }
    Ok(attrs)
}

fn upsert(conn: &Connection, key: &Key, attrs: &Attrs) -> Result<(), StoreError> {
    let json = serde_json::to_string(attrs)
        .map_err(|e| StoreError::Invalid(format!("attributes of {key:?} are not JSON: {e}")))?;
    conn.prepare_cached(
        "INSERT INTO items (pk, sk, attrs, expires_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (pk, sk) DO UPDATE SET attrs = excluded.attrs, expires_at = excluded.expires_at",
    )
    .and_then(|mut statement| statement.execute((&key.pk, &key.sk, &json, expires_at(attrs))))
    .map_err(unavailable)?;
    Ok(())
}

fn query_page(conn: &Connection, query: &Query) -> Result<Page, StoreError> {
    let page_sql = PageSql::of(query);
    let now = epoch_seconds();
    // One row past the limit tells whether more match without a second query.
    let fetch = i64::try_from(query.limit.saturating_add(1)).unwrap_or(i64::MAX);
    let mut params: Vec<&dyn ToSql> = Vec::with_capacity(page_sql.bounds.len() + 3);
    params.push(&query.pk);
    params.extend(page_sql.bounds.iter().map(|bound| bound as &dyn ToSql));
    params.push(&now);
    params.push(&fetch);

    let mut statement = conn.prepare_cached(&page_sql.sql).map_err(unavailable)?;
    let mut items = statement
        .query_map(params.as_slice(), |row| {
            let StoredAttrs(attrs) = row.get(1)?;
            Ok(Item::new(
                Key::new(query.pk.as_str(), row.get::<_, String>(0)?),
                attrs,
            ))
        })
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(unavailable)?;
    let more = items.len() > query.limit;
    items.truncate(query.limit);
    Ok(Page { items, more })
}

/// A page of every item in key order, after `after`, leaving out what has expired.
fn scan_page(conn: &Connection, after: Option<&Key>, limit: usize) -> Result<ScanPage, StoreError> {
    let now = epoch_seconds();
    let fetch = i64::try_from(limit).unwrap_or(i64::MAX);
    // The key order makes the position a plain comparison of the primary key.
    let (pk, sk) = after.map_or(("", ""), |key| (key.pk.as_str(), key.sk.as_str()));
    let mut statement = conn
        .prepare_cached(
            "SELECT pk, sk, attrs FROM items WHERE (pk, sk) > (?1, ?2)
             AND (expires_at IS NULL OR expires_at > ?3) ORDER BY pk, sk LIMIT ?4",
        )
        .map_err(unavailable)?;
    let items = statement
        .query_map((pk, sk, now, fetch), |row| {
            let StoredAttrs(attrs) = row.get(2)?;
            Ok(Item::new(
                Key::new(row.get::<_, String>(0)?, row.get::<_, String>(1)?),
                attrs,
            ))
        })
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(unavailable)?;
    let next = (items.len() == limit)
        .then(|| items.last().map(|item| item.key.clone()))
        .flatten();
    Ok(ScanPage { items, next })
}

#[async_trait]
impl Store for SqliteStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let now = epoch_seconds();
        let attrs = self.readers.with(|conn| read_attrs(conn, key, now))?;
        Ok(attrs.map(|attrs| Item::new(key.clone(), attrs)))
    }

    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        check_batch_get(keys)?;
        let now = epoch_seconds();
        self.readers.with(|conn| {
            keys.iter()
                .map(|key| {
                    let attrs = read_attrs(conn, key, now)?;
                    Ok(attrs.map(|attrs| Item::new(key.clone(), attrs)))
                })
                .collect()
        })
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        check_query(query)?;
        self.readers.with(|conn| query_page(conn, query))
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        check_transaction(&writes)?;
        self.apply(&writes)
    }

    async fn scan(&self, after: Option<&Key>, limit: usize) -> Result<ScanPage, StoreError> {
        check_scan(limit)?;
        self.readers.with(|conn| scan_page(conn, after, limit))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.readers.with(|conn| {
            conn.prepare_cached("SELECT 1 FROM items LIMIT 1")
                .and_then(|mut statement| statement.query_row([], |_| Ok(())).optional())
                .map(drop)
                .map_err(unavailable)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every query shape must be a search of the primary key in its own order: no scan of
    /// the table and no sort.
    #[test]
    fn every_query_shape_is_one_primary_key_range() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = SqliteStore::open(&dir.path().join("store.db")).expect("open");
        let conn = lock(&store.writer);
        for descending in [false, true] {
            for prefix in ["", "a#", "\u{10FFFF}"] {
                for after in [None, Some(format!("{prefix}x"))] {
                    let query = Query {
                        pk: "p".into(),
                        sk_prefix: prefix.into(),
                        descending,
                        after,
                        limit: 10,
                    };
                    let sql = PageSql::of(&query).sql;
                    let plan: Vec<String> = conn
                        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                        .and_then(|mut statement| {
                            let unbound = vec![rusqlite::types::Null; statement.parameter_count()];
                            let params = rusqlite::params_from_iter(unbound);
                            let rows =
                                statement.query_map(params, |row| row.get::<_, String>(3))?;
                            rows.collect()
                        })
                        .expect("query plan");
                    assert_eq!(plan.len(), 1, "{sql}: {plan:?}");
                    assert!(
                        plan[0].starts_with("SEARCH items USING PRIMARY KEY (pk=?"),
                        "{sql}: {plan:?}"
                    );
                    let bounded = !prefix.is_empty() || query.after.is_some();
                    assert_eq!(plan[0].contains("sk"), bounded, "{sql}: {plan:?}");
                }
            }
        }
    }

    /// The sweep finds expired items through the index of expiring items, not by reading the
    /// table.
    #[test]
    fn the_sweep_reads_the_index_of_expiring_items() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = SqliteStore::open(&dir.path().join("store.db")).expect("open");
        let conn = lock(&store.writer);
        let plan: Vec<String> = conn
            .prepare(
                "EXPLAIN QUERY PLAN SELECT pk, sk FROM items
                 WHERE expires_at IS NOT NULL AND expires_at <= ?1 ORDER BY expires_at LIMIT ?2",
            )
            .and_then(|mut statement| {
                let rows = statement.query_map((0, 10), |row| row.get::<_, String>(3))?;
                rows.collect()
            })
            .expect("query plan");
        assert_eq!(plan.len(), 1, "{plan:?}");
        assert!(
            plan[0].starts_with("SEARCH items USING COVERING INDEX items_by_expiry"),
            "{plan:?}"
        );
    }
}
