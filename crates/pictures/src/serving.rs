//! Serving a picture's files: a URL names one upload's file, whose bytes never change, so the
//! answer may be cached anywhere for a year, its `ETag` is the name itself, and a revalidation
//! (`If-None-Match`) is answered without reading the file. Files are read from object storage
//! once and then kept in memory, within a bound, so a popular poster is not read again per
//! request.

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use domain::picture::{PictureFile, StoredPicture};
use objects::{ObjectKey, ObjectStore};

use crate::PicturesError;

/// How many bytes of files a process keeps in memory.
const SERVED_BYTES: u64 = 64 * 1024 * 1024;

/// What every file is served with: a new upload gets new URLs, so a URL's bytes are final.
const CACHE_FOREVER: &str = "public, max-age=31536000, immutable";

/// The files served lately, by object key.
#[derive(Clone)]
pub(crate) struct ServedFiles {
    bytes: moka::sync::Cache<ObjectKey, Bytes>,
}

impl ServedFiles {
    pub fn new() -> Self {
        ServedFiles {
            bytes: moka::sync::Cache::builder()
                .max_capacity(SERVED_BYTES)
                .weigher(|_, bytes: &Bytes| u32::try_from(bytes.len()).unwrap_or(u32::MAX))
                .build(),
        }
    }

    /// Drops a removed file.
    pub fn forget(&self, key: &ObjectKey) {
        self.bytes.invalidate(key);
    }

    /// The answer for the current picture's `file`, stored at `key`.
    pub async fn answer(
        &self,
        objects: &dyn ObjectStore,
        key: &ObjectKey,
        picture: &StoredPicture,
        file: PictureFile,
        if_none_match: Option<&str>,
    ) -> Result<Response, PicturesError> {
        let etag = format!("\"{}-{}\"", picture.upload_id, file_tag(file));
        if if_none_match.is_some_and(|header| matches_etag(header, &etag)) {
            return Ok(respond(
                StatusCode::NOT_MODIFIED,
                &etag,
                None,
                Body::empty(),
            ));
        }
        let bytes = match self.bytes.get(key) {
            Some(bytes) => bytes,
            None => {
                // Gone although current: removed by hand, or lost with a volume. Not found,
                // as it is; `moviebook verify` reports it.
                let object = objects.get(key).await?.ok_or(PicturesError::NotFound)?;
                let bytes = Bytes::from(object.bytes);
                self.bytes.insert(key.clone(), bytes.clone());
                bytes
            }
        };
        Ok(respond(
            StatusCode::OK,
            &etag,
            Some(picture.image_type.content_type()),
            Body::from(bytes),
        ))
    }
}

fn file_tag(file: PictureFile) -> &'static str {
    match file {
        PictureFile::Image => "image",
        PictureFile::Thumbnail => "thumb",
    }
}

fn respond(status: StatusCode, etag: &str, content_type: Option<&str>, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, etag);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_FOREVER),
    );
    if let Some(content_type) = content_type.and_then(|t| HeaderValue::from_str(t).ok()) {
        headers.insert(header::CONTENT_TYPE, content_type);
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
    }
    response
}

/// Whether an `If-None-Match` value names `etag` (RFC 9110 §13.1.2: `*`, or a list of tags
/// compared weakly, so `W/"x"` matches `"x"`).
fn matches_etag(header: &str, etag: &str) -> bool {
    header.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_compares_weakly_and_takes_lists_and_star() {
        let etag = "\"0190-image\"";
        assert!(matches_etag("\"0190-image\"", etag));
        assert!(matches_etag("W/\"0190-image\"", etag));
        assert!(matches_etag("\"other\", \"0190-image\"", etag));
        assert!(matches_etag("*", etag));
        assert!(!matches_etag("\"0190-thumb\"", etag));
        assert!(!matches_etag("0190-image", etag));
        assert!(!matches_etag("", etag));
    }
}
