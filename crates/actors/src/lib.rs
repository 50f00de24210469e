//! The actors service: owns actors (items `actor#{id}`), answers other services' questions
//! about them, and serves the actor endpoints. An actor's filmography and the actor lists
//! (all actors, and the name search) are read models kept by the projector. An actor's photo
//! is recorded beside the actor (`actor#{id}` / `photo`), its files in object storage.

pub mod audit;
pub mod consumers;
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
