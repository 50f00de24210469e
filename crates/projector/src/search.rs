//! Title and name search. Each distinct word of a title (folded: lower-case, accents
//! removed) gets an index item in the partition of its first character, sorted by the word,
//! so "every query word starts some title word" is a prefix read of one partition for the
//! query's longest word, filtered by the rest. Exact titles get their own index, so an
//! exact match can be listed first. Actors are indexed the same way by name, and also
//! listed newest first for `GET /actors` without a search.

use async_trait::async_trait;
use domain::events::{ActorCreated, Envelope, Event, EventType, MovieSnapshot};
use domain::text;
use platform::consumer::Projection;
use serde::{Deserialize, Serialize};
use store::{Item, Key, Query, Record, Store, StoreError, Write};
use uuid::Uuid;

use crate::catalog::{MovieSummary, existing_summaries};
use crate::lifecycle::{self, ListsMovies};
use crate::{decode_or_skip, sharded};

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

/// An actor as the list of all actors stores it (`actors#{s}` / `{created_at:020}#{actor}`),
/// and as the actor index's items carry it, so a search lists actors without reading them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ActorListingRecord {
    actor_id: Uuid,
    name: String,
    thumbnail_url: Option<String>,
}

impl Record for ActorListingRecord {
    const KIND: &'static str = "actor listing";
}

impl ActorListingRecord {
    fn of(actor: &ActorCreated) -> Self {
        ActorListingRecord {
            actor_id: actor.actor_id,
            name: actor.name.clone(),
            thumbnail_url: actor.thumbnail_url.clone(),
        }
    }

    fn into_listing(self) -> ActorListing {
        ActorListing {
            id: self.actor_id,
            name: self.name,
            thumbnail_url: self.thumbnail_url,
        }
    }
}

/// One word of a title or name: `search#{movie|actor}#{first letter}#{s}` / `{word}#{id}`.
/// It holds every word and the exact form, so a search filters by the other query words
/// and leaves exact matches (listed first) out without reading the entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct WordRecord {
    id: Uuid,
    words: Vec<String>,
    exact: String,
    /// The actor's listing, in the actor index only; movies' summaries are joined instead.
    #[serde(flatten)]
    actor: Option<ActorListingRecord>,
}

impl Record for WordRecord {
    const KIND: &'static str = "search word";
}

/// The part of a [`WordRecord`] a search filters by. A search scans up to
/// `SCAN_BUDGET` index items and keeps a page of them, so it reads this plain part of each
/// and the whole record (whose flattened listing serde decodes through a buffer) only of
/// those it keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct WordFilter {
    words: Vec<String>,
    exact: String,
}

impl Record for WordFilter {
    const KIND: &'static str = "search word";
}

/// An exact title or name: `exact#{movie|actor}#{exact form}` / `{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ExactRecord {
    /// The actor's listing, in the actor index only (a movie's item has no attributes).
    #[serde(flatten)]
    actor: Option<ActorListingRecord>,
}

impl Record for ExactRecord {
    const KIND: &'static str = "exact search entry";
}

fn distinct_words(text: &str) -> Vec<String> {
    let mut words = text::words(text);
    words.sort();
    words.dedup();
    words.truncate(WORDS_MAX);
    words
}

/// The writes that index (or, with `remove`, unindex) one entity; an actor's items carry
/// its listing.
fn index_writes(
    index: Index,
    id: &Uuid,
    text: &str,
    actor: Option<&ActorListingRecord>,
    remove: bool,
) -> Result<Vec<Write>, StoreError> {
    let words = distinct_words(text);
    let exact = text::exact_form(text);
    let mut writes = Vec::with_capacity(words.len() + 1);
    let word_record = WordRecord {
        id: *id,
        words: words.clone(),
        exact: exact.clone(),
        actor: actor.cloned(),
    };
    for word in &words {
        let key = Key::new(
            sharded::partition(&index.word_base(word), id),
            format!("{word}#{id}"),
        );
        writes.push(lifecycle::entry(key, &word_record, remove)?);
    }
    if !exact.is_empty() {
        let key = Key::new(index.exact_partition(&exact), id.to_string());
        let exact_record = ExactRecord {
            actor: actor.cloned(),
        };
        writes.push(lifecycle::entry(key, &exact_record, remove)?);
    }
    Ok(writes)
}

/// Indexes movie titles.
pub(crate) struct MovieSearchProjection;

impl ListsMovies for MovieSearchProjection {
    fn name(&self) -> &'static str {
        "movie-search"
    }

    fn entries(&self, movie: &MovieSnapshot, remove: bool) -> Result<Vec<Write>, StoreError> {
        index_writes(Index::Movies, &movie.movie_id, &movie.title, None, remove)
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
        let listing = ActorListingRecord::of(actor);
        // Actors are never deleted, so indexing twice rewrites the same items.
        let mut writes = index_writes(
            Index::Actors,
            &actor.actor_id,
            &actor.name,
            Some(&listing),
            false,
        )?;
        let sk = format!(
            "{}#{}",
            domain::timestamp::sort_key(envelope.occurred_at),
            actor.actor_id
        );
        let key = Key::new(sharded::partition(ALL_ACTORS, &actor.actor_id), sk);
        writes.push(Write::put(listing.to_item(key)?));
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

/// An entity whose title or name matches, with the listing its index item carries (actors').
#[derive(Debug)]
struct Found {
    id: Uuid,
    actor: Option<ActorListingRecord>,
}

/// One page of the summaries of the movies whose titles match `query`, exact matches first.
pub async fn search_movies(
    store: &dyn Store,
    query: &str,
    cursor: Option<SearchCursor>,
    limit: usize,
) -> Result<(Vec<MovieSummary>, Option<SearchCursor>), StoreError> {
    let (ids, next) = search_page(store, Index::Movies, query, cursor, limit).await?;
    Ok((existing_summaries(store, &ids).await?, next))
}

/// One page of the actors whose names match `query`, exact matches first.
pub async fn search_actors(
    store: &dyn Store,
    query: &str,
    cursor: Option<SearchCursor>,
    limit: usize,
) -> Result<(Vec<ActorListing>, Option<SearchCursor>), StoreError> {
    let (found, next) = matches(store, Index::Actors, query, cursor, limit).await?;
    let listings = found
        .into_iter()
        .filter_map(|found| found.actor.map(ActorListingRecord::into_listing));
    Ok((listings.collect(), next))
}

/// One page of the ids of the entities matching `query`, exact matches first.
pub async fn search_page(
    store: &dyn Store,
    index: Index,
    query: &str,
    cursor: Option<SearchCursor>,
    limit: usize,
) -> Result<(Vec<Uuid>, Option<SearchCursor>), StoreError> {
    let (found, next) = matches(store, index, query, cursor, limit).await?;
    Ok((found.into_iter().map(|found| found.id).collect(), next))
}

/// One page of the entities matching `query`, exact matches first.
async fn matches(
    store: &dyn Store,
    index: Index,
    query: &str,
    cursor: Option<SearchCursor>,
    limit: usize,
) -> Result<(Vec<Found>, Option<SearchCursor>), StoreError> {
    let query_words = text::words(query);
    let exact = text::exact_form(query);
    let mut found = Vec::new();
    let (read_exact, after_exact, mut after_word) = match cursor {
        None => (true, None, None),
        Some(SearchCursor::Exact(id)) => (true, Some(id), None),
        Some(SearchCursor::Words(sk)) => (false, None, Some(sk)),
    };
    if read_exact
        && let Some(page) =
            exact_matches(store, index, &exact, after_exact, limit, &mut found).await?
    {
        return Ok(page);
    }
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
            if let Some(matched) = matching(&item, driving, &query_words, &exact) {
                if found.len() == limit {
                    return Ok((found, cursor_of_full_page.map(SearchCursor::Words)));
                }
                found.push(matched);
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
    found: &mut Vec<Found>,
) -> Result<Option<(Vec<Found>, Option<SearchCursor>)>, StoreError> {
    if exact.is_empty() {
        return Ok(None);
    }
    let page = store
        .query(&Query::prefix(index.exact_partition(exact), "", limit).after(after))
        .await?;
    for item in &page.items {
        if let Ok(id) = item.key.sk.parse::<Uuid>() {
            let actor = decode_or_skip::<ExactRecord>(item).and_then(|record| record.actor);
            found.push(Found { id, actor });
        }
    }
    if page.more {
        let last = found
            .last()
            .map(|found| found.id.to_string())
            .unwrap_or_default();
        return Ok(Some((
            std::mem::take(found),
            Some(SearchCursor::Exact(last)),
        )));
    }
    Ok(None)
}

/// The entity of an index item that matches the query, listed through this item only: the
/// item of the smallest title word starting with the driving word, so each entity appears
/// once; exact matches are skipped because they were listed first.
fn matching(item: &Item, driving: &str, query_words: &[String], exact: &str) -> Option<Found> {
    let (word, _) = item.key.sk.split_once('#')?;
    let filter = decode_or_skip::<WordFilter>(item)?;
    let first_match = filter
        .words
        .iter()
        .filter(|w| w.starts_with(driving))
        .min()?;
    if first_match != word || filter.exact == exact || !text::matches(query_words, &filter.words) {
        return None;
    }
    let record = decode_or_skip::<WordRecord>(item)?;
    Some(Found {
        id: record.id,
        actor: record.actor,
    })
}

/// One page of actors, newest first.
pub async fn actors_page(
    store: &dyn Store,
    after: Option<&str>,
    limit: usize,
) -> Result<(Vec<ActorListing>, Option<String>), StoreError> {
    let (items, cursor) = sharded::merged_page(store, ALL_ACTORS, "", true, after, limit).await?;
    let listings = items
        .iter()
        .filter_map(decode_or_skip::<ActorListingRecord>)
        .map(ActorListingRecord::into_listing);
    Ok((listings.collect(), cursor))
}

#[cfg(test)]
mod tests {
    use store::Attrs;

    use super::*;
    use crate::test_support::attribute_names;

    fn actor() -> ActorListingRecord {
        ActorListingRecord {
            actor_id: Uuid::now_v7(),
            name: "Keanu Reeves".into(),
            thumbnail_url: None,
        }
    }

    fn attrs_at(writes: &[Write], pk_start: &str) -> Attrs {
        writes
            .iter()
            .find_map(|write| match write {
                Write::Put { item, .. } if item.key.pk.starts_with(pk_start) => {
                    Some(item.attrs.clone())
                }
                _ => None,
            })
            .unwrap()
    }

    #[test]
    fn a_movie_is_indexed_by_word_and_exact_title_without_a_listing() {
        let id = Uuid::now_v7();
        let writes = index_writes(Index::Movies, &id, "The Thing", None, false).unwrap();
        assert_eq!(writes.len(), 3, "two words and the exact title");
        let word = attrs_at(&writes, "search#movie#t");
        assert_eq!(attribute_names(&word), ["exact", "id", "words"]);
        let record = WordRecord::from_attrs(&word).unwrap();
        assert_eq!(record.words, ["the", "thing"]);
        assert_eq!(record.actor, None);
        let filter = WordFilter::from_attrs(&word).unwrap();
        assert_eq!((filter.words, filter.exact), (record.words, record.exact));
        assert!(attrs_at(&writes, "exact#movie#").is_empty());
    }

    #[test]
    fn an_actor_is_indexed_with_its_listing() {
        let actor = actor();
        let writes = index_writes(
            Index::Actors,
            &actor.actor_id,
            &actor.name,
            Some(&actor),
            false,
        )
        .unwrap();
        let word = attrs_at(&writes, "search#actor#k");
        assert_eq!(
            attribute_names(&word),
            ["actor_id", "exact", "id", "name", "thumbnail_url", "words"]
        );
        assert_eq!(
            WordRecord::from_attrs(&word).unwrap().actor,
            Some(actor.clone())
        );
        let exact = attrs_at(&writes, "exact#actor#");
        assert_eq!(
            attribute_names(&exact),
            ["actor_id", "name", "thumbnail_url"]
        );
        assert_eq!(ExactRecord::from_attrs(&exact).unwrap().actor, Some(actor));
    }

    #[test]
    fn unindexing_deletes_every_item_it_wrote() {
        let id = Uuid::now_v7();
        let put = index_writes(Index::Movies, &id, "The Thing", None, false).unwrap();
        let removed = index_writes(Index::Movies, &id, "The Thing", None, true).unwrap();
        let keys = |writes: &[Write]| writes.iter().map(|w| w.key().clone()).collect::<Vec<_>>();
        assert_eq!(keys(&removed), keys(&put));
        assert!(removed.iter().all(|w| matches!(w, Write::Delete { .. })));
    }
}
