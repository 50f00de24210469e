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

    /// Sends `method path` (from `/api/v1/...`, query included) with `token` as the bearer
    /// and `body` of `content_type`, and reads the whole answer.
    pub async fn send(
        &self,
        caller: &Caller,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, Body)>,
    ) -> Result<Answer, PageError> {
        let mut request = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(header::ACCEPT, "application/json");
        if let Some(id) = &caller.request_id {
            request = request.header("x-request-id", id.clone());
        }
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some((content_type, body)) => {
                request = request.header(header::CONTENT_TYPE, content_type);
                body
            }
            None => Body::empty(),
        };
        let mut request = request
            .body(body)
            .map_err(|e| PageError::Internal(format!("building {method} {path}: {e}")))?;
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
            .map_err(|e| PageError::Internal(format!("reading {method} {path}: {e}")))?;
        Ok(Answer {
            status,
            retry_after,
            body,
            what: format!("{method} {path}"),
        })
    }

    /// `GET path` read as `T`, with `token` when given. A 404 is [`PageError::NotFound`], a
    /// 503 or 429 [`PageError::Unavailable`] with the API's `Retry-After`, a 422 (a malformed
    /// cursor or search) [`PageError::BadRequest`].
    pub async fn get_as<T: DeserializeOwned>(
        &self,
        caller: &Caller,
        token: Option<&str>,
        path: &str,
    ) -> Result<T, PageError> {
        let answer = self.send(caller, Method::GET, path, token, None).await?;
        match answer.status {
            StatusCode::OK => answer.json(),
            _ => Err(answer.into_error()),
        }
    }

    /// Sends `value` as JSON to `method path`, with `token` as the bearer when given.
    pub async fn send_json(
        &self,
        caller: &Caller,
        method: Method,
        path: &str,
        token: Option<&str>,
        value: &serde_json::Value,
    ) -> Result<Answer, PageError> {
        let body = Body::from(value.to_string());
        self.send(
            caller,
            method,
            path,
            token,
            Some(("application/json", body)),
        )
        .await
    }

    /// `GET path` read as `T` when it exists (`None` for a 404), with `token` when given. A
    /// refused token (401) is [`PageError::SessionEnded`].
    pub async fn find<T: DeserializeOwned>(
        &self,
        caller: &Caller,
        token: Option<&str>,
        path: &str,
    ) -> Result<Option<T>, PageError> {
        let answer = self.send(caller, Method::GET, path, token, None).await?;
        match answer.status {
            StatusCode::OK => answer.json().map(Some),
            StatusCode::NOT_FOUND => Ok(None),
            StatusCode::UNAUTHORIZED => Err(PageError::SessionEnded),
            _ => Err(answer.into_error()),
        }
    }

    /// `GET path` read as `T`, as anyone reads it.
    pub async fn get<T: DeserializeOwned>(
        &self,
        caller: &Caller,
        path: &str,
    ) -> Result<T, PageError> {
        self.get_as(caller, None, path).await
    }
}

/// An answer of the API, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub retry_after: Option<axum::http::HeaderValue>,
    body: axum::body::Bytes,
    /// The request it answers, for the log.
    what: String,
}

impl Answer {
    /// The answer's body read as `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, PageError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| PageError::Internal(format!("the answer to {}: {e}", self.what)))
    }

    /// The problem+json of an error answer: its detail and its failing fields.
    pub fn problem(&self) -> Problem {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| Problem {
            detail: None,
            errors: Vec::new(),
        })
    }

    /// What a page shows for an answer it cannot use.
    pub fn into_error(self) -> PageError {
        match self.status {
            StatusCode::NOT_FOUND => PageError::NotFound,
            StatusCode::UNAUTHORIZED => PageError::SessionEnded,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => {
                PageError::Unavailable {
                    retry_after: self.retry_after,
                }
            }
            StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => {
                let problem = self.problem();
                PageError::BadRequest(
                    problem
                        .errors
                        .into_iter()
                        .next()
                        .map(|e| e.message)
                        .or(problem.detail)
                        .unwrap_or_else(|| self.status.to_string()),
                )
            }
            other => PageError::Internal(format!("{} answered {other}", self.what)),
        }
    }
}

/// An API error answer (problem+json): the fields a form shows.
#[derive(Debug, Deserialize)]
pub struct Problem {
    pub detail: Option<String>,
    #[serde(default)]
    pub errors: Vec<FieldError>,
}

/// One failing field of a problem.
#[derive(Debug, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
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
    pub id: String,
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
