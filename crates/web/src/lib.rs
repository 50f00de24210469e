//! The web site for people: server-rendered HTML pages beside the JSON API (API.md, "Web
//! pages"), working without JavaScript: browsing and search, sign-up and log-in, reviews and
//! the watch list, and the admin console.
//!
//! One source of truth: every page is made from the JSON API itself. The site holds the
//! process's public API router (every service in the embedded process, the gateway's
//! forwarding in a cluster, the read cache in both) and calls it in-process with internal
//! `GET /api/v1/...` requests, keeping only the fields a page shows. No rule of the API is
//! written again here and no store is read directly, so a page can never disagree with the
//! API it is made from. A signed-in person's session cookie holds the token the API gave
//! them, and their forms call the API with it, so the API's rules (who may do what, every
//! field's limits, log-in throttling) are the site's too, and its messages are the forms'.

mod account;
mod admin;
mod api;
mod forms;
mod member;
mod pages;
mod respond;
mod session;
mod site;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

pub use respond::{STYLESHEET_PATH, stylesheet_url};

use api::Api;
use session::CsrfKey;
use site::Site;

/// The largest upload form: a picture at the API's limit (10 MiB) and the form's other
/// fields. A bigger one is refused before it is read.
const UPLOAD_FORM_BYTES: usize = 10 * 1024 * 1024 + 64 * 1024;

/// The pages' routes, each answering from `api` (the public API router, with its fallback
/// and cache); their forms' CSRF tokens are keyed by `secret` (the deployment's JWT secret,
/// which every process of it has). Merge them into the router that serves the API; an
/// unknown page path gets an HTML 404 from [`html_not_found`] on the API's fallback.
pub fn pages(api: Router, secret: &[u8]) -> Router {
    let upload_limit = DefaultBodyLimit::max(UPLOAD_FORM_BYTES);
    Router::new()
        .route("/", get(pages::home))
        .route("/search", get(pages::search))
        .route("/top-rated", get(pages::top_rated))
        .route("/genres", get(pages::genres))
        .route("/genres/{genre}", get(pages::genre))
        .route("/movies/{id}", get(pages::movie))
        .route("/actors/{id}", get(pages::actor))
        .route("/users/{id}", get(pages::user))
        .route("/signup", get(account::sign_up_page).post(account::sign_up))
        .route("/login", get(account::log_in_page).post(account::log_in))
        .route("/logout", get(account::log_out_page).post(account::log_out))
        .route("/watchlist", get(member::watchlist))
        .route("/movies/{id}/review", post(member::write_review))
        .route("/movies/{id}/review/delete", post(member::delete_review))
        .route("/movies/{id}/watchlist", post(member::add_to_watchlist))
        .route(
            "/movies/{id}/watchlist/remove",
            post(member::remove_from_watchlist),
        )
        .route("/admin", get(admin::console))
        .route("/admin/login", get(admin::log_in_page).post(admin::log_in))
        .route("/admin/actors", post(admin::add_actor))
        .route("/admin/movies", post(admin::add_movie))
        .route("/admin/actors/delete", post(admin::delete_actor))
        .route("/admin/movies/delete", post(admin::delete_movie))
        .route(
            "/admin/poster",
            post(admin::upload_poster).layer(upload_limit),
        )
        .route(
            "/admin/photo",
            post(admin::upload_photo).layer(upload_limit),
        )
        .with_state(Site {
            api: Api::new(api),
            csrf: CsrfKey::derive(secret),
        })
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
