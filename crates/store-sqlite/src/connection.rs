//! Opening and configuring SQLite connections, and turning SQLite's failures and stored
//! text into the port's types, so the rest of the adapter deals only in items.

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension};
use store::{Attrs, Key, StoreError};

/// How long a statement waits for a lock another process holds before giving up as busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Room for every distinct statement a connection runs (a dozen query shapes and the
/// point reads and writes), so none is ever prepared twice.
const STATEMENT_CACHE: usize = 32;

/// The one table. BINARY collation compares UTF-8 bytes, which is code-point order, the
/// order DynamoDB gives sort keys; WITHOUT ROWID clusters items by key, so a partition's
/// items sit together and a query is one range scan of the primary key. `expires_at` copies
/// the attribute of that name (`store::EXPIRES_AT`) when it is an integer, so that reads can
/// leave expired items out and the sweep can find them by an index of expiring items only.
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS items (
    pk TEXT NOT NULL COLLATE BINARY,
    sk TEXT NOT NULL COLLATE BINARY,
    attrs TEXT NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID";

/// Files made before items could expire have no `expires_at` column (and no expiring item).
const ADD_EXPIRY: &str = "ALTER TABLE items ADD COLUMN expires_at INTEGER";

const EXPIRY_INDEX: &str = "CREATE INDEX IF NOT EXISTS items_by_expiry
    ON items (expires_at) WHERE expires_at IS NOT NULL";

/// The condition that keeps expired items out of a read, `?{n}` being now in epoch seconds.
pub(crate) fn live(now_parameter: usize) -> String {
    format!("(expires_at IS NULL OR expires_at > ?{now_parameter})")
}

/// Opens the connection that does all the writing, creating the file and table if needed.
pub(crate) fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = open(path, flags)?;
    // WAL lets readers run while a write commits; the mode is stored in the file, so
    // later readers inherit it.
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(unavailable)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unavailable(format!(
            "SQLite refused WAL mode for {} (it kept {mode})",
            path.display()
        )));
    }
    // In WAL mode NORMAL still survives a crash of the process, only not of the machine,
    // and saves an fsync per commit.
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(unavailable)?;
    conn.execute_batch(SCHEMA).map_err(unavailable)?;
    if !has_expiry_column(&conn)? {
        conn.execute_batch(ADD_EXPIRY).map_err(unavailable)?;
    }
    conn.execute_batch(EXPIRY_INDEX).map_err(unavailable)?;
    Ok(conn)
}

fn has_expiry_column(conn: &Connection) -> Result<bool, StoreError> {
    conn.prepare("SELECT 1 FROM pragma_table_info('items') WHERE name = 'expires_at'")
        .and_then(|mut statement| statement.exists([]))
        .map_err(unavailable)
}

/// Opens a connection that only reads; the writer must have set the file up already.
pub(crate) fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    open(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
}

fn open(path: &Path, flags: OpenFlags) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(path, flags).map_err(unavailable)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(unavailable)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Every SQLite failure means the store cannot serve the request right now: the port's
/// `Invalid` is for requests that are wrong, and those never reach SQLite.
pub(crate) fn unavailable(error: rusqlite::Error) -> StoreError {
    match error.sqlite_error_code() {
        // Contention with another process is expected now and then; the caller retries.
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {}
        _ => tracing::error!(%error, "the SQLite store failed"),
    }
    StoreError::Unavailable(error.to_string())
}

/// A mutex guard even after a panic elsewhere: a connection stays consistent because an
/// unfinished transaction rolls back when it is dropped.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The attributes column, parsed straight from SQLite's buffer.
pub(crate) struct StoredAttrs(pub(crate) Attrs);

impl FromSql for StoredAttrs {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        serde_json::from_str(value.as_str()?)
            .map(StoredAttrs)
            .map_err(FromSqlError::other)
    }
}

/// The attributes of one item as the connection sees it, or `None` when it is missing or
/// has expired at `now` (epoch seconds).
pub(crate) fn read_attrs(
    conn: &Connection,
    key: &Key,
    now: i64,
) -> Result<Option<Attrs>, StoreError> {
    conn.prepare_cached(
        "SELECT attrs FROM items
         WHERE pk = ?1 AND sk = ?2 AND (expires_at IS NULL OR expires_at > ?3)",
    )
    .and_then(|mut statement| {
        statement
            .query_row((&key.pk, &key.sk, now), |row| {
                row.get(0).map(|StoredAttrs(a)| a)
            })
            .optional()
    })
    .map_err(unavailable)
}
