//! Replication under `/api/v2.0/registries` and `/api/v2.0/replication`, in Harbor's shapes
//! (`Registry`, `ReplicationPolicy`, `ReplicationExecution`, `ReplicationTask`), plus Berth's
//! extension `POST /replication/executions/{id}/retry`. Every operation goes through the system
//! table's `registry`, `replication-policy`, `replication` and `replication-adapter` entries:
//! system administrators, and system robots granted them.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::audit;
use super::error::ApiError;
use super::extract::{
    id, ApiJson, ClientIp, CreatePolicies, CreateRegistries, CreateReplications, DeletePolicies,
    DeleteRegistries, ListAdapters, ListPolicies, ListRegistries, ListReplications, QueryPairs,
    ReadPolicies, ReadRegistries, ReadReplications, StopReplications, SystemAdmin, UpdatePolicies,
    UpdateRegistries,
};
use super::paging::Page;
use super::rfc3339;
use crate::db::replication::{PolicyRow, RegistryRow, TaskRow};
use crate::replication::policy::{Filter, TriggerSettings, TriggerSpec};
use crate::server::AppState;
use crate::service::replication::{
    filters, registry_info, ExecutionFilter, ExecutionView, PolicyInput, RegistryInput,
    ReplicationError,
};

impl From<ReplicationError> for ApiError {
    fn from(e: ReplicationError) -> Self {
        match e {
            ReplicationError::Invalid(m) | ReplicationError::Unreachable(m) => {
                ApiError::BadRequest(m)
            }
            ReplicationError::NotFound(m) => ApiError::NotFound(m),
            ReplicationError::Conflict(m) => ApiError::Conflict(m),
            ReplicationError::Internal(m) => ApiError::Internal(m),
        }
    }
}

fn query<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn audited(
    state: &AppState,
    by: &crate::auth::Principal,
    ip: &str,
    operation: &'static str,
    resource_type: &'static str,
    resource: &str,
    ok: bool,
) {
    audit(state, by, ip, None, operation, resource_type, resource, ok);
}

// ---- endpoints ----

/// Harbor's `RegistryCredential`, without the secret: it is never returned.
#[derive(Serialize, Deserialize, Default)]
pub(super) struct CredentialWire {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    access_key: Option<String>,
    #[serde(default, skip_serializing)]
    access_secret: Option<String>,
}

/// Harbor's `Registry`, with Berth's `self_target` (the endpoint is this very instance).
#[derive(Serialize)]
pub(super) struct RegistryWire {
    id: i64,
    name: String,
    description: String,
    #[serde(rename = "type")]
    kind: String,
    url: String,
    credential: CredentialWire,
    insecure: bool,
    ca_certificate: Option<String>,
    status: String,
    self_target: bool,
    creation_time: String,
    update_time: String,
}

fn registry_wire(r: RegistryRow, ours: &str) -> RegistryWire {
    RegistryWire {
        id: r.id,
        self_target: !r.peer_instance.is_empty() && r.peer_instance == ours,
        name: r.name,
        description: r.description,
        kind: r.kind,
        url: r.url,
        credential: CredentialWire {
            kind: Some(r.credential_type),
            access_key: Some(r.access_key),
            access_secret: None,
        },
        insecure: r.insecure,
        ca_certificate: Some(r.ca_certificate).filter(|c| !c.is_empty()),
        status: r.status,
        creation_time: rfc3339(r.created_at),
        update_time: rfc3339(r.updated_at),
    }
}

/// Harbor's `Registry` (POST), `RegistryPing` and `RegistryUpdate` in one: the flat
/// `credential_type`/`access_key`/`access_secret` of the latter two, or the nested
/// `credential` of the first.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RegistryReq {
    #[serde(default)]
    id: Option<i64>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    credential: Option<CredentialWire>,
    #[serde(default)]
    credential_type: Option<String>,
    #[serde(default)]
    access_key: Option<String>,
    #[serde(default)]
    access_secret: Option<String>,
    #[serde(default)]
    insecure: Option<bool>,
    #[serde(default)]
    ca_certificate: Option<String>,
    // Read-only fields a client may send back from a GET.
    #[serde(default, rename = "status")]
    _status: Option<IgnoredAny>,
    #[serde(default, rename = "self_target")]
    _self_target: Option<IgnoredAny>,
    #[serde(default, rename = "creation_time")]
    _creation_time: Option<IgnoredAny>,
    #[serde(default, rename = "update_time")]
    _update_time: Option<IgnoredAny>,
}

impl RegistryReq {
    fn input(self) -> RegistryInput {
        let credential = self.credential.unwrap_or_default();
        RegistryInput {
            name: self.name,
            description: self.description,
            kind: self.kind,
            url: self.url,
            credential_type: self.credential_type.or(credential.kind),
            access_key: self.access_key.or(credential.access_key),
            access_secret: self.access_secret.or(credential.access_secret),
            insecure: self.insecure,
            ca_certificate: self.ca_certificate,
        }
    }
}

pub(super) async fn list_registries(
    State(state): State<AppState>,
    _: SystemAdmin<ListRegistries>,
    query_pairs: QueryPairs,
) -> Result<Response, ApiError> {
    let page = Page::from_query(&query_pairs.0)?;
    let name = query(&query_pairs.0, "name").unwrap_or_default();
    let (rows, total) = state
        .replication
        .registries(name, page.offset(), page.limit())
        .await?;
    let ours = state.replication.instance_id().await?;
    let items: Vec<RegistryWire> = rows.into_iter().map(|r| registry_wire(r, &ours)).collect();
    Ok((
        page.headers(total as u64, "/api/v2.0/registries", &query_pairs.0),
        Json(items),
    )
        .into_response())
}

pub(super) async fn get_registry(
    State(state): State<AppState>,
    _: SystemAdmin<ReadRegistries>,
    Path(raw): Path<String>,
) -> Result<Json<RegistryWire>, ApiError> {
    let row = state.replication.registry(id(&raw, "id")?).await?;
    let ours = state.replication.instance_id().await?;
    Ok(Json(registry_wire(row, &ours)))
}

pub(super) async fn create_registry(
    State(state): State<AppState>,
    SystemAdmin(by, _): SystemAdmin<CreateRegistries>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<RegistryReq>,
) -> Result<Response, ApiError> {
    let input = req.input();
    let name = input.name.clone().unwrap_or_default();
    let created = state.replication.create_registry(&input).await;
    audited(
        &state,
        &by,
        &ip,
        "create",
        "registry",
        &name,
        created.is_ok(),
    );
    let id = created?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v2.0/registries/{id}"))],
    )
        .into_response())
}

pub(super) async fn update_registry(
    State(state): State<AppState>,
    SystemAdmin(by, _): SystemAdmin<UpdateRegistries>,
    ClientIp(ip): ClientIp,
    Path(raw): Path<String>,
    ApiJson(req): ApiJson<RegistryReq>,
) -> Result<StatusCode, ApiError> {
    let id = id(&raw, "id")?;
    let updated = state.replication.update_registry(id, &req.input()).await;
    audited(
        &state,
        &by,
        &ip,
        "update",
        "registry",
        &id.to_string(),
        updated.is_ok(),
    );
    updated?;
    Ok(StatusCode::OK)
}

pub(super) async fn delete_registry(
    State(state): State<AppState>,
    SystemAdmin(by, _): SystemAdmin<DeleteRegistries>,
    ClientIp(ip): ClientIp,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = id(&raw, "id")?;
    let deleted = state.replication.delete_registry(id).await;
    let what = deleted.as_ref().cloned().unwrap_or_else(|_| id.to_string());
    audited(
        &state,
        &by,
        &ip,
        "delete",
        "registry",
        &what,
        deleted.is_ok(),
    );
    deleted.map_err(|e| match e {
        // Harbor answers 412 for an endpoint that policies use.
        ReplicationError::Conflict(m) => ApiError::PreconditionFailed(m),
        other => other.into(),
    })?;
    Ok(StatusCode::OK)
}

/// Harbor answers a reachable endpoint with 200 and anything else with 400; Berth adds
/// what it learnt (the peer's instance id, and whether that is this very instance).
pub(super) async fn ping_registry(
    State(state): State<AppState>,
    _: SystemAdmin<CreateRegistries>,
    ApiJson(req): ApiJson<RegistryReq>,
) -> Result<Json<Value>, ApiError> {
    let id = req.id.filter(|i| *i > 0);
    let pinged = state.replication.ping(id, &req.input()).await?;
    Ok(Json(json!({
        "instance_id": pinged.instance_id,
        "self_target": pinged.is_self,
    })))
}

pub(super) async fn registry_info_handler(
    State(state): State<AppState>,
    _: SystemAdmin<ReadRegistries>,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let row = state.replication.registry(id(&raw, "id")?).await?;
    Ok(Json(registry_info(&row.kind)))
}

pub(super) async fn adapters(_: SystemAdmin<ListAdapters>) -> Json<Value> {
    Json(json!(["docker-registry", "harbor"]))
}

// ---- policies ----

/// A registry as a policy names it: `{"id": N}` (0 or absent is this registry).
#[derive(Deserialize)]
pub(super) struct RegistryRef {
    #[serde(default)]
    id: i64,
}

/// Harbor's `ReplicationPolicy` as sent.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PolicyReq {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    src_registry: Option<RegistryRef>,
    #[serde(default)]
    dest_registry: Option<RegistryRef>,
    #[serde(default)]
    dest_namespace: String,
    #[serde(default)]
    dest_namespace_replace_count: Option<i64>,
    #[serde(default)]
    trigger: Option<TriggerSpec>,
    #[serde(default)]
    filters: Option<Vec<Filter>>,
    #[serde(default)]
    replicate_deletion: Option<bool>,
    /// Harbor's deprecated name for `replicate_deletion`.
    #[serde(default)]
    deletion: Option<bool>,
    #[serde(default, rename = "override")]
    override_: bool,
    /// Absent is enabled (Harbor's Go zero value would silently make a disabled policy).
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    speed: Option<i64>,
    #[serde(default)]
    copy_by_chunk: Option<bool>,
    #[serde(default)]
    single_active_replication: Option<bool>,
    // Read-only fields a client may send back from a GET.
    #[serde(default, rename = "id")]
    _id: Option<IgnoredAny>,
    #[serde(default, rename = "creation_time")]
    _creation_time: Option<IgnoredAny>,
    #[serde(default, rename = "update_time")]
    _update_time: Option<IgnoredAny>,
}

impl PolicyReq {
    fn input(self) -> PolicyInput {
        let side = |r: Option<RegistryRef>| r.map(|r| r.id).filter(|id| *id > 0);
        PolicyInput {
            name: self.name,
            description: self.description,
            src_registry_id: side(self.src_registry),
            dest_registry_id: side(self.dest_registry),
            dest_namespace: self.dest_namespace,
            dest_namespace_replace_count: self.dest_namespace_replace_count,
            trigger: self.trigger,
            filters: self.filters.unwrap_or_default(),
            replicate_deletion: self.replicate_deletion.or(self.deletion).unwrap_or(false),
            override_: self.override_,
            enabled: self.enabled.unwrap_or(true),
            speed: self.speed,
            copy_by_chunk: self.copy_by_chunk.unwrap_or(false),
            single_active_replication: self.single_active_replication.unwrap_or(false),
        }
    }
}

async fn policy_wire(state: &AppState, p: PolicyRow) -> Result<Value, ApiError> {
    let ours = state.replication.instance_id().await?;
    let side = |id: Option<i64>| {
        let state = state.clone();
        let ours = ours.clone();
        async move {
            match id {
                Some(id) => state
                    .replication
                    .registry(id)
                    .await
                    .map(|r| json!(registry_wire(r, &ours))),
                // This registry, as Harbor shows it.
                None => Ok(
                    json!({"id": 0, "name": "Local", "type": "harbor", "url": "", "status": "healthy"}),
                ),
            }
        }
    };
    let src = side(p.src_registry_id).await?;
    let dst = side(p.dest_registry_id).await?;
    Ok(json!({
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "src_registry": src,
        "dest_registry": dst,
        "dest_namespace": p.dest_namespace,
        "dest_namespace_replace_count": p.dest_namespace_replace_count,
        "trigger": TriggerSpec {
            kind: p.trigger_type.clone(),
            trigger_settings: TriggerSettings { cron: p.trigger_cron.clone() },
        },
        "filters": filters(&p),
        "replicate_deletion": p.replicate_deletion,
        "deletion": p.replicate_deletion,
        "override": p.override_,
        "enabled": p.enabled,
        "speed": p.speed,
        "copy_by_chunk": p.copy_by_chunk,
        "single_active_replication": p.single_active_replication,
        "creation_time": rfc3339(p.created_at),
        "update_time": rfc3339(p.updated_at),
    }))
}

pub(super) async fn list_policies(
    State(state): State<AppState>,
    _: SystemAdmin<ListPolicies>,
    query_pairs: QueryPairs,
) -> Result<Response, ApiError> {
    let page = Page::from_query(&query_pairs.0)?;
    let name = query(&query_pairs.0, "name").unwrap_or_default();
    let (rows, total) = state
        .replication
        .policies(name, page.offset(), page.limit())
        .await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        items.push(policy_wire(&state, row).await?);
    }
    Ok((
        page.headers(
            total as u64,
            "/api/v2.0/replication/policies",
            &query_pairs.0,
        ),
        Json(items),
    )
        .into_response())
}

pub(super) async fn get_policy(
    State(state): State<AppState>,
    _: SystemAdmin<ReadPolicies>,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let p = state.replication.policy(id(&raw, "id")?).await?;
    Ok(Json(policy_wire(&state, p).await?))
}

pub(super) async fn create_policy(
    State(state): State<AppState>,
    SystemAdmin(by, _): SystemAdmin<CreatePolicies>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<PolicyReq>,
) -> Result<Response, ApiError> {
    let input = req.input();
    let created = state.replication.create_policy(&input).await;
    audited(
        &state,
        &by,
        &ip,
        "create",
        "replication-policy",
        &input.name,
        created.is_ok(),
    );
    let id = created?;
    Ok((
        StatusCode::CREATED,
        [(
            header::LOCATION,
            format!("/api/v2.0/replication/policies/{id}"),
        )],
    )
        .into_response())
}

pub(super) async fn update_policy(
    State(state): State<AppState>,
    SystemAdmin(by, _): SystemAdmin<UpdatePolicies>,
    ClientIp(ip): ClientIp,
    Path(raw): Path<String>,
    ApiJson(req): ApiJson<PolicyReq>,
) -> Result<StatusCode, ApiError> {
    let id = id(&raw, "id")?;
    let input = req.input();
    let updated = state.replication.update_policy(id, &input).await;
    audited(
        &state,
        &by,
        &ip,
        "update",
        "replication-policy",
        &input.name,
        updated.is_ok(),
    );
    updated?;
    Ok(StatusCode::OK)
}

pub(super) async fn delete_policy(
    State(state): State<AppState>,
    SystemAdmin(by, _): SystemAdmin<DeletePolicies>,
    ClientIp(ip): ClientIp,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = id(&raw, "id")?;
    let deleted = state.replication.delete_policy(id).await;
    let what = deleted.as_ref().cloned().unwrap_or_else(|_| id.to_string());
    audited(
        &state,
        &by,
        &ip,
        "delete",
        "replication-policy",
        &what,
        deleted.is_ok(),
    );
    deleted.map_err(|e| match e {
        ReplicationError::Conflict(m) => ApiError::PreconditionFailed(m),
        other => other.into(),
    })?;
    Ok(StatusCode::OK)
}

// ---- executions ----

/// Harbor's replication status for a job runner status.
fn harbor_status(status: &str) -> &'static str {
    match status {
        "Pending" | "Running" => "InProgress",
        "Success" => "Succeed",
        "Stopped" => "Stopped",
        _ => "Failed",
    }
}

fn harbor_trigger(triggered_by: &str) -> &'static str {
    match triggered_by {
        "schedule" => "scheduled",
        "event" => "event_based",
        _ => "manual",
    }
}

/// Harbor's `ReplicationExecution`, with Berth's byte counts and `retry_of`.
fn execution_wire(v: ExecutionView) -> Value {
    let e = &v.execution;
    let status_text = serde_json::from_str::<Value>(&e.result)
        .ok()
        .and_then(|r| r.get("error").and_then(|m| m.as_str()).map(str::to_string))
        .unwrap_or_default();
    json!({
        "id": e.id,
        "policy_id": v.policy_id,
        "status": harbor_status(&e.status),
        "status_text": status_text,
        "trigger": harbor_trigger(&e.triggered_by),
        "start_time": rfc3339(e.started_at.unwrap_or(e.created_at)),
        "end_time": e.ended_at.map(rfc3339),
        "total": v.counts.total,
        "failed": v.counts.failed,
        "succeed": v.counts.succeed,
        "in_progress": v.counts.in_progress + v.counts.pending,
        "stopped": v.counts.stopped,
        "bytes_total": v.counts.bytes_total,
        "bytes_done": v.counts.bytes_done,
    })
}

fn task_wire(t: TaskRow) -> Value {
    json!({
        "id": t.id,
        "execution_id": t.execution_id,
        "status": t.status,
        "job_id": format!("replication-task-{}", t.id),
        "operation": t.operation,
        "resource_type": t.resource_type,
        "src_resource": t.src_resource,
        "dst_resource": t.dst_resource,
        "start_time": t.start_time.map(rfc3339),
        "end_time": t.end_time.map(rfc3339),
        "attempts": t.attempts,
        "bytes_total": t.bytes_total,
        "bytes_done": t.bytes_done,
        "error": t.error,
    })
}

pub(super) async fn list_executions(
    State(state): State<AppState>,
    _: SystemAdmin<ListReplications>,
    query_pairs: QueryPairs,
) -> Result<Response, ApiError> {
    let page = Page::from_query(&query_pairs.0)?;
    let policy_id = match query(&query_pairs.0, "policy_id") {
        Some(raw) => Some(id(raw, "policy_id")?),
        None => None,
    };
    let filter = ExecutionFilter {
        policy_id,
        status: query(&query_pairs.0, "status").map(str::to_string),
        trigger: query(&query_pairs.0, "trigger").map(str::to_string),
    };
    let (rows, total) = state
        .replication
        .executions(&filter, page.offset(), page.limit())
        .await?;
    let items: Vec<Value> = rows.into_iter().map(execution_wire).collect();
    Ok((
        page.headers(
            total as u64,
            "/api/v2.0/replication/executions",
            &query_pairs.0,
        ),
        Json(items),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StartReq {
    policy_id: i64,
}

pub(super) async fn start_execution(
    State(state): State<AppState>,
    SystemAdmin(by, _): SystemAdmin<CreateReplications>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<StartReq>,
) -> Result<Response, ApiError> {
    let started = state.replication.start(req.policy_id).await;
    let what = match &started {
        Ok(e) => format!("execution {e} of policy {}", req.policy_id),
        Err(_) => format!("policy {}", req.policy_id),
    };
    audited(
        &state,
        &by,
        &ip,
        "create",
        "replication-execution",
        &what,
        started.is_ok(),
    );
    let e = started?;
    Ok((
        StatusCode::CREATED,
        [(
            header::LOCATION,
            format!("/api/v2.0/replication/executions/{e}"),
        )],
    )
        .into_response())
}

pub(super) async fn get_execution(
    State(state): State<AppState>,
    _: SystemAdmin<ReadReplications>,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let v = state.replication.execution(id(&raw, "id")?).await?;
    Ok(Json(execution_wire(v)))
}

pub(super) async fn stop_execution(
    State(state): State<AppState>,
    SystemAdmin(by, _): SystemAdmin<StopReplications>,
    ClientIp(ip): ClientIp,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = id(&raw, "id")?;
    let stopped = state.replication.stop(id).await;
    audited(
        &state,
        &by,
        &ip,
        "stop",
        "replication-execution",
        &id.to_string(),
        stopped.is_ok(),
    );
    stopped?;
    Ok(StatusCode::OK)
}

/// Berth's extension: run an ended execution's failed and stopped tasks again.
pub(super) async fn retry_execution(
    State(state): State<AppState>,
    SystemAdmin(by, _): SystemAdmin<CreateReplications>,
    ClientIp(ip): ClientIp,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = id(&raw, "id")?;
    let retried = state.replication.retry(id).await;
    audited(
        &state,
        &by,
        &ip,
        "retry",
        "replication-execution",
        &id.to_string(),
        retried.is_ok(),
    );
    Ok(Json(json!({"retried_tasks": retried?})))
}

pub(super) async fn list_tasks(
    State(state): State<AppState>,
    _: SystemAdmin<ReadReplications>,
    Path(raw): Path<String>,
    query_pairs: QueryPairs,
) -> Result<Response, ApiError> {
    let id = id(&raw, "id")?;
    let page = Page::from_query(&query_pairs.0)?;
    let status = query(&query_pairs.0, "status").map(str::to_string);
    let (rows, total) = state
        .replication
        .tasks(id, status, page.offset(), page.limit())
        .await?;
    let items: Vec<Value> = rows.into_iter().map(task_wire).collect();
    Ok((
        page.headers(
            total as u64,
            &format!("/api/v2.0/replication/executions/{id}/tasks"),
            &query_pairs.0,
        ),
        Json(items),
    )
        .into_response())
}

pub(super) async fn task_log(
    State(state): State<AppState>,
    _: SystemAdmin<ReadReplications>,
    Path((raw, raw_task)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let text = state
        .replication
        .task_log(id(&raw, "id")?, id(&raw_task, "task_id")?)
        .await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}
