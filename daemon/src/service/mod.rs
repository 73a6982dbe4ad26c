//! Services own the rules and orchestrate the database and the blob store. They know nothing of
//! HTTP: handlers call them and map their errors to the protocol's format.

pub mod bootstrap;
pub mod configuration;
pub mod directory;
pub mod gc;
pub mod immutability;
pub mod projects;
pub mod quotas;
pub mod registry;
pub mod replication;
pub mod repositories;
pub mod retention;
pub mod robots;
pub mod room;
pub mod system;
pub mod uploads;
pub mod users;
