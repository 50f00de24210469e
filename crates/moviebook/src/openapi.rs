//! The OpenAPI document, merged from every service's part and generated from the code, and
//! the page that explores it.

use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

/// Where the document is served.
pub const DOCUMENT_PATH: &str = "/api/v1/openapi.json";

/// Where its explorer is served.
const EXPLORER_PATH: &str = "/api/docs";

#[derive(OpenApi)]
#[openapi(
    info(title = "MovieBook", description = "Movies, actors, users and their reviews.", version = "1"),
    paths(healthz, readyz, metrics),
    modifiers(&BearerAuth),
    components(schemas(platform::problem::Problem, domain::FieldError))
)]
struct Operations;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The admin token, or a user token from POST /api/v1/auth/token",
                    ))
                    .build(),
            ),
        );
    }
}

/// Liveness: 200 while the process runs.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200)))]
#[allow(dead_code)] // Documents the route served in `app`.
fn healthz() {}

/// Readiness: 200 when the store and the bus answer, 503 otherwise.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200), (status = 503)))]
#[allow(dead_code)] // Documents the route served in `app`.
fn readyz() {}

/// Prometheus metrics in text format.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain")))]
#[allow(dead_code)] // Documents the route served in `app`.
fn metrics() {}

/// The whole document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = Operations::openapi();
    doc.merge(actors::http::ActorsDoc::openapi());
    doc.merge(users::http::UsersDoc::openapi());
    doc.merge(movies::http::MoviesDoc::openapi());
    doc
}

/// `GET /api/v1/openapi.json`.
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}

/// `GET /api/docs`: Swagger UI on the document served at [`DOCUMENT_PATH`] (it redirects to
/// `/api/docs/`, whose page loads its files relative to itself). The files are compiled into
/// the binary and Swagger UI's online validator is off, so the page loads nothing from
/// another host.
pub fn explorer() -> Router {
    SwaggerUi::new(EXPLORER_PATH)
        .config(utoipa_swagger_ui::Config::from(DOCUMENT_PATH).validator_url("none"))
        .into()
}
