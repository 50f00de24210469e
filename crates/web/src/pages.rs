//! The read-only pages: each handler asks the API for what its page shows and renders it.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use serde::Deserialize;

use crate::api::{
    Actor, ActorSummary, Api, Caller, FilmographyEntry, Genre, Movie, MovieSummary, Page, Picture,
    Review, User,
};
use crate::forms::FormState;
use crate::respond::{self, PageError};
use crate::session::{CsrfKey, Session, Visitor};
use crate::site::Context;

/// How many movies the home page's two lists show.
const HOME_LIST: usize = 10;
/// How many entries a page of a list shows.
const PAGE_SIZE: usize = 20;
/// How many movies the top-rated page shows (the API ranks at most 100).
const TOP_RATED: usize = 50;

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let client = parts.extensions.get::<ConnectInfo<SocketAddr>>().copied();
        Ok(Caller::of(client, &parts.headers))
    }
}

/// The query parameters the pages take.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    /// The search (`/search`).
    pub q: Option<String>,
    /// Where the list goes on: the API's cursor, as it gave it.
    pub cursor: Option<String>,
    /// Where the actor results of a search go on.
    pub actors_cursor: Option<String>,
}

/// `text` percent-encoded for a URL's path segment or query value: everything but the
/// unreserved characters.
pub fn enc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `path` with `name=value` added to its query when there is a value.
fn with_param(path: String, name: &str, value: Option<&str>) -> String {
    match value {
        Some(value) => {
            let separator = if path.contains('?') { '&' } else { '?' };
            format!("{path}{separator}{name}={}", enc(value))
        }
        None => path,
    }
}

/// A picture as an `<img>` shows it: the thumbnail, with the thumbnail's size so the page
/// does not move as pictures load.
pub struct Thumb {
    pub src: String,
    pub width: u32,
    pub height: u32,
}

impl Picture {
    /// The thumbnail to show, when it is a path on this server: the API may in principle give
    /// an absolute URL, and the pages load nothing from elsewhere.
    fn thumb(&self) -> Option<Thumb> {
        let local = self.thumbnail_url.starts_with('/') && !self.thumbnail_url.starts_with("//");
        let (width, height) =
            imaging::thumbnail_size(self.width, self.height).unwrap_or((self.width, self.height));
        local.then(|| Thumb {
            src: self.thumbnail_url.clone(),
            width,
            height,
        })
    }
}

fn thumb(picture: &Option<Picture>) -> Option<Thumb> {
    picture.as_ref().and_then(Picture::thumb)
}

/// A score as a page shows it: the API's rounded mean and the number of reviews.
fn score_text(score: &Option<serde_json::Number>, count: u64) -> String {
    match score {
        Some(score) if count == 1 => format!("{score}/10 from 1 review"),
        Some(score) => format!("{score}/10 from {count} reviews"),
        None => "no reviews yet".to_owned(),
    }
}

impl MovieSummary {
    pub fn href(&self) -> String {
        format!("/movies/{}", enc(&self.id))
    }
    pub fn poster_thumb(&self) -> Option<Thumb> {
        thumb(&self.poster)
    }
    pub fn score_text(&self) -> String {
        score_text(&self.score, self.review_count)
    }
    pub fn genre_list(&self) -> String {
        self.genres.join(", ")
    }
}

impl Movie {
    pub fn href(&self) -> String {
        format!("/movies/{}", enc(&self.id))
    }
    pub fn poster_thumb(&self) -> Option<Thumb> {
        thumb(&self.poster)
    }
    pub fn score_text(&self) -> String {
        score_text(&self.score, self.review_count)
    }
}

impl crate::api::CastMember {
    pub fn href(&self) -> String {
        format!("/actors/{}", enc(&self.id))
    }
    pub fn photo_thumb(&self) -> Option<Thumb> {
        thumb(&self.photo)
    }
}

impl Review {
    pub fn user_href(&self) -> String {
        format!("/users/{}", enc(&self.user_id))
    }
    pub fn date(&self) -> &str {
        self.updated_at.get(..10).unwrap_or(&self.updated_at)
    }
}

impl ActorSummary {
    pub fn href(&self) -> String {
        format!("/actors/{}", enc(&self.id))
    }
    pub fn photo_thumb(&self) -> Option<Thumb> {
        thumb(&self.photo)
    }
}

impl Actor {
    pub fn photo_thumb(&self) -> Option<Thumb> {
        thumb(&self.photo)
    }
}

impl FilmographyEntry {
    pub fn href(&self) -> String {
        format!("/movies/{}", enc(&self.id))
    }
    pub fn poster_thumb(&self) -> Option<Thumb> {
        thumb(&self.poster)
    }
    pub fn score_text(&self) -> String {
        score_text(&self.score, self.review_count)
    }
}

impl crate::api::UserReview {
    pub fn movie_href(&self) -> String {
        format!("/movies/{}", enc(&self.movie_id))
    }
    pub fn date(&self) -> &str {
        self.updated_at.get(..10).unwrap_or(&self.updated_at)
    }
}

impl Genre {
    pub fn href(&self) -> String {
        format!("/genres/{}", enc(&self.name))
    }
}

/// `/`: the best rated and the newest movies, and the search form.
#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    visitor: Visitor,
    top_rated: Vec<MovieSummary>,
    newest: Vec<MovieSummary>,
}

pub async fn home(
    State(api): State<Api>,
    caller: Caller,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let top_path = format!("/api/v1/movies/top-rated?limit={HOME_LIST}");
    let newest_path = format!("/api/v1/movies?limit={HOME_LIST}");
    let (top, newest) = tokio::join!(
        api.get::<Page<MovieSummary>>(&caller, &top_path),
        api.get::<Page<MovieSummary>>(&caller, &newest_path),
    );
    let page = Home {
        visitor,
        top_rated: top?.items,
        newest: newest?.items,
    };
    Ok(respond::page(&page.visitor, StatusCode::OK, &page))
}

/// `/search?q=`: the movies and actors the API's search finds.
#[derive(Template)]
#[template(path = "search.html")]
struct Search {
    visitor: Visitor,
    q: String,
    movies: Vec<MovieSummary>,
    actors: Vec<ActorSummary>,
    more_movies: Option<String>,
    more_actors: Option<String>,
}

pub async fn search(
    State(api): State<Api>,
    caller: Caller,
    visitor: Visitor,
    Query(query): Query<PageQuery>,
) -> Result<Response, PageError> {
    let q = query.q.unwrap_or_default();
    let mut page = Search {
        visitor,
        q: q.clone(),
        movies: Vec::new(),
        actors: Vec::new(),
        more_movies: None,
        more_actors: None,
    };
    if !q.trim().is_empty() {
        let movies_path = with_param(
            format!("/api/v1/movies?limit={PAGE_SIZE}&search={}", enc(&q)),
            "cursor",
            query.cursor.as_deref(),
        );
        let actors_path = with_param(
            format!("/api/v1/actors?limit={PAGE_SIZE}&search={}", enc(&q)),
            "cursor",
            query.actors_cursor.as_deref(),
        );
        let (movies, actors) = tokio::join!(
            api.get::<Page<MovieSummary>>(&caller, &movies_path),
            api.get::<Page<ActorSummary>>(&caller, &actors_path),
        );
        let (movies, actors) = (movies?, actors?);
        let here = format!("/search?q={}", enc(&q));
        page.more_movies = movies
            .next_cursor
            .map(|c| with_param(here.clone(), "cursor", Some(&c)));
        page.more_actors = actors
            .next_cursor
            .map(|c| with_param(here.clone(), "actors_cursor", Some(&c)));
        page.movies = movies.items;
        page.actors = actors.items;
    }
    Ok(respond::page(&page.visitor, StatusCode::OK, &page))
}

/// `/top-rated`.
#[derive(Template)]
#[template(path = "top_rated.html")]
struct TopRated {
    visitor: Visitor,
    movies: Vec<MovieSummary>,
}

pub async fn top_rated(
    State(api): State<Api>,
    caller: Caller,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let path = format!("/api/v1/movies/top-rated?limit={TOP_RATED}");
    let movies = api.get::<Page<MovieSummary>>(&caller, &path).await?.items;
    let page = TopRated { visitor, movies };
    Ok(respond::page(&page.visitor, StatusCode::OK, &page))
}

/// `/genres`.
#[derive(Template)]
#[template(path = "genres.html")]
struct Genres {
    visitor: Visitor,
    genres: Vec<Genre>,
}

pub async fn genres(
    State(api): State<Api>,
    caller: Caller,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let genres = api
        .get::<Page<Genre>>(&caller, "/api/v1/genres")
        .await?
        .items;
    let page = Genres { visitor, genres };
    Ok(respond::page(&page.visitor, StatusCode::OK, &page))
}

/// `/genres/{genre}`.
#[derive(Template)]
#[template(path = "genre.html")]
struct GenrePage {
    visitor: Visitor,
    genre: String,
    movies: Vec<MovieSummary>,
    more: Option<String>,
}

pub async fn genre(
    State(api): State<Api>,
    caller: Caller,
    visitor: Visitor,
    Path(genre): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Response, PageError> {
    let path = with_param(
        format!("/api/v1/genres/{}/movies?limit={PAGE_SIZE}", enc(&genre)),
        "cursor",
        query.cursor.as_deref(),
    );
    let page = api.get::<Page<MovieSummary>>(&caller, &path).await?;
    let more = page
        .next_cursor
        .map(|c| with_param(format!("/genres/{}", enc(&genre)), "cursor", Some(&c)));
    let page = GenrePage {
        visitor,
        genre,
        movies: page.items,
        more,
    };
    Ok(respond::page(&page.visitor, StatusCode::OK, &page))
}

/// `/movies/{id}`: the movie, its cast and a page of its reviews; for a signed-in user also
/// their review's form and the watch-list button, for the admin the picture and delete forms.
#[derive(Template)]
#[template(path = "movie.html")]
struct MoviePage {
    visitor: Visitor,
    movie: Movie,
    reviews: Vec<Review>,
    more: Option<String>,
    /// Whether this is a later page of the reviews.
    paged: bool,
    /// The signed-in user's review form: their review, or what they sent and why it was
    /// refused.
    review_form: FormState,
    /// Whether the signed-in user has a review of the movie.
    has_review: bool,
    /// Whether the movie is on the signed-in user's watch list.
    listed: bool,
}

pub async fn movie(
    Context { api, key, caller }: Context,
    visitor: Visitor,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Response, PageError> {
    let shown = MovieShown {
        id: &id,
        cursor: query.cursor.as_deref(),
    };
    movie_page(&api, &key, &caller, visitor, shown, None).await
}

/// Which movie page to show.
pub struct MovieShown<'a> {
    pub id: &'a str,
    /// Where the reviews go on from.
    pub cursor: Option<&'a str>,
}

/// The movie page `shown` for `visitor`; with `refused`, their review form as they sent it
/// and the status of its refusal.
pub async fn movie_page(
    api: &Api,
    key: &CsrfKey,
    caller: &Caller,
    mut visitor: Visitor,
    shown: MovieShown<'_>,
    refused: Option<(StatusCode, FormState)>,
) -> Result<Response, PageError> {
    let id = shown.id;
    let movie_path = format!("/api/v1/movies/{}", enc(id));
    let reviews_path = with_param(
        format!("/api/v1/movies/{}/reviews?limit={PAGE_SIZE}", enc(id)),
        "cursor",
        shown.cursor,
    );
    let (movie, reviews, mine) = tokio::join!(
        api.get::<Movie>(caller, &movie_path),
        api.get::<Page<Review>>(caller, &reviews_path),
        Mine::read(api, caller, &visitor, id),
    );
    let (movie, reviews) = (movie?, reviews?);
    let mine = match mine {
        Err(PageError::SessionEnded) => {
            visitor.sign_out(key);
            Mine::default()
        }
        mine => mine?,
    };
    let more = reviews
        .next_cursor
        .map(|c| with_param(movie.href(), "cursor", Some(&c)));
    let has_review = mine.review.is_some();
    let (status, review_form) = match (refused, mine.review) {
        (Some((status, form)), _) => (status, form),
        (None, Some(review)) => (
            StatusCode::OK,
            FormState::with_values([
                ("score", review.score.to_string().as_str()),
                ("comment", review.comment.as_deref().unwrap_or_default()),
            ]),
        ),
        (None, None) => (StatusCode::OK, FormState::default()),
    };
    let page = MoviePage {
        visitor,
        movie,
        reviews: reviews.items,
        more,
        paged: shown.cursor.is_some(),
        review_form,
        has_review,
        listed: mine.listed,
    };
    Ok(respond::page(&page.visitor, status, &page))
}

/// What of a movie is the signed-in user's own: their review, and whether it is on their
/// watch list.
#[derive(Default)]
struct Mine {
    review: Option<Review>,
    listed: bool,
}

impl Mine {
    /// The signed-in user's parts of movie `id`; nothing for anyone else.
    async fn read(
        api: &Api,
        caller: &Caller,
        visitor: &Visitor,
        id: &str,
    ) -> Result<Mine, PageError> {
        let Some(Session::User { id: user, token }) = visitor.session() else {
            return Ok(Mine::default());
        };
        let review_path = format!("/api/v1/movies/{}/reviews/{user}", enc(id));
        let listed_path = format!("/api/v1/users/{user}/watchlist/{}", enc(id));
        let (review, listed) = tokio::join!(
            api.find::<Review>(caller, None, &review_path),
            api.find::<serde_json::Value>(caller, Some(token), &listed_path),
        );
        Ok(Mine {
            review: review?,
            listed: listed?.is_some(),
        })
    }
}

/// `/actors/{id}`: the actor and their filmography.
#[derive(Template)]
#[template(path = "actor.html")]
struct ActorPage {
    visitor: Visitor,
    actor: Actor,
}

pub async fn actor(
    State(api): State<Api>,
    caller: Caller,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let actor = api
        .get::<Actor>(&caller, &format!("/api/v1/actors/{}", enc(&id)))
        .await?;
    let page = ActorPage { visitor, actor };
    Ok(respond::page(&page.visitor, StatusCode::OK, &page))
}

/// `/users/{id}`: the user's reviews.
#[derive(Template)]
#[template(path = "user.html")]
struct UserPage {
    visitor: Visitor,
    user: User,
}

pub async fn user(
    State(api): State<Api>,
    caller: Caller,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let user = api
        .get::<User>(&caller, &format!("/api/v1/users/{}", enc(&id)))
        .await?;
    let page = UserPage { visitor, user };
    Ok(respond::page(&page.visitor, StatusCode::OK, &page))
}
