//! Typed records: every kind of stored item is a Rust type, turned into an item's attributes
//! and back through serde in this one place, so no service, consumer or projection spells
//! attribute names to build or read an item. A record's attribute names are its serde field
//! names; the few that a condition or a counter must name are constants beside the type,
//! checked against its serde form by that type's own tests.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{Attrs, Item, Key, StoreError};

/// A type that is stored as the attributes of an item.
pub trait Record: Serialize + DeserializeOwned {
    /// What the record is called in errors ("movie", "review").
    const KIND: &'static str;

    /// The record's attributes.
    fn to_attrs(&self) -> Result<Attrs, StoreError> {
        attrs_of(self, Self::KIND)
    }

    /// The record stored in `attrs`; a stored item that does not decode is
    /// [`StoreError::Malformed`], a bug to see rather than an item to skip.
    fn from_attrs(attrs: &Attrs) -> Result<Self, StoreError> {
        Self::deserialize(attrs).map_err(|error| {
            StoreError::Malformed(format!("a stored {} does not decode: {error}", Self::KIND))
        })
    }

    /// The record of a stored item.
    fn from_item(item: &Item) -> Result<Self, StoreError> {
        Self::from_attrs(&item.attrs)
    }

    /// The item that stores this record at `key`.
    fn to_item(&self, key: Key) -> Result<Item, StoreError> {
        Ok(Item::new(key, self.to_attrs()?))
    }
}

/// The attributes of any serialisable value that is a JSON object: a record, or the part of
/// one that an update sets.
pub fn attrs_of<T: Serialize + ?Sized>(value: &T, kind: &str) -> Result<Attrs, StoreError> {
    match serde_json::to_value(value) {
        Ok(Value::Object(attrs)) => Ok(attrs),
        Ok(other) => Err(StoreError::Invalid(format!(
            "a {kind} must be stored as an object, not {other}"
        ))),
        Err(error) => Err(StoreError::Invalid(format!(
            "a {kind} does not serialise: {error}"
        ))),
    }
}

/// The condition that the stored item's `attribute` still holds `value` (serialised as the
/// record holds it), for a write conditional on what was read.
pub fn attr_equals<T: Serialize>(
    attribute: &str,
    value: &T,
) -> Result<crate::Condition, StoreError> {
    let value = serde_json::to_value(value)
        .map_err(|error| StoreError::Invalid(format!("{attribute} does not serialise: {error}")))?;
    Ok(crate::Condition::AttrEquals(attribute.to_owned(), value))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Note {
        title: String,
        #[serde(default)]
        count: i64,
        comment: Option<String>,
    }

    impl Record for Note {
        const KIND: &'static str = "note";
    }

    #[test]
    fn a_record_round_trips_through_an_item() {
        let note = Note {
            title: "a".into(),
            count: 3,
            comment: None,
        };
        let item = note.to_item(Key::new("p", "s")).unwrap();
        assert_eq!(item.str("title"), Some("a"));
        assert_eq!(item.int("count"), 3);
        assert_eq!(Note::from_item(&item).unwrap(), note);
    }

    #[test]
    fn an_item_that_does_not_decode_is_malformed() {
        let mut attrs = Attrs::new();
        attrs.insert("count".into(), Value::from(1));
        let error = Note::from_attrs(&attrs).unwrap_err();
        assert!(
            matches!(error, StoreError::Malformed(ref m) if m.contains("note")),
            "{error}"
        );
    }

    #[test]
    fn only_objects_are_records() {
        assert!(attrs_of(&3, "number").is_err());
    }
}
