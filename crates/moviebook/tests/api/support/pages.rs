//! Lists page by page: one page with its cursor, a walk over every page that checks the
//! cursors advance, and a whole list read with the largest page.

use serde_json::Value;

use super::app::TestApp;
use super::client::{enc, with_param};

/// The most pages a walk reads before it decides the cursor does not advance.
const MAX_PAGES: usize = 10_000;

impl TestApp {
    /// One page: its items and next cursor.
    pub async fn page(&self, path: &str) -> (Vec<Value>, Option<String>) {
        let resp = self.get(path).await;
        let body = resp.expect(200);
        let items = body["items"]
            .as_array()
            .unwrap_or_else(|| panic!("{}: no items in {}", resp.request, resp.text))
            .clone();
        assert!(
            body.get("next_cursor").is_some(),
            "{}: page without a `next_cursor` field: {}",
            resp.request,
            resp.text
        );
        let cursor = match &body["next_cursor"] {
            Value::Null => None,
            Value::String(c) => Some(c.clone()),
            other => panic!(
                "{}: next_cursor is neither a string nor null: {other}",
                resp.request
            ),
        };
        (items, cursor)
    }

    /// Walks every page of a list (`path` may carry a query, e.g. `?limit=7`) and returns
    /// every item, in order, with the number of pages read.
    pub async fn walk(&self, path: &str) -> (Vec<Value>, usize) {
        let mut items = Vec::new();
        let mut pages = 0;
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                None => path.to_owned(),
                Some(c) => with_param(path, &format!("cursor={}", enc(c))),
            };
            let (page, next) = self.page(&url).await;
            pages += 1;
            assert!(
                pages <= MAX_PAGES,
                "{path}: more than {MAX_PAGES} pages, the cursor does not advance"
            );
            if let (Some(previous), Some(next)) = (&cursor, &next) {
                assert_ne!(previous, next, "{path}: the cursor did not change");
            }
            items.extend(page);
            match next {
                None => return (items, pages),
                Some(next) => cursor = Some(next),
            }
        }
    }

    /// Every item of a list, walked with the largest page.
    pub async fn all(&self, path: &str) -> Vec<Value> {
        self.walk(&with_param(path, "limit=100")).await.0
    }
}
