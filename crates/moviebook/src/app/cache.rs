//! What MovieBook's hot reads depend on, for the process's cache of ready answers
//! (`platform::read_cache`): which tags each public `GET` path depends on, which tags each
//! event and each write makes stale, and the watcher that bumps them as events go by.
//!
//! Tags are per resource where the event names the resource, and coarse where it does not
//! or where a change touches too many pages to name: a review's score shows in every list
//! and on its cast's actor pages (the event does not carry the cast), and a reviewer's new
//! name on every movie page they reviewed. Those events then invalidate a whole kind of page;
//! they are rare next to reads.

use std::sync::Arc;

use async_trait::async_trait;
use bus::Watcher;
use domain::events::{Envelope, Event, EventType};
use platform::read_cache::{CachePolicy, ReadCache, Tag};
use uuid::Uuid;

/// What an answer can depend on.
#[derive(Hash)]
enum Depends {
    /// Every movie list: all movies, search, top-rated, genres and genre pages.
    Catalogue,
    /// The actor list and actor search.
    ActorLists,
    /// One movie's page, its reviews and each of its reviews.
    Movie(Uuid),
    /// One actor's page with its filmography.
    Actor(Uuid),
    /// One user's page with their reviews.
    User(Uuid),
    /// Every movie page and review (reviewer names).
    EveryMoviePage,
    /// Every actor page (filmography scores).
    EveryActorPage,
}

fn tag(depends: Depends) -> Tag {
    Tag::of(&depends)
}

/// Every event a cached answer can depend on.
pub const WATCHED: [EventType; 10] = [
    EventType::ActorCreated,
    EventType::ActorDeleted,
    EventType::MovieCreated,
    EventType::MovieDeleted,
    EventType::ReviewUpserted,
    EventType::ReviewDeleted,
    EventType::UserRenamed,
    EventType::UserDeleted,
    EventType::PosterChanged,
    EventType::PhotoChanged,
];

/// MovieBook's paths and what they depend on.
pub struct MovieBookPages;

impl CachePolicy for MovieBookPages {
    fn read_tags(&self, path: &str) -> Option<Vec<Tag>> {
        let segments = api_segments(path)?;
        Some(match segments.as_slice() {
            ["movies"] | ["movies", "top-rated"] | ["genres"] | ["genres", _, "movies"] => {
                vec![tag(Depends::Catalogue)]
            }
            ["movies", id] | ["movies", id, "reviews"] | ["movies", id, "reviews", _] => vec![
                tag(Depends::Movie(Uuid::try_parse(id).ok()?)),
                tag(Depends::EveryMoviePage),
            ],
            ["actors"] => vec![tag(Depends::ActorLists)],
            ["actors", id] => vec![
                tag(Depends::Actor(Uuid::try_parse(id).ok()?)),
                tag(Depends::EveryActorPage),
            ],
            ["users", id] => vec![tag(Depends::User(Uuid::try_parse(id).ok()?))],
            _ => return None,
        })
    }

    fn written_tags(&self, path: &str) -> Vec<Tag> {
        let Some(segments) = api_segments(path) else {
            return Vec::new();
        };
        let id = |text: &str| Uuid::try_parse(text).ok();
        // The written resource itself; what derives from it follows by its events.
        let written = match segments.as_slice() {
            ["movies"] => vec![Some(Depends::Catalogue)],
            ["movies", movie, "reviews", user] => {
                vec![id(movie).map(Depends::Movie), id(user).map(Depends::User)]
            }
            ["movies", movie, ..] => vec![id(movie).map(Depends::Movie)],
            ["actors"] => vec![Some(Depends::ActorLists)],
            ["actors", actor, ..] => vec![id(actor).map(Depends::Actor)],
            // The movie's page shows its watch list count, which the write moved.
            ["users", user, "watchlist", movie] => {
                vec![id(user).map(Depends::User), id(movie).map(Depends::Movie)]
            }
            ["users", user, ..] => vec![id(user).map(Depends::User)],
            _ => Vec::new(),
        };
        written.into_iter().flatten().map(tag).collect()
    }
}

/// The segments of an API path after `/api/v1/`.
fn api_segments(path: &str) -> Option<Vec<&str>> {
    Some(path.strip_prefix("/api/v1/")?.split('/').collect())
}

/// The tags an event makes stale.
fn stale_after(event: &Event) -> Vec<Tag> {
    let depends = match event {
        Event::ActorCreated(actor) => vec![Depends::ActorLists, Depends::Actor(actor.actor_id)],
        // A deleted actor leaves its page, the actor lists and the cast of every movie it
        // played in, which the event does not name (the movies service finds them).
        Event::ActorDeleted(actor) => vec![
            Depends::Actor(actor.actor_id),
            Depends::ActorLists,
            Depends::EveryMoviePage,
        ],
        Event::MovieCreated(movie) | Event::MovieDeleted(movie) => {
            [Depends::Catalogue, Depends::Movie(movie.movie_id)]
                .into_iter()
                .chain(
                    movie
                        .cast
                        .iter()
                        .map(|member| Depends::Actor(member.actor_id)),
                )
                .collect()
        }
        Event::ReviewUpserted(review) => {
            review_changed(review.movie_id, review.user_id, review.cast_ids.as_deref())
        }
        // Rare (a review withdrawn, or its movie or author deleted): not worth carrying the
        // cast for.
        Event::ReviewDeleted(review) => review_changed(review.movie_id, review.user_id, None),
        Event::UserRenamed(user) => vec![Depends::User(user.user_id), Depends::EveryMoviePage],
        // The user's reviews are removed one by one, each with an event of its own.
        Event::UserDeleted(user) => vec![Depends::User(user.user_id)],
        // A poster shows on its movie, in every list and in its cast's filmographies.
        Event::PosterChanged(poster) => [Depends::Catalogue, Depends::Movie(poster.movie_id)]
            .into_iter()
            .chain(poster.cast_ids.iter().copied().map(Depends::Actor))
            .collect(),
        // A photo shows on its actor, in the actor lists and in the cast of every movie the
        // actor plays in, which the event does not name (photos change rarely).
        Event::PhotoChanged(photo) => vec![
            Depends::Actor(photo.actor_id),
            Depends::ActorLists,
            Depends::EveryMoviePage,
        ],
    };
    depends.into_iter().map(tag).collect()
}

/// What a review moves: its movie's page, its author's, the lists showing scores, and the
/// pages of the movie's cast — every actor page when the cast is unknown.
fn review_changed(movie_id: Uuid, user_id: Uuid, cast_ids: Option<&[Uuid]>) -> Vec<Depends> {
    let mut depends = vec![
        Depends::Movie(movie_id),
        Depends::User(user_id),
        Depends::Catalogue,
    ];
    match cast_ids {
        Some(cast) => depends.extend(cast.iter().copied().map(Depends::Actor)),
        None => depends.push(Depends::EveryActorPage),
    }
    depends
}

/// Bumps the tags of every event this process sees, and everything when its watch
/// (re)starts: what happened meanwhile is unknown.
pub struct Invalidator {
    pub cache: Arc<ReadCache>,
}

#[async_trait]
impl Watcher for Invalidator {
    async fn resync(&self) {
        self.cache.bump_everything();
    }

    async fn saw(&self, envelope: &Envelope) {
        self.cache.bump(&stale_after(&envelope.event));
    }
}

#[cfg(test)]
mod tests {
    use domain::events::{CastMember, MovieSnapshot, ReviewUpserted, UserRenamed};

    use super::*;

    const MOVIE: &str = "01930000-0000-7000-8000-000000000001";
    const USER: &str = "01930000-0000-7000-8000-000000000002";
    const ACTOR: &str = "01930000-0000-7000-8000-000000000003";
    const OTHER_ACTOR: &str = "01930000-0000-7000-8000-000000000004";

    fn id(text: &str) -> Uuid {
        Uuid::try_parse(text).unwrap()
    }

    fn read(path: &str) -> Vec<Tag> {
        MovieBookPages.read_tags(path).unwrap_or_default()
    }

    /// True when some tag the page depends on is among `stale`.
    fn touches(stale: &[Tag], path: &str) -> bool {
        read(path).iter().any(|tag| stale.contains(tag))
    }

    #[test]
    fn every_public_read_depends_on_something_and_operations_are_never_cached() {
        for path in [
            "/api/v1/movies",
            "/api/v1/movies/top-rated",
            "/api/v1/genres",
            "/api/v1/genres/drama/movies",
            &format!("/api/v1/movies/{MOVIE}"),
            &format!("/api/v1/movies/{MOVIE}/reviews"),
            &format!("/api/v1/movies/{MOVIE}/reviews/{USER}"),
            "/api/v1/actors",
            &format!("/api/v1/actors/{ACTOR}"),
            &format!("/api/v1/users/{USER}"),
        ] {
            assert!(!read(path).is_empty(), "{path}");
        }
        for path in [
            "/healthz",
            "/metrics",
            "/api/v1/openapi.json",
            "/api/v1/movies/nope",
        ] {
            assert_eq!(MovieBookPages.read_tags(path), None, "{path}");
        }
    }

    fn review(cast_ids: Option<Vec<Uuid>>) -> Event {
        Event::ReviewUpserted(ReviewUpserted {
            movie_id: id(MOVIE),
            movie_title: "T".into(),
            user_id: id(USER),
            score: 7,
            previous_score: None,
            comment: None,
            created_at: 0,
            updated_at: 0,
            cast_ids,
        })
    }

    #[test]
    fn a_review_makes_its_movie_its_reviewer_every_list_and_its_cast_stale() {
        let stale = stale_after(&review(Some(vec![id(ACTOR)])));
        for path in [
            format!("/api/v1/movies/{MOVIE}"),
            format!("/api/v1/movies/{MOVIE}/reviews"),
            format!("/api/v1/users/{USER}"),
            format!("/api/v1/actors/{ACTOR}"),
            "/api/v1/movies/top-rated".into(),
            "/api/v1/genres/drama/movies".into(),
        ] {
            assert!(touches(&stale, &path), "{path}");
        }
        assert!(!touches(&stale, "/api/v1/actors"));
        assert!(
            !touches(&stale, &format!("/api/v1/actors/{OTHER_ACTOR}")),
            "an actor outside the cast keeps their page"
        );
    }

    #[test]
    fn a_review_whose_cast_is_not_carried_makes_every_actor_page_stale() {
        let stale = stale_after(&review(None));
        assert!(touches(&stale, &format!("/api/v1/actors/{OTHER_ACTOR}")));
    }

    #[test]
    fn a_movie_event_makes_the_lists_the_movie_and_its_cast_stale() {
        let stale = stale_after(&Event::MovieDeleted(MovieSnapshot {
            movie_id: id(MOVIE),
            title: "T".into(),
            release_year: 2000,
            genres: vec!["drama".into()],
            thumbnail_url: None,
            created_at: 0,
            cast: vec![CastMember {
                actor_id: id(ACTOR),
                name: "A".into(),
                role: "lead".into(),
            }],
            poster: None,
        }));
        for path in [
            format!("/api/v1/movies/{MOVIE}"),
            format!("/api/v1/actors/{ACTOR}"),
            "/api/v1/movies".into(),
            "/api/v1/genres".into(),
        ] {
            assert!(touches(&stale, &path), "{path}");
        }
    }

    #[test]
    fn an_actor_deletion_makes_its_page_the_actor_lists_and_every_movie_page_stale() {
        let stale = stale_after(&Event::ActorDeleted(domain::events::ActorDeleted {
            actor_id: id(ACTOR),
            name: "A".into(),
            created_at: 0,
            photo: None,
        }));
        for path in [
            format!("/api/v1/actors/{ACTOR}"),
            "/api/v1/actors".into(),
            format!("/api/v1/movies/{MOVIE}"),
        ] {
            assert!(touches(&stale, &path), "{path}");
        }
        assert!(!touches(&stale, &format!("/api/v1/actors/{OTHER_ACTOR}")));
        assert!(!touches(&stale, "/api/v1/movies"));
    }

    #[test]
    fn a_rename_makes_the_user_and_every_movie_page_stale() {
        let stale = stale_after(&Event::UserRenamed(UserRenamed {
            user_id: id(USER),
            name: "N".into(),
        }));
        assert!(touches(&stale, &format!("/api/v1/users/{USER}")));
        assert!(touches(&stale, &format!("/api/v1/movies/{MOVIE}/reviews")));
        assert!(!touches(&stale, "/api/v1/movies"));
    }

    #[test]
    fn a_write_makes_the_written_resource_stale() {
        let written = MovieBookPages.written_tags(&format!("/api/v1/movies/{MOVIE}/reviews"));
        assert!(touches(&written, &format!("/api/v1/movies/{MOVIE}")));
        let deleted =
            MovieBookPages.written_tags(&format!("/api/v1/movies/{MOVIE}/reviews/{USER}"));
        assert!(touches(&deleted, &format!("/api/v1/users/{USER}")));
        let renamed = MovieBookPages.written_tags(&format!("/api/v1/users/{USER}"));
        assert!(touches(&renamed, &format!("/api/v1/users/{USER}")));
        let listed =
            MovieBookPages.written_tags(&format!("/api/v1/users/{USER}/watchlist/{MOVIE}"));
        assert!(touches(&listed, &format!("/api/v1/movies/{MOVIE}")));
        assert!(MovieBookPages.written_tags("/api/v1/auth/token").is_empty());
    }
}
