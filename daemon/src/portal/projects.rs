//! The projects list, creating and deleting a project, and a project's summary.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::charts::{self, Bar};
use super::i18n::{k, machine_time, Arg, Tr};
use super::page::{back_to, render, CsrfForm, Frame, PortalError, SignedIn, Viewer};
use super::table::{remember_size, Paging, TableQuery};
use crate::auth::permissions::{Operation, ProjectRole, Resource};
use crate::auth::session::FlashKind;
use crate::config::CreationRestriction;
use crate::names::ProjectRef;
use crate::server::AppState;
use crate::service::projects::ProjectView;

/// The translated name of a role.
pub fn role_label(t: &Tr, role: Option<ProjectRole>) -> String {
    match role {
        Some(ProjectRole::ProjectAdmin) => t.s("role-project-admin"),
        Some(ProjectRole::Maintainer) => t.s("role-maintainer"),
        Some(ProjectRole::Developer) => t.s("role-developer"),
        Some(ProjectRole::Guest) => t.s("role-guest"),
        Some(ProjectRole::LimitedGuest) => t.s("role-limited-guest"),
        None => "—".to_string(),
    }
}

/// A tab of a project's pages.
pub struct Tab {
    pub href: String,
    pub label: String,
    pub current: bool,
}

/// A project's quota as a bar: usage against the limit, or usage and "unlimited". Drawn by
/// `quota_bar.html` as a `<meter>`, which reads without CSS or JavaScript.
pub struct QuotaBar {
    pub used: i64,
    /// The limit, or 0 when there is none (the meter then shows nothing filled).
    pub max: i64,
    pub limited: bool,
    pub text: String,
}

impl QuotaBar {
    pub fn new(t: &Tr, used: i64, hard: i64) -> QuotaBar {
        let text = if hard < 0 {
            t.t1("quota-used-unlimited", "used", &t.size(used))
        } else {
            let percent = if hard > 0 {
                used.saturating_mul(100) / hard
            } else {
                100
            };
            let (used_text, limit_text) = (t.size(used), t.size(hard));
            t.with(
                k("quota-used-of"),
                &[
                    ("used", Arg::Text(&used_text)),
                    ("limit", Arg::Text(&limit_text)),
                    ("percent", Arg::Number(percent)),
                ],
            )
        };
        QuotaBar {
            used,
            max: hard.max(0),
            limited: hard >= 0,
            text,
        }
    }
}

/// The heading and tabs every page of a project carries; a tab shows only when the viewer
/// may use it.
pub struct ProjectHeader {
    pub name: String,
    pub public: bool,
    pub role: String,
    pub tabs: Vec<Tab>,
    /// Shown to those holding `quota:read` (members), as Harbor does.
    pub quota: Option<QuotaBar>,
}

impl ProjectHeader {
    pub fn new(t: &Tr, view: &ProjectView, current: &str) -> ProjectHeader {
        let name = &view.project.name;
        let base = format!("/projects/{name}");
        let entries = [
            (
                "summary",
                k("tab-summary"),
                Resource::Project,
                Operation::Read,
            ),
            (
                "repositories",
                k("tab-repositories"),
                Resource::Repository,
                Operation::List,
            ),
            (
                "members",
                k("tab-members"),
                Resource::Member,
                Operation::List,
            ),
            (
                "policy",
                k("tab-policy"),
                Resource::TagRetention,
                Operation::Read,
            ),
            ("robots", k("tab-robots"), Resource::Robot, Operation::List),
            ("logs", k("tab-logs"), Resource::Log, Operation::List),
        ];
        ProjectHeader {
            name: name.clone(),
            public: view.project.public,
            quota: view
                .may(Resource::Quota, Operation::Read)
                .then(|| QuotaBar::new(t, view.project.quota_used, view.project.quota_hard)),
            role: role_label(t, view.access.role),
            tabs: entries
                .iter()
                .filter(|(path, _, r, o)| {
                    view.may(*r, *o)
                        || (*path == "policy" && view.may(Resource::ImmutableTag, Operation::List))
                })
                .map(|(path, key, _, _)| Tab {
                    href: format!("{base}/{path}"),
                    label: t.s(key),
                    current: *path == current,
                })
                .collect(),
        }
    }
}

struct ProjectItem {
    name: String,
    public: bool,
    role: String,
    repo_count: i64,
    quota: Option<QuotaBar>,
    created: String,
    created_iso: String,
}

#[derive(Template)]
#[template(path = "projects.html")]
struct ProjectsTemplate {
    frame: Frame,
    projects: Vec<ProjectItem>,
    paging: Paging,
    may_create: bool,
    /// Values of a create form that failed, to fill it again.
    new_name: String,
}

fn may_create(state: &AppState, viewer: &Viewer) -> bool {
    viewer.may_system(Resource::Project, Operation::Create)
        || state.settings.current().system.project_creation_restriction
            == CreationRestriction::Everyone
}

pub async fn list(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
    headers: HeaderMap,
    Query(query): Query<TableQuery>,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let mut views = state.projects.list(&viewer.principal).await?;
    let needle = query.q.trim().to_lowercase();
    if !needle.is_empty() {
        views.retain(|v| v.project.name.contains(&needle));
    }
    match query.sort.as_str() {
        "created" => views.sort_by_key(|v| std::cmp::Reverse(v.project.created_at)),
        "repositories" => views.sort_by_key(|v| std::cmp::Reverse(v.project.repo_count)),
        _ => views.sort_by(|a, b| a.project.name.cmp(&b.project.name)),
    }
    let size = query.size(&headers);
    let (shown, paging) = Paging::cut(views, &query, size, "/projects");
    let projects = shown
        .into_iter()
        .map(|v| ProjectItem {
            quota: v
                .may(Resource::Quota, Operation::Read)
                .then(|| QuotaBar::new(&t, v.project.quota_used, v.project.quota_hard)),
            role: role_label(&t, v.access.role),
            name: v.project.name,
            public: v.project.public,
            repo_count: v.project.repo_count,
            created: t.time(v.project.created_at),
            created_iso: machine_time(v.project.created_at),
        })
        .collect();
    let mut response = render(&ProjectsTemplate {
        frame: viewer.frame(&state, t.s("projects-title"), "projects"),
        projects,
        paging,
        may_create: may_create(&state, &viewer),
        new_name: String::new(),
    });
    remember_size(&query, &mut response);
    Ok(response)
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    public: Option<String>,
}

pub async fn create(
    State(state): State<AppState>,
    crate::api::extract::ClientIp(ip): crate::api::extract::ClientIp,
    CsrfForm(viewer, form): CsrfForm<CreateForm>,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let name = form.name.trim().to_string();
    let result = state
        .projects
        .create(&viewer.principal, &name, form.public.is_some(), None)
        .await;
    crate::api::audit(
        &state,
        &viewer.principal,
        &ip,
        result.as_ref().ok().map(|p| p.id),
        "create",
        "project",
        &name,
        result.is_ok(),
    );
    match result {
        Ok(p) => {
            viewer.flash(
                &state,
                FlashKind::Success,
                t.t1("project-created", "name", &p.name),
            );
            Ok(back_to(&format!("/projects/{}/repositories", p.name)))
        }
        Err(e) => {
            viewer.flash(&state, FlashKind::Error, e.to_string());
            Ok(back_to("/projects"))
        }
    }
}

/// `/projects/{p}`: the repositories, as in Harbor.
pub async fn home(Path(project): Path<String>) -> Response {
    Redirect::to(&format!(
        "/projects/{}/repositories",
        super::page::urlencode(&project)
    ))
    .into_response()
}

struct RoleCount {
    role: String,
    count: i64,
}

#[derive(Template)]
#[template(path = "project_summary.html")]
struct SummaryTemplate {
    frame: Frame,
    header: ProjectHeader,
    repo_count: i64,
    artifact_count: i64,
    storage: String,
    roles: Vec<RoleCount>,
    storage_chart: String,
    activity_chart: String,
    owner: String,
    created: String,
    may_delete: bool,
}

pub async fn summary(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
    Path(project): Path<String>,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let by = &viewer.principal;
    let view = state
        .projects
        .require(
            by,
            &ProjectRef::name(&project),
            Resource::Project,
            Operation::Read,
        )
        .await?;
    let summary = state
        .projects
        .summary(by, &ProjectRef::Id(view.project.id))
        .await?;
    let repositories = if view.may(Resource::Repository, Operation::List) {
        state.repositories.list(by, &view.project.name).await?.1
    } else {
        vec![]
    };
    let artifact_count = repositories.iter().map(|r| r.artifact_count).sum();
    let storage_bars = state
        .projects
        .repository_storage(by, &ProjectRef::Id(view.project.id))
        .await
        .unwrap_or_default();
    let bars: Vec<Bar> = storage_bars
        .into_iter()
        .take(10)
        .map(|(name, bytes)| Bar {
            label: name
                .strip_prefix(&format!("{}/", view.project.name))
                .unwrap_or(&name)
                .to_string(),
            value: bytes,
            shown: t.size(bytes),
        })
        .collect();
    let may_list_members = view.may(Resource::Member, Operation::List);
    let activity = if may_list_members {
        state
            .projects
            .daily_activity(by, &ProjectRef::Id(view.project.id), 30)
            .await?
    } else {
        vec![]
    };
    let page = SummaryTemplate {
        header: ProjectHeader::new(&t, &view, "summary"),
        repo_count: summary.repo_count,
        artifact_count,
        storage: t.size(summary.storage_used),
        roles: summary
            .role_counts
            .iter()
            .filter(|_| may_list_members)
            .map(|(r, n)| RoleCount {
                role: role_label(&t, Some(*r)),
                count: *n,
            })
            .collect(),
        storage_chart: charts::bars(&bars, &t.s("chart-storage-by-repository")),
        activity_chart: if may_list_members {
            charts::activity(&activity, &t)
        } else {
            String::new()
        },
        owner: view.project.owner_name.clone(),
        created: t.time(view.project.created_at),
        may_delete: view.may(Resource::Project, Operation::Delete),
        frame: viewer.frame(&state, view.project.name.clone(), "projects"),
    };
    Ok(render(&page))
}

#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmTemplate {
    pub frame: Frame,
    pub question: String,
    /// Everything that goes, named.
    pub items: Vec<String>,
    /// What follows: e.g. that disk space frees at the next garbage collection.
    pub consequence: String,
    pub action: String,
    pub cancel: String,
    pub button: String,
}

pub async fn confirm_delete(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
    Path(project): Path<String>,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let view = state
        .projects
        .require(
            &viewer.principal,
            &ProjectRef::name(&project),
            Resource::Project,
            Operation::Delete,
        )
        .await?;
    let name = view.project.name.clone();
    let consequence = if view.project.repo_count > 0 {
        t.n1("project-delete-not-empty", "count", view.project.repo_count)
    } else {
        t.s("project-delete-consequence")
    };
    Ok(render(&ConfirmTemplate {
        frame: viewer.frame(&state, t.s("confirm-title"), "projects"),
        question: t.t1("project-delete-question", "name", &name),
        items: vec![name.clone()],
        consequence,
        action: format!("/projects/{name}/delete"),
        cancel: format!("/projects/{name}/summary"),
        button: t.s("action-delete"),
    }))
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn delete(
    State(state): State<AppState>,
    crate::api::extract::ClientIp(ip): crate::api::extract::ClientIp,
    Path(project): Path<String>,
    CsrfForm(viewer, _): CsrfForm<Empty>,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let result = state
        .projects
        .delete(&viewer.principal, &ProjectRef::name(&project))
        .await;
    crate::api::audit(
        &state,
        &viewer.principal,
        &ip,
        result.as_ref().ok().map(|p| p.id),
        "delete",
        "project",
        &project,
        result.is_ok(),
    );
    match result {
        Ok(p) => {
            viewer.flash(
                &state,
                FlashKind::Success,
                t.t1("project-deleted", "name", &p.name),
            );
            Ok(back_to("/projects"))
        }
        Err(e @ crate::service::projects::ProjectError::PreconditionFailed(_)) => {
            viewer.flash(&state, FlashKind::Error, e.to_string());
            Ok(back_to(&format!("/projects/{project}/summary")))
        }
        Err(e) => Err(e.into()),
    }
}
