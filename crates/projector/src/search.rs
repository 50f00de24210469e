//! Title and name search (`GET /movies?search=`, `GET /actors?search=`), answered from an
//! inverted index in memory in each process that serves them (`index`). The index is fed
//! by the events its process watches on the bus and rebuilt from the store's lists of every
//! movie and actor when the watch (re)starts. Movies' results are joined with their current
//! summaries (scores change with reviews), which also leaves out a movie deleted since the
//! index last heard of it; actors' listings change only by their photo and their
//! deletion, which the index follows, so it holds them.

mod index;

use std::collections::VecDeque;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bus::Watcher;
use domain::events::{Envelope, Event, EventType};
use domain::picture::StoredPicture;
use serde::{Deserialize, Serialize};
use store::{Store, StoreError};
use uuid::Uuid;

use crate::actors_list::{self, ActorListing, VersionedListing};
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
pub enum Change<I: Indexed> {
    Indexed {
        id: Uuid,
        text: String,
        listing: I::Listing,
    },
    Removed(Uuid),
    /// A change of an indexed entity's listing that leaves its text as it is.
    Amended {
        id: Uuid,
        amendment: I::Amendment,
    },
}

impl<I: Indexed> Change<I> {
    /// Applies the change; an entity indexed (again) also takes the amendments of it seen
    /// lately (`recent`, oldest first), which may have come before it.
    fn apply<'a>(
        &self,
        index: &mut WordIndex<I::Listing>,
        recent: impl Iterator<Item = &'a Change<I>>,
    ) {
        match self {
            Change::Indexed { id, text, listing } => {
                let listing = match index.listing(id) {
                    Some(held) => I::relisted(listing.clone(), held),
                    None => listing.clone(),
                };
                index.insert(*id, text, listing);
                for change in recent {
                    if let Change::Amended { id: amended, .. } = change
                        && amended == id
                    {
                        change.apply(index, std::iter::empty());
                    }
                }
            }
            Change::Removed(id) => index.remove(id),
            Change::Amended { id, amendment } => {
                if let Some(listing) = index.listing_mut(id) {
                    I::amend(listing, amendment);
                }
            }
        }
    }
}

/// What an index holds: which entities, the events that change them, and how to read them
/// all from the store.
#[async_trait]
pub trait Indexed: Send + Sync + Sized + 'static {
    /// What the index keeps of each entity, besides its id and text.
    type Listing: Clone + Send + Sync + 'static;
    /// A change of a listing that leaves its text as it is.
    type Amendment: Clone + Send + Sync + std::fmt::Debug + 'static;
    /// The events that change the index.
    const EVENT_TYPES: &'static [EventType];
    /// The change an event makes, if any.
    fn change(envelope: &Envelope) -> Option<Change<Self>>;
    /// Applies an amendment to a listing.
    fn amend(listing: &mut Self::Listing, amendment: &Self::Amendment);
    /// The listing of an entity indexed again, given the one held: what an amendment set on
    /// the held one may have to stay.
    fn relisted(listing: Self::Listing, held: &Self::Listing) -> Self::Listing;
    /// Every entity with its title or name.
    async fn read_all(store: &dyn Store) -> Result<Vec<(Uuid, String, Self::Listing)>, StoreError>;
}

/// Movie titles.
pub struct MovieTitles;

#[async_trait]
impl Indexed for MovieTitles {
    type Listing = ();
    /// Titles never change.
    type Amendment = ();
    const EVENT_TYPES: &'static [EventType] = &[EventType::MovieCreated, EventType::MovieDeleted];

    fn amend(_listing: &mut (), _amendment: &()) {}

    fn relisted(listing: (), _held: &()) {
        listing
    }

    fn change(envelope: &Envelope) -> Option<Change<Self>> {
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

/// Actor names, with each actor's listing (whose photo changes; names never do).
pub struct ActorNames;

/// A photo change: the photo, and the id of its event, which orders the changes.
#[derive(Debug, Clone, Copy)]
pub struct PhotoAmendment {
    version: Uuid,
    photo: Option<StoredPicture>,
}

#[async_trait]
impl Indexed for ActorNames {
    type Listing = VersionedListing;
    type Amendment = PhotoAmendment;
    const EVENT_TYPES: &'static [EventType] = &[
        EventType::ActorCreated,
        EventType::ActorDeleted,
        EventType::PhotoChanged,
    ];

    fn change(envelope: &Envelope) -> Option<Change<Self>> {
        match &envelope.event {
            Event::ActorCreated(actor) => Some(Change::Indexed {
                id: actor.actor_id,
                text: actor.name.clone(),
                listing: VersionedListing::of(actor),
            }),
            Event::ActorDeleted(actor) => Some(Change::Removed(actor.actor_id)),
            Event::PhotoChanged(change) => Some(Change::Amended {
                id: change.actor_id,
                amendment: PhotoAmendment {
                    version: envelope.id,
                    photo: change.photo,
                },
            }),
            _ => None,
        }
    }

    fn amend(listing: &mut VersionedListing, amendment: &PhotoAmendment) {
        listing.change_photo(amendment.version, amendment.photo);
    }

    fn relisted(listing: VersionedListing, held: &VersionedListing) -> VersionedListing {
        listing.relisted(held)
    }

    async fn read_all(
        store: &dyn Store,
    ) -> Result<Vec<(Uuid, String, VersionedListing)>, StoreError> {
        let actors = actors_list::every_actor(store).await?;
        Ok(actors
            .into_iter()
            .map(|actor| (actor.listing.id, actor.listing.name.clone(), actor))
            .collect())
    }
}

/// The index and what keeps it right across rebuilds.
struct State<I: Indexed> {
    /// `None` until the first rebuild finished.
    index: Option<WordIndex<I::Listing>>,
    /// The changes seen in the last [`REPLAY_WINDOW`], oldest first.
    recent: VecDeque<(Instant, Change<I>)>,
    /// How many rebuilds have started; each is numbered by it.
    rebuilds_started: u64,
    /// The number of the rebuild the index comes from: an older one finishing late is dropped.
    built_by: u64,
}

/// A search index in memory, kept by events and rebuilt from the store.
pub struct SearchIndex<I: Indexed> {
    state: RwLock<State<I>>,
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
        let State { index, recent, .. } = &mut *state;
        if let Some(index) = index.as_mut() {
            change.apply(index, recent.iter().map(|(_, change)| change));
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
        for (at, (_, change)) in state.recent.iter().enumerate() {
            let before = state.recent.range(..at).map(|(_, change)| change);
            change.apply(&mut index, before);
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
            found.into_iter().map(|(_, actor)| actor.listing).collect(),
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
        assert_eq!(
            (found, next),
            (vec![VersionedListing::of(&actor).listing], None)
        );
    }

    #[tokio::test]
    async fn a_deleted_actor_leaves_the_index_and_the_list_it_is_rebuilt_from() {
        let (_dir, store) = store();
        let actor = ActorCreated {
            actor_id: domain::ids::new_id(),
            name: "Carrie-Anne Moss".into(),
            thumbnail_url: None,
        };
        let created = project(&store, Event::ActorCreated(actor.clone())).await;
        let index = ActorSearch::default();
        index.rebuild_from(store.as_ref()).await.unwrap();
        index.saw(&created);
        let deleted = project(
            &store,
            Event::ActorDeleted(domain::events::ActorDeleted {
                actor_id: actor.actor_id,
                name: actor.name.clone(),
                created_at: created.occurred_at,
                photo: None,
            }),
        )
        .await;
        index.saw(&deleted);
        assert!(index.search("moss", None, 10).unwrap().0.is_empty());
        let rebuilt = ActorSearch::default();
        rebuilt.rebuild_from(store.as_ref()).await.unwrap();
        assert!(rebuilt.search("moss", None, 10).unwrap().0.is_empty());
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
