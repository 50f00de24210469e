//! What each review counts for: its movie's score, the movie's place in the top-rated list,
//! and its author's list of reviews — one projection, so that one item per review can
//! record what all of them hold for it.
//!
//! That item is the review's pointer: the id of the last event applied to the review, the
//! sort key of its entry in the author's list, and the score the movie's tally counts for
//! it. Every write is conditional on the pointer it read, and an event not newer than the
//! pointer changes nothing — a repeat, or an older event arriving late — so this projection
//! needs no processed-event markers. A movie's tally (integer sum and count) lives in the
//! movie's summary (see `catalog`) and moves by the difference between a review's new score
//! and the score its pointer says is counted; it is never recomputed from the reviews.
//!
//! Every event of a movie rewrites its summary, so the projection is partitioned by movie
//! (`Projection::partitioned`): the bus hands one movie's events to one handler at a time,
//! in one process at a time, and a burst of reviews of a hot movie is folded: the events
//! waiting behind a partition's turn are applied together (`Projection::plan_batch`), the
//! summary read once and written once for the lot. The summary's write stays conditional on
//! the tally revision it read: a retried event comes back outside its partition (see the
//! bus adapters), and a partition changing hands can overlap a handler still finishing, so
//! concurrent writers remain possible, just rare — and still exact.

pub(crate) mod audit;
mod catalogue;
mod most_reviewed;
mod top_rated;
mod user_lists;
mod weighted;

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use domain::events::{Envelope, Event, EventType};
use domain::score::ScoreTally;
use platform::consumer::Projection;
use serde::{Deserialize, Serialize};
use store::{Condition, Key, Record, Store, StoreError, Write};
use uuid::Uuid;

pub use self::catalogue::catalogue_tally;
use self::most_reviewed::CountBucket;
use self::top_rated::TopRatedRecord;
pub use self::top_rated::top_rated;
use self::user_lists::UserReviewRecord;
pub use self::user_lists::{UserReview, user_reviews};
pub use self::weighted::{WeightedMovie, weighted_top_rated};
use crate::catalog::{SummaryRecord, summary_key};

const NAME: &str = "reviews";

/// The scores' part of a movie summary (see `catalog`): the movie's tally.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SummaryScores {
    /// Absent, so 0, until the movie's first review.
    #[serde(default)]
    pub score_sum: i64,
    #[serde(default)]
    pub review_count: i64,
    /// Grows by one with each write of the tally, which is conditional on the revision it
    /// read; absent until the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_revision: Option<i64>,
    /// Set when the movie is deleted: the summary stays, as a tombstone that no list shows,
    /// so that reviews arriving late count nowhere.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

impl Record for SummaryScores {
    const KIND: &'static str = "movie summary's scores";
}

/// The attribute a tally write's condition names.
const SCORE_REVISION: &str = "score_revision";

impl SummaryScores {
    fn tally(&self) -> ScoreTally {
        ScoreTally {
            sum: self.score_sum,
            count: self.review_count,
        }
    }

    /// The condition that the tally is still the one read.
    fn unchanged(&self) -> Result<Condition, StoreError> {
        match self.score_revision {
            None => Ok(Condition::AttrAbsent(SCORE_REVISION.into())),
            Some(revision) => store::attr_equals(SCORE_REVISION, &revision),
        }
    }
}

/// What the read models hold for one review: `userreview#{user}#{movie}` / `pointer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ReviewPointer {
    /// The id of the last event applied to the review; each write is conditional on it.
    version: Uuid,
    /// The sort key of the review's entry in its author's list; absent once it is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    entry: Option<String>,
    /// The score the movie's tally counts for the review; absent when it counts nowhere
    /// (deleted, or its movie is). Pointers written before this was kept lack it while
    /// their entry is listed: their events' own old scores stand in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    score: Option<i64>,
}

impl Record for ReviewPointer {
    const KIND: &'static str = "review pointer";
}

/// The attribute a pointer write's condition names.
const VERSION: &str = "version";

fn pointer_key(user_id: &Uuid, movie_id: &Uuid) -> Key {
    Key::new(format!("userreview#{user_id}#{movie_id}"), "pointer")
}

/// The score counted for a review whose pointer is `pointer`; `stated` is the old score the
/// event carries, used only for a pointer from before pointers kept it.
fn counted_score(pointer: Option<&ReviewPointer>, stated: Option<i64>) -> Option<i64> {
    let pointer = pointer?;
    pointer.score.or(pointer.entry.as_ref().and(stated))
}

/// Keeps scores, the top-rated list and users' review lists.
pub struct ReviewsProjection;

#[async_trait]
impl Projection for ReviewsProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn event_types(&self) -> Vec<EventType> {
        vec![
            EventType::ReviewUpserted,
            EventType::ReviewDeleted,
            EventType::MovieDeleted,
        ]
    }

    fn partitioned(&self) -> bool {
        true
    }

    /// The pointers make a repeat change nothing (see the module's documentation).
    fn marks_events(&self) -> bool {
        false
    }

    async fn plan(&self, store: &dyn Store, envelope: &Envelope) -> Result<Vec<Write>, StoreError> {
        plan_reviews(store, std::slice::from_ref(envelope)).await
    }

    async fn plan_batch(
        &self,
        store: &dyn Store,
        envelopes: &[Envelope],
    ) -> Result<Option<Vec<Write>>, StoreError> {
        plan_reviews(store, envelopes).await.map(Some)
    }
}

/// A movie's scores as read, and as the events leave them.
struct MovieScores {
    read: SummaryScores,
    tally: ScoreTally,
    deleted: bool,
}

/// A review's pointer as read, and as the events leave it with the entry they list.
struct ReviewState {
    read: Option<ReviewPointer>,
    now: Option<ReviewPointer>,
    listed: Option<UserReviewRecord>,
}

/// The writes applying these events, in order: one batch get of every movie summary and
/// review pointer they touch, then each summary, top-rated entry, list entry and pointer
/// written once.
async fn plan_reviews(store: &dyn Store, envelopes: &[Envelope]) -> Result<Vec<Write>, StoreError> {
    let mut movie_ids: Vec<Uuid> = Vec::new();
    let mut review_ids: Vec<(Uuid, Uuid)> = Vec::new();
    for envelope in envelopes {
        let (movie_id, review) = match &envelope.event {
            Event::ReviewUpserted(r) => (r.movie_id, Some((r.user_id, r.movie_id))),
            Event::ReviewDeleted(r) => (r.movie_id, Some((r.user_id, r.movie_id))),
            Event::MovieDeleted(m) => (m.movie_id, None),
            _ => continue,
        };
        if !movie_ids.contains(&movie_id) {
            movie_ids.push(movie_id);
        }
        if let Some(review) = review.filter(|r| !review_ids.contains(r)) {
            review_ids.push(review);
        }
    }
    if movie_ids.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<Key> = movie_ids
        .iter()
        .map(summary_key)
        .chain(
            review_ids
                .iter()
                .map(|(user, movie)| pointer_key(user, movie)),
        )
        .collect();
    let mut items = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(store::MAX_BATCH_GET_KEYS) {
        items.extend(store.batch_get(chunk).await?);
    }
    let (summaries, pointers) = items.split_at(movie_ids.len());
    // A summary or pointer that does not decode fails the plan (`StoreError::Malformed`):
    // the new tally is computed from them, so a guess would corrupt the score for good.
    let mut movies = HashMap::with_capacity(movie_ids.len());
    for (id, item) in movie_ids.iter().zip(summaries) {
        let read = item
            .as_ref()
            .map(SummaryScores::from_item)
            .transpose()?
            .unwrap_or_default();
        let scores = MovieScores {
            read,
            tally: read.tally(),
            deleted: read.deleted,
        };
        movies.insert(*id, scores);
    }
    let mut reviews = HashMap::with_capacity(review_ids.len());
    for (id, item) in review_ids.iter().zip(pointers) {
        let read = item.as_ref().map(ReviewPointer::from_item).transpose()?;
        let state = ReviewState {
            now: read.clone(),
            read,
            listed: None,
        };
        reviews.insert(*id, state);
    }

    for envelope in envelopes {
        apply(envelope, &mut movies, &mut reviews);
    }

    let mut writes = Vec::new();
    // What the catalogue's tally moves by, per shard: one write per shard for the lot.
    let mut catalogue_moves = BTreeMap::new();
    for id in &movie_ids {
        let (movie, moved) = movie_writes(id, &movies[id])?;
        writes.extend(movie);
        catalogue::add_to(&mut catalogue_moves, catalogue::shard_of(id), moved);
    }
    writes.extend(catalogue::changes(&catalogue_moves));
    for id in &review_ids {
        writes.extend(review_writes(id, &reviews[id])?);
    }
    Ok(writes)
}

/// Moves the in-memory state by one event.
fn apply(
    envelope: &Envelope,
    movies: &mut HashMap<Uuid, MovieScores>,
    reviews: &mut HashMap<(Uuid, Uuid), ReviewState>,
) {
    let (user_id, movie_id, stated_old_score) = match &envelope.event {
        Event::MovieDeleted(movie) => {
            if let Some(scores) = movies.get_mut(&movie.movie_id) {
                scores.deleted = true;
            }
            return;
        }
        Event::ReviewUpserted(r) => (r.user_id, r.movie_id, r.previous_score),
        Event::ReviewDeleted(r) => (r.user_id, r.movie_id, Some(r.score)),
        _ => return,
    };
    let (Some(scores), Some(review)) = (
        movies.get_mut(&movie_id),
        reviews.get_mut(&(user_id, movie_id)),
    ) else {
        return;
    };
    if review
        .now
        .as_ref()
        .is_some_and(|p| p.version >= envelope.id)
    {
        return;
    }
    let counted = counted_score(review.now.as_ref(), stated_old_score);
    let mut pointer = ReviewPointer {
        version: envelope.id,
        entry: None,
        score: None,
    };
    review.listed = None;
    if let Event::ReviewUpserted(r) = &envelope.event
        && !scores.deleted
    {
        let listed = UserReviewRecord {
            movie_id,
            movie_title: r.movie_title.clone(),
            score: r.score,
            comment: r.comment.clone(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        };
        pointer.entry = Some(listed.sort_key());
        pointer.score = Some(r.score);
        review.listed = Some(listed);
    }
    if !scores.deleted {
        scores.tally.sum += pointer.score.unwrap_or(0) - counted.unwrap_or(0);
        scores.tally.count += i64::from(pointer.score.is_some()) - i64::from(counted.is_some());
    }
    review.now = Some(pointer);
}

/// A movie's summary scores and top-rated entry, written when the events moved them, its
/// most-reviewed entry when they moved its count's bucket, and how far they move the
/// catalogue's tally (which the caller writes, in the same transaction: the summary's
/// condition guards both).
fn movie_writes(
    movie_id: &Uuid,
    scores: &MovieScores,
) -> Result<(Vec<Write>, ScoreTally), StoreError> {
    let read = &scores.read;
    let before = read.tally();
    if read.deleted || (!scores.deleted && scores.tally == before) {
        return Ok((Vec::new(), ScoreTally::default()));
    }
    let revision = Some(read.score_revision.unwrap_or(0) + 1);
    let mut writes = Vec::new();
    // The stored top-rated entry sits at the stored tally's key. A tally that did not move
    // leaves it as it was, and is not written at all; one that moved changes its key (it
    // holds the count and the mean), so no key is deleted and put in one transaction.
    if before.count > 0 {
        writes.push(Write::delete(top_rated::entry_key(movie_id, before)));
    }
    // The most-reviewed entry holds only the count's bucket: it moves when that does.
    let listed_after = if scores.deleted {
        None
    } else {
        CountBucket::of(scores.tally.count)
    };
    writes.extend(most_reviewed::moves(
        movie_id,
        CountBucket::of(before.count),
        listed_after,
    )?);
    if scores.deleted {
        let tombstone = SummaryScores {
            score_revision: revision,
            deleted: true,
            ..SummaryScores::default()
        };
        writes.push(Write::Put {
            item: tombstone.to_item(summary_key(movie_id))?,
            condition: read.unchanged()?,
        });
        let moved = catalogue::difference(before, ScoreTally::default());
        return Ok((writes, moved));
    }
    let after = SummaryScores {
        score_sum: scores.tally.sum,
        review_count: scores.tally.count,
        score_revision: revision,
        deleted: false,
    };
    writes.push(Write::Update {
        key: summary_key(movie_id),
        set: store::attrs_of(&after, SummaryRecord::KIND)?,
        add: Vec::new(),
        condition: read.unchanged()?,
    });
    if after.review_count > 0 {
        let entry = TopRatedRecord {
            movie_id: *movie_id,
            review_count: after.review_count,
            score_sum: Some(after.score_sum),
        };
        writes.push(Write::put(
            entry.to_item(top_rated::entry_key(movie_id, scores.tally))?,
        ));
    }
    Ok((writes, catalogue::difference(before, scores.tally)))
}

/// A review's list entry and pointer, written when an event newer than the pointer came.
fn review_writes(
    (user_id, movie_id): &(Uuid, Uuid),
    review: &ReviewState,
) -> Result<Vec<Write>, StoreError> {
    let Some(now) = review
        .now
        .as_ref()
        .filter(|now| review.read.as_ref() != Some(*now))
    else {
        return Ok(Vec::new());
    };
    let mut writes = Vec::new();
    let old_entry = review.read.as_ref().and_then(|p| p.entry.as_ref());
    // An entry at the same sort key is replaced by the put below; deleting it too would
    // write one key twice in the transaction.
    if let Some(old) = old_entry.filter(|old| now.entry.as_ref() != Some(*old)) {
        writes.push(Write::delete(user_lists::entry_key(user_id, old)));
    }
    if let (Some(listed), Some(sort_key)) = (&review.listed, &now.entry) {
        writes.push(Write::put(
            listed.to_item(user_lists::entry_key(user_id, sort_key))?,
        ));
    }
    let condition = match &review.read {
        None => Condition::NotExists,
        Some(read) => store::attr_equals(VERSION, &read.version)?,
    };
    writes.push(Write::Put {
        item: now.to_item(pointer_key(user_id, movie_id))?,
        condition,
    });
    Ok(writes)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::test_support::attribute_names;

    #[test]
    fn the_scores_part_of_a_summary_keeps_its_attribute_names() {
        let scores = SummaryScores {
            score_sum: 9,
            review_count: 1,
            score_revision: Some(3),
            deleted: false,
        };
        let attrs = store::attrs_of(&scores, SummaryRecord::KIND).unwrap();
        assert_eq!(
            attribute_names(&attrs),
            ["review_count", "score_revision", "score_sum"]
        );
        assert_eq!(attrs["score_sum"], json!(9));
        let tombstone = SummaryScores {
            deleted: true,
            ..scores
        };
        assert_eq!(tombstone.to_attrs().unwrap()["deleted"], json!(true));
    }

    /// The writes of a movie's scores when one review takes its count from `count` to
    /// `count + 1`, by kind of item.
    fn writes_of_one_more_review(count: i64) -> Vec<String> {
        let movie_id = Uuid::now_v7();
        let read = SummaryScores {
            score_sum: 5 * count,
            review_count: count,
            score_revision: Some(count),
            deleted: false,
        };
        let scores = MovieScores {
            read,
            tally: ScoreTally {
                sum: 5 * count + 7,
                count: count + 1,
            },
            deleted: false,
        };
        let (writes, moved) = movie_writes(&movie_id, &scores).unwrap();
        assert_eq!(moved, ScoreTally { sum: 7, count: 1 });
        let kind = |key: &Key| key.pk.split('#').next().unwrap().to_owned();
        writes
            .iter()
            .map(|write| match write {
                Write::Put { item, .. } => kind(&item.key),
                Write::Delete { key, .. } | Write::Update { key, .. } => kind(key),
                Write::Check { key, .. } => format!("check {}", kind(key)),
            })
            .collect()
    }

    #[test]
    fn the_most_reviewed_entry_moves_only_when_a_review_count_reaches_a_power_of_two_from_4_on() {
        let moved = [
            "toprated",
            "mostreviewed",
            "summary",
            "toprated",
            "mostreviewed",
        ];
        assert_eq!(
            writes_of_one_more_review(0),
            ["mostreviewed", "summary", "toprated"]
        );
        for count in [3, 7, 63] {
            let mut got = writes_of_one_more_review(count);
            got.sort();
            let mut expected = moved.to_vec();
            expected.sort();
            assert_eq!(got, expected, "{count} → {}", count + 1);
        }
        for count in [1, 2, 4, 5, 6, 8, 100] {
            assert_eq!(
                writes_of_one_more_review(count),
                ["toprated", "summary", "toprated"],
                "{count} → {}",
                count + 1
            );
        }
    }

    #[test]
    fn a_tally_write_is_conditional_on_the_revision_it_read() {
        let first = SummaryScores::default();
        assert_eq!(
            first.unchanged().unwrap(),
            Condition::AttrAbsent(SCORE_REVISION.into())
        );
        let later = SummaryScores {
            score_revision: Some(4),
            ..first
        };
        assert_eq!(
            later.unchanged().unwrap(),
            Condition::AttrEquals(SCORE_REVISION.into(), json!(4))
        );
    }

    #[test]
    fn a_pointer_names_its_version_and_leaves_out_what_is_missing() {
        let version = Uuid::now_v7();
        let pointer = ReviewPointer {
            version,
            entry: None,
            score: None,
        };
        let attrs = pointer.to_attrs().unwrap();
        assert_eq!(attrs.get(VERSION), Some(&json!(version.to_string())));
        assert_eq!(attrs.len(), 1, "nothing but the version once deleted");
        assert_eq!(ReviewPointer::from_attrs(&attrs).unwrap(), pointer);
        let listed = ReviewPointer {
            version,
            entry: Some("x".into()),
            score: Some(7),
        };
        assert_eq!(
            attribute_names(&listed.to_attrs().unwrap()),
            ["entry", "score", "version"]
        );
    }

    #[test]
    fn a_pointer_from_before_scores_were_kept_counts_the_events_old_score() {
        let version = Uuid::now_v7();
        let listed = |score| ReviewPointer {
            version,
            entry: Some("x".into()),
            score,
        };
        assert_eq!(counted_score(None, Some(4)), None, "never counted");
        assert_eq!(counted_score(Some(&listed(Some(6))), Some(4)), Some(6));
        assert_eq!(counted_score(Some(&listed(None)), Some(4)), Some(4));
        let deleted = ReviewPointer {
            version,
            entry: None,
            score: None,
        };
        assert_eq!(counted_score(Some(&deleted), Some(4)), None);
    }
}
