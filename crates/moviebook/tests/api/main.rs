//! Black-box HTTP tests of MovieBook against the public contract (`shared/API.md`).
//!
//! Every test starts its own `moviebook serve` on a fresh data directory (see
//! `support/`), or, with `MOVIEBOOK_TEST_BASE_URL` set, runs against that server.

#[macro_use]
mod support;

mod actors;
mod backup;
mod cache;
mod consistency;
mod crash_and_concurrency;
mod dlq;
mod docs;
mod errors;
mod internal;
mod limits;
mod methods;
mod movies;
mod operations;
mod pagination;
mod picture_store;
mod pictures;
mod request_id;
mod reviews;
mod search;
mod secrets;
mod top_rated_genres;
mod top_rated_weighted;
mod traces;
mod users_auth;
mod verify;
mod watchlist;
mod web_forms;
mod web_pages;

/// This binary runs the suite on the default deployment: SQLite and the in-process bus.
mod deployment {
    /// Settings every server of this suite gets: none beyond the defaults.
    pub fn server_env() -> Vec<(String, String)> {
        Vec::new()
    }
}
