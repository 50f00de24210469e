//! Which upload of a picture is current, stored in its owner's partition.

use domain::picture::StoredPicture;
use serde::{Deserialize, Serialize};
use store::Record;
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
pub(crate) const VERSION: &str = "version";

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
