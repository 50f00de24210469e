//! The writes of watch list changes, apart from their reads and commits: an addition, and
//! the removal of entries read before. Like `review_plan`, they are pure, so every rule is
//! tested without a store.
//!
//! A listed movie is four items kept together in every transaction: the membership (the
//! truth), the entry of the user's list by time, the entry among the movie's watchers, and
//! the movie's count, which moves by exactly one per membership put or deleted.

use std::collections::BTreeMap;

use domain::timestamp::Micros;
use store::{Condition, Record, StoreError, Write};
use uuid::Uuid;

use crate::records::{
    ADDED_AT, COUNT, MovieRecord, WatcherEntry, WatchlistCount, WatchlistMembership,
    WatchlistOrderEntry,
};

/// The index in an addition's writes of the check that the movie exists: its failure means
/// there is no such movie.
pub(crate) const MOVIE_CHECK: usize = 0;

/// The index in an addition's writes of the membership, put only when missing: its failure
/// means the movie is listed already, and the addition changes nothing (not even its place).
pub(crate) const MEMBERSHIP: usize = 1;

/// The writes that put `movie_id` on `user_id`'s list at `now`, in the order
/// [`MOVIE_CHECK`], [`MEMBERSHIP`], the entry by time, the watcher, the count +1.
pub(crate) fn plan_addition(
    user_id: Uuid,
    movie_id: Uuid,
    now: Micros,
) -> Result<Vec<Write>, StoreError> {
    let membership = WatchlistMembership {
        movie_id,
        added_at: now,
    };
    Ok(vec![
        Write::Check {
            key: MovieRecord::key(&movie_id),
            condition: Condition::Exists,
        },
        Write::Put {
            item: membership.to_item(WatchlistMembership::key(&user_id, &movie_id))?,
            condition: Condition::NotExists,
        },
        Write::put(
            WatchlistOrderEntry { movie_id }
                .to_item(WatchlistOrderEntry::key(&user_id, now, &movie_id))?,
        ),
        Write::put(WatcherEntry { user_id }.to_item(WatcherEntry::key(&movie_id, &user_id))?),
        count_change(&movie_id, 1),
    ])
}

/// A listed movie as a removal read it from its membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Listed {
    pub user_id: Uuid,
    pub movie_id: Uuid,
    pub added_at: Micros,
}

/// The writes that take every `listed` entry off its list, each membership conditional on
/// being the one read (a movie removed and added again meanwhile is a new entry, left
/// alone), and each movie's count lowered once by the number of its entries removed. Up to
/// [`MAX_REMOVALS`] entries fit in one transaction.
pub(crate) fn plan_removals(listed: &[Listed]) -> Result<Vec<Write>, StoreError> {
    let mut writes = Vec::with_capacity(listed.len() * 4);
    let mut removed_per_movie: BTreeMap<Uuid, i64> = BTreeMap::new();
    for entry in listed {
        let Listed {
            user_id,
            movie_id,
            added_at,
        } = *entry;
        writes.push(Write::Delete {
            key: WatchlistMembership::key(&user_id, &movie_id),
            condition: store::attr_equals(ADDED_AT, &added_at)?,
        });
        writes.push(Write::delete(WatchlistOrderEntry::key(
            &user_id, added_at, &movie_id,
        )));
        writes.push(Write::delete(WatcherEntry::key(&movie_id, &user_id)));
        *removed_per_movie.entry(movie_id).or_default() += 1;
    }
    writes.extend(
        removed_per_movie
            .into_iter()
            .map(|(movie_id, removed)| count_change(&movie_id, -removed)),
    );
    Ok(writes)
}

/// How many entries one removal transaction takes: four writes each at most, within a
/// transaction's 100.
pub(crate) const MAX_REMOVALS: usize = 24;

/// Adds `delta` to a movie's count, creating it at the first addition.
fn count_change(movie_id: &Uuid, delta: i64) -> Write {
    Write::Update {
        key: WatchlistCount::key(movie_id),
        set: store::Attrs::new(),
        add: vec![(COUNT.to_owned(), delta)],
        condition: Condition::Always,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use store::Key;

    use super::*;

    fn keys(writes: &[Write]) -> Vec<Key> {
        writes.iter().map(|write| write.key().clone()).collect()
    }

    #[test]
    fn an_addition_checks_the_movie_puts_the_membership_once_and_counts_one() {
        let (user, movie) = (Uuid::now_v7(), Uuid::now_v7());
        let writes = plan_addition(user, movie, 7).unwrap();
        assert_eq!(
            keys(&writes),
            vec![
                MovieRecord::key(&movie),
                WatchlistMembership::key(&user, &movie),
                WatchlistOrderEntry::key(&user, 7, &movie),
                WatcherEntry::key(&movie, &user),
                WatchlistCount::key(&movie),
            ]
        );
        assert!(matches!(
            writes[MOVIE_CHECK],
            Write::Check {
                condition: Condition::Exists,
                ..
            }
        ));
        let Write::Put { item, condition } = &writes[MEMBERSHIP] else {
            panic!("the membership is not put: {:?}", writes[MEMBERSHIP]);
        };
        assert_eq!(*condition, Condition::NotExists);
        assert_eq!(
            WatchlistMembership::from_item(item).unwrap(),
            WatchlistMembership {
                movie_id: movie,
                added_at: 7
            }
        );
        assert_eq!(writes[4], count_change(&movie, 1));
    }

    #[test]
    fn removals_delete_what_was_read_and_lower_each_count_once_by_its_entries() {
        let (ann, bo, movie, other) = (
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
        );
        let listed = [
            Listed {
                user_id: ann,
                movie_id: movie,
                added_at: 3,
            },
            Listed {
                user_id: bo,
                movie_id: movie,
                added_at: 4,
            },
            Listed {
                user_id: ann,
                movie_id: other,
                added_at: 5,
            },
        ];
        let writes = plan_removals(&listed).unwrap();
        assert_eq!(
            writes[0],
            Write::Delete {
                key: WatchlistMembership::key(&ann, &movie),
                condition: Condition::AttrEquals(ADDED_AT.into(), json!(3)),
            }
        );
        assert_eq!(
            keys(&writes[1..3]),
            vec![
                WatchlistOrderEntry::key(&ann, 3, &movie),
                WatcherEntry::key(&movie, &ann)
            ]
        );
        let counts: Vec<&Write> = writes
            .iter()
            .filter(|write| matches!(write, Write::Update { .. }))
            .collect();
        let mut expected = [count_change(&movie, -2), count_change(&other, -1)];
        expected.sort_by(|a, b| a.key().cmp(b.key()));
        assert_eq!(counts, expected.iter().collect::<Vec<_>>());
        assert_eq!(writes.len(), 3 * 3 + 2);
    }

    #[test]
    fn a_full_batch_of_removals_fits_one_transaction() {
        let listed: Vec<Listed> = (0..MAX_REMOVALS)
            .map(|i| Listed {
                user_id: Uuid::now_v7(),
                movie_id: Uuid::now_v7(),
                added_at: i as Micros,
            })
            .collect();
        let writes = plan_removals(&listed).unwrap();
        assert!(
            writes.len() <= store::MAX_TRANSACTION_WRITES,
            "{}",
            writes.len()
        );
        store::check_transaction(&writes).unwrap();
    }
}
