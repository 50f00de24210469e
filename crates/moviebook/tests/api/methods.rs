//! Requests with methods the API does not know: each answered 405 problem+json, and all of
//! them counted in `/metrics` under one `method` label value, `other`, however many methods
//! a client makes up (each value is a series that lives as long as the process).

use std::collections::BTreeSet;

use reqwest::Method;

use crate::support::*;

/// The `method` label values of the HTTP request metrics in a `/metrics` text.
fn method_labels(metrics: &str) -> BTreeSet<String> {
    metrics
        .lines()
        .filter(|line| {
            line.starts_with("moviebook_http_requests_total{")
                || line.starts_with("moviebook_http_request_duration_seconds")
        })
        .filter_map(|line| {
            let (_, rest) = line.split_once("method=\"")?;
            Some(rest.split_once('"')?.0.to_owned())
        })
        .collect()
}

/// The requests `/metrics` counts under `method="other"`.
fn other_requests(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|line| {
            line.starts_with("moviebook_http_requests_total{") && line.contains("method=\"other\"")
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn made_up_methods_are_405_problems_counted_under_one_method_label() {
    own_server_only!("it compares the label values of one process's /metrics");
    let app = TestApp::spawn().await;
    app.get("/movies").await.expect(200);
    let before = method_labels(&app.root_get("/metrics").await.text);
    assert!(before.contains("GET"), "labels before: {before:?}");

    let movie = format!("{API}/movies/{}", uuid::Uuid::now_v7());
    let paths = [
        format!("{API}/movies"),
        movie,
        format!("{API}/no-such-route"),
        "/healthz".to_owned(),
    ];
    for i in 0..150 {
        let method = Method::from_bytes(format!("MADEUP{i}").as_bytes()).expect("a method");
        let path = &paths[i % paths.len()];
        app.raw(method, path, None, None, None).await.problem(405);
    }

    let metrics = app.root_get("/metrics").await.text;
    let after = method_labels(&metrics);
    let added: Vec<&String> = after.difference(&before).collect();
    assert!(
        added.iter().all(|label| *label == "other") && added.len() <= 1,
        "150 made-up methods added the method labels {added:?}"
    );
    assert!(
        other_requests(&metrics) >= 150.0,
        "the made-up methods are counted as other: {}",
        other_requests(&metrics)
    );
}
