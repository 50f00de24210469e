//! Page parameters (`limit`, `cursor`) and opaque cursors. A cursor is the position after
//! which the next page starts, encoded as base64url JSON; it is validated on the way in,
//! and a cursor that does not decode is a 422 naming `cursor`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::ValidationErrors;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A page of a list as every list endpoint returns it (and the OpenAPI document describes).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PageOf<T> {
    pub items: Vec<T>,
    /// Where the next page starts; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> PageOf<T> {
    /// A page whose next position, if any, is given out as an opaque cursor.
    pub fn new<C: Serialize>(items: Vec<T>, next: Option<C>) -> Self {
        PageOf {
            items,
            next_cursor: next.as_ref().map(encode),
        }
    }
}

/// The requested page size and, on later pages, the decoded position.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRequest<C> {
    pub limit: usize,
    pub cursor: Option<C>,
}

/// The default and largest page size of paginated lists.
pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 100;

/// The query of a list that takes only the page parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1..100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageParams {
    /// The checked page request.
    pub fn read<C: DeserializeOwned>(&self) -> Result<PageRequest<C>, ValidationErrors> {
        page_request(self.limit.as_deref(), self.cursor.as_deref())
    }
}

/// Checks a `limit` parameter: 1..=100, `default` when absent.
pub fn limit(text: Option<&str>, default: usize) -> Result<usize, ValidationErrors> {
    match text {
        None => Ok(default),
        Some(text) => match text.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(ValidationErrors::single(
                "limit",
                format!("must be an integer from 1 to {MAX_LIMIT}"),
            )),
        },
    }
}

/// Checks `limit` (default [`DEFAULT_LIMIT`]) and `cursor` (empty means none) together.
pub fn page_request<C: DeserializeOwned>(
    limit_text: Option<&str>,
    cursor_text: Option<&str>,
) -> Result<PageRequest<C>, ValidationErrors> {
    let cursor = match cursor_text.filter(|c| !c.is_empty()) {
        None => Ok(None),
        Some(text) => decode(text).map(Some),
    };
    let (limit, cursor) = ValidationErrors::join(limit(limit_text, DEFAULT_LIMIT), cursor)?;
    Ok(PageRequest { limit, cursor })
}

/// Encodes a position as an opaque cursor.
pub fn encode<C: Serialize>(position: &C) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(position).unwrap_or_default())
}

/// Decodes a cursor made by [`encode`].
pub fn decode<C: DeserializeOwned>(cursor: &str) -> Result<C, ValidationErrors> {
    let bad = || ValidationErrors::single("cursor", "is not a cursor this list gave out");
    let bytes = URL_SAFE_NO_PAD.decode(cursor.trim()).map_err(|_| bad())?;
    serde_json::from_slice(&bytes).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(limit: Option<&str>, cursor: Option<&str>) -> PageParams {
        PageParams {
            limit: limit.map(str::to_owned),
            cursor: cursor.map(str::to_owned),
        }
    }

    #[test]
    fn limit_is_checked() {
        assert_eq!(limit(None, 20).unwrap(), 20);
        assert_eq!(limit(Some("100"), 20).unwrap(), 100);
        for bad in ["0", "101", "-1", "x", ""] {
            assert!(limit(Some(bad), 20).is_err(), "{bad}");
        }
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = encode(&("k".to_owned(), 3));
        let request: PageRequest<(String, i32)> = params(None, Some(&cursor)).read().unwrap();
        assert_eq!(request.cursor, Some(("k".to_owned(), 3)));
        assert_eq!(request.limit, DEFAULT_LIMIT);
        assert!(params(None, Some("!!!")).read::<(String, i32)>().is_err());
        let both = params(Some("0"), Some("!!!")).read::<String>().unwrap_err();
        assert_eq!(both.0.len(), 2);
    }
}

/// Property tests of the page parameters a client sends: any `limit` and `cursor` text is
/// answered without a panic, a refusal names `limit` or `cursor`, and a cursor given out
/// reads back as the position it encodes.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_page_parameters_are_read_or_refused_by_name(
            limit in proptest::option::of("[-+ 0-9a-z]{0,5}|\\PC{0,6}"),
            cursor in proptest::option::of("[A-Za-z0-9_-]{0,16}|\\PC{0,16}"),
        ) {
            match page_request::<(String, i64)>(limit.as_deref(), cursor.as_deref()) {
                Ok(page) => prop_assert!((1..=MAX_LIMIT).contains(&page.limit)),
                Err(ValidationErrors(errors)) => {
                    prop_assert!(!errors.is_empty());
                    for error in errors {
                        prop_assert!(error.field == "limit" || error.field == "cursor", "{:?}", error);
                    }
                }
            }
        }

        #[test]
        fn a_cursor_given_out_reads_back_as_its_position(key in "\\PC{0,20}", n in any::<i64>()) {
            let cursor = encode(&(key.clone(), n));
            let page: PageRequest<(String, i64)> = page_request(None, Some(&cursor)).unwrap();
            prop_assert_eq!(page.cursor, Some((key, n)));
        }
    }
}
