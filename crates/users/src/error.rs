//! How the users service's commands and queries fail, in its own terms; the HTTP edge
//! (`crate::http`) turns each case into its problem+json once.

use platform::auth::AuthError;
use store::StoreError;

use crate::passwords::PasswordError;

/// Why a users service call failed.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    /// No user has that id (or it was deleted).
    #[error("no such user")]
    NotFound,
    /// The principal may not act as that user.
    #[error("{0}")]
    Forbidden(&'static str),
    /// Another user registered the e-mail address, in some letter case.
    #[error("that e-mail is already registered")]
    EmailTaken,
    /// No user has that e-mail, or the password is not theirs: the caller is not told which.
    #[error("wrong e-mail or password")]
    WrongCredentials,
    /// Too many failed logins; refused for this many more seconds.
    #[error("too many attempts; try again in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A token could not be issued.
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Passwords(#[from] PasswordError),
}
