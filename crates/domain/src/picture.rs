//! Posters and photos as records, events and responses carry them. A stored picture is one
//! upload: its id names its two files (the picture and its thumbnail) in object storage and
//! in their URLs, so a new upload always has new URLs and a URL's bytes never change (which
//! is what lets them be cached for a year). The bytes themselves are the `imaging` crate's
//! business; here are only the facts and the names.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The formats a picture is stored in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ImageType {
    #[serde(rename = "image/jpeg")]
    Jpeg,
    #[serde(rename = "image/png")]
    Png,
    #[serde(rename = "image/webp")]
    Webp,
}

impl ImageType {
    /// The media type, served as `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            ImageType::Jpeg => "image/jpeg",
            ImageType::Png => "image/png",
            ImageType::Webp => "image/webp",
        }
    }

    /// The file name extension of the type.
    pub fn extension(self) -> &'static str {
        match self {
            ImageType::Jpeg => "jpg",
            ImageType::Png => "png",
            ImageType::Webp => "webp",
        }
    }
}

/// One stored upload of a poster or photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPicture {
    /// Names the upload's files; a UUID v7, so later uploads have larger ids.
    pub upload_id: Uuid,
    pub image_type: ImageType,
    /// The stored picture's size in pixels (the uploaded size, after EXIF orientation).
    pub width: u32,
    pub height: u32,
}

/// Whose picture: a movie's poster or an actor's photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PictureOwner {
    Movie(Uuid),
    Actor(Uuid),
}

/// The two files of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PictureFile {
    /// The picture at its stored size.
    Image,
    /// The picture fitted inside 342×513 px.
    Thumbnail,
}

impl PictureFile {
    /// Both files.
    pub const BOTH: [PictureFile; 2] = [PictureFile::Image, PictureFile::Thumbnail];

    fn stem(self) -> &'static str {
        match self {
            PictureFile::Image => "image",
            PictureFile::Thumbnail => "thumb",
        }
    }

    /// The file a URL's last segment names for `picture` (`image.jpg`, `thumb.jpg`); `None`
    /// for any other name, including the other type's extension.
    pub fn named(name: &str, picture: &StoredPicture) -> Option<PictureFile> {
        PictureFile::BOTH
            .into_iter()
            .find(|file| file.file_name(picture.image_type) == name)
    }

    fn file_name(self, image_type: ImageType) -> String {
        format!("{}.{}", self.stem(), image_type.extension())
    }
}

impl PictureOwner {
    /// The folder of every object of this owner: `movies/{id}` or `actors/{id}`.
    fn object_folder(self) -> String {
        match self {
            PictureOwner::Movie(id) => format!("movies/{id}"),
            PictureOwner::Actor(id) => format!("actors/{id}"),
        }
    }

    /// Where this owner's picture is uploaded and its files are served under.
    pub fn route(self) -> String {
        match self {
            PictureOwner::Movie(id) => format!("/api/v1/movies/{id}/poster"),
            PictureOwner::Actor(id) => format!("/api/v1/actors/{id}/photo"),
        }
    }
}

impl StoredPicture {
    /// The object key of one file (docs/data-model.md, "Objects"):
    /// `movies/{movie}/{upload}/image.jpg` and so on.
    pub fn object_key(&self, owner: PictureOwner, file: PictureFile) -> String {
        format!(
            "{}/{}/{}",
            owner.object_folder(),
            self.upload_id,
            file.file_name(self.image_type)
        )
    }

    /// The absolute path one file is served at:
    /// `/api/v1/movies/{movie}/poster/{upload}/image.jpg` and so on.
    pub fn url(&self, owner: PictureOwner, file: PictureFile) -> String {
        format!(
            "{}/{}/{}",
            owner.route(),
            self.upload_id,
            file.file_name(self.image_type)
        )
    }

    /// The picture as responses show it.
    pub fn view(&self, owner: PictureOwner) -> PictureView {
        PictureView {
            url: self.url(owner, PictureFile::Image),
            thumbnail_url: self.url(owner, PictureFile::Thumbnail),
            width: self.width,
            height: self.height,
        }
    }
}

/// A poster or photo in a response: `{url, thumbnail_url, width, height}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PictureView {
    /// Serves the stored picture (an absolute path on this server).
    pub url: String,
    /// Serves the thumbnail, which fits inside 342×513 px.
    pub thumbnail_url: String,
    pub width: u32,
    pub height: u32,
}

/// An image's bytes as the OpenAPI document describes an upload's body and a served file: a
/// binary string (the bytes are read and written raw, never as this type).
pub struct PictureBytes;

impl utoipa::PartialSchema for PictureBytes {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl utoipa::ToSchema for PictureBytes {}

/// The answer to an upload: the picture with its stored type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UploadedPicture {
    #[serde(flatten)]
    pub picture: PictureView,
    /// `image/jpeg`, `image/png` or `image/webp`.
    pub content_type: String,
}

impl UploadedPicture {
    /// The answer to the upload of `picture` for `owner`.
    pub fn of(picture: &StoredPicture, owner: PictureOwner) -> Self {
        UploadedPicture {
            picture: picture.view(owner),
            content_type: picture.image_type.content_type().to_owned(),
        }
    }
}

/// Whether a picture change recorded by event `version` is newer than what a copy holds
/// (`None`: the copy has seen no change yet). Event ids are UUID v7, so their order is the
/// order the changes were committed in, up to the clock; consumers that may see changes out
/// of order keep the newest.
pub fn is_newer(version: Uuid, held: Option<Uuid>) -> bool {
    held.is_none_or(|held| version > held)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(image_type: ImageType) -> StoredPicture {
        StoredPicture {
            upload_id: Uuid::parse_str("0190a000-0000-7000-8000-000000000001").unwrap(),
            image_type,
            width: 800,
            height: 1200,
        }
    }

    #[test]
    fn files_are_named_by_owner_upload_and_type() {
        let movie = Uuid::parse_str("0190a000-0000-7000-8000-0000000000aa").unwrap();
        let poster = picture(ImageType::Png);
        let owner = PictureOwner::Movie(movie);
        assert_eq!(
            poster.object_key(owner, PictureFile::Thumbnail),
            format!("movies/{movie}/{}/thumb.png", poster.upload_id)
        );
        assert_eq!(
            poster.view(owner),
            PictureView {
                url: format!(
                    "/api/v1/movies/{movie}/poster/{}/image.png",
                    poster.upload_id
                ),
                thumbnail_url: format!(
                    "/api/v1/movies/{movie}/poster/{}/thumb.png",
                    poster.upload_id
                ),
                width: 800,
                height: 1200,
            }
        );
        let photo = picture(ImageType::Webp);
        assert_eq!(
            photo.url(PictureOwner::Actor(movie), PictureFile::Image),
            format!(
                "/api/v1/actors/{movie}/photo/{}/image.webp",
                photo.upload_id
            )
        );
    }

    #[test]
    fn only_the_pictures_own_file_names_name_a_file() {
        let jpeg = picture(ImageType::Jpeg);
        assert_eq!(
            PictureFile::named("image.jpg", &jpeg),
            Some(PictureFile::Image)
        );
        assert_eq!(
            PictureFile::named("thumb.jpg", &jpeg),
            Some(PictureFile::Thumbnail)
        );
        assert_eq!(PictureFile::named("image.png", &jpeg), None);
        assert_eq!(PictureFile::named("image.jpeg", &jpeg), None);
        assert_eq!(PictureFile::named("", &jpeg), None);
    }

    #[test]
    fn a_stored_picture_keeps_its_attribute_names() {
        let stored = serde_json::to_value(picture(ImageType::Jpeg)).unwrap();
        assert_eq!(
            stored,
            serde_json::json!({
                "upload_id": "0190a000-0000-7000-8000-000000000001",
                "image_type": "image/jpeg", "width": 800, "height": 1200,
            })
        );
    }

    #[test]
    fn a_later_change_is_newer_than_what_a_copy_holds() {
        let first = Uuid::now_v7();
        let second = Uuid::now_v7();
        assert!(is_newer(first, None));
        assert!(is_newer(second, Some(first)));
        assert!(!is_newer(first, Some(second)));
        assert!(!is_newer(first, Some(first)));
    }
}
