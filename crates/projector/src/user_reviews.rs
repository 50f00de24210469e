//! Users' review lists: each user's reviews, most recently written first, with the movie's
//! title. A pointer item per (user, movie) remembers where the current entry sits and the
//! event that put it there; event ids are time-ordered, so an older event arriving late
//! finds a newer pointer and changes nothing.

use async_trait::async_trait;
use domain::events::{Envelope, Event, EventType};
use platform::consumer::Projection;
use serde::Serialize;
use serde_json::{Map, json};
use store::{Condition, Item, Key, Query, Store, StoreError, Write};
use uuid::Uuid;

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

    async fn plan(&self, store: &dyn Store, envelope: &Envelope) -> Result<Vec<Write>, StoreError> {
        let (user_id, movie_id) = match &envelope.event {
            Event::ReviewUpserted(review) => (review.user_id, review.movie_id),
            Event::ReviewDeleted(review) => (review.user_id, review.movie_id),
            _ => return Ok(Vec::new()),
        };
        let version = envelope.id.to_string();
        let pointer = store.get(&pointer_key(&user_id, &movie_id)).await?;
        let condition = match &pointer {
            Some(p) if p.str("version").is_some_and(|v| v >= version.as_str()) => {
                return Ok(Vec::new());
            }
            Some(p) => Condition::AttrEquals("version".into(), json!(p.str("version"))),
            None => Condition::NotExists,
        };
        let mut writes = Vec::new();
        if let Some(old_sk) = pointer.as_ref().and_then(|p| p.str("entry")) {
            writes.push(Write::delete(Key::new(list_partition(&user_id), old_sk)));
        }
        let mut pointer_attrs = Map::new();
        pointer_attrs.insert("version".into(), json!(version));
        if let Event::ReviewUpserted(review) = &envelope.event {
            let sk = format!(
                "{}#{movie_id}",
                domain::timestamp::sort_key(review.updated_at)
            );
            let mut attrs = Map::new();
            attrs.insert("movie_id".into(), json!(movie_id));
            attrs.insert("movie_title".into(), json!(review.movie_title));
            attrs.insert("score".into(), json!(review.score));
            attrs.insert("comment".into(), json!(review.comment));
            attrs.insert("created_at".into(), json!(review.created_at));
            attrs.insert("updated_at".into(), json!(review.updated_at));
            writes.retain(|w| w.key().sk != sk);
            writes.push(Write::put(Item::new(
                Key::new(list_partition(&user_id), sk.clone()),
                attrs,
            )));
            pointer_attrs.insert("entry".into(), json!(sk));
        }
        writes.push(Write::Put {
            item: Item::new(pointer_key(&user_id, &movie_id), pointer_attrs),
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
        .filter_map(|item| {
            Some(UserReview {
                movie_id: item.str("movie_id")?.parse().ok()?,
                movie_title: item.str("movie_title")?.to_owned(),
                score: item.int("score"),
                comment: item.str("comment").map(str::to_owned),
                created_at: domain::timestamp::to_rfc3339(item.int("created_at")),
                updated_at: domain::timestamp::to_rfc3339(item.int("updated_at")),
            })
        })
        .collect())
}
