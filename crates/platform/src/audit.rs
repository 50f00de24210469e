//! Audits of the derived views (`moviebook verify`): every item that is derived from the
//! owning records — movies, actors, users, reviews — is recomputed from them and compared
//! with what is stored. Each service and projection audits the views it writes (its
//! `audit` module), from the [`Records`] the owners read and the [`Stored`] items of one
//! scan of the store; a difference is a [`Finding`] that carries the writes that repair it,
//! each conditional on the item still being as it was read, so a repair never overwrites a
//! write made since the scan.

use std::collections::BTreeMap;
use std::fmt;

use domain::events::MovieSnapshot;
use domain::picture::StoredPicture;
use domain::timestamp::Micros;
use serde_json::Value;
use store::{Attrs, Condition, Item, Key, Write};
use uuid::Uuid;

/// What the owning records say: the facts every derived view is computed from.
#[derive(Debug, Default)]
pub struct Records {
    /// Each movie as its lists show it, with its current poster (as its picture record
    /// names it).
    pub movies: BTreeMap<Uuid, MovieSnapshot>,
    pub actors: BTreeMap<Uuid, ActorFacts>,
    pub users: BTreeMap<Uuid, UserFacts>,
    /// By movie, then author.
    pub reviews: BTreeMap<(Uuid, Uuid), ReviewFacts>,
}

impl Records {
    /// The reviews that count — in scores, top-rated and users' lists: those whose movie
    /// and author both exist. (A review whose movie or author is gone is removed by the
    /// movies service, and counts nowhere meanwhile.)
    pub fn counted_reviews(&self) -> impl Iterator<Item = &ReviewFacts> {
        self.reviews.values().filter(|review| {
            self.movies.contains_key(&review.movie_id) && self.users.contains_key(&review.user_id)
        })
    }
}

/// An actor's facts that views copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorFacts {
    pub name: String,
    pub thumbnail_url: Option<String>,
    pub created_at: Micros,
    /// The actor's current photo, as its picture record names it.
    pub photo: Option<StoredPicture>,
}

/// A user's facts that views copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFacts {
    pub name: String,
    pub email: String,
}

/// A review's facts that views copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewFacts {
    pub movie_id: Uuid,
    pub user_id: Uuid,
    pub score: i64,
    pub comment: Option<String>,
    pub created_at: Micros,
    pub updated_at: Micros,
    /// The id of the event that wrote this revision of the review.
    pub revision: Uuid,
}

/// Every item of one scan, by key.
#[derive(Debug, Default)]
pub struct Stored {
    items: BTreeMap<Key, Attrs>,
}

impl Stored {
    pub fn new(items: Vec<Item>) -> Self {
        Stored {
            items: items
                .into_iter()
                .map(|item| (item.key, item.attrs))
                .collect(),
        }
    }

    /// The item at `key`.
    pub fn get(&self, key: &Key) -> Option<&Attrs> {
        self.items.get(key)
    }

    /// Every item whose partition key starts with `prefix`, in key order.
    pub fn under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a Key, &'a Attrs)> {
        self.items
            .range(Key::new(prefix, "")..)
            .take_while(move |(key, _)| key.pk.starts_with(prefix))
    }

    /// Every item of the partition `pk`, in sort-key order.
    pub fn partition<'a>(&'a self, pk: &'a str) -> impl Iterator<Item = (&'a Key, &'a Attrs)> {
        self.items
            .range(Key::new(pk, "")..)
            .take_while(move |(key, _)| key.pk == pk)
    }
}

/// How a stored item differs from what the records say it should be.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// The item should be there and is not.
    Missing { expected: Attrs },
    /// The item should not be there.
    Unexpected { actual: Attrs },
    /// The item holds other values: the attributes named differ.
    Differs {
        attributes: Vec<String>,
        actual: Attrs,
        expected: Attrs,
    },
    /// An owning record that does not decode: verify cannot tell what it should say.
    Unreadable { error: String },
}

/// One item that differs from what the records say.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    pub key: Key,
    pub problem: Problem,
}

/// Differences of one view that are repaired together, and how: the writes that set them
/// right, applied as one transaction, each conditional on what was read.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The view, as docs/data-model.md names it.
    pub view: &'static str,
    pub differences: Vec<Difference>,
    /// Empty when verify cannot repair it.
    pub repair: Vec<Write>,
}

impl Finding {
    /// A finding of one difference.
    pub fn one(view: &'static str, key: Key, problem: Problem, repair: Vec<Write>) -> Self {
        Finding {
            view,
            differences: vec![Difference { key, problem }],
            repair,
        }
    }
}

impl fmt::Display for Finding {
    /// One line per difference.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, difference) in self.differences.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}: {difference}", self.view)?;
        }
        Ok(())
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Key { pk, sk } = &self.key;
        write!(f, "{pk} / {sk}: ")?;
        let json = |attrs: &Attrs| Value::Object(attrs.clone());
        match &self.problem {
            Problem::Missing { expected } => write!(f, "missing; expected {}", json(expected)),
            Problem::Unexpected { actual } => write!(f, "unexpected; found {}", json(actual)),
            Problem::Differs {
                attributes,
                actual,
                expected,
            } => {
                let pick = |attrs: &Attrs| {
                    let picked: Attrs = attributes
                        .iter()
                        .map(|name| {
                            let value = attrs.get(name).cloned().unwrap_or(Value::Null);
                            (name.clone(), value)
                        })
                        .collect();
                    Value::Object(picked)
                };
                write!(
                    f,
                    "differs in {}: found {}, expected {}",
                    attributes.join(", "),
                    pick(actual),
                    pick(expected)
                )
            }
            Problem::Unreadable { error } => write!(f, "unreadable record ({error})"),
        }
    }
}

/// The attributes in which `actual` differs from `expected`, leaving out `ignored` ones
/// (bookkeeping no record determines, such as a version).
pub fn differing(actual: &Attrs, expected: &Attrs, ignored: &[&str]) -> Vec<String> {
    let mut names: Vec<&String> = actual.keys().chain(expected.keys()).collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .filter(|name| !ignored.contains(&name.as_str()))
        .filter(|name| actual.get(*name) != expected.get(*name))
        .cloned()
        .collect()
}

/// What is wrong with one item, if anything, comparing all but the `ignored` attributes.
pub fn problem(
    actual: Option<&Attrs>,
    expected: Option<&Attrs>,
    ignored: &[&str],
) -> Option<Problem> {
    match (actual, expected) {
        (None, None) => None,
        (None, Some(expected)) => Some(Problem::Missing {
            expected: expected.clone(),
        }),
        (Some(actual), None) => Some(Problem::Unexpected {
            actual: actual.clone(),
        }),
        (Some(actual), Some(expected)) => {
            let attributes = differing(actual, expected, ignored);
            (!attributes.is_empty()).then(|| Problem::Differs {
                attributes,
                actual: actual.clone(),
                expected: expected.clone(),
            })
        }
    }
}

/// The write that puts right an item whose every attribute is derived: put when missing
/// or different, delete when unexpected — each only if the item is still as it was read
/// (absent, or with the same value of its first attribute: derived items of one key hold
/// the same facts, so that tells a changed item apart).
pub fn plain_repair(key: &Key, problem: &Problem) -> Option<Write> {
    let unchanged = |actual: &Attrs| match actual.iter().next() {
        Some((name, value)) => Condition::AttrEquals(name.clone(), value.clone()),
        None => Condition::Exists,
    };
    match problem {
        Problem::Missing { expected } => Some(Write::Put {
            item: Item::new(key.clone(), expected.clone()),
            condition: Condition::NotExists,
        }),
        Problem::Differs {
            actual, expected, ..
        } => Some(Write::Put {
            item: Item::new(key.clone(), expected.clone()),
            condition: unchanged(actual),
        }),
        Problem::Unexpected { actual } => Some(Write::Delete {
            key: key.clone(),
            condition: unchanged(actual),
        }),
        Problem::Unreadable { .. } => None,
    }
}

/// Compares a view whose items are all derived and independent of each other (list
/// entries, index items): `expected` holds every item the view should have, `actual` every
/// item it has; each difference is repaired by [`plain_repair`].
pub fn compare_entries<'a>(
    view: &'static str,
    expected: &BTreeMap<Key, Attrs>,
    actual: impl Iterator<Item = (&'a Key, &'a Attrs)>,
) -> Vec<Finding> {
    let actual: BTreeMap<&Key, &Attrs> = actual.collect();
    let keys: std::collections::BTreeSet<&Key> =
        expected.keys().chain(actual.keys().copied()).collect();
    keys.into_iter()
        .filter_map(|key| {
            let problem = problem(actual.get(key).copied(), expected.get(key), &[])?;
            let repair = plain_repair(key, &problem).into_iter().collect();
            Some(Finding::one(view, key.clone(), problem, repair))
        })
        .collect()
}

/// A finding for an item that should not be there, repaired by deleting it.
pub fn unexpected(view: &'static str, key: &Key, actual: &Attrs) -> Finding {
    let problem = Problem::Unexpected {
        actual: actual.clone(),
    };
    let repair = plain_repair(key, &problem).into_iter().collect();
    Finding::one(view, key.clone(), problem, repair)
}

/// An id held in an attribute.
pub fn id_attr(attrs: &Attrs, name: &str) -> Option<Uuid> {
    attrs.get(name)?.as_str()?.parse().ok()
}

/// A finding for an owning record that does not decode.
pub fn unreadable(view: &'static str, key: &Key, error: impl fmt::Display) -> Finding {
    let problem = Problem::Unreadable {
        error: error.to_string(),
    };
    Finding::one(view, key.clone(), problem, Vec::new())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn attrs(value: Value) -> Attrs {
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn entries_missing_unexpected_and_different_are_each_found_once() {
        let expected: BTreeMap<Key, Attrs> = [
            (Key::new("l", "a"), attrs(json!({"id": "a"}))),
            (Key::new("l", "b"), attrs(json!({"id": "b", "n": 1}))),
            (Key::new("l", "c"), attrs(json!({"id": "c"}))),
        ]
        .into();
        let stored = Stored::new(vec![
            Item::new(Key::new("l", "b"), attrs(json!({"id": "b", "n": 2}))),
            Item::new(Key::new("l", "c"), attrs(json!({"id": "c"}))),
            Item::new(Key::new("l", "d"), attrs(json!({"id": "d"}))),
            Item::new(Key::new("m", "a"), attrs(json!({"id": "x"}))),
        ]);
        let findings = compare_entries("list", &expected, stored.partition("l"));
        let described: Vec<String> = findings.iter().map(ToString::to_string).collect();
        assert_eq!(
            described,
            [
                r#"list: l / a: missing; expected {"id":"a"}"#,
                r#"list: l / b: differs in n: found {"n":2}, expected {"n":1}"#,
                r#"list: l / d: unexpected; found {"id":"d"}"#,
            ]
        );
        assert_eq!(
            findings[1].repair,
            [Write::Put {
                item: Item::new(Key::new("l", "b"), attrs(json!({"id": "b", "n": 1}))),
                condition: Condition::AttrEquals("id".into(), json!("b")),
            }]
        );
        assert!(matches!(findings[2].repair[..], [Write::Delete { .. }]));
    }

    #[test]
    fn ignored_attributes_do_not_count_as_differences() {
        let actual = attrs(json!({"sum": 3, "revision": 9}));
        let expected = attrs(json!({"sum": 3}));
        assert_eq!(problem(Some(&actual), Some(&expected), &["revision"]), None);
        assert_eq!(differing(&actual, &expected, &[]), ["revision"]);
    }

    #[test]
    fn under_reads_every_partition_with_the_prefix_and_no_other() {
        let stored = Stored::new(vec![
            Item::new(Key::new("genre#a#0", "1"), Attrs::new()),
            Item::new(Key::new("genre#b#1", "1"), Attrs::new()),
            Item::new(Key::new("genres", "a"), Attrs::new()),
            Item::new(Key::new("genrf", "a"), Attrs::new()),
        ]);
        let pks: Vec<&str> = stored.under("genre#").map(|(k, _)| k.pk.as_str()).collect();
        assert_eq!(pks, ["genre#a#0", "genre#b#1"]);
    }
}
