//! `POST /api/v2.0/projects` and `GET /api/v2.0/projects/{name_or_id}`, in Harbor's shapes.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::extract::{AuthUser, MaybeUser};
use crate::auth::permissions::Action;
use crate::auth::Principal;
use crate::db::projects::ProjectRow;
use crate::server::AppState;

/// Harbor's `ProjectReq`, the fields Berth acts on so far.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProjectReq {
    project_name: String,
    #[serde(default)]
    metadata: Option<HashMap<String, String>>,
    // Accepted for compatibility with Harbor clients, not acted on yet.
    #[serde(default)]
    public: Option<bool>,
    #[serde(default)]
    storage_limit: Option<i64>,
    #[serde(default)]
    registry_id: Option<i64>,
}

#[derive(Serialize)]
pub(super) struct ProjectWire {
    project_id: i64,
    name: String,
    owner_id: i64,
    creation_time: String,
    update_time: String,
    metadata: HashMap<String, String>,
}

fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

impl From<ProjectRow> for ProjectWire {
    fn from(p: ProjectRow) -> Self {
        ProjectWire {
            project_id: p.id,
            name: p.name,
            owner_id: p.owner_id,
            creation_time: rfc3339(p.created_at),
            update_time: rfc3339(p.updated_at),
            metadata: HashMap::from([("public".to_string(), p.public.to_string())]),
        }
    }
}

fn parse_bool(s: &str) -> Result<bool, ApiError> {
    match s {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(ApiError::BadRequest(format!(
            "metadata.public must be \"true\" or \"false\", not {other:?}"
        ))),
    }
}

pub(super) async fn create_project(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    body: Result<Json<ProjectReq>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let _ = (req.storage_limit, req.registry_id);
    let public = match req.metadata.as_ref().and_then(|m| m.get("public")) {
        Some(v) => parse_bool(v)?,
        None => req.public.unwrap_or(false),
    };
    let project = state
        .projects
        .create(&user, &req.project_name, public)
        .await?;
    tracing::info!(project = %project.name, by = %user.username(), public, "project created");
    Ok((
        StatusCode::CREATED,
        [(
            header::LOCATION,
            format!("/api/v2.0/projects/{}", project.id),
        )],
    )
        .into_response())
}

pub(super) async fn get_project(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(key): Path<String>,
) -> Result<Json<ProjectWire>, ApiError> {
    let project = state.projects.get(&key).await?;
    // Private projects are invisible to those who cannot pull from them.
    let probe = crate::names::RepoName::parse(&format!("{}/x", project.name))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    if !project.public
        && !state
            .auth
            .repository_actions(&user, &probe)
            .await?
            .contains(&Action::Pull)
    {
        return Err(match user {
            Principal::Anonymous => ApiError::Unauthorized("authentication required".into()),
            _ => ApiError::NotFound(format!("project {key} not found")),
        });
    }
    Ok(Json(project.into()))
}
