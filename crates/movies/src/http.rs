//! The movie, review, genre and top-rated endpoints of API.md.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRef, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use domain::{NewMovie, NewReview};
use platform::ApiError;
use platform::auth::{Authenticator, Principal};
use platform::http::JsonBody;
use platform::pagination::{self, PageOf, PageRequest};
use platform::problem::Problem;
use projector::catalog::{self, GenreCount, MovieSummary};
use projector::search::{self, Index, SearchCursor};
use serde::Serialize;
use utoipa::OpenApi;
use uuid::Uuid;

use crate::reviews::Written;
use crate::service::CastView;
use crate::{MovieView, MoviesService, ReviewView};

/// What the movie handlers share.
#[derive(Clone)]
pub struct MoviesApi {
    pub service: MoviesService,
    pub auth: Arc<Authenticator>,
}

impl FromRef<MoviesApi> for Arc<Authenticator> {
    fn from_ref(api: &MoviesApi) -> Self {
        api.auth.clone()
    }
}

/// The movie, review, genre and top-rated routes.
pub fn router(api: MoviesApi) -> Router {
    Router::new()
        .route("/api/v1/movies", get(list_movies).post(create_movie))
        .route("/api/v1/movies/top-rated", get(top_rated))
        .route("/api/v1/movies/{id}", get(get_movie).delete(delete_movie))
        .route(
            "/api/v1/movies/{id}/reviews",
            get(list_reviews).post(write_review),
        )
        .route(
            "/api/v1/movies/{id}/reviews/{user_id}",
            get(get_review).delete(delete_review),
        )
        .route("/api/v1/genres", get(list_genres))
        .route("/api/v1/genres/{genre}/movies", get(genre_movies))
        .with_state(api)
}

/// The movie part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(
        create_movie,
        list_movies,
        get_movie,
        delete_movie,
        top_rated,
        list_genres,
        genre_movies,
        write_review,
        list_reviews,
        get_review,
        delete_review
    ),
    components(schemas(
        MovieView,
        MovieSummary,
        CastView,
        ReviewView,
        GenreCount,
        CreateMovie,
        CastRequest,
        WriteReview,
        MoviePage,
        ReviewPage,
        SummaryList,
        GenreList
    ))
)]
pub struct MoviesDoc;

/// `POST /movies` body.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Describes the body for the OpenAPI document; the body is read by `NewMovie::parse`.
pub struct CreateMovie {
    /// 1..300 characters, trimmed.
    title: String,
    /// 1870..(current year + 10).
    release_year: i32,
    /// 1..10 names of 1..40 characters; stored lower-case, duplicates merged.
    genres: Vec<String>,
    actors: Option<Vec<CastRequest>>,
    overview: Option<String>,
    thumbnail_url: Option<String>,
    pictures: Option<Vec<String>>,
}

/// A cast member of a new movie.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Describes the body for the OpenAPI document.
pub struct CastRequest {
    /// An existing actor's id.
    actor_id: Uuid,
    /// 1..100 characters: a character or a billing.
    role: String,
}

/// `POST /movies/{id}/reviews` body.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Describes the body for the OpenAPI document; the body is read by `NewReview::parse`.
pub struct WriteReview {
    /// An integer 1..10.
    score: i64,
    /// 0..5000 characters.
    comment: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MoviePage {
    items: Vec<MovieSummary>,
    next_cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ReviewPage {
    items: Vec<ReviewView>,
    next_cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SummaryList {
    items: Vec<MovieSummary>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct GenreList {
    items: Vec<GenreCount>,
}

fn movie_id(text: &str) -> Result<Uuid, ApiError> {
    domain::ids::parse_id(text).ok_or(ApiError::NotFound("no such movie"))
}

#[utoipa::path(post, path = "/api/v1/movies", tag = "movies", request_body = CreateMovie, security(("bearer" = [])),
    responses((status = 201, body = MovieView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_movie(
    State(api): State<MoviesApi>,
    principal: Principal,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<MovieView>), ApiError> {
    principal.require_admin()?;
    let movie = NewMovie::parse(&body)?;
    Ok((StatusCode::CREATED, Json(api.service.create(movie).await?)))
}

#[utoipa::path(get, path = "/api/v1/movies", tag = "movies",
    params(("search" = Option<String>, Query, description = "every word must start a word of the title; case and accents ignored"),
           ("limit" = Option<usize>, Query, description = "1..100, default 20"),
           ("cursor" = Option<String>, Query)),
    responses((status = 200, body = MoviePage), (status = 422, body = Problem)))]
async fn list_movies(
    State(api): State<MoviesApi>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<PageOf<MovieSummary>>, ApiError> {
    let store = api.service.store_handle();
    let search_text = params.get("search").map(|s| s.trim()).unwrap_or("");
    if domain::text::words(search_text).is_empty() {
        let PageRequest { limit, cursor } = pagination::page_request::<String>(&params)?;
        let (items, next) =
            catalog::all_movies_page(store.as_ref(), cursor.as_deref(), limit).await?;
        return Ok(Json(PageOf {
            items,
            next_cursor: next.as_ref().map(pagination::encode),
        }));
    }
    let PageRequest { limit, cursor } = pagination::page_request::<SearchCursor>(&params)?;
    let (found, next) =
        search::search_page(store.as_ref(), Index::Movies, search_text, cursor, limit).await?;
    let ids: Vec<Uuid> = found.iter().map(|(id, _)| *id).collect();
    let items = catalog::summaries(store.as_ref(), &ids)
        .await?
        .into_iter()
        .flatten()
        .collect();
    Ok(Json(PageOf {
        items,
        next_cursor: next.as_ref().map(pagination::encode),
    }))
}

#[utoipa::path(get, path = "/api/v1/movies/{id}", tag = "movies", params(("id" = String, Path)),
    responses((status = 200, body = MovieView), (status = 404, body = Problem)))]
async fn get_movie(
    State(api): State<MoviesApi>,
    Path(id): Path<String>,
) -> Result<Json<MovieView>, ApiError> {
    Ok(Json(api.service.get(&movie_id(&id)?).await?))
}

#[utoipa::path(delete, path = "/api/v1/movies/{id}", tag = "movies", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn delete_movie(
    State(api): State<MoviesApi>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require_admin()?;
    api.service.delete(&movie_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/movies/top-rated", tag = "movies",
    params(("limit" = Option<usize>, Query, description = "1..100, default 10"),
           ("min_reviews" = Option<i64>, Query, description = "at least 1, default 1")),
    responses((status = 200, body = SummaryList), (status = 422, body = Problem)))]
async fn top_rated(
    State(api): State<MoviesApi>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<SummaryList>, ApiError> {
    let limit = pagination::limit(&params, 10);
    let min_reviews = match params.get("min_reviews") {
        None => Ok(1),
        Some(text) => match text.trim().parse::<i64>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(ApiError::invalid(
                "min_reviews",
                "must be an integer of at least 1",
            )),
        },
    };
    let (limit, min_reviews) = match (limit, min_reviews) {
        (Ok(limit), Ok(min)) => (limit, min),
        (Err(ApiError::Validation(mut a)), Err(ApiError::Validation(b))) => {
            a.0.extend(b.0);
            return Err(ApiError::Validation(a));
        }
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    let items =
        projector::scores::top_rated(api.service.store_handle().as_ref(), limit, min_reviews)
            .await?;
    Ok(Json(SummaryList { items }))
}

#[utoipa::path(get, path = "/api/v1/genres", tag = "genres", responses((status = 200, body = GenreList)))]
async fn list_genres(State(api): State<MoviesApi>) -> Result<Json<GenreList>, ApiError> {
    let items = catalog::genres(api.service.store_handle().as_ref()).await?;
    Ok(Json(GenreList { items }))
}

#[utoipa::path(get, path = "/api/v1/genres/{genre}/movies", tag = "genres",
    params(("genre" = String, Path, description = "case-insensitive"), ("limit" = Option<usize>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = MoviePage), (status = 422, body = Problem)))]
async fn genre_movies(
    State(api): State<MoviesApi>,
    Path(genre): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<PageOf<MovieSummary>>, ApiError> {
    let PageRequest { limit, cursor } = pagination::page_request::<String>(&params)?;
    let genre = domain::genre_key(&genre);
    let (items, next) = catalog::genre_page(
        api.service.store_handle().as_ref(),
        &genre,
        cursor.as_deref(),
        limit,
    )
    .await?;
    Ok(Json(PageOf {
        items,
        next_cursor: next.as_ref().map(pagination::encode),
    }))
}

#[utoipa::path(post, path = "/api/v1/movies/{id}/reviews", tag = "reviews", params(("id" = String, Path)),
    request_body = WriteReview, security(("bearer" = [])),
    responses((status = 201, body = ReviewView, description = "a new review"), (status = 200, body = ReviewView, description = "replaced the user's earlier review"),
              (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn write_review(
    State(api): State<MoviesApi>,
    principal: Principal,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<ReviewView>), ApiError> {
    let id = movie_id(&id)?;
    let review = NewReview::parse(&body)?;
    let (view, written) = api.service.upsert_review(&id, principal, review).await?;
    let status = if written == Written::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view)))
}

#[utoipa::path(get, path = "/api/v1/movies/{id}/reviews", tag = "reviews",
    params(("id" = String, Path), ("limit" = Option<usize>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = ReviewPage), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn list_reviews(
    State(api): State<MoviesApi>,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<PageOf<ReviewView>>, ApiError> {
    let id = movie_id(&id)?;
    let PageRequest { limit, cursor } = pagination::page_request::<String>(&params)?;
    let (items, next) = api.service.reviews_page(&id, cursor, limit).await?;
    Ok(Json(PageOf {
        items,
        next_cursor: next.as_ref().map(pagination::encode),
    }))
}

#[utoipa::path(get, path = "/api/v1/movies/{id}/reviews/{user_id}", tag = "reviews",
    params(("id" = String, Path), ("user_id" = String, Path)),
    responses((status = 200, body = ReviewView), (status = 404, body = Problem)))]
async fn get_review(
    State(api): State<MoviesApi>,
    Path((id, user)): Path<(String, String)>,
) -> Result<Json<ReviewView>, ApiError> {
    let user = domain::ids::parse_id(&user).ok_or(ApiError::NotFound("no such review"))?;
    Ok(Json(api.service.review(&movie_id(&id)?, &user).await?))
}

#[utoipa::path(delete, path = "/api/v1/movies/{id}/reviews/{user_id}", tag = "reviews",
    params(("id" = String, Path), ("user_id" = String, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn delete_review(
    State(api): State<MoviesApi>,
    principal: Principal,
    Path((id, user)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let user = domain::ids::parse_id(&user).ok_or(ApiError::NotFound("no such review"))?;
    api.service
        .delete_review(&movie_id(&id)?, &user, principal)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
