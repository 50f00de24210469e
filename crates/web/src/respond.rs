//! How a page leaves the server: HTML with the site's security headers, the error pages, and
//! the one stylesheet.

use askama::Template;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::session::Visitor;

/// The site's own stylesheet, compiled in: the binary needs no files beside it.
const STYLESHEET: &str = include_str!("../static/site.css");

/// Where the stylesheet is served.
pub const STYLESHEET_PATH: &str = "/static/site.css";

/// The stylesheet's version: a hash of its text, so that a changed stylesheet gets a new
/// URL and browsers may keep each version for a year.
const STYLESHEET_VERSION: u64 = fnv1a(STYLESHEET.as_bytes());

/// The stylesheet's URL with its version, as pages link it.
pub fn stylesheet_url() -> String {
    format!("{STYLESHEET_PATH}?v={STYLESHEET_VERSION:016x}")
}

/// FNV-1a, 64 bits: computed at compile time; only a version tag, not a security measure.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

/// `GET /static/site.css`: the stylesheet, cached for a year (its URL changes with it), and
/// a 304 to a revalidation with its ETag.
pub async fn stylesheet(headers: HeaderMap) -> Response {
    let etag = format!("\"{STYLESHEET_VERSION:016x}\"");
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let status = if fresh {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    };
    let mut response = if fresh {
        status.into_response()
    } else {
        STYLESHEET.into_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Whether `response` is one of the site's HTML pages.
pub fn is_html(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"))
}

/// A rendered page with `status` and the site's headers: HTML in UTF-8, no sniffing, no
/// script or picture from anywhere but this server, no full addresses to other sites.
pub fn html(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => with_headers(status, body),
        Err(error) => {
            tracing::error!(%error, "rendering a page");
            with_headers(
                StatusCode::INTERNAL_SERVER_ERROR,
                "<!DOCTYPE html><html lang=\"en\"><title>Error</title><h1>Something went wrong</h1></html>"
                    .to_owned(),
            )
        }
    }
}

/// A page rendered for `visitor`, with the cookies their visit sets.
pub fn page(visitor: &Visitor, status: StatusCode, page: &impl Template) -> Response {
    with_cookies(visitor, html(status, page))
}

/// A `303 See Other` to `location` (a local path), with the cookies of the visit: where a
/// form goes after it was done.
pub fn see_other(visitor: &Visitor, location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    with_cookies(visitor, response)
}

fn with_cookies(visitor: &Visitor, mut response: Response) -> Response {
    for cookie in visitor.cookies() {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

fn with_headers(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    // A page may show who is signed in: no shared cache keeps it, and a browser asks again.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// Why a page could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// No such page, or the API has no such movie, actor, user or genre page.
    #[error("not found")]
    NotFound,
    /// The API is unavailable for now (a backing service, or the load), with its
    /// `Retry-After`.
    #[error("unavailable")]
    Unavailable { retry_after: Option<HeaderValue> },
    /// A form came without this visitor's CSRF token (from another site, or a page older
    /// than the visitor's session): nothing was done.
    #[error("form without its CSRF token")]
    FormExpired,
    /// The API refused the session's token (expired, or its user deleted): the handler signs
    /// the person out. Shown as a page only if one does not.
    #[error("the session's token was refused")]
    SessionEnded,
    /// The address's parameters were refused by the API (a malformed cursor, a search too
    /// long), with its message.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The API answered something a page cannot show; logged, and the page says only that
    /// something went wrong.
    #[error("{0}")]
    Internal(String),
}

/// The page of an error.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    title: &'static str,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match &self {
            PageError::NotFound => (
                StatusCode::NOT_FOUND,
                "Page not found",
                "There is no page at this address.".to_owned(),
            ),
            PageError::Unavailable { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable for now",
                "MovieBook cannot show this page right now. Please try again in a moment."
                    .to_owned(),
            ),
            PageError::SessionEnded => (
                StatusCode::UNAUTHORIZED,
                "Signed out",
                "Your session has ended. Please log in again.".to_owned(),
            ),
            PageError::FormExpired => (
                StatusCode::FORBIDDEN,
                "Form expired",
                "This form was not sent from this site's current page, so nothing was done. \
                 Go back, reload the page and send it again."
                    .to_owned(),
            ),
            PageError::BadRequest(detail) => (
                StatusCode::BAD_REQUEST,
                "Bad request",
                format!("This address cannot be shown: {detail}"),
            ),
            PageError::Internal(error) => {
                tracing::error!(%error, "a page could not be made");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "This page could not be made.".to_owned(),
                )
            }
        };
        let mut response = html(status, &ErrorPage { title, message });
        if let PageError::Unavailable { retry_after } = self {
            let value = retry_after.unwrap_or(HeaderValue::from_static("1"));
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}
