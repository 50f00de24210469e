//! The movies service's own consumers. They touch many reviews per event, more than one
//! transaction holds, so each review is changed in its own transaction guarded by what it
//! read: a redelivered event finds the work done and changes nothing more.

use std::sync::Arc;

use async_trait::async_trait;
use bus::{Handler, Outcome, Subscription};
use domain::events::{Envelope, Event, EventType};
use platform::ApiError;
use serde_json::{Map, json};
use store::{Condition, Item, Query, StoreError, Write};
use uuid::Uuid;

use crate::MoviesService;
use crate::keys;

/// How many index items one step of a clean-up reads.
const STEP: usize = 100;

/// Renames a reviewer on their reviews, and deletes a deleted user's reviews.
pub struct ReviewerConsumer {
    movies: MoviesService,
}

/// Deletes a deleted movie's reviews, each announced as deleted.
pub struct MovieCleanupConsumer {
    movies: MoviesService,
}

/// The movies service's consumers and the events each takes.
pub const CONSUMERS: [(&str, &[EventType]); 2] = [
    (
        "movies-reviewers",
        &[EventType::UserRenamed, EventType::UserDeleted],
    ),
    ("movies-cleanup", &[EventType::MovieDeleted]),
];

/// The subscriptions of the movies service.
pub fn subscriptions(movies: MoviesService) -> Vec<Subscription> {
    let [(reviewers, reviewer_events), (cleanup, cleanup_events)] = CONSUMERS;
    vec![
        Subscription {
            consumer: reviewers.into(),
            event_types: reviewer_events.to_vec(),
            handler: Arc::new(ReviewerConsumer {
                movies: movies.clone(),
            }),
        },
        Subscription {
            consumer: cleanup.into(),
            event_types: cleanup_events.to_vec(),
            handler: Arc::new(MovieCleanupConsumer { movies }),
        },
    ]
}

fn outcome(result: Result<(), ApiError>) -> Outcome {
    match result {
        Ok(()) => Outcome::Done,
        Err(ApiError::Unavailable(reason)) => Outcome::Retry(reason),
        Err(other) => Outcome::Reject(other.to_string()),
    }
}

#[async_trait]
impl Handler for ReviewerConsumer {
    async fn handle(&self, envelope: &Envelope) -> Outcome {
        outcome(match &envelope.event {
            Event::UserRenamed(renamed) => {
                self.rename(&renamed.user_id, &renamed.name, &envelope.id.to_string())
                    .await
            }
            Event::UserDeleted(deleted) => {
                self.delete_reviews_of(&deleted.user_id, &envelope.id.to_string())
                    .await
            }
            _ => Ok(()),
        })
    }
}

impl ReviewerConsumer {
    /// First the name copy (so review writes from now on use the new name, or fail their
    /// check on it and retry), then every review already written.
    async fn rename(&self, user_id: &Uuid, name: &str, version: &str) -> Result<(), ApiError> {
        if !self
            .update_profile(
                user_id,
                |attrs| {
                    attrs.insert("name".into(), json!(name));
                },
                version,
            )
            .await?
        {
            return Ok(());
        }
        self.for_each_reviewed(user_id, |movie_id| async move {
            self.rename_review(&movie_id, user_id, name, version).await
        })
        .await
    }

    /// Marks the reviewer deleted (review writes in flight fail their check on it), then
    /// deletes every review.
    async fn delete_reviews_of(&self, user_id: &Uuid, version: &str) -> Result<(), ApiError> {
        self.update_profile(
            user_id,
            |attrs| {
                attrs.insert("deleted".into(), json!(true));
            },
            version,
        )
        .await?;
        self.for_each_reviewed(user_id, |movie_id| async move {
            self.movies
                .remove_review(&movie_id, user_id)
                .await
                .map(|_| ())
        })
        .await
    }

    /// Applies a change to the reviewer's name copy unless a newer event already did;
    /// false when this event is older than what is there.
    async fn update_profile(
        &self,
        user_id: &Uuid,
        change: impl Fn(&mut Map<String, serde_json::Value>),
        version: &str,
    ) -> Result<bool, ApiError> {
        loop {
            let current = self
                .movies
                .store()
                .get(&keys::reviewer_profile(user_id))
                .await?;
            if current.as_ref().is_some_and(|p| p.get("deleted").is_some()) {
                return Ok(true);
            }
            if current
                .as_ref()
                .and_then(|p| p.str("version"))
                .is_some_and(|v| v > version)
            {
                return Ok(false);
            }
            let mut attrs = current
                .as_ref()
                .map(|p| p.attrs.clone())
                .unwrap_or_default();
            change(&mut attrs);
            attrs.insert("version".into(), json!(version));
            let condition = match current.as_ref().and_then(|p| p.get("version")) {
                Some(v) => Condition::AttrEquals("version".into(), v.clone()),
                None => Condition::NotExists,
            };
            let write = Write::Put {
                item: Item::new(keys::reviewer_profile(user_id), attrs),
                condition,
            };
            match self.movies.store().transact(vec![write]).await {
                Ok(()) => return Ok(true),
                Err(StoreError::ConditionFailed { .. }) => continue,
                Err(other) => return Err(other.into()),
            }
        }
    }

    async fn for_each_reviewed<F, Fut>(&self, user_id: &Uuid, step: F) -> Result<(), ApiError>
    where
        F: Fn(Uuid) -> Fut,
        Fut: std::future::Future<Output = Result<(), ApiError>>,
    {
        let mut after = None;
        loop {
            let query = Query::prefix(
                keys::reviewer_partition(user_id),
                keys::REVIEWED_PREFIX,
                STEP,
            )
            .after(after.take());
            let page = self.movies.store().query(&query).await?;
            for item in &page.items {
                if let Some(movie_id) = item.str("movie_id").and_then(|m| m.parse().ok()) {
                    step(movie_id).await?;
                }
            }
            if !page.more {
                return Ok(());
            }
            after = page.items.last().map(|i| i.key.sk.clone());
        }
    }

    async fn rename_review(
        &self,
        movie_id: &Uuid,
        user_id: &Uuid,
        name: &str,
        version: &str,
    ) -> Result<(), ApiError> {
        loop {
            let Some(review) = self
                .movies
                .store()
                .get(&keys::review(movie_id, user_id))
                .await?
            else {
                return Ok(());
            };
            if review.str("name_version").is_some_and(|v| v >= version) {
                return Ok(());
            }
            let mut set = Map::new();
            set.insert("user_name".into(), json!(name));
            set.insert("name_version".into(), json!(version));
            let condition = match review.get("revision") {
                Some(revision) => Condition::AttrEquals("revision".into(), revision.clone()),
                None => Condition::Exists,
            };
            let write = Write::Update {
                key: keys::review(movie_id, user_id),
                set,
                add: Vec::new(),
                condition,
            };
            match self.movies.store().transact(vec![write]).await {
                Ok(()) => return Ok(()),
                Err(StoreError::ConditionFailed { .. }) => continue,
                Err(other) => return Err(other.into()),
            }
        }
    }
}

#[async_trait]
impl Handler for MovieCleanupConsumer {
    async fn handle(&self, envelope: &Envelope) -> Outcome {
        let Event::MovieDeleted(movie) = &envelope.event else {
            return Outcome::Done;
        };
        outcome(self.delete_reviews(&movie.movie_id).await)
    }
}

impl MovieCleanupConsumer {
    async fn delete_reviews(&self, movie_id: &Uuid) -> Result<(), ApiError> {
        loop {
            // Each pass deletes what it read, so the next pass starts from the front again.
            let query = Query::prefix(keys::movie_partition(movie_id), keys::REVIEW_PREFIX, STEP);
            let page = self.movies.store().query(&query).await?;
            for item in &page.items {
                if let Some(user_id) = item.str("user_id").and_then(|u| u.parse().ok()) {
                    self.movies.remove_review(movie_id, &user_id).await?;
                }
            }
            if !page.more {
                return Ok(());
            }
        }
    }
}
