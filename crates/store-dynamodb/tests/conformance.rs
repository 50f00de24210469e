//! Runs the port's conformance suite against DynamoDB Local, and checks what only the
//! DynamoDB adapter has to get right: the table it creates or refuses (and the time to live
//! it turns on for the expiry attribute), an endpoint that is down or hangs, a partition larger than one DynamoDB page, and the stored layout. A small
//! scripted stand-in for DynamoDB provokes what DynamoDB Local never does: transaction
//! conflicts, server errors and unprocessed batch-get keys.
//!
//! The endpoint comes from `MOVIEBOOK_TEST_DYNAMODB_ENDPOINT` (`scripts/dynamodb-local
//! start` prints it; `scripts/test` is to start DynamoDB Local and set it). Without it the
//! tests that need DynamoDB fail: a suite that passed without running would hide a broken
//! adapter. Each test process works in a table of its own, so runs in parallel never meet.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TimeToLiveStatus,
};
use serde_json::{Value, json};
use store::{
    EXPIRES_AT, Item, Key, MAX_TRANSACTION_WRITES, Query, Store, StoreError, StoreExt, Write,
};
use store_dynamodb::{DynamoConfig, DynamoStore};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use uuid::Uuid;

const ENDPOINT_VARIABLE: &str = "MOVIEBOOK_TEST_DYNAMODB_ENDPOINT";

fn endpoint() -> String {
    std::env::var(ENDPOINT_VARIABLE).unwrap_or_else(|_| {
        panic!(
            "{ENDPOINT_VARIABLE} is not set, so there is no DynamoDB to test against: run \
             `scripts/dynamodb-local start` and export the endpoint it prints as \
             {ENDPOINT_VARIABLE} (scripts/test does both)"
        )
    })
}

/// A table name no other test process uses.
fn unique_table(purpose: &str) -> String {
    format!("moviebook-test-{purpose}-{}", Uuid::now_v7())
}

/// The table of this test process, made by whichever test connects first.
fn process_table() -> &'static str {
    static TABLE: OnceLock<String> = OnceLock::new();
    TABLE.get_or_init(|| unique_table("conformance"))
}

fn config(table: &str) -> DynamoConfig {
    DynamoConfig::new(table).with_endpoint(endpoint())
}

/// A store per test: every test runs on its own Tokio runtime, and the SDK's connection
/// pool must not outlive the runtime it was made on.
async fn fresh_store() -> Arc<DynamoStore> {
    let store = DynamoStore::connect(config(process_table()))
        .await
        .unwrap_or_else(|e| panic!("cannot connect to DynamoDB at {}: {e}", endpoint()));
    Arc::new(store)
}

store::store_conformance_tests!(fresh_store());

async fn raw_client() -> Client {
    config("unused").client().await.expect("an SDK client")
}

async fn delete_table(table: &str) {
    raw_client()
        .await
        .delete_table()
        .table_name(table)
        .send()
        .await
        .unwrap_or_else(|e| panic!("deleting table {table}: {e:?}"));
}

fn attrs(value: Value) -> store::Attrs {
    value.as_object().cloned().expect("a JSON object")
}

#[tokio::test]
async fn connecting_again_or_at_once_reuses_the_table() {
    let table = unique_table("reconnect");
    let key = Key::new("movie#1", "meta");
    let item = Item::new(key.clone(), attrs(json!({"title": "Alien"})));

    // Several services starting together race to create the table; all must succeed.
    let mut connects = JoinSet::new();
    for _ in 0..4 {
        connects.spawn(DynamoStore::connect(config(&table)));
    }
    while let Some(result) = connects.join_next().await {
        result.expect("task").expect("connect");
    }
    let first = DynamoStore::connect(config(&table)).await.expect("connect");
    first.write(Write::put(item.clone())).await.expect("put");
    drop(first);

    let again = DynamoStore::connect(config(&table))
        .await
        .expect("reconnect");
    assert_eq!(again.table(), table);
    assert_eq!(again.get(&key).await, Ok(Some(item)));
    assert_eq!(again.ping().await, Ok(()));
    delete_table(&table).await;
    assert!(
        matches!(again.ping().await, Err(StoreError::Unavailable(_))),
        "a ping of a deleted table fails"
    );
}

#[tokio::test]
async fn a_table_with_another_key_schema_is_refused() {
    let client = raw_client().await;
    let table = unique_table("schema");
    let element = |name: &str, key_type| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(key_type)
            .build()
            .expect("key schema element")
    };
    let definition = |name: &str, attribute_type| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(attribute_type)
            .build()
            .expect("attribute definition")
    };
    client
        .create_table()
        .table_name(&table)
        .key_schema(element("id", KeyType::Hash))
        .attribute_definitions(definition("id", ScalarAttributeType::S))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create a table with another key schema");

    let result = DynamoStore::connect(config(&table)).await;
    delete_table(&table).await;
    match result {
        Err(StoreError::Invalid(message)) => {
            assert!(
                message.contains("id (HASH, S)") && message.contains("pk (HASH, S)"),
                "the error says what was found and what is needed: {message}"
            );
        }
        other => panic!(
            "expected Invalid, got {:?}",
            other.map(|s| s.table().to_owned())
        ),
    }

    // Right names, wrong types: a numeric sort key orders differently.
    let table = unique_table("schema-n");
    client
        .create_table()
        .table_name(&table)
        .key_schema(element("pk", KeyType::Hash))
        .key_schema(element("sk", KeyType::Range))
        .attribute_definitions(definition("pk", ScalarAttributeType::S))
        .attribute_definitions(definition("sk", ScalarAttributeType::N))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create a table with a numeric sort key");
    let result = DynamoStore::connect(config(&table)).await;
    delete_table(&table).await;
    assert!(
        matches!(&result, Err(StoreError::Invalid(message)) if message.contains("sk (RANGE, N)")),
        "got {:?}",
        result.map(|s| s.table().to_owned())
    );
}

/// The attribute the table's time to live is on, if it is on.
async fn time_to_live(client: &Client, table: &str) -> Option<String> {
    let output = client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .expect("describe the time to live");
    let description = output.time_to_live_description()?;
    (description.time_to_live_status() == Some(&TimeToLiveStatus::Enabled))
        .then(|| description.attribute_name().map(str::to_owned))
        .flatten()
}

/// DynamoDB deletes expired items itself once the table's time to live is on their expiry
/// attribute: connecting turns it on, on a new table and on one an earlier version made.
#[tokio::test]
async fn connecting_turns_the_tables_time_to_live_on_for_the_expiry() {
    let client = raw_client().await;
    let created = unique_table("ttl-new");
    DynamoStore::connect(config(&created))
        .await
        .expect("connect");
    assert_eq!(
        time_to_live(&client, &created).await.as_deref(),
        Some(EXPIRES_AT)
    );
    DynamoStore::connect(config(&created))
        .await
        .expect("connect again, the time to live already on");
    delete_table(&created).await;

    let earlier = unique_table("ttl-earlier");
    let key_part = |name: &str, key_type| {
        let element = KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(key_type)
            .build()
            .expect("key schema element");
        let definition = AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attribute definition");
        (element, definition)
    };
    let (pk, pk_definition) = key_part("pk", KeyType::Hash);
    let (sk, sk_definition) = key_part("sk", KeyType::Range);
    client
        .create_table()
        .table_name(&earlier)
        .key_schema(pk)
        .key_schema(sk)
        .attribute_definitions(pk_definition)
        .attribute_definitions(sk_definition)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create a table without a time to live");
    assert_eq!(time_to_live(&client, &earlier).await, None);
    DynamoStore::connect(config(&earlier))
        .await
        .expect("connect");
    assert_eq!(
        time_to_live(&client, &earlier).await.as_deref(),
        Some(EXPIRES_AT)
    );
    delete_table(&earlier).await;
}

/// A loopback port nothing listens on.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    port
}

#[tokio::test]
async fn an_endpoint_with_nothing_listening_is_unavailable_within_seconds() {
    let endpoint = format!("http://127.0.0.1:{}", closed_port().await);
    let started = Instant::now();
    let result = DynamoStore::connect(DynamoConfig::new("any").with_endpoint(endpoint)).await;
    let elapsed = started.elapsed();
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "got {:?}",
        result.map(|s| s.table().to_owned())
    );
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
}

#[tokio::test]
async fn an_endpoint_that_never_answers_is_unavailable_after_the_timeouts() {
    // Accepts connections and reads requests but never answers, like a hung server.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });

    let mut config = DynamoConfig::new("any").with_endpoint(format!("http://{address}"));
    config.aws.attempt_timeout = Duration::from_millis(500);
    config.aws.operation_timeout = Duration::from_secs(2);
    let started = Instant::now();
    let result = DynamoStore::connect(config).await;
    let elapsed = started.elapsed();
    server.abort();
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "got {:?}",
        result.map(|s| s.table().to_owned())
    );
    assert!(elapsed < Duration::from_secs(4), "took {elapsed:?}");
}

/// A TCP relay to DynamoDB Local that can be cut and restored, to take the store's
/// endpoint away while the store is in use.
struct Relay {
    address: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(address: SocketAddr, target: SocketAddr) -> Relay {
        let listener = TcpListener::bind(address).await.expect("bind the relay");
        let address = listener.local_addr().expect("address");
        let task = tokio::spawn(async move {
            // Dropping the set when the task is aborted closes every relayed connection.
            let mut connections = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Relay { address, task }
    }

    async fn cut(self) -> SocketAddr {
        self.task.abort();
        let _ = self.task.await;
        self.address
    }
}

async fn dynamodb_address() -> SocketAddr {
    let endpoint = endpoint();
    let host = endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    tokio::net::lookup_host(host)
        .await
        .expect("resolve the endpoint")
        .next()
        .expect("an address")
}

#[tokio::test]
async fn a_store_whose_endpoint_goes_away_is_unavailable_then_recovers() {
    let target = dynamodb_address().await;
    let relay = Relay::start("127.0.0.1:0".parse().expect("address"), target).await;
    let store = DynamoStore::connect(
        DynamoConfig::new(process_table()).with_endpoint(format!("http://{}", relay.address)),
    )
    .await
    .expect("connect through the relay");
    let key = Key::new(format!("relay/{}", Uuid::now_v7()), "item");
    let item = Item::new(key.clone(), attrs(json!({"n": 1})));
    store.write(Write::put(item.clone())).await.expect("put");

    let address = relay.cut().await;
    let started = Instant::now();
    let read = store.get(&key).await;
    let write = store.write(Write::delete(key.clone())).await;
    let ping = store.ping().await;
    let elapsed = started.elapsed();
    for result in [read.map(drop), write, ping] {
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "got {result:?}"
        );
    }
    assert!(
        elapsed < Duration::from_secs(10),
        "three calls took {elapsed:?}"
    );

    // The same store works again once the endpoint is back; the failed delete wrote nothing.
    let relay = Relay::start(address, target).await;
    assert_eq!(store.get(&key).await, Ok(Some(item)));
    relay.cut().await;
}

/// The port's paging over a partition that DynamoDB itself has to split into several
/// 1 MB pages: every item comes exactly once, in order, and `more` is exact.
#[tokio::test]
async fn a_partition_larger_than_one_dynamodb_page_pages_exactly() {
    const ITEMS: usize = 1200;
    let store = fresh_store().await;
    let pk = format!("large/{}", Uuid::now_v7());
    let padding = "x".repeat(1000);
    let sks: Vec<String> = (0..ITEMS).map(|i| format!("item#{i:05}")).collect();
    let writes: Vec<Write> = sks
        .iter()
        .enumerate()
        .map(|(i, sk)| {
            let attrs = attrs(json!({"i": i, "padding": padding}));
            Write::put(Item::new(Key::new(&pk, sk), attrs))
        })
        .collect();
    for batch in writes.chunks(MAX_TRANSACTION_WRITES) {
        store.transact(batch.to_vec()).await.expect("seed");
    }
    // Neighbours on both sides of the prefix, which no page may include.
    for sk in ["item", "item$", "a", "z"] {
        let noise = Item::new(Key::new(&pk, sk), attrs(json!({"padding": padding})));
        store.write(Write::put(noise)).await.expect("seed noise");
    }

    // The premise: one plain Query of the partition stops at DynamoDB's 1 MB.
    let first = raw_client()
        .await
        .query()
        .table_name(process_table())
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
        .send()
        .await
        .expect("raw query");
    assert!(
        first.last_evaluated_key.is_some(),
        "the partition spans pages"
    );
    assert!(
        first.count < ITEMS as i32,
        "{} items in one page",
        first.count
    );

    let all = store
        .query(&Query::prefix(&pk, "item#", ITEMS))
        .await
        .expect("one query of every item");
    assert_eq!(all.items.len(), ITEMS);
    assert!(!all.more);
    for (i, item) in all.items.iter().enumerate() {
        assert_eq!(item.key.sk, sks[i]);
        assert_eq!(item.int("i"), i as i64);
        assert_eq!(item.str("padding"), Some(padding.as_str()));
    }
    let short = store
        .query(&Query::prefix(&pk, "item#", ITEMS - 1))
        .await
        .expect("one item short");
    assert!(short.more);

    for descending in [false, true] {
        for limit in [7, 500, ITEMS - 1, ITEMS] {
            let mut walked: Vec<String> = Vec::with_capacity(ITEMS);
            let mut after = None;
            let mut pages = 0;
            loop {
                let mut query = Query::prefix(&pk, "item#", limit).after(after);
                query.descending = descending;
                let page = store.query(&query).await.expect("page");
                pages += 1;
                walked.extend(page.items.iter().map(|item| item.key.sk.clone()));
                if !page.more {
                    break;
                }
                assert_eq!(page.items.len(), limit, "only the last page may be short");
                after = page.items.last().map(|item| item.key.sk.clone());
                assert!(walked.len() <= ITEMS, "the walk does not end");
            }
            let mut expected = sks.clone();
            if descending {
                expected.reverse();
            }
            assert!(walked == expected, "limit {limit}, descending {descending}");
            assert_eq!(pages, ITEMS.div_ceil(limit), "limit {limit}");
        }
    }
}

/// The stored layout keeps the key apart from attributes of any name, through puts,
/// updates and conditions alike.
#[tokio::test]
async fn attributes_named_like_the_key_or_unstorable_are_plain_data() {
    let store = fresh_store().await;
    let key = Key::new(format!("names/{}", Uuid::now_v7()), "item");
    let stored = json!({
        "pk": "not the key", "sk": 1, "": "empty name", "~": {"": [], "~x": null, "pk": 2},
    });
    store
        .write(Write::put(Item::new(key.clone(), attrs(stored.clone()))))
        .await
        .expect("put");
    assert_eq!(
        store.get(&key).await,
        Ok(Some(Item::new(key.clone(), attrs(stored))))
    );

    let update = Write::Update {
        key: key.clone(),
        set: attrs(json!({"pk": "still not the key", "": {"": true}})),
        add: vec![("sk".into(), 41)],
        condition: store::Condition::AttrEquals("pk".into(), json!("not the key")),
    };
    store.write(update).await.expect("update");
    let item = store.get(&key).await.expect("get").expect("the item");
    assert_eq!(item.key, key);
    assert_eq!(item.str("pk"), Some("still not the key"));
    assert_eq!(item.int("sk"), 42);
    assert_eq!(item.get(""), Some(&json!({"": true})));
    let page = store
        .query(&Query::prefix(&key.pk, "", 10))
        .await
        .expect("query");
    assert_eq!(page.items, vec![item]);
}

/// An update that sets and adds nothing still creates a missing item (as UpdateItem does)
/// and leaves an existing one as it was.
#[tokio::test]
async fn an_empty_update_creates_a_missing_item_and_changes_nothing_else() {
    let store = fresh_store().await;
    let key = Key::new(format!("empty_update/{}", Uuid::now_v7()), "item");
    let empty = || Write::Update {
        key: key.clone(),
        set: store::Attrs::new(),
        add: vec![],
        condition: store::Condition::Always,
    };
    store.write(empty()).await.expect("create");
    assert_eq!(
        store.get(&key).await,
        Ok(Some(Item::new(key.clone(), store::Attrs::new())))
    );
    let attrs = attrs(json!({"n": 1}));
    store
        .write(Write::put(Item::new(key.clone(), attrs.clone())))
        .await
        .expect("put");
    store.write(empty()).await.expect("update nothing");
    assert_eq!(store.get(&key).await, Ok(Some(Item::new(key, attrs))));
}

/// Keys longer than DynamoDB allows hold no item: reads find nothing and positions still
/// work, while writes are refused as invalid.
#[tokio::test]
async fn keys_beyond_dynamodb_limits_are_never_found_and_never_written() {
    let store = fresh_store().await;
    let pk = format!("long_keys/{}", Uuid::now_v7());
    let long = "s".repeat(1025);
    let too_long = Key::new(&pk, &long);
    assert_eq!(store.get(&too_long).await, Ok(None));
    assert_eq!(store.get(&Key::new("p".repeat(2049), "s")).await, Ok(None));
    assert_eq!(
        store.batch_get(std::slice::from_ref(&too_long)).await,
        Ok(vec![None])
    );
    let write = store.write(Write::put(Item::new(too_long, store::Attrs::new())));
    assert!(matches!(write.await, Err(StoreError::Invalid(_))));

    let longest = "s".repeat(1024);
    for sk in ["r", longest.as_str(), "t"] {
        let item = Item::new(Key::new(&pk, sk), store::Attrs::new());
        store.write(Write::put(item)).await.expect("put");
    }
    let sks = |page: store::Page| -> Vec<String> {
        page.items.into_iter().map(|item| item.key.sk).collect()
    };
    // After a position of 5000 bytes: the 1024-byte key sorts before it, "t" after.
    let after = "s".repeat(5000);
    let page = store
        .query(&Query::prefix(&pk, "", 10).after(Some(after.clone())))
        .await
        .expect("ascending");
    assert_eq!(sks(page), ["t"]);
    let page = store
        .query(&Query::prefix(&pk, "", 10).descending().after(Some(after)))
        .await
        .expect("descending");
    assert_eq!(sks(page), [longest.as_str(), "r"]);
    let page = store
        .query(&Query::prefix(&pk, "s".repeat(1100), 10))
        .await
        .expect("a prefix no key can have");
    assert_eq!(sks(page), Vec::<String>::new());
}

/// What DynamoDB's numbers cannot do, pinned so that a change is noticed: a float holding
/// a whole number reads back as an integer (equal as a number, not as serde_json's value),
/// and a float outside DynamoDB's range is refused.
#[tokio::test]
async fn numbers_keep_their_value_within_dynamodb_range() {
    let store = fresh_store().await;
    let key = Key::new(format!("numbers/{}", Uuid::now_v7()), "item");
    let put = |value: Value| {
        let item = Item::new(key.clone(), attrs(json!({ "x": value })));
        store.write(Write::put(item))
    };
    put(json!(2.0)).await.expect("put 2.0");
    let read = store.get(&key).await.expect("get").expect("item");
    assert_eq!(read.get("x"), Some(&json!(2)));
    assert_eq!(read.get("x").and_then(Value::as_f64), Some(2.0));

    for (value, expected) in [
        (json!(1e125), json!(1e125)),
        (json!(-1e-130), json!(-1e-130)),
    ] {
        put(value).await.expect("put an extreme float");
        let read = store.get(&key).await.expect("get").expect("item");
        assert_eq!(read.get("x"), Some(&expected));
    }
    for value in [json!(1e300), json!(f64::MIN_POSITIVE)] {
        assert!(
            matches!(put(value.clone()).await, Err(StoreError::Invalid(_))),
            "{value} is outside DynamoDB's range"
        );
    }
}

/// Transactions of several writes over the same items conflict in DynamoDB; the adapter
/// retries them, and since a cancelled transaction wrote nothing, no add is lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_transactions_retry_without_losing_or_doubling_writes() {
    const WRITERS: i64 = 16;
    const ROUNDS: i64 = 5;
    let store = fresh_store().await;
    let pk = format!("conflicts/{}", Uuid::now_v7());
    let counters = [Key::new(&pk, "a"), Key::new(&pk, "b")];
    let mut writers = JoinSet::new();
    for _ in 0..WRITERS {
        let store = Arc::clone(&store);
        let counters = counters.clone();
        writers.spawn(async move {
            let mut unavailable = 0;
            for _ in 0..ROUNDS {
                let writes: Vec<Write> = counters
                    .iter()
                    .map(|key| Write::Update {
                        key: key.clone(),
                        set: store::Attrs::new(),
                        add: vec![("n".into(), 1)],
                        condition: store::Condition::Always,
                    })
                    .collect();
                // Unavailable promises nothing was written, so trying again is exact.
                loop {
                    match store.transact(writes.clone()).await {
                        Ok(()) => break,
                        Err(StoreError::Unavailable(_)) if unavailable < 20 => unavailable += 1,
                        Err(e) => panic!("transaction failed: {e}"),
                    }
                }
            }
        });
    }
    while let Some(result) = writers.join_next().await {
        result.expect("writer");
    }
    for found in store.batch_get(&counters).await.expect("batch get") {
        assert_eq!(found.map(|item| item.int("n")), Some(WRITERS * ROUNDS));
    }
}

/// The answer of a fake DynamoDB to the `nth` call (from 0) of an operation: status, body.
type Script = dyn Fn(&str, usize, &str) -> (u16, String) + Send + Sync;

/// A stand-in for DynamoDB that answers from a script, to provoke what DynamoDB Local never
/// does: it runs transactions one at a time (so they never conflict), never throttles, and
/// never leaves keys of a batch get unprocessed.
struct FakeDynamo {
    endpoint: String,
    calls: Arc<std::sync::Mutex<Vec<(String, String)>>>,
    task: tokio::task::JoinHandle<()>,
}

/// The description of a table with the store's key schema.
const ACTIVE_TABLE: &str = r#"{"Table":{"TableName":"fake","TableStatus":"ACTIVE",
    "KeySchema":[{"AttributeName":"pk","KeyType":"HASH"},{"AttributeName":"sk","KeyType":"RANGE"}],
    "AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"},{"AttributeName":"sk","AttributeType":"S"}]}}"#;

impl FakeDynamo {
    async fn start(
        script: impl Fn(&str, usize, &str) -> (u16, String) + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
        let script: Arc<Script> = Arc::new(script);
        let recorded = Arc::clone(&calls);
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((socket, _)) = listener.accept().await {
                connections.spawn(Self::serve(
                    socket,
                    Arc::clone(&script),
                    Arc::clone(&recorded),
                ));
            }
        });
        FakeDynamo {
            endpoint,
            calls,
            task,
        }
    }

    /// Answers the HTTP/1.1 requests of one connection, one after the other.
    async fn serve(
        mut socket: TcpStream,
        script: Arc<Script>,
        calls: Arc<std::sync::Mutex<Vec<(String, String)>>>,
    ) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut buffer = Vec::new();
        loop {
            let head_end = loop {
                if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                    break at + 4;
                }
                let mut chunk = [0; 8192];
                match socket.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                }
            };
            let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
            let header = |name: &str| {
                head.lines().find_map(|line| {
                    let (key, value) = line.split_once(':')?;
                    key.eq_ignore_ascii_case(name)
                        .then(|| value.trim().to_owned())
                })
            };
            let length: usize = header("content-length")
                .and_then(|value| value.parse().ok())
                .unwrap_or(0);
            let operation = header("x-amz-target")
                .and_then(|target| target.split('.').nth(1).map(str::to_owned))
                .unwrap_or_default();
            while buffer.len() < head_end + length {
                let mut chunk = [0; 8192];
                match socket.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                }
            }
            let body = String::from_utf8_lossy(&buffer[head_end..head_end + length]).into_owned();
            buffer.drain(..head_end + length);
            let nth = {
                let mut calls = calls.lock().expect("calls");
                calls.push((operation.clone(), body.clone()));
                calls.iter().filter(|(op, _)| *op == operation).count() - 1
            };
            let (status, reply) = script(&operation, nth, &body);
            let response = format!(
                "HTTP/1.1 {status} Fake\r\ncontent-type: application/x-amz-json-1.0\r\n\
                 content-length: {}\r\n\r\n{reply}",
                reply.len()
            );
            if socket.write_all(response.as_bytes()).await.is_err() {
                return;
            }
        }
    }

    /// The bodies of the calls made of one operation.
    fn calls(&self, operation: &str) -> Vec<String> {
        let calls = self.calls.lock().expect("calls");
        calls
            .iter()
            .filter(|(op, _)| op == operation)
            .map(|(_, body)| body.clone())
            .collect()
    }

    async fn store(&self) -> DynamoStore {
        DynamoStore::connect(DynamoConfig::new("fake").with_endpoint(&self.endpoint))
            .await
            .expect("connect to the fake")
    }
}

impl Drop for FakeDynamo {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn cancelled_by_conflict() -> (u16, String) {
    let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Message":"Transaction cancelled, please refer cancellation reasons for specific reasons [None, TransactionConflict]",
        "CancellationReasons":[{"Code":"None"},{"Code":"TransactionConflict","Message":"Transaction is ongoing for the item"}]}"#;
    (400, body.to_owned())
}

fn two_puts() -> Vec<Write> {
    ["a", "b"]
        .iter()
        .map(|sk| Write::put(Item::new(Key::new("p", *sk), store::Attrs::new())))
        .collect()
}

#[tokio::test]
async fn a_transaction_cancelled_by_a_conflict_is_retried() {
    let fake = FakeDynamo::start(|operation, nth, _| match operation {
        "DescribeTable" => (200, ACTIVE_TABLE.to_owned()),
        "TransactWriteItems" if nth < 2 => cancelled_by_conflict(),
        "TransactWriteItems" => (200, "{}".to_owned()),
        _ => (
            400,
            r#"{"__type":"ValidationException","Message":"unexpected"}"#.to_owned(),
        ),
    })
    .await;
    let store = fake.store().await;
    assert_eq!(store.transact(two_puts()).await, Ok(()));
    let attempts = fake.calls("TransactWriteItems");
    assert_eq!(attempts.len(), 3);
    // Every attempt is a new request: a cancelled transaction wrote nothing.
    let token = |body: &str| {
        let value: Value = serde_json::from_str(body).expect("a JSON body");
        value["ClientRequestToken"].as_str().map(str::to_owned)
    };
    let tokens: Vec<Option<String>> = attempts.iter().map(|body| token(body)).collect();
    assert!(tokens.iter().all(Option::is_some), "{tokens:?}");
    assert!(
        tokens[0] != tokens[1] && tokens[1] != tokens[2],
        "{tokens:?}"
    );
}

#[tokio::test]
async fn a_transaction_that_keeps_conflicting_is_unavailable() {
    let fake = FakeDynamo::start(|operation, _, _| match operation {
        "DescribeTable" => (200, ACTIVE_TABLE.to_owned()),
        _ => cancelled_by_conflict(),
    })
    .await;
    let store = fake.store().await;
    let started = Instant::now();
    let result = store.transact(two_puts()).await;
    assert!(
        matches!(&result, Err(StoreError::Unavailable(message)) if message.contains("TransactionConflict")),
        "got {result:?}"
    );
    assert_eq!(fake.calls("TransactWriteItems").len(), 6);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn server_errors_are_retried_then_unavailable() {
    let fake = FakeDynamo::start(|operation, _, _| match operation {
        "DescribeTable" => (200, ACTIVE_TABLE.to_owned()),
        _ => (
            500,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","Message":"oops"}"#
                .to_owned(),
        ),
    })
    .await;
    let store = fake.store().await;
    let result = store.get(&Key::new("p", "s")).await;
    assert!(
        matches!(&result, Err(StoreError::Unavailable(message)) if message.contains("InternalServerError")),
        "got {result:?}"
    );
    assert_eq!(fake.calls("GetItem").len(), 3, "the SDK's attempts");
}

#[tokio::test]
async fn a_batch_get_asks_again_for_unprocessed_keys() {
    let item = |sk: &str| format!(r#"{{"pk":{{"S":"p"}},"sk":{{"S":"{sk}"}},"n":{{"N":"1"}}}}"#);
    let (a, b) = (item("a"), item("b"));
    let fake = FakeDynamo::start(move |operation, nth, _| match (operation, nth) {
        ("DescribeTable", _) => (200, ACTIVE_TABLE.to_owned()),
        // First nothing at all (throttled), then "a" with "b" left over, then "b".
        ("BatchGetItem", 0) => (
            200,
            r#"{"Responses":{"fake":[]},"UnprocessedKeys":{"fake":{"Keys":[
                {"pk":{"S":"p"},"sk":{"S":"a"}},{"pk":{"S":"p"},"sk":{"S":"b"}}],
                "ConsistentRead":true}}}"#
                .to_owned(),
        ),
        ("BatchGetItem", 1) => (
            200,
            format!(
                r#"{{"Responses":{{"fake":[{a}]}},"UnprocessedKeys":{{"fake":{{"Keys":[
                {{"pk":{{"S":"p"}},"sk":{{"S":"b"}}}}],"ConsistentRead":true}}}}}}"#
            ),
        ),
        ("BatchGetItem", _) => (
            200,
            format!(r#"{{"Responses":{{"fake":[{b}]}},"UnprocessedKeys":{{}}}}"#),
        ),
        _ => (
            400,
            r#"{"__type":"ValidationException","Message":"unexpected"}"#.to_owned(),
        ),
    })
    .await;
    let store = fake.store().await;
    let (ka, kb, missing) = (Key::new("p", "a"), Key::new("p", "b"), Key::new("p", "c"));
    let found = store
        .batch_get(&[kb.clone(), missing, ka.clone(), kb.clone()])
        .await
        .expect("batch get");
    let n = attrs(json!({"n": 1}));
    let (item_a, item_b) = (Item::new(ka, n.clone()), Item::new(kb, n));
    assert_eq!(
        found,
        [Some(item_b.clone()), None, Some(item_a), Some(item_b)]
    );

    let calls = fake.calls("BatchGetItem");
    assert_eq!(calls.len(), 3);
    let keys_asked = |body: &str| -> usize {
        let value: Value = serde_json::from_str(body).expect("a JSON body");
        value["RequestItems"]["fake"]["Keys"]
            .as_array()
            .map_or(0, Vec::len)
    };
    // Each key once, though "b" was named twice; then only what was left over.
    assert_eq!(
        calls
            .iter()
            .map(|body| keys_asked(body))
            .collect::<Vec<_>>(),
        [3, 2, 1]
    );
}

/// Rough operations per second against the endpoint, printed rather than asserted:
/// `cargo test -p store-dynamodb --release -- --ignored --nocapture throughput`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement, not a check"]
async fn throughput() {
    const IN_FLIGHT: usize = 32;
    const CALLS: usize = 4000;
    let store = fresh_store().await;
    let pk = format!("throughput/{}", Uuid::now_v7());
    let key = move |i: usize| Key::new(&pk, format!("item#{:05}", i % 1000));

    async fn measure<F, Fut>(name: &str, calls: usize, call: F)
    where
        F: Fn(usize) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let call = Arc::new(call);
        let started = Instant::now();
        let mut workers = JoinSet::new();
        for worker in 0..IN_FLIGHT {
            let call = Arc::clone(&call);
            workers.spawn(async move {
                for i in (worker..calls).step_by(IN_FLIGHT) {
                    call(i).await;
                }
            });
        }
        while let Some(result) = workers.join_next().await {
            result.expect("worker");
        }
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{name}: {calls} calls, {IN_FLIGHT} in flight, {:.0} ops/s",
            calls as f64 / seconds
        );
    }

    let (s, k) = (Arc::clone(&store), key.clone());
    measure("put", CALLS, move |i| {
        let (s, k) = (Arc::clone(&s), k.clone());
        async move {
            let item = Item::new(k(i), attrs(json!({"title": "Alien", "year": 1979, "i": i})));
            s.write(Write::put(item)).await.expect("put");
        }
    })
    .await;
    let (s, k) = (Arc::clone(&store), key.clone());
    measure("get", CALLS, move |i| {
        let (s, k) = (Arc::clone(&s), k.clone());
        async move {
            s.get(&k(i)).await.expect("get").expect("found");
        }
    })
    .await;
    let (s, k) = (Arc::clone(&store), key.clone());
    measure("update (add)", CALLS, move |i| {
        let (s, k) = (Arc::clone(&s), k.clone());
        async move {
            let update = Write::Update {
                key: k(i),
                set: store::Attrs::new(),
                add: vec![("likes".into(), 1)],
                condition: store::Condition::Exists,
            };
            s.write(update).await.expect("update");
        }
    })
    .await;
    let (s, k) = (Arc::clone(&store), key.clone());
    measure("query (10 items)", CALLS / 4, move |i| {
        let (s, k) = (Arc::clone(&s), k.clone());
        async move {
            let start = k(i);
            let query = Query::prefix(&start.pk, "item#", 10).after(Some(start.sk));
            s.query(&query).await.expect("query");
        }
    })
    .await;
    let (s, k) = (Arc::clone(&store), key);
    measure("transaction (4 writes)", CALLS / 4, move |i| {
        let (s, k) = (Arc::clone(&s), k.clone());
        async move {
            let writes = (0..4)
                .map(|j| Write::put(Item::new(k(i * 4 + j), attrs(json!({"j": j})))))
                .collect();
            s.transact(writes).await.expect("transaction");
        }
    })
    .await;
}

/// A lone write that is safe to repeat takes the single-item call; any other goes through
/// TransactWriteItems, whose idempotency token makes the SDK's retries exact.
#[tokio::test]
async fn only_writes_safe_to_repeat_skip_the_transaction() {
    let fake = FakeDynamo::start(|operation, _, _| match operation {
        "DescribeTable" => (200, ACTIVE_TABLE.to_owned()),
        _ => (200, "{}".to_owned()),
    })
    .await;
    let store = fake.store().await;
    let key = Key::new("p", "s");
    let item = Item::new(key.clone(), attrs(json!({"n": 1})));
    let update = |add: Vec<(String, i64)>, condition| Write::Update {
        key: key.clone(),
        set: attrs(json!({"title": "Alien"})),
        add,
        condition,
    };
    let writes = [
        (Write::put(item.clone()), "PutItem"),
        (
            Write::Put {
                item,
                condition: store::Condition::NotExists,
            },
            "TransactWriteItems",
        ),
        (update(vec![], store::Condition::Always), "UpdateItem"),
        (
            update(vec![("n".into(), 1)], store::Condition::Always),
            "TransactWriteItems",
        ),
        (
            update(vec![], store::Condition::Exists),
            "TransactWriteItems",
        ),
        (Write::delete(key.clone()), "DeleteItem"),
        (
            Write::Delete {
                key: key.clone(),
                condition: store::Condition::Exists,
            },
            "TransactWriteItems",
        ),
        (
            Write::Check {
                key,
                condition: store::Condition::Always,
            },
            "TransactWriteItems",
        ),
    ];
    for (write, operation) in writes {
        let before = fake.calls(operation).len();
        store.write(write.clone()).await.expect("write");
        assert_eq!(fake.calls(operation).len(), before + 1, "{write:?}");
    }
}
