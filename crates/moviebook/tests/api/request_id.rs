//! `X-Request-Id` (docs/api.md, "Conventions"): every answer carries one, errors and
//! refusals included; a valid id from the client comes back as it was sent, anything else is
//! replaced by a fresh id; and the id is in the log lines of its request. Through a gateway
//! the same holds: the service answers under the id the gateway passed on.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::json;

use crate::support::*;

/// The id an answer carries, checked to be one the server would keep from a client.
#[track_caller]
fn id_of(answer: &Resp) -> String {
    let id = answer
        .header("x-request-id")
        .unwrap_or_else(|| panic!("{}: no X-Request-Id on a {}", answer.request, answer.status));
    assert!(
        (1..=128).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._~:/+=-".contains(&b)),
        "{}: X-Request-Id {id:?} is not a valid id",
        answer.request
    );
    id
}

async fn get_with_id(app: &TestApp, path: &str, id: &str) -> Resp {
    app.get_with_headers(path, &[("x-request-id", id)]).await
}

#[tokio::test]
async fn every_answer_carries_a_request_id_errors_included() {
    let app = TestApp::spawn().await;
    let user = app.sign_up_user("Request Id").await;
    let mut answers = vec![
        app.root_get("/healthz").await,
        app.root_get("/readyz").await,
        app.get("/movies").await,
        app.get("/no-such-route").await,
        app.root_get("/no-such-route").await,
        app.get(&format!("/movies/{}", uuid::Uuid::now_v7())).await,
        app.raw(Method::PUT, &format!("{API}/movies"), None, None, None)
            .await,
        app.raw(
            Method::from_bytes(b"MADEUP").expect("a method"),
            "/healthz",
            None,
            None,
            None,
        )
        .await,
        app.post_json("/movies", None, &json!({"title": "x"})).await,
        app.post_json("/movies", Some(&user.token), &json!({"title": "x"}))
            .await,
        app.post_json("/actors", Some(&app.admin_token), &json!({"name": ""}))
            .await,
        app.raw(
            Method::POST,
            &format!("{API}/actors"),
            Some(&app.admin_token),
            Some("text/plain"),
            Some(b"{}".to_vec()),
        )
        .await,
        app.raw(
            Method::POST,
            &format!("{API}/actors"),
            Some(&app.admin_token),
            Some("application/json"),
            Some(b"{not json".to_vec()),
        )
        .await,
    ];
    answers.push(
        app.post_oversized(
            "/actors",
            Some(&app.admin_token),
            &json!({"name": "x".repeat(2 * 1024 * 1024)}),
        )
        .await,
    );
    let statuses: Vec<u16> = answers.iter().map(|answer| answer.status).collect();
    assert_eq!(
        statuses,
        [
            200, 200, 200, 404, 404, 404, 405, 405, 401, 403, 422, 415, 400, 413
        ]
    );
    let ids: HashSet<String> = answers.iter().map(id_of).collect();
    assert_eq!(ids.len(), answers.len(), "an id was given twice: {ids:?}");
}

#[tokio::test]
async fn a_valid_id_from_the_client_is_kept_and_any_other_replaced() {
    let app = TestApp::spawn().await;
    let longest = "k".repeat(128);
    for kept in [
        "req-1",
        "0190c9b2-8f4e-7a3b-9c1d-2e3f4a5b6c7d",
        "a.b_c~d:e/f+g=h",
        longest.as_str(),
    ] {
        for path in ["/healthz".to_owned(), format!("{API}/no-such-route")] {
            let answer = get_with_id(&app, &path, kept).await;
            assert_eq!(id_of(&answer), kept, "{}", answer.request);
        }
    }
    let too_long = "k".repeat(129);
    for replaced in ["with space", "semi;colon", "quote\"d", too_long.as_str()] {
        let answer = get_with_id(&app, "/healthz", replaced).await;
        answer.expect(200);
        assert_ne!(id_of(&answer), replaced, "{}", answer.request);
    }
}

#[tokio::test]
async fn the_id_is_in_the_log_lines_of_its_request() {
    own_server_only!("it reads the server's log");
    // A server error is logged as a warning (inside the request's span): a refusal of the
    // limits, here a request that outlasts a timeout, is the one a client can cause at will.
    let slow = TestApp::spawn_with(&[
        ("MOVIEBOOK_REQUEST_TIMEOUT_MS", "100"),
        ("MOVIEBOOK_HASH_QUEUE", "1000"),
    ])
    .await;
    let sign_ups = (0..40).map(|i| {
        let slow = &slow;
        async move {
            slow.post_json(
                "/users",
                None,
                &json!({"name": "Slow", "email": format!("slow{i}@example.com"), "password": "password123"}),
            )
            .await
        }
    });
    let answers = futures::future::join_all(sign_ups).await;
    let timed_out: Vec<String> = answers
        .iter()
        .filter(|answer| answer.status == 503)
        .map(id_of)
        .collect();
    assert!(
        !timed_out.is_empty(),
        "40 sign-ups all finished within 100 ms"
    );
    eventually(
        "each timed-out request's warning names its id",
        async || {
            let log = slow.stderr();
            match timed_out
                .iter()
                .find(|id| !log.contains(&format!("request_id={id}")))
            {
                None => Ok(()),
                Some(id) => Err(format!("no log line with request_id={id}:\n{log}")),
            }
        },
    )
    .await;
}
