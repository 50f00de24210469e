//! Posters and photos, the part the movies and actors services share: turning an upload
//! into stored files (checked and re-encoded by `imaging`, off the async threads and a few at
//! a time), recording which upload is current next to its owner, serving the files with
//! caching headers, and removing the files of pictures that are no longer current.
//!
//! Which upload is current is a [`PictureRecord`] in the owner's partition; a change of it is
//! committed with its event through the owner's outbox (see [`Pictures::change`]). The
//! files are written before the record names them and removed only after a committed change
//! stopped naming them (by the owner's consumer of that change's event), so a URL that a
//! response showed serves its bytes for as long as the record names its upload.

mod error;
mod record;
mod serving;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, header};
use domain::events::{Envelope, Event};
use domain::picture::{ImageType, PictureFile, PictureOwner, StoredPicture};
use imaging::{EncodedPicture, PictureType, ProcessedPicture};
use objects::{ObjectKey, ObjectStore};
use platform::outbox::Outbox;
use store::{Condition, Key, Record, Store, StoreError, StoreExt, Write};

use tokio::sync::Semaphore;

pub use error::PicturesError;
pub use record::{PictureRecord, audited_picture};

/// How long an upload waits for its turn to be decoded before it is refused as busy.
const DECODE_WAIT: Duration = Duration::from_secs(20);

/// How many times a change is retried when another change of the same picture committed
/// between its read and its write.
const CHANGE_ATTEMPTS: usize = 5;

/// The pictures of one process: the object store their files are in, and the bounds on the
/// work of uploads.
#[derive(Clone)]
pub struct Pictures {
    objects: Arc<dyn ObjectStore>,
    /// Decoding takes up to `imaging::MAX_DECODE_BYTES` of memory and a core for up to a
    /// second or so: at most this many run at once.
    decoding: Arc<Semaphore>,
    served: serving::ServedFiles,
}

/// What a change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Changed {
    /// The picture that was current before, whose files go by the change's event.
    pub replaced: Option<StoredPicture>,
}

impl Pictures {
    /// The pictures whose files are in `objects`; uploads decode at most as many at once as
    /// the machine has cores.
    pub fn new(objects: Arc<dyn ObjectStore>) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Pictures {
            objects,
            decoding: Arc::new(Semaphore::new(cores)),
            served: serving::ServedFiles::new(),
        }
    }

    /// Checks and re-encodes an upload declared as `content_type`, off the async threads
    /// and a few at a time. Nothing is stored yet.
    pub async fn decode(
        &self,
        content_type: &str,
        body: Bytes,
    ) -> Result<ProcessedPicture, PicturesError> {
        // A type that is not a picture is refused before waiting for a turn to decode.
        PictureType::from_content_type(content_type)?;
        let _turn = tokio::time::timeout(DECODE_WAIT, self.decoding.acquire())
            .await
            .map_err(|_| PicturesError::Busy)?
            .map_err(|_| PicturesError::Busy)?;
        let declared = content_type.to_owned();
        Ok(
            tokio::task::spawn_blocking(move || imaging::process_upload(&declared, &body))
                .await
                .map_err(|error| PicturesError::Internal(format!("decoding stopped: {error}")))??,
        )
    }

    /// Stores a decoded upload's two files under a new upload id of `owner`; the files of a
    /// picture that is then never made current are removed by [`Pictures::discard`].
    pub async fn store(
        &self,
        owner: PictureOwner,
        processed: ProcessedPicture,
    ) -> Result<StoredPicture, PicturesError> {
        let picture = StoredPicture {
            upload_id: domain::ids::new_id(),
            image_type: image_type(processed.full.content_type),
            width: processed.full.width,
            height: processed.full.height,
        };
        for (file, encoded) in [
            (PictureFile::Image, processed.full),
            (PictureFile::Thumbnail, processed.thumbnail),
        ] {
            if let Err(error) = self.put_file(owner, &picture, file, encoded).await {
                self.discard(owner, &picture).await;
                return Err(error);
            }
        }
        Ok(picture)
    }

    async fn put_file(
        &self,
        owner: PictureOwner,
        picture: &StoredPicture,
        file: PictureFile,
        encoded: EncodedPicture,
    ) -> Result<(), PicturesError> {
        let key = object_key(owner, picture, file)?;
        self.objects
            .put(&key, encoded.bytes, picture.image_type.content_type())
            .await?;
        Ok(())
    }

    /// Removes the files of `picture` (both, whichever exist).
    pub async fn remove(
        &self,
        owner: PictureOwner,
        picture: &StoredPicture,
    ) -> Result<(), PicturesError> {
        for file in PictureFile::BOTH {
            let key = object_key(owner, picture, file)?;
            self.objects.delete(&key).await?;
            self.served.forget(&key);
        }
        Ok(())
    }

    /// Removes the files of an upload that did not become current; a failure leaves them to
    /// the log, since the request has failed already for its own reason.
    pub async fn discard(&self, owner: PictureOwner, picture: &StoredPicture) {
        if let Err(error) = self.remove(owner, picture).await {
            tracing::warn!(%error, upload = %picture.upload_id, "files of a failed upload were left");
        }
    }

    /// Makes `new` the current picture of the record at `record_key` (or none), committed
    /// with the event `announce(new, replaced)` makes, through `outbox`, on the condition
    /// that `owner_key` (the owner's own item) still exists. `Ok(None)` when the owner is
    /// gone. A change of the same picture committed meanwhile makes it read again and retry;
    /// removing a picture that is not there commits nothing.
    pub async fn change(
        &self,
        outbox: &Outbox,
        owner_key: Key,
        record_key: Key,
        new: Option<StoredPicture>,
        announce: impl Fn(Option<StoredPicture>, Option<StoredPicture>) -> Event,
    ) -> Result<Option<Changed>, PicturesError> {
        let store = outbox.store();
        for _ in 0..CHANGE_ATTEMPTS {
            let found = store
                .batch_get(&[owner_key.clone(), record_key.clone()])
                .await?;
            let [owner, record] = <[_; 2]>::try_from(found)
                .map_err(|_| PicturesError::Internal("a batch read lost an item".into()))?;
            if owner.is_none() {
                return Ok(None);
            }
            let held = record
                .map(|item| PictureRecord::from_item(&item))
                .transpose()?;
            let replaced = held.as_ref().and_then(|record| record.picture);
            if new.is_none() && replaced.is_none() {
                return Ok(Some(Changed { replaced: None }));
            }
            let event = Envelope::new(announce(new, replaced));
            let condition = PictureRecord::unchanged(held.as_ref());
            let writes = vec![
                Write::Check {
                    key: owner_key.clone(),
                    condition: Condition::Exists,
                },
                Write::Put {
                    item: PictureRecord {
                        picture: new,
                        version: event.id,
                    }
                    .to_item(record_key.clone())?,
                    condition,
                },
            ];
            match outbox.commit(writes, &[event]).await {
                Ok(()) => return Ok(Some(Changed { replaced })),
                // The owner went, or another change came first: read again.
                Err(StoreError::ConditionFailed { .. }) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(PicturesError::Contended)
    }

    /// Stores a decoded upload and makes it the current picture, as [`Pictures::change`]
    /// does; when that fails, or finds the owner gone (`Ok(None)`), the files are removed.
    pub async fn store_and_change(
        &self,
        outbox: &Outbox,
        owner: PictureOwner,
        keys: (Key, Key),
        processed: ProcessedPicture,
        announce: impl Fn(Option<StoredPicture>, Option<StoredPicture>) -> Event,
    ) -> Result<Option<StoredPicture>, PicturesError> {
        let (owner_key, record_key) = keys;
        let picture = self.store(owner, processed).await?;
        let changed = self
            .change(outbox, owner_key, record_key, Some(picture), announce)
            .await;
        match changed {
            Ok(Some(_)) => Ok(Some(picture)),
            other => {
                self.discard(owner, &picture).await;
                other.map(|_| None)
            }
        }
    }

    /// The answer to a `GET` of `file_name` of upload `upload` of `owner`, whose current
    /// picture the record at `record_key` in `store` names, with the request's `headers`
    /// (`If-None-Match`): the file while that upload is current, 404 otherwise.
    pub async fn serve_current(
        &self,
        store: &dyn Store,
        record_key: &Key,
        owner: PictureOwner,
        file: (&str, &str),
        headers: &HeaderMap,
    ) -> Result<axum::response::Response, PicturesError> {
        let current = store
            .get_record::<PictureRecord>(record_key)
            .await?
            .and_then(|record| record.picture);
        let (upload, file_name) = file;
        self.serve(owner, current.as_ref(), upload, file_name, headers)
            .await
    }

    /// The answer to a `GET` of `file_name` of upload `upload` of `owner`, whose current
    /// picture is `current`: the file when that upload is current, 404 otherwise.
    pub async fn serve(
        &self,
        owner: PictureOwner,
        current: Option<&StoredPicture>,
        upload: &str,
        file_name: &str,
        headers: &HeaderMap,
    ) -> Result<axum::response::Response, PicturesError> {
        let if_none_match = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|value| value.to_str().ok());
        let Some(picture) = current.filter(|p| p.upload_id.to_string() == upload) else {
            return Err(PicturesError::NotFound);
        };
        let file = PictureFile::named(file_name, picture).ok_or(PicturesError::NotFound)?;
        let key = object_key(owner, picture, file)?;
        self.served
            .answer(self.objects.as_ref(), &key, picture, file, if_none_match)
            .await
    }
}

fn object_key(
    owner: PictureOwner,
    picture: &StoredPicture,
    file: PictureFile,
) -> Result<ObjectKey, PicturesError> {
    Ok(ObjectKey::new(picture.object_key(owner, file))?)
}

fn image_type(stored: PictureType) -> ImageType {
    match stored {
        PictureType::Jpeg => ImageType::Jpeg,
        PictureType::Png => ImageType::Png,
        PictureType::WebP => ImageType::Webp,
    }
}
