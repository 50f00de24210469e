//! The whole HTTP suite of `tests/api` again, with every server keeping its data in
//! DynamoDB Local (`MOVIEBOOK_STORE=dynamodb`): the same contract on the other store.
//! `scripts/test` starts DynamoDB Local and sets `MOVIEBOOK_TEST_DYNAMODB_ENDPOINT`.

#[macro_use]
#[path = "../api/support/mod.rs"]
mod support;

#[path = "../api/actors.rs"]
mod actors;
#[path = "../api/cache.rs"]
mod cache;
#[path = "../api/cluster_trace.rs"]
mod cluster_trace;
#[path = "../api/consistency.rs"]
mod consistency;
#[path = "../api/crash_and_concurrency.rs"]
mod crash_and_concurrency;
#[path = "../api/errors.rs"]
mod errors;
#[path = "../api/limits.rs"]
mod limits;
#[path = "../api/methods.rs"]
mod methods;
#[path = "../api/movies.rs"]
mod movies;
#[path = "../api/operations.rs"]
mod operations;
#[path = "../api/pagination.rs"]
mod pagination;
#[path = "../api/picture_store.rs"]
mod picture_store;
#[path = "../api/pictures.rs"]
mod pictures;
#[path = "../api/request_id.rs"]
mod request_id;
#[path = "../api/reviews.rs"]
mod reviews;
#[path = "../api/search.rs"]
mod search;
#[path = "../api/secrets.rs"]
mod secrets;
#[path = "../api/top_rated_genres.rs"]
mod top_rated_genres;
#[path = "../api/top_rated_weighted.rs"]
mod top_rated_weighted;
#[path = "../api/traces.rs"]
mod traces;
#[path = "../api/users_auth.rs"]
mod users_auth;
#[path = "../api/verify.rs"]
mod verify;
#[path = "../api/watchlist.rs"]
mod watchlist;
#[path = "../api/web_forms.rs"]
mod web_forms;
#[path = "../api/web_pages.rs"]
mod web_pages;

/// This binary runs the suite with MovieBook on DynamoDB.
mod deployment {
    /// Settings every server of this suite gets: DynamoDB Local, and a table of its own
    /// (kept across the server's restarts, which reuse these settings).
    pub fn server_env() -> Vec<(String, String)> {
        let endpoint = std::env::var("MOVIEBOOK_TEST_DYNAMODB_ENDPOINT").unwrap_or_else(|_| {
            panic!(
                "MOVIEBOOK_TEST_DYNAMODB_ENDPOINT is not set: start DynamoDB Local with \
                 scripts/dynamodb-local start (scripts/test does) and export its endpoint"
            )
        });
        let table = format!("api-{}", uuid::Uuid::new_v4().simple());
        vec![
            ("MOVIEBOOK_STORE".into(), "dynamodb".into()),
            ("MOVIEBOOK_DYNAMODB_ENDPOINT".into(), endpoint),
            ("MOVIEBOOK_DYNAMODB_TABLE".into(), table),
        ]
    }
}
