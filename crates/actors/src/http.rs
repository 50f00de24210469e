//! The actor endpoints of API.md: `POST /actors`, `GET /actors`, `GET /actors/{id}`.
//! Handlers only read the request and call [`ActorsService`]; this is also the one place
//! where an [`ActorsError`] becomes a problem+json.

use std::sync::Arc;

use axum::extract::{FromRef, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, put};
use axum::{Json, Router};
use domain::NewActor;
use domain::picture::{PictureBytes, UploadedPicture};
use platform::ApiError;
use platform::auth::{Admin, Authenticator};
use platform::http::{JsonBody, PictureBody, Query};
use platform::pagination::PageOf;
use platform::problem::Problem;
use projector::actors_list::ActorListing;
use projector::searchable_list::SearchableListQuery;
use utoipa::OpenApi;
use uuid::Uuid;

use crate::{ActorView, ActorsError, ActorsService};

/// What the actor handlers share.
#[derive(Clone)]
pub struct ActorsApi {
    /// What every handler calls.
    pub service: ActorsService,
    /// Reads the admin token of `POST /actors`.
    pub auth: Arc<Authenticator>,
}

impl FromRef<ActorsApi> for Arc<Authenticator> {
    fn from_ref(api: &ActorsApi) -> Self {
        api.auth.clone()
    }
}

/// The actor routes.
pub fn router(api: ActorsApi) -> Router {
    Router::new()
        .route("/api/v1/actors", get(list_actors).post(create_actor))
        .route("/api/v1/actors/{id}", get(get_actor))
        .route(
            "/api/v1/actors/{id}/photo",
            put(set_photo).delete(delete_photo),
        )
        .route("/api/v1/actors/{id}/photo/{upload}/{file}", get(photo_file))
        .with_state(api)
}

/// The actor part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(
        create_actor,
        list_actors,
        get_actor,
        set_photo,
        delete_photo,
        photo_file
    ),
    components(schemas(ActorView, ActorListing, NewActor, PictureBytes))
)]
pub struct ActorsDoc;

impl From<ActorsError> for ApiError {
    fn from(error: ActorsError) -> Self {
        match error {
            ActorsError::NotFound => ApiError::NotFound("no such actor"),
            ActorsError::Store(error) => error.into(),
            ActorsError::Search(error) => error.into(),
            ActorsError::Pictures(error) => error.into(),
        }
    }
}

/// An actor id from the path; text that is no id names no actor.
fn actor_id(text: &str) -> Result<Uuid, ActorsError> {
    domain::ids::parse_id(text).ok_or(ActorsError::NotFound)
}

#[utoipa::path(post, path = "/api/v1/actors", tag = "actors", request_body = NewActor,
    security(("bearer" = [])),
    responses((status = 201, body = ActorView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_actor(
    State(api): State<ActorsApi>,
    _: Admin,
    JsonBody(actor): JsonBody<NewActor>,
) -> Result<(StatusCode, Json<ActorView>), ApiError> {
    Ok((StatusCode::CREATED, Json(api.service.create(actor).await?)))
}

#[utoipa::path(get, path = "/api/v1/actors", tag = "actors",
    params(SearchableListQuery),
    responses((status = 200, body = PageOf<ActorListing>), (status = 422, body = Problem)))]
async fn list_actors(
    State(api): State<ActorsApi>,
    Query(query): Query<SearchableListQuery>,
) -> Result<Json<PageOf<ActorListing>>, ApiError> {
    Ok(Json(api.service.list(query.read()?).await?))
}

#[utoipa::path(get, path = "/api/v1/actors/{id}", tag = "actors", params(("id" = Uuid, Path)),
    responses((status = 200, body = ActorView), (status = 404, body = Problem)))]
async fn get_actor(
    State(api): State<ActorsApi>,
    Path(id): Path<String>,
) -> Result<Json<ActorView>, ApiError> {
    Ok(Json(api.service.get(&actor_id(&id)?).await?))
}

#[utoipa::path(put, path = "/api/v1/actors/{id}/photo", tag = "actors", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    request_body(description = "The picture, at most 10 MiB and 8000 px a side.",
        content((PictureBytes = "image/jpeg"), (PictureBytes = "image/png"), (PictureBytes = "image/webp"))),
    responses((status = 200, body = UploadedPicture), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem),
        (status = 422, body = Problem), (status = 503, body = Problem)))]
async fn set_photo(
    State(api): State<ActorsApi>,
    _: Admin,
    Path(id): Path<String>,
    upload: PictureBody,
) -> Result<Json<UploadedPicture>, ApiError> {
    let id = actor_id(&id)?;
    Ok(Json(
        api.service
            .set_photo(&id, &upload.content_type, upload.bytes)
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/actors/{id}/photo", tag = "actors", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn delete_photo(
    State(api): State<ActorsApi>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    api.service.delete_photo(&actor_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/actors/{id}/photo/{upload}/{file}", tag = "actors",
    params(("id" = Uuid, Path), ("upload" = Uuid, Path), ("file" = String, Path, description = "`image.{ext}` or `thumb.{ext}`"),
        ("If-None-Match" = Option<String>, Header)),
    responses((status = 200, description = "The file, cacheable for a year",
            content((PictureBytes = "image/jpeg"), (PictureBytes = "image/png"), (PictureBytes = "image/webp"))),
        (status = 304, description = "The client's copy is current"), (status = 404, body = Problem)))]
async fn photo_file(
    State(api): State<ActorsApi>,
    Path((id, upload, file)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    Ok(api
        .service
        .photo_file(&actor_id(&id)?, (&upload, &file), &headers)
        .await?)
}
