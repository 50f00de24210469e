//! Title and name search (`GET /movies?search=`, `GET /actors?search=`), answered from an
//! inverted index in memory in each process that serves them (`index`). The index is fed
//! by the events its process watches on the bus and rebuilt from the store's lists of every
//! movie and actor when the watch (re)starts. Movies' results are joined with their current
//! summaries (scores change with reviews), which also leaves out a movie deleted since the
//! index last heard of it; actors' listings never change, so the index holds them.

mod index;

use std::collections::VecDeque;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bus::Watcher;
use domain::events::{Envelope, Event, EventType};
use serde::{Deserialize, Serialize};
use store::{Store, StoreError};
use uuid::Uuid;

use crate::actors_list::{self, ActorListing};
use crate::catalog::{self, MovieSummary};
use index::WordIndex;

/// Where a search page continues: inside the exact matches (after this id), or in the
/// others (after this position; `None`: from their start).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "EncodedCursor", into = "EncodedCursor")]
pub enum SearchCursor {
    Exact(Uuid),
    Words(Option<WordPosition>),
}

/// A place in the list of word matches: after the entity `id` listed under `word`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct WordPosition {
    pub word: String,
    pub id: Uuid,
}

/// A [`SearchCursor`] as cursors have always been encoded: `{"x": id}` or
/// `{"w": "word#id"}` (`""` for the start of the word matches).
#[derive(Debug, Clone, Serialize, Deserialize)]
enum EncodedCursor {
    #[serde(rename = "x")]
    Exact(String),
    #[serde(rename = "w")]
    Words(String),
}

impl TryFrom<EncodedCursor> for SearchCursor {
    type Error = String;

    fn try_from(encoded: EncodedCursor) -> Result<Self, Self::Error> {
        let id = |text: &str| text.parse::<Uuid>().map_err(|e| e.to_string());
        Ok(match encoded {
            EncodedCursor::Exact(text) => SearchCursor::Exact(id(&text)?),
            EncodedCursor::Words(text) if text.is_empty() => SearchCursor::Words(None),
            EncodedCursor::Words(text) => {
                let (word, at) = text.rsplit_once('#').ok_or("a word position is word#id")?;
                SearchCursor::Words(Some(WordPosition {
                    word: word.to_owned(),
                    id: id(at)?,
                }))
            }
        })
    }
}

impl From<SearchCursor> for EncodedCursor {
    fn from(cursor: SearchCursor) -> Self {
        match cursor {
            SearchCursor::Exact(id) => EncodedCursor::Exact(id.to_string()),
            SearchCursor::Words(None) => EncodedCursor::Words(String::new()),
            SearchCursor::Words(Some(at)) => EncodedCursor::Words(format!("{}#{}", at.word, at.id)),
        }
    }
}

/// A page of the entities matching a search, with their listings, and where the next page
/// starts (`None` on the last page).
#[derive(Debug)]
pub struct SearchPage<L> {
    pub found: Vec<(Uuid, L)>,
    pub next: Option<SearchCursor>,
}

/// Why a search failed.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// This process has not read its index from the store yet (it is starting).
    #[error("the search index is still being built")]
    NotBuilt,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<SearchError> for platform::ApiError {
    fn from(error: SearchError) -> Self {
        match error {
            // A process that is starting answers 503, as when its store is unavailable.
            SearchError::NotBuilt => {
                platform::ApiError::unavailable(error.to_string(), error.to_string())
            }
            SearchError::Store(error) => error.into(),
        }
    }
}

/// How long events seen are kept to be replayed onto each rebuilt index: the lists a rebuild
/// reads are written by projections that may lag behind the events this process sees (a
/// movie deleted a moment ago may still be listed), by far less than this.
const REPLAY_WINDOW: Duration = Duration::from_secs(60);

/// The most changes kept for replay, so a burst of events does not grow the log without
/// bound; the oldest go first.
const REPLAY_MAX: usize = 10_000;

/// What an event changes in an index.
#[derive(Debug, Clone)]
pub enum Change<L> {
    Indexed { id: Uuid, text: String, listing: L },
    Removed(Uuid),
}

impl<L: Clone> Change<L> {
    fn apply(&self, index: &mut WordIndex<L>) {
        match self {
            Change::Indexed { id, text, listing } => index.insert(*id, text, listing.clone()),
            Change::Removed(id) => index.remove(id),
        }
    }
}

/// What an index holds: which entities, the events that change them, and how to read them
/// all from the store.
#[async_trait]
pub trait Indexed: Send + Sync + 'static {
    /// What a search returns of each entity, besides its id.
    type Listing: Clone + Send + Sync + 'static;
    /// The events that change the index.
    const EVENT_TYPES: &'static [EventType];
    /// The change an event makes, if any.
    fn change(envelope: &Envelope) -> Option<Change<Self::Listing>>;
    /// Every entity with its title or name.
    async fn read_all(store: &dyn Store) -> Result<Vec<(Uuid, String, Self::Listing)>, StoreError>;
}

/// Movie titles.
pub struct MovieTitles;

#[async_trait]
impl Indexed for MovieTitles {
    type Listing = ();
    const EVENT_TYPES: &'static [EventType] = &[EventType::MovieCreated, EventType::MovieDeleted];

    fn change(envelope: &Envelope) -> Option<Change<()>> {
        match &envelope.event {
            Event::MovieCreated(movie) => Some(Change::Indexed {
                id: movie.movie_id,
                text: movie.title.clone(),
                listing: (),
            }),
            Event::MovieDeleted(movie) => Some(Change::Removed(movie.movie_id)),
            _ => None,
        }
    }

    async fn read_all(store: &dyn Store) -> Result<Vec<(Uuid, String, ())>, StoreError> {
        let titles = catalog::every_title(store).await?;
        Ok(titles
            .into_iter()
            .map(|(id, title)| (id, title, ()))
            .collect())
    }
}

/// Actor names, with each actor's listing (actors never change once created).
pub struct ActorNames;

#[async_trait]
impl Indexed for ActorNames {
    type Listing = ActorListing;
    const EVENT_TYPES: &'static [EventType] = &[EventType::ActorCreated];

    fn change(envelope: &Envelope) -> Option<Change<ActorListing>> {
        match &envelope.event {
            Event::ActorCreated(actor) => Some(Change::Indexed {
                id: actor.actor_id,
                text: actor.name.clone(),
                listing: ActorListing::of(actor),
            }),
            _ => None,
        }
    }

    async fn read_all(store: &dyn Store) -> Result<Vec<(Uuid, String, ActorListing)>, StoreError> {
        let actors = actors_list::every_actor(store).await?;
        Ok(actors
            .into_iter()
            .map(|actor| (actor.id, actor.name.clone(), actor))
            .collect())
    }
}

/// The index and what keeps it right across rebuilds.
struct State<L> {
    /// `None` until the first rebuild finished.
    index: Option<WordIndex<L>>,
    /// The changes seen in the last [`REPLAY_WINDOW`], oldest first.
    recent: VecDeque<(Instant, Change<L>)>,
    /// How many rebuilds have started; each is numbered by it.
    rebuilds_started: u64,
    /// The number of the rebuild the index comes from: an older one finishing late is dropped.
    built_by: u64,
}

/// A search index in memory, kept by events and rebuilt from the store.
pub struct SearchIndex<I: Indexed> {
    state: RwLock<State<I::Listing>>,
    /// Whether the index has been built once: what start-up waits for.
    built: tokio::sync::watch::Sender<bool>,
}

/// The index of movie titles.
pub type MovieSearch = SearchIndex<MovieTitles>;
/// The index of actor names.
pub type ActorSearch = SearchIndex<ActorNames>;

impl<I: Indexed> Default for SearchIndex<I> {
    fn default() -> Self {
        SearchIndex {
            state: RwLock::new(State {
                index: None,
                recent: VecDeque::new(),
                rebuilds_started: 0,
                built_by: 0,
            }),
            built: tokio::sync::watch::Sender::new(false),
        }
    }
}

impl<I: Indexed> SearchIndex<I> {
    /// The event types that change this index.
    pub fn event_types(&self) -> Vec<EventType> {
        I::EVENT_TYPES.to_vec()
    }

    /// Applies a watched event; also remembered for a while, for the next rebuild.
    pub fn saw(&self, envelope: &Envelope) {
        let Some(change) = I::change(envelope) else {
            return;
        };
        // A panic elsewhere while the lock was held left no half-made change: each change
        // is applied whole before the guard is dropped.
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(index) = state.index.as_mut() {
            change.apply(index);
        }
        let now = Instant::now();
        while state.recent.len() >= REPLAY_MAX
            || state
                .recent
                .front()
                .is_some_and(|(at, _)| now.duration_since(*at) > REPLAY_WINDOW)
        {
            state.recent.pop_front();
        }
        state.recent.push_back((now, change));
    }

    /// Reads every entity from `store` into a new index, replays the changes seen lately
    /// (which the store's lists may not show yet) and serves from it, unless a rebuild that
    /// started later has already finished.
    pub async fn rebuild_from(&self, store: &dyn Store) -> Result<(), StoreError> {
        let number = {
            let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
            state.rebuilds_started += 1;
            state.rebuilds_started
        };
        let all = I::read_all(store).await?;
        let built = tokio::task::spawn_blocking(move || {
            let mut index = WordIndex::default();
            for (id, text, listing) in all {
                index.insert(id, &text, listing);
            }
            index
        })
        .await;
        let mut index = built.map_err(|e| StoreError::Unavailable(format!("indexing: {e}")))?;
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        if state.built_by > number {
            return Ok(());
        }
        for (_, change) in &state.recent {
            change.apply(&mut index);
        }
        tracing::info!(entries = index.len(), "search index rebuilt");
        state.index = Some(index);
        state.built_by = number;
        self.built.send_replace(true);
        Ok(())
    }

    /// Answers once the index has been built (at once when it has been).
    pub async fn first_built(&self) {
        let mut built = self.built.subscribe();
        // The sender lives as long as `self`, so the wait cannot fail.
        let _ = built.wait_for(|built| *built).await;
    }

    /// One page of the entities matching `query` with their listings, exact matches first.
    pub fn page(
        &self,
        query: &str,
        cursor: Option<&SearchCursor>,
        limit: usize,
    ) -> Result<SearchPage<I::Listing>, SearchError> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        let index = state.index.as_ref().ok_or(SearchError::NotBuilt)?;
        Ok(index.page(query, cursor, limit))
    }
}

impl MovieSearch {
    /// One page of the summaries of the movies whose titles match `query`: the index gives
    /// the ids, one batch read their current summaries (leaving out movies deleted since).
    pub async fn search(
        &self,
        store: &dyn Store,
        query: &str,
        cursor: Option<&SearchCursor>,
        limit: usize,
    ) -> Result<(Vec<MovieSummary>, Option<SearchCursor>), SearchError> {
        let SearchPage { found, next } = self.page(query, cursor, limit)?;
        let ids: Vec<Uuid> = found.into_iter().map(|(id, ())| id).collect();
        Ok((catalog::existing_summaries(store, &ids).await?, next))
    }
}

impl ActorSearch {
    /// One page of the actors whose names match `query`.
    pub fn search(
        &self,
        query: &str,
        cursor: Option<&SearchCursor>,
        limit: usize,
    ) -> Result<(Vec<ActorListing>, Option<SearchCursor>), SearchError> {
        let SearchPage { found, next } = self.page(query, cursor, limit)?;
        Ok((
            found.into_iter().map(|(_, listing)| listing).collect(),
            next,
        ))
    }
}

/// How long a failed rebuild waits before it tries again, at first and at most.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Keeps a [`SearchIndex`] current as the watcher its process registers with the bus.
pub struct IndexWatcher<I: Indexed> {
    index: Arc<SearchIndex<I>>,
    store: Arc<dyn Store>,
}

impl<I: Indexed> IndexWatcher<I> {
    /// The watcher that feeds `index` and rebuilds it from `store`.
    pub fn new(index: Arc<SearchIndex<I>>, store: Arc<dyn Store>) -> Self {
        IndexWatcher { index, store }
    }
}

#[async_trait]
impl<I: Indexed> Watcher for IndexWatcher<I> {
    async fn resync(&self) {
        // In the background: the watch goes on meanwhile, so what it sees during the read
        // is replayed onto the rebuilt index, and searches keep the index there is.
        let (index, store) = (self.index.clone(), self.store.clone());
        tokio::spawn(async move {
            let mut wait = RETRY_FIRST;
            while let Err(error) = index.rebuild_from(store.as_ref()).await {
                tracing::warn!(%error, "rebuilding the search index failed; trying again");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(RETRY_MAX);
            }
        });
    }

    async fn saw(&self, envelope: &Envelope) {
        self.index.saw(envelope);
    }
}

#[cfg(test)]
mod tests {
    use bus::Outcome;
    use domain::events::{ActorCreated, MovieSnapshot};

    use super::*;

    fn movie(title: &str) -> MovieSnapshot {
        MovieSnapshot {
            movie_id: domain::ids::new_id(),
            title: title.into(),
            release_year: 2000,
            genres: vec!["drama".into()],
            thumbnail_url: None,
            created_at: domain::timestamp::now_micros(),
            cast: Vec::new(),
            poster: None,
        }
    }

    fn store() -> (tempfile::TempDir, Arc<dyn Store>) {
        let dir = tempfile::tempdir().unwrap();
        let store = store_sqlite::SqliteStore::open(&dir.path().join("store.db")).unwrap();
        (dir, Arc::new(store))
    }

    /// Delivers the event to the projections, as the bus does before a watcher sees it.
    async fn project(store: &Arc<dyn Store>, event: Event) -> Envelope {
        let envelope = Envelope::new(event);
        for subscription in
            crate::subscriptions(store.clone(), platform::consumer::DEFAULT_MARKER_RETENTION)
        {
            if subscription
                .event_types
                .contains(&envelope.event.event_type())
            {
                assert_eq!(subscription.handler.handle(&envelope).await, Outcome::Done);
            }
        }
        envelope
    }

    fn ids(index: &MovieSearch, query: &str) -> Vec<Uuid> {
        let page = index.page(query, None, 100).unwrap();
        page.found.into_iter().map(|(id, ())| id).collect()
    }

    #[tokio::test]
    async fn an_index_never_built_answers_not_built_and_then_what_the_store_lists() {
        let (_dir, store) = store();
        let heat = movie("Heat");
        project(&store, Event::MovieCreated(heat.clone())).await;
        let index = MovieSearch::default();
        assert!(matches!(
            index.page("heat", None, 10),
            Err(SearchError::NotBuilt)
        ));
        index.rebuild_from(store.as_ref()).await.unwrap();
        assert_eq!(ids(&index, "hea"), [heat.movie_id]);
        let (summaries, next) = index
            .search(store.as_ref(), "heat", None, 10)
            .await
            .unwrap();
        assert_eq!((summaries[0].title.as_str(), next), ("Heat", None));
    }

    #[tokio::test]
    async fn a_rebuild_from_a_store_that_lags_keeps_the_events_seen_meanwhile() {
        let (_dir, store) = store();
        let (kept, gone) = (movie("Thunder Road"), movie("Thunder"));
        for m in [&kept, &gone] {
            project(&store, Event::MovieCreated(m.clone())).await;
        }
        let index = MovieSearch::default();
        // Seen by the watcher while the projections have not written them yet: a deletion
        // and a creation the store's lists do not show.
        index.saw(&Envelope::new(Event::MovieDeleted(gone.clone())));
        let new = movie("Thunderball");
        index.saw(&Envelope::new(Event::MovieCreated(new.clone())));
        index.rebuild_from(store.as_ref()).await.unwrap();
        let mut expected = vec![kept.movie_id, new.movie_id];
        expected.sort();
        let mut found = ids(&index, "thunder");
        found.sort();
        assert_eq!(found, expected);

        // Events after the build change the index at once.
        index.saw(&Envelope::new(Event::MovieDeleted(kept.clone())));
        assert_eq!(ids(&index, "thunder"), [new.movie_id]);
    }

    #[tokio::test]
    async fn a_deleted_movie_the_index_still_holds_is_left_out_of_the_summaries() {
        let (_dir, store) = store();
        let gone = movie("Vertigo");
        project(&store, Event::MovieCreated(gone.clone())).await;
        let index = MovieSearch::default();
        index.rebuild_from(store.as_ref()).await.unwrap();
        // The watcher missed the deletion (its watch was down); the projections did not.
        project(&store, Event::MovieDeleted(gone.clone())).await;
        assert_eq!(ids(&index, "vertigo"), [gone.movie_id]);
        let (summaries, _) = index
            .search(store.as_ref(), "vertigo", None, 10)
            .await
            .unwrap();
        assert!(summaries.is_empty());
    }

    #[tokio::test]
    async fn actors_are_searched_with_their_listings() {
        let (_dir, store) = store();
        let actor = ActorCreated {
            actor_id: domain::ids::new_id(),
            name: "Carrie-Anne Moss".into(),
            thumbnail_url: Some("https://example.com/c.jpg".into()),
        };
        project(&store, Event::ActorCreated(actor.clone())).await;
        let index = ActorSearch::default();
        index.rebuild_from(store.as_ref()).await.unwrap();
        let (found, next) = index.search("anne mo", None, 10).unwrap();
        assert_eq!((found, next), (vec![ActorListing::of(&actor)], None));
    }

    #[test]
    fn cursors_keep_their_encoding_and_refuse_what_is_no_position() {
        let id = Uuid::now_v7();
        let cursors = [
            (SearchCursor::Exact(id), format!(r#"{{"x":"{id}"}}"#)),
            (SearchCursor::Words(None), r#"{"w":""}"#.to_owned()),
            (
                SearchCursor::Words(Some(WordPosition {
                    word: "keanu".into(),
                    id,
                })),
                format!(r#"{{"w":"keanu#{id}"}}"#),
            ),
        ];
        for (cursor, json) in cursors {
            assert_eq!(serde_json::to_string(&cursor).unwrap(), json);
            assert_eq!(serde_json::from_str::<SearchCursor>(&json).unwrap(), cursor);
        }
        for bad in [r#"{"w":"keanu"}"#, r#"{"w":"keanu#1"}"#, r#"{"x":"1"}"#] {
            assert!(serde_json::from_str::<SearchCursor>(bad).is_err(), "{bad}");
        }
    }
}
