//! A labelled store counts its caller's requests, item writes and checks and times its
//! requests, read back as `/metrics` shows them, on a real SQLite store.

use std::sync::Arc;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;
use store::{Condition, Item, Key, Label, Query, Store, Write};
use store_sqlite::SqliteStore;
use tempfile::TempDir;

fn sqlite() -> (TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = SqliteStore::open(&dir.path().join("store.db")).expect("open a fresh store");
    (dir, Arc::new(store))
}

fn put(sk: &str) -> Write {
    let attrs = json!({ "n": 1 }).as_object().cloned().expect("an object");
    Write::put(Item::new(Key::new("p", sk), attrs))
}

/// The value of the series `name` whose labels are exactly `labels`, if it is shown.
fn value(metrics: &PrometheusHandle, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
    let text = metrics.render();
    let mut wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    wanted.sort();
    text.lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (series_name, rest) = series.split_once('{')?;
        let mut shown: Vec<String> = rest
            .trim_end_matches('}')
            .split(',')
            .map(str::to_owned)
            .collect();
        shown.sort();
        (series_name == name && shown == wanted).then(|| value.parse().expect("a count"))
    })
}

#[tokio::test]
async fn a_transaction_is_one_request_of_its_item_writes_and_checks() {
    let (_dir, store) = sqlite();
    store.transact(vec![put("a")]).await.expect("seeded");
    let recorder = PrometheusBuilder::new().build_recorder();
    let metrics = recorder.handle();
    let scores = metrics::with_local_recorder(&recorder, || store.labelled("scores"));

    scores
        .transact(vec![
            put("b"),
            put("c"),
            put("d"),
            Write::Check {
                key: Key::new("p", "a"),
                condition: Condition::Exists,
            },
        ])
        .await
        .expect("committed");
    let page = scores
        .query(&Query::prefix("p", "", 10))
        .await
        .expect("read");

    assert_eq!(
        page.items.len(),
        4,
        "the labelled view reads the same store"
    );
    let requests = |operation| {
        value(
            &metrics,
            "moviebook_store_requests_total",
            &[("operation", operation), ("caller", "scores")],
        )
    };
    assert_eq!(requests("transact"), Some(1));
    assert_eq!(requests("query"), Some(1));
    assert_eq!(requests("get").unwrap_or(0), 0);
    let timed = |operation| {
        value(
            &metrics,
            "moviebook_store_request_seconds_count",
            &[("operation", operation), ("caller", "scores")],
        )
    };
    assert_eq!(
        timed("transact"),
        Some(1),
        "each request's latency is recorded"
    );
    assert_eq!(timed("query"), Some(1));
    let caller = [("caller", "scores")];
    assert_eq!(
        value(&metrics, "moviebook_store_item_writes_total", &caller),
        Some(3)
    );
    assert_eq!(
        value(&metrics, "moviebook_store_condition_checks_total", &caller),
        Some(1)
    );
}
