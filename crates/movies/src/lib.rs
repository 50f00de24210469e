//! The movies service: owns movies and reviews, and serves the movie, genre, top-rated and
//! review endpoints. It keeps reviews in their authors' partitions, with its own index of
//! each movie's reviews by time and its copy of each reviewer's name, and consumes the users'
//! events to rename and delete reviewers' reviews, and its own movie deletions to remove a
//! deleted movie's reviews. It also keeps each user's watch list, and takes deleted
//! movies and users off the lists; and it takes deleted actors out of the casts, which its
//! cast index finds.
//!
//! | record (`records`) | key |
//! |---|---|
//! | `MovieRecord` | `movie#{id}` / `movie` |
//! | `ReviewRecord` | `reviewer#{user}` / `movie#{movie}` |
//! | `RecentEntry`: a movie's reviews newest first | `recent#{movie}` / `{updated_at}#{user}` |
//! | `ReviewerProfile`: a reviewer's name | `reviewer#{user}` / `profile` |
//! | `WatchlistMembership`: a movie on a user's list | `watchlist#{user}` / `in#{movie}` |
//! | `WatchlistOrderEntry`: a user's list newest first | `watchlist#{user}` / `at#{added_at}#{movie}` |
//! | `WatcherEntry`: a movie's watchers | `watchers#{movie}` / `{user}` |
//! | `WatchlistCount`: on how many lists a movie is | `movie#{id}` / `watchlist` |
//! | `CastIndexEntry`: a movie an actor plays in | `castof#{actor}` / `{movie}` |

pub mod audit;
mod casts;
pub mod consumers;
mod directory;
mod error;
pub mod http;
mod movies;
mod posters;
mod records;
mod review_plan;
mod reviews;
mod views;
mod watchlist;
mod watchlist_plan;

pub use directory::LocalMovieDirectory;
pub use error::MoviesError;
pub use movies::MoviesService;
pub use review_plan::Written;
pub use reviews::ReviewsService;
pub use views::{CastView, MovieView, ReviewView};
pub use watchlist::WatchlistService;
