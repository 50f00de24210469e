//! The movie, review, genre and top-rated endpoints of API.md.

use std::sync::Arc;

use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use domain::{CastEntry, NewMovie, NewReview, ValidationErrors};
use platform::ApiError;
use platform::auth::{Admin, Authenticator, Principal};
use platform::http::{JsonBody, Query};
use platform::pagination::{self, PageOf, PageParams, PageRequest};
use platform::problem::Problem;
use projector::catalog::{self, GenreCount, MovieSummary};
use projector::search::{self, SearchCursor};
use serde::{Deserialize, Serialize};
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
        NewMovie,
        CastEntry,
        NewReview,
        MoviePage,
        ReviewPage,
        SummaryList,
        GenreList
    ))
)]
pub struct MoviesDoc;

/// `GET /movies` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MovieListQuery {
    /// Every word must start a word of the title; case and accents ignored.
    search: Option<String>,
    /// Page size, 1..100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// `GET /movies/top-rated` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TopRatedQuery {
    /// How many movies, 1..100 (default 10).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// Only movies with at least this many reviews (default 1).
    #[param(value_type = Option<u32>, minimum = 1)]
    min_reviews: Option<String>,
}

impl TopRatedQuery {
    /// The checked limit and minimum review count, every failing parameter listed.
    fn read(&self) -> Result<(usize, i64), ValidationErrors> {
        let min_reviews = match self.min_reviews.as_deref() {
            None => Ok(1),
            Some(text) => match text.trim().parse::<i64>() {
                Ok(n) if n >= 1 => Ok(n),
                _ => Err(ValidationErrors::single(
                    "min_reviews",
                    "must be an integer of at least 1",
                )),
            },
        };
        ValidationErrors::join(pagination::limit(self.limit.as_deref(), 10), min_reviews)
    }
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

#[utoipa::path(post, path = "/api/v1/movies", tag = "movies", request_body = NewMovie, security(("bearer" = [])),
    responses((status = 201, body = MovieView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_movie(
    State(api): State<MoviesApi>,
    _: Admin,
    JsonBody(movie): JsonBody<NewMovie>,
) -> Result<(StatusCode, Json<MovieView>), ApiError> {
    Ok((StatusCode::CREATED, Json(api.service.create(movie).await?)))
}

#[utoipa::path(get, path = "/api/v1/movies", tag = "movies",
    params(MovieListQuery),
    responses((status = 200, body = MoviePage), (status = 422, body = Problem)))]
async fn list_movies(
    State(api): State<MoviesApi>,
    Query(query): Query<MovieListQuery>,
) -> Result<Json<PageOf<MovieSummary>>, ApiError> {
    let store = api.service.store_handle();
    let search_text = query.search.as_deref().map(str::trim).unwrap_or("");
    let (limit, cursor) = (query.limit.as_deref(), query.cursor.as_deref());
    if domain::text::words(search_text).is_empty() {
        let PageRequest { limit, cursor } = pagination::page_request::<String>(limit, cursor)?;
        let (items, next) =
            catalog::all_movies_page(store.as_ref(), cursor.as_deref(), limit).await?;
        return Ok(Json(PageOf {
            items,
            next_cursor: next.as_ref().map(pagination::encode),
        }));
    }
    let PageRequest { limit, cursor } = pagination::page_request::<SearchCursor>(limit, cursor)?;
    let (items, next) = search::search_movies(store.as_ref(), search_text, cursor, limit).await?;
    Ok(Json(PageOf::new(items, next)))
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
    _: Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    api.service.delete(&movie_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/movies/top-rated", tag = "movies",
    params(TopRatedQuery),
    responses((status = 200, body = SummaryList), (status = 422, body = Problem)))]
async fn top_rated(
    State(api): State<MoviesApi>,
    Query(query): Query<TopRatedQuery>,
) -> Result<Json<SummaryList>, ApiError> {
    let (limit, min_reviews) = query.read()?;
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
    params(("genre" = String, Path, description = "case-insensitive"), PageParams),
    responses((status = 200, body = MoviePage), (status = 422, body = Problem)))]
async fn genre_movies(
    State(api): State<MoviesApi>,
    Path(genre): Path<String>,
    Query(page): Query<PageParams>,
) -> Result<Json<PageOf<MovieSummary>>, ApiError> {
    let PageRequest { limit, cursor } = page.read::<String>()?;
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
    request_body = NewReview, security(("bearer" = [])),
    responses((status = 201, body = ReviewView, description = "a new review"), (status = 200, body = ReviewView, description = "replaced the user's earlier review"),
              (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn write_review(
    State(api): State<MoviesApi>,
    principal: Principal,
    Path(id): Path<String>,
    JsonBody(review): JsonBody<NewReview>,
) -> Result<(StatusCode, Json<ReviewView>), ApiError> {
    let id = movie_id(&id)?;
    let (view, written) = api.service.upsert_review(&id, principal, review).await?;
    let status = if written == Written::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view)))
}

#[utoipa::path(get, path = "/api/v1/movies/{id}/reviews", tag = "reviews",
    params(("id" = String, Path), PageParams),
    responses((status = 200, body = ReviewPage), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn list_reviews(
    State(api): State<MoviesApi>,
    Path(id): Path<String>,
    Query(page): Query<PageParams>,
) -> Result<Json<PageOf<ReviewView>>, ApiError> {
    let id = movie_id(&id)?;
    let PageRequest { limit, cursor } = page.read::<String>()?;
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
