//! Hostile clients (issue 10): inputs with bounded lengths, and the server's timeouts, caps
//! and load shedding (API.md, "Running"), each tried with small configured limits.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

#[tokio::test]
async fn login_with_an_email_or_password_longer_than_any_account_is_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let user = app.sign_up_user("Bounded Login").await;
    let long_email = format!("{}@example.com", "e".repeat(250));
    let long_password = "p".repeat(129);

    app.login(&long_email, &user.password)
        .await
        .invalid_field("email");
    app.login(&user.email, &long_password)
        .await
        .invalid_field("password");
    let both = app.login(&long_email, &"p".repeat(500_000)).await;
    let mut fields = both.invalid_fields();
    fields.sort();
    assert_eq!(fields, ["email", "password"], "{}", both.text);

    // Refused before the throttle counts anything: more than its five failures, and the
    // owner still logs in.
    for _ in 0..8 {
        app.login(&user.email, &long_password)
            .await
            .invalid_field("password");
    }
    app.login(&user.email, &user.password).await.expect(200);
    // The longest password an account can have is still only a wrong one.
    app.login(&user.email, &"p".repeat(128)).await.problem(401);
}

#[tokio::test]
async fn a_search_of_more_than_200_characters_or_10_words_is_422_naming_search() {
    let app = TestApp::spawn().await;
    let ten_words = "one two three four five six seven eight nine ten";
    let eleven_words = format!("{ten_words} eleven");
    let longest = "x".repeat(200);
    let too_long = "x".repeat(201);
    for list in ["/movies", "/actors"] {
        for refused in [&eleven_words, &too_long] {
            app.get(&format!("{list}?search={}", enc(refused)))
                .await
                .invalid_field("search");
        }
        for accepted in [ten_words, longest.as_str()] {
            app.get(&format!("{list}?search={}", enc(accepted)))
                .await
                .expect(200);
        }
    }
    // Every failing parameter is still listed.
    let both = app
        .get(&format!("/movies?search={}&limit=0", enc(&eleven_words)))
        .await;
    let mut fields = both.invalid_fields();
    fields.sort();
    assert_eq!(fields, ["limit", "search"], "{}", both.text);
}

/// The `host:port` the server listens on.
fn address(app: &TestApp) -> String {
    app.base_url.trim_start_matches("http://").to_owned()
}

/// Reads from `stream` until the server closes the connection (or resets it); `None` if it
/// is still open after `patience`.
async fn closed_within(stream: &mut TcpStream, patience: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buffer = [0u8; 1024];
    loop {
        let remaining = patience.checked_sub(start.elapsed())?;
        match tokio::time::timeout(remaining, stream.read(&mut buffer)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// The status line of the answer to one whole `GET path` sent on a new connection.
async fn get_on_a_new_connection(address: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send a request");
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .await
        .expect("read the answer");
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_client_that_sends_part_of_its_headers_or_nothing_is_disconnected_after_the_header_timeout()
 {
    own_server_only!("it configures the header timeout");
    let app = TestApp::spawn_with(&[("MOVIEBOOK_HEADER_TIMEOUT_MS", "400")]).await;
    let address = address(&app);
    let opened = Instant::now();
    let mut partial = TcpStream::connect(&address).await.expect("connect");
    partial
        .write_all(format!("GET {API}/movies HTTP/1.1\r\nHost: {address}\r\nX-Slow: ").as_bytes())
        .await
        .expect("send part of the headers");
    let mut silent = TcpStream::connect(&address).await.expect("connect");
    // Stops short of telling HTTP/1 from HTTP/2 (the first bytes of HTTP/2's preface).
    let mut undecided = TcpStream::connect(&address).await.expect("connect");
    undecided
        .write_all(b"PRI * HT")
        .await
        .expect("send a few bytes");

    for (what, stream) in [
        ("part of the headers", &mut partial),
        ("nothing", &mut silent),
        ("the start of HTTP/2's preface", &mut undecided),
    ] {
        let open = closed_within(stream, Duration::from_secs(10))
            .await
            .map(|_| opened.elapsed());
        let open = open
            .unwrap_or_else(|| panic!("a client that sent {what} is still connected after 10 s"));
        assert!(
            open >= Duration::from_millis(300),
            "a client that sent {what} was disconnected after {open:?}, before its time"
        );
    }
    // A whole request is answered.
    assert!(
        get_on_a_new_connection(&address, "/healthz")
            .await
            .contains(" 200 "),
        "healthz after the slow clients"
    );
}

#[tokio::test]
async fn at_the_connection_cap_a_new_connection_takes_the_place_of_the_longest_quiet_one() {
    own_server_only!("it configures the connection cap");
    let app = TestApp::spawn_with(&[
        ("MOVIEBOOK_MAX_CONNECTIONS", "3"),
        ("MOVIEBOOK_HEADER_TIMEOUT_MS", "20000"),
    ])
    .await;
    let address = address(&app);
    // A request in flight: its headers are in, its body is still coming.
    let mut in_flight = TcpStream::connect(&address).await.expect("connect");
    in_flight
        .write_all(
            format!(
                "POST {API}/users HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"name\": "
            )
            .as_bytes(),
        )
        .await
        .expect("send the headers and part of the body");
    // Two connections that send nothing, the first quiet for longer. With the request in
    // flight they fill the cap of 3 (the harness's own kept-alive connection, quiet since the
    // start, is the first to give up its place).
    let mut older = TcpStream::connect(&address).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut newer = TcpStream::connect(&address).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(100)).await;

    let start = Instant::now();
    let status = get_on_a_new_connection(&address, "/healthz").await;
    let waited = start.elapsed();
    assert!(status.contains(" 200 "), "answer at the cap: {status:?}");
    assert!(
        waited < Duration::from_secs(5),
        "a new connection at the cap was served after {waited:?}: it waited for the 20 s header timeout"
    );
    assert!(
        closed_within(&mut older, Duration::from_secs(5))
            .await
            .is_some(),
        "the connection quiet the longest kept its place"
    );
    for (what, stream) in [
        ("the newer quiet connection", &mut newer),
        ("the connection with a request in flight", &mut in_flight),
    ] {
        assert!(
            closed_within(stream, Duration::from_millis(500))
                .await
                .is_none(),
            "{what} was closed, though a longer quiet one had given its place"
        );
    }
}

/// Signs up `n` users at once; the answers in the order they were asked.
async fn sign_up_burst(app: &TestApp, n: usize) -> Vec<Resp> {
    let signups = (0..n).map(|i| {
        let email = format!("burst-{i}-{}@example.com", tag());
        async move {
            app.post_user(&format!("Burst {i}"), &email, "a long enough password")
                .await
        }
    });
    futures::future::join_all(signups).await
}

/// Asserts that every answer is 201 or a 503 problem of `kind` with `Retry-After`; returns
/// how many were each.
#[track_caller]
fn created_or_refused(answers: &[Resp], kind: &str) -> (usize, usize) {
    let mut counts = (0, 0);
    for answer in answers {
        // Refused and stopped requests are answered under an id like any other.
        assert!(
            answer.header("x-request-id").is_some(),
            "{}: no X-Request-Id on a {}",
            answer.request,
            answer.status
        );
        if answer.status == 201 {
            counts.0 += 1;
            continue;
        }
        let problem = answer.problem(503);
        assert_eq!(
            problem["type"],
            format!("urn:moviebook:problem:{kind}"),
            "{}",
            answer.text
        );
        let retry_after = answer.header("retry-after").unwrap_or_default();
        assert!(
            retry_after.parse::<u64>().is_ok_and(|s| s >= 1),
            "Retry-After {retry_after:?}"
        );
        counts.1 += 1;
    }
    counts
}

#[tokio::test]
async fn with_a_hashing_queue_of_one_a_burst_of_sign_ups_is_answered_201_or_503_and_reads_still_answer()
 {
    own_server_only!("it configures the hashing queue");
    let app = TestApp::spawn_with(&[("MOVIEBOOK_HASH_QUEUE", "1")]).await;
    let reads = async {
        let mut statuses = Vec::new();
        for _ in 0..20 {
            statuses.push(app.get("/movies").await.status);
        }
        statuses
    };
    let (answers, reads) = tokio::join!(sign_up_burst(&app, 40), reads);
    let (created, refused) = created_or_refused(&answers, "overloaded");
    assert!(created >= 1, "no sign-up was created");
    assert!(refused >= 1, "40 sign-ups at once fitted a queue of 1");
    assert!(
        reads.iter().all(|s| *s == 200),
        "reads during the burst: {reads:?}"
    );
    // Once the burst is over, a sign-up and a login go through.
    app.sign_up_user("After The Burst").await;
}

#[tokio::test]
async fn past_the_limit_of_requests_in_progress_a_request_is_503_at_once() {
    own_server_only!("it configures the limit of requests in progress");
    let app = TestApp::spawn_with(&[
        ("MOVIEBOOK_MAX_REQUESTS", "2"),
        ("MOVIEBOOK_HASH_QUEUE", "1000"),
    ])
    .await;
    let answers = sign_up_burst(&app, 40).await;
    let (created, refused) = created_or_refused(&answers, "overloaded");
    assert!(created >= 1, "no sign-up was created");
    assert!(
        refused >= 1,
        "40 sign-ups at once fitted a limit of 2 in progress"
    );
    app.get("/movies").await.expect(200);
}

#[tokio::test]
async fn a_request_that_outlasts_the_request_timeout_is_answered_503() {
    own_server_only!("it configures the request timeout");
    // Sign-ups wait for one of the cores that hash passwords: behind 60 others, longer than
    // the timeout.
    let app = TestApp::spawn_with(&[
        ("MOVIEBOOK_REQUEST_TIMEOUT_MS", "150"),
        ("MOVIEBOOK_HASH_QUEUE", "1000"),
    ])
    .await;
    let answers = sign_up_burst(&app, 60).await;
    let (_, timed_out) = created_or_refused(&answers, "timeout");
    assert!(
        timed_out >= 1,
        "60 sign-ups at once all finished within 150 ms"
    );
    // Served again once the burst is over (a read may itself outlast 150 ms on a loaded
    // machine while the hashing cores catch up).
    eventually(
        "GET /movies answers 200 after the burst",
        async || match app.get("/movies").await.status {
            200 => Ok(()),
            other => Err(format!("GET /movies answered {other}")),
        },
    )
    .await;
}
