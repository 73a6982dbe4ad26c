//! Tag retention, a job (`RETENTION`) in a lane per policy. For each repository a rule
//! selects, the job evaluates the rules over its tags (`rules`), keeps every artifact with a
//! kept or immutable tag, and deletes the rest, unless the run is a dry run. Each repository
//! becomes a task with its counts and a log line per tag: kept by which rule, or deleted and
//! why no rule kept it.
//!
//! A dry run never reaches the deletion: [`Plan`]s are only applied by [`apply`], which the
//! job calls only when `dry_run` is false, and a test holds it to that. A deletion re-checks,
//! in its own transaction, that the artifact still has only the tags it was judged by and that
//! none of them has become immutable, so a push during the run is never undone.

pub mod rules;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::{json, Value};

use crate::audit::{AuditLog, Entry};
use crate::db::registry::{self as registry_q, ManifestDeletion};
use crate::db::retention as q;
use crate::db::{self, Db, DbError};
use crate::gc::leases::Leases;
use crate::jobs::{Job, JobContext};
use crate::selectors::name_in_project;
use crate::service::immutability::Immutable;

use rules::{Candidate, Rule, RuleWire, Verdict};

pub const RETENTION: &str = "RETENTION";

/// The lane (and schedule key) of a policy's executions: one run at a time per policy.
pub fn lane(policy_id: i64) -> String {
    format!("retention:{policy_id}")
}

/// Deletions per write transaction: short enough that pushes are never kept waiting long.
const DELETE_BATCH: usize = 50;
/// A task's log is cut here (a line says so).
const MAX_TASK_LOG: usize = 4 << 20;

/// What an execution was asked to do.
#[derive(Debug, Clone, Copy)]
pub struct Parameters {
    pub policy_id: i64,
    pub dry_run: bool,
}

impl Parameters {
    pub fn parse(v: &Value) -> Result<Parameters, String> {
        let policy_id = v
            .get("policy_id")
            .and_then(Value::as_i64)
            .ok_or("retention parameters need policy_id")?;
        let dry_run = v.get("dry_run").and_then(Value::as_bool).unwrap_or(false);
        Ok(Parameters { policy_id, dry_run })
    }

    pub fn to_json(self) -> Value {
        json!({"policy_id": self.policy_id, "dry_run": self.dry_run})
    }
}

/// One repository's outcome: which artifacts go, and the log.
pub struct Plan {
    pub repository_id: i64,
    pub repository: String,
    /// Artifacts judged (top-level ones).
    pub total: i64,
    pub retained: i64,
    /// Artifacts to delete: id, digest, and the tags they were judged by.
    pub doomed: Vec<(i64, String, Vec<String>)>,
    pub log: Vec<String>,
}

/// Judges one repository's candidates. Pure apart from the rows given. Untagged artifacts
/// pushed after `pushes_settle_at` are kept: a push in progress (an index's children arrive
/// before the index) may still need them, as garbage collection's time window assumes.
#[allow(clippy::too_many_arguments)]
pub fn plan(
    repository_id: i64,
    repository: &str,
    rules: &[&Rule],
    rows: &[q::CandidateRow],
    immutable: &Immutable,
    now: i64,
    pushes_settle_at: i64,
    dry_run: bool,
) -> Plan {
    let candidates: Vec<Candidate> = rows
        .iter()
        .map(|r| Candidate {
            artifact: r.manifest_id,
            tag: r.tag.clone(),
            pushed: r.pushed,
            pulled: r.pulled,
        })
        .collect();
    let verdicts = rules::evaluate(rules, &candidates, now);
    let mut keep = rules::kept_artifacts(&candidates, &verdicts);
    let mut protected: HashMap<i64, String> = HashMap::new();
    let mut recent: Vec<i64> = vec![];
    for r in rows {
        if let Some(t) = &r.tag {
            if immutable.protects(repository, t) {
                keep.insert(r.manifest_id, true);
                protected.entry(r.manifest_id).or_insert_with(|| t.clone());
            }
        } else if r.pushed > pushes_settle_at && keep.get(&r.manifest_id) != Some(&true) {
            keep.insert(r.manifest_id, true);
            recent.push(r.manifest_id);
        }
    }
    let verb = if dry_run { "would delete" } else { "delete" };
    let mut log = vec![];
    let (mut log_bytes, mut omitted) = (0usize, 0usize);
    let mut by_artifact: BTreeMap<i64, (String, Vec<String>)> = BTreeMap::new();
    for (row, verdict) in rows.iter().zip(&verdicts) {
        let entry = by_artifact
            .entry(row.manifest_id)
            .or_insert_with(|| (row.digest.clone(), vec![]));
        if let Some(t) = &row.tag {
            entry.1.push(t.clone());
        }
        let name = match &row.tag {
            Some(t) => format!("{repository}:{t}"),
            None => format!("{repository} (untagged)"),
        };
        let kept = keep.get(&row.manifest_id).copied().unwrap_or(false);
        let line = match (verdict, kept) {
            (Verdict::KeptBy(n), _) => format!("retain {name} {}: rule {n}", row.digest),
            (_, true)
                if row
                    .tag
                    .as_ref()
                    .is_some_and(|t| immutable.protects(repository, t)) =>
            {
                format!("retain {name} {}: immutable", row.digest)
            }
            (_, true) if recent.contains(&row.manifest_id) => format!(
                "retain {name} {}: pushed within the time window, a push may still need it",
                row.digest
            ),
            (_, true) => match protected.get(&row.manifest_id) {
                Some(t) => format!(
                    "retain {name} {}: its artifact's tag {t} is immutable",
                    row.digest
                ),
                None => format!(
                    "retain {name} {}: another tag of its artifact is retained",
                    row.digest
                ),
            },
            (Verdict::Dropped(misses), false) => {
                format!(
                    "{verb} {name} {}: {}",
                    row.digest,
                    rules::explain(rules, misses)
                )
            }
        };
        if log_bytes + line.len() < MAX_TASK_LOG {
            log_bytes += line.len() + 1;
            log.push(line);
        } else {
            omitted += 1;
        }
    }
    if omitted > 0 {
        log.push(format!("... {omitted} more lines not kept"));
    }
    let total = by_artifact.len() as i64;
    let doomed: Vec<(i64, String, Vec<String>)> = by_artifact
        .into_iter()
        .filter(|(id, _)| !keep.get(id).copied().unwrap_or(false))
        .map(|(id, (digest, tags))| (id, digest, tags))
        .collect();
    Plan {
        repository_id,
        repository: repository.to_string(),
        total,
        retained: total - doomed.len() as i64,
        doomed,
        log,
    }
}

/// Deletes a plan's artifacts, each only if it is unchanged since it was judged and no push
/// holds it (`leases`, as garbage collection respects them); returns the digests deleted and
/// a log line for each one left.
pub async fn apply(
    db: &Db,
    leases: &Leases,
    project_id: i64,
    plan: &Plan,
) -> Result<(Vec<String>, Vec<String>), DbError> {
    let mut deleted = vec![];
    let mut skipped = vec![];
    for batch in plan.doomed.chunks(DELETE_BATCH) {
        let batch = batch.to_vec();
        let (repo_id, repo) = (plan.repository_id, plan.repository.clone());
        let leases = leases.clone();
        let (d, s) = db
            .write(move |tx| {
                let immutable = Immutable::load(tx, project_id)?;
                let (mut d, mut s) = (vec![], vec![]);
                for (id, digest, judged) in &batch {
                    if leases.held_in(&repo, digest) {
                        s.push(format!("kept {repo}@{digest}: a push in progress holds it"));
                        continue;
                    }
                    let now = q::tags_of(tx, *id)?;
                    if now.iter().any(|t| !judged.contains(t)) {
                        s.push(format!("kept {repo}@{digest}: tagged since it was judged"));
                        continue;
                    }
                    if let Some(t) = immutable.first_protected(&repo, &now) {
                        s.push(format!(
                            "kept {repo}@{digest}: its tag {t} became immutable"
                        ));
                        continue;
                    }
                    // What goes along (an index's children, referrers) was never judged: a
                    // tag on any of it keeps the whole.
                    match registry_q::deletion_of(tx, repo_id, digest)? {
                        ManifestDeletion::Deleted(doomed) => {
                            let along = &doomed[1..];
                            if let Some(t) =
                                registry_q::tags_of_digests(tx, repo_id, along)?.first()
                            {
                                s.push(format!(
                                    "kept {repo}@{digest}: an artifact it holds has the tag {t}"
                                ));
                                continue;
                            }
                            registry_q::delete_manifest(tx, repo_id, digest)?;
                            d.push(digest.clone());
                        }
                        ManifestDeletion::NotFound => {}
                        ManifestDeletion::Referenced { by } => {
                            s.push(format!("kept {repo}@{digest}: artifact {by} references it"))
                        }
                    }
                }
                Ok::<_, DbError>((d, s))
            })
            .await?;
        deleted.extend(d);
        skipped.extend(s);
    }
    Ok((deleted, skipped))
}

#[derive(Clone)]
pub struct Retention {
    db: Db,
    audit: AuditLog,
    /// Pushers' claims, which a deletion respects as garbage collection does.
    leases: Leases,
    /// Untagged artifacts younger than this are kept (garbage collection's time window).
    window: std::time::Duration,
}

impl Retention {
    async fn run(&self, ctx: &JobContext, p: Parameters) -> Result<Value, String> {
        let policy = self
            .db
            .read(move |c| q::policy(c, p.policy_id))
            .await
            .map_err(|e| e.to_string())?;
        let Some(policy) = policy else {
            // Its schedule may have outlived it (an update racing a deletion): it goes now.
            let key = lane(p.policy_id);
            let _ = self
                .db
                .write(move |tx| crate::db::jobs::remove_schedule(tx, &key))
                .await;
            return Err(format!("retention policy {} no longer exists", p.policy_id));
        };
        let mut wire: Vec<RuleWire> =
            serde_json::from_str(&policy.rules).map_err(|e| format!("stored rules: {e}"))?;
        let compiled = rules::check(&mut wire)?;
        let project_id = policy.project_id;
        let repositories = self
            .db
            .read(move |c| q::repositories(c, project_id))
            .await
            .map_err(|e| e.to_string())?;
        let selected: Vec<(i64, String, Vec<&Rule>)> = repositories
            .into_iter()
            .filter_map(|(id, name)| {
                let inside = name_in_project(&name).to_string();
                let rules: Vec<&Rule> = compiled
                    .iter()
                    .filter(|r| r.selection.repository(&inside))
                    .collect();
                (!rules.is_empty()).then_some((id, name, rules))
            })
            .collect();
        ctx.log(format!(
            "retention policy {} of project {project_id}{}: {} enabled rules, {} repositories selected",
            p.policy_id,
            if p.dry_run { ", dry run: nothing will be deleted" } else { "" },
            compiled.len(),
            selected.len()
        ))
        .await;
        let (mut total, mut retained, mut deleted) = (0i64, 0i64, 0i64);
        let count = selected.len() as i64;
        for (done, (repo_id, name, rules)) in selected.into_iter().enumerate() {
            if ctx.stopped() {
                ctx.log("stopped").await;
                break;
            }
            let started = db::now();
            let rows = self
                .db
                .read(move |c| {
                    Ok::<_, DbError>((q::candidates(c, repo_id)?, Immutable::load(c, project_id)?))
                })
                .await
                .map_err(|e| e.to_string())?;
            let (rows, immutable) = rows;
            let now = db::now();
            let settle = now - self.window.as_secs() as i64;
            let plan = plan(
                repo_id, &name, &rules, &rows, &immutable, now, settle, p.dry_run,
            );
            let mut log = plan.log.clone();
            let mut kept = plan.retained;
            if !p.dry_run && !plan.doomed.is_empty() {
                let (gone, skipped) = apply(&self.db, &self.leases, project_id, &plan)
                    .await
                    .map_err(|e| e.to_string())?;
                kept = plan.total - gone.len() as i64;
                for digest in &gone {
                    self.audit.record(Entry {
                        project_id: Some(project_id),
                        operation: "delete",
                        resource_type: "artifact",
                        resource: format!("{name}@{digest}"),
                        username: format!("retention policy {}", p.policy_id),
                        success: true,
                        client_ip: String::new(),
                    });
                }
                log.extend(skipped);
            }
            total += plan.total;
            retained += kept;
            deleted += plan.total - kept;
            let text = log.join("\n") + "\n";
            let (status, total_here) = ("Success", plan.total);
            self.db
                .write({
                    let (name, id) = (name.clone(), ctx.execution_id);
                    move |tx| {
                        q::insert_task(tx, id, &name, status, started, total_here, kept, &text)
                    }
                })
                .await
                .map_err(|e| e.to_string())?;
            ctx.progress(done as i64 + 1, count).await;
        }
        ctx.log(format!(
            "{}: {total} artifacts judged, {retained} retained, {deleted} {}",
            if ctx.stopped() { "stopped" } else { "done" },
            if p.dry_run {
                "would be deleted"
            } else {
                "deleted"
            }
        ))
        .await;
        Ok(json!({
            "dry_run": p.dry_run,
            "total": total,
            "retained": retained,
            "deleted": deleted,
            "repositories": count,
        }))
    }
}

impl Job for Retention {
    fn run(&self, ctx: JobContext) -> BoxFuture<'static, Result<Value, String>> {
        let this = self.clone();
        Box::pin(async move {
            let p = Parameters::parse(&ctx.parameters)?;
            Retention::run(&this, &ctx, p).await
        })
    }
}

pub fn kind(
    db: &Db,
    audit: &AuditLog,
    leases: &Leases,
    window: std::time::Duration,
) -> (&'static str, Arc<dyn Job>) {
    (
        RETENTION,
        Arc::new(Retention {
            db: db.clone(),
            audit: audit.clone(),
            leases: leases.clone(),
            window,
        }),
    )
}
