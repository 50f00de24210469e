//! The harness: starts the real `moviebook` binary (or targets an external server) and
//! offers request helpers and `eventually` for derived views.
//!
//! External mode: with `MOVIEBOOK_TEST_BASE_URL` (and `MOVIEBOOK_TEST_ADMIN_TOKEN`) set,
//! `TestApp::spawn()` starts nothing and every test runs against that server, which other
//! tests share. Tests therefore scope what they look at (unique tags in titles, names and
//! genres) and only make whole-list assertions when they own the server
//! (`app.owns_server()`). Tests that need a process of their own skip themselves there.

use std::net::{IpAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Client, Method};
use serde_json::{Value, json};

/// The API base path.
pub const API: &str = "/api/v1";
/// How long `eventually` polls by default.
pub const EVENTUALLY: Duration = Duration::from_secs(10);
/// Runs a program with a parent-death signal (util-linux).
const SETPRIV: &str = "/usr/bin/setpriv";
/// How long a started server may take to answer `/healthz`.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// True when the suite targets an external server (`MOVIEBOOK_TEST_BASE_URL`).
pub fn external_mode() -> bool {
    std::env::var("MOVIEBOOK_TEST_BASE_URL").is_ok_and(|v| !v.trim().is_empty())
}

/// Returns from the test (after a printed note) when it needs a server process of its own
/// and the suite runs against an external server.
macro_rules! own_server_only {
    ($why:expr) => {
        if $crate::support::external_mode() {
            eprintln!(
                "SKIPPED {}: this test needs a server process of its own ({}), \
                 and MOVIEBOOK_TEST_BASE_URL points at an external server",
                module_path!(),
                $why
            );
            return;
        }
    };
}

/// A unique lower-case word (letters and digits) for scoping titles, names and genres.
pub fn tag() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("t{}", &id[..11])
}

/// Percent-encodes a query or path component.
pub fn enc(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The score the contract expects: the exact mean rounded half away from zero to two
/// decimals, `None` without reviews (integer arithmetic, so 6.125 really is 6.13).
pub fn expected_score(scores: &[i64]) -> Option<f64> {
    if scores.is_empty() {
        return None;
    }
    let sum: i64 = scores.iter().sum();
    let count = scores.len() as i64;
    let hundredths = (200 * sum + count) / (2 * count);
    Some(hundredths as f64 / 100.0)
}

/// The JSON value of an expected score (`null` without reviews).
pub fn score_json(scores: &[i64]) -> Value {
    match expected_score(scores) {
        Some(score) => json!(score),
        None => Value::Null,
    }
}

/// True when `a` and `b` are the same score (numbers compared as f64, null as null).
pub fn same_score(actual: &Value, expected: &Value) -> bool {
    match (actual.as_f64(), expected.as_f64()) {
        (Some(a), Some(b)) => a == b,
        _ => actual.is_null() && expected.is_null(),
    }
}

/// Asserts that `value` is a UUID string of version 7.
pub fn assert_uuid_v7(value: &Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("id is not a string: {value}"));
    let id =
        uuid::Uuid::parse_str(text).unwrap_or_else(|e| panic!("id {text:?} is not a UUID: {e}"));
    assert_eq!(id.get_version_num(), 7, "id {text} is not a v7 UUID");
}

/// Asserts that `value` is an RFC 3339 UTC timestamp like `2026-11-25T17:00:00Z`
/// (fractional seconds allowed).
pub fn assert_timestamp(value: &Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("timestamp is not a string: {value}"));
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        range
            .into_iter()
            .all(|i| b.get(i).is_some_and(u8::is_ascii_digit))
    };
    let ok = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && text.ends_with('Z')
        && (b.len() == 20 || (b[19] == b'.' && b.len() > 21 && digits(20..b.len() - 1)));
    assert!(
        ok,
        "{text:?} is not an RFC 3339 UTC timestamp (YYYY-MM-DDTHH:MM:SS[.f]Z)"
    );
}

/// The ids of a list of JSON objects.
pub fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|item| {
            item["id"]
                .as_str()
                .unwrap_or_else(|| panic!("item without id: {item}"))
                .to_owned()
        })
        .collect()
}

/// Keeps only the values in `wanted`, in the order of `all`.
pub fn only<'a>(all: &[String], wanted: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let wanted: std::collections::HashSet<&String> = wanted.into_iter().collect();
    all.iter()
        .filter(|id| wanted.contains(id))
        .cloned()
        .collect()
}

/// Asserts that a list has no duplicate.
pub fn assert_no_duplicates(list: &[String], what: &str) {
    let mut seen = std::collections::HashSet::new();
    for item in list {
        assert!(
            seen.insert(item),
            "{what}: {item} appears more than once in {list:?}"
        );
    }
}

/// Polls `check` until it returns `Ok`, for at most [`EVENTUALLY`]; fails with the last
/// observation (`Err(description)`).
pub async fn eventually<T>(what: &str, check: impl AsyncFnMut() -> Result<T, String>) -> T {
    eventually_within(EVENTUALLY, what, check).await
}

/// [`eventually`] with a deadline of its own.
pub async fn eventually_within<T>(
    deadline: Duration,
    what: &str,
    mut check: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let start = Instant::now();
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        match check().await {
            Ok(value) => return value,
            Err(last) => {
                if start.elapsed() >= deadline {
                    panic!(
                        "eventually: {what} did not hold within {deadline:?} ({attempts} attempts); last observed: {last}"
                    );
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    /// The raw body.
    pub text: String,
    /// The body parsed as JSON, `Value::Null` when empty or not JSON.
    pub body: Value,
    /// What was asked, for messages.
    pub request: String,
}

impl Resp {
    /// Asserts the status and returns the body.
    #[track_caller]
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "{}: expected status {status}, got {} with body {}",
            self.request, self.status, self.text
        );
        self.body.clone()
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("<not text>").to_owned())
    }

    /// Asserts an RFC 9457 problem answer with this status: content type
    /// `application/problem+json`, `type`, `title` and `detail` strings, `status` equal to
    /// the HTTP status. Returns the body.
    #[track_caller]
    pub fn problem(&self, status: u16) -> Value {
        let body = self.expect(status);
        let content_type = self.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("application/problem+json"),
            "{}: error content type is {content_type:?}, not application/problem+json (body {})",
            self.request,
            self.text
        );
        for field in ["type", "title", "detail"] {
            assert!(
                body[field].is_string(),
                "{}: problem without string `{field}`: {}",
                self.request,
                self.text
            );
        }
        assert_eq!(
            body["status"],
            json!(status),
            "{}: problem `status` differs from HTTP status: {}",
            self.request,
            self.text
        );
        body
    }

    /// Asserts a 422 validation problem and returns the names of its failing fields.
    #[track_caller]
    pub fn invalid_fields(&self) -> Vec<String> {
        let body = self.problem(422);
        let errors = body["errors"].as_array().unwrap_or_else(|| {
            panic!(
                "{}: 422 without an `errors` array: {}",
                self.request, self.text
            )
        });
        assert!(
            !errors.is_empty(),
            "{}: 422 with an empty `errors` list",
            self.request
        );
        errors
            .iter()
            .map(|e| {
                assert!(
                    e["message"].is_string(),
                    "{}: error without a message: {e}",
                    self.request
                );
                e["field"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{}: error without a field: {e}", self.request))
                    .to_owned()
            })
            .collect()
    }

    /// Asserts a 422 whose failing fields include `field`.
    #[track_caller]
    pub fn invalid_field(&self, field: &str) {
        let fields = self.invalid_fields();
        assert!(
            fields.iter().any(|f| f == field),
            "{}: expected a validation error naming {field:?}, got fields {fields:?} ({})",
            self.request,
            self.text
        );
    }

    /// The `items` of a page or list answer (asserting 200).
    #[track_caller]
    pub fn items(&self) -> Vec<Value> {
        let body = self.expect(200);
        body["items"]
            .as_array()
            .unwrap_or_else(|| panic!("{}: no `items` array in {}", self.request, self.text))
            .clone()
    }
}

/// A user created by [`TestApp::sign_up_user`].
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub token: String,
    #[allow(dead_code)]
    pub name: String,
    pub email: String,
    pub password: String,
}

/// A started server process.
struct Server {
    root: tempfile::TempDir,
    child: Option<Child>,
    generation: u32,
    /// The settings of the deployment under test (the store), kept across restarts.
    deployment_env: Vec<(String, String)>,
    extra_env: Vec<(String, String)>,
    /// `None` when the server generates its own admin token.
    configured_admin_token: Option<String>,
}

impl Server {
    fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    fn stdout_path(&self, generation: u32) -> PathBuf {
        self.root.path().join(format!("stdout-{generation}.log"))
    }

    fn stderr_path(&self, generation: u32) -> PathBuf {
        self.root.path().join(format!("stderr-{generation}.log"))
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for generation in 1..=self.generation {
            for path in [self.stdout_path(generation), self.stderr_path(generation)] {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = &lines[lines.len().saturating_sub(150)..];
                out.push_str(&format!(
                    "----- {} (last {} lines) -----\n",
                    path.display(),
                    tail.len()
                ));
                for line in tail {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        out
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One server under test and a client for it.
pub struct TestApp {
    pub base_url: String,
    pub admin_token: String,
    pub client: Client,
    server: Option<Server>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(server) = self.server.as_mut() {
            server.kill();
            if std::thread::panicking() {
                eprintln!(
                    "===== server logs ({}) =====\n{}",
                    server.root.path().display(),
                    server.logs()
                );
            }
        }
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(64)
        .build()
        .expect("build the HTTP client")
}

impl TestApp {
    /// Starts a fresh server (own data directory, random admin token), or targets the
    /// external server in external mode.
    pub async fn spawn() -> TestApp {
        if external_mode() {
            return Self::external().await;
        }
        Self::spawn_with(&[]).await
    }

    /// Starts a fresh server with extra environment variables. Not for external mode.
    pub async fn spawn_with(env: &[(&str, &str)]) -> TestApp {
        assert!(
            !external_mode(),
            "spawn_with needs its own server: call own_server_only! first"
        );
        let admin_token = format!("admin-{}", uuid::Uuid::new_v4().simple());
        Self::start(env, Some(admin_token)).await
    }

    /// Starts a fresh server without `MOVIEBOOK_ADMIN_TOKEN`: it must generate one and
    /// print `ADMIN_TOKEN=<token>` on stdout, which becomes `admin_token`.
    pub async fn spawn_generating_admin_token() -> TestApp {
        assert!(
            !external_mode(),
            "needs its own server: call own_server_only! first"
        );
        let mut app = Self::start(&[], None).await;
        let token = eventually(
            "the first start prints ADMIN_TOKEN=<token> on stdout",
            async || {
                let stdout = app.stdout();
                admin_token_line(&stdout).ok_or_else(|| format!("stdout so far: {stdout:?}"))
            },
        )
        .await;
        app.admin_token = token;
        app
    }

    async fn external() -> TestApp {
        let base_url = std::env::var("MOVIEBOOK_TEST_BASE_URL").expect("MOVIEBOOK_TEST_BASE_URL");
        let admin_token = std::env::var("MOVIEBOOK_TEST_ADMIN_TOKEN")
            .expect("MOVIEBOOK_TEST_ADMIN_TOKEN must be set with MOVIEBOOK_TEST_BASE_URL");
        let app = TestApp {
            base_url: base_url.trim().trim_end_matches('/').to_owned(),
            admin_token,
            client: client(),
            server: None,
        };
        let health = app.root_get("/healthz").await;
        assert_eq!(
            health.status, 200,
            "external server {} is not healthy: {}",
            app.base_url, health.text
        );
        app
    }

    async fn start(env: &[(&str, &str)], admin_token: Option<String>) -> TestApp {
        let root = tempfile::Builder::new()
            .prefix("moviebook-test-")
            .tempdir()
            .expect("create a temp dir");
        std::fs::create_dir_all(root.path().join("data")).expect("create the data dir");
        let server = Server {
            root,
            child: None,
            generation: 0,
            deployment_env: crate::deployment::server_env(),
            extra_env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            configured_admin_token: admin_token.clone(),
        };
        let mut app = TestApp {
            base_url: String::new(),
            admin_token: admin_token.unwrap_or_default(),
            client: client(),
            server: Some(server),
        };
        app.launch().await;
        app
    }

    /// Starts the process (again) on the server's data directory, retrying with another
    /// port when a start fails, and waits until `/healthz` answers 200.
    async fn launch(&mut self) {
        let mut failures = Vec::new();
        for _attempt in 0..3 {
            let server = self.server.as_mut().expect("a server of our own");
            server.generation += 1;
            let generation = server.generation;
            let port = free_port();
            let addr = format!("127.0.0.1:{port}");
            let binary = env!("CARGO_BIN_EXE_moviebook");
            // With setpriv the server dies with the test process even when the test is
            // killed (a runner's timeout) before Drop can stop it. setpriv execs, so the
            // pid is the server's.
            let mut command = if std::path::Path::new(SETPRIV).exists() {
                let mut command = Command::new(SETPRIV);
                command.args(["--pdeathsig", "KILL", "--", binary]);
                command
            } else {
                Command::new(binary)
            };
            command.arg("serve").current_dir(server.root.path());
            for (key, _) in std::env::vars_os() {
                if key.to_string_lossy().starts_with("MOVIEBOOK_") {
                    command.env_remove(key);
                }
            }
            command
                .env("MOVIEBOOK_HTTP_ADDR", &addr)
                .env("MOVIEBOOK_DATA_DIR", server.data_dir());
            if let Some(token) = &server.configured_admin_token {
                command.env("MOVIEBOOK_ADMIN_TOKEN", token);
            }
            // The deployment's settings (its store) first, so a test's own settings win.
            for (key, value) in server.deployment_env.iter().chain(&server.extra_env) {
                command.env(key, value);
            }
            let stdout = std::fs::File::create(server.stdout_path(generation))
                .expect("create the stdout log");
            let stderr = std::fs::File::create(server.stderr_path(generation))
                .expect("create the stderr log");
            command.stdin(Stdio::null()).stdout(stdout).stderr(stderr);
            let child = command.spawn().expect("start the moviebook binary");
            server.child = Some(child);
            self.base_url = format!("http://{addr}");

            let start = Instant::now();
            loop {
                let server = self.server.as_mut().expect("a server of our own");
                let exited = server
                    .child
                    .as_mut()
                    .and_then(|c| c.try_wait().ok().flatten());
                if let Some(status) = exited {
                    server.child = None;
                    failures.push(format!(
                        "generation {generation} on {addr} exited early with {status}"
                    ));
                    break;
                }
                if start.elapsed() > START_DEADLINE {
                    server.kill();
                    failures.push(format!("generation {generation} on {addr}: /healthz not 200 within {START_DEADLINE:?}"));
                    break;
                }
                let healthy = self
                    .client
                    .get(format!("{}/healthz", self.base_url))
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().as_u16() == 200);
                if healthy {
                    if self.answered_by_another_server().await {
                        let server = self.server.as_mut().expect("a server of our own");
                        server.kill();
                        failures.push(format!(
                            "generation {generation}: another server answers on {addr} (port taken)"
                        ));
                        break;
                    }
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let logs = self.server.as_ref().map(Server::logs).unwrap_or_default();
        panic!("the server did not start: {failures:?}\n{logs}");
    }

    /// True when the server answering on our port refuses our admin token (a harmless,
    /// invalid request that our server answers with 422): another test's server took the
    /// port we picked. Unknown (false) while we do not know the token yet.
    async fn answered_by_another_server(&self) -> bool {
        if self.admin_token.is_empty() {
            return false;
        }
        let probe = self
            .try_raw_with_client(
                &self.client,
                Method::POST,
                &format!("{API}/actors"),
                Some(&self.admin_token),
                Some("application/json"),
                Some(b"{}".to_vec()),
            )
            .await;
        probe.is_ok_and(|r| r.status == 401)
    }

    /// True when this test started the server (so whole-list assertions are safe).
    pub fn owns_server(&self) -> bool {
        self.server.is_some()
    }

    fn own(&self) -> &Server {
        self.server
            .as_ref()
            .expect("this needs a server process of its own")
    }

    fn own_mut(&mut self) -> &mut Server {
        self.server
            .as_mut()
            .expect("this needs a server process of its own")
    }

    /// The process id of the running server.
    pub fn pid(&self) -> u32 {
        self.own()
            .child
            .as_ref()
            .expect("the server is running")
            .id()
    }

    /// The data directory.
    #[allow(dead_code)]
    pub fn data_dir(&self) -> PathBuf {
        self.own().data_dir()
    }

    /// What the current process generation wrote on stdout so far.
    pub fn stdout(&self) -> String {
        let server = self.own();
        std::fs::read_to_string(server.stdout_path(server.generation)).unwrap_or_default()
    }

    /// What the current process generation wrote on stderr so far.
    pub fn stderr(&self) -> String {
        let server = self.own();
        std::fs::read_to_string(server.stderr_path(server.generation)).unwrap_or_default()
    }

    /// Kills the server with SIGKILL and waits for it to be gone.
    pub fn kill9(&mut self) {
        self.own_mut().kill();
    }

    /// Sends SIGTERM to the server.
    pub fn sigterm(&self) {
        let pid = self.pid();
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .expect("run kill -TERM");
        assert!(status.success(), "kill -TERM {pid} failed: {status}");
    }

    /// Waits up to `deadline` for the server to exit; `None` if it still runs.
    pub async fn wait_exit(&mut self, deadline: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            let server = self.own_mut();
            let child = server.child.as_mut().expect("the server was started");
            if let Some(status) = child.try_wait().expect("poll the server process") {
                server.child = None;
                return Some(status);
            }
            if start.elapsed() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the server (SIGKILL if it still runs) and starts it again on the same data
    /// directory with the same settings.
    pub async fn restart(&mut self) {
        self.own_mut().kill();
        self.launch().await;
    }

    /// Like [`TestApp::restart`] but with other extra environment variables.
    pub async fn restart_with(&mut self, env: &[(&str, &str)]) {
        let server = self.own_mut();
        server.kill();
        server.extra_env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.launch().await;
    }

    /// The admin token as a request's bearer token.
    pub fn admin(&self) -> Option<&str> {
        Some(&self.admin_token)
    }

    // ----- raw requests -----

    /// A request to `base_url + path` (path from the root, e.g. `/healthz`).
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Resp {
        self.raw_with_client(&self.client, method, path, token, content_type, body)
            .await
    }

    /// [`TestApp::raw`] through another client (e.g. one bound to another local address).
    pub async fn raw_with_client(
        &self,
        client: &Client,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Resp {
        self.try_raw_with_client(client, method, path, token, content_type, body)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`TestApp::raw_with_client`] that reports a transport failure instead of panicking.
    pub async fn try_raw_with_client(
        &self,
        client: &Client,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Result<Resp, String> {
        let url = format!("{}{path}", self.base_url);
        let request = format!("{method} {path}");
        let mut builder = client.request(method, &url);
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        if let Some(content_type) = content_type {
            builder = builder.header("content-type", content_type);
        }
        if let Some(body) = body {
            builder = builder.body(body);
        }
        let response = builder
            .send()
            .await
            .map_err(|e| format!("{request} failed: {e}"))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("{request}: reading the body failed: {e}"))?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Resp {
            status,
            headers,
            text,
            body,
            request,
        })
    }

    /// POSTs an oversized JSON body. A server may answer 413 and close the connection
    /// before it has read the whole body, which can surface as a transport error on the
    /// client; such attempts are retried a few times.
    pub async fn post_oversized(&self, path: &str, token: Option<&str>, body: &Value) -> Resp {
        let bytes = body.to_string().into_bytes();
        let mut errors = Vec::new();
        for _ in 0..5 {
            let result = self
                .try_raw_with_client(
                    &self.client,
                    Method::POST,
                    &format!("{API}{path}"),
                    token,
                    Some("application/json"),
                    Some(bytes.clone()),
                )
                .await;
            match result {
                Ok(resp) => return resp,
                Err(e) => errors.push(e),
            }
        }
        panic!("no answer to an oversized POST {path} in 5 attempts: {errors:?}");
    }

    /// A request with a raw `Authorization` header value.
    pub async fn with_authorization(
        &self,
        method: Method,
        path: &str,
        authorization: &str,
        body: Option<&Value>,
    ) -> Resp {
        let url = format!("{}{API}{path}", self.base_url);
        let request = format!("{method} {API}{path}");
        let mut builder = self
            .client
            .request(method, &url)
            .header("authorization", authorization);
        if let Some(body) = body {
            builder = builder
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = builder
            .send()
            .await
            .unwrap_or_else(|e| panic!("{request} failed: {e}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            text,
            body,
            request,
        }
    }

    /// GET of a path from the root (`/healthz`, `/metrics`).
    pub async fn root_get(&self, path: &str) -> Resp {
        self.raw(Method::GET, path, None, None, None).await
    }

    // ----- API requests (paths below /api/v1) -----

    pub async fn get(&self, path: &str) -> Resp {
        self.raw(Method::GET, &format!("{API}{path}"), None, None, None)
            .await
    }

    pub async fn get_auth(&self, path: &str, token: Option<&str>) -> Resp {
        self.raw(Method::GET, &format!("{API}{path}"), token, None, None)
            .await
    }

    pub async fn post_json(&self, path: &str, token: Option<&str>, body: &Value) -> Resp {
        self.send_json(Method::POST, path, token, body).await
    }

    pub async fn patch_json(&self, path: &str, token: Option<&str>, body: &Value) -> Resp {
        self.send_json(Method::PATCH, path, token, body).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Resp {
        self.raw(Method::DELETE, &format!("{API}{path}"), token, None, None)
            .await
    }

    pub async fn send_json(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> Resp {
        self.raw(
            method,
            &format!("{API}{path}"),
            token,
            Some("application/json"),
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    /// A GET expected to answer 200, returning the body.
    pub async fn get_ok(&self, path: &str) -> Value {
        self.get(path).await.expect(200)
    }

    /// One page: its items and next cursor.
    pub async fn page(&self, path: &str) -> (Vec<Value>, Option<String>) {
        let resp = self.get(path).await;
        let body = resp.expect(200);
        let items = body["items"]
            .as_array()
            .unwrap_or_else(|| panic!("{}: no items in {}", resp.request, resp.text))
            .clone();
        assert!(
            body.get("next_cursor").is_some(),
            "{}: page without a `next_cursor` field: {}",
            resp.request,
            resp.text
        );
        let cursor = match &body["next_cursor"] {
            Value::Null => None,
            Value::String(c) => Some(c.clone()),
            other => panic!(
                "{}: next_cursor is neither a string nor null: {other}",
                resp.request
            ),
        };
        (items, cursor)
    }

    /// Walks every page of a list (`path` may carry a query, e.g. `?limit=7`) and returns
    /// every item, in order, with the number of pages read.
    pub async fn walk(&self, path: &str) -> (Vec<Value>, usize) {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut pages = 0;
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                None => path.to_owned(),
                Some(c) => format!("{path}{separator}cursor={}", enc(c)),
            };
            let (page, next) = self.page(&url).await;
            pages += 1;
            assert!(
                pages <= 10_000,
                "{path}: more than 10000 pages, the cursor does not advance"
            );
            if let (Some(previous), Some(next)) = (&cursor, &next) {
                assert_ne!(previous, next, "{path}: the cursor did not change");
            }
            items.extend(page);
            match next {
                None => return (items, pages),
                Some(next) => cursor = Some(next),
            }
        }
    }

    /// Every item of a list, walked with the largest page.
    pub async fn all(&self, path: &str) -> Vec<Value> {
        let separator = if path.contains('?') { '&' } else { '?' };
        self.walk(&format!("{path}{separator}limit=100")).await.0
    }

    // ----- domain helpers -----

    /// Creates an actor with only a name (admin); returns the actor.
    pub async fn create_actor(&self, name: &str) -> Value {
        self.create_actor_with(&json!({ "name": name })).await
    }

    /// Creates an actor from a full body (admin); returns the actor.
    pub async fn create_actor_with(&self, body: &Value) -> Value {
        self.post_json("/actors", self.admin(), body)
            .await
            .expect(201)
    }

    /// Creates a movie (admin) with a cast of `(actor_id, role)`; returns the movie.
    pub async fn create_movie(
        &self,
        title: &str,
        release_year: i64,
        genres: &[&str],
        cast: &[(&str, &str)],
    ) -> Value {
        let actors: Vec<Value> = cast
            .iter()
            .map(|(id, role)| json!({ "actor_id": id, "role": role }))
            .collect();
        self.create_movie_with(&json!({ "title": title, "release_year": release_year, "genres": genres, "actors": actors }))
            .await
    }

    /// Creates a movie from a full body (admin); returns the movie.
    pub async fn create_movie_with(&self, body: &Value) -> Value {
        self.post_json("/movies", self.admin(), body)
            .await
            .expect(201)
    }

    /// Signs a user up with a unique e-mail and logs in: `(user_id, token)`.
    pub async fn sign_up(&self, name: &str) -> (String, String) {
        let user = self.sign_up_user(name).await;
        (user.id, user.token)
    }

    /// [`TestApp::sign_up_user`] with an owned name, for many sign-ups at once.
    pub async fn sign_up_user_named(&self, name: String) -> User {
        self.sign_up_user(&name).await
    }

    /// Signs a user up with a unique e-mail and logs in.
    pub async fn sign_up_user(&self, name: &str) -> User {
        let email = format!("{}@example.com", tag());
        let password = format!("pw-{}", tag());
        let created = self
            .post_json(
                "/users",
                None,
                &json!({ "name": name, "email": email, "password": password }),
            )
            .await
            .expect(201);
        let id = created["id"]
            .as_str()
            .unwrap_or_else(|| panic!("user without id: {created}"))
            .to_owned();
        let login = self.login(&email, &password).await.expect(200);
        assert_eq!(
            login["user_id"],
            json!(id),
            "login answered another user id: {login}"
        );
        let token = login["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("login without access_token: {login}"))
            .to_owned();
        User {
            id,
            token,
            name: name.trim().to_owned(),
            email,
            password,
        }
    }

    /// `POST /auth/token`.
    pub async fn login(&self, email: &str, password: &str) -> Resp {
        self.post_json(
            "/auth/token",
            None,
            &json!({ "email": email, "password": password }),
        )
        .await
    }

    /// Posts a review (`comment` omitted when `None`).
    pub async fn review(
        &self,
        movie_id: &str,
        token: &str,
        score: i64,
        comment: Option<&str>,
    ) -> Resp {
        let body = match comment {
            Some(comment) => json!({ "score": score, "comment": comment }),
            None => json!({ "score": score }),
        };
        self.post_json(&format!("/movies/{movie_id}/reviews"), Some(token), &body)
            .await
    }

    /// Waits until the movie shows `scores` as its review_count and score.
    pub async fn await_movie_score(&self, movie_id: &str, scores: &[i64]) -> Value {
        let count = scores.len();
        let score = score_json(scores);
        eventually(
            &format!("movie {movie_id} shows review_count {count} and score {score}"),
            async || {
                let movie = self.get(&format!("/movies/{movie_id}")).await.expect(200);
                if movie["review_count"] == json!(count) && same_score(&movie["score"], &score) {
                    Ok(movie)
                } else {
                    Err(format!(
                        "review_count {} score {}",
                        movie["review_count"], movie["score"]
                    ))
                }
            },
        )
        .await
    }
}

/// The token of a trimmed stdout line `ADMIN_TOKEN=<token>`.
pub fn admin_token_line(stdout: &str) -> Option<String> {
    stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix("ADMIN_TOKEN="))
        .map(|token| token.trim().to_owned())
        .filter(|token| !token.is_empty())
}

/// A client whose connections come from `local` (e.g. 127.0.0.2).
pub fn client_from(local: IpAddr) -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .local_address(local)
        .build()
        .expect("build a client bound to a local address")
}
