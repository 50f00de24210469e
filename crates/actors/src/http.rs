//! The actor endpoints of API.md: `POST /actors`, `GET /actors`, `GET /actors/{id}`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRef, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use domain::NewActor;
use platform::ApiError;
use platform::auth::{Authenticator, Principal};
use platform::http::JsonBody;
use platform::pagination::{self, PageOf, PageRequest};
use platform::problem::Problem;
use projector::search::{self, ActorListing, Index, SearchCursor};
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
    components(schemas(ActorView, ActorListing, CreateActor))
)]
pub struct ActorsDoc;

/// `POST /actors` body.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Describes the body for the OpenAPI document; the body is read by `NewActor::parse`.
pub struct CreateActor {
    /// 1..200 characters, trimmed.
    name: String,
    /// `YYYY-MM-DD`, not in the future.
    date_of_birth: Option<String>,
    bio: Option<String>,
    /// http(s) URL.
    thumbnail_url: Option<String>,
    /// http(s) URLs.
    pictures: Option<Vec<String>>,
}

/// A page of actors.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ActorPage {
    items: Vec<ActorListing>,
    next_cursor: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/actors", tag = "actors", request_body = CreateActor,
    security(("bearer" = [])),
    responses((status = 201, body = ActorView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_actor(
    State(api): State<ActorsApi>,
    principal: Principal,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<ActorView>), ApiError> {
    principal.require_admin()?;
    let actor = NewActor::parse(&body)?;
    Ok((StatusCode::CREATED, Json(api.service.create(actor).await?)))
}

#[utoipa::path(get, path = "/api/v1/actors", tag = "actors",
    params(("search" = Option<String>, Query, description = "words that must start words of the name"),
           ("limit" = Option<usize>, Query, description = "1..100, default 20"),
           ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, body = ActorPage), (status = 422, body = Problem)))]
async fn list_actors(
    State(api): State<ActorsApi>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<PageOf<ActorListing>>, ApiError> {
    let store = api.service.store_handle();
    let search_text = params.get("search").map(|s| s.trim()).unwrap_or("");
    if domain::text::words(search_text).is_empty() {
        let PageRequest { limit, cursor } = pagination::page_request::<String>(&params)?;
        let (items, next) = search::actors_page(store.as_ref(), cursor.as_deref(), limit).await?;
        return Ok(Json(PageOf {
            items,
            next_cursor: next.as_ref().map(pagination::encode),
        }));
    }
    let PageRequest { limit, cursor } = pagination::page_request::<SearchCursor>(&params)?;
    let (found, next) =
        search::search_page(store.as_ref(), Index::Actors, search_text, cursor, limit).await?;
    let items = found.iter().filter_map(|(id, item)| {
        let mut listing = search::actor_listing(item)?;
        listing.id = *id;
        Some(listing)
    });
    Ok(Json(PageOf {
        items: items.collect(),
        next_cursor: next.as_ref().map(pagination::encode),
    }))
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
