//! Runs the port's conformance suite against a local S3-compatible server, and checks what
//! only the S3 adapter has to get right: the bucket it creates, and an S3 that is down, goes
//! down, or hangs turning into `Unavailable` within the configured times.
//!
//! The endpoint comes from `MOVIEBOOK_TEST_S3_ENDPOINT` (`scripts/s3-local start` prints it;
//! `scripts/test` starts the server and sets it). Without it the tests that need S3 fail, as
//! the DynamoDB adapter's do: a suite that passed without running would hide a broken adapter.
//! Each test process works in a bucket of its own, so runs in parallel never meet.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use objects::{ObjectError, ObjectKey, ObjectStore};
use objects_s3::{S3Config, S3ObjectStore};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use uuid::Uuid;

const ENDPOINT_VARIABLE: &str = "MOVIEBOOK_TEST_S3_ENDPOINT";

fn endpoint() -> String {
    std::env::var(ENDPOINT_VARIABLE).unwrap_or_else(|_| {
        panic!(
            "{ENDPOINT_VARIABLE} is not set, so there is no S3 to test against: run \
             `scripts/s3-local start` and export the endpoint it prints as \
             {ENDPOINT_VARIABLE} (scripts/test does both)"
        )
    })
}

/// A bucket name no other test process uses (S3 names: lower case, digits and `-`).
fn unique_bucket(purpose: &str) -> String {
    format!("moviebook-test-{purpose}-{}", Uuid::now_v7())
}

/// The bucket of this test process, made by whichever test connects first.
fn process_bucket() -> &'static str {
    static BUCKET: OnceLock<String> = OnceLock::new();
    BUCKET.get_or_init(|| unique_bucket("conformance"))
}

/// A store per test: every test runs on its own Tokio runtime, and the SDK's connection pool
/// must not outlive the runtime it was made on.
async fn fresh_store() -> Arc<S3ObjectStore> {
    let config = S3Config::new(process_bucket()).with_endpoint(endpoint());
    let store = S3ObjectStore::connect(config)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to S3 at {}: {e}", endpoint()));
    Arc::new(store)
}

objects::object_store_conformance_tests!(fresh_store());

fn key(text: &str) -> ObjectKey {
    ObjectKey::new(text).expect("a valid key")
}

/// Short times, so that an outage is reported in about a second.
fn impatient(bucket: &str, endpoint: String) -> S3Config {
    let mut config = S3Config::new(bucket).with_endpoint(endpoint);
    config.aws.connect_timeout = Duration::from_millis(300);
    config.aws.attempt_timeout = Duration::from_millis(500);
    config.aws.operation_timeout = Duration::from_millis(1500);
    config
}

/// Every call of the port, each of which must fail with `Unavailable`.
async fn every_call_is_unavailable(store: &S3ObjectStore, within: Duration) {
    let key = key("movies/m1/poster.jpg");
    let started = Instant::now();
    let outcomes: [(&str, Result<(), ObjectError>); 4] = [
        ("put", store.put(&key, b"x".to_vec(), "image/jpeg").await),
        ("get", store.get(&key).await.map(|_| ())),
        ("delete", store.delete(&key).await),
        ("ping", store.ping().await),
    ];
    for (call, outcome) in outcomes {
        assert!(
            matches!(outcome, Err(ObjectError::Unavailable(_))),
            "{call}: {outcome:?}"
        );
    }
    assert!(
        started.elapsed() < within,
        "the four calls took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn connect_creates_a_missing_bucket_and_reuses_it() {
    let bucket = unique_bucket("created");
    let config = S3Config::new(&bucket).with_endpoint(endpoint());
    let store = S3ObjectStore::connect(config.clone())
        .await
        .expect("connect creates the bucket");
    assert_eq!(store.bucket(), bucket);
    let poster = key("movies/m1/poster.jpg");
    store
        .put(&poster, b"jpeg".to_vec(), "image/jpeg")
        .await
        .expect("put");
    // A second process connecting to the same bucket finds it and what it holds.
    let again = S3ObjectStore::connect(config.clone())
        .await
        .expect("connect to the existing bucket");
    let read = again.get(&poster).await.expect("get").expect("the poster");
    assert_eq!(read.bytes, b"jpeg");
    let client = config.client().await.expect("a client");
    let listed = client
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .expect("listing the bucket");
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["movies/m1/poster.jpg"], "the key is stored as it is");
}

#[tokio::test]
async fn a_bucket_deleted_under_the_store_is_unavailable_not_empty() {
    let bucket = unique_bucket("deleted");
    let config = S3Config::new(&bucket).with_endpoint(endpoint());
    let store = S3ObjectStore::connect(config.clone())
        .await
        .expect("connect");
    let client = config.client().await.expect("a client");
    client
        .delete_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("deleting the empty bucket");
    // A missing bucket is an outage, not a missing picture: `get` must not say `None`.
    every_call_is_unavailable(&store, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn connecting_to_nothing_is_unavailable_at_once() {
    // A port that was just free: nothing listens there.
    let address = {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        listener.local_addr().expect("its address")
    };
    let started = Instant::now();
    let refused = S3ObjectStore::connect(impatient("anything", format!("http://{address}"))).await;
    assert!(
        matches!(refused, Err(ObjectError::Unavailable(_))),
        "{refused:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_server_that_never_answers_is_unavailable_within_the_operation_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let address = listener.local_addr().expect("its address");
    // Accepts connections and reads nothing, answers nothing.
    let hang = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let started = Instant::now();
    let refused = S3ObjectStore::connect(impatient("anything", format!("http://{address}"))).await;
    assert!(
        matches!(refused, Err(ObjectError::Unavailable(_))),
        "{refused:?}"
    );
    let took = started.elapsed();
    assert!(took < Duration::from_secs(4), "connect took {took:?}");
    hang.abort();
}

/// Forwards connections to the real server until `cut` is called; from then on it drops
/// every open connection and refuses new ones: S3 going down under a running store.
struct Cable {
    address: SocketAddr,
    tasks: JoinSet<()>,
}

impl Cable {
    async fn to(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let address = listener.local_addr().expect("its address");
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Cable { address, tasks }
    }

    /// Stops listening and drops every connection (aborting the tasks closes their sockets).
    async fn cut(mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}

fn socket_address(endpoint: &str) -> SocketAddr {
    let host_port = endpoint.trim_start_matches("http://").trim_end_matches('/');
    host_port
        .parse()
        .unwrap_or_else(|e| panic!("{ENDPOINT_VARIABLE}={endpoint} is not http://ip:port: {e}"))
}

#[tokio::test]
async fn s3_going_down_under_a_running_store_is_unavailable_not_a_panic_or_a_hang() {
    let cable = Cable::to(socket_address(&endpoint())).await;
    let config = impatient(process_bucket(), format!("http://{}", cable.address));
    let store = S3ObjectStore::connect(config)
        .await
        .expect("connect through the cable");
    let poster = key("movies/m1/poster.jpg");
    store
        .put(&poster, b"up".to_vec(), "image/jpeg")
        .await
        .expect("a put while S3 is up");
    cable.cut().await;
    every_call_is_unavailable(&store, Duration::from_secs(8)).await;
}
