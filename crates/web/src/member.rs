//! What a signed-in user does: write, edit and delete their review of a movie, and keep
//! their watch list. Each form calls the API with the user's token.

use askama::Template;
use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value};

use crate::api::{MovieSummary, Page};
use crate::forms::{self, FormState, Submission};
use crate::pages::{MovieShown, PageQuery, enc, movie_page};
use crate::respond::{self, PageError};
use crate::session::{CsrfKey, Session, Visitor};
use crate::site::Context;

/// How many movies a page of the watch list shows.
const WATCHLIST_PAGE: usize = 20;

/// The signed-in user's id and token.
fn signed_in_user(visitor: &Visitor) -> Option<(uuid::Uuid, String)> {
    match visitor.session() {
        Some(Session::User { id, token }) => Some((*id, token.clone())),
        _ => None,
    }
}

/// The answer that sends the visitor to log in and come back to `back`.
pub fn to_log_in(visitor: &Visitor, back: &str) -> Response {
    respond::see_other(visitor, &format!("/login?next={}", enc(back)))
}

/// The answer to a form whose token the API refused: signed out, and sent to log in again.
pub fn session_ended(mut visitor: Visitor, key: &CsrfKey, back: &str) -> Response {
    visitor.sign_out(key);
    to_log_in(&visitor, back)
}

/// A form's number as JSON: the number when it is one, else the text as typed, so that the
/// API judges it and its message is the one shown.
pub fn number_or_text(text: &str) -> Value {
    let text = text.trim();
    text.parse::<i64>()
        .map(Value::from)
        .unwrap_or_else(|_| Value::from(text))
}

/// `POST /movies/{id}/review`: writes (or replaces) the user's review.
pub async fn write_review(
    Context { api, key, caller }: Context,
    Path(id): Path<String>,
    Submission { visitor, fields }: Submission,
) -> Result<Response, PageError> {
    let back = format!("/movies/{}", enc(&id));
    let Some((_, token)) = signed_in_user(&visitor) else {
        return Ok(to_log_in(&visitor, &back));
    };
    let mut review = Map::new();
    if let Some(score) = fields.optional("score") {
        review.insert("score".into(), number_or_text(score));
    }
    if let Some(comment) = fields.get("comment").filter(|c| !c.is_empty()) {
        review.insert("comment".into(), Value::from(comment));
    }
    let answer = api
        .send_json(
            &caller,
            Method::POST,
            &format!("/api/v1/movies/{}/reviews", enc(&id)),
            Some(&token),
            &Value::Object(review),
        )
        .await?;
    match answer.status {
        status if status.is_success() => Ok(respond::see_other(&visitor, &back)),
        StatusCode::UNAUTHORIZED => Ok(session_ended(visitor, &key, &back)),
        status if forms::is_for_the_form(status) => {
            let mut form = FormState::keeping(&fields, &["score", "comment"]);
            form.show(&answer, |field| Some(field.to_owned()), None);
            let shown = MovieShown {
                id: &id,
                cursor: None,
            };
            movie_page(&api, &key, &caller, visitor, shown, Some((status, form))).await
        }
        _ => Err(answer.into_error()),
    }
}

/// `POST /movies/{id}/review/delete`: deletes the user's review (nothing to do when there
/// is none).
pub async fn delete_review(
    Context { api, key, caller }: Context,
    Path(id): Path<String>,
    Submission { visitor, .. }: Submission,
) -> Result<Response, PageError> {
    let back = format!("/movies/{}", enc(&id));
    let Some((user, token)) = signed_in_user(&visitor) else {
        return Ok(to_log_in(&visitor, &back));
    };
    let path = format!("/api/v1/movies/{}/reviews/{user}", enc(&id));
    let answer = api
        .send(&caller, Method::DELETE, &path, Some(&token), None)
        .await?;
    match answer.status {
        status if status.is_success() || status == StatusCode::NOT_FOUND => {
            Ok(respond::see_other(&visitor, &back))
        }
        StatusCode::UNAUTHORIZED => Ok(session_ended(visitor, &key, &back)),
        _ => Err(answer.into_error()),
    }
}

/// `POST /movies/{id}/watchlist`: puts the movie on the user's watch list.
pub async fn add_to_watchlist(
    site: Context,
    Path(id): Path<String>,
    submission: Submission,
) -> Result<Response, PageError> {
    change_watchlist(site, &id, submission, Method::PUT).await
}

/// `POST /movies/{id}/watchlist/remove`: takes the movie off the user's watch list.
pub async fn remove_from_watchlist(
    site: Context,
    Path(id): Path<String>,
    submission: Submission,
) -> Result<Response, PageError> {
    change_watchlist(site, &id, submission, Method::DELETE).await
}

/// Adds (`PUT`) or removes (`DELETE`) movie `id` on the user's list, then goes back to the
/// form's `next` page, or the movie's.
async fn change_watchlist(
    Context { api, key, caller }: Context,
    id: &str,
    Submission { visitor, fields }: Submission,
    method: Method,
) -> Result<Response, PageError> {
    let movie_page = format!("/movies/{}", enc(id));
    let back = forms::local_path(fields.get("next")).unwrap_or(&movie_page);
    let Some((user, token)) = signed_in_user(&visitor) else {
        return Ok(to_log_in(&visitor, back));
    };
    let path = format!("/api/v1/users/{user}/watchlist/{}", enc(id));
    let answer = api.send(&caller, method, &path, Some(&token), None).await?;
    match answer.status {
        status if status.is_success() => Ok(respond::see_other(&visitor, back)),
        StatusCode::UNAUTHORIZED => Ok(session_ended(visitor, &key, back)),
        _ => Err(answer.into_error()),
    }
}

/// `/watchlist`: the signed-in user's watch list, most recently added first.
#[derive(Template)]
#[template(path = "watchlist.html")]
struct WatchlistPage {
    visitor: Visitor,
    movies: Vec<MovieSummary>,
    more: Option<String>,
    paged: bool,
}

pub async fn watchlist(
    Context { api, key, caller }: Context,
    visitor: Visitor,
    Query(query): Query<PageQuery>,
) -> Result<Response, PageError> {
    let Some((user, token)) = signed_in_user(&visitor) else {
        return Ok(to_log_in(&visitor, "/watchlist"));
    };
    let mut path = format!("/api/v1/users/{user}/watchlist?limit={WATCHLIST_PAGE}");
    if let Some(cursor) = &query.cursor {
        path.push_str(&format!("&cursor={}", enc(cursor)));
    }
    let page = match api
        .get_as::<Page<MovieSummary>>(&caller, Some(&token), &path)
        .await
    {
        Err(PageError::SessionEnded) => return Ok(session_ended(visitor, &key, "/watchlist")),
        page => page?,
    };
    let page = WatchlistPage {
        visitor,
        more: page
            .next_cursor
            .map(|cursor| format!("/watchlist?cursor={}", enc(&cursor))),
        movies: page.items,
        paged: query.cursor.is_some(),
    };
    Ok(respond::page(&page.visitor, StatusCode::OK, &page))
}
