//! Turns a query into one range scan of the primary key. A prefix becomes the range
//! `prefix <= sk < successor(prefix)` rather than LIKE or substr, which SQLite cannot
//! answer from the index (and LIKE would take `%` and `_` as wildcards). Expired items are
//! filtered out of the scan.

use std::borrow::Cow;

use std::ops::Bound;

use store::Query;

use crate::connection::live;

/// The SQL of one query page and the sort-key bounds it binds after the partition key
/// (`?1`); then come now (epoch seconds, which expired items are left out by) and the row
/// limit.
pub(crate) struct PageSql<'q> {
    pub(crate) sql: String,
    pub(crate) bounds: Vec<Cow<'q, str>>,
}

impl<'q> PageSql<'q> {
    /// The statement for `query`.
    pub(crate) fn of(query: &'q Query) -> Self {
        let bound =
            |bound: Bound<String>, inclusive: &'static str, exclusive: &'static str| match bound {
                Bound::Unbounded => None,
                Bound::Included(value) => Some((inclusive, Cow::Owned(value))),
                Bound::Excluded(value) => Some((exclusive, Cow::Owned(value))),
            };
        let (lower, upper) = query.sk_range();
        let (lower, upper): (Option<(&str, Cow<'q, str>)>, _) =
            (bound(lower, ">=", ">"), bound(upper, "<=", "<"));

        let mut sql = String::from("SELECT sk, attrs FROM items WHERE pk = ?1");
        let mut bounds = Vec::with_capacity(2);
        for (op, value) in lower.into_iter().chain(upper) {
            bounds.push(value);
            sql.push_str(&format!(" AND sk {op} ?{}", bounds.len() + 1));
        }
        sql.push_str(&format!(" AND {}", live(bounds.len() + 2)));
        let order = if query.descending { "DESC" } else { "ASC" };
        sql.push_str(&format!(" ORDER BY sk {order} LIMIT ?{}", bounds.len() + 3));
        PageSql { sql, bounds }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // The live filter with now at `?{now}`, the order, and the limit after now.
        let end = |now: usize, order: &str| {
            format!(
                "AND (expires_at IS NULL OR expires_at > ?{now}) ORDER BY sk {order} LIMIT ?{}",
                now + 1
            )
        };

        assert_eq!(
            shape(Query::prefix("p", "", 5)),
            (format!("{base} {}", end(2, "ASC")), vec![])
        );
        assert_eq!(
            shape(Query::prefix("p", "a#", 5)),
            (
                format!("{base} AND sk >= ?2 AND sk < ?3 {}", end(4, "ASC")),
                vec!["a#".into(), "a$".into()]
            )
        );
        assert_eq!(
            shape(Query::prefix("p", "a#", 5).after(Some("a#3".into()))),
            (
                format!("{base} AND sk > ?2 AND sk < ?3 {}", end(4, "ASC")),
                vec!["a#3".into(), "a$".into()]
            )
        );
        assert_eq!(
            shape(Query::prefix("p", "a#", 5).descending()),
            (
                format!("{base} AND sk >= ?2 AND sk < ?3 {}", end(4, "DESC")),
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
                format!("{base} AND sk >= ?2 AND sk < ?3 {}", end(4, "DESC")),
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
                format!("{base} AND sk < ?2 {}", end(3, "DESC")),
                vec!["m".into()]
            )
        );
        assert_eq!(
            shape(Query::prefix("p", "a#", 5).after(Some("a".into()))),
            (
                format!("{base} AND sk >= ?2 AND sk < ?3 {}", end(4, "ASC")),
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
                format!("{base} AND sk >= ?2 AND sk < ?3 {}", end(4, "DESC")),
                vec!["a#".into(), "a$".into()]
            )
        );
        assert_eq!(
            shape(Query::prefix("p", "", 5).after(Some("".into()))),
            (
                format!("{base} AND sk > ?2 {}", end(3, "ASC")),
                vec!["".into()]
            )
        );
        assert_eq!(
            shape(Query::prefix("p", "\u{10FFFF}", 5)),
            (
                format!("{base} AND sk >= ?2 {}", end(3, "ASC")),
                vec!["\u{10FFFF}".into()]
            )
        );
    }
}
