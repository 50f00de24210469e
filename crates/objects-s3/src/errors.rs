//! How S3's answers become the port's errors. The port's callers have already checked keys and
//! content types, so whatever S3 still refuses or fails (a missing bucket, no permission, a
//! timeout, a dropped connection, a server error past the SDK's retries) means the store cannot
//! work right now: [`ObjectError::Unavailable`], with S3's code and message, or the chain of
//! causes, for the log.

use std::error::Error;

use aws_client::causes;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use objects::ObjectError;

/// The port's error for a failed call.
pub(crate) fn unavailable<E, R>(operation: &str, err: SdkError<E, R>) -> ObjectError
where
    E: ProvideErrorMetadata + Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let reason = match err.as_service_error() {
        // The code and S3's message say it all; the SDK's report adds the raw response.
        Some(service) => format!(
            "{}: {}",
            service.code().unwrap_or("unknown error"),
            service.message().unwrap_or("no message")
        ),
        None => causes(&err),
    };
    ObjectError::Unavailable(format!("S3 {operation}: {reason}"))
}
