//! Where the movies service keeps its items (see the table in the crate docs).

use store::Key;
use uuid::Uuid;

pub fn movie(id: &Uuid) -> Key {
    Key::new(format!("movie#{id}"), "movie")
}

pub fn review(movie_id: &Uuid, user_id: &Uuid) -> Key {
    Key::new(format!("movie#{movie_id}"), format!("review#{user_id}"))
}

pub const REVIEW_PREFIX: &str = "review#";

pub fn movie_partition(movie_id: &Uuid) -> String {
    format!("movie#{movie_id}")
}

pub fn recent_partition(movie_id: &Uuid) -> String {
    format!("recent#{movie_id}")
}

pub fn recent(movie_id: &Uuid, updated_at: i64, user_id: &Uuid) -> Key {
    Key::new(
        recent_partition(movie_id),
        format!("{}#{user_id}", domain::timestamp::sort_key(updated_at)),
    )
}

pub fn reviewer_partition(user_id: &Uuid) -> String {
    format!("reviewer#{user_id}")
}

pub const REVIEWED_PREFIX: &str = "movie#";

pub fn reviewed(user_id: &Uuid, movie_id: &Uuid) -> Key {
    Key::new(
        reviewer_partition(user_id),
        format!("{REVIEWED_PREFIX}{movie_id}"),
    )
}

pub fn reviewer_profile(user_id: &Uuid) -> Key {
    Key::new(reviewer_partition(user_id), "profile")
}
