//! The items the movies service stores, each a typed record beside the key it is stored
//! under and the queries that list it (the table in the crate docs). A record's attribute
//! names are its serde field names and stay as they are: stored data and
//! docs/data-model.md depend on them.

use domain::ReviewScore;
use domain::events::{CastMember, MovieSnapshot};
use domain::picture::StoredPicture;
use domain::timestamp::Micros;
use serde::{Deserialize, Serialize};
use store::{Key, Query, Record};
use uuid::Uuid;

fn movie_partition(movie_id: &Uuid) -> String {
    format!("movie#{movie_id}")
}

fn reviewer_partition(user_id: &Uuid) -> String {
    format!("reviewer#{user_id}")
}

/// A movie as it was created: `movie#{id}` / `movie`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct MovieRecord {
    pub id: Uuid,
    pub title: String,
    pub release_year: i32,
    #[serde(default)]
    pub genres: Vec<String>,
    pub overview: Option<String>,
    pub thumbnail_url: Option<String>,
    #[serde(default)]
    pub pictures: Vec<String>,
    /// Each actor's name as it was when the movie was created.
    #[serde(default)]
    pub cast: Vec<CastMember>,
    pub created_at: Micros,
}

impl Record for MovieRecord {
    const KIND: &'static str = "movie";
}

impl MovieRecord {
    /// Where the movie is stored.
    pub fn key(id: &Uuid) -> Key {
        Key::new(movie_partition(id), "movie")
    }

    /// Where the movie's poster is recorded (a `pictures::PictureRecord`), beside the movie.
    pub fn poster_key(id: &Uuid) -> Key {
        Key::new(movie_partition(id), "poster")
    }

    /// Where the movie is listed under each cast member.
    pub fn cast_index(&self) -> impl Iterator<Item = Key> + '_ {
        self.cast
            .iter()
            .map(|member| CastIndexEntry::key(&member.actor_id, &self.id))
    }

    /// The movie as its events carry it, with its current poster.
    pub fn snapshot(&self, poster: Option<StoredPicture>) -> MovieSnapshot {
        MovieSnapshot {
            movie_id: self.id,
            title: self.title.clone(),
            release_year: self.release_year,
            genres: self.genres.clone(),
            thumbnail_url: self.thumbnail_url.clone(),
            created_at: self.created_at,
            cast: self.cast.clone(),
            poster,
        }
    }
}

/// The attribute holding a movie's cast; taking a deleted actor out of it is conditional on
/// it still being what was read.
pub(crate) const CAST: &str = "cast";

/// What taking an actor out of a cast sets: the attribute of [`MovieRecord`] of that name.
#[derive(Debug, Serialize)]
pub(crate) struct MovieCast<'a> {
    pub cast: &'a [CastMember],
}

/// A movie an actor plays in: `castof#{actor}` / `{movie}`, written in the transaction that
/// creates the movie and deleted in the one that deletes it, so that an actor's deletion
/// finds the casts it leaves in one walk of its partition (and a movie created since is
/// in it: no projection's lag hides it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CastIndexEntry {
    pub movie_id: Uuid,
}

impl Record for CastIndexEntry {
    const KIND: &'static str = "cast index entry";
}

impl CastIndexEntry {
    /// Where `movie_id` is listed under `actor_id`.
    pub fn key(actor_id: &Uuid, movie_id: &Uuid) -> Key {
        Key::new(Self::partition(actor_id), movie_id.to_string())
    }

    /// The first `limit` movies listed under an actor, in key order.
    pub fn of_actor(actor_id: &Uuid, limit: usize) -> Query {
        Query::prefix(Self::partition(actor_id), "", limit)
    }

    fn partition(actor_id: &Uuid) -> String {
        format!("castof#{actor_id}")
    }
}

/// The movies service's copy of an actor's photo (a `pictures::PictureRecord`), which the
/// cast on a movie's page shows: `actorphoto#{actor}` / `photo`, kept from the actors'
/// photo events.
pub(crate) fn cast_photo_key(actor_id: &Uuid) -> Key {
    Key::new(format!("actorphoto#{actor_id}"), "photo")
}

/// The attribute holding the id of the event that last wrote a review; writes and deletes
/// are conditional on it still being what was read.
pub(crate) const REVISION: &str = "revision";

/// A user's review of a movie, in its author's partition: `reviewer#{user}` / `movie#{movie}`,
/// so that the author's reviews are one partition walk when the author is renamed or deleted.
/// The movie finds its reviews through its [`RecentEntry`] index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ReviewRecord {
    pub movie_id: Uuid,
    pub user_id: Uuid,
    /// The reviewer's name, copied from the reviewer's name copy when written or renamed.
    pub user_name: String,
    /// The version of the name copy `user_name` came from; "" before any rename.
    #[serde(default)]
    pub name_version: String,
    pub score: ReviewScore,
    pub comment: Option<String>,
    pub created_at: Micros,
    pub updated_at: Micros,
    /// The id of the event that wrote this revision (see [`REVISION`]).
    pub revision: Uuid,
}

impl Record for ReviewRecord {
    const KIND: &'static str = "review";
}

impl ReviewRecord {
    /// Where a user's review of a movie is stored.
    pub fn key(movie_id: &Uuid, user_id: &Uuid) -> Key {
        Key::new(reviewer_partition(user_id), format!("movie#{movie_id}"))
    }

    /// A page of a user's reviews, in key order, after the sort key `after`.
    pub fn of_reviewer(user_id: &Uuid, after: Option<String>, limit: usize) -> Query {
        Query::prefix(reviewer_partition(user_id), "movie#", limit).after(after)
    }
}

/// What a rename sets on a review: the attributes of [`ReviewRecord`] of the same names.
#[derive(Debug, Serialize)]
pub(crate) struct ReviewerName<'a> {
    pub user_name: &'a str,
    pub name_version: &'a str,
}

/// A movie's review in the index newest first: `recent#{movie}` / `{updated_at:020}#{user}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RecentEntry {
    pub user_id: Uuid,
}

impl Record for RecentEntry {
    const KIND: &'static str = "recent review entry";
}

impl RecentEntry {
    /// Where the entry of a review last written at `updated_at` is stored.
    pub fn key(movie_id: &Uuid, updated_at: Micros, user_id: &Uuid) -> Key {
        Key::new(
            Self::partition(movie_id),
            format!("{}#{user_id}", domain::timestamp::sort_key(updated_at)),
        )
    }

    /// A page of a movie's entries, most recently written first, after the sort key `after`.
    pub fn newest_first(movie_id: &Uuid, after: Option<String>, limit: usize) -> Query {
        Query::prefix(Self::partition(movie_id), "", limit)
            .descending()
            .after(after)
    }

    fn partition(movie_id: &Uuid) -> String {
        format!("recent#{movie_id}")
    }
}

/// The attribute holding the version of a reviewer's name copy; changes to the copy, and
/// review writes that copied its name, are conditional on it.
pub(crate) const VERSION: &str = "version";

/// The movies service's copy of a reviewer's name: `reviewer#{user}` / `profile`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ReviewerProfile {
    /// Absent only when the user's deletion was the first event about them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The id of the last user event applied; "" (older than any event id) when the copy
    /// was taken from the users service.
    pub version: String,
    /// The user was deleted: no review may be written under this name any more.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

impl Record for ReviewerProfile {
    const KIND: &'static str = "reviewer profile";
}

impl ReviewerProfile {
    /// Where a reviewer's name copy is stored.
    pub fn key(user_id: &Uuid) -> Key {
        Key::new(reviewer_partition(user_id), "profile")
    }
}

fn watchlist_partition(user_id: &Uuid) -> String {
    format!("watchlist#{user_id}")
}

fn watchers_partition(movie_id: &Uuid) -> String {
    format!("watchers#{movie_id}")
}

/// The attribute holding when a movie was put on a watch list; a removal is conditional on
/// it, so that it removes the entries of the addition it read and no later one.
pub(crate) const ADDED_AT: &str = "added_at";

/// A movie on a user's watch list: `watchlist#{user}` / `in#{movie}`. It is what makes an
/// addition idempotent (put only when missing) and what a removal finds the other entries
/// by; the user's list, the movie's watchers and the movie's count follow it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WatchlistMembership {
    pub movie_id: Uuid,
    /// When it was added (see [`ADDED_AT`]); the list's order.
    pub added_at: Micros,
}

impl Record for WatchlistMembership {
    const KIND: &'static str = "watch list membership";
}

impl WatchlistMembership {
    /// Where the membership of `movie_id` in `user_id`'s list is stored.
    pub fn key(user_id: &Uuid, movie_id: &Uuid) -> Key {
        Key::new(watchlist_partition(user_id), format!("in#{movie_id}"))
    }

    /// A page of a user's memberships, in key order, after the sort key `after`.
    pub fn of_user(user_id: &Uuid, after: Option<String>, limit: usize) -> Query {
        Query::prefix(watchlist_partition(user_id), "in#", limit).after(after)
    }
}

/// A movie in a user's watch list by time:
/// `watchlist#{user}` / `at#{added_at:020}#{movie}`, so the list newest first is one
/// descending read of the user's partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WatchlistOrderEntry {
    pub movie_id: Uuid,
}

impl Record for WatchlistOrderEntry {
    const KIND: &'static str = "watch list entry";
}

impl WatchlistOrderEntry {
    /// Where the entry of a movie added at `added_at` is stored.
    pub fn key(user_id: &Uuid, added_at: Micros, movie_id: &Uuid) -> Key {
        Key::new(
            watchlist_partition(user_id),
            format!("at#{}#{movie_id}", domain::timestamp::sort_key(added_at)),
        )
    }

    /// A page of a user's list, most recently added first, after the sort key `after`.
    pub fn newest_first(user_id: &Uuid, after: Option<String>, limit: usize) -> Query {
        Query::prefix(watchlist_partition(user_id), "at#", limit)
            .descending()
            .after(after)
    }
}

/// A user whose watch list holds a movie: `watchers#{movie}` / `{user}`, so a deleted
/// movie's removal from every list is one walk of its partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WatcherEntry {
    pub user_id: Uuid,
}

impl Record for WatcherEntry {
    const KIND: &'static str = "watcher";
}

impl WatcherEntry {
    /// Where the entry of `user_id` watching `movie_id` is stored.
    pub fn key(movie_id: &Uuid, user_id: &Uuid) -> Key {
        Key::new(watchers_partition(movie_id), user_id.to_string())
    }

    /// The first `limit` watchers of a movie, in key order.
    pub fn of_movie(movie_id: &Uuid, limit: usize) -> Query {
        Query::prefix(watchers_partition(movie_id), "", limit)
    }
}

/// The attribute of [`WatchlistCount`] that additions and removals add to.
pub(crate) const COUNT: &str = "count";

/// On how many watch lists a movie is: `movie#{id}` / `watchlist`, beside the movie so the
/// movie's page reads both in one request. It moves by +1 and −1 in the transaction of each
/// addition and removal, never recomputed from the lists; it goes when the deleted movie's
/// last watcher has been removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WatchlistCount {
    pub count: i64,
}

impl Record for WatchlistCount {
    const KIND: &'static str = "watch list count";
}

impl WatchlistCount {
    /// The count's sort key in its movie's partition.
    pub const SORT_KEY: &'static str = "watchlist";

    /// Where a movie's count is stored.
    pub fn key(movie_id: &Uuid) -> Key {
        Key::new(movie_partition(movie_id), Self::SORT_KEY)
    }
}

/// A movie for the crate's unit tests.
#[cfg(test)]
impl MovieRecord {
    pub(crate) fn example() -> Self {
        MovieRecord {
            id: Uuid::now_v7(),
            title: "Stalker".into(),
            release_year: 1979,
            genres: vec!["drama".into()],
            overview: None,
            thumbnail_url: None,
            pictures: Vec::new(),
            cast: Vec::new(),
            created_at: 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::json;

    use super::*;

    fn names(record: &impl Record) -> BTreeSet<String> {
        record.to_attrs().unwrap().keys().cloned().collect()
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    fn set_of(names: &[&str]) -> BTreeSet<String> {
        set(names)
    }

    fn review() -> ReviewRecord {
        ReviewRecord {
            movie_id: Uuid::now_v7(),
            user_id: Uuid::now_v7(),
            user_name: "Ann".into(),
            name_version: String::new(),
            score: 7,
            comment: None,
            created_at: 1,
            updated_at: 2,
            revision: Uuid::now_v7(),
        }
    }

    #[test]
    fn a_movie_keeps_its_attribute_names() {
        let movie = MovieRecord::example();
        assert_eq!(
            names(&movie),
            set(&[
                "id",
                "title",
                "release_year",
                "genres",
                "overview",
                "thumbnail_url",
                "pictures",
                "cast",
                "created_at"
            ])
        );
        // An absent overview is stored as null, as it always was.
        assert_eq!(movie.to_attrs().unwrap()["overview"], json!(null));
    }

    #[test]
    fn a_cast_change_sets_the_movies_cast_and_a_cast_index_entry_names_its_movie() {
        let movie = MovieRecord::example();
        let set = store::attrs_of(&MovieCast { cast: &[] }, "cast").unwrap();
        assert_eq!(set.keys().collect::<Vec<_>>(), [CAST]);
        assert!(names(&movie).contains(CAST));
        let entry = CastIndexEntry { movie_id: movie.id };
        assert_eq!(names(&entry), set_of(&["movie_id"]));
    }

    #[test]
    fn a_review_keeps_its_attribute_names_and_its_revision_is_the_condition_name() {
        let review = review();
        assert_eq!(
            names(&review),
            set(&[
                "movie_id",
                "user_id",
                "user_name",
                "name_version",
                "score",
                "comment",
                "created_at",
                "updated_at",
                REVISION
            ])
        );
        assert_eq!(
            review.to_attrs().unwrap()[REVISION],
            json!(review.revision.to_string())
        );
    }

    #[test]
    fn a_rename_sets_attributes_of_the_review() {
        let set = store::attrs_of(
            &ReviewerName {
                user_name: "Bo",
                name_version: "v",
            },
            "rename",
        )
        .unwrap();
        let review = names(&review());
        for name in set.keys() {
            assert!(review.contains(name), "{name} is not a review attribute");
        }
    }

    #[test]
    fn a_recent_entry_keeps_its_attribute_names() {
        let user_id = Uuid::now_v7();
        assert_eq!(
            RecentEntry { user_id }.to_attrs().unwrap(),
            json!({ "user_id": user_id }).as_object().cloned().unwrap()
        );
    }

    #[test]
    fn a_profile_is_stored_as_it_always_was_and_its_version_is_the_condition_name() {
        let copied = ReviewerProfile {
            name: Some("Ann".into()),
            version: String::new(),
            deleted: false,
        };
        assert_eq!(
            copied.to_attrs().unwrap(),
            json!({ "name": "Ann", VERSION: "" })
                .as_object()
                .cloned()
                .unwrap()
        );
        let deleted = ReviewerProfile {
            name: None,
            version: "v".into(),
            deleted: true,
        };
        assert_eq!(
            deleted.to_attrs().unwrap(),
            json!({ VERSION: "v", "deleted": true })
                .as_object()
                .cloned()
                .unwrap()
        );
    }

    #[test]
    fn watch_list_items_keep_their_attribute_names_and_condition_names() {
        let (movie_id, user_id) = (Uuid::now_v7(), Uuid::now_v7());
        let membership = WatchlistMembership {
            movie_id,
            added_at: 5,
        };
        assert_eq!(names(&membership), set(&["movie_id", ADDED_AT]));
        assert_eq!(names(&WatchlistOrderEntry { movie_id }), set(&["movie_id"]));
        assert_eq!(names(&WatcherEntry { user_id }), set(&["user_id"]));
        assert_eq!(
            WatchlistCount { count: 3 }.to_attrs().unwrap(),
            json!({ COUNT: 3 }).as_object().cloned().unwrap()
        );
    }

    #[test]
    fn keys_are_where_the_items_are_documented() {
        let (movie, user) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(
            MovieRecord::key(&movie),
            Key::new(format!("movie#{movie}"), "movie")
        );
        assert_eq!(
            ReviewRecord::key(&movie, &user),
            Key::new(format!("reviewer#{user}"), format!("movie#{movie}"))
        );
        assert_eq!(
            RecentEntry::key(&movie, 5, &user),
            Key::new(format!("recent#{movie}"), format!("{:020}#{user}", 5))
        );
        assert_eq!(
            ReviewerProfile::key(&user),
            Key::new(format!("reviewer#{user}"), "profile")
        );
        assert_eq!(
            WatchlistMembership::key(&user, &movie),
            Key::new(format!("watchlist#{user}"), format!("in#{movie}"))
        );
        assert_eq!(
            WatchlistOrderEntry::key(&user, 5, &movie),
            Key::new(format!("watchlist#{user}"), format!("at#{:020}#{movie}", 5))
        );
        assert_eq!(
            WatcherEntry::key(&movie, &user),
            Key::new(format!("watchers#{movie}"), user.to_string())
        );
        assert_eq!(
            WatchlistCount::key(&movie),
            Key::new(format!("movie#{movie}"), "watchlist")
        );
        let actor = Uuid::now_v7();
        assert_eq!(
            CastIndexEntry::key(&actor, &movie),
            Key::new(format!("castof#{actor}"), movie.to_string())
        );
    }
}
