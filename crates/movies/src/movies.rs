//! The movies service: creating, deleting and showing movies, and the catalogue's lists
//! (all movies, a search, a genre's movies, the genres, the top rated), which it reads from
//! the projector's read models. A movie's page shows its latest reviews and on how many
//! watch lists it is, so the service holds the reviews and watch list services, and hands
//! them to their routes and consumers.

use std::collections::HashMap;
use std::sync::Arc;

use domain::events::{CastMember, Envelope, Event};
use domain::ranking::PriorWeight;
use domain::{FieldError, NewMovie, ValidationErrors};
use pictures::{PictureRecord, Pictures};
use platform::directory::{ActorDirectory, UserDirectory};
use platform::outbox::Outbox;
use platform::pagination::{PageOf, PageRequest};
use projector::catalog::{self, GenreCount, MovieSummary};
use projector::reviews::WeightedMovie;
use projector::search::{MovieSearch, SearchCursor};
use store::{Condition, Record, Store, StoreError, StoreExt, Write};
use uuid::Uuid;

use crate::error::MoviesError;
use crate::records::{CastIndexEntry, MovieRecord, WatchlistCount};
use crate::reviews::ReviewsService;
use crate::views::MovieView;
use crate::watchlist::WatchlistService;

/// How many reviews a movie's page shows.
const PAGE_REVIEWS: usize = 10;

/// How many times a delete reads again when the movie's poster changed under it.
const DELETE_ATTEMPTS: usize = 5;

/// The movies service's commands and queries.
#[derive(Clone)]
pub struct MoviesService {
    pub(crate) outbox: Outbox,
    pub(crate) actors: Arc<dyn ActorDirectory>,
    reviews: ReviewsService,
    watchlists: WatchlistService,
    /// This process's index of titles; it answers searches once it has been built (the
    /// process's bus watch feeds and rebuilds it, see [`MoviesService::title_search`]).
    titles: Arc<MovieSearch>,
    /// Where posters are stored and served from.
    pub(crate) pictures: Pictures,
}

impl MoviesService {
    /// A service that writes through `outbox`, asks `actors` about a new movie's cast, whose
    /// reviews and watch list services ask `users` about reviewers and list owners, and whose
    /// posters are `pictures`.
    pub fn new(
        outbox: Outbox,
        actors: Arc<dyn ActorDirectory>,
        users: Arc<dyn UserDirectory>,
        pictures: Pictures,
    ) -> Self {
        MoviesService {
            reviews: ReviewsService::new(outbox.clone(), users.clone()),
            watchlists: WatchlistService::new(outbox.clone(), users),
            outbox,
            actors,
            titles: Arc::new(MovieSearch::default()),
            pictures,
        }
    }

    /// The same service with its own store requests counted under `caller` (a consumer's
    /// name).
    pub fn labelled(&self, caller: &'static str) -> Self {
        MoviesService {
            outbox: self.outbox.labelled(caller),
            ..self.clone()
        }
    }

    /// The index of titles searches read, for the process to keep current from events.
    pub fn title_search(&self) -> &Arc<MovieSearch> {
        &self.titles
    }

    /// The reviews service of these movies.
    pub fn reviews(&self) -> &ReviewsService {
        &self.reviews
    }

    /// The watch list service of these movies.
    pub fn watchlists(&self) -> &WatchlistService {
        &self.watchlists
    }

    pub(crate) fn store(&self) -> &dyn Store {
        self.outbox.store().as_ref()
    }

    /// Creates a movie after checking that every cast member is a known actor, listed under
    /// each of them in the cast index.
    pub async fn create(&self, movie: NewMovie) -> Result<MovieView, MoviesError> {
        let cast = self.resolve_cast(&movie).await?;
        let mut record = MovieRecord {
            id: domain::ids::new_id(),
            title: movie.title,
            release_year: movie.release_year,
            genres: movie.genres,
            overview: movie.overview,
            thumbnail_url: movie.thumbnail_url,
            pictures: movie.pictures,
            cast,
            created_at: domain::timestamp::now_micros(),
        };
        let event = Envelope::new(Event::MovieCreated(record.snapshot(None)));
        let mut writes = vec![Write::Put {
            item: record.to_item(MovieRecord::key(&record.id))?,
            condition: Condition::NotExists,
        }];
        let listed = CastIndexEntry {
            movie_id: record.id,
        };
        for key in record.cast_index() {
            writes.push(Write::put(listed.to_item(key)?));
        }
        self.outbox.commit(writes, &[event]).await?;
        self.recheck_cast(&mut record).await;
        Ok(MovieView::new(
            record,
            None,
            None,
            0,
            Vec::new(),
            &HashMap::new(),
        ))
    }

    /// The cast as the actors service names it; every repeated or unknown actor is a
    /// failing field.
    async fn resolve_cast(&self, movie: &NewMovie) -> Result<Vec<CastMember>, MoviesError> {
        let ids: Vec<Uuid> = movie.actors.iter().map(|c| c.actor_id).collect();
        let mut errors = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            if ids[..i].contains(id) {
                errors.push(FieldError {
                    field: format!("actors[{i}].actor_id"),
                    message: "appears twice in the cast".into(),
                });
            }
        }
        let found = if ids.is_empty() {
            Vec::new()
        } else {
            self.actors.actors(&ids).await?
        };
        let mut cast = Vec::with_capacity(ids.len());
        for (i, (entry, actor)) in movie.actors.iter().zip(found).enumerate() {
            match actor {
                Some(actor) => cast.push(CastMember {
                    actor_id: actor.id,
                    name: actor.name,
                    role: entry.role.clone(),
                }),
                None => errors.push(FieldError {
                    field: format!("actors[{i}].actor_id"),
                    message: "no actor has this id".into(),
                }),
            }
        }
        if errors.is_empty() {
            Ok(cast)
        } else {
            Err(ValidationErrors(errors).into())
        }
    }

    /// Deletes a movie with its poster record and its cast index entries; its reviews, every
    /// list entry and the poster's files follow through the event, which carries the poster.
    pub async fn delete(&self, id: &Uuid) -> Result<(), MoviesError> {
        for _ in 0..DELETE_ATTEMPTS {
            let mut found = self
                .store()
                .batch_get(&[MovieRecord::key(id), MovieRecord::poster_key(id)])
                .await?
                .into_iter();
            let movie = found.next().flatten().ok_or(MoviesError::MovieNotFound)?;
            let movie = MovieRecord::from_item(&movie)?;
            let poster = found
                .next()
                .flatten()
                .map(|item| PictureRecord::from_item(&item))
                .transpose()?;
            let event = Envelope::new(Event::MovieDeleted(
                movie.snapshot(poster.as_ref().and_then(|p| p.picture)),
            ));
            let mut writes = vec![
                Write::Delete {
                    key: MovieRecord::key(id),
                    condition: Condition::Exists,
                },
                // A poster uploaded since it was read would outlive the movie: read again.
                Write::Delete {
                    key: MovieRecord::poster_key(id),
                    condition: PictureRecord::unchanged(poster.as_ref()),
                },
            ];
            writes.extend(movie.cast_index().map(Write::delete));
            match self.outbox.commit(writes, &[event]).await {
                // Gone meanwhile, or its poster changed: the next read tells which.
                Err(StoreError::ConditionFailed { .. }) => continue,
                other => return Ok(other?),
            }
        }
        Err(MoviesError::Pictures(pictures::PicturesError::Contended))
    }

    /// A movie's page: the movie, its poster, its score, on how many watch lists it is, its
    /// latest reviews and its cast's photos.
    pub async fn get(&self, id: &Uuid) -> Result<MovieView, MoviesError> {
        // The movie, its poster and its watch list count are one partition's items: one
        // request.
        let mut found = self
            .store()
            .batch_get(&[
                MovieRecord::key(id),
                MovieRecord::poster_key(id),
                WatchlistCount::key(id),
            ])
            .await?
            .into_iter();
        let movie = found.next().flatten().ok_or(MoviesError::MovieNotFound)?;
        let movie = MovieRecord::from_item(&movie)?;
        let poster = match found.next().flatten() {
            Some(poster) => PictureRecord::from_item(&poster)?.picture,
            None => None,
        };
        let watchlist_count = match found.next().flatten() {
            Some(count) => WatchlistCount::from_item(&count)?.count,
            None => 0,
        };
        let cast: Vec<Uuid> = movie.cast.iter().map(|member| member.actor_id).collect();
        let (summary, reviews, photos) = futures::try_join!(
            async { Ok::<_, MoviesError>(catalog::summary(self.store(), id).await?) },
            self.reviews.latest(id, PAGE_REVIEWS),
            self.cast_photos(&cast),
        )?;
        Ok(MovieView::new(
            movie,
            poster,
            summary,
            watchlist_count,
            reviews,
            &photos,
        ))
    }

    /// The movie, or not found.
    pub(crate) async fn movie(&self, id: &Uuid) -> Result<MovieRecord, MoviesError> {
        self.store()
            .get_record(&MovieRecord::key(id))
            .await?
            .ok_or(MoviesError::MovieNotFound)
    }

    /// A page of every movie, newest first.
    pub async fn list(
        &self,
        page: PageRequest<String>,
    ) -> Result<PageOf<MovieSummary>, MoviesError> {
        let (items, next) =
            catalog::all_movies_page(self.store(), page.cursor.as_deref(), page.limit).await?;
        Ok(PageOf::new(items, next))
    }

    /// A page of the movies whose titles match `text` (every word starts a title word).
    pub async fn search(
        &self,
        text: &str,
        page: PageRequest<SearchCursor>,
    ) -> Result<PageOf<MovieSummary>, MoviesError> {
        let (items, next) = self
            .titles
            .search(self.store(), text, page.cursor.as_ref(), page.limit)
            .await?;
        Ok(PageOf::new(items, next))
    }

    /// The `limit` best-scored movies with at least `min_reviews` reviews.
    pub async fn top_rated(
        &self,
        limit: usize,
        min_reviews: i64,
    ) -> Result<Vec<MovieSummary>, MoviesError> {
        Ok(projector::reviews::top_rated(self.store(), limit, min_reviews).await?)
    }

    /// The `limit` movies with at least `min_reviews` reviews best by weighted rating with
    /// prior weight `weight`.
    pub async fn weighted_top_rated(
        &self,
        limit: usize,
        min_reviews: i64,
        weight: PriorWeight,
    ) -> Result<Vec<WeightedMovie>, MoviesError> {
        Ok(
            projector::reviews::weighted_top_rated(self.store(), limit, min_reviews, weight)
                .await?,
        )
    }

    /// Every genre with its number of movies.
    pub async fn genres(&self) -> Result<Vec<GenreCount>, MoviesError> {
        Ok(catalog::genres(self.store()).await?)
    }

    /// A page of a genre's movies; the genre is named in any case.
    pub async fn genre_page(
        &self,
        genre: &str,
        page: PageRequest<String>,
    ) -> Result<PageOf<MovieSummary>, MoviesError> {
        let genre = domain::genre_key(genre);
        let (items, next) =
            catalog::genre_page(self.store(), &genre, page.cursor.as_deref(), page.limit).await?;
        Ok(PageOf::new(items, next))
    }
}
