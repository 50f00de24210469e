//! Online backup of a SQLite store, and its restore. A backup is itself one SQLite file: a
//! consistent copy of the items (`VACUUM INTO` reads in one transaction, so it holds every
//! write committed before it began and none half-done, while the server goes on writing),
//! and, in a table of their own, the other files the deployment keeps beside the database
//! (its secrets), so that one file restores everything. `sqlite3 FILE` can open it.

use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

/// The table of the files kept with the items; it exists only in backups.
const FILES_TABLE: &str = "backup_files";

/// A file kept with the items: its name in the data directory and its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackedUpFile {
    pub name: String,
    pub contents: Vec<u8>,
}

/// What a backup holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupSummary {
    pub items: u64,
    pub files: usize,
}

/// Why a backup or a restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{} already exists: a backup never overwrites a file", .0.display())]
    TargetExists(std::path::PathBuf),
    #[error("{} is not a MovieBook backup (it has no {FILES_TABLE} table)", .0.display())]
    NotABackup(std::path::PathBuf),
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Copies the database at `database` into a new backup file at `into`, with `files`.
pub fn back_up(
    database: &Path,
    into: &Path,
    files: &[BackedUpFile],
) -> Result<BackupSummary, BackupError> {
    if into.exists() {
        return Err(BackupError::TargetExists(into.to_owned()));
    }
    // Read-only: a backup must not be able to change the store it copies, even by creating
    // an empty one where the path is wrong.
    let source = Connection::open_with_flags(database, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    source.busy_timeout(std::time::Duration::from_secs(30))?;
    // Written under another name and renamed when whole, so a failure leaves no file that
    // looks like a backup.
    let partial = beside(into, "partial");
    let _ = std::fs::remove_file(&partial);
    let copied = copy_with_files(&source, &partial, files);
    match copied {
        Ok(summary) => {
            std::fs::rename(&partial, into)?;
            Ok(summary)
        }
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            Err(error)
        }
    }
}

fn copy_with_files(
    source: &Connection,
    into: &Path,
    files: &[BackedUpFile],
) -> Result<BackupSummary, BackupError> {
    source.execute("VACUUM INTO ?1", params![path_text(into)?])?;
    let mut copy = Connection::open(into)?;
    let tx = copy.transaction()?;
    tx.execute_batch(&format!(
        "CREATE TABLE {FILES_TABLE} (name TEXT PRIMARY KEY, contents BLOB NOT NULL)"
    ))?;
    for file in files {
        tx.execute(
            &format!("INSERT INTO {FILES_TABLE} (name, contents) VALUES (?1, ?2)"),
            params![file.name, file.contents],
        )?;
    }
    let items: i64 = tx.query_row("SELECT count(*) FROM items", [], |row| row.get(0))?;
    tx.commit()?;
    Ok(BackupSummary {
        items: u64::try_from(items).unwrap_or_default(),
        files: files.len(),
    })
}

/// `path` with `.suffix` added to its file name.
fn beside(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    name.into()
}

fn path_text(path: &Path) -> Result<&str, BackupError> {
    path.to_str()
        .ok_or_else(|| BackupError::Sqlite(rusqlite::Error::InvalidPath(path.to_owned())))
}

/// Makes `database` (which must not exist) from the backup at `from`, and returns the files
/// kept with it, for the caller to put back beside it.
pub fn restore(from: &Path, database: &Path) -> Result<Vec<BackedUpFile>, BackupError> {
    if database.exists() {
        return Err(BackupError::TargetExists(database.to_owned()));
    }
    let backup = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let has_files: Option<String> = backup
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?1",
            params![FILES_TABLE],
            |row| row.get(0),
        )
        .optional()?;
    if has_files.is_none() {
        return Err(BackupError::NotABackup(from.to_owned()));
    }
    let files = backup
        .prepare(&format!(
            "SELECT name, contents FROM {FILES_TABLE} ORDER BY name"
        ))?
        .query_map([], |row| {
            Ok(BackedUpFile {
                name: row.get(0)?,
                contents: row.get(1)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    // As for a backup: whole under another name, then renamed.
    let partial = beside(database, "restoring");
    let _ = std::fs::remove_file(&partial);
    let restored = backup
        .execute("VACUUM INTO ?1", params![path_text(&partial)?])
        .map_err(BackupError::from)
        .and_then(|_| as_a_store(&partial));
    match restored {
        Ok(()) => {
            std::fs::rename(&partial, database)?;
            Ok(files)
        }
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            Err(error)
        }
    }
}

/// The restored database as the store it was: no files table. (The store's writer puts it
/// back in WAL mode when it opens it.)
fn as_a_store(database: &Path) -> Result<(), BackupError> {
    let restored = Connection::open(database)?;
    restored.execute_batch(&format!("DROP TABLE {FILES_TABLE}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteStore;
    use store::{Item, Key, Store, Write};

    fn item(n: u32) -> Item {
        let mut attrs = store::Attrs::new();
        attrs.insert("score".into(), n.into());
        Item::new(Key::new("movie#1", format!("review#{n}")), attrs)
    }

    #[tokio::test]
    async fn a_backup_restores_every_item_and_file_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("store.sqlite3");
        let store = SqliteStore::open(&database).unwrap();
        for n in 0..50 {
            store.transact(vec![Write::put(item(n))]).await.unwrap();
        }
        let secret = BackedUpFile {
            name: "jwt-secret".into(),
            contents: b"a secret of at least thirty-two bytes".to_vec(),
        };
        let backup = dir.path().join("backup.sqlite3");
        let summary = back_up(&database, &backup, std::slice::from_ref(&secret)).unwrap();
        assert_eq!(
            summary,
            BackupSummary {
                items: 50,
                files: 1
            }
        );
        // Written after the backup: not in it.
        store.transact(vec![Write::put(item(99))]).await.unwrap();
        assert!(matches!(
            back_up(&database, &backup, &[]),
            Err(BackupError::TargetExists(_))
        ));

        let restored_path = dir.path().join("restored.sqlite3");
        let files = restore(&backup, &restored_path).unwrap();
        assert_eq!(files, [secret]);
        let restored = SqliteStore::open(&restored_path).unwrap();
        for n in 0..50 {
            assert_eq!(
                restored.get(&item(n).key).await.unwrap(),
                Some(item(n)),
                "item {n}"
            );
        }
        assert_eq!(restored.get(&item(99).key).await.unwrap(), None);
        assert!(matches!(
            restore(&backup, &restored_path),
            Err(BackupError::TargetExists(_))
        ));
        // The store itself is not a backup.
        assert!(matches!(
            restore(&database, &dir.path().join("other.sqlite3")),
            Err(BackupError::NotABackup(_))
        ));
    }
}
