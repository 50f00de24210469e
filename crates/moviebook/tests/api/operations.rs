//! Operations and running: health, readiness, metrics, OpenAPI, the generated admin token,
//! restarts, SIGTERM.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

#[tokio::test]
async fn healthz_and_readyz_answer_200() {
    let app = TestApp::spawn().await;
    app.root_get("/healthz").await.expect(200);
    app.root_get("/readyz").await.expect(200);
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_http_request_counts() {
    let app = TestApp::spawn().await;
    app.get("/movies").await.expect(200);
    app.get(&format!("/movies/{}", uuid::Uuid::now_v7()))
        .await
        .problem(404);
    if app.metrics_url() != format!("{}/metrics", app.base_url) {
        // A deployment with an internal address keeps /metrics off the public one.
        app.root_get("/metrics").await.problem(404);
    }
    let text = eventually("/metrics counts HTTP requests", async || {
        let resp = app.metrics().await;
        if resp.status != 200 {
            return Err(format!("status {}: {}", resp.status, resp.text));
        }
        let counted = resp.text.lines().any(|line| {
            line.starts_with("moviebook_http_requests_total")
                && line
                    .rsplit(' ')
                    .next()
                    .and_then(|v| v.parse::<f64>().ok())
                    .is_some_and(|v| v >= 1.0)
        });
        if counted { Ok(resp) } else { Err(resp.text) }
    })
    .await;
    let content_type = text.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/plain"),
        "Prometheus text format, got content type {content_type:?}"
    );
    for line in text
        .text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let value = line.rsplit(' ').next().unwrap_or_default();
        let numeric = value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value);
        assert!(numeric, "not a Prometheus sample line: {line:?}");
    }
}

/// The metric families a `/metrics` text declares (its `# TYPE` lines), and those it
/// describes (its `# HELP` lines).
fn families(metrics: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let named = |prefix: &str| -> BTreeSet<String> {
        metrics
            .lines()
            .filter_map(|line| line.strip_prefix(prefix))
            .filter_map(|rest| rest.split(' ').next())
            .map(str::to_owned)
            .collect()
    };
    (named("# TYPE "), named("# HELP "))
}

#[tokio::test]
async fn every_moviebook_metric_has_a_help_line() {
    let app = TestApp::spawn().await;
    app.get("/movies").await.expect(200);
    app.root_get("/readyz").await.expect(200);
    let text = eventually("/metrics shows the requests", async || {
        let text = app.metrics().await.text;
        if text.contains("moviebook_http_requests_total{") {
            Ok(text)
        } else {
            Err(text)
        }
    })
    .await;
    let (declared, described) = families(&text);
    let ours: Vec<&String> = declared
        .iter()
        .filter(|name| name.starts_with("moviebook_"))
        .collect();
    assert!(ours.iter().any(|name| *name == "moviebook_ready"), "{text}");
    let undescribed: Vec<&&String> = ours
        .iter()
        .filter(|name| !described.contains(name.as_str()))
        .collect();
    assert!(undescribed.is_empty(), "no # HELP for {undescribed:?}");
}

/// The alert rules' expressions in `deploy/alerts.yml`: each `expr:` value, inline or a
/// block (the lines indented below it).
fn alert_expressions() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/alerts.yml");
    let rules = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let indent = |line: &str| line.len() - line.trim_start().len();
    let mut expressions = Vec::new();
    let mut lines = rules.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(value) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        let mut expression = value.trim().to_owned();
        if expression.starts_with(['>', '|']) {
            expression.clear();
            while let Some(next) = lines.next_if(|next| indent(next) > indent(line)) {
                expression.push_str(next.trim());
                expression.push(' ');
            }
        }
        expressions.push(expression);
    }
    expressions
}

/// The `moviebook_…` metric names in a PromQL expression.
fn metric_names(expression: &str) -> BTreeSet<String> {
    expression
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("moviebook_"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_alert_rules_refer_only_to_metrics_the_binary_exports() {
    own_server_only!("it needs one process playing every role, so that every metric shows");
    let app = TestApp::spawn().await;
    // Something for every part to measure: a commit (outbox), events projected (lag), and
    // a readiness probe.
    let movie = app.create_movie("Alerted", 2001, &["drama"], &[]).await;
    let movie_id = movie["id"].as_str().expect("the movie's id");
    let (_, token) = app.sign_up("Alerter").await;
    app.review(movie_id, &token, 7, None).await.expect(201);
    app.await_movie_score(movie_id, &[7]).await;
    app.root_get("/readyz").await.expect(200);

    let expressions = alert_expressions();
    assert!(expressions.len() >= 4, "expressions: {expressions:?}");
    let referred: BTreeSet<String> = expressions.iter().flat_map(|e| metric_names(e)).collect();
    assert!(referred.len() >= 4, "names in the rules: {referred:?}");
    let (exported, _) = families(&app.metrics().await.text);
    for name in referred {
        // A histogram's series are its family's name with a suffix.
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .filter(|family| exported.contains(*family))
            .unwrap_or(&name);
        assert!(
            exported.contains(family),
            "deploy/alerts.yml refers to {name}, which /metrics does not show; it shows {exported:?}"
        );
    }
}

/// The callers whose store requests `/metrics` counts above zero.
fn store_callers(metrics: &str) -> Vec<String> {
    let mut callers: Vec<String> = metrics
        .lines()
        .filter(|line| line.starts_with("moviebook_store_requests_total{"))
        .filter(|line| {
            line.rsplit(' ')
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .is_some_and(|v| v > 0.0)
        })
        .filter_map(|line| {
            let (_, rest) = line.split_once("caller=\"")?;
            Some(rest.split_once('"')?.0.to_owned())
        })
        .collect();
    callers.sort();
    callers.dedup();
    callers
}

#[tokio::test]
async fn metrics_count_store_requests_by_caller() {
    own_server_only!("it reads the store counts of one process that plays every part");
    let app = TestApp::spawn().await;
    let movie = app.create_movie("Counted", 2001, &["drama"], &[]).await;
    let movie_id = movie["id"].as_str().expect("the movie's id");
    let (_, token) = app.sign_up("Counter").await;
    app.review(movie_id, &token, 7, None).await.expect(201);
    app.await_movie_score(movie_id, &[7]).await;

    let expected = ["catalog", "movies", "relay", "reviews", "users"];
    eventually(
        "/metrics counts the store requests of the API, the relay and the projections",
        async || {
            let text = app.root_get("/metrics").await.text;
            let callers = store_callers(&text);
            if expected
                .iter()
                .all(|caller| callers.iter().any(|c| c == caller))
            {
                Ok(())
            } else {
                Err(format!("callers with requests: {callers:?}"))
            }
        },
    )
    .await;
}

/// The store requests `/metrics` has counted, summed over every operation and caller.
fn store_requests(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|line| line.starts_with("moviebook_store_requests_total{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn an_idle_process_makes_at_most_one_store_request_in_three_seconds() {
    own_server_only!("it counts the store requests of one process that nobody else uses");
    let app = TestApp::spawn().await;
    let movie = app.create_movie("Idle After", 2001, &["drama"], &[]).await;
    let movie_id = movie["id"].as_str().expect("the movie's id");
    let (_, token) = app.sign_up("Idler").await;
    app.review(movie_id, &token, 7, None).await.expect(201);
    app.await_movie_score(movie_id, &[7]).await;

    // Until the last projection is done with the review: two reads of the count alike.
    let mut before = store_requests(&app.root_get("/metrics").await.text);
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = store_requests(&app.root_get("/metrics").await.text);
        if now == before {
            break;
        }
        before = now;
    }
    // Counted, not timed: whatever the pace of the machine, a relay that polled would make
    // dozens of requests in this window; one sweeping a partition every 5 s makes at most one.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = store_requests(&app.root_get("/metrics").await.text);
    assert!(before > 0.0, "the review's requests were counted");
    assert!(
        after - before <= 1.0,
        "{} store requests in 3 idle seconds",
        after - before
    );
}

#[tokio::test]
async fn openapi_document_is_openapi_3_with_every_route_of_the_contract() {
    let app = TestApp::spawn().await;
    let resp = app.get("/openapi.json").await;
    let doc = resp.expect(200);
    let content_type = resp.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "content type {content_type:?}"
    );
    let version = doc["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with('3'), "openapi version {version:?}");
    let routes: [(&str, &[&str]); 14] = [
        ("/api/v1/movies", &["get", "post"]),
        ("/api/v1/movies/{id}", &["get", "delete"]),
        ("/api/v1/movies/top-rated", &["get"]),
        ("/api/v1/movies/{id}/reviews", &["get", "post"]),
        ("/api/v1/movies/{id}/reviews/{user_id}", &["get", "delete"]),
        ("/api/v1/actors", &["get", "post"]),
        ("/api/v1/actors/{id}", &["get"]),
        ("/api/v1/users", &["post"]),
        ("/api/v1/users/{id}", &["get", "patch", "delete"]),
        ("/api/v1/auth/token", &["post"]),
        ("/api/v1/genres", &["get"]),
        ("/api/v1/genres/{genre}/movies", &["get"]),
        ("/api/v1/users/{id}/watchlist", &["get"]),
        (
            "/api/v1/users/{id}/watchlist/{movie_id}",
            &["put", "delete"],
        ),
    ];
    let paths = doc["paths"]
        .as_object()
        .unwrap_or_else(|| panic!("no `paths` object in the OpenAPI document"));
    for (path, methods) in routes {
        let item = paths.get(path).unwrap_or_else(|| {
            panic!(
                "the OpenAPI document lacks {path}; it has {:?}",
                paths.keys().collect::<Vec<_>>()
            )
        });
        for method in methods {
            assert!(
                item.get(*method).is_some(),
                "the OpenAPI document lacks {} {path}",
                method.to_uppercase()
            );
        }
    }
    // `/metrics` is listed where the address answers it: the embedded process's; not a
    // distributed deployment's public address (its metrics are on the internal one).
    let metrics = app.root_get("/metrics").await.status;
    assert_eq!(
        paths.contains_key("/metrics"),
        metrics == 200,
        "the document lists /metrics: {}; GET /metrics is {metrics}",
        paths.contains_key("/metrics")
    );
}

#[tokio::test]
async fn generated_admin_token_is_printed_once_kept_and_accepted_after_restart() {
    own_server_only!("it starts a server without MOVIEBOOK_ADMIN_TOKEN");
    let mut app = TestApp::spawn_generating_admin_token().await;
    let token = app.admin_token.clone();
    assert!(
        token.len() >= 16,
        "the generated admin token is short: {token:?}"
    );
    let stdout = app.stdout();
    let lines = stdout
        .lines()
        .filter(|l| l.trim().starts_with("ADMIN_TOKEN="))
        .count();
    assert_eq!(lines, 1, "the token line is printed once: {stdout:?}");

    let actor = app.create_actor("Generated Admin").await;
    app.post_json(
        "/actors",
        Some(&format!("{token}-nope")),
        &json!({ "name": "Nope" }),
    )
    .await
    .problem(401);
    app.post_json("/actors", Some("admin"), &json!({ "name": "Nope" }))
        .await
        .problem(401);

    app.sigterm();
    app.await_clean_exit(Duration::from_secs(10)).await;
    app.restart().await;

    let stdout = app.stdout();
    assert!(
        !stdout.contains("ADMIN_TOKEN="),
        "a restart prints the admin token again: {stdout:?}"
    );
    assert!(
        !stdout.contains(&token) && !app.stderr().contains(&token),
        "a restart shows the admin token in its output"
    );
    let id = actor["id"].as_str().unwrap();
    app.get(&format!("/actors/{id}")).await.expect(200);
    app.create_actor("Still Admin").await;
}

#[tokio::test]
async fn data_and_user_tokens_survive_a_restart() {
    own_server_only!("it restarts the server");
    let mut app = TestApp::spawn().await;
    let actor = app.create_actor("Durable Actor").await;
    let actor_id = actor["id"].as_str().unwrap().to_owned();
    let movie = app
        .create_movie("Durable Movie", 1999, &["drama"], &[(&actor_id, "lead")])
        .await;
    let movie_id = movie["id"].as_str().unwrap().to_owned();
    let user = app.sign_up_user("Durable User").await;
    let review = app
        .review(&movie_id, &user.token, 8, Some("kept"))
        .await
        .expect(201);
    app.await_movie_score(&movie_id, &[8]).await;

    app.sigterm();
    app.await_clean_exit(Duration::from_secs(10)).await;
    app.restart().await;

    assert_eq!(
        app.get_ok(&format!("/actors/{actor_id}")).await["name"],
        json!("Durable Actor")
    );
    let moviedoc = app.get_ok(&format!("/movies/{movie_id}")).await;
    assert_eq!(moviedoc["title"], json!("Durable Movie"));
    assert_eq!(moviedoc["review_count"], json!(1));
    assert_eq!(moviedoc["score"].as_f64(), Some(8.0));
    assert_eq!(
        app.get_ok(&format!("/movies/{movie_id}/reviews/{}", user.id))
            .await,
        review
    );
    assert_eq!(
        app.get_ok(&format!("/users/{}", user.id)).await["name"],
        json!("Durable User")
    );

    // The user's token from before the restart still writes.
    app.review(&movie_id, &user.token, 6, None)
        .await
        .expect(200);
    app.await_movie_score(&movie_id, &[6]).await;
    app.login(&user.email, &user.password).await.expect(200);
    eventually(
        "the filmography shows the movie with its new score",
        async || {
            let film = app.get_ok(&format!("/actors/{actor_id}")).await["movies"].clone();
            let ok = film.as_array().is_some_and(|l| {
                l.len() == 1
                    && l[0]["id"] == json!(movie_id)
                    && same_score(&l[0]["score"], &json!(6.0))
            });
            if ok { Ok(()) } else { Err(film.to_string()) }
        },
    )
    .await;
}

#[tokio::test]
async fn sigterm_exits_with_status_0_within_10_seconds() {
    own_server_only!("it stops the server");
    let mut app = TestApp::spawn().await;
    app.create_movie("Before Stop", 2000, &["drama"], &[]).await;
    app.sigterm();
    app.await_clean_exit(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn sigterm_finishes_in_flight_requests_and_loses_no_answered_write() {
    own_server_only!("it stops the server");
    let mut app = TestApp::spawn().await;
    let emails: Vec<String> = (0..12).map(|_| format!("{}@example.com", tag())).collect();
    let answered = AtomicUsize::new(0);
    let results = {
        let app = &app;
        let answered = &answered;
        let requests = emails.iter().map(|email| async move {
            let body = json!({ "name": "Inflight", "email": email, "password": "password1" })
                .to_string()
                .into_bytes();
            let result = app
                .client
                .post(format!("{}{API}/users", app.base_url))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            let outcome = match result {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let body: Value = resp.json().await.unwrap_or(Value::Null);
                    Some((email.clone(), status, body))
                }
                Err(_) => None,
            };
            answered.fetch_add(1, Ordering::SeqCst);
            outcome
        });
        let all = futures::future::join_all(requests);
        let signal = async {
            // Signal once the first sign-up has been answered, while the others are in flight.
            eventually("a first sign-up is answered", async || {
                let n = answered.load(Ordering::SeqCst);
                if n >= 1 {
                    Ok(())
                } else {
                    Err(format!("{n} answered"))
                }
            })
            .await;
            app.sigterm();
        };
        let (results, ()) = tokio::join!(all, signal);
        results
    };
    app.await_clean_exit(Duration::from_secs(10)).await;
    for (email, status, body) in results.iter().flatten() {
        assert!(
            matches!(status, 201 | 503),
            "{email}: an in-flight sign-up during shutdown answered {status}: {body}"
        );
    }
    app.restart().await;
    for (email, status, body) in results.iter().flatten() {
        if *status == 201 {
            let id = body["id"].as_str().unwrap();
            app.get(&format!("/users/{id}")).await.expect(200);
            app.login(email, "password1").await.expect(200);
        }
    }
}

#[tokio::test]
async fn with_the_json_log_format_every_log_line_is_one_json_object() {
    own_server_only!("it configures the log format");
    let app = TestApp::spawn_with(&[("MOVIEBOOK_LOG_FORMAT", "json")]).await;
    app.get("/movies").await.expect(200);
    let stderr = app.stderr();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(
        lines.iter().any(|l| l.contains("MovieBook is serving")),
        "no start line in {stderr}"
    );
    for line in lines {
        let entry: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {line}"));
        assert!(
            entry["level"].is_string() && entry["timestamp"].is_string(),
            "{line}"
        );
        assert!(entry["fields"]["message"].is_string(), "{line}");
    }
}
