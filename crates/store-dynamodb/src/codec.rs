//! How items are laid out in the table and how JSON values become attribute values.
//!
//! The key parts are the string attributes `pk` and `sk`. The JSON attributes are stored as
//! top-level attributes under their own names, because DynamoDB's `ADD` (the atomic
//! counter) only works on top-level attributes and `SET` cannot create a path inside a map
//! that does not exist yet, so one map attribute holding all of them would break updates.
//! Names that cannot be stored as they are get a `~` in front: `pk` and `sk` (the port lets
//! an item carry attributes of those names, and they must not overwrite the key), the empty
//! name (DynamoDB refuses it), and, so the mapping can be undone, every name that already
//! starts with `~`. Nested object keys follow the same rule, less the key names.
//!
//! JSON numbers are DynamoDB numbers (N), strings S, booleans BOOL, null NULL, arrays L and
//! objects M. DynamoDB keeps numbers as decimals of up to 38 digits, so integers of i64 and
//! u64 and the shortest decimal of every f64 in its range survive exactly. It drops trailing
//! zeros, though: a float holding a whole number (`2.0`) reads back as the integer `2`, and
//! a float outside 1e-130..1e126 in magnitude is refused.

use std::borrow::Cow;
use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Map, Number, Value};
use store::{Attrs, EXPIRES_AT, Item, Key, StoreError};

/// The partition key attribute.
pub(crate) const PK: &str = "pk";
/// The sort key attribute.
pub(crate) const SK: &str = "sk";
/// DynamoDB's limits on the key parts, in UTF-8 bytes. Longer keys can hold no item.
pub(crate) const MAX_PK_BYTES: usize = 2048;
pub(crate) const MAX_SK_BYTES: usize = 1024;

const ESCAPE: char = '~';

/// A stored item as the SDK hands it over.
pub(crate) type Stored = HashMap<String, AttributeValue>;

/// Whether an item could have this key; reads of other keys find nothing without asking,
/// since DynamoDB would refuse them rather than answer "missing".
pub(crate) fn key_can_exist(key: &Key) -> bool {
    !key.pk.is_empty()
        && !key.sk.is_empty()
        && key.pk.len() <= MAX_PK_BYTES
        && key.sk.len() <= MAX_SK_BYTES
}

/// The stored name of a top-level attribute.
pub(crate) fn attribute_name(name: &str) -> Cow<'_, str> {
    if name == PK || name == SK {
        Cow::Owned(format!("{ESCAPE}{name}"))
    } else {
        nested_name(name)
    }
}

/// The stored name of a key inside an object.
fn nested_name(name: &str) -> Cow<'_, str> {
    if name.is_empty() || name.starts_with(ESCAPE) {
        Cow::Owned(format!("{ESCAPE}{name}"))
    } else {
        Cow::Borrowed(name)
    }
}

/// The JSON name of a stored attribute or object key.
fn json_name(mut stored: String) -> String {
    if stored.starts_with(ESCAPE) {
        stored.remove(0);
    }
    stored
}

/// The attribute value of a JSON value.
pub(crate) fn attribute_value(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        // serde_json writes integers in full and floats as their shortest round-tripping
        // decimal, both of which DynamoDB parses exactly.
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(items) => AttributeValue::L(items.iter().map(attribute_value).collect()),
        Value::Object(map) => AttributeValue::M(
            map.iter()
                .map(|(name, value)| (nested_name(name).into_owned(), attribute_value(value)))
                .collect(),
        ),
    }
}

/// The key attributes of an item.
pub(crate) fn key(key: &Key) -> Stored {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(key.pk.clone())),
        (SK.to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

/// The whole stored item.
pub(crate) fn item(key_of: &Key, attrs: &Attrs) -> Stored {
    let mut stored = key(key_of);
    stored.extend(
        attrs
            .iter()
            .map(|(name, value)| (attribute_name(name).into_owned(), attribute_value(value))),
    );
    stored
}

/// Whether a stored item has expired at `now` (epoch seconds) and is to be left out: DynamoDB
/// deletes expired items only some time after (`store::EXPIRES_AT`, stored under its own
/// name, is the table's time-to-live attribute).
pub(crate) fn expired(stored: &Stored, now: i64) -> bool {
    let expires_at = match stored.get(EXPIRES_AT) {
        Some(AttributeValue::N(n)) => n.parse().ok(),
        _ => None,
    };
    store::expired(expires_at, now)
}

/// The sort key of a stored item, if it has one.
pub(crate) fn sort_key(stored: &Stored) -> Option<&str> {
    match stored.get(SK) {
        Some(AttributeValue::S(sk)) => Some(sk),
        _ => None,
    }
}

/// An item read back from the table.
pub(crate) fn from_stored(mut stored: Stored) -> Result<Item, StoreError> {
    let mut key_part = |name: &str| match stored.remove(name) {
        Some(AttributeValue::S(value)) => Ok(value),
        _ => Err(unreadable(format!("an item without a string {name:?}"))),
    };
    let key = Key::new(key_part(PK)?, key_part(SK)?);
    let attrs = object(stored)?;
    Ok(Item::new(key, attrs))
}

fn object(stored: HashMap<String, AttributeValue>) -> Result<Attrs, StoreError> {
    let mut map = Map::new();
    for (name, value) in stored {
        map.insert(json_name(name), json_value(value)?);
    }
    Ok(map)
}

/// The JSON value of an attribute value.
fn json_value(value: AttributeValue) -> Result<Value, StoreError> {
    Ok(match value {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(b),
        AttributeValue::N(n) => Value::Number(number(&n)?),
        AttributeValue::S(s) => Value::String(s),
        AttributeValue::L(items) => Value::Array(
            items
                .into_iter()
                .map(json_value)
                .collect::<Result<_, _>>()?,
        ),
        AttributeValue::M(map) => Value::Object(object(map)?),
        // The adapter never writes sets; another writer's sets read as arrays, which is
        // what they would be in JSON.
        AttributeValue::Ss(strings) => {
            Value::Array(strings.into_iter().map(Value::String).collect())
        }
        AttributeValue::Ns(numbers) => Value::Array(
            numbers
                .iter()
                .map(|n| number(n).map(Value::Number))
                .collect::<Result<_, _>>()?,
        ),
        other => {
            return Err(unreadable(format!(
                "an attribute of a type JSON cannot hold: {other:?}"
            )));
        }
    })
}

/// A DynamoDB number as JSON: an integer when it is one that fits i64 or u64, else the
/// nearest f64 (Rust's parser rounds correctly, so a stored f64 comes back bit for bit).
fn number(text: &str) -> Result<Number, StoreError> {
    if let Ok(int) = text.parse::<i64>() {
        return Ok(Number::from(int));
    }
    if let Ok(int) = text.parse::<u64>() {
        return Ok(Number::from(int));
    }
    text.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .ok_or_else(|| unreadable(format!("the number {text:?}")))
}

fn unreadable(what: String) -> StoreError {
    StoreError::Unavailable(format!(
        "the table holds {what}, which the store cannot read"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(value: Value) -> Value {
        json_value(attribute_value(&value)).expect("decodes")
    }

    #[test]
    fn names_that_clash_or_cannot_be_stored_are_escaped_reversibly() {
        let names = ["pk", "sk", "", "~", "~pk", "title", "p", "a~b", "~~"];
        let mut stored: Vec<String> = names
            .iter()
            .map(|name| attribute_name(name).into_owned())
            .collect();
        assert_eq!(
            stored,
            ["~pk", "~sk", "~", "~~", "~~pk", "title", "p", "a~b", "~~~"]
        );
        for (name, stored) in names.iter().zip(&stored) {
            assert_eq!(&json_name(stored.clone()), name);
        }
        stored.sort();
        stored.dedup();
        assert_eq!(
            stored.len(),
            names.len(),
            "no two names share a stored name"
        );
        assert_eq!(nested_name("pk"), "pk", "only the top level holds the key");
        assert_eq!(nested_name(""), "~");
    }

    #[test]
    fn items_keep_their_key_apart_from_attributes_of_the_same_name() {
        let key = Key::new("movie#1", "meta");
        let attrs = json!({"pk": "other", "sk": "x", "": {"": 1}, "~t": [null]});
        let attrs = attrs.as_object().cloned().expect("an object");
        let stored = item(&key, &attrs);
        assert_eq!(stored.get(PK), Some(&AttributeValue::S("movie#1".into())));
        assert_eq!(sort_key(&stored), Some("meta"));
        assert_eq!(from_stored(stored), Ok(Item::new(key, attrs)));
    }

    #[test]
    fn json_values_round_trip() {
        for value in [
            json!(null),
            json!(true),
            json!(""),
            json!("Amélie 🎬"),
            json!(0),
            json!(-42),
            json!(i64::MIN),
            json!(u64::MAX),
            json!(9_007_199_254_740_993_i64),
            json!(4.25),
            json!(0.30000000000000004),
            json!(-1.5e-7),
            json!(1e125),
            json!([1, "x", null, [], {}]),
            json!({"a": {"b": [1.5, {"c": false}]}}),
        ] {
            assert_eq!(round_trip(value.clone()), value);
        }
    }

    #[test]
    fn numbers_read_as_dynamodb_writes_them_back() {
        // DynamoDB answers with plain decimals, without trailing zeros or exponents.
        let n = |text: &str| number(text).expect("a number");
        assert_eq!(n("1"), Number::from(1));
        assert_eq!(n("-9223372036854775808"), Number::from(i64::MIN));
        assert_eq!(n("18446744073709551615"), Number::from(u64::MAX));
        assert_eq!(Number::from_f64(1e20), Some(n("100000000000000000000")));
        assert_eq!(Number::from_f64(1.5e-7), Some(n("0.00000015")));
        assert!(number("NaN").is_err());
    }

    #[test]
    fn sets_written_by_others_read_as_arrays() {
        let value = AttributeValue::Ns(vec!["1".into(), "2.5".into()]);
        assert_eq!(json_value(value), Ok(json!([1, 2.5])));
        let value = AttributeValue::Ss(vec!["a".into()]);
        assert_eq!(json_value(value), Ok(json!(["a"])));
    }
}
