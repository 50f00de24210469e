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
use metrics_exporter_prometheus::PrometheusHandle;
use platform::auth::Authenticator;
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
    /// The admin token, when this start generated it (to be shown once).
    pub generated_admin_token: Option<String>,
}

/// What the operations endpoints need.
#[derive(Clone)]
struct Operations {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
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
        let bus: Arc<dyn Bus> = match config.bus {
            BusKind::Memory => Arc::new(MemoryBus::new()),
            BusKind::Rabbitmq => bail!("MOVIEBOOK_BUS=rabbitmq is not available in this build yet"),
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

        let users_directory = Arc::new(users::LocalUserDirectory::new(store.clone()));
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
            }));
        }
        if config.plays(Role::Movies) {
            let actor_directory = Arc::new(actors::LocalActorDirectory::new(store.clone()));
            let service = movies::MoviesService::new(
                outbox.clone(),
                actor_directory,
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

        let operations = Operations {
            store: store.clone(),
            bus: bus.clone(),
            metrics: telemetry::metrics_handle()?,
        };
        let operations_routes = Router::new()
            .route("/api/v1/openapi.json", get(openapi::serve))
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics))
            .with_state(operations);
        let router = api
            .merge(operations_routes)
            .fallback(platform::http::not_found)
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
        let relay = outbox.relay(bus, Duration::from_millis(config.relay_delay_ms));
        Ok(Application {
            listener,
            router,
            relay: Some(relay),
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

async fn readyz(State(ops): State<Operations>) -> Response {
    let (store, bus) = tokio::join!(ops.store.ping(), ops.bus.ping());
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
