//! Start-up: builds every part a configuration asks for, wires them through the two ports,
//! and runs them until told to stop. One shutdown token reaches the HTTP server, the
//! outbox relay and every background task.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bus::Bus;
use bus::memory::MemoryBus;
use bus_rabbitmq::{RabbitBus, RabbitOptions};
use domain::events::EventType;
use metrics_exporter_prometheus::PrometheusHandle;
use platform::auth::Authenticator;
use platform::directory::{ActorDirectory, MovieDirectory, UserDirectory};
use platform::outbox::Outbox;
use store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::config::{BusKind, Config, Role, StoreKind};
use crate::{openapi, secrets, telemetry};

/// A built, not yet running, MovieBook process.
pub struct Application {
    listener: TcpListener,
    router: Router,
    relay: Option<platform::outbox::Relay>,
    /// The broker connection, closed after in-flight event handlers finish.
    rabbit: Option<Arc<RabbitBus>>,
    /// The admin token, when this start generated it (to be shown once).
    pub generated_admin_token: Option<String>,
}

/// What the operations endpoints need.
#[derive(Clone)]
struct Operations {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    gateway: Option<Arc<gateway::Gateway>>,
    metrics: PrometheusHandle,
}

impl Application {
    /// Opens the store and bus, builds the services of the configured roles, and binds the
    /// HTTP address.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!("creating the data directory {}", config.data_dir.display())
        })?;
        let store: Arc<dyn Store> = match config.store {
            StoreKind::Sqlite => Arc::new(
                store_sqlite::SqliteStore::open(&config.data_dir.join("moviebook.sqlite3"))
                    .context("opening the SQLite store")?,
            ),
            StoreKind::Dynamodb => Arc::new(connect_dynamodb(&config).await?),
        };
        let (bus, rabbit): (Arc<dyn Bus>, Option<Arc<RabbitBus>>) = match config.bus {
            BusKind::Memory => (Arc::new(MemoryBus::new()), None),
            BusKind::Rabbitmq => {
                let rabbit = Arc::new(
                    RabbitBus::connect(&config.amqp_url, RabbitOptions::default())
                        .await
                        .context("connecting to RabbitMQ")?,
                );
                // Every consumer's queue exists before anything is published, whichever
                // process starts first: an event with no queue bound would be refused.
                for (consumer, event_types) in consumers(&store) {
                    rabbit
                        .declare_consumer(&consumer, &event_types)
                        .await
                        .with_context(|| format!("declaring the queue of {consumer}"))?;
                }
                (rabbit.clone() as Arc<dyn Bus>, Some(rabbit))
            }
        };

        let (admin_token, generated_admin_token) = match &config.admin_token {
            Some(token) => (token.0.clone(), None),
            None => {
                let (token, created) = secrets::load_or_generate(&config.data_dir, "admin-token")?;
                (token.clone(), created.then_some(token))
            }
        };
        let jwt_secret = match &config.jwt_secret {
            Some(secret) => secret.0.clone(),
            None => secrets::load_or_generate(&config.data_dir, "jwt-secret")?.0,
        };

        // What this process asks other services, answered here when it plays them.
        let rpc = rpc::ClientConfig::default();
        let users_directory: Arc<dyn UserDirectory> = if config.plays(Role::Users) {
            Arc::new(users::LocalUserDirectory::new(store.clone()))
        } else {
            Arc::new(rpc::GrpcUserDirectory::connect_lazy(
                &remote(&config, Role::Users)?,
                &rpc,
            )?)
        };
        let actor_directory: Arc<dyn ActorDirectory> = if config.plays(Role::Actors) {
            Arc::new(actors::LocalActorDirectory::new(store.clone()))
        } else if config.plays(Role::Movies) {
            Arc::new(rpc::GrpcActorDirectory::connect_lazy(
                &remote(&config, Role::Actors)?,
                &rpc,
            )?)
        } else {
            Arc::new(actors::LocalActorDirectory::new(store.clone()))
        };
        let plays_a_service = [Role::Movies, Role::Users, Role::Actors]
            .iter()
            .any(|r| config.plays(*r));
        let auth = Arc::new(Authenticator::new(
            admin_token,
            jwt_secret.as_bytes(),
            Duration::from_secs(config.token_ttl_secs),
            users_directory.clone(),
        ));
        let outbox = Outbox::new(store.clone());

        let mut api = Router::new();
        if config.plays(Role::Actors) {
            let service = actors::ActorsService::new(outbox.clone());
            api = api.merge(actors::http::router(actors::http::ActorsApi {
                service,
                auth: auth.clone(),
            }));
        }
        if config.plays(Role::Users) {
            let service = users::UsersService::new(outbox.clone(), auth.clone()).await?;
            api = api.merge(users::http::router(users::http::UsersApi {
                service,
                auth: auth.clone(),
                // Behind a gateway of its own, the client's address is the one it forwards.
                trust_forwarded_for: !config.plays(Role::Gateway),
            }));
        }
        if config.plays(Role::Movies) {
            let service = movies::MoviesService::new(
                outbox.clone(),
                actor_directory.clone(),
                users_directory.clone(),
            );
            for subscription in movies::consumers::subscriptions(service.clone()) {
                bus.subscribe(subscription).await?;
            }
            api = api.merge(movies::http::router(movies::http::MoviesApi {
                service,
                auth: auth.clone(),
            }));
        }
        if config.plays(Role::Projector) {
            for subscription in projector::subscriptions(store.clone()) {
                bus.subscribe(subscription).await?;
            }
        }
        if plays_a_service {
            let (routes, _health) = rpc::grpc_routes(
                config.plays(Role::Actors).then(|| actor_directory.clone()),
                config.plays(Role::Users).then(|| users_directory.clone()),
                config.plays(Role::Movies).then(|| {
                    Arc::new(movies::LocalMovieDirectory::new(store.clone()))
                        as Arc<dyn MovieDirectory>
                }),
            )
            .await;
            api = api.merge(routes.into_axum_router());
        }

        // The gateway forwards the routes of the services this process does not play.
        let gateway = if config.plays(Role::Gateway) {
            let mut upstreams = Vec::new();
            for (role, service) in [
                (Role::Movies, gateway::Service::Movies),
                (Role::Users, gateway::Service::Users),
                (Role::Actors, gateway::Service::Actors),
            ] {
                if !config.plays(role) {
                    let url = remote(&config, role)?;
                    upstreams.push((
                        service,
                        url.parse().with_context(|| format!("the URL {url}"))?,
                    ));
                }
            }
            (!upstreams.is_empty()).then(|| Arc::new(gateway::Gateway::new(upstreams)))
        } else {
            None
        };

        let operations = Operations {
            store: store.clone(),
            bus: bus.clone(),
            gateway: gateway.clone(),
            metrics: telemetry::metrics_handle()?,
        };
        let operations_routes = Router::new()
            .route("/api/v1/openapi.json", get(openapi::serve))
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics))
            .with_state(operations);
        let api = api.merge(operations_routes);
        let api = match gateway {
            Some(gateway) => api.fallback_service(
                Router::new()
                    .fallback(gateway::forward_or_not_found)
                    .with_state(gateway),
            ),
            None => api.fallback(platform::http::not_found),
        };
        let router = api
            .layer(axum::middleware::from_fn(platform::http::record_metrics))
            .layer(axum::middleware::from_fn(
                platform::http::problem_for_bare_errors,
            ))
            .layer(DefaultBodyLimit::max(platform::http::MAX_BODY_BYTES))
            .layer(CatchPanicLayer::custom(platform::http::panic_response))
            .layer(TraceLayer::new_for_http());

        let listener = TcpListener::bind(config.http_addr)
            .await
            .with_context(|| format!("binding {}", config.http_addr))?;
        // Processes that write (the services) publish their outbox.
        let relay = plays_a_service
            .then(|| outbox.relay(bus, Duration::from_millis(config.relay_delay_ms)));
        Ok(Application {
            listener,
            router,
            relay,
            rabbit,
            generated_admin_token,
        })
    }

    /// The address the HTTP server listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` is cancelled, then finishes in-flight requests and the
    /// relay's current batch before returning.
    pub async fn run_until_stopped(mut self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let tasks = TaskTracker::new();
        if let Some(relay) = self.relay.take() {
            tasks.spawn(relay.run(shutdown.clone()));
        }
        tasks.close();
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(self.listener, service)
            .with_graceful_shutdown(shutdown.clone().cancelled_owned())
            .await
            .context("serving HTTP")?;
        shutdown.cancel();
        tasks.wait().await;
        if let Some(rabbit) = &self.rabbit {
            rabbit.shutdown().await;
        }
        Ok(())
    }
}

/// How long start-up waits for DynamoDB to answer: processes of a deployment may start
/// before their store does.
const STORE_START_DEADLINE: Duration = Duration::from_secs(30);

async fn connect_dynamodb(config: &Config) -> anyhow::Result<store_dynamodb::DynamoStore> {
    let mut dynamo = store_dynamodb::DynamoConfig::new(config.dynamodb_table.clone());
    dynamo.endpoint = config.dynamodb_endpoint.clone();
    let deadline = tokio::time::Instant::now() + STORE_START_DEADLINE;
    loop {
        match store_dynamodb::DynamoStore::connect(dynamo.clone()).await {
            Ok(store) => return Ok(store),
            Err(store::StoreError::Unavailable(reason))
                if tokio::time::Instant::now() < deadline =>
            {
                tracing::warn!(%reason, "DynamoDB is not reachable yet; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(error) => {
                return Err(error).with_context(|| {
                    format!("opening the DynamoDB table {}", config.dynamodb_table)
                });
            }
        }
    }
}

/// The base URL of a service this process does not play.
fn remote(config: &Config, role: Role) -> anyhow::Result<String> {
    let (url, setting) = match role {
        Role::Movies => (&config.movies_url, "MOVIEBOOK_MOVIES_URL"),
        Role::Users => (&config.users_url, "MOVIEBOOK_USERS_URL"),
        Role::Actors => (&config.actors_url, "MOVIEBOOK_ACTORS_URL"),
        Role::Gateway | Role::Projector => bail!("the {role:?} role has no URL"),
    };
    match url {
        Some(url) => Ok(url.clone()),
        None => bail!(
            "{setting} is needed: this process calls the {role:?} service but does not play it"
        ),
    }
}

/// Every consumer of the system with the event types it takes, whichever process runs it.
fn consumers(store: &Arc<dyn Store>) -> Vec<(String, Vec<EventType>)> {
    projector::subscriptions(store.clone())
        .into_iter()
        .map(|s| (s.consumer, s.event_types))
        .chain(
            movies::consumers::CONSUMERS
                .iter()
                .map(|(name, types)| ((*name).to_owned(), types.to_vec())),
        )
        .collect()
}

async fn readyz(State(ops): State<Operations>) -> Response {
    let (store, bus) = tokio::join!(ops.store.ping(), ops.bus.ping());
    let services = match &ops.gateway {
        Some(gateway) => gateway.readiness().await,
        None => Vec::new(),
    };
    let down: Vec<&str> = services
        .iter()
        .filter(|(_, ready)| !ready)
        .map(|(s, _)| s.name())
        .collect();
    if !down.is_empty() {
        return platform::ApiError::Unavailable(format!("not ready: {}", down.join(", ")))
            .into_response();
    }
    if store.is_ok() && bus.is_ok() {
        let body = serde_json::json!({ "store": "up", "bus": "up" });
        return (StatusCode::OK, axum::Json(body)).into_response();
    }
    // Not ready is a 503 like any other, so problem+json: a bare 5xx body would be turned
    // into a 500 by `problem_for_bare_errors`.
    let state = |name: &str, error: Option<String>| match error {
        None => format!("{name} up"),
        Some(reason) => format!("{name} down ({reason})"),
    };
    let detail = format!(
        "{}; {}",
        state("store", store.err().map(|e| e.to_string())),
        state("bus", bus.err().map(|e| e.to_string()))
    );
    platform::ApiError::Unavailable(detail).into_response()
}

async fn metrics(State(ops): State<Operations>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        ops.metrics.render(),
    )
        .into_response()
}
