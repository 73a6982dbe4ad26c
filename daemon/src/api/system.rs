//! `ping` and `health`.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::error::ApiError;
use super::extract::{AuthUser, MaybeUser, QueryPairs};
use crate::auth::permissions::{Operation, Resource};
use crate::server::AppState;

pub(super) async fn ping() -> &'static str {
    "Pong"
}

/// Harbor's health shape: overall status and one entry per component.
pub(super) async fn health(
    State(state): State<AppState>,
    MaybeUser(by): MaybeUser,
) -> (StatusCode, Json<serde_json::Value>) {
    // What went wrong is for administrators, who also get a fresh check; everyone else sees
    // only which part is down, as of the last check (at most ten seconds old).
    let detail = by.may_system(Resource::Configuration, Operation::Read);
    let health = state.system.health(detail).await;
    let components: Vec<_> = health
        .components
        .iter()
        .map(|(name, r)| match r {
            Ok(()) => json!({"name": name, "status": "healthy"}),
            Err(e) if detail => json!({"name": name, "status": "unhealthy", "error": e}),
            Err(_) => json!({"name": name, "status": "unhealthy"}),
        })
        .collect();
    let healthy = health.healthy();
    let body = json!({
        "status": if healthy { "healthy" } else { "unhealthy" },
        "components": components,
    });
    (
        if healthy {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        Json(body),
    )
}

/// Harbor's `GeneralInfo`; anyone may read it.
pub(super) async fn systeminfo(
    State(state): State<AppState>,
    scheme: Option<axum::Extension<crate::server::Scheme>>,
    local: Option<axum::Extension<crate::server::LocalAddr>>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> Json<serde_json::Value> {
    let scheme = scheme
        .map(|axum::Extension(crate::server::Scheme(s))| s)
        .unwrap_or("http");
    let local = local.map(|axum::Extension(crate::server::LocalAddr(a))| a);
    let external = crate::registry::access::base_url(&state, &headers, &uri, scheme, local);
    let registry_url = external
        .split_once("://")
        .map(|(_, h)| h.to_string())
        .unwrap_or_default();
    let settings = state.settings.current();
    let sys = &settings.system;
    Json(json!({
        "auth_mode": settings.auth_mode.harbor_name(),
        "primary_auth_mode": false,
        "registry_url": registry_url,
        "external_url": external,
        "project_creation_restriction": sys.project_creation_restriction.as_str(),
        "self_registration": sys.self_registration,
        // True exactly when `getcert` serves a CA.
        "has_ca_root": state
            .config
            .tls
            .as_ref()
            .is_some_and(|t| t.ca_certificate.is_some()),
        "harbor_version": format!("v{}-berth", crate::VERSION),
        "registry_storage_provider_name": "filesystem",
        "read_only": false,
        "notification_enable": false,
        "banner_message": sys.banner_message,
        "current_time": super::rfc3339(crate::db::now()),
    }))
}

/// Harbor's `Statistic`, over what the caller may see.
pub(super) async fn statistics(
    State(state): State<AppState>,
    AuthUser(by): AuthUser,
) -> Result<Json<serde_json::Value>, ApiError> {
    let projects = state.projects.list(&by).await?;
    let repos = state.repositories.list_all(&by).await?;
    let public_ids: std::collections::HashSet<i64> = projects
        .iter()
        .filter(|v| v.project.public)
        .map(|v| v.project.id)
        .collect();
    let public_projects = public_ids.len();
    let public_repos = repos
        .iter()
        .filter(|r| public_ids.contains(&r.project_id))
        .count();
    let storage = state
        .system
        .storage_used(&by)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(json!({
        "public_project_count": public_projects,
        "private_project_count": projects.len() - public_projects,
        "total_project_count": projects.len(),
        "public_repo_count": public_repos,
        "private_repo_count": repos.len() - public_repos,
        "total_repo_count": repos.len(),
        "total_storage_consumption": storage,
    })))
}

/// `GET /search?q=`: projects and repositories whose names contain the term, among those the
/// caller may see.
pub(super) async fn search(
    State(state): State<AppState>,
    MaybeUser(by): MaybeUser,
    query: QueryPairs,
) -> Result<Json<serde_json::Value>, ApiError> {
    let term = query
        .get("q")
        .ok_or_else(|| ApiError::BadRequest("q is required".into()))?
        .to_string();
    let projects = state.projects.list(&by).await?;
    let repos = state.repositories.list_all(&by).await?;
    let by_id: std::collections::HashMap<i64, &crate::db::projects::ProjectRow> = projects
        .iter()
        .map(|v| (v.project.id, &v.project))
        .collect();
    let project_hits: Vec<serde_json::Value> = projects
        .iter()
        .filter(|v| v.project.name.contains(&term))
        .map(|v| json!({"project_id": v.project.id, "name": v.project.name, "repo_count": v.project.repo_count,
                        "metadata": {"public": v.project.public.to_string()}}))
        .collect();
    let repo_hits: Vec<serde_json::Value> = repos
        .iter()
        .filter(|r| r.name.contains(&term))
        .filter_map(|r| {
            by_id.get(&r.project_id).map(|p| {
                json!({"project_id": p.id, "project_name": p.name, "project_public": p.public,
                       "repository_name": r.name, "pull_count": r.pull_count, "artifact_count": r.artifact_count})
            })
        })
        .collect();
    Ok(Json(
        json!({"project": project_hits, "repository": repo_hits}),
    ))
}

/// The CA certificate clients should trust, as a download (Harbor's `getcert`); 404 when
/// Berth was not given one. Public: a CA certificate is no secret, and a client needs it
/// before it can sign in.
pub(super) async fn getcert(State(state): State<AppState>) -> Result<Response, ApiError> {
    let Some(path) = state
        .config
        .tls
        .as_ref()
        .and_then(|t| t.ca_certificate.clone())
    else {
        return Err(ApiError::NotFound(
            "no CA certificate is configured (tls.ca_certificate)".into(),
        ));
    };
    match tokio::fs::read(&path).await {
        Ok(pem) => Ok((
            [
                (header::CONTENT_TYPE, "application/octet-stream"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"ca.crt\"",
                ),
            ],
            pem,
        )
            .into_response()),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read the CA certificate");
            Err(ApiError::NotFound(
                "the CA certificate is not available".into(),
            ))
        }
    }
}
