//! Waiting in tests: derived views (lists, search, scores, pages) converge after a write
//! rather than at once, so tests poll them until they hold, within a deadline.

use std::fmt::Debug;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::app::TestApp;
use super::checks::{ids, only, same_score, score_json};

/// How long `eventually` polls by default.
pub const EVENTUALLY: Duration = Duration::from_secs(10);
/// The pause between two polls.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

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
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Polls `observe` until it gives `want`, for at most [`EVENTUALLY`]; fails with the last
/// observation.
pub async fn eventually_equals<T: PartialEq + Debug>(
    what: &str,
    want: &T,
    mut observe: impl AsyncFnMut() -> T,
) {
    eventually(what, async || {
        let got = observe().await;
        if got == *want {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await;
}

/// Polls `list` until the test's own items in it (those with an id in `ours`) come in the
/// order `want`, for at most [`EVENTUALLY`]; returns the whole list.
pub async fn eventually_in_order(
    what: &str,
    ours: &[String],
    want: &[String],
    mut list: impl AsyncFnMut() -> Vec<Value>,
) -> Vec<Value> {
    eventually(what, async || {
        let items = list().await;
        let found = only(&ids(&items), ours);
        if found == want {
            Ok(items)
        } else {
            Err(format!("ours in order: {found:?}"))
        }
    })
    .await
}

impl TestApp {
    /// Waits until the movie shows `scores` as its review_count and score; returns it.
    pub async fn await_movie_score(&self, movie_id: &str, scores: &[i64]) -> Value {
        self.await_movie_score_within(EVENTUALLY, movie_id, scores)
            .await
    }

    /// [`TestApp::await_movie_score`] with a deadline of its own (bursts, recoveries).
    pub async fn await_movie_score_within(
        &self,
        deadline: Duration,
        movie_id: &str,
        scores: &[i64],
    ) -> Value {
        let count = scores.len();
        let score = score_json(scores);
        eventually_within(
            deadline,
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
