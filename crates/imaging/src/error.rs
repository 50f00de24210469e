//! Why an upload is refused. Each variant names the rule it broke, in words a client can act
//! on; the HTTP layer maps the variants to statuses once (see each variant).

use crate::{MAX_DECODE_BYTES, MAX_SIDE, PictureType};

/// An upload that cannot become a stored picture.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PictureError {
    /// The declared content type is not one MovieBook stores (HTTP 415).
    #[error("a picture must be sent as image/jpeg, image/png or image/webp, not `{content_type}`")]
    Unsupported { content_type: String },

    /// The body is recognisably another image format than the declared one (HTTP 422).
    #[error("the body is {actual} data, not {declared} as its Content-Type says")]
    WrongType {
        declared: PictureType,
        actual: &'static str,
    },

    /// The body does not decode as the declared type: corrupt, cut short or not an image
    /// (HTTP 422).
    #[error("the body is not a valid {declared} image: {reason}")]
    Undecodable {
        declared: PictureType,
        reason: String,
    },

    /// A side is 0 or over [`MAX_SIDE`] pixels, as read from the header (HTTP 422).
    #[error("the picture is {width}×{height} px; each side must be between 1 and {MAX_SIDE} px")]
    BadSize { width: u32, height: u32 },

    /// Decoding would need more memory than an upload may use, which only a deep colour
    /// (16 bits per channel) picture near the size limit reaches (HTTP 422).
    #[error(
        "the picture is {width}×{height} px at {bytes_per_pixel} bytes a pixel, more than the \
         {} MiB a picture may take once decoded",
        MAX_DECODE_BYTES / (1024 * 1024)
    )]
    TooMuchMemory {
        width: u32,
        height: u32,
        bytes_per_pixel: u64,
    },

    /// Writing the re-encoded picture failed. The encoders are only given pixel layouts they
    /// accept, so this is a fault of MovieBook, not of the upload (HTTP 500).
    #[error("re-encoding the picture as {stored} failed: {reason}")]
    Encoding { stored: PictureType, reason: String },
}
