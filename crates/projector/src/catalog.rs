//! The movie catalog: each movie's summary, the list of all movies (newest created first),
//! the genre lists (newest release first) and the genre counts.

use std::collections::HashMap;

use async_trait::async_trait;
use domain::events::{Envelope, Event, EventType, MovieSnapshot};
use domain::score::ScoreTally;
use platform::consumer::Projection;
use serde::Serialize;
use serde_json::{Map, Value, json};
use store::{Item, Key, Query, Store, StoreError, Write};
use uuid::Uuid;

use crate::lifecycle::{self, Lifecycle};
use crate::sharded;

const NAME: &str = "catalog";
const ALL_MOVIES: &str = "movies";
const GENRE_COUNTS: &str = "genres";

/// A movie as every list shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MovieSummary {
    pub id: Uuid,
    pub title: String,
    pub release_year: i32,
    pub genres: Vec<String>,
    /// The mean review score rounded to 2 decimals; null without reviews.
    pub score: Option<f64>,
    pub review_count: i64,
    pub thumbnail_url: Option<String>,
}

/// The key of a movie's summary item (its score fields are written by `scores`).
pub fn summary_key(movie_id: &Uuid) -> Key {
    Key::new(format!("summary#{movie_id}"), "summary")
}

fn all_movies_sk(movie: &MovieSnapshot) -> String {
    format!(
        "{}#{}",
        domain::timestamp::sort_key(movie.created_at),
        movie.movie_id
    )
}

fn genre_base(genre: &str) -> String {
    format!("genre#{genre}")
}

fn genre_sk(movie: &MovieSnapshot) -> String {
    format!(
        "{:04}#{}#{}",
        movie.release_year,
        domain::timestamp::sort_key(movie.created_at),
        movie.movie_id
    )
}

fn listing(movie_id: &Uuid) -> Map<String, Value> {
    let mut attrs = Map::new();
    attrs.insert("movie_id".into(), json!(movie_id));
    attrs
}

/// Writes the catalog.
pub struct CatalogProjection;

#[async_trait]
impl Projection for CatalogProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn event_types(&self) -> Vec<EventType> {
        vec![EventType::MovieCreated, EventType::MovieDeleted]
    }

    async fn plan(&self, store: &dyn Store, envelope: &Envelope) -> Result<Vec<Write>, StoreError> {
        match &envelope.event {
            Event::MovieCreated(movie) => {
                let state = lifecycle::read(store, NAME, &movie.movie_id).await?;
                if state != Lifecycle::Unseen {
                    return Ok(Vec::new());
                }
                let mut set = Map::new();
                set.insert("movie_id".into(), json!(movie.movie_id));
                set.insert("title".into(), json!(movie.title));
                set.insert("release_year".into(), json!(movie.release_year));
                set.insert("genres".into(), json!(movie.genres));
                set.insert("thumbnail_url".into(), json!(movie.thumbnail_url));
                set.insert("created_at".into(), json!(movie.created_at));
                let mut writes = vec![
                    lifecycle::transition(NAME, &movie.movie_id, state, Lifecycle::Live),
                    Write::Update {
                        key: summary_key(&movie.movie_id),
                        set,
                        add: Vec::new(),
                        condition: store::Condition::Always,
                    },
                    Write::put(Item::new(
                        Key::new(
                            sharded::partition(ALL_MOVIES, &movie.movie_id),
                            all_movies_sk(movie),
                        ),
                        listing(&movie.movie_id),
                    )),
                ];
                for genre in &movie.genres {
                    writes.push(Write::put(Item::new(
                        Key::new(
                            sharded::partition(&genre_base(genre), &movie.movie_id),
                            genre_sk(movie),
                        ),
                        listing(&movie.movie_id),
                    )));
                    writes.push(genre_count_change(genre, 1));
                }
                Ok(writes)
            }
            Event::MovieDeleted(movie) => {
                let state = lifecycle::read(store, NAME, &movie.movie_id).await?;
                let mut writes = vec![];
                match state {
                    Lifecycle::Deleted => return Ok(writes),
                    Lifecycle::Unseen => {}
                    Lifecycle::Live => {
                        writes.push(Write::delete(summary_key(&movie.movie_id)));
                        writes.push(Write::delete(Key::new(
                            sharded::partition(ALL_MOVIES, &movie.movie_id),
                            all_movies_sk(movie),
                        )));
                        for genre in &movie.genres {
                            writes.push(Write::delete(Key::new(
                                sharded::partition(&genre_base(genre), &movie.movie_id),
                                genre_sk(movie),
                            )));
                            writes.push(genre_count_change(genre, -1));
                        }
                    }
                }
                writes.push(lifecycle::transition(
                    NAME,
                    &movie.movie_id,
                    state,
                    Lifecycle::Deleted,
                ));
                Ok(writes)
            }
            _ => Ok(Vec::new()),
        }
    }
}

fn genre_count_change(genre: &str, delta: i64) -> Write {
    let mut set = Map::new();
    set.insert("name".into(), json!(genre));
    Write::Update {
        key: Key::new(GENRE_COUNTS, genre),
        set,
        add: vec![("movie_count".into(), delta)],
        condition: store::Condition::Always,
    }
}

/// The summaries of these movies, in order; `None` for movies that do not exist (yet, or any more).
pub async fn summaries(
    store: &dyn Store,
    ids: &[Uuid],
) -> Result<Vec<Option<MovieSummary>>, StoreError> {
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(store::MAX_BATCH_GET_KEYS) {
        let keys: Vec<Key> = chunk.iter().map(summary_key).collect();
        found.extend(
            store
                .batch_get(&keys)
                .await?
                .into_iter()
                .map(|item| item.and_then(|i| to_summary(&i))),
        );
    }
    Ok(found)
}

/// One movie's summary.
pub async fn summary(store: &dyn Store, id: &Uuid) -> Result<Option<MovieSummary>, StoreError> {
    Ok(store
        .get(&summary_key(id))
        .await?
        .and_then(|i| to_summary(&i)))
}

fn to_summary(item: &Item) -> Option<MovieSummary> {
    // A summary without a title has only been scored: its movie is not created (yet).
    let title = item.str("title")?.to_owned();
    let tally = ScoreTally {
        sum: item.int("score_sum"),
        count: item.int("review_count"),
    };
    Some(MovieSummary {
        id: item.str("movie_id")?.parse().ok()?,
        title,
        release_year: i32::try_from(item.int("release_year")).ok()?,
        genres: item
            .get("genres")
            .and_then(Value::as_array)
            .map(|g| {
                g.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        score: tally.rounded_mean(),
        review_count: tally.count,
        thumbnail_url: item.str("thumbnail_url").map(str::to_owned),
    })
}

/// Summaries for listing items that carry `movie_id`, dropping movies deleted meanwhile.
pub async fn summaries_of_listing(
    store: &dyn Store,
    items: &[Item],
) -> Result<Vec<MovieSummary>, StoreError> {
    let ids: Vec<Uuid> = items
        .iter()
        .filter_map(|i| i.str("movie_id")?.parse().ok())
        .collect();
    Ok(summaries(store, &ids)
        .await?
        .into_iter()
        .flatten()
        .collect())
}

/// A page of all movies, newest created first; the cursor is the last sort key.
pub async fn all_movies_page(
    store: &dyn Store,
    after: Option<&str>,
    limit: usize,
) -> Result<(Vec<MovieSummary>, Option<String>), StoreError> {
    let (items, cursor) = sharded::merged_page(store, ALL_MOVIES, "", true, after, limit).await?;
    Ok((summaries_of_listing(store, &items).await?, cursor))
}

/// A page of a genre's movies, newest release first.
pub async fn genre_page(
    store: &dyn Store,
    genre: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<(Vec<MovieSummary>, Option<String>), StoreError> {
    let (items, cursor) =
        sharded::merged_page(store, &genre_base(genre), "", true, after, limit).await?;
    Ok((summaries_of_listing(store, &items).await?, cursor))
}

/// A genre and how many movies it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct GenreCount {
    pub name: String,
    pub movie_count: i64,
}

/// The most genres `GET /genres` lists; genres are a short vocabulary, not user data.
const GENRES_MAX: usize = 1000;

/// Every genre with at least one movie, by name.
pub async fn genres(store: &dyn Store) -> Result<Vec<GenreCount>, StoreError> {
    let mut counts: HashMap<String, i64> = HashMap::new();
    let mut after = None;
    loop {
        let page = store
            .query(&Query::prefix(GENRE_COUNTS, "", 100).after(after.take()))
            .await?;
        for item in &page.items {
            counts.insert(item.key.sk.clone(), item.int("movie_count"));
        }
        if !page.more || counts.len() >= GENRES_MAX {
            break;
        }
        after = page.items.last().map(|i| i.key.sk.clone());
    }
    let mut genres: Vec<GenreCount> = counts
        .into_iter()
        .filter(|(_, count)| *count > 0)
        .map(|(name, movie_count)| GenreCount { name, movie_count })
        .collect();
    genres.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(genres)
}
