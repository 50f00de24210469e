//! What the users service stores, as typed records: the user, and the item that claims an
//! e-mail address for one user. These are the only shapes of its items; the attribute names
//! are the serde field names and are pinned by the tests below, because stored data and
//! docs/data-model.md depend on them.

use domain::email_key;
use serde::{Deserialize, Serialize};
use store::{Key, Record};
use uuid::Uuid;

/// A user, stored at `user#{id}` / `user`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct UserRecord {
    pub id: Uuid,
    pub name: String,
    /// As given at sign-up (trimmed); uniqueness is decided on [`email_key`] of it.
    pub email: String,
    /// The argon2id PHC string; the password itself is never stored.
    pub password_hash: String,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
}

impl Record for UserRecord {
    const KIND: &'static str = "user";
}

impl UserRecord {
    /// Where the user `id` is stored.
    pub fn key(id: &Uuid) -> Key {
        platform::directory::user_record_key(id)
    }
}

/// The attributes a rename sets on a [`UserRecord`]; the rest of the user stays as it is.
#[derive(Debug, Serialize)]
pub(crate) struct UserNameChange<'a> {
    pub name: &'a str,
}

/// The claim of an e-mail address by one user, stored at `email#{lower-case address}` /
/// `email`. It is written with the user on condition that it does not exist, so an address
/// is registered once in any letter case, and it is how a login finds the user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct EmailRecord {
    pub user_id: Uuid,
}

impl Record for EmailRecord {
    const KIND: &'static str = "e-mail claim";
}

impl EmailRecord {
    /// Where the claim of `email` (in any letter case) is stored.
    pub fn key(email: &str) -> Key {
        Key::new(format!("email#{}", email_key(email)), "email")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn user() -> UserRecord {
        UserRecord {
            id: Uuid::now_v7(),
            name: "Ann".into(),
            email: "Ann@Example.com".into(),
            password_hash: "$argon2id$v=19$...".into(),
            created_at: 1_700_000_000_000_000,
        }
    }

    #[test]
    fn a_user_keeps_its_attribute_names_and_round_trips() {
        let user = user();
        let item = user.to_item(UserRecord::key(&user.id)).unwrap();
        assert_eq!(item.key, Key::new(format!("user#{}", user.id), "user"));
        assert_eq!(
            Value::Object(item.attrs.clone()),
            json!({
                "id": user.id.to_string(),
                "name": "Ann",
                "email": "Ann@Example.com",
                "password_hash": "$argon2id$v=19$...",
                "created_at": 1_700_000_000_000_000_i64,
            })
        );
        assert_eq!(UserRecord::from_item(&item).unwrap(), user);
    }

    #[test]
    fn a_rename_sets_the_users_name_attribute() {
        let set = store::attrs_of(&UserNameChange { name: "Bo" }, UserRecord::KIND).unwrap();
        assert_eq!(Value::Object(set.clone()), json!({ "name": "Bo" }));
        let mut renamed = user();
        renamed.name = "Bo".into();
        let renamed = renamed.to_attrs().unwrap();
        assert!(
            set.iter()
                .all(|(name, value)| renamed.get(name) == Some(value))
        );
    }

    #[test]
    fn an_email_claim_is_keyed_by_the_lower_case_address() {
        let claim = EmailRecord {
            user_id: Uuid::now_v7(),
        };
        let item = claim.to_item(EmailRecord::key(" Ann@Example.COM")).unwrap();
        assert_eq!(item.key, Key::new("email#ann@example.com", "email"));
        assert_eq!(
            Value::Object(item.attrs.clone()),
            json!({ "user_id": claim.user_id.to_string() })
        );
        assert_eq!(EmailRecord::from_item(&item).unwrap(), claim);
    }
}
