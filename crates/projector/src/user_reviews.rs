//! Users' review lists: each user's reviews, most recently written first, with the movie's
//! title. A pointer item per (user, movie) remembers where the current entry sits and the
//! event that put it there; event ids are time-ordered, so an older event arriving late, or
//! the same event again, finds a pointer at least as new and changes nothing — which is why
//! this projection writes no processed-event markers.

use async_trait::async_trait;
use domain::events::{Envelope, Event, EventType};
use domain::timestamp::Micros;
use platform::consumer::Projection;
use serde::{Deserialize, Serialize};
use store::{Condition, Key, Query, Record, Store, StoreError, StoreExt, Write};
use uuid::Uuid;

use crate::decode_or_skip;

const NAME: &str = "user-reviews";

/// The most reviews a user page lists.
pub const USER_REVIEWS_MAX: usize = 100;

/// A review on a user's page.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct UserReview {
    pub movie_id: Uuid,
    pub movie_title: String,
    pub score: i64,
    pub comment: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A review in a user's list as stored: `userreviews#{user}` / `{updated_at:020}#{movie}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct UserReviewRecord {
    movie_id: Uuid,
    movie_title: String,
    score: i64,
    comment: Option<String>,
    created_at: Micros,
    updated_at: Micros,
}

impl Record for UserReviewRecord {
    const KIND: &'static str = "user's review";
}

impl UserReviewRecord {
    fn into_review(self) -> UserReview {
        UserReview {
            movie_id: self.movie_id,
            movie_title: self.movie_title,
            score: self.score,
            comment: self.comment,
            created_at: domain::timestamp::to_rfc3339(self.created_at),
            updated_at: domain::timestamp::to_rfc3339(self.updated_at),
        }
    }
}

/// Where a user's review of a movie is listed: `userreview#{user}#{movie}` / `pointer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PointerRecord {
    /// The id of the event that wrote the pointer; each write is conditional on it.
    version: Uuid,
    /// The sort key of the current entry; absent once the review is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    entry: Option<String>,
}

impl Record for PointerRecord {
    const KIND: &'static str = "user's review pointer";
}

/// The attribute a pointer write's condition names.
const VERSION: &str = "version";

fn list_partition(user_id: &Uuid) -> String {
    format!("userreviews#{user_id}")
}

fn pointer_key(user_id: &Uuid, movie_id: &Uuid) -> Key {
    Key::new(format!("userreview#{user_id}#{movie_id}"), "pointer")
}

/// Writes users' review lists.
pub struct UserReviewsProjection;

#[async_trait]
impl Projection for UserReviewsProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn event_types(&self) -> Vec<EventType> {
        vec![EventType::ReviewUpserted, EventType::ReviewDeleted]
    }

    /// The pointer already makes a repeat change nothing: it holds the id of the last event
    /// applied, every write is conditional on it, and an event not newer is ignored.
    fn marks_events(&self) -> bool {
        false
    }

    async fn plan(&self, store: &dyn Store, envelope: &Envelope) -> Result<Vec<Write>, StoreError> {
        let (user_id, movie_id) = match &envelope.event {
            Event::ReviewUpserted(review) => (review.user_id, review.movie_id),
            Event::ReviewDeleted(review) => (review.user_id, review.movie_id),
            _ => return Ok(Vec::new()),
        };
        // A pointer that does not decode fails the plan (`StoreError::Malformed`): without
        // its version, no write could be conditional on it.
        let pointer = store
            .get_record::<PointerRecord>(&pointer_key(&user_id, &movie_id))
            .await?;
        let condition = match &pointer {
            Some(p) if p.version >= envelope.id => return Ok(Vec::new()),
            Some(p) => store::attr_equals(VERSION, &p.version)?,
            None => Condition::NotExists,
        };
        let mut writes = Vec::new();
        if let Some(old_sk) = pointer.and_then(|p| p.entry) {
            writes.push(Write::delete(Key::new(list_partition(&user_id), old_sk)));
        }
        let mut new_pointer = PointerRecord {
            version: envelope.id,
            entry: None,
        };
        if let Event::ReviewUpserted(review) = &envelope.event {
            let sk = format!(
                "{}#{movie_id}",
                domain::timestamp::sort_key(review.updated_at)
            );
            let record = UserReviewRecord {
                movie_id,
                movie_title: review.movie_title.clone(),
                score: review.score,
                comment: review.comment.clone(),
                created_at: review.created_at,
                updated_at: review.updated_at,
            };
            writes.retain(|w| w.key().sk != sk);
            writes.push(Write::put(
                record.to_item(Key::new(list_partition(&user_id), sk.clone()))?,
            ));
            new_pointer.entry = Some(sk);
        }
        writes.push(Write::Put {
            item: new_pointer.to_item(pointer_key(&user_id, &movie_id))?,
            condition,
        });
        Ok(writes)
    }
}

/// A user's reviews, most recently written first.
pub async fn user_reviews(
    store: &dyn Store,
    user_id: &Uuid,
) -> Result<Vec<UserReview>, StoreError> {
    let page = store
        .query(&Query::prefix(list_partition(user_id), "", USER_REVIEWS_MAX).descending())
        .await?;
    Ok(page
        .items
        .iter()
        .filter_map(decode_or_skip::<UserReviewRecord>)
        .map(UserReviewRecord::into_review)
        .collect())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::test_support::attribute_names;

    #[test]
    fn a_pointer_names_its_version_and_leaves_out_a_missing_entry() {
        let version = Uuid::now_v7();
        let pointer = PointerRecord {
            version,
            entry: None,
        };
        let attrs = pointer.to_attrs().unwrap();
        assert_eq!(attrs.get(VERSION), Some(&json!(version.to_string())));
        assert_eq!(
            attrs.len(),
            1,
            "no entry attribute once the review is deleted"
        );
        assert_eq!(PointerRecord::from_attrs(&attrs).unwrap(), pointer);
        let listed = PointerRecord {
            version,
            entry: Some("x".into()),
        };
        assert_eq!(listed.to_attrs().unwrap().get("entry"), Some(&json!("x")));
    }

    #[test]
    fn a_users_review_keeps_its_attribute_names() {
        let attrs = UserReviewRecord {
            movie_id: Uuid::now_v7(),
            movie_title: "Heat".into(),
            score: 8,
            comment: None,
            created_at: 1,
            updated_at: 2,
        }
        .to_attrs()
        .unwrap();
        assert_eq!(
            attribute_names(&attrs),
            [
                "comment",
                "created_at",
                "movie_id",
                "movie_title",
                "score",
                "updated_at"
            ]
        );
        assert_eq!(attrs["comment"], json!(null));
    }
}
