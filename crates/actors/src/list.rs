//! `GET /actors` parameters: the query string as the OpenAPI document describes it, and
//! the list it asks for once checked. Without search words the list is every actor, newest
//! first; with them, the actors whose names match. The two kinds of list continue from
//! different positions, so a cursor is read as the kind the query asks for.

use domain::ValidationErrors;
use platform::pagination::{PageRequest, page_request};
use projector::search::SearchCursor;
use serde::Deserialize;

/// `GET /actors` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActorListQuery {
    /// Words that must start words of the name; case and accents ignored.
    search: Option<String>,
    /// Page size, 1..100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Which actors a list asks for, checked.
#[derive(Debug, Clone, PartialEq)]
pub enum ActorList {
    /// Every actor, newest first, after the sort key of the previous page's last one.
    All(PageRequest<String>),
    /// The actors whose names match `text`, exact matches first.
    Search {
        text: String,
        page: PageRequest<SearchCursor>,
    },
}

impl ActorListQuery {
    /// The list asked for; every failing parameter is listed.
    pub fn read(&self) -> Result<ActorList, ValidationErrors> {
        let text = self.search.as_deref().map(str::trim).unwrap_or("");
        let (limit, cursor) = (self.limit.as_deref(), self.cursor.as_deref());
        if domain::text::words(text).is_empty() {
            return Ok(ActorList::All(page_request(limit, cursor)?));
        }
        Ok(ActorList::Search {
            text: text.to_owned(),
            page: page_request(limit, cursor)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use platform::pagination::{DEFAULT_LIMIT, encode};

    use super::*;

    fn query(search: Option<&str>, limit: Option<&str>, cursor: Option<&str>) -> ActorListQuery {
        ActorListQuery {
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
            ActorList::All(PageRequest {
                limit: DEFAULT_LIMIT,
                cursor: Some("0001#x".to_owned()),
            })
        );
    }

    #[test]
    fn a_search_reads_its_own_cursor_and_trims_the_text() {
        let next = encode(&SearchCursor::Words("keanu#1".into()));
        assert_eq!(
            query(Some(" Keanu "), Some("5"), Some(&next))
                .read()
                .unwrap(),
            ActorList::Search {
                text: "Keanu".into(),
                page: PageRequest {
                    limit: 5,
                    cursor: Some(SearchCursor::Words("keanu#1".into())),
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
