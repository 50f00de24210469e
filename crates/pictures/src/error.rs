//! How a picture call fails, and the one place it becomes problem+json.

use imaging::PictureError;
use objects::ObjectError;
use platform::ApiError;
use store::StoreError;

/// Why a picture call failed.
#[derive(Debug, thiserror::Error)]
pub enum PicturesError {
    /// The upload is refused by a rule of API.md (415 or 422, see [`PictureError`]).
    #[error(transparent)]
    Refused(#[from] PictureError),
    /// No such file is served (any more).
    #[error("no such picture")]
    NotFound,
    /// Every decoding turn stayed taken while the upload waited.
    #[error("too many uploads are being processed")]
    Busy,
    /// Other changes of the same picture kept coming first.
    #[error("the picture kept changing; try again")]
    Contended,
    #[error(transparent)]
    Objects(#[from] ObjectError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

impl PicturesError {
    /// Whether the same call may succeed later: an outage, or contention that passes.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            PicturesError::Busy
                | PicturesError::Contended
                | PicturesError::Objects(ObjectError::Unavailable(_))
                | PicturesError::Store(StoreError::Unavailable(_))
        )
    }
}

impl From<PicturesError> for ApiError {
    fn from(error: PicturesError) -> Self {
        match error {
            PicturesError::Refused(refused) => match refused {
                PictureError::Unsupported { .. } => {
                    ApiError::UnsupportedMediaType(refused.to_string())
                }
                PictureError::WrongType { .. }
                | PictureError::Undecodable { .. }
                | PictureError::BadSize { .. }
                | PictureError::TooMuchMemory { .. } => {
                    ApiError::invalid("body", refused.to_string())
                }
                PictureError::Encoding { .. } => ApiError::Internal(refused.to_string()),
            },
            PicturesError::NotFound => ApiError::NotFound("no such picture"),
            PicturesError::Busy | PicturesError::Contended => ApiError::Overloaded,
            PicturesError::Objects(ObjectError::Unavailable(cause)) => {
                ApiError::unavailable("the picture storage is unavailable", cause)
            }
            PicturesError::Objects(ObjectError::Invalid(cause)) => ApiError::Internal(cause),
            PicturesError::Store(error) => error.into(),
            PicturesError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}
