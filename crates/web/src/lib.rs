//! The web site for people: server-rendered HTML pages beside the JSON API (API.md, "Web
//! pages"), read-only in this slice, working without JavaScript.
//!
//! One source of truth: every page is made from the JSON API itself. The site holds the
//! process's public API router (every service in the embedded process, the gateway's
//! forwarding in a cluster, the read cache in both) and calls it in-process with internal
//! `GET /api/v1/...` requests, keeping only the fields a page shows. No rule of the API is
//! written again here and no store is read directly, so a page can never disagree with the
//! API it is made from.

mod api;
mod pages;
mod respond;

use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub use respond::{STYLESHEET_PATH, stylesheet_url};

use api::Api;

/// The pages' routes, each answering from `api` (the public API router, with its fallback
/// and cache). Merge them into the router that serves the API, and add [`html_not_found`]
/// as a layer on the result so that an unknown page path gets an HTML 404.
pub fn pages(api: Router) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/search", get(pages::search))
        .route("/top-rated", get(pages::top_rated))
        .route("/genres", get(pages::genres))
        .route("/genres/{genre}", get(pages::genre))
        .route("/movies/{id}", get(pages::movie))
        .route("/actors/{id}", get(pages::actor))
        .route("/users/{id}", get(pages::user))
        .with_state(Api::new(api))
        .route(STYLESHEET_PATH, get(respond::stylesheet))
}

/// Turns the 404 of a page path into the site's HTML 404 page: a person who mistypes a
/// page's address gets a page, while the API's own paths (and the operators' `/metrics`,
/// `/healthz` and `/readyz`, which a cluster's gateway may not serve) keep their
/// problem+json 404.
pub async fn html_not_found(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let for_machines = path == "/api"
        || path.starts_with("/api/")
        || matches!(path, "/metrics" | "/healthz" | "/readyz");
    let response = next.run(request).await;
    if for_machines || response.status() != axum::http::StatusCode::NOT_FOUND {
        return response;
    }
    if respond::is_html(&response) {
        return response;
    }
    respond::PageError::NotFound.into_response()
}

#[cfg(test)]
mod tests;
