//! A project's robot accounts: created with a permission picker that offers only what the
//! creator holds there, the secret shown once (with copy and export), refreshed, disabled and
//! deleted.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::i18n::{k, machine_time};
use super::page::{back_to, render, CsrfForm, Frame, PortalError, SignedIn, Viewer};
use super::projects::{ConfirmTemplate, ProjectHeader};
use crate::api::extract::ClientIp;
use crate::auth::permissions::{Operation, Resource, MATRIX};
use crate::auth::robot::{Access, RobotPermission};
use crate::auth::session::{Flash, FlashKind};
use crate::names::ProjectRef;
use crate::server::AppState;
use crate::service::robots::RobotRequest;

struct RobotItem {
    id: i64,
    name: String,
    description: String,
    enabled: bool,
    permissions: String,
    created: String,
    created_iso: String,
    expires: String,
}

/// One checkbox of the permission picker.
struct PermissionChoice {
    value: String,
    label: String,
}

#[derive(Template)]
#[template(path = "robots.html")]
struct RobotsTemplate {
    frame: Frame,
    header: ProjectHeader,
    robots: Vec<RobotItem>,
    choices: Vec<PermissionChoice>,
    project: String,
    /// The configured default lifetime (`robot_token_duration`), offered first.
    default_days: i64,
    may_create: bool,
    may_update: bool,
    may_delete: bool,
}

pub async fn list(
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
            Resource::Robot,
            Operation::List,
        )
        .await?;
    let rows = state
        .robots
        .list(&viewer.principal, Some("project"), Some(view.project.id))
        .await?;
    let robots = rows
        .into_iter()
        .map(|(r, perms)| RobotItem {
            id: r.id,
            permissions: perms
                .iter()
                .flat_map(|p| {
                    p.access
                        .iter()
                        .map(|a| format!("{}:{}", a.resource, a.action))
                })
                .collect::<Vec<_>>()
                .join(", "),
            expires: if r.expires_at < 0 {
                t.s("robot-never-expires")
            } else {
                t.time(r.expires_at)
            },
            created: t.time(r.created_at),
            created_iso: machine_time(r.created_at),
            enabled: !r.disabled,
            description: r.description,
            name: r.name,
        })
        .collect();
    // Only what the creator holds here: the service would refuse the rest anyway.
    let choices = MATRIX
        .iter()
        .filter(|(r, o, _)| view.may(*r, *o))
        .map(|(r, o, _)| PermissionChoice {
            value: format!("{}:{}", r.as_str(), o.as_str()),
            label: format!("{} {}", r.as_str(), o.as_str()),
        })
        .collect();
    Ok(render(&RobotsTemplate {
        header: ProjectHeader::new(&t, &view, "robots"),
        robots,
        choices,
        project: view.project.name.clone(),
        default_days: i64::from(state.settings.current().system.robot_token_duration_days),
        may_create: view.may(Resource::Robot, Operation::Create),
        may_update: view.may(Resource::Robot, Operation::Update),
        may_delete: view.may(Resource::Robot, Operation::Delete),
        frame: viewer.frame(&state, view.project.name.clone(), "projects"),
    }))
}

fn show_secret(state: &AppState, viewer: &Viewer, text: String, name: String, secret: String) {
    if let Some((sid, _)) = &viewer.session {
        state.sessions.set_flash(
            sid,
            Flash {
                kind: FlashKind::Success,
                text,
                secret: Some((name, secret)),
            },
        );
    }
}

/// `name`, `description`, `duration` (days, -1 for never) and any number of `permission`
/// fields (`resource:action`).
pub async fn create(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(project): Path<String>,
    CsrfForm(viewer, form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let field = |k: &str| {
        form.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    let access: Vec<Access> = form
        .iter()
        .filter(|(k, _)| k == "permission")
        .filter_map(|(_, v)| v.split_once(':'))
        .map(|(r, a)| Access {
            resource: r.to_string(),
            action: a.to_string(),
            effect: None,
        })
        .collect();
    let name = field("name");
    let duration = field("duration").parse::<i64>().unwrap_or(30);
    let back = format!("/projects/{project}/robots");
    if access.is_empty() {
        viewer.flash(&state, FlashKind::Error, t.s("robot-needs-permission"));
        return Ok(back_to(&back));
    }
    let created = state
        .robots
        .create(
            &viewer.principal,
            RobotRequest {
                name: name.clone(),
                description: field("description"),
                level: "project".into(),
                duration,
                disable: false,
                secret: None,
                permissions: vec![RobotPermission {
                    kind: "project".into(),
                    namespace: project.clone(),
                    access,
                }],
            },
        )
        .await;
    crate::api::audit(
        &state,
        &viewer.principal,
        &ip,
        created.as_ref().ok().and_then(|c| c.robot.project_id),
        "create",
        "robot",
        &created
            .as_ref()
            .map(|c| c.robot.name.clone())
            .unwrap_or(name),
        created.is_ok(),
    );
    match created {
        Ok(c) => show_secret(
            &state,
            &viewer,
            t.t1("robot-created", "name", &c.robot.name),
            c.robot.name,
            c.secret,
        ),
        Err(e) => viewer.flash(&state, FlashKind::Error, e.to_string()),
    }
    Ok(back_to(&back))
}

#[derive(Deserialize)]
pub struct Empty {}

/// Checks that the robot belongs to the project in the path, so a URL cannot act on another
/// project's robot under this project's name (the service checks the caller's rights on the
/// robot's own project anyway).
async fn robot_of(
    state: &AppState,
    viewer: &Viewer,
    project: &str,
    id: i64,
) -> Result<(crate::db::robots::RobotRow, Vec<RobotPermission>), PortalError> {
    let view = state
        .projects
        .view(&viewer.principal, &ProjectRef::name(project))
        .await?;
    let (robot, permissions) = state.robots.get(&viewer.principal, id).await?;
    if robot.project_id != Some(view.project.id) {
        return Err(PortalError::NotFound(format!(
            "robot {id} in project {project}"
        )));
    }
    Ok((robot, permissions))
}

pub async fn refresh(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path((project, id)): Path<(String, i64)>,
    CsrfForm(viewer, _): CsrfForm<Empty>,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    robot_of(&state, &viewer, &project, id).await?;
    let result = state
        .robots
        .refresh_secret(&viewer.principal, id, None)
        .await;
    crate::api::audit(
        &state,
        &viewer.principal,
        &ip,
        result.as_ref().ok().and_then(|(r, _)| r.project_id),
        "update",
        "robot",
        &result
            .as_ref()
            .map(|(r, _)| r.name.clone())
            .unwrap_or_else(|_| id.to_string()),
        result.is_ok(),
    );
    match result {
        Ok((r, secret)) => show_secret(
            &state,
            &viewer,
            t.t1("robot-refreshed", "name", &r.name),
            r.name,
            secret,
        ),
        Err(e) => viewer.flash(&state, FlashKind::Error, e.to_string()),
    }
    Ok(back_to(&format!("/projects/{project}/robots")))
}

pub async fn toggle(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path((project, id)): Path<(String, i64)>,
    CsrfForm(viewer, _): CsrfForm<Empty>,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let (robot, permissions) = robot_of(&state, &viewer, &project, id).await?;
    let disable = !robot.disabled;
    let result = state
        .robots
        .update(
            &viewer.principal,
            id,
            RobotRequest {
                name: robot.name.clone(),
                description: robot.description.clone(),
                level: robot.level.clone(),
                duration: robot.duration,
                disable,
                secret: None,
                permissions,
            },
        )
        .await;
    crate::api::audit(
        &state,
        &viewer.principal,
        &ip,
        robot.project_id,
        "update",
        "robot",
        &robot.name,
        result.is_ok(),
    );
    let key = if disable {
        k("robot-disabled")
    } else {
        k("robot-enabled")
    };
    viewer.tell(&state, result, |_| t.t1(key, "name", &robot.name));
    Ok(back_to(&format!("/projects/{project}/robots")))
}

pub async fn confirm_delete(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
    Path((project, id)): Path<(String, i64)>,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let (robot, _) = robot_of(&state, &viewer, &project, id).await?;
    Ok(render(&ConfirmTemplate {
        frame: viewer.frame(&state, t.s("confirm-title"), "projects"),
        question: t.t1("robot-delete-question", "name", &robot.name),
        items: vec![robot.name.clone()],
        consequence: t.s("robot-delete-consequence"),
        action: format!("/projects/{project}/robots/{id}/delete"),
        cancel: format!("/projects/{project}/robots"),
        button: t.s("action-delete"),
    }))
}

pub async fn delete(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path((project, id)): Path<(String, i64)>,
    CsrfForm(viewer, _): CsrfForm<Empty>,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    robot_of(&state, &viewer, &project, id).await?;
    let result = state.robots.delete(&viewer.principal, id).await;
    crate::api::audit(
        &state,
        &viewer.principal,
        &ip,
        result.as_ref().ok().and_then(|r| r.project_id),
        "delete",
        "robot",
        &result
            .as_ref()
            .map(|r| r.name.clone())
            .unwrap_or_else(|_| id.to_string()),
        result.is_ok(),
    );
    viewer.tell(&state, result, |r| t.t1("robot-deleted", "name", &r.name));
    Ok(back_to(&format!("/projects/{project}/robots")))
}

#[derive(Deserialize)]
pub struct SecretForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    secret: String,
}

/// `POST /account/secret.json`: the name and secret the page was showing, as a file to keep
/// (Harbor's "export to file"). Nothing is looked up: the browser sends what it shows.
pub async fn export_secret(CsrfForm(_, form): CsrfForm<SecretForm>) -> Response {
    let body = serde_json::json!({"name": form.name, "secret": form.secret}).to_string();
    let file = form
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect::<String>();
    (
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}.json\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response()
}
