//! Garbage collection under `/api/v2.0/system/gc`, in Harbor's shapes (`GCHistory`,
//! `Schedule`), and `/systeminfo/volumes`. Every operation goes through the system table's
//! `garbage-collection` entries.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::audit;
use super::error::ApiError;
use super::extract::{
    id, ApiJson, ClientIp, CreateGc, ListGc, QueryPairs, ReadGc, ReadSystemVolumes, StopGc,
    SystemAdmin, UpdateGc,
};
use super::paging::Page;
use super::rfc3339;
use crate::db::jobs::ExecutionRow;
use crate::gc::GARBAGE_COLLECTION;
use crate::jobs::{Schedule, ScheduleType};
use crate::server::AppState;

/// Harbor's `GCHistory`, with the run's progress and result beside it. As in Harbor, the
/// result attributes (`freed_space`, ...) are also merged into `job_parameters`.
#[derive(Serialize)]
pub(super) struct GcHistoryWire {
    id: i64,
    job_name: &'static str,
    job_kind: &'static str,
    job_parameters: String,
    schedule: ScheduleObjWire,
    job_status: String,
    deleted: bool,
    creation_time: String,
    update_time: String,
    start_time: Option<String>,
    end_time: Option<String>,
    progress: Value,
    result: Value,
    retry_of: Option<i64>,
}

impl From<ExecutionRow> for GcHistoryWire {
    fn from(e: ExecutionRow) -> Self {
        let parameters: Value = serde_json::from_str(&e.parameters).unwrap_or(json!({}));
        let result: Value = serde_json::from_str(&e.result).unwrap_or(json!({}));
        let mut merged = parameters.as_object().cloned().unwrap_or_default();
        if let Some(r) = result.as_object() {
            merged.extend(r.clone());
        }
        let scheduled = e.triggered_by == "schedule";
        GcHistoryWire {
            id: e.id,
            job_name: GARBAGE_COLLECTION,
            job_kind: if scheduled { "SCHEDULE" } else { "MANUAL" },
            job_parameters: Value::Object(merged).to_string(),
            schedule: ScheduleObjWire {
                kind: if scheduled { "Schedule" } else { "Manual" }.into(),
                cron: String::new(),
                next_scheduled_time: None,
            },
            job_status: e.status,
            deleted: false,
            creation_time: rfc3339(e.created_at),
            update_time: rfc3339(e.updated_at),
            start_time: e.started_at.map(rfc3339),
            end_time: e.ended_at.map(rfc3339),
            progress: json!({"done": e.done, "total": e.total}),
            result,
            retry_of: e.retry_of,
        }
    }
}

/// Harbor's `ScheduleObj`.
#[derive(Serialize, Deserialize)]
pub(super) struct ScheduleObjWire {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    cron: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_scheduled_time: Option<String>,
}

/// Harbor's `Schedule` request body.
#[derive(Deserialize)]
pub(super) struct ScheduleReq {
    schedule: ScheduleObjWire,
    #[serde(default)]
    parameters: Value,
}

impl ScheduleObjWire {
    /// `None` means "run now" (`Manual`); otherwise the schedule to set. Harbor's `Schedule`
    /// type is a cron given in `cron`.
    fn schedule(&self) -> Result<Option<Schedule>, ApiError> {
        let kind = match self.kind.as_str() {
            "Manual" => return Ok(None),
            "None" => ScheduleType::None,
            "Hourly" => ScheduleType::Hourly,
            "Daily" => ScheduleType::Daily,
            "Weekly" => ScheduleType::Weekly,
            "Custom" | "Schedule" => ScheduleType::Custom,
            other => {
                return Err(ApiError::BadRequest(format!(
                "schedule.type {other:?} is not one of Manual, None, Hourly, Daily, Weekly, Custom"
            )))
            }
        };
        Ok(Some(Schedule {
            kind,
            cron: self.cron.clone(),
        }))
    }
}

/// Records who started, scheduled or stopped a collection, and whether it was done.
fn audit_gc(
    state: &AppState,
    by: &crate::auth::Principal,
    ip: &str,
    operation: &'static str,
    resource: &str,
    done: bool,
) {
    audit(
        state,
        by,
        ip,
        None,
        operation,
        "garbage_collection",
        resource,
        done,
    );
}

pub(super) async fn list_gc(
    State(state): State<AppState>,
    _: SystemAdmin<ListGc>,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    let page = Page::from_query(&query.0)?;
    let (rows, total) = state.gc.history(page.offset(), page.limit()).await?;
    let items: Vec<GcHistoryWire> = rows.into_iter().map(GcHistoryWire::from).collect();
    Ok((
        page.headers(total as u64, "/api/v2.0/system/gc", &query.0),
        Json(items),
    )
        .into_response())
}

pub(super) async fn get_gc(
    State(state): State<AppState>,
    _: SystemAdmin<ReadGc>,
    Path(gc_id): Path<String>,
) -> Result<Json<GcHistoryWire>, ApiError> {
    Ok(Json(state.gc.get(id(&gc_id, "gc_id")?).await?.into()))
}

pub(super) async fn gc_log(
    State(state): State<AppState>,
    _: SystemAdmin<ReadGc>,
    Path(gc_id): Path<String>,
) -> Result<Response, ApiError> {
    let text = state.gc.log(id(&gc_id, "gc_id")?).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

pub(super) async fn stop_gc(
    State(state): State<AppState>,
    SystemAdmin(by, _): SystemAdmin<StopGc>,
    ClientIp(ip): ClientIp,
    Path(gc_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let run = id(&gc_id, "gc_id")?;
    let stopped = state.gc.stop(run).await;
    audit_gc(&state, &by, &ip, "stop", &run.to_string(), stopped.is_ok());
    stopped?;
    Ok(StatusCode::OK)
}

pub(super) async fn get_gc_schedule(
    State(state): State<AppState>,
    _: SystemAdmin<ReadGc>,
) -> Result<Json<Value>, ApiError> {
    let s = state.gc.schedule().await?;
    Ok(Json(json!({
        "schedule": ScheduleObjWire {
            kind: format!("{:?}", s.schedule.kind),
            cron: s.schedule.expression().unwrap_or_default().to_string(),
            next_scheduled_time: s.next_run.map(rfc3339),
        },
        "job_name": GARBAGE_COLLECTION,
        "job_parameters": s.parameters.to_json().to_string(),
        "parameters": s.parameters.to_json(),
    })))
}

/// `POST`: `Manual` runs now (201, `Location` names the run); any other type creates the
/// schedule, refused when one exists.
pub(super) async fn create_gc_schedule(
    State(state): State<AppState>,
    SystemAdmin(by, _): SystemAdmin<CreateGc>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<ScheduleReq>,
) -> Result<Response, ApiError> {
    match req.schedule.schedule()? {
        None => {
            let started = state.gc.run_now(&req.parameters).await;
            let what = match &started {
                Ok(run) => run.to_string(),
                Err(_) => "run".to_string(),
            };
            audit_gc(&state, &by, &ip, "create", &what, started.is_ok());
            let run = started?;
            Ok((
                StatusCode::CREATED,
                [(header::LOCATION, format!("/api/v2.0/system/gc/{run}"))],
            )
                .into_response())
        }
        Some(schedule) => {
            let set = state.gc.set_schedule(schedule, &req.parameters, true).await;
            audit_gc(&state, &by, &ip, "create", "schedule", set.is_ok());
            set?;
            Ok(StatusCode::CREATED.into_response())
        }
    }
}

pub(super) async fn update_gc_schedule(
    State(state): State<AppState>,
    SystemAdmin(by, _): SystemAdmin<UpdateGc>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<ScheduleReq>,
) -> Result<StatusCode, ApiError> {
    let Some(schedule) = req.schedule.schedule()? else {
        return Err(ApiError::BadRequest(
            "a Manual run is started with POST, not PUT".into(),
        ));
    };
    let set = state
        .gc
        .set_schedule(schedule, &req.parameters, false)
        .await;
    audit_gc(&state, &by, &ip, "update", "schedule", set.is_ok());
    set?;
    Ok(StatusCode::OK)
}

/// Harbor's `SystemInfo` for `/systeminfo/volumes`: the blob store's volume.
pub(super) async fn volumes(
    State(state): State<AppState>,
    _: SystemAdmin<ReadSystemVolumes>,
) -> Result<Json<Value>, ApiError> {
    let (total, free) = state
        .system
        .volume()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(json!({"storage": [{"total": total, "free": free}]})))
}
