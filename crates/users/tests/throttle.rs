//! Login throttling as two users replicas share it: two throttles over one SQLite store.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use store::Store;
use store_sqlite::SqliteStore;
use users::{LoginThrottle, UsersError};

const EMAIL: &str = "ann@example.com";

fn address(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_let_five_concurrent_attempts_through_between_them() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("s.db")).unwrap());
    let replicas = [
        Arc::new(LoginThrottle::new(store.clone())),
        Arc::new(LoginThrottle::new(store.clone())),
    ];
    let attempts = (0..30).map(|i| {
        let throttle = replicas[i % 2].clone();
        tokio::spawn(async move { throttle.reserve(EMAIL, address(1)).await })
    });
    let mut through = 0;
    for outcome in futures::future::join_all(attempts).await {
        match outcome.unwrap() {
            Ok(()) => through += 1,
            Err(UsersError::Throttled { retry_after_secs }) => {
                assert!((1..=900).contains(&retry_after_secs), "{retry_after_secs}");
            }
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(through, 5);

    // The same e-mail from another address, and another e-mail from this one, still pass.
    replicas[1].reserve(EMAIL, address(2)).await.unwrap();
    replicas[0]
        .reserve("bob@example.com", address(1))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_success_gives_the_places_back() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("s.db")).unwrap());
    let throttle = LoginThrottle::new(store);
    for _ in 0..5 {
        throttle.reserve(EMAIL, address(1)).await.unwrap();
    }
    throttle.succeeded(EMAIL, address(1)).await.unwrap();
    for _ in 0..5 {
        throttle.reserve(EMAIL, address(1)).await.unwrap();
    }
    assert!(matches!(
        throttle.reserve(EMAIL, address(1)).await,
        Err(UsersError::Throttled { .. })
    ));
}

#[tokio::test]
async fn an_address_that_tries_many_e_mails_is_throttled_on_all_of_them() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("s.db")).unwrap());
    let throttle = LoginThrottle::new(store);
    for i in 0..50 {
        throttle
            .reserve(&format!("user{i}@example.com"), address(9))
            .await
            .unwrap();
    }
    assert!(matches!(
        throttle.reserve("fresh@example.com", address(9)).await,
        Err(UsersError::Throttled { .. })
    ));
    throttle
        .reserve("fresh@example.com", address(8))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_attempt_given_back_does_not_count() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("s.db")).unwrap());
    let throttle = LoginThrottle::new(store);
    for _ in 0..20 {
        throttle.reserve(EMAIL, address(1)).await.unwrap();
        throttle.give_back(EMAIL, address(1)).await.unwrap();
    }
    for _ in 0..5 {
        throttle.reserve(EMAIL, address(1)).await.unwrap();
    }
    assert!(matches!(
        throttle.reserve(EMAIL, address(1)).await,
        Err(UsersError::Throttled { .. })
    ));
}
