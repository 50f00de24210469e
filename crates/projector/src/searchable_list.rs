//! The parameters of the lists that can be searched, `GET /movies` and `GET /actors`: the
//! query string as the OpenAPI document describes it, and the list it asks for once checked.
//! Without search words the list is every entity, newest first; with them, the entities whose
//! title or name matches. The two kinds of list continue from different positions, so a
//! cursor is read as the kind the query asks for.

use domain::ValidationErrors;
use platform::pagination::{PageRequest, page_request};
use serde::Deserialize;

use crate::search::SearchCursor;

/// `GET /movies` and `GET /actors` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchableListQuery {
    /// Every word must start a word of the title (movies) or name (actors); case and
    /// accents ignored.
    search: Option<String>,
    /// Page size, 1..100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Which entities a list asks for, checked.
#[derive(Debug, Clone, PartialEq)]
pub enum SearchableList {
    /// Every entity, newest first, after the sort key of the previous page's last one.
    All(PageRequest<String>),
    /// The entities whose titles or names match `text`, exact matches first.
    Search {
        text: String,
        page: PageRequest<SearchCursor>,
    },
}

impl SearchableListQuery {
    /// The list asked for; every failing parameter is listed.
    pub fn read(&self) -> Result<SearchableList, ValidationErrors> {
        let text = self.search.as_deref().map(str::trim).unwrap_or("");
        let (limit, cursor) = (self.limit.as_deref(), self.cursor.as_deref());
        if domain::text::words(text).is_empty() {
            return Ok(SearchableList::All(page_request(limit, cursor)?));
        }
        Ok(SearchableList::Search {
            text: text.to_owned(),
            page: page_request(limit, cursor)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use platform::pagination::{DEFAULT_LIMIT, encode};

    use super::*;
    use crate::search::WordPosition;

    fn query(
        search: Option<&str>,
        limit: Option<&str>,
        cursor: Option<&str>,
    ) -> SearchableListQuery {
        SearchableListQuery {
            search: search.map(str::to_owned),
            limit: limit.map(str::to_owned),
            cursor: cursor.map(str::to_owned),
        }
    }

    #[test]
    fn a_search_without_words_lists_every_actor() {
        let after = encode(&"0001#x".to_owned());
        assert_eq!(
            query(Some(" - "), None, Some(&after)).read().unwrap(),
            SearchableList::All(PageRequest {
                limit: DEFAULT_LIMIT,
                cursor: Some("0001#x".to_owned()),
            })
        );
    }

    #[test]
    fn a_search_reads_its_own_cursor_and_trims_the_text() {
        let position = SearchCursor::Words(Some(WordPosition {
            word: "keanu".into(),
            id: uuid::Uuid::now_v7(),
        }));
        let next = encode(&position);
        assert_eq!(
            query(Some(" Keanu "), Some("5"), Some(&next))
                .read()
                .unwrap(),
            SearchableList::Search {
                text: "Keanu".into(),
                page: PageRequest {
                    limit: 5,
                    cursor: Some(position),
                },
            }
        );
        let list_cursor = encode(&"0001#x".to_owned());
        assert!(
            query(Some("Keanu"), None, Some(&list_cursor))
                .read()
                .is_err()
        );
    }

    #[test]
    fn every_failing_parameter_is_listed() {
        let errors = query(Some("Keanu"), Some("0"), Some("!!"))
            .read()
            .unwrap_err();
        assert_eq!(errors.0.len(), 2);
    }
}
