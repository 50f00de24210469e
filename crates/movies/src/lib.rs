//! The movies service: owns movies and reviews, and serves the movie, genre, top-rated and
//! review endpoints. It keeps its own index items beside them — reviews by time per movie,
//! reviews per author, and its copy of each reviewer's name — and consumes the users'
//! events to rename and delete reviewers' reviews, and its own movie deletions to remove a
//! deleted movie's reviews.
//!
//! | item | key |
//! |---|---|
//! | movie | `movie#{id}` / `movie` |
//! | review | `movie#{id}` / `review#{user}` |
//! | reviews newest first | `recent#{movie}` / `{updated_at}#{user}` |
//! | a reviewer's reviews | `reviewer#{user}` / `movie#{movie}` |
//! | a reviewer's name | `reviewer#{user}` / `profile` |

pub mod consumers;
pub mod http;
mod keys;
mod reviews;
mod service;

pub use reviews::ReviewView;
pub use service::{LocalMovieDirectory, MovieView, MoviesService};
