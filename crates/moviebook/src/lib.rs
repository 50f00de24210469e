//! MovieBook as a program: configuration, start-up and the operations endpoints. The
//! binary `moviebook` is a thin command line over [`Application`].

pub mod app;
pub mod backup;
pub mod config;
mod data_dir;
mod openapi;
mod secrets;
pub mod telemetry;
pub mod verify;

pub use app::Application;
pub use config::Config;
