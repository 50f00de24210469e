//! Filmographies: each actor's movies, newest release first, with the role played. Scores
//! are not copied here; the read joins the movies' summaries, so a review never has to
//! touch every cast member's filmography.

use async_trait::async_trait;
use domain::events::{Envelope, Event, EventType};
use platform::consumer::Projection;
use serde::Serialize;
use serde_json::{Map, json};
use store::{Item, Key, Query, Store, StoreError, Write};
use uuid::Uuid;

use crate::catalog::summaries;
use crate::lifecycle;

const NAME: &str = "filmography";

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
}

fn entry_key(actor_id: &Uuid, release_year: i32, created_at: i64, movie_id: &Uuid) -> Key {
    Key::new(
        format!("filmography#{actor_id}"),
        format!(
            "{release_year:04}#{}#{movie_id}",
            domain::timestamp::sort_key(created_at)
        ),
    )
}

/// Writes filmographies.
pub struct FilmographyProjection;

#[async_trait]
impl Projection for FilmographyProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn event_types(&self) -> Vec<EventType> {
        vec![EventType::MovieCreated, EventType::MovieDeleted]
    }

    async fn plan(&self, store: &dyn Store, envelope: &Envelope) -> Result<Vec<Write>, StoreError> {
        let (movie, remove) = match &envelope.event {
            Event::MovieCreated(movie) => (movie, false),
            Event::MovieDeleted(movie) => (movie, true),
            _ => return Ok(Vec::new()),
        };
        let state = lifecycle::read(store, NAME, &movie.movie_id).await?;
        let Some((to, touch_entries)) = lifecycle::next(state, remove) else {
            return Ok(Vec::new());
        };
        let mut writes = vec![lifecycle::transition(NAME, &movie.movie_id, state, to)];
        if touch_entries {
            for member in &movie.cast {
                let key = entry_key(
                    &member.actor_id,
                    movie.release_year,
                    movie.created_at,
                    &movie.movie_id,
                );
                if remove {
                    writes.push(Write::delete(key));
                } else {
                    let mut attrs = Map::new();
                    attrs.insert("movie_id".into(), json!(movie.movie_id));
                    attrs.insert("title".into(), json!(movie.title));
                    attrs.insert("release_year".into(), json!(movie.release_year));
                    attrs.insert("role".into(), json!(member.role));
                    writes.push(Write::put(Item::new(key, attrs)));
                }
            }
        }
        Ok(writes)
    }
}

/// An actor's movies, newest release first, with current scores.
pub async fn filmography(
    store: &dyn Store,
    actor_id: &Uuid,
) -> Result<Vec<FilmographyEntry>, StoreError> {
    let page = store
        .query(&Query::prefix(format!("filmography#{actor_id}"), "", FILMOGRAPHY_MAX).descending())
        .await?;
    let ids: Vec<Uuid> = page
        .items
        .iter()
        .filter_map(|i| i.str("movie_id")?.parse().ok())
        .collect();
    let movies = summaries(store, &ids).await?;
    Ok(page
        .items
        .iter()
        .zip(movies)
        .filter_map(|(item, summary)| {
            // A movie deleted since the entry was read has no summary: leave it out.
            let summary = summary?;
            Some(FilmographyEntry {
                id: summary.id,
                title: summary.title,
                release_year: summary.release_year,
                role: item.str("role")?.to_owned(),
                score: summary.score,
                review_count: summary.review_count,
            })
        })
        .collect())
}
