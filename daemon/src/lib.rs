//! Berth's daemon as a library: the binary `berthd` is a thin `main.rs` over [`server::run`],
//! and the installer links this crate for the configuration types.

pub mod api;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod config;
pub mod db;
pub mod digest;
pub mod gc;
pub mod jobs;
pub mod manifest;
pub mod metrics;
pub mod names;
pub mod portal;
pub mod registry;
pub mod replication;
pub mod retention;
pub mod secrets;
pub mod selectors;
pub mod server;
pub mod service;
pub mod settings;
pub mod state;
pub mod storage;

/// The version reported by `systeminfo` and the health endpoint.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
