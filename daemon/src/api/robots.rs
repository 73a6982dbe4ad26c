//! Robot accounts under `/api/v2.0/robots`, in Harbor's shapes (`RobotCreate`, `RobotCreated`,
//! `Robot`, `RobotSec`). The secret appears only in the answers to create and refresh.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::audit;
use super::error::ApiError;
use super::extract::{id, ApiJson, AuthUser, ClientIp, QueryPairs};
use super::paging::Page;
use super::query::{Match, Query};
use super::rfc3339;
use crate::auth::robot::RobotPermission;
use crate::db::robots::RobotRow;
use crate::server::AppState;
use crate::service::robots::RobotRequest;

/// Harbor's `RobotCreate`, and the `Robot` that `PUT` takes (whose read-only fields are
/// accepted and ignored).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RobotReq {
    name: String,
    #[serde(default)]
    description: String,
    level: String,
    #[serde(default)]
    duration: Option<i64>,
    #[serde(default)]
    disable: bool,
    #[serde(default)]
    secret: Option<String>,
    permissions: Vec<RobotPermission>,
    #[serde(default)]
    expires_at: Option<i64>,
    #[serde(default)]
    id: Option<i64>,
    #[serde(default)]
    editable: Option<bool>,
    #[serde(default)]
    creation_time: Option<String>,
    #[serde(default)]
    update_time: Option<String>,
}

impl RobotReq {
    fn into_request(self) -> RobotRequest {
        let _ = (
            self.expires_at,
            self.id,
            self.editable,
            self.creation_time,
            self.update_time,
        );
        RobotRequest {
            name: self.name,
            description: self.description,
            level: self.level,
            // Harbor's default robot lifetime (`robot_token_duration`) is 30 days.
            duration: self.duration.unwrap_or(30),
            disable: self.disable,
            secret: self.secret,
            permissions: self.permissions,
        }
    }
}

fn robot_wire(r: &RobotRow, permissions: &[RobotPermission]) -> Value {
    json!({
        "id": r.id,
        "name": r.name,
        "description": r.description,
        "secret": "",
        "level": r.level,
        "duration": r.duration,
        "editable": true,
        "disable": r.disabled,
        "expires_at": r.expires_at,
        "permissions": permissions,
        "creation_time": rfc3339(r.created_at),
        "update_time": rfc3339(r.updated_at),
    })
}

pub(super) async fn create_robot(
    State(state): State<AppState>,
    AuthUser(by): AuthUser,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<RobotReq>,
) -> Result<Response, ApiError> {
    let name = req.name.clone();
    let created = state.robots.create(&by, req.into_request()).await;
    let (pid, resource) = match &created {
        Ok(c) => (c.robot.project_id, c.robot.name.clone()),
        Err(_) => (None, name),
    };
    audit(
        &state,
        &by,
        &ip,
        pid,
        "create",
        "robot",
        &resource,
        created.is_ok(),
    );
    let c = created?;
    let body = json!({
        "id": c.robot.id,
        "name": c.robot.name,
        "secret": c.secret,
        "creation_time": rfc3339(c.robot.created_at),
        "expires_at": c.robot.expires_at,
    });
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v2.0/robots/{}", c.robot.id))],
        Json(body),
    )
        .into_response())
}

pub(super) async fn list_robots(
    State(state): State<AppState>,
    AuthUser(by): AuthUser,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    let page = Page::from_query(&query.0)?;
    let q = Query::parse(
        query.get("q"),
        &["Level", "ProjectID", "level", "project_id", "name"],
    )?;
    let exact = |keys: [&str; 2]| -> Result<Option<String>, ApiError> {
        match keys.iter().find_map(|k| q.get(k)) {
            None => Ok(None),
            Some(Match::Exact(v)) => Ok(Some(v.clone())),
            Some(_) => Err(ApiError::BadRequest(format!(
                "{} takes an exact value",
                keys[0]
            ))),
        }
    };
    let level = exact(["Level", "level"])?;
    let project_id = exact(["ProjectID", "project_id"])?
        .map(|p| {
            p.parse::<i64>()
                .map_err(|_| ApiError::BadRequest(format!("ProjectID must be a number, not {p:?}")))
        })
        .transpose()?;
    let rows = state.robots.list(&by, level.as_deref(), project_id).await?;
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|(r, _)| q.matches("name", &r.name))
        .collect();
    let total = rows.len() as u64;
    let items: Vec<Value> = rows
        .iter()
        .skip(page.offset() as usize)
        .take(page.limit() as usize)
        .map(|(r, p)| robot_wire(r, p))
        .collect();
    Ok((
        page.headers(total, "/api/v2.0/robots", &query.0),
        Json(items),
    )
        .into_response())
}

pub(super) async fn get_robot(
    State(state): State<AppState>,
    AuthUser(by): AuthUser,
    Path(robot_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (r, p) = state.robots.get(&by, id(&robot_id, "robot_id")?).await?;
    Ok(Json(robot_wire(&r, &p)))
}

pub(super) async fn update_robot(
    State(state): State<AppState>,
    AuthUser(by): AuthUser,
    ClientIp(ip): ClientIp,
    Path(robot_id): Path<String>,
    ApiJson(req): ApiJson<RobotReq>,
) -> Result<StatusCode, ApiError> {
    let rid = id(&robot_id, "robot_id")?;
    let updated = state.robots.update(&by, rid, req.into_request()).await;
    let (pid, resource) = match &updated {
        Ok(r) => (r.project_id, r.name.clone()),
        Err(_) => (None, format!("robot {rid}")),
    };
    audit(
        &state,
        &by,
        &ip,
        pid,
        "update",
        "robot",
        &resource,
        updated.is_ok(),
    );
    updated?;
    Ok(StatusCode::OK)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RobotSec {
    #[serde(default)]
    secret: Option<String>,
}

/// `PATCH /robots/{id}`: a new secret, given or generated.
pub(super) async fn refresh_secret(
    State(state): State<AppState>,
    AuthUser(by): AuthUser,
    ClientIp(ip): ClientIp,
    Path(robot_id): Path<String>,
    ApiJson(req): ApiJson<RobotSec>,
) -> Result<Json<Value>, ApiError> {
    let rid = id(&robot_id, "robot_id")?;
    let refreshed = state.robots.refresh_secret(&by, rid, req.secret).await;
    let (pid, resource) = match &refreshed {
        Ok((r, _)) => (r.project_id, format!("{} secret", r.name)),
        Err(_) => (None, format!("robot {rid} secret")),
    };
    audit(
        &state,
        &by,
        &ip,
        pid,
        "update",
        "robot",
        &resource,
        refreshed.is_ok(),
    );
    let (_, secret) = refreshed?;
    Ok(Json(json!({"secret": secret})))
}

pub(super) async fn delete_robot(
    State(state): State<AppState>,
    AuthUser(by): AuthUser,
    ClientIp(ip): ClientIp,
    Path(robot_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let rid = id(&robot_id, "robot_id")?;
    let deleted = state.robots.delete(&by, rid).await;
    let (pid, resource) = match &deleted {
        Ok(r) => (r.project_id, r.name.clone()),
        Err(_) => (None, format!("robot {rid}")),
    };
    audit(
        &state,
        &by,
        &ip,
        pid,
        "delete",
        "robot",
        &resource,
        deleted.is_ok(),
    );
    deleted?;
    Ok(StatusCode::OK)
}
