//! Turns a query into one range scan of the primary key. A prefix becomes the range
//! `prefix <= sk < successor(prefix)` rather than LIKE or substr, which SQLite cannot
//! answer from the index (and LIKE would take `%` and `_` as wildcards).

use std::borrow::Cow;

use store::Query;

/// The SQL of one query page and the sort-key bounds it binds after the partition key
/// (`?1`); the row limit is bound last.
pub(crate) struct PageSql<'q> {
    pub(crate) sql: String,
    pub(crate) bounds: Vec<Cow<'q, str>>,
}

impl<'q> PageSql<'q> {
    /// The statement for `query`.
    pub(crate) fn of(query: &'q Query) -> Self {
        let prefix = query.sk_prefix.as_str();
        let successor = successor(prefix);
        let after = query.after.as_deref();
        // `after` may lie anywhere, even outside the prefix, so it and the prefix's bound on
        // the same side are both limits and the tighter one is kept (Rust compares strings
        // by their bytes, as BINARY does).
        let (lower, upper): (Option<(&str, Cow<'q, str>)>, _) = if query.descending {
            let upper = match (after, successor) {
                (Some(after), Some(successor)) if successor.as_str() <= after => {
                    Some(Cow::Owned(successor))
                }
                (Some(after), _) => Some(Cow::Borrowed(after)),
                (None, successor) => successor.map(Cow::Owned),
            };
            let lower = (!prefix.is_empty()).then_some((">=", Cow::Borrowed(prefix)));
            (lower, upper.map(|bound| ("<", bound)))
        } else {
            let lower = match after {
                Some(after) if after >= prefix => Some((">", Cow::Borrowed(after))),
                _ => (!prefix.is_empty()).then_some((">=", Cow::Borrowed(prefix))),
            };
            (lower, successor.map(|bound| ("<", Cow::Owned(bound))))
        };

        let mut sql = String::from("SELECT sk, attrs FROM items WHERE pk = ?1");
        let mut bounds = Vec::with_capacity(2);
        for (op, value) in lower.into_iter().chain(upper) {
            bounds.push(value);
            sql.push_str(&format!(" AND sk {op} ?{}", bounds.len() + 1));
        }
        let order = if query.descending { "DESC" } else { "ASC" };
        sql.push_str(&format!(" ORDER BY sk {order} LIMIT ?{}", bounds.len() + 2));
        PageSql { sql, bounds }
    }
}

/// The least string greater than every string that starts with `prefix`, in code-point
/// (UTF-8 byte) order, or `None` when no string is: for "" and for a prefix made only of
/// the last code point.
fn successor(prefix: &str) -> Option<String> {
    let mut successor = prefix.to_owned();
    while let Some(last) = successor.pop() {
        // Trailing last code points cannot grow, so the one before them grows instead.
        let next = match last {
            char::MAX => continue,
            // The surrogates are not characters; the next one after them is.
            '\u{D7FF}' => '\u{E000}',
            _ => char::from_u32(u32::from(last) + 1)?,
        };
        successor.push(next);
        return Some(successor);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successor_increments_the_last_code_point_that_can_grow() {
        assert_eq!(successor(""), None);
        assert_eq!(successor("a"), Some("b".into()));
        assert_eq!(successor("a#"), Some("a$".into()));
        assert_eq!(successor("é"), Some("ê".into()));
        assert_eq!(successor("\u{7F}"), Some("\u{80}".into()));
        assert_eq!(successor("\u{FFFF}"), Some("\u{10000}".into()));
        assert_eq!(successor("x\u{D7FF}"), Some("x\u{E000}".into()));
        assert_eq!(successor("ab\u{10FFFF}\u{10FFFF}"), Some("ac".into()));
        assert_eq!(successor("\u{10FFFF}"), None);
    }

    #[test]
    fn bounds_follow_direction_prefix_and_after() {
        let shape = |query: Query| {
            let page = PageSql::of(&query);
            (
                page.sql,
                page.bounds
                    .into_iter()
                    .map(Cow::into_owned)
                    .collect::<Vec<_>>(),
            )
        };
        let base = "SELECT sk, attrs FROM items WHERE pk = ?1";

        assert_eq!(
            shape(Query::prefix("p", "", 5)),
            (format!("{base} ORDER BY sk ASC LIMIT ?2"), vec![])
        );
        assert_eq!(
            shape(Query::prefix("p", "a#", 5)),
            (
                format!("{base} AND sk >= ?2 AND sk < ?3 ORDER BY sk ASC LIMIT ?4"),
                vec!["a#".into(), "a$".into()]
            )
        );
        assert_eq!(
            shape(Query::prefix("p", "a#", 5).after(Some("a#3".into()))),
            (
                format!("{base} AND sk > ?2 AND sk < ?3 ORDER BY sk ASC LIMIT ?4"),
                vec!["a#3".into(), "a$".into()]
            )
        );
        assert_eq!(
            shape(Query::prefix("p", "a#", 5).descending()),
            (
                format!("{base} AND sk >= ?2 AND sk < ?3 ORDER BY sk DESC LIMIT ?4"),
                vec!["a#".into(), "a$".into()]
            )
        );
        assert_eq!(
            shape(
                Query::prefix("p", "a#", 5)
                    .descending()
                    .after(Some("a#3".into()))
            ),
            (
                format!("{base} AND sk >= ?2 AND sk < ?3 ORDER BY sk DESC LIMIT ?4"),
                vec!["a#".into(), "a#3".into()]
            )
        );
        assert_eq!(
            shape(
                Query::prefix("p", "", 5)
                    .descending()
                    .after(Some("m".into()))
            ),
            (
                format!("{base} AND sk < ?2 ORDER BY sk DESC LIMIT ?3"),
                vec!["m".into()]
            )
        );
        assert_eq!(
            shape(Query::prefix("p", "a#", 5).after(Some("a".into()))),
            (
                format!("{base} AND sk >= ?2 AND sk < ?3 ORDER BY sk ASC LIMIT ?4"),
                vec!["a#".into(), "a$".into()]
            )
        );
        assert_eq!(
            shape(
                Query::prefix("p", "a#", 5)
                    .descending()
                    .after(Some("b".into()))
            ),
            (
                format!("{base} AND sk >= ?2 AND sk < ?3 ORDER BY sk DESC LIMIT ?4"),
                vec!["a#".into(), "a$".into()]
            )
        );
        assert_eq!(
            shape(Query::prefix("p", "", 5).after(Some("".into()))),
            (
                format!("{base} AND sk > ?2 ORDER BY sk ASC LIMIT ?3"),
                vec!["".into()]
            )
        );
        assert_eq!(
            shape(Query::prefix("p", "\u{10FFFF}", 5)),
            (
                format!("{base} AND sk >= ?2 ORDER BY sk ASC LIMIT ?3"),
                vec!["\u{10FFFF}".into()]
            )
        );
    }
}
