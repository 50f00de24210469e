//! Users' review lists: each user's reviews, most recently written first, with the movie's
//! title as the review event carried it.

use domain::timestamp::Micros;
use serde::{Deserialize, Serialize};
use store::{Key, Query, Record, Store, StoreError};
use uuid::Uuid;

use crate::decode_or_skip;

/// The most reviews a user page lists.
const USER_REVIEWS_MAX: usize = 100;

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
pub(super) struct UserReviewRecord {
    pub movie_id: Uuid,
    pub movie_title: String,
    pub score: i64,
    pub comment: Option<String>,
    pub created_at: Micros,
    pub updated_at: Micros,
}

impl Record for UserReviewRecord {
    const KIND: &'static str = "user's review";
}

impl UserReviewRecord {
    /// Where this review sits in its author's list: the sort key under [`entry_key`].
    pub fn sort_key(&self) -> String {
        format!(
            "{}#{}",
            domain::timestamp::sort_key(self.updated_at),
            self.movie_id
        )
    }

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

fn list_partition(user_id: &Uuid) -> String {
    format!("userreviews#{user_id}")
}

/// The key of the entry at `sort_key` in `user_id`'s list.
pub(super) fn entry_key(user_id: &Uuid, sort_key: &str) -> Key {
    Key::new(list_partition(user_id), sort_key)
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
    fn a_users_review_keeps_its_attribute_names_and_sorts_by_time_then_movie() {
        let movie_id = Uuid::now_v7();
        let record = UserReviewRecord {
            movie_id,
            movie_title: "Heat".into(),
            score: 8,
            comment: None,
            created_at: 1,
            updated_at: 2,
        };
        let attrs = record.to_attrs().unwrap();
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
        assert_eq!(
            record.sort_key(),
            format!("{}#{movie_id}", domain::timestamp::sort_key(2))
        );
    }
}
