//! What every MovieBook service shares: the one error type and its problem+json form,
//! request-body and page-parameter reading, authentication, the transactional outbox and
//! its relay, the idempotent consumer that applies events exactly once, and the cache of
//! ready answers to hot reads.

pub mod audit;
pub mod auth;
pub mod client_address;
pub mod consumer;
pub mod dead_letters;
pub mod deployment_token;
pub mod directory;
pub mod http;
pub mod outbox;
pub mod pagination;
pub mod problem;
pub mod read_cache;
pub mod request_id;

pub use problem::ApiError;
