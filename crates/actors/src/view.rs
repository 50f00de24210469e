//! What the actors service answers with: an actor's page and a page of the actor list.
//! These are the response bodies of the actor endpoints as the OpenAPI document describes them.

use projector::filmography::FilmographyEntry;
use projector::search::ActorListing;
use serde::Serialize;
use uuid::Uuid;

use crate::record::ActorRecord;

/// An actor's page.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ActorView {
    pub id: Uuid,
    pub name: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    pub bio: Option<String>,
    pub thumbnail_url: Option<String>,
    pub pictures: Vec<String>,
    /// The filmography, newest release first (at most 100).
    pub movies: Vec<FilmographyEntry>,
}

impl ActorView {
    /// The page of a stored actor with its filmography.
    pub(crate) fn of(actor: ActorRecord, movies: Vec<FilmographyEntry>) -> Self {
        ActorView {
            id: actor.id,
            name: actor.name,
            date_of_birth: actor.date_of_birth,
            bio: actor.bio,
            thumbnail_url: actor.thumbnail_url,
            pictures: actor.pictures,
            movies,
        }
    }
}

/// A page of actors.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ActorPage {
    pub items: Vec<ActorListing>,
    /// Where the next page starts; `null` on the last page.
    pub next_cursor: Option<String>,
}
