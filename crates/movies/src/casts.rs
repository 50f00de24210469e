//! Deleted actors leave the casts: the movies service takes a deleted actor out of the cast
//! of every movie it plays in, found in the service's cast index (`castof#{actor}`), and
//! turns its copy of the actor's photo into a tombstone. A movie is one transaction — its
//! cast, conditional on being what was read, and its index entry — so a redelivered or
//! resumed deletion finds the movies done and their entries gone.

use domain::events::CastMember;
use store::{Record, StoreError, StoreExt, Write};
use uuid::Uuid;

use crate::MoviesService;
use crate::error::MoviesError;
use crate::records::{CAST, CastIndexEntry, MovieCast, MovieRecord};

/// How many index entries one read of the walk takes.
const WALK_PAGE: usize = 25;

/// How many times a movie is read again when its cast changed under the write.
const LEAVE_ATTEMPTS: usize = 20;

impl MoviesService {
    /// Takes the deleted actor `actor_id` out of every cast, for the deletion event
    /// `version`.
    pub(crate) async fn remove_actor(
        &self,
        actor_id: &Uuid,
        version: Uuid,
    ) -> Result<(), MoviesError> {
        // The deletion is newer than any change of the actor's photo, so no change
        // delivered late brings the copy back.
        self.copy_cast_photo(actor_id, None, version).await?;
        loop {
            let page = self
                .store()
                .query(&CastIndexEntry::of_actor(actor_id, WALK_PAGE))
                .await?;
            for item in &page.items {
                let entry = CastIndexEntry::from_item(item)?;
                self.leave_cast(actor_id, &entry.movie_id).await?;
            }
            // Each entry read is gone now: the next read starts at what is left.
            if !page.more {
                return Ok(());
            }
        }
    }

    /// Takes out of a movie just created each cast member whose actor is gone now. An actor
    /// deleted between the cast's check and the movie's commit may have had its casts
    /// walked before the movie was listed under it; this read comes after the commit, so
    /// it sees every such deletion. A failure here leaves the movie created (a retried
    /// creation would make a second one): `moviebook verify` finds what is left.
    pub(crate) async fn recheck_cast(&self, movie: &mut MovieRecord) {
        if movie.cast.is_empty() {
            return;
        }
        let ids: Vec<Uuid> = movie.cast.iter().map(|member| member.actor_id).collect();
        let found = match self.actors.actors(&ids).await {
            Ok(found) => found,
            Err(error) => {
                tracing::warn!(
                    movie = %movie.id, %error,
                    "the new movie's cast was not checked again"
                );
                return;
            }
        };
        for (actor_id, actor) in ids.iter().zip(found) {
            if actor.is_some() {
                continue;
            }
            match self.leave_cast(actor_id, &movie.id).await {
                Ok(()) => movie.cast.retain(|member| member.actor_id != *actor_id),
                Err(error) => {
                    tracing::warn!(
                        movie = %movie.id, actor = %actor_id, %error,
                        "a deleted actor stays in a new movie's cast"
                    );
                }
            }
        }
    }

    /// Takes `actor_id` out of the cast of `movie_id` (if it is still there) and deletes
    /// the index entry that led here, in one transaction.
    async fn leave_cast(&self, actor_id: &Uuid, movie_id: &Uuid) -> Result<(), MoviesError> {
        let entry = CastIndexEntry::key(actor_id, movie_id);
        for _ in 0..LEAVE_ATTEMPTS {
            let movie: Option<MovieRecord> =
                self.store().get_record(&MovieRecord::key(movie_id)).await?;
            let mut writes = vec![Write::delete(entry.clone())];
            if let Some(movie) = movie
                && movie.cast.iter().any(|member| member.actor_id == *actor_id)
            {
                writes.push(cast_kept(&movie, |member| member.actor_id != *actor_id)?);
            }
            match self.store().transact(writes).await {
                // The cast changed (another actor left it) or the movie went: read again.
                Err(StoreError::ConditionFailed { .. }) => continue,
                other => return Ok(other?),
            }
        }
        Err(MoviesError::CastKeptChanging)
    }
}

/// The write that keeps only the members of `movie`'s cast that `keep` says, on condition
/// that the cast is still the one read (which also holds the movie existing).
pub(crate) fn cast_kept(
    movie: &MovieRecord,
    keep: impl Fn(&CastMember) -> bool,
) -> Result<Write, StoreError> {
    let cast: Vec<CastMember> = movie
        .cast
        .iter()
        .filter(|member| keep(member))
        .cloned()
        .collect();
    Ok(Write::Update {
        key: MovieRecord::key(&movie.id),
        set: store::attrs_of(&MovieCast { cast: &cast }, MovieRecord::KIND)?,
        add: Vec::new(),
        condition: store::attr_equals(CAST, &movie.cast)?,
    })
}
