//! Runs the port's conformance suite against a fresh SQLite file per test, and checks what
//! only a file-backed store can promise: the data is still there after reopening.

use std::ops::Deref;

use serde_json::json;
use store::{Item, Key, Store, StoreExt, Write};
use store_sqlite::SqliteStore;
use tempfile::TempDir;

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
