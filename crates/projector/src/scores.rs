//! Movie scores and the top-rated list. A movie's tally (integer sum and count of its
//! review scores) moves by the deltas review events carry — a replaced review carries its
//! old score — and is never recomputed from the reviews. The tally sits in an item owned
//! by this projection; each change is conditional on the tally it read, so concurrent
//! events for one movie serialise, and its top-rated entry moves in the same transaction.

use async_trait::async_trait;
use domain::events::{Envelope, Event, EventType};
use domain::score::ScoreTally;
use platform::consumer::Projection;
use serde_json::{Map, json};
use store::{Condition, Item, Key, Query, Store, StoreError, Write};
use uuid::Uuid;

use crate::catalog::{MovieSummary, summaries, summary_key};
use crate::sharded;

const NAME: &str = "scores";
const TOP_RATED: &str = "toprated";

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

struct TallyState {
    tally: ScoreTally,
    deleted: bool,
    revision: Option<i64>,
}

async fn read_tally(store: &dyn Store, movie_id: &Uuid) -> Result<TallyState, StoreError> {
    Ok(match store.get(&tally_key(movie_id)).await? {
        None => TallyState {
            tally: ScoreTally::default(),
            deleted: false,
            revision: None,
        },
        Some(item) => TallyState {
            tally: ScoreTally {
                sum: item.int("sum"),
                count: item.int("count"),
            },
            deleted: item
                .get("deleted")
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
            revision: Some(item.int("revision")),
        },
    })
}

fn write_tally(movie_id: &Uuid, before: &TallyState, tally: ScoreTally, deleted: bool) -> Write {
    let mut attrs = Map::new();
    attrs.insert("sum".into(), json!(tally.sum));
    attrs.insert("count".into(), json!(tally.count));
    attrs.insert("deleted".into(), json!(deleted));
    attrs.insert("revision".into(), json!(before.revision.unwrap_or(0) + 1));
    let condition = match before.revision {
        None => Condition::NotExists,
        Some(revision) => Condition::AttrEquals("revision".into(), json!(revision)),
    };
    Write::Put {
        item: Item::new(tally_key(movie_id), attrs),
        condition,
    }
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

    async fn plan(&self, store: &dyn Store, envelope: &Envelope) -> Result<Vec<Write>, StoreError> {
        let (movie_id, delta_sum, delta_count) = match &envelope.event {
            Event::ReviewUpserted(review) => (
                review.movie_id,
                review.score - review.previous_score.unwrap_or(0),
                i64::from(review.previous_score.is_none()),
            ),
            Event::ReviewDeleted(review) => (review.movie_id, -review.score, -1),
            Event::MovieDeleted(movie) => {
                let before = read_tally(store, &movie.movie_id).await?;
                if before.deleted {
                    return Ok(Vec::new());
                }
                let mut writes = vec![write_tally(&movie.movie_id, &before, before.tally, true)];
                if before.tally.count > 0 {
                    writes.push(Write::delete(top_rated_key(&movie.movie_id, before.tally)));
                }
                writes.push(Write::delete(summary_key(&movie.movie_id)));
                return Ok(writes);
            }
            _ => return Ok(Vec::new()),
        };
        let before = read_tally(store, &movie_id).await?;
        if before.deleted {
            // Reviews of a deleted movie no longer count anywhere.
            return Ok(Vec::new());
        }
        let after = ScoreTally {
            sum: before.tally.sum + delta_sum,
            count: before.tally.count + delta_count,
        };
        let mut writes = vec![write_tally(&movie_id, &before, after, false)];
        let mut set = Map::new();
        set.insert("score_sum".into(), json!(after.sum));
        set.insert("review_count".into(), json!(after.count));
        writes.push(Write::Update {
            key: summary_key(&movie_id),
            set,
            add: Vec::new(),
            condition: Condition::Always,
        });
        // A replacement with the same score leaves the entry's key as it was: the put below
        // rewrites it, and deleting it too would write one key twice in the transaction.
        if before.tally.count > 0 && after != before.tally {
            writes.push(Write::delete(top_rated_key(&movie_id, before.tally)));
        }
        if after.count > 0 {
            let mut attrs = Map::new();
            attrs.insert("movie_id".into(), json!(movie_id));
            attrs.insert("review_count".into(), json!(after.count));
            writes.push(Write::put(Item::new(
                top_rated_key(&movie_id, after),
                attrs,
            )));
        }
        Ok(writes)
    }
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
            kept.extend(
                page.items
                    .into_iter()
                    .filter(|i| i.int("review_count") >= min_reviews),
            );
            if kept.len() >= limit || !page.more || scanned >= SCAN_BUDGET {
                break;
            }
        }
        kept.truncate(limit);
        Ok::<_, StoreError>(kept)
    });
    let mut entries: Vec<Item> = futures::future::try_join_all(reads)
        .await?
        .into_iter()
        .flatten()
        .collect();
    entries.sort_by(|a, b| a.key.sk.cmp(&b.key.sk));
    let ids: Vec<Uuid> = entries
        .iter()
        .filter_map(|i| i.str("movie_id")?.parse().ok())
        .collect();
    let mut best: Vec<MovieSummary> = summaries(store, &ids)
        .await?
        .into_iter()
        .flatten()
        .collect();
    best.truncate(limit);
    Ok(best)
}
