//! Runs the port's conformance suite on files in a temporary folder, and checks what only the
//! file adapter has to get right: where the files go, that nothing but a whole object is ever
//! under a key's name, that crashed writes' leftovers are swept, and that a folder that is gone
//! is reported as unavailable.

use std::fs::{self, File};
use std::ops::Deref;
use std::time::{Duration, SystemTime};

use objects::{ObjectError, ObjectKey, ObjectStore};
use objects_fs::FsObjectStore;
use tempfile::TempDir;

/// A store in a folder of its own, deleted with it.
struct TempStore {
    store: FsObjectStore,
    _folder: TempDir,
}

impl Deref for TempStore {
    type Target = FsObjectStore;
    fn deref(&self) -> &FsObjectStore {
        &self.store
    }
}

async fn fresh_store() -> TempStore {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let store = FsObjectStore::open(folder.path().join("images"))
        .await
        .expect("opening the store");
    TempStore {
        store,
        _folder: folder,
    }
}

objects::object_store_conformance_tests!(fresh_store());

fn key(text: &str) -> ObjectKey {
    ObjectKey::new(text).expect("a valid key")
}

/// Every file in the store's folders, as `folder/file`, sorted.
fn files(store: &FsObjectStore) -> Vec<String> {
    let mut names = Vec::new();
    for folder in fs::read_dir(store.root()).expect("listing the root") {
        let folder = folder.expect("a folder").path();
        for file in fs::read_dir(&folder).expect("listing a folder") {
            let file = file.expect("a file");
            names.push(format!(
                "{}/{}",
                folder.file_name().unwrap_or_default().to_string_lossy(),
                file.file_name().to_string_lossy()
            ));
        }
    }
    names.sort();
    names
}

#[tokio::test]
async fn each_object_is_one_file_one_folder_down_and_nothing_is_left_beside_it() {
    let store = fresh_store().await;
    store
        .put(&key("movies/m1/u1.jpg"), b"one".to_vec(), "image/jpeg")
        .await
        .expect("put");
    store
        .put(&key("movies/m1"), b"two".to_vec(), "image/jpeg")
        .await
        .expect("put");
    store
        .put(&key("actors"), b"three".to_vec(), "image/png")
        .await
        .expect("put");
    assert_eq!(
        files(&store),
        [
            "actors/actors",
            "movies/movies+m1",
            "movies/movies+m1+u1.jpg"
        ]
    );
    let written = fs::read(store.root().join("movies/movies+m1+u1.jpg")).expect("the file");
    assert_eq!(written, b"moviebook-object/1 image/jpeg\none");
    store
        .delete(&key("movies/m1/u1.jpg"))
        .await
        .expect("delete");
    assert_eq!(files(&store), ["actors/actors", "movies/movies+m1"]);
}

#[tokio::test]
async fn a_failed_put_leaves_the_old_object_and_no_temporary_file() {
    let store = fresh_store().await;
    let poster = key("movies/m1/poster.jpg");
    store
        .put(&poster, b"old".to_vec(), "image/jpeg")
        .await
        .expect("put");
    // A folder where the file would go makes the rename fail after the bytes were written.
    let blocked = key("movies/m1/blocked.jpg");
    fs::create_dir(store.root().join("movies/movies+m1+blocked.jpg")).expect("a folder");
    let refused = store.put(&blocked, b"new".to_vec(), "image/jpeg").await;
    assert!(
        matches!(refused, Err(ObjectError::Unavailable(_))),
        "{refused:?}"
    );
    assert_eq!(
        files(&store),
        [
            "movies/movies+m1+blocked.jpg",
            "movies/movies+m1+poster.jpg"
        ]
    );
    let kept = store.get(&poster).await.expect("get").expect("the poster");
    assert_eq!(kept.bytes, b"old");
}

#[tokio::test]
async fn opening_sweeps_only_temporary_files_older_than_an_hour() {
    let store = fresh_store().await;
    store
        .put(&key("movies/m1/a.jpg"), b"a".to_vec(), "image/jpeg")
        .await
        .expect("put");
    let folder = store.root().join("movies");
    let stale = folder.join(".tmp-stale");
    let fresh = folder.join(".tmp-fresh");
    fs::write(&stale, b"half").expect("a stale temporary file");
    fs::write(&fresh, b"half").expect("a fresh temporary file");
    let two_hours_ago = SystemTime::now() - Duration::from_secs(2 * 60 * 60);
    File::options()
        .write(true)
        .open(&stale)
        .and_then(|file| file.set_modified(two_hours_ago))
        .expect("ageing the stale file");
    // An old object file is never swept, however old.
    File::options()
        .write(true)
        .open(folder.join("movies+m1+a.jpg"))
        .and_then(|file| file.set_modified(two_hours_ago))
        .expect("ageing an object");

    let reopened = FsObjectStore::open(store.root()).await.expect("reopening");
    assert_eq!(
        files(&reopened),
        ["movies/.tmp-fresh", "movies/movies+m1+a.jpg"]
    );
}

#[tokio::test]
async fn a_file_that_is_not_an_object_is_unavailable_not_served() {
    let store = fresh_store().await;
    fs::create_dir_all(store.root().join("movies")).expect("a folder");
    fs::write(
        store.root().join("movies/movies+m1+x.jpg"),
        b"\xff\xd8 raw jpeg",
    )
    .expect("a file");
    let read = store.get(&key("movies/m1/x.jpg")).await;
    assert!(matches!(read, Err(ObjectError::Unavailable(_))), "{read:?}");
}

#[tokio::test]
async fn a_root_that_is_gone_is_unavailable() {
    let store = fresh_store().await;
    fs::remove_dir_all(store.root()).expect("removing the root");
    fs::write(store.root(), b"a file, not a folder").expect("a file in its place");
    assert!(matches!(
        store.ping().await,
        Err(ObjectError::Unavailable(_))
    ));
    let put = store
        .put(&key("movies/m1/a.jpg"), b"a".to_vec(), "image/jpeg")
        .await;
    assert!(matches!(put, Err(ObjectError::Unavailable(_))), "{put:?}");
    let get = store.get(&key("movies/m1/a.jpg")).await;
    assert!(matches!(get, Err(ObjectError::Unavailable(_))), "{get:?}");
}
