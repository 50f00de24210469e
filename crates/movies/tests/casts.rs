//! The movies service's consumer of actor deletions on a real store: a deleted actor leaves
//! the cast of every movie it played in, however many, and the event delivered again
//! changes nothing more.

use std::sync::Arc;

use bus::Outcome;
use domain::events::{ActorDeleted, Envelope, Event};
use domain::{CastEntry, NewActor, NewMovie};
use platform::outbox::Outboxes;
use store::{Query, Store};
use uuid::Uuid;

struct Services {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    actors: actors::ActorsService,
    movies: movies::MoviesService,
}

async fn services() -> Services {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(store_sqlite::SqliteStore::open(&dir.path().join("store.db")).unwrap());
    let outboxes = Outboxes::new(store.clone());
    let images = pictures::Pictures::new(Arc::new(
        objects_fs::FsObjectStore::open(&dir.path().join("images"))
            .await
            .unwrap(),
    ));
    let actors = actors::ActorsService::new(outboxes.of("actors"), images.clone());
    let movies = movies::MoviesService::new(
        outboxes.of("movies"),
        Arc::new(actors::LocalActorDirectory::new(store.clone())),
        Arc::new(users::LocalUserDirectory::new(store.clone())),
        images,
    );
    Services {
        _dir: dir,
        store,
        actors,
        movies,
    }
}

impl Services {
    async fn actor(&self, name: &str) -> Uuid {
        let actor = NewActor {
            name: name.into(),
            date_of_birth: None,
            bio: None,
            thumbnail_url: None,
            pictures: Vec::new(),
        };
        self.actors.create(actor).await.unwrap().id
    }

    async fn movie(&self, title: String, cast: &[Uuid]) -> Uuid {
        let movie = NewMovie {
            title,
            release_year: 1999,
            genres: vec!["drama".into()],
            actors: cast
                .iter()
                .map(|actor_id| CastEntry {
                    actor_id: *actor_id,
                    role: "lead".into(),
                })
                .collect(),
            overview: None,
            thumbnail_url: None,
            pictures: Vec::new(),
        };
        self.movies.create(movie).await.unwrap().id
    }

    async fn cast(&self, movie: &Uuid) -> Vec<Uuid> {
        let movie = self.movies.get(movie).await.unwrap();
        movie.actors.iter().map(|member| member.id).collect()
    }

    /// Hands the event to the consumer of actor deletions.
    async fn deliver(&self, envelope: &Envelope) -> Outcome {
        let subscriptions = movies::consumers::subscriptions(self.movies.clone());
        let casts = subscriptions
            .iter()
            .find(|sub| sub.consumer == "movies-casts")
            .expect("the consumer of actor deletions");
        assert!(casts.event_types.contains(&envelope.event.event_type()));
        casts.handler.handle(envelope).await
    }
}

#[tokio::test]
async fn a_deleted_actor_leaves_every_cast_once_however_often_the_event_comes() {
    let s = services().await;
    let (gone, kept) = (s.actor("Gone").await, s.actor("Kept").await);
    // More movies than one read of the cast index takes.
    let mut shared = Vec::new();
    for i in 0..30 {
        shared.push(s.movie(format!("Shared {i}"), &[gone, kept]).await);
    }
    let alone = s.movie("Alone".into(), &[gone]).await;
    let other = s.movie("Other".into(), &[kept]).await;

    s.actors.delete(&gone).await.unwrap();
    let deletion = Envelope::new(Event::ActorDeleted(ActorDeleted {
        actor_id: gone,
        name: "Gone".into(),
        created_at: 0,
        photo: None,
    }));
    assert_eq!(s.deliver(&deletion).await, Outcome::Done);
    assert_eq!(s.deliver(&deletion).await, Outcome::Done);

    for movie in &shared {
        assert_eq!(s.cast(movie).await, [kept]);
    }
    assert!(s.cast(&alone).await.is_empty());
    assert_eq!(s.cast(&other).await, [kept]);
    let left = s
        .store
        .query(&Query::prefix(format!("castof#{gone}"), "", 10))
        .await
        .unwrap();
    assert!(left.items.is_empty(), "{left:?}");
    let kept_entries = s
        .store
        .query(&Query::prefix(format!("castof#{kept}"), "", 100))
        .await
        .unwrap();
    assert_eq!(kept_entries.items.len(), 31);

    // A deleted movie takes its index entries with it.
    s.movies.delete(&other).await.unwrap();
    let kept_entries = s
        .store
        .query(&Query::prefix(format!("castof#{kept}"), "", 100))
        .await
        .unwrap();
    assert_eq!(kept_entries.items.len(), 30);
}
