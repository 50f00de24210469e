//! The object-storage port: whole files (pictures) kept under a key, beside the item store.
//!
//! Objects are written whole, read whole and deleted; nothing is listed, appended or updated in
//! place, which is all S3 does cheaply and all a file system does atomically. A put replaces
//! any object under its key at once: a reader sees the old bytes or the new ones, never a
//! mixture or a part. Keys are checked by [`ObjectKey`] before any adapter sees them, so the
//! same key is valid for every adapter and can never name anything outside the store (a file
//! outside the data directory, another bucket); content types likewise by [`ContentType`],
//! which is all an adapter's put takes. The `conformance` feature holds the suite that pins
//! these semantics for every adapter.

use std::fmt;

use async_trait::async_trait;

#[cfg(feature = "conformance")]
pub mod conformance;

/// The longest key, in bytes. S3 allows 1024, but the file adapter makes the whole key one file
/// name, which most file systems cap at 255 bytes, and its temporary files need a few more.
pub const MAX_KEY_BYTES: usize = 200;

/// The longest content type, in bytes; a media type with parameters fits easily.
pub const MAX_CONTENT_TYPE_BYTES: usize = 128;

/// Why the object store refused or failed a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectError {
    /// The request can never succeed as made: a key or content type the port does not accept.
    #[error("invalid: {0}")]
    Invalid(String),
    /// The store cannot be reached or failed; the same request may work later (HTTP 503).
    #[error("object store unavailable: {0}")]
    Unavailable(String),
}

/// The address of an object: segments of ASCII letters, digits, `-`, `_` and `.` joined by
/// `/`, such as `movies/0193…/0194….jpg`. No segment is empty, starts with a `.` (so no `.`,
/// `..` or hidden name, and the file adapter's temporary files can never collide with a key),
/// and the whole key is at most [`MAX_KEY_BYTES`] long. These are file names on every file
/// system and need no encoding in an S3 request or a URL path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// Checks `key` and wraps it; [`ObjectError::Invalid`] says what is wrong with it.
    pub fn new(key: impl Into<String>) -> Result<Self, ObjectError> {
        let key = key.into();
        let invalid = |reason: &str| {
            Err(ObjectError::Invalid(format!(
                "object key {key:?}: {reason}"
            )))
        };
        if key.is_empty() {
            return invalid("is empty");
        }
        if key.len() > MAX_KEY_BYTES {
            return invalid(&format!("is longer than {MAX_KEY_BYTES} bytes"));
        }
        for segment in key.split('/') {
            if segment.is_empty() {
                return invalid("has an empty segment");
            }
            if segment.starts_with('.') {
                return invalid("has a segment that starts with '.'");
            }
            if let Some(odd) = segment
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            {
                return invalid(&format!(
                    "holds {odd:?}; only ASCII letters, digits, '-', '_', '.' and '/' may"
                ));
            }
        }
        Ok(ObjectKey(key))
    }

    /// The key's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Its segments, in order (at least one, none empty).
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A content type as stored with an object: a `type/subtype` media type, optionally with
/// parameters, in visible ASCII, at most [`MAX_CONTENT_TYPE_BYTES`] long. It is sent back as a
/// header, so anything that could break one (control characters, line breaks) is refused. Like
/// [`ObjectKey`], it is checked once, here, before any adapter sees it: an adapter's put takes
/// only this type, so none can store an unchecked one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContentType(String);

impl ContentType {
    /// Checks `content_type` and wraps it; [`ObjectError::Invalid`] says what is wrong with it.
    pub fn new(content_type: impl Into<String>) -> Result<Self, ObjectError> {
        let content_type = content_type.into();
        let invalid = |reason: &str| {
            Err(ObjectError::Invalid(format!(
                "content type {content_type:?}: {reason}"
            )))
        };
        if content_type.len() > MAX_CONTENT_TYPE_BYTES {
            return invalid(&format!("is longer than {MAX_CONTENT_TYPE_BYTES} bytes"));
        }
        if !content_type
            .bytes()
            .all(|b| b.is_ascii_graphic() || b == b' ')
        {
            return invalid("holds a character other than visible ASCII and spaces");
        }
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        match essence.split_once('/') {
            Some((kind, subtype))
                if !kind.is_empty() && !subtype.is_empty() && !subtype.contains('/') =>
            {
                Ok(ContentType(content_type))
            }
            _ => invalid("is not a type/subtype media type"),
        }
    }

    /// The content type's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The content type's text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stored object, as a get returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// Its content, whole.
    pub bytes: Vec<u8>,
    /// The content type it was put with.
    pub content_type: String,
}

/// A store of whole objects under [`ObjectKey`]s. Every call either completes or fails with
/// an [`ObjectError`]; a failed put leaves the key as it was (the old object or none), and a
/// store that cannot be reached answers [`ObjectError::Unavailable`] within a bounded time.
#[async_trait]
pub trait ObjectStore: Send + Sync + fmt::Debug {
    /// Stores `bytes` under `key` with its content type, replacing whatever the key held. A
    /// content type [`ContentType::new`] refuses is [`ObjectError::Invalid`], and the key keeps
    /// what it held. Adapters implement [`put_checked`](ObjectStore::put_checked) instead.
    async fn put(
        &self,
        key: &ObjectKey,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), ObjectError> {
        let content_type = ContentType::new(content_type)?;
        self.put_checked(key, bytes, &content_type).await
    }

    /// Stores `bytes` under `key` with a content type checked already, replacing whatever the
    /// key held: the adapter's part of [`put`](ObjectStore::put).
    async fn put_checked(
        &self,
        key: &ObjectKey,
        bytes: Vec<u8>,
        content_type: &ContentType,
    ) -> Result<(), ObjectError>;

    /// The object under `key`, or `None` when there is none.
    async fn get(&self, key: &ObjectKey) -> Result<Option<Object>, ObjectError>;

    /// Removes the object under `key`; a key that holds nothing is fine (deleting twice, or
    /// after a crash half-way through a clean-up, succeeds).
    async fn delete(&self, key: &ObjectKey) -> Result<(), ObjectError>;

    /// Succeeds when the store answers and its bucket or folder is there, for `/readyz`.
    async fn ping(&self) -> Result<(), ObjectError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_plain_relative_paths() {
        for good in [
            "a",
            "movies/0193f2a0-7c1e-7000-8000-000000000001/0194.jpg",
            "actors/x/thumb.jpg",
            "a.b-c_d/e..f",
        ] {
            assert_eq!(
                ObjectKey::new(good).map(|k| k.to_string()),
                Ok(good.to_owned())
            );
        }
        let longest = "a".repeat(MAX_KEY_BYTES);
        assert!(ObjectKey::new(longest.clone()).is_ok());
        for bad in [
            String::new(),
            format!("{longest}a"),
            "/movies/a".into(),
            "movies/a/".into(),
            "movies//a".into(),
            "..".into(),
            "movies/../../etc/passwd".into(),
            "movies/./a".into(),
            "movies/.hidden".into(),
            "movies\\a".into(),
            "movies/a b".into(),
            "movies/é".into(),
            "movies/a%2F..".into(),
            "movies/a\0".into(),
            "C:a".into(),
        ] {
            assert!(
                matches!(ObjectKey::new(bad.clone()), Err(ObjectError::Invalid(_))),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn content_types_are_media_types_that_fit_in_a_header() {
        for good in ["image/jpeg", "image/webp", "text/plain; charset=utf-8"] {
            assert_eq!(
                ContentType::new(good).map(|c| c.to_string()),
                Ok(good.to_owned())
            );
        }
        let long = format!("image/{}", "x".repeat(MAX_CONTENT_TYPE_BYTES));
        for bad in [
            "",
            "jpeg",
            "image/",
            "/jpeg",
            "image/jpeg/x",
            "image/jpeg\r\nSet-Cookie: a=b",
            "image/jpég",
            long.as_str(),
        ] {
            assert!(
                matches!(ContentType::new(bad), Err(ObjectError::Invalid(_))),
                "{bad:?} was accepted"
            );
        }
    }
}
