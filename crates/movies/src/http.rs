//! The movie, review, genre, top-rated and watch list endpoints of API.md: handlers parse
//! the request and call the movies, reviews or watch list service; the services' errors
//! become problems here, once. The watch list routes live under `/users/{id}` but belong to
//! this service, which knows the movies (the gateway forwards them here).

use std::sync::Arc;

use axum::extract::{FromRef, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, put};
use axum::{Json, Router};
use domain::picture::{PictureBytes, PictureView, UploadedPicture};
use domain::ranking::PriorWeight;
use domain::{CastEntry, NewMovie, NewReview, ValidationErrors};
use platform::ApiError;
use platform::auth::{Admin, Authenticator, Claimed, Principal};
use platform::http::{JsonBody, PictureBody, Query};
use platform::pagination::{self, PageOf, PageParams};
use platform::problem::Problem;
use projector::catalog::{GenreCount, MovieSummary};
use projector::searchable_list::{SearchableList, SearchableListQuery};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;
use uuid::Uuid;

use crate::error::MoviesError;
use crate::reviews::ReviewsService;
use crate::views::{CastView, MovieView, ReviewView};
use crate::watchlist::WatchlistEntry;
use crate::{MoviesService, WatchlistService, Written};

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

impl FromRef<MoviesApi> for MoviesService {
    fn from_ref(api: &MoviesApi) -> Self {
        api.service.clone()
    }
}

impl FromRef<MoviesApi> for ReviewsService {
    fn from_ref(api: &MoviesApi) -> Self {
        api.service.reviews().clone()
    }
}

impl FromRef<MoviesApi> for WatchlistService {
    fn from_ref(api: &MoviesApi) -> Self {
        api.service.watchlists().clone()
    }
}

impl From<MoviesError> for ApiError {
    fn from(error: MoviesError) -> Self {
        match error {
            MoviesError::MovieNotFound => ApiError::NotFound("no such movie"),
            MoviesError::ReviewNotFound => ApiError::NotFound("no such review"),
            MoviesError::UserNotFound => ApiError::NotFound("no such user"),
            MoviesError::NotOnWatchlist => ApiError::NotFound("the movie is not on the watch list"),
            MoviesError::Forbidden(why) => ApiError::Forbidden(why),
            MoviesError::UserGone => ApiError::Unauthenticated("the token's user no longer exists"),
            MoviesError::Invalid(errors) => ApiError::Validation(errors),
            kept @ (MoviesError::KeptChanging(_) | MoviesError::WatchlistKeptChanging(_)) => {
                ApiError::unavailable(kept.to_string(), kept.to_string())
            }
            MoviesError::Store(error) => error.into(),
            MoviesError::Search(error) => error.into(),
            MoviesError::Directory(error) => error.into(),
            MoviesError::Pictures(error) => error.into(),
        }
    }
}

/// The movie, review, genre and top-rated routes.
pub fn router(api: MoviesApi) -> Router {
    Router::new()
        .route("/api/v1/movies", get(list_movies).post(create_movie))
        .route("/api/v1/movies/top-rated", get(top_rated))
        .route("/api/v1/movies/{id}", get(get_movie).delete(delete_movie))
        .route(
            "/api/v1/movies/{id}/poster",
            put(set_poster).delete(delete_poster),
        )
        .route(
            "/api/v1/movies/{id}/poster/{upload}/{file}",
            get(poster_file),
        )
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
        // `{id}` as in the users service's `/users/{id}`, which shares the path's start.
        .route("/api/v1/users/{id}/watchlist", get(watchlist))
        .route(
            "/api/v1/users/{id}/watchlist/{movie_id}",
            get(watchlist_entry)
                .put(add_to_watchlist)
                .delete(remove_from_watchlist),
        )
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
        set_poster,
        delete_poster,
        poster_file,
        top_rated,
        list_genres,
        genre_movies,
        write_review,
        list_reviews,
        get_review,
        delete_review,
        watchlist,
        watchlist_entry,
        add_to_watchlist,
        remove_from_watchlist
    ),
    components(schemas(
        MovieView,
        PictureView,
        PictureBytes,
        UploadedPicture,
        MovieSummary,
        CastView,
        ReviewView,
        GenreCount,
        NewMovie,
        CastEntry,
        NewReview,
        SummaryList,
        RankedSummary,
        RankBy,
        GenreList,
        WatchlistEntry
    ))
)]
pub struct MoviesDoc;

/// `GET /movies/top-rated` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TopRatedQuery {
    /// How many movies, 1..100 (default 10).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// Only movies with at least this many reviews (default 1).
    #[param(value_type = Option<i64>, minimum = 1)]
    min_reviews: Option<String>,
    /// `mean` (the default): by exact mean score; `weighted`: by the weighted rating
    /// WR = v/(v+m)·R + m/(v+m)·C, R the movie's mean, v its review count, C the mean of
    /// every review score in the catalogue.
    #[param(value_type = Option<RankBy>)]
    rank: Option<String>,
    /// The weighted rating's prior weight: a decimal number ≥ 0 (default 10), at most 400
    /// digits and a power of ten within ±400 (`2.5`, `1e3`). Checked with either `rank`.
    #[param(value_type = Option<f64>, minimum = 0)]
    m: Option<String>,
}

/// The orders of the top-rated list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum RankBy {
    Mean,
    Weighted,
}

/// A checked top-rated request.
#[derive(Debug, Clone, PartialEq)]
struct TopRatedRequest {
    limit: usize,
    min_reviews: i64,
    /// The prior weight when ranking by weighted rating; `None` ranks by mean.
    weighted: Option<PriorWeight>,
}

impl TopRatedQuery {
    /// The checked request, every failing parameter listed.
    fn read(&self) -> Result<TopRatedRequest, ValidationErrors> {
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
        let rank = match self.rank.as_deref().map(str::trim) {
            None | Some("mean") => Ok(RankBy::Mean),
            Some("weighted") => Ok(RankBy::Weighted),
            Some(_) => Err(ValidationErrors::single(
                "rank",
                "must be `mean` or `weighted`",
            )),
        };
        let weight = match self.m.as_deref() {
            None => Ok(PriorWeight::default()),
            Some(text) => PriorWeight::parse(text).ok_or_else(|| {
                ValidationErrors::single(
                    "m",
                    "must be a number of at least 0 (at most 400 digits, a power of ten within ±400)",
                )
            }),
        };
        let limits =
            ValidationErrors::join(pagination::limit(self.limit.as_deref(), 10), min_reviews);
        let ((limit, min_reviews), (rank, weight)) =
            ValidationErrors::join(limits, ValidationErrors::join(rank, weight))?;
        Ok(TopRatedRequest {
            limit,
            min_reviews,
            weighted: (rank == RankBy::Weighted).then_some(weight),
        })
    }
}

/// The top-rated movies.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SummaryList {
    items: Vec<RankedSummary>,
}

/// A movie of the top-rated list.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RankedSummary {
    #[serde(flatten)]
    summary: MovieSummary,
    /// With `rank=weighted` only: the weighted rating, rounded half away from zero to 2
    /// decimals.
    #[serde(skip_serializing_if = "Option::is_none")]
    weighted_score: Option<f64>,
}

/// Every genre with its number of movies.
#[derive(Serialize, utoipa::ToSchema)]
pub struct GenreList {
    items: Vec<GenreCount>,
}

/// The movie id of a path; a malformed id names no movie.
fn movie_id(text: &str) -> Result<Uuid, MoviesError> {
    domain::ids::parse_id(text).ok_or(MoviesError::MovieNotFound)
}

/// The owner's id of a watch list's path; a malformed id names no user.
fn owner_id(text: &str) -> Result<Uuid, MoviesError> {
    domain::ids::parse_id(text).ok_or(MoviesError::UserNotFound)
}

/// The author's id of a review's path; a malformed id names no review.
fn author_id(text: &str) -> Result<Uuid, MoviesError> {
    domain::ids::parse_id(text).ok_or(MoviesError::ReviewNotFound)
}

#[utoipa::path(post, path = "/api/v1/movies", tag = "movies", request_body = NewMovie, security(("bearer" = [])),
    responses((status = 201, body = MovieView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_movie(
    State(movies): State<MoviesService>,
    _: Admin,
    JsonBody(movie): JsonBody<NewMovie>,
) -> Result<(StatusCode, Json<MovieView>), ApiError> {
    Ok((StatusCode::CREATED, Json(movies.create(movie).await?)))
}

#[utoipa::path(get, path = "/api/v1/movies", tag = "movies",
    params(SearchableListQuery),
    responses((status = 200, body = PageOf<MovieSummary>), (status = 422, body = Problem)))]
async fn list_movies(
    State(movies): State<MoviesService>,
    Query(query): Query<SearchableListQuery>,
) -> Result<Json<PageOf<MovieSummary>>, ApiError> {
    let page = match query.read()? {
        SearchableList::All(page) => movies.list(page).await?,
        SearchableList::Search { text, page } => movies.search(&text, page).await?,
    };
    Ok(Json(page))
}

#[utoipa::path(get, path = "/api/v1/movies/{id}", tag = "movies", params(("id" = Uuid, Path)),
    responses((status = 200, body = MovieView), (status = 404, body = Problem)))]
async fn get_movie(
    State(movies): State<MoviesService>,
    Path(id): Path<String>,
) -> Result<Json<MovieView>, ApiError> {
    Ok(Json(movies.get(&movie_id(&id)?).await?))
}

#[utoipa::path(delete, path = "/api/v1/movies/{id}", tag = "movies", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn delete_movie(
    State(movies): State<MoviesService>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    movies.delete(&movie_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(put, path = "/api/v1/movies/{id}/poster", tag = "movies", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    request_body(description = "The picture, at most 10 MiB and 8000 px a side.",
        content((PictureBytes = "image/jpeg"), (PictureBytes = "image/png"), (PictureBytes = "image/webp"))),
    responses((status = 200, body = UploadedPicture), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem),
        (status = 422, body = Problem), (status = 503, body = Problem)))]
async fn set_poster(
    State(movies): State<MoviesService>,
    _: Admin,
    Path(id): Path<String>,
    upload: PictureBody,
) -> Result<Json<UploadedPicture>, ApiError> {
    let id = movie_id(&id)?;
    Ok(Json(
        movies
            .set_poster(&id, &upload.content_type, upload.bytes)
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/movies/{id}/poster", tag = "movies", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn delete_poster(
    State(movies): State<MoviesService>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    movies.delete_poster(&movie_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/movies/{id}/poster/{upload}/{file}", tag = "movies",
    params(("id" = Uuid, Path), ("upload" = Uuid, Path), ("file" = String, Path, description = "`image.{ext}` or `thumb.{ext}`"),
        ("If-None-Match" = Option<String>, Header)),
    responses((status = 200, description = "The file, cacheable for a year",
            content((PictureBytes = "image/jpeg"), (PictureBytes = "image/png"), (PictureBytes = "image/webp"))),
        (status = 304, description = "The client's copy is current"), (status = 404, body = Problem)))]
async fn poster_file(
    State(movies): State<MoviesService>,
    Path((id, upload, file)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    Ok(movies
        .poster_file(&movie_id(&id)?, (&upload, &file), &headers)
        .await?)
}

#[utoipa::path(get, path = "/api/v1/movies/top-rated", tag = "movies",
    params(TopRatedQuery),
    responses((status = 200, body = SummaryList), (status = 422, body = Problem)))]
async fn top_rated(
    State(movies): State<MoviesService>,
    Query(query): Query<TopRatedQuery>,
) -> Result<Json<SummaryList>, ApiError> {
    let request = query.read()?;
    let items = match request.weighted {
        None => movies
            .top_rated(request.limit, request.min_reviews)
            .await?
            .into_iter()
            .map(|summary| RankedSummary {
                summary,
                weighted_score: None,
            })
            .collect(),
        Some(weight) => movies
            .weighted_top_rated(request.limit, request.min_reviews, weight)
            .await?
            .into_iter()
            .map(|movie| RankedSummary {
                summary: movie.summary,
                weighted_score: Some(movie.weighted_score),
            })
            .collect(),
    };
    Ok(Json(SummaryList { items }))
}

#[utoipa::path(get, path = "/api/v1/genres", tag = "genres", responses((status = 200, body = GenreList)))]
async fn list_genres(State(movies): State<MoviesService>) -> Result<Json<GenreList>, ApiError> {
    let items = movies.genres().await?;
    Ok(Json(GenreList { items }))
}

#[utoipa::path(get, path = "/api/v1/genres/{genre}/movies", tag = "genres",
    params(("genre" = String, Path, description = "case-insensitive"), PageParams),
    responses((status = 200, body = PageOf<MovieSummary>), (status = 422, body = Problem)))]
async fn genre_movies(
    State(movies): State<MoviesService>,
    Path(genre): Path<String>,
    Query(page): Query<PageParams>,
) -> Result<Json<PageOf<MovieSummary>>, ApiError> {
    let page = movies.genre_page(&genre, page.read()?).await?;
    Ok(Json(page))
}

#[utoipa::path(post, path = "/api/v1/movies/{id}/reviews", tag = "reviews", params(("id" = Uuid, Path)),
    request_body = NewReview, security(("bearer" = [])),
    responses((status = 201, body = ReviewView, description = "a new review"), (status = 200, body = ReviewView, description = "replaced the user's earlier review"),
              (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn write_review(
    State(reviews): State<ReviewsService>,
    State(auth): State<Arc<Authenticator>>,
    claimed: Claimed,
    Path(id): Path<String>,
    JsonBody(review): JsonBody<NewReview>,
) -> Result<(StatusCode, Json<ReviewView>), ApiError> {
    let written = reviews.write_review(&movie_id(&id)?, claimed, review).await;
    let (view, written) = match written {
        // A deleted user's token gets 401 whatever it names.
        Err(MoviesError::MovieNotFound) => {
            auth.still_exists(claimed).await?;
            return Err(MoviesError::MovieNotFound.into());
        }
        other => other?,
    };
    let status = match written {
        Written::Created => StatusCode::CREATED,
        Written::Replaced => StatusCode::OK,
    };
    Ok((status, Json(view)))
}

#[utoipa::path(get, path = "/api/v1/movies/{id}/reviews", tag = "reviews",
    params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = PageOf<ReviewView>), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn list_reviews(
    State(reviews): State<ReviewsService>,
    Path(id): Path<String>,
    Query(page): Query<PageParams>,
) -> Result<Json<PageOf<ReviewView>>, ApiError> {
    let id = movie_id(&id)?;
    let page = reviews.reviews_page(&id, page.read()?).await?;
    Ok(Json(page))
}

#[utoipa::path(get, path = "/api/v1/movies/{id}/reviews/{user_id}", tag = "reviews",
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 200, body = ReviewView), (status = 404, body = Problem)))]
async fn get_review(
    State(reviews): State<ReviewsService>,
    Path((id, user)): Path<(String, String)>,
) -> Result<Json<ReviewView>, ApiError> {
    let user = author_id(&user)?;
    Ok(Json(reviews.review(&movie_id(&id)?, &user).await?))
}

#[utoipa::path(delete, path = "/api/v1/movies/{id}/reviews/{user_id}", tag = "reviews",
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn delete_review(
    State(reviews): State<ReviewsService>,
    principal: Principal,
    Path((id, user)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let user = author_id(&user)?;
    reviews
        .delete_review(&movie_id(&id)?, &user, principal)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/users/{id}/watchlist", tag = "watchlist",
    params(("id" = Uuid, Path), PageParams), security(("bearer" = [])),
    responses((status = 200, body = PageOf<MovieSummary>, description = "the movies, most recently added first, with their current scores"),
              (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn watchlist(
    State(watchlists): State<WatchlistService>,
    principal: Principal,
    Path(id): Path<String>,
    Query(page): Query<PageParams>,
) -> Result<Json<PageOf<MovieSummary>>, ApiError> {
    let id = owner_id(&id)?;
    Ok(Json(watchlists.page(&id, principal, page.read()?).await?))
}

#[utoipa::path(get, path = "/api/v1/users/{id}/watchlist/{movie_id}", tag = "watchlist",
    params(("id" = Uuid, Path), ("movie_id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = WatchlistEntry, description = "the movie is on the list"),
              (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem, description = "the movie is not on the list, or no such user")))]
async fn watchlist_entry(
    State(watchlists): State<WatchlistService>,
    principal: Principal,
    Path((id, movie)): Path<(String, String)>,
) -> Result<Json<WatchlistEntry>, ApiError> {
    let id = owner_id(&id)?;
    let movie = movie_id(&movie).map_err(|_| MoviesError::NotOnWatchlist)?;
    Ok(Json(watchlists.entry(&id, &movie, principal).await?))
}

#[utoipa::path(put, path = "/api/v1/users/{id}/watchlist/{movie_id}", tag = "watchlist",
    params(("id" = Uuid, Path), ("movie_id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 204, description = "the movie is on the list (adding it again changes nothing)"),
              (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn add_to_watchlist(
    State(watchlists): State<WatchlistService>,
    State(auth): State<Arc<Authenticator>>,
    claimed: Claimed,
    Path((id, movie)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let added = match (owner_id(&id), movie_id(&movie)) {
        (Ok(id), Ok(movie)) => watchlists.add(&id, &movie, claimed).await,
        (Err(error), _) | (_, Err(error)) => Err(error),
    };
    match added {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        // A deleted user's token gets 401 whatever it names. The addition's transaction
        // checks the user, but a refusal before it (another's list, a malformed id) did
        // not: ask, on these rare answers only.
        Err(
            refused @ (MoviesError::MovieNotFound
            | MoviesError::UserNotFound
            | MoviesError::Forbidden(_)),
        ) => {
            auth.still_exists(claimed).await?;
            Err(refused.into())
        }
        Err(other) => Err(other.into()),
    }
}

#[utoipa::path(delete, path = "/api/v1/users/{id}/watchlist/{movie_id}", tag = "watchlist",
    params(("id" = Uuid, Path), ("movie_id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 204, description = "the movie is not on the list (also when it was not before)"),
              (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn remove_from_watchlist(
    State(watchlists): State<WatchlistService>,
    principal: Principal,
    Path((id, movie)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = owner_id(&id)?;
    watchlists
        .remove(&id, &movie_id(&movie)?, principal)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use store::StoreError;

    use super::*;

    #[test]
    fn service_errors_keep_their_status_and_detail() {
        let cases = [
            (MoviesError::MovieNotFound, 404, "no such movie"),
            (MoviesError::ReviewNotFound, 404, "no such review"),
            (MoviesError::UserNotFound, 404, "no such user"),
            (MoviesError::Forbidden("not yours"), 403, "not yours"),
            (
                MoviesError::UserGone,
                401,
                "the token's user no longer exists",
            ),
            (
                MoviesError::KeptChanging("written"),
                503,
                "the review kept changing while it was written; try again later",
            ),
            (
                MoviesError::WatchlistKeptChanging("removing a movie"),
                503,
                "the watch list kept changing while removing a movie; try again later",
            ),
            (
                MoviesError::Store(StoreError::Unavailable("down".into())),
                503,
                "the database is unavailable; try again later",
            ),
        ];
        for (error, status, detail) in cases {
            let problem = ApiError::from(error);
            assert_eq!(problem.status().as_u16(), status, "{problem}");
            assert_eq!(problem.to_string(), detail);
        }
        let invalid = ApiError::from(MoviesError::Invalid(ValidationErrors::single(
            "actors[0].actor_id",
            "no actor has this id",
        )));
        assert_eq!(invalid.status().as_u16(), 422);
    }

    fn top_rated_query(params: &[(&str, &str)]) -> TopRatedQuery {
        let text = |name: &str| {
            params
                .iter()
                .find(|(given, _)| *given == name)
                .map(|(_, value)| (*value).to_owned())
        };
        TopRatedQuery {
            limit: text("limit"),
            min_reviews: text("min_reviews"),
            rank: text("rank"),
            m: text("m"),
        }
    }

    fn failing_fields(params: &[(&str, &str)]) -> Vec<String> {
        match top_rated_query(params).read() {
            Ok(request) => panic!("{params:?} passed as {request:?}"),
            Err(errors) => errors.0.into_iter().map(|error| error.field).collect(),
        }
    }

    #[test]
    fn top_rated_ranks_by_mean_unless_asked_for_the_weighted_rating() {
        let plain = top_rated_query(&[]).read().unwrap();
        assert_eq!(
            plain,
            TopRatedRequest {
                limit: 10,
                min_reviews: 1,
                weighted: None
            }
        );
        let mean = top_rated_query(&[("rank", "mean"), ("m", "3")]).read();
        assert_eq!(mean.unwrap().weighted, None);
        let weighted = top_rated_query(&[("rank", "weighted")]).read().unwrap();
        assert_eq!(weighted.weighted, Some(PriorWeight::whole(10)));
        let given = top_rated_query(&[("rank", "weighted"), ("m", "0")]).read();
        assert_eq!(given.unwrap().weighted, Some(PriorWeight::whole(0)));
    }

    #[test]
    fn top_rated_lists_every_failing_parameter() {
        assert_eq!(failing_fields(&[("rank", "best")]), ["rank"]);
        assert_eq!(failing_fields(&[("rank", "Weighted")]), ["rank"]);
        for m in ["-1", "NaN", "inf", "ten", ""] {
            assert_eq!(
                failing_fields(&[("rank", "weighted"), ("m", m)]),
                ["m"],
                "{m}"
            );
        }
        assert_eq!(
            failing_fields(&[
                ("limit", "0"),
                ("min_reviews", "0"),
                ("rank", "x"),
                ("m", "-2")
            ]),
            ["limit", "min_reviews", "rank", "m"]
        );
    }
}
