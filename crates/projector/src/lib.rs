//! The projector: every read model, each written by exactly one projection, and the reads
//! that serve them. Projections consume events idempotently (see `platform::consumer`),
//! tolerate events arriving out of order, and never recompute an aggregate from scratch.
//! Every item a projection writes or reads is a typed record (`store::Record`) defined in
//! the module of the projection that writes it.
//!
//! | read model | projection | serves |
//! |---|---|---|
//! | movie summaries (with their posters), all-movies list, genre lists and counts | `catalog` | `GET /movies`, `/genres`, `/genres/{g}/movies`, summaries everywhere |
//! | movie scores, top-rated, users' review lists | `reviews` | score and review_count, `GET /movies/top-rated`, `GET /users/{id}` reviews |
//! | actor list (with photos) | `actors_list` | `GET /actors` |
//! | filmographies (their scores and posters joined from the summaries) | `filmography` | `GET /actors/{id}` movies |
//!
//! Title and name search (`search`) is no read model in the store: each serving process
//! keeps its own index in memory, rebuilt from the all-movies and actor lists.

use std::sync::Arc;
use std::time::Duration;

use bus::Subscription;
use platform::consumer::{IdempotentConsumer, Projection};
use store::{Item, Label, Record, Store};

use crate::lifecycle::MovieListing;

pub mod actors_list;
pub mod audit;
pub mod catalog;
pub mod filmography;
mod lifecycle;
pub mod reviews;
pub mod search;
pub mod searchable_list;
mod sharded;

/// Consumers an earlier version ran and this one does not: their queues are removed at start,
/// so that no queue keeps collecting events nobody reads. `movie-search` kept the title
/// word index in the store; search now reads an index in memory. `scores` and
/// `user-reviews` became `reviews`, whose review pointers make their markers unneeded.
pub const RETIRED_CONSUMERS: &[&str] = &["movie-search", "scores", "user-reviews"];

/// The subscriptions of every projection, ready to hand to a bus; each counts its store
/// requests under its consumer name and keeps its processed-event markers for
/// `marker_retention`.
pub fn subscriptions(store: Arc<dyn Store>, marker_retention: Duration) -> Vec<Subscription> {
    vec![
        subscription(
            &store,
            MovieListing(catalog::CatalogProjection),
            marker_retention,
        ),
        subscription(&store, reviews::ReviewsProjection, marker_retention),
        subscription(&store, actors_list::ActorListProjection, marker_retention),
        subscription(
            &store,
            MovieListing(filmography::FilmographyProjection),
            marker_retention,
        ),
    ]
}

fn subscription<P: Projection>(
    store: &Arc<dyn Store>,
    projection: P,
    marker_retention: Duration,
) -> Subscription {
    let store = store.labelled(projection.name());
    IdempotentConsumer::new(store, projection, marker_retention).subscription()
}

/// The record an item holds, or `None` when it does not decode: the reads have always left
/// such items out (a list without them, a summary absent) rather than fail, and now also
/// log them.
fn decode_or_skip<R: Record>(item: &Item) -> Option<R> {
    match R::from_item(item) {
        Ok(record) => Some(record),
        Err(error) => {
            tracing::warn!(pk = %item.key.pk, sk = %item.key.sk, %error, "left out of a read");
            None
        }
    }
}

/// What the records' unit tests share.
#[cfg(test)]
mod test_support {
    /// The attribute names of stored attributes, sorted: existing data and
    /// docs/data-model.md depend on them staying as they are.
    pub fn attribute_names(attrs: &store::Attrs) -> Vec<&str> {
        let mut names: Vec<&str> = attrs.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}
