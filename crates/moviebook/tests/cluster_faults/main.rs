//! Fault injection on the distributed deployment: processes of a running `scripts/cluster`
//! die (SIGKILL) and come back (`scripts/cluster kill|start PROCESS`).
//!
//! These tests run only against a cluster that is up: they need `MOVIEBOOK_TEST_CLUSTER`
//! (the repository root, whose `scripts/cluster` controls the processes) besides
//! `MOVIEBOOK_TEST_BASE_URL` and `MOVIEBOOK_TEST_ADMIN_TOKEN` (the gateway). Without it each
//! test prints a SKIPPED note and passes; `scripts/test` runs them at its end. They kill
//! shared processes, so they run one at a time (a nextest test group, and a lock here).

#[macro_use]
#[path = "../faults/mod.rs"]
mod faults;

// `crate::support` and `crate::deployment`, as the shared support expects them.
use faults::{deployment, support};

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

use crate::faults::{await_ready, within};
use crate::support::*;

/// How long a projection may take to be exact again after a projector replica came back.
const RECOVERY: Duration = Duration::from_secs(60);
/// Users (and so reviews per round) of the projector scenario.
const USERS: usize = 40;
/// Sign-ups at once (they are slow on purpose: argon2id).
const SIGN_UPS_AT_ONCE: usize = 16;
/// Reviews posted at once.
const REVIEWS_AT_ONCE: usize = 4;

/// Users of the hot-movie burst, each reviewing the movie once: the 600 that `scripts/bench
/// --cluster --hot 600` measures. Their sign-ups take most of the test's time (argon2id).
const HOT_USERS: usize = 600;
/// Reviews of the burst posted at once: as fast as the gateway takes them.
const HOT_REVIEWS_AT_ONCE: usize = 32;

/// Keeps the scenarios of this binary apart when run by `cargo test` (threads); nextest
/// runs them in a test group of one.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The cluster under test, or `None` (after a printed note) when there is none.
fn cluster(test: &str) -> Option<Cluster> {
    let root = std::env::var("MOVIEBOOK_TEST_CLUSTER")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let Some(root) = root else {
        eprintln!(
            "SKIPPED {test}: it kills processes of a running cluster; set MOVIEBOOK_TEST_CLUSTER \
             to the repository root (with MOVIEBOOK_TEST_BASE_URL and MOVIEBOOK_TEST_ADMIN_TOKEN \
             for its gateway) after scripts/cluster up"
        );
        return None;
    };
    assert!(
        external_mode(),
        "MOVIEBOOK_TEST_CLUSTER is set but MOVIEBOOK_TEST_BASE_URL is not: point it at the \
         cluster's gateway (GATEWAY_URL of scripts/cluster up)"
    );
    let script = PathBuf::from(root.trim()).join("scripts").join("cluster");
    assert!(script.is_file(), "no {}", script.display());
    Some(Cluster { script })
}

/// `scripts/cluster` of the running cluster.
struct Cluster {
    script: PathBuf,
}

impl Cluster {
    async fn run(&self, verb: &str, process: &str) {
        let started = Instant::now();
        let output = tokio::process::Command::new(&self.script)
            .args([verb, process])
            .output()
            .await
            .unwrap_or_else(|e| panic!("run {} {verb} {process}: {e}", self.script.display()));
        assert!(
            output.status.success(),
            "scripts/cluster {verb} {process} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        eprintln!(
            "scripts/cluster {verb} {process}: {:?}: {}",
            started.elapsed(),
            String::from_utf8_lossy(&output.stdout).trim()
        );
    }

    /// SIGKILLs `process`; it comes back when the returned guard is started or dropped, so
    /// that a failing test leaves the cluster whole for what runs after it.
    async fn kill<'a>(&'a self, process: &'a str) -> Down<'a> {
        self.run("kill", process).await;
        Down {
            cluster: self,
            process,
            started: false,
        }
    }
}

/// A killed process of the cluster.
struct Down<'a> {
    cluster: &'a Cluster,
    process: &'a str,
    started: bool,
}

impl Down<'_> {
    async fn start(&mut self) {
        self.started = true;
        self.cluster.run("start", self.process).await;
    }
}

impl Drop for Down<'_> {
    fn drop(&mut self) {
        if !self.started {
            self.started = true;
            let status = Command::new(&self.cluster.script)
                .args(["start", self.process])
                .status();
            eprintln!("restarting {} after a failure: {status:?}", self.process);
        }
    }
}

/// Sends one request, failing the test when it does not answer within the deadline.
async fn timed(what: &str, request: impl Future<Output = Resp>) -> Resp {
    within(what, request).await.0
}

/// The reviews of `movie_id` on a user's page.
fn reviews_of(user: &Value, movie_id: &str) -> Vec<Value> {
    user["reviews"]
        .as_array()
        .map(|reviews| {
            reviews
                .iter()
                .filter(|r| r["movie_id"] == json!(movie_id))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// A new movie in the genre `t` and `count` new users to review it: the movie's id and the
/// users.
async fn movie_and_users(app: &TestApp, title: &str, t: &str, count: usize) -> (String, Vec<User>) {
    let movie = app.create_movie(title, 2001, &[t], &[]).await;
    let movie_id = movie["id"].as_str().unwrap().to_owned();
    let users = futures::stream::iter(0..count)
        .map(|i| app.sign_up_user_named(format!("{title} {i}")))
        .buffered(SIGN_UPS_AT_ONCE)
        .collect()
        .await;
    (movie_id, users)
}

/// A projector replica is SIGKILLed while a stream of review events runs and started again:
/// the score, the users' review lists and top-rated end up exact — no event lost, none
/// applied twice.
#[tokio::test]
async fn a_projector_killed_mid_stream_loses_and_doubles_nothing() {
    let Some(cluster) = cluster("a_projector_killed_mid_stream_loses_and_doubles_nothing") else {
        return;
    };
    let _one = ONE_AT_A_TIME.lock().await;
    let app = TestApp::spawn().await;
    let t = tag();
    let started = Instant::now();

    let (movie_id, users) = movie_and_users(&app, &format!("Projector Crash {t}"), &t, USERS).await;
    eprintln!("{USERS} sign-ups: {:?}", started.elapsed());

    // Two rounds: every user reviews (201), then every user replaces the review (200).
    let score = |round: usize, i: usize| match round {
        1 => (i % 10) as i64 + 1,
        _ => ((i * 7 + 3) % 5) as i64 + 6,
    };
    let last = |i: usize| score(2, i);
    let posted = AtomicUsize::new(0);
    let total = 2 * USERS;
    let streaming = Instant::now();
    let stream = async {
        for (round, status) in [(1, 201), (2, 200)] {
            futures::stream::iter(users.iter().enumerate())
                .for_each_concurrent(REVIEWS_AT_ONCE, |(i, user)| {
                    let posted = &posted;
                    let app = &app;
                    let movie_id = &movie_id;
                    async move {
                        let comment = format!("round {round} of {}", user.id);
                        app.review(movie_id, &user.token, score(round, i), Some(&comment))
                            .await
                            .expect(status);
                        posted.fetch_add(1, Ordering::SeqCst);
                        // Spread the stream so that the kill and the start land inside it.
                        tokio::time::sleep(Duration::from_millis(30)).await;
                    }
                })
                .await;
        }
    };
    let chaos = async {
        while posted.load(Ordering::SeqCst) < total / 4 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let at_kill = posted.load(Ordering::SeqCst);
        let mut down = cluster.kill("projector-1").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let at_start = posted.load(Ordering::SeqCst);
        down.start().await;
        (at_kill, at_start, posted.load(Ordering::SeqCst))
    };
    let ((), (at_kill, at_start, after_start)) = tokio::join!(stream, chaos);
    eprintln!(
        "{total} reviews posted in {:?}; projector-1 killed after {at_kill}, started again after \
         {at_start} (up after {after_start})",
        streaming.elapsed()
    );
    assert!(
        at_kill < total,
        "the kill came after the stream ended ({at_kill} of {total} posted)"
    );

    let scores: Vec<i64> = (0..USERS).map(last).collect();
    let expected = score_json(&scores);
    let recovery = Instant::now();
    app.await_movie_score_within(RECOVERY, &movie_id, &scores)
        .await;
    for (i, user) in users.iter().enumerate() {
        eventually_within(
            RECOVERY,
            &format!("user {i} lists one review of the movie, score {}", last(i)),
            async || {
                let page = app.get(&format!("/users/{}", user.id)).await.expect(200);
                let reviews = reviews_of(&page, &movie_id);
                match reviews.as_slice() {
                    [review] if review["score"] == json!(last(i)) => Ok(()),
                    _ => Err(format!("reviews of the movie: {reviews:?}")),
                }
            },
        )
        .await;
    }
    eventually_within(
        RECOVERY,
        "top-rated lists the movie once, with its exact score and count",
        async || {
            let items = app
                .get(&format!("/movies/top-rated?limit=100&min_reviews={USERS}"))
                .await
                .items();
            let ours: Vec<&Value> = items
                .iter()
                .filter(|m| m["id"] == json!(movie_id))
                .collect();
            match ours.as_slice() {
                [m] if m["review_count"] == json!(USERS) && same_score(&m["score"], &expected) => {
                    Ok(())
                }
                _ => Err(format!("entries of the movie: {ours:?}")),
            }
        },
    )
    .await;
    eprintln!(
        "exact again {:?} after the last review ({:?} in all)",
        recovery.elapsed(),
        started.elapsed()
    );
}

/// Many users review one movie as fast as they can while the projector replica that owns
/// the movie's partition (the first started) is SIGKILLed and started again: its score,
/// review_count and top-rated entry end up exact — the standby replica took the partition
/// over, and nothing was lost or counted twice.
#[tokio::test]
async fn a_burst_of_reviews_of_one_movie_is_counted_exactly_through_a_projector_crash() {
    let Some(cluster) =
        cluster("a_burst_of_reviews_of_one_movie_is_counted_exactly_through_a_projector_crash")
    else {
        return;
    };
    let _one = ONE_AT_A_TIME.lock().await;
    let app = TestApp::spawn().await;
    let t = tag();
    let started = Instant::now();

    let (movie_id, users) = movie_and_users(&app, &format!("Hot Movie {t}"), &t, HOT_USERS).await;
    eprintln!("{HOT_USERS} sign-ups: {:?}", started.elapsed());

    let scores: Vec<i64> = (0..HOT_USERS).map(|i| ((i * 7) % 10) as i64 + 1).collect();
    let posted = AtomicUsize::new(0);
    let burst = Instant::now();
    let stream = futures::stream::iter(users.iter().zip(&scores)).for_each_concurrent(
        HOT_REVIEWS_AT_ONCE,
        |(user, score)| {
            let (app, movie_id, posted) = (&app, &movie_id, &posted);
            async move {
                // The services may shed load with 503 (Retry-After) while the burst lasts.
                loop {
                    let answer = app.review(movie_id, &user.token, *score, None).await;
                    if answer.status != 503 {
                        answer.expect(201);
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                posted.fetch_add(1, Ordering::SeqCst);
            }
        },
    );
    let chaos = async {
        while posted.load(Ordering::SeqCst) < HOT_USERS / 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let at_kill = posted.load(Ordering::SeqCst);
        let mut down = cluster.kill("projector-1").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        down.start().await;
        at_kill
    };
    let ((), at_kill) = tokio::join!(stream, chaos);
    let written = burst.elapsed();
    eprintln!(
        "{HOT_USERS} reviews written in {written:?} ({:.0}/s); projector-1 killed after {at_kill}",
        HOT_USERS as f64 / written.as_secs_f64()
    );
    assert!(
        at_kill < HOT_USERS,
        "the kill came after the burst ended ({at_kill} of {HOT_USERS} posted)"
    );

    let counted = Instant::now();
    app.await_movie_score_within(RECOVERY, &movie_id, &scores)
        .await;
    eprintln!(
        "counted exactly {:?} after the last write",
        counted.elapsed()
    );
    let expected = score_json(&scores);
    eventually_within(
        RECOVERY,
        "top-rated lists the movie once, with its exact score and count",
        async || {
            let items = app
                .get(&format!(
                    "/movies/top-rated?limit=100&min_reviews={HOT_USERS}"
                ))
                .await
                .items();
            let ours: Vec<&Value> = items
                .iter()
                .filter(|m| m["id"] == json!(movie_id))
                .collect();
            match ours.as_slice() {
                [m] if m["review_count"] == json!(HOT_USERS)
                    && same_score(&m["score"], &expected) =>
                {
                    Ok(())
                }
                _ => Err(format!("entries of the movie: {ours:?}")),
            }
        },
    )
    .await;
    eprintln!("all in {:?}", started.elapsed());
}

/// The actors service dies: its routes answer 503 problem+json quickly, the other services'
/// routes work, creating a movie with a cast (which needs the actors service) is 503 and
/// writes nothing, the gateway is not ready; once it is back everything answers again.
#[tokio::test]
async fn a_dead_service_is_503_for_its_routes_only() {
    let Some(cluster) = cluster("a_dead_service_is_503_for_its_routes_only") else {
        return;
    };
    let _one = ONE_AT_A_TIME.lock().await;
    let app = TestApp::spawn().await;
    let t = tag();
    let started = Instant::now();

    let actor = app.create_actor(&format!("Outage Actor {t}")).await;
    let actor_id = actor["id"].as_str().unwrap().to_owned();
    let user = app.sign_up_user(&format!("Outage {t}")).await;
    let cast = json!([{ "actor_id": actor_id, "role": "lead" }]);
    let with_cast_title = format!("Outage Cast {t}");

    let mut down = cluster.kill("actors").await;
    timed("GET /actors", app.get("/actors")).await.problem(503);
    timed("GET /actors/{id}", app.get(&format!("/actors/{actor_id}")))
        .await
        .problem(503);
    timed("GET /movies", app.get("/movies")).await.expect(200);
    timed("GET /users/{id}", app.get(&format!("/users/{}", user.id)))
        .await
        .expect(200);
    timed(
        "POST /movies with a cast",
        app.post_json(
            "/movies",
            app.admin(),
            &json!({ "title": with_cast_title, "release_year": 2002, "genres": [t], "actors": cast }),
        ),
    )
    .await
    .problem(503);
    timed(
        "POST /movies without a cast",
        app.post_json(
            "/movies",
            app.admin(),
            &json!({ "title": format!("Outage No Cast {t}"), "release_year": 2002, "genres": [t] }),
        ),
    )
    .await
    .expect(201);
    timed("GET /readyz", app.root_get("/readyz"))
        .await
        .problem(503);
    eprintln!("answers with actors down: {:?}", started.elapsed());

    down.start().await;
    let back = Instant::now();
    await_ready(&app, RECOVERY, "the gateway is ready again").await;
    app.get("/actors").await.expect(200);
    let again = app.get(&format!("/actors/{actor_id}")).await.expect(200);
    assert_eq!(again["name"], actor["name"], "the actor after the restart");
    let created = app
        .create_movie(
            &format!("After Outage {t}"),
            2003,
            &[&t],
            &[(&actor_id, "lead")],
        )
        .await;
    assert_eq!(created["actors"][0]["id"], json!(actor_id));
    eprintln!("ready again after {:?}", back.elapsed());

    // The movie refused with 503 was not half-written: by now (more than the contract's 2 s
    // after the refusal) it would have reached the search.
    let found = app
        .get(&format!("/movies?search={}", enc(&with_cast_title)))
        .await
        .items();
    assert!(
        found.iter().all(|m| m["title"] != json!(with_cast_title)),
        "the movie refused with 503 exists: {found:?}"
    );
}
