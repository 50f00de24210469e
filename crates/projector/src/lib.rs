//! The projector: every read model, each written by exactly one projection, and the reads
//! that serve them. Projections consume events idempotently (see `platform::consumer`),
//! tolerate events arriving out of order, and never recompute an aggregate from scratch.
//!
//! | read model | projection | serves |
//! |---|---|---|
//! | movie summaries, all-movies list, genre lists and counts | `catalog` | `GET /movies`, `/genres`, `/genres/{g}/movies`, summaries everywhere |
//! | movie scores, top-rated | `scores` | score and review_count, `GET /movies/top-rated` |
//! | movie and actor search index, actor list | `search` | `GET /movies?search=`, `GET /actors` |
//! | filmographies | `filmography` | `GET /actors/{id}` movies |
//! | users' review lists | `user_reviews` | `GET /users/{id}` reviews |

use std::sync::Arc;

use bus::Subscription;
use platform::consumer::IdempotentConsumer;
use store::Store;

pub mod catalog;
pub mod filmography;
mod lifecycle;
pub mod scores;
pub mod search;
mod sharded;
pub mod user_reviews;

/// The subscriptions of every projection, ready to hand to a bus.
pub fn subscriptions(store: Arc<dyn Store>) -> Vec<Subscription> {
    vec![
        IdempotentConsumer::new(store.clone(), catalog::CatalogProjection).subscription(),
        IdempotentConsumer::new(store.clone(), scores::ScoresProjection).subscription(),
        IdempotentConsumer::new(store.clone(), search::MovieSearchProjection).subscription(),
        IdempotentConsumer::new(store.clone(), search::ActorSearchProjection).subscription(),
        IdempotentConsumer::new(store.clone(), filmography::FilmographyProjection).subscription(),
        IdempotentConsumer::new(store, user_reviews::UserReviewsProjection).subscription(),
    ]
}
