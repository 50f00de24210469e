//! Title and name search. Each distinct word of a title (folded: lower-case, accents
//! removed) gets an index item in the partition of its first character, sorted by the word,
//! so "every query word starts some title word" is a prefix read of one partition for the
//! query's longest word, filtered by the rest. Exact titles get their own index, so an
//! exact match can be listed first. Actors are indexed the same way by name, and also
//! listed newest first for `GET /actors` without a search.

use async_trait::async_trait;
use domain::events::{Envelope, Event, EventType};
use domain::text;
use platform::consumer::Projection;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use store::{Item, Key, Query, Store, StoreError, Write};
use uuid::Uuid;

use crate::lifecycle;
use crate::sharded;

/// The most distinct words indexed per title or name: keeps one entity's index within a
/// single transaction. Titles are at most 300 characters, so only titles made of very many
/// one-letter words reach it.
const WORDS_MAX: usize = 90;

/// How many index items one search request reads at most before it returns a shorter page
/// (with a cursor to go on): bounds the cost of a query word that starts very many words.
const SCAN_BUDGET: usize = 500;

/// What is searched: movie titles or actor names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    Movies,
    Actors,
}

impl Index {
    /// The words starting with one letter, sharded like the other lists: a letter such as
    /// "t" (every "the") would otherwise gather a large share of all titles.
    fn word_base(self, word: &str) -> String {
        let first: String = word.chars().take(1).collect();
        match self {
            Index::Movies => format!("search#movie#{first}"),
            Index::Actors => format!("search#actor#{first}"),
        }
    }

    fn exact_partition(self, exact: &str) -> String {
        match self {
            Index::Movies => format!("exact#movie#{exact}"),
            Index::Actors => format!("exact#actor#{exact}"),
        }
    }
}

fn distinct_words(text: &str) -> Vec<String> {
    let mut words = text::words(text);
    words.sort();
    words.dedup();
    words.truncate(WORDS_MAX);
    words
}

/// The writes that index (or, with `remove`, unindex) one entity.
fn index_writes(
    index: Index,
    id: &Uuid,
    text: &str,
    extra: &Map<String, Value>,
    remove: bool,
) -> Vec<Write> {
    let words = distinct_words(text);
    let exact = text::exact_form(text);
    let mut writes = Vec::with_capacity(words.len() + 1);
    for word in &words {
        let key = Key::new(
            sharded::partition(&index.word_base(word), id),
            format!("{word}#{id}"),
        );
        if remove {
            writes.push(Write::delete(key));
        } else {
            let mut attrs = extra.clone();
            attrs.insert("id".into(), json!(id));
            attrs.insert("words".into(), json!(words));
            attrs.insert("exact".into(), json!(exact));
            writes.push(Write::put(Item::new(key, attrs)));
        }
    }
    if !exact.is_empty() {
        let key = Key::new(index.exact_partition(&exact), id.to_string());
        writes.push(if remove {
            Write::delete(key)
        } else {
            Write::put(Item::new(key, extra.clone()))
        });
    }
    writes
}

/// Indexes movie titles.
pub struct MovieSearchProjection;

const MOVIE_SEARCH: &str = "movie-search";

#[async_trait]
impl Projection for MovieSearchProjection {
    fn name(&self) -> &'static str {
        MOVIE_SEARCH
    }

    fn event_types(&self) -> Vec<EventType> {
        vec![EventType::MovieCreated, EventType::MovieDeleted]
    }

    async fn plan(&self, store: &dyn Store, envelope: &Envelope) -> Result<Vec<Write>, StoreError> {
        let (movie, remove) = match &envelope.event {
            Event::MovieCreated(movie) => (movie, false),
            Event::MovieDeleted(movie) => (movie, true),
            _ => return Ok(Vec::new()),
        };
        let state = lifecycle::read(store, MOVIE_SEARCH, &movie.movie_id).await?;
        let Some((to, index)) = lifecycle::next(state, remove) else {
            return Ok(Vec::new());
        };
        let mut writes = vec![lifecycle::transition(
            MOVIE_SEARCH,
            &movie.movie_id,
            state,
            to,
        )];
        if index {
            writes.extend(index_writes(
                Index::Movies,
                &movie.movie_id,
                &movie.title,
                &Map::new(),
                remove,
            ));
        }
        Ok(writes)
    }
}

/// Indexes actor names and lists actors.
pub struct ActorSearchProjection;

const ACTOR_SEARCH: &str = "actor-search";
const ALL_ACTORS: &str = "actors";

/// An actor as lists show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActorListing {
    pub id: Uuid,
    pub name: String,
    pub thumbnail_url: Option<String>,
}

#[async_trait]
impl Projection for ActorSearchProjection {
    fn name(&self) -> &'static str {
        ACTOR_SEARCH
    }

    fn event_types(&self) -> Vec<EventType> {
        vec![EventType::ActorCreated]
    }

    async fn plan(
        &self,
        _store: &dyn Store,
        envelope: &Envelope,
    ) -> Result<Vec<Write>, StoreError> {
        let Event::ActorCreated(actor) = &envelope.event else {
            return Ok(Vec::new());
        };
        let mut listing = Map::new();
        listing.insert("actor_id".into(), json!(actor.actor_id));
        listing.insert("name".into(), json!(actor.name));
        listing.insert("thumbnail_url".into(), json!(actor.thumbnail_url));
        // Actors are never deleted, so indexing twice rewrites the same items.
        let mut writes = index_writes(Index::Actors, &actor.actor_id, &actor.name, &listing, false);
        let sk = format!(
            "{}#{}",
            domain::timestamp::sort_key(envelope.occurred_at),
            actor.actor_id
        );
        writes.push(Write::put(Item::new(
            Key::new(sharded::partition(ALL_ACTORS, &actor.actor_id), sk),
            listing,
        )));
        Ok(writes)
    }
}

/// Where a search page continues: inside the exact matches, or in the word index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SearchCursor {
    #[serde(rename = "x")]
    Exact(String),
    #[serde(rename = "w")]
    Words(String),
}

/// One page of the summaries of the movies whose titles match `query`, exact matches first.
pub async fn search_movies(
    store: &dyn Store,
    query: &str,
    cursor: Option<SearchCursor>,
    limit: usize,
) -> Result<(Vec<crate::catalog::MovieSummary>, Option<SearchCursor>), StoreError> {
    let (found, next) = search_page(store, Index::Movies, query, cursor, limit).await?;
    let ids: Vec<Uuid> = found.iter().map(|(id, _)| *id).collect();
    let summaries = crate::catalog::summaries(store, &ids).await?;
    Ok((summaries.into_iter().flatten().collect(), next))
}

/// One page of the actors whose names match `query`, exact matches first.
pub async fn search_actors(
    store: &dyn Store,
    query: &str,
    cursor: Option<SearchCursor>,
    limit: usize,
) -> Result<(Vec<ActorListing>, Option<SearchCursor>), StoreError> {
    let (found, next) = search_page(store, Index::Actors, query, cursor, limit).await?;
    let listings = found.iter().filter_map(|(id, item)| {
        let mut listing = actor_listing(item)?;
        listing.id = *id;
        Some(listing)
    });
    Ok((listings.collect(), next))
}

/// One page of ids matching `query`, exact matches first.
pub async fn search_page(
    store: &dyn Store,
    index: Index,
    query: &str,
    cursor: Option<SearchCursor>,
    limit: usize,
) -> Result<(Vec<(Uuid, Item)>, Option<SearchCursor>), StoreError> {
    let query_words = text::words(query);
    let exact = text::exact_form(query);
    let mut found = Vec::new();
    let mut after_word = match cursor {
        Some(SearchCursor::Words(sk)) => Some(sk),
        Some(SearchCursor::Exact(id)) => {
            if let Some(page) =
                exact_matches(store, index, &exact, Some(id), limit, &mut found).await?
            {
                return Ok(page);
            }
            None
        }
        None => {
            if let Some(page) = exact_matches(store, index, &exact, None, limit, &mut found).await?
            {
                return Ok(page);
            }
            None
        }
    };
    // The longest word is the most selective one to read the index by.
    let Some(driving) = query_words.iter().max_by_key(|w| w.chars().count()) else {
        return Ok((found, None));
    };
    let base = index.word_base(driving);
    let mut scanned = 0;
    // One match beyond the page tells whether a next page exists.
    let mut cursor_of_full_page = (found.len() == limit).then(String::new);
    loop {
        let want = limit + 1 - found.len();
        let (items, more) = sharded::merged_page(
            store,
            &base,
            driving,
            false,
            after_word.as_deref(),
            want.max(20),
        )
        .await?;
        scanned += items.len();
        for item in items {
            let sk = item.key.sk.clone();
            if let Some(id) = matching_id(&item, driving, &query_words, &exact) {
                if found.len() == limit {
                    return Ok((found, cursor_of_full_page.map(SearchCursor::Words)));
                }
                found.push((id, item));
                if found.len() == limit {
                    cursor_of_full_page = Some(sk.clone());
                }
            }
            after_word = Some(sk);
        }
        if more.is_none() {
            return Ok((found, None));
        }
        if scanned >= SCAN_BUDGET {
            let resume = cursor_of_full_page.or(after_word);
            return Ok((found, resume.map(SearchCursor::Words)));
        }
    }
}

/// Adds exact matches after `after` to `found`; returns the finished page when they fill it.
async fn exact_matches(
    store: &dyn Store,
    index: Index,
    exact: &str,
    after: Option<String>,
    limit: usize,
    found: &mut Vec<(Uuid, Item)>,
) -> Result<Option<(Vec<(Uuid, Item)>, Option<SearchCursor>)>, StoreError> {
    if exact.is_empty() {
        return Ok(None);
    }
    let page = store
        .query(&Query::prefix(index.exact_partition(exact), "", limit).after(after))
        .await?;
    for item in page.items {
        if let Ok(id) = item.key.sk.parse::<Uuid>() {
            found.push((id, item));
        }
    }
    if page.more {
        let last = found
            .last()
            .map(|(id, _)| id.to_string())
            .unwrap_or_default();
        return Ok(Some((
            std::mem::take(found),
            Some(SearchCursor::Exact(last)),
        )));
    }
    Ok(None)
}

/// The id of an index item that matches the query, listed through this item only: the
/// item of the smallest title word starting with the driving word, so each entity appears
/// once; exact matches are skipped because they were listed first.
fn matching_id(item: &Item, driving: &str, query_words: &[String], exact: &str) -> Option<Uuid> {
    let (word, id) = item.key.sk.split_once('#')?;
    let words: Vec<String> = item
        .get("words")
        .and_then(Value::as_array)
        .map(|ws| {
            ws.iter()
                .filter_map(|w| w.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let first_match = words.iter().filter(|w| w.starts_with(driving)).min()?;
    if first_match != word
        || item.str("exact") == Some(exact)
        || !text::matches(query_words, &words)
    {
        return None;
    }
    id.parse().ok()
}

/// One page of actors, newest first.
pub async fn actors_page(
    store: &dyn Store,
    after: Option<&str>,
    limit: usize,
) -> Result<(Vec<ActorListing>, Option<String>), StoreError> {
    let (items, cursor) = sharded::merged_page(store, ALL_ACTORS, "", true, after, limit).await?;
    Ok((items.iter().filter_map(actor_listing).collect(), cursor))
}

/// The listing an actor index item carries.
fn actor_listing(item: &Item) -> Option<ActorListing> {
    Some(ActorListing {
        id: item.str("actor_id")?.parse().ok()?,
        name: item.str("name")?.to_owned(),
        thumbnail_url: item.str("thumbnail_url").map(str::to_owned),
    })
}
