//! Signing up, logging in and out: the API's `POST /users` and `POST /auth/token`, the
//! token kept in the session cookie.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use crate::api::{Answer, Api, Caller};
use crate::forms::{self, Fields, FormState, Submission};
use crate::respond::{self, PageError};
use crate::session::{CsrfKey, Session, Visitor};
use crate::site::Context;

/// `/signup`.
#[derive(Template)]
#[template(path = "signup.html")]
struct SignUpPage {
    visitor: Visitor,
    form: FormState,
}

/// `/login`.
#[derive(Template)]
#[template(path = "login.html")]
struct LogInPage {
    visitor: Visitor,
    form: FormState,
    /// Where to go once logged in.
    next: Option<String>,
}

/// The query of `/login`: where to go once logged in.
#[derive(Debug, Default, Deserialize)]
pub struct Next {
    next: Option<String>,
}

impl Next {
    /// The page to go on to: a local path, or the home page.
    fn path(&self) -> &str {
        forms::local_path(self.next.as_deref()).unwrap_or("/")
    }

    /// The local path to keep in the form, if any.
    fn kept(&self) -> Option<String> {
        forms::local_path(self.next.as_deref()).map(str::to_owned)
    }
}

/// The API's answer to a successful log-in.
#[derive(Deserialize)]
struct Token {
    access_token: String,
    expires_in: u64,
    user_id: uuid::Uuid,
}

/// The API's fields of a sign-up or log-in, which are the forms' own.
fn same_field(field: &str) -> Option<String> {
    Some(field.to_owned())
}

pub async fn sign_up_page(visitor: Visitor) -> Response {
    let page = SignUpPage {
        visitor,
        form: FormState::default(),
    };
    respond::page(&page.visitor, StatusCode::OK, &page)
}

/// `POST /signup`: signs the person up, then logs them in.
pub async fn sign_up(
    Context { api, key, caller }: Context,
    Submission { visitor, fields }: Submission,
) -> Result<Response, PageError> {
    let user = json!({
        "name": fields.text("name"),
        "email": fields.text("email"),
        "password": fields.text("password"),
    });
    let answer = api
        .send_json(&caller, Method::POST, "/api/v1/users", None, &user)
        .await?;
    match answer.status {
        StatusCode::CREATED => {}
        status if forms::is_for_the_form(status) => {
            let mut form = FormState::keeping(&fields, &["name", "email"]);
            let whole = (status == StatusCode::CONFLICT).then_some("email");
            form.show(&answer, same_field, whole);
            let page = SignUpPage { visitor, form };
            return Ok(respond::page(&page.visitor, status, &page));
        }
        _ => return Err(answer.into_error()),
    }
    let answer = request_token(&api, &caller, &fields).await?;
    match answer.status {
        StatusCode::OK => Ok(signed_in(visitor, &key, &answer, "/")?),
        // Signed up, but the log-in that follows was refused (throttled, say): the person
        // logs in themselves.
        _ => Ok(respond::see_other(&visitor, "/login")),
    }
}

pub async fn log_in_page(visitor: Visitor, Query(next): Query<Next>) -> Response {
    let page = LogInPage {
        visitor,
        form: FormState::default(),
        next: next.kept(),
    };
    respond::page(&page.visitor, StatusCode::OK, &page)
}

/// `POST /login`: logs the person in (the API throttles failed attempts per e-mail and per
/// client, as for any client) and goes on to `next`.
pub async fn log_in(
    Context { api, key, caller }: Context,
    Query(next): Query<Next>,
    Submission { visitor, fields }: Submission,
) -> Result<Response, PageError> {
    let answer = request_token(&api, &caller, &fields).await?;
    match answer.status {
        StatusCode::OK => signed_in(visitor, &key, &answer, next.path()),
        status if status == StatusCode::UNAUTHORIZED || forms::is_for_the_form(status) => {
            let mut form = FormState::keeping(&fields, &["email"]);
            form.show(&answer, same_field, None);
            let page = LogInPage {
                visitor,
                form,
                next: next.kept(),
            };
            Ok(respond::page(&page.visitor, status, &page))
        }
        _ => Err(answer.into_error()),
    }
}

/// `/logout` opened as a page (a typed address, a bookmark): a button that logs out, as
/// logging out changes state and so is a form.
#[derive(Template)]
#[template(path = "logout.html")]
struct LogOutPage {
    visitor: Visitor,
}

pub async fn log_out_page(visitor: Visitor) -> Response {
    let page = LogOutPage { visitor };
    respond::page(&page.visitor, StatusCode::OK, &page)
}

/// `POST /logout`: ends the session.
pub async fn log_out(
    State(key): State<CsrfKey>,
    Submission { mut visitor, .. }: Submission,
) -> Response {
    visitor.sign_out(&key);
    respond::see_other(&visitor, "/")
}

/// The API's answer to a log-in with the form's e-mail and password.
async fn request_token(api: &Api, caller: &Caller, fields: &Fields) -> Result<Answer, PageError> {
    let credentials = json!({"email": fields.text("email"), "password": fields.text("password")});
    api.send_json(
        caller,
        Method::POST,
        "/api/v1/auth/token",
        None,
        &credentials,
    )
    .await
}

/// Signs in the user of the log-in `answer` for as long as its token lasts, and goes on to
/// `next`.
fn signed_in(
    mut visitor: Visitor,
    key: &CsrfKey,
    answer: &Answer,
    next: &str,
) -> Result<Response, PageError> {
    let token: Token = answer.json()?;
    let session = Session::User {
        id: token.user_id,
        token: token.access_token,
    };
    visitor.sign_in(session, Some(token.expires_in), key);
    Ok(respond::see_other(&visitor, next))
}
