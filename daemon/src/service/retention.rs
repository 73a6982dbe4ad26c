//! Tag retention as the API sees it (Harbor's `/retentions`): one policy per project, its
//! schedule, its executions (runs and dry runs, in the policy's lane of the job runner), their
//! tasks and logs. Every call finds the policy's project first and asks the permission table
//! there (`tag-retention`), and every execution or task id is checked to be this policy's, so
//! an id never reaches another project's runs.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::auth::permissions::{Operation, Resource};
use crate::auth::Principal;
use crate::db::jobs::ExecutionRow;
use crate::db::retention::{self as q, PolicyRow, TaskRow};
use crate::db::Db;
use crate::jobs::{Jobs, Schedule, ScheduleType, Trigger};
use crate::names::ProjectRef;
use crate::retention::rules::{self, RuleWire};
use crate::retention::{lane, Parameters, RETENTION};

use super::projects::{ProjectError, ProjectView, Projects};

/// Harbor's `RetentionPolicy`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyWire {
    #[serde(default)]
    pub id: i64,
    #[serde(default = "or")]
    pub algorithm: String,
    #[serde(default)]
    pub rules: Vec<RuleWire>,
    #[serde(default)]
    pub trigger: TriggerWire,
    #[serde(default)]
    pub scope: Option<ScopeWire>,
}

fn or() -> String {
    "or".into()
}

/// Harbor's `RetentionRuleTrigger`: `{"kind": "Schedule", "settings": {"cron": "..."}}`; an
/// empty cron is "run by hand only".
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TriggerWire {
    #[serde(default = "schedule")]
    pub kind: String,
    #[serde(default)]
    pub settings: Value,
    #[serde(default)]
    pub references: Value,
}

fn schedule() -> String {
    "Schedule".into()
}

impl Default for TriggerWire {
    fn default() -> Self {
        TriggerWire {
            kind: schedule(),
            settings: json!({"cron": ""}),
            references: json!({}),
        }
    }
}

impl TriggerWire {
    fn cron(&self) -> Result<String, ProjectError> {
        if self.kind != "Schedule" {
            return Err(ProjectError::Invalid(format!(
                "trigger.kind must be \"Schedule\", not {:?}",
                self.kind
            )));
        }
        match self.settings.get("cron") {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(c)) => {
                let c = c.trim().to_string();
                if !c.is_empty() {
                    Schedule {
                        kind: ScheduleType::Custom,
                        cron: c.clone(),
                    }
                    .check()
                    .map_err(|e| ProjectError::Invalid(format!("trigger.settings.cron: {e}")))?;
                }
                Ok(c)
            }
            Some(_) => Err(ProjectError::Invalid(
                "trigger.settings.cron must be a string".into(),
            )),
        }
    }
}

/// Harbor's `RetentionPolicyScope`: always a project.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScopeWire {
    pub level: String,
    #[serde(rename = "ref")]
    pub reference: i64,
}

impl PolicyWire {
    fn from_row(row: &PolicyRow) -> PolicyWire {
        PolicyWire {
            id: row.id,
            algorithm: or(),
            rules: serde_json::from_str(&row.rules).unwrap_or_default(),
            trigger: serde_json::from_str(&row.trigger).unwrap_or_default(),
            scope: Some(ScopeWire {
                level: "project".into(),
                reference: row.project_id,
            }),
        }
    }

    /// Checks the policy; returns rules and trigger as stored, and the cron ("" for none).
    fn check(&mut self) -> Result<(String, String, String), ProjectError> {
        if self.algorithm != "or" {
            return Err(ProjectError::Invalid(format!(
                "algorithm must be \"or\" (rules are combined with OR), not {:?}",
                self.algorithm
            )));
        }
        rules::check(&mut self.rules).map_err(ProjectError::Invalid)?;
        let cron = self.trigger.cron()?;
        self.trigger.settings = json!({"cron": cron});
        self.trigger.references = json!({});
        let rules =
            serde_json::to_string(&self.rules).map_err(|e| ProjectError::Invalid(e.to_string()))?;
        let trigger = serde_json::to_string(&self.trigger)
            .map_err(|e| ProjectError::Invalid(e.to_string()))?;
        Ok((rules, trigger, cron))
    }
}

#[derive(Clone)]
pub struct RetentionService {
    db: Db,
    jobs: Jobs,
    projects: Projects,
}

impl RetentionService {
    pub fn new(db: Db, jobs: Jobs, projects: Projects) -> RetentionService {
        RetentionService { db, jobs, projects }
    }

    /// The policy and its project, if the caller may do `operation` to retention there. A
    /// policy in a project the caller cannot see is "not found".
    async fn policy_for(
        &self,
        by: &Principal,
        id: i64,
        operation: Operation,
    ) -> Result<(ProjectView, PolicyRow), ProjectError> {
        let row = self
            .db
            .read(move |c| q::policy(c, id))
            .await?
            .ok_or_else(|| ProjectError::NotFound(format!("retention policy {id}")))?;
        let view = match self
            .projects
            .require(
                by,
                &ProjectRef::Id(row.project_id),
                Resource::TagRetention,
                operation,
            )
            .await
        {
            Err(ProjectError::NotFound(_)) => {
                return Err(ProjectError::NotFound(format!("retention policy {id}")))
            }
            other => other?,
        };
        Ok((view, row))
    }

    async fn set_schedule(&self, id: i64, cron: &str) -> Result<(), ProjectError> {
        let key = lane(id);
        let outcome = if cron.is_empty() {
            self.jobs.remove_schedule(&key).await
        } else {
            let params = Parameters {
                policy_id: id,
                dry_run: false,
            }
            .to_json();
            self.jobs
                .set_lane_schedule(
                    &key,
                    RETENTION,
                    &Schedule {
                        kind: ScheduleType::Custom,
                        cron: cron.to_string(),
                    },
                    params,
                )
                .await
        };
        outcome.map_err(|e| ProjectError::Invalid(e.to_string()))
    }

    pub async fn create(
        &self,
        by: &Principal,
        mut policy: PolicyWire,
    ) -> Result<(ProjectView, i64), ProjectError> {
        let scope = policy.scope.clone().ok_or_else(|| {
            ProjectError::Invalid(
                "scope is required: {\"level\": \"project\", \"ref\": PROJECT_ID}".into(),
            )
        })?;
        if scope.level != "project" {
            return Err(ProjectError::Invalid(format!(
                "scope.level must be \"project\", not {:?}",
                scope.level
            )));
        }
        let view = self
            .projects
            .require(
                by,
                &ProjectRef::Id(scope.reference),
                Resource::TagRetention,
                Operation::Create,
            )
            .await?;
        let (rules, trigger, cron) = policy.check()?;
        let (pid, name) = (view.project.id, view.project.name.clone());
        let id = self
            .db
            .write(
                move |tx| match q::insert_policy(tx, pid, &rules, &trigger)? {
                    Some(id) => Ok(id),
                    None => Err(ProjectError::Conflict(format!(
                        "project {name} already has a retention policy ({}): change that one",
                        q::policy_of_project(tx, pid)?
                            .map(|p| p.id)
                            .unwrap_or_default()
                    ))),
                },
            )
            .await?;
        self.set_schedule(id, &cron).await?;
        Ok((view, id))
    }

    pub async fn get(&self, by: &Principal, id: i64) -> Result<PolicyWire, ProjectError> {
        let (_, row) = self.policy_for(by, id, Operation::Read).await?;
        Ok(PolicyWire::from_row(&row))
    }

    /// The project's policy, if it has one (for the portal).
    pub async fn of_project(
        &self,
        by: &Principal,
        project: &ProjectRef,
    ) -> Result<(ProjectView, Option<PolicyWire>), ProjectError> {
        let view = self
            .projects
            .require(by, project, Resource::TagRetention, Operation::Read)
            .await?;
        let pid = view.project.id;
        let row = self.db.read(move |c| q::policy_of_project(c, pid)).await?;
        Ok((view, row.as_ref().map(PolicyWire::from_row)))
    }

    pub async fn update(
        &self,
        by: &Principal,
        id: i64,
        mut policy: PolicyWire,
    ) -> Result<ProjectView, ProjectError> {
        // A policy stays with its project: the scope sent back is not read.
        let (view, _) = self.policy_for(by, id, Operation::Update).await?;
        let (rules, trigger, cron) = policy.check()?;
        let updated = self
            .db
            .write(move |tx| q::update_policy(tx, id, &rules, &trigger))
            .await?;
        if !updated {
            return Err(ProjectError::NotFound(format!("retention policy {id}")));
        }
        self.set_schedule(id, &cron).await?;
        Ok(view)
    }

    /// Deletes a policy and (by the database's trigger) its schedule; refused while one of its
    /// runs waits or runs, which would go on deleting under a policy nobody can see.
    pub async fn delete(&self, by: &Principal, id: i64) -> Result<ProjectView, ProjectError> {
        let (view, _) = self.policy_for(by, id, Operation::Delete).await?;
        let key = lane(id);
        let deleted = self
            .db
            .write(move |tx| {
                let (busy, _) = crate::db::jobs::page_in_lanes(
                    tx,
                    RETENTION,
                    Some(&key),
                    &["Pending", "Running"],
                    None,
                    0,
                    1,
                )?;
                if let Some(e) = busy.first() {
                    return Err(ProjectError::Conflict(format!(
                        "retention policy {id} has a run in progress (execution {}): stop it first",
                        e.id
                    )));
                }
                Ok(q::delete_policy(tx, id)?)
            })
            .await?;
        if !deleted {
            return Err(ProjectError::NotFound(format!("retention policy {id}")));
        }
        Ok(view)
    }

    /// Starts a run or a dry run now; returns the execution's id.
    pub async fn run(
        &self,
        by: &Principal,
        id: i64,
        dry_run: bool,
    ) -> Result<(ProjectView, i64), ProjectError> {
        let (view, _) = self.policy_for(by, id, Operation::Operate).await?;
        let params = Parameters {
            policy_id: id,
            dry_run,
        };
        let eid = self
            .jobs
            .submit_in_lane(RETENTION, &lane(id), Trigger::Manual, params.to_json())
            .await
            .map_err(|e| ProjectError::Invalid(e.to_string()))?;
        Ok((view, eid))
    }

    pub async fn executions(
        &self,
        by: &Principal,
        id: i64,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<ExecutionRow>, i64), ProjectError> {
        self.policy_for(by, id, Operation::List).await?;
        let key = lane(id);
        Ok(self
            .db
            .read(move |c| {
                crate::db::jobs::page_in_lanes(c, RETENTION, Some(&key), &[], None, offset, limit)
            })
            .await?)
    }

    /// An execution of this policy.
    async fn execution_of(&self, id: i64, eid: i64) -> Result<ExecutionRow, ProjectError> {
        match self.jobs.execution(eid).await {
            Ok(e) if e.kind == RETENTION && e.lane == lane(id) => Ok(e),
            _ => Err(ProjectError::NotFound(format!(
                "execution {eid} of retention policy {id}"
            ))),
        }
    }

    pub async fn execution(
        &self,
        by: &Principal,
        id: i64,
        eid: i64,
    ) -> Result<ExecutionRow, ProjectError> {
        self.policy_for(by, id, Operation::Read).await?;
        self.execution_of(id, eid).await
    }

    /// Harbor's `PATCH .../executions/{eid}` with `{"action": "stop"}`.
    pub async fn stop(
        &self,
        by: &Principal,
        id: i64,
        eid: i64,
    ) -> Result<(ProjectView, bool), ProjectError> {
        let (view, _) = self.policy_for(by, id, Operation::Operate).await?;
        self.execution_of(id, eid).await?;
        let stopped = self
            .jobs
            .stop(eid)
            .await
            .map_err(|e| ProjectError::Invalid(e.to_string()))?;
        Ok((view, stopped))
    }

    pub async fn tasks(
        &self,
        by: &Principal,
        id: i64,
        eid: i64,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<TaskRow>, i64), ProjectError> {
        self.policy_for(by, id, Operation::List).await?;
        self.execution_of(id, eid).await?;
        Ok(self
            .db
            .read(move |c| q::tasks(c, eid, offset, limit))
            .await?)
    }

    pub async fn task_log(
        &self,
        by: &Principal,
        id: i64,
        eid: i64,
        tid: i64,
    ) -> Result<(String, String), ProjectError> {
        self.policy_for(by, id, Operation::Read).await?;
        self.execution_of(id, eid).await?;
        self.db
            .read(move |c| q::task_log(c, eid, tid))
            .await?
            .ok_or_else(|| ProjectError::NotFound(format!("task {tid} of execution {eid}")))
    }
}

/// Harbor's `GET /retentions/metadatas`.
pub fn metadata() -> Value {
    let templates: Vec<Value> = rules::TEMPLATES
        .iter()
        .map(|(id, text, unit)| {
            json!({
                "rule_template": id,
                "display_text": text,
                "action": "retain",
                "params": unit.map(|u| vec![json!({"type": "int", "unit": u.to_uppercase(), "required": true})]).unwrap_or_default(),
            })
        })
        .collect();
    json!({
        "templates": templates,
        "scope_selectors": [{"display_text": "Repositories", "kind": "doublestar", "decorations": ["repoMatches", "repoExcludes"]}],
        "tag_selectors": [{"display_text": "Tags", "kind": "doublestar", "decorations": ["matches", "excludes"]}],
    })
}
