//! Movie scores and the top-rated list. A movie's tally (integer sum and count of its
//! review scores) moves by the deltas review events carry — a replaced review carries its
//! old score — and is never recomputed from the reviews. The tally sits in an item owned
//! by this projection, and its top-rated entry moves in the same transaction.
//!
//! Every event of a movie rewrites that one item, so the projection is partitioned by movie
//! (`Projection::partitioned`): the bus hands one movie's events to one handler at a time,
//! in one process at a time, and a burst of reviews of a hot movie is applied in turn
//! instead of by replicas that collide and back off — folded: the events waiting behind a
//! partition's turn are applied together (`Projection::plan_batch`), each movie's tally read
//! once and written once for the lot. Each change stays conditional on
//! the tally it read: a retried event comes back outside its partition (see the bus
//! adapters), and a partition changing hands can overlap a handler still finishing, so
//! concurrent writers remain possible, just rare — and still exact.

use async_trait::async_trait;
use domain::events::{Envelope, Event, EventType};
use domain::score::ScoreTally;
use platform::consumer::Projection;
use serde::{Deserialize, Serialize};
use store::{Condition, Key, Query, Record, Store, StoreError, Write};
use uuid::Uuid;

use crate::catalog::{MovieSummary, SummaryRecord, existing_summaries, summary_key};
use crate::{decode_or_skip, sharded};

const NAME: &str = "scores";
const TOP_RATED: &str = "toprated";

/// A movie's tally as this projection keeps it: `score#{movie}` / `tally`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct TallyRecord {
    sum: i64,
    count: i64,
    /// Set when the movie is deleted: its reviews no longer count anywhere.
    deleted: bool,
    /// Grows by one with each write, which is conditional on the revision it read.
    revision: i64,
}

impl Record for TallyRecord {
    const KIND: &'static str = "score tally";
}

/// The attribute a tally write's condition names.
const REVISION: &str = "revision";

impl TallyRecord {
    fn tally(&self) -> ScoreTally {
        ScoreTally {
            sum: self.sum,
            count: self.count,
        }
    }
}

/// The scores' part of a movie summary (see `catalog`), set from the tally on every review.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SummaryScores {
    /// Absent, so 0, until the movie's first review.
    #[serde(default)]
    pub score_sum: i64,
    #[serde(default)]
    pub review_count: i64,
}

/// A movie's entry in the top-rated list: `toprated#{s}` / the key of [`top_rated_key`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct TopRatedRecord {
    movie_id: Uuid,
    /// Copied here so `min_reviews` filters without reading the summaries.
    review_count: i64,
}

impl Record for TopRatedRecord {
    const KIND: &'static str = "top-rated entry";
}

fn tally_key(movie_id: &Uuid) -> Key {
    Key::new(format!("score#{movie_id}"), "tally")
}

/// The top-rated sort key: exact mean descending, then review count descending, then id.
fn top_rated_key(movie_id: &Uuid, tally: ScoreTally) -> Key {
    let count_descending = i64::MAX - tally.count;
    Key::new(
        sharded::partition(TOP_RATED, movie_id),
        format!(
            "{}#{count_descending:020}#{movie_id}",
            tally.descending_mean_key()
        ),
    )
}

fn write_tally(
    movie_id: &Uuid,
    before: Option<&TallyRecord>,
    tally: ScoreTally,
    deleted: bool,
) -> Result<Write, StoreError> {
    let record = TallyRecord {
        sum: tally.sum,
        count: tally.count,
        deleted,
        revision: before.map_or(0, |b| b.revision) + 1,
    };
    let condition = match before {
        None => Condition::NotExists,
        Some(before) => store::attr_equals(REVISION, &before.revision)?,
    };
    Ok(Write::Put {
        item: record.to_item(tally_key(movie_id))?,
        condition,
    })
}

/// Keeps tallies and the top-rated list.
pub struct ScoresProjection;

#[async_trait]
impl Projection for ScoresProjection {
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

    async fn plan(&self, store: &dyn Store, envelope: &Envelope) -> Result<Vec<Write>, StoreError> {
        plan_tallies(store, std::slice::from_ref(envelope)).await
    }

    async fn plan_batch(
        &self,
        store: &dyn Store,
        envelopes: &[Envelope],
    ) -> Result<Option<Vec<Write>>, StoreError> {
        plan_tallies(store, envelopes).await.map(Some)
    }
}

/// What one event does to its movie's tally.
#[derive(Debug, Clone, Copy)]
enum TallyChange {
    /// A review's score moves the sum, and a new or deleted review the count.
    Review {
        sum: i64,
        count: i64,
    },
    MovieDeleted,
}

fn tally_change(event: &Event) -> Option<(Uuid, TallyChange)> {
    match event {
        Event::ReviewUpserted(review) => Some((
            review.movie_id,
            TallyChange::Review {
                sum: review.score - review.previous_score.unwrap_or(0),
                count: i64::from(review.previous_score.is_none()),
            },
        )),
        Event::ReviewDeleted(review) => Some((
            review.movie_id,
            TallyChange::Review {
                sum: -review.score,
                count: -1,
            },
        )),
        Event::MovieDeleted(movie) => Some((movie.movie_id, TallyChange::MovieDeleted)),
        _ => None,
    }
}

/// The writes applying these events, in order: one read of each movie's tally (one batch
/// get for all) and, per movie, its tally, summary scores and top-rated entry written once.
async fn plan_tallies(store: &dyn Store, envelopes: &[Envelope]) -> Result<Vec<Write>, StoreError> {
    let mut movies: Vec<(Uuid, Vec<TallyChange>)> = Vec::new();
    for (movie_id, change) in envelopes.iter().filter_map(|e| tally_change(&e.event)) {
        match movies.iter_mut().find(|(id, _)| *id == movie_id) {
            Some((_, changes)) => changes.push(change),
            None => movies.push((movie_id, vec![change])),
        }
    }
    if movies.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<Key> = movies.iter().map(|(id, _)| tally_key(id)).collect();
    let stored = store.batch_get(&keys).await?;
    let mut writes = Vec::new();
    for ((movie_id, changes), item) in movies.iter().zip(stored) {
        // A tally that does not decode fails the plan (`StoreError::Malformed`): the new
        // tally is computed from it, so a guess would corrupt the score for good.
        let before = item.as_ref().map(TallyRecord::from_item).transpose()?;
        writes.extend(plan_movie(movie_id, before.as_ref(), changes)?);
    }
    Ok(writes)
}

/// The writes moving one movie's tally from `before` through `changes`.
fn plan_movie(
    movie_id: &Uuid,
    before: Option<&TallyRecord>,
    changes: &[TallyChange],
) -> Result<Vec<Write>, StoreError> {
    if before.is_some_and(|b| b.deleted) {
        // Reviews of a deleted movie no longer count anywhere.
        return Ok(Vec::new());
    }
    let tally_before = before.map(TallyRecord::tally).unwrap_or_default();
    let mut after = tally_before;
    let mut deleted = false;
    for change in changes {
        match change {
            TallyChange::Review { sum, count } if !deleted => {
                after.sum += sum;
                after.count += count;
            }
            TallyChange::Review { .. } => {}
            TallyChange::MovieDeleted => deleted = true,
        }
    }
    let mut writes = vec![write_tally(movie_id, before, after, deleted)?];
    // The stored entry sits at the stored tally's key. A tally that did not move leaves the
    // entry's key as it was: the put below rewrites it, and deleting it too would write one
    // key twice in the transaction.
    if tally_before.count > 0 && (deleted || after != tally_before) {
        writes.push(Write::delete(top_rated_key(movie_id, tally_before)));
    }
    if deleted {
        writes.push(Write::delete(summary_key(movie_id)));
        return Ok(writes);
    }
    let scores = SummaryScores {
        score_sum: after.sum,
        review_count: after.count,
    };
    writes.push(Write::Update {
        key: summary_key(movie_id),
        set: store::attrs_of(&scores, SummaryRecord::KIND)?,
        add: Vec::new(),
        condition: Condition::Always,
    });
    if after.count > 0 {
        let entry = TopRatedRecord {
            movie_id: *movie_id,
            review_count: after.count,
        };
        writes.push(Write::put(entry.to_item(top_rated_key(movie_id, after))?));
    }
    Ok(writes)
}

/// How many top-rated entries one request reads per shard before it settles for fewer:
/// bounds the cost of a `min_reviews` that few movies reach.
const SCAN_BUDGET: usize = 1000;

/// The best `limit` movies with at least `min_reviews` reviews.
pub async fn top_rated(
    store: &dyn Store,
    limit: usize,
    min_reviews: i64,
) -> Result<Vec<MovieSummary>, StoreError> {
    let reads = (0..sharded::SHARDS).map(|shard| async move {
        let pk = format!("{TOP_RATED}#{shard}");
        let mut kept = Vec::new();
        let mut scanned = 0;
        let mut after = None;
        loop {
            let page = store
                .query(&Query::prefix(pk.clone(), "", limit.max(20)).after(after.take()))
                .await?;
            scanned += page.items.len();
            after = page.items.last().map(|i| i.key.sk.clone());
            kept.extend(page.items.iter().filter_map(|item| {
                let entry = decode_or_skip::<TopRatedRecord>(item)?;
                (entry.review_count >= min_reviews).then(|| (item.key.sk.clone(), entry.movie_id))
            }));
            if kept.len() >= limit || !page.more || scanned >= SCAN_BUDGET {
                break;
            }
        }
        kept.truncate(limit);
        Ok::<_, StoreError>(kept)
    });
    let mut entries: Vec<(String, Uuid)> = futures::future::try_join_all(reads)
        .await?
        .into_iter()
        .flatten()
        .collect();
    entries.sort();
    let ids: Vec<Uuid> = entries.into_iter().map(|(_, id)| id).collect();
    let mut best = existing_summaries(store, &ids).await?;
    best.truncate(limit);
    Ok(best)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::test_support::attribute_names;

    #[test]
    fn a_tally_write_is_conditional_on_the_revision_it_read() {
        let id = Uuid::now_v7();
        let before = TallyRecord {
            sum: 8,
            count: 1,
            deleted: false,
            revision: 4,
        };
        let after = ScoreTally { sum: 15, count: 2 };
        let Write::Put { item, condition } = write_tally(&id, Some(&before), after, false).unwrap()
        else {
            panic!("a tally is put whole");
        };
        assert_eq!(condition, Condition::AttrEquals(REVISION.into(), json!(4)));
        assert_eq!(item.attrs.get(REVISION), Some(&json!(5)));
        assert_eq!(
            attribute_names(&item.attrs),
            ["count", "deleted", "revision", "sum"]
        );
        let Write::Put { condition, .. } = write_tally(&id, None, after, false).unwrap() else {
            panic!("a tally is put whole");
        };
        assert_eq!(condition, Condition::NotExists);
    }

    #[test]
    fn the_scores_part_of_a_summary_keeps_its_attribute_names() {
        let attrs = store::attrs_of(
            &SummaryScores {
                score_sum: 9,
                review_count: 1,
            },
            SummaryRecord::KIND,
        )
        .unwrap();
        assert_eq!(attribute_names(&attrs), ["review_count", "score_sum"]);
        assert_eq!(attrs["score_sum"], json!(9));
    }

    #[test]
    fn a_top_rated_entry_keeps_its_attribute_names() {
        let movie_id = Uuid::now_v7();
        let attrs = TopRatedRecord {
            movie_id,
            review_count: 3,
        }
        .to_attrs()
        .unwrap();
        assert_eq!(attribute_names(&attrs), ["movie_id", "review_count"]);
        assert_eq!(attrs["movie_id"], json!(movie_id));
    }
}
