//! The pages' client of the JSON API: internal `GET /api/v1/...` requests sent in-process to
//! the public API router, and the few fields of each answer that a page shows.

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, Method, StatusCode, header};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::net::SocketAddr;
use tower::ServiceExt;

use crate::respond::PageError;

/// The largest API answer a page reads: a page of 100 summaries or a movie with its cast is
/// far below this; more would be a bug, not something to render.
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// The public API router, called in-process.
#[derive(Clone)]
pub struct Api {
    router: Router,
}

/// What of the page's own request goes along with each API request: the client's address
/// (the gateway forwards it, and its per-client rules see the person, not this process) and
/// the request id (so the API's log lines name the page's request).
#[derive(Clone, Default)]
pub struct Caller {
    client: Option<ConnectInfo<SocketAddr>>,
    request_id: Option<axum::http::HeaderValue>,
}

impl Caller {
    /// The caller of a page request with these parts.
    pub fn of(client: Option<ConnectInfo<SocketAddr>>, headers: &HeaderMap) -> Self {
        Caller {
            client,
            request_id: headers.get("x-request-id").cloned(),
        }
    }
}

impl Api {
    /// The site's client of `router`.
    pub fn new(router: Router) -> Self {
        Api { router }
    }

    /// `GET path` (from `/api/v1/...`, query included) read as `T`. A 404 is
    /// [`PageError::NotFound`], a 503 [`PageError::Unavailable`] with the API's
    /// `Retry-After`, a 422 (a malformed cursor or search) [`PageError::BadRequest`].
    pub async fn get<T: DeserializeOwned>(
        &self,
        caller: &Caller,
        path: &str,
    ) -> Result<T, PageError> {
        let mut request = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(header::ACCEPT, "application/json");
        if let Some(id) = &caller.request_id {
            request = request.header("x-request-id", id.clone());
        }
        let mut request = request
            .body(Body::empty())
            .map_err(|e| PageError::Internal(format!("building GET {path}: {e}")))?;
        if let Some(client) = caller.client {
            request.extensions_mut().insert(client);
        }
        let response = match self.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status();
        let retry_after = response.headers().get(header::RETRY_AFTER).cloned();
        let body = axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES)
            .await
            .map_err(|e| PageError::Internal(format!("reading GET {path}: {e}")))?;
        match status {
            StatusCode::OK => serde_json::from_slice(&body)
                .map_err(|e| PageError::Internal(format!("the answer to GET {path}: {e}"))),
            StatusCode::NOT_FOUND => Err(PageError::NotFound),
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => {
                Err(PageError::Unavailable { retry_after })
            }
            StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => Err(
                PageError::BadRequest(problem_detail(&body).unwrap_or_else(|| status.to_string())),
            ),
            other => Err(PageError::Internal(format!("GET {path} answered {other}"))),
        }
    }
}

/// The `detail` of a problem+json answer, or of its first failing field.
fn problem_detail(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Problem {
        detail: Option<String>,
        #[serde(default)]
        errors: Vec<FieldError>,
    }
    #[derive(Deserialize)]
    struct FieldError {
        message: String,
    }
    let problem: Problem = serde_json::from_slice(body).ok()?;
    problem
        .errors
        .into_iter()
        .next()
        .map(|e| e.message)
        .or(problem.detail)
}

/// A page of a list: `{"items": [...], "next_cursor": ...}`.
#[derive(Debug, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// A poster or photo: `{url, thumbnail_url, width, height}`.
#[derive(Debug, Deserialize)]
pub struct Picture {
    pub thumbnail_url: String,
    pub width: u32,
    pub height: u32,
}

/// A movie summary, as every movie list answers it.
#[derive(Debug, Deserialize)]
pub struct MovieSummary {
    pub id: String,
    pub title: String,
    pub release_year: i64,
    #[serde(default)]
    pub genres: Vec<String>,
    pub score: Option<serde_json::Number>,
    pub review_count: u64,
    pub poster: Option<Picture>,
}

/// `GET /genres`'s entries.
#[derive(Debug, Deserialize)]
pub struct Genre {
    pub name: String,
    pub movie_count: u64,
}

/// `GET /movies/{id}`.
#[derive(Debug, Deserialize)]
pub struct Movie {
    pub id: String,
    pub title: String,
    pub release_year: i64,
    #[serde(default)]
    pub genres: Vec<String>,
    pub overview: Option<String>,
    pub poster: Option<Picture>,
    #[serde(default)]
    pub actors: Vec<CastMember>,
    pub score: Option<serde_json::Number>,
    pub review_count: u64,
}

/// A movie's cast entry.
#[derive(Debug, Deserialize)]
pub struct CastMember {
    pub id: String,
    pub name: String,
    pub role: String,
    pub photo: Option<Picture>,
}

/// A review in `GET /movies/{id}/reviews`.
#[derive(Debug, Deserialize)]
pub struct Review {
    pub user_id: String,
    pub user_name: String,
    pub score: i64,
    pub comment: Option<String>,
    pub updated_at: String,
}

/// An entry of `GET /actors`.
#[derive(Debug, Deserialize)]
pub struct ActorSummary {
    pub id: String,
    pub name: String,
    pub photo: Option<Picture>,
}

/// `GET /actors/{id}`.
#[derive(Debug, Deserialize)]
pub struct Actor {
    pub name: String,
    pub date_of_birth: Option<String>,
    pub bio: Option<String>,
    pub photo: Option<Picture>,
    #[serde(default)]
    pub movies: Vec<FilmographyEntry>,
}

/// An entry of an actor's filmography.
#[derive(Debug, Deserialize)]
pub struct FilmographyEntry {
    pub id: String,
    pub title: String,
    pub release_year: i64,
    pub role: String,
    pub score: Option<serde_json::Number>,
    pub review_count: u64,
    pub poster: Option<Picture>,
}

/// `GET /users/{id}`.
#[derive(Debug, Deserialize)]
pub struct User {
    pub name: String,
    #[serde(default)]
    pub reviews: Vec<UserReview>,
}

/// A review in a user's list.
#[derive(Debug, Deserialize)]
pub struct UserReview {
    pub movie_id: String,
    pub movie_title: String,
    pub score: i64,
    pub comment: Option<String>,
    pub updated_at: String,
}
