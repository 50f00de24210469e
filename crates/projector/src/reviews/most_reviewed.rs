//! The most-reviewed list: every scored movie's entry by review count descending (then
//! exact mean descending, then id), in shards. With the top-rated list it is the second
//! sorted access of the weighted ranking (`weighted`), which reads it from either end.

use domain::score::ScoreTally;
use serde::{Deserialize, Serialize};
use store::{Key, Record};
use uuid::Uuid;

use crate::sharded;

pub(super) const MOST_REVIEWED: &str = "mostreviewed";

/// A movie's entry in the most-reviewed list: `mostreviewed#{s}` / the key of
/// [`entry_key`]. It carries the tally, so the ranking needs no summary to rate a movie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct MostReviewedRecord {
    pub movie_id: Uuid,
    pub review_count: i64,
    pub score_sum: i64,
}

impl Record for MostReviewedRecord {
    const KIND: &'static str = "most-reviewed entry";
}

/// The first part of a most-reviewed sort key: the review count, descending.
pub(super) fn count_part(count: i64) -> String {
    format!("{:020}", i64::MAX - count)
}

/// The most-reviewed sort key: review count descending, then exact mean descending, then id.
pub(super) fn entry_key(movie_id: &Uuid, tally: ScoreTally) -> Key {
    Key::new(
        sharded::partition(MOST_REVIEWED, movie_id),
        format!(
            "{}#{}#{movie_id}",
            count_part(tally.count),
            tally.descending_mean_key()
        ),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::test_support::attribute_names;

    #[test]
    fn a_most_reviewed_entry_keeps_its_attribute_names() {
        let movie_id = Uuid::now_v7();
        let attrs = MostReviewedRecord {
            movie_id,
            review_count: 3,
            score_sum: 20,
        }
        .to_attrs()
        .unwrap();
        assert_eq!(
            attribute_names(&attrs),
            ["movie_id", "review_count", "score_sum"]
        );
        assert_eq!(attrs["movie_id"], json!(movie_id));
    }

    #[test]
    fn entries_sort_by_count_descending_then_mean_descending() {
        let id = Uuid::now_v7();
        let key = |sum, count| entry_key(&id, ScoreTally { sum, count }).sk;
        assert!(key(10, 3) < key(30, 2), "more reviews first");
        assert!(key(27, 3) < key(10, 3), "then the higher mean");
        assert!(
            count_part(5) < key(10, 4),
            "a count's prefix sorts before fewer reviews"
        );
    }
}
