//! Which upload of a picture is current, stored in its owner's partition.

use domain::picture::StoredPicture;
use platform::audit::{self, Finding, Stored};
use serde::{Deserialize, Serialize};
use store::{Condition, Key, Record, Store, StoreError, StoreExt, Write};
use uuid::Uuid;

/// A movie's poster (`movie#{id}` / `poster`) or an actor's photo (`actor#{id}` / `photo`),
/// or a copy of one kept by another service: the picture and the id of the event of the
/// change that set it, which orders changes and conditions the next one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PictureRecord {
    /// `None` once the picture is deleted.
    pub picture: Option<StoredPicture>,
    pub version: Uuid,
}

impl Record for PictureRecord {
    const KIND: &'static str = "picture";
}

/// The attribute [`PictureRecord::version`] is stored in.
const VERSION: &str = "version";

/// The picture a stored picture record at `key` names, for `moviebook verify`: `None`
/// without a record; a record that does not decode is a finding of `view` (and no picture).
pub fn audited_picture(
    stored: &Stored,
    view: &'static str,
    key: &Key,
    unreadable: &mut Vec<Finding>,
) -> Option<StoredPicture> {
    match stored.get(key).map(PictureRecord::from_attrs)? {
        Ok(record) => record.picture,
        Err(error) => {
            unreadable.push(audit::unreadable(view, key, error));
            None
        }
    }
}

/// How many times a copy is written again when another change came in between.
const COPY_ATTEMPTS: usize = 3;

impl PictureRecord {
    /// The condition of a write replacing `held` (what was read; `None` when nothing was):
    /// that the record is still what was read.
    pub fn unchanged(held: Option<&PictureRecord>) -> Condition {
        match held {
            Some(held) => Condition::AttrEquals(
                VERSION.into(),
                serde_json::Value::String(held.version.to_string()),
            ),
            None => Condition::AttrAbsent(VERSION.into()),
        }
    }

    /// Keeps a copy of a picture at `key` (another service's, kept from its events) at the
    /// change of event `version`: a change older than the copy's (a redelivery, or a late
    /// one) leaves it as it is.
    pub async fn keep_copy(
        store: &dyn Store,
        key: Key,
        picture: Option<StoredPicture>,
        version: Uuid,
    ) -> Result<(), StoreError> {
        let mut attempts = 0;
        loop {
            let held = store.get_record::<PictureRecord>(&key).await?;
            if !domain::picture::is_newer(version, held.as_ref().map(|held| held.version)) {
                return Ok(());
            }
            let copy = PictureRecord { picture, version };
            let write = Write::Put {
                item: copy.to_item(key.clone())?,
                condition: PictureRecord::unchanged(held.as_ref()),
            };
            match store.write(write).await {
                Err(StoreError::ConditionFailed { .. }) if attempts + 1 < COPY_ATTEMPTS => {
                    attempts += 1;
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use domain::picture::ImageType;
    use serde_json::json;
    use store::Key;

    use super::*;

    #[test]
    fn a_picture_record_keeps_its_attribute_names() {
        let record = PictureRecord {
            picture: Some(StoredPicture {
                upload_id: Uuid::nil(),
                image_type: ImageType::Png,
                width: 3,
                height: 4,
            }),
            version: Uuid::max(),
        };
        let item = record.to_item(Key::new("movie#m", "poster")).unwrap();
        assert_eq!(
            serde_json::Value::Object(item.attrs.clone()),
            json!({
                "picture": {"upload_id": Uuid::nil(), "image_type": "image/png", "width": 3, "height": 4},
                VERSION: Uuid::max(),
            })
        );
        assert_eq!(PictureRecord::from_item(&item).unwrap(), record);
    }
}
