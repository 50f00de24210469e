//! Who is asking: the admin (bearing the configured admin token) or a user (bearing a
//! signed JWT whose user still exists). Reads are public; writes extract a [`Principal`].

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use store::{Condition, Write};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::ApiError;
use crate::directory::{DirectoryError, UserDirectory};

/// Why a request's principal was refused, or a token could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AuthError {
    /// No valid token where one is required.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// A valid token without the right.
    #[error("{0}")]
    Forbidden(&'static str),
    /// Whether the token's user exists could not be learnt.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error("signing a token: {0}")]
    Signing(String),
}

/// The bearer of a valid token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    Admin,
    User(Uuid),
}

impl Principal {
    /// True for the admin and for the user `id` itself.
    pub fn may_act_as(self, id: Uuid) -> bool {
        match self {
            Principal::Admin => true,
            Principal::User(user) => user == id,
        }
    }

    /// Refuses anyone but the admin.
    pub fn require_admin(self) -> Result<(), AuthError> {
        match self {
            Principal::Admin => Ok(()),
            Principal::User(_) => Err(AuthError::Forbidden("only the admin may do this")),
        }
    }
}

/// A freshly issued user token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    iat: u64,
    exp: u64,
}

/// Checks bearer tokens and issues user tokens.
pub struct Authenticator {
    admin_token: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    token_lifetime: Duration,
    users: Arc<dyn UserDirectory>,
}

impl Authenticator {
    /// `jwt_secret` signs user tokens (HS256); `users` tells whether a token's user still exists.
    pub fn new(
        admin_token: String,
        jwt_secret: &[u8],
        token_lifetime: Duration,
        users: Arc<dyn UserDirectory>,
    ) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Authenticator {
            admin_token,
            encoding: EncodingKey::from_secret(jwt_secret),
            decoding: DecodingKey::from_secret(jwt_secret),
            validation,
            token_lifetime,
            users,
        }
    }

    /// A signed token for the user, valid for the configured lifetime.
    pub fn issue(&self, user_id: Uuid) -> Result<IssuedToken, AuthError> {
        let now = unix_now();
        let lifetime = self.token_lifetime.as_secs();
        let claims = Claims {
            sub: user_id,
            iat: now,
            exp: now + lifetime,
        };
        let access_token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
                .map_err(|e| AuthError::Signing(e.to_string()))?;
        Ok(IssuedToken {
            access_token,
            expires_in: lifetime,
        })
    }

    /// The principal of an `Authorization` header value; 401 for anything that is not a
    /// valid admin token or a valid token of an existing user.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        let claimed = self.claimed(authorization)?;
        self.still_exists(claimed).await?;
        Ok(claimed.0)
    }

    /// Whether the token's user exists: checked on every use of a [`Principal`], since a
    /// deleted user's tokens stop working at once; for a [`Claimed`] one, where its answer
    /// does not depend on its write's check (a 404 is no answer to a deleted user's token).
    pub async fn still_exists(&self, claimed: Claimed) -> Result<(), AuthError> {
        match claimed.0 {
            Principal::Admin => Ok(()),
            Principal::User(id) => match self.users.user(id).await? {
                Some(_) => Ok(()),
                None => Err(AuthError::Unauthenticated(
                    "the token's user no longer exists",
                )),
            },
        }
    }

    /// The principal a valid token names, its user not looked up.
    fn claimed(&self, authorization: Option<&str>) -> Result<Claimed, AuthError> {
        let token = authorization
            .and_then(|value| {
                value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::Unauthenticated("a bearer token is required"))?;
        if bool::from(token.as_bytes().ct_eq(self.admin_token.as_bytes())) {
            return Ok(Claimed(Principal::Admin));
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| {
                AuthError::Unauthenticated("the token is malformed, expired or badly signed")
            })?
            .claims;
        Ok(Claimed(Principal::User(claims.sub)))
    }
}

/// The request's `Authorization` header, if it is text.
fn authorization(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl<S> FromRequestParts<S> for Principal
where
    Arc<Authenticator>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let authenticator = Arc::<Authenticator>::from_ref(state);
        Ok(authenticator.authenticate(authorization(parts)).await?)
    }
}

/// The bearer of a valid token whose user is not looked up: for a write that checks, in its
/// own transaction, that the user still exists ([`Claimed::user_exists`]). A deleted user's
/// token then fails exactly as the deletion commits, and the write saves the lookup a
/// [`Principal`] costs (one store request on the hottest write, the review).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claimed(pub Principal);

impl Claimed {
    /// The check a write by this principal carries: that its user's record exists (none for
    /// the admin).
    pub fn user_exists(&self) -> Option<Write> {
        match self.0 {
            Principal::Admin => None,
            Principal::User(id) => Some(Write::Check {
                key: crate::directory::user_record_key(&id),
                condition: Condition::Exists,
            }),
        }
    }
}

impl<S> FromRequestParts<S> for Claimed
where
    Arc<Authenticator>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let authenticator = Arc::<Authenticator>::from_ref(state);
        Ok(authenticator.claimed(authorization(parts))?)
    }
}

/// The admin: a request that only the admin may make is refused (401, 403) before its body
/// is read.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl<S> FromRequestParts<S> for Admin
where
    Arc<Authenticator>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Principal::from_request_parts(parts, state)
            .await?
            .require_admin()?;
        Ok(Admin)
    }
}

/// The principal of a public read: a valid token changes what is shown (an e-mail),
/// anything else reads as anonymous.
#[derive(Debug, Clone, Copy)]
pub struct Viewer(pub Option<Principal>);

impl<S> FromRequestParts<S> for Viewer
where
    Arc<Authenticator>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let authenticator = Arc::<Authenticator>::from_ref(state);
        let Some(header) = authorization(parts) else {
            return Ok(Viewer(None));
        };
        match authenticator.authenticate(Some(header)).await {
            Ok(principal) => Ok(Viewer(Some(principal))),
            Err(AuthError::Directory(DirectoryError::Unavailable(reason))) => {
                Err(DirectoryError::Unavailable(reason).into())
            }
            Err(_) => Ok(Viewer(None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::UserProfile;
    use async_trait::async_trait;

    struct OnlyUser(Uuid);

    #[async_trait]
    impl UserDirectory for OnlyUser {
        async fn user(&self, id: Uuid) -> Result<Option<UserProfile>, DirectoryError> {
            Ok((id == self.0).then(|| UserProfile {
                id,
                name: "Ann".into(),
            }))
        }
    }

    fn authenticator(user: Uuid) -> Authenticator {
        Authenticator::new(
            "admin-secret".into(),
            b"jwt-secret",
            Duration::from_secs(60),
            Arc::new(OnlyUser(user)),
        )
    }

    #[tokio::test]
    async fn tells_admin_users_and_strangers_apart() {
        let user = Uuid::now_v7();
        let auth = authenticator(user);
        assert_eq!(
            auth.authenticate(Some("Bearer admin-secret"))
                .await
                .unwrap(),
            Principal::Admin
        );
        let token = auth.issue(user).unwrap().access_token;
        assert_eq!(
            auth.authenticate(Some(&format!("Bearer {token}")))
                .await
                .unwrap(),
            Principal::User(user)
        );
        assert!(auth.authenticate(None).await.is_err());
        assert!(
            auth.authenticate(Some("Bearer admin-secreT"))
                .await
                .is_err()
        );
        assert!(
            auth.authenticate(Some(&format!("Bearer {token}x")))
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn tokens_of_missing_users_and_other_keys_are_refused() {
        let user = Uuid::now_v7();
        let other = authenticator(Uuid::now_v7());
        let token = other.issue(user).unwrap().access_token;
        assert!(
            other
                .authenticate(Some(&format!("Bearer {token}")))
                .await
                .is_err(),
            "user does not exist"
        );
        let foreign = Authenticator::new(
            "a".into(),
            b"another key",
            Duration::from_secs(60),
            Arc::new(OnlyUser(user)),
        );
        let forged = foreign.issue(user).unwrap().access_token;
        assert!(
            authenticator(user)
                .authenticate(Some(&format!("Bearer {forged}")))
                .await
                .is_err()
        );
    }
}
