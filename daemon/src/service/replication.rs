//! Replication as the API sees it: endpoints (Harbor's "registries", their credentials sealed
//! and never shown), policies and their checks, executions (start, stop, retry the failed
//! tasks by hand), tasks and their logs. The copying is `crate::replication`, timing the job
//! runner's. Every id is checked to be of the kind asked for, so an execution id never reaches
//! another job's execution.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::db::jobs::ExecutionRow;
use crate::db::replication::{self as q, PolicyRow, RegistryRow, TaskCounts, TaskRow};
use crate::db::{self, Db, DbError};
use crate::jobs::{JobError, Jobs, Schedule, ScheduleType, Trigger};
use crate::names::{valid_project_name, RepoName};
use crate::replication::policy::{self, Filter, Selection, TriggerKind, TriggerSpec};
use crate::replication::remote::{EndpointKind, Remote, RemoteError};
use crate::replication::{endpoint, lane, Parameters, REPLICATION};
use crate::secrets::SealingKey;

#[derive(Debug, thiserror::Error)]
pub enum ReplicationError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The endpoint could not be reached or refused the credentials (Harbor answers a failed
    /// ping with 400).
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    Internal(String),
}

impl From<DbError> for ReplicationError {
    fn from(e: DbError) -> Self {
        ReplicationError::Internal(e.to_string())
    }
}

impl From<JobError> for ReplicationError {
    fn from(e: JobError) -> Self {
        match e {
            JobError::Invalid(m) => ReplicationError::Invalid(m),
            JobError::NotFound => ReplicationError::NotFound("no such execution".into()),
            other => ReplicationError::Internal(other.to_string()),
        }
    }
}

type Result<T> = std::result::Result<T, ReplicationError>;

/// An endpoint as a caller describes it (Harbor's `Registry`, `RegistryPing` and
/// `RegistryUpdate` merged: every field optional here, required ones checked).
#[derive(Debug, Clone, Default)]
pub struct RegistryInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub kind: Option<String>,
    pub url: Option<String>,
    pub credential_type: Option<String>,
    pub access_key: Option<String>,
    pub access_secret: Option<String>,
    pub insecure: Option<bool>,
    pub ca_certificate: Option<String>,
}

/// What a ping learnt.
#[derive(Debug, Clone)]
pub struct PingResult {
    /// The Berth instance id the endpoint answered with, if it is a Berth.
    pub instance_id: Option<String>,
    /// It is this very instance.
    pub is_self: bool,
}

/// A policy as a caller describes it (Harbor's `ReplicationPolicy`).
#[derive(Debug, Clone, Default)]
pub struct PolicyInput {
    pub name: String,
    pub description: String,
    pub src_registry_id: Option<i64>,
    pub dest_registry_id: Option<i64>,
    pub dest_namespace: String,
    pub dest_namespace_replace_count: Option<i64>,
    pub trigger: Option<TriggerSpec>,
    pub filters: Vec<Filter>,
    pub replicate_deletion: bool,
    pub override_: bool,
    pub enabled: bool,
    pub speed: Option<i64>,
    pub copy_by_chunk: bool,
    pub single_active_replication: bool,
}

/// An execution with its tasks' counts.
#[derive(Debug, Clone)]
pub struct ExecutionView {
    pub execution: ExecutionRow,
    pub policy_id: i64,
    pub counts: TaskCounts,
}

/// Executions filtered as Harbor's list allows.
#[derive(Debug, Clone, Default)]
pub struct ExecutionFilter {
    pub policy_id: Option<i64>,
    /// Harbor's replication statuses: `InProgress`, `Succeed`, `Failed`, `Stopped`.
    pub status: Option<String>,
    /// `manual`, `scheduled`, `event_based`.
    pub trigger: Option<String>,
}

#[derive(Clone)]
pub struct ReplicationService {
    db: Db,
    jobs: Jobs,
    data_dir: PathBuf,
    /// Read once: it never changes.
    instance: std::sync::Arc<tokio::sync::OnceCell<String>>,
}

/// How long a ping from the API may take (a caller is waiting).
const PING_TIMEOUT: Duration = Duration::from_secs(15);
const MAX_NAME: usize = 255;
const MAX_CA_BYTES: usize = 64 * 1024;

impl ReplicationService {
    pub fn new(db: Db, jobs: Jobs, data_dir: PathBuf) -> ReplicationService {
        ReplicationService {
            db,
            jobs,
            data_dir,
            instance: Default::default(),
        }
    }

    fn key(&self) -> Result<SealingKey> {
        crate::settings::sealing_key(&self.data_dir)
            .map_err(|e| ReplicationError::Internal(e.to_string()))
    }

    /// This instance's id: random, made with the database, shown to peers on `/v2/`.
    pub async fn instance_id(&self) -> Result<String> {
        let db = self.db.clone();
        Ok(self
            .instance
            .get_or_try_init(|| async move { db.read(q::instance_id).await })
            .await?
            .clone())
    }

    // ---- endpoints ----

    pub async fn registries(
        &self,
        name: &str,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<RegistryRow>, i64)> {
        let name = name.to_string();
        Ok(self
            .db
            .read(move |c| q::registries(c, &name, offset, limit))
            .await?)
    }

    pub async fn registry(&self, id: i64) -> Result<RegistryRow> {
        self.db
            .read(move |c| q::registry(c, id))
            .await?
            .ok_or_else(|| ReplicationError::NotFound(format!("no registry with id {id}")))
    }

    /// A stored endpoint changed by `input` (or a new one), checked whole.
    fn merged(&self, base: Option<&RegistryRow>, input: &RegistryInput) -> Result<RegistryRow> {
        let mut row = base.cloned().unwrap_or(RegistryRow {
            id: 0,
            name: String::new(),
            description: String::new(),
            kind: String::new(),
            url: String::new(),
            credential_type: "basic".into(),
            access_key: String::new(),
            access_secret: String::new(),
            insecure: false,
            ca_certificate: String::new(),
            status: "unknown".into(),
            peer_instance: String::new(),
            created_at: 0,
            updated_at: 0,
        });
        let (url_before, insecure_before, ca_before) =
            (row.url.clone(), row.insecure, row.ca_certificate.clone());
        if let Some(v) = &input.name {
            row.name = v.trim().to_string();
        }
        if let Some(v) = &input.description {
            row.description = v.clone();
        }
        if let Some(v) = &input.kind {
            row.kind = v.clone();
        }
        if let Some(v) = &input.url {
            row.url = normalise_url(v)?;
        }
        if let Some(v) = &input.credential_type {
            row.credential_type = v.clone();
        }
        if let Some(v) = &input.access_key {
            row.access_key = v.clone();
        }
        if let Some(v) = &input.insecure {
            row.insecure = *v;
        }
        if let Some(v) = &input.ca_certificate {
            row.ca_certificate = v.trim().to_string();
        }
        if row.name.is_empty() || row.name.len() > MAX_NAME {
            return Err(ReplicationError::Invalid(format!(
                "name must hold 1 to {MAX_NAME} characters"
            )));
        }
        if row.description.len() > 1024 {
            return Err(ReplicationError::Invalid(
                "description must hold at most 1024 characters".into(),
            ));
        }
        if EndpointKind::parse(&row.kind).is_none() {
            return Err(ReplicationError::Invalid(format!(
                "type {:?} is not one of harbor, docker-registry (see GET /replication/adapters)",
                row.kind
            )));
        }
        if row.url.is_empty() {
            return Err(ReplicationError::Invalid("url is required".into()));
        }
        if !matches!(row.credential_type.as_str(), "basic" | "") {
            return Err(ReplicationError::Invalid(format!(
                "credential type {:?} is not supported: use basic",
                row.credential_type
            )));
        }
        if row.access_key.len() > MAX_NAME {
            return Err(ReplicationError::Invalid("access_key is too long".into()));
        }
        if !row.ca_certificate.is_empty()
            && (row.ca_certificate.len() > MAX_CA_BYTES
                || reqwest::Certificate::from_pem_bundle(row.ca_certificate.as_bytes())
                    .map_or(true, |c| c.is_empty()))
        {
            return Err(ReplicationError::Invalid(
                "ca_certificate is not a PEM certificate".into(),
            ));
        }
        match &input.access_secret {
            Some(secret) if secret.len() > 4096 => {
                return Err(ReplicationError::Invalid("access_secret is too long".into()))
            }
            Some(secret) if secret.is_empty() => row.access_secret = String::new(),
            Some(secret) => row.access_secret = self.key()?.seal(secret),
            // The saved secret is never sent to a URL it was not given for.
            None if base.is_some()
                && !row.access_secret.is_empty()
                && (row.url != url_before
                    || (row.insecure && !insecure_before)
                    || row.ca_certificate != ca_before) =>
            {
                return Err(ReplicationError::Invalid(
                    "the url or the certificate checks changed: give access_secret again, so the saved one never goes where it was not meant to".into(),
                ))
            }
            None => {}
        }
        Ok(row)
    }

    /// Reaches an endpoint with `row`'s settings: its status and whether it is this instance.
    async fn reach(&self, row: &RegistryRow) -> Result<PingResult> {
        let ours = self.instance_id().await?;
        let remote = Remote::new(
            endpoint(row, &self.key()?).map_err(ReplicationError::Invalid)?,
            &ours,
        )
        .map_err(|e| ReplicationError::Invalid(e.to_string()))?;
        let pinged = tokio::time::timeout(PING_TIMEOUT, remote.ping())
            .await
            .map_err(|_| {
                ReplicationError::Unreachable(format!("{}: no answer within 15 s", row.url))
            })?;
        let (instance_id, reached) = pinged;
        let is_self = instance_id.as_deref() == Some(ours.as_str());
        match reached {
            // Itself, whatever the credentials: that is what matters about it.
            _ if is_self => Ok(PingResult {
                instance_id,
                is_self,
            }),
            Ok(()) => Ok(PingResult {
                instance_id,
                is_self,
            }),
            Err(RemoteError::Auth(m)) => Err(ReplicationError::Unreachable(format!(
                "the registry refused the credentials: {m}"
            ))),
            Err(e) => Err(ReplicationError::Unreachable(format!(
                "cannot reach the registry: {e}"
            ))),
        }
    }

    /// Harbor's `POST /registries/ping`: a stored endpoint (by id, changed by the other
    /// fields) or a new one, tried without saving anything.
    pub async fn ping(&self, id: Option<i64>, input: &RegistryInput) -> Result<PingResult> {
        let base = match id {
            Some(id) => Some(self.registry(id).await?),
            None => None,
        };
        let mut input = input.clone();
        if input.name.is_none() {
            input.name = Some(
                base.as_ref()
                    .map(|b| b.name.clone())
                    .unwrap_or_else(|| "ping".into()),
            );
        }
        let row = self.merged(base.as_ref(), &input)?;
        self.reach(&row).await
    }

    /// Saves a new endpoint, then reaches it to learn its status and whether it is this very
    /// instance (flagged; policies towards it are refused). An endpoint that cannot be
    /// reached is saved `unhealthy`: its peer may come up later.
    pub async fn create_registry(&self, input: &RegistryInput) -> Result<i64> {
        let mut row = self.merged(None, input)?;
        let reached = self.reach(&row).await;
        set_reach(&mut row, &reached);
        let now = db::now();
        self.db
            .write(move |tx| {
                if q::registry_by_name(tx, &row.name)?.is_some() {
                    return Err(ReplicationError::Conflict(format!(
                        "a registry named {:?} already exists",
                        row.name
                    )));
                }
                Ok(q::insert_registry(tx, &row, now)?)
            })
            .await
    }

    pub async fn update_registry(&self, id: i64, input: &RegistryInput) -> Result<()> {
        let base = self.registry(id).await?;
        let mut row = self.merged(Some(&base), input)?;
        let reached = self.reach(&row).await;
        set_reach(&mut row, &reached);
        self.db
            .write(move |tx| {
                if q::registry_by_name(tx, &row.name)?.is_some_and(|other| other.id != id) {
                    return Err(ReplicationError::Conflict(format!(
                        "a registry named {:?} already exists",
                        row.name
                    )));
                }
                q::update_registry(tx, &row, db::now())?;
                Ok(())
            })
            .await
    }

    /// Deletes an endpoint no policy uses (Harbor answers 412 otherwise; so does Berth).
    pub async fn delete_registry(&self, id: i64) -> Result<String> {
        self.db
            .write(move |tx| {
                let row = q::registry(tx, id)?
                    .ok_or_else(|| ReplicationError::NotFound(format!("no registry with id {id}")))?;
                let users = q::policies_using(tx, id)?;
                if !users.is_empty() {
                    return Err(ReplicationError::Conflict(format!(
                        "registry {:?} is used by the replication policies {}: delete or change them first",
                        row.name,
                        users.join(", ")
                    )));
                }
                q::delete_registry(tx, id)?;
                Ok(row.name)
            })
            .await
    }

    // ---- policies ----

    pub async fn policies(
        &self,
        name: &str,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<PolicyRow>, i64)> {
        let name = name.to_string();
        Ok(self
            .db
            .read(move |c| q::policies(c, &name, offset, limit))
            .await?)
    }

    pub async fn policy(&self, id: i64) -> Result<PolicyRow> {
        self.db
            .read(move |c| q::policy(c, id))
            .await?
            .ok_or_else(|| {
                ReplicationError::NotFound(format!("no replication policy with id {id}"))
            })
    }

    /// A policy's checks: one endpoint on one side, the endpoint exists and is not this
    /// instance, filters, trigger and flattening valid.
    async fn checked(&self, id: i64, input: &PolicyInput) -> Result<PolicyRow> {
        let name = input.name.trim().to_string();
        if name.is_empty() || name.len() > MAX_NAME {
            return Err(ReplicationError::Invalid(format!(
                "name must hold 1 to {MAX_NAME} characters"
            )));
        }
        let registry_id = match (input.src_registry_id, input.dest_registry_id) {
            (Some(s), None) => s,
            (None, Some(d)) => d,
            (Some(_), Some(_)) => {
                return Err(ReplicationError::Invalid(
                    "give src_registry (pull-based) or dest_registry (push-based), not both: one side is always this registry".into(),
                ))
            }
            (None, None) => {
                return Err(ReplicationError::Invalid(
                    "give src_registry (pull-based) or dest_registry (push-based)".into(),
                ))
            }
        };
        let endpoint = self
            .db
            .read(move |c| q::registry(c, registry_id))
            .await?
            .ok_or_else(|| {
                ReplicationError::Invalid(format!("no registry with id {registry_id}"))
            })?;
        // The stored flag, refreshed when the endpoint answers now.
        let is_self = match self.reach(&endpoint).await {
            Ok(p) => p.is_self,
            Err(_) => endpoint.peer_instance == self.instance_id().await?,
        };
        if is_self {
            return Err(ReplicationError::Invalid(format!(
                "registry {:?} ({}) is this very instance: replicating to it would loop",
                endpoint.name, endpoint.url
            )));
        }
        Selection::compile(&input.filters).map_err(ReplicationError::Invalid)?;
        let trigger =
            TriggerKind::parse(input.trigger.as_ref()).map_err(ReplicationError::Invalid)?;
        if trigger == TriggerKind::EventBased && input.src_registry_id.is_some() {
            return Err(ReplicationError::Invalid(
                "an event_based trigger needs a push-based policy: events happen here".into(),
            ));
        }
        let namespace = input.dest_namespace.trim().to_string();
        if !namespace.is_empty()
            && (RepoName::parse(&format!("{namespace}/x")).is_err()
                || !valid_project_name(namespace.split('/').next().unwrap_or_default()))
        {
            return Err(ReplicationError::Invalid(format!(
                "dest_namespace {namespace:?} is not a valid project or namespace name"
            )));
        }
        let count = input.dest_namespace_replace_count.unwrap_or(-1);
        if !(-1..=16).contains(&count) {
            return Err(ReplicationError::Invalid(
                "dest_namespace_replace_count must be from -1 (flatten all) to 16".into(),
            ));
        }
        let speed = input.speed.unwrap_or(-1);
        if speed < -1 {
            return Err(ReplicationError::Invalid(
                "speed is in KB/s: -1 or 0 for no limit".into(),
            ));
        }
        Ok(PolicyRow {
            id,
            name,
            description: input.description.clone(),
            src_registry_id: input.src_registry_id,
            dest_registry_id: input.dest_registry_id,
            dest_namespace: namespace,
            dest_namespace_replace_count: count,
            filters: serde_json::to_string(&input.filters).unwrap_or_else(|_| "[]".into()),
            trigger_type: trigger.as_str().into(),
            trigger_cron: trigger.cron().into(),
            replicate_deletion: input.replicate_deletion,
            override_: input.override_,
            enabled: input.enabled,
            speed,
            copy_by_chunk: input.copy_by_chunk,
            single_active_replication: input.single_active_replication,
            created_at: 0,
            updated_at: 0,
        })
    }

    /// A scheduled, enabled policy has a schedule on the job runner; any other has none.
    async fn sync_schedule(&self, p: &PolicyRow) -> Result<()> {
        let key = lane(p.id);
        if p.enabled && p.trigger_type == "scheduled" {
            let parameters = serde_json::to_value(Parameters::of(p))
                .map_err(|e| ReplicationError::Internal(e.to_string()))?;
            self.jobs
                .set_lane_schedule(
                    &key,
                    REPLICATION,
                    &Schedule {
                        kind: ScheduleType::Custom,
                        cron: p.trigger_cron.clone(),
                    },
                    parameters,
                )
                .await?;
        } else {
            self.jobs.remove_schedule(&key).await?;
        }
        Ok(())
    }

    pub async fn create_policy(&self, input: &PolicyInput) -> Result<i64> {
        let row = self.checked(0, input).await?;
        let id = self
            .db
            .write(move |tx| {
                if q::policy_by_name(tx, &row.name)?.is_some() {
                    return Err(ReplicationError::Conflict(format!(
                        "a replication policy named {:?} already exists",
                        row.name
                    )));
                }
                Ok(q::insert_policy(tx, &row, db::now())?)
            })
            .await?;
        self.sync_schedule(&self.policy(id).await?).await?;
        Ok(id)
    }

    pub async fn update_policy(&self, id: i64, input: &PolicyInput) -> Result<()> {
        self.policy(id).await?;
        let row = self.checked(id, input).await?;
        let stored = row.clone();
        self.db
            .write(move |tx| {
                if q::policy_by_name(tx, &row.name)?.is_some_and(|other| other.id != id) {
                    return Err(ReplicationError::Conflict(format!(
                        "a replication policy named {:?} already exists",
                        row.name
                    )));
                }
                q::update_policy(tx, &row, db::now())?;
                Ok(())
            })
            .await?;
        self.sync_schedule(&stored).await
    }

    /// Deletes a policy with its finished executions; refused while one runs or waits.
    pub async fn delete_policy(&self, id: i64) -> Result<String> {
        let policy = self.policy(id).await?;
        let key = lane(id);
        self.db
            .write(move |tx| {
                if !crate::db::jobs::delete_lane(tx, &key)? {
                    return Err(ReplicationError::Conflict(format!(
                        "replication policy {:?} has an execution in progress: stop it first",
                        policy.name
                    )));
                }
                crate::db::jobs::remove_schedule(tx, &key)?;
                q::delete_policy(tx, id)?;
                Ok(policy.name)
            })
            .await
    }

    // ---- executions ----

    /// Starts an execution of an enabled policy now.
    pub async fn start(&self, policy_id: i64) -> Result<i64> {
        let policy = self
            .db
            .read(move |c| q::policy(c, policy_id))
            .await?
            .ok_or_else(|| {
                ReplicationError::Invalid(format!("no replication policy with id {policy_id}"))
            })?;
        if !policy.enabled {
            return Err(ReplicationError::Invalid(format!(
                "replication policy {:?} is disabled: enable it first",
                policy.name
            )));
        }
        let parameters = serde_json::to_value(Parameters::of(&policy))
            .map_err(|e| ReplicationError::Internal(e.to_string()))?;
        Ok(self
            .jobs
            .submit_in_lane(REPLICATION, &lane(policy_id), Trigger::Manual, parameters)
            .await?)
    }

    async fn execution_row(&self, id: i64) -> Result<ExecutionRow> {
        match self.jobs.execution(id).await {
            Ok(e) if e.kind == REPLICATION => Ok(e),
            Ok(_) | Err(JobError::NotFound) => Err(ReplicationError::NotFound(format!(
                "no replication execution with id {id}"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    async fn view(&self, e: ExecutionRow) -> Result<ExecutionView> {
        let id = e.id;
        let counts = self.db.read(move |c| q::counts(c, id)).await?;
        let policy_id = serde_json::from_str::<Parameters>(&e.parameters)
            .map(|p| p.policy_id)
            .unwrap_or_default();
        Ok(ExecutionView {
            execution: e,
            policy_id,
            counts,
        })
    }

    pub async fn execution(&self, id: i64) -> Result<ExecutionView> {
        let e = self.execution_row(id).await?;
        self.view(e).await
    }

    pub async fn executions(
        &self,
        filter: &ExecutionFilter,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<ExecutionView>, i64)> {
        let statuses: Vec<&'static str> = match filter.status.as_deref() {
            None | Some("") => Vec::new(),
            Some("InProgress") => vec!["Pending", "Running"],
            Some("Succeed") => vec!["Success"],
            Some("Failed") => vec!["Error"],
            Some("Stopped") => vec!["Stopped"],
            Some(other) => {
                return Err(ReplicationError::Invalid(format!(
                    "status {other:?} is not one of InProgress, Succeed, Failed, Stopped"
                )))
            }
        };
        let trigger: Option<&'static str> = match filter.trigger.as_deref() {
            None | Some("") => None,
            Some("manual") => Some("manual"),
            Some("scheduled") => Some("schedule"),
            Some("event_based") => Some("event"),
            Some(other) => {
                return Err(ReplicationError::Invalid(format!(
                    "trigger {other:?} is not one of manual, scheduled, event_based"
                )))
            }
        };
        let lane = filter.policy_id.map(lane);
        let (rows, total) = self
            .db
            .read(move |c| {
                crate::db::jobs::page_in_lanes(
                    c,
                    REPLICATION,
                    lane.as_deref(),
                    &statuses,
                    trigger,
                    offset,
                    limit,
                )
            })
            .await?;
        let mut views = Vec::with_capacity(rows.len());
        for row in rows {
            views.push(self.view(row).await?);
        }
        Ok((views, total))
    }

    /// Asks an execution to stop; what it copied stays.
    pub async fn stop(&self, id: i64) -> Result<()> {
        self.execution_row(id).await?;
        if self.jobs.stop(id).await? {
            Ok(())
        } else {
            Err(ReplicationError::Conflict(format!(
                "replication execution {id} has already ended"
            )))
        }
    }

    /// Berth's extension (Harbor cannot, goharbor/harbor#18021): an ended execution's failed
    /// and stopped tasks run again, in the same execution, which then reports the truth.
    pub async fn retry(&self, id: i64) -> Result<usize> {
        let e = self.execution_row(id).await?;
        if matches!(e.status.as_str(), "Pending" | "Running") {
            return Err(ReplicationError::Conflict(format!(
                "replication execution {id} is still in progress"
            )));
        }
        if e.status == "Success" {
            return Err(ReplicationError::Conflict(format!(
                "replication execution {id} succeeded: nothing to retry"
            )));
        }
        // Queued again and its tasks reset in one transaction: a second retry at the same
        // moment finds it in progress and changes nothing.
        self.db
            .write(move |tx| {
                let now = db::now();
                if !crate::db::jobs::requeue(tx, id, now)? {
                    return Err(ReplicationError::Conflict(format!(
                        "replication execution {id} is in progress"
                    )));
                }
                Ok(q::retry_failed(tx, id, now)?)
            })
            .await
    }

    pub async fn tasks(
        &self,
        execution: i64,
        status: Option<String>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<TaskRow>, i64)> {
        self.execution_row(execution).await?;
        if let Some(s) = &status {
            if !["Pending", "InProgress", "Succeed", "Failed", "Stopped"].contains(&s.as_str()) {
                return Err(ReplicationError::Invalid(format!(
                    "status {s:?} is not one of Pending, InProgress, Succeed, Failed, Stopped"
                )));
            }
        }
        Ok(self
            .db
            .read(move |c| q::tasks(c, execution, status.as_deref(), offset, limit))
            .await?)
    }

    /// One task of an execution.
    pub async fn task(&self, execution: i64, task: i64) -> Result<TaskRow> {
        self.execution_row(execution).await?;
        self.db
            .read(move |c| q::task(c, task))
            .await?
            .filter(|t| t.execution_id == execution)
            .ok_or_else(|| {
                ReplicationError::NotFound(format!("execution {execution} has no task {task}"))
            })
    }

    /// A task's log; the task must belong to the execution named.
    pub async fn task_log(&self, execution: i64, task: i64) -> Result<String> {
        self.execution_row(execution).await?;
        let found = self.db.read(move |c| q::task(c, task)).await?;
        if found.is_none_or(|t| t.execution_id != execution) {
            return Err(ReplicationError::NotFound(format!(
                "execution {execution} has no task {task}"
            )));
        }
        let mut text = String::new();
        for (at, line) in self.db.read(move |c| q::task_log(c, task)).await? {
            text.push_str(&crate::api::rfc3339(at));
            text.push(' ');
            text.push_str(&line);
            text.push('\n');
        }
        Ok(text)
    }
}

/// Something that happened here that event-based policies may replicate.
#[derive(Debug, Clone)]
pub struct Event {
    pub repository: String,
    pub tag: String,
    pub digest: String,
    pub deleted: bool,
    /// The instance the change came from, when a replicating peer made it (and was allowed
    /// to say so): it is not sent back there.
    pub origin: Option<String>,
}

/// The instance a change says it came from (the `Berth-Replication-Origin` header a
/// replicating Berth sends), believed only from a caller who may run replication here
/// (a system administrator, or a system robot granted `replication:create`): anyone else
/// could use it to keep their own push from being replicated.
pub fn trusted_origin(by: &crate::auth::Principal, header: Option<&str>) -> Option<String> {
    use crate::auth::permissions::{Operation, Resource};
    let origin = header?.trim();
    let well_formed = !origin.is_empty()
        && origin.len() <= 64
        && origin
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    (well_formed && by.may_system(Resource::Replication, Operation::Create))
        .then(|| origin.to_string())
}

impl ReplicationService {
    /// Queues the event for every enabled event-based policy that selects it: the event is
    /// recorded once per policy (a repeat counts once), and the policy's lane gets one
    /// waiting execution if it has none, which takes every event waiting when it plans. A
    /// burst of pushes makes one execution per policy, each event costing one small write.
    /// A policy towards this instance, or back to where the change came from, is skipped.
    /// Runs in the background; the push or delete never waits for it.
    pub fn on_event(&self, event: Event) {
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(e) = this.queue_event(&event).await {
                tracing::warn!(repository = %event.repository, error = %e, "an event could not be queued for replication");
            }
        });
    }

    /// [`Self::on_event`]'s work; returns how many policies took the event.
    pub async fn queue_event(&self, event: &Event) -> Result<usize> {
        let policies = self.db.read(q::event_policies).await?;
        if policies.is_empty() {
            return Ok(0);
        }
        let ours = self.instance_id().await?;
        let mut queued = 0;
        for p in policies {
            if event.deleted && !p.replicate_deletion {
                continue;
            }
            let Ok(selection) = Selection::compile(&filters(&p)) else {
                continue;
            };
            if !selection.repository(&event.repository)
                || (!event.tag.is_empty() && selection.tags([&event.tag]).is_empty())
            {
                continue;
            }
            let Some(dest) = p.dest_registry_id else {
                continue;
            };
            let Some(endpoint) = self.db.read(move |c| q::registry(c, dest)).await? else {
                continue;
            };
            if !endpoint.peer_instance.is_empty() {
                if endpoint.peer_instance == ours {
                    tracing::warn!(policy = %p.name, endpoint = %endpoint.name, "skipped: the endpoint is this very instance");
                    continue;
                }
                if event.origin.as_deref() == Some(endpoint.peer_instance.as_str()) {
                    tracing::debug!(policy = %p.name, repository = %event.repository, "not sent back where it came from");
                    continue;
                }
            }
            let row = q::EventRow {
                repository: event.repository.clone(),
                tag: event.tag.clone(),
                digest: event.digest.clone(),
                deleted: event.deleted,
            };
            let (key, base, policy_id) = (lane(p.id), Parameters::of(&p), p.id);
            self.db
                .write(move |tx| {
                    let now = db::now();
                    q::insert_event(tx, policy_id, &row, now)?;
                    if crate::db::jobs::pending_in_lane(tx, &key, "event")?.is_none() {
                        let params = Parameters {
                            events: true,
                            ..base
                        };
                        let text = serde_json::to_string(&params)
                            .map_err(|e| DbError::Worker(e.to_string()))?;
                        crate::db::jobs::insert_in_lane(
                            tx,
                            REPLICATION,
                            Some(&key),
                            Trigger::Event.as_str(),
                            &text,
                            None,
                            now,
                        )?;
                    }
                    Ok::<_, DbError>(())
                })
                .await?;
            queued += 1;
        }
        Ok(queued)
    }
}

fn set_reach(row: &mut RegistryRow, reached: &Result<PingResult>) {
    match reached {
        Ok(p) => {
            row.status = "healthy".into();
            row.peer_instance = p.instance_id.clone().unwrap_or_default();
        }
        Err(_) => row.status = "unhealthy".into(),
    }
}

/// `scheme://host[:port]` exactly: no credentials, path, query or fragment (Berth adds the
/// paths itself; a path would be ambiguous).
fn normalise_url(raw: &str) -> Result<String> {
    let raw = raw.trim();
    let bad = |why: &str| ReplicationError::Invalid(format!("url {raw:?}: {why}"));
    if raw.contains(['\\', ' ']) {
        return Err(bad("give only scheme, host and port"));
    }
    let url = url::Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("must start with http:// or https://"));
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad("has no host"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("give credentials in credential, not in the url"));
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(bad(
            "give only scheme, host and port (no path, query or fragment)",
        ));
    }
    Ok(match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    })
}

/// What `GET /registries/{id}/info` reports for every endpoint type.
pub fn registry_info(kind: &str) -> Value {
    serde_json::json!({
        "type": kind,
        "description": match kind {
            "harbor" => "Harbor's REST API and the OCI distribution API (Berth is one)",
            _ => "A registry with only the OCI distribution API (CNCF Distribution, zot, ...)",
        },
        "supported_resource_filters": [
            {"type": "name", "style": "input"},
            {"type": "tag", "style": "input"},
            {"type": "resource", "style": "radio", "values": ["image", "artifact"]},
        ],
        "supported_triggers": ["manual", "scheduled", "event_based"],
        "supported_copy_by_chunk": true,
    })
}

/// A policy's filters, as stored.
pub fn filters(p: &PolicyRow) -> Vec<Filter> {
    serde_json::from_str(&p.filters).unwrap_or_default()
}

/// Harbor's `dest_namespace` flattening, for the portal's preview.
pub fn preview(p: &PolicyRow, repository: &str) -> std::result::Result<String, String> {
    policy::destination(
        repository,
        &p.dest_namespace,
        p.dest_namespace_replace_count,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_is_believed_only_from_who_may_replicate() {
        use crate::auth::Principal;
        let admin = Principal::User {
            id: 1,
            username: "admin".into(),
            sysadmin: true,
        };
        let someone = Principal::User {
            id: 2,
            username: "dev".into(),
            sysadmin: false,
        };
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(trusted_origin(&admin, Some(id)).as_deref(), Some(id));
        assert_eq!(trusted_origin(&someone, Some(id)), None);
        assert_eq!(trusted_origin(&admin, Some("a b")), None);
        assert_eq!(trusted_origin(&admin, None), None);
    }

    #[test]
    fn urls_are_scheme_host_port_only() {
        assert_eq!(
            normalise_url("https://r.example:8443/").expect("ok"),
            "https://r.example:8443"
        );
        assert_eq!(
            normalise_url(" http://127.0.0.1:5000").expect("ok"),
            "http://127.0.0.1:5000"
        );
        for bad in [
            "ftp://x",
            "https://",
            "https://u:p@x",
            "https://x/path",
            "https://x?q=1",
            "x.example",
        ] {
            assert!(normalise_url(bad).is_err(), "{bad}");
        }
    }
}
