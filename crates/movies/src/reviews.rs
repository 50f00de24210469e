//! The reviews service: writing, deleting and reading reviews, and keeping reviews in step
//! with their reviewers and movies. A movie has at most one review per user. Each write is
//! one transaction over the review, its index entry, the reviewer's name copy and the
//! outbox, conditional on what it read, and is planned again from new reads if something
//! changed in between (a concurrent write of the same review, a rename, the movie's
//! deletion); the decisions are in `review_plan`.

use std::future::Future;
use std::sync::Arc;

use domain::NewReview;
use platform::auth::{Claimed, Principal};
use platform::directory::UserDirectory;
use platform::outbox::Outbox;
use platform::pagination::{PageOf, PageRequest};
use store::{Condition, Key, Record, Store, StoreError, StoreExt, Write};
use uuid::Uuid;

use crate::error::MoviesError;
use crate::records::{
    self, MovieRecord, RecentEntry, ReviewRecord, ReviewerName, ReviewerProfile, VERSION,
};
use crate::review_plan::{self, MOVIE_CHECK, Reviewer, WriteRead, Written};
use crate::views::ReviewView;

/// How often a write whose reads went stale is planned again before giving up with 503.
const ATTEMPTS: usize = 20;

/// How many reviews or index entries one step of a consumer's clean-up reads.
const STEP: usize = 100;

/// The reviews service's commands and queries.
#[derive(Clone)]
pub struct ReviewsService {
    outbox: Outbox,
    users: Arc<dyn UserDirectory>,
}

impl ReviewsService {
    /// A service that writes through `outbox` and asks `users` for a first-time reviewer's name.
    pub fn new(outbox: Outbox, users: Arc<dyn UserDirectory>) -> Self {
        ReviewsService { outbox, users }
    }

    /// The same service with its store requests counted under `caller` (a consumer's name).
    pub fn labelled(&self, caller: &'static str) -> Self {
        ReviewsService {
            outbox: self.outbox.labelled(caller),
            users: self.users.clone(),
        }
    }

    fn store(&self) -> &dyn Store {
        self.outbox.store().as_ref()
    }

    /// Writes or replaces the principal's review of a movie.
    pub async fn write_review(
        &self,
        movie_id: &Uuid,
        by: Claimed,
        review: NewReview,
    ) -> Result<(ReviewView, Written), MoviesError> {
        let Principal::User(user_id) = by.0 else {
            return Err(MoviesError::Forbidden(
                "reviews are written by users; the admin has no review of its own",
            ));
        };
        for _ in 0..ATTEMPTS {
            let read = self.read_for_write(movie_id, &user_id).await?;
            let plan = review_plan::plan_write(
                read,
                user_id,
                &review,
                domain::timestamp::now_micros(),
                domain::ids::new_id(),
            )?;
            // The token's user is checked in the transaction, not looked up before it.
            let mut writes = plan.writes;
            let user_check = writes.len();
            writes.extend(by.user_exists());
            match self.outbox.commit(writes, &[plan.event]).await {
                Ok(()) => return Ok((plan.view, plan.written)),
                Err(StoreError::ConditionFailed { index: MOVIE_CHECK }) => {
                    return Err(MoviesError::MovieNotFound);
                }
                Err(StoreError::ConditionFailed { index }) if index == user_check => {
                    return Err(MoviesError::UserGone);
                }
                Err(StoreError::ConditionFailed { .. }) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(MoviesError::KeptChanging("written"))
    }

    /// What a review write decides on; the users service is asked for the reviewer's name
    /// only when this service has no copy of it yet.
    async fn read_for_write(
        &self,
        movie_id: &Uuid,
        user_id: &Uuid,
    ) -> Result<WriteRead, MoviesError> {
        // One request for the three items.
        let keys = [
            MovieRecord::key(movie_id),
            ReviewRecord::key(movie_id, user_id),
            ReviewerProfile::key(user_id),
        ];
        let items = self.store().batch_get(&keys).await?;
        let at = |key: &Key| items.iter().flatten().find(|item| item.key == *key);
        let movie: MovieRecord = decoded(at(&keys[0]))?.ok_or(MoviesError::MovieNotFound)?;
        let existing: Option<ReviewRecord> = decoded(at(&keys[1]))?;
        let reviewer = match decoded::<ReviewerProfile>(at(&keys[2]))? {
            Some(copy) => Reviewer::Copied(copy),
            None => Reviewer::Asked(self.users.user(*user_id).await?.map(|user| user.name)),
        };
        Ok(WriteRead {
            movie,
            existing,
            reviewer,
        })
    }

    /// Deletes a user's review of a movie: that user or the admin.
    pub async fn delete_review(
        &self,
        movie_id: &Uuid,
        user_id: &Uuid,
        by: Principal,
    ) -> Result<(), MoviesError> {
        if !by.may_act_as(*user_id) {
            return Err(MoviesError::Forbidden(
                "only the review's author or the admin may delete it",
            ));
        }
        match self.remove_review(movie_id, user_id).await? {
            true => Ok(()),
            false => Err(MoviesError::ReviewNotFound),
        }
    }

    /// Removes a review with its index entry and announces it; false when there was none.
    async fn remove_review(&self, movie_id: &Uuid, user_id: &Uuid) -> Result<bool, MoviesError> {
        for _ in 0..ATTEMPTS {
            let key = ReviewRecord::key(movie_id, user_id);
            let Some(existing) = self.store().get_record::<ReviewRecord>(&key).await? else {
                return Ok(false);
            };
            let plan = review_plan::plan_removal(
                &existing,
                domain::timestamp::now_micros(),
                domain::ids::new_id(),
            )?;
            match self.outbox.commit(plan.writes, &[plan.event]).await {
                Ok(()) => return Ok(true),
                Err(StoreError::ConditionFailed { .. }) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(MoviesError::KeptChanging("deleted"))
    }

    /// One review (also not found when its movie was deleted and the review not yet removed).
    pub async fn review(&self, movie_id: &Uuid, user_id: &Uuid) -> Result<ReviewView, MoviesError> {
        let found = self
            .store()
            .batch_get(&[
                MovieRecord::key(movie_id),
                ReviewRecord::key(movie_id, user_id),
            ])
            .await?;
        let [Some(_movie), Some(review)] = found.as_slice() else {
            return Err(MoviesError::ReviewNotFound);
        };
        Ok(ReviewView::from(&ReviewRecord::from_item(review)?))
    }

    /// A page of a movie's reviews, most recently written first.
    pub async fn reviews_page(
        &self,
        movie_id: &Uuid,
        page: PageRequest<String>,
    ) -> Result<PageOf<ReviewView>, MoviesError> {
        self.movie(movie_id).await?;
        let (items, next) = self.newest(movie_id, page.cursor, page.limit).await?;
        Ok(PageOf::new(items, next))
    }

    /// A movie's `limit` most recently written reviews, for its page.
    pub(crate) async fn latest(
        &self,
        movie_id: &Uuid,
        limit: usize,
    ) -> Result<Vec<ReviewView>, MoviesError> {
        Ok(self.newest(movie_id, None, limit).await?.0)
    }

    /// The reviews of a movie after the index entry `after`, newest first, and the last
    /// entry's key when there are more.
    async fn newest(
        &self,
        movie_id: &Uuid,
        after: Option<String>,
        limit: usize,
    ) -> Result<(Vec<ReviewView>, Option<String>), StoreError> {
        let page = self
            .store()
            .query(&RecentEntry::newest_first(movie_id, after, limit))
            .await?;
        let keys = page
            .items
            .iter()
            .map(|item| {
                Ok(ReviewRecord::key(
                    movie_id,
                    &RecentEntry::from_item(item)?.user_id,
                ))
            })
            .collect::<Result<Vec<Key>, StoreError>>()?;
        let reviews = if keys.is_empty() {
            Vec::new()
        } else {
            self.store().batch_get(&keys).await?
        };
        let views = reviews
            .iter()
            .flatten()
            .map(|item| Ok(ReviewView::from(&ReviewRecord::from_item(item)?)))
            .collect::<Result<_, StoreError>>()?;
        let next = if page.more {
            page.items.last().map(|item| item.key.sk.clone())
        } else {
            None
        };
        Ok((views, next))
    }

    /// The movie, or not found.
    async fn movie(&self, id: &Uuid) -> Result<MovieRecord, MoviesError> {
        self.store()
            .get_record(&MovieRecord::key(id))
            .await?
            .ok_or(MoviesError::MovieNotFound)
    }

    /// Renames a reviewer as the event `version` says: first the name copy (so review writes
    /// from now on use the new name, or fail their check on it and are planned again), then
    /// every review already written.
    pub(crate) async fn rename_reviewer(
        &self,
        user_id: &Uuid,
        name: &str,
        version: &str,
    ) -> Result<(), MoviesError> {
        let renamed = |profile: &mut ReviewerProfile| profile.name = Some(name.to_owned());
        if !self.update_profile(user_id, renamed, version).await? {
            return Ok(());
        }
        self.for_each_reviewed(user_id, |movie_id| async move {
            self.rename_review(&movie_id, user_id, name, version).await
        })
        .await
    }

    /// Forgets a deleted reviewer: marks the name copy deleted (review writes in flight fail
    /// their check on it), then removes every review.
    pub(crate) async fn remove_reviewer(
        &self,
        user_id: &Uuid,
        version: &str,
    ) -> Result<(), MoviesError> {
        let deleted = |profile: &mut ReviewerProfile| profile.deleted = true;
        self.update_profile(user_id, deleted, version).await?;
        self.for_each_reviewed(user_id, |movie_id| async move {
            self.remove_review(&movie_id, user_id).await.map(|_| ())
        })
        .await
    }

    /// Removes every review of a deleted movie, each announced as deleted, walking the
    /// movie's index. No review is written meanwhile: a write checks that the movie exists.
    pub(crate) async fn remove_movie_reviews(&self, movie_id: &Uuid) -> Result<(), MoviesError> {
        let mut after = None;
        loop {
            let page = self
                .store()
                .query(&RecentEntry::newest_first(movie_id, after.take(), STEP))
                .await?;
            for item in &page.items {
                let entry = RecentEntry::from_item(item)?;
                self.remove_review(movie_id, &entry.user_id).await?;
            }
            if !page.more {
                return Ok(());
            }
            after = page.items.last().map(|item| item.key.sk.clone());
        }
    }

    /// Applies a change to the reviewer's name copy unless a newer event already did;
    /// false when the event `version` is older than what is there. A deleted reviewer's
    /// copy stays as it is.
    async fn update_profile(
        &self,
        user_id: &Uuid,
        change: impl Fn(&mut ReviewerProfile),
        version: &str,
    ) -> Result<bool, MoviesError> {
        let key = ReviewerProfile::key(user_id);
        loop {
            let current: Option<ReviewerProfile> = self.store().get_record(&key).await?;
            if current.as_ref().is_some_and(|profile| profile.deleted) {
                return Ok(true);
            }
            if current
                .as_ref()
                .is_some_and(|profile| profile.version.as_str() > version)
            {
                return Ok(false);
            }
            let condition = match &current {
                Some(profile) => store::attr_equals(VERSION, &profile.version)?,
                None => Condition::NotExists,
            };
            let mut profile = current.unwrap_or_default();
            change(&mut profile);
            profile.version = version.to_owned();
            let write = Write::Put {
                item: profile.to_item(key.clone())?,
                condition,
            };
            match self.store().transact(vec![write]).await {
                Ok(()) => return Ok(true),
                Err(StoreError::ConditionFailed { .. }) => continue,
                Err(other) => return Err(other.into()),
            }
        }
    }

    /// Runs `step` for every movie the user has reviewed.
    async fn for_each_reviewed<F, Fut>(&self, user_id: &Uuid, step: F) -> Result<(), MoviesError>
    where
        F: Fn(Uuid) -> Fut,
        Fut: Future<Output = Result<(), MoviesError>>,
    {
        let mut after = None;
        loop {
            let page = self
                .store()
                .query(&ReviewRecord::of_reviewer(user_id, after.take(), STEP))
                .await?;
            for item in &page.items {
                step(ReviewRecord::from_item(item)?.movie_id).await?;
            }
            if !page.more {
                return Ok(());
            }
            after = page.items.last().map(|item| item.key.sk.clone());
        }
    }

    /// Puts the reviewer's new name on one review, unless a newer rename already did.
    async fn rename_review(
        &self,
        movie_id: &Uuid,
        user_id: &Uuid,
        name: &str,
        version: &str,
    ) -> Result<(), MoviesError> {
        let key = ReviewRecord::key(movie_id, user_id);
        loop {
            let Some(review) = self.store().get_record::<ReviewRecord>(&key).await? else {
                return Ok(());
            };
            if review.name_version.as_str() >= version {
                return Ok(());
            }
            let set = ReviewerName {
                user_name: name,
                name_version: version,
            };
            let write = Write::Update {
                key: key.clone(),
                set: store::attrs_of(&set, "review rename")?,
                add: Vec::new(),
                condition: store::attr_equals(records::REVISION, &review.revision)?,
            };
            match self.store().transact(vec![write]).await {
                Ok(()) => return Ok(()),
                Err(StoreError::ConditionFailed { .. }) => continue,
                Err(other) => return Err(other.into()),
            }
        }
    }
}

/// The record an item of a batch get holds; one that does not decode is
/// [`StoreError::Malformed`], as with `get_record`.
fn decoded<R: Record>(item: Option<&store::Item>) -> Result<Option<R>, StoreError> {
    item.map(R::from_item).transpose()
}
