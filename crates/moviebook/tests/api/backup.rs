//! `moviebook backup FILE` while `serve` runs and writes arrive, and `moviebook restore FILE`
//! into an empty data directory: the restored server has every write acknowledged before the
//! backup began, the same admin token and the same users' tokens.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::process::run_moviebook;
use crate::support::*;

#[tokio::test]
async fn a_backup_taken_while_writes_arrive_restores_every_acknowledged_write_with_the_same_tokens()
{
    own_server_only!("it backs up and restores its own server's data directory");
    let mut app = TestApp::spawn_generating_admin_token().await;
    let user = app.sign_up_user("Kept In The Backup").await;
    let movie = app.create_movie("Backed Up", 1999, &["drama"], &[]).await;
    let movie_id = movie["id"].as_str().expect("a movie id").to_owned();
    app.review(&movie_id, &user.token, 8, Some("kept"))
        .await
        .expect(201);

    // Movies keep being created during the backup; each is noted with when it was answered.
    let root = tempfile::tempdir().expect("a temporary directory");
    let file = root.path().join("moviebook.backup");
    let writing = tokio_util::sync::CancellationToken::new();
    let writer = async {
        let mut acknowledged = Vec::new();
        while !writing.is_cancelled() {
            let title = format!("During {}", acknowledged.len());
            let body = json!({ "title": title, "release_year": 2000, "genres": ["drama"] });
            let created = app
                .post_json("/movies", app.admin(), &body)
                .await
                .expect(201);
            let id = created["id"].as_str().expect("a movie id").to_owned();
            acknowledged.push((Instant::now(), id));
        }
        acknowledged
    };
    let backup = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (data_dir, file) = (app.data_dir(), file.clone());
        let began = Instant::now();
        let run = tokio::task::spawn_blocking(move || {
            run_moviebook(
                &["backup", file.to_str().expect("a UTF-8 path")],
                &data_dir,
                &[],
            )
        })
        .await
        .expect("the backup ran");
        tokio::time::sleep(Duration::from_millis(200)).await;
        writing.cancel();
        (began, run)
    };
    let (acknowledged, (began, (ok, output))) = tokio::join!(writer, backup);
    assert!(ok, "backup failed: {output}");
    assert!(
        output.contains("admin-token") && output.contains("jwt-secret"),
        "{output}"
    );
    let before: Vec<&String> = acknowledged
        .iter()
        .filter(|(at, _)| *at < began)
        .map(|(_, id)| id)
        .collect();
    assert!(
        before.len() >= 2 && before.len() < acknowledged.len(),
        "{} movies written before the backup, {} in all: writes did not overlap it",
        before.len(),
        acknowledged.len()
    );

    // Kept secret: the backup holds the data directory's secrets.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the backup file's mode");
    }
    // A second backup never overwrites the first.
    let (ok, output) = run_moviebook(&["backup", file.to_str().unwrap()], &app.data_dir(), &[]);
    assert!(!ok && output.contains("already exists"), "{output}");

    app.kill9();
    let restored = root.path().join("restored");
    let (ok, output) = run_moviebook(&["restore", file.to_str().unwrap()], &restored, &[]);
    assert!(ok, "restore failed: {output}");
    // Only into an empty data directory.
    let (ok, output) = run_moviebook(&["restore", file.to_str().unwrap()], &restored, &[]);
    assert!(!ok && output.contains("not empty"), "{output}");

    app.restart_with(&[("MOVIEBOOK_DATA_DIR", restored.to_str().unwrap())])
        .await;
    for id in &before {
        app.get(&format!("/movies/{id}")).await.expect(200);
    }
    let kept = app.get(&format!("/movies/{movie_id}")).await.expect(200);
    assert_eq!(kept["review_count"], json!(1), "{kept}");
    // The same admin token, and the user's token from before the backup.
    app.create_movie("After The Restore", 2001, &["drama"], &[])
        .await;
    app.review(&movie_id, &user.token, 9, None)
        .await
        .expect(200);
    app.login(&user.email, &user.password).await.expect(200);
}

#[test]
fn backup_and_restore_refuse_a_dynamodb_deployment_and_a_file_that_is_no_backup() {
    let root = tempfile::tempdir().expect("a temporary directory");
    let dynamodb = [("MOVIEBOOK_STORE", "dynamodb")];
    let (ok, output) = run_moviebook(&["backup", "x.backup"], root.path(), &dynamodb);
    assert!(!ok && output.contains("point-in-time recovery"), "{output}");

    let not_a_backup = root.path().join("notes.txt");
    std::fs::write(&not_a_backup, "not SQLite").unwrap();
    let (ok, output) = run_moviebook(
        &["restore", not_a_backup.to_str().unwrap()],
        &root.path().join("data"),
        &[],
    );
    assert!(!ok, "restored from a text file: {output}");
    let (ok, output) = run_moviebook(&["backup", "x.backup"], &root.path().join("empty"), &[]);
    assert!(
        !ok && output.contains("holds no MovieBook store"),
        "{output}"
    );
}
