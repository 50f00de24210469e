//! The conformance suite every store adapter must pass, so that code written against the
//! port behaves the same on SQLite and on DynamoDB.
//!
//! Each case is a public async function taking the store under test. The cases may run
//! against a shared, long-lived store (a DynamoDB table used by several test runs at once),
//! so every case writes only under partition keys it made up itself with a fresh UUID and
//! never assumes the store is empty. An adapter's test file runs them all with
//! [`store_conformance_tests!`](crate::store_conformance_tests):
//!
//! ```text
//! async fn fresh_store() -> Arc<dyn Store> { /* ... */ }
//! store::store_conformance_tests!(fresh_store());
//! ```
//!
//! The cases assert with panics, as tests do: this module is test support, not service code.

use std::thread;
use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    Attrs, Condition, EXPIRES_AT, Item, Key, MAX_BATCH_GET_KEYS, MAX_TRANSACTION_WRITES, Page,
    Query, Store, StoreError, Write, epoch_seconds,
};

/// Runs every conformance case as its own `#[tokio::test]` in a module named
/// `store_conformance`.
///
/// `$make_store` is an expression evaluated once per test, in the module that invokes the
/// macro, whose `.await` yields something that dereferences to a store (`Arc<dyn Store>`,
/// or a guard that also keeps a temporary directory alive). The invoking crate needs
/// `tokio` with the multi-thread runtime as a (dev-)dependency: the tests run on it because
/// [`concurrent_updates_add_exactly`] drives writes from many threads at once.
#[macro_export]
macro_rules! store_conformance_tests {
    ($make_store:expr) => {
        $crate::store_conformance_tests!(@cases $make_store;
            put_then_get_round_trips,
            put_replaces_the_whole_item,
            put_conditions,
            update_conditions,
            delete_conditions,
            check_conditions,
            attr_equals_compares_json_values,
            attr_absent_holds_on_a_missing_item_or_attribute,
            failed_transaction_writes_nothing,
            update_creates_a_missing_item,
            update_sets_and_adds_counters,
            update_refuses_to_add_to_a_non_integer,
            concurrent_updates_add_exactly,
            delete_of_a_missing_item_succeeds,
            batch_get_answers_in_key_order,
            query_returns_sort_key_order_both_ways,
            query_prefix_stays_in_prefix_and_partition,
            query_after_continues_both_ways,
            query_limit_and_more,
            query_pages_walk_every_item_once,
            scan_pages_walk_every_item_once,
            sort_order_is_by_code_point,
            transactions_refuse_invalid_requests,
            reads_refuse_invalid_requests,
            reads_of_empty_keys_find_nothing,
            query_after_outside_the_prefix_is_a_position,
            ping_answers,
            expired_items_are_not_read,
            conditions_find_an_expired_item_missing,
            an_expired_item_can_be_put_again_or_deleted,
            only_a_put_writes_an_integer_expiry,
        );
    };
    (@cases $make_store:expr; $($case:ident),+ $(,)?) => {
        mod store_conformance {
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

/// A partition key no other case or test run uses.
fn fresh_pk(case: &str) -> String {
    format!("conformance/{case}/{}", Uuid::now_v7())
}

/// The attributes of a JSON object literal.
fn attrs(value: Value) -> Attrs {
    match value {
        Value::Object(map) => map,
        other => panic!("attributes must be a JSON object, not {other}"),
    }
}

async fn put(store: &dyn Store, key: &Key, value: Value) {
    store
        .transact(vec![Write::put(Item::new(key.clone(), attrs(value)))])
        .await
        .unwrap_or_else(|e| panic!("put of {key:?} failed: {e}"));
}

async fn get(store: &dyn Store, key: &Key) -> Option<Item> {
    store
        .get(key)
        .await
        .unwrap_or_else(|e| panic!("get of {key:?} failed: {e}"))
}

/// The attributes of an item that must exist.
async fn attrs_of(store: &dyn Store, key: &Key) -> Attrs {
    get(store, key)
        .await
        .unwrap_or_else(|| panic!("{key:?} should exist"))
        .attrs
}

async fn write(store: &dyn Store, write: Write) -> Result<(), StoreError> {
    store.transact(vec![write]).await
}

async fn query(store: &dyn Store, query: &Query) -> Page {
    store
        .query(query)
        .await
        .unwrap_or_else(|e| panic!("{query:?} failed: {e}"))
}

/// Puts one item per sort key (attribute `sk` repeats it) in as few transactions as allowed.
async fn seed(store: &dyn Store, pk: &str, sks: &[&str]) {
    for chunk in sks.chunks(MAX_TRANSACTION_WRITES) {
        let writes = chunk
            .iter()
            .map(|sk| Write::put(Item::new(Key::new(pk, *sk), attrs(json!({ "sk": sk })))))
            .collect();
        store
            .transact(writes)
            .await
            .unwrap_or_else(|e| panic!("seeding {pk} failed: {e}"));
    }
}

fn sort_keys(page: &Page) -> Vec<&str> {
    page.items.iter().map(|item| item.key.sk.as_str()).collect()
}

fn condition_failed(index: usize) -> Result<(), StoreError> {
    Err(StoreError::ConditionFailed { index })
}

fn assert_invalid<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::Invalid(_))),
        "{what}: expected Invalid, got {result:?}"
    );
}

/// A put item reads back exactly, nested JSON and all; a missing item reads as `None`.
pub async fn put_then_get_round_trips(store: &dyn Store) {
    let pk = fresh_pk("round_trip");
    let key = Key::new(&pk, "movie#1");
    assert_eq!(get(store, &key).await, None);

    let stored = json!({
        "title": "Amélie 🎬 \"quoted\" \\ slashed",
        "empty": "",
        "year": 2001,
        "negative": -42,
        "beyond_f64_precision": 9_007_199_254_740_993_i64,
        "rating": 4.25,
        "shortest_float": 0.30000000000000004,
        "flag": true,
        "nothing": null,
        "tags": ["romance", 1, null, false, {"deep": [[]]}],
        "nested": {"a": {"b": {"c": [1, 2, 3]}}, "empty_object": {}, "empty_list": []},
        // Index items point at other items, so key-like attribute names must be plain data.
        "pk": "another partition",
        "sk": "another sort key",
    });
    put(store, &key, stored.clone()).await;
    assert_eq!(
        get(store, &key).await,
        Some(Item::new(key.clone(), attrs(stored)))
    );

    let bare = Key::new(&pk, "movie#2");
    put(store, &bare, json!({})).await;
    assert_eq!(
        get(store, &bare).await,
        Some(Item::new(bare.clone(), Attrs::new()))
    );

    assert_eq!(
        get(store, &Key::new(&pk, "movie#3")).await,
        None,
        "a sibling stays missing"
    );
    assert_eq!(
        get(store, &Key::new(format!("{pk}x"), "movie#1")).await,
        None
    );
}

/// A put replaces every attribute: none of the old item survives.
pub async fn put_replaces_the_whole_item(store: &dyn Store) {
    let key = Key::new(fresh_pk("put_replaces"), "item");
    put(store, &key, json!({"a": 1, "b": {"c": 2}, "d": [1]})).await;
    put(store, &key, json!({"b": {"e": 3}})).await;
    assert_eq!(attrs_of(store, &key).await, attrs(json!({"b": {"e": 3}})));
}

/// NotExists, Exists and AttrEquals on a put; a failed put leaves the item as it was.
pub async fn put_conditions(store: &dyn Store) {
    let pk = fresh_pk("put_conditions");
    let key = Key::new(&pk, "item");
    let missing = Key::new(&pk, "missing");
    let put_if = |key: &Key, v: i64, condition: Condition| Write::Put {
        item: Item::new(key.clone(), attrs(json!({ "v": v }))),
        condition,
    };

    assert_eq!(
        write(store, put_if(&key, 1, Condition::NotExists)).await,
        Ok(())
    );
    assert_eq!(
        write(store, put_if(&key, 2, Condition::NotExists)).await,
        condition_failed(0)
    );
    assert_eq!(attrs_of(store, &key).await, attrs(json!({"v": 1})));

    assert_eq!(
        write(store, put_if(&missing, 1, Condition::Exists)).await,
        condition_failed(0)
    );
    assert_eq!(
        get(store, &missing).await,
        None,
        "a failed put creates nothing"
    );
    assert_eq!(
        write(store, put_if(&key, 2, Condition::Exists)).await,
        Ok(())
    );
    assert_eq!(attrs_of(store, &key).await, attrs(json!({"v": 2})));

    let v_is = |v: Value| Condition::AttrEquals("v".into(), v);
    assert_eq!(write(store, put_if(&key, 3, v_is(json!(2)))).await, Ok(()));
    assert_eq!(
        write(store, put_if(&key, 4, v_is(json!(2)))).await,
        condition_failed(0)
    );
    assert_eq!(attrs_of(store, &key).await, attrs(json!({"v": 3})));
    assert_eq!(
        write(store, put_if(&missing, 1, v_is(json!(3)))).await,
        condition_failed(0)
    );
    assert_eq!(get(store, &missing).await, None);

    let absent_is_null = Condition::AttrEquals("absent".into(), Value::Null);
    assert_eq!(
        write(store, put_if(&key, 5, absent_is_null)).await,
        condition_failed(0)
    );
    assert_eq!(attrs_of(store, &key).await, attrs(json!({"v": 3})));
}

/// NotExists, Exists and AttrEquals on an update; a failed update creates or changes nothing.
pub async fn update_conditions(store: &dyn Store) {
    let pk = fresh_pk("update_conditions");
    let key = Key::new(&pk, "item");
    let missing = Key::new(&pk, "missing");
    let bump = |key: &Key, version: i64, condition: Condition| Write::Update {
        key: key.clone(),
        set: attrs(json!({ "version": version })),
        add: vec![("hits".into(), 1)],
        condition,
    };

    assert_eq!(
        write(store, bump(&key, 1, Condition::NotExists)).await,
        Ok(())
    );
    assert_eq!(
        write(store, bump(&key, 9, Condition::NotExists)).await,
        condition_failed(0)
    );
    assert_eq!(
        attrs_of(store, &key).await,
        attrs(json!({"version": 1, "hits": 1}))
    );

    assert_eq!(
        write(store, bump(&missing, 1, Condition::Exists)).await,
        condition_failed(0)
    );
    assert_eq!(
        get(store, &missing).await,
        None,
        "a failed update creates nothing"
    );
    assert_eq!(write(store, bump(&key, 2, Condition::Exists)).await, Ok(()));
    assert_eq!(
        attrs_of(store, &key).await,
        attrs(json!({"version": 2, "hits": 2}))
    );

    // Optimistic locking: only the writer that saw version 2 gets to write version 3.
    let version_is = |v: i64| Condition::AttrEquals("version".into(), json!(v));
    assert_eq!(write(store, bump(&key, 3, version_is(2))).await, Ok(()));
    assert_eq!(
        write(store, bump(&key, 3, version_is(2))).await,
        condition_failed(0)
    );
    assert_eq!(
        attrs_of(store, &key).await,
        attrs(json!({"version": 3, "hits": 3}))
    );
    assert_eq!(
        write(store, bump(&missing, 1, version_is(3))).await,
        condition_failed(0)
    );
    assert_eq!(get(store, &missing).await, None);

    let absent_is_null = Condition::AttrEquals("absent".into(), Value::Null);
    assert_eq!(
        write(store, bump(&key, 4, absent_is_null)).await,
        condition_failed(0)
    );
    assert_eq!(
        attrs_of(store, &key).await,
        attrs(json!({"version": 3, "hits": 3}))
    );
}

/// NotExists, Exists and AttrEquals on a delete; a failed delete leaves the item in place.
pub async fn delete_conditions(store: &dyn Store) {
    let pk = fresh_pk("delete_conditions");
    let key = Key::new(&pk, "item");
    let missing = Key::new(&pk, "missing");
    let delete_if = |key: &Key, condition: Condition| Write::Delete {
        key: key.clone(),
        condition,
    };
    put(store, &key, json!({"state": "draft"})).await;

    assert_eq!(
        write(store, delete_if(&key, Condition::NotExists)).await,
        condition_failed(0)
    );
    assert_eq!(
        write(store, delete_if(&missing, Condition::Exists)).await,
        condition_failed(0)
    );
    assert_eq!(
        write(store, delete_if(&missing, Condition::NotExists)).await,
        Ok(())
    );
    assert_eq!(get(store, &missing).await, None);

    let state_is = |v: Value| Condition::AttrEquals("state".into(), v);
    assert_eq!(
        write(store, delete_if(&key, state_is(json!("final")))).await,
        condition_failed(0)
    );
    let absent_is_null = Condition::AttrEquals("absent".into(), Value::Null);
    assert_eq!(
        write(store, delete_if(&key, absent_is_null)).await,
        condition_failed(0)
    );
    assert_eq!(
        write(store, delete_if(&missing, state_is(json!("draft")))).await,
        condition_failed(0)
    );
    assert_eq!(
        attrs_of(store, &key).await,
        attrs(json!({"state": "draft"}))
    );

    assert_eq!(
        write(store, delete_if(&key, state_is(json!("draft")))).await,
        Ok(())
    );
    assert_eq!(get(store, &key).await, None);
    put(store, &key, json!({})).await;
    assert_eq!(
        write(store, delete_if(&key, Condition::Exists)).await,
        Ok(())
    );
    assert_eq!(get(store, &key).await, None);
}

/// A check writes nothing, whether it holds or not, and fails the transaction it is in.
pub async fn check_conditions(store: &dyn Store) {
    let pk = fresh_pk("check_conditions");
    let key = Key::new(&pk, "item");
    let missing = Key::new(&pk, "missing");
    let check = |key: &Key, condition: Condition| Write::Check {
        key: key.clone(),
        condition,
    };
    put(store, &key, json!({"open": true})).await;

    assert_eq!(write(store, check(&key, Condition::Exists)).await, Ok(()));
    assert_eq!(
        write(store, check(&missing, Condition::NotExists)).await,
        Ok(())
    );
    assert_eq!(get(store, &missing).await, None, "a check creates nothing");
    assert_eq!(
        write(store, check(&key, Condition::NotExists)).await,
        condition_failed(0)
    );
    assert_eq!(
        write(store, check(&missing, Condition::Exists)).await,
        condition_failed(0)
    );
    let open_is = |v: Value| Condition::AttrEquals("open".into(), v);
    assert_eq!(
        write(store, check(&key, open_is(json!(true)))).await,
        Ok(())
    );
    assert_eq!(
        write(store, check(&key, open_is(json!(false)))).await,
        condition_failed(0)
    );
    assert_eq!(
        write(store, check(&missing, open_is(json!(true)))).await,
        condition_failed(0)
    );
    let absent_is_null = Condition::AttrEquals("absent".into(), Value::Null);
    assert_eq!(
        write(store, check(&key, absent_is_null)).await,
        condition_failed(0)
    );
    assert_eq!(attrs_of(store, &key).await, attrs(json!({"open": true})));

    // The usual use: write something only while another item is in a given state.
    let review = Key::new(&pk, "review");
    let put_review = Write::put(Item::new(review.clone(), attrs(json!({"text": "fine"}))));
    let closed = store.transact(vec![check(&key, open_is(json!(false))), put_review.clone()]);
    assert_eq!(closed.await, condition_failed(0));
    assert_eq!(get(store, &review).await, None);
    let open = store.transact(vec![put_review, check(&key, open_is(json!(true)))]);
    assert_eq!(open.await, Ok(()));
    assert_eq!(
        attrs_of(store, &review).await,
        attrs(json!({"text": "fine"}))
    );
}

/// AttrEquals is JSON equality of one attribute: types matter, lists keep their order, and
/// an attribute that is absent equals nothing, not even `null`.
pub async fn attr_equals_compares_json_values(store: &dyn Store) {
    let key = Key::new(fresh_pk("attr_equals"), "item");
    put(
        store,
        &key,
        json!({
            "s": "1", "n": 1, "b": false, "null": null,
            "list": [1, "x"], "object": {"a": [1, {"b": null}], "c": "d"},
        }),
    )
    .await;
    let cases = [
        ("s", json!("1"), true),
        ("s", json!(1), false),
        ("s", json!("1 "), false),
        ("n", json!(1), true),
        ("n", json!(2), false),
        ("n", json!("1"), false),
        ("b", json!(false), true),
        ("b", Value::Null, false),
        ("null", Value::Null, true),
        ("null", json!(false), false),
        ("absent", Value::Null, false),
        ("absent", json!(""), false),
        ("list", json!([1, "x"]), true),
        ("list", json!(["x", 1]), false),
        ("list", json!([1]), false),
        ("object", json!({"c": "d", "a": [1, {"b": null}]}), true),
        ("object", json!({"a": [1, {"b": null}]}), false),
        ("object", json!({"a": [1, {}], "c": "d"}), false),
    ];
    for (name, value, holds) in cases {
        let condition = Condition::AttrEquals(name.into(), value.clone());
        let result = write(
            store,
            Write::Check {
                key: key.clone(),
                condition,
            },
        )
        .await;
        let expected = if holds { Ok(()) } else { condition_failed(0) };
        assert_eq!(result, expected, "{name} = {value}");
    }
}

/// AttrAbsent: true on a missing item and for an absent attribute, false for any present
/// value (`null` too); a first versioned update through it happens once.
pub async fn attr_absent_holds_on_a_missing_item_or_attribute(store: &dyn Store) {
    let pk = fresh_pk("attr_absent");
    let key = Key::new(&pk, "item");
    put(store, &key, json!({"n": 1, "null": null, "pk": "shadow"})).await;
    let check = |key: &Key, name: &str| Write::Check {
        key: key.clone(),
        condition: Condition::AttrAbsent(name.into()),
    };
    for (name, holds) in [
        ("absent", true),
        ("n", false),
        ("null", false),
        ("pk", false),
    ] {
        let expected = if holds { Ok(()) } else { condition_failed(0) };
        assert_eq!(write(store, check(&key, name)).await, expected, "{name}");
    }
    let missing = Key::new(&pk, "missing");
    assert_eq!(write(store, check(&missing, "n")).await, Ok(()));

    let first_version = |key: &Key| Write::Update {
        key: key.clone(),
        set: attrs(json!({"version": 1})),
        add: Vec::new(),
        condition: Condition::AttrAbsent("version".into()),
    };
    assert_eq!(write(store, first_version(&key)).await, Ok(()));
    assert_eq!(write(store, first_version(&key)).await, condition_failed(0));
    assert_eq!(
        attrs_of(store, &key).await,
        attrs(json!({"n": 1, "null": null, "pk": "shadow", "version": 1}))
    );
}

/// One failing condition fails the whole transaction: nothing is written, and the error
/// names the first failing write.
pub async fn failed_transaction_writes_nothing(store: &dyn Store) {
    let pk = fresh_pk("failed_transaction");
    let counter = Key::new(&pk, "counter");
    let guard = Key::new(&pk, "guard");
    let doomed = Key::new(&pk, "doomed");
    let fresh = Key::new(&pk, "fresh");
    put(store, &counter, json!({"n": 1})).await;
    put(store, &guard, json!({"v": 1})).await;
    put(store, &doomed, json!({"here": true})).await;

    let writes = |guard_v: i64, fresh_condition: Condition| {
        vec![
            Write::Put {
                item: Item::new(fresh.clone(), attrs(json!({"new": true}))),
                condition: fresh_condition,
            },
            Write::Update {
                key: counter.clone(),
                set: attrs(json!({"touched": true})),
                add: vec![("n".into(), 1)],
                condition: Condition::Exists,
            },
            Write::delete(doomed.clone()),
            Write::Check {
                key: guard.clone(),
                condition: Condition::AttrEquals("v".into(), json!(guard_v)),
            },
        ]
    };
    let unchanged = || async {
        assert_eq!(attrs_of(store, &counter).await, attrs(json!({"n": 1})));
        assert_eq!(attrs_of(store, &doomed).await, attrs(json!({"here": true})));
        assert_eq!(get(store, &fresh).await, None);
    };

    assert_eq!(
        store.transact(writes(2, Condition::NotExists)).await,
        condition_failed(3)
    );
    unchanged().await;
    assert_eq!(
        store.transact(writes(1, Condition::Exists)).await,
        condition_failed(0)
    );
    unchanged().await;
    assert_eq!(
        store.transact(writes(2, Condition::Exists)).await,
        condition_failed(0)
    );
    unchanged().await;

    assert_eq!(
        store.transact(writes(1, Condition::NotExists)).await,
        Ok(())
    );
    assert_eq!(
        attrs_of(store, &counter).await,
        attrs(json!({"n": 2, "touched": true}))
    );
    assert_eq!(get(store, &doomed).await, None);
    assert_eq!(attrs_of(store, &fresh).await, attrs(json!({"new": true})));
}

/// An update of a missing item creates it from its set attributes and added counters.
pub async fn update_creates_a_missing_item(store: &dyn Store) {
    let key = Key::new(fresh_pk("update_creates"), "item");
    let update = Write::Update {
        key: key.clone(),
        set: attrs(json!({"title": "Alien", "meta": {"genres": ["sf", "horror"]}})),
        add: vec![("likes".into(), 3), ("dislikes".into(), -2)],
        condition: Condition::Always,
    };
    assert_eq!(write(store, update).await, Ok(()));
    let expected = json!({
        "title": "Alien", "meta": {"genres": ["sf", "horror"]}, "likes": 3, "dislikes": -2,
    });
    assert_eq!(attrs_of(store, &key).await, attrs(expected));
}

/// An update sets the named attributes, adds to counters (a missing one counts as 0), and
/// keeps every other attribute.
pub async fn update_sets_and_adds_counters(store: &dyn Store) {
    let key = Key::new(fresh_pk("update_sets_adds"), "item");
    put(
        store,
        &key,
        json!({"title": "old", "keep": [1, 2], "likes": 10, "score": 5}),
    )
    .await;

    let update = |set: Value, add: Vec<(&str, i64)>| Write::Update {
        key: key.clone(),
        set: attrs(set),
        add: add
            .into_iter()
            .map(|(name, delta)| (name.to_owned(), delta))
            .collect(),
        condition: Condition::Always,
    };
    let first = update(
        json!({"title": "new", "extra": {"x": null}}),
        vec![("likes", -3), ("views", 5)],
    );
    assert_eq!(write(store, first).await, Ok(()));
    let expected = json!({
        "title": "new", "keep": [1, 2], "likes": 7, "score": 5, "extra": {"x": null}, "views": 5,
    });
    assert_eq!(attrs_of(store, &key).await, attrs(expected));

    assert_eq!(
        write(store, update(json!({}), vec![("score", -12)])).await,
        Ok(())
    );
    assert_eq!(
        write(store, update(json!({"title": null}), vec![])).await,
        Ok(())
    );
    let expected = json!({
        "title": null, "keep": [1, 2], "likes": 7, "score": -7, "extra": {"x": null}, "views": 5,
    });
    assert_eq!(attrs_of(store, &key).await, attrs(expected));
}

/// Adding to an attribute that holds anything but an integer is refused and writes nothing.
pub async fn update_refuses_to_add_to_a_non_integer(store: &dyn Store) {
    let pk = fresh_pk("update_non_integer");
    let key = Key::new(&pk, "item");
    let other = Key::new(&pk, "other");
    put(store, &key, json!({"title": "Alien", "n": 1})).await;
    let result = store
        .transact(vec![
            Write::put(Item::new(other.clone(), Attrs::new())),
            Write::Update {
                key: key.clone(),
                set: Attrs::new(),
                add: vec![("n".into(), 1), ("title".into(), 1)],
                condition: Condition::Always,
            },
        ])
        .await;
    assert_invalid(result, "adding to a string");
    assert_eq!(
        attrs_of(store, &key).await,
        attrs(json!({"title": "Alien", "n": 1}))
    );
    assert_eq!(get(store, &other).await, None);
}

/// Counters added to by many writers at once end at the exact total: no update is lost.
///
/// The writers are threads, so an adapter is exercised in parallel and not only
/// interleaved; this needs a multi-thread Tokio runtime.
pub async fn concurrent_updates_add_exactly(store: &dyn Store) {
    const WRITERS: i64 = 50;
    const ROUNDS: i64 = 4;
    // Unavailable promises that nothing was written, so a retry keeps the total exact; a
    // store may answer it while many transactions fight over one item.
    const TRIES: u32 = 20;

    let key = Key::new(fresh_pk("concurrent_updates"), "counter");
    let runtime = tokio::runtime::Handle::current();
    let add_once = |writer: i64| {
        let update = Write::Update {
            key: key.clone(),
            set: attrs(json!({ "last_writer": writer })),
            add: vec![("n".into(), 1), ("m".into(), -2)],
            condition: Condition::Always,
        };
        for attempt in 1..=TRIES {
            match runtime.block_on(store.transact(vec![update.clone()])) {
                Ok(()) => return,
                Err(StoreError::Unavailable(_)) if attempt < TRIES => {
                    thread::sleep(Duration::from_millis(5 * u64::from(attempt)));
                }
                Err(e) => panic!("writer {writer} failed: {e}"),
            }
        }
    };
    tokio::task::block_in_place(|| {
        thread::scope(|scope| {
            for writer in 0..WRITERS {
                let add_once = &add_once;
                scope.spawn(move || (0..ROUNDS).for_each(|_| add_once(writer)));
            }
        });
    });

    let item = get(store, &key).await.expect("the counter should exist");
    assert_eq!(item.int("n"), WRITERS * ROUNDS);
    assert_eq!(item.int("m"), -2 * WRITERS * ROUNDS);
    assert!(
        item.get("last_writer")
            .and_then(Value::as_i64)
            .is_some_and(|w| (0..WRITERS).contains(&w))
    );
}

/// Deleting a missing item without a condition succeeds and leaves it missing.
pub async fn delete_of_a_missing_item_succeeds(store: &dyn Store) {
    let pk = fresh_pk("delete_missing");
    let key = Key::new(&pk, "never");
    assert_eq!(write(store, Write::delete(key.clone())).await, Ok(()));
    assert_eq!(get(store, &key).await, None);

    let existing = Key::new(&pk, "existing");
    put(store, &existing, json!({"a": 1})).await;
    assert_eq!(write(store, Write::delete(existing.clone())).await, Ok(()));
    assert_eq!(get(store, &existing).await, None);
    assert_eq!(write(store, Write::delete(existing.clone())).await, Ok(()));
}

/// A batch get answers in the order of its keys, across partitions, with `None` for
/// missing items and the same item wherever a key repeats.
pub async fn batch_get_answers_in_key_order(store: &dyn Store) {
    let one = fresh_pk("batch_get_one");
    let two = fresh_pk("batch_get_two");
    let a1 = Key::new(&one, "a");
    let b2 = Key::new(&two, "b");
    let a2 = Key::new(&two, "a");
    put(store, &a1, json!({"n": 1})).await;
    put(store, &b2, json!({"n": 2})).await;
    put(store, &a2, json!({"n": 3})).await;

    let keys = [
        b2.clone(),
        Key::new(&one, "missing"),
        a1.clone(),
        a2.clone(),
        b2.clone(),
    ];
    let items = store.batch_get(&keys).await.expect("batch get");
    let numbers: Vec<Option<i64>> = items
        .iter()
        .map(|item| item.as_ref().map(|i| i.int("n")))
        .collect();
    assert_eq!(numbers, [Some(2), None, Some(1), Some(3), Some(2)]);
    for (key, item) in keys.iter().zip(&items) {
        if let Some(item) = item {
            assert_eq!(&item.key, key);
        }
    }
    assert_eq!(items[0], Some(Item::new(b2, attrs(json!({"n": 2})))));

    assert_eq!(store.batch_get(&[]).await, Ok(vec![]));
    let all_missing: Vec<Key> = (0..MAX_BATCH_GET_KEYS)
        .map(|i| Key::new(&one, format!("none#{i}")))
        .collect();
    let answers = store
        .batch_get(&all_missing)
        .await
        .expect("a full batch get");
    assert_eq!(answers, vec![None; MAX_BATCH_GET_KEYS]);
}

/// A query returns a partition in ascending sort-key order, or descending when asked.
pub async fn query_returns_sort_key_order_both_ways(store: &dyn Store) {
    let pk = fresh_pk("query_order");
    seed(store, &pk, &["m", "b", "x", "a", "c#2", "c#10", "c"]).await;
    let ascending = ["a", "b", "c", "c#10", "c#2", "m", "x"];

    let page = query(store, &Query::prefix(&pk, "", 100)).await;
    assert_eq!(sort_keys(&page), ascending);
    assert!(!page.more);
    assert!(
        page.items
            .iter()
            .all(|item| item.key.pk == pk && item.str("sk") == Some(&item.key.sk))
    );

    let page = query(store, &Query::prefix(&pk, "", 100).descending()).await;
    let descending: Vec<&str> = ascending.iter().rev().copied().collect();
    assert_eq!(sort_keys(&page), descending);
    assert!(!page.more);
}

/// A prefix selects exactly the sort keys that start with it: nothing from other prefixes
/// or other partitions leaks in, even partitions whose keys extend this one's, and
/// characters that are wildcards elsewhere (`%`, `_`) or at the end of the code-point range
/// are taken literally.
pub async fn query_prefix_stays_in_prefix_and_partition(store: &dyn Store) {
    let base = fresh_pk("query_prefix");
    let pk = format!("{base}/p");
    let sks = [
        "a",
        "a#1",
        "a#2",
        "ab#1",
        "b#1",
        "10_0",
        "1000",
        "100%",
        "y\u{10FFFF}",
        "y\u{10FFFF}\u{10FFFF}",
        "y\u{10FFFF}a",
        "z",
        "\u{D7FF}",
        "\u{D7FF}x",
        "\u{E000}",
    ];
    seed(store, &pk, &sks).await;
    // Partitions whose keys start with this one's, or collide with it when pk and sk are
    // joined with a separator, hold the same sort keys.
    for other in [
        format!("{base}/pp"),
        format!("{base}/p#a"),
        format!("{base}/p/a"),
        base.clone(),
    ] {
        seed(store, &other, &sks).await;
        seed(store, &other, &["a#0", "a#3", "#a#1"]).await;
    }

    let expectations: [(&str, &[&str]); 12] = [
        ("a#", &["a#1", "a#2"]),
        ("a", &["a", "a#1", "a#2", "ab#1"]),
        ("a#1", &["a#1"]),
        ("a#10", &[]),
        ("b", &["b#1"]),
        ("c", &[]),
        ("10_", &["10_0"]),
        ("100%", &["100%"]),
        ("100", &["100%", "1000"]),
        (
            "y\u{10FFFF}",
            &["y\u{10FFFF}", "y\u{10FFFF}a", "y\u{10FFFF}\u{10FFFF}"],
        ),
        ("y\u{10FFFF}\u{10FFFF}", &["y\u{10FFFF}\u{10FFFF}"]),
        ("\u{D7FF}", &["\u{D7FF}", "\u{D7FF}x"]),
    ];
    for (prefix, expected) in expectations {
        let page = query(store, &Query::prefix(&pk, prefix, 100)).await;
        assert_eq!(sort_keys(&page), expected, "prefix {prefix:?}");
        assert!(!page.more, "prefix {prefix:?}");
        assert!(page.items.iter().all(|item| item.key.pk == pk));
        let page = query(store, &Query::prefix(&pk, prefix, 100).descending()).await;
        let reversed: Vec<&str> = expected.iter().rev().copied().collect();
        assert_eq!(sort_keys(&page), reversed, "prefix {prefix:?} descending");
        assert!(!page.more, "prefix {prefix:?} descending");
    }

    let page = query(store, &Query::prefix(&pk, "", 100)).await;
    let mut everything = sks.to_vec();
    everything.sort_unstable();
    assert_eq!(sort_keys(&page), everything);
}

/// `after` continues strictly after a sort key in the query's direction, whether or not an
/// item has that key, and stays within the prefix.
pub async fn query_after_continues_both_ways(store: &dyn Store) {
    let pk = fresh_pk("query_after");
    seed(
        store,
        &pk,
        &["a", "b", "c", "d", "e", "x#1", "x#2", "x#3", "x#4", "y"],
    )
    .await;
    let page = |prefix: &str, after: &str, descending: bool| {
        let mut q = Query::prefix(&pk, prefix, 3).after(Some(after.to_owned()));
        q.descending = descending;
        async move { query(store, &q).await }
    };

    let p = page("", "b", false).await;
    assert_eq!((sort_keys(&p), p.more), (vec!["c", "d", "e"], true));
    let p = page("", "b", true).await;
    assert_eq!((sort_keys(&p), p.more), (vec!["a"], false));
    let p = page("", "c5", false).await;
    assert_eq!((sort_keys(&p), p.more), (vec!["d", "e", "x#1"], true));
    let p = page("", "c5", true).await;
    assert_eq!((sort_keys(&p), p.more), (vec!["c", "b", "a"], false));
    let p = page("", "y", false).await;
    assert_eq!((sort_keys(&p), p.more), (vec![], false));
    let p = page("", "a", true).await;
    assert_eq!((sort_keys(&p), p.more), (vec![], false));
    let p = page("", "zzz", true).await;
    assert_eq!((sort_keys(&p), p.more), (vec!["y", "x#4", "x#3"], true));

    let p = page("x#", "x#2", false).await;
    assert_eq!((sort_keys(&p), p.more), (vec!["x#3", "x#4"], false));
    let p = page("x#", "x#3", true).await;
    assert_eq!((sort_keys(&p), p.more), (vec!["x#2", "x#1"], false));
    let p = page("x#", "x#", false).await;
    assert_eq!((sort_keys(&p), p.more), (vec!["x#1", "x#2", "x#3"], true));
    let p = page("x#", "x#9", true).await;
    assert_eq!((sort_keys(&p), p.more), (vec!["x#4", "x#3", "x#2"], true));
}

/// A page holds at most `limit` items, and `more` is true exactly when further items match:
/// false on a last page that is exactly full, and not fooled by items of other prefixes or
/// partitions that follow.
pub async fn query_limit_and_more(store: &dyn Store) {
    let pk = fresh_pk("query_limit");
    seed(store, &pk, &["a1", "a2", "a3", "a4", "a5", "a6", "b1"]).await;
    seed(store, &format!("{pk}0"), &["a7", "b2"]).await;
    let page = |prefix: &str, limit: usize, descending: bool, after: Option<&str>| {
        let mut q = Query::prefix(&pk, prefix, limit).after(after.map(str::to_owned));
        q.descending = descending;
        async move {
            let page = query(store, &q).await;
            (
                sort_keys(&page)
                    .into_iter()
                    .map(str::to_owned)
                    .collect::<Vec<_>>(),
                page.more,
            )
        }
    };
    let expect =
        |sks: &[&str], more: bool| (sks.iter().map(|s| s.to_string()).collect::<Vec<_>>(), more);

    assert_eq!(
        page("a", 4, false, None).await,
        expect(&["a1", "a2", "a3", "a4"], true)
    );
    assert_eq!(
        page("a", 4, false, Some("a4")).await,
        expect(&["a5", "a6"], false)
    );
    assert_eq!(
        page("a", 3, false, None).await,
        expect(&["a1", "a2", "a3"], true)
    );
    assert_eq!(
        page("a", 3, false, Some("a3")).await,
        expect(&["a4", "a5", "a6"], false)
    );
    assert_eq!(
        page("a", 6, false, None).await,
        expect(&["a1", "a2", "a3", "a4", "a5", "a6"], false)
    );
    assert_eq!(
        page("a", 7, false, None).await,
        expect(&["a1", "a2", "a3", "a4", "a5", "a6"], false)
    );
    assert_eq!(
        page("a", 3, true, None).await,
        expect(&["a6", "a5", "a4"], true)
    );
    assert_eq!(
        page("a", 3, true, Some("a4")).await,
        expect(&["a3", "a2", "a1"], false)
    );
    assert_eq!(page("b", 1, false, None).await, expect(&["b1"], false));
    assert_eq!(page("b", 1, true, None).await, expect(&["b1"], false));
    assert_eq!(
        page("a", 1, false, Some("a5")).await,
        expect(&["a6"], false)
    );
    assert_eq!(page("a", 1, true, Some("a2")).await, expect(&["a1"], false));
    assert!(!page("", 7, false, None).await.1);
    assert!(page("", 6, false, None).await.1);
    assert_eq!(page("c", 5, false, None).await, expect(&[], false));

    let empty = fresh_pk("query_limit_empty");
    assert_eq!(
        query(store, &Query::prefix(&empty, "", 10)).await,
        Page {
            items: vec![],
            more: false
        }
    );
}

/// Walking a partition page by page with `after` returns every item exactly once, in order,
/// in both directions and for every page size; only the last page says there is no more.
pub async fn query_pages_walk_every_item_once(store: &dyn Store) {
    let pk = fresh_pk("query_walk");
    let wanted: Vec<String> = (0..23).map(|i| format!("r#{i:03}")).collect();
    let noise = ["q", "r", "s#000", "r$"];
    let mut sks: Vec<&str> = wanted.iter().map(String::as_str).collect();
    sks.extend(noise);
    seed(store, &pk, &sks).await;

    for descending in [false, true] {
        for limit in [1, 2, 5, 22, 23, 24, 100] {
            let mut walked: Vec<String> = Vec::new();
            let mut after = None;
            loop {
                let mut q = Query::prefix(&pk, "r#", limit).after(after);
                q.descending = descending;
                let page = query(store, &q).await;
                assert!(page.items.len() <= limit);
                walked.extend(page.items.iter().map(|item| item.key.sk.clone()));
                if !page.more {
                    break;
                }
                assert_eq!(page.items.len(), limit, "only the last page may be short");
                after = page.items.last().map(|item| item.key.sk.clone());
                assert!(walked.len() <= wanted.len(), "the walk does not end");
            }
            let mut expected = wanted.clone();
            if descending {
                expected.reverse();
            }
            assert_eq!(walked, expected, "limit {limit}, descending {descending}");
        }
    }
}

/// A scan's pages, followed by their `next`, hold every live item of the store once; expired
/// items are left out. (Other tests' items may be in the store too: only this case's are
/// counted.)
pub async fn scan_pages_walk_every_item_once(store: &dyn Store) {
    let pk = fresh_pk("scan_walk");
    let wanted: Vec<String> = (0..23).map(|i| format!("s#{i:03}")).collect();
    let sks: Vec<&str> = wanted.iter().map(String::as_str).collect();
    seed(store, &pk, &sks).await;
    put(
        store,
        &Key::new(&pk, "s#expired"),
        json!({"n": 0, EXPIRES_AT: an_hour_ago()}),
    )
    .await;
    assert!(matches!(
        store.scan(None, 0).await,
        Err(StoreError::Invalid(_))
    ));

    let mut walked: Vec<String> = Vec::new();
    let mut after: Option<Key> = None;
    loop {
        let page = store.scan(after.as_ref(), 50).await.expect("scan");
        assert!(page.items.len() <= 50);
        walked.extend(
            page.items
                .iter()
                .filter(|item| item.key.pk == pk)
                .map(|item| item.key.sk.clone()),
        );
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    walked.sort();
    assert_eq!(walked, wanted);
}

/// Sort keys order by their UTF-8 bytes, which is code-point order: upper case before
/// lower case, digits character by character, accents and other scripts after ASCII, and
/// characters beyond the Basic Multilingual Plane last (unlike UTF-16 order).
pub async fn sort_order_is_by_code_point(store: &dyn Store) {
    let pk = fresh_pk("sort_order");
    let expected = [
        "10", "9", "Z", "a", "aa", "ab", "b", "z", "é", "ö", "中", "\u{FF5E}", "😀",
    ];
    let mut shuffled = expected.to_vec();
    shuffled.reverse();
    shuffled.swap(0, 6);
    seed(store, &pk, &shuffled).await;

    let page = query(store, &Query::prefix(&pk, "", 100)).await;
    assert_eq!(sort_keys(&page), expected);
    let page = query(store, &Query::prefix(&pk, "", 100).descending()).await;
    let reversed: Vec<&str> = expected.iter().rev().copied().collect();
    assert_eq!(sort_keys(&page), reversed);
    let page = query(store, &Query::prefix(&pk, "", 3).after(Some("z".into()))).await;
    assert_eq!(sort_keys(&page), ["é", "ö", "中"]);
}

/// Transactions that break the port's rules are refused with `Invalid` and write nothing;
/// the largest allowed transaction goes through.
pub async fn transactions_refuse_invalid_requests(store: &dyn Store) {
    let pk = fresh_pk("invalid_transactions");
    let key = |sk: &str| Key::new(&pk, sk);
    let put_at = |sk: String| Write::put(Item::new(Key::new(&pk, sk), Attrs::new()));

    assert_invalid(store.transact(vec![]).await, "an empty transaction");

    let too_many: Vec<Write> = (0..=MAX_TRANSACTION_WRITES)
        .map(|i| put_at(format!("many#{i:03}")))
        .collect();
    assert_invalid(store.transact(too_many).await, "too many writes");
    assert_eq!(get(store, &key("many#000")).await, None);

    let twice = vec![
        put_at("twice".into()),
        put_at("other".into()),
        Write::delete(key("twice")),
    ];
    assert_invalid(store.transact(twice).await, "one key written twice");
    assert_eq!(get(store, &key("other")).await, None);

    let no_pk = Write::put(Item::new(Key::new("", "sk"), Attrs::new()));
    assert_invalid(
        store.transact(vec![put_at("a".into()), no_pk]).await,
        "an empty partition key",
    );
    let no_sk = Write::Check {
        key: Key::new(&pk, ""),
        condition: Condition::NotExists,
    };
    assert_invalid(
        store.transact(vec![put_at("a".into()), no_sk]).await,
        "an empty sort key",
    );
    assert_eq!(get(store, &key("a")).await, None);

    let update = |set: Value, add: Vec<(String, i64)>| Write::Update {
        key: key("counter"),
        set: attrs(set),
        add,
        condition: Condition::Always,
    };
    let set_and_add = update(json!({"n": 1}), vec![("n".into(), 1)]);
    assert_invalid(
        store.transact(vec![set_and_add]).await,
        "set and add of one attribute",
    );
    let add_twice = update(json!({}), vec![("n".into(), 1), ("n".into(), 1)]);
    assert_invalid(
        store.transact(vec![add_twice]).await,
        "two adds to one attribute",
    );
    assert_eq!(get(store, &key("counter")).await, None);

    let full: Vec<Write> = (0..MAX_TRANSACTION_WRITES)
        .map(|i| put_at(format!("full#{i:03}")))
        .collect();
    assert_eq!(store.transact(full).await, Ok(()));
    let page = query(store, &Query::prefix(&pk, "full#", MAX_TRANSACTION_WRITES)).await;
    assert_eq!(page.items.len(), MAX_TRANSACTION_WRITES);
    assert!(!page.more);
}

/// Reads that break the port's documented limits are refused with `Invalid`.
pub async fn reads_refuse_invalid_requests(store: &dyn Store) {
    let pk = fresh_pk("invalid_reads");
    let too_many: Vec<Key> = (0..=MAX_BATCH_GET_KEYS)
        .map(|i| Key::new(&pk, i.to_string()))
        .collect();
    assert_invalid(store.batch_get(&too_many).await, "too many keys");
    assert_invalid(
        store.query(&Query::prefix(&pk, "", 0)).await,
        "a zero limit",
    );
}

/// No item has an empty partition or sort key, so reads of one find nothing rather than
/// fail.
pub async fn reads_of_empty_keys_find_nothing(store: &dyn Store) {
    let pk = fresh_pk("empty_key_reads");
    let key = Key::new(&pk, "a");
    put(store, &key, json!({"n": 1})).await;

    assert_eq!(store.get(&Key::new("", "a")).await, Ok(None));
    assert_eq!(store.get(&Key::new(&pk, "")).await, Ok(None));
    let keys = [Key::new(&pk, ""), key.clone(), Key::new("", "a")];
    let found = store.batch_get(&keys).await.expect("batch get");
    assert_eq!(
        found,
        [None, Some(Item::new(key, attrs(json!({"n": 1})))), None]
    );
    let empty = Page {
        items: vec![],
        more: false,
    };
    assert_eq!(
        store.query(&Query::prefix("", "", 10)).await,
        Ok(empty.clone())
    );
    let descending = Query::prefix("", "a", 10).descending();
    assert_eq!(store.query(&descending).await, Ok(empty));
}

/// `after` is a position, not a token: one outside the prefix starts the page at the
/// prefix's first item or leaves it empty, in either direction, so a cursor a client
/// tampered with cannot fail the read.
pub async fn query_after_outside_the_prefix_is_a_position(store: &dyn Store) {
    let pk = fresh_pk("query_after_outside");
    seed(store, &pk, &["a1", "b", "b#1", "b#2", "b$", "c1"]).await;
    let page = |prefix: &str, after: &str, descending: bool, limit: usize| {
        let mut q = Query::prefix(&pk, prefix, limit).after(Some(after.to_owned()));
        q.descending = descending;
        async move {
            let page = query(store, &q).await;
            let sks: Vec<String> = sort_keys(&page).into_iter().map(str::to_owned).collect();
            (sks, page.more)
        }
    };
    let expect = |sks: &[&str], more: bool| {
        let sks: Vec<String> = sks.iter().map(|s| s.to_string()).collect();
        (sks, more)
    };

    for before_prefix in ["", "a", "a1", "b"] {
        let both = expect(&["b#1", "b#2"], false);
        assert_eq!(
            page("b#", before_prefix, false, 10).await,
            both,
            "after {before_prefix:?}"
        );
        let first = expect(&["b#1"], true);
        assert_eq!(
            page("b#", before_prefix, false, 1).await,
            first,
            "after {before_prefix:?}"
        );
        let none = expect(&[], false);
        assert_eq!(
            page("b#", before_prefix, true, 10).await,
            none,
            "after {before_prefix:?}, descending"
        );
    }
    for past_the_items in ["b$", "b#\u{10FFFF}x", "c", "\u{10FFFF}"] {
        let none = expect(&[], false);
        assert_eq!(
            page("b#", past_the_items, false, 10).await,
            none,
            "after {past_the_items:?}"
        );
        let both = expect(&["b#2", "b#1"], false);
        assert_eq!(
            page("b#", past_the_items, true, 10).await,
            both,
            "after {past_the_items:?}, descending"
        );
        let last = expect(&["b#2"], true);
        assert_eq!(
            page("b#", past_the_items, true, 1).await,
            last,
            "after {past_the_items:?}, descending"
        );
    }
    let all = expect(&["a1", "b", "b#1", "b#2", "b$", "c1"], false);
    assert_eq!(page("", "", false, 10).await, all);
    assert_eq!(page("", "", true, 10).await, expect(&[], false));
}

/// A reachable store answers a ping.
pub async fn ping_answers(store: &dyn Store) {
    assert_eq!(store.ping().await, Ok(()));
}

/// Expiry times an hour away on either side of now, far from any clock skew between the test
/// and the store, and from the second that passes while a case runs.
fn an_hour_ago() -> i64 {
    epoch_seconds() - 3600
}

fn in_an_hour() -> i64 {
    epoch_seconds() + 3600
}

/// An item whose expiry has passed is missing to get, batch get and query (whose `more` counts
/// live items only); one whose expiry is to come, or that has none, reads as put, its expiry
/// attribute included.
pub async fn expired_items_are_not_read(store: &dyn Store) {
    let pk = fresh_pk("expired_reads");
    let expiring = Key::new(&pk, "b-expiring");
    let lasting = Key::new(&pk, "c-lasting");
    let expired = [Key::new(&pk, "a-expired"), Key::new(&pk, "d-expired")];
    let later = in_an_hour();
    put(store, &expiring, json!({"n": 1, EXPIRES_AT: later})).await;
    put(store, &lasting, json!({"n": 2})).await;
    for key in &expired {
        put(store, key, json!({"n": 0, EXPIRES_AT: an_hour_ago()})).await;
    }

    for key in &expired {
        assert_eq!(get(store, key).await, None, "{key:?} has expired");
    }
    assert_eq!(
        attrs_of(store, &expiring).await,
        attrs(json!({"n": 1, EXPIRES_AT: later}))
    );
    let found = store
        .batch_get(&[
            expired[0].clone(),
            expiring.clone(),
            expired[1].clone(),
            lasting.clone(),
        ])
        .await
        .expect("batch get");
    let found: Vec<Option<&str>> = found
        .iter()
        .map(|item| item.as_ref().map(|item| item.key.sk.as_str()))
        .collect();
    assert_eq!(found, [None, Some("b-expiring"), None, Some("c-lasting")]);

    for descending in [false, true] {
        let mut all = Query::prefix(&pk, "", 10);
        all.descending = descending;
        let mut live = vec!["b-expiring", "c-lasting"];
        if descending {
            live.reverse();
        }
        let page = query(store, &all).await;
        assert_eq!(sort_keys(&page), live, "descending: {descending}");
        assert!(
            !page.more,
            "no live item follows (descending: {descending})"
        );
        let mut first = all.clone();
        first.limit = 1;
        let page = query(store, &first).await;
        assert_eq!(sort_keys(&page), live[..1], "descending: {descending}");
        assert!(page.more, "a live item follows (descending: {descending})");
        let page = query(store, &first.after(Some(live[0].to_owned()))).await;
        assert_eq!(sort_keys(&page), live[1..], "descending: {descending}");
        assert!(
            !page.more,
            "only expired items follow (descending: {descending})"
        );
    }
}

/// Conditions see an expired item as missing: not existing, without any attribute.
pub async fn conditions_find_an_expired_item_missing(store: &dyn Store) {
    let pk = fresh_pk("expired_conditions");
    let expired = Key::new(&pk, "expired");
    let live = Key::new(&pk, "live");
    put(store, &expired, json!({"v": 1, EXPIRES_AT: an_hour_ago()})).await;
    put(store, &live, json!({"v": 1, EXPIRES_AT: in_an_hour()})).await;
    let check = |key: &Key, condition: Condition| Write::Check {
        key: key.clone(),
        condition,
    };
    for (condition, on_expired) in [
        (Condition::NotExists, true),
        (Condition::Exists, false),
        (Condition::AttrEquals("v".into(), json!(1)), false),
        (Condition::AttrAbsent("v".into()), true),
    ] {
        let expected = |holds: bool| if holds { Ok(()) } else { condition_failed(0) };
        assert_eq!(
            write(store, check(&expired, condition.clone())).await,
            expected(on_expired),
            "{condition:?} on an expired item"
        );
        assert_eq!(
            write(store, check(&live, condition.clone())).await,
            expected(!on_expired),
            "{condition:?} on an item yet to expire"
        );
    }
}

/// An expired item not deleted yet is no obstacle: a put that needs the key free takes it,
/// and a delete removes it.
pub async fn an_expired_item_can_be_put_again_or_deleted(store: &dyn Store) {
    let pk = fresh_pk("expired_writes");
    let key = Key::new(&pk, "marker");
    put(store, &key, json!({"old": true, EXPIRES_AT: an_hour_ago()})).await;
    let later = in_an_hour();
    let again = Write::Put {
        item: Item::new(key.clone(), attrs(json!({"new": true, EXPIRES_AT: later}))),
        condition: Condition::NotExists,
    };
    assert_eq!(write(store, again.clone()).await, Ok(()));
    assert_eq!(
        attrs_of(store, &key).await,
        attrs(json!({"new": true, EXPIRES_AT: later}))
    );
    assert_eq!(
        write(store, again).await,
        condition_failed(0),
        "the new item has not expired"
    );

    let gone = Key::new(&pk, "gone");
    put(store, &gone, json!({EXPIRES_AT: an_hour_ago()})).await;
    assert_eq!(write(store, Write::delete(gone.clone())).await, Ok(()));
    put(store, &gone, json!({"back": true})).await;
    assert_eq!(attrs_of(store, &gone).await, attrs(json!({"back": true})));
}

/// An expiry is an integer of epoch seconds, written by a put only.
pub async fn only_a_put_writes_an_integer_expiry(store: &dyn Store) {
    let key = Key::new(fresh_pk("expiry_requests"), "item");
    for not_an_integer in [json!("2030-01-01"), json!(1.5), json!(null)] {
        let item = Item::new(key.clone(), attrs(json!({ EXPIRES_AT: not_an_integer })));
        assert_invalid(
            write(store, Write::put(item)).await,
            &format!("an expiry of {not_an_integer}"),
        );
    }
    let update = |set: Value, add: Vec<(String, i64)>| Write::Update {
        key: key.clone(),
        set: attrs(set),
        add,
        condition: Condition::Always,
    };
    assert_invalid(
        write(
            store,
            update(json!({ EXPIRES_AT: in_an_hour() }), Vec::new()),
        )
        .await,
        "an update setting the expiry",
    );
    assert_invalid(
        write(store, update(json!({}), vec![(EXPIRES_AT.into(), 60)])).await,
        "an update adding to the expiry",
    );
    assert_eq!(get(store, &key).await, None, "nothing was written");
}
