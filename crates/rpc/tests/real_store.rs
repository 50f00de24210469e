//! The gRPC servers in front of the real directories over a real SQLite store, holding
//! items written by the owning services themselves: what a remote caller sees is what the
//! owning service wrote.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{any_port, serve_on};
use domain::{CastEntry, NewActor, NewMovie, NewUser};
use platform::auth::Authenticator;
use platform::directory::DirectoryError;
use platform::directory::{ActorDirectory, MovieDirectory, MovieRef, UserDirectory, UserProfile};
use platform::outbox::Outboxes;
use rpc::{ClientConfig, GrpcActorDirectory, GrpcMovieDirectory, GrpcUserDirectory};
use store::Store;
use store_sqlite::SqliteStore;
use uuid::Uuid;

fn open_store(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(&dir.path().join("moviebook.sqlite3")).unwrap())
}

#[tokio::test]
async fn a_signed_up_user_is_answered_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    let directory = Arc::new(users::LocalUserDirectory::new(store.clone()));
    // Wired as the application does: the authenticator asks the same directory.
    let auth = Arc::new(Authenticator::new(
        "admin-token".into(),
        b"a test secret of enough length for HS256",
        Duration::from_secs(3600),
        directory.clone(),
    ));
    let service = users::UsersService::new(
        Outboxes::new(store.clone()).of("users"),
        auth,
        Default::default(),
    )
    .await
    .unwrap();
    let signed_up = service
        .sign_up(NewUser {
            name: "Katherine Johnson".into(),
            email: "katherine@example.com".into(),
            password: "correct horse battery staple".into(),
        })
        .await
        .unwrap();

    let (routes, _health) = rpc::grpc_routes(None, Some(directory), None, &common::token()).await;
    let server = serve_on(any_port(), routes);
    let users =
        GrpcUserDirectory::connect_lazy(&server.url(), &common::token(), &ClientConfig::default())
            .unwrap();

    assert_eq!(
        users.user(signed_up.id).await.unwrap(),
        Some(UserProfile {
            id: signed_up.id,
            name: "Katherine Johnson".into()
        })
    );
    assert_eq!(users.user(Uuid::now_v7()).await.unwrap(), None);
    server.stop().await;
}

#[tokio::test]
async fn created_actors_and_movies_are_answered_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    let outboxes = Outboxes::new(store.clone());
    let actor_directory = Arc::new(actors::LocalActorDirectory::new(store.clone()));
    let images = pictures::Pictures::new(Arc::new(
        objects_fs::FsObjectStore::open(&dir.path().join("images"))
            .await
            .unwrap(),
    ));
    let actor = actors::ActorsService::new(outboxes.of("actors"), images.clone())
        .create(NewActor {
            name: "Alisa Freindlich".into(),
            date_of_birth: None,
            bio: None,
            thumbnail_url: None,
            pictures: Vec::new(),
        })
        .await
        .unwrap();
    let movies_service = movies::MoviesService::new(
        outboxes.of("movies"),
        actor_directory.clone(),
        Arc::new(users::LocalUserDirectory::new(store.clone())),
        images,
    );
    let movie = movies_service
        .create(NewMovie {
            title: "Stalker".into(),
            release_year: 1979,
            genres: vec!["drama".into(), "science fiction".into()],
            actors: vec![CastEntry {
                actor_id: actor.id,
                role: "the Stalker's wife".into(),
            }],
            overview: None,
            thumbnail_url: None,
            pictures: Vec::new(),
        })
        .await
        .unwrap();

    let (routes, _health) = rpc::grpc_routes(
        Some(actor_directory),
        None,
        Some(Arc::new(movies::LocalMovieDirectory::new(store.clone()))),
        &common::token(),
    )
    .await;
    let server = serve_on(any_port(), routes);
    let config = ClientConfig::default();
    let actors =
        GrpcActorDirectory::connect_lazy(&server.url(), &common::token(), &config).unwrap();
    let movies =
        GrpcMovieDirectory::connect_lazy(&server.url(), &common::token(), &config).unwrap();

    let unknown = Uuid::now_v7();
    let found = actors.actors(&[unknown, actor.id]).await.unwrap();
    assert_eq!(found.len(), 2);
    assert!(found[0].is_none());
    let first = found[1].as_ref().unwrap();
    assert_eq!(
        (first.id, first.name.as_str()),
        (actor.id, "Alisa Freindlich")
    );

    assert_eq!(
        movies.movie(movie.id).await.unwrap(),
        Some(MovieRef {
            id: movie.id,
            title: "Stalker".into(),
            release_year: 1979,
            genres: vec!["drama".into(), "science fiction".into()],
        })
    );
    assert_eq!(movies.movie(unknown).await.unwrap(), None);

    // A deleted movie is gone for other services at once.
    movies_service.delete(&movie.id).await.unwrap();
    assert_eq!(movies.movie(movie.id).await.unwrap(), None);
    server.stop().await;
}

#[tokio::test]
async fn a_malformed_movie_item_is_internal_not_absent() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    let id = Uuid::now_v7();
    // A movie item without its title, as a bug could leave one.
    let mut attrs = serde_json::Map::new();
    attrs.insert("id".into(), serde_json::json!(id));
    attrs.insert("release_year".into(), serde_json::json!(1979));
    store
        .transact(vec![store::Write::Put {
            item: store::Item::new(store::Key::new(format!("movie#{id}"), "movie"), attrs),
            condition: store::Condition::Always,
        }])
        .await
        .unwrap();

    let local = movies::LocalMovieDirectory::new(store.clone());
    assert!(matches!(
        local.movie(id).await,
        Err(DirectoryError::Failed(_))
    ));

    let (routes, _health) =
        rpc::grpc_routes(None, None, Some(Arc::new(local)), &common::token()).await;
    let server = serve_on(any_port(), routes);
    let movies =
        GrpcMovieDirectory::connect_lazy(&server.url(), &common::token(), &ClientConfig::default())
            .unwrap();
    let error = movies.movie(id).await.unwrap_err();
    assert!(
        matches!(&error, DirectoryError::Failed(m) if m.starts_with("movies service: ")),
        "{error:?}"
    );
    server.stop().await;
}
