//! The watch list service: each user's list of movies to watch, most recently added first,
//! and on how many lists each movie is. A user's list lives in the user's partition, so it
//! is one read newest first and one walk when the user is deleted; each movie's watchers in
//! the movie's, so it is one walk when the movie is deleted; the count sits beside the
//! movie and moves in the transaction of each change (see `watchlist_plan`). Watch lists
//! are private and publish no events: only their owner reads them, at once.

use std::sync::Arc;

use platform::auth::{Claimed, Principal};
use platform::directory::UserDirectory;
use platform::outbox::Outbox;
use platform::pagination::{PageOf, PageRequest};
use projector::catalog::{self, MovieSummary};
use store::{Key, Record, Store, StoreError, StoreExt, Write};
use uuid::Uuid;

use crate::error::MoviesError;
use crate::records::{
    COUNT, MovieRecord, WatcherEntry, WatchlistCount, WatchlistMembership, WatchlistOrderEntry,
};
use crate::watchlist_plan::{self, Listed, MAX_REMOVALS, MEMBERSHIP, MOVIE_CHECK};

/// How often a removal whose reads went stale is tried again before giving up with 503.
const ATTEMPTS: usize = 20;

/// A movie on a user's watch list.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct WatchlistEntry {
    pub movie_id: Uuid,
    /// When it was added (RFC 3339).
    pub added_at: String,
}

/// The watch list service's commands and queries.
#[derive(Clone)]
pub struct WatchlistService {
    /// The movies service's outbox, for its store (watch lists write no events) and the
    /// consumers' labelled views of it.
    outbox: Outbox,
    /// Whether a user whose list the admin asks for exists.
    users: Arc<dyn UserDirectory>,
}

impl WatchlistService {
    /// A service that writes the movies service's store through `outbox` and asks `users`
    /// whether a user exists.
    pub fn new(outbox: Outbox, users: Arc<dyn UserDirectory>) -> Self {
        WatchlistService { outbox, users }
    }

    /// The same service with its store requests counted under `caller` (a consumer's name).
    pub fn labelled(&self, caller: &'static str) -> Self {
        WatchlistService {
            outbox: self.outbox.labelled(caller),
            users: self.users.clone(),
        }
    }

    fn store(&self) -> &dyn Store {
        self.outbox.store().as_ref()
    }

    /// Puts a movie on its user's list; a movie listed already stays as and where it is.
    /// Only the user does this: the token's user is checked in the same transaction.
    pub async fn add(
        &self,
        user_id: &Uuid,
        movie_id: &Uuid,
        by: Claimed,
    ) -> Result<(), MoviesError> {
        if by.0 != Principal::User(*user_id) {
            return Err(MoviesError::Forbidden(
                "only that user may change their watch list",
            ));
        }
        // The user's check comes first, so a deleted user's token is refused whatever else
        // fails with it.
        let mut writes: Vec<_> = by.user_exists().into_iter().collect();
        let offset = writes.len();
        writes.extend(watchlist_plan::plan_addition(
            *user_id,
            *movie_id,
            domain::timestamp::now_micros(),
        )?);
        match self.store().transact(writes).await {
            Ok(()) => Ok(()),
            Err(StoreError::ConditionFailed { index }) if index == offset + MEMBERSHIP => Ok(()),
            Err(StoreError::ConditionFailed { index }) if index == offset + MOVIE_CHECK => {
                Err(MoviesError::MovieNotFound)
            }
            // The only other condition is the user's check.
            Err(StoreError::ConditionFailed { .. }) => Err(MoviesError::UserGone),
            Err(other) => Err(other.into()),
        }
    }

    /// Takes a movie off its user's list; nothing to do when it is not there.
    pub async fn remove(
        &self,
        user_id: &Uuid,
        movie_id: &Uuid,
        by: Principal,
    ) -> Result<(), MoviesError> {
        if by != Principal::User(*user_id) {
            return Err(MoviesError::Forbidden(
                "only that user may change their watch list",
            ));
        }
        let key = WatchlistMembership::key(user_id, movie_id);
        for _ in 0..ATTEMPTS {
            let Some(membership) = self.store().get_record::<WatchlistMembership>(&key).await?
            else {
                return Ok(());
            };
            let listed = Listed {
                user_id: *user_id,
                movie_id: *movie_id,
                added_at: membership.added_at,
            };
            let writes = watchlist_plan::plan_removals(&[listed])?;
            if self.commit_removal(writes).await? {
                return Ok(());
            }
            // Removed (and perhaps added again) meanwhile: look again.
        }
        Err(MoviesError::WatchlistKeptChanging("removing a movie"))
    }

    /// Whether a movie is on a user's list, and since when: for the user, or the admin.
    pub async fn entry(
        &self,
        user_id: &Uuid,
        movie_id: &Uuid,
        by: Principal,
    ) -> Result<WatchlistEntry, MoviesError> {
        self.may_read(user_id, by).await?;
        let membership = self
            .store()
            .get_record::<WatchlistMembership>(&WatchlistMembership::key(user_id, movie_id))
            .await?
            .ok_or(MoviesError::NotOnWatchlist)?;
        Ok(WatchlistEntry {
            movie_id: membership.movie_id,
            added_at: domain::timestamp::to_rfc3339(membership.added_at),
        })
    }

    /// Refuses `by` unless it may read `user_id`'s list: the user, or the admin (for a user
    /// who exists).
    async fn may_read(&self, user_id: &Uuid, by: Principal) -> Result<(), MoviesError> {
        match by {
            Principal::User(id) if id == *user_id => Ok(()),
            Principal::Admin => match self.users.user(*user_id).await? {
                Some(_) => Ok(()),
                None => Err(MoviesError::UserNotFound),
            },
            Principal::User(_) => Err(MoviesError::Forbidden(
                "only that user or the admin may see a watch list",
            )),
        }
    }

    /// A page of a user's list, most recently added first, as movie summaries with their
    /// current scores: for the user, or the admin.
    pub async fn page(
        &self,
        user_id: &Uuid,
        by: Principal,
        page: PageRequest<String>,
    ) -> Result<PageOf<MovieSummary>, MoviesError> {
        self.may_read(user_id, by).await?;
        let found = self
            .store()
            .query(&WatchlistOrderEntry::newest_first(
                user_id,
                page.cursor,
                page.limit,
            ))
            .await?;
        let ids = found
            .items
            .iter()
            .map(|item| Ok(WatchlistOrderEntry::from_item(item)?.movie_id))
            .collect::<Result<Vec<Uuid>, StoreError>>()?;
        let items = self.summaries(&ids).await?;
        let next = if found.more {
            found.items.last().map(|item| item.key.sk.clone())
        } else {
            None
        };
        Ok(PageOf::new(items, next))
    }

    /// The summaries of these movies, in order. A movie the catalogue has not summarised
    /// yet (created a moment ago) is shown from its record, unscored, so a user sees what
    /// they just added; a deleted one is left out until its entry is removed.
    async fn summaries(&self, ids: &[Uuid]) -> Result<Vec<MovieSummary>, MoviesError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let summaries = catalog::summaries(self.store(), ids).await?;
        let unsummarised: Vec<Key> = ids
            .iter()
            .zip(&summaries)
            .filter(|(_, summary)| summary.is_none())
            .map(|(id, _)| MovieRecord::key(id))
            .collect();
        let mut records = Vec::new();
        if !unsummarised.is_empty() {
            for item in self
                .store()
                .batch_get(&unsummarised)
                .await?
                .iter()
                .flatten()
            {
                records.push(MovieRecord::from_item(item)?);
            }
        }
        Ok(ids
            .iter()
            .zip(summaries)
            .filter_map(|(id, summary)| {
                summary.or_else(|| {
                    let record = records.iter().find(|record| record.id == *id)?;
                    Some(unscored(record))
                })
            })
            .collect())
    }

    /// Takes a deleted movie off every list, a batch of its watchers per transaction, then
    /// drops its count. No addition comes meanwhile: each checks that the movie exists.
    pub(crate) async fn remove_movie(&self, movie_id: &Uuid) -> Result<(), MoviesError> {
        let mut stale = 0;
        loop {
            let page = self
                .store()
                .query(&WatcherEntry::of_movie(movie_id, MAX_REMOVALS))
                .await?;
            if page.items.is_empty() {
                break;
            }
            let users = page
                .items
                .iter()
                .map(|item| Ok(WatcherEntry::from_item(item)?.user_id))
                .collect::<Result<Vec<Uuid>, StoreError>>()?;
            let pairs: Vec<(Uuid, Uuid)> = users.iter().map(|user| (*user, *movie_id)).collect();
            if !self.remove_memberships(&pairs).await? {
                stale += 1;
                if stale == ATTEMPTS {
                    return Err(MoviesError::WatchlistKeptChanging(
                        "taking a deleted movie off every list",
                    ));
                }
            }
        }
        let key = WatchlistCount::key(movie_id);
        let Some(count) = self.store().get_record::<WatchlistCount>(&key).await? else {
            return Ok(());
        };
        let write = Write::Delete {
            key,
            condition: store::attr_equals(COUNT, &count.count)?,
        };
        match self.store().transact(vec![write]).await {
            Ok(()) => Ok(()),
            // Changed since it was read: the event is tried again, and looks again.
            Err(StoreError::ConditionFailed { .. }) => Err(MoviesError::WatchlistKeptChanging(
                "dropping a deleted movie's count",
            )),
            Err(other) => Err(other.into()),
        }
    }

    /// Empties a deleted user's list, a batch of entries per transaction. No addition comes
    /// meanwhile: each checks that the user exists.
    pub(crate) async fn remove_user(&self, user_id: &Uuid) -> Result<(), MoviesError> {
        let mut stale = 0;
        loop {
            let page = self
                .store()
                .query(&WatchlistMembership::of_user(user_id, None, MAX_REMOVALS))
                .await?;
            if page.items.is_empty() {
                return Ok(());
            }
            let pairs = page
                .items
                .iter()
                .map(|item| Ok((*user_id, WatchlistMembership::from_item(item)?.movie_id)))
                .collect::<Result<Vec<_>, StoreError>>()?;
            if !self.remove_memberships(&pairs).await? {
                stale += 1;
                if stale == ATTEMPTS {
                    return Err(MoviesError::WatchlistKeptChanging(
                        "emptying a deleted user's list",
                    ));
                }
            }
        }
    }

    /// Takes each `(user, movie)` off its list in one transaction, reading the memberships
    /// first (they say when each was added, which locates the entry by time); a watcher
    /// entry without a membership is deleted alone. False when something changed between
    /// the read and the write (the same entry removed by another path): read again.
    async fn remove_memberships(&self, pairs: &[(Uuid, Uuid)]) -> Result<bool, MoviesError> {
        let keys: Vec<Key> = pairs
            .iter()
            .map(|(user, movie)| WatchlistMembership::key(user, movie))
            .collect();
        let found = self.store().batch_get(&keys).await?;
        let mut listed = Vec::with_capacity(pairs.len());
        let mut strays = Vec::new();
        for ((user_id, movie_id), item) in pairs.iter().zip(&found) {
            match item {
                Some(item) => listed.push(Listed {
                    user_id: *user_id,
                    movie_id: *movie_id,
                    added_at: WatchlistMembership::from_item(item)?.added_at,
                }),
                None => strays.push(Write::delete(WatcherEntry::key(movie_id, user_id))),
            }
        }
        let mut writes = watchlist_plan::plan_removals(&listed)?;
        writes.extend(strays);
        self.commit_removal(writes).await
    }

    /// Commits a removal; false when a membership had changed since it was read.
    async fn commit_removal(&self, writes: Vec<Write>) -> Result<bool, MoviesError> {
        match self.store().transact(writes).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed { .. }) => Ok(false),
            Err(other) => Err(other.into()),
        }
    }
}

/// A movie's summary from its own record, before the catalogue has one: no reviews yet.
fn unscored(movie: &MovieRecord) -> MovieSummary {
    MovieSummary {
        id: movie.id,
        title: movie.title.clone(),
        release_year: movie.release_year,
        genres: movie.genres.clone(),
        score: None,
        review_count: 0,
        thumbnail_url: movie.thumbnail_url.clone(),
        poster: None,
    }
}
