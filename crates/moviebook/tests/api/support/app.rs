//! `TestApp`, the server under test and a client for it: starting a fresh server (or
//! targeting the external one), waiting until it is healthy, restarting, signalling and
//! stopping it, and printing its logs when a test fails; and starting one that must refuse
//! to start.

use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use reqwest::{Client, Method};

use super::client::{API, new_client};
use super::eventually::eventually;
use super::process::{Server, free_port};

/// How long a started server may take to answer `/healthz`.
const START_DEADLINE: Duration = Duration::from_secs(30);
/// How many ports a start tries before it gives up.
const START_ATTEMPTS: usize = 3;

/// True when the suite targets an external server (`MOVIEBOOK_TEST_BASE_URL`).
pub fn external_mode() -> bool {
    std::env::var("MOVIEBOOK_TEST_BASE_URL").is_ok_and(|v| !v.trim().is_empty())
}

/// The token of a trimmed stdout line `ADMIN_TOKEN=<token>`.
fn admin_token_line(stdout: &str) -> Option<String> {
    stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix("ADMIN_TOKEN="))
        .map(|token| token.trim().to_owned())
        .filter(|token| !token.is_empty())
}

/// What a server that refused to start left: how it exited, what it said, and the names in
/// its data directory (which the harness creates empty).
pub struct Refusal {
    pub status: ExitStatus,
    pub stderr: String,
    pub data_dir_entries: Vec<String>,
}

/// One server under test and a client for it.
pub struct TestApp {
    /// Where the server answers, without a trailing slash (`http://127.0.0.1:PORT`).
    pub base_url: String,
    /// The admin's bearer token.
    pub admin_token: String,
    /// The client every request helper uses.
    pub client: Client,
    /// `None` in external mode.
    server: Option<Server>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(server) = self.server.as_mut() {
            server.kill();
            if std::thread::panicking() {
                eprintln!(
                    "===== server logs ({}) =====\n{}",
                    server.root().display(),
                    server.logs()
                );
            }
        }
    }
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

    /// Starts a fresh server with extra environment variables. Not for external mode. Its
    /// admin token is the one `env` sets (processes of one deployment share it), or a new one.
    pub async fn spawn_with(env: &[(&str, &str)]) -> TestApp {
        assert!(
            !external_mode(),
            "spawn_with needs its own server: call own_server_only! first"
        );
        let admin_token = env
            .iter()
            .find(|(name, _)| *name == "MOVIEBOOK_ADMIN_TOKEN")
            .map_or_else(
                || format!("admin-{}", uuid::Uuid::new_v4().simple()),
                |(_, token)| (*token).to_owned(),
            );
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

    /// Starts a fresh server with extra environment variables that must refuse to start:
    /// waits until it exits and returns what it left. Panics if it still runs after the
    /// start deadline. Not for external mode.
    pub async fn start_refused(env: &[(&str, &str)]) -> Refusal {
        assert!(
            !external_mode(),
            "start_refused needs its own server: call own_server_only! first"
        );
        let admin_token = format!("admin-{}", uuid::Uuid::new_v4().simple());
        let mut server = Server::new(env, Some(admin_token));
        server.start(&format!("127.0.0.1:{}", free_port()));
        let start = Instant::now();
        let status = loop {
            if let Some(status) = server.exit_status() {
                break status;
            }
            if start.elapsed() > START_DEADLINE {
                server.kill();
                panic!(
                    "the server still runs {START_DEADLINE:?} after its start\n{}",
                    server.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let mut data_dir_entries: Vec<String> = std::fs::read_dir(server.data_dir())
            .expect("read the data directory")
            .map(|entry| {
                let entry = entry.expect("read a data directory entry");
                entry.file_name().to_string_lossy().into_owned()
            })
            .collect();
        data_dir_entries.sort();
        Refusal {
            status,
            stderr: server.stderr(),
            data_dir_entries,
        }
    }

    async fn external() -> TestApp {
        let base_url = std::env::var("MOVIEBOOK_TEST_BASE_URL").expect("MOVIEBOOK_TEST_BASE_URL");
        let admin_token = std::env::var("MOVIEBOOK_TEST_ADMIN_TOKEN")
            .expect("MOVIEBOOK_TEST_ADMIN_TOKEN must be set with MOVIEBOOK_TEST_BASE_URL");
        let app = TestApp {
            base_url: base_url.trim().trim_end_matches('/').to_owned(),
            admin_token,
            client: new_client(),
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
        let server = Server::new(env, admin_token.clone());
        let mut app = TestApp {
            base_url: String::new(),
            admin_token: admin_token.unwrap_or_default(),
            client: new_client(),
            server: Some(server),
        };
        app.launch().await;
        app
    }

    /// Starts the process (again) on the server's data directory, retrying with another
    /// port when a start fails, and waits until `/healthz` answers 200.
    async fn launch(&mut self) {
        let mut failures = Vec::new();
        for _attempt in 0..START_ATTEMPTS {
            let addr = format!("127.0.0.1:{}", free_port());
            self.own_mut().start(&addr);
            self.base_url = format!("http://{addr}");
            match self.await_healthy().await {
                Ok(()) => return,
                Err(failure) => {
                    let generation = self.own().generation();
                    failures.push(format!("generation {generation} on {addr}: {failure}"));
                }
            }
        }
        let logs = self.server.as_ref().map(Server::logs).unwrap_or_default();
        panic!("the server did not start: {failures:?}\n{logs}");
    }

    /// Waits until the just started process answers `/healthz` with 200; on failure the
    /// process no longer runs.
    async fn await_healthy(&mut self) -> Result<(), String> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.own_mut().exit_status() {
                return Err(format!("exited early with {status}"));
            }
            if start.elapsed() > START_DEADLINE {
                self.own_mut().kill();
                return Err(format!("/healthz not 200 within {START_DEADLINE:?}"));
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
                    self.own_mut().kill();
                    return Err("another server answers (port taken)".to_owned());
                }
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
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

    /// The server's data directory (kept across restarts).
    pub fn data_dir(&self) -> PathBuf {
        self.own().data_dir()
    }

    /// The settings of the deployment under test (its store), as the server is given them.
    pub fn deployment_env(&self) -> Vec<(String, String)> {
        self.own().deployment_env().to_vec()
    }

    /// The admin token as a request's bearer token.
    pub fn admin(&self) -> Option<&str> {
        Some(&self.admin_token)
    }

    /// The process id of the running server.
    fn pid(&self) -> u32 {
        self.own().pid()
    }

    /// What the current process generation wrote on stdout so far.
    pub fn stdout(&self) -> String {
        self.own().stdout()
    }

    /// What the current process generation wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.own().stderr()
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
    async fn wait_exit(&mut self, deadline: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.own_mut().exit_status() {
                return Some(status);
            }
            if start.elapsed() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits up to `deadline` for the server to exit (after a SIGTERM) and asserts that it
    /// exited with status 0.
    pub async fn await_clean_exit(&mut self, deadline: Duration) {
        let status = self
            .wait_exit(deadline)
            .await
            .unwrap_or_else(|| panic!("the server still runs {deadline:?} after SIGTERM"));
        assert!(status.success(), "exit status after SIGTERM: {status}");
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
        server.set_extra_env(env);
        self.launch().await;
    }
}
