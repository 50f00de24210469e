//! Turning an uploaded poster or photo into the pictures MovieBook stores: the checks a hostile
//! upload meets, the re-encoding that drops its metadata, and the thumbnail. No I/O: bytes in,
//! bytes out, so the movies and actors services share one set of rules and the tests need no
//! server.
//!
//! [`process_upload`] does, in order:
//! 1. the declared `Content-Type` must be JPEG, PNG or WebP ([`PictureError::Unsupported`]);
//! 2. the body must not start like another format ([`PictureError::WrongType`]);
//! 3. the declared format's decoder reads the header only, and each side must be 1..=8000 px
//!    ([`PictureError::BadSize`]) — a small file that claims 100,000×100,000 px is refused here,
//!    before any pixel buffer exists;
//! 4. the file must end where its format says it ends ([`PictureError::Undecodable`]): the
//!    decoders forgive a file cut short, an upload cut short is still a failed upload;
//! 5. the decoded size must fit [`MAX_DECODE_BYTES`] ([`PictureError::TooMuchMemory`]), and the
//!    decoder runs under `image::Limits` with that bound and the 8000 px one (the header was
//!    read under a 16 MiB bound, which caps what a PNG's embedded colour profile inflates to);
//! 6. the EXIF orientation is applied to the pixels (a phone photo would show sideways once its
//!    EXIF is gone), so `width` and `height` are the picture as shown; an animation keeps its
//!    first frame;
//! 7. the picture is re-encoded with no metadata at all: no EXIF, no XMP, no text chunks, no
//!    colour profile (pixels are taken as sRGB, so a wide-gamut photo shows a little less
//!    saturated); JPEG stays JPEG (quality 85), PNG stays PNG (bit depth kept), WebP see
//!    `stored_type`;
//! 8. the thumbnail is made once, here (see `thumbnail::resize`), in the stored type.
//!
//! Memory: the decoded picture (at most [`MAX_DECODE_BYTES`]) plus, for a turned photo, a turned
//! copy of it. Time, on one core of the build machine with the image crates optimised: a
//! 12-megapixel JPEG about one second, mostly the JPEG encoder. Callers in async code run
//! [`process_upload`] in `tokio::task::spawn_blocking` and bound how many run at once.

mod ending;
mod error;
mod thumbnail;

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits};
use sha2::{Digest, Sha256};

pub use error::PictureError;
pub use thumbnail::{THUMBNAIL_MAX_HEIGHT, THUMBNAIL_MAX_WIDTH, size as thumbnail_size};

/// The longest side, in pixels, a stored picture may have (API.md, "Pictures").
pub const MAX_SIDE: u32 = 8000;

/// The most memory a decoded picture may take: the largest accepted picture (8000×8000) at four
/// bytes a pixel (8-bit RGBA), plus room for the decoders' own working buffers. A 16-bit-per-channel
/// picture needs twice as much per pixel and is refused above about 32 megapixels.
pub const MAX_DECODE_BYTES: u64 = MAX_SIDE as u64 * MAX_SIDE as u64 * 4 + 64 * 1024 * 1024;

/// What reading a header may allocate. The PNG decoder inflates an embedded colour profile
/// (iCCP) while reading the header, and keeps this budget for its own row buffers afterwards; a
/// real profile is well under 1 MiB, a hostile one could inflate a thousandfold.
const MAX_HEADER_BYTES: u64 = 16 * 1024 * 1024;

/// The quality of the JPEGs MovieBook writes: visually lossless for photos at about a tenth of
/// the raw size.
const JPEG_QUALITY: u8 = 85;

/// The three picture formats MovieBook accepts and stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PictureType {
    Jpeg,
    Png,
    WebP,
}

impl PictureType {
    /// Reads a `Content-Type` header value: the media type, case-insensitive, parameters
    /// ignored (`image/png; charset=binary` is PNG).
    pub fn from_content_type(content_type: &str) -> Result<Self, PictureError> {
        let media_type = content_type.split(';').next().unwrap_or("").trim();
        if media_type.eq_ignore_ascii_case("image/jpeg") {
            Ok(Self::Jpeg)
        } else if media_type.eq_ignore_ascii_case("image/png") {
            Ok(Self::Png)
        } else if media_type.eq_ignore_ascii_case("image/webp") {
            Ok(Self::WebP)
        } else {
            Err(PictureError::Unsupported {
                content_type: content_type.to_owned(),
            })
        }
    }

    /// The media type, as served in `Content-Type` and reported as `content_type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::WebP => "image/webp",
        }
    }

    fn image_format(self) -> ImageFormat {
        match self {
            Self::Jpeg => ImageFormat::Jpeg,
            Self::Png => ImageFormat::Png,
            Self::WebP => ImageFormat::WebP,
        }
    }
}

impl std::fmt::Display for PictureType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.content_type())
    }
}

/// One encoded picture, ready to store and serve.
#[derive(Clone, PartialEq, Eq)]
pub struct EncodedPicture {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub content_type: PictureType,
    /// Lowercase hex SHA-256 of `bytes`: the same bytes always get the same hash, so it serves as
    /// the `ETag` and as the part of the URL that makes a new upload a new, immutable URL.
    pub content_hash: String,
}

/// Shows the bytes' length, not the bytes, which would fill a log or a test failure.
impl std::fmt::Debug for EncodedPicture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncodedPicture")
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .field("width", &self.width)
            .field("height", &self.height)
            .field("content_type", &self.content_type)
            .field("content_hash", &self.content_hash)
            .finish()
    }
}

/// What an accepted upload becomes: the full picture at its own pixel size, and its thumbnail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessedPicture {
    pub full: EncodedPicture,
    /// Fits inside [`THUMBNAIL_MAX_WIDTH`]×[`THUMBNAIL_MAX_HEIGHT`] with the full picture's
    /// aspect ratio; a picture that already fits is its own thumbnail (the same bytes).
    pub thumbnail: EncodedPicture,
}

/// Checks an upload declared as `content_type` and re-encodes it (see the module
/// documentation for the steps). Blocking CPU work: run it in `spawn_blocking`.
pub fn process_upload(content_type: &str, body: &[u8]) -> Result<ProcessedPicture, PictureError> {
    let declared = PictureType::from_content_type(content_type)?;
    refuse_other_format(declared, body)?;
    let image = decode(declared, body)?;
    let stored = stored_type(declared, &image, body);
    let full = encode(&image, stored)?;
    let thumbnail = match thumbnail::size(image.width(), image.height()) {
        None => full.clone(),
        Some((width, height)) => encode(&thumbnail::resize(&image, width, height), stored)?,
    };
    Ok(ProcessedPicture { full, thumbnail })
}

/// A body whose first bytes are another format's signature gets a message naming that format,
/// which tells a client far more than the declared decoder's complaint about a bad signature.
fn refuse_other_format(declared: PictureType, body: &[u8]) -> Result<(), PictureError> {
    match image::guess_format(body) {
        Ok(actual) if actual != declared.image_format() => Err(PictureError::WrongType {
            declared,
            actual: actual.to_mime_type(),
        }),
        _ => Ok(()),
    }
}

/// Decodes `body` as `declared`, checking the header's size before any pixel is decoded and
/// reserving the decoded size against the memory bound before the buffer is allocated.
fn decode(declared: PictureType, body: &[u8]) -> Result<DynamicImage, PictureError> {
    let undecodable = |error: ImageError| PictureError::Undecodable {
        declared,
        reason: error.to_string(),
    };
    // No size limit yet, so that an oversized header reaches our own check below and its
    // message names the size (the PNG decoder checks the limits it is built with while reading
    // the header, with a message that names no numbers).
    let mut header_limits = Limits::default();
    header_limits.max_alloc = Some(MAX_HEADER_BYTES);
    let mut reader = ImageReader::with_format(Cursor::new(body), declared.image_format());
    reader.limits(header_limits);
    let mut decoder = reader.into_decoder().map_err(undecodable)?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(PictureError::BadSize { width, height });
    }
    if !ending::is_complete(declared, body) {
        return Err(PictureError::Undecodable {
            declared,
            reason: "the file is cut short: it ends before its format's end".to_owned(),
        });
    }
    // A picture whose EXIF block is unreadable is shown as stored, as any viewer would.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);

    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    let pixel_bytes = decoder.total_bytes();
    if limits.reserve(pixel_bytes).is_err() {
        return Err(PictureError::TooMuchMemory {
            width,
            height,
            bytes_per_pixel: u64::from(decoder.color_type().bytes_per_pixel()),
        });
    }
    decoder.set_limits(limits).map_err(undecodable)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(undecodable)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// The format a picture is stored in. JPEG and PNG stay as they are. The `image` crate writes
/// WebP only losslessly, so a lossy WebP with no transparency (a photo) is stored as JPEG: a
/// lossless copy of a photo is several times the upload's size for no visible gain. A lossless
/// WebP, or one with transparency, stays WebP (lossless keeps exactly the uploaded pixels, and
/// JPEG would lose the transparency).
fn stored_type(declared: PictureType, image: &DynamicImage, body: &[u8]) -> PictureType {
    match declared {
        PictureType::WebP if !image.color().has_alpha() && webp_is_lossy(body) => PictureType::Jpeg,
        other => other,
    }
}

fn webp_is_lossy(body: &[u8]) -> bool {
    image_webp::WebPDecoder::new(Cursor::new(body)).is_ok_and(|mut decoder| decoder.is_lossy())
}

/// Encodes `image` as `stored` with no metadata: the encoders write only what they are given,
/// and they are given pixels alone.
fn encode(image: &DynamicImage, stored: PictureType) -> Result<EncodedPicture, PictureError> {
    let failed = |error: ImageError| PictureError::Encoding {
        stored,
        reason: error.to_string(),
    };
    let mut bytes = Vec::new();
    match stored {
        PictureType::Jpeg => {
            // JPEG has no alpha and 8 bits a channel: keep grey pictures grey, the rest RGB.
            // Pictures already in those layouts (every decoded JPEG) are not copied.
            let encoder = JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY);
            match image {
                DynamicImage::ImageRgb8(_) | DynamicImage::ImageLuma8(_) => {
                    image.write_with_encoder(encoder)
                }
                _ if image.color().has_color() => {
                    DynamicImage::ImageRgb8(image.to_rgb8()).write_with_encoder(encoder)
                }
                _ => DynamicImage::ImageLuma8(image.to_luma8()).write_with_encoder(encoder),
            }
            .map_err(failed)?;
        }
        PictureType::Png => {
            // PNG takes every layout the PNG decoder produces, 16-bit ones included.
            image
                .write_with_encoder(PngEncoder::new(&mut bytes))
                .map_err(failed)?;
        }
        PictureType::WebP => {
            // The WebP encoder takes 8-bit RGB(A); the WebP decoder produces nothing else.
            let encoder = WebPEncoder::new_lossless(&mut bytes);
            match image {
                DynamicImage::ImageRgb8(_) | DynamicImage::ImageRgba8(_) => {
                    image.write_with_encoder(encoder)
                }
                _ if image.color().has_alpha() => {
                    DynamicImage::ImageRgba8(image.to_rgba8()).write_with_encoder(encoder)
                }
                _ => DynamicImage::ImageRgb8(image.to_rgb8()).write_with_encoder(encoder),
            }
            .map_err(failed)?;
        }
    }
    let content_hash = hex(&Sha256::digest(&bytes));
    Ok(EncodedPicture {
        bytes,
        width: image.width(),
        height: image.height(),
        content_type: stored,
        content_hash,
    })
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut text, byte| {
            // Writing to a String cannot fail.
            let _ = write!(text, "{byte:02x}");
            text
        })
}

#[cfg(test)]
mod tests;
