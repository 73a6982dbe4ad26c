//! A project's members (users and user groups) and their roles.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;

use super::page::{back_to, render, CsrfForm, Frame, PortalError, SignedIn};
use super::projects::{role_label, ConfirmTemplate, ProjectHeader};
use crate::api::extract::ClientIp;
use crate::auth::permissions::{Operation, ProjectRole, Resource};
use crate::names::ProjectRef;
use crate::server::AppState;
use crate::service::directory::GroupRef;
use crate::service::projects::{MemberUser, NewMember};

pub struct RoleChoice {
    pub id: u8,
    pub label: String,
    pub current: bool,
}

/// The five roles, strongest first, with `current` marked.
pub fn role_choices(t: &super::i18n::Tr, current: Option<u8>) -> Vec<RoleChoice> {
    [
        ProjectRole::ProjectAdmin,
        ProjectRole::Maintainer,
        ProjectRole::Developer,
        ProjectRole::Guest,
        ProjectRole::LimitedGuest,
    ]
    .into_iter()
    .map(|r| RoleChoice {
        id: r.id(),
        label: role_label(t, Some(r)),
        current: Some(r.id()) == current,
    })
    .collect()
}

struct MemberItem {
    id: i64,
    name: String,
    group: bool,
    role: String,
    roles: Vec<RoleChoice>,
    /// Oneself: a project admin cannot demote or remove themselves.
    own: bool,
}

#[derive(Template)]
#[template(path = "members.html")]
struct MembersTemplate {
    frame: Frame,
    header: ProjectHeader,
    members: Vec<MemberItem>,
    new_roles: Vec<RoleChoice>,
    may_add: bool,
    may_update: bool,
    may_remove: bool,
}

pub async fn list(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
    Path(project): Path<String>,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let (view, rows) = state
        .projects
        .members(&viewer.principal, &ProjectRef::name(&project))
        .await?;
    let me = viewer.principal.user_id();
    let members = rows
        .into_iter()
        .map(|m| MemberItem {
            own: m.entity_type == "u" && Some(m.entity_id) == me,
            id: m.id,
            group: m.entity_type == "g",
            role: role_label(&t, ProjectRole::from_id(m.role_id)),
            roles: role_choices(&t, Some(m.role_id)),
            name: m.entity_name,
        })
        .collect();
    Ok(render(&MembersTemplate {
        header: ProjectHeader::new(&t, &view, "members"),
        members,
        new_roles: role_choices(&t, Some(ProjectRole::Developer.id())),
        may_add: view.may(Resource::Member, Operation::Create),
        may_update: view.may(Resource::Member, Operation::Update),
        may_remove: view.may(Resource::Member, Operation::Delete),
        frame: viewer.frame(&state, view.project.name.clone(), "projects"),
    }))
}

#[derive(Deserialize)]
pub struct AddForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    role_id: i64,
}

pub async fn add(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(project): Path<String>,
    CsrfForm(viewer, form): CsrfForm<AddForm>,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let name = form.name.trim().to_string();
    let who = if form.kind == "group" {
        NewMember::Group(GroupRef {
            id: None,
            group_name: Some(name.clone()),
            group_type: None,
            ldap_group_dn: None,
        })
    } else {
        NewMember::User(MemberUser::Name(name.clone()))
    };
    let result = state
        .projects
        .add_member(
            &viewer.principal,
            &ProjectRef::name(&project),
            who,
            form.role_id,
        )
        .await;
    crate::api::audit(
        &state,
        &viewer.principal,
        &ip,
        result.as_ref().ok().map(|(v, _)| v.project.id),
        "create",
        "member",
        &name,
        result.is_ok(),
    );
    viewer.tell(&state, result, |_| t.t1("member-added", "name", &name));
    Ok(back_to(&format!("/projects/{project}/members")))
}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role_id: i64,
}

pub async fn set_role(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path((project, member)): Path<(String, i64)>,
    CsrfForm(viewer, form): CsrfForm<RoleForm>,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let result = state
        .projects
        .update_member(
            &viewer.principal,
            &ProjectRef::name(&project),
            member,
            form.role_id,
        )
        .await;
    crate::api::audit(
        &state,
        &viewer.principal,
        &ip,
        result.as_ref().ok().map(|(v, _)| v.project.id),
        "update",
        "member",
        &result
            .as_ref()
            .map(|(_, m)| m.entity_name.clone())
            .unwrap_or_else(|_| member.to_string()),
        result.is_ok(),
    );
    viewer.tell(&state, result, |(_, m)| {
        t.t1("member-role-changed", "name", &m.entity_name)
    });
    Ok(back_to(&format!("/projects/{project}/members")))
}

pub async fn confirm_remove(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
    Path((project, member)): Path<(String, i64)>,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let m = state
        .projects
        .member(&viewer.principal, &ProjectRef::name(&project), member)
        .await?;
    Ok(render(&ConfirmTemplate {
        frame: viewer.frame(&state, t.s("confirm-title"), "projects"),
        question: t.t1("member-remove-question", "name", &m.entity_name),
        items: vec![m.entity_name.clone()],
        consequence: t.s("member-remove-consequence"),
        action: format!("/projects/{project}/members/{member}/remove"),
        cancel: format!("/projects/{project}/members"),
        button: t.s("member-remove"),
    }))
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn remove(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path((project, member)): Path<(String, i64)>,
    CsrfForm(viewer, _): CsrfForm<Empty>,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let result = state
        .projects
        .remove_member(&viewer.principal, &ProjectRef::name(&project), member)
        .await;
    crate::api::audit(
        &state,
        &viewer.principal,
        &ip,
        result.as_ref().ok().map(|(v, _)| v.project.id),
        "delete",
        "member",
        &result
            .as_ref()
            .map(|(_, m)| m.entity_name.clone())
            .unwrap_or_else(|_| member.to_string()),
        result.is_ok(),
    );
    viewer.tell(&state, result, |(_, m)| {
        t.t1("member-removed", "name", &m.entity_name)
    });
    Ok(back_to(&format!("/projects/{project}/members")))
}
