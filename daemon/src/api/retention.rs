//! Tag retention under `/api/v2.0/retentions`, in Harbor's shapes (`RetentionPolicy`,
//! `RetentionExecution`, `RetentionExecutionTask`, `RetentionMetadata`). A policy names its
//! project in `scope.ref`; every call is decided by the project table's `tag-retention`
//! entries in that project (see `service::retention`).

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::audit;
use super::error::ApiError;
use super::extract::{id, ApiJson, AuthUser, ClientIp, MaybeUser, QueryPairs};
use super::paging::Page;
use super::rfc3339;
use crate::db::jobs::ExecutionRow;
use crate::db::retention::TaskRow;
use crate::retention::Parameters;
use crate::server::AppState;
use crate::service::retention::{metadata, PolicyWire};

pub(super) async fn metadatas(AuthUser(_): AuthUser) -> Json<Value> {
    Json(metadata())
}

fn execution_wire(e: &ExecutionRow) -> Value {
    let params: Value = serde_json::from_str(&e.parameters).unwrap_or(Value::Null);
    let p = Parameters::parse(&params).ok();
    let result: Value = serde_json::from_str(&e.result).unwrap_or(json!({}));
    json!({
        "id": e.id,
        "policy_id": p.map(|p| p.policy_id).unwrap_or_default(),
        "start_time": e.started_at.map(rfc3339).unwrap_or_default(),
        "end_time": e.ended_at.map(rfc3339).unwrap_or_default(),
        "status": e.status,
        "trigger": if e.triggered_by == "schedule" { "SCHEDULE" } else { "MANUAL" },
        "dry_run": p.map(|p| p.dry_run).unwrap_or(false),
        "result": result,
    })
}

fn task_wire(t: &TaskRow) -> Value {
    json!({
        "id": t.id,
        "execution_id": t.execution_id,
        "repository": t.repository,
        "job_id": format!("retention-{}-{}", t.execution_id, t.id),
        "status": t.status,
        "status_code": 0,
        "status_revision": t.ended_at.unwrap_or_default(),
        "start_time": t.started_at.map(rfc3339).unwrap_or_default(),
        "end_time": t.ended_at.map(rfc3339).unwrap_or_default(),
        "total": t.total,
        "retained": t.retained,
    })
}

pub(super) async fn create_policy(
    State(state): State<AppState>,
    MaybeUser(by): MaybeUser,
    ClientIp(ip): ClientIp,
    ApiJson(policy): ApiJson<PolicyWire>,
) -> Result<Response, ApiError> {
    let (view, pid) = state.retention.create(&by, policy).await?;
    audit(
        &state,
        &by,
        &ip,
        Some(view.project.id),
        "create",
        "retention_policy",
        &format!("{}: policy {pid}", view.project.name),
        true,
    );
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v2.0/retentions/{pid}"))],
    )
        .into_response())
}

pub(super) async fn get_policy(
    State(state): State<AppState>,
    MaybeUser(by): MaybeUser,
    Path(raw): Path<String>,
) -> Result<Json<PolicyWire>, ApiError> {
    Ok(Json(state.retention.get(&by, id(&raw, "id")?).await?))
}

pub(super) async fn update_policy(
    State(state): State<AppState>,
    MaybeUser(by): MaybeUser,
    ClientIp(ip): ClientIp,
    Path(raw): Path<String>,
    ApiJson(policy): ApiJson<PolicyWire>,
) -> Result<StatusCode, ApiError> {
    let pid = id(&raw, "id")?;
    let view = state.retention.update(&by, pid, policy).await?;
    audit(
        &state,
        &by,
        &ip,
        Some(view.project.id),
        "update",
        "retention_policy",
        &format!("{}: policy {pid}", view.project.name),
        true,
    );
    Ok(StatusCode::OK)
}

pub(super) async fn delete_policy(
    State(state): State<AppState>,
    MaybeUser(by): MaybeUser,
    ClientIp(ip): ClientIp,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    let pid = id(&raw, "id")?;
    let view = state.retention.delete(&by, pid).await?;
    audit(
        &state,
        &by,
        &ip,
        Some(view.project.id),
        "delete",
        "retention_policy",
        &format!("{}: policy {pid}", view.project.name),
        true,
    );
    Ok(StatusCode::OK)
}

/// Harbor's body for a run: `{"dry_run": true}`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RunReq {
    #[serde(default)]
    dry_run: bool,
}

pub(super) async fn run(
    State(state): State<AppState>,
    MaybeUser(by): MaybeUser,
    ClientIp(ip): ClientIp,
    Path(raw): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let pid = id(&raw, "id")?;
    // Harbor's portal sends `{"dry_run": ...}`; scripts often send nothing.
    let dry_run = if body.iter().all(u8::is_ascii_whitespace) {
        false
    } else {
        serde_json::from_slice::<RunReq>(&body)
            .map_err(|e| ApiError::BadRequest(format!("invalid body: {e}")))?
            .dry_run
    };
    let (view, eid) = state.retention.run(&by, pid, dry_run).await?;
    audit(
        &state,
        &by,
        &ip,
        Some(view.project.id),
        "create",
        "retention_execution",
        &format!(
            "{}: policy {pid}, execution {eid}{}",
            view.project.name,
            if dry_run { " (dry run)" } else { "" }
        ),
        true,
    );
    Ok((
        StatusCode::CREATED,
        [(
            header::LOCATION,
            format!("/api/v2.0/retentions/{pid}/executions/{eid}"),
        )],
    )
        .into_response())
}

pub(super) async fn list_executions(
    State(state): State<AppState>,
    MaybeUser(by): MaybeUser,
    Path(raw): Path<String>,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    let pid = id(&raw, "id")?;
    let page = Page::from_query(&query.0)?;
    let (rows, total) = state
        .retention
        .executions(&by, pid, page.offset(), page.limit())
        .await?;
    let items: Vec<Value> = rows.iter().map(execution_wire).collect();
    Ok((
        page.headers(
            total as u64,
            &format!("/api/v2.0/retentions/{pid}/executions"),
            &query.0,
        ),
        Json(items),
    )
        .into_response())
}

/// Harbor's body for `PATCH .../executions/{eid}`: `{"action": "stop"}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExecutionPatch {
    action: String,
}

pub(super) async fn stop_execution(
    State(state): State<AppState>,
    MaybeUser(by): MaybeUser,
    ClientIp(ip): ClientIp,
    Path((raw, raw_eid)): Path<(String, String)>,
    ApiJson(patch): ApiJson<ExecutionPatch>,
) -> Result<StatusCode, ApiError> {
    if patch.action != "stop" {
        return Err(ApiError::BadRequest(format!(
            "action must be \"stop\", not {:?}",
            patch.action
        )));
    }
    let (pid, eid) = (id(&raw, "id")?, id(&raw_eid, "eid")?);
    let (view, _) = state.retention.stop(&by, pid, eid).await?;
    audit(
        &state,
        &by,
        &ip,
        Some(view.project.id),
        "stop",
        "retention_execution",
        &format!("{}: policy {pid}, execution {eid}", view.project.name),
        true,
    );
    Ok(StatusCode::OK)
}

pub(super) async fn list_tasks(
    State(state): State<AppState>,
    MaybeUser(by): MaybeUser,
    Path((raw, raw_eid)): Path<(String, String)>,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    let (pid, eid) = (id(&raw, "id")?, id(&raw_eid, "eid")?);
    let page = Page::from_query(&query.0)?;
    let (rows, total) = state
        .retention
        .tasks(&by, pid, eid, page.offset(), page.limit())
        .await?;
    let items: Vec<Value> = rows.iter().map(task_wire).collect();
    Ok((
        page.headers(
            total as u64,
            &format!("/api/v2.0/retentions/{pid}/executions/{eid}/tasks"),
            &query.0,
        ),
        Json(items),
    )
        .into_response())
}

pub(super) async fn task_log(
    State(state): State<AppState>,
    MaybeUser(by): MaybeUser,
    Path((raw, raw_eid, raw_tid)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let (pid, eid, tid) = (id(&raw, "id")?, id(&raw_eid, "eid")?, id(&raw_tid, "tid")?);
    let (_, log) = state.retention.task_log(&by, pid, eid, tid).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], log).into_response())
}
