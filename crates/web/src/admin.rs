//! The admin console: log in with the admin token, add actors and movies (with cast and
//! genres), upload posters and photos, delete movies and actors — each form one call of the
//! API with the admin token, its refusals shown next to the fields.

use askama::Template;
use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Query};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::api::{ActorSummary, Answer, Api, Caller, Page};
use crate::forms::{self, Fields, FormState, Submission};
use crate::member::number_or_text;
use crate::pages::enc;
use crate::respond::{self, PageError};
use crate::session::{CSRF_FIELD, CsrfKey, Session, Visitor};
use crate::site::Context;

/// `/admin/login`.
#[derive(Template)]
#[template(path = "admin_login.html")]
struct LogInPage {
    visitor: Visitor,
    form: FormState,
}

/// A row of the cast of the add-movie form.
pub struct CastRow {
    pub actor_id: &'static str,
    pub actor_field: &'static str,
    pub actor_label: &'static str,
    pub role_id: &'static str,
    pub role_field: &'static str,
    pub role_label: &'static str,
}

macro_rules! cast_row {
    ($n:literal) => {
        CastRow {
            actor_id: concat!("add-movie-cast_actor_", $n),
            actor_field: concat!("cast_actor_", $n),
            actor_label: concat!("Actor ", $n),
            role_id: concat!("add-movie-cast_role_", $n),
            role_field: concat!("cast_role_", $n),
            role_label: concat!("Role ", $n),
        }
    };
}

/// The add-movie form's cast rows: as many as a form without script can offer.
const CAST_ROWS: [CastRow; 5] = [
    cast_row!(1),
    cast_row!(2),
    cast_row!(3),
    cast_row!(4),
    cast_row!(5),
];

/// `/admin`: every form of the console, each with its own state.
#[derive(Template)]
#[template(path = "admin.html")]
struct Console {
    visitor: Visitor,
    notice: Option<&'static str>,
    add_actor: FormState,
    add_movie: FormState,
    poster: FormState,
    photo: FormState,
    delete_movie: FormState,
    delete_actor: FormState,
    cast_rows: &'static [CastRow],
}

impl Console {
    fn new(visitor: Visitor) -> Self {
        Console {
            visitor,
            notice: None,
            add_actor: FormState::default(),
            add_movie: FormState::default(),
            poster: FormState::default(),
            photo: FormState::default(),
            delete_movie: FormState::default(),
            delete_actor: FormState::default(),
            cast_rows: &CAST_ROWS,
        }
    }

    fn answer(self, status: StatusCode) -> Response {
        respond::page(&self.visitor, status, &self)
    }
}

/// The admin's token, when the admin is signed in.
fn admin_token(visitor: &Visitor) -> Option<String> {
    match visitor.session() {
        Some(Session::Admin { token }) => Some(token.clone()),
        _ => None,
    }
}

/// The answer that sends the visitor to the admin log-in.
fn to_admin_log_in(visitor: &Visitor) -> Response {
    respond::see_other(visitor, "/admin/login")
}

/// The answer to a form whose admin token the API refused (changed since the log-in):
/// signed out, and sent to log in again.
fn token_refused(mut visitor: Visitor, key: &CsrfKey) -> Response {
    visitor.sign_out(key);
    respond::see_other(&visitor, "/admin/login")
}

pub async fn log_in_page(visitor: Visitor) -> Response {
    let page = LogInPage {
        visitor,
        form: FormState::default(),
    };
    respond::page(&page.visitor, StatusCode::OK, &page)
}

/// `POST /admin/login`: signs the admin in when the API takes the token as the admin's.
pub async fn log_in(
    Context { api, key, caller }: Context,
    Submission {
        mut visitor,
        fields,
    }: Submission,
) -> Result<Response, PageError> {
    let token = fields.text("token").trim();
    let mut form = FormState::default();
    if token.is_empty() || axum::http::HeaderValue::from_str(token).is_err() {
        form.refuse("token", "give the admin token");
    } else {
        let answer = api
            .send(&caller, Method::GET, "/api/v1/auth/me", Some(token), None)
            .await?;
        #[derive(Deserialize)]
        struct Holder {
            role: String,
        }
        match answer.status {
            StatusCode::OK if answer.json::<Holder>()?.role == "admin" => {
                let session = Session::Admin {
                    token: token.to_owned(),
                };
                visitor.sign_in(session, None, &key);
                return Ok(respond::see_other(&visitor, "/admin"));
            }
            StatusCode::OK => form.refuse("token", "this is a user's token, not the admin token"),
            StatusCode::UNAUTHORIZED => form.show(&answer, |_| None, Some("token")),
            _ => return Err(answer.into_error()),
        }
    }
    let page = LogInPage { visitor, form };
    Ok(respond::page(
        &page.visitor,
        StatusCode::UNAUTHORIZED,
        &page,
    ))
}

/// `/admin`'s query: what was just done, shown as a notice.
#[derive(Debug, Default, Deserialize)]
pub struct Done {
    deleted: Option<String>,
}

pub async fn console(visitor: Visitor, Query(done): Query<Done>) -> Response {
    if admin_token(&visitor).is_none() {
        return to_admin_log_in(&visitor);
    }
    let mut console = Console::new(visitor);
    console.notice = match done.deleted.as_deref() {
        Some("movie") => Some("The movie was deleted."),
        Some("actor") => Some("The actor was deleted."),
        _ => None,
    };
    console.answer(StatusCode::OK)
}

/// The id in a created resource's answer.
#[derive(Deserialize)]
struct Created {
    id: String,
}

/// `POST /admin/actors`: adds an actor, then shows their page (where a photo is uploaded).
pub async fn add_actor(
    Context { api, key, caller }: Context,
    Submission { visitor, fields }: Submission,
) -> Result<Response, PageError> {
    let Some(token) = admin_token(&visitor) else {
        return Ok(to_admin_log_in(&visitor));
    };
    let mut actor = Map::new();
    actor.insert("name".into(), Value::from(fields.text("name")));
    for optional in ["date_of_birth", "bio"] {
        if let Some(value) = fields.optional(optional) {
            actor.insert(optional.into(), Value::from(value));
        }
    }
    let answer = api
        .send_json(
            &caller,
            Method::POST,
            "/api/v1/actors",
            Some(&token),
            &Value::Object(actor),
        )
        .await?;
    let mut form = FormState::keeping(&fields, &["name", "date_of_birth", "bio"]);
    let refused = |console: &mut Console, form| console.add_actor = form;
    created(
        answer,
        visitor,
        &key,
        "/actors",
        &mut form,
        |f| Some(f.to_owned()),
        refused,
    )
}

/// `POST /admin/movies`: adds a movie with its genres and cast, then shows its page (where
/// a poster is uploaded).
pub async fn add_movie(
    Context { api, key, caller }: Context,
    Submission { visitor, fields }: Submission,
) -> Result<Response, PageError> {
    let Some(token) = admin_token(&visitor) else {
        return Ok(to_admin_log_in(&visitor));
    };
    let mut form = FormState::keeping(
        &fields,
        &[
            "title",
            "release_year",
            "genres",
            "overview",
            "cast_actor_1",
            "cast_role_1",
            "cast_actor_2",
            "cast_role_2",
            "cast_actor_3",
            "cast_role_3",
            "cast_actor_4",
            "cast_role_4",
            "cast_actor_5",
            "cast_role_5",
        ],
    );
    // The rows filled in, in order: the API numbers the cast entries by them.
    let rows: Vec<&CastRow> = CAST_ROWS
        .iter()
        .filter(|row| {
            fields.optional(row.actor_field).is_some() || fields.optional(row.role_field).is_some()
        })
        .collect();
    let mut cast = Vec::new();
    for row in &rows {
        let actor = fields.text(row.actor_field).trim();
        let actor_id = match resolve_actor(&api, &caller, actor).await? {
            Ok(id) => id,
            Err(why) => {
                // Sent as typed: the API then lists every other failing field with it, and
                // this row shows why its name found no one actor.
                form.refuse(row.actor_field, why);
                actor.to_owned()
            }
        };
        cast.push(serde_json::json!({
            "actor_id": actor_id,
            "role": fields.text(row.role_field).trim(),
        }));
    }
    let genres: Vec<&str> = fields
        .text("genres")
        .split(',')
        .map(str::trim)
        .filter(|genre| !genre.is_empty())
        .collect();
    let mut movie = Map::new();
    movie.insert("title".into(), Value::from(fields.text("title")));
    movie.insert(
        "release_year".into(),
        number_or_text(fields.text("release_year")),
    );
    movie.insert("genres".into(), Value::from(genres));
    if let Some(overview) = fields.optional("overview") {
        movie.insert("overview".into(), Value::from(overview));
    }
    if !cast.is_empty() {
        movie.insert("actors".into(), Value::from(cast));
    }
    let answer = api
        .send_json(
            &caller,
            Method::POST,
            "/api/v1/movies",
            Some(&token),
            &Value::Object(movie),
        )
        .await?;
    let field_of = |field: &str| movie_field(field, &rows);
    let refused = |console: &mut Console, form| console.add_movie = form;
    created(
        answer, visitor, &key, "/movies", &mut form, field_of, refused,
    )
}

/// The add-movie form's field of the API's `field`: the cast entries are the filled rows.
fn movie_field(field: &str, rows: &[&CastRow]) -> Option<String> {
    if let Some(rest) = field.strip_prefix("actors[") {
        let (index, part) = rest.split_once("].")?;
        let row = rows.get(index.parse::<usize>().ok()?)?;
        return match part {
            "actor_id" => Some(row.actor_field.to_owned()),
            "role" => Some(row.role_field.to_owned()),
            _ => None,
        };
    }
    if field == "genres" || field.starts_with("genres[") {
        return Some("genres".to_owned());
    }
    matches!(field, "title" | "release_year" | "overview").then(|| field.to_owned())
}

/// The id of the actor a cast row names: an id as it is, or the one actor with exactly this
/// name (case aside); `Err` says why the name names no one actor.
async fn resolve_actor(
    api: &Api,
    caller: &Caller,
    actor: &str,
) -> Result<Result<String, String>, PageError> {
    if actor.is_empty() || uuid::Uuid::parse_str(actor).is_ok() {
        return Ok(Ok(actor.to_owned()));
    }
    let path = format!("/api/v1/actors?limit=100&search={}", enc(actor));
    let found = match api.get::<Page<ActorSummary>>(caller, &path).await {
        Ok(found) => found,
        // A name the search refuses (too long, say) finds no one.
        Err(PageError::BadRequest(_)) => {
            return Ok(Err(
                "no actor has this name: give an actor's id or exact name".into(),
            ));
        }
        Err(error) => return Err(error),
    };
    let named: Vec<&ActorSummary> = found
        .items
        .iter()
        .filter(|candidate| candidate.name.to_lowercase() == actor.to_lowercase())
        .collect();
    Ok(match named.as_slice() {
        [one] => Ok(one.id.clone()),
        [] => Err("no actor has this name: give an actor's id or exact name".into()),
        several => Err(format!(
            "{} actors have this name: give the id of the one you mean",
            several.len()
        )),
    })
}

/// The answer to a form that creates something: its page (`{pages}/{id}`) when created;
/// else the console with the form as sent, the API's messages next to its fields.
fn created(
    answer: Answer,
    visitor: Visitor,
    key: &CsrfKey,
    pages: &str,
    form: &mut FormState,
    field_of: impl Fn(&str) -> Option<String>,
    keep: impl FnOnce(&mut Console, FormState),
) -> Result<Response, PageError> {
    match answer.status {
        StatusCode::CREATED => {
            let created: Created = answer.json()?;
            let location = format!("{pages}/{}", enc(&created.id));
            Ok(respond::see_other(&visitor, &location))
        }
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Ok(token_refused(visitor, key)),
        status if forms::is_for_the_form(status) => {
            form.show(&answer, field_of, None);
            let mut console = Console::new(visitor);
            keep(&mut console, std::mem::take(form));
            Ok(console.answer(status))
        }
        _ => Err(answer.into_error()),
    }
}

/// A movie's poster or an actor's photo.
#[derive(Clone, Copy)]
enum Picture {
    Poster,
    Photo,
}

impl Picture {
    /// The form's field naming the owner.
    fn owner_field(self) -> &'static str {
        match self {
            Picture::Poster => "movie_id",
            Picture::Photo => "actor_id",
        }
    }

    /// The form's file field.
    fn file_field(self) -> &'static str {
        match self {
            Picture::Poster => "poster",
            Picture::Photo => "photo",
        }
    }

    /// The owner's page.
    fn page(self, owner: &str) -> String {
        match self {
            Picture::Poster => format!("/movies/{}", enc(owner)),
            Picture::Photo => format!("/actors/{}", enc(owner)),
        }
    }

    /// The API's path of the picture.
    fn api_path(self, owner: &str) -> String {
        match self {
            Picture::Poster => format!("/api/v1/movies/{}/poster", enc(owner)),
            Picture::Photo => format!("/api/v1/actors/{}/photo", enc(owner)),
        }
    }

    /// What the console shows when the owner does not exist.
    fn no_owner(self) -> &'static str {
        match self {
            Picture::Poster => "no movie has this id",
            Picture::Photo => "no actor has this id",
        }
    }

    /// Keeps the form's state in the console.
    fn keep(self, console: &mut Console, form: FormState) {
        match self {
            Picture::Poster => console.poster = form,
            Picture::Photo => console.photo = form,
        }
    }
}

/// `POST /admin/poster` (multipart: `movie_id`, `poster`): uploads a movie's poster.
pub async fn upload_poster(
    site: Context,
    visitor: Visitor,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, PageError> {
    upload(site, visitor, multipart, Picture::Poster).await
}

/// `POST /admin/photo` (multipart: `actor_id`, `photo`): uploads an actor's photo.
pub async fn upload_photo(
    site: Context,
    visitor: Visitor,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, PageError> {
    upload(site, visitor, multipart, Picture::Photo).await
}

/// A file sent with a form.
struct File {
    content_type: String,
    bytes: axum::body::Bytes,
}

/// The text fields of an upload form, and its file of `file_field`; `Err` with the
/// message a body that cannot be read gets (too big, cut short).
async fn read_upload(
    multipart: Result<Multipart, MultipartRejection>,
    file_field: &str,
) -> Result<Result<(Fields, Option<File>), String>, PageError> {
    let mut multipart =
        multipart.map_err(|rejection| PageError::BadRequest(rejection.body_text()))?;
    let mut fields = Vec::new();
    let mut file = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(error) if error.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Ok(Err("the picture is over the 10 MiB limit".to_owned()));
            }
            Err(error) => return Ok(Err(format!("the form could not be read: {error}"))),
        };
        let name = field.name().unwrap_or_default().to_owned();
        if name == file_field {
            let content_type = field
                .content_type()
                .unwrap_or("application/octet-stream")
                .to_owned();
            let bytes = match field.bytes().await {
                Ok(bytes) => bytes,
                Err(error) if error.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    return Ok(Err("the picture is over the 10 MiB limit".to_owned()));
                }
                Err(error) => return Ok(Err(format!("the picture could not be read: {error}"))),
            };
            // A form sent without a chosen file has an empty part.
            if !bytes.is_empty() {
                file = Some(File {
                    content_type,
                    bytes,
                });
            }
        } else if name == CSRF_FIELD || !name.is_empty() {
            match field.text().await {
                Ok(text) => fields.push((name, text)),
                Err(error) => return Ok(Err(format!("the form could not be read: {error}"))),
            }
        }
    }
    Ok(Ok((Fields::new(fields), file)))
}

/// Uploads `picture` from an upload form, then shows its owner's page.
async fn upload(
    Context { api, key, caller }: Context,
    visitor: Visitor,
    multipart: Result<Multipart, MultipartRejection>,
    picture: Picture,
) -> Result<Response, PageError> {
    let owner_field = picture.owner_field();
    let file_field = picture.file_field();
    let (fields, file) = match read_upload(multipart, file_field).await? {
        Ok(read) => read,
        // Nothing of an unreadable form is used, its CSRF token included: only the
        // console is shown, with why.
        Err(why) => {
            if admin_token(&visitor).is_none() {
                return Ok(to_admin_log_in(&visitor));
            }
            let mut form = FormState::default();
            form.refuse(file_field, why);
            let mut console = Console::new(visitor);
            picture.keep(&mut console, form);
            return Ok(console.answer(StatusCode::PAYLOAD_TOO_LARGE));
        }
    };
    fields.check_csrf(&visitor)?;
    let Some(token) = admin_token(&visitor) else {
        return Ok(to_admin_log_in(&visitor));
    };
    let owner = fields.text(owner_field).trim().to_owned();
    let mut form = FormState::keeping(&fields, &[owner_field]);
    if owner.is_empty() {
        form.refuse(owner_field, "give the id");
    }
    let Some(file) = file else {
        form.refuse(file_field, "choose a picture to upload");
        let mut console = Console::new(visitor);
        picture.keep(&mut console, form);
        return Ok(console.answer(StatusCode::UNPROCESSABLE_ENTITY));
    };
    if form.refused() {
        let mut console = Console::new(visitor);
        picture.keep(&mut console, form);
        return Ok(console.answer(StatusCode::UNPROCESSABLE_ENTITY));
    }
    let body = Some((file.content_type.as_str(), Body::from(file.bytes)));
    let answer = api
        .send(
            &caller,
            Method::PUT,
            &picture.api_path(&owner),
            Some(&token),
            body,
        )
        .await?;
    match answer.status {
        StatusCode::OK => Ok(respond::see_other(&visitor, &picture.page(&owner))),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Ok(token_refused(visitor, &key)),
        StatusCode::NOT_FOUND => {
            form.refuse(owner_field, picture.no_owner());
            let mut console = Console::new(visitor);
            picture.keep(&mut console, form);
            Ok(console.answer(StatusCode::NOT_FOUND))
        }
        status if forms::is_for_the_form(status) => {
            // Every refusal of the body is the picture's.
            form.show(&answer, |_| Some(file_field.to_owned()), Some(file_field));
            let mut console = Console::new(visitor);
            picture.keep(&mut console, form);
            Ok(console.answer(status))
        }
        _ => Err(answer.into_error()),
    }
}

/// `POST /admin/movies/delete` (`movie_id`).
pub async fn delete_movie(site: Context, submission: Submission) -> Result<Response, PageError> {
    let deletion = Deletion {
        field: "movie_id",
        api_path: "/api/v1/movies",
        done: "/admin?deleted=movie",
        no_such: "no movie has this id",
        keep: |console, form| console.delete_movie = form,
    };
    delete(site, submission, deletion).await
}

/// `POST /admin/actors/delete` (`actor_id`).
pub async fn delete_actor(site: Context, submission: Submission) -> Result<Response, PageError> {
    let deletion = Deletion {
        field: "actor_id",
        api_path: "/api/v1/actors",
        done: "/admin?deleted=actor",
        no_such: "no actor has this id",
        keep: |console, form| console.delete_actor = form,
    };
    delete(site, submission, deletion).await
}

/// What a delete form deletes.
struct Deletion {
    /// The form's field with the id.
    field: &'static str,
    /// The API's collection path.
    api_path: &'static str,
    /// Where the console goes once it is deleted.
    done: &'static str,
    /// What the form shows for an unknown id.
    no_such: &'static str,
    keep: fn(&mut Console, FormState),
}

async fn delete(
    Context { api, key, caller }: Context,
    Submission { visitor, fields }: Submission,
    deletion: Deletion,
) -> Result<Response, PageError> {
    let Some(token) = admin_token(&visitor) else {
        return Ok(to_admin_log_in(&visitor));
    };
    let id = fields.text(deletion.field).trim();
    let mut form = FormState::keeping(&fields, &[deletion.field]);
    let status = if id.is_empty() {
        form.refuse(deletion.field, "give the id");
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        let path = format!("{}/{}", deletion.api_path, enc(id));
        let answer = api
            .send(&caller, Method::DELETE, &path, Some(&token), None)
            .await?;
        match answer.status {
            status if status.is_success() => {
                return Ok(respond::see_other(&visitor, deletion.done));
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Ok(token_refused(visitor, &key));
            }
            StatusCode::NOT_FOUND => {
                form.refuse(deletion.field, deletion.no_such);
                StatusCode::NOT_FOUND
            }
            status if forms::is_for_the_form(status) => {
                form.show(
                    &answer,
                    |_| Some(deletion.field.to_owned()),
                    Some(deletion.field),
                );
                status
            }
            _ => return Err(answer.into_error()),
        }
    };
    let mut console = Console::new(visitor);
    (deletion.keep)(&mut console, form);
    Ok(console.answer(status))
}
