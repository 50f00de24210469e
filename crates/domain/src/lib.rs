//! The MovieBook domain: the rules of movies, actors, users and reviews, and the events
//! that carry their changes between services. No I/O lives here, so every rule can be
//! read and tested on its own.

pub mod events;
pub mod ids;
pub mod input;
pub mod ranking;
pub mod schema;
pub mod score;
pub mod text;
pub mod timestamp;

pub mod actor;
pub mod movie;
pub mod picture;
pub mod review;
pub mod user;

pub use actor::{ActorSummaryRef, NewActor, format_date};
pub use movie::genre_key;
pub use movie::{CastEntry, NewMovie};
pub use review::{NewReview, ReviewScore};
pub use user::{Credentials, NewUser, Rename, email_key};

pub use input::{FieldError, ValidationErrors};
