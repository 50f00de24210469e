//! A movie's page and a review as the API shows them, made from the stored records.

use std::collections::HashMap;

use domain::picture::{PictureOwner, PictureView, StoredPicture};
use projector::catalog::MovieSummary;
use serde::Serialize;
use uuid::Uuid;

use crate::records::{MovieRecord, ReviewRecord};

/// A cast member on a movie's page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CastView {
    pub id: Uuid,
    pub name: String,
    pub role: String,
    /// The actor's photo.
    pub photo: Option<PictureView>,
}

/// A movie's page.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MovieView {
    pub id: Uuid,
    pub title: String,
    pub release_year: i32,
    pub genres: Vec<String>,
    pub overview: Option<String>,
    pub thumbnail_url: Option<String>,
    pub pictures: Vec<String>,
    /// The uploaded poster.
    pub poster: Option<PictureView>,
    pub actors: Vec<CastView>,
    /// The mean review score rounded half away from zero to 2 decimals; null without reviews.
    pub score: Option<f64>,
    pub review_count: i64,
    /// On how many users' watch lists the movie is.
    pub watchlist_count: i64,
    /// The first 10 reviews, most recently written first.
    pub reviews: Vec<ReviewView>,
    pub created_at: String,
}

impl MovieView {
    /// The page of a movie with its poster, its score (from the catalogue's summary, which a
    /// new movie does not have yet), its watch list count, its latest reviews and its cast's
    /// photos.
    pub(crate) fn new(
        movie: MovieRecord,
        poster: Option<StoredPicture>,
        summary: Option<MovieSummary>,
        watchlist_count: i64,
        reviews: Vec<ReviewView>,
        photos: &HashMap<Uuid, StoredPicture>,
    ) -> Self {
        MovieView {
            id: movie.id,
            title: movie.title,
            release_year: movie.release_year,
            genres: movie.genres,
            overview: movie.overview,
            thumbnail_url: movie.thumbnail_url,
            pictures: movie.pictures,
            poster: poster.map(|poster| poster.view(PictureOwner::Movie(movie.id))),
            actors: movie
                .cast
                .into_iter()
                .map(|member| CastView {
                    photo: photos
                        .get(&member.actor_id)
                        .map(|photo| photo.view(PictureOwner::Actor(member.actor_id))),
                    id: member.actor_id,
                    name: member.name,
                    role: member.role,
                })
                .collect(),
            score: summary.as_ref().and_then(|s| s.score),
            review_count: summary.map_or(0, |s| s.review_count),
            watchlist_count,
            reviews,
            created_at: domain::timestamp::to_rfc3339(movie.created_at),
        }
    }
}

/// A review as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReviewView {
    pub movie_id: Uuid,
    pub user_id: Uuid,
    pub user_name: String,
    pub score: i64,
    pub comment: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&ReviewRecord> for ReviewView {
    fn from(review: &ReviewRecord) -> Self {
        ReviewView {
            movie_id: review.movie_id,
            user_id: review.user_id,
            user_name: review.user_name.clone(),
            score: review.score,
            comment: review.comment.clone(),
            created_at: domain::timestamp::to_rfc3339(review.created_at),
            updated_at: domain::timestamp::to_rfc3339(review.updated_at),
        }
    }
}
