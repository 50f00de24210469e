//! The projections as the bus drives them: events delivered straight to each subscription's
//! handler against a fresh SQLite store, read models checked through the public reads.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bus::{Outcome, Subscription};
use domain::events::{
    ActorCreated, ActorDeleted, CastMember, Envelope, Event, MovieSnapshot, PhotoChanged,
    PosterChanged, ReviewDeleted, ReviewUpserted,
};
use domain::picture::{ImageType, PictureOwner, PictureView, StoredPicture};
use domain::timestamp::Micros;
use platform::consumer::{DEFAULT_MARKER_RETENTION, ProcessedMarker, marker_key};
use projector::actors_list::{self, ActorListing};
use projector::catalog::{self, GenreCount, MovieSummary};
use projector::filmography::{self, FilmographyEntry};
use projector::reviews::{self, UserReview};
use projector::search::{ActorSearch, MovieSearch, SearchCursor, SearchPage};
use store::{Store, StoreExt};
use store_sqlite::SqliteStore;
use tempfile::TempDir;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------
// Fixture and delivery

struct Fixture {
    _dir: TempDir,
    store: Arc<dyn Store>,
    subs: Vec<Subscription>,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.path().join("store.db")).unwrap());
        let subs = projector::subscriptions(store.clone(), DEFAULT_MARKER_RETENTION);
        Fixture {
            _dir: dir,
            store,
            subs,
        }
    }

    fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    async fn deliver(&self, envelope: &Envelope) {
        deliver(&self.subs, envelope).await;
    }

    async fn deliver_all(&self, envelopes: &[Envelope]) {
        for envelope in envelopes {
            self.deliver(envelope).await;
        }
    }
}

/// Hands the envelope to every subscription that takes its type; each must be done with it.
async fn deliver(subs: &[Subscription], envelope: &Envelope) {
    let event_type = envelope.event.event_type();
    let mut matched = 0;
    for sub in subs.iter().filter(|s| s.event_types.contains(&event_type)) {
        matched += 1;
        assert_eq!(
            sub.handler.handle(envelope).await,
            Outcome::Done,
            "consumer {} on {}",
            sub.consumer,
            event_type.as_str()
        );
    }
    assert!(matched > 0, "no subscription takes {}", event_type.as_str());
}

// ---------------------------------------------------------------------------------------
// Event builders

fn id() -> Uuid {
    Uuid::now_v7()
}

fn movie(
    title: &str,
    release_year: i32,
    genres: &[&str],
    created_at: Micros,
    cast: &[(Uuid, &str)],
) -> MovieSnapshot {
    MovieSnapshot {
        movie_id: id(),
        title: title.to_owned(),
        release_year,
        genres: genres.iter().map(|g| (*g).to_owned()).collect(),
        thumbnail_url: Some(format!("https://example.com/{title}.png")),
        created_at,
        cast: cast
            .iter()
            .map(|(actor_id, role)| CastMember {
                actor_id: *actor_id,
                name: format!("actor {actor_id}"),
                role: (*role).to_owned(),
            })
            .collect(),
        poster: None,
    }
}

fn actor_created(name: &str) -> (Uuid, Envelope) {
    let actor_id = id();
    let envelope = Envelope::new(Event::ActorCreated(ActorCreated {
        actor_id,
        name: name.to_owned(),
        thumbnail_url: None,
    }));
    (actor_id, envelope)
}

fn created(movie: &MovieSnapshot) -> Envelope {
    Envelope::new(Event::MovieCreated(movie.clone()))
}

fn deleted(movie: &MovieSnapshot) -> Envelope {
    Envelope::new(Event::MovieDeleted(movie.clone()))
}

fn upserted(
    movie: &MovieSnapshot,
    user_id: Uuid,
    score: i64,
    previous_score: Option<i64>,
    updated_at: Micros,
) -> Envelope {
    Envelope::new(Event::ReviewUpserted(ReviewUpserted {
        movie_id: movie.movie_id,
        movie_title: movie.title.clone(),
        user_id,
        score,
        previous_score,
        comment: Some(format!("{score} at {updated_at}")),
        created_at: updated_at,
        updated_at,
        cast_ids: Some(movie.cast.iter().map(|m| m.actor_id).collect()),
    }))
}

fn review_deleted(movie: &MovieSnapshot, user_id: Uuid, score: i64) -> Envelope {
    Envelope::new(Event::ReviewDeleted(ReviewDeleted {
        movie_id: movie.movie_id,
        user_id,
        score,
    }))
}

/// A new upload, `width` pixels wide.
fn picture(width: u32) -> StoredPicture {
    StoredPicture {
        upload_id: id(),
        image_type: ImageType::Webp,
        width,
        height: width * 3 / 2,
    }
}

/// The movie's poster changed to `poster` (`None`: deleted); the event's id orders it.
fn poster_changed(movie: &MovieSnapshot, poster: Option<StoredPicture>) -> Envelope {
    Envelope::new(Event::PosterChanged(PosterChanged {
        movie_id: movie.movie_id,
        poster,
        replaced: None,
        cast_ids: movie.cast.iter().map(|m| m.actor_id).collect(),
    }))
}

/// The photo of the actor that `created` announced changed to `photo`. The actor record's
/// creation time is a moment before its event's, as the actors service takes them.
fn photo_changed(created: &Envelope, photo: Option<StoredPicture>) -> Envelope {
    let Event::ActorCreated(actor) = &created.event else {
        panic!("an actor's creation");
    };
    Envelope::new(Event::PhotoChanged(PhotoChanged {
        actor_id: actor.actor_id,
        photo,
        replaced: None,
        created_at: created.occurred_at - 35,
    }))
}

fn poster_view(movie: &MovieSnapshot, poster: &StoredPicture) -> Option<PictureView> {
    Some(poster.view(PictureOwner::Movie(movie.movie_id)))
}

fn photo_view(actor: Uuid, photo: &StoredPicture) -> Option<PictureView> {
    Some(photo.view(PictureOwner::Actor(actor)))
}

/// Seconds as micros, so that reviews' RFC 3339 times differ.
fn secs(n: i64) -> Micros {
    1_700_000_000_000_000 + n * 1_000_000
}

// ---------------------------------------------------------------------------------------
// Reads

async fn summary(store: &dyn Store, movie: &MovieSnapshot) -> Option<MovieSummary> {
    catalog::summary(store, &movie.movie_id).await.unwrap()
}

fn ids(summaries: &[MovieSummary]) -> Vec<Uuid> {
    summaries.iter().map(|s| s.id).collect()
}

/// Every page of all movies at this page size, checking the cursor contract on the way.
async fn all_movies_pages(store: &dyn Store, limit: usize) -> Vec<Vec<MovieSummary>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let (page, next) = catalog::all_movies_page(store, cursor.as_deref(), limit)
            .await
            .unwrap();
        assert!(page.len() <= limit, "a page holds at most {limit}");
        pages.push(page);
        match next {
            Some(next) => cursor = Some(next),
            None => return pages,
        }
        assert!(pages.len() <= 1000, "the cursor never ends");
    }
}

async fn genre_pages(store: &dyn Store, genre: &str, limit: usize) -> Vec<Vec<MovieSummary>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let (page, next) = catalog::genre_page(store, genre, cursor.as_deref(), limit)
            .await
            .unwrap();
        assert!(page.len() <= limit, "a page holds at most {limit}");
        pages.push(page);
        match next {
            Some(next) => cursor = Some(next),
            None => return pages,
        }
        assert!(pages.len() <= 1000, "the cursor never ends");
    }
}

async fn all_movie_ids(store: &dyn Store) -> Vec<Uuid> {
    all_movies_pages(store, 100)
        .await
        .iter()
        .flat_map(|p| ids(p))
        .collect()
}

async fn genre_ids(store: &dyn Store, genre: &str) -> Vec<Uuid> {
    genre_pages(store, genre, 100)
        .await
        .iter()
        .flat_map(|p| ids(p))
        .collect()
}

/// What is searched: movie titles or actor names.
#[derive(Debug, Clone, Copy)]
enum Index {
    Movies,
    Actors,
}

/// Every match of a search, page by page at this page size, from an index built from the
/// store's lists as a serving process builds it when it starts.
async fn search_pages(
    store: &dyn Store,
    index: Index,
    query: &str,
    limit: usize,
) -> Vec<Vec<Uuid>> {
    let (movies, actors) = (MovieSearch::default(), ActorSearch::default());
    match index {
        Index::Movies => movies.rebuild_from(store).await.unwrap(),
        Index::Actors => actors.rebuild_from(store).await.unwrap(),
    }
    let mut pages = Vec::new();
    let mut cursor: Option<SearchCursor> = None;
    loop {
        let (page, next) = match index {
            Index::Movies => {
                let SearchPage { found, next } =
                    movies.page(query, cursor.as_ref(), limit).unwrap();
                (
                    found.into_iter().map(|(id, ())| id).collect::<Vec<_>>(),
                    next,
                )
            }
            Index::Actors => {
                let SearchPage { found, next } =
                    actors.page(query, cursor.as_ref(), limit).unwrap();
                (found.into_iter().map(|(id, _)| id).collect(), next)
            }
        };
        assert!(page.len() <= limit, "a page holds at most {limit}");
        pages.push(page);
        match next {
            Some(next) => cursor = Some(next),
            None => return pages,
        }
        assert!(pages.len() <= 1000, "the cursor never ends");
    }
}

async fn search_ids(store: &dyn Store, index: Index, query: &str) -> Vec<Uuid> {
    search_pages(store, index, query, 100).await.concat()
}

async fn top_rated_ids(store: &dyn Store, limit: usize, min_reviews: i64) -> Vec<Uuid> {
    ids(&reviews::top_rated(store, limit, min_reviews).await.unwrap())
}

/// The exact mean rounded half away from zero to two decimals, computed independently of
/// the projector (scores are positive, so "away from zero" is "up").
fn expected_score(sum: i64, count: i64) -> Option<f64> {
    if count == 0 {
        return None;
    }
    let scaled = sum * 100;
    let mut hundredths = scaled / count;
    if 2 * (scaled % count) >= count {
        hundredths += 1;
    }
    Some(hundredths as f64 / 100.0)
}

// ---------------------------------------------------------------------------------------
// 1. Redelivery changes nothing

/// Everything the projector serves about a small world, for comparing two stores.
#[derive(Debug, PartialEq)]
struct ReadModels {
    summaries: Vec<Option<MovieSummary>>,
    all_movies: Vec<MovieSummary>,
    top_rated: Vec<MovieSummary>,
    genres: Vec<GenreCount>,
    genre_lists: Vec<Vec<MovieSummary>>,
    filmographies: Vec<Vec<FilmographyEntry>>,
    user_reviews: Vec<Vec<UserReview>>,
    movie_searches: Vec<Vec<Uuid>>,
    actor_searches: Vec<Vec<Uuid>>,
    actor_search_listings: Vec<ActorListing>,
    actors: Vec<ActorListing>,
}

struct World {
    movies: Vec<MovieSnapshot>,
    actors: Vec<Uuid>,
    users: Vec<Uuid>,
    genres: Vec<&'static str>,
    stream: Vec<Envelope>,
    /// The Matrix's poster and Keanu's photo in the end.
    matrix_poster: StoredPicture,
    keanu_photo: StoredPicture,
}

fn world() -> World {
    let (keanu, keanu_created) = actor_created("Keanu Reeves");
    let (carrie, carrie_created) = actor_created("Carrie-Anne Moss");
    let matrix = movie(
        "The Matrix",
        1999,
        &["sci-fi", "action"],
        secs(1),
        &[(keanu, "Neo"), (carrie, "Trinity")],
    );
    let wick = movie("John Wick", 2014, &["action"], secs(2), &[(keanu, "John")]);
    let gone = movie(
        "The Matrix Gone",
        2003,
        &["sci-fi", "drama"],
        secs(3),
        &[(carrie, "Trinity")],
    );
    let users: Vec<Uuid> = (0..3).map(|_| id()).collect();
    let (u1, u2, u3) = (users[0], users[1], users[2]);
    let (first_poster, matrix_poster, keanu_photo) = (picture(600), picture(800), picture(400));
    let keanu_photo_set = photo_changed(&keanu_created, Some(keanu_photo));
    // Carrie's photo is set and deleted again; the gone movie's poster goes with it.
    let carrie_photo_set = photo_changed(&carrie_created, Some(picture(500)));
    let carrie_photo_deleted = photo_changed(&carrie_created, None);
    let stream = vec![
        keanu_created,
        carrie_created,
        created(&matrix),
        created(&wick),
        created(&gone),
        poster_changed(&matrix, Some(first_poster)),
        keanu_photo_set,
        poster_changed(&gone, Some(picture(700))),
        poster_changed(&matrix, Some(matrix_poster)),
        carrie_photo_set,
        carrie_photo_deleted,
        upserted(&matrix, u1, 8, None, secs(10)),
        upserted(&matrix, u2, 7, None, secs(11)),
        upserted(&matrix, u3, 9, None, secs(12)),
        upserted(&wick, u2, 6, None, secs(13)),
        // u1 replaces 8 by 10.
        upserted(&matrix, u1, 10, Some(8), secs(14)),
        review_deleted(&matrix, u3, 9),
        upserted(&wick, u3, 3, None, secs(15)),
        deleted(&gone),
    ];
    World {
        movies: vec![matrix, wick, gone],
        actors: vec![keanu, carrie],
        users,
        genres: vec!["action", "sci-fi", "drama"],
        stream,
        matrix_poster,
        keanu_photo,
    }
}

async fn read_models(store: &dyn Store, world: &World) -> ReadModels {
    let mut models = ReadModels {
        summaries: Vec::new(),
        all_movies: catalog::all_movies_page(store, None, 100).await.unwrap().0,
        top_rated: reviews::top_rated(store, 100, 1).await.unwrap(),
        genres: catalog::genres(store).await.unwrap(),
        genre_lists: Vec::new(),
        filmographies: Vec::new(),
        user_reviews: Vec::new(),
        movie_searches: Vec::new(),
        actor_searches: Vec::new(),
        actor_search_listings: Vec::new(),
        actors: actors_list::actors_page(store, None, 100).await.unwrap().0,
    };
    for movie in &world.movies {
        models.summaries.push(summary(store, movie).await);
    }
    for genre in &world.genres {
        models.genre_lists.push(
            catalog::genre_page(store, genre, None, 100)
                .await
                .unwrap()
                .0,
        );
    }
    for actor in &world.actors {
        models
            .filmographies
            .push(filmography::filmography(store, actor).await.unwrap());
    }
    for user in &world.users {
        models
            .user_reviews
            .push(reviews::user_reviews(store, user).await.unwrap());
    }
    for query in ["matrix", "the", "john wick", "gone", "m"] {
        models
            .movie_searches
            .push(search_ids(store, Index::Movies, query).await);
    }
    for query in ["keanu", "moss", "c"] {
        models
            .actor_searches
            .push(search_ids(store, Index::Actors, query).await);
    }
    let index = ActorSearch::default();
    index.rebuild_from(store).await.unwrap();
    for query in ["keanu", "carrie"] {
        let (found, _) = index.search(query, None, 100).unwrap();
        models.actor_search_listings.extend(found);
    }
    models
}

#[tokio::test]
async fn every_event_delivered_twice_changes_nothing() {
    let world = world();
    let once = Fixture::new();
    once.deliver_all(&world.stream).await;
    let twice = Fixture::new();
    for envelope in &world.stream {
        twice.deliver(envelope).await;
        twice.deliver(envelope).await;
    }
    // And the whole stream once more, late and after everything it led to.
    twice.deliver_all(&world.stream).await;

    let expected = read_models(once.store(), &world).await;
    let actual = read_models(twice.store(), &world).await;
    assert_eq!(actual, expected);

    // The single delivery is itself right, so "equal" means "right".
    let (matrix, wick) = (&world.movies[0], &world.movies[1]);
    let (keanu, carrie) = (world.actors[0], world.actors[1]);
    let m = expected.summaries[0].as_ref().unwrap();
    assert_eq!((m.score, m.review_count), (Some(8.5), 2)); // 10 + 7
    let w = expected.summaries[1].as_ref().unwrap();
    assert_eq!((w.score, w.review_count), (Some(4.5), 2)); // 6 + 3
    assert_eq!(
        expected.summaries[2], None,
        "the deleted movie has no summary"
    );
    assert_eq!(
        ids(&expected.all_movies),
        [wick.movie_id, matrix.movie_id],
        "newest created first, the deleted one gone"
    );
    assert_eq!(ids(&expected.top_rated), [matrix.movie_id, wick.movie_id]);
    assert_eq!(
        expected.genres,
        [
            GenreCount {
                name: "action".into(),
                movie_count: 2
            },
            GenreCount {
                name: "sci-fi".into(),
                movie_count: 1
            },
        ]
    );
    assert_eq!(
        ids(&expected.genre_lists[0]),
        [wick.movie_id, matrix.movie_id]
    );
    assert_eq!(ids(&expected.genre_lists[1]), [matrix.movie_id]);
    assert!(expected.genre_lists[2].is_empty());
    let keanu_movies: Vec<(Uuid, &str, Option<f64>)> = expected.filmographies[0]
        .iter()
        .map(|e| (e.id, e.role.as_str(), e.score))
        .collect();
    assert_eq!(
        keanu_movies,
        [
            (wick.movie_id, "John", Some(4.5)),
            (matrix.movie_id, "Neo", Some(8.5))
        ]
    );
    let carrie_movies: Vec<Uuid> = expected.filmographies[1].iter().map(|e| e.id).collect();
    assert_eq!(carrie_movies, [matrix.movie_id]);
    let reviews = |i: usize| -> Vec<(Uuid, i64)> {
        expected.user_reviews[i]
            .iter()
            .map(|r| (r.movie_id, r.score))
            .collect()
    };
    assert_eq!(reviews(0), [(matrix.movie_id, 10)]);
    assert_eq!(reviews(1), [(wick.movie_id, 6), (matrix.movie_id, 7)]);
    assert_eq!(
        reviews(2),
        [(wick.movie_id, 3)],
        "the deleted review is gone"
    );
    assert_eq!(expected.movie_searches[0], [matrix.movie_id]);
    assert_eq!(expected.movie_searches[1], [matrix.movie_id]);
    assert_eq!(expected.movie_searches[2], [wick.movie_id]);
    assert!(expected.movie_searches[3].is_empty());
    assert_eq!(expected.actor_searches[0], [keanu]);
    assert_eq!(expected.actor_searches[1], [carrie]);
    assert_eq!(expected.actor_searches[2], [carrie]);
    let actor_ids: Vec<Uuid> = expected.actors.iter().map(|a| a.id).collect();
    assert_eq!(actor_ids, [carrie, keanu], "newest first");

    // Pictures: the newest poster in the summary and the filmographies, the newest photo
    // in the list and the search.
    assert_eq!(m.poster, poster_view(matrix, &world.matrix_poster));
    assert_eq!(w.poster, None);
    let keanu_posters: Vec<Option<PictureView>> = expected.filmographies[0]
        .iter()
        .map(|e| e.poster.clone())
        .collect();
    assert_eq!(
        keanu_posters,
        [None, poster_view(matrix, &world.matrix_poster)]
    );
    let photos: Vec<Option<PictureView>> =
        expected.actors.iter().map(|a| a.photo.clone()).collect();
    assert_eq!(photos, [None, photo_view(keanu, &world.keanu_photo)]);
    let mut searched = expected.actor_search_listings.clone();
    searched.sort_by_key(|a| a.id);
    let mut listed = expected.actors.clone();
    listed.sort_by_key(|a| a.id);
    assert_eq!(searched, listed, "the search shows what the list shows");
}

// ---------------------------------------------------------------------------------------
// 2. Concurrent redelivery

async fn deliver_concurrently(fixture: &Fixture, envelope: &Envelope, copies: usize) {
    let tasks = (0..copies).map(|_| {
        let subs = fixture.subs.clone();
        let envelope = envelope.clone();
        tokio::spawn(async move { deliver(&subs, &envelope).await })
    });
    for joined in futures::future::join_all(tasks).await {
        joined.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn one_event_handled_by_eight_tasks_at_once_is_applied_once() {
    let f = Fixture::new();
    let (actor, actor_created) = actor_created("Concurrent Actor");
    f.deliver(&actor_created).await;
    let film = movie("Race", 2020, &["thriller"], secs(1), &[(actor, "Runner")]);
    deliver_concurrently(&f, &created(&film), 8).await;

    let user = id();
    deliver_concurrently(&f, &upserted(&film, user, 7, None, secs(2)), 8).await;

    let s = summary(f.store(), &film).await.unwrap();
    assert_eq!((s.score, s.review_count), (Some(7.0), 1));
    assert_eq!(top_rated_ids(f.store(), 10, 1).await, [film.movie_id]);
    assert_eq!(all_movie_ids(f.store()).await, [film.movie_id]);
    assert_eq!(genre_ids(f.store(), "thriller").await, [film.movie_id]);
    assert_eq!(
        catalog::genres(f.store()).await.unwrap(),
        [GenreCount {
            name: "thriller".into(),
            movie_count: 1
        }]
    );
    assert_eq!(
        filmography::filmography(f.store(), &actor)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        search_ids(f.store(), Index::Movies, "ra").await,
        [film.movie_id]
    );
    assert_eq!(
        reviews::user_reviews(f.store(), &user).await.unwrap().len(),
        1
    );

    // A replacement and a deletion, each raced eight times, move the tally once each.
    deliver_concurrently(&f, &upserted(&film, user, 3, Some(7), secs(3)), 8).await;
    let s = summary(f.store(), &film).await.unwrap();
    assert_eq!((s.score, s.review_count), (Some(3.0), 1));
    deliver_concurrently(&f, &review_deleted(&film, user, 3), 8).await;
    let s = summary(f.store(), &film).await.unwrap();
    assert_eq!((s.score, s.review_count), (None, 0));
    assert!(top_rated_ids(f.store(), 10, 1).await.is_empty());
    assert!(
        reviews::user_reviews(f.store(), &user)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn different_reviews_of_one_movie_handled_at_once_all_count() {
    let f = Fixture::new();
    let film = movie("Crowd", 2021, &["drama"], secs(1), &[]);
    f.deliver(&created(&film)).await;
    let reviews: Vec<Envelope> = (1..=8)
        .map(|score| upserted(&film, id(), score, None, secs(score)))
        .collect();
    let tasks = reviews.iter().map(|envelope| {
        let subs = f.subs.clone();
        let envelope = envelope.clone();
        tokio::spawn(async move { deliver(&subs, &envelope).await })
    });
    for joined in futures::future::join_all(tasks).await {
        joined.unwrap();
    }
    let s = summary(f.store(), &film).await.unwrap();
    assert_eq!((s.score, s.review_count), (Some(4.5), 8)); // 36 / 8
    assert_eq!(top_rated_ids(f.store(), 10, 1).await, [film.movie_id]);
}

// ---------------------------------------------------------------------------------------
// 3. Out-of-order delivery

#[tokio::test]
async fn a_movie_deleted_before_it_is_created_never_appears() {
    let f = Fixture::new();
    let (actor, actor_created) = actor_created("Ghost Actor");
    f.deliver(&actor_created).await;
    let ghost = movie(
        "Ghost Story",
        2010,
        &["horror"],
        secs(1),
        &[(actor, "Ghost")],
    );
    let (create, delete) = (created(&ghost), deleted(&ghost));
    let review = upserted(&ghost, id(), 9, None, secs(2));
    f.deliver(&delete).await;
    f.deliver(&create).await;
    f.deliver(&review).await;

    assert_eq!(summary(f.store(), &ghost).await, None);
    assert!(all_movie_ids(f.store()).await.is_empty());
    assert!(genre_ids(f.store(), "horror").await.is_empty());
    assert!(catalog::genres(f.store()).await.unwrap().is_empty());
    assert!(
        search_ids(f.store(), Index::Movies, "ghost")
            .await
            .is_empty()
    );
    assert!(
        search_ids(f.store(), Index::Movies, "ghost story")
            .await
            .is_empty()
    );
    assert!(
        filmography::filmography(f.store(), &actor)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(top_rated_ids(f.store(), 10, 0).await.is_empty());
}

#[tokio::test]
async fn a_review_delivered_before_its_movie_counts_once_the_movie_is_created() {
    let f = Fixture::new();
    let early = movie("Early Bird", 2015, &["comedy"], secs(1), &[]);
    let create = created(&early);
    f.deliver(&upserted(&early, id(), 9, None, secs(2))).await;
    f.deliver(&upserted(&early, id(), 6, None, secs(3))).await;

    assert_eq!(summary(f.store(), &early).await, None, "not created yet");
    assert!(top_rated_ids(f.store(), 10, 1).await.is_empty());
    assert!(all_movie_ids(f.store()).await.is_empty());

    f.deliver(&create).await;
    let s = summary(f.store(), &early).await.unwrap();
    assert_eq!((s.score, s.review_count), (Some(7.5), 2));
    assert_eq!(s.title, "Early Bird");
    assert_eq!(top_rated_ids(f.store(), 10, 2).await, [early.movie_id]);
    assert_eq!(all_movie_ids(f.store()).await, [early.movie_id]);
    assert_eq!(genre_ids(f.store(), "comedy").await, [early.movie_id]);
}

#[tokio::test]
async fn an_older_review_upsert_arriving_after_a_newer_one_does_not_overwrite_it() {
    let f = Fixture::new();
    let film = movie("Twice Told", 2001, &["drama"], secs(1), &[]);
    f.deliver(&created(&film)).await;
    let user = id();
    let older = upserted(&film, user, 5, None, secs(10));
    let newer = upserted(&film, user, 9, Some(5), secs(20));
    assert!(
        older.id < newer.id,
        "envelopes made in order have ordered ids"
    );
    f.deliver(&newer).await;
    f.deliver(&older).await;

    let reviews = reviews::user_reviews(f.store(), &user).await.unwrap();
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0].movie_id, film.movie_id);
    assert_eq!(reviews[0].movie_title, "Twice Told");
    assert_eq!(reviews[0].score, 9);
    assert_eq!(reviews[0].comment, Some(format!("9 at {}", secs(20))));
    assert_eq!(
        reviews[0].updated_at,
        domain::timestamp::to_rfc3339(secs(20))
    );
    // Deltas commute: +9 -5 then +5 is the one review of 9.
    let s = summary(f.store(), &film).await.unwrap();
    assert_eq!((s.score, s.review_count), (Some(9.0), 1));
    assert_eq!(top_rated_ids(f.store(), 10, 1).await, [film.movie_id]);
}

#[tokio::test]
async fn a_deleted_review_is_not_resurrected_by_an_older_upsert_arriving_late() {
    let f = Fixture::new();
    let film = movie("Gone Review", 2002, &["drama"], secs(1), &[]);
    f.deliver(&created(&film)).await;
    let user = id();
    let upsert = upserted(&film, user, 6, None, secs(10));
    let delete = review_deleted(&film, user, 6);
    assert!(upsert.id < delete.id);
    f.deliver(&delete).await;
    f.deliver(&upsert).await;

    assert!(
        reviews::user_reviews(f.store(), &user)
            .await
            .unwrap()
            .is_empty()
    );
    let s = summary(f.store(), &film).await.unwrap();
    assert_eq!((s.score, s.review_count), (None, 0));
    assert!(top_rated_ids(f.store(), 10, 0).await.is_empty());

    // A later review by the same user is listed again.
    f.deliver(&upserted(&film, user, 4, None, secs(30))).await;
    let reviews = reviews::user_reviews(f.store(), &user).await.unwrap();
    assert_eq!(
        reviews.iter().map(|r| r.score).collect::<Vec<_>>(),
        [4],
        "a newer upsert after the deletion is listed"
    );
}

// ---------------------------------------------------------------------------------------
// 4. Scores by deltas

/// A tiny deterministic generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

/// Reviews as the movies service keeps them, to produce events with the right previous scores.
#[derive(Default)]
struct Reviews {
    current: BTreeMap<(Uuid, Uuid), i64>,
    clock: i64,
}

impl Reviews {
    fn upsert(&mut self, movie: &MovieSnapshot, user: Uuid, score: i64) -> Envelope {
        self.clock += 1;
        let previous = self.current.insert((movie.movie_id, user), score);
        upserted(movie, user, score, previous, secs(self.clock))
    }

    fn delete(&mut self, movie: &MovieSnapshot, user: Uuid) -> Option<Envelope> {
        let score = self.current.remove(&(movie.movie_id, user))?;
        Some(review_deleted(movie, user, score))
    }

    fn tally(&self, movie: &MovieSnapshot) -> (i64, i64) {
        let scores: Vec<i64> = self
            .current
            .iter()
            .filter(|((m, _), _)| *m == movie.movie_id)
            .map(|(_, s)| *s)
            .collect();
        (scores.iter().sum(), scores.len() as i64)
    }
}

/// `count` movies without a cast, titled `{prefix} {i}`, a year and a second apart.
fn dramas(prefix: &str, count: i32) -> Vec<MovieSnapshot> {
    (0..count)
        .map(|i| {
            movie(
                &format!("{prefix} {i}"),
                2000 + i,
                &["drama"],
                secs(i.into()),
                &[],
            )
        })
        .collect()
}

/// Top-rated order: exact mean descending, then review count descending, then id.
fn rank(a: &(Uuid, i64, i64), b: &(Uuid, i64, i64)) -> Ordering {
    let ((a_id, a_sum, a_count), (b_id, b_sum, b_count)) = (a, b);
    (b_sum * a_count)
        .cmp(&(a_sum * b_count))
        .then(b_count.cmp(a_count))
        .then(a_id.cmp(b_id))
}

async fn assert_scores_and_ranking(f: &Fixture, movies: &[MovieSnapshot], reviews: &Reviews) {
    let mut ranked = Vec::new();
    for movie in movies {
        let (sum, count) = reviews.tally(movie);
        let s = summary(f.store(), movie).await.unwrap();
        assert_eq!(
            (s.score, s.review_count),
            (expected_score(sum, count), count),
            "{} with sum {sum} over {count}",
            movie.title
        );
        if count > 0 {
            ranked.push((movie.movie_id, sum, count));
        }
    }
    ranked.sort_by(rank);
    let all = top_rated_ids(f.store(), 100, 1).await;
    assert_eq!(all, ranked.iter().map(|r| r.0).collect::<Vec<_>>());
    let distinct: BTreeSet<Uuid> = all.iter().copied().collect();
    assert_eq!(distinct.len(), all.len(), "no movie listed twice");
    for min_reviews in [0, 2, 3, 5, 8] {
        let expected: Vec<Uuid> = ranked
            .iter()
            .filter(|r| r.2 >= min_reviews)
            .map(|r| r.0)
            .collect();
        assert_eq!(
            top_rated_ids(f.store(), 100, min_reviews).await,
            expected,
            "min_reviews {min_reviews}"
        );
        for limit in [1, 3] {
            let head: Vec<Uuid> = expected.iter().take(limit).copied().collect();
            assert_eq!(
                top_rated_ids(f.store(), limit, min_reviews).await,
                head,
                "limit {limit}, min_reviews {min_reviews}"
            );
        }
    }
}

#[tokio::test]
async fn scores_follow_deltas_to_the_exact_mean_rounded_half_away_from_zero() {
    let f = Fixture::new();
    let movies = dramas("Scored", 8);
    for movie in &movies {
        f.deliver(&created(movie)).await;
    }
    let users: Vec<Uuid> = (0..10).map(|_| id()).collect();
    let mut reviews = Reviews::default();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..400 {
        let movie = &movies[rng.next(movies.len() as u64) as usize];
        let user = users[rng.next(users.len() as u64) as usize];
        let envelope = if rng.next(4) == 0 {
            reviews.delete(movie, user)
        } else {
            Some(reviews.upsert(movie, user, rng.next(10) as i64 + 1))
        };
        if let Some(envelope) = envelope {
            f.deliver(&envelope).await;
        }
    }
    assert_scores_and_ranking(&f, &movies, &reviews).await;

    // 6.125 rounds to 6.13: eight reviewers first give 10, then seven change to 6 and
    // one to 7, and a ninth comes and goes.
    let exact = &movies[0];
    for user in reviews
        .current
        .keys()
        .filter(|(m, _)| *m == exact.movie_id)
        .map(|(_, u)| *u)
        .collect::<Vec<_>>()
    {
        let envelope = reviews.delete(exact, user).unwrap();
        f.deliver(&envelope).await;
    }
    let reviewers: Vec<Uuid> = (0..9).map(|_| id()).collect();
    for user in &reviewers {
        let envelope = reviews.upsert(exact, *user, 10);
        f.deliver(&envelope).await;
    }
    for (i, user) in reviewers.iter().take(8).enumerate() {
        let envelope = reviews.upsert(exact, *user, if i == 0 { 7 } else { 6 });
        f.deliver(&envelope).await;
    }
    let envelope = reviews.delete(exact, reviewers[8]).unwrap();
    f.deliver(&envelope).await;
    assert_eq!(reviews.tally(exact), (49, 8));
    let s = summary(f.store(), exact).await.unwrap();
    assert_eq!((s.score, s.review_count), (Some(6.13), 8));
    assert_scores_and_ranking(&f, &movies, &reviews).await;

    // A deleted movie leaves the ranking for good.
    f.deliver(&deleted(&movies[1])).await;
    f.deliver(&reviews.upsert(&movies[1], users[0], 10)).await;
    assert!(
        !top_rated_ids(f.store(), 100, 0)
            .await
            .contains(&movies[1].movie_id)
    );
    assert_eq!(summary(f.store(), &movies[1]).await, None);
}

#[tokio::test]
async fn replacing_a_review_with_the_same_score_keeps_the_tally_and_the_ranking() {
    let f = Fixture::new();
    let film = movie("Steady", 2005, &["drama"], secs(1), &[]);
    f.deliver(&created(&film)).await;
    let user = id();
    f.deliver(&upserted(&film, user, 8, None, secs(2))).await;
    // Only the comment changed.
    f.deliver(&upserted(&film, user, 8, Some(8), secs(3))).await;

    let s = summary(f.store(), &film).await.unwrap();
    assert_eq!((s.score, s.review_count), (Some(8.0), 1));
    assert_eq!(top_rated_ids(f.store(), 10, 1).await, [film.movie_id]);
    let reviews = reviews::user_reviews(f.store(), &user).await.unwrap();
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0].comment, Some(format!("8 at {}", secs(3))));
}

/// The transactions of the scores consumer, as `/metrics` counts them.
fn transactions_of_scores(metrics: &metrics_exporter_prometheus::PrometheusHandle) -> u64 {
    let series = r#"moviebook_store_requests_total{operation="transact",caller="reviews"}"#;
    metrics
        .render()
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn reviews_folded_in_batches_agree_with_every_event_applied_alone() {
    let f = Fixture::new();
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let metrics = recorder.handle();
    let scores = metrics::with_local_recorder(&recorder, || {
        platform::consumer::IdempotentConsumer::new(
            store::Label::labelled(&f.store, "reviews"),
            reviews::ReviewsProjection,
            DEFAULT_MARKER_RETENTION,
        )
    });
    let others: Vec<Subscription> = f
        .subs
        .iter()
        .filter(|s| s.consumer != "reviews")
        .cloned()
        .collect();
    // Thirty movies: a batch touching most of them plans more writes than one transaction
    // holds, and must be split.
    let movies = dramas("Folded", 30);
    for movie in &movies {
        deliver(&others, &created(movie)).await;
    }
    let users: Vec<Uuid> = (0..12).map(|_| id()).collect();
    let mut reviews = Reviews::default();
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let gone = &movies[7];
    let mut batches_left = 60;
    let mut previous_batch: Vec<Envelope> = Vec::new();
    while batches_left > 0 {
        batches_left -= 1;
        let size = rng.next(70) as usize + 1;
        // Most batches are one hot movie's burst; some spread over every movie.
        let hot = rng.next(3) != 0;
        let mut batch = Vec::with_capacity(size + 4);
        for _ in 0..size {
            let movie = if hot {
                &movies[0]
            } else {
                &movies[rng.next(movies.len() as u64) as usize]
            };
            let user = users[rng.next(users.len() as u64) as usize];
            let envelope = if rng.next(5) == 0 {
                reviews.delete(movie, user)
            } else {
                Some(reviews.upsert(movie, user, rng.next(10) as i64 + 1))
            };
            batch.extend(envelope);
        }
        if batches_left == 30 {
            batch.push(deleted(gone));
        }
        // Redeliveries: an event twice in one batch, and part of the batch before.
        if let Some(first) = batch.first().cloned() {
            batch.push(first);
        }
        batch.extend(previous_batch.iter().take(3).cloned());
        for envelope in &batch {
            let event_type = envelope.event.event_type();
            if others.iter().any(|s| s.event_types.contains(&event_type)) {
                deliver(&others, envelope).await;
            }
        }
        let outcomes = bus::Handler::handle_batch(&scores, &batch).await;
        assert_eq!(outcomes, vec![Outcome::Done; batch.len()]);
        previous_batch = batch;
    }
    // Reviews of the deleted movie stopped counting when it was deleted.
    let remaining: Vec<MovieSnapshot> = movies
        .iter()
        .filter(|m| m.movie_id != gone.movie_id)
        .cloned()
        .collect();
    assert_scores_and_ranking(&f, &remaining, &reviews).await;
    assert_eq!(summary(f.store(), gone).await, None);
    // Each user's list holds their current reviews, each once, with its latest score.
    for user in &users {
        let mut listed: Vec<(Uuid, i64)> = reviews::user_reviews(f.store(), user)
            .await
            .unwrap()
            .iter()
            .filter(|r| r.movie_id != gone.movie_id)
            .map(|r| (r.movie_id, r.score))
            .collect();
        listed.sort();
        let current: Vec<(Uuid, i64)> = reviews
            .current
            .iter()
            .filter(|((m, u), _)| u == user && *m != gone.movie_id)
            .map(|((m, _), s)| (*m, *s))
            .collect();
        assert_eq!(listed, current, "the list of user {user}");
    }

    // A burst on one movie is one transaction, not one per event.
    let before = transactions_of_scores(&metrics);
    let burst: Vec<Envelope> = (0..40)
        .map(|_| reviews.upsert(&movies[1], id(), 9))
        .collect();
    let outcomes = bus::Handler::handle_batch(&scores, &burst).await;
    assert_eq!(outcomes, vec![Outcome::Done; burst.len()]);
    let after = transactions_of_scores(&metrics);
    assert_eq!(
        after - before,
        1,
        "forty reviews of one movie in one transaction"
    );
    assert_scores_and_ranking(&f, &remaining, &reviews).await;
}

#[tokio::test]
async fn top_rated_orders_by_exact_mean_then_review_count_then_id() {
    let f = Fixture::new();
    let mut reviews = Reviews::default();
    let make = |title: &str| movie(title, 2000, &["drama"], secs(1), &[]);
    // 47/7 = 6.714… and 114/17 = 6.705… both show 6.71; the exact mean ranks first
    // although it has fewer reviews.
    let fewer_higher = make("Fewer Higher");
    let more_lower = make("More Lower");
    // Equal means of 8: more reviews first, then equal counts by id.
    let eight_twice_a = make("Eight Twice A");
    let eight_twice_b = make("Eight Twice B");
    let eight_once = make("Eight Once");
    let all = [
        &fewer_higher,
        &more_lower,
        &eight_twice_a,
        &eight_twice_b,
        &eight_once,
    ];
    for movie in all {
        f.deliver(&created(movie)).await;
    }
    let mut give = async |movie: &MovieSnapshot, scores: &[i64]| {
        for score in scores {
            // Each review starts at 1 and is raised to its final score.
            let user = id();
            let first = reviews.upsert(movie, user, 1);
            f.deliver(&first).await;
            let last = reviews.upsert(movie, user, *score);
            f.deliver(&last).await;
        }
    };
    give(&fewer_higher, &[7, 7, 7, 7, 7, 6, 6]).await;
    give(&more_lower, &[vec![7; 12], vec![6; 5]].concat()).await;
    give(&eight_twice_a, &[8, 8]).await;
    give(&eight_twice_b, &[8, 8]).await;
    give(&eight_once, &[8]).await;

    let fh = summary(f.store(), &fewer_higher).await.unwrap();
    let ml = summary(f.store(), &more_lower).await.unwrap();
    assert_eq!((fh.score, fh.review_count), (Some(6.71), 7));
    assert_eq!((ml.score, ml.review_count), (Some(6.71), 17));

    let (first_pair, second_pair) = if eight_twice_a.movie_id < eight_twice_b.movie_id {
        (&eight_twice_a, &eight_twice_b)
    } else {
        (&eight_twice_b, &eight_twice_a)
    };
    assert_eq!(
        top_rated_ids(f.store(), 10, 1).await,
        [
            first_pair.movie_id,
            second_pair.movie_id,
            eight_once.movie_id,
            fewer_higher.movie_id,
            more_lower.movie_id
        ]
    );
    assert_eq!(top_rated_ids(f.store(), 10, 8).await, [more_lower.movie_id]);
    assert_eq!(
        top_rated_ids(f.store(), 10, 2).await,
        [
            first_pair.movie_id,
            second_pair.movie_id,
            fewer_higher.movie_id,
            more_lower.movie_id
        ]
    );
    assert_scores_and_ranking(&f, &all.map(|m| m.clone()), &reviews).await;
}

// ---------------------------------------------------------------------------------------
// 5. Search

#[tokio::test]
async fn search_matches_word_prefixes_folds_accents_and_lists_exact_matches_first() {
    let f = Fixture::new();
    let titles = [
        "The Theory of the Thing",
        "The Thing",
        "Thing",
        "Other Things",
        "Nothing",
        "Amélie",
        "Le Fabuleux Destin d'Amélie Poulain",
        "ÉCOLE",
        "Ben-Hur",
    ];
    let mut by_title = BTreeMap::new();
    for (i, title) in titles.iter().enumerate() {
        let m = movie(title, 2000, &["drama"], secs(i as i64), &[]);
        f.deliver(&created(&m)).await;
        by_title.insert(*title, m.movie_id);
    }
    let id_of = |title: &str| by_title[title];
    let set = |ids: &[Uuid]| ids.iter().copied().collect::<BTreeSet<_>>();

    // Each movie once, even when several of its words start with the query word.
    let th = search_ids(f.store(), Index::Movies, "th").await;
    assert_eq!(th.len(), set(&th).len(), "each movie once: {th:?}");
    assert_eq!(
        set(&th),
        set(&[
            id_of("The Theory of the Thing"),
            id_of("The Thing"),
            id_of("Thing"),
            id_of("Other Things"),
        ])
    );

    // An exact title comes first, then the other matches.
    let thing = search_ids(f.store(), Index::Movies, "thing").await;
    assert_eq!(thing[0], id_of("Thing"));
    assert_eq!(
        set(&thing),
        set(&[
            id_of("Thing"),
            id_of("The Theory of the Thing"),
            id_of("The Thing"),
            id_of("Other Things"),
        ])
    );
    assert_eq!(thing.len(), 4);
    let the_thing = search_ids(f.store(), Index::Movies, "THE  thing!").await;
    assert_eq!(
        the_thing,
        [id_of("The Thing"), id_of("The Theory of the Thing")]
    );

    // Every query word must start some title word.
    assert_eq!(
        search_ids(f.store(), Index::Movies, "theo thi").await,
        [id_of("The Theory of the Thing")]
    );
    assert!(
        search_ids(f.store(), Index::Movies, "hing")
            .await
            .is_empty()
    );

    // Accents and case fold on both sides.
    let amelie = set(&[
        id_of("Amélie"),
        id_of("Le Fabuleux Destin d'Amélie Poulain"),
    ]);
    assert_eq!(
        set(&search_ids(f.store(), Index::Movies, "amel").await),
        amelie
    );
    let exact_amelie = search_ids(f.store(), Index::Movies, "AMÉLIE").await;
    assert_eq!(exact_amelie[0], id_of("Amélie"));
    assert_eq!(set(&exact_amelie), amelie);
    assert_eq!(
        search_ids(f.store(), Index::Movies, "école").await,
        [id_of("ÉCOLE")]
    );
    assert_eq!(
        search_ids(f.store(), Index::Movies, "ecol").await,
        [id_of("ÉCOLE")]
    );
    assert_eq!(
        search_ids(f.store(), Index::Movies, "hur").await,
        [id_of("Ben-Hur")]
    );
    assert!(search_ids(f.store(), Index::Movies, "").await.is_empty());
}

#[tokio::test]
async fn search_pages_walk_every_match_exactly_once() {
    let f = Fixture::new();
    let mut matching = BTreeSet::new();
    let mut exact = BTreeSet::new();
    for i in 0..5 {
        // Five movies share the exact title, so exact matches span pages too.
        let m = movie("Thunder", 1990 + i, &["drama"], secs(i.into()), &[]);
        f.deliver(&created(&m)).await;
        matching.insert(m.movie_id);
        exact.insert(m.movie_id);
    }
    for i in 0..20 {
        let title = match i % 4 {
            0 => format!("Thunder Road {i}"),
            1 => format!("The Thunderous Thunder Thunderbolt {i}"),
            2 => format!("Tales of thunder {i}"),
            _ => format!("Thunderstorm Thunder {i}"),
        };
        let m = movie(&title, 2000, &["drama"], secs(100 + i), &[]);
        f.deliver(&created(&m)).await;
        matching.insert(m.movie_id);
    }
    for i in 0..5 {
        let m = movie(
            &format!("Lightning {i}"),
            2000,
            &["drama"],
            secs(200 + i),
            &[],
        );
        f.deliver(&created(&m)).await;
    }

    for query in ["thunder", "thu", "THUNDER"] {
        for limit in [1, 2, 3, 4, 5, 7, 25, 26, 100] {
            let pages = search_pages(f.store(), Index::Movies, query, limit).await;
            let walked: Vec<Uuid> = pages.concat();
            assert_eq!(
                walked.len(),
                matching.len(),
                "{query:?} limit {limit}: {pages:?}"
            );
            assert_eq!(walked.iter().copied().collect::<BTreeSet<_>>(), matching);
            for page in &pages[..pages.len() - 1] {
                assert_eq!(page.len(), limit, "only the last page is short");
            }
            if query != "thu" {
                let head: BTreeSet<Uuid> = walked.iter().take(exact.len()).copied().collect();
                assert_eq!(head, exact, "exact matches first, limit {limit}");
            }
        }
    }
}

#[tokio::test]
async fn a_search_that_scans_many_non_matching_words_still_walks_every_match_once() {
    let f = Fixture::new();
    let mut matching = BTreeSet::new();
    // 600 titles start a word with "thq", more than one request scans; one in 40 also has "zz".
    for i in 0..600 {
        let title = if i % 40 == 7 {
            format!("Thq{i:03} Zzz")
        } else {
            format!("Thq{i:03} Other")
        };
        let m = movie(&title, 2000, &["drama"], secs(i), &[]);
        f.deliver(&created(&m)).await;
        if i % 40 == 7 {
            matching.insert(m.movie_id);
        }
    }
    assert_eq!(matching.len(), 15);
    for limit in [1, 4, 15, 16, 100] {
        let pages = search_pages(f.store(), Index::Movies, "thq zz", limit).await;
        let walked = pages.concat();
        assert_eq!(walked.len(), matching.len(), "limit {limit}");
        assert_eq!(walked.into_iter().collect::<BTreeSet<_>>(), matching);
    }
}

#[tokio::test]
async fn deleted_movies_vanish_from_search() {
    let f = Fixture::new();
    let keep = movie("Thunder Road", 2000, &["drama"], secs(1), &[]);
    let gone = movie("Thunder", 2001, &["drama"], secs(2), &[]);
    let also_gone = movie("Thunderball", 2002, &["drama"], secs(3), &[]);
    for m in [&keep, &gone, &also_gone] {
        f.deliver(&created(m)).await;
    }
    assert_eq!(
        search_ids(f.store(), Index::Movies, "thunder").await.len(),
        3
    );
    f.deliver(&deleted(&gone)).await;
    f.deliver(&deleted(&also_gone)).await;
    assert_eq!(
        search_ids(f.store(), Index::Movies, "thunder").await,
        [keep.movie_id]
    );
    assert_eq!(
        search_ids(f.store(), Index::Movies, "thunderb").await,
        Vec::<Uuid>::new()
    );
    // Creating it again (a late redelivery) does not bring it back.
    f.deliver(&created(&gone)).await;
    assert_eq!(
        search_ids(f.store(), Index::Movies, "thunder").await,
        [keep.movie_id]
    );
}

// ---------------------------------------------------------------------------------------
// 6. Sharded lists

#[tokio::test]
async fn all_movies_pages_list_every_movie_once_newest_created_first() {
    let f = Fixture::new();
    let mut movies = Vec::new();
    for i in 0..30 {
        // Creation order differs from id order, so the list cannot be in id order by luck.
        let created_at = secs(((i * 17) % 30) + 1);
        let m = movie(&format!("Movie {i}"), 2000, &["drama"], created_at, &[]);
        f.deliver(&created(&m)).await;
        movies.push(m);
    }
    let mut expected = movies.clone();
    expected.sort_by_key(|m| std::cmp::Reverse(m.created_at));
    let expected: Vec<Uuid> = expected.iter().map(|m| m.movie_id).collect();

    for limit in [1, 7, 10, 29, 30, 31, 100] {
        let pages = all_movies_pages(f.store(), limit).await;
        assert_eq!(pages.len(), 30usize.div_ceil(limit), "limit {limit}");
        for page in &pages[..pages.len() - 1] {
            assert_eq!(page.len(), limit, "only the last page is short");
        }
        assert!(!pages.last().unwrap().is_empty(), "no empty last page");
        let walked: Vec<Uuid> = pages.iter().flat_map(|p| ids(p)).collect();
        assert_eq!(walked, expected, "limit {limit}");
    }
}

#[tokio::test]
async fn genre_pages_list_every_movie_once_newest_release_first() {
    let f = Fixture::new();
    let mut movies = Vec::new();
    for i in 0..30 {
        let genres: &[&str] = if i % 3 == 0 {
            &["drama", "comedy"]
        } else {
            &["drama"]
        };
        // Several movies share a release year; the newer creation comes first among them.
        let m = movie(
            &format!("Genre Movie {i}"),
            1990 + ((i * 7) % 12),
            genres,
            secs(i.into()),
            &[],
        );
        f.deliver(&created(&m)).await;
        movies.push(m);
    }
    let order = |a: &MovieSnapshot, b: &MovieSnapshot| {
        b.release_year
            .cmp(&a.release_year)
            .then(b.created_at.cmp(&a.created_at))
    };
    for (genre, count) in [("drama", 30), ("comedy", 10)] {
        let mut expected: Vec<&MovieSnapshot> = movies
            .iter()
            .filter(|m| m.genres.iter().any(|g| g == genre))
            .collect();
        expected.sort_by(|a, b| order(a, b));
        let expected: Vec<Uuid> = expected.iter().map(|m| m.movie_id).collect();
        assert_eq!(expected.len(), count);
        for limit in [1, 3, 7, 10, 30, 31] {
            let pages = genre_pages(f.store(), genre, limit).await;
            assert_eq!(pages.len(), count.div_ceil(limit), "{genre} limit {limit}");
            for page in &pages[..pages.len() - 1] {
                assert_eq!(page.len(), limit, "only the last page is short");
            }
            let walked: Vec<Uuid> = pages.iter().flat_map(|p| ids(p)).collect();
            assert_eq!(walked, expected, "{genre} limit {limit}");
            let years: Vec<i32> = pages.iter().flatten().map(|s| s.release_year).collect();
            assert!(years.windows(2).all(|w| w[0] >= w[1]), "{years:?}");
        }
    }
    assert_eq!(
        catalog::genres(f.store()).await.unwrap(),
        [
            GenreCount {
                name: "comedy".into(),
                movie_count: 10
            },
            GenreCount {
                name: "drama".into(),
                movie_count: 30
            },
        ]
    );
}

// ---------------------------------------------------------------------------------------
// 7. Processed-event markers expire

/// Every consumer that marks events leaves a marker that expires after the retention it was
/// given (a setting), so the store forgets handled events long after any redelivery.
#[tokio::test]
async fn processed_markers_expire_after_the_retention() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("store.db")).unwrap());
    let retention = std::time::Duration::from_secs(2 * 24 * 60 * 60);
    let subs = projector::subscriptions(store.clone(), retention);
    let (_, actor) = actor_created("Marked Actor");
    let film = movie("Marked", 1999, &["drama"], secs(1), &[]);
    let envelopes = [actor, created(&film)];
    let before = store::epoch_seconds();
    for envelope in &envelopes {
        deliver(&subs, envelope).await;
    }
    let after = store::epoch_seconds();

    let retention = i64::try_from(retention.as_secs()).unwrap();
    let mut marked = Vec::new();
    for envelope in &envelopes {
        let event_type = envelope.event.event_type();
        for sub in subs.iter().filter(|s| s.event_types.contains(&event_type)) {
            let key = marker_key(&envelope.id, &sub.consumer);
            let Some(marker) = store.get_record::<ProcessedMarker>(&key).await.unwrap() else {
                // `reviews` keeps no marker: its pointers version its writes.
                assert_eq!(sub.consumer, "reviews");
                continue;
            };
            assert!(
                (before + retention..=after + retention).contains(&marker.expires_at),
                "{} marked {} to expire at {}, not {retention} s after {before}",
                sub.consumer,
                event_type.as_str(),
                marker.expires_at
            );
            marked.push(sub.consumer.clone());
        }
    }
    marked.sort();
    assert_eq!(marked, ["actor-search", "catalog", "filmography"]);
}

// ---------------------------------------------------------------------------------------
// Posters and photos

/// The poster of `movie` in its summary, each list and its cast's filmographies: the one
/// poster every place shows.
async fn poster_everywhere(f: &Fixture, movie: &MovieSnapshot) -> Option<PictureView> {
    let shown = summary(f.store(), movie).await.unwrap().poster;
    let listed = catalog::all_movies_page(f.store(), None, 100)
        .await
        .unwrap()
        .0;
    let in_list = listed.iter().find(|s| s.id == movie.movie_id).unwrap();
    assert_eq!(in_list.poster, shown, "in all movies");
    for genre in &movie.genres {
        let page = catalog::genre_page(f.store(), genre, None, 100)
            .await
            .unwrap()
            .0;
        let in_genre = page.iter().find(|s| s.id == movie.movie_id).unwrap();
        assert_eq!(in_genre.poster, shown, "in {genre}");
    }
    for member in &movie.cast {
        let movies = filmography::filmography(f.store(), &member.actor_id)
            .await
            .unwrap();
        let entry = movies.iter().find(|e| e.id == movie.movie_id).unwrap();
        assert_eq!(entry.poster, shown, "in the filmography of {}", member.name);
    }
    shown
}

#[tokio::test]
async fn a_poster_shows_in_every_list_and_follows_its_replacement_and_deletion() {
    let f = Fixture::new();
    let (actor, actor_created) = actor_created("Poster Actor");
    f.deliver(&actor_created).await;
    let film = movie(
        "Posters",
        2001,
        &["drama", "noir"],
        secs(1),
        &[(actor, "Lead")],
    );
    f.deliver(&created(&film)).await;
    assert_eq!(poster_everywhere(&f, &film).await, None);

    let first = picture(600);
    f.deliver(&poster_changed(&film, Some(first))).await;
    assert_eq!(
        poster_everywhere(&f, &film).await,
        poster_view(&film, &first)
    );
    // Top-rated and search show summaries too.
    f.deliver(&upserted(&film, id(), 8, None, secs(2))).await;
    let top = reviews::top_rated(f.store(), 10, 1).await.unwrap();
    assert_eq!(top[0].poster, poster_view(&film, &first));
    let index = MovieSearch::default();
    index.rebuild_from(f.store()).await.unwrap();
    let (found, _) = index.search(f.store(), "posters", None, 10).await.unwrap();
    assert_eq!(found[0].poster, poster_view(&film, &first));

    let second = picture(900);
    f.deliver(&poster_changed(&film, Some(second))).await;
    assert_eq!(
        poster_everywhere(&f, &film).await,
        poster_view(&film, &second)
    );
    f.deliver(&poster_changed(&film, None)).await;
    assert_eq!(poster_everywhere(&f, &film).await, None);
    // The score is untouched by all of it.
    let s = summary(f.store(), &film).await.unwrap();
    assert_eq!((s.score, s.review_count), (Some(8.0), 1));
}

#[tokio::test]
async fn poster_changes_late_or_repeated_leave_the_newest() {
    let f = Fixture::new();
    let film = movie("Late Posters", 2002, &["drama"], secs(1), &[]);
    f.deliver(&created(&film)).await;
    let (old, new) = (picture(600), picture(800));
    let first = poster_changed(&film, Some(old));
    let second = poster_changed(&film, Some(new));
    f.deliver(&second).await;
    f.deliver(&first).await;
    assert_eq!(poster_everywhere(&f, &film).await, poster_view(&film, &new));
    f.deliver(&second).await;
    assert_eq!(poster_everywhere(&f, &film).await, poster_view(&film, &new));

    // A deletion stays a deletion when an older change comes late.
    let removed = poster_changed(&film, None);
    f.deliver(&removed).await;
    f.deliver(&second).await;
    f.deliver(&first).await;
    assert_eq!(poster_everywhere(&f, &film).await, None);

    // Eight copies of a newer change at once apply it once, and no marker is written for it.
    let third = poster_changed(&film, Some(picture(700)));
    deliver_concurrently(&f, &third, 8).await;
    let Event::PosterChanged(PosterChanged { poster, .. }) = &third.event else {
        unreachable!()
    };
    assert_eq!(
        poster_everywhere(&f, &film).await,
        poster_view(&film, poster.as_ref().unwrap())
    );
    let marker = f
        .store()
        .get(&marker_key(&third.id, "catalog"))
        .await
        .unwrap();
    assert_eq!(marker, None, "a poster change is versioned, not marked");
}

#[tokio::test]
async fn a_poster_set_before_the_movie_is_created_shows_once_it_is() {
    let f = Fixture::new();
    let (actor, actor_created) = actor_created("Early Actor");
    f.deliver(&actor_created).await;
    let film = movie("Early", 2003, &["drama"], secs(1), &[(actor, "First")]);
    let poster = picture(640);
    let changed = poster_changed(&film, Some(poster));
    f.deliver(&changed).await;
    assert_eq!(summary(f.store(), &film).await, None, "not created yet");
    assert!(all_movie_ids(f.store()).await.is_empty());

    f.deliver(&created(&film)).await;
    assert_eq!(
        poster_everywhere(&f, &film).await,
        poster_view(&film, &poster)
    );
    // A review's tally written beside it leaves it too.
    f.deliver(&upserted(&film, id(), 6, None, secs(2))).await;
    assert_eq!(
        poster_everywhere(&f, &film).await,
        poster_view(&film, &poster)
    );
}

#[tokio::test]
async fn a_poster_change_of_a_deleted_movie_brings_nothing_back() {
    let f = Fixture::new();
    let (actor, actor_created) = actor_created("Gone Actor");
    f.deliver(&actor_created).await;
    let film = movie(
        "Gone Poster",
        2004,
        &["drama"],
        secs(1),
        &[(actor, "Ghost")],
    );
    f.deliver(&created(&film)).await;
    let late = poster_changed(&film, Some(picture(300)));
    f.deliver(&deleted(&film)).await;
    f.deliver(&late).await;
    assert_eq!(summary(f.store(), &film).await, None);
    assert!(all_movie_ids(f.store()).await.is_empty());
    assert!(
        filmography::filmography(f.store(), &actor)
            .await
            .unwrap()
            .is_empty()
    );
    let tombstone = f
        .store()
        .get(&store::Key::new(
            format!("summary#{}", film.movie_id),
            "summary",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tombstone.get("poster"), None, "the tombstone is left alone");
}

/// The listing of `actor` in the actor list and in a search index rebuilt from the store.
async fn listed_actor(f: &Fixture, actor: Uuid, name: &str) -> Option<ActorListing> {
    let (listed, _) = actors_list::actors_page(f.store(), None, 100)
        .await
        .unwrap();
    let listed = listed.into_iter().find(|a| a.id == actor);
    let index = ActorSearch::default();
    index.rebuild_from(f.store()).await.unwrap();
    let (found, _) = index.search(name, None, 100).unwrap();
    let found = found.into_iter().find(|a| a.id == actor);
    assert_eq!(found, listed, "the search shows what the list shows");
    listed
}

async fn listed_photo(f: &Fixture, actor: Uuid) -> Option<PictureView> {
    listed_actor(f, actor, "photo actor").await.unwrap().photo
}

/// The deletion of the actor that `created` announced, with its photo.
fn actor_deleted(created: &Envelope, photo: Option<StoredPicture>) -> Envelope {
    let Event::ActorCreated(actor) = &created.event else {
        panic!("an actor's creation");
    };
    Envelope::new(Event::ActorDeleted(ActorDeleted {
        actor_id: actor.actor_id,
        name: actor.name.clone(),
        created_at: created.occurred_at - 35,
        photo,
    }))
}

/// Every stored entry of an actor's filmography (the read stops at 100).
async fn filmography_entries(f: &Fixture, actor: Uuid) -> usize {
    let mut count = 0;
    let mut after = None;
    loop {
        let page = f
            .store()
            .query(&store::Query::prefix(format!("filmography#{actor}"), "", 100).after(after))
            .await
            .unwrap();
        count += page.items.len();
        after = page.items.last().map(|item| item.key.sk.clone());
        if !page.more {
            return count;
        }
    }
}

#[tokio::test]
async fn a_deleted_actor_leaves_the_lists_and_its_filmography_whatever_comes_twice_or_late() {
    let f = Fixture::new();
    let (gone, gone_created) = actor_created("Gone Actor");
    let (kept, kept_created) = actor_created("Kept Actor");
    let photo = picture(300);
    let photo_set = photo_changed(&gone_created, Some(photo));
    f.deliver_all(&[gone_created.clone(), kept_created, photo_set.clone()])
        .await;
    // More movies than one transaction of the deletion removes.
    let played: Vec<MovieSnapshot> = (0..130)
        .map(|i| {
            movie(
                &format!("Played {i}"),
                1950 + i32::try_from(i % 50).unwrap(),
                &["drama"],
                secs(i + 1),
                &[(gone, "lead"), (kept, "support")],
            )
        })
        .collect();
    for movie in &played {
        f.deliver(&created(movie)).await;
    }
    assert_eq!(filmography_entries(&f, gone).await, 130);
    assert!(listed_actor(&f, gone, "gone").await.is_some());

    let deletion = actor_deleted(&gone_created, Some(photo));
    f.deliver(&deletion).await;
    f.deliver(&deletion).await;
    // Late: its creation, a photo change, and a movie created before the deletion.
    let late = movie(
        "Played Late",
        2001,
        &["drama"],
        secs(200),
        &[(gone, "lead"), (kept, "support")],
    );
    f.deliver_all(&[gone_created, photo_set, created(&late)])
        .await;

    assert_eq!(filmography_entries(&f, gone).await, 0);
    assert!(
        filmography::filmography(f.store(), &gone)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(listed_actor(&f, gone, "gone").await, None);
    let (listed, _) = actors_list::actors_page(f.store(), None, 100)
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|a| a.id).collect::<Vec<_>>(),
        [kept],
        "no listing of the deleted actor, not even one holding only a photo"
    );
    assert_eq!(filmography_entries(&f, kept).await, 131);
}

#[tokio::test]
async fn an_actors_photo_is_listed_and_searched_and_keeps_the_newest_change() {
    let f = Fixture::new();
    let (actor, actor_created) = actor_created("Photo Actor");
    f.deliver(&actor_created).await;
    assert_eq!(listed_photo(&f, actor).await, None);

    let (old, new) = (picture(300), picture(400));
    let first = photo_changed(&actor_created, Some(old));
    let second = photo_changed(&actor_created, Some(new));
    f.deliver(&first).await;
    assert_eq!(listed_photo(&f, actor).await, photo_view(actor, &old));
    f.deliver(&second).await;
    f.deliver(&first).await;
    f.deliver(&second).await;
    assert_eq!(listed_photo(&f, actor).await, photo_view(actor, &new));
    // The creation once more (a late redelivery) leaves the photo.
    f.deliver(&actor_created).await;
    assert_eq!(listed_photo(&f, actor).await, photo_view(actor, &new));

    let removed = photo_changed(&actor_created, None);
    f.deliver(&removed).await;
    f.deliver(&second).await;
    assert_eq!(listed_photo(&f, actor).await, None);
    let (listed, _) = actors_list::actors_page(f.store(), None, 100)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "one listing, however often it was written");
}

#[tokio::test]
async fn a_photo_set_before_its_actor_is_listed_shows_once_it_is() {
    let f = Fixture::new();
    let (actor, actor_created) = actor_created("Early Photo");
    let photo = picture(350);
    f.deliver(&photo_changed(&actor_created, Some(photo))).await;
    let (listed, _) = actors_list::actors_page(f.store(), None, 100)
        .await
        .unwrap();
    assert!(listed.is_empty(), "not listed before it is created");
    assert_eq!(listed_actor(&f, actor, "early").await, None);

    f.deliver(&actor_created).await;
    let listing = listed_actor(&f, actor, "early").await.unwrap();
    assert_eq!(listing.photo, photo_view(actor, &photo));
    assert_eq!(listing.name, "Early Photo");
    let (listed, _) = actors_list::actors_page(f.store(), None, 100)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_photo_handled_while_its_actor_is_listed_meets_the_listing() {
    for _ in 0..10 {
        let f = Fixture::new();
        let (actor, actor_created) = actor_created("Racing Photo");
        let photo = picture(350);
        let changed = photo_changed(&actor_created, Some(photo));
        let (a, b) = (f.subs.clone(), f.subs.clone());
        let (created, changed) = (actor_created.clone(), changed.clone());
        let listing = tokio::spawn(async move { deliver(&a, &created).await });
        let photo_set = tokio::spawn(async move { deliver(&b, &changed).await });
        listing.await.unwrap();
        photo_set.await.unwrap();
        let (listed, _) = actors_list::actors_page(f.store(), None, 100)
            .await
            .unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].photo, photo_view(actor, &photo));
    }
}

#[tokio::test]
async fn a_search_index_follows_photo_changes_it_sees_in_any_order() {
    let f = Fixture::new();
    let (actor, watched_created) = actor_created("Watched Actor");
    f.deliver(&watched_created).await;
    let index = ActorSearch::default();
    index.rebuild_from(f.store()).await.unwrap();
    let shown = |index: &ActorSearch| {
        index.search("watched", None, 10).unwrap().0[0]
            .photo
            .clone()
    };

    let (old, new) = (picture(300), picture(400));
    let first = photo_changed(&watched_created, Some(old));
    let second = photo_changed(&watched_created, Some(new));
    index.saw(&second);
    index.saw(&first);
    assert_eq!(shown(&index), photo_view(actor, &new));
    index.saw(&watched_created);
    assert_eq!(
        shown(&index),
        photo_view(actor, &new),
        "a creation seen again"
    );

    // A photo seen before its actor's creation shows once the creation is seen.
    let (later, later_created) = actor_created("Watched Later");
    let photo = picture(500);
    index.saw(&photo_changed(&later_created, Some(photo)));
    index.saw(&later_created);
    let found = index.search("later", None, 10).unwrap().0;
    assert_eq!(found[0].id, later);
    assert_eq!(found[0].photo, photo_view(later, &photo));

    // A rebuild from a store that has not heard of the changes yet replays them.
    let rebuilt = ActorSearch::default();
    rebuilt.saw(&second);
    rebuilt.rebuild_from(f.store()).await.unwrap();
    assert_eq!(shown(&rebuilt), photo_view(actor, &new));
}

/// A store metric of one caller, as `/metrics` renders it.
fn store_metric(
    metrics: &metrics_exporter_prometheus::PrometheusHandle,
    name: &str,
    labels: &str,
) -> u64 {
    let series = format!("{name}{{{labels}}}");
    metrics
        .render()
        .lines()
        .find_map(|line| line.strip_prefix(series.as_str())?.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_poster_or_photo_change_costs_one_read_and_one_item_write() {
    let f = Fixture::new();
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let metrics = recorder.handle();
    let counted = metrics::with_local_recorder(&recorder, || {
        projector::subscriptions(f.store.clone(), DEFAULT_MARKER_RETENTION)
    });
    let cast: Vec<(Uuid, Envelope)> = (0..5)
        .map(|i| actor_created(&format!("Cast {i}")))
        .collect();
    for (_, created) in &cast {
        deliver(&counted, created).await;
    }
    let roles: Vec<(Uuid, &str)> = cast.iter().map(|(actor, _)| (*actor, "Part")).collect();
    let film = movie("Costed", 2005, &["drama", "noir"], secs(1), &roles);
    deliver(&counted, &created(&film)).await;

    let count = |operation: &str, caller: &str| {
        store_metric(
            &metrics,
            "moviebook_store_requests_total",
            &format!(r#"operation="{operation}",caller="{caller}""#),
        )
    };
    let writes = |caller: &str| {
        store_metric(
            &metrics,
            "moviebook_store_item_writes_total",
            &format!(r#"caller="{caller}""#),
        )
    };
    let before = (
        count("get", "catalog"),
        count("transact", "catalog"),
        writes("catalog"),
    );
    let film_before = (count("transact", "filmography"), writes("filmography"));
    for width in [100, 200, 300] {
        deliver(&counted, &poster_changed(&film, Some(picture(width)))).await;
    }
    let after = (
        count("get", "catalog"),
        count("transact", "catalog"),
        writes("catalog"),
    );
    assert_eq!(
        (after.0 - before.0, after.1 - before.1, after.2 - before.2),
        (3, 3, 3),
        "per poster change: one get, one transaction of one write (no marker)"
    );
    assert_eq!(
        (count("transact", "filmography"), writes("filmography")),
        film_before,
        "a poster change writes no filmography entry, whatever the cast"
    );

    let (_, keanu_created) = &cast[0];
    let before = (
        count("query", "actor-search"),
        count("transact", "actor-search"),
        writes("actor-search"),
    );
    for width in [100, 200] {
        deliver(
            &counted,
            &photo_changed(keanu_created, Some(picture(width))),
        )
        .await;
    }
    let after = (
        count("query", "actor-search"),
        count("transact", "actor-search"),
        writes("actor-search"),
    );
    assert_eq!(
        (after.0 - before.0, after.1 - before.1, after.2 - before.2),
        (2, 2, 2),
        "per photo change: one query, one transaction of one write (no marker)"
    );
}
