//! The one configuration of a MovieBook process: every setting is a flag of `serve` and an
//! environment variable (API.md, "Running").

use platform::client_address::TrustedProxies;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

/// Which store adapter holds the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    Sqlite,
    Dynamodb,
}

/// Which bus adapter carries the events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BusKind {
    Memory,
    Rabbitmq,
}

/// Which object-store adapter keeps the pictures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImageStoreKind {
    /// Files under `<data dir>/images/`.
    Fs,
    /// A bucket in S3 or an S3-compatible server.
    S3,
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// For people: one line of text per event.
    Text,
    /// For log collectors: one JSON object per line, with the fields of its spans.
    Json,
}

/// The parts of MovieBook one process can play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    Gateway,
    Movies,
    Users,
    Actors,
    Projector,
}

/// A secret setting: it never appears in logs, debug output or error messages. Its text is
/// reached only through [`Secret::expose`], so that every use is one to look at.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `text`.
    pub fn new(text: impl Into<String>) -> Self {
        Secret(text.into())
    }

    /// The secret's text, for the code that signs or compares with it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Its length in bytes (what the minimum counts), without exposing it.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when it is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

/// `moviebook serve` settings.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Public HTTP address.
    #[arg(long, env = "MOVIEBOOK_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,

    /// Internal address, for MovieBook's own processes and the operators only: gRPC between
    /// services (each call carrying the internal token) and `/metrics`, which then leave the
    /// public address. Unset: no internal listener, `/metrics` on the public address. A process
    /// that plays movies, users or actors without playing every role needs it (others call
    /// it there).
    #[arg(long, env = "MOVIEBOOK_INTERNAL_ADDR")]
    pub internal_addr: Option<SocketAddr>,

    /// Embedded data directory (SQLite file, generated secrets), readable by its owner only.
    #[arg(long, env = "MOVIEBOOK_DATA_DIR", default_value = "./moviebook-data")]
    pub data_dir: PathBuf,

    /// Admin bearer token, at least 32 bytes; generated on first start, printed once, and kept
    /// in the data directory.
    #[arg(long, env = "MOVIEBOOK_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<Secret>,

    /// Key that signs user tokens, at least 32 bytes; generated on first start and kept in the
    /// data directory.
    #[arg(long, env = "MOVIEBOOK_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,

    /// Store adapter.
    #[arg(long, env = "MOVIEBOOK_STORE", value_enum, default_value = "sqlite")]
    pub store: StoreKind,

    /// DynamoDB endpoint (DynamoDB Local); unset means AWS's usual configuration chain.
    #[arg(long, env = "MOVIEBOOK_DYNAMODB_ENDPOINT")]
    pub dynamodb_endpoint: Option<String>,

    /// DynamoDB table name (created if missing).
    #[arg(long, env = "MOVIEBOOK_DYNAMODB_TABLE", default_value = "moviebook")]
    pub dynamodb_table: String,

    /// Bus adapter.
    #[arg(long, env = "MOVIEBOOK_BUS", value_enum, default_value = "memory")]
    pub bus: BusKind,

    /// RabbitMQ URL.
    #[arg(
        long,
        env = "MOVIEBOOK_AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    pub amqp_url: String,

    /// Where the pictures are kept: `fs` (files under `<data dir>/images/`) or `s3`.
    #[arg(long, env = "MOVIEBOOK_IMAGE_STORE", value_enum, default_value = "fs")]
    pub image_store: ImageStoreKind,

    /// S3 bucket for pictures (created if missing), with `--image-store s3`.
    #[arg(long, env = "MOVIEBOOK_S3_BUCKET", default_value = "moviebook-images")]
    pub s3_bucket: String,

    /// S3-compatible endpoint (a local server in tests), with `--image-store s3`; unset means
    /// AWS's usual configuration chain.
    #[arg(long, env = "MOVIEBOOK_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// Proxies in front of MovieBook whose `X-Forwarded-For` names the client (comma-separated
    /// addresses or networks); nobody else's is believed.
    #[arg(long, env = "MOVIEBOOK_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: TrustedProxies,

    /// Roles this process plays, comma-separated.
    #[arg(
        long = "roles",
        env = "MOVIEBOOK_ROLES",
        value_enum,
        value_delimiter = ',',
        default_value = "gateway,movies,users,actors,projector"
    )]
    pub roles: Vec<Role>,

    /// Base URL (`http://host:port`) of the movies service's public address, for a gateway
    /// that does not play it: the gateway forwards its routes there.
    #[arg(long, env = "MOVIEBOOK_MOVIES_URL")]
    pub movies_url: Option<String>,

    /// Base URL of the users service's public address, for a gateway that does not play it:
    /// the gateway forwards its routes there.
    #[arg(long, env = "MOVIEBOOK_USERS_URL")]
    pub users_url: Option<String>,

    /// Base URL of the actors service's public address, for a gateway that does not play it.
    #[arg(long, env = "MOVIEBOOK_ACTORS_URL")]
    pub actors_url: Option<String>,

    /// Base URL (`http://host:port`) of the users service's internal address, for a process
    /// that does not play it: it asks the users service there over gRPC (user tokens, reviewer
    /// names).
    #[arg(long, env = "MOVIEBOOK_USERS_INTERNAL_URL")]
    pub users_internal_url: Option<String>,

    /// Base URL of the actors service's internal address, for a process that plays movies but
    /// not actors: it asks the actors service there over gRPC (a new movie's cast).
    #[arg(long, env = "MOVIEBOOK_ACTORS_INTERNAL_URL")]
    pub actors_internal_url: Option<String>,

    /// Lifetime of user tokens, in seconds.
    #[arg(long, env = "MOVIEBOOK_TOKEN_TTL_SECS", default_value_t = 3600)]
    pub token_ttl_secs: u64,

    /// How log lines are written: `text`, or `json` (one object per line) for a log collector.
    #[arg(long, env = "MOVIEBOOK_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// The OTLP/gRPC address (`http://collector:4317`) to export OpenTelemetry traces to;
    /// unset: none exported, and no trace context made. The SDK's other standard settings
    /// (`OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER`, `OTEL_EXPORTER_OTLP_HEADERS`,
    /// `OTEL_BSP_*`, ...) are read from the environment as usual.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    /// Bytes of ready answers to hot reads this process keeps in memory (0: no cache).
    #[arg(long, env = "MOVIEBOOK_CACHE_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub cache_bytes: u64,

    /// Milliseconds a client has to send a request's headers: a connection that sends part of
    /// them and waits, or sends no request at all, is closed after it.
    #[arg(long, env = "MOVIEBOOK_HEADER_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout_ms: u64,

    /// Milliseconds a request may take, its body included; past it the request is stopped and
    /// answered 503 problem+json with `Retry-After`.
    #[arg(long, env = "MOVIEBOOK_REQUEST_TIMEOUT_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_ms: u64,

    /// Milliseconds a kept-alive connection may stay without a request in flight before it is
    /// closed.
    #[arg(long, env = "MOVIEBOOK_IDLE_TIMEOUT_MS", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout_ms: u64,

    /// Most connections open at once; past it a new connection takes the place of the one
    /// quiet the longest, and waits only while every connection has a request in flight.
    #[arg(long, env = "MOVIEBOOK_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,

    /// Most requests in progress at once; past it a request is answered 503 with
    /// `Retry-After` at once.
    #[arg(long, env = "MOVIEBOOK_MAX_REQUESTS", default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_requests: u64,

    /// Most password hashes (sign-ups, logins) waiting for a core; past it sign-up and login
    /// answer 503 with `Retry-After` at once.
    #[arg(long, env = "MOVIEBOOK_HASH_QUEUE", default_value_t = users::passwords::DEFAULT_QUEUE as u64)]
    pub hash_queue: u64,

    /// Seconds a consumer's record that it handled an event is kept, at least a day: far longer
    /// than the event can come again (a redelivery, a second publish after an outage, a dead
    /// letter replayed), after which the store deletes it.
    #[arg(long, env = "MOVIEBOOK_MARKER_RETENTION_SECS", default_value_t = platform::consumer::DEFAULT_MARKER_RETENTION.as_secs(), value_parser = clap::value_parser!(u64).range(86_400..))]
    pub marker_retention_secs: u64,

    /// Milliseconds a graceful shutdown waits for the requests in flight before it stops them.
    #[arg(long, env = "MOVIEBOOK_SHUTDOWN_DEADLINE_MS", default_value_t = 30_000)]
    pub shutdown_deadline_ms: u64,

    /// Pause before the outbox relay publishes, in milliseconds. For fault tests: it opens
    /// the window between a write's answer and its events' delivery.
    #[arg(
        long,
        env = "MOVIEBOOK_RELAY_DELAY_MS",
        default_value_t = 0,
        hide = true
    )]
    pub relay_delay_ms: u64,
}

impl Config {
    /// True when this process plays `role`.
    pub fn plays(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// How long consumers keep their processed-event markers.
    pub fn marker_retention(&self) -> Duration {
        Duration::from_secs(self.marker_retention_secs)
    }

    /// True when this process serves pictures, so needs the object store: the movies service
    /// (posters) or the actors service (photos).
    pub fn serves_pictures(&self) -> bool {
        self.plays(Role::Movies) || self.plays(Role::Actors)
    }

    /// True when this process plays every role (the embedded deployment): it calls no other
    /// process and, as far as it knows, no other process calls it.
    pub fn plays_every_role(&self) -> bool {
        Role::value_variants().iter().all(|role| self.plays(*role))
    }
}

#[cfg(test)]
mod tests {
    use clap::{Command, FromArgMatches};

    use super::*;

    fn serve(args: &[&str]) -> Result<Config, clap::Error> {
        let matches = Config::augment_args(Command::new("serve"))
            .try_get_matches_from(std::iter::once("serve").chain(args.iter().copied()))?;
        Config::from_arg_matches(&matches)
    }

    #[test]
    fn markers_are_kept_a_week_unless_set_and_never_less_than_a_day() {
        let week = Duration::from_secs(7 * 24 * 60 * 60);
        assert_eq!(serve(&[]).unwrap().marker_retention(), week);
        let day = serve(&["--marker-retention-secs", "86400"]).unwrap();
        assert_eq!(day.marker_retention(), Duration::from_secs(86_400));
        assert!(serve(&["--marker-retention-secs", "86399"]).is_err());
    }

    #[test]
    fn pictures_are_files_unless_s3_is_chosen() {
        let default = serve(&[]).unwrap();
        assert_eq!(default.image_store, ImageStoreKind::Fs);
        assert_eq!(default.s3_bucket, "moviebook-images");
        assert_eq!(default.s3_endpoint, None);
        let s3 = serve(&[
            "--image-store",
            "s3",
            "--s3-bucket",
            "pictures",
            "--s3-endpoint",
            "http://127.0.0.1:9000",
        ])
        .unwrap();
        assert_eq!(s3.image_store, ImageStoreKind::S3);
        assert_eq!(s3.s3_bucket, "pictures");
        assert_eq!(s3.s3_endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert!(serve(&["--image-store", "minio"]).is_err());
    }

    #[test]
    fn only_the_movies_and_actors_services_serve_pictures() {
        assert!(serve(&[]).unwrap().serves_pictures());
        for (roles, serves) in [
            ("movies", true),
            ("actors", true),
            ("gateway,movies", true),
            ("gateway", false),
            ("users", false),
            ("projector", false),
            ("gateway,users,projector", false),
        ] {
            assert_eq!(
                serve(&["--roles", roles]).unwrap().serves_pictures(),
                serves,
                "{roles}"
            );
        }
    }
}
