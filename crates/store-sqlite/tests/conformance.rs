//! Runs the port's conformance suite against a fresh SQLite file per test, and checks what
//! only a file-backed store can promise: the data is still there after reopening, expired
//! items leave the file in the sweep, and a file of an earlier version opens.

use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use store::{EXPIRES_AT, Item, Key, Store, StoreExt, Write, epoch_seconds};
use store_sqlite::{EXPIRY_SWEEP_EVERY, SqliteStore};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

/// A store that keeps its temporary directory alive for as long as the test uses it.
struct FreshStore {
    store: SqliteStore,
    _dir: TempDir,
}

impl Deref for FreshStore {
    type Target = SqliteStore;

    fn deref(&self) -> &SqliteStore {
        &self.store
    }
}

async fn fresh_store() -> FreshStore {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = SqliteStore::open(&dir.path().join("store.db")).expect("open a fresh store");
    FreshStore { store, _dir: dir }
}

store::store_conformance_tests!(fresh_store());

#[tokio::test]
async fn data_survives_closing_and_reopening() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("store.db");
    let key = Key::new("movie#1", "meta");
    let attrs = json!({"title": "Alien", "ratings": {"count": 3}});
    let item = Item::new(key.clone(), attrs.as_object().cloned().expect("an object"));

    let store = SqliteStore::open(&path).expect("open");
    store.write(Write::put(item.clone())).await.expect("put");
    drop(store);

    let store = SqliteStore::open(&path).expect("reopen");
    assert_eq!(store.get(&key).await, Ok(Some(item)));
    assert_eq!(store.ping().await, Ok(()));
}

#[tokio::test]
async fn opening_a_file_in_a_missing_directory_is_unavailable() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let result = SqliteStore::open(&dir.path().join("missing").join("store.db"));
    assert!(matches!(result, Err(store::StoreError::Unavailable(_))));
}

/// Rows in the file, expired or not: what the store's reads do not show.
fn rows(path: &Path) -> i64 {
    let conn = rusqlite::Connection::open(path).expect("open the file");
    conn.query_row("SELECT count(*) FROM items", [], |row| row.get(0))
        .expect("count")
}

async fn put_expiring(store: &SqliteStore, sk: &str, expires_at: i64) {
    let attrs = json!({ EXPIRES_AT: expires_at });
    let item = Item::new(
        Key::new("expiring", sk),
        attrs.as_object().cloned().expect("an object"),
    );
    store.write(Write::put(item)).await.expect("put");
}

#[tokio::test]
async fn expired_items_are_deleted_in_bounded_batches() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("store.db");
    let store = SqliteStore::open(&path).expect("open");
    let past = epoch_seconds() - 60;
    for i in 0..5 {
        put_expiring(&store, &format!("expired{i}"), past).await;
    }
    put_expiring(&store, "later", epoch_seconds() + 3600).await;
    store
        .write(Write::put(Item::new(
            Key::new("lasting", "x"),
            Default::default(),
        )))
        .await
        .expect("put");
    assert_eq!(rows(&path), 7);

    assert_eq!(store.remove_expired(2), Ok(2));
    assert_eq!(store.remove_expired(2), Ok(2));
    assert_eq!(store.remove_expired(2), Ok(1));
    assert_eq!(store.remove_expired(2), Ok(0));
    assert_eq!(rows(&path), 2, "what has not expired stays");
    assert!(
        store
            .get(&Key::new("expiring", "later"))
            .await
            .expect("get")
            .is_some()
    );
}

/// The embedded process's sweep runs at once and then every few minutes; time is paused and
/// moved by hand (expiry itself is read from the wall clock, so the items expired before).
#[tokio::test(start_paused = true)]
async fn the_sweep_deletes_expired_items_every_few_minutes() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("store.db");
    let store = Arc::new(SqliteStore::open(&path).expect("open"));
    let past = epoch_seconds() - 60;
    put_expiring(&store, "before start", past).await;
    let stop = CancellationToken::new();
    let sweeping = tokio::spawn({
        let store = store.clone();
        let stop = stop.clone();
        async move { store.sweep_expired(stop).await }
    });
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(rows(&path), 0, "swept at start");

    put_expiring(&store, "while running", past).await;
    tokio::time::sleep(EXPIRY_SWEEP_EVERY - Duration::from_secs(1)).await;
    assert_eq!(rows(&path), 1, "kept until the next sweep");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(rows(&path), 0, "swept a few minutes later");

    stop.cancel();
    sweeping.await.expect("the sweep stops");
}

#[tokio::test]
async fn a_file_made_before_items_could_expire_is_upgraded_on_open() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("store.db");
    {
        let conn = rusqlite::Connection::open(&path).expect("create");
        conn.execute_batch(
            "CREATE TABLE items (
                pk TEXT NOT NULL COLLATE BINARY,
                sk TEXT NOT NULL COLLATE BINARY,
                attrs TEXT NOT NULL,
                PRIMARY KEY (pk, sk)
            ) WITHOUT ROWID;
            INSERT INTO items VALUES ('movie#1', 'meta', '{\"title\":\"Alien\"}');",
        )
        .expect("the old schema");
    }
    let store = SqliteStore::open(&path).expect("open an old file");
    let old = store.get(&Key::new("movie#1", "meta")).await.expect("get");
    assert_eq!(
        old.map(|item| item.attrs),
        json!({"title": "Alien"}).as_object().cloned()
    );
    put_expiring(&store, "expired", epoch_seconds() - 60).await;
    assert_eq!(store.get(&Key::new("expiring", "expired")).await, Ok(None));
    assert_eq!(store.remove_expired(10), Ok(1));
    drop(store);
    SqliteStore::open(&path).expect("open again");
}
