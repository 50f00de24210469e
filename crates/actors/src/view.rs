//! What the actors service answers with: an actor's page, the response body of
//! `GET /actors/{id}` as the OpenAPI document describes it.

use domain::picture::{PictureOwner, PictureView, StoredPicture};
use projector::filmography::FilmographyEntry;
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
    /// The uploaded photo.
    pub photo: Option<PictureView>,
    /// The filmography, newest release first (at most 100).
    pub movies: Vec<FilmographyEntry>,
}

impl ActorView {
    /// The page of a stored actor with its photo and filmography.
    pub(crate) fn of(
        actor: ActorRecord,
        photo: Option<StoredPicture>,
        movies: Vec<FilmographyEntry>,
    ) -> Self {
        ActorView {
            photo: photo.map(|photo| photo.view(PictureOwner::Actor(actor.id))),
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
