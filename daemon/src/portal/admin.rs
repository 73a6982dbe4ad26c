//! Administration pages. Each checks the system permission table entry the matching REST
//! operation needs, before calling the same service.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::i18n::{k, machine_time, Tr};
use super::page::{back_to, render, CsrfForm, Frame, PortalError, SignedIn, Viewer};
use crate::api::extract::ClientIp;
use crate::auth::permissions::{Operation, Resource};
use crate::auth::session::FlashKind;
use crate::db::jobs::ExecutionRow;
use crate::jobs::{Schedule, ScheduleType};
use crate::server::AppState;

/// Refuses a viewer the system table does not allow `operation` on `resource`.
pub(super) fn require(
    viewer: &Viewer,
    resource: Resource,
    operation: Operation,
) -> Result<(), PortalError> {
    if viewer.may_system(resource, operation) {
        Ok(())
    } else {
        Err(PortalError::Forbidden(format!(
            "only a system administrator may {} {}",
            operation.as_str(),
            resource.as_str()
        )))
    }
}

/// An execution's status in the reader's words.
pub fn status_label(t: &Tr, status: &str) -> String {
    match status {
        "Pending" => t.s("status-pending"),
        "Running" => t.s("status-running"),
        "Success" => t.s("status-success"),
        "Error" => t.s("status-error"),
        "Stopped" => t.s("status-stopped"),
        other => other.to_string(),
    }
}

/// What a GC run did or is doing, for a table row or the live view.
struct GcRun {
    id: i64,
    href: String,
    status: String,
    status_code: String,
    trigger: String,
    dry_run: bool,
    delete_untagged: bool,
    deleted_blobs: i64,
    deleted_manifests: i64,
    freed: String,
    created: String,
    created_iso: String,
    updated: String,
    done: i64,
    total: i64,
    running: bool,
}

fn run_view(t: &Tr, e: &ExecutionRow) -> GcRun {
    let parameters: Value = serde_json::from_str(&e.parameters).unwrap_or(json!({}));
    let result: Value = serde_json::from_str(&e.result).unwrap_or(json!({}));
    let num = |k: &str| result.get(k).and_then(Value::as_i64).unwrap_or(0);
    let flag = |k: &str| parameters.get(k).and_then(Value::as_bool).unwrap_or(false);
    GcRun {
        id: e.id,
        href: format!("/admin/gc/{}", e.id),
        status: status_label(t, &e.status),
        status_code: e.status.to_lowercase(),
        trigger: match e.triggered_by.as_str() {
            "schedule" => t.s("trigger-schedule"),
            _ => t.s("trigger-manual"),
        },
        dry_run: flag("dry_run"),
        delete_untagged: flag("delete_untagged"),
        deleted_blobs: num("deleted_blobs"),
        deleted_manifests: num("deleted_manifests"),
        freed: t.size(num("freed_space")),
        created: t.time(e.created_at),
        created_iso: machine_time(e.created_at),
        updated: t.time(e.updated_at),
        done: e.done,
        total: e.total,
        running: e.status == "Running" || e.status == "Pending",
    }
}

struct ScheduleChoice {
    value: &'static str,
    label: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "admin_gc.html")]
struct GcTemplate {
    frame: Frame,
    runs: Vec<GcRun>,
    schedules: Vec<ScheduleChoice>,
    cron: String,
    next_run: String,
    schedule_untagged: bool,
    may_run: bool,
    may_schedule: bool,
    workers: Vec<usize>,
}

pub async fn gc_page(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
) -> Result<Response, PortalError> {
    require(&viewer, Resource::GarbageCollection, Operation::List)?;
    let t = viewer.tr();
    let (rows, _) = state.gc.history(0, 25).await?;
    let schedule = state.gc.schedule().await?;
    let kinds = [
        (ScheduleType::None, "None", k("schedule-none")),
        (ScheduleType::Hourly, "Hourly", k("schedule-hourly")),
        (ScheduleType::Daily, "Daily", k("schedule-daily")),
        (ScheduleType::Weekly, "Weekly", k("schedule-weekly")),
        (ScheduleType::Custom, "Custom", k("schedule-custom")),
    ];
    Ok(render(&GcTemplate {
        runs: rows.iter().map(|e| run_view(&t, e)).collect(),
        schedules: kinds
            .iter()
            .map(|(k, v, key)| ScheduleChoice {
                value: v,
                label: t.s(key),
                current: *k == schedule.schedule.kind,
            })
            .collect(),
        cron: schedule.schedule.cron.clone(),
        next_run: schedule.next_run.map(|n| t.time(n)).unwrap_or_default(),
        schedule_untagged: schedule.parameters.delete_untagged,
        may_run: viewer.may_system(Resource::GarbageCollection, Operation::Create),
        may_schedule: viewer.may_system(Resource::GarbageCollection, Operation::Update),
        workers: (1..=5).collect(),
        frame: viewer.frame(&state, t.s("gc-title"), "admin-gc"),
    }))
}

#[derive(Deserialize)]
pub struct RunForm {
    #[serde(default)]
    delete_untagged: Option<String>,
    #[serde(default)]
    dry_run: Option<String>,
    #[serde(default)]
    workers: Option<usize>,
}

pub async fn gc_run(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    CsrfForm(viewer, form): CsrfForm<RunForm>,
) -> Result<Response, PortalError> {
    require(&viewer, Resource::GarbageCollection, Operation::Create)?;
    let t = viewer.tr();
    let parameters = json!({
        "delete_untagged": form.delete_untagged.is_some(),
        "dry_run": form.dry_run.is_some(),
        "workers": form.workers.unwrap_or(1),
    });
    let result = state.gc.run_now(&parameters).await;
    crate::api::audit(
        &state,
        &viewer.principal,
        &ip,
        None,
        "create",
        "garbage_collection",
        &result.as_ref().map(|id| id.to_string()).unwrap_or_default(),
        result.is_ok(),
    );
    match result {
        Ok(id) => {
            viewer.flash(&state, FlashKind::Success, t.n1("gc-started", "id", id));
            Ok(back_to(&format!("/admin/gc/{id}")))
        }
        Err(e) => {
            viewer.flash(&state, FlashKind::Error, e.to_string());
            Ok(back_to("/admin/gc"))
        }
    }
}

#[derive(Deserialize)]
pub struct ScheduleForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    cron: String,
    #[serde(default)]
    delete_untagged: Option<String>,
}

pub async fn gc_schedule(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    CsrfForm(viewer, form): CsrfForm<ScheduleForm>,
) -> Result<Response, PortalError> {
    require(&viewer, Resource::GarbageCollection, Operation::Update)?;
    let t = viewer.tr();
    let kind = match form.kind.as_str() {
        "None" => ScheduleType::None,
        "Hourly" => ScheduleType::Hourly,
        "Daily" => ScheduleType::Daily,
        "Weekly" => ScheduleType::Weekly,
        "Custom" => ScheduleType::Custom,
        other => return Err(PortalError::Invalid(format!("unknown schedule {other:?}"))),
    };
    let schedule = Schedule {
        kind,
        cron: if kind == ScheduleType::Custom {
            form.cron.trim().to_string()
        } else {
            String::new()
        },
    };
    let result = state
        .gc
        .set_schedule(
            schedule,
            &json!({"delete_untagged": form.delete_untagged.is_some()}),
            false,
        )
        .await;
    crate::api::audit(
        &state,
        &viewer.principal,
        &ip,
        None,
        "update",
        "garbage_collection",
        "schedule",
        result.is_ok(),
    );
    viewer.tell(&state, result, |()| t.s("gc-schedule-saved"));
    Ok(back_to("/admin/gc"))
}

#[derive(Template)]
#[template(path = "admin_gc_run.html")]
struct GcRunTemplate {
    frame: Frame,
    run: GcRun,
    log: Vec<String>,
    log_lines: i64,
    may_stop: bool,
    log_href: String,
}

/// The log lines a page shows: the newest ones.
const LOG_TAIL: usize = 200;

async fn log_tail(state: &AppState, id: i64) -> Result<(Vec<String>, i64), PortalError> {
    let log = state.gc.log(id).await?;
    let lines: Vec<&str> = log.lines().collect();
    let n = lines.len();
    Ok((
        lines[n.saturating_sub(LOG_TAIL)..]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        n as i64,
    ))
}

pub async fn gc_execution(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, PortalError> {
    require(&viewer, Resource::GarbageCollection, Operation::Read)?;
    let t = viewer.tr();
    let e = state.gc.get(id).await?;
    let (log, log_lines) = log_tail(&state, id).await?;
    Ok(render(&GcRunTemplate {
        run: run_view(&t, &e),
        log,
        log_lines,
        may_stop: viewer.may_system(Resource::GarbageCollection, Operation::Stop),
        log_href: format!("/api/v2.0/system/gc/{id}/log"),
        frame: viewer.frame(&state, t.n1("gc-run-title", "id", id), "admin-gc"),
    }))
}

/// `GET /admin/gc/{id}/progress`: the live view's poll. It reads the session without
/// refreshing it, so an open progress page never keeps a session alive by itself.
pub async fn gc_progress(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Path(id): Path<i64>,
) -> Result<Response, PortalError> {
    let viewer = poll_viewer(&state, &headers, &uri, format!("/admin/gc/{id}")).await?;
    require(&viewer, Resource::GarbageCollection, Operation::Read)?;
    let t = viewer.tr();
    let e = state.gc.get(id).await?;
    let run = run_view(&t, &e);
    let (log, log_lines) = log_tail(&state, id).await?;
    Ok(fresh_json(json!({
        "status": run.status,
        "status_code": run.status_code,
        "running": run.running,
        "done": run.done,
        "total": run.total,
        "deleted_blobs": run.deleted_blobs,
        "deleted_manifests": run.deleted_manifests,
        "freed": run.freed,
        "updated": run.updated,
        "log": log,
        "log_lines": log_lines,
    })))
}

/// The viewer of a live view's poll, read without refreshing the session (an open progress
/// page never keeps a session alive by itself); `next` is where a sign-in returns to.
pub(super) async fn poll_viewer(
    state: &AppState,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
    next: String,
) -> Result<Viewer, PortalError> {
    let viewer = Viewer::read(headers, uri, state, false).await;
    if viewer.signed_in() {
        Ok(viewer)
    } else {
        Err(PortalError::SignIn {
            next,
            expired: viewer.expired,
        })
    }
}

/// A live view's answer: JSON, never cached.
pub(super) fn fresh_json(value: Value) -> Response {
    let mut response = Json(value).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn gc_stop(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
    CsrfForm(viewer, _): CsrfForm<Empty>,
) -> Result<Response, PortalError> {
    require(&viewer, Resource::GarbageCollection, Operation::Stop)?;
    let t = viewer.tr();
    let result = state.gc.stop(id).await;
    crate::api::audit(
        &state,
        &viewer.principal,
        &ip,
        None,
        "stop",
        "garbage_collection",
        &id.to_string(),
        result.is_ok(),
    );
    viewer.tell(&state, result, |()| t.s("gc-stop-asked"));
    Ok(back_to(&format!("/admin/gc/{id}")))
}

#[derive(Template)]
#[template(path = "admin_system.html")]
struct SystemTemplate {
    frame: Frame,
    version: String,
    total: String,
    free: String,
    used: String,
    volume_chart: String,
    projects_chart: String,
    activity_chart: String,
    ca_fingerprint: Option<String>,
    host: String,
    scheme: String,
}

pub async fn system(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
    super::page::RegistryHost(host): super::page::RegistryHost,
    scheme: Option<axum::Extension<crate::server::Scheme>>,
) -> Result<Response, PortalError> {
    require(&viewer, Resource::SystemVolumes, Operation::Read)?;
    let t = viewer.tr();
    let by = &viewer.principal;
    let (total, free) = state
        .system
        .volume()
        .await
        .map_err(|e| PortalError::Internal(e.to_string()))?;
    let used = state.system.storage_used(by).await?;
    let projects = state.system.storage_by_project(by, 10).await?;
    let activity = state.system.daily_activity(by, 30).await?;
    let ca = state
        .system
        .ca_certificate()
        .await
        .map_err(|e| PortalError::Internal(e.to_string()))?;
    let volume_bars = [
        super::charts::Bar {
            label: t.s("system-volume-used"),
            value: (total.saturating_sub(free)) as i64,
            shown: t.size((total.saturating_sub(free)) as i64),
        },
        super::charts::Bar {
            label: t.s("system-volume-free"),
            value: free as i64,
            shown: t.size(free as i64),
        },
    ];
    let project_bars: Vec<super::charts::Bar> = projects
        .into_iter()
        .filter(|(_, bytes)| *bytes > 0)
        .map(|(name, bytes)| super::charts::Bar {
            label: name,
            value: bytes,
            shown: t.size(bytes),
        })
        .collect();
    Ok(render(&SystemTemplate {
        version: crate::VERSION.to_string(),
        total: t.size(total as i64),
        free: t.size(free as i64),
        used: t.size(used),
        volume_chart: super::charts::bars(&volume_bars, &t.s("system-volume")),
        projects_chart: super::charts::bars(&project_bars, &t.s("chart-storage-by-project")),
        activity_chart: super::charts::activity(&activity, &t),
        ca_fingerprint: ca.map(|c| c.fingerprint),
        host,
        scheme: scheme
            .map(|axum::Extension(crate::server::Scheme(s))| s)
            .unwrap_or("http")
            .to_string(),
        frame: viewer.frame(&state, t.s("system-title"), "admin-system"),
    }))
}
