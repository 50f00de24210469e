//! The users service: owns users and their credentials (items `user#{id}` and the
//! uniqueness item `email#{lower-case address}`), issues tokens, throttles failed logins, answers other
//! services' questions about users, and serves the user and auth endpoints.

pub mod audit;
mod directory;
mod error;
pub mod http;
pub mod passwords;
mod record;
mod service;
mod throttle;
mod view;

pub use directory::LocalUserDirectory;
pub use error::UsersError;
pub use passwords::{PasswordError, Passwords};
pub use service::UsersService;
pub use throttle::LoginThrottle;
pub use view::{TokenHolder, TokenResponse, UserView};
