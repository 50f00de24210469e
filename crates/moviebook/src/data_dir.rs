//! The data directory holds what nobody but the process's own user may read: the SQLite
//! database (e-mails, password hashes) with its `-wal` and `-shm` files, and the kept
//! secrets. It is made 0700 and everything in it loses its group and other permissions
//! (a file 0644 becomes 0600) at every start, so a directory made by hand or by an older
//! version with looser modes is fixed, and the log says which paths were.
//!
//! Files the process creates later are private already: `main` sets the umask to 077.

use std::path::{Path, PathBuf};

/// The SQLite store's file in the data directory.
pub const DATABASE: &str = "moviebook.sqlite3";

/// True for the store's file and the files SQLite keeps beside it (write-ahead log, shared
/// memory, rollback journal), named relative to the data directory.
pub fn is_database_file(name: &Path) -> bool {
    ["", "-wal", "-shm", "-journal"]
        .iter()
        .any(|suffix| name == Path::new(&format!("{DATABASE}{suffix}")))
}

/// How many tightened paths the log names one by one; the rest are counted.
const NAMED_IN_LOG: usize = 20;

/// Why the data directory could not be made ready.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("creating the data directory {}: {source}", path.display())]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("reading {} in the data directory: {source}", path.display())]
    Inspect {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("taking group and other permissions from {}: {source}", path.display())]
    Restrict {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A path whose mode a start changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tightened {
    pub path: PathBuf,
    /// The permission bits before (e.g. 0o644).
    pub from: u32,
    /// The permission bits after (e.g. 0o600).
    pub to: u32,
}

/// Creates `dir` (0700) when it is missing, makes it and everything below it private to its
/// owner, and logs a warning for each path that was not.
pub fn prepare(dir: &Path) -> Result<(), DataDirError> {
    create(dir)?;
    let tightened = make_private(dir)?;
    for change in tightened.iter().take(NAMED_IN_LOG) {
        tracing::warn!(
            path = %change.path.display(),
            from = %format_args!("{:o}", change.from),
            to = %format_args!("{:o}", change.to),
            "the data directory was open to other users: took group and other permissions from this path"
        );
    }
    if tightened.len() > NAMED_IN_LOG {
        tracing::warn!(
            more = tightened.len() - NAMED_IN_LOG,
            "took group and other permissions from more paths in the data directory"
        );
    }
    Ok(())
}

fn create(dir: &Path) -> Result<(), DataDirError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| DataDirError::Create {
        path: dir.to_owned(),
        source,
    })
}

/// Takes group and other permissions from `dir` and from every file and directory below it
/// (owner permissions stay as they are); returns what it changed. Symbolic links are not
/// followed: one could point anywhere, and what it points to is not the data directory's.
#[cfg(unix)]
pub fn make_private(dir: &Path) -> Result<Vec<Tightened>, DataDirError> {
    use std::os::unix::fs::PermissionsExt;

    let mut tightened = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(path) = pending.pop() {
        let inspect = |source| DataDirError::Inspect {
            path: path.clone(),
            source,
        };
        let metadata = std::fs::symlink_metadata(&path).map_err(inspect)?;
        if metadata.file_type().is_symlink() {
            continue;
        }
        let from = metadata.permissions().mode() & 0o7777;
        let to = from & !0o077;
        if to != from {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(to)).map_err(
                |source| DataDirError::Restrict {
                    path: path.clone(),
                    source,
                },
            )?;
            tightened.push(Tightened {
                path: path.clone(),
                from,
                to,
            });
        }
        // The directory is closed to others before anything in it is looked at.
        if metadata.is_dir() {
            for entry in std::fs::read_dir(&path).map_err(inspect)? {
                pending.push(entry.map_err(inspect)?.path());
            }
        }
    }
    Ok(tightened)
}

/// Other systems have no modes to tighten.
#[cfg(not(unix))]
pub fn make_private(_dir: &Path) -> Result<Vec<Tightened>, DataDirError> {
    Ok(Vec::new())
}

#[cfg(all(test, unix))]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
    }

    fn set_mode(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_new_data_directory_is_0700() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        prepare(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
    }

    #[test]
    fn a_loose_data_directory_and_everything_in_it_are_made_private() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        fs::create_dir(&dir).unwrap();
        fs::create_dir(dir.join("pictures")).unwrap();
        fs::write(dir.join("moviebook.sqlite3"), "").unwrap();
        fs::write(dir.join("pictures/poster.jpg"), "").unwrap();
        fs::write(dir.join("admin-token"), "").unwrap();
        set_mode(&dir, 0o755);
        set_mode(&dir.join("pictures"), 0o775);
        set_mode(&dir.join("moviebook.sqlite3"), 0o644);
        set_mode(&dir.join("pictures/poster.jpg"), 0o666);
        set_mode(&dir.join("admin-token"), 0o600);

        let mut changed: Vec<(String, u32, u32)> = make_private(&dir)
            .unwrap()
            .into_iter()
            .map(|t| {
                let name = t.path.strip_prefix(&dir).unwrap().display().to_string();
                (name, t.from, t.to)
            })
            .collect();
        changed.sort();
        assert_eq!(
            changed,
            [
                (String::new(), 0o755, 0o700),
                ("moviebook.sqlite3".into(), 0o644, 0o600),
                ("pictures".into(), 0o775, 0o700),
                ("pictures/poster.jpg".into(), 0o666, 0o600),
            ]
        );
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("admin-token")), 0o600);
        assert!(
            make_private(&dir).unwrap().is_empty(),
            "a second pass changes nothing"
        );
    }

    #[test]
    fn a_symbolic_link_is_not_followed() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        fs::create_dir(&dir).unwrap();
        let outside = root.path().join("outside");
        fs::write(&outside, "").unwrap();
        set_mode(&outside, 0o644);
        std::os::unix::fs::symlink(&outside, dir.join("link")).unwrap();
        make_private(&dir).unwrap();
        assert_eq!(mode(&outside), 0o644);
    }
}
