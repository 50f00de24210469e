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
    modifiers(&BearerAuth),
    components(schemas(platform::problem::Problem, domain::FieldError))
)]
struct MovieBook;

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

/// The whole document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = MovieBook::openapi();
    doc.merge(crate::app::OperationsDoc::openapi());
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
