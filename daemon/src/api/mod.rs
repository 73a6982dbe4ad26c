//! The Harbor-compatible REST API under `/api/v2.0`. Handlers extract, call a service and map
//! the result; errors are rendered in Harbor's shape by `error.rs`.

mod audit_logs;
mod configurations;
pub mod error;
pub mod extract;
mod gc;
mod immutable;
mod ldap;
pub mod metrics;
mod openapi;
pub mod paging;
mod projects;
pub mod query;
mod quotas;
mod replication;
mod repositories;
mod retention;
mod robots;
pub(crate) mod session;
mod system;
pub mod token;
mod usergroups;
mod users;

use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;

use crate::server::AppState;

/// Request bodies of the REST API are small JSON documents.
const BODY_LIMIT: usize = 1024 * 1024;

/// One entry per REST operation: method, Harbor's path, handler. The router is built from this
/// list and nothing else, and a test checks it against the OpenAPI document both ways.
pub(crate) fn operations() -> Vec<(Method, &'static str, MethodRouter<AppState>)> {
    macro_rules! op {
        ($m:ident $path:literal => $h:expr) => {
            (Method::$m, $path, on(MethodFilter::$m, $h))
        };
    }
    vec![
        op!(GET "/api/v2.0/ping" => system::ping),
        op!(GET "/api/v2.0/health" => system::health),
        op!(GET "/api/v2.0/systeminfo" => system::systeminfo),
        op!(GET "/api/v2.0/systeminfo/getcert" => system::getcert),
        op!(GET "/api/v2.0/systeminfo/volumes" => gc::volumes),
        op!(GET "/api/v2.0/configurations" => configurations::get_configurations),
        op!(PUT "/api/v2.0/configurations" => configurations::put_configurations),
        op!(GET "/api/v2.0/system/gc" => gc::list_gc),
        op!(GET "/api/v2.0/system/gc/schedule" => gc::get_gc_schedule),
        op!(POST "/api/v2.0/system/gc/schedule" => gc::create_gc_schedule),
        op!(PUT "/api/v2.0/system/gc/schedule" => gc::update_gc_schedule),
        op!(GET "/api/v2.0/system/gc/{gc_id}" => gc::get_gc),
        op!(PUT "/api/v2.0/system/gc/{gc_id}" => gc::stop_gc),
        op!(GET "/api/v2.0/system/gc/{gc_id}/log" => gc::gc_log),
        op!(GET "/api/v2.0/quotas" => quotas::list_quotas),
        op!(GET "/api/v2.0/quotas/{id}" => quotas::get_quota),
        op!(PUT "/api/v2.0/quotas/{id}" => quotas::update_quota),
        op!(GET "/api/v2.0/retentions/metadatas" => retention::metadatas),
        op!(POST "/api/v2.0/retentions" => retention::create_policy),
        op!(GET "/api/v2.0/retentions/{id}" => retention::get_policy),
        op!(PUT "/api/v2.0/retentions/{id}" => retention::update_policy),
        op!(DELETE "/api/v2.0/retentions/{id}" => retention::delete_policy),
        op!(GET "/api/v2.0/retentions/{id}/executions" => retention::list_executions),
        op!(POST "/api/v2.0/retentions/{id}/executions" => retention::run),
        op!(PATCH "/api/v2.0/retentions/{id}/executions/{eid}" => retention::stop_execution),
        op!(GET "/api/v2.0/retentions/{id}/executions/{eid}/tasks" => retention::list_tasks),
        op!(GET "/api/v2.0/retentions/{id}/executions/{eid}/tasks/{tid}" => retention::task_log),
        op!(GET "/api/v2.0/projects/{project_name_or_id}/immutabletagrules" => immutable::list_rules),
        op!(POST "/api/v2.0/projects/{project_name_or_id}/immutabletagrules" => immutable::create_rule),
        op!(PUT "/api/v2.0/projects/{project_name_or_id}/immutabletagrules/{immutable_rule_id}" => immutable::update_rule),
        op!(DELETE "/api/v2.0/projects/{project_name_or_id}/immutabletagrules/{immutable_rule_id}" => immutable::delete_rule),
        op!(GET "/api/v2.0/registries" => replication::list_registries),
        op!(POST "/api/v2.0/registries" => replication::create_registry),
        op!(POST "/api/v2.0/registries/ping" => replication::ping_registry),
        op!(GET "/api/v2.0/registries/{id}" => replication::get_registry),
        op!(PUT "/api/v2.0/registries/{id}" => replication::update_registry),
        op!(DELETE "/api/v2.0/registries/{id}" => replication::delete_registry),
        op!(GET "/api/v2.0/registries/{id}/info" => replication::registry_info_handler),
        op!(GET "/api/v2.0/replication/adapters" => replication::adapters),
        op!(GET "/api/v2.0/replication/policies" => replication::list_policies),
        op!(POST "/api/v2.0/replication/policies" => replication::create_policy),
        op!(GET "/api/v2.0/replication/policies/{id}" => replication::get_policy),
        op!(PUT "/api/v2.0/replication/policies/{id}" => replication::update_policy),
        op!(DELETE "/api/v2.0/replication/policies/{id}" => replication::delete_policy),
        op!(GET "/api/v2.0/replication/executions" => replication::list_executions),
        op!(POST "/api/v2.0/replication/executions" => replication::start_execution),
        op!(GET "/api/v2.0/replication/executions/{id}" => replication::get_execution),
        op!(PUT "/api/v2.0/replication/executions/{id}" => replication::stop_execution),
        op!(POST "/api/v2.0/replication/executions/{id}/retry" => replication::retry_execution),
        op!(GET "/api/v2.0/replication/executions/{id}/tasks" => replication::list_tasks),
        op!(GET "/api/v2.0/replication/executions/{id}/tasks/{task_id}/log" => replication::task_log),
        op!(GET "/api/v2.0/statistics" => system::statistics),
        op!(GET "/api/v2.0/search" => system::search),
        op!(GET "/api/v2.0/projects" => projects::list_projects),
        op!(HEAD "/api/v2.0/projects" => projects::head_project),
        op!(POST "/api/v2.0/projects" => projects::create_project),
        op!(GET "/api/v2.0/projects/{project_name_or_id}" => projects::get_project),
        op!(PUT "/api/v2.0/projects/{project_name_or_id}" => projects::update_project),
        op!(DELETE "/api/v2.0/projects/{project_name_or_id}" => projects::delete_project),
        op!(GET "/api/v2.0/projects/{project_name_or_id}/summary" => projects::project_summary),
        op!(GET "/api/v2.0/projects/{project_name_or_id}/members" => projects::list_members),
        op!(POST "/api/v2.0/projects/{project_name_or_id}/members" => projects::add_member),
        op!(GET "/api/v2.0/projects/{project_name_or_id}/members/{mid}" => projects::get_member),
        op!(PUT "/api/v2.0/projects/{project_name_or_id}/members/{mid}" => projects::update_member),
        op!(DELETE "/api/v2.0/projects/{project_name_or_id}/members/{mid}" => projects::delete_member),
        op!(GET "/api/v2.0/projects/{project_name_or_id}/logs" => audit_logs::list_project_logs),
        op!(GET "/api/v2.0/audit-logs" => audit_logs::list_audit_logs),
        op!(GET "/api/v2.0/repositories" => repositories::list_all_repositories),
        op!(GET "/api/v2.0/projects/{project_name}/repositories" => repositories::list_repositories),
        op!(GET "/api/v2.0/projects/{project_name}/repositories/{repository_name}" => repositories::get_repository),
        op!(DELETE "/api/v2.0/projects/{project_name}/repositories/{repository_name}" => repositories::delete_repository),
        op!(GET "/api/v2.0/projects/{project_name}/repositories/{repository_name}/artifacts" => repositories::list_artifacts),
        op!(GET "/api/v2.0/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}" => repositories::get_artifact),
        op!(DELETE "/api/v2.0/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}" => repositories::delete_artifact),
        op!(GET "/api/v2.0/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/tags" => repositories::list_tags),
        op!(POST "/api/v2.0/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/tags" => repositories::create_tag),
        op!(DELETE "/api/v2.0/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/tags/{tag_name}" => repositories::delete_tag),
        op!(GET "/api/v2.0/robots" => robots::list_robots),
        op!(POST "/api/v2.0/robots" => robots::create_robot),
        op!(GET "/api/v2.0/robots/{robot_id}" => robots::get_robot),
        op!(PUT "/api/v2.0/robots/{robot_id}" => robots::update_robot),
        op!(PATCH "/api/v2.0/robots/{robot_id}" => robots::refresh_secret),
        op!(DELETE "/api/v2.0/robots/{robot_id}" => robots::delete_robot),
        op!(GET "/api/v2.0/users" => users::list_users),
        op!(POST "/api/v2.0/users" => users::create_user),
        op!(GET "/api/v2.0/users/current" => users::current_user),
        op!(GET "/api/v2.0/users/search" => users::search_users),
        op!(GET "/api/v2.0/users/{user_id}" => users::get_user),
        op!(PUT "/api/v2.0/users/{user_id}" => users::update_user),
        op!(DELETE "/api/v2.0/users/{user_id}" => users::delete_user),
        op!(PUT "/api/v2.0/users/{user_id}/password" => users::change_password),
        op!(PUT "/api/v2.0/users/{user_id}/sysadmin" => users::set_sysadmin),
        op!(GET "/api/v2.0/usergroups" => usergroups::list_groups),
        op!(POST "/api/v2.0/usergroups" => usergroups::create_group),
        op!(GET "/api/v2.0/usergroups/search" => usergroups::search_groups),
        op!(GET "/api/v2.0/usergroups/{group_id}" => usergroups::get_group),
        op!(PUT "/api/v2.0/usergroups/{group_id}" => usergroups::update_group),
        op!(DELETE "/api/v2.0/usergroups/{group_id}" => usergroups::delete_group),
        op!(POST "/api/v2.0/ldap/ping" => ldap::ping),
        op!(GET "/api/v2.0/ldap/users/search" => ldap::search_users),
        op!(POST "/api/v2.0/ldap/users/import" => ldap::import_users),
        op!(GET "/api/v2.0/ldap/groups/search" => ldap::search_groups),
    ]
}

pub fn router() -> Router<AppState> {
    let mut router = Router::new()
        // The portal's session endpoints, outside the REST API proper (and its document).
        .route("/c/login", axum::routing::post(session::login))
        .route("/c/log_out", axum::routing::get(session::log_out))
        .route("/api/v2.0/openapi.json", axum::routing::get(openapi::serve));
    for (_, path, handler) in operations() {
        router = router.route(path, handler);
    }
    router.layer(DefaultBodyLimit::max(BODY_LIMIT))
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
