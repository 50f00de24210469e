//! The catalogue's tally: the sum and count of every score that counts in a movie's
//! summary, so that the weighted ranking can read the catalogue's mean `C` without reading
//! every movie.
//!
//! It moves in the same transaction as the summaries it adds up, by the same difference,
//! so it is exact for as long as they are — under redelivery and crashes too, since that
//! transaction is guarded by the summary's tally revision. Every review moves it, so it is
//! kept in [`sharded::SHARDS`] items, one per movie shard (`catalogue#{s}` / `scores`), and
//! concurrent transactions about movies of different shards do not contend for one item;
//! the read adds the shards up with one batch get. A folded batch changes each shard once,
//! by the sum of its movies' differences (a transaction names each key once).

use std::collections::BTreeMap;

use domain::score::ScoreTally;
use platform::audit::{Finding, Stored, problem};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use store::{Attrs, Condition, Key, Record, Store, StoreError, Write};
use uuid::Uuid;

use crate::{decode_or_skip, sharded};

const CATALOGUE: &str = "catalogue";
const SORT_KEY: &str = "scores";
const VIEW: &str = "catalogue tally";

/// One shard's part of the catalogue's tally: `catalogue#{s}` / `scores`. Both are counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct CatalogueTallyRecord {
    #[serde(default)]
    pub score_sum: i64,
    #[serde(default)]
    pub review_count: i64,
}

impl Record for CatalogueTallyRecord {
    const KIND: &'static str = "catalogue tally";
}

/// The counters a change adds to.
const SCORE_SUM: &str = "score_sum";
const REVIEW_COUNT: &str = "review_count";

pub(super) fn shard_key(shard: u32) -> Key {
    Key::new(format!("{CATALOGUE}#{shard}"), SORT_KEY)
}

/// The shard of the tally that `movie_id`'s scores count in.
pub(super) fn shard_of(movie_id: &Uuid) -> u32 {
    domain::ids::shard_of(movie_id, sharded::SHARDS)
}

/// The changes moving the tally by each shard's difference; none for a shard that did not
/// move.
pub(super) fn changes(differences: &BTreeMap<u32, ScoreTally>) -> Vec<Write> {
    differences
        .iter()
        .filter(|(_, difference)| **difference != ScoreTally::default())
        .map(|(shard, difference)| Write::Update {
            key: shard_key(*shard),
            set: Attrs::new(),
            add: vec![
                (SCORE_SUM.into(), difference.sum),
                (REVIEW_COUNT.into(), difference.count),
            ],
            condition: Condition::Always,
        })
        .collect()
}

/// The difference `after − before`.
pub(super) fn difference(before: ScoreTally, after: ScoreTally) -> ScoreTally {
    ScoreTally {
        sum: after.sum - before.sum,
        count: after.count - before.count,
    }
}

/// Adds `difference` to what `differences` holds for `shard`.
pub(super) fn add_to(differences: &mut BTreeMap<u32, ScoreTally>, shard: u32, by: ScoreTally) {
    let total = differences.entry(shard).or_default();
    total.sum += by.sum;
    total.count += by.count;
}

/// The catalogue's tally: every shard's, added up (one batch get).
pub async fn catalogue_tally(store: &dyn Store) -> Result<ScoreTally, StoreError> {
    let keys: Vec<Key> = (0..sharded::SHARDS).map(shard_key).collect();
    let mut tally = ScoreTally::default();
    for item in store.batch_get(&keys).await?.iter().flatten() {
        if let Some(part) = decode_or_skip::<CatalogueTallyRecord>(item) {
            tally.sum += part.score_sum;
            tally.count += part.review_count;
        }
    }
    Ok(tally)
}

/// What a stored summary counts in the catalogue's tally: its scores, nothing once it is a
/// deleted movie's tombstone.
pub(super) fn counted_by_summary(attrs: &Attrs) -> ScoreTally {
    if attrs.get("deleted") == Some(&Value::Bool(true)) {
        return ScoreTally::default();
    }
    counters(attrs)
}

/// The `score_sum` and `review_count` of stored attributes (a summary's or a tally shard's:
/// they share the names), missing ones as 0.
fn counters(attrs: &Attrs) -> ScoreTally {
    let counter = |name: &str| attrs.get(name).and_then(Value::as_i64).unwrap_or(0);
    ScoreTally {
        sum: counter(SCORE_SUM),
        count: counter(REVIEW_COUNT),
    }
}

/// Audits the tally (`moviebook verify`): each shard holds the sum of what its movies'
/// stored summaries count. It is checked against the summaries as stored, not as the
/// records say they should be: a summary's own repair moves the tally by the same
/// difference as the summary (see `audit`), and events move both alike, so the shard's
/// excess over its summaries stays what it is whatever else happens meanwhile. That excess
/// is what is reported — the shard's own values change with every review, and verify acts
/// only on findings that two reads show alike — and the repair adds it back, which commutes
/// with the events.
pub(super) fn audit(stored: &Stored) -> Result<Vec<Finding>, StoreError> {
    let mut expected: BTreeMap<u32, ScoreTally> = BTreeMap::new();
    for (key, attrs) in stored.under("summary#") {
        let Some(Ok(movie_id)) = key.pk.strip_prefix("summary#").map(Uuid::parse_str) else {
            continue;
        };
        add_to(
            &mut expected,
            shard_of(&movie_id),
            counted_by_summary(attrs),
        );
    }
    let mut findings = Vec::new();
    for shard in 0..sharded::SHARDS {
        let key = shard_key(shard);
        let wanted = expected.get(&shard).copied().unwrap_or_default();
        let found = stored.get(&key).map(counters).unwrap_or_default();
        let excess = difference(wanted, found);
        if excess == ScoreTally::default() {
            continue;
        }
        let over = |tally: ScoreTally| -> Attrs {
            Attrs::from_iter([
                (SUM_OVER_SUMMARIES.to_owned(), Value::from(tally.sum)),
                (COUNT_OVER_SUMMARIES.to_owned(), Value::from(tally.count)),
            ])
        };
        let (actual, zero) = (over(excess), over(ScoreTally::default()));
        let Some(problem) = problem(Some(&actual), Some(&zero), &[]) else {
            continue;
        };
        let repair = changes(&BTreeMap::from([(shard, difference(found, wanted))]));
        findings.push(Finding::one(VIEW, key, problem, repair));
    }
    Ok(findings)
}

/// How a tally shard's finding names its excess over the summaries.
const SUM_OVER_SUMMARIES: &str = "score_sum over the summaries'";
const COUNT_OVER_SUMMARIES: &str = "review_count over the summaries'";

#[cfg(test)]
mod tests {
    use platform::audit::Problem;
    use serde_json::json;
    use store::Item;

    use super::*;
    use crate::test_support::attribute_names;

    #[test]
    fn a_tally_shard_keeps_its_attribute_names() {
        let attrs = CatalogueTallyRecord {
            score_sum: 40,
            review_count: 5,
        }
        .to_attrs()
        .unwrap();
        assert_eq!(attribute_names(&attrs), [REVIEW_COUNT, SCORE_SUM]);
        assert_eq!(attrs[SCORE_SUM], json!(40));
    }

    #[test]
    fn changes_name_each_shard_once_and_skip_those_that_did_not_move() {
        let mut differences = BTreeMap::new();
        add_to(&mut differences, 1, ScoreTally { sum: 7, count: 1 });
        add_to(&mut differences, 1, ScoreTally { sum: -3, count: 0 });
        add_to(&mut differences, 2, ScoreTally { sum: 0, count: 0 });
        let writes = changes(&differences);
        assert_eq!(writes.len(), 1);
        let Write::Update { key, add, .. } = &writes[0] else {
            panic!("{writes:?}");
        };
        assert_eq!(key, &shard_key(1));
        assert_eq!(
            add,
            &vec![(SCORE_SUM.to_owned(), 4), (REVIEW_COUNT.to_owned(), 1)]
        );
    }

    fn summary(movie_id: &Uuid, sum: i64, count: i64, deleted: bool) -> Item {
        let mut attrs = Attrs::new();
        attrs.insert(SCORE_SUM.into(), json!(sum));
        attrs.insert(REVIEW_COUNT.into(), json!(count));
        if deleted {
            attrs.insert("deleted".into(), json!(true));
        }
        Item::new(Key::new(format!("summary#{movie_id}"), "summary"), attrs)
    }

    #[test]
    fn the_audit_adds_what_the_summaries_count_and_repairs_by_the_difference() {
        let movie = Uuid::now_v7();
        let gone = Uuid::now_v7();
        let shard = shard_of(&movie);
        let mut items = vec![
            summary(&movie, 17, 2, false),
            // A tombstone counts nothing, whatever it still holds.
            summary(&gone, 9, 1, true),
        ];
        let stale = CatalogueTallyRecord {
            score_sum: 10,
            review_count: 1,
        };
        items.push(stale.to_item(shard_key(shard)).unwrap());
        let findings = audit(&Stored::new(items.clone())).unwrap();
        let at_shard: Vec<_> = findings
            .iter()
            .filter(|f| f.differences[0].key == shard_key(shard))
            .collect();
        assert_eq!(at_shard.len(), 1);
        // The excess is reported: it stays what it is while reviews move the shard.
        let Problem::Differs { actual, .. } = &at_shard[0].differences[0].problem else {
            panic!("{:?}", at_shard[0]);
        };
        assert_eq!(actual[SUM_OVER_SUMMARIES], json!(-7));
        assert_eq!(actual[COUNT_OVER_SUMMARIES], json!(-1));
        let Write::Update { add, .. } = &at_shard[0].repair[0] else {
            panic!("{:?}", at_shard[0].repair);
        };
        assert_eq!(
            add,
            &vec![(SCORE_SUM.to_owned(), 7), (REVIEW_COUNT.to_owned(), 1)]
        );

        let right = CatalogueTallyRecord {
            score_sum: 17,
            review_count: 2,
        };
        items.pop();
        items.push(right.to_item(shard_key(shard)).unwrap());
        let gone_shard = shard_of(&gone);
        if gone_shard != shard {
            items.push(
                CatalogueTallyRecord::default()
                    .to_item(shard_key(gone_shard))
                    .unwrap(),
            );
        }
        assert_eq!(audit(&Stored::new(items)).unwrap(), Vec::new());
    }
}
