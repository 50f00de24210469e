//! The `moviebook serve` process a test owns: its data directory, environment and logs,
//! kept across restarts (each start is a new generation with logs of its own), and the
//! operating-system details of starting processes that die with the test.

use std::ffi::OsStr;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

/// Runs a program with a parent-death signal (util-linux).
const SETPRIV: &str = "/usr/bin/setpriv";
/// How many trailing lines of each log a failing test prints.
const LOG_TAIL: usize = 150;

/// A free TCP port on 127.0.0.1 (free when asked; another process may take it later).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("find a free port")
        .port()
}

/// A command running `program` that is killed when the test process dies.
///
/// With setpriv the child dies with the test even when the test is killed (a runner's
/// timeout) before any `Drop` can stop it. setpriv execs, so the pid is the program's.
pub fn dying_with_test(program: impl AsRef<OsStr>) -> Command {
    if Path::new(SETPRIV).exists() {
        let mut command = Command::new(SETPRIV);
        command.args(["--pdeathsig", "KILL", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// A server process of the test's own, started again and again on one data directory.
pub(super) struct Server {
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
    /// A fresh data directory for a server with the deployment's settings, `env` on top;
    /// nothing runs yet.
    pub(super) fn new(env: &[(&str, &str)], admin_token: Option<String>) -> Server {
        let root = tempfile::Builder::new()
            .prefix("moviebook-test-")
            .tempdir()
            .expect("create a temp dir");
        std::fs::create_dir_all(root.path().join("data")).expect("create the data dir");
        Server {
            root,
            child: None,
            generation: 0,
            deployment_env: crate::deployment::server_env(),
            extra_env: owned(env),
            configured_admin_token: admin_token,
        }
    }

    /// The folder holding the data directory and the logs.
    pub(super) fn root(&self) -> &Path {
        self.root.path()
    }

    pub(super) fn deployment_env(&self) -> &[(String, String)] {
        &self.deployment_env
    }

    pub(super) fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    fn stdout_path(&self, generation: u32) -> PathBuf {
        self.root.path().join(format!("stdout-{generation}.log"))
    }

    fn stderr_path(&self, generation: u32) -> PathBuf {
        self.root.path().join(format!("stderr-{generation}.log"))
    }

    /// The generation started last (1 for the first start).
    pub(super) fn generation(&self) -> u32 {
        self.generation
    }

    /// Replaces the test's own settings for the following starts.
    pub(super) fn set_extra_env(&mut self, env: &[(&str, &str)]) {
        self.extra_env = owned(env);
    }

    /// Starts the next generation listening on `addr`, its output going to its own logs.
    pub(super) fn start(&mut self, addr: &str) {
        assert!(self.child.is_none(), "the server is already running");
        self.generation += 1;
        let mut command = dying_with_test(env!("CARGO_BIN_EXE_moviebook"));
        command.arg("serve").current_dir(self.root.path());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("MOVIEBOOK_") {
                command.env_remove(key);
            }
        }
        command
            .env("MOVIEBOOK_HTTP_ADDR", addr)
            .env("MOVIEBOOK_DATA_DIR", self.data_dir());
        if let Some(token) = &self.configured_admin_token {
            command.env("MOVIEBOOK_ADMIN_TOKEN", token);
        }
        // The deployment's settings (its store) first, so a test's own settings win.
        for (key, value) in self.deployment_env.iter().chain(&self.extra_env) {
            command.env(key, value);
        }
        let stdout = std::fs::File::create(self.stdout_path(self.generation))
            .expect("create the stdout log");
        let stderr = std::fs::File::create(self.stderr_path(self.generation))
            .expect("create the stderr log");
        command.stdin(Stdio::null()).stdout(stdout).stderr(stderr);
        self.child = Some(command.spawn().expect("start the moviebook binary"));
    }

    /// The exit status once the running process has exited (it then no longer runs),
    /// `None` while it runs.
    pub(super) fn exit_status(&mut self) -> Option<ExitStatus> {
        let child = self.child.as_mut().expect("the server was started");
        let status = child.try_wait().expect("poll the server process")?;
        self.child = None;
        Some(status)
    }

    /// The process id of the running process.
    pub(super) fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server is running").id()
    }

    /// SIGKILL, and waits until the process is gone; nothing when it does not run.
    pub(super) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// What the current generation wrote on stdout so far.
    pub(super) fn stdout(&self) -> String {
        std::fs::read_to_string(self.stdout_path(self.generation)).unwrap_or_default()
    }

    /// What the current generation wrote on stderr so far.
    pub(super) fn stderr(&self) -> String {
        std::fs::read_to_string(self.stderr_path(self.generation)).unwrap_or_default()
    }

    /// The tails of every generation's logs, for a failing test's output.
    pub(super) fn logs(&self) -> String {
        let mut out = String::new();
        for generation in 1..=self.generation {
            for path in [self.stdout_path(generation), self.stderr_path(generation)] {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = &lines[lines.len().saturating_sub(LOG_TAIL)..];
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
}

fn owned(env: &[(&str, &str)]) -> Vec<(String, String)> {
    env.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Runs `moviebook ARGS` on the data directory `data_dir` (embedded defaults otherwise);
/// returns whether it succeeded, with its stdout and stderr.
pub fn run_moviebook(args: &[&str], data_dir: &Path, env: &[(&str, &str)]) -> (bool, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_moviebook"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("MOVIEBOOK_") {
            command.env_remove(key);
        }
    }
    let output = command
        .args(args)
        .env("MOVIEBOOK_DATA_DIR", data_dir)
        .envs(env.iter().copied())
        .output()
        .expect("run the moviebook binary");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}
