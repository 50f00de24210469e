//! What the actors service stores, as a typed record: the actor. The attribute names are
//! the serde field names and are pinned by the test below, because stored data and
//! docs/data-model.md depend on them.

use serde::{Deserialize, Serialize};
use store::{Key, Record};
use uuid::Uuid;

/// An actor, stored at `actor#{id}` / `actor`. Absent optional facts are stored as null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ActorRecord {
    pub id: Uuid,
    pub name: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    pub bio: Option<String>,
    pub thumbnail_url: Option<String>,
    pub pictures: Vec<String>,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
}

impl Record for ActorRecord {
    const KIND: &'static str = "actor";
}

impl ActorRecord {
    /// Where the actor `id` is stored.
    pub fn key(id: &Uuid) -> Key {
        platform::directory::actor_record_key(id)
    }

    /// Where the actor's photo is recorded (a `pictures::PictureRecord`), beside the actor.
    pub fn photo_key(id: &Uuid) -> Key {
        Key::new(format!("actor#{id}"), "photo")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn an_actor_keeps_its_attribute_names_and_round_trips() {
        let actor = ActorRecord {
            id: Uuid::now_v7(),
            name: "Keanu Reeves".into(),
            date_of_birth: Some("1964-09-02".into()),
            bio: None,
            thumbnail_url: None,
            pictures: vec!["https://example.com/k.jpg".into()],
            created_at: 1_700_000_000_000_000,
        };
        let item = actor.to_item(ActorRecord::key(&actor.id)).unwrap();
        assert_eq!(item.key, Key::new(format!("actor#{}", actor.id), "actor"));
        assert_eq!(
            Value::Object(item.attrs.clone()),
            json!({
                "id": actor.id.to_string(),
                "name": "Keanu Reeves",
                "date_of_birth": "1964-09-02",
                "bio": null,
                "thumbnail_url": null,
                "pictures": ["https://example.com/k.jpg"],
                "created_at": 1_700_000_000_000_000_i64,
            })
        );
        assert_eq!(ActorRecord::from_item(&item).unwrap(), actor);
    }
}
