//! The top-rated list: every scored movie's entry, sorted by its exact mean score, in
//! shards that the read merges.

use domain::score::ScoreTally;
use serde::{Deserialize, Serialize};
use store::{Key, Query, Record, Store, StoreError};
use uuid::Uuid;

use crate::catalog::{MovieSummary, existing_summaries};
use crate::{decode_or_skip, sharded};

pub(super) const TOP_RATED: &str = "toprated";

/// A movie's entry in the top-rated list: `toprated#{s}` / the key of [`entry_key`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct TopRatedRecord {
    pub movie_id: Uuid,
    /// Copied here so `min_reviews` filters without reading the summaries.
    pub review_count: i64,
    /// Copied here so the weighted ranking rates the movie without reading its summary;
    /// absent in entries written before it was kept (`moviebook verify --repair` adds it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_sum: Option<i64>,
}

impl Record for TopRatedRecord {
    const KIND: &'static str = "top-rated entry";
}

/// The top-rated sort key: exact mean descending, then review count descending, then id.
pub(super) fn entry_key(movie_id: &Uuid, tally: ScoreTally) -> Key {
    let count_descending = i64::MAX - tally.count;
    Key::new(
        sharded::partition(TOP_RATED, movie_id),
        format!(
            "{}#{count_descending:020}#{movie_id}",
            tally.descending_mean_key()
        ),
    )
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
    fn a_top_rated_entry_keeps_its_attribute_names() {
        let movie_id = Uuid::now_v7();
        let attrs = TopRatedRecord {
            movie_id,
            review_count: 3,
            score_sum: Some(20),
        }
        .to_attrs()
        .unwrap();
        assert_eq!(
            attribute_names(&attrs),
            ["movie_id", "review_count", "score_sum"]
        );
        assert_eq!(attrs["movie_id"], json!(movie_id));
    }
}
