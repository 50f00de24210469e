//! Fault injection: the DynamoDB behind MovieBook dies and comes back.
//!
//! The test runs a DynamoDB Local of its own (not the one `scripts/test` shares), from the
//! jar `scripts/dynamodb-local start` caches in `.cache/dynamodb-local/`, keeping its data
//! on disk so that it survives being killed. While it is down, MovieBook must answer 503
//! problem+json quickly (never 500, never hang) and write nothing; once it is back, without
//! a restart of MovieBook, everything written before is intact, nothing of the failed
//! writes exists or counted, and new writes work again.

#[macro_use]
#[path = "../faults/mod.rs"]
mod faults;

// `crate::support` and `crate::deployment`, as the shared support expects them.
use faults::{deployment, support};

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::faults::{await_ready, within};
use crate::support::process::{dying_with_test, free_port};
use crate::support::*;

/// How long DynamoDB Local may take to answer HTTP after its start.
const DYNAMO_START_DEADLINE: Duration = Duration::from_secs(60);
/// Longer than the contract's 2 s convergence of derived views: after it, an event that a
/// failed write might have left would have been applied.
const SETTLE: Duration = Duration::from_secs(3);

/// The folder holding the cached DynamoDB Local jar.
fn jar_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let root = root.canonicalize().unwrap_or(root);
    let dir = root.join(".cache").join("dynamodb-local");
    assert!(
        dir.join("DynamoDBLocal.jar").is_file(),
        "DynamoDB Local is not cached at {}: run scripts/dynamodb-local start first \
         (it fetches the jar; scripts/test does this)",
        dir.display()
    );
    dir
}

/// A DynamoDB Local process of this test: one port and one data folder for its lifetime,
/// so that a restart finds the data of the run before. Killed on drop.
struct DynamoLocal {
    jar_dir: PathBuf,
    /// Holds `db/` (the `-dbPath`) and the logs of every start.
    root: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    starts: u32,
}

impl DynamoLocal {
    async fn start() -> DynamoLocal {
        let root = tempfile::Builder::new()
            .prefix("moviebook-outage-dynamodb-")
            .tempdir()
            .expect("create a temp dir");
        std::fs::create_dir_all(root.path().join("db")).expect("create the db folder");
        let mut dynamo = DynamoLocal {
            jar_dir: jar_dir(),
            root,
            port: free_port(),
            child: None,
            starts: 0,
        };
        dynamo.launch().await;
        dynamo
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log_path(&self, start: u32) -> PathBuf {
        self.root.path().join(format!("dynamodb-local-{start}.log"))
    }

    fn logs(&self) -> String {
        (1..=self.starts)
            .map(|start| {
                let path = self.log_path(start);
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                format!("----- {} -----\n{text}", path.display())
            })
            .collect()
    }

    /// Starts the process (again) on the same port and data folder and waits until it
    /// answers HTTP (a bare GET gets a 400 from DynamoDB, which is enough).
    async fn launch(&mut self) {
        assert!(self.child.is_none(), "DynamoDB Local is already running");
        self.starts += 1;
        let log = std::fs::File::create(self.log_path(self.starts)).expect("create the log");
        let log_err = log.try_clone().expect("clone the log file");
        let mut command = dying_with_test("java");
        command
            .arg("-Djava.library.path=./DynamoDBLocal_lib")
            .args([
                "-jar",
                "DynamoDBLocal.jar",
                "-sharedDb",
                "-disableTelemetry",
            ])
            .arg("-dbPath")
            .arg(self.root.path().join("db"))
            .arg("-port")
            .arg(self.port.to_string())
            .current_dir(&self.jar_dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start java for DynamoDB Local: {e}"));
        self.child = Some(child);

        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("build a client");
        let started = Instant::now();
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|child| child.try_wait().ok().flatten())
            {
                self.child = None;
                panic!(
                    "DynamoDB Local (start {}) exited with {status} while starting on port {}\n{}",
                    self.starts,
                    self.port,
                    self.logs()
                );
            }
            if client.get(self.endpoint()).send().await.is_ok() {
                return;
            }
            assert!(
                started.elapsed() < DYNAMO_START_DEADLINE,
                "DynamoDB Local did not answer on port {} within {DYNAMO_START_DEADLINE:?}\n{}",
                self.port,
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL, and waits until the process is gone.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for DynamoLocal {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("===== DynamoDB Local logs =====\n{}", self.logs());
        }
    }
}

/// A string field of a JSON object.
fn text(value: &Value, field: &str) -> String {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("no string `{field}` in {value}"))
        .to_owned()
}

#[tokio::test]
async fn a_dynamodb_outage_answers_503_writes_nothing_and_recovers() {
    own_server_only!("it starts, kills and restarts a DynamoDB Local of its own");
    let test_started = Instant::now();
    let mut dynamo = DynamoLocal::start().await;
    let endpoint = dynamo.endpoint();
    let table = format!("outage-{}", uuid::Uuid::new_v4().simple());
    let app = TestApp::spawn_with(&[
        ("MOVIEBOOK_STORE", "dynamodb"),
        ("MOVIEBOOK_DYNAMODB_ENDPOINT", &endpoint),
        ("MOVIEBOOK_DYNAMODB_TABLE", &table),
    ])
    .await;
    app.root_get("/readyz").await.expect(200);

    // ----- 1. Data written while DynamoDB is up.
    let t = tag();
    let actor = app.create_actor(&format!("Actor {t}")).await;
    let actor_id = text(&actor, "id");
    let movie = app
        .create_movie(
            &format!("Before {t}"),
            2001,
            &[&format!("g{t}")],
            &[(&actor_id, "lead")],
        )
        .await;
    let movie_id = text(&movie, "id");
    let alice = app.sign_up_user(&format!("Alice {t}")).await;
    app.review(&movie_id, &alice.token, 8, Some("before the outage"))
        .await
        .expect(201);
    let before = app.await_movie_score(&movie_id, &[8]).await;
    let review_path = format!("/movies/{movie_id}/reviews/{}", alice.id);
    let review_before = app.get_ok(&review_path).await;

    // ----- 2. DynamoDB dies.
    dynamo.kill();
    let killed = Instant::now();
    let readyz_503_after = eventually_within(
        Duration::from_secs(20),
        "/readyz answers 503 once DynamoDB is gone",
        async || {
            let (resp, _) = within("GET /readyz", app.root_get("/readyz")).await;
            assert!(
                resp.status < 500 || resp.status == 503,
                "GET /readyz answered {} with DynamoDB down: {}",
                resp.status,
                resp.text
            );
            if resp.status == 503 {
                Ok(resp)
            } else {
                Err(format!("status {}: {}", resp.status, resp.text))
            }
        },
    )
    .await;
    let readyz_503_after_kill = killed.elapsed();
    readyz_503_after.problem(503);

    let mut timings: Vec<(String, Duration)> = Vec::new();
    let mut expect_503 = |what: String, resp: Resp, took: Duration| {
        resp.problem(503);
        timings.push((what, took));
    };

    // Reads.
    for path in [
        format!("/movies/{movie_id}"),
        "/movies".to_owned(),
        format!("/movies?search={t}"),
        review_path.clone(),
        format!("/actors/{actor_id}"),
        format!("/users/{}", alice.id),
    ] {
        let what = format!("GET {path}");
        let (resp, took) = within(&what, app.get(&path)).await;
        expect_503(what, resp, took);
    }

    // Writes: a movie, a replacement of the review, a sign-up, a log-in.
    let ghost_tag = tag();
    let ghost_title = format!("Ghost {ghost_tag}");
    let ghost_movie = json!({ "title": ghost_title, "release_year": 2002, "genres": ["drama"] });
    let (resp, took) = within(
        "POST /movies",
        app.post_json("/movies", app.admin(), &ghost_movie),
    )
    .await;
    expect_503("POST /movies (admin)".into(), resp, took);

    let (resp, took) = within(
        "POST review",
        app.review(&movie_id, &alice.token, 2, Some("during the outage")),
    )
    .await;
    expect_503(format!("POST /movies/{movie_id}/reviews"), resp, took);

    let ghost_email = format!("{ghost_tag}@example.com");
    let ghost_password = format!("pw-{ghost_tag}");
    let ghost_user = json!({ "name": "Ghost", "email": ghost_email, "password": ghost_password });
    let (resp, took) = within("POST /users", app.post_json("/users", None, &ghost_user)).await;
    expect_503("POST /users".into(), resp, took);

    // A right password while the store is down is not a wrong one: 503, not 401.
    let (resp, took) = within("POST /auth/token", app.login(&alice.email, &alice.password)).await;
    expect_503("POST /auth/token (right password)".into(), resp, took);

    let (resp, took) = within(
        "POST /actors",
        app.post_json("/actors", app.admin(), &json!({ "name": "Ghost actor" })),
    )
    .await;
    expect_503("POST /actors (admin)".into(), resp, took);

    // The process itself is fine.
    let (health, _) = within("GET /healthz", app.root_get("/healthz")).await;
    health.expect(200);
    let (resp, _) = within("GET /readyz", app.root_get("/readyz")).await;
    resp.problem(503);
    let outage_lasted = killed.elapsed();

    // ----- 3. DynamoDB comes back on the same port and data; MovieBook is not restarted.
    let restarting = Instant::now();
    dynamo.launch().await;
    let dynamo_answers_after = restarting.elapsed();
    await_ready(
        &app,
        Duration::from_secs(30),
        "/readyz answers 200 again once DynamoDB is back",
    )
    .await;
    let ready_again_after = restarting.elapsed();
    let movie_path = format!("/movies/{movie_id}");
    eventually("reads answer 200 again", async || {
        let resp = app.get(&movie_path).await;
        if resp.status == 200 {
            Ok(())
        } else {
            Err(format!("status {}: {}", resp.status, resp.text))
        }
    })
    .await;
    let reads_again_after = restarting.elapsed();

    // What was written before the outage is intact.
    let review_after = app.get_ok(&review_path).await;
    assert_eq!(
        review_after, review_before,
        "the review written before the outage changed"
    );
    assert_eq!(review_after["score"], json!(8));
    let actor_after = app.get_ok(&format!("/actors/{actor_id}")).await;
    assert_eq!(actor_after["name"], actor["name"]);
    assert_eq!(
        ids(actor_after["movies"].as_array().expect("a filmography")),
        vec![movie_id.clone()],
        "the actor's filmography: {actor_after}"
    );
    app.login(&alice.email, &alice.password).await.expect(200);

    // Nothing of the failed writes exists or counted, also once events had time to land.
    tokio::time::sleep(SETTLE).await;
    let after = app.get_ok(&movie_path).await;
    for field in ["title", "release_year", "genres", "actors", "created_at"] {
        assert_eq!(
            after[field], before[field],
            "movie {field} changed: {after}"
        );
    }
    assert_eq!(after["review_count"], json!(1), "review_count: {after}");
    assert!(
        same_score(&after["score"], &json!(8.0)),
        "score after the outage: {after}"
    );
    assert_eq!(app.get_ok(&review_path).await["score"], json!(8));
    let reviews = app.all(&format!("/movies/{movie_id}/reviews")).await;
    assert_eq!(reviews.len(), 1, "reviews: {reviews:?}");
    assert_eq!(reviews[0]["score"], json!(8));
    let user = app.get_ok(&format!("/users/{}", alice.id)).await;
    assert_eq!(user["reviews"].as_array().map(Vec::len), Some(1), "{user}");
    assert_eq!(user["reviews"][0]["score"], json!(8), "{user}");

    let found = app
        .get(&format!("/movies?search={ghost_tag}"))
        .await
        .items();
    assert!(
        found.is_empty(),
        "the movie POSTed during the outage is found: {found:?}"
    );
    let all_movies = app.all("/movies").await;
    assert!(
        all_movies.iter().all(|m| m["title"] != json!(ghost_title)),
        "the movie POSTed during the outage is listed"
    );
    let ghost_actors = app
        .get(&format!("/actors?search={}", enc("Ghost actor")))
        .await
        .items();
    assert!(
        ghost_actors.is_empty(),
        "the actor POSTed during the outage is found: {ghost_actors:?}"
    );

    app.login(&ghost_email, &ghost_password).await.problem(401);
    let ghost = app.post_json("/users", None, &ghost_user).await.expect(201);
    let login = app.login(&ghost_email, &ghost_password).await.expect(200);
    assert_eq!(login["user_id"], ghost["id"]);

    // New writes work and are counted.
    let bob = app.sign_up_user(&format!("Bob {t}")).await;
    app.review(&movie_id, &bob.token, 6, None).await.expect(201);
    app.review(&movie_id, &alice.token, 4, Some("after the outage"))
        .await
        .expect(200);
    app.await_movie_score(&movie_id, &[4, 6]).await;
    let ghost_movie = app.create_movie_with(&ghost_movie).await;
    let found = eventually("the movie created after the outage is found", async || {
        let items = app
            .get(&format!("/movies?search={ghost_tag}"))
            .await
            .items();
        if items.is_empty() {
            Err("not yet".to_owned())
        } else {
            Ok(items)
        }
    })
    .await;
    assert_eq!(ids(&found), vec![text(&ghost_movie, "id")]);

    eprintln!("DynamoDB outage timings:");
    eprintln!("  /readyz 503 after the kill: {readyz_503_after_kill:?}");
    for (what, took) in &timings {
        eprintln!("  503 for {what} in {took:?}");
    }
    eprintln!("  the outage phase lasted {outage_lasted:?}");
    eprintln!("  DynamoDB Local answered {dynamo_answers_after:?} after its restart began");
    eprintln!("  /readyz 200 again {ready_again_after:?} after the restart began");
    eprintln!("  reads 200 again {reads_again_after:?} after the restart began");
    eprintln!("  the whole test took {:?}", test_started.elapsed());
}
