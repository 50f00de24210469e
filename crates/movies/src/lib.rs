//! The movies service: owns movies and reviews, and serves the movie, genre, top-rated and
//! review endpoints. It keeps its own index entries beside them — reviews by time per movie,
//! reviews per author, and its copy of each reviewer's name — and consumes the users'
//! events to rename and delete reviewers' reviews, and its own movie deletions to remove a
//! deleted movie's reviews.
//!
//! | record (`records`) | key |
//! |---|---|
//! | `MovieRecord` | `movie#{id}` / `movie` |
//! | `ReviewRecord` | `movie#{id}` / `review#{user}` |
//! | `RecentEntry`: reviews newest first | `recent#{movie}` / `{updated_at}#{user}` |
//! | `ReviewedEntry`: a reviewer's reviews | `reviewer#{user}` / `movie#{movie}` |
//! | `ReviewerProfile`: a reviewer's name | `reviewer#{user}` / `profile` |

pub mod consumers;
mod directory;
mod error;
pub mod http;
mod movies;
mod records;
mod review_plan;
mod reviews;
mod views;

pub use directory::LocalMovieDirectory;
pub use error::MoviesError;
pub use movies::MoviesService;
pub use review_plan::Written;
pub use reviews::ReviewsService;
pub use views::{CastView, MovieView, ReviewView};
