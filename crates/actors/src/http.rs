//! The actor endpoints of API.md: `POST /actors`, `GET /actors`, `GET /actors/{id}`.

use std::sync::Arc;

use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use domain::NewActor;
use platform::ApiError;
use platform::auth::{Admin, Authenticator};
use platform::http::{JsonBody, Query};
use platform::pagination::{self, PageOf, PageRequest};
use platform::problem::Problem;
use projector::search::{self, ActorListing, SearchCursor};
use serde::Deserialize;
use serde::Serialize;
use utoipa::OpenApi;

use crate::{ActorView, ActorsService};

/// What the actor handlers share.
#[derive(Clone)]
pub struct ActorsApi {
    pub service: ActorsService,
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
        .with_state(api)
}

/// The actor part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(create_actor, list_actors, get_actor),
    components(schemas(ActorView, ActorListing, NewActor))
)]
pub struct ActorsDoc;

/// `GET /actors` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActorListQuery {
    /// Words that must start words of the name; case and accents ignored.
    search: Option<String>,
    /// Page size, 1..100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// A page of actors.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ActorPage {
    items: Vec<ActorListing>,
    next_cursor: Option<String>,
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
    params(ActorListQuery),
    responses((status = 200, body = ActorPage), (status = 422, body = Problem)))]
async fn list_actors(
    State(api): State<ActorsApi>,
    Query(query): Query<ActorListQuery>,
) -> Result<Json<PageOf<ActorListing>>, ApiError> {
    let store = api.service.store_handle();
    let search_text = query.search.as_deref().map(str::trim).unwrap_or("");
    let (limit, cursor) = (query.limit.as_deref(), query.cursor.as_deref());
    if domain::text::words(search_text).is_empty() {
        let PageRequest { limit, cursor } = pagination::page_request::<String>(limit, cursor)?;
        let (items, next) = search::actors_page(store.as_ref(), cursor.as_deref(), limit).await?;
        return Ok(Json(PageOf {
            items,
            next_cursor: next.as_ref().map(pagination::encode),
        }));
    }
    let PageRequest { limit, cursor } = pagination::page_request::<SearchCursor>(limit, cursor)?;
    let (items, next) = search::search_actors(store.as_ref(), search_text, cursor, limit).await?;
    Ok(Json(PageOf::new(items, next)))
}

#[utoipa::path(get, path = "/api/v1/actors/{id}", tag = "actors", params(("id" = String, Path)),
    responses((status = 200, body = ActorView), (status = 404, body = Problem)))]
async fn get_actor(
    State(api): State<ActorsApi>,
    Path(id): Path<String>,
) -> Result<Json<ActorView>, ApiError> {
    let id = domain::ids::parse_id(&id).ok_or(ApiError::NotFound("no such actor"))?;
    Ok(Json(api.service.get(&id).await?))
}
