//! Filmographies: each actor's movies, newest release first, with the role played. Scores
//! and posters are not copied here; the read joins the movies' summaries, so neither a
//! review nor a poster change has to touch every cast member's filmography. A deleted
//! actor's filmography is removed, and its lifecycle record (`lifecycle#{actor}` /
//! [`ACTOR_LIFECYCLE`]) keeps a movie's creation arriving later from listing it again.

use domain::events::{Envelope, Event, EventType, MovieSnapshot};
use domain::picture::PictureView;
use serde::{Deserialize, Serialize};
use store::{Key, Query, Record, Store, StoreError, Write};
use uuid::Uuid;

use crate::catalog::{release_sort_key, summaries};
use crate::decode_or_skip;
use crate::lifecycle::{self, ListsMovies};

/// The sort key of an actor's lifecycle record in this projection, apart from the movies'
/// (`filmography`), which its audit reads as movies.
const ACTOR_LIFECYCLE: &str = "filmography-actor";

/// How many of a deleted actor's entries one transaction removes, beside its lifecycle
/// record and the consumer's marker.
const REMOVED_PER_TRANSACTION: usize = 97;

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

    /// The entries of the cast members that are not deleted, each with a check that its
    /// actor is still not deleted when the plan commits (while the checks fit in the
    /// transaction: beside a cast of 49 or more, a deletion racing the creation is left
    /// to `moviebook verify`).
    async fn listing(
        &self,
        store: &dyn Store,
        movie: &MovieSnapshot,
    ) -> Result<Vec<Write>, StoreError> {
        let mut live = Vec::with_capacity(movie.cast.len());
        for chunk in movie.cast.chunks(store::MAX_BATCH_GET_KEYS) {
            let keys: Vec<Key> = chunk
                .iter()
                .map(|member| lifecycle::key(ACTOR_LIFECYCLE, &member.actor_id))
                .collect();
            let records = store.batch_get(&keys).await?;
            live.extend(
                chunk
                    .iter()
                    .zip(records)
                    .filter(|(_, record)| record.is_none())
                    .map(|(member, _)| member.clone()),
            );
        }
        let listed = MovieSnapshot {
            cast: live,
            ..movie.clone()
        };
        let mut writes = self.entries(&listed, false)?;
        // The movie's lifecycle record, these entries and the marker come first.
        let room = (store::MAX_TRANSACTION_WRITES - 2).saturating_sub(writes.len());
        if room >= listed.cast.len() {
            writes.extend(
                listed
                    .cast
                    .iter()
                    .map(|member| lifecycle::still_unseen(ACTOR_LIFECYCLE, &member.actor_id)),
            );
        }
        Ok(writes)
    }

    fn marked_events(&self) -> &'static [EventType] {
        &[EventType::ActorDeleted]
    }

    /// A deleted actor's filmography goes: its lifecycle record first, so that no movie
    /// lists the actor again, then its entries, as many transactions as they take; the
    /// last batch is the plan, committed with the marker. A crash or a race part-way
    /// leaves what is left to the event's redelivery, which finds fewer entries.
    async fn plan_other(
        &self,
        store: &dyn Store,
        envelope: &Envelope,
    ) -> Result<Vec<Write>, StoreError> {
        let Event::ActorDeleted(actor) = &envelope.event else {
            return Ok(Vec::new());
        };
        let deleted = lifecycle::deleted(ACTOR_LIFECYCLE, &actor.actor_id)?;
        loop {
            let page = store
                .query(&Query::prefix(
                    partition(&actor.actor_id),
                    "",
                    REMOVED_PER_TRANSACTION,
                ))
                .await?;
            let mut writes = vec![deleted.clone()];
            writes.extend(page.items.into_iter().map(|item| Write::delete(item.key)));
            if !page.more {
                return Ok(writes);
            }
            store.transact(writes).await?;
        }
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
