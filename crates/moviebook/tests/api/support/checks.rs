//! What tests compare answers with: the score the contract expects, the formats of ids and
//! timestamps, and the id lists of list answers (scoped to a test's own items, free of
//! duplicates).

use std::collections::HashSet;

use serde_json::{Value, json};

/// The score the contract expects: the exact mean rounded half away from zero to two
/// decimals, `None` without reviews (integer arithmetic, so 6.125 really is 6.13).
pub fn expected_score(scores: &[i64]) -> Option<f64> {
    if scores.is_empty() {
        return None;
    }
    let sum: i64 = scores.iter().sum();
    let count = scores.len() as i64;
    let hundredths = (200 * sum + count) / (2 * count);
    Some(hundredths as f64 / 100.0)
}

/// The JSON value of an expected score (`null` without reviews).
pub fn score_json(scores: &[i64]) -> Value {
    match expected_score(scores) {
        Some(score) => json!(score),
        None => Value::Null,
    }
}

/// True when `actual` and `expected` are the same score (numbers compared as f64, null as null).
pub fn same_score(actual: &Value, expected: &Value) -> bool {
    match (actual.as_f64(), expected.as_f64()) {
        (Some(a), Some(b)) => a == b,
        _ => actual.is_null() && expected.is_null(),
    }
}

/// Asserts that `value` is a UUID string of version 7.
pub fn assert_uuid_v7(value: &Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("id is not a string: {value}"));
    let id =
        uuid::Uuid::parse_str(text).unwrap_or_else(|e| panic!("id {text:?} is not a UUID: {e}"));
    assert_eq!(id.get_version_num(), 7, "id {text} is not a v7 UUID");
}

/// Asserts that `value` is an RFC 3339 UTC timestamp like `2026-11-25T17:00:00Z`
/// (fractional seconds allowed).
pub fn assert_timestamp(value: &Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("timestamp is not a string: {value}"));
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        range
            .into_iter()
            .all(|i| b.get(i).is_some_and(u8::is_ascii_digit))
    };
    let ok = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && text.ends_with('Z')
        && (b.len() == 20 || (b[19] == b'.' && b.len() > 21 && digits(20..b.len() - 1)));
    assert!(
        ok,
        "{text:?} is not an RFC 3339 UTC timestamp (YYYY-MM-DDTHH:MM:SS[.f]Z)"
    );
}

/// The ids of a list of JSON objects.
pub fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|item| {
            item["id"]
                .as_str()
                .unwrap_or_else(|| panic!("item without id: {item}"))
                .to_owned()
        })
        .collect()
}

/// Keeps only the values in `wanted`, in the order of `all`.
pub fn only<'a>(all: &[String], wanted: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let wanted: HashSet<&String> = wanted.into_iter().collect();
    all.iter()
        .filter(|id| wanted.contains(id))
        .cloned()
        .collect()
}

/// Asserts that a list has no duplicate.
pub fn assert_no_duplicates(list: &[String], what: &str) {
    let mut seen = HashSet::new();
    for item in list {
        assert!(
            seen.insert(item),
            "{what}: {item} appears more than once in {list:?}"
        );
    }
}

/// The elements of a JSON array; none when `value` is not an array (e.g. a missing field).
pub fn array(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or_default()
}

/// The string `field` of each item, in order (`""` where an item has none).
pub fn texts(items: &[Value], field: &str) -> Vec<String> {
    items
        .iter()
        .map(|item| item[field].as_str().unwrap_or_default().to_owned())
        .collect()
}
