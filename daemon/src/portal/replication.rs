//! Registries (replication endpoints) and replications: endpoints with a test button,
//! policies, executions with live progress, task logs, stop and retry. Each page checks the
//! system table entry its REST operation needs, then calls the same service.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::admin::{fresh_json, poll_viewer, require, Empty};
use super::i18n::{k, machine_time, Tr};
use super::page::{back_to, render, CsrfForm, Frame, PortalError, SignedIn, Viewer};
use super::projects::ConfirmTemplate;
use crate::api::extract::ClientIp;
use crate::auth::permissions::{Operation, Resource};
use crate::auth::session::FlashKind;
use crate::db::replication::{PolicyRow, RegistryRow, TaskRow};
use crate::replication::policy::{Filter, TriggerSettings, TriggerSpec};
use crate::server::AppState;
use crate::service::replication::{
    ExecutionFilter, ExecutionView, PolicyInput, RegistryInput, ReplicationError,
};

impl From<ReplicationError> for PortalError {
    fn from(e: ReplicationError) -> Self {
        match e {
            ReplicationError::NotFound(m) => PortalError::NotFound(m),
            ReplicationError::Conflict(m) => PortalError::Conflict(m),
            ReplicationError::Internal(m) => PortalError::Internal(m),
            ReplicationError::Invalid(m) | ReplicationError::Unreachable(m) => {
                PortalError::Invalid(m)
            }
        }
    }
}

fn audit(
    state: &AppState,
    viewer: &Viewer,
    ip: &str,
    operation: &'static str,
    kind: &'static str,
    what: &str,
    ok: bool,
) {
    crate::api::audit(
        state,
        &viewer.principal,
        ip,
        None,
        operation,
        kind,
        what,
        ok,
    );
}

// ---- endpoints ----

struct EndpointRow {
    id: i64,
    name: String,
    kind: String,
    url: String,
    access_key: String,
    status: String,
    status_code: String,
    self_target: bool,
    insecure: bool,
}

fn endpoint_row(t: &Tr, r: &RegistryRow, ours: &str) -> EndpointRow {
    EndpointRow {
        id: r.id,
        name: r.name.clone(),
        kind: r.kind.clone(),
        url: r.url.clone(),
        access_key: r.access_key.clone(),
        status: match r.status.as_str() {
            "healthy" => t.s("registry-healthy"),
            "unhealthy" => t.s("registry-unhealthy"),
            _ => t.s("registry-unknown"),
        },
        status_code: r.status.clone(),
        self_target: !r.peer_instance.is_empty() && r.peer_instance == ours,
        insecure: r.insecure,
    }
}

#[derive(Template)]
#[template(path = "admin_registries.html")]
struct RegistriesTemplate {
    frame: Frame,
    endpoints: Vec<EndpointRow>,
    may_create: bool,
    may_delete: bool,
}

pub async fn registries(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
) -> Result<Response, PortalError> {
    require(&viewer, Resource::Registry, Operation::List)?;
    let t = viewer.tr();
    let (rows, _) = state.replication.registries("", 0, 100).await?;
    let ours = state.replication.instance_id().await?;
    Ok(render(&RegistriesTemplate {
        endpoints: rows.iter().map(|r| endpoint_row(&t, r, &ours)).collect(),
        may_create: viewer.may_system(Resource::Registry, Operation::Create),
        may_delete: viewer.may_system(Resource::Registry, Operation::Delete),
        frame: viewer.frame(&state, t.s("registries-title"), "admin-registries"),
    }))
}

#[derive(Deserialize)]
pub struct EndpointForm {
    name: String,
    kind: String,
    url: String,
    #[serde(default)]
    access_key: String,
    #[serde(default)]
    access_secret: String,
    #[serde(default)]
    insecure: Option<String>,
    #[serde(default)]
    ca_certificate: String,
}

pub async fn create_registry(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    CsrfForm(viewer, form): CsrfForm<EndpointForm>,
) -> Result<Response, PortalError> {
    require(&viewer, Resource::Registry, Operation::Create)?;
    let t = viewer.tr();
    let input = RegistryInput {
        name: Some(form.name.clone()),
        kind: Some(form.kind),
        url: Some(form.url),
        credential_type: Some("basic".into()),
        access_key: Some(form.access_key),
        access_secret: Some(form.access_secret),
        insecure: Some(form.insecure.is_some()),
        ca_certificate: Some(form.ca_certificate),
        ..Default::default()
    };
    let result = state.replication.create_registry(&input).await;
    audit(
        &state,
        &viewer,
        &ip,
        "create",
        "registry",
        &form.name,
        result.is_ok(),
    );
    viewer.tell(&state, result, |_| {
        t.t1("registry-created", "name", &form.name)
    });
    Ok(back_to("/admin/registries"))
}

/// The test button: reaches a saved endpoint with its saved credentials.
pub async fn test_registry(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm(viewer, _): CsrfForm<Empty>,
) -> Result<Response, PortalError> {
    require(&viewer, Resource::Registry, Operation::Create)?;
    let t = viewer.tr();
    let row = state.replication.registry(id).await?;
    match state
        .replication
        .ping(Some(id), &RegistryInput::default())
        .await
    {
        Ok(p) if p.is_self => viewer.flash(
            &state,
            FlashKind::Error,
            t.t1("registry-is-self", "name", &row.name),
        ),
        Ok(_) => viewer.flash(
            &state,
            FlashKind::Success,
            t.t1("registry-test-ok", "name", &row.name),
        ),
        Err(e) => viewer.flash(
            &state,
            FlashKind::Error,
            format!("{} {e}", t.t1("registry-test-failed", "name", &row.name)),
        ),
    }
    Ok(back_to("/admin/registries"))
}

pub async fn confirm_delete_registry(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, PortalError> {
    require(&viewer, Resource::Registry, Operation::Delete)?;
    let t = viewer.tr();
    let row = state.replication.registry(id).await?;
    Ok(render(&ConfirmTemplate {
        question: t.s("registry-delete-question"),
        items: vec![format!("{} ({})", row.name, row.url)],
        consequence: t.s("registry-delete-consequence"),
        action: format!("/admin/registries/{id}/delete"),
        cancel: "/admin/registries".into(),
        button: t.s("action-delete"),
        frame: viewer.frame(&state, t.s("confirm-title"), "admin-registries"),
    }))
}

pub async fn delete_registry(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
    CsrfForm(viewer, _): CsrfForm<Empty>,
) -> Result<Response, PortalError> {
    require(&viewer, Resource::Registry, Operation::Delete)?;
    let t = viewer.tr();
    let result = state.replication.delete_registry(id).await;
    let what = result.as_ref().cloned().unwrap_or_else(|_| id.to_string());
    audit(
        &state,
        &viewer,
        &ip,
        "delete",
        "registry",
        &what,
        result.is_ok(),
    );
    viewer.tell(&state, result, |name| {
        t.t1("registry-deleted", "name", &name)
    });
    Ok(back_to("/admin/registries"))
}

// ---- policies ----

struct PolicyView {
    id: i64,
    name: String,
    direction: String,
    endpoint: String,
    trigger: String,
    enabled: bool,
    namespace: String,
}

struct ExecutionLine {
    id: i64,
    href: String,
    policy: String,
    status: String,
    status_code: String,
    trigger: String,
    total: i64,
    succeed: i64,
    failed: i64,
    bytes: String,
    started: String,
    started_iso: String,
}

/// Harbor's replication status, in the reader's words, and a code for styling.
fn status(t: &Tr, e: &ExecutionView) -> (String, String) {
    match e.execution.status.as_str() {
        "Pending" | "Running" => (t.s("repl-in-progress"), "running".into()),
        "Success" => (t.s("repl-succeed"), "success".into()),
        "Stopped" => (t.s("repl-stopped"), "stopped".into()),
        _ => (t.s("repl-failed"), "error".into()),
    }
}

fn trigger_label(t: &Tr, triggered_by: &str) -> String {
    match triggered_by {
        "schedule" => t.s("trigger-schedule"),
        "event" => t.s("trigger-event"),
        _ => t.s("trigger-manual"),
    }
}

fn execution_line(t: &Tr, e: &ExecutionView, policy: &str) -> ExecutionLine {
    let (status, status_code) = status(t, e);
    let x = &e.execution;
    ExecutionLine {
        id: x.id,
        href: format!("/admin/replications/executions/{}", x.id),
        policy: policy.to_string(),
        status,
        status_code,
        trigger: trigger_label(t, &x.triggered_by),
        total: e.counts.total,
        succeed: e.counts.succeed,
        failed: e.counts.failed,
        bytes: t.size(e.counts.bytes_done),
        started: t.time(x.started_at.unwrap_or(x.created_at)),
        started_iso: machine_time(x.started_at.unwrap_or(x.created_at)),
    }
}

struct Choice {
    value: String,
    label: String,
}

#[derive(Template)]
#[template(path = "admin_replications.html")]
struct ReplicationsTemplate {
    frame: Frame,
    policies: Vec<PolicyView>,
    executions: Vec<ExecutionLine>,
    endpoints: Vec<Choice>,
    flattening: Vec<Choice>,
    may_create: bool,
    may_run: bool,
    may_delete: bool,
}

pub async fn replications(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
) -> Result<Response, PortalError> {
    require(&viewer, Resource::ReplicationPolicy, Operation::List)?;
    let t = viewer.tr();
    let (policies, _) = state.replication.policies("", 0, 100).await?;
    let (registries, _) = state.replication.registries("", 0, 100).await?;
    let name_of = |id: Option<i64>| {
        registries
            .iter()
            .find(|r| Some(r.id) == id)
            .map(|r| r.name.clone())
            .unwrap_or_default()
    };
    let views: Vec<PolicyView> = policies
        .iter()
        .map(|p: &PolicyRow| PolicyView {
            id: p.id,
            name: p.name.clone(),
            direction: if p.src_registry_id.is_some() {
                t.s("repl-pull")
            } else {
                t.s("repl-push")
            },
            endpoint: name_of(p.src_registry_id.or(p.dest_registry_id)),
            trigger: match p.trigger_type.as_str() {
                "scheduled" => format!("{} ({})", t.s("trigger-schedule"), p.trigger_cron),
                "event_based" => t.s("trigger-event"),
                _ => t.s("trigger-manual"),
            },
            enabled: p.enabled,
            namespace: p.dest_namespace.clone(),
        })
        .collect();
    let executions = if viewer.may_system(Resource::Replication, Operation::List) {
        let (rows, _) = state
            .replication
            .executions(&ExecutionFilter::default(), 0, 25)
            .await?;
        rows.iter()
            .map(|e| {
                let policy = policies
                    .iter()
                    .find(|p| p.id == e.policy_id)
                    .map(|p| p.name.clone())
                    .unwrap_or_default();
                execution_line(&t, e, &policy)
            })
            .collect()
    } else {
        Vec::new()
    };
    let flattening = [
        ("-1", k("repl-flatten-all")),
        ("0", k("repl-flatten-none")),
        ("1", k("repl-flatten-1")),
        ("2", k("repl-flatten-2")),
        ("3", k("repl-flatten-3")),
    ];
    Ok(render(&ReplicationsTemplate {
        policies: views,
        executions,
        endpoints: registries
            .iter()
            .map(|r| Choice {
                value: r.id.to_string(),
                label: format!("{} ({})", r.name, r.url),
            })
            .collect(),
        flattening: flattening
            .iter()
            .map(|(v, key)| Choice {
                value: v.to_string(),
                label: t.s(key),
            })
            .collect(),
        may_create: viewer.may_system(Resource::ReplicationPolicy, Operation::Create),
        may_run: viewer.may_system(Resource::Replication, Operation::Create),
        may_delete: viewer.may_system(Resource::ReplicationPolicy, Operation::Delete),
        frame: viewer.frame(&state, t.s("replications-title"), "admin-replications"),
    }))
}

#[derive(Deserialize)]
pub struct PolicyForm {
    name: String,
    #[serde(default)]
    direction: String,
    endpoint: i64,
    #[serde(default)]
    name_filter: String,
    #[serde(default)]
    tag_filter: String,
    #[serde(default)]
    dest_namespace: String,
    #[serde(default)]
    flattening: Option<i64>,
    #[serde(default)]
    trigger: String,
    #[serde(default)]
    cron: String,
    #[serde(default, rename = "override")]
    override_: Option<String>,
    #[serde(default)]
    replicate_deletion: Option<String>,
    #[serde(default)]
    enabled: Option<String>,
    #[serde(default)]
    speed: Option<i64>,
}

pub async fn create_policy(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    CsrfForm(viewer, form): CsrfForm<PolicyForm>,
) -> Result<Response, PortalError> {
    require(&viewer, Resource::ReplicationPolicy, Operation::Create)?;
    let t = viewer.tr();
    let mut filters = Vec::new();
    for (kind, value) in [("name", &form.name_filter), ("tag", &form.tag_filter)] {
        if !value.trim().is_empty() {
            filters.push(Filter {
                kind: kind.into(),
                value: json!(value.trim()),
                decoration: "matches".into(),
            });
        }
    }
    let pull = form.direction == "pull";
    let input = PolicyInput {
        name: form.name.clone(),
        src_registry_id: pull.then_some(form.endpoint),
        dest_registry_id: (!pull).then_some(form.endpoint),
        dest_namespace: form.dest_namespace,
        dest_namespace_replace_count: form.flattening,
        trigger: Some(TriggerSpec {
            kind: if form.trigger.is_empty() {
                "manual".into()
            } else {
                form.trigger
            },
            trigger_settings: TriggerSettings { cron: form.cron },
        }),
        filters,
        replicate_deletion: form.replicate_deletion.is_some(),
        override_: form.override_.is_some(),
        enabled: form.enabled.is_some(),
        speed: form.speed.filter(|s| *s > 0),
        ..Default::default()
    };
    let result = state.replication.create_policy(&input).await;
    audit(
        &state,
        &viewer,
        &ip,
        "create",
        "replication-policy",
        &form.name,
        result.is_ok(),
    );
    viewer.tell(&state, result, |_| {
        t.t1("repl-policy-created", "name", &form.name)
    });
    Ok(back_to("/admin/replications"))
}

pub async fn run_policy(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
    CsrfForm(viewer, _): CsrfForm<Empty>,
) -> Result<Response, PortalError> {
    require(&viewer, Resource::Replication, Operation::Create)?;
    let t = viewer.tr();
    let result = state.replication.start(id).await;
    let what = match &result {
        Ok(e) => format!("execution {e} of policy {id}"),
        Err(_) => format!("policy {id}"),
    };
    audit(
        &state,
        &viewer,
        &ip,
        "create",
        "replication-execution",
        &what,
        result.is_ok(),
    );
    match result {
        Ok(execution) => {
            viewer.flash(
                &state,
                FlashKind::Success,
                t.n1("repl-started", "id", execution),
            );
            Ok(back_to(&format!(
                "/admin/replications/executions/{execution}"
            )))
        }
        Err(e) => {
            viewer.flash(&state, FlashKind::Error, e.to_string());
            Ok(back_to("/admin/replications"))
        }
    }
}

pub async fn confirm_delete_policy(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, PortalError> {
    require(&viewer, Resource::ReplicationPolicy, Operation::Delete)?;
    let t = viewer.tr();
    let p = state.replication.policy(id).await?;
    Ok(render(&ConfirmTemplate {
        question: t.s("repl-delete-question"),
        items: vec![p.name],
        consequence: t.s("repl-delete-consequence"),
        action: format!("/admin/replications/{id}/delete"),
        cancel: "/admin/replications".into(),
        button: t.s("action-delete"),
        frame: viewer.frame(&state, t.s("confirm-title"), "admin-replications"),
    }))
}

pub async fn delete_policy(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
    CsrfForm(viewer, _): CsrfForm<Empty>,
) -> Result<Response, PortalError> {
    require(&viewer, Resource::ReplicationPolicy, Operation::Delete)?;
    let t = viewer.tr();
    let result = state.replication.delete_policy(id).await;
    let what = result.as_ref().cloned().unwrap_or_else(|_| id.to_string());
    audit(
        &state,
        &viewer,
        &ip,
        "delete",
        "replication-policy",
        &what,
        result.is_ok(),
    );
    viewer.tell(&state, result, |name| {
        t.t1("repl-policy-deleted", "name", &name)
    });
    Ok(back_to("/admin/replications"))
}

// ---- executions ----

struct TaskLine {
    id: i64,
    operation: String,
    src: String,
    dst: String,
    status: String,
    status_code: String,
    bytes: String,
    attempts: i64,
    error: String,
    log_href: String,
}

fn task_status(t: &Tr, status: &str) -> (String, String) {
    match status {
        "Pending" => (t.s("status-pending"), "pending".into()),
        "InProgress" => (t.s("repl-in-progress"), "running".into()),
        "Succeed" => (t.s("repl-succeed"), "success".into()),
        "Stopped" => (t.s("repl-stopped"), "stopped".into()),
        _ => (t.s("repl-failed"), "error".into()),
    }
}

fn task_line(t: &Tr, task: &TaskRow) -> TaskLine {
    let (status, status_code) = task_status(t, &task.status);
    TaskLine {
        id: task.id,
        operation: match task.operation.as_str() {
            "deletion" => t.s("repl-op-delete"),
            _ => t.s("repl-op-copy"),
        },
        src: task.src_resource.clone(),
        dst: task.dst_resource.clone(),
        status,
        status_code,
        bytes: format!("{} / {}", t.size(task.bytes_done), t.size(task.bytes_total)),
        attempts: task.attempts,
        error: task.error.clone(),
        log_href: format!(
            "/admin/replications/executions/{}/tasks/{}",
            task.execution_id, task.id
        ),
    }
}

/// Tasks a page shows at once (the REST API pages through all of them).
const TASKS_SHOWN: i64 = 100;

#[derive(Template)]
#[template(path = "admin_replication_run.html")]
struct RunTemplate {
    frame: Frame,
    run: ExecutionLine,
    running: bool,
    pending: i64,
    in_progress: i64,
    stopped: i64,
    bytes_total: String,
    status_text: String,
    tasks: Vec<TaskLine>,
    total_tasks: i64,
    may_stop: bool,
    may_retry: bool,
}

pub async fn execution(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, PortalError> {
    require(&viewer, Resource::Replication, Operation::Read)?;
    let t = viewer.tr();
    let e = state.replication.execution(id).await?;
    let policy = state
        .replication
        .policy(e.policy_id)
        .await
        .map(|p| p.name)
        .unwrap_or_default();
    let (tasks, total_tasks) = state.replication.tasks(id, None, 0, TASKS_SHOWN).await?;
    let running = matches!(e.execution.status.as_str(), "Pending" | "Running");
    let status_text = serde_json::from_str::<serde_json::Value>(&e.execution.result)
        .ok()
        .and_then(|r| r.get("error")?.as_str().map(str::to_string))
        .unwrap_or_default();
    Ok(render(&RunTemplate {
        running,
        pending: e.counts.pending,
        in_progress: e.counts.in_progress,
        stopped: e.counts.stopped,
        bytes_total: t.size(e.counts.bytes_total),
        status_text,
        tasks: tasks.iter().map(|task| task_line(&t, task)).collect(),
        total_tasks,
        may_stop: running && viewer.may_system(Resource::Replication, Operation::Stop),
        may_retry: !running
            && e.execution.status != "Success"
            && viewer.may_system(Resource::Replication, Operation::Create),
        run: execution_line(&t, &e, &policy),
        frame: viewer.frame(
            &state,
            t.n1("repl-run-title", "id", id),
            "admin-replications",
        ),
    }))
}

/// The live view's poll; it never refreshes the session.
pub async fn progress(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Path(id): Path<i64>,
) -> Result<Response, PortalError> {
    let viewer = poll_viewer(
        &state,
        &headers,
        &uri,
        format!("/admin/replications/executions/{id}"),
    )
    .await?;
    require(&viewer, Resource::Replication, Operation::Read)?;
    let t = viewer.tr();
    let e = state.replication.execution(id).await?;
    let (tasks, _) = state.replication.tasks(id, None, 0, TASKS_SHOWN).await?;
    let (status, status_code) = status(&t, &e);
    let running = matches!(e.execution.status.as_str(), "Pending" | "Running");
    let tasks: Vec<serde_json::Value> = tasks
        .iter()
        .map(|task| {
            let line = task_line(&t, task);
            json!({"id": line.id, "status": line.status, "status_code": line.status_code,
                   "bytes": line.bytes, "attempts": line.attempts, "error": line.error})
        })
        .collect();
    Ok(fresh_json(json!({
        "status": status,
        "status_code": status_code,
        "running": running,
        "total": e.counts.total,
        "succeed": e.counts.succeed,
        "failed": e.counts.failed,
        "pending": e.counts.pending,
        "in_progress": e.counts.in_progress,
        "stopped": e.counts.stopped,
        "bytes": t.size(e.counts.bytes_done),
        "bytes_total": t.size(e.counts.bytes_total),
        "tasks": tasks,
    })))
}

pub async fn stop(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
    CsrfForm(viewer, _): CsrfForm<Empty>,
) -> Result<Response, PortalError> {
    require(&viewer, Resource::Replication, Operation::Stop)?;
    let t = viewer.tr();
    let result = state.replication.stop(id).await;
    audit(
        &state,
        &viewer,
        &ip,
        "stop",
        "replication-execution",
        &id.to_string(),
        result.is_ok(),
    );
    viewer.tell(&state, result, |()| t.s("repl-stop-asked"));
    Ok(back_to(&format!("/admin/replications/executions/{id}")))
}

pub async fn retry(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
    CsrfForm(viewer, _): CsrfForm<Empty>,
) -> Result<Response, PortalError> {
    require(&viewer, Resource::Replication, Operation::Create)?;
    let t = viewer.tr();
    let result = state.replication.retry(id).await;
    audit(
        &state,
        &viewer,
        &ip,
        "retry",
        "replication-execution",
        &id.to_string(),
        result.is_ok(),
    );
    viewer.tell(&state, result, |n| t.n1("repl-retried", "count", n as i64));
    Ok(back_to(&format!("/admin/replications/executions/{id}")))
}

#[derive(Template)]
#[template(path = "admin_replication_task.html")]
struct TaskTemplate {
    frame: Frame,
    execution: i64,
    task: TaskLine,
    log: String,
}

pub async fn task_log(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
    Path((id, task)): Path<(i64, i64)>,
) -> Result<Response, PortalError> {
    require(&viewer, Resource::Replication, Operation::Read)?;
    let t = viewer.tr();
    let row = state.replication.task(id, task).await?;
    let log = state.replication.task_log(id, task).await?;
    Ok(render(&TaskTemplate {
        execution: id,
        task: task_line(&t, &row),
        log,
        frame: viewer.frame(
            &state,
            t.n1("repl-task-title", "id", task),
            "admin-replications",
        ),
    }))
}
