//! The user and auth endpoints of API.md: `POST /users`, `GET|PATCH|DELETE /users/{id}`,
//! `POST /auth/token`. Handlers only read the request and call [`UsersService`]; this is
//! also the one place where a [`UsersError`] becomes a problem+json.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRef, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use domain::{Credentials, NewUser, Rename};
use platform::ApiError;
use platform::auth::{Authenticator, Principal, Viewer};
use platform::client_address::ClientAddressing;
use platform::http::JsonBody;
use platform::problem::Problem;
use utoipa::OpenApi;
use uuid::Uuid;

use crate::{PasswordError, TokenHolder, TokenResponse, UserView, UsersError, UsersService};

/// What the user handlers share.
#[derive(Clone)]
pub struct UsersApi {
    /// What every handler calls.
    pub service: UsersService,
    /// Reads the bearer token of the routes that need one.
    pub auth: Arc<Authenticator>,
    /// Who the client is: what logins are throttled per.
    pub addressing: Arc<ClientAddressing>,
}

impl FromRef<UsersApi> for Arc<Authenticator> {
    fn from_ref(api: &UsersApi) -> Self {
        api.auth.clone()
    }
}

/// The user and auth routes.
pub fn router(api: UsersApi) -> Router {
    Router::new()
        .route("/api/v1/users", post(sign_up))
        .route(
            "/api/v1/users/{id}",
            get(get_user).patch(rename_user).delete(delete_user),
        )
        .route("/api/v1/auth/token", post(log_in))
        .route("/api/v1/auth/me", get(token_holder))
        .with_state(api)
}

/// The user part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(sign_up, get_user, rename_user, delete_user, log_in, token_holder),
    components(schemas(UserView, TokenResponse, TokenHolder, NewUser, Credentials, Rename))
)]
pub struct UsersDoc;

impl From<UsersError> for ApiError {
    fn from(error: UsersError) -> Self {
        match error {
            UsersError::NotFound => ApiError::NotFound("no such user"),
            UsersError::Forbidden(why) => ApiError::Forbidden(why),
            UsersError::EmailTaken => ApiError::Conflict("that e-mail is already registered"),
            UsersError::WrongCredentials => ApiError::Unauthenticated("wrong e-mail or password"),
            UsersError::Throttled { retry_after_secs } => {
                ApiError::TooManyRequests { retry_after_secs }
            }
            UsersError::Store(error) => error.into(),
            UsersError::Auth(error) => error.into(),
            UsersError::Passwords(PasswordError::Busy) => ApiError::Overloaded,
            UsersError::Passwords(PasswordError::Failed(error)) => ApiError::Internal(error),
        }
    }
}

/// A user id from the path; text that is no id names no user.
fn user_id(text: &str) -> Result<Uuid, UsersError> {
    domain::ids::parse_id(text).ok_or(UsersError::NotFound)
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = UserView), (status = 409, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)))]
async fn sign_up(
    State(api): State<UsersApi>,
    JsonBody(user): JsonBody<NewUser>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    Ok((StatusCode::CREATED, Json(api.service.sign_up(user).await?)))
}

#[utoipa::path(post, path = "/api/v1/auth/token", tag = "users", request_body = Credentials,
    responses((status = 200, body = TokenResponse), (status = 401, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
async fn log_in(
    State(api): State<UsersApi>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    JsonBody(credentials): JsonBody<Credentials>,
) -> Result<Json<TokenResponse>, ApiError> {
    let client = api.addressing.client(peer.ip(), &headers);
    Ok(Json(api.service.log_in(credentials, client).await?))
}

#[utoipa::path(get, path = "/api/v1/auth/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = TokenHolder), (status = 401, body = Problem), (status = 503, body = Problem)))]
async fn token_holder(principal: Principal) -> Json<TokenHolder> {
    Json(principal.into())
}

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = Uuid, Path)),
    responses((status = 200, body = UserView), (status = 404, body = Problem)))]
async fn get_user(
    State(api): State<UsersApi>,
    Viewer(viewer): Viewer,
    Path(id): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(api.service.get(&user_id(&id)?, viewer).await?))
}

#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", params(("id" = Uuid, Path)), request_body = Rename,
    security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn rename_user(
    State(api): State<UsersApi>,
    principal: Principal,
    Path(id): Path<String>,
    JsonBody(rename): JsonBody<Rename>,
) -> Result<Json<UserView>, ApiError> {
    let id = user_id(&id)?;
    Ok(Json(api.service.rename(&id, principal, rename.name).await?))
}

#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn delete_user(
    State(api): State<UsersApi>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    api.service.delete(&user_id(&id)?, principal).await?;
    Ok(StatusCode::NO_CONTENT)
}
