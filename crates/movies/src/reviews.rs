//! Writing, deleting and reading reviews. A movie has at most one review per user. Each
//! write is one transaction over the review, its two index items, the reviewer's name copy
//! and the outbox, conditional on what it read, and is made again if something changed
//! in between (a concurrent write of the same review, a rename, the movie's deletion).

use domain::NewReview;
use domain::events::{Envelope, Event, ReviewDeleted, ReviewUpserted};
use platform::ApiError;
use platform::auth::Principal;
use serde::Serialize;
use serde_json::{Map, json};
use store::{Condition, Item, Key, Query, Store, StoreError, Write};
use uuid::Uuid;

use crate::MoviesService;
use crate::keys;

/// How often a write whose reads went stale is made again before giving up with 503.
const ATTEMPTS: usize = 20;

/// A review as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReviewView {
    pub movie_id: Uuid,
    pub user_id: Uuid,
    pub user_name: String,
    pub score: i64,
    pub comment: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// Whether a review write created or replaced the review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Created,
    Replaced,
}

pub(crate) fn to_review_view(item: &Item) -> Option<ReviewView> {
    Some(ReviewView {
        movie_id: item.str("movie_id")?.parse().ok()?,
        user_id: item.str("user_id")?.parse().ok()?,
        user_name: item.str("user_name")?.to_owned(),
        score: item.int("score"),
        comment: item.str("comment").map(str::to_owned),
        created_at: domain::timestamp::to_rfc3339(item.int("created_at")),
        updated_at: domain::timestamp::to_rfc3339(item.int("updated_at")),
    })
}

/// The condition that the item is as it was read (or still absent).
fn unchanged(read: Option<&Item>, attribute: &str) -> Condition {
    match read.and_then(|i| i.get(attribute)) {
        Some(value) => Condition::AttrEquals(attribute.into(), value.clone()),
        None if read.is_some() => Condition::Exists,
        None => Condition::NotExists,
    }
}

/// A page of a movie's reviews, most recently written first; the cursor is the last index key.
pub(crate) async fn recent_reviews(
    store: &dyn Store,
    movie_id: &Uuid,
    after: Option<String>,
    limit: usize,
) -> Result<(Vec<ReviewView>, Option<String>), ApiError> {
    let page = store
        .query(
            &Query::prefix(keys::recent_partition(movie_id), "", limit)
                .descending()
                .after(after),
        )
        .await?;
    let keys: Vec<Key> = page
        .items
        .iter()
        .filter_map(|i| i.str("user_id")?.parse::<Uuid>().ok())
        .map(|user| keys::review(movie_id, &user))
        .collect();
    let reviews = if keys.is_empty() {
        Vec::new()
    } else {
        store.batch_get(&keys).await?
    };
    let views = reviews
        .iter()
        .flatten()
        .filter_map(to_review_view)
        .collect();
    let cursor = if page.more {
        page.items.last().map(|i| i.key.sk.clone())
    } else {
        None
    };
    Ok((views, cursor))
}

impl MoviesService {
    /// Writes or replaces the principal's review of a movie.
    pub async fn upsert_review(
        &self,
        movie_id: &Uuid,
        by: Principal,
        review: NewReview,
    ) -> Result<(ReviewView, Written), ApiError> {
        let Principal::User(user_id) = by else {
            return Err(ApiError::Forbidden(
                "reviews are written by users; the admin has no review of its own",
            ));
        };
        for _ in 0..ATTEMPTS {
            let movie = self.movie_item(movie_id).await?;
            let existing = self.store().get(&keys::review(movie_id, &user_id)).await?;
            let profile = self.store().get(&keys::reviewer_profile(&user_id)).await?;
            let (user_name, name_version, profile_write) = match &profile {
                Some(p) if p.get("deleted").is_some() => {
                    return Err(ApiError::Unauthenticated(
                        "the token's user no longer exists",
                    ));
                }
                Some(p) => (
                    p.str("name").unwrap_or_default().to_owned(),
                    p.str("version").unwrap_or_default().to_owned(),
                    Write::Check {
                        key: keys::reviewer_profile(&user_id),
                        condition: unchanged(Some(p), "version"),
                    },
                ),
                None => {
                    let user = self
                        .users
                        .user(user_id)
                        .await?
                        .ok_or(ApiError::Unauthenticated(
                            "the token's user no longer exists",
                        ))?;
                    let mut attrs = Map::new();
                    attrs.insert("name".into(), json!(user.name));
                    // The empty version is older than any rename event's id.
                    attrs.insert("version".into(), json!(""));
                    let write = Write::Put {
                        item: Item::new(keys::reviewer_profile(&user_id), attrs),
                        condition: Condition::NotExists,
                    };
                    (user.name, String::new(), write)
                }
            };
            let now = domain::timestamp::now_micros();
            let created_at = existing.as_ref().map_or(now, |e| e.int("created_at"));
            let previous_score = existing.as_ref().map(|e| e.int("score"));
            let event = Envelope::new(Event::ReviewUpserted(ReviewUpserted {
                movie_id: *movie_id,
                movie_title: movie.str("title").unwrap_or_default().to_owned(),
                user_id,
                score: review.score,
                previous_score,
                comment: review.comment.clone(),
                created_at,
                updated_at: now,
            }));
            let mut attrs = Map::new();
            attrs.insert("movie_id".into(), json!(movie_id));
            attrs.insert("user_id".into(), json!(user_id));
            attrs.insert("user_name".into(), json!(user_name));
            attrs.insert("name_version".into(), json!(name_version));
            attrs.insert("score".into(), json!(review.score));
            attrs.insert("comment".into(), json!(review.comment));
            attrs.insert("created_at".into(), json!(created_at));
            attrs.insert("updated_at".into(), json!(now));
            attrs.insert("revision".into(), json!(event.id));
            let item = Item::new(keys::review(movie_id, &user_id), attrs);
            let view =
                to_review_view(&item).ok_or_else(|| ApiError::Internal("review item".into()))?;
            let mut index = Map::new();
            index.insert("user_id".into(), json!(user_id));
            let mut writes = vec![
                Write::Check {
                    key: keys::movie(movie_id),
                    condition: Condition::Exists,
                },
                Write::Put {
                    item,
                    condition: unchanged(existing.as_ref(), "revision"),
                },
                Write::put(Item::new(keys::recent(movie_id, now, &user_id), index)),
                profile_write,
            ];
            match &existing {
                Some(old) if old.int("updated_at") != now => {
                    writes.push(Write::delete(keys::recent(
                        movie_id,
                        old.int("updated_at"),
                        &user_id,
                    )));
                }
                Some(_) => {}
                None => {
                    let mut reviewed = Map::new();
                    reviewed.insert("movie_id".into(), json!(movie_id));
                    writes.push(Write::put(Item::new(
                        keys::reviewed(&user_id, movie_id),
                        reviewed,
                    )));
                }
            }
            match self.outbox.commit(writes, &[event]).await {
                Ok(()) => {
                    return Ok((
                        view,
                        if existing.is_some() {
                            Written::Replaced
                        } else {
                            Written::Created
                        },
                    ));
                }
                Err(StoreError::ConditionFailed { index: 0 }) => {
                    return Err(ApiError::NotFound("no such movie"));
                }
                Err(StoreError::ConditionFailed { .. }) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(ApiError::Unavailable(
            "the review kept changing while it was written".into(),
        ))
    }

    /// Deletes a user's review of a movie: that user or the admin.
    pub async fn delete_review(
        &self,
        movie_id: &Uuid,
        user_id: &Uuid,
        by: Principal,
    ) -> Result<(), ApiError> {
        if !by.may_act_as(*user_id) {
            return Err(ApiError::Forbidden(
                "only the review's author or the admin may delete it",
            ));
        }
        match self.remove_review(movie_id, user_id).await? {
            true => Ok(()),
            false => Err(ApiError::NotFound("no such review")),
        }
    }

    /// Removes a review with its index items and announces it; false when there was none.
    pub(crate) async fn remove_review(
        &self,
        movie_id: &Uuid,
        user_id: &Uuid,
    ) -> Result<bool, ApiError> {
        for _ in 0..ATTEMPTS {
            let Some(existing) = self.store().get(&keys::review(movie_id, user_id)).await? else {
                return Ok(false);
            };
            let event = Envelope::new(Event::ReviewDeleted(ReviewDeleted {
                movie_id: *movie_id,
                user_id: *user_id,
                score: existing.int("score"),
            }));
            let writes = vec![
                Write::Delete {
                    key: keys::review(movie_id, user_id),
                    condition: unchanged(Some(&existing), "revision"),
                },
                Write::delete(keys::recent(movie_id, existing.int("updated_at"), user_id)),
                Write::delete(keys::reviewed(user_id, movie_id)),
            ];
            match self.outbox.commit(writes, &[event]).await {
                Ok(()) => return Ok(true),
                Err(StoreError::ConditionFailed { .. }) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(ApiError::Unavailable(
            "the review kept changing while it was deleted".into(),
        ))
    }

    /// One review, or 404 (also when its movie was deleted and the review not yet removed).
    pub async fn review(&self, movie_id: &Uuid, user_id: &Uuid) -> Result<ReviewView, ApiError> {
        let found = self
            .store()
            .batch_get(&[keys::movie(movie_id), keys::review(movie_id, user_id)])
            .await?;
        let [Some(_movie), Some(review)] = found.as_slice() else {
            return Err(ApiError::NotFound("no such review"));
        };
        to_review_view(review).ok_or_else(|| ApiError::Internal("review item is malformed".into()))
    }

    /// A page of a movie's reviews; 404 for an unknown movie.
    pub async fn reviews_page(
        &self,
        movie_id: &Uuid,
        after: Option<String>,
        limit: usize,
    ) -> Result<(Vec<ReviewView>, Option<String>), ApiError> {
        self.movie_item(movie_id).await?;
        recent_reviews(self.store(), movie_id, after, limit).await
    }
}
