//! The Harbor-compatible REST API under `/api/v2.0`. Handlers extract, call a service and map
//! the result; errors are rendered in Harbor's shape by `error.rs`.

pub mod error;
mod extract;
pub mod paging;
mod projects;
pub mod query;
mod system;
mod users;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, put};
use axum::Router;

use crate::server::AppState;

/// Request bodies of the REST API are small JSON documents.
const BODY_LIMIT: usize = 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v2.0/ping", get(system::ping))
        .route("/api/v2.0/health", get(system::health))
        .route(
            "/api/v2.0/projects",
            get(projects::list_projects)
                .head(projects::head_project)
                .post(projects::create_project),
        )
        .route(
            "/api/v2.0/projects/{project_name_or_id}",
            get(projects::get_project)
                .put(projects::update_project)
                .delete(projects::delete_project),
        )
        .route(
            "/api/v2.0/projects/{project_name_or_id}/summary",
            get(projects::project_summary),
        )
        .route(
            "/api/v2.0/projects/{project_name_or_id}/members",
            get(projects::list_members).post(projects::add_member),
        )
        .route(
            "/api/v2.0/projects/{project_name_or_id}/members/{mid}",
            get(projects::get_member)
                .put(projects::update_member)
                .delete(projects::delete_member),
        )
        .route(
            "/api/v2.0/users",
            get(users::list_users).post(users::create_user),
        )
        .route("/api/v2.0/users/current", get(users::current_user))
        .route("/api/v2.0/users/search", get(users::search_users))
        .route(
            "/api/v2.0/users/{user_id}",
            get(users::get_user)
                .put(users::update_user)
                .delete(users::delete_user),
        )
        .route(
            "/api/v2.0/users/{user_id}/password",
            put(users::change_password),
        )
        .route(
            "/api/v2.0/users/{user_id}/sysadmin",
            put(users::set_sysadmin),
        )
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

/// Harbor's time format in responses.
pub(crate) fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
