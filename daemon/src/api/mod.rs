//! The Harbor-compatible REST API under `/api/v2.0`. Handlers extract, call a service and map
//! the result; errors are rendered in Harbor's shape by `error.rs`.

pub mod error;
mod extract;
mod projects;
mod system;

use axum::routing::{get, post};
use axum::Router;

use crate::server::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v2.0/ping", get(system::ping))
        .route("/api/v2.0/health", get(system::health))
        .route("/api/v2.0/projects", post(projects::create_project))
        .route(
            "/api/v2.0/projects/{project_name_or_id}",
            get(projects::get_project),
        )
}
