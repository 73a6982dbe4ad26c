//! Administration of users (create, administrator on and off, delete) and user groups.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

use super::i18n::{k, machine_time};
use super::page::{back_to, render, CsrfForm, Frame, PortalError, SignedIn};
use super::projects::ConfirmTemplate;
use super::table::{remember_size, Paging, TableQuery};
use crate::api::extract::ClientIp;
use crate::auth::permissions::{Operation, Resource};
use crate::auth::session::FlashKind;
use crate::config::AuthMode;
use crate::server::AppState;
use crate::service::directory::GroupRef;
use crate::service::users::UserRequest;

struct UserItem {
    id: i64,
    username: String,
    email: String,
    admin: bool,
    directory: bool,
    created: String,
    created_iso: String,
    own: bool,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersTemplate {
    frame: Frame,
    users: Vec<UserItem>,
    paging: Paging,
    may_create: bool,
    may_update: bool,
    may_delete: bool,
    ldap: bool,
}

pub async fn list(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
    headers: HeaderMap,
    Query(query): Query<TableQuery>,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let mut rows = state.users.list(&viewer.principal).await?;
    let needle = query.q.trim().to_lowercase();
    if !needle.is_empty() {
        rows.retain(|u| {
            u.username.to_lowercase().contains(&needle)
                || u.email
                    .as_deref()
                    .is_some_and(|e| e.to_lowercase().contains(&needle))
        });
    }
    rows.sort_by(|a, b| a.username.cmp(&b.username));
    let (shown, paging) = Paging::cut(rows, &query, query.size(&headers), "/admin/users");
    let me = viewer.principal.user_id();
    let users = shown
        .into_iter()
        .map(|u| UserItem {
            own: Some(u.id) == me,
            id: u.id,
            email: u.email.unwrap_or_default(),
            admin: u.sysadmin,
            directory: u.password_hash.is_none(),
            created: t.time(u.created_at),
            created_iso: machine_time(u.created_at),
            username: u.username,
        })
        .collect();
    let mut response = render(&UsersTemplate {
        users,
        paging,
        may_create: viewer.may_system(Resource::User, Operation::Create)
            && state.settings.current().auth_mode == AuthMode::Db,
        may_update: viewer.may_system(Resource::User, Operation::Update),
        may_delete: viewer.may_system(Resource::User, Operation::Delete),
        ldap: state.settings.current().auth_mode == AuthMode::Ldap,
        frame: viewer.frame(&state, t.s("users-title"), "admin-users"),
    });
    remember_size(&query, &mut response);
    Ok(response)
}

#[derive(Deserialize)]
pub struct NewUserForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    realname: String,
    #[serde(default)]
    password: String,
}

pub async fn create(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    CsrfForm(viewer, form): CsrfForm<NewUserForm>,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let username = form.username.trim().to_string();
    let result = state
        .users
        .create(
            &viewer.principal,
            UserRequest {
                username: username.clone(),
                email: form.email.trim().to_string(),
                realname: form.realname,
                comment: String::new(),
                password: form.password,
            },
        )
        .await;
    crate::api::audit(
        &state,
        &viewer.principal,
        &ip,
        None,
        "create",
        "user",
        &username,
        result.is_ok(),
    );
    viewer.tell(&state, result, |u| {
        t.t1("user-created", "name", &u.username)
    });
    Ok(back_to("/admin/users"))
}

#[derive(Deserialize)]
pub struct AdminForm {
    #[serde(default)]
    admin: Option<String>,
}

pub async fn set_admin(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
    CsrfForm(viewer, form): CsrfForm<AdminForm>,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let flag = form.admin.as_deref() == Some("true");
    let user = state.users.get(&viewer.principal, id).await?;
    let result = state.users.set_sysadmin(&viewer.principal, id, flag).await;
    crate::api::audit(
        &state,
        &viewer.principal,
        &ip,
        None,
        "update",
        "user",
        &user.username,
        result.is_ok(),
    );
    match result {
        Ok(()) => {
            let key = if flag {
                k("user-made-admin")
            } else {
                k("user-admin-revoked")
            };
            viewer.flash(
                &state,
                FlashKind::Success,
                t.t1(key, "name", &user.username),
            )
        }
        Err(e) => viewer.flash(&state, FlashKind::Error, e.to_string()),
    }
    Ok(back_to("/admin/users"))
}

pub async fn confirm_delete(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    if !viewer.may_system(Resource::User, Operation::Delete) {
        return Err(PortalError::Forbidden(
            "only a system administrator may delete users".into(),
        ));
    }
    let user = state.users.get(&viewer.principal, id).await?;
    Ok(render(&ConfirmTemplate {
        frame: viewer.frame(&state, t.s("confirm-title"), "admin-users"),
        question: t.t1("user-delete-question", "name", &user.username),
        items: vec![user.username.clone()],
        consequence: t.s("user-delete-consequence"),
        action: format!("/admin/users/{id}/delete"),
        cancel: "/admin/users".into(),
        button: t.s("action-delete"),
    }))
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn delete(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
    CsrfForm(viewer, _): CsrfForm<Empty>,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let result = state.users.delete(&viewer.principal, id).await;
    let name = result
        .as_ref()
        .map(|u| u.username.clone())
        .unwrap_or_else(|_| id.to_string());
    crate::api::audit(
        &state,
        &viewer.principal,
        &ip,
        None,
        "delete",
        "user",
        &name,
        result.is_ok(),
    );
    match result {
        Ok(u) => {
            // A deleted user's browser sessions end with the account.
            state.sessions.remove_user(u.id);
            viewer.flash(
                &state,
                FlashKind::Success,
                t.t1("user-deleted", "name", &u.username),
            )
        }
        Err(e) => viewer.flash(&state, FlashKind::Error, e.to_string()),
    }
    Ok(back_to("/admin/users"))
}

struct GroupItem {
    id: i64,
    name: String,
    dn: String,
}

#[derive(Template)]
#[template(path = "admin_groups.html")]
struct GroupsTemplate {
    frame: Frame,
    groups: Vec<GroupItem>,
    may_create: bool,
    may_delete: bool,
    ldap: bool,
}

fn directory_error(e: crate::service::directory::DirectoryError) -> PortalError {
    use crate::service::directory::DirectoryError as E;
    match e {
        E::NotFound(_) => PortalError::NotFound(e.to_string()),
        E::Forbidden(m) => PortalError::Forbidden(m),
        E::Unauthorized => PortalError::SignIn {
            next: "/".into(),
            expired: false,
        },
        E::Db(e) => PortalError::Internal(e.to_string()),
        E::Auth(e) => PortalError::Internal(e.to_string()),
        E::Conflict(m) => PortalError::Conflict(m),
        other => PortalError::Invalid(other.to_string()),
    }
}

pub async fn groups(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let rows = state
        .directory
        .list_groups(&viewer.principal, None, None)
        .await
        .map_err(directory_error)?;
    Ok(render(&GroupsTemplate {
        groups: rows
            .into_iter()
            .map(|g| GroupItem {
                id: g.id,
                name: g.group_name,
                dn: g.ldap_group_dn,
            })
            .collect(),
        may_create: viewer.may_system(Resource::UserGroup, Operation::Create),
        may_delete: viewer.may_system(Resource::UserGroup, Operation::Delete),
        ldap: state.settings.current().auth_mode == AuthMode::Ldap,
        frame: viewer.frame(&state, t.s("groups-title"), "admin-groups"),
    }))
}

#[derive(Deserialize)]
pub struct GroupForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    dn: String,
}

pub async fn create_group(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    CsrfForm(viewer, form): CsrfForm<GroupForm>,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let result = state
        .directory
        .create_group(
            &viewer.principal,
            GroupRef {
                id: None,
                group_name: Some(form.name.trim().to_string()).filter(|n| !n.is_empty()),
                group_type: Some(1),
                ldap_group_dn: Some(form.dn.trim().to_string()),
            },
        )
        .await;
    crate::api::audit(
        &state,
        &viewer.principal,
        &ip,
        None,
        "create",
        "user_group",
        form.dn.trim(),
        result.is_ok(),
    );
    viewer.tell(&state, result, |g| {
        t.t1("group-created", "name", &g.group_name)
    });
    Ok(back_to("/admin/groups"))
}

pub async fn confirm_delete_group(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let group = state
        .directory
        .group(&viewer.principal, id)
        .await
        .map_err(directory_error)?;
    Ok(render(&ConfirmTemplate {
        frame: viewer.frame(&state, t.s("confirm-title"), "admin-groups"),
        question: t.t1("group-delete-question", "name", &group.group_name),
        items: vec![format!("{} ({})", group.group_name, group.ldap_group_dn)],
        consequence: t.s("group-delete-consequence"),
        action: format!("/admin/groups/{id}/delete"),
        cancel: "/admin/groups".into(),
        button: t.s("action-delete"),
    }))
}

pub async fn delete_group(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
    CsrfForm(viewer, _): CsrfForm<Empty>,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let result = state.directory.delete_group(&viewer.principal, id).await;
    let name = result
        .as_ref()
        .map(|g| g.group_name.clone())
        .unwrap_or_else(|_| id.to_string());
    crate::api::audit(
        &state,
        &viewer.principal,
        &ip,
        None,
        "delete",
        "user_group",
        &name,
        result.is_ok(),
    );
    viewer.tell(&state, result, |g| {
        t.t1("group-deleted", "name", &g.group_name)
    });
    Ok(back_to("/admin/groups"))
}
