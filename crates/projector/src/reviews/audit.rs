//! Audits what the reviews projection keeps (`moviebook verify`), movie by movie: the
//! movie's tally in its summary (with the catalogue's facts, or a deleted movie's
//! tombstone), its top-rated and most-reviewed entries, and each of its reviews' pointer and
//! entry in the author's list. A review counts when it, its movie and its author exist.
//! Then the catalogue's tally, against the summaries (see `catalogue::audit`).
//!
//! A movie's differences are repaired by one transaction, as an event's would be: each
//! pointer put on condition of the version read, the tally set on condition of the revision
//! read to what the pointers then count, and the catalogue's tally moved by as much as the
//! summary's. So a repair and an event never both count one review: whichever comes second
//! finds its condition broken (or, for the event, a pointer not older than itself) and
//! changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use domain::score::ScoreTally;
use platform::audit::{
    Difference, Finding, Problem, Records, Stored, compare_entries, id_attr, problem,
};
use serde_json::Value;
use store::{Attrs, Condition, Item, Key, MAX_TRANSACTION_WRITES, Record, StoreError, Write};
use uuid::Uuid;

use super::catalogue;
use super::most_reviewed::{self, CountBucket, MostReviewedRecord};
use super::top_rated::{self, TopRatedRecord};
use super::user_lists::{self, UserReviewRecord};
use super::{ReviewPointer, SCORE_REVISION, SummaryScores, VERSION, pointer_key};
use crate::catalog::{POSTER, POSTER_VERSION, SummaryRecord, summary_key};

const VIEW: &str = "movie scores, top-rated and users' review lists";

/// What one scan holds of the projection, by movie.
#[derive(Default)]
struct Kept<'a> {
    /// By movie, then author.
    pointers: BTreeMap<Uuid, BTreeMap<Uuid, &'a Attrs>>,
    /// By movie, then author: the author's list entries of the movie.
    listed: BTreeMap<Uuid, BTreeMap<Uuid, BTreeMap<&'a Key, &'a Attrs>>>,
    top_rated: BTreeMap<Uuid, BTreeMap<&'a Key, &'a Attrs>>,
    most_reviewed: BTreeMap<Uuid, BTreeMap<&'a Key, &'a Attrs>>,
}

/// Every difference of the projection's items from the records.
pub(crate) fn check(records: &Records, stored: &Stored) -> Result<Vec<Finding>, StoreError> {
    let most_reviewed_prefix = format!("{}#", most_reviewed::MOST_REVIEWED);
    let mut kept = Kept::default();
    for (key, attrs) in stored.under("userreview#") {
        let mut ids = key.pk.trim_start_matches("userreview#").split('#');
        let (Some(Ok(user)), Some(Ok(movie))) = (
            ids.next().map(Uuid::parse_str),
            ids.next().map(Uuid::parse_str),
        ) else {
            continue;
        };
        kept.pointers.entry(movie).or_default().insert(user, attrs);
    }
    for (key, attrs) in stored.under("userreviews#") {
        let user = key.pk.trim_start_matches("userreviews#").parse::<Uuid>();
        if let (Ok(user), Some(movie)) = (user, id_attr(attrs, "movie_id")) {
            let entries = kept.listed.entry(movie).or_default().entry(user);
            entries.or_default().insert(key, attrs);
        }
    }
    for (key, attrs) in stored.under("toprated#") {
        if let Some(movie) = id_attr(attrs, "movie_id") {
            kept.top_rated.entry(movie).or_default().insert(key, attrs);
        }
    }
    for (key, attrs) in stored.under(&most_reviewed_prefix) {
        if let Some(movie) = id_attr(attrs, "movie_id") {
            kept.most_reviewed
                .entry(movie)
                .or_default()
                .insert(key, attrs);
        }
    }
    let mut movies: BTreeSet<Uuid> = records.movies.keys().copied().collect();
    movies.extend(records.reviews.keys().map(|(movie, _)| *movie));
    movies.extend(kept.pointers.keys().chain(kept.listed.keys()).copied());
    movies.extend(kept.top_rated.keys().copied());
    movies.extend(kept.most_reviewed.keys().copied());
    movies.extend(
        stored
            .under("summary#")
            .filter_map(|(key, _)| key.pk.strip_prefix("summary#")?.parse::<Uuid>().ok()),
    );
    let mut findings = Vec::new();
    for movie_id in movies {
        findings.extend(audit_movie(records, stored, &kept, &movie_id)?);
    }
    findings.extend(catalogue::audit(stored)?);
    Ok(findings)
}

/// One review's differences, the writes that repair them, and the score its pointer counts
/// once they are applied.
struct ReviewCheck {
    differences: Vec<Difference>,
    writes: Vec<Write>,
    counted: Option<i64>,
    /// The score the stored pointer counts now.
    counted_before: Option<i64>,
}

fn audit_movie(
    records: &Records,
    stored: &Stored,
    kept: &Kept,
    movie_id: &Uuid,
) -> Result<Option<Finding>, StoreError> {
    let movie = records.movies.get(movie_id);
    let none_pointers = BTreeMap::new();
    let pointers = kept.pointers.get(movie_id).unwrap_or(&none_pointers);
    let none_listed = BTreeMap::new();
    let listed = kept.listed.get(movie_id).unwrap_or(&none_listed);
    let mut authors: BTreeSet<Uuid> = records
        .reviews
        .range((*movie_id, Uuid::nil())..=(*movie_id, Uuid::max()))
        .map(|((_, user), _)| *user)
        .collect();
    authors.extend(pointers.keys().chain(listed.keys()).copied());

    let mut differences = Vec::new();
    let mut writes = Vec::new();
    // The tally the pointers count once the repair is applied. A movie with more damaged
    // reviews than one transaction holds is repaired over several rounds, each leaving the
    // tally equal to what its pointers count.
    let mut tally = ScoreTally::default();
    // Room for the summary, its two entries moved in each of two lists, and the
    // catalogue's tally.
    let room = MAX_TRANSACTION_WRITES - 6;
    for user_id in authors {
        let review = audit_review(records, movie_id, &user_id, pointers, listed)?;
        let fits = writes.len() + review.writes.len() <= room;
        let counted = if fits {
            review.counted
        } else {
            review.counted_before
        };
        if let Some(score) = counted {
            tally.sum += score;
            tally.count += 1;
        }
        differences.extend(review.differences);
        if fits {
            writes.extend(review.writes);
        }
    }

    let key = summary_key(movie_id);
    let counted_before = stored
        .get(&key)
        .map(catalogue::counted_by_summary)
        .unwrap_or_default();
    let actual = stored.get(&key).map(|attrs| {
        let mut attrs = attrs.clone();
        for counter in ["score_sum", "review_count"] {
            attrs.entry(counter).or_insert(Value::from(0));
        }
        if attrs.get("deleted") == Some(&Value::Bool(false)) {
            attrs.remove("deleted");
        }
        attrs
    });
    let revision = actual
        .as_ref()
        .and_then(|attrs| attrs.get(SCORE_REVISION))
        .and_then(Value::as_i64);
    let read = SummaryScores {
        score_revision: revision,
        ..SummaryScores::default()
    };
    let next_revision = Some(revision.unwrap_or(0) + 1);
    let summary_write = match movie {
        Some(movie) => {
            let scores = SummaryScores {
                score_sum: tally.sum,
                review_count: tally.count,
                score_revision: None,
                deleted: false,
            };
            let mut expected = crate::catalog::summary_facts(movie)?;
            expected.extend(store::attrs_of(&scores, SummaryRecord::KIND)?);
            // The poster's part is audited with the catalogue (`catalog::audit_posters`).
            let ignored = [SCORE_REVISION, POSTER, POSTER_VERSION];
            match problem(actual.as_ref(), Some(&expected), &ignored) {
                None => None,
                Some(problem) => {
                    differences.push(Difference {
                        key: key.clone(),
                        problem,
                    });
                    let mut set = expected;
                    set.insert(SCORE_REVISION.into(), Value::from(next_revision));
                    if actual.as_ref().is_some_and(|a| a.contains_key("deleted")) {
                        set.insert("deleted".into(), Value::Bool(false));
                    }
                    Some(Write::Update {
                        key: key.clone(),
                        set,
                        add: Vec::new(),
                        condition: read.unchanged()?,
                    })
                }
            }
        }
        None => {
            // A deleted movie's summary is a tombstone that counts nothing; whatever else
            // it holds (facts set after the deletion) no list shows.
            let tombstone = SummaryScores {
                score_revision: next_revision,
                deleted: true,
                ..SummaryScores::default()
            };
            let mut expected = store::attrs_of(&tombstone, SummaryRecord::KIND)?;
            expected.remove(SCORE_REVISION);
            let found = actual.as_ref().map(|actual| {
                let mut found = actual.clone();
                found.retain(|name, _| expected.contains_key(name));
                found
            });
            match found.and_then(|found| problem(Some(&found), Some(&expected), &[])) {
                None => None,
                Some(problem) => {
                    differences.push(Difference {
                        key: key.clone(),
                        problem,
                    });
                    Some(Write::Put {
                        item: tombstone.to_item(key.clone())?,
                        condition: read.unchanged()?,
                    })
                }
            }
        }
    };

    // The catalogue's tally moves with the summary, by as much (see `catalogue::audit`).
    let counted_after = match movie {
        Some(_) => tally,
        None => ScoreTally::default(),
    };
    let catalogue_move = match summary_write {
        Some(_) => catalogue::changes(&BTreeMap::from([(
            catalogue::shard_of(movie_id),
            catalogue::difference(counted_before, counted_after),
        )])),
        None => Vec::new(),
    };

    let mut expected_entry = BTreeMap::new();
    if movie.is_some() && tally.count > 0 {
        let entry = TopRatedRecord {
            movie_id: *movie_id,
            review_count: tally.count,
            score_sum: Some(tally.sum),
        };
        expected_entry.insert(top_rated::entry_key(movie_id, tally), entry.to_attrs()?);
    }
    // Listed in the bucket of its count; an entry elsewhere (another bucket, or a key of
    // another shape) is deleted and this one put.
    if let Some(bucket) = CountBucket::of(tally.count).filter(|_| movie.is_some()) {
        let entry = MostReviewedRecord {
            movie_id: *movie_id,
        };
        expected_entry.insert(
            most_reviewed::entry_key(movie_id, bucket),
            entry.to_attrs()?,
        );
    }
    let none_entries = BTreeMap::new();
    let top_rated = kept.top_rated.get(movie_id).unwrap_or(&none_entries);
    let most_reviewed = kept.most_reviewed.get(movie_id).unwrap_or(&none_entries);
    let entries = compare_entries(
        VIEW,
        &expected_entry,
        top_rated.iter().chain(most_reviewed).map(|(k, a)| (*k, *a)),
    );
    let entry_differences: Vec<Difference> = entries
        .into_iter()
        .flat_map(|finding| finding.differences)
        .collect();
    if differences.is_empty() && entry_differences.is_empty() {
        return Ok(None);
    }
    // The top-rated entry sits at the tally's key, so it moves only with the tally as read.
    let guard = match summary_write {
        Some(write) => write,
        None => Write::Check {
            key,
            condition: read.unchanged()?,
        },
    };
    let mut repair = vec![guard];
    repair.extend(catalogue_move);
    repair.extend(entry_writes(&entry_differences, &expected_entry));
    repair.extend(writes);
    differences.extend(entry_differences);
    Ok(Some(Finding {
        view: VIEW,
        differences,
        repair,
    }))
}

/// One review's pointer and list entries against its record.
fn audit_review(
    records: &Records,
    movie_id: &Uuid,
    user_id: &Uuid,
    pointers: &BTreeMap<Uuid, &Attrs>,
    listed: &BTreeMap<Uuid, BTreeMap<&Key, &Attrs>>,
) -> Result<ReviewCheck, StoreError> {
    let counted = records
        .reviews
        .get(&(*movie_id, *user_id))
        .filter(|_| records.users.contains_key(user_id))
        .zip(records.movies.get(movie_id));
    let actual_pointer = pointers.get(user_id).copied();
    let counted_before = actual_pointer
        .and_then(|attrs| attrs.get("score"))
        .and_then(Value::as_i64);
    let mut expected_entries = BTreeMap::new();
    let (expected_pointer, ignored, score): (Option<Attrs>, &[&str], _) = match counted {
        Some((review, movie)) => {
            let entry = UserReviewRecord {
                movie_id: *movie_id,
                movie_title: movie.title.clone(),
                score: review.score,
                comment: review.comment.clone(),
                created_at: review.created_at,
                updated_at: review.updated_at,
            };
            let sort_key = entry.sort_key();
            let entry_key = user_lists::entry_key(user_id, &sort_key);
            expected_entries.insert(entry_key, entry.to_attrs()?);
            let pointer = ReviewPointer {
                version: review.revision,
                entry: Some(sort_key),
                score: Some(review.score),
            };
            (Some(pointer.to_attrs()?), &[], Some(review.score))
        }
        // A review that is gone counts nowhere; its pointer stays, with its version, so that
        // late events about it change nothing.
        None => {
            let bare = actual_pointer.map(|attrs| {
                let mut bare = Attrs::new();
                if let Some(version) = attrs.get(VERSION) {
                    bare.insert(VERSION.into(), version.clone());
                }
                bare
            });
            (bare, &[VERSION], None)
        }
    };
    let none = BTreeMap::new();
    let actual_entries = listed.get(user_id).unwrap_or(&none);
    let entries = compare_entries(
        VIEW,
        &expected_entries,
        actual_entries.iter().map(|(k, a)| (*k, *a)),
    );
    let entry_differences: Vec<Difference> = entries
        .into_iter()
        .flat_map(|finding| finding.differences)
        .collect();
    let pointer_problem = problem(actual_pointer, expected_pointer.as_ref(), ignored);
    if pointer_problem.is_none() && entry_differences.is_empty() {
        return Ok(ReviewCheck {
            differences: Vec::new(),
            writes: Vec::new(),
            counted: counted_before,
            counted_before,
        });
    }
    let key = pointer_key(user_id, movie_id);
    let condition = match actual_pointer.and_then(|attrs| attrs.get(VERSION)) {
        None => Condition::NotExists,
        Some(version) => Condition::AttrEquals(VERSION.into(), version.clone()),
    };
    let pointer_write = match (&pointer_problem, expected_pointer) {
        (Some(_), Some(expected)) => Write::Put {
            item: Item::new(key.clone(), expected),
            condition,
        },
        _ => Write::Check {
            key: key.clone(),
            condition,
        },
    };
    let mut writes = vec![pointer_write];
    writes.extend(entry_writes(&entry_differences, &expected_entries));
    let mut differences: Vec<Difference> = pointer_problem
        .map(|problem| Difference { key, problem })
        .into_iter()
        .collect();
    differences.extend(entry_differences);
    Ok(ReviewCheck {
        differences,
        writes,
        counted: score,
        counted_before,
    })
}

/// The writes that make entries what `expected` says, one per difference.
fn entry_writes(differences: &[Difference], expected: &BTreeMap<Key, Attrs>) -> Vec<Write> {
    differences
        .iter()
        .map(
            |difference| match (&difference.problem, expected.get(&difference.key)) {
                (Problem::Missing { .. } | Problem::Differs { .. }, Some(attrs)) => {
                    Write::put(Item::new(difference.key.clone(), attrs.clone()))
                }
                _ => Write::delete(difference.key.clone()),
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use domain::events::MovieSnapshot;
    use platform::audit::{ReviewFacts, UserFacts};

    use super::*;

    /// A movie with `reviews` reviews scored 5 whose pointers (and the tally, which agrees
    /// with them) count `counted` each.
    fn movie_counting(reviews: usize, counted: i64) -> (Records, Stored, Uuid) {
        let movie_id = Uuid::now_v7();
        let mut records = Records::default();
        records.movies.insert(
            movie_id,
            MovieSnapshot {
                movie_id,
                title: "Crowded".into(),
                release_year: 2000,
                genres: vec!["drama".into()],
                thumbnail_url: None,
                created_at: 1,
                cast: Vec::new(),
                poster: None,
            },
        );
        let mut items = Vec::new();
        for i in 0..reviews {
            let user_id = Uuid::now_v7();
            let name = format!("User {i}");
            let facts = UserFacts {
                name,
                email: format!("u{i}@example.com"),
            };
            records.users.insert(user_id, facts);
            let review = ReviewFacts {
                movie_id,
                user_id,
                score: 5,
                comment: None,
                created_at: 10,
                updated_at: 10,
                revision: Uuid::now_v7(),
            };
            let entry = UserReviewRecord {
                movie_id,
                movie_title: "Crowded".into(),
                score: 5,
                comment: None,
                created_at: 10,
                updated_at: 10,
            };
            let pointer = ReviewPointer {
                version: review.revision,
                entry: Some(entry.sort_key()),
                score: Some(counted),
            };
            let key = user_lists::entry_key(&user_id, &entry.sort_key());
            items.push(entry.to_item(key).unwrap());
            items.push(pointer.to_item(pointer_key(&user_id, &movie_id)).unwrap());
            records.reviews.insert((movie_id, user_id), review);
        }
        let count = reviews as i64;
        let tally = ScoreTally {
            sum: count * counted,
            count,
        };
        let mut summary = crate::catalog::summary_facts(&records.movies[&movie_id]).unwrap();
        let scores = SummaryScores {
            score_sum: tally.sum,
            review_count: count,
            score_revision: Some(3),
            deleted: false,
        };
        summary.extend(store::attrs_of(&scores, SummaryRecord::KIND).unwrap());
        items.push(Item::new(summary_key(&movie_id), summary));
        let entry = TopRatedRecord {
            movie_id,
            review_count: count,
            score_sum: Some(tally.sum),
        };
        items.push(
            entry
                .to_item(top_rated::entry_key(&movie_id, tally))
                .unwrap(),
        );
        let entry = MostReviewedRecord { movie_id };
        let bucket = CountBucket::of(count).unwrap();
        items.push(
            entry
                .to_item(most_reviewed::entry_key(&movie_id, bucket))
                .unwrap(),
        );
        let shard_tally = catalogue::CatalogueTallyRecord {
            score_sum: tally.sum,
            review_count: count,
        };
        items.push(
            shard_tally
                .to_item(catalogue::shard_key(catalogue::shard_of(&movie_id)))
                .unwrap(),
        );
        (records, Stored::new(items), movie_id)
    }

    #[test]
    fn a_repair_too_large_for_one_transaction_leaves_the_tally_equal_to_its_pointers() {
        let (records, stored, movie_id) = movie_counting(150, 1);
        let findings = check(&records, &stored).unwrap();
        assert_eq!(findings.len(), 1);
        let finding = &findings[0];
        assert!(finding.repair.len() <= MAX_TRANSACTION_WRITES);
        // Every damaged pointer is reported, though not all are repaired in this round.
        let pointers = finding
            .differences
            .iter()
            .filter(|d| d.key.pk.starts_with("userreview#"))
            .count();
        assert_eq!(pointers, 150);
        let repaired = finding
            .repair
            .iter()
            .filter(
                |w| matches!(w, Write::Put { item, .. } if item.key.pk.starts_with("userreview#")),
            )
            .count();
        assert!(repaired > 0 && repaired < 150, "{repaired}");
        let Write::Update {
            key,
            set,
            condition,
            ..
        } = &finding.repair[0]
        else {
            panic!("the summary is set first: {:?}", finding.repair[0]);
        };
        assert_eq!(key, &summary_key(&movie_id));
        assert_eq!(
            *condition,
            Condition::AttrEquals(SCORE_REVISION.into(), 3.into())
        );
        // The repaired pointers count 5, the others still 1.
        let sum = 5 * repaired as i64 + (150 - repaired as i64);
        assert_eq!(set["score_sum"], Value::from(sum));
        assert_eq!(set["review_count"], Value::from(150));
    }

    #[test]
    fn a_movie_whose_read_models_agree_has_no_finding() {
        let (records, stored, _) = movie_counting(3, 5);
        assert_eq!(check(&records, &stored).unwrap(), Vec::new());
    }

    #[test]
    fn a_most_reviewed_entry_keyed_by_its_count_is_moved_to_its_bucket() {
        let (records, stored, movie_id) = movie_counting(3, 5);
        let bucketed = most_reviewed::entry_key(&movie_id, CountBucket::of(3).unwrap());
        // An entry at a key of another shape: keyed by the exact count, with the tally.
        let old_key = Key::new(
            bucketed.pk.clone(),
            format!(
                "{:020}#{:020}#{movie_id}",
                i64::MAX - 3,
                6_000_000_000_000_000i64
            ),
        );
        let old_entry: Attrs = serde_json::from_value(serde_json::json!({
            "movie_id": movie_id,
            "review_count": 3,
            "score_sum": 15,
        }))
        .unwrap();
        let mut items: Vec<Item> = stored
            .under("")
            .filter(|(key, _)| **key != bucketed)
            .map(|(key, attrs)| Item::new(key.clone(), attrs.clone()))
            .collect();
        items.push(Item::new(old_key.clone(), old_entry));
        let findings = check(&records, &Stored::new(items)).unwrap();
        assert_eq!(findings.len(), 1);
        let keys: BTreeSet<&Key> = findings[0].differences.iter().map(|d| &d.key).collect();
        assert_eq!(keys, BTreeSet::from([&bucketed, &old_key]));
        let repair = &findings[0].repair;
        assert!(repair.contains(&Write::delete(old_key)));
        let put = MostReviewedRecord { movie_id }.to_item(bucketed).unwrap();
        assert!(repair.contains(&Write::put(put)));
    }

    #[test]
    fn a_most_reviewed_entry_of_one_review_in_a_bucket_of_its_own_joins_the_first_bucket() {
        // Bucket 0 (one review, sort key 62#…) no longer exists: 1 to 3 reviews share bucket 1.
        let (records, stored, movie_id) = movie_counting(1, 5);
        let bucketed = most_reviewed::entry_key(&movie_id, CountBucket::of(1).unwrap());
        assert!(bucketed.sk.starts_with("61#"), "{bucketed:?}");
        let old_key = Key::new(bucketed.pk.clone(), format!("62#{movie_id}"));
        let entry = MostReviewedRecord { movie_id };
        let mut items: Vec<Item> = stored
            .under("")
            .filter(|(key, _)| **key != bucketed)
            .map(|(key, attrs)| Item::new(key.clone(), attrs.clone()))
            .collect();
        items.push(entry.to_item(old_key.clone()).unwrap());
        let findings = check(&records, &Stored::new(items)).unwrap();
        assert_eq!(findings.len(), 1);
        let repair = &findings[0].repair;
        assert!(repair.contains(&Write::delete(old_key)));
        assert!(repair.contains(&Write::put(entry.to_item(bucketed).unwrap())));
    }
}
