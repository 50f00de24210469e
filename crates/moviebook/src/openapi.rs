//! The OpenAPI document, merged from every service's part and generated from the code, and
//! the page that explores it.

use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::routing::get;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::Response;
use utoipa::openapi::schema::ObjectBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Header, Ref, RefOr, Type};
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

/// The media type of every error the API answers (RFC 9457).
const PROBLEM_JSON: &str = "application/problem+json";

/// Makes every error answer of the document what the server sends: `application/problem+json`
/// with the `Problem` schema, and adds to each operation the errors that come from the layers
/// every route shares rather than from its handler, so the handlers' annotations list only
/// their own answers (404 for an unknown id, 409, 429 of the login throttle):
/// - every route: 503 when the store or the bus is unavailable (or the server sheds load);
/// - a JSON body: 400 not JSON, 413 over 1 MiB, 415 not `application/json`, 422 failing a rule;
/// - query parameters: 422 when one fails its rule;
/// - a bearer token: 401 missing or invalid, 403 without the right.
///
/// A Modify of the merged document rather than an attribute on each handler, because these
/// answers belong to the shared extractors and layers (`JsonBody`, `Query`, `Principal`), and
/// a new route gets them without anyone remembering to list them.
struct ProblemResponses;

impl Modify for ProblemResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                add_shared_errors(operation);
                for (status, response) in operation.responses.responses.iter_mut() {
                    if let RefOr::T(response) = response
                        && (status.starts_with('4') || status.starts_with('5'))
                    {
                        as_problem(status, response);
                    }
                }
            }
        }
    }
}

/// Adds the answers of the shared layers an operation goes through (see [`ProblemResponses`]).
fn add_shared_errors(operation: &mut Operation) {
    let mut shared: Vec<(&str, &str)> = Vec::new();
    // The operations routes answer from the process itself, not from the store.
    let is_api = operation
        .tags
        .as_ref()
        .is_none_or(|tags| !tags.iter().any(|t| t == "operations"));
    if is_api {
        shared.push((
            "503",
            "A backing service (store, broker) is unavailable, or the server is too busy; \
             nothing was half-written. Retry after `Retry-After` seconds.",
        ));
    }
    if operation.request_body.is_some() {
        shared.extend([
            ("400", "The body is not valid JSON."),
            ("413", "The body is larger than 1 MiB."),
            ("415", "The body was not sent as `application/json`."),
            (
                "422",
                "The body does not satisfy the schema or a rule; `errors` lists every failing field.",
            ),
        ]);
    }
    let has_query =
        operation.parameters.iter().flatten().any(
            |parameter| matches!(parameter, RefOr::T(p) if p.parameter_in == ParameterIn::Query),
        );
    if has_query {
        shared.push((
            "422",
            "A query parameter fails its rule; `errors` names every failing parameter.",
        ));
    }
    if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
        shared.extend([
            (
                "401",
                "The bearer token is missing, malformed, expired or badly signed.",
            ),
            ("403", "The token does not carry the right for this."),
        ]);
    }
    for (status, description) in shared {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(Response::new(description)));
    }
}

/// Makes `response` the problem+json the server sends for `status`, keeping its description.
fn as_problem(status: &str, response: &mut Response) {
    response.content.clear();
    response.content.insert(
        PROBLEM_JSON.to_owned(),
        RefOr::T(Content::new(Some(Ref::from_schema_name("Problem")))),
    );
    if status == "429" || status == "503" {
        let mut header = Header::new(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0)),
        );
        header.description = Some("Seconds to wait before trying again.".to_owned());
        response
            .headers
            .insert("Retry-After".to_owned(), RefOr::T(header));
    }
}

/// Where the process answers `/metrics`: its document lists the path only when the public
/// address does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsAt {
    /// The public address (the embedded process, which has no internal one).
    Public,
    /// The internal address (`MOVIEBOOK_INTERNAL_ADDR`), which the document does not describe.
    Internal,
}

/// The whole document, as a process whose metrics are `metrics` serves it.
pub fn document(metrics: MetricsAt) -> utoipa::openapi::OpenApi {
    let mut doc = MovieBook::openapi();
    doc.merge(crate::app::OperationsDoc::openapi());
    doc.merge(actors::http::ActorsDoc::openapi());
    doc.merge(users::http::UsersDoc::openapi());
    doc.merge(movies::http::MoviesDoc::openapi());
    if metrics == MetricsAt::Internal {
        doc.paths.paths.remove("/metrics");
    }
    // After the merge: it walks every service's operations.
    ProblemResponses.modify(&mut doc);
    doc
}

/// `GET /api/v1/openapi.json`: the document, serialized once at start.
pub fn route(metrics: MetricsAt) -> serde_json::Result<Router> {
    let document = Bytes::from(serde_json::to_vec(&document(metrics))?);
    Ok(Router::new().route(
        DOCUMENT_PATH,
        get(move || {
            let document = document.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], document) }
        }),
    ))
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
