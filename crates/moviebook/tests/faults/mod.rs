//! The harness of the fault-injection binaries (`dynamodb_outage`, `cluster_faults`): the
//! HTTP suite's support, a deployment with no settings of its own, and what only these
//! binaries need: while something behind the server is down every answer must come within a
//! deadline, and once it is back the server must become ready again.
//!
//! A binary includes it with `#[macro_use] #[path = "../faults/mod.rs"] mod faults;` and
//! `use faults::{deployment, support};`, so that `crate::support` and `crate::deployment`
//! resolve as they do in the HTTP suite.

use std::time::{Duration, Instant};

use self::support::{TestApp, eventually_within};

// Each binary uses a different part of the support that the HTTP suite uses in full.
#[macro_use]
#[allow(dead_code, unused_macros)]
#[path = "../api/support/mod.rs"]
pub mod support;

/// The servers these binaries start get no settings from a deployment: the outage test
/// passes the store of its own DynamoDB Local to `spawn_with`, and the cluster test starts
/// no server (the cluster is external).
pub mod deployment {
    /// No settings beyond the defaults.
    pub fn server_env() -> Vec<(String, String)> {
        Vec::new()
    }
}

/// The longest one request may take while something behind the server is down: a store or
/// service call gives up within about 5 s, which leaves room for a handler making a few.
pub const ANSWER_DEADLINE: Duration = Duration::from_secs(15);

/// Awaits one request, failing the test when it takes longer than [`ANSWER_DEADLINE`] (a
/// hang); returns the answer with how long it took.
pub async fn within<T>(what: &str, request: impl Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    match tokio::time::timeout(ANSWER_DEADLINE, request).await {
        Ok(answer) => (answer, started.elapsed()),
        Err(_) => panic!("{what}: no answer within {ANSWER_DEADLINE:?}"),
    }
}

/// Waits up to `deadline` until `/readyz` answers 200 (again).
pub async fn await_ready(app: &TestApp, deadline: Duration, what: &str) {
    eventually_within(deadline, what, async || {
        let resp = app.root_get("/readyz").await;
        if resp.status == 200 {
            Ok(())
        } else {
            Err(format!("status {}: {}", resp.status, resp.text))
        }
    })
    .await;
}
