//! The users service: owns users and their credentials (items `user#{id}` and the
//! uniqueness item `email#{address}`), issues tokens, throttles failed logins, answers other
//! services' questions about users, and serves the user and auth endpoints.

pub mod http;
mod passwords;
mod service;
mod throttle;

pub use service::{LocalUserDirectory, UserView, UsersService};
pub use throttle::LoginThrottle;
