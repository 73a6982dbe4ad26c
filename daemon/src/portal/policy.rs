//! A project's Policy tab: tag retention (rules, schedule, dry run and run, history with each
//! repository's log) and tag immutability (rules, on and off). Every action goes through the
//! same services as `/retentions` and `/immutabletagrules`; the page only offers what the
//! permission table allows the viewer.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::admin::status_label;
use super::i18n::{k, machine_time, Tr};
use super::page::{back_to, render, CsrfForm, Frame, PortalError, SignedIn, Viewer};
use super::projects::ProjectHeader;
use crate::api::extract::ClientIp;
use crate::auth::permissions::{Operation, Resource};
use crate::auth::session::FlashKind;
use crate::names::ProjectRef;
use crate::retention::rules::{RuleWire, TEMPLATES};
use crate::retention::Parameters;
use crate::selectors::SelectorWire;
use crate::server::AppState;
use crate::service::immutability::ImmutableRuleWire;
use crate::service::projects::ProjectView;
use crate::service::retention::{PolicyWire, ScopeWire, TriggerWire};

/// Executions shown in the history.
const HISTORY: i64 = 20;

struct RuleItem {
    number: usize,
    what: String,
    repositories: String,
    tags: String,
}

struct ImmutableItem {
    id: i64,
    repositories: String,
    tags: String,
    enabled: bool,
}

struct RunItem {
    id: i64,
    href: String,
    status: String,
    dry_run: bool,
    trigger: String,
    started: String,
    started_iso: String,
    total: i64,
    retained: i64,
    deleted: i64,
}

struct TemplateChoice {
    id: &'static str,
    label: String,
}

#[derive(Template)]
#[template(path = "policy.html")]
struct PolicyTemplate {
    frame: Frame,
    header: ProjectHeader,
    project: String,
    may_retention: bool,
    may_change_retention: bool,
    may_run: bool,
    may_immutable: bool,
    may_add_immutable: bool,
    may_update_immutable: bool,
    may_delete_immutable: bool,
    rules: Vec<RuleItem>,
    cron: String,
    runs: Vec<RunItem>,
    immutable: Vec<ImmutableItem>,
    templates: Vec<TemplateChoice>,
}

/// A template's name in the form, and its rule as a sentence with `$count`.
fn template_keys(id: &str) -> (&'static str, &'static str) {
    match id {
        "latestPushedK" => (
            k("retention-template-latest-pushed"),
            k("retention-rule-latest-pushed"),
        ),
        "latestPulledN" => (
            k("retention-template-latest-pulled"),
            k("retention-rule-latest-pulled"),
        ),
        "latestActiveK" => (
            k("retention-template-latest-active"),
            k("retention-rule-latest-active"),
        ),
        "nDaysSinceLastPush" => (
            k("retention-template-days-since-push"),
            k("retention-rule-days-since-push"),
        ),
        "nDaysSinceLastPull" => (
            k("retention-template-days-since-pull"),
            k("retention-rule-days-since-pull"),
        ),
        _ => (k("retention-template-always"), k("retention-rule-always")),
    }
}

fn template_label(t: &Tr, id: &str) -> String {
    t.s(template_keys(id).0)
}

/// "matching app/**", "excluding v1*"; untagged artifacts named when selected.
fn selector_text(t: &Tr, selectors: &[SelectorWire]) -> String {
    selectors
        .iter()
        .map(|s| {
            let key = match s.decoration.as_str() {
                "repoExcludes" | "excludes" => k("selector-excluding"),
                _ => k("selector-matching"),
            };
            let mut text = t.t1(key, "pattern", &s.pattern);
            if s.extras.contains("\"untagged\":true") {
                text.push_str(&t.s("selector-and-untagged"));
            }
            text
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn repositories_of(scope: &BTreeMap<String, Vec<SelectorWire>>) -> &[SelectorWire] {
    scope
        .get("repository")
        .map(Vec::as_slice)
        .unwrap_or_default()
}

async fn project_view(
    state: &AppState,
    viewer: &Viewer,
    project: &str,
) -> Result<ProjectView, PortalError> {
    let view = state
        .projects
        .view(&viewer.principal, &ProjectRef::name(project))
        .await?;
    if view.may(Resource::TagRetention, Operation::Read)
        || view.may(Resource::ImmutableTag, Operation::List)
    {
        Ok(view)
    } else {
        Err(PortalError::Forbidden(format!(
            "you may not see the policies of project {project}"
        )))
    }
}

pub async fn page(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
    Path(project): Path<String>,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let by = &viewer.principal;
    let view = project_view(&state, &viewer, &project).await?;
    let key = ProjectRef::Id(view.project.id);
    let may_retention = view.may(Resource::TagRetention, Operation::Read);
    let (mut rules, mut cron, mut runs) = (vec![], String::new(), vec![]);
    if may_retention {
        let (_, policy) = state.retention.of_project(by, &key).await?;
        if let Some(p) = policy {
            rules = p
                .rules
                .iter()
                .enumerate()
                .map(|(i, r)| RuleItem {
                    number: i + 1,
                    what: rule_text(&t, r),
                    repositories: selector_text(&t, repositories_of(&r.scope_selectors)),
                    tags: selector_text(&t, &r.tag_selectors),
                })
                .collect();
            cron = p
                .trigger
                .settings
                .get("cron")
                .and_then(|c| c.as_str())
                .unwrap_or_default()
                .to_string();
            let (rows, _) = state.retention.executions(by, p.id, 0, HISTORY).await?;
            runs = rows
                .iter()
                .map(|e| {
                    let result: serde_json::Value =
                        serde_json::from_str(&e.result).unwrap_or_default();
                    let n = |k: &str| result.get(k).and_then(|v| v.as_i64()).unwrap_or(0);
                    let params = serde_json::from_str(&e.parameters).unwrap_or_default();
                    RunItem {
                        id: e.id,
                        href: format!("/projects/{}/policy/retention/{}", view.project.name, e.id),
                        status: status_label(&t, &e.status),
                        dry_run: Parameters::parse(&params)
                            .map(|p| p.dry_run)
                            .unwrap_or(false),
                        trigger: if e.triggered_by == "schedule" {
                            t.s("trigger-schedule")
                        } else {
                            t.s("trigger-manual")
                        },
                        started: e.started_at.map(|s| t.time(s)).unwrap_or_default(),
                        started_iso: e.started_at.map(machine_time).unwrap_or_default(),
                        total: n("total"),
                        retained: n("retained"),
                        deleted: n("deleted"),
                    }
                })
                .collect();
        }
    }
    let may_immutable = view.may(Resource::ImmutableTag, Operation::List);
    let immutable = if may_immutable {
        state
            .immutability
            .list(by, &key)
            .await?
            .1
            .iter()
            .map(|r| ImmutableItem {
                id: r.id,
                repositories: selector_text(&t, repositories_of(&r.scope_selectors)),
                tags: selector_text(&t, &r.tag_selectors),
                enabled: !r.disabled,
            })
            .collect()
    } else {
        vec![]
    };
    let templates = TEMPLATES
        .iter()
        .map(|(id, _, _)| TemplateChoice {
            id,
            label: template_label(&t, id),
        })
        .collect();
    Ok(render(&PolicyTemplate {
        header: ProjectHeader::new(&t, &view, "policy"),
        project: view.project.name.clone(),
        may_retention,
        may_change_retention: view.may(Resource::TagRetention, Operation::Update)
            && view.may(Resource::TagRetention, Operation::Create),
        may_run: view.may(Resource::TagRetention, Operation::Operate),
        may_immutable,
        may_add_immutable: view.may(Resource::ImmutableTag, Operation::Create),
        may_update_immutable: view.may(Resource::ImmutableTag, Operation::Update),
        may_delete_immutable: view.may(Resource::ImmutableTag, Operation::Delete),
        rules,
        cron,
        runs,
        immutable,
        templates,
        frame: viewer.frame(&state, view.project.name.clone(), "projects"),
    }))
}

fn rule_text(t: &Tr, r: &RuleWire) -> String {
    let n = r
        .params
        .get(&r.template)
        .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()))
        .unwrap_or(0);
    t.n1(template_keys(&r.template).1, "count", n)
}

/// The add-rule forms: a template (retention only) and its number, and one repository and one
/// tag selector.
#[derive(Deserialize)]
pub struct RuleForm {
    #[serde(default)]
    template: String,
    #[serde(default)]
    count: String,
    #[serde(default)]
    repo_decoration: String,
    #[serde(default)]
    repo_pattern: String,
    #[serde(default)]
    tag_decoration: String,
    #[serde(default)]
    tag_pattern: String,
    #[serde(default)]
    untagged: Option<String>,
}

impl RuleForm {
    fn selectors(&self) -> (Vec<SelectorWire>, BTreeMap<String, Vec<SelectorWire>>) {
        let pattern = |p: &str| {
            let p = p.trim();
            if p.is_empty() { "**" } else { p }.to_string()
        };
        let tags = vec![SelectorWire::tags(
            &pattern(&self.tag_pattern),
            self.tag_decoration == "excludes",
            self.untagged.is_some(),
        )];
        let repos = BTreeMap::from([(
            "repository".to_string(),
            vec![SelectorWire::repositories(
                &pattern(&self.repo_pattern),
                self.repo_decoration == "repoExcludes",
            )],
        )]);
        (tags, repos)
    }
}

fn policy_href(project: &str) -> String {
    format!("/projects/{project}/policy")
}

/// Creates the project's policy with this rule, or adds it to the one there is.
pub async fn add_retention_rule(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(project): Path<String>,
    CsrfForm(viewer, form): CsrfForm<RuleForm>,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let by = &viewer.principal;
    let view = project_view(&state, &viewer, &project).await?;
    let (tag_selectors, scope_selectors) = form.selectors();
    let count: i64 = form.count.trim().parse().unwrap_or(-1);
    let mut params = serde_json::Map::new();
    if form.template != "always" {
        params.insert(form.template.clone(), json!(count));
    }
    let rule = RuleWire {
        id: 0,
        priority: 0,
        disabled: false,
        action: "retain".into(),
        template: form.template.clone(),
        params,
        tag_selectors,
        scope_selectors,
    };
    let existing = current_policy(&state, &viewer, &view).await?;
    let result = match existing {
        Some(mut p) => {
            p.rules.push(rule);
            let id = p.id;
            state.retention.update(by, id, p).await.map(|_| id)
        }
        None => {
            let p = PolicyWire {
                id: 0,
                algorithm: "or".into(),
                rules: vec![rule],
                trigger: TriggerWire::default(),
                scope: Some(ScopeWire {
                    level: "project".into(),
                    reference: view.project.id,
                }),
            };
            state.retention.create(by, p).await.map(|(_, id)| id)
        }
    };
    audit_policy_change(&state, &viewer, &ip, &view, result.is_ok());
    viewer.tell(&state, result, |_| t.s("retention-rule-added"));
    Ok(back_to(&policy_href(&project)))
}

/// Every change of the retention policy from this page is audited the same way.
fn audit_policy_change(state: &AppState, viewer: &Viewer, ip: &str, view: &ProjectView, ok: bool) {
    crate::api::audit(
        state,
        &viewer.principal,
        ip,
        Some(view.project.id),
        "update",
        "retention_policy",
        &view.project.name,
        ok,
    );
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn delete_retention_rule(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path((project, number)): Path<(String, usize)>,
    CsrfForm(viewer, _): CsrfForm<Empty>,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let by = &viewer.principal;
    let view = project_view(&state, &viewer, &project).await?;
    let existing = current_policy(&state, &viewer, &view).await?;
    let mut p = existing.ok_or_else(|| PortalError::NotFound("retention policy".into()))?;
    if number == 0 || number > p.rules.len() {
        return Err(PortalError::NotFound(format!("rule {number}")));
    }
    p.rules.remove(number - 1);
    let id = p.id;
    let result = state.retention.update(by, id, p).await;
    audit_policy_change(&state, &viewer, &ip, &view, result.is_ok());
    viewer.tell(&state, result, |_| t.s("retention-rule-removed"));
    Ok(back_to(&policy_href(&project)))
}

#[derive(Deserialize)]
pub struct ScheduleForm {
    #[serde(default)]
    cron: String,
}

pub async fn set_schedule(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(project): Path<String>,
    CsrfForm(viewer, form): CsrfForm<ScheduleForm>,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let by = &viewer.principal;
    let view = project_view(&state, &viewer, &project).await?;
    let existing = current_policy(&state, &viewer, &view).await?;
    let mut p = existing.ok_or_else(|| {
        PortalError::Invalid("add a rule first: the schedule belongs to the policy".into())
    })?;
    p.trigger = TriggerWire {
        settings: json!({"cron": form.cron.trim()}),
        ..TriggerWire::default()
    };
    let id = p.id;
    let result = state.retention.update(by, id, p).await;
    audit_policy_change(&state, &viewer, &ip, &view, result.is_ok());
    viewer.tell(&state, result, |_| t.s("retention-schedule-saved"));
    Ok(back_to(&policy_href(&project)))
}

#[derive(Deserialize)]
pub struct RunForm {
    #[serde(default)]
    dry_run: Option<String>,
}

pub async fn run(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(project): Path<String>,
    CsrfForm(viewer, form): CsrfForm<RunForm>,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let by = &viewer.principal;
    let view = project_view(&state, &viewer, &project).await?;
    let existing = current_policy(&state, &viewer, &view).await?;
    let p = existing
        .ok_or_else(|| PortalError::Invalid("the project has no retention rules".into()))?;
    let dry_run = form.dry_run.as_deref() == Some("true");
    let result = state.retention.run(by, p.id, dry_run).await;
    crate::api::audit(
        &state,
        by,
        &ip,
        Some(view.project.id),
        "create",
        "retention_execution",
        &view.project.name,
        result.is_ok(),
    );
    match result {
        Ok((_, eid)) => {
            viewer.flash(
                &state,
                FlashKind::Success,
                t.s(if dry_run {
                    k("retention-dry-run-started")
                } else {
                    k("retention-run-started")
                }),
            );
            Ok(back_to(&format!(
                "/projects/{project}/policy/retention/{eid}"
            )))
        }
        Err(e) => {
            viewer.flash(&state, FlashKind::Error, e.to_string());
            Ok(back_to(&policy_href(&project)))
        }
    }
}

struct TaskItem {
    href: String,
    repository: String,
    status: String,
    total: i64,
    retained: i64,
}

/// Tasks listed on a run's page; each one's log has a page of its own.
const TASKS_SHOWN: i64 = 500;

#[derive(Template)]
#[template(path = "policy_run.html")]
struct RunTemplate {
    frame: Frame,
    header: ProjectHeader,
    project: String,
    run: RunItem,
    tasks: Vec<TaskItem>,
    more_tasks: i64,
    running: bool,
}

/// The project's retention policy, if it has one (the service checks the viewer may read it).
async fn current_policy(
    state: &AppState,
    viewer: &Viewer,
    view: &ProjectView,
) -> Result<Option<PolicyWire>, PortalError> {
    Ok(state
        .retention
        .of_project(&viewer.principal, &ProjectRef::Id(view.project.id))
        .await?
        .1)
}

/// The project's policy id, for a viewer who may read retention there.
async fn policy_id(
    state: &AppState,
    viewer: &Viewer,
    view: &ProjectView,
) -> Result<i64, PortalError> {
    current_policy(state, viewer, view)
        .await?
        .map(|p| p.id)
        .ok_or_else(|| PortalError::NotFound("retention policy".into()))
}

pub async fn execution(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
    Path((project, eid)): Path<(String, i64)>,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let by = &viewer.principal;
    let view = project_view(&state, &viewer, &project).await?;
    let policy = policy_id(&state, &viewer, &view).await?;
    let e = state.retention.execution(by, policy, eid).await?;
    let (rows, total) = state
        .retention
        .tasks(by, policy, eid, 0, TASKS_SHOWN)
        .await?;
    let tasks = rows
        .into_iter()
        .map(|r| TaskItem {
            href: format!(
                "/projects/{}/policy/retention/{eid}/tasks/{}",
                view.project.name, r.id
            ),
            repository: r.repository,
            status: status_label(&t, &r.status),
            total: r.total,
            retained: r.retained,
        })
        .collect::<Vec<_>>();
    let result: serde_json::Value = serde_json::from_str(&e.result).unwrap_or_default();
    let n = |k: &str| result.get(k).and_then(|v| v.as_i64()).unwrap_or(0);
    let params = serde_json::from_str(&e.parameters).unwrap_or_default();
    let running = matches!(e.status.as_str(), "Pending" | "Running");
    Ok(render(&RunTemplate {
        header: ProjectHeader::new(&t, &view, "policy"),
        project: view.project.name.clone(),
        run: RunItem {
            id: e.id,
            href: String::new(),
            status: status_label(&t, &e.status),
            dry_run: Parameters::parse(&params)
                .map(|p| p.dry_run)
                .unwrap_or(false),
            trigger: if e.triggered_by == "schedule" {
                t.s("trigger-schedule")
            } else {
                t.s("trigger-manual")
            },
            started: e.started_at.map(|s| t.time(s)).unwrap_or_default(),
            started_iso: e.started_at.map(machine_time).unwrap_or_default(),
            total: n("total"),
            retained: n("retained"),
            deleted: n("deleted"),
        },
        more_tasks: total - tasks.len() as i64,
        tasks,
        running,
        frame: viewer.frame(&state, view.project.name.clone(), "projects"),
    }))
}

#[derive(Template)]
#[template(path = "policy_task.html")]
struct TaskTemplate {
    frame: Frame,
    header: ProjectHeader,
    run_href: String,
    repository: String,
    log: String,
}

/// One repository's log of a run (bounded when it was written).
pub async fn task(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
    Path((project, eid, tid)): Path<(String, i64, i64)>,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let by = &viewer.principal;
    let view = project_view(&state, &viewer, &project).await?;
    let policy = policy_id(&state, &viewer, &view).await?;
    let (repository, log) = state.retention.task_log(by, policy, eid, tid).await?;
    Ok(render(&TaskTemplate {
        header: ProjectHeader::new(&t, &view, "policy"),
        run_href: format!("/projects/{}/policy/retention/{eid}", view.project.name),
        repository,
        log,
        frame: viewer.frame(&state, view.project.name.clone(), "projects"),
    }))
}

pub async fn add_immutable_rule(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(project): Path<String>,
    CsrfForm(viewer, form): CsrfForm<RuleForm>,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let by = &viewer.principal;
    let (tag_selectors, scope_selectors) = form.selectors();
    let rule = ImmutableRuleWire {
        id: 0,
        priority: 0,
        disabled: false,
        action: "immutable".into(),
        template: "immutable_template".into(),
        params: serde_json::Map::new(),
        tag_selectors,
        scope_selectors,
    };
    let result = state
        .immutability
        .create(by, &ProjectRef::name(&project), &rule)
        .await;
    crate::api::audit(
        &state,
        by,
        &ip,
        result.as_ref().ok().map(|(v, _)| v.project.id),
        "create",
        "immutable_rule",
        &project,
        result.is_ok(),
    );
    viewer.tell(&state, result, |_| t.s("immutable-rule-added"));
    Ok(back_to(&policy_href(&project)))
}

#[derive(Deserialize)]
pub struct ToggleForm {
    #[serde(default)]
    enable: Option<String>,
}

pub async fn toggle_immutable_rule(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path((project, id)): Path<(String, i64)>,
    CsrfForm(viewer, form): CsrfForm<ToggleForm>,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let by = &viewer.principal;
    let toggle = ImmutableRuleWire {
        id,
        priority: 0,
        disabled: form.enable.is_none(),
        action: "immutable".into(),
        template: "immutable_template".into(),
        params: serde_json::Map::new(),
        tag_selectors: vec![],
        scope_selectors: BTreeMap::new(),
    };
    let result = state
        .immutability
        .update(by, &ProjectRef::name(&project), id, &toggle)
        .await;
    crate::api::audit(
        &state,
        by,
        &ip,
        result.as_ref().ok().map(|v| v.project.id),
        "update",
        "immutable_rule",
        &format!("{project}: rule {id}"),
        result.is_ok(),
    );
    viewer.tell(&state, result, |_| t.s("immutable-rule-changed"));
    Ok(back_to(&policy_href(&project)))
}

pub async fn delete_immutable_rule(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path((project, id)): Path<(String, i64)>,
    CsrfForm(viewer, _): CsrfForm<Empty>,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let by = &viewer.principal;
    let result = state
        .immutability
        .delete(by, &ProjectRef::name(&project), id)
        .await;
    crate::api::audit(
        &state,
        by,
        &ip,
        result.as_ref().ok().map(|v| v.project.id),
        "delete",
        "immutable_rule",
        &format!("{project}: rule {id}"),
        result.is_ok(),
    );
    viewer.tell(&state, result, |_| t.s("immutable-rule-removed"));
    Ok(back_to(&policy_href(&project)))
}
