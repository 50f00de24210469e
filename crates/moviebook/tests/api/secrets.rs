//! Secrets and the data directory (API.md, "Running"): a short admin token or JWT secret
//! stops `serve` before it starts, and the data directory with everything in it is readable
//! by its owner only, also when it was made with looser modes.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::support::*;

/// Ten bytes: guessable, and brute-forced offline from one signed token.
const SHORT_SECRET: &str = "short-0123";

#[tokio::test]
async fn serve_refuses_a_secret_shorter_than_32_bytes_naming_its_variable() {
    own_server_only!("it starts servers that must refuse to start");
    for variable in ["MOVIEBOOK_JWT_SECRET", "MOVIEBOOK_ADMIN_TOKEN"] {
        let refusal = TestApp::start_refused(&[(variable, SHORT_SECRET)]).await;
        assert!(
            !refusal.status.success(),
            "{variable}={SHORT_SECRET:?} exited with {}",
            refusal.status
        );
        assert!(
            refusal.stderr.contains(variable),
            "the refusal does not name {variable}: {}",
            refusal.stderr
        );
        assert!(
            !refusal.stderr.contains(SHORT_SECRET),
            "the refusal shows the secret: {}",
            refusal.stderr
        );
        assert!(
            refusal.data_dir_entries.is_empty(),
            "refused only after it wrote {:?} in the data directory",
            refusal.data_dir_entries
        );
    }

    // 32 bytes is enough.
    let long_enough = "x".repeat(32);
    let app = TestApp::spawn_with(&[("MOVIEBOOK_JWT_SECRET", long_enough.as_str())]).await;
    app.sign_up("Long Enough").await;
}

/// Every path in `dir` and below it with its permission bits, `dir` itself first.
fn modes(dir: &Path) -> Vec<(PathBuf, u32)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(path) = pending.pop() {
        let metadata = std::fs::symlink_metadata(&path).expect("stat a data directory path");
        found.push((path.clone(), metadata.permissions().mode() & 0o7777));
        if metadata.is_dir() {
            for entry in std::fs::read_dir(&path).expect("read a data directory") {
                pending.push(entry.expect("read a directory entry").path());
            }
        }
    }
    found
}

/// Asserts that `dir` and every directory below it are 0700 and every file 0600.
#[track_caller]
fn assert_private(dir: &Path) {
    let loose: Vec<String> = modes(dir)
        .into_iter()
        .filter(|(path, mode)| {
            let private = if path.is_dir() { 0o700 } else { 0o600 };
            *mode != private
        })
        .map(|(path, mode)| format!("{} {mode:o}", path.display()))
        .collect();
    assert!(loose.is_empty(), "not private to the owner: {loose:?}");
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

#[tokio::test]
async fn the_data_directory_and_every_file_in_it_are_private_to_their_owner() {
    own_server_only!("it looks at the server's data directory");
    let mut app = TestApp::spawn().await;
    // A write, so the store's files (SQLite's database, -wal and -shm) hold data.
    app.sign_up("Private Person").await;
    let data_dir = app.data_dir();
    assert_private(&data_dir);

    // As a directory made by hand, or by a version that knew no better, would be.
    app.kill9();
    set_mode(&data_dir, 0o755);
    for (path, _) in modes(&data_dir).into_iter().skip(1) {
        set_mode(&path, if path.is_dir() { 0o755 } else { 0o644 });
    }
    let notes = data_dir.join("notes.txt");
    std::fs::write(&notes, "left by hand").expect("write a file into the data directory");
    set_mode(&notes, 0o644);

    app.restart().await;
    assert_private(&data_dir);
    let names: Vec<String> = modes(&data_dir)
        .iter()
        .filter_map(|(path, _)| Some(path.file_name()?.to_string_lossy().into_owned()))
        .collect();
    for kept in ["jwt-secret", "notes.txt"] {
        assert!(names.iter().any(|n| n == kept), "no {kept} in {names:?}");
    }
    // The log says which paths were tightened.
    let log = app.stderr();
    for path in [data_dir.clone(), notes, data_dir.join("jwt-secret")] {
        let named = log.lines().any(|line| {
            line.contains("took group and other permissions")
                && line.contains(&format!("path={} ", path.display()))
        });
        assert!(named, "the log does not name {}: {log}", path.display());
    }
    app.sign_up("Still Works").await;
}
