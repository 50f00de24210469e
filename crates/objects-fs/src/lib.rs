//! The file adapter of the object-storage port, the embedded default: every object is one file
//! under a folder of the data directory (`<data dir>/images/`).
//!
//! Layout: the key's first segment is a folder and the whole key, its `/`s turned into `+`, is
//! the file's name: `movies/0193…/0194….jpg` is `images/movies/movies+0193…+0194….jpg`. Keys
//! hold no `+`, so the mapping is one to one; and since every file sits exactly one folder
//! down, a key that continues another (`a` and `a/b`) never needs one name to be a file and a
//! folder at once, and a delete never leaves an empty folder behind. A file starts with one
//! line, `moviebook-object/1 <content type>`, then the object's bytes: the content type travels
//! in the same file, so one rename publishes both.
//!
//! Writes are atomic: the bytes go to a temporary file beside the target (`.tmp-<uuid>`, a
//! name no key can have since no segment starts with `.`), are flushed to disk, and the file is
//! renamed over the key's name, then the folder is flushed so the rename survives a crash. A
//! reader sees the old object or the new one, and a crash leaves at worst a temporary file,
//! which opening the store later deletes once it is an hour old (a younger one may be another
//! process's write in progress).
//!
//! File calls run on Tokio's blocking pool. Any I/O failure other than "no such file" (a full
//! or read-only disk, a permission taken away) is [`ObjectError::Unavailable`].

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use objects::{ContentType, Object, ObjectError, ObjectKey, ObjectStore};
use uuid::Uuid;

/// What every object file starts with, before its content type and a line break; a file that
/// does not is not ours, and reading it fails rather than serving it.
const HEADER: &[u8] = b"moviebook-object/1 ";

/// The start of a temporary file's name.
const TEMPORARY_PREFIX: &str = ".tmp-";

/// How old a temporary file must be before opening the store deletes it as a crash's leftover.
const STALE_TEMPORARY_AGE: Duration = Duration::from_secs(60 * 60);

/// Objects kept as files under one folder.
#[derive(Debug, Clone)]
pub struct FsObjectStore {
    root: PathBuf,
}

impl FsObjectStore {
    /// Opens the store in `root` (e.g. `<data dir>/images`), creating it when missing, and
    /// deletes the temporary files that crashed writes left there over an hour ago.
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self, ObjectError> {
        let root = root.into();
        let store = FsObjectStore { root };
        let sweeping = store.clone();
        blocking(move || {
            fs::create_dir_all(&sweeping.root)
                .map_err(|e| unavailable("creating", &sweeping.root, &e))?;
            sweeping.delete_stale_temporaries(SystemTime::now())
        })
        .await?;
        Ok(store)
    }

    /// The folder the objects are kept in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder a key's file is in, and the file.
    fn paths(&self, key: &ObjectKey) -> (PathBuf, PathBuf) {
        let folder = self.root.join(key.segments().next().unwrap_or_default());
        let file = folder.join(key.as_str().replace('/', "+"));
        (folder, file)
    }

    fn put_blocking(
        &self,
        key: &ObjectKey,
        bytes: &[u8],
        content_type: &ContentType,
    ) -> Result<(), ObjectError> {
        let (folder, file) = self.paths(key);
        fs::create_dir_all(&folder).map_err(|e| unavailable("creating", &folder, &e))?;
        let temporary = folder.join(format!("{TEMPORARY_PREFIX}{}", Uuid::now_v7()));
        let written = write_synced(&temporary, content_type, bytes)
            .map_err(|e| unavailable("writing", &temporary, &e))
            .and_then(|()| {
                fs::rename(&temporary, &file).map_err(|e| unavailable("renaming into", &file, &e))
            });
        if let Err(error) = written {
            // Best effort: the error that matters is the write's; a leftover is swept later.
            let _ = fs::remove_file(&temporary);
            return Err(error);
        }
        sync_folder(&folder).map_err(|e| unavailable("flushing", &folder, &e))
    }

    fn get_blocking(&self, key: &ObjectKey) -> Result<Option<Object>, ObjectError> {
        let (_, path) = self.paths(key);
        let mut contents = Vec::new();
        match File::open(&path).and_then(|mut file| file.read_to_end(&mut contents)) {
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(unavailable("reading", &path, &error)),
        }
        decode(contents).map(Some).ok_or_else(|| {
            ObjectError::Unavailable(format!("{} is not an object file", path.display()))
        })
    }

    fn delete_blocking(&self, key: &ObjectKey) -> Result<(), ObjectError> {
        let (folder, path) = self.paths(key);
        match fs::remove_file(&path) {
            Ok(()) => sync_folder(&folder).map_err(|e| unavailable("flushing", &folder, &e)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(unavailable("deleting", &path, &error)),
        }
    }

    /// Deletes temporary files last changed before `now` minus [`STALE_TEMPORARY_AGE`].
    fn delete_stale_temporaries(&self, now: SystemTime) -> Result<(), ObjectError> {
        let folders =
            fs::read_dir(&self.root).map_err(|e| unavailable("listing", &self.root, &e))?;
        for folder in folders {
            let folder = folder
                .map_err(|e| unavailable("listing", &self.root, &e))?
                .path();
            if !folder.is_dir() {
                continue;
            }
            let files = fs::read_dir(&folder).map_err(|e| unavailable("listing", &folder, &e))?;
            for file in files {
                let file = file.map_err(|e| unavailable("listing", &folder, &e))?;
                let is_temporary = file
                    .file_name()
                    .to_string_lossy()
                    .starts_with(TEMPORARY_PREFIX);
                let modified = file.metadata().and_then(|m| m.modified());
                let stale = modified.is_ok_and(|at| at + STALE_TEMPORARY_AGE <= now);
                if is_temporary && stale {
                    match fs::remove_file(file.path()) {
                        // Another process may have swept it first.
                        Ok(()) => {}
                        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                        Err(error) => return Err(unavailable("deleting", &file.path(), &error)),
                    }
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl ObjectStore for FsObjectStore {
    async fn put_checked(
        &self,
        key: &ObjectKey,
        bytes: Vec<u8>,
        content_type: &ContentType,
    ) -> Result<(), ObjectError> {
        let (store, key, content_type) = (self.clone(), key.clone(), content_type.clone());
        blocking(move || store.put_blocking(&key, &bytes, &content_type)).await
    }

    async fn get(&self, key: &ObjectKey) -> Result<Option<Object>, ObjectError> {
        let (store, key) = (self.clone(), key.clone());
        blocking(move || store.get_blocking(&key)).await
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), ObjectError> {
        let (store, key) = (self.clone(), key.clone());
        blocking(move || store.delete_blocking(&key)).await
    }

    async fn ping(&self) -> Result<(), ObjectError> {
        let root = self.root.clone();
        blocking(move || match fs::metadata(&root) {
            Ok(metadata) if metadata.is_dir() => Ok(()),
            Ok(_) => Err(ObjectError::Unavailable(format!(
                "{} is not a folder",
                root.display()
            ))),
            Err(error) => Err(unavailable("reading", &root, &error)),
        })
        .await
    }
}

/// Runs file calls on Tokio's blocking pool, so they never hold up a worker thread.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ObjectError> + Send + 'static,
) -> Result<T, ObjectError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ObjectError::Unavailable(format!("a file task did not finish: {e}")))?
}

fn unavailable(doing: &str, path: &Path, error: &io::Error) -> ObjectError {
    ObjectError::Unavailable(format!("{doing} {}: {error}", path.display()))
}

/// Writes a new object file (the header line, then the bytes) and flushes it to disk.
fn write_synced(path: &Path, content_type: &ContentType, bytes: &[u8]) -> io::Result<()> {
    let mut file = File::options().write(true).create_new(true).open(path)?;
    file.write_all(HEADER)?;
    file.write_all(content_type.as_str().as_bytes())?;
    file.write_all(b"\n")?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Flushes a folder's entries (a rename or a removal in it) to disk.
fn sync_folder(folder: &Path) -> io::Result<()> {
    File::open(folder)?.sync_all()
}

/// The object an object file holds, or `None` when the file is not one.
fn decode(mut contents: Vec<u8>) -> Option<Object> {
    let rest = contents.strip_prefix(HEADER)?;
    let line_end = rest.iter().position(|&b| b == b'\n')?;
    let content_type = std::str::from_utf8(&rest[..line_end]).ok()?;
    let content_type = ContentType::new(content_type).ok()?.into_string();
    let body_start = HEADER.len() + line_end + 1;
    contents.drain(..body_start);
    Some(Object {
        bytes: contents,
        content_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_files_decode_only_with_the_header() {
        let mut file = HEADER.to_vec();
        file.extend_from_slice(b"image/png\n\x89PNG\n\r");
        assert_eq!(
            decode(file),
            Some(Object {
                bytes: b"\x89PNG\n\r".to_vec(),
                content_type: "image/png".into()
            })
        );
        assert_eq!(decode(b"\x89PNG\n\r".to_vec()), None);
        assert_eq!(decode(b"moviebook-object/1 image/png".to_vec()), None);
        assert_eq!(decode(b"moviebook-object/1 png\nbytes".to_vec()), None);
    }
}
