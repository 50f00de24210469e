//! The actors service: owns actors (items `actor#{id}`), answers other services' questions
//! about them, and serves the actor endpoints. An actor's filmography and the actor search
//! are read models kept by the projector.

pub mod http;
mod service;

pub use service::{ActorView, ActorsService, LocalActorDirectory};
