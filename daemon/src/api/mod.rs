//! The Harbor-compatible REST API under `/api/v2.0`. Handlers extract, call a service and map
//! the result; errors are rendered in Harbor's shape by `error.rs`.

mod audit_logs;
pub mod error;
pub mod extract;
pub mod paging;
mod projects;
pub mod query;
mod repositories;
mod robots;
mod session;
mod system;
mod users;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, put};
use axum::Router;

use crate::server::AppState;

/// Request bodies of the REST API are small JSON documents.
const BODY_LIMIT: usize = 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
                .route("/c/login", axum::routing::post(session::login))
        .route("/c/log_out", get(session::log_out))
        .route("/api/v2.0/ping", get(system::ping))
                .route("/api/v2.0/health", get(system::health))
        .route("/api/v2.0/systeminfo", get(system::systeminfo))
        .route("/api/v2.0/statistics", get(system::statistics))
        .route("/api/v2.0/search", get(system::search))
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
            "/api/v2.0/projects/{project_name_or_id}/logs",
            get(audit_logs::list_project_logs),
        )
                .route("/api/v2.0/audit-logs", get(audit_logs::list_audit_logs))
                .route("/api/v2.0/repositories", get(repositories::list_all_repositories))
        .route("/api/v2.0/robots", get(robots::list_robots).post(robots::create_robot))
        .route(
            "/api/v2.0/robots/{robot_id}",
            get(robots::get_robot)
                .put(robots::update_robot)
                .patch(robots::refresh_secret)
                .delete(robots::delete_robot),
        )
        .route("/api/v2.0/projects/{project_name}/repositories", get(repositories::list_repositories))
        .route(
            "/api/v2.0/projects/{project_name}/repositories/{repository_name}",
            get(repositories::get_repository).delete(repositories::delete_repository),
        )
        .route(
            "/api/v2.0/projects/{project_name}/repositories/{repository_name}/artifacts",
            get(repositories::list_artifacts),
        )
        .route(
            "/api/v2.0/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}",
            get(repositories::get_artifact).delete(repositories::delete_artifact),
        )
        .route(
            "/api/v2.0/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/tags",
            get(repositories::list_tags).post(repositories::create_tag),
        )
        .route(
            "/api/v2.0/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/tags/{tag_name}",
            delete(repositories::delete_tag),
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

/// Records one REST operation and its result in the audit log.
#[allow(clippy::too_many_arguments)]
pub(crate) fn audit(
    state: &AppState,
    by: &crate::auth::Principal,
    client_ip: &str,
    project_id: Option<i64>,
    operation: &'static str,
    resource_type: &'static str,
    resource: &str,
    success: bool,
) {
    state.audit.record(crate::audit::Entry {
        project_id,
        operation,
        resource_type,
        resource: resource.to_string(),
        username: by.username().to_string(),
        success,
        client_ip: client_ip.to_string(),
    });
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
