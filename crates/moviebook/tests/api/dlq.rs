//! `moviebook dlq list|replay|purge` on the embedded deployment, beside a running server:
//! dead letters are kept in the store, and a replay reaches the consumer through the
//! server's outbox.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bus::memory::{DeadLetter, DeadLetterShelf};
use domain::events::{Envelope, Event, UserRenamed};
use platform::dead_letters::StoredDeadLetters;
use serde_json::json;

use crate::support::*;

fn dlq(data_dir: &Path, args: &[&str]) -> String {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_moviebook"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("MOVIEBOOK_") {
            command.env_remove(key);
        }
    }
    let output = command
        .arg("dlq")
        .args(args)
        .args(["--consumer", "movies-reviewers"])
        .env("MOVIEBOOK_DATA_DIR", data_dir)
        .output()
        .expect("run moviebook dlq");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "moviebook dlq {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test]
async fn the_embedded_dead_letters_are_listed_replayed_through_the_outbox_and_purged() {
    own_server_only!("it reads its own server's data directory");
    let app = TestApp::spawn().await;
    let movie = app
        .create_movie("Dead Letters", 2001, &["drama"], &[])
        .await;
    let movie_id = movie["id"].as_str().expect("a movie id").to_owned();
    let (user_id, token) = app.sign_up("Before").await;
    app.review(&movie_id, &token, 7, None).await.expect(201);

    // A rename the movies service's reviewers consumer set aside a minute ago (as it would
    // after rejecting it), and another event: the store holds them, not the process.
    let store = Arc::new(
        store_sqlite::SqliteStore::open(&app.data_dir().join("moviebook.sqlite3"))
            .expect("the server's store"),
    );
    let shelf = StoredDeadLetters::new(store);
    let a_minute_ago = domain::timestamp::now_micros() - 60_000_000;
    let letter = |name: &str| DeadLetter {
        consumer: "movies-reviewers".into(),
        envelope: Envelope {
            occurred_at: a_minute_ago,
            ..Envelope::new(Event::UserRenamed(UserRenamed {
                user_id: user_id.parse().expect("a user id"),
                name: name.into(),
            }))
        },
        reason: "the test set it aside".into(),
        attempts: 15,
        dead_lettered_at: a_minute_ago,
    };
    let (renamed, other) = (letter("After"), letter("Never"));
    for letter in [&renamed, &other] {
        shelf.set_aside(letter.clone()).await.expect("set aside");
    }

    let dir = app.data_dir();
    let listed = dlq(&dir, &["list"]);
    assert!(
        listed.contains("2 dead-lettered event(s) for movies-reviewers"),
        "{listed}"
    );
    assert!(
        listed.contains(&format!(
            "{}\tuser.renamed\tattempts=15\tthe test set it aside",
            renamed.envelope.id
        )),
        "{listed}"
    );

    let renamed_id = renamed.envelope.id.to_string();
    let replayed = dlq(&dir, &["replay", "--id", &renamed_id]);
    assert!(replayed.contains("replayed 1 event(s)"), "{replayed}");
    // The server's relay finds it in the outbox on its sweep (one partition every 5 s, twelve
    // partitions for the three services the embedded process plays).
    eventually_within(
        Duration::from_secs(75),
        "the replayed rename shows on the movie's reviews",
        async || {
            let reviews = app
                .get(&format!("/movies/{movie_id}/reviews"))
                .await
                .items();
            match reviews.first() {
                Some(review) if review["user_name"] == json!("After") => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;

    let purged = dlq(&dir, &["purge"]);
    assert!(purged.contains("purged 1 event(s)"), "{purged}");
    let listed = dlq(&dir, &["list"]);
    assert!(listed.contains("0 dead-lettered event(s)"), "{listed}");
}
