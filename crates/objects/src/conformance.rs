//! The conformance suite every object-store adapter must pass, so that code written against
//! the port behaves the same on files and on S3.
//!
//! Each case is a public async function taking the store under test. The cases may run against
//! a shared, long-lived bucket, so every case writes only under a prefix it made up itself with
//! a fresh UUID and never assumes the store is empty. An adapter's test file runs them all with
//! [`object_store_conformance_tests!`](crate::object_store_conformance_tests):
//!
//! ```text
//! async fn fresh_store() -> Arc<dyn ObjectStore> { /* ... */ }
//! objects::object_store_conformance_tests!(fresh_store());
//! ```
//!
//! The cases assert with panics, as tests do: this module is test support, not service code.

use futures::future::join_all;
use uuid::Uuid;

use crate::{MAX_KEY_BYTES, Object, ObjectError, ObjectKey, ObjectStore};

/// Runs every conformance case as its own `#[tokio::test]` in a module named
/// `object_store_conformance`.
///
/// `$make_store` is an expression evaluated once per test, in the module that invokes the
/// macro, whose `.await` yields something that dereferences to an object store (an `Arc`, or a
/// guard that also keeps a temporary directory alive). The invoking crate needs `tokio` with
/// the multi-thread runtime as a (dev-)dependency.
#[macro_export]
macro_rules! object_store_conformance_tests {
    ($make_store:expr) => {
        $crate::object_store_conformance_tests!(@cases $make_store;
            put_then_get_round_trips,
            get_of_a_missing_key_is_none,
            put_replaces_bytes_and_content_type,
            delete_removes_and_may_repeat,
            empty_and_large_objects_round_trip,
            keys_that_continue_each_other_are_apart,
            concurrent_puts_leave_one_whole_object,
            invalid_content_types_are_refused,
            ping_answers,
        );
    };
    (@cases $make_store:expr; $($case:ident),+ $(,)?) => {
        mod object_store_conformance {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let store = $make_store.await;
                    $crate::conformance::$case(&*store).await;
                }
            )+
        }
    };
}

/// A key under a prefix no other case or test run uses: `conformance/{case}/{uuid}/{rest}`.
fn fresh_key(case: &str, prefix: Uuid, rest: &str) -> ObjectKey {
    ObjectKey::new(format!("conformance/{case}/{prefix}/{rest}"))
        .unwrap_or_else(|e| panic!("a test key: {e}"))
}

async fn put(store: &dyn ObjectStore, key: &ObjectKey, bytes: &[u8], content_type: &str) {
    store
        .put(key, bytes.to_vec(), content_type)
        .await
        .unwrap_or_else(|e| panic!("put of {key} failed: {e}"));
}

async fn get(store: &dyn ObjectStore, key: &ObjectKey) -> Option<Object> {
    store
        .get(key)
        .await
        .unwrap_or_else(|e| panic!("get of {key} failed: {e}"))
}

fn object(bytes: &[u8], content_type: &str) -> Option<Object> {
    Some(Object {
        bytes: bytes.to_vec(),
        content_type: content_type.to_owned(),
    })
}

/// Bytes that are not all alike, so a shifted, truncated or repeated block shows.
fn patterned(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| u8::try_from((i * 7 + i / 251) % 256).unwrap_or(0))
        .collect()
}

/// What was put is what a get returns: every byte (all 256 values) and the content type,
/// parameters included, under short keys and under the longest one.
pub async fn put_then_get_round_trips(store: &dyn ObjectStore) {
    let key = fresh_key("round-trip", Uuid::now_v7(), "poster.jpg");
    let bytes: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    put(store, &key, &bytes, "image/jpeg").await;
    assert_eq!(get(store, &key).await, object(&bytes, "image/jpeg"));

    let text = fresh_key("round-trip", Uuid::now_v7(), "a/b/c.txt");
    put(
        store,
        &text,
        b"line one\nline two\n",
        "text/plain; charset=utf-8",
    )
    .await;
    assert_eq!(
        get(store, &text).await,
        object(b"line one\nline two\n", "text/plain; charset=utf-8")
    );

    let prefix = fresh_key("round-trip", Uuid::now_v7(), "x").to_string();
    let longest = format!("{prefix}{}", "y".repeat(MAX_KEY_BYTES - prefix.len()));
    let longest = ObjectKey::new(longest).unwrap_or_else(|e| panic!("the longest key: {e}"));
    put(store, &longest, b"long", "image/png").await;
    assert_eq!(get(store, &longest).await, object(b"long", "image/png"));
}

/// A key nothing was put under reads as `None`, in a prefix that exists and in one that does
/// not.
pub async fn get_of_a_missing_key_is_none(store: &dyn ObjectStore) {
    let prefix = Uuid::now_v7();
    let present = fresh_key("missing", prefix, "present.png");
    put(store, &present, b"x", "image/png").await;
    for absent in [
        "absent.png",
        "present.png/below",
        "present",
        "nowhere/at/all.png",
    ] {
        let key = fresh_key("missing", prefix, absent);
        assert_eq!(get(store, &key).await, None, "{key}");
    }
}

/// A second put under a key replaces both the bytes and the content type, even with fewer
/// bytes than before.
pub async fn put_replaces_bytes_and_content_type(store: &dyn ObjectStore) {
    let key = fresh_key("replace", Uuid::now_v7(), "photo");
    put(store, &key, &patterned(5000), "image/png").await;
    put(store, &key, b"short", "image/webp").await;
    assert_eq!(get(store, &key).await, object(b"short", "image/webp"));
}

/// A delete removes the object and leaves its neighbours; deleting again, or deleting what was
/// never there, succeeds.
pub async fn delete_removes_and_may_repeat(store: &dyn ObjectStore) {
    let prefix = Uuid::now_v7();
    let doomed = fresh_key("delete", prefix, "doomed.jpg");
    let kept = fresh_key("delete", prefix, "kept.jpg");
    put(store, &doomed, b"doomed", "image/jpeg").await;
    put(store, &kept, b"kept", "image/jpeg").await;
    for _ in 0..2 {
        store
            .delete(&doomed)
            .await
            .unwrap_or_else(|e| panic!("delete of {doomed} failed: {e}"));
        assert_eq!(get(store, &doomed).await, None);
    }
    assert_eq!(get(store, &kept).await, object(b"kept", "image/jpeg"));
    let never = fresh_key("delete", Uuid::now_v7(), "never/there.jpg");
    store
        .delete(&never)
        .await
        .unwrap_or_else(|e| panic!("delete of the absent {never} failed: {e}"));
    // A deleted key can be used again.
    put(store, &doomed, b"again", "image/jpeg").await;
    assert_eq!(get(store, &doomed).await, object(b"again", "image/jpeg"));
}

/// An empty object and one past the API's 10 MiB upload limit both come back byte for byte.
pub async fn empty_and_large_objects_round_trip(store: &dyn ObjectStore) {
    let prefix = Uuid::now_v7();
    let empty = fresh_key("sizes", prefix, "empty");
    put(store, &empty, b"", "application/octet-stream").await;
    assert_eq!(
        get(store, &empty).await,
        object(b"", "application/octet-stream")
    );

    let large = fresh_key("sizes", prefix, "large.png");
    let bytes = patterned(10 * 1024 * 1024 + 12_345);
    put(store, &large, &bytes, "image/png").await;
    let read = get(store, &large)
        .await
        .unwrap_or_else(|| panic!("{large} is missing"));
    assert_eq!(read.content_type, "image/png");
    assert_eq!(read.bytes.len(), bytes.len());
    assert!(read.bytes == bytes, "the large object came back changed");
}

/// Keys where one continues another (`a`, `a/b`, `a.b`, `a/b/c`) are separate objects, as in
/// S3, whatever order they are written and deleted in.
pub async fn keys_that_continue_each_other_are_apart(store: &dyn ObjectStore) {
    let prefix = Uuid::now_v7();
    let names = ["a/b/c", "a", "a/b", "a.b", "a-b/c", "b"];
    let keys: Vec<ObjectKey> = names
        .iter()
        .map(|name| fresh_key("apart", prefix, name))
        .collect();
    for (key, name) in keys.iter().zip(names) {
        put(store, key, name.as_bytes(), "text/plain").await;
    }
    for (key, name) in keys.iter().zip(names) {
        assert_eq!(
            get(store, key).await,
            object(name.as_bytes(), "text/plain"),
            "{key}"
        );
    }
    // Deleting the shorter keys leaves the longer ones, and the other way round.
    store
        .delete(&keys[1])
        .await
        .unwrap_or_else(|e| panic!("delete: {e}"));
    store
        .delete(&keys[0])
        .await
        .unwrap_or_else(|e| panic!("delete: {e}"));
    assert_eq!(get(store, &keys[1]).await, None);
    assert_eq!(get(store, &keys[0]).await, None);
    assert_eq!(get(store, &keys[2]).await, object(b"a/b", "text/plain"));
    assert_eq!(get(store, &keys[3]).await, object(b"a.b", "text/plain"));
}

/// Puts racing on one key leave exactly one of the objects, whole: never a mixture, a part or
/// another object's content type.
pub async fn concurrent_puts_leave_one_whole_object(store: &dyn ObjectStore) {
    let key = fresh_key("race", Uuid::now_v7(), "poster.webp");
    let versions: Vec<(Vec<u8>, String)> = (0..8u8)
        .map(|n| (vec![n; 256 * 1024 + usize::from(n)], format!("image/x-{n}")))
        .collect();
    let puts = versions
        .iter()
        .map(|(bytes, content_type)| store.put(&key, bytes.clone(), content_type));
    for result in join_all(puts).await {
        result.unwrap_or_else(|e| panic!("a racing put failed: {e}"));
    }
    let read = get(store, &key)
        .await
        .unwrap_or_else(|| panic!("{key} is missing"));
    assert!(
        versions
            .iter()
            .any(|(bytes, content_type)| *bytes == read.bytes && *content_type == read.content_type),
        "the object is none of the versions put: {} bytes, {}",
        read.bytes.len(),
        read.content_type
    );
}

/// A content type that could not be sent back as a header is refused, and the key keeps what
/// it held.
pub async fn invalid_content_types_are_refused(store: &dyn ObjectStore) {
    let key = fresh_key("content-type", Uuid::now_v7(), "x.jpg");
    put(store, &key, b"before", "image/jpeg").await;
    for bad in ["", "jpeg", "image/jpeg\r\nX-Evil: 1"] {
        let refused = store.put(&key, b"after".to_vec(), bad).await;
        assert!(
            matches!(refused, Err(ObjectError::Invalid(_))),
            "{bad:?}: {refused:?}"
        );
    }
    assert_eq!(get(store, &key).await, object(b"before", "image/jpeg"));
}

/// A store that is up answers a ping.
pub async fn ping_answers(store: &dyn ObjectStore) {
    store
        .ping()
        .await
        .unwrap_or_else(|e| panic!("ping failed: {e}"));
}
