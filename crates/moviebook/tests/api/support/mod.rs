//! The harness: starts the real `moviebook` binary (or targets an external server) and
//! offers request helpers, test data and `eventually` for derived views.
//!
//! External mode: with `MOVIEBOOK_TEST_BASE_URL` (and `MOVIEBOOK_TEST_ADMIN_TOKEN`) set,
//! and `MOVIEBOOK_TEST_METRICS_URL` when that server serves `/metrics` on an internal address
//! (a cluster's gateway: `GATEWAY_METRICS_URL` of `scripts/cluster up`),
//! `TestApp::spawn()` starts nothing and every test runs against that server, which other
//! tests share. Tests therefore scope what they look at (unique tags in titles, names and
//! genres) and only make whole-list assertions when they own the server
//! (`app.owns_server()`). Tests that need a process of their own skip themselves there.
//!
//! One module per concern, all re-exported here so that a test needs only
//! `use crate::support::*`. Other test binaries include this directory with
//! `#[path = "../api/support/mod.rs"]`; like `tests/api/main.rs` they declare a
//! `deployment` module whose `server_env()` gives every started server its store settings.

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

mod app;
mod checks;
mod client;
mod eventually;
mod fixtures;
mod pages;
/// Not re-exported: only a test that starts processes of its own needs its helpers.
pub mod process;

pub use app::*;
pub use checks::*;
pub use client::*;
pub use eventually::*;
pub use fixtures::*;
