//! Start-up: builds every part a configuration asks for, wires them through the two ports,
//! and runs them until told to stop. The shutdown token stops the HTTP servers (the public
//! one and, when there is one, the internal one of gRPC and `/metrics`), which finish the
//! requests in flight; then the outbox relay publishes what they wrote and stops; a RabbitMQ
//! connection closes last, after its in-flight event handlers. An embedded process also
//! deletes its store's expired items now and then until it stops.

mod adapters;
mod cache;
mod operations;
mod roles;
mod serve;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use bus_rabbitmq::RabbitBus;
use pictures::Pictures;
use platform::client_address::ClientAddressing;
use platform::outbox::{Outboxes, Relay};
use platform::request_id::RequestIdLayer;
use store::Label;
use store_sqlite::SqliteStore;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_http::catch_panic::CatchPanicLayer;

use crate::config::{Config, Role, Secret};
use crate::data_dir;
use crate::openapi;
use crate::secrets::Secrets;
use crate::telemetry;
pub use adapters::open_store;
use operations::Operations;
pub(crate) use operations::OperationsDoc;
use roles::{Directories, Shared};
use serve::ConnectionLimits;

/// A built, not yet running, MovieBook process.
pub struct Application {
    listener: TcpListener,
    router: Router,
    /// The internal address's listener and routes (gRPC, `/metrics`), when it has one.
    internal: Option<(TcpListener, Router)>,
    connection_limits: ConnectionLimits,
    relay: Option<Relay>,
    /// The SQLite store, whose expired items this process deletes (DynamoDB deletes its own).
    sqlite: Option<Arc<SqliteStore>>,
    /// The broker connection, closed after in-flight event handlers finish.
    rabbit: Option<Arc<RabbitBus>>,
    /// The admin token, when this start generated it (to be shown once).
    pub generated_admin_token: Option<Secret>,
}

impl Application {
    /// Opens the store and bus, assembles the configured roles on them, and binds the HTTP
    /// addresses.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        // A weak secret, or a missing internal address, is refused before anything is
        // created, opened or bound.
        Secrets::check_configured(&config)?;
        let internal_addr = roles::internal_addr(&config)?;
        data_dir::prepare(&config.data_dir)?;
        let secrets = Secrets::load(&config)?;
        let (store, sqlite) = adapters::open_store(&config).await?;
        let (bus, rabbit) = adapters::connect_bus(&config, &store).await?;
        let images = adapters::open_image_store(&config).await?;
        // Installed before anything creates its metrics.
        let metrics = telemetry::metrics_handle()?;
        let internal_token = rpc::internal_token(secrets.jwt_secret.expose().as_bytes());
        let directories = Directories::build(&config, &store, &internal_token)?;
        let shared = Shared {
            auth: roles::authenticator(&config, &secrets, &directories),
            addressing: Arc::new(ClientAddressing::new(
                config.trusted_proxies.clone(),
                secrets.jwt_secret.expose(),
            )),
            outboxes: Outboxes::new(store.clone()),
            store,
            bus,
            directories,
            internal_token,
            pictures: images.clone().map(Pictures::new),
        };

        let mut api = Router::new();
        if config.plays(Role::Actors) {
            api = api.merge(roles::actors(&shared).await?);
        }
        if config.plays(Role::Users) {
            api = api.merge(roles::users(&config, &shared).await?);
        }
        if config.plays(Role::Movies) {
            api = api.merge(roles::movies(&shared).await?);
        }
        if config.plays(Role::Projector) {
            roles::projector(&config, &shared).await?;
        }
        let gateway = roles::gateway(&config, &shared)?;
        let serves_the_api = roles::serves_the_api(&config);
        let mut public = roles::with_fallback(api, gateway.clone(), serves_the_api);
        if serves_the_api {
            public = roles::cached(public, &config, &shared).await?;
            // The web pages are made from this very router (with its fallback and cache), so
            // they show what the API answers.
            public = public
                .clone()
                .merge(web::pages(public, secrets.jwt_secret.expose().as_bytes()));
        }
        let operations = Operations {
            store: shared.store.labelled("readiness"),
            bus: shared.bus.clone(),
            images,
            gateway,
            metrics,
        };
        let metrics_at = match internal_addr {
            Some(_) => openapi::MetricsAt::Internal,
            None => openapi::MetricsAt::Public,
        };
        public = public.merge(operations::routes(operations.clone(), metrics_at)?);

        // gRPC and /metrics are for MovieBook's own processes and the operators: on the
        // internal address, never on the public one. Without an internal address (the
        // embedded process, which nobody calls) /metrics stays public and gRPC is not served.
        let internal = match internal_addr {
            Some(address) => {
                let metrics = operations::metrics_routes(operations);
                let routes = if roles::plays_a_service(&config) {
                    // tonic's fallback answers UNIMPLEMENTED for a service not played here.
                    roles::grpc(&config, &shared).await.merge(metrics)
                } else {
                    metrics.fallback(platform::http::not_found)
                };
                let listener = TcpListener::bind(address)
                    .await
                    .with_context(|| format!("binding the internal address {address}"))?;
                Some((listener, with_layers(routes, RequestLimits::of(&config)?)))
            }
            None => {
                public = public.merge(operations::metrics_routes(operations));
                None
            }
        };
        let router = with_layers(public, RequestLimits::of(&config)?);

        let listener = TcpListener::bind(config.http_addr)
            .await
            .with_context(|| format!("binding {}", config.http_addr))?;
        // Processes that write (the services) publish their services' outboxes.
        let relay = roles::plays_a_service(&config).then(|| {
            let delay = Duration::from_millis(config.relay_delay_ms);
            shared.outboxes.relay(shared.bus.clone(), delay)
        });
        Ok(Application {
            listener,
            router,
            internal,
            connection_limits: ConnectionLimits {
                header_timeout: Duration::from_millis(config.header_timeout_ms),
                idle_timeout: Duration::from_millis(config.idle_timeout_ms),
                max_connections: usize::try_from(config.max_connections)?,
                shutdown_deadline: Duration::from_millis(config.shutdown_deadline_ms),
            },
            relay,
            sqlite,
            rabbit,
            generated_admin_token: secrets.generated_admin_token,
        })
    }

    /// The address the HTTP server listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The internal address (gRPC, `/metrics`) the process listens on, when it has one.
    pub fn internal_addr(&self) -> Option<std::io::Result<SocketAddr>> {
        self.internal
            .as_ref()
            .map(|(listener, _)| listener.local_addr())
    }

    /// Serves until `shutdown` is cancelled, then finishes in-flight requests (for at most the
    /// shutdown deadline), publishes what the outbox holds and, with RabbitMQ, finishes the
    /// event handlers in flight before returning.
    pub async fn run_until_stopped(mut self, shutdown: CancellationToken) -> anyhow::Result<()> {
        // The relay stops only after the last request has finished, so that its final drain
        // publishes the events those requests committed.
        let relay_stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        if let Some(relay) = self.relay.take() {
            tasks.spawn(relay.run(relay_stop.clone()));
        }
        if let Some(sqlite) = self.sqlite.take() {
            let stop = shutdown.clone();
            tasks.spawn(async move { sqlite.sweep_expired(stop).await });
        }
        tasks.close();
        let limits = self.connection_limits;
        let public = serve::serve(self.listener, self.router, limits, shutdown.clone());
        match self.internal.take() {
            Some((listener, router)) => {
                tokio::join!(public, serve::serve(listener, router, limits, shutdown));
            }
            None => public.await,
        }
        relay_stop.cancel();
        tasks.wait().await;
        if let Some(rabbit) = &self.rabbit {
            rabbit.shutdown().await;
        }
        Ok(())
    }
}

/// The limits every request is held to (API.md, "Running").
struct RequestLimits {
    /// Time a request may take, its body included.
    timeout: Duration,
    /// Requests in progress at once, over every route.
    in_progress: usize,
}

impl RequestLimits {
    fn of(config: &Config) -> anyhow::Result<Self> {
        Ok(RequestLimits {
            timeout: Duration::from_millis(config.request_timeout_ms),
            in_progress: usize::try_from(config.max_requests)?,
        })
    }
}

/// What every request passes through, innermost first: a 405 for a method the API does not
/// know (inside the metrics, so that it is counted, as `other`); the request timeout, the
/// limit of requests in progress and load shedding (also inside the metrics, so that shed
/// and stopped requests are counted); metrics per route; problem+json for bare error answers;
/// the body size limit; a 500 for a panicking handler; outermost, the request's id and span,
/// so that every answer, each of those included, carries the id.
fn with_layers(router: Router, limits: RequestLimits) -> Router {
    // Past the limit a request is refused at once (503, `Retry-After`) rather than queued:
    // a queue in front of a full server only makes every answer late. The limit is one
    // semaphore shared by every route (`Router::layer` builds the stack once per route).
    let limited = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(refusal))
        .load_shed()
        .layer(GlobalConcurrencyLimitLayer::new(limits.in_progress))
        .timeout(limits.timeout);
    router
        .layer(axum::middleware::from_fn(
            platform::http::refuse_unknown_methods,
        ))
        .layer(limited)
        .layer(axum::middleware::from_fn(platform::http::record_metrics))
        .layer(axum::middleware::from_fn(
            platform::http::problem_for_bare_errors,
        ))
        .layer(DefaultBodyLimit::max(platform::http::MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(platform::http::panic_response))
        .layer(RequestIdLayer)
}

/// The answer to a request that the limits stopped or refused.
async fn refusal(error: tower::BoxError) -> platform::ApiError {
    if error.is::<tower::timeout::error::Elapsed>() {
        platform::ApiError::TimedOut
    } else if error.is::<tower::load_shed::error::Overloaded>() {
        platform::ApiError::Overloaded
    } else {
        platform::ApiError::Internal(format!("request limits: {error}"))
    }
}
