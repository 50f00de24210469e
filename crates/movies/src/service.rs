//! Creating, deleting and reading movies.

use std::sync::Arc;

use async_trait::async_trait;
use domain::events::{CastMember, Envelope, Event, MovieSnapshot};
use domain::{FieldError, NewMovie, ValidationErrors};
use platform::ApiError;
use platform::directory::{
    ActorDirectory, DirectoryError, MovieDirectory, MovieRef, UserDirectory,
};
use platform::outbox::Outbox;
use serde::Serialize;
use serde_json::{Map, Value, json};
use store::{Condition, Item, Store, StoreError, Write};
use uuid::Uuid;

use crate::keys;
use crate::reviews::{ReviewView, recent_reviews};

/// A cast member on a movie's page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CastView {
    pub id: Uuid,
    pub name: String,
    pub role: String,
}

/// A movie's page.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MovieView {
    pub id: Uuid,
    pub title: String,
    pub release_year: i32,
    pub genres: Vec<String>,
    pub overview: Option<String>,
    pub thumbnail_url: Option<String>,
    pub pictures: Vec<String>,
    pub actors: Vec<CastView>,
    /// The mean review score rounded half away from zero to 2 decimals; null without reviews.
    pub score: Option<f64>,
    pub review_count: i64,
    /// The first 10 reviews, most recently written first.
    pub reviews: Vec<ReviewView>,
    pub created_at: String,
}

/// How many reviews a movie's page shows.
const PAGE_REVIEWS: usize = 10;

/// The movies service's commands and queries.
#[derive(Clone)]
pub struct MoviesService {
    pub(crate) outbox: Outbox,
    actors: Arc<dyn ActorDirectory>,
    pub(crate) users: Arc<dyn UserDirectory>,
}

impl MoviesService {
    pub fn new(
        outbox: Outbox,
        actors: Arc<dyn ActorDirectory>,
        users: Arc<dyn UserDirectory>,
    ) -> Self {
        MoviesService {
            outbox,
            actors,
            users,
        }
    }

    pub(crate) fn store(&self) -> &dyn Store {
        self.outbox.store().as_ref()
    }

    /// The store, for the read models the movie endpoints serve.
    pub fn store_handle(&self) -> Arc<dyn Store> {
        self.outbox.store().clone()
    }

    /// Creates a movie after checking that every cast member is a known actor.
    pub async fn create(&self, movie: NewMovie) -> Result<MovieView, ApiError> {
        let cast = self.resolve_cast(&movie).await?;
        let id = domain::ids::new_id();
        let created_at = domain::timestamp::now_micros();
        let mut attrs = Map::new();
        attrs.insert("id".into(), json!(id));
        attrs.insert("title".into(), json!(movie.title));
        attrs.insert("release_year".into(), json!(movie.release_year));
        attrs.insert("genres".into(), json!(movie.genres));
        attrs.insert("overview".into(), json!(movie.overview));
        attrs.insert("thumbnail_url".into(), json!(movie.thumbnail_url));
        attrs.insert("pictures".into(), json!(movie.pictures));
        attrs.insert(
            "cast".into(),
            serde_json::to_value(&cast).map_err(|e| ApiError::Internal(e.to_string()))?,
        );
        attrs.insert("created_at".into(), json!(created_at));
        let item = Item::new(keys::movie(&id), attrs);
        let event = Envelope::new(Event::MovieCreated(snapshot(&item)?));
        let view = to_view(&item, None, Vec::new())?;
        self.outbox
            .commit(
                vec![Write::Put {
                    item,
                    condition: Condition::NotExists,
                }],
                &[event],
            )
            .await?;
        Ok(view)
    }

    async fn resolve_cast(&self, movie: &NewMovie) -> Result<Vec<CastMember>, ApiError> {
        let ids: Vec<Uuid> = movie.actors.iter().map(|c| c.actor_id).collect();
        let mut errors = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            if ids[..i].contains(id) {
                errors.push(FieldError {
                    field: format!("actors[{i}].actor_id"),
                    message: "appears twice in the cast".into(),
                });
            }
        }
        let found = if ids.is_empty() {
            Vec::new()
        } else {
            self.actors.actors(&ids).await?
        };
        let mut cast = Vec::with_capacity(ids.len());
        for (i, (entry, actor)) in movie.actors.iter().zip(found).enumerate() {
            match actor {
                Some(actor) => cast.push(CastMember {
                    actor_id: actor.id,
                    name: actor.name,
                    role: entry.role.clone(),
                }),
                None => errors.push(FieldError {
                    field: format!("actors[{i}].actor_id"),
                    message: "no actor has this id".into(),
                }),
            }
        }
        if errors.is_empty() {
            Ok(cast)
        } else {
            Err(ApiError::Validation(ValidationErrors(errors)))
        }
    }

    /// Deletes a movie; its reviews and every list entry follow through the event.
    pub async fn delete(&self, id: &Uuid) -> Result<(), ApiError> {
        let item = self
            .store()
            .get(&keys::movie(id))
            .await?
            .ok_or(ApiError::NotFound("no such movie"))?;
        let event = Envelope::new(Event::MovieDeleted(snapshot(&item)?));
        let write = Write::Delete {
            key: keys::movie(id),
            condition: Condition::Exists,
        };
        match self.outbox.commit(vec![write], &[event]).await {
            Err(StoreError::ConditionFailed { .. }) => Err(ApiError::NotFound("no such movie")),
            other => Ok(other?),
        }
    }

    /// The movie item, or 404.
    pub(crate) async fn movie_item(&self, id: &Uuid) -> Result<Item, ApiError> {
        self.store()
            .get(&keys::movie(id))
            .await?
            .ok_or(ApiError::NotFound("no such movie"))
    }

    /// A movie's page: the movie, its score, and its latest reviews.
    pub async fn get(&self, id: &Uuid) -> Result<MovieView, ApiError> {
        let item = self.movie_item(id).await?;
        let (summary, (reviews, _)) = futures::try_join!(
            async { Ok::<_, ApiError>(projector::catalog::summary(self.store(), id).await?) },
            recent_reviews(self.store(), id, None, PAGE_REVIEWS),
        )?;
        to_view(&item, summary, reviews)
    }
}

fn strings(item: &Item, name: &str) -> Vec<String> {
    item.get(name)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn cast_of(item: &Item) -> Result<Vec<CastMember>, ApiError> {
    serde_json::from_value(
        item.get("cast")
            .cloned()
            .unwrap_or(Value::Array(Vec::new())),
    )
    .map_err(|e| ApiError::Internal(format!("movie cast: {e}")))
}

/// The event form of a stored movie.
fn snapshot(item: &Item) -> Result<MovieSnapshot, ApiError> {
    let malformed = || ApiError::Internal("movie item is malformed".into());
    Ok(MovieSnapshot {
        movie_id: item
            .str("id")
            .and_then(|i| i.parse().ok())
            .ok_or_else(malformed)?,
        title: item.str("title").ok_or_else(malformed)?.to_owned(),
        release_year: i32::try_from(item.int("release_year")).map_err(|_| malformed())?,
        genres: strings(item, "genres"),
        thumbnail_url: item.str("thumbnail_url").map(str::to_owned),
        created_at: item.int("created_at"),
        cast: cast_of(item)?,
    })
}

fn to_view(
    item: &Item,
    summary: Option<projector::catalog::MovieSummary>,
    reviews: Vec<ReviewView>,
) -> Result<MovieView, ApiError> {
    let movie = snapshot(item)?;
    Ok(MovieView {
        id: movie.movie_id,
        title: movie.title,
        release_year: movie.release_year,
        genres: movie.genres,
        overview: item.str("overview").map(str::to_owned),
        thumbnail_url: movie.thumbnail_url,
        pictures: strings(item, "pictures"),
        actors: movie
            .cast
            .into_iter()
            .map(|c| CastView {
                id: c.actor_id,
                name: c.name,
                role: c.role,
            })
            .collect(),
        score: summary.as_ref().and_then(|s| s.score),
        review_count: summary.map(|s| s.review_count).unwrap_or(0),
        reviews,
        created_at: domain::timestamp::to_rfc3339(movie.created_at),
    })
}

/// Answers "does this movie exist, and what is it" from the movie's own item.
pub struct LocalMovieDirectory {
    store: Arc<dyn Store>,
}

impl LocalMovieDirectory {
    pub fn new(store: Arc<dyn Store>) -> Self {
        LocalMovieDirectory { store }
    }
}

#[async_trait]
impl MovieDirectory for LocalMovieDirectory {
    async fn movie(&self, id: Uuid) -> Result<Option<MovieRef>, DirectoryError> {
        let Some(item) = self.store.get(&keys::movie(&id)).await? else {
            return Ok(None);
        };
        // A movie item missing its title or year is a bug to see, not a movie to hide: the
        // same check the movie's page and its events make.
        let malformed = || DirectoryError::Failed("movie item is malformed".into());
        Ok(Some(MovieRef {
            id,
            title: item.str("title").ok_or_else(malformed)?.to_owned(),
            release_year: item
                .get("release_year")
                .and_then(Value::as_i64)
                .and_then(|year| i32::try_from(year).ok())
                .ok_or_else(malformed)?,
            genres: strings(&item, "genres"),
        }))
    }
}
