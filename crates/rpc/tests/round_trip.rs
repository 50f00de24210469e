//! Each service answered over a real tonic server on a loopback port: found, not found,
//! order, malformed ids, the directory's failures, and health.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Failing, Failure, Memory, serve_all, serve_memory};
use platform::directory::DirectoryError;
use platform::directory::{ActorDirectory, MovieDirectory, MovieRef, UserDirectory, UserProfile};
use rpc::auth::WithToken;
use rpc::pb::actor_service_client::ActorServiceClient;
use rpc::pb::movie_service_client::MovieServiceClient;
use rpc::pb::user_service_client::UserServiceClient;
use rpc::pb::{GetActorsRequest, GetMovieRequest, GetUserRequest};
use rpc::{ClientConfig, GrpcActorDirectory, GrpcMovieDirectory, GrpcUserDirectory};
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use uuid::Uuid;

/// tonic-health ships its client without the `connect` convenience.
async fn health_client(
    url: &str,
) -> HealthClient<InterceptedService<tonic::transport::Channel, WithToken>> {
    HealthClient::new(common::authenticated(url).await)
}

fn config() -> ClientConfig {
    ClientConfig::default()
}

#[tokio::test]
async fn a_user_is_found_or_not() {
    let known = Uuid::now_v7();
    let mut memory = Memory::default();
    memory.users.insert(known, "Ada".into());
    let server = serve_memory(memory).await;
    let users =
        GrpcUserDirectory::connect_lazy(&server.url(), &common::token(), &config()).unwrap();

    assert_eq!(
        users.user(known).await.unwrap(),
        Some(UserProfile {
            id: known,
            name: "Ada".into()
        })
    );
    assert_eq!(users.user(Uuid::now_v7()).await.unwrap(), None);
    server.stop().await;
}

#[tokio::test]
async fn actors_come_back_in_request_order_with_the_unknown_ones_marked() {
    let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let unknown = Uuid::now_v7();
    let mut memory = Memory::default();
    memory.actors.insert(a, "Anna".into());
    memory.actors.insert(b, "Bruno".into());
    memory.actors.insert(c, "Chiara".into());
    let server = serve_memory(memory).await;
    let actors =
        GrpcActorDirectory::connect_lazy(&server.url(), &common::token(), &config()).unwrap();

    let asked = [c, unknown, a, b, a];
    let answer = actors.actors(&asked).await.unwrap();
    let names: Vec<Option<(Uuid, &str)>> = answer
        .iter()
        .map(|r| r.as_ref().map(|r| (r.id, r.name.as_str())))
        .collect();
    assert_eq!(
        names,
        vec![
            Some((c, "Chiara")),
            None,
            Some((a, "Anna")),
            Some((b, "Bruno")),
            Some((a, "Anna")),
        ]
    );
    assert_eq!(actors.actors(&[]).await.unwrap(), Vec::new());
    server.stop().await;
}

#[tokio::test]
async fn more_actors_than_one_call_takes_are_asked_in_several_calls_in_order() {
    let ids: Vec<Uuid> = (0..rpc::MAX_ACTOR_IDS * 2 + 7)
        .map(|_| Uuid::now_v7())
        .collect();
    let mut memory = Memory::default();
    for (i, id) in ids.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
        memory.actors.insert(*id, format!("actor {i}"));
    }
    let server = serve_memory(memory).await;
    let actors =
        GrpcActorDirectory::connect_lazy(&server.url(), &common::token(), &config()).unwrap();

    let answer = actors.actors(&ids).await.unwrap();
    assert_eq!(answer.len(), ids.len());
    for (i, (id, result)) in ids.iter().zip(&answer).enumerate() {
        match result {
            Some(actor) => {
                assert_eq!(i % 3, 0);
                assert_eq!(
                    (actor.id, actor.name.as_str()),
                    (*id, format!("actor {i}").as_str())
                );
            }
            None => assert_ne!(i % 3, 0),
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn a_movie_is_found_or_not() {
    let id = Uuid::now_v7();
    let movie = MovieRef {
        id,
        title: "Stalker".into(),
        release_year: 1979,
        genres: vec!["drama".into(), "science fiction".into()],
    };
    let mut memory = Memory::default();
    memory.movies.insert(id, movie.clone());
    let server = serve_memory(memory).await;
    let movies =
        GrpcMovieDirectory::connect_lazy(&server.url(), &common::token(), &config()).unwrap();

    assert_eq!(movies.movie(id).await.unwrap(), Some(movie));
    assert_eq!(movies.movie(Uuid::now_v7()).await.unwrap(), None);
    server.stop().await;
}

#[tokio::test]
async fn malformed_ids_are_invalid_arguments() {
    let server = serve_memory(Memory::default()).await;
    let mut users = UserServiceClient::new(common::authenticated(&server.url()).await);
    let mut actors = ActorServiceClient::new(common::authenticated(&server.url()).await);
    let mut movies = MovieServiceClient::new(common::authenticated(&server.url()).await);

    let user = users
        .get_user(GetUserRequest {
            id: "not-a-uuid".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(user.code(), Code::InvalidArgument, "{user:?}");
    let movie = movies
        .get_movie(GetMovieRequest { id: String::new() })
        .await
        .unwrap_err();
    assert_eq!(movie.code(), Code::InvalidArgument, "{movie:?}");
    // One bad id among good ones fails the call: a partial answer would be misread.
    let actor = actors
        .get_actors(GetActorsRequest {
            ids: vec![Uuid::now_v7().to_string(), "42".into()],
        })
        .await
        .unwrap_err();
    assert_eq!(actor.code(), Code::InvalidArgument, "{actor:?}");
    assert!(actor.message().contains("\"42\""), "{actor:?}");

    let too_many = actors
        .get_actors(GetActorsRequest {
            ids: (0..=rpc::MAX_ACTOR_IDS)
                .map(|_| Uuid::now_v7().to_string())
                .collect(),
        })
        .await
        .unwrap_err();
    assert_eq!(too_many.code(), Code::InvalidArgument, "{too_many:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_directory_outage_reaches_the_client_as_unavailable() {
    let failing = Arc::new(Failing(Failure::Unavailable));
    let server = serve_all(failing.clone(), failing.clone(), failing).await;
    let users =
        GrpcUserDirectory::connect_lazy(&server.url(), &common::token(), &config()).unwrap();
    let actors =
        GrpcActorDirectory::connect_lazy(&server.url(), &common::token(), &config()).unwrap();
    let movies =
        GrpcMovieDirectory::connect_lazy(&server.url(), &common::token(), &config()).unwrap();

    let errors = [
        users.user(Uuid::now_v7()).await.unwrap_err(),
        actors.actors(&[Uuid::now_v7()]).await.unwrap_err(),
        movies.movie(Uuid::now_v7()).await.unwrap_err(),
    ];
    for (error, service) in errors.iter().zip(["users", "actors", "movies"]) {
        match error {
            DirectoryError::Unavailable(reason) => {
                assert!(
                    reason.starts_with(&format!("{service} service: ")),
                    "{reason}"
                );
                assert!(reason.contains("store: connection refused"), "{reason}");
            }
            other => panic!("expected unavailable, got {other:?}"),
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn a_broken_directory_reaches_the_client_as_internal() {
    let failing = Arc::new(Failing(Failure::Internal));
    let server = serve_all(failing.clone(), failing.clone(), failing).await;
    let mut raw = UserServiceClient::new(common::authenticated(&server.url()).await);
    let status = raw
        .get_user(GetUserRequest {
            id: Uuid::now_v7().to_string(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal);

    let users =
        GrpcUserDirectory::connect_lazy(&server.url(), &common::token(), &config()).unwrap();
    let error = users.user(Uuid::now_v7()).await.unwrap_err();
    assert!(
        matches!(&error, DirectoryError::Failed(m) if m.starts_with("users service: ")),
        "{error:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_slow_peer_is_unavailable_once_the_deadline_passes() {
    let slow = Arc::new(Failing(Failure::Slow(Duration::from_secs(10))));
    let server = serve_all(slow.clone(), slow.clone(), slow).await;
    let config = ClientConfig {
        deadline: Duration::from_millis(300),
        ..ClientConfig::default()
    };
    let users = GrpcUserDirectory::connect_lazy(&server.url(), &common::token(), &config).unwrap();

    let started = Instant::now();
    let error = users.user(Uuid::now_v7()).await.unwrap_err();
    let took = started.elapsed();
    assert!(matches!(error, DirectoryError::Unavailable(_)), "{error:?}");
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    println!("slow peer: unavailable after {took:?} (deadline 300 ms)");
    server.stop().await;
}

#[tokio::test]
async fn health_reports_each_served_service_as_serving() {
    let (routes, _health) = rpc::grpc_routes(
        None,
        Some(Arc::new(Memory::default())),
        None,
        &common::token(),
    )
    .await;
    let server = common::serve_on(common::any_port(), routes);
    let mut health = health_client(&server.url()).await;
    let status = |service: &str| HealthCheckRequest {
        service: service.into(),
    };

    for service in ["", "moviebook.v1.UserService"] {
        let answer = health.check(status(service)).await.unwrap().into_inner();
        assert_eq!(answer.status, ServingStatus::Serving as i32, "{service:?}");
    }
    // A role this process does not play is unknown to its health service, and not routed.
    let unknown = health
        .check(status("moviebook.v1.ActorService"))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    let mut actors = ActorServiceClient::new(common::authenticated(&server.url()).await);
    let unrouted = actors
        .get_actors(GetActorsRequest { ids: Vec::new() })
        .await
        .unwrap_err();
    assert_eq!(unrouted.code(), Code::Unimplemented);
    server.stop().await;
}

#[tokio::test]
async fn health_reports_all_three_when_all_are_served() {
    let server = serve_memory(Memory::default()).await;
    let mut health = health_client(&server.url()).await;
    for service in [
        "moviebook.v1.ActorService",
        "moviebook.v1.UserService",
        "moviebook.v1.MovieService",
    ] {
        let answer = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.status, ServingStatus::Serving as i32, "{service}");
    }
    server.stop().await;
}
