//! `moviebook backup FILE` and `moviebook restore FILE`, for the embedded deployment: one
//! file holds a consistent copy of the SQLite store, taken while `serve` runs and writes
//! arrive, and every other file of the data directory (the kept admin token and JWT secret,
//! so that the same admin token and user tokens stay valid). A DynamoDB deployment is backed
//! up by DynamoDB itself (point-in-time recovery; the README's "Operating MovieBook").

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use store_sqlite::backup::{self, BackedUpFile};

use crate::config::{Config, StoreKind};
use crate::data_dir;

/// Writes the backup of the data directory `config` names into `file`, which must not exist.
pub fn back_up(config: &Config, file: &Path) -> anyhow::Result<()> {
    embedded_only(config)?;
    let database = config.data_dir.join(data_dir::DATABASE);
    if !database.exists() {
        bail!(
            "{} holds no MovieBook store ({} is missing)",
            config.data_dir.display(),
            data_dir::DATABASE
        );
    }
    let files = kept_files(&config.data_dir)?;
    let summary = backup::back_up(&database, file, &files)
        .with_context(|| format!("backing up {} into {}", database.display(), file.display()))?;
    println!(
        "backed up {} items and {} files ({}) into {}",
        summary.items,
        summary.files,
        names(&files),
        file.display()
    );
    Ok(())
}

/// Makes the data directory `config` names, which must be missing or empty, from `file`.
pub fn restore(config: &Config, file: &Path) -> anyhow::Result<()> {
    embedded_only(config)?;
    let dir = &config.data_dir;
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        bail!(
            "{} is not empty: restore only into a missing or empty data directory",
            dir.display()
        );
    }
    if !file.is_file() {
        bail!("{} is not a file", file.display());
    }
    data_dir::prepare(dir)?;
    let files = backup::restore(file, &dir.join(data_dir::DATABASE))
        .with_context(|| format!("restoring {}", file.display()))?;
    for kept in &files {
        let path = inside(dir, &kept.name)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, &kept.contents)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    // Everything written above is private already (umask 077); this also covers a
    // directory that existed, empty, with looser modes.
    data_dir::prepare(dir)?;
    println!(
        "restored {} and {} files ({}) into {}",
        file.display(),
        files.len(),
        names(&files),
        dir.display()
    );
    Ok(())
}

fn embedded_only(config: &Config) -> anyhow::Result<()> {
    if config.store == StoreKind::Dynamodb {
        bail!(
            "backup and restore copy the embedded SQLite store; a DynamoDB table is backed up \
             by DynamoDB (point-in-time recovery, see the README's \"Operating MovieBook\")"
        );
    }
    Ok(())
}

/// Every file of the data directory but the database and SQLite's files beside it, named
/// by its path relative to the directory.
fn kept_files(dir: &Path) -> anyhow::Result<Vec<BackedUpFile>> {
    let mut files = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let here = dir.join(&relative);
        for entry in
            std::fs::read_dir(&here).with_context(|| format!("reading {}", here.display()))?
        {
            let entry = entry?;
            let name = relative.join(entry.file_name());
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(name);
            } else if kind.is_file() && !data_dir::is_database_file(&name) {
                let contents = std::fs::read(entry.path())
                    .with_context(|| format!("reading {}", entry.path().display()))?;
                let name = name
                    .to_str()
                    .with_context(|| format!("{} is not UTF-8", name.display()))?
                    .to_owned();
                files.push(BackedUpFile { name, contents });
            }
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

/// The path of a kept file inside `dir`; a name that would leave it (`..`, absolute) is
/// refused, as a backup file may come from anywhere.
fn inside(dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let relative = Path::new(name);
    let plain = !name.is_empty()
        && relative
            .components()
            .all(|part| matches!(part, std::path::Component::Normal(_)));
    if !plain {
        bail!("the backup names a file outside the data directory: {name:?}");
    }
    Ok(dir.join(relative))
}

fn names(files: &[BackedUpFile]) -> String {
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_file_cannot_be_restored_outside_the_data_directory() {
        let dir = Path::new("/data");
        assert_eq!(inside(dir, "jwt-secret").unwrap(), dir.join("jwt-secret"));
        assert_eq!(
            inside(dir, "pictures/poster.jpg").unwrap(),
            dir.join("pictures/poster.jpg")
        );
        for name in ["../etc/passwd", "/etc/passwd", "pictures/../../x", ""] {
            assert!(inside(dir, name).is_err(), "{name:?}");
        }
    }
}
