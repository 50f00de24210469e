//! Turns a query into one DynamoDB key condition on the sort key.
//!
//! The port's read is a range of sort keys: the prefix gives `prefix <= sk < successor`, and
//! `after` tightens the bound on the side the read starts from. `after` may be any string,
//! even one outside the prefix or longer than a sort key can be. DynamoDB takes only one
//! condition on the sort key (`begins_with` cannot be combined with `>`), refuses empty
//! strings and strings over 1024 bytes in it, and refuses an `ExclusiveStartKey` outside
//! the condition. So the exact range is computed here, a range that is empty is answered
//! without asking, and DynamoDB gets the one condition that covers the range (`BETWEEN`
//! the two bounds, inclusive, when there are two); the few items it returns that the exact
//! range excludes — an item equal to an exclusive bound, or keys between a too-long bound
//! and its shortened stand-in — are dropped here.

use std::ops::Bound;

use store::{Query, prefix_successor};

use crate::codec::MAX_SK_BYTES;

/// The sort keys a query reads, exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyRange {
    lower: Bound<String>,
    upper: Bound<String>,
}

/// The sort-key part of a DynamoDB key condition: `sk` is compared with the values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SkCondition {
    All,
    BeginsWith(String),
    Greater(String),
    GreaterOrEqual(String),
    Less(String),
    LessOrEqual(String),
    Between(String, String),
}

impl KeyRange {
    /// The range `query` reads, or `None` when no item can be in it.
    pub(crate) fn of(query: &Query) -> Option<Self> {
        let prefix = query.sk_prefix.as_str();
        if prefix.len() > MAX_SK_BYTES {
            return None;
        }
        let (lower, upper) = query.sk_range();
        let range = KeyRange { lower, upper };
        (!range.is_empty()).then_some(range)
    }

    /// Whether no sort key (never empty) lies in the range.
    fn is_empty(&self) -> bool {
        match (&self.lower, &self.upper) {
            (_, Bound::Excluded(upper)) if upper.is_empty() => true,
            (Bound::Included(lower), Bound::Included(upper)) => lower > upper,
            (Bound::Included(lower) | Bound::Excluded(lower), Bound::Excluded(upper))
            | (Bound::Excluded(lower), Bound::Included(upper)) => lower >= upper,
            _ => false,
        }
    }

    /// Whether the sort key lies in the range.
    pub(crate) fn contains(&self, sk: &str) -> bool {
        let above = match &self.lower {
            Bound::Unbounded => true,
            Bound::Included(lower) => sk >= lower.as_str(),
            Bound::Excluded(lower) => sk > lower.as_str(),
        };
        let below = match &self.upper {
            Bound::Unbounded => true,
            Bound::Included(upper) => sk <= upper.as_str(),
            Bound::Excluded(upper) => sk < upper.as_str(),
        };
        above && below
    }

    /// The one condition DynamoDB accepts that covers the range; exact unless it is a
    /// `BETWEEN` or a bound was too long to send.
    pub(crate) fn condition(&self) -> SkCondition {
        if let (Bound::Included(prefix), Bound::Excluded(successor_of)) = (&self.lower, &self.upper)
            && prefix_successor(prefix).as_ref() == Some(successor_of)
        {
            return SkCondition::BeginsWith(prefix.clone());
        }
        match (sendable_lower(&self.lower), sendable_upper(&self.upper)) {
            (None, None) => SkCondition::All,
            (Some((lower, inclusive)), None) if inclusive => SkCondition::GreaterOrEqual(lower),
            (Some((lower, _)), None) => SkCondition::Greater(lower),
            (None, Some((upper, inclusive))) if inclusive => SkCondition::LessOrEqual(upper),
            (None, Some((upper, _))) => SkCondition::Less(upper),
            // The range is not empty, and each bound was only ever loosened, so lower <= upper
            // as BETWEEN requires.
            (Some((lower, _)), Some((upper, _))) => SkCondition::Between(lower, upper),
        }
    }
}

/// A lower bound DynamoDB accepts (value, inclusive), or `None` when every key is above it.
fn sendable_lower(bound: &Bound<String>) -> Option<(String, bool)> {
    let (value, inclusive) = match bound {
        Bound::Unbounded => return None,
        Bound::Included(value) => (value, true),
        Bound::Excluded(value) => (value, false),
    };
    if value.is_empty() {
        // Every sort key is above "", which DynamoDB would refuse to compare with.
        None
    } else if value.len() > MAX_SK_BYTES {
        // A shortened bound is below the long one, so `>=` it reads a little more.
        Some((truncate(value, MAX_SK_BYTES).to_owned(), true))
    } else {
        Some((value.clone(), inclusive))
    }
}

/// An upper bound DynamoDB accepts (value, inclusive), or `None` when every key is below it.
/// (An exclusive "" never gets here: that range is empty.)
fn sendable_upper(bound: &Bound<String>) -> Option<(String, bool)> {
    let (value, inclusive) = match bound {
        Bound::Unbounded => return None,
        Bound::Included(value) => (value, true),
        Bound::Excluded(value) => (value, false),
    };
    if value.len() > MAX_SK_BYTES {
        // The successor of a prefix of the bound lies above it. Four bytes are kept spare
        // because the successor's last character may take more bytes than the one it
        // replaces.
        prefix_successor(truncate(value, MAX_SK_BYTES - 4)).map(|above| (above, false))
    } else {
        Some((value.clone(), inclusive))
    }
}

/// The longest start of `s` of at most `bytes` bytes that ends on a character boundary.
fn truncate(s: &str, bytes: usize) -> &str {
    let mut end = bytes.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(prefix: &str, after: Option<&str>, descending: bool) -> Query {
        let mut query = Query::prefix("p", prefix, 10).after(after.map(str::to_owned));
        query.descending = descending;
        query
    }

    fn condition(prefix: &str, after: Option<&str>, descending: bool) -> Option<SkCondition> {
        KeyRange::of(&query(prefix, after, descending)).map(|range| range.condition())
    }

    use SkCondition::*;

    #[test]
    fn a_prefix_alone_is_begins_with() {
        assert_eq!(condition("", None, false), Some(All));
        assert_eq!(condition("", None, true), Some(All));
        assert_eq!(condition("a#", None, false), Some(BeginsWith("a#".into())));
        assert_eq!(condition("a#", None, true), Some(BeginsWith("a#".into())));
        assert_eq!(
            condition("\u{10FFFF}", None, false),
            Some(GreaterOrEqual("\u{10FFFF}".into()))
        );
    }

    #[test]
    fn after_inside_the_prefix_becomes_a_range() {
        assert_eq!(
            condition("a#", Some("a#3"), false),
            Some(Between("a#3".into(), "a$".into()))
        );
        assert_eq!(
            condition("a#", Some("a#3"), true),
            Some(Between("a#".into(), "a#3".into()))
        );
        assert_eq!(condition("", Some("m"), false), Some(Greater("m".into())));
        assert_eq!(condition("", Some("m"), true), Some(Less("m".into())));
        // "a#" itself is in the prefix, so the read after it starts at its first key.
        assert_eq!(
            condition("a#", Some("a#"), false),
            Some(Between("a#".into(), "a$".into()))
        );
    }

    #[test]
    fn after_outside_the_prefix_is_a_position() {
        // Before the prefix: ascending reads the whole prefix, descending reads nothing.
        assert_eq!(
            condition("b#", Some("a"), false),
            Some(BeginsWith("b#".into()))
        );
        assert_eq!(
            condition("b#", Some("b"), false),
            Some(BeginsWith("b#".into()))
        );
        assert_eq!(condition("b#", Some("a"), true), None);
        assert_eq!(condition("b#", Some("b#"), true), None);
        // Past the prefix: the other way round.
        assert_eq!(condition("b#", Some("b$"), false), None);
        assert_eq!(condition("b#", Some("c"), false), None);
        assert_eq!(
            condition("b#", Some("c"), true),
            Some(BeginsWith("b#".into()))
        );
        assert_eq!(
            condition("b#", Some("\u{10FFFF}"), true),
            Some(BeginsWith("b#".into()))
        );
        // "" is before everything.
        assert_eq!(condition("", Some(""), false), Some(All));
        assert_eq!(condition("", Some(""), true), None);
    }

    #[test]
    fn bounds_too_long_for_dynamodb_are_loosened_and_filtered() {
        let long = format!("a#{}", "x".repeat(2000));
        let range = KeyRange::of(&query("a#", Some(&long), false)).expect("not empty");
        let Between(lower, upper) = range.condition() else {
            panic!("expected BETWEEN, got {:?}", range.condition());
        };
        assert_eq!(lower.len(), MAX_SK_BYTES);
        assert!(long.starts_with(&lower));
        assert_eq!(upper, "a$");
        assert!(!range.contains(&lower));
        assert!(range.contains(&format!("a#{}", "y".repeat(10))));

        let range = KeyRange::of(&query("", Some(&long), true)).expect("not empty");
        let Less(upper) = range.condition() else {
            panic!("expected <, got {:?}", range.condition());
        };
        assert!(upper.len() <= MAX_SK_BYTES && upper.as_str() > long.as_str());
        assert!(range.contains(&lower));
        assert!(!range.contains(&format!("a#{}", "y".repeat(10))));

        let too_long_prefix = "p".repeat(MAX_SK_BYTES + 1);
        assert_eq!(condition(&too_long_prefix, None, false), None);
        // A successor that grows past the limit is loosened too.
        let prefix = format!("{}\u{7F}", "a".repeat(MAX_SK_BYTES - 1));
        assert_eq!(
            condition(&prefix, Some(&prefix), false).map(|c| match c {
                Between(_, upper) => upper.len() <= MAX_SK_BYTES,
                _ => false,
            }),
            Some(true)
        );
    }

    #[test]
    fn the_exact_range_excludes_what_between_includes() {
        let range = KeyRange::of(&query("a#", Some("a#3"), false)).expect("not empty");
        assert!(!range.contains("a#3"));
        assert!(range.contains("a#4"));
        assert!(!range.contains("a$"));
        let range = KeyRange::of(&query("a#", Some("a#3"), true)).expect("not empty");
        assert!(range.contains("a#"));
        assert!(range.contains("a#2"));
        assert!(!range.contains("a#3"));
    }
}
