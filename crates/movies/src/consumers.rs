//! The movies service's own consumers: they turn an event into a call of the reviews or
//! watch list service and its result into the bus's outcome. The work touches many reviews
//! or list entries per event, more than one transaction holds, so each review (each batch
//! of entries) is changed in its own transaction guarded by what it read: a redelivered
//! event finds the work done and changes nothing more.

use std::sync::Arc;

use async_trait::async_trait;
use bus::{Handler, Outcome, Subscription};
use domain::events::{Envelope, Event, EventType};
use domain::picture::PictureOwner;
use pictures::Pictures;

use crate::MoviesService;
use crate::error::MoviesError;
use crate::reviews::ReviewsService;
use crate::watchlist::WatchlistService;

/// Renames a reviewer on their reviews, and deletes a deleted user's reviews.
pub struct ReviewerConsumer {
    reviews: ReviewsService,
}

/// Deletes a deleted movie's reviews, each announced as deleted.
pub struct MovieCleanupConsumer {
    reviews: ReviewsService,
}

/// Takes a deleted movie off every watch list, and empties a deleted user's list.
pub struct WatchlistCleanupConsumer {
    watchlists: WatchlistService,
}

/// Removes the files of a poster that stopped being current: replaced, deleted, or its
/// movie deleted.
pub struct PosterFilesConsumer {
    pictures: Pictures,
}

/// Keeps the copies of actors' photos that the cast on movie pages shows.
pub struct CastPhotosConsumer {
    movies: MoviesService,
}

/// Takes deleted actors out of the casts.
pub struct CastsConsumer {
    movies: MoviesService,
}

/// The movies service's consumers and the events each takes.
pub const CONSUMERS: [(&str, &[EventType]); 6] = [
    (
        "movies-reviewers",
        &[EventType::UserRenamed, EventType::UserDeleted],
    ),
    ("movies-cleanup", &[EventType::MovieDeleted]),
    (
        "movies-watchlists",
        &[EventType::MovieDeleted, EventType::UserDeleted],
    ),
    (
        "movies-poster-files",
        &[EventType::PosterChanged, EventType::MovieDeleted],
    ),
    ("movies-cast-photos", &[EventType::PhotoChanged]),
    ("movies-casts", &[EventType::ActorDeleted]),
];

/// The subscriptions of the movies service, each counting its store requests under its
/// consumer name.
pub fn subscriptions(movies: MoviesService) -> Vec<Subscription> {
    let [
        (reviewers, reviewer_events),
        (cleanup, cleanup_events),
        (watchlists, watchlist_events),
        (poster_files, poster_file_events),
        (cast_photos, cast_photo_events),
        (casts, cast_events),
    ] = CONSUMERS;
    let reviews = movies.reviews();
    vec![
        Subscription {
            consumer: reviewers.into(),
            event_types: reviewer_events.to_vec(),
            partitioned: false,
            handler: Arc::new(ReviewerConsumer {
                reviews: reviews.labelled(reviewers),
            }),
        },
        Subscription {
            consumer: cleanup.into(),
            event_types: cleanup_events.to_vec(),
            partitioned: false,
            handler: Arc::new(MovieCleanupConsumer {
                reviews: reviews.labelled(cleanup),
            }),
        },
        Subscription {
            consumer: watchlists.into(),
            event_types: watchlist_events.to_vec(),
            partitioned: false,
            handler: Arc::new(WatchlistCleanupConsumer {
                watchlists: movies.watchlists().labelled(watchlists),
            }),
        },
        Subscription {
            consumer: poster_files.into(),
            event_types: poster_file_events.to_vec(),
            partitioned: false,
            handler: Arc::new(PosterFilesConsumer {
                pictures: movies.pictures.clone(),
            }),
        },
        Subscription {
            consumer: cast_photos.into(),
            event_types: cast_photo_events.to_vec(),
            partitioned: false,
            handler: Arc::new(CastPhotosConsumer {
                movies: movies.labelled(cast_photos),
            }),
        },
        Subscription {
            consumer: casts.into(),
            event_types: cast_events.to_vec(),
            partitioned: false,
            handler: Arc::new(CastsConsumer {
                movies: movies.labelled(casts),
            }),
        },
    ]
}

/// An outage or contention is retried later; anything else will never succeed.
fn outcome(result: Result<(), MoviesError>) -> Outcome {
    match result {
        Ok(()) => Outcome::Done,
        Err(error) if error.is_transient() => Outcome::Retry(error.to_string()),
        Err(error) => Outcome::Reject(error.to_string()),
    }
}

#[async_trait]
impl Handler for ReviewerConsumer {
    async fn handle(&self, envelope: &Envelope) -> Outcome {
        // The event's id is the version of the reviewer's name copy it leaves behind.
        let version = envelope.id.to_string();
        outcome(match &envelope.event {
            Event::UserRenamed(renamed) => {
                self.reviews
                    .rename_reviewer(&renamed.user_id, &renamed.name, &version)
                    .await
            }
            Event::UserDeleted(deleted) => {
                self.reviews
                    .remove_reviewer(&deleted.user_id, &version)
                    .await
            }
            _ => Ok(()),
        })
    }
}

#[async_trait]
impl Handler for MovieCleanupConsumer {
    async fn handle(&self, envelope: &Envelope) -> Outcome {
        let Event::MovieDeleted(movie) = &envelope.event else {
            return Outcome::Done;
        };
        outcome(self.reviews.remove_movie_reviews(&movie.movie_id).await)
    }
}

#[async_trait]
impl Handler for WatchlistCleanupConsumer {
    async fn handle(&self, envelope: &Envelope) -> Outcome {
        outcome(match &envelope.event {
            Event::MovieDeleted(movie) => self.watchlists.remove_movie(&movie.movie_id).await,
            Event::UserDeleted(user) => self.watchlists.remove_user(&user.user_id).await,
            _ => Ok(()),
        })
    }
}

#[async_trait]
impl Handler for PosterFilesConsumer {
    async fn handle(&self, envelope: &Envelope) -> Outcome {
        let (movie_id, gone) = match &envelope.event {
            Event::PosterChanged(changed) => (changed.movie_id, changed.replaced),
            Event::MovieDeleted(movie) => (movie.movie_id, movie.poster),
            _ => return Outcome::Done,
        };
        let Some(gone) = gone else {
            return Outcome::Done;
        };
        let removed = self
            .pictures
            .remove(PictureOwner::Movie(movie_id), &gone)
            .await
            .map_err(MoviesError::from);
        outcome(removed)
    }
}

#[async_trait]
impl Handler for CastPhotosConsumer {
    async fn handle(&self, envelope: &Envelope) -> Outcome {
        let Event::PhotoChanged(changed) = &envelope.event else {
            return Outcome::Done;
        };
        outcome(
            self.movies
                .copy_cast_photo(&changed.actor_id, changed.photo, envelope.id)
                .await,
        )
    }
}

#[async_trait]
impl Handler for CastsConsumer {
    async fn handle(&self, envelope: &Envelope) -> Outcome {
        let Event::ActorDeleted(actor) = &envelope.event else {
            return Outcome::Done;
        };
        outcome(self.movies.remove_actor(&actor.actor_id, envelope.id).await)
    }
}
