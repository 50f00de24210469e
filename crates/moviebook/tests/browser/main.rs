//! The web site in a real browser: `scripts/browser/site.test.mjs` drives Debian's Chromium
//! (playwright-core) through what people do on the site — browse, sign up, log in, review,
//! keep a watch list, administer the catalogue — against the real binary started here, or,
//! with `MOVIEBOOK_TEST_BASE_URL` set, against that server (the cluster). Every page it sees
//! must load nothing from another host, log no error and pass axe-core; its screenshots go to
//! `target/screenshots/<embedded|cluster>/`.
//!
//! It needs `MOVIEBOOK_TEST_BROWSER_MODULES`, the node_modules directory that
//! `scripts/browser-setup` installs and prints (`scripts/test` runs it and exports it).

// The browser test uses only the part of the HTTP suite's support that starts a server.
#[macro_use]
#[allow(dead_code, unused_imports, unused_macros)]
#[path = "../api/support/mod.rs"]
mod support;

/// The server this binary starts gets the default deployment: SQLite and the in-process bus.
mod deployment {
    /// No settings beyond the defaults.
    pub fn server_env() -> Vec<(String, String)> {
        Vec::new()
    }
}

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use crate::support::process::dying_with_test;
use crate::support::{TestApp, external_mode};

/// The longest the whole browser run may take: its seven scenarios take about 50 s on two
/// cores; past this it hangs. Shorter than the runner's limit for it (.config/nextest.toml),
/// so that the test says so itself.
const RUN_DEADLINE: Duration = Duration::from_secs(300);

/// The repository's root (the scripts and `target/` are there).
fn repo_root() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

#[tokio::test]
async fn people_browse_sign_up_review_keep_a_watch_list_and_administer_in_chromium() {
    let modules = std::env::var("MOVIEBOOK_TEST_BROWSER_MODULES")
        .ok()
        .filter(|dir| !dir.trim().is_empty())
        .unwrap_or_else(|| {
            panic!(
                "MOVIEBOOK_TEST_BROWSER_MODULES is not set: run scripts/browser-setup (scripts/test \
                 does) and export the BROWSER_MODULES directory it prints"
            )
        });
    let app = TestApp::spawn().await;
    let deployment = if external_mode() {
        "cluster"
    } else {
        "embedded"
    };
    let root = repo_root();
    let script = root.join("scripts/browser/site.test.mjs");
    let mut node = dying_with_test("node");
    node.arg(&script)
        .current_dir(&root)
        .env("BASE_URL", &app.base_url)
        .env("ADMIN_TOKEN", &app.admin_token)
        .env("BROWSER_MODULES", modules.trim())
        .env("DEPLOYMENT", deployment)
        .stdin(Stdio::null())
        // Straight to the test's own output, which the runner keeps: what node printed is
        // there even when it has to be stopped for hanging.
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    let mut node = tokio::process::Command::from(node);
    node.kill_on_drop(true);
    let status = match tokio::time::timeout(RUN_DEADLINE, node.status()).await {
        Ok(status) => {
            status.unwrap_or_else(|error| panic!("cannot run node {}: {error}", script.display()))
        }
        Err(_) => panic!("node {} still ran after {RUN_DEADLINE:?}", script.display()),
    };
    assert!(
        status.success(),
        "the browser test failed ({status}) against {} ({deployment}); its output is above",
        app.base_url
    );
}
