//! The rules of a review.

use serde_json::Value;

use crate::input::{Fields, RequestBody, ValidationErrors};

pub const COMMENT_MAX: usize = 5000;

/// A review score: an integer 1..=10.
pub type ReviewScore = i64;

/// A validated `POST /movies/{id}/reviews` body.
#[derive(Debug, Clone, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReview {
    /// An integer 1..10.
    #[schema(minimum = 1, maximum = 10)]
    pub score: ReviewScore,
    /// 0..5000 characters; absent when the reviewer wrote none.
    #[schema(max_length = 5000)]
    pub comment: Option<String>,
}

impl RequestBody for NewReview {
    fn parse(body: &Value) -> Result<Self, ValidationErrors> {
        let mut f = Fields::of::<NewReview>(body);
        let score = f.integer("score", 1..=10);
        let comment = f.optional_text("comment", COMMENT_MAX);
        f.finish(|| {
            Some(NewReview {
                score: score?,
                comment,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn score_is_an_integer_from_one_to_ten() {
        assert!(NewReview::parse(&json!({"score": 0})).is_err());
        assert!(NewReview::parse(&json!({"score": 7.5})).is_err());
        assert!(NewReview::parse(&json!({"score": 11})).is_err());
        assert_eq!(
            NewReview::parse(&json!({"score": 10})).unwrap().comment,
            None
        );
    }
}
