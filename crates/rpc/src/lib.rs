//! gRPC between MovieBook services (ARCHITECTURE.md, "Services (roles)"). A service calls
//! another only where a write must check the other's data at once — a new movie's actors,
//! a reviewer's name, whether a token's user still exists — so the surface is the three
//! directory ports of [`platform::directory`] and nothing more.
//!
//! - [`pb`]: the `moviebook.v1` messages, servers and clients generated from
//!   `proto/moviebook/v1/*.proto` at the repository root.
//! - Server side: [`ActorGrpc`], [`UserGrpc`] and [`MovieGrpc`] answer from any
//!   implementation of the directory ports (in a service process, the `Local*Directory` of
//!   the owning crate), and [`grpc_routes`] gathers the ones a process plays together with
//!   the standard `grpc.health.v1.Health` service.
//! - Client side: [`GrpcActorDirectory`], [`GrpcUserDirectory`] and [`GrpcMovieDirectory`]
//!   implement the same ports over a lazily connecting channel, so a service does not know
//!   whether its directory is in-process or remote. Every call has a deadline; a peer that
//!   cannot be reached or does not answer in time is `DirectoryError::Unavailable`, which the HTTP
//!   layer turns into a 503 for the one request that needed it.
//! - Who may call ([`auth`]): every call carries the deployment's internal token, derived
//!   from its JWT secret ([`internal_token`]); every server, health included, refuses a call
//!   without it with UNAUTHENTICATED.
//!
//! # Serving
//!
//! [`grpc_routes`] returns [`tonic::service::Routes`], which can be served two ways (both
//! are exercised by this crate's tests):
//!
//! - On its own port:
//!   `tonic::transport::Server::builder().add_routes(routes).serve_with_shutdown(addr, signal)`
//!   (or `serve_with_incoming_shutdown` with a bound `TcpListener`).
//! - In an axum router: `api.merge(routes.into_axum_router())`, then `axum::serve` as usual.
//!   gRPC needs HTTP/2 without TLS (prior knowledge); `axum::serve` speaks it when hyper-util's
//!   `http2` feature is on, which tonic turns on, but the binary should enable axum's own
//!   `http2` feature so that it does not rest on feature unification. Merge *before* setting
//!   the router's fallback: axum refuses to merge two routers that both have one, and the
//!   fallback set afterwards replaces tonic's, so a gRPC service the process does not play
//!   gets the problem+json 404, which tonic clients read as INTERNAL rather than
//!   UNIMPLEMENTED. Layers added after the merge (body limit, tracing, metrics, problem+json
//!   for bare errors) then wrap the gRPC routes too; none of them changes a gRPC answer,
//!   since gRPC answers are HTTP 200 with the outcome in trailers.
//!
//! MovieBook takes the second way on a port of its own: a process that plays a service
//! serves these routes (and `/metrics`) on its internal address (`MOVIEBOOK_INTERNAL_ADDR`),
//! under its usual layers, and never on its public HTTP port; other processes name that
//! address in their `MOVIEBOOK_*_INTERNAL_URL` settings. The public port answers a gRPC call
//! like any unknown path (a problem+json 404, which tonic reads as INTERNAL).
//!
pub mod auth;
mod client;
mod context;
mod server;

/// The `moviebook.v1` protocol: messages, `*_service_server` and `*_service_client`.
#[allow(clippy::all, missing_docs)]
pub mod pb {
    tonic::include_proto!("moviebook.v1");
}

pub use auth::internal_token;
pub use client::{
    ClientConfig, GrpcActorDirectory, GrpcMovieDirectory, GrpcUserDirectory, lazy_channel,
};
pub use server::{ActorGrpc, MAX_ACTOR_IDS, MovieGrpc, UserGrpc, grpc_routes};
