//! The most-reviewed list: every scored movie's entry by review count *bucket* descending
//! (then id), in shards. With the top-rated list it is the second sorted access of the
//! weighted ranking (`weighted`), which reads it from either end.
//!
//! The smallest bucket, 1, holds the counts `1 ..= 3`, and every bucket `k` above it the
//! counts `2^k ..= 2^(k+1) − 1` (there is no bucket 0). An entry keyed by the exact count
//! would move (a delete and a put) with every review; keyed by its bucket it moves only when
//! the count reaches a power of two from 4 on — `⌊log2 v⌋ − 1` times over a movie's `v ≥ 2`
//! reviews. Most movies have few reviews, so the first bucket is three counts wide rather
//! than one: a movie's first three reviews never move its entry, at the price of a looser
//! bound on an unread count of 1 to 3 in the weighted ranking. For the same reason an entry
//! carries no tally: the ranking reads the tally of a movie it meets only here from the
//! movie's summary.

use serde::{Deserialize, Serialize};
use store::{Key, Record, StoreError, Write};
use uuid::Uuid;

use crate::sharded;

pub(super) const MOST_REVIEWED: &str = "mostreviewed";

/// The largest bucket: `i64::MAX` reviews lie in it.
const LARGEST_BUCKET: u32 = 62;

/// The smallest bucket: it holds the counts `1 ..= 3`, the first three reviews of a movie.
const SMALLEST_BUCKET: u32 = 1;

/// A movie's entry in the most-reviewed list: `mostreviewed#{s}` / the key of
/// [`entry_key`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct MostReviewedRecord {
    pub movie_id: Uuid,
}

impl Record for MostReviewedRecord {
    const KIND: &'static str = "most-reviewed entry";
}

/// The review counts that share a place in the list: bucket 1 holds `1 ..= 3`, and bucket
/// `k > 1` holds `2^k ..= 2^(k+1) − 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct CountBucket(u32);

impl CountBucket {
    /// The bucket of a review count; `None` for a movie without reviews, which is not listed.
    pub fn of(count: i64) -> Option<Self> {
        (count >= 1).then(|| CountBucket(count.ilog2().max(SMALLEST_BUCKET)))
    }

    /// The fewest reviews a movie of this bucket has.
    pub fn smallest_count(self) -> i64 {
        if self.0 == SMALLEST_BUCKET {
            1
        } else {
            1 << self.0
        }
    }

    /// The most reviews a movie of this bucket has.
    pub fn largest_count(self) -> i64 {
        i64::MAX >> (LARGEST_BUCKET - self.0)
    }

    /// The bucket's place in the list, descending: the first part of its entries' sort keys.
    fn descending(self) -> u32 {
        LARGEST_BUCKET - self.0
    }

    /// The bucket of an entry, from its sort key; `None` for a key of another shape (damage,
    /// which `moviebook verify --repair` puts right).
    pub fn of_sort_key(sk: &str) -> Option<Self> {
        let (place, _) = sk.split_once('#')?;
        if place.len() != 2 || !place.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let bucket = LARGEST_BUCKET.checked_sub(place.parse().ok()?)?;
        (bucket >= SMALLEST_BUCKET).then_some(CountBucket(bucket))
    }

    /// A sort key after every entry of this bucket and before every entry of a smaller one (if
    /// any):
    /// where a read of the list from its bottom starts to take this bucket in first.
    pub fn bottom_of(self) -> String {
        format!("{:02}", self.descending() + 1)
    }
}

/// The most-reviewed key: review count bucket descending, then id.
pub(super) fn entry_key(movie_id: &Uuid, bucket: CountBucket) -> Key {
    Key::new(
        sharded::partition(MOST_REVIEWED, movie_id),
        format!("{:02}#{movie_id}", bucket.descending()),
    )
}

/// The writes that move a movie's entry from the bucket of the count stored (`None`: not
/// listed) to that of its new count (`None`: no reviews, or deleted): none while the bucket
/// stays.
pub(super) fn moves(
    movie_id: &Uuid,
    before: Option<CountBucket>,
    after: Option<CountBucket>,
) -> Result<Vec<Write>, StoreError> {
    let mut writes = Vec::new();
    if before == after {
        return Ok(writes);
    }
    if let Some(before) = before {
        writes.push(Write::delete(entry_key(movie_id, before)));
    }
    if let Some(after) = after {
        let entry = MostReviewedRecord {
            movie_id: *movie_id,
        };
        writes.push(Write::put(entry.to_item(entry_key(movie_id, after))?));
    }
    Ok(writes)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::test_support::attribute_names;

    #[test]
    fn a_most_reviewed_entry_keeps_its_attribute_names() {
        let movie_id = Uuid::now_v7();
        let attrs = MostReviewedRecord { movie_id }.to_attrs().unwrap();
        assert_eq!(attribute_names(&attrs), ["movie_id"]);
        assert_eq!(attrs["movie_id"], json!(movie_id));
    }

    #[test]
    fn buckets_hold_the_counts_between_two_powers_of_two_and_the_first_one_to_three() {
        assert_eq!(CountBucket::of(0), None);
        assert_eq!(CountBucket::of(-3), None);
        for (count, bucket) in [(1, 1), (2, 1), (3, 1), (4, 2), (7, 2), (8, 3), (1023, 9)] {
            assert_eq!(CountBucket::of(count), Some(CountBucket(bucket)), "{count}");
        }
        assert_eq!(CountBucket(SMALLEST_BUCKET).smallest_count(), 1);
        assert_eq!(CountBucket(SMALLEST_BUCKET).largest_count(), 3);
        for k in SMALLEST_BUCKET..=LARGEST_BUCKET {
            let bucket = CountBucket(k);
            assert_eq!(CountBucket::of(bucket.smallest_count()), Some(bucket));
            assert_eq!(CountBucket::of(bucket.largest_count()), Some(bucket));
            if k < LARGEST_BUCKET {
                let next = CountBucket::of(bucket.largest_count() + 1);
                assert_eq!(next, Some(CountBucket(k + 1)));
            }
        }
        assert_eq!(CountBucket::of(i64::MAX), Some(CountBucket(LARGEST_BUCKET)));
    }

    #[test]
    fn entries_sort_by_bucket_descending_and_their_keys_give_it_back() {
        let id = Uuid::now_v7();
        let key = |count| entry_key(&id, CountBucket::of(count).unwrap()).sk;
        assert!(key(8) < key(7), "more reviews first");
        assert_eq!(key(4), key(7), "one bucket, one key");
        assert_eq!(key(1), key(3), "the first three reviews share one");
        assert!(key(4) < key(3));
        for count in [1, 2, 3, 4, 5, 1000, i64::MAX] {
            assert_eq!(
                CountBucket::of_sort_key(&key(count)),
                CountBucket::of(count)
            );
        }
        let old = format!("{:020}#{:020}#{id}", i64::MAX - 3, 5);
        assert_eq!(CountBucket::of_sort_key(&old), None, "keyed by the count");
        assert_eq!(CountBucket::of_sort_key(&format!("63#{id}")), None);
        assert_eq!(
            CountBucket::of_sort_key(&format!("62#{id}")),
            None,
            "no bucket 0"
        );
    }

    #[test]
    fn the_bottom_of_a_bucket_lies_between_it_and_the_smaller_ones() {
        let id = Uuid::now_v7();
        for k in SMALLEST_BUCKET..LARGEST_BUCKET {
            let bottom = CountBucket(k).bottom_of();
            assert!(entry_key(&id, CountBucket(k)).sk < bottom);
            if k > SMALLEST_BUCKET {
                assert!(bottom < entry_key(&Uuid::nil(), CountBucket(k - 1)).sk);
            }
        }
    }

    #[test]
    fn an_entry_moves_only_when_its_bucket_changes() {
        let id = Uuid::now_v7();
        let bucket = CountBucket::of;
        assert!(moves(&id, bucket(5), bucket(6)).unwrap().is_empty());
        assert!(moves(&id, bucket(1), bucket(2)).unwrap().is_empty());
        assert!(moves(&id, bucket(2), bucket(3)).unwrap().is_empty());
        assert_eq!(moves(&id, None, bucket(1)).unwrap().len(), 1, "put");
        assert_eq!(moves(&id, bucket(3), bucket(4)).unwrap().len(), 2, "moved");
        assert_eq!(
            moves(&id, bucket(7), bucket(8)).unwrap(),
            [
                Write::delete(entry_key(&id, CountBucket(2))),
                Write::put(
                    MostReviewedRecord { movie_id: id }
                        .to_item(entry_key(&id, CountBucket(3)))
                        .unwrap()
                ),
            ]
        );
        assert_eq!(
            moves(&id, bucket(8), None).unwrap(),
            [Write::delete(entry_key(&id, CountBucket(3)))]
        );
    }
}
