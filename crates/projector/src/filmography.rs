//! Filmographies: each actor's movies, newest release first, with the role played. Scores
//! and posters are not copied here; the read joins the movies' summaries, so neither a
//! review nor a poster change has to touch every cast member's filmography.

use domain::events::MovieSnapshot;
use domain::picture::PictureView;
use serde::{Deserialize, Serialize};
use store::{Key, Query, Record, Store, StoreError, Write};
use uuid::Uuid;

use crate::catalog::{release_sort_key, summaries};
use crate::decode_or_skip;
use crate::lifecycle::{self, ListsMovies};

/// The most movies an actor page lists.
pub const FILMOGRAPHY_MAX: usize = 100;

/// A movie on an actor's page.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FilmographyEntry {
    pub id: Uuid,
    pub title: String,
    pub release_year: i32,
    pub role: String,
    pub score: Option<f64>,
    pub review_count: i64,
    /// The movie's poster, as its summary shows it; null without one.
    pub poster: Option<PictureView>,
}

/// A movie in an actor's filmography as stored:
/// `filmography#{actor}` / `{release_year:04}#{created_at:020}#{movie}`. Title and year are
/// kept as the movie was created; the read shows the summary's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct FilmographyRecord {
    movie_id: Uuid,
    title: String,
    release_year: i32,
    role: String,
}

impl Record for FilmographyRecord {
    const KIND: &'static str = "filmography entry";
}

fn partition(actor_id: &Uuid) -> String {
    format!("filmography#{actor_id}")
}

fn entry_key(actor_id: &Uuid, movie: &MovieSnapshot) -> Key {
    Key::new(partition(actor_id), release_sort_key(movie))
}

/// Writes filmographies.
pub(crate) struct FilmographyProjection;

#[async_trait::async_trait]
impl ListsMovies for FilmographyProjection {
    fn name(&self) -> &'static str {
        "filmography"
    }

    fn listed_under(&self) -> &'static [&'static str] {
        &["filmography#"]
    }

    fn entries(&self, movie: &MovieSnapshot, remove: bool) -> Result<Vec<Write>, StoreError> {
        movie
            .cast
            .iter()
            .map(|member| {
                let record = FilmographyRecord {
                    movie_id: movie.movie_id,
                    title: movie.title.clone(),
                    release_year: movie.release_year,
                    role: member.role.clone(),
                };
                lifecycle::entry(entry_key(&member.actor_id, movie), &record, remove)
            })
            .collect()
    }
}

/// An actor's movies, newest release first, with current scores.
pub async fn filmography(
    store: &dyn Store,
    actor_id: &Uuid,
) -> Result<Vec<FilmographyEntry>, StoreError> {
    let page = store
        .query(&Query::prefix(partition(actor_id), "", FILMOGRAPHY_MAX).descending())
        .await?;
    let records: Vec<FilmographyRecord> = page.items.iter().filter_map(decode_or_skip).collect();
    let ids: Vec<Uuid> = records.iter().map(|record| record.movie_id).collect();
    let movies = summaries(store, &ids).await?;
    Ok(records
        .into_iter()
        .zip(movies)
        .filter_map(|(record, summary)| {
            // A movie deleted since the entry was read has no summary: leave it out.
            let summary = summary?;
            Some(FilmographyEntry {
                id: summary.id,
                title: summary.title,
                release_year: summary.release_year,
                role: record.role,
                score: summary.score,
                review_count: summary.review_count,
                poster: summary.poster,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::attribute_names;

    #[test]
    fn a_filmography_entry_keeps_its_attribute_names() {
        let attrs = FilmographyRecord {
            movie_id: Uuid::now_v7(),
            title: "Heat".into(),
            release_year: 1995,
            role: "Neil".into(),
        }
        .to_attrs()
        .unwrap();
        assert_eq!(
            attribute_names(&attrs),
            ["movie_id", "release_year", "role", "title"]
        );
    }
}
