//! What the users service answers with: a user's page and a login's token. These are the
//! response bodies of the user endpoints as the OpenAPI document describes them.

use projector::reviews::UserReview;
use serde::Serialize;
use uuid::Uuid;

use crate::record::UserRecord;

/// A user's page. `email` is shown to that user and the admin only.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub created_at: String,
    /// The user's reviews, most recently written first (at most 100).
    pub reviews: Vec<UserReview>,
}

impl UserView {
    /// The page of a stored user, with the e-mail only when `show_email`.
    pub(crate) fn of(user: UserRecord, show_email: bool, reviews: Vec<UserReview>) -> Self {
        UserView {
            id: user.id,
            name: user.name,
            email: show_email.then_some(user.email),
            created_at: domain::timestamp::to_rfc3339(user.created_at),
            reviews,
        }
    }
}

/// The answer to a successful login.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub user_id: Uuid,
}

/// Who a bearer token makes its request: the answer to `GET /auth/me`, which lets a client
/// (the web site's admin log-in) check a token without changing anything.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenHolder {
    /// `admin` or `user`.
    pub role: &'static str,
    /// The user, for a user token.
    pub user_id: Option<Uuid>,
}

impl From<platform::auth::Principal> for TokenHolder {
    fn from(principal: platform::auth::Principal) -> Self {
        match principal {
            platform::auth::Principal::Admin => TokenHolder {
                role: "admin",
                user_id: None,
            },
            platform::auth::Principal::User(id) => TokenHolder {
                role: "user",
                user_id: Some(id),
            },
        }
    }
}
