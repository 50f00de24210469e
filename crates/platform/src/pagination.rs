//! Page parameters (`limit`, `cursor`) and opaque cursors. A cursor is the position after
//! which the next page starts, encoded as base64url JSON; it is validated on the way in,
//! and a cursor that does not decode is a 422 naming `cursor`.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// A page of a list as every list endpoint returns it.
#[derive(Debug, Serialize)]
pub struct PageOf<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
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

/// Reads `limit` (1..=100, default `default`) from the query string; 422 when out of range.
pub fn limit(params: &HashMap<String, String>, default: usize) -> Result<usize, ApiError> {
    match params.get("limit") {
        None => Ok(default),
        Some(text) => match text.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid(
                "limit",
                format!("must be an integer from 1 to {MAX_LIMIT}"),
            )),
        },
    }
}

/// Reads `limit` and `cursor`.
pub fn page_request<C: DeserializeOwned>(
    params: &HashMap<String, String>,
) -> Result<PageRequest<C>, ApiError> {
    let limit = limit(params, DEFAULT_LIMIT);
    let cursor = match params.get("cursor").filter(|c| !c.is_empty()) {
        None => Ok(None),
        Some(text) => decode(text).map(Some),
    };
    match (limit, cursor) {
        (Ok(limit), Ok(cursor)) => Ok(PageRequest { limit, cursor }),
        (Err(ApiError::Validation(mut a)), Err(ApiError::Validation(b))) => {
            a.0.extend(b.0);
            Err(ApiError::Validation(a))
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}

/// Encodes a position as an opaque cursor.
pub fn encode<C: Serialize>(position: &C) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(position).unwrap_or_default())
}

/// Decodes a cursor made by [`encode`].
pub fn decode<C: DeserializeOwned>(cursor: &str) -> Result<C, ApiError> {
    let bad = || ApiError::invalid("cursor", "is not a cursor this list gave out");
    let bytes = URL_SAFE_NO_PAD.decode(cursor.trim()).map_err(|_| bad())?;
    serde_json::from_slice(&bytes).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn limit_is_checked() {
        assert_eq!(limit(&params(&[]), 20).unwrap(), 20);
        assert_eq!(limit(&params(&[("limit", "100")]), 20).unwrap(), 100);
        for bad in ["0", "101", "-1", "x", ""] {
            assert!(limit(&params(&[("limit", bad)]), 20).is_err(), "{bad}");
        }
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = encode(&("k".to_owned(), 3));
        let request: PageRequest<(String, i32)> =
            page_request(&params(&[("cursor", &cursor)])).unwrap();
        assert_eq!(request.cursor, Some(("k".to_owned(), 3)));
        assert!(page_request::<(String, i32)>(&params(&[("cursor", "!!!")])).is_err());
        let both =
            page_request::<String>(&params(&[("cursor", "!!!"), ("limit", "0")])).unwrap_err();
        match both {
            ApiError::Validation(errors) => assert_eq!(errors.0.len(), 2),
            other => panic!("{other:?}"),
        }
    }
}
