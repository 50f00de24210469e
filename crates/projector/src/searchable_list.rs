//! The parameters of the lists that can be searched, `GET /movies` and `GET /actors`: the
//! query string as the OpenAPI document describes it, and the list it asks for once checked.
//! Without search words the list is every entity, newest first; with them, the entities whose
//! title or name matches. The two kinds of list continue from different positions, so a
//! cursor is read as the kind the query asks for.

use domain::ValidationErrors;
use platform::pagination::{DEFAULT_LIMIT, PageRequest, page_request};
use serde::Deserialize;

use crate::search::SearchCursor;

/// The longest search text, in characters (after trimming).
pub const SEARCH_MAX_CHARS: usize = 200;
/// The most words a search may have. Each word is looked up in the index on its own and the
/// answers intersected, so the work a search costs grows with its words; no title needs more.
pub const SEARCH_MAX_WORDS: usize = 10;

/// `GET /movies` and `GET /actors` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchableListQuery {
    /// Every word must start a word of the title (movies) or name (actors); case and
    /// accents ignored. At most 200 characters and 10 words.
    #[param(max_length = 200)]
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
        match search_text(text) {
            Ok(None) => Ok(SearchableList::All(page_request(limit, cursor)?)),
            Ok(Some(text)) => Ok(SearchableList::Search {
                text,
                page: page_request(limit, cursor)?,
            }),
            // Which kind of cursor to expect depends on the text, so only the limit is
            // checked alongside.
            Err(mut errors) => {
                if let Err(more) = platform::pagination::limit(limit, DEFAULT_LIMIT) {
                    errors.0.extend(more.0);
                }
                Err(errors)
            }
        }
    }
}

/// The words to search for (`None` when the text has none), or why the text is refused.
fn search_text(text: &str) -> Result<Option<String>, ValidationErrors> {
    // Measured before the text is folded and split, so that a long text costs nothing more.
    if text.chars().count() > SEARCH_MAX_CHARS {
        return Err(ValidationErrors::single(
            "search",
            format!("must be at most {SEARCH_MAX_CHARS} characters"),
        ));
    }
    match domain::text::words(text).len() {
        0 => Ok(None),
        n if n > SEARCH_MAX_WORDS => Err(ValidationErrors::single(
            "search",
            format!("must have at most {SEARCH_MAX_WORDS} words"),
        )),
        _ => Ok(Some(text.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use platform::pagination::encode;

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

    #[test]
    fn a_search_has_at_most_200_characters_and_10_words() {
        let ten = "a b c d e f g h i j";
        assert!(matches!(
            query(Some(ten), None, None).read(),
            Ok(SearchableList::Search { .. })
        ));
        let at_most = "x".repeat(SEARCH_MAX_CHARS);
        assert!(query(Some(&at_most), None, None).read().is_ok());
        for refused in [format!("{ten} k"), "y".repeat(SEARCH_MAX_CHARS + 1)] {
            let errors = query(Some(&refused), Some("0"), None).read().unwrap_err();
            let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(fields, ["search", "limit"], "{refused}");
        }
        // Separators alone are no words, even many of them.
        assert!(matches!(
            query(Some(&"- ".repeat(90)), None, None).read(),
            Ok(SearchableList::All(_))
        ));
    }
}
