//! One small function per role a process can play: each assembles that role's service on the
//! shared parts and hands back what it serves.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use bus::Bus;
use pictures::Pictures;
use platform::auth::Authenticator;
use platform::client_address::ClientAddressing;
use platform::deployment_token::DeploymentToken;
use platform::directory::{ActorDirectory, MovieDirectory, UserDirectory};
use platform::outbox::Outboxes;
use platform::read_cache::{CacheSettings, ReadCache};
use projector::search::{IndexWatcher, Indexed, SearchIndex};
use store::{Label, Store};

use super::cache;
use crate::config::{Config, Role};
use crate::secrets::Secrets;

/// What every role is assembled from.
pub struct Shared {
    /// The store of this process's data; each part uses its own labelled view of it, which
    /// counts that part's requests in `/metrics`.
    pub store: Arc<dyn Store>,
    /// The bus the consumers subscribe to and the relay publishes to.
    pub bus: Arc<dyn Bus>,
    /// How the services write: each entity together with its events, each service through
    /// its own outbox (its own records, its requests counted under its name), all published
    /// by the process's one relay.
    pub outboxes: Outboxes,
    /// Who checks the admin token and user tokens.
    pub auth: Arc<Authenticator>,
    /// Who tells a request's client, and vouches for it on the gateway's hop to a service.
    pub addressing: Arc<ClientAddressing>,
    /// Who answers questions about users and actors.
    pub directories: Directories,
    /// What every gRPC call between this deployment's processes carries, and what this
    /// process's gRPC services require.
    pub internal_token: DeploymentToken,
    /// Posters and photos, when this process plays a service that has them.
    pub pictures: Option<Pictures>,
}

impl Shared {
    fn pictures(&self) -> anyhow::Result<Pictures> {
        self.pictures
            .clone()
            .context("no picture storage is open in a process that serves pictures")
    }
}

/// The directories this process asks: its own store for a service it plays, that service
/// over gRPC otherwise.
pub struct Directories {
    /// Asked by the authenticator and the movies service; served over gRPC when this
    /// process plays users.
    pub users: Arc<dyn UserDirectory>,
    /// Asked by the movies service; served over gRPC when this process plays actors.
    pub actors: Arc<dyn ActorDirectory>,
}

impl Directories {
    /// The directories for the roles `config` names; the remote ones call with `token`.
    pub fn build(
        config: &Config,
        store: &Arc<dyn Store>,
        token: &DeploymentToken,
    ) -> anyhow::Result<Self> {
        let rpc = rpc::ClientConfig::default();
        let users: Arc<dyn UserDirectory> = if config.plays(Role::Users) {
            Arc::new(users::LocalUserDirectory::new(
                store.labelled("users-directory"),
            ))
        } else {
            Arc::new(rpc::GrpcUserDirectory::connect_lazy(
                &remote(config, Role::Users, Reach::Grpc)?,
                token,
                &rpc,
            )?)
        };
        // Only the movies service asks about actors: the actors service is needed when this
        // process plays movies without actors.
        let actors: Arc<dyn ActorDirectory> =
            if config.plays(Role::Movies) && !config.plays(Role::Actors) {
                Arc::new(rpc::GrpcActorDirectory::connect_lazy(
                    &remote(config, Role::Actors, Reach::Grpc)?,
                    token,
                    &rpc,
                )?)
            } else {
                Arc::new(actors::LocalActorDirectory::new(
                    store.labelled("actors-directory"),
                ))
            };
        Ok(Directories { users, actors })
    }
}

/// The authenticator of admin and user tokens.
pub fn authenticator(
    config: &Config,
    secrets: &Secrets,
    directories: &Directories,
) -> Arc<Authenticator> {
    Arc::new(Authenticator::new(
        secrets.admin_token.expose().to_owned(),
        secrets.jwt_secret.expose().as_bytes(),
        Duration::from_secs(config.token_ttl_secs),
        directories.users.clone(),
    ))
}

/// True when this process plays one of the services that own data (not only the gateway
/// or the projector).
pub fn plays_a_service(config: &Config) -> bool {
    [Role::Movies, Role::Users, Role::Actors]
        .iter()
        .any(|role| config.plays(*role))
}

/// The internal address this process serves gRPC and `/metrics` on, if any. Checked before
/// anything is opened: a process that plays a service without playing every role is called
/// by others over gRPC, which is served on the internal address only, so it needs one.
pub fn internal_addr(config: &Config) -> anyhow::Result<Option<SocketAddr>> {
    match config.internal_addr {
        Some(internal) if internal == config.http_addr && internal.port() != 0 => bail!(
            "MOVIEBOOK_INTERNAL_ADDR (or --internal-addr) is {internal}, the public address: \
             the internal address must be another one"
        ),
        None if plays_a_service(config) && !config.plays_every_role() => bail!(
            "MOVIEBOOK_INTERNAL_ADDR (or --internal-addr) is needed: this process plays {:?} \
             without every other role, so other processes call it over gRPC, which is served \
             on the internal address only (e.g. 127.0.0.1:9090, or a private network's \
             address)",
            config.roles
        ),
        internal => Ok(internal),
    }
}

/// True when this process answers the public API itself or through its gateway.
pub fn serves_the_api(config: &Config) -> bool {
    plays_a_service(config) || config.plays(Role::Gateway)
}

/// `public` answering hot reads from a cache of ready answers that this process's view of
/// the events keeps current; unchanged when the configuration turns the cache off.
pub async fn cached(public: Router, config: &Config, shared: &Shared) -> anyhow::Result<Router> {
    if config.cache_bytes == 0 {
        return Ok(public);
    }
    let cache = Arc::new(ReadCache::new(
        CacheSettings::with_capacity(config.cache_bytes),
        cache::MovieBookPages,
    ));
    shared
        .bus
        .watch(
            cache::WATCHED.to_vec(),
            Arc::new(cache::Invalidator {
                cache: cache.clone(),
            }),
        )
        .await
        .context("watching events for the cache")?;
    Ok(public.layer(axum::middleware::from_fn_with_state(
        cache,
        platform::read_cache::serve_cached,
    )))
}

/// The actors service's routes and consumer, its name index fed by the bus.
pub async fn actors(shared: &Shared) -> anyhow::Result<Router> {
    let service = actors::ActorsService::new(shared.outboxes.of("actors"), shared.pictures()?);
    for subscription in actors::consumers::subscriptions(service.pictures().clone()) {
        shared.bus.subscribe(subscription).await?;
    }
    watch_search(shared, service.name_search()).await?;
    Ok(actors::http::router(actors::http::ActorsApi {
        service,
        auth: shared.auth.clone(),
    }))
}

/// How long start-up waits for a search index's first build before serving without it
/// (searches answer 503 until it is built, e.g. while the store is unreachable).
const FIRST_BUILD_WAIT: Duration = Duration::from_secs(30);

/// Keeps a search index of this process current: fed by the events the bus shows it, and
/// rebuilt from the store whenever the watch (re)starts. Waits for the first build, so a
/// process that starts serving can search what was created before.
async fn watch_search<I: Indexed>(
    shared: &Shared,
    index: &Arc<SearchIndex<I>>,
) -> anyhow::Result<()> {
    let watcher = IndexWatcher::new(index.clone(), shared.store.labelled("search"));
    shared
        .bus
        .watch(index.event_types(), Arc::new(watcher))
        .await?;
    if tokio::time::timeout(FIRST_BUILD_WAIT, index.first_built())
        .await
        .is_err()
    {
        tracing::warn!(
            "serving before the search index was built: searches answer 503 until it is"
        );
    }
    Ok(())
}

/// The users service's routes.
pub async fn users(config: &Config, shared: &Shared) -> anyhow::Result<Router> {
    let passwords = users::Passwords::with_queue(usize::try_from(config.hash_queue)?);
    let service =
        users::UsersService::new(shared.outboxes.of("users"), shared.auth.clone(), passwords)
            .await?;
    Ok(users::http::router(users::http::UsersApi {
        service,
        auth: shared.auth.clone(),
        addressing: shared.addressing.clone(),
    }))
}

/// The movies service's routes, its consumers subscribed and its title index fed by the bus.
pub async fn movies(shared: &Shared) -> anyhow::Result<Router> {
    let service = movies::MoviesService::new(
        shared.outboxes.of("movies"),
        shared.directories.actors.clone(),
        shared.directories.users.clone(),
        shared.pictures()?,
    );
    for subscription in movies::consumers::subscriptions(service.clone()) {
        shared.bus.subscribe(subscription).await?;
    }
    watch_search(shared, service.title_search()).await?;
    Ok(movies::http::router(movies::http::MoviesApi {
        service,
        auth: shared.auth.clone(),
    }))
}

/// The projector: its consumers subscribed; it serves nothing.
pub async fn projector(config: &Config, shared: &Shared) -> anyhow::Result<()> {
    for subscription in projector::subscriptions(shared.store.clone(), config.marker_retention()) {
        shared.bus.subscribe(subscription).await?;
    }
    Ok(())
}

/// The gRPC routes of the directories of the services this process plays, for its internal
/// address; every call must carry the deployment's internal token.
pub async fn grpc(config: &Config, shared: &Shared) -> Router {
    let (routes, _health) = rpc::grpc_routes(
        config
            .plays(Role::Actors)
            .then(|| shared.directories.actors.clone()),
        config
            .plays(Role::Users)
            .then(|| shared.directories.users.clone()),
        config.plays(Role::Movies).then(|| {
            Arc::new(movies::LocalMovieDirectory::new(
                shared.store.labelled("movies-directory"),
            )) as Arc<dyn MovieDirectory>
        }),
        &shared.internal_token,
    )
    .await;
    routes.into_axum_router()
}

/// The gateway, when this process plays it and some service lives elsewhere: it forwards
/// the routes of the services this process does not play.
pub fn gateway(config: &Config, shared: &Shared) -> anyhow::Result<Option<Arc<gateway::Gateway>>> {
    if !config.plays(Role::Gateway) {
        return Ok(None);
    }
    let mut upstreams = Vec::new();
    for (role, service) in [
        (Role::Movies, gateway::Service::Movies),
        (Role::Users, gateway::Service::Users),
        (Role::Actors, gateway::Service::Actors),
    ] {
        if !config.plays(role) {
            let url = remote(config, role, Reach::Rest)?;
            upstreams.push((
                service,
                url.parse().with_context(|| format!("the URL {url}"))?,
            ));
        }
    }
    Ok((!upstreams.is_empty())
        .then(|| Arc::new(gateway::Gateway::new(upstreams, shared.addressing.clone()))))
}

/// `api` answering what it has no route for: forwarded by the gateway when there is one
/// (it answers 404 itself for paths no service owns), 404 otherwise; with `pages`, a page
/// path's 404 is the web site's HTML page (only what reaches the fallback pays for that
/// check, not every API read).
pub fn with_fallback(api: Router, gateway: Option<Arc<gateway::Gateway>>, pages: bool) -> Router {
    let fallback = match gateway {
        Some(gateway) => Router::new()
            .fallback(gateway::forward_or_not_found)
            .with_state(gateway),
        None => Router::new().fallback(platform::http::not_found),
    };
    let fallback = if pages {
        fallback.layer(axum::middleware::from_fn(web::html_not_found))
    } else {
        fallback
    };
    api.fallback_service(fallback)
}

/// How this process reaches a service it does not play.
#[derive(Debug, Clone, Copy)]
enum Reach {
    /// The gateway forwards the service's routes to its public address.
    Rest,
    /// A directory asks the service over gRPC on its internal address.
    Grpc,
}

/// The base URL of a service this process does not play, for `reach`. REST and gRPC have
/// a URL each because a service answers them on different addresses: its routes on the
/// public one (the gateway forwards them there, as any client could send them), gRPC on
/// the internal one.
fn remote(config: &Config, role: Role, reach: Reach) -> anyhow::Result<String> {
    let (url, setting) = match (role, reach) {
        (Role::Movies, Reach::Rest) => (&config.movies_url, "MOVIEBOOK_MOVIES_URL"),
        (Role::Users, Reach::Rest) => (&config.users_url, "MOVIEBOOK_USERS_URL"),
        (Role::Actors, Reach::Rest) => (&config.actors_url, "MOVIEBOOK_ACTORS_URL"),
        (Role::Users, Reach::Grpc) => (&config.users_internal_url, "MOVIEBOOK_USERS_INTERNAL_URL"),
        (Role::Actors, Reach::Grpc) => {
            (&config.actors_internal_url, "MOVIEBOOK_ACTORS_INTERNAL_URL")
        }
        (Role::Movies, Reach::Grpc) | (Role::Gateway | Role::Projector, _) => {
            bail!("no process calls the {role:?} role over {reach:?}")
        }
    };
    match (url, reach) {
        (Some(url), _) => Ok(url.clone()),
        (None, Reach::Rest) => bail!(
            "{setting} is needed: this process forwards the routes of the {role:?} service but \
             does not play it"
        ),
        (None, Reach::Grpc) => bail!(
            "{setting} is needed: this process asks the {role:?} service over gRPC, on its \
             internal address, but does not play it"
        ),
    }
}
