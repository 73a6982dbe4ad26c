//! Replication, a job (`REPLICATION`) on the job runner: copying artifacts between this
//! registry and another, by Harbor's policies (push-based: here → an endpoint; pull-based: an
//! endpoint → here).
//!
//! An execution first plans: it lists what the policy selects and stores one task per
//! artifact (with the tags it carries), all in one transaction. Then it runs the tasks that
//! are not finished, a few at a time. Tasks and their progress live in SQLite, so an execution
//! interrupted by a crash resumes as itself (the job resumes in place): finished tasks stay
//! finished, and a task that was in progress runs again, which is safe because a copy skips
//! whatever the destination already has and writes a manifest only after all it references.
//! An execution succeeds only when every task did; failed tasks can be retried by hand.
//!
//! `policy` is the pure model (filters, flattening, triggers), `remote` the HTTP client,
//! `side` the two ends, `copy` one artifact's copy. The API's view is
//! `service::replication`; SQL is in `db::replication`.

pub mod copy;
pub mod policy;
pub mod remote;
pub mod side;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::audit::Entry;
use crate::db::replication::{self as q, NewTask, PolicyRow, RegistryRow, TaskRow};
use crate::db::{self, Db, DbError};
use crate::jobs::{Job, JobContext, MAX_LOG_LINES};
use crate::secrets::SealingKey;
use copy::{Copy, CopySettings, Limiter, Progress};
use policy::Selection;
use remote::{Endpoint, EndpointKind, Remote, RemoteError};
use side::{Local, Side};

pub const REPLICATION: &str = "REPLICATION";

/// The lane (and schedule key) of a policy's executions: one runs at a time per policy.
pub fn lane(policy_id: i64) -> String {
    format!("{REPLICATION}/{policy_id}")
}

/// Tasks stored per transaction while planning (the writer is shared with pushes).
const PLAN_BATCH: usize = 500;
/// Events one execution takes; more wait for the next one.
const EVENTS_PER_EXECUTION: i64 = 10_000;

impl Parameters {
    /// An execution of `policy`, as it stands now.
    pub fn of(policy: &PolicyRow) -> Parameters {
        Parameters {
            policy_id: policy.id,
            registry_id: policy.src_registry_id.or(policy.dest_registry_id),
            pull: Some(policy.src_registry_id.is_some()),
            ..Default::default()
        }
    }
}

/// How replication runs, from `[replication]` in berth.toml.
#[derive(Debug, Clone)]
pub struct ReplicationSettings {
    /// Tasks of one execution run at once.
    pub workers: usize,
    /// Tries of a failed task within an execution (after its blob retries).
    pub task_retries: u32,
    pub copy: CopySettings,
}

impl From<&crate::config::ReplicationConfig> for ReplicationSettings {
    fn from(c: &crate::config::ReplicationConfig) -> Self {
        ReplicationSettings {
            workers: c.workers,
            task_retries: c.task_retries,
            copy: CopySettings {
                blob_retries: c.blob_retries,
                backoff: Duration::from_millis(c.retry_backoff_ms),
                chunk_size: c.chunk_size_mib * 1024 * 1024,
            },
        }
    }
}

/// An execution's parameters: the policy, and for event-based runs the resources the events
/// named (copies and deletions). Without resources (and not event-based) it copies everything
/// the policy selects.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Parameters {
    pub policy_id: i64,
    /// The endpoint and direction the execution was started for: a retry or a resume after
    /// the policy changed refuses rather than copy the old plan elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<EventResource>,
    /// An event-based execution: its resources are the policy's waiting events, taken when it
    /// plans (none waiting: nothing to do, never "everything").
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub events: bool,
}

/// What an event names: a repository here, and a tag or digest in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventResource {
    pub repository: String,
    #[serde(default)]
    pub tag: String,
    #[serde(default)]
    pub digest: String,
    #[serde(default)]
    pub deleted: bool,
}

/// What a task does, stored with it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TaskSpec {
    src_repo: String,
    dst_repo: String,
    #[serde(default)]
    digest: String,
    #[serde(default)]
    tags: Vec<String>,
    /// Set when the plan already knows the task cannot run (a name flattening refuses).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    error: String,
}

/// Builds an endpoint from its stored row, opening the sealed secret.
pub fn endpoint(row: &RegistryRow, key: &SealingKey) -> Result<Endpoint, String> {
    let kind = EndpointKind::parse(&row.kind)
        .ok_or_else(|| format!("endpoint {} has an unknown type {:?}", row.name, row.kind))?;
    let password = if row.access_secret.is_empty() {
        String::new()
    } else {
        key.unseal(&row.access_secret)
            .map_err(|e| format!("endpoint {}: {e}", row.name))?
    };
    Ok(Endpoint {
        kind,
        url: row.url.clone(),
        username: row.access_key.clone(),
        password,
        insecure: row.insecure,
        ca_certificate: row.ca_certificate.clone(),
    })
}

/// A task's log lines, or why it failed with the lines so far.
type TaskOutcome = Result<Vec<String>, (String, Vec<String>)>;

/// The job.
pub struct Replicator {
    pub local: Local,
    pub settings: ReplicationSettings,
    pub data_dir: std::path::PathBuf,
}

pub fn kind(replicator: Replicator) -> (&'static str, Arc<dyn Job>) {
    (REPLICATION, Arc::new(replicator))
}

impl Job for Replicator {
    fn run(&self, ctx: JobContext) -> BoxFuture<'static, Result<Value, String>> {
        let run = Run {
            local: self.local.clone(),
            db: self.local.db.clone(),
            settings: self.settings.clone(),
            data_dir: self.data_dir.clone(),
        };
        Box::pin(async move { run.execute(ctx).await })
    }

    fn resumes_in_place(&self) -> bool {
        true
    }
}

struct Run {
    local: Local,
    db: Db,
    settings: ReplicationSettings,
    data_dir: std::path::PathBuf,
}

/// The sides of a policy's copy and what they are called in logs.
struct Ends {
    src: Side,
    dst: Side,
    /// The endpoint's name (for audit and logs).
    endpoint: String,
}

impl Run {
    async fn execute(self, ctx: JobContext) -> Result<Value, String> {
        let params: Parameters = serde_json::from_value(ctx.parameters.clone())
            .map_err(|e| format!("bad parameters: {e}"))?;
        let policy_id = params.policy_id;
        let policy = self
            .db
            .read(move |c| q::policy(c, policy_id))
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("replication policy {policy_id} no longer exists"))?;
        let now = Parameters::of(&policy);
        if params
            .registry_id
            .is_some_and(|r| Some(r) != now.registry_id)
            || params.pull.is_some_and(|p| Some(p) != now.pull)
        {
            let e = "the policy's endpoint or direction changed since this execution started: start a new one".to_string();
            ctx.log(&e).await;
            return Err(e);
        }
        let execution = ctx.execution_id;
        // Connecting and planning listen for a stop too: a peer that answers slowly cannot
        // hold an execution (or its policy) for ever.
        let prepared = tokio::select! {
            prepared = self.prepare(&ctx, &policy, &params) => prepared,
            _ = ctx.stop_requested() => return Ok(json!({"stopped": "before any task ran"})),
        };
        let ends = match prepared {
            Ok(Some(ends)) => ends,
            Ok(None) => return Ok(json!({"total": 0})),
            Err(e) => {
                ctx.log(&e).await;
                return Err(e);
            }
        };
        self.run_tasks(&ctx, &policy, &ends).await;
        if ctx.shutting_down() {
            // Left for the next start, which resumes it.
            let _ = self
                .db
                .write(move |tx| q::requeue_in_progress(tx, execution, db::now()))
                .await
                .map_err(|e: DbError| e.to_string());
            return Err("berthd is shutting down".into());
        }
        if ctx.stopped() {
            self.db
                .write(move |tx| q::stop_unfinished(tx, execution, db::now()))
                .await
                .map_err(|e: DbError| e.to_string())?;
        }
        let counts = self
            .db
            .read(move |c| q::counts(c, execution))
            .await
            .map_err(|e| e.to_string())?;
        let result = json!({
            "total": counts.total,
            "succeed": counts.succeed,
            "failed": counts.failed,
            "bytes": counts.bytes_done,
        });
        let all_done = counts.succeed == counts.total;
        self.audit_execution(&policy, execution, &ends, all_done);
        if ctx.stopped() {
            return Ok(result);
        }
        if !all_done {
            let e = format!(
                "{} of {} task(s) failed ({} did not finish); retry them once the cause is fixed",
                counts.failed,
                counts.total,
                counts.total - counts.succeed - counts.failed
            );
            ctx.log(&e).await;
            return Err(e);
        }
        ctx.log(format!(
            "{} of {} task(s) succeeded, {} byte(s) copied",
            counts.succeed, counts.total, counts.bytes_done
        ))
        .await;
        Ok(result)
    }

    /// Reaches the endpoint and, unless an earlier run of this execution did, plans and
    /// stores the tasks in batches; the plan counts as made once the execution's total is
    /// set, in the last batch's transaction. `None`: nothing to do.
    async fn prepare(
        &self,
        ctx: &JobContext,
        policy: &PolicyRow,
        params: &Parameters,
    ) -> Result<Option<Ends>, String> {
        let execution = ctx.execution_id;
        let ends = self
            .ends(policy)
            .await
            .map_err(|e| format!("cannot start: {e}"))?;
        let planned = self
            .db
            .read(move |c| {
                Ok::<_, DbError>(
                    crate::db::jobs::get(c, execution)?.is_some_and(|e| e.total > 0)
                        && q::has_tasks(c, execution)?,
                )
            })
            .await
            .map_err(|e| e.to_string())?;
        if planned {
            return Ok(Some(ends));
        }
        let mut params = params.clone();
        if params.events {
            params = self.claim_events(ctx, params).await?;
            if params.resources.is_empty() {
                ctx.log("no event is waiting: nothing to do").await;
                return Ok(None);
            }
        }
        let params = &params;
        ctx.log(format!(
            "policy {:?}: from {} to {}",
            policy.name,
            ends.src.describe(),
            ends.dst.describe()
        ))
        .await;
        let (tasks, notes) = self
            .plan(policy, &ends, params)
            .await
            .map_err(|e| format!("listing what to replicate failed: {e}"))?;
        ctx.log_lines(notes).await;
        ctx.log(format!("{} task(s) planned", tasks.len())).await;
        let total = tasks.len() as i64;
        if total == 0 {
            return Ok(None);
        }
        self.db
            .write(move |tx| q::delete_tasks(tx, execution))
            .await
            .map_err(|e: DbError| e.to_string())?;
        let batches: Vec<Vec<NewTask>> =
            tasks.chunks(PLAN_BATCH).map(<[NewTask]>::to_vec).collect();
        let last = batches.len() - 1;
        for (i, batch) in batches.into_iter().enumerate() {
            self.db
                .write(move |tx| {
                    q::insert_tasks(tx, execution, &batch, db::now())?;
                    if i == last {
                        crate::db::jobs::progress(tx, execution, 0, total, db::now())?;
                    }
                    Ok::<_, DbError>(())
                })
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(Some(ends))
    }

    fn audit_execution(&self, policy: &PolicyRow, execution: i64, ends: &Ends, success: bool) {
        self.local.audit.record(Entry {
            project_id: None,
            operation: "replicate",
            resource_type: "replication-execution",
            resource: format!(
                "execution {execution} of policy {} ({} endpoint {})",
                policy.name,
                if policy.src_registry_id.is_some() {
                    "from"
                } else {
                    "to"
                },
                ends.endpoint
            ),
            username: "replication".into(),
            success,
            client_ip: String::new(),
        });
    }

    async fn ends(&self, policy: &PolicyRow) -> Result<Ends, String> {
        let (registry_id, pull) = match (policy.src_registry_id, policy.dest_registry_id) {
            (Some(src), None) => (src, true),
            (None, Some(dst)) => (dst, false),
            _ => return Err("the policy has no endpoint".into()),
        };
        let row = self
            .db
            .read(move |c| q::registry(c, registry_id))
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("endpoint {registry_id} no longer exists"))?;
        let key = crate::settings::sealing_key(&self.data_dir).map_err(|e| e.to_string())?;
        let instance = self
            .db
            .read(q::instance_id)
            .await
            .map_err(|e| e.to_string())?;
        let remote = Remote::new(endpoint(&row, &key)?, &instance).map_err(|e| e.to_string())?;
        // Never to itself: an endpoint that answers with this instance's id is this registry
        // (the same one, or one sharing its state), and copying would loop.
        let (peer, reached) = remote.ping().await;
        // What the endpoint is, as learnt now (it may have been down when it was saved).
        let (status, learnt) = (
            if reached.is_ok() {
                "healthy"
            } else {
                "unhealthy"
            },
            peer.clone().unwrap_or_else(|| row.peer_instance.clone()),
        );
        let id = row.id;
        let _ = self
            .db
            .write(move |tx| q::set_registry_status(tx, id, status, &learnt))
            .await
            .map_err(
                |e: DbError| tracing::warn!(error = %e, "could not record an endpoint's status"),
            );
        if peer.as_deref() == Some(instance.as_str()) {
            return Err(format!(
                "endpoint {} ({}) is this very instance: skipped, never retried",
                row.name, row.url
            ));
        }
        match reached {
            Ok(()) => {}
            Err(RemoteError::Auth(m)) => {
                return Err(format!(
                    "endpoint {} refused the credentials: {m}",
                    row.name
                ))
            }
            Err(e) => return Err(format!("endpoint {} cannot be reached: {e}", row.name)),
        }
        let remote = Side::Remote(Arc::new(remote));
        let local = Side::Local(Box::new(self.local.clone()));
        let (src, dst) = if pull {
            (remote, local)
        } else {
            (local, remote)
        };
        Ok(Ends {
            src,
            dst,
            endpoint: row.name,
        })
    }

    /// Takes the policy's waiting events into this execution, recording them in its
    /// parameters in the same transaction (a resume plans from the same ones); events beyond
    /// the bound wait for a new execution, queued at once.
    async fn claim_events(
        &self,
        ctx: &JobContext,
        mut params: Parameters,
    ) -> Result<Parameters, String> {
        let (execution, policy_id) = (ctx.execution_id, params.policy_id);
        let base = params.clone();
        let taken = self
            .db
            .write(move |tx| {
                let now = db::now();
                let (events, more) = q::claim_events(tx, policy_id, EVENTS_PER_EXECUTION)?;
                params.events = false;
                params.resources = events
                    .into_iter()
                    .map(|e| EventResource {
                        repository: e.repository,
                        tag: e.tag,
                        digest: e.digest,
                        deleted: e.deleted,
                    })
                    .collect();
                let text =
                    serde_json::to_string(&params).map_err(|e| DbError::Worker(e.to_string()))?;
                crate::db::jobs::set_parameters(tx, execution, &text, now)?;
                let key = lane(policy_id);
                if more && crate::db::jobs::pending_in_lane(tx, &key, "event")?.is_none() {
                    let next = serde_json::to_string(&Parameters {
                        resources: Vec::new(),
                        events: true,
                        ..base
                    })
                    .map_err(|e| DbError::Worker(e.to_string()))?;
                    crate::db::jobs::insert_in_lane(
                        tx,
                        REPLICATION,
                        Some(&key),
                        crate::jobs::Trigger::Event.as_str(),
                        &next,
                        None,
                        now,
                    )?;
                }
                Ok::<_, DbError>(params)
            })
            .await
            .map_err(|e| e.to_string())?;
        Ok(taken)
    }

    /// One task per artifact the policy selects (or the events named), with its tags, and
    /// one per deletion an event named that still holds at the source.
    async fn plan(
        &self,
        policy: &PolicyRow,
        ends: &Ends,
        params: &Parameters,
    ) -> Result<(Vec<NewTask>, Vec<String>), RemoteError> {
        let mut notes = Vec::new();
        let filters: Vec<policy::Filter> =
            serde_json::from_str(&policy.filters).unwrap_or_default();
        let selection = Selection::compile(&filters).map_err(RemoteError::Refused)?;
        let copies: Vec<&EventResource> = params.resources.iter().filter(|r| !r.deleted).collect();
        let whole = params.resources.is_empty();
        let repositories: Vec<String> = if whole {
            ends.src.repositories().await?
        } else {
            let mut named: Vec<String> = copies.iter().map(|e| e.repository.clone()).collect();
            named.sort();
            named.dedup();
            named
        };
        let destination = |repo: &str| match policy::destination(
            repo,
            &policy.dest_namespace,
            policy.dest_namespace_replace_count,
        ) {
            Ok(d) => (d, String::new()),
            Err(e) => (String::new(), e),
        };
        let mut tasks = Vec::new();
        // Where each destination repository's content comes from: two sources flattened
        // into one destination would overwrite each other.
        let mut landing: HashMap<String, String> = HashMap::new();
        let mut referrers: Vec<(String, String)> = Vec::new();
        for repo in repositories.into_iter().filter(|r| selection.repository(r)) {
            if crate::names::RepoName::parse(&repo).is_err() {
                notes.push(format!("skipped {repo:?}: not a valid repository name"));
                continue;
            }
            // Digest → its tags, in order.
            let mut artifacts: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (tag, digest) in ends.src.tagged(&repo).await? {
                artifacts.entry(digest).or_default().push(tag);
            }
            if !whole {
                let wanted: HashSet<&str> = copies
                    .iter()
                    .filter(|e| e.repository == repo)
                    .flat_map(|e| [e.tag.as_str(), e.digest.as_str()])
                    .filter(|s| !s.is_empty())
                    .collect();
                artifacts.retain(|digest, tags| {
                    wanted.contains(digest.as_str())
                        || tags.iter().any(|t| wanted.contains(t.as_str()))
                });
            }
            if !whole {
                // A referrer attached by digest (a signature, an SBOM) goes with its subject.
                let tagged: HashSet<String> = artifacts.keys().cloned().collect();
                for e in copies.iter().filter(|e| {
                    e.repository == repo && e.tag.is_empty() && !tagged.contains(&e.digest)
                }) {
                    let Ok((body, _)) = ends.src.manifest(&repo, &e.digest).await else {
                        continue;
                    };
                    let has_subject = serde_json::from_slice::<Value>(&body)
                        .ok()
                        .is_some_and(|v| v.get("subject").is_some());
                    if has_subject {
                        referrers.push((repo.clone(), e.digest.clone()));
                    }
                }
            }
            for (digest, tags) in artifacts {
                let tags = selection.tags(&tags);
                if tags.is_empty() {
                    continue;
                }
                if selection.resource.is_some() {
                    let (body, media_type) = ends.src.manifest(&repo, &digest).await?;
                    let config_type = serde_json::from_slice::<Value>(&body)
                        .ok()
                        .and_then(|v| {
                            v.get("config")?
                                .get("mediaType")?
                                .as_str()
                                .map(str::to_string)
                        })
                        .unwrap_or_default();
                    if !selection.resource_kind(&media_type, &config_type) {
                        continue;
                    }
                }
                let (dst_repo, mut error) = destination(&repo);
                if error.is_empty() {
                    let first = landing
                        .entry(dst_repo.clone())
                        .or_insert_with(|| repo.clone());
                    if *first != repo {
                        error = format!(
                            "{repo} and {first} both land in {dst_repo}: change the flattening"
                        );
                    }
                }
                let list = tags.join(",");
                let spec = TaskSpec {
                    src_repo: repo.clone(),
                    dst_repo: dst_repo.clone(),
                    digest: digest.clone(),
                    tags,
                    error,
                };
                tasks.push(NewTask {
                    operation: "copy",
                    resource_type: "artifact",
                    src_resource: format!("{repo}:[{list}]"),
                    dst_resource: format!("{dst_repo}:[{list}]"),
                    spec: serde_json::to_string(&spec).unwrap_or_default(),
                });
            }
        }
        for (repo, digest) in referrers {
            let (dst_repo, error) = destination(&repo);
            let spec = TaskSpec {
                src_repo: repo.clone(),
                dst_repo: dst_repo.clone(),
                digest: digest.clone(),
                tags: Vec::new(),
                error,
            };
            tasks.push(NewTask {
                operation: "copy",
                resource_type: "artifact",
                src_resource: format!("{repo}@{digest}"),
                dst_resource: format!("{dst_repo}@{digest}"),
                spec: serde_json::to_string(&spec).unwrap_or_default(),
            });
        }
        for d in params.resources.iter().filter(|r| r.deleted) {
            if !selection.repository(&d.repository)
                || (!d.tag.is_empty() && selection.tags([&d.tag]).is_empty())
            {
                continue;
            }
            let reference = if d.tag.is_empty() { &d.digest } else { &d.tag };
            if reference.is_empty() {
                continue;
            }
            // Pushed again since: the source's present state wins.
            if ends
                .src
                .head_manifest(&d.repository, reference)
                .await?
                .is_some()
            {
                continue;
            }
            let (dst_repo, error) = destination(&d.repository);
            let name = |repo: &str| {
                if d.tag.is_empty() {
                    format!("{repo}@{}", d.digest)
                } else {
                    format!("{repo}:{}", d.tag)
                }
            };
            let spec = TaskSpec {
                src_repo: d.repository.clone(),
                dst_repo: dst_repo.clone(),
                digest: d.digest.clone(),
                tags: if d.tag.is_empty() {
                    Vec::new()
                } else {
                    vec![d.tag.clone()]
                },
                error,
            };
            tasks.push(NewTask {
                operation: "deletion",
                resource_type: "artifact",
                src_resource: name(&d.repository),
                dst_resource: name(&dst_repo),
                spec: serde_json::to_string(&spec).unwrap_or_default(),
            });
        }
        Ok((tasks, notes))
    }

    /// Runs the unfinished tasks, `workers` at a time, writing their progress every second.
    async fn run_tasks(&self, ctx: &JobContext, policy: &PolicyRow, ends: &Ends) {
        let execution = ctx.execution_id;
        let tasks = match self
            .db
            .read(move |c| q::unfinished_tasks(c, execution))
            .await
        {
            Ok(t) => t,
            Err(e) => {
                ctx.log(format!("cannot read the tasks: {e}")).await;
                return;
            }
        };
        let active: Arc<Mutex<HashMap<i64, Arc<Progress>>>> = Arc::default();
        let placed = Arc::new(copy::Placement::default());
        let namespaces = Arc::new(tokio::sync::Mutex::new(HashSet::new()));
        let writer = self.progress_writer(execution, active.clone());
        let total = self
            .db
            .read(move |c| q::counts(c, execution))
            .await
            .map(|c| c.total)
            .unwrap_or_default();
        let workers = self.settings.workers.max(1);
        futures_util::stream::iter(tasks)
            .for_each_concurrent(workers, |task| {
                let (active, placed, namespaces) =
                    (active.clone(), placed.clone(), namespaces.clone());
                async move {
                    if ctx.stopped() {
                        return;
                    }
                    let progress = Arc::new(Progress::default());
                    active
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(task.id, progress.clone());
                    let outcome = tokio::select! {
                        outcome = self.task(&task, policy, ends, progress.clone(), placed, namespaces) => Some(outcome),
                        _ = ctx.stop_requested() => None,
                    };
                    active
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&task.id);
                    self.finish_task(ctx, &task, ends, outcome, &progress).await;
                    let done = self
                        .db
                        .read(move |c| q::counts(c, execution))
                        .await
                        .map(|c| c.succeed + c.failed + c.stopped)
                        .unwrap_or_default();
                    ctx.progress(done, total).await;
                }
            })
            .await;
        writer.abort();
    }

    fn progress_writer(
        &self,
        execution: i64,
        active: Arc<Mutex<HashMap<i64, Arc<Progress>>>>,
    ) -> tokio::task::JoinHandle<()> {
        let db = self.db.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let now: Vec<(i64, i64, i64)> = active
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .iter()
                    .map(|(id, p)| {
                        (
                            *id,
                            p.done.load(Ordering::Relaxed) as i64,
                            p.total.load(Ordering::Relaxed) as i64,
                        )
                    })
                    .collect();
                if now.is_empty() {
                    continue;
                }
                let written = db
                    .write(move |tx| {
                        for (id, done, total) in &now {
                            q::task_progress(tx, *id, *done, *total, db::now())?;
                        }
                        Ok::<_, DbError>(())
                    })
                    .await;
                if let Err(e) = written {
                    tracing::warn!(execution, error = %e, "could not record replication progress");
                }
            }
        })
    }

    /// One task, with its retries.
    async fn task(
        &self,
        task: &TaskRow,
        policy: &PolicyRow,
        ends: &Ends,
        progress: Arc<Progress>,
        placed: Arc<copy::Placement>,
        namespaces: Arc<tokio::sync::Mutex<HashSet<String>>>,
    ) -> TaskOutcome {
        let id = task.id;
        let _ = self
            .db
            .write(move |tx| q::start_task(tx, id, db::now()))
            .await
            .map_err(
                |e: DbError| tracing::warn!(task = id, error = %e, "could not mark a task started"),
            );
        let spec: TaskSpec = serde_json::from_str(&task.spec)
            .map_err(|e| (format!("the task is damaged: {e}"), Vec::new()))?;
        if !spec.error.is_empty() {
            return Err((spec.error.clone(), Vec::new()));
        }
        let mut log = Vec::new();
        {
            let mut ensured = namespaces.lock().await;
            let project = spec
                .dst_repo
                .split('/')
                .next()
                .unwrap_or_default()
                .to_string();
            if !ensured.contains(&project) {
                if let Err(e) = ends.dst.ensure_namespace(&spec.dst_repo).await {
                    return Err((format!("the destination project {project}: {e}"), log));
                }
                ensured.insert(project);
            }
        }
        if task.operation == "deletion" {
            return self.delete(&spec, ends).await;
        }
        let limiter = policy::bytes_per_second(policy.speed).map(Limiter::new);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut copy = Copy {
                src: &ends.src,
                dst: &ends.dst,
                settings: &self.settings.copy,
                progress: progress.clone(),
                limiter: limiter.clone(),
                override_tags: policy.override_,
                placed: placed.clone(),
                log: Vec::new(),
                report: Default::default(),
                visited: HashSet::new(),
            };
            let outcome = copy
                .artifact(&spec.src_repo, &spec.dst_repo, &spec.digest, &spec.tags)
                .await;
            log.append(&mut copy.log);
            match outcome {
                Ok(()) => {
                    let r = &copy.report;
                    log.push(format!(
                        "done: {} blob(s) copied, {} mounted, {} already there; {} manifest(s) written",
                        r.blobs_copied, r.blobs_mounted, r.blobs_skipped, r.manifests_written
                    ));
                    return Ok(log);
                }
                Err(e) if e.retryable() && attempt <= self.settings.task_retries => {
                    let wait = self.settings.copy.backoff * 2u32.saturating_pow(attempt - 1);
                    log.push(format!(
                        "attempt {attempt} failed: {e}; again in {:.1} s",
                        wait.as_secs_f64()
                    ));
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err((e.to_string(), log)),
            }
        }
    }

    /// A deletion task: the tag (or the artifact) goes at the destination; already gone is
    /// done too.
    async fn delete(&self, spec: &TaskSpec, ends: &Ends) -> TaskOutcome {
        let reference = spec.tags.first().unwrap_or(&spec.digest);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match ends.dst.delete_manifest(&spec.dst_repo, reference).await {
                Ok(true) => return Ok(vec![format!("{}: {reference} deleted", spec.dst_repo)]),
                Ok(false) => {
                    return Ok(vec![format!(
                        "{}: {reference} was not there",
                        spec.dst_repo
                    )])
                }
                Err(e) if e.retryable() && attempt <= self.settings.task_retries => {
                    tokio::time::sleep(
                        self.settings.copy.backoff * 2u32.saturating_pow(attempt - 1),
                    )
                    .await;
                }
                Err(e) => return Err((e.to_string(), Vec::new())),
            }
        }
    }

    async fn finish_task(
        &self,
        ctx: &JobContext,
        task: &TaskRow,
        ends: &Ends,
        outcome: Option<TaskOutcome>,
        progress: &Progress,
    ) {
        let (status, error, mut lines) = match outcome {
            Some(Ok(lines)) => ("Succeed", String::new(), lines),
            Some(Err((e, lines))) => ("Failed", e, lines),
            // Runs again when berthd is back.
            None if ctx.shutting_down() => (
                "Pending",
                String::new(),
                vec!["interrupted by shutdown".to_string()],
            ),
            None => ("Stopped", String::new(), vec!["stopped".to_string()]),
        };
        if !error.is_empty() {
            lines.push(format!("failed: {error}"));
            ctx.log(format!("task {} ({}): {error}", task.id, task.src_resource))
                .await;
        }
        let (id, done, total) = (
            task.id,
            progress.done.load(Ordering::Relaxed) as i64,
            progress.total.load(Ordering::Relaxed) as i64,
        );
        let stored = self
            .db
            .write(move |tx| {
                let now = db::now();
                for line in &lines {
                    q::append_task_log(tx, id, line, MAX_LOG_LINES, now)?;
                }
                q::task_progress(tx, id, done, total, now)?;
                q::finish_task(tx, id, status, &error, now)
            })
            .await;
        if let Err(e) = stored {
            tracing::warn!(task = id, error = %e, "could not record a task's end");
        }
        self.local.audit.record(Entry {
            project_id: None,
            operation: "replicate",
            resource_type: "replication-task",
            resource: format!(
                "task {} of execution {}: {} at {} to {} at {} ({status})",
                task.id,
                task.execution_id,
                task.src_resource,
                ends.src.describe(),
                task.dst_resource,
                ends.dst.describe()
            ),
            username: "replication".into(),
            success: status == "Succeed",
            client_ip: String::new(),
        });
    }
}
