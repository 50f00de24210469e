//! The movie catalog: each movie's summary, the list of all movies (newest created first),
//! the genre lists (newest release first) and the genre counts. The summary's poster is set
//! here too, from each poster change newer than the one it holds.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use domain::events::{Envelope, Event, EventType, MovieSnapshot, PosterChanged};
use domain::picture::{PictureOwner, PictureView, StoredPicture};
use domain::score::ScoreTally;
use domain::timestamp::Micros;
use platform::audit::{self, Finding, Records, Stored};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use store::{Attrs, Condition, Key, Query, Record, Store, StoreError, Write};
use uuid::Uuid;

use crate::lifecycle::{self, ListsMovies};
use crate::reviews::SummaryScores;
use crate::{decode_or_skip, sharded};

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
    /// The movie's poster; null without one.
    pub poster: Option<PictureView>,
}

/// A movie's summary as stored: `summary#{movie}` / `summary`. It is written in three parts,
/// each in any order: the catalogue's facts, set here when the movie is created; its
/// scores, set by `reviews` on every review; and its poster, set here on every poster
/// change. When the movie is deleted, `reviews` replaces it with a tombstone that keeps
/// later reviews from counting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SummaryRecord {
    /// Absent while the movie is only scored or given a poster, not created (yet).
    #[serde(flatten)]
    facts: Option<CatalogFacts>,
    #[serde(flatten)]
    scores: SummaryScores,
    #[serde(flatten)]
    poster: SummaryPoster,
}

impl Record for SummaryRecord {
    const KIND: &'static str = "movie summary";
}

impl SummaryRecord {
    /// The summary lists show; `None` for a movie that is scored but not created (yet), or
    /// deleted.
    fn into_summary(self) -> Option<MovieSummary> {
        if self.scores.deleted {
            return None;
        }
        let facts = self.facts?;
        let tally = ScoreTally {
            sum: self.scores.score_sum,
            count: self.scores.review_count,
        };
        Some(MovieSummary {
            id: facts.movie_id,
            title: facts.title,
            release_year: facts.release_year,
            genres: facts.genres,
            score: tally.rounded_mean(),
            review_count: tally.count,
            thumbnail_url: facts.thumbnail_url,
            poster: self
                .poster
                .poster
                .map(|poster| poster.view(PictureOwner::Movie(facts.movie_id))),
        })
    }
}

/// The poster's part of a movie summary: the poster of the newest change applied, and that
/// change's event id, which orders the changes. Both absent until the first change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SummaryPoster {
    /// Null once the poster is deleted: an update sets it, and cannot remove it.
    #[serde(default)]
    pub poster: Option<StoredPicture>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poster_version: Option<Uuid>,
}

impl Record for SummaryPoster {
    const KIND: &'static str = "movie summary's poster";
}

/// The attributes of [`SummaryPoster`]: audits of the other parts leave them out.
pub(crate) const POSTER: &str = "poster";
pub(crate) const POSTER_VERSION: &str = "poster_version";

impl SummaryPoster {
    /// The condition that the poster part is still the one read.
    fn unchanged(&self) -> Result<Condition, StoreError> {
        match self.poster_version {
            None => Ok(Condition::AttrAbsent(POSTER_VERSION.into())),
            Some(version) => store::attr_equals(POSTER_VERSION, &version),
        }
    }

    /// The update that sets `poster` on the summary of `movie_id`, conditional on this part
    /// as read; `version` stays as read when `None` (a repair, which knows no event).
    fn set(
        &self,
        movie_id: &Uuid,
        poster: Option<StoredPicture>,
        version: Option<Uuid>,
    ) -> Result<Write, StoreError> {
        let part = SummaryPoster {
            poster,
            poster_version: version.or(self.poster_version),
        };
        let mut set = part.to_attrs()?;
        if version.is_none() {
            set.remove(POSTER_VERSION);
        }
        Ok(Write::Update {
            key: summary_key(movie_id),
            set,
            add: Vec::new(),
            condition: self.unchanged()?,
        })
    }
}

/// Whether a stored summary is a deleted movie's tombstone (see `reviews`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Tombstoned {
    #[serde(default)]
    deleted: bool,
}

impl Record for Tombstoned {
    const KIND: &'static str = "movie summary";
}

/// The write that sets the poster of a change on its movie's summary, if the change is
/// newer than the poster the summary holds: one conditional update of the summary, which it
/// creates when the movie's facts have not arrived yet (they are set beside it). A change
/// not newer — a repeat, or an older one arriving late — and a change of a deleted movie
/// write nothing.
pub(crate) async fn poster_writes(
    store: &dyn Store,
    version: Uuid,
    change: &PosterChanged,
) -> Result<Vec<Write>, StoreError> {
    let item = store.get(&summary_key(&change.movie_id)).await?;
    let (held, tombstoned) = match &item {
        Some(item) => (
            SummaryPoster::from_item(item)?,
            Tombstoned::from_item(item)?.deleted,
        ),
        None => (SummaryPoster::default(), false),
    };
    if tombstoned || !domain::picture::is_newer(version, held.poster_version) {
        return Ok(Vec::new());
    }
    Ok(vec![held.set(
        &change.movie_id,
        change.poster,
        Some(version),
    )?])
}

/// The catalogue's part of a movie summary, set when the movie is created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct CatalogFacts {
    movie_id: Uuid,
    title: String,
    release_year: i32,
    genres: Vec<String>,
    thumbnail_url: Option<String>,
    created_at: Micros,
}

impl CatalogFacts {
    fn of(movie: &MovieSnapshot) -> Self {
        CatalogFacts {
            movie_id: movie.movie_id,
            title: movie.title.clone(),
            release_year: movie.release_year,
            genres: movie.genres.clone(),
            thumbnail_url: movie.thumbnail_url.clone(),
            created_at: movie.created_at,
        }
    }
}

/// A movie's entry in the list of all movies (`movies#{s}` /
/// `{created_at:020}#{movie}`) and in its genres' lists (`genre#{genre}#{s}` /
/// `{release_year:04}#{created_at:020}#{movie}`); the read joins the summaries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ListedMovie {
    movie_id: Uuid,
}

impl Record for ListedMovie {
    const KIND: &'static str = "movie list entry";
}

/// A genre's count of movies: `genres` / `{genre}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct GenreCountRecord {
    #[serde(flatten)]
    genre: GenreName,
    /// A counter: each created or deleted movie adds to it.
    movie_count: i64,
}

impl Record for GenreCountRecord {
    const KIND: &'static str = "genre count";
}

/// The counter of [`GenreCountRecord`].
const MOVIE_COUNT: &str = "movie_count";

/// The part of a genre count that a counter change sets beside the count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct GenreName {
    name: String,
}

/// The key of a movie's summary item (its score fields are written by `reviews`).
pub(crate) fn summary_key(movie_id: &Uuid) -> Key {
    Key::new(format!("summary#{movie_id}"), "summary")
}

fn all_movies_key(movie: &MovieSnapshot) -> Key {
    Key::new(
        sharded::partition(ALL_MOVIES, &movie.movie_id),
        format!(
            "{}#{}",
            domain::timestamp::sort_key(movie.created_at),
            movie.movie_id
        ),
    )
}

fn genre_base(genre: &str) -> String {
    format!("genre#{genre}")
}

fn genre_key(genre: &str, movie: &MovieSnapshot) -> Key {
    Key::new(
        sharded::partition(&genre_base(genre), &movie.movie_id),
        release_sort_key(movie),
    )
}

/// A movie's sort key in the lists read newest release first (genres, filmographies):
/// release year, then creation time, then the id that keeps it unique.
pub(crate) fn release_sort_key(movie: &MovieSnapshot) -> String {
    format!(
        "{:04}#{}#{}",
        movie.release_year,
        domain::timestamp::sort_key(movie.created_at),
        movie.movie_id
    )
}

/// Audits the summaries' posters (`moviebook verify`): a movie's summary shows the poster
/// its record names. (The facts and scores are audited with the scores, in `reviews`; a
/// deleted movie's tombstone shows nothing, whatever poster it holds.) A wrong poster is set
/// on condition that the poster part is still as read; its version stays, as no event set
/// the repaired poster, so a change newer than the one read still applies.
pub(crate) fn audit_posters(
    records: &Records,
    stored: &Stored,
) -> Result<Vec<Finding>, StoreError> {
    let mut findings = Vec::new();
    for (movie_id, movie) in &records.movies {
        let key = summary_key(movie_id);
        let held = match stored.get(&key).map(SummaryPoster::from_attrs) {
            Some(Ok(held)) => held,
            // A poster part that does not decode is reported like a wrong one; its repair
            // holds only while it has no version, as the version it holds cannot be named.
            Some(Err(_)) | None => SummaryPoster::default(),
        };
        if held.poster == movie.poster {
            continue;
        }
        let shown = |poster: Option<StoredPicture>| {
            store::attrs_of(
                &SummaryPoster {
                    poster,
                    poster_version: None,
                },
                SummaryPoster::KIND,
            )
        };
        let Some(problem) =
            audit::problem(Some(&shown(held.poster)?), Some(&shown(movie.poster)?), &[])
        else {
            continue;
        };
        let repair = held.set(movie_id, movie.poster, None)?;
        findings.push(Finding::one("movie summaries", key, problem, vec![repair]));
    }
    Ok(findings)
}

/// The catalogue's part of `movie`'s summary, as stored.
pub(crate) fn summary_facts(movie: &MovieSnapshot) -> Result<Attrs, StoreError> {
    store::attrs_of(&CatalogFacts::of(movie), SummaryRecord::KIND)
}

/// Writes the catalog.
pub(crate) struct CatalogProjection;

#[async_trait::async_trait]
impl ListsMovies for CatalogProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn listed_under(&self) -> &'static [&'static str] {
        &["movies#", "genre#"]
    }

    fn entries(&self, movie: &MovieSnapshot, remove: bool) -> Result<Vec<Write>, StoreError> {
        let listed = ListedMovie {
            movie_id: movie.movie_id,
        };
        let mut writes = vec![lifecycle::entry(all_movies_key(movie), &listed, remove)?];
        // A deleted movie's summary becomes a tombstone, written by `reviews`.
        if !remove {
            writes.push(Write::Update {
                key: summary_key(&movie.movie_id),
                set: store::attrs_of(&CatalogFacts::of(movie), SummaryRecord::KIND)?,
                add: Vec::new(),
                condition: Condition::Always,
            });
        }
        for genre in &movie.genres {
            writes.push(lifecycle::entry(genre_key(genre, movie), &listed, remove)?);
            writes.push(genre_count_change(genre, if remove { -1 } else { 1 })?);
        }
        Ok(writes)
    }

    fn versioned_events(&self) -> &'static [EventType] {
        &[EventType::PosterChanged]
    }

    async fn plan_other(
        &self,
        store: &dyn Store,
        envelope: &Envelope,
    ) -> Result<Vec<Write>, StoreError> {
        match &envelope.event {
            Event::PosterChanged(change) => poster_writes(store, envelope.id, change).await,
            _ => Ok(Vec::new()),
        }
    }
}

fn genre_count_change(genre: &str, delta: i64) -> Result<Write, StoreError> {
    let name = GenreName {
        name: genre.to_owned(),
    };
    Ok(Write::Update {
        key: Key::new(GENRE_COUNTS, genre),
        set: store::attrs_of(&name, GenreCountRecord::KIND)?,
        add: vec![(MOVIE_COUNT.into(), delta)],
        condition: Condition::Always,
    })
}

/// Audits the genre counts (`moviebook verify`): each genre's count is the number of
/// `counted` movies (listed, with a record) of that genre. A count is repaired by adding
/// the difference, which commutes with the counts' changes by events meanwhile; a movie
/// that is listed by the repair of its lifecycle is counted by that repair.
pub(crate) fn audit_genre_counts(
    records: &Records,
    stored: &Stored,
    counted: &BTreeSet<Uuid>,
) -> Result<Vec<Finding>, StoreError> {
    let mut expected: BTreeMap<&str, i64> = BTreeMap::new();
    for movie in counted.iter().filter_map(|id| records.movies.get(id)) {
        for genre in &movie.genres {
            *expected.entry(genre.as_str()).or_default() += 1;
        }
    }
    let actual: BTreeMap<&str, &Attrs> = stored
        .partition(GENRE_COUNTS)
        .map(|(key, attrs)| (key.sk.as_str(), attrs))
        .collect();
    let genres: BTreeSet<&str> = expected.keys().chain(actual.keys()).copied().collect();
    let mut findings = Vec::new();
    for genre in genres {
        let wanted = expected.get(genre).copied().unwrap_or(0);
        let found = actual.get(genre).copied();
        let count = found
            .and_then(|attrs| attrs.get(MOVIE_COUNT))
            .and_then(Value::as_i64);
        let named = found.and_then(|attrs| attrs.get("name")) == Some(&Value::from(genre));
        if count.unwrap_or(0) == wanted && (named || (found.is_none() && wanted == 0)) {
            continue;
        }
        let record = GenreCountRecord {
            genre: GenreName {
                name: genre.to_owned(),
            },
            movie_count: wanted,
        };
        let key = Key::new(GENRE_COUNTS, genre);
        let Some(problem) = audit::problem(found, Some(&record.to_attrs()?), &[]) else {
            continue;
        };
        let repair = genre_count_change(genre, wanted - count.unwrap_or(0))?;
        findings.push(Finding::one("genre counts", key, problem, vec![repair]));
    }
    Ok(findings)
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
                .iter()
                .map(|item| item.as_ref().and_then(to_summary)),
        );
    }
    Ok(found)
}

/// The summaries of these movies that exist, in order: the movies of a list, dropping those
/// deleted (or not yet created) since the list was read.
pub(crate) async fn existing_summaries(
    store: &dyn Store,
    ids: &[Uuid],
) -> Result<Vec<MovieSummary>, StoreError> {
    Ok(summaries(store, ids).await?.into_iter().flatten().collect())
}

/// Every listed movie's id and title, in no particular order: what the title search is
/// rebuilt from. The all-movies list gives the ids, the summaries (in batches) the titles.
pub(crate) async fn every_title(store: &dyn Store) -> Result<Vec<(Uuid, String)>, StoreError> {
    let ids: Vec<Uuid> = sharded::every_item(store, ALL_MOVIES)
        .await?
        .iter()
        .filter_map(decode_or_skip::<ListedMovie>)
        .map(|entry| entry.movie_id)
        .collect();
    Ok(existing_summaries(store, &ids)
        .await?
        .into_iter()
        .map(|summary| (summary.id, summary.title))
        .collect())
}

/// One movie's summary.
pub async fn summary(store: &dyn Store, id: &Uuid) -> Result<Option<MovieSummary>, StoreError> {
    Ok(store
        .get(&summary_key(id))
        .await?
        .as_ref()
        .and_then(to_summary))
}

fn to_summary(item: &store::Item) -> Option<MovieSummary> {
    decode_or_skip::<SummaryRecord>(item)?.into_summary()
}

/// A page of the sharded movie list `base`, as summaries; the cursor is the last sort key.
async fn movies_page(
    store: &dyn Store,
    base: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<(Vec<MovieSummary>, Option<String>), StoreError> {
    let (items, cursor) = sharded::merged_page(store, base, "", true, after, limit).await?;
    let ids: Vec<Uuid> = items
        .iter()
        .filter_map(decode_or_skip::<ListedMovie>)
        .map(|entry| entry.movie_id)
        .collect();
    Ok((existing_summaries(store, &ids).await?, cursor))
}

/// A page of all movies, newest created first; the cursor is the last sort key.
pub async fn all_movies_page(
    store: &dyn Store,
    after: Option<&str>,
    limit: usize,
) -> Result<(Vec<MovieSummary>, Option<String>), StoreError> {
    movies_page(store, ALL_MOVIES, after, limit).await
}

/// A page of a genre's movies, newest release first.
pub async fn genre_page(
    store: &dyn Store,
    genre: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<(Vec<MovieSummary>, Option<String>), StoreError> {
    movies_page(store, &genre_base(genre), after, limit).await
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
        for count in page
            .items
            .iter()
            .filter_map(decode_or_skip::<GenreCountRecord>)
        {
            counts.insert(count.genre.name, count.movie_count);
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

#[cfg(test)]
mod tests {
    use serde_json::json;
    use store::Attrs;

    use super::*;
    use crate::test_support::attribute_names;

    fn facts() -> CatalogFacts {
        CatalogFacts {
            movie_id: Uuid::now_v7(),
            title: "Heat".into(),
            release_year: 1995,
            genres: vec!["crime".into()],
            thumbnail_url: None,
            created_at: 7,
        }
    }

    #[test]
    fn a_summary_keeps_its_attribute_names() {
        let record = SummaryRecord {
            facts: Some(facts()),
            scores: SummaryScores {
                score_sum: 17,
                review_count: 2,
                score_revision: Some(3),
                deleted: false,
            },
            poster: SummaryPoster {
                poster: Some(StoredPicture {
                    upload_id: Uuid::now_v7(),
                    image_type: domain::picture::ImageType::Png,
                    width: 300,
                    height: 450,
                }),
                poster_version: Some(Uuid::now_v7()),
            },
        };
        let attrs = record.to_attrs().unwrap();
        assert_eq!(
            attribute_names(&attrs),
            [
                "created_at",
                "genres",
                "movie_id",
                "poster",
                "poster_version",
                "release_year",
                "review_count",
                "score_revision",
                "score_sum",
                "thumbnail_url",
                "title",
            ]
        );
        assert_eq!(attrs["thumbnail_url"], json!(null));
        assert_eq!(SummaryRecord::from_attrs(&attrs).unwrap(), record);
    }

    #[test]
    fn a_summary_that_is_only_scored_reads_as_absent() {
        let mut attrs = Attrs::new();
        attrs.insert("score_sum".into(), json!(9));
        attrs.insert("review_count".into(), json!(1));
        let record = SummaryRecord::from_attrs(&attrs).unwrap();
        assert_eq!(record.facts, None);
        assert_eq!(record.into_summary(), None);
    }

    #[test]
    fn a_deleted_movies_summary_reads_as_absent_even_with_its_facts() {
        let mut attrs = store::attrs_of(&facts(), SummaryRecord::KIND).unwrap();
        attrs.insert("deleted".into(), json!(true));
        assert_eq!(
            SummaryRecord::from_attrs(&attrs).unwrap().into_summary(),
            None
        );
    }

    #[test]
    fn a_summary_not_yet_scored_has_no_score() {
        let facts = facts();
        let attrs = store::attrs_of(&facts, SummaryRecord::KIND).unwrap();
        let summary = SummaryRecord::from_attrs(&attrs)
            .unwrap()
            .into_summary()
            .unwrap();
        assert_eq!(summary.id, facts.movie_id);
        assert_eq!((summary.score, summary.review_count), (None, 0));
    }

    #[test]
    fn a_genre_count_change_sets_the_name_and_adds_to_the_counter() {
        let record = GenreCountRecord {
            genre: GenreName {
                name: "crime".into(),
            },
            movie_count: 3,
        };
        let attrs = record.to_attrs().unwrap();
        assert_eq!(attrs.get(MOVIE_COUNT), Some(&json!(3)));
        assert_eq!(attribute_names(&attrs), ["movie_count", "name"]);
        let Write::Update { set, add, .. } = genre_count_change("crime", -1).unwrap() else {
            panic!("a count change is an update");
        };
        assert_eq!(attribute_names(&set), ["name"]);
        assert_eq!(add, [(MOVIE_COUNT.to_owned(), -1)]);
    }

    #[test]
    fn a_listed_movie_carries_its_id() {
        let movie_id = Uuid::now_v7();
        let attrs = ListedMovie { movie_id }.to_attrs().unwrap();
        assert_eq!(attribute_names(&attrs), ["movie_id"]);
    }
}
