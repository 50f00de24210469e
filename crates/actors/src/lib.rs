//! The actors service: owns actors (items `actor#{id}`), answers other services' questions
//! about them, and serves the actor endpoints. An actor's filmography and the actor lists
//! (all actors, and the name search) are read models kept by the projector.

pub mod audit;
mod directory;
mod error;
pub mod http;
mod record;
mod service;
mod view;

pub use directory::LocalActorDirectory;
pub use error::ActorsError;
pub use service::ActorsService;
pub use view::ActorView;
