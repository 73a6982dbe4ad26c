//! Projects and members under `/api/v2.0/projects`, in Harbor's shapes.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::audit;
use super::error::ApiError;
use super::extract::{
    id, ApiJson, AuthUser, ClientIp, MaybeUser, ProjectAccess, ProjectPath, QueryPairs, ReadProject,
};
use super::paging::Page;
use super::query::Query;
use super::rfc3339;
use super::usergroups::GroupReq;
use crate::auth::permissions::ProjectRole;
use crate::auth::permissions::{Operation, Resource};
use crate::db::members::MemberRow;
use crate::server::AppState;
use crate::service::projects::{MemberUser, NewMember, ProjectView};

/// Harbor's `ProjectReq`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProjectReq {
    project_name: Option<String>,
    #[serde(default)]
    metadata: Option<HashMap<String, String>>,
    /// Deprecated in Harbor in favour of `metadata.public`, still accepted.
    #[serde(default)]
    public: Option<bool>,
    /// The project's quota in bytes (-1 for none); only a system administrator may set one
    /// other than `storage_per_project`.
    #[serde(default)]
    storage_limit: Option<i64>,
    /// Proxy-cache projects are not supported; only null is accepted.
    #[serde(default)]
    registry_id: Option<i64>,
}

impl ProjectReq {
    fn public(&self) -> Result<Option<bool>, ApiError> {
        // `retention_id` is read-only (it follows the project's policy); Harbor's clients send
        // back what they read, so it is accepted and left alone.
        for key in self.metadata.iter().flat_map(|m| m.keys()) {
            if key != "public" && key != "retention_id" {
                return Err(ApiError::BadRequest(format!(
                    "unsupported project metadata key {key:?}"
                )));
            }
        }
        match self
            .metadata
            .as_ref()
            .and_then(|m| m.get("public"))
            .map(String::as_str)
        {
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(ApiError::BadRequest(format!(
                "metadata.public must be \"true\" or \"false\", not {other:?}"
            ))),
            None => Ok(self.public),
        }
    }

    fn check_unsupported(&self) -> Result<(), ApiError> {
        if self.registry_id.is_some() {
            return Err(ApiError::BadRequest(
                "proxy-cache projects (registry_id) are not supported".into(),
            ));
        }
        Ok(())
    }
}

/// Harbor's `Project`.
#[derive(Serialize)]
pub(super) struct ProjectWire {
    project_id: i64,
    owner_id: i64,
    name: String,
    owner_name: String,
    creation_time: String,
    update_time: String,
    deleted: bool,
    togglable: bool,
    current_user_role_id: u8,
    current_user_role_ids: Vec<u8>,
    repo_count: i64,
    metadata: HashMap<String, String>,
}

impl From<&ProjectView> for ProjectWire {
    fn from(v: &ProjectView) -> Self {
        let p = &v.project;
        let role = v.access.role.map(ProjectRole::id);
        ProjectWire {
            project_id: p.id,
            owner_id: p.owner_id,
            name: p.name.clone(),
            owner_name: p.owner_name.clone(),
            creation_time: rfc3339(p.created_at),
            update_time: rfc3339(p.updated_at),
            deleted: false,
            togglable: v.may(
                crate::auth::permissions::Resource::Project,
                crate::auth::permissions::Operation::Update,
            ),
            current_user_role_id: role.unwrap_or(0),
            current_user_role_ids: role.into_iter().collect(),
            repo_count: p.repo_count,
            metadata: {
                let mut m = HashMap::from([("public".to_string(), p.public.to_string())]);
                if let Some(r) = p.retention_id {
                    m.insert("retention_id".to_string(), r.to_string());
                }
                m
            },
        }
    }
}

pub(super) async fn create_project(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<ProjectReq>,
) -> Result<Response, ApiError> {
    req.check_unsupported()?;
    let public = req.public()?.unwrap_or(false);
    let name = req
        .project_name
        .as_deref()
        .ok_or_else(|| ApiError::BadRequest("project_name is required".into()))?;
    let created = state
        .projects
        .create(&user, name, public, req.storage_limit)
        .await;
    let pid = created.as_ref().ok().map(|p| p.id);
    audit(
        &state,
        &user,
        &ip,
        pid,
        "create",
        "project",
        name,
        created.is_ok(),
    );
    let project = created?;
    Ok((
        StatusCode::CREATED,
        [(
            header::LOCATION,
            format!("/api/v2.0/projects/{}", project.id),
        )],
    )
        .into_response())
}

/// `HEAD /projects?project_name=`: 200 when the name is taken, 404 otherwise.
pub(super) async fn head_project(
    State(state): State<AppState>,
    QueryPairs(q): QueryPairs,
) -> Result<StatusCode, ApiError> {
    let name = q
        .iter()
        .find(|(k, _)| k == "project_name")
        .map(|(_, v)| v.clone())
        .ok_or_else(|| ApiError::BadRequest("project_name is required".into()))?;
    Ok(if state.projects.exists(&name).await? {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    })
}

pub(super) async fn list_projects(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    let page = Page::from_query(&query.0)?;
    let q = Query::parse(query.get("q"), &["name", "public", "owner", "project_id"])?;
    let public = match query.get("public") {
        None => None,
        Some("true") | Some("1") => Some(true),
        Some("false") | Some("0") => Some(false),
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "public must be true or false, not {other:?}"
            )))
        }
    };
    let name = query.get("name").map(str::to_string);
    let owner = query.get("owner").map(str::to_string);
    let all = state.projects.list(&user).await?;
    let matching: Vec<&ProjectView> = all
        .iter()
        .filter(|v| {
            let p = &v.project;
            name.as_ref().is_none_or(|n| p.name.contains(n.as_str()))
                && owner.as_ref().is_none_or(|o| &p.owner_name == o)
                && public.is_none_or(|b| p.public == b)
                && q.matches("name", &p.name)
                && q.matches("public", &p.public.to_string())
                && q.matches("owner", &p.owner_name)
                && q.matches("project_id", &p.id.to_string())
        })
        .collect();
    let total = matching.len() as u64;
    let items: Vec<ProjectWire> = matching
        .into_iter()
        .skip(page.offset() as usize)
        .take(page.limit() as usize)
        .map(ProjectWire::from)
        .collect();
    Ok((
        page.headers(total, "/api/v2.0/projects", &query.0),
        Json(items),
    )
        .into_response())
}

pub(super) async fn get_project(access: ProjectAccess<ReadProject>) -> Json<ProjectWire> {
    Json(ProjectWire::from(&access.view))
}

pub(super) async fn update_project(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ClientIp(ip): ClientIp,
    ProjectPath(key): ProjectPath,
    ApiJson(req): ApiJson<ProjectReq>,
) -> Result<StatusCode, ApiError> {
    req.check_unsupported()?;
    let current = state
        .projects
        .require(&user, &key, Resource::Project, Operation::Update)
        .await;
    // Projects cannot be renamed; as in Harbor, a project_name in the body is ignored.
    let result = match (&current, req.public()?) {
        (Ok(_), Some(public)) => state
            .projects
            .set_public(&user, &key, public)
            .await
            .map_err(ApiError::from),
        _ => Ok(()),
    };
    let pid = current.as_ref().ok().map(|v| v.project.id);
    audit(
        &state,
        &user,
        &ip,
        pid,
        "update",
        "project",
        &key.to_string(),
        current.is_ok() && result.is_ok(),
    );
    current?;
    result?;
    Ok(StatusCode::OK)
}

pub(super) async fn delete_project(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ClientIp(ip): ClientIp,
    ProjectPath(key): ProjectPath,
) -> Result<StatusCode, ApiError> {
    let deleted = state.projects.delete(&user, &key).await;
    let pid = deleted.as_ref().ok().map(|p| p.id);
    audit(
        &state,
        &user,
        &ip,
        pid,
        "delete",
        "project",
        &key.to_string(),
        deleted.is_ok(),
    );
    deleted?;
    Ok(StatusCode::OK)
}

pub(super) async fn project_summary(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    ProjectPath(key): ProjectPath,
) -> Result<Json<serde_json::Value>, ApiError> {
    let s = state.projects.summary(&user, &key).await?;
    let count = |role: ProjectRole| {
        s.role_counts
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, n)| *n)
            .unwrap_or(0)
    };
    let mut summary = serde_json::json!({
        "repo_count": s.repo_count,
        "project_admin_count": count(ProjectRole::ProjectAdmin),
        "maintainer_count": count(ProjectRole::Maintainer),
        "developer_count": count(ProjectRole::Developer),
        "guest_count": count(ProjectRole::Guest),
        "limited_guest_count": count(ProjectRole::LimitedGuest),
    });
    // As Harbor: the quota only for those holding `quota:read` (members, not the public).
    if s.quota_readable {
        summary["quota"] = serde_json::json!({"hard": {"storage": s.storage_limit}, "used": {"storage": s.storage_used}});
    }
    Ok(Json(summary))
}

/// Harbor's `ProjectMemberEntity`.
#[derive(Serialize)]
pub(super) struct MemberWire {
    id: i64,
    project_id: i64,
    entity_name: String,
    role_name: String,
    role_id: u8,
    entity_id: i64,
    entity_type: String,
}

impl From<MemberRow> for MemberWire {
    fn from(m: MemberRow) -> Self {
        MemberWire {
            id: m.id,
            project_id: m.project_id,
            entity_name: m.entity_name,
            role_name: ProjectRole::from_id(m.role_id)
                .map(ProjectRole::name)
                .unwrap_or("")
                .to_string(),
            role_id: m.role_id,
            entity_id: m.entity_id,
            entity_type: m.entity_type,
        }
    }
}

pub(super) async fn list_members(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ProjectPath(key): ProjectPath,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    let page = Page::from_query(&query.0)?;
    let entityname = query.get("entityname").map(str::to_string);
    let (view, rows) = state.projects.members(&user, &key).await?;
    let matching: Vec<MemberRow> = rows
        .into_iter()
        .filter(|m| {
            entityname
                .as_ref()
                .is_none_or(|n| m.entity_name.contains(n.as_str()))
        })
        .collect();
    let total = matching.len() as u64;
    let items: Vec<MemberWire> = matching
        .into_iter()
        .skip(page.offset() as usize)
        .take(page.limit() as usize)
        .map(MemberWire::from)
        .collect();
    let path = format!("/api/v2.0/projects/{}/members", view.project.name);
    Ok((page.headers(total, &path, &query.0), Json(items)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MemberUserReq {
    #[serde(default)]
    user_id: Option<i64>,
    #[serde(default)]
    username: Option<String>,
}

/// Harbor's `ProjectMember`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MemberReq {
    role_id: i64,
    #[serde(default)]
    member_user: Option<MemberUserReq>,
    #[serde(default)]
    member_group: Option<GroupReq>,
}

pub(super) async fn add_member(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ClientIp(ip): ClientIp,
    ProjectPath(key): ProjectPath,
    ApiJson(req): ApiJson<MemberReq>,
) -> Result<Response, ApiError> {
    let who = match (req.member_user, req.member_group) {
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "give member_user or member_group, not both".into(),
            ))
        }
        (
            Some(MemberUserReq {
                user_id: Some(id), ..
            }),
            None,
        ) => NewMember::User(MemberUser::Id(id)),
        (
            Some(MemberUserReq {
                username: Some(name),
                ..
            }),
            None,
        ) => NewMember::User(MemberUser::Name(name)),
        (None, Some(group)) => NewMember::Group(group.into()),
        _ => {
            return Err(ApiError::BadRequest(
                "member_user (with user_id or username) or member_group is required".into(),
            ))
        }
    };
    let resource = match &who {
        NewMember::User(MemberUser::Id(id)) => format!("{key}/user {id}"),
        NewMember::User(MemberUser::Name(n)) => format!("{key}/{n}"),
        NewMember::Group(g) => format!(
            "{key}/group {}",
            g.ldap_group_dn
                .clone()
                .or_else(|| g.group_name.clone())
                .or_else(|| g.id.map(|i| i.to_string()))
                .unwrap_or_default()
        ),
    };
    let added = state
        .projects
        .add_member(&user, &key, who, req.role_id)
        .await;
    let pid = added.as_ref().ok().map(|(v, _)| v.project.id);
    audit(
        &state,
        &user,
        &ip,
        pid,
        "create",
        "member",
        &resource,
        added.is_ok(),
    );
    let (view, member) = added?;
    let location = format!(
        "/api/v2.0/projects/{}/members/{}",
        view.project.id, member.id
    );
    Ok((StatusCode::CREATED, [(header::LOCATION, location)]).into_response())
}

pub(super) async fn get_member(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ProjectPath(key): ProjectPath,
    Path((_, mid)): Path<(String, String)>,
) -> Result<Json<MemberWire>, ApiError> {
    let member = state
        .projects
        .member(&user, &key, id(&mid, "member id")?)
        .await?;
    Ok(Json(member.into()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RoleReq {
    role_id: i64,
}

pub(super) async fn update_member(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ClientIp(ip): ClientIp,
    ProjectPath(key): ProjectPath,
    Path((_, mid)): Path<(String, String)>,
    ApiJson(req): ApiJson<RoleReq>,
) -> Result<StatusCode, ApiError> {
    let updated = state
        .projects
        .update_member(&user, &key, id(&mid, "member id")?, req.role_id)
        .await;
    let pid = updated.as_ref().ok().map(|(v, _)| v.project.id);
    let resource = match &updated {
        Ok((_, m)) => format!("{key}/{}", m.entity_name),
        Err(_) => format!("{key}/member {mid}"),
    };
    audit(
        &state,
        &user,
        &ip,
        pid,
        "update",
        "member",
        &resource,
        updated.is_ok(),
    );
    updated?;
    Ok(StatusCode::OK)
}

pub(super) async fn delete_member(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ClientIp(ip): ClientIp,
    ProjectPath(key): ProjectPath,
    Path((_, mid)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let removed = state
        .projects
        .remove_member(&user, &key, id(&mid, "member id")?)
        .await;
    let pid = removed.as_ref().ok().map(|(v, _)| v.project.id);
    let resource = match &removed {
        Ok((_, m)) => format!("{key}/{}", m.entity_name),
        Err(_) => format!("{key}/member {mid}"),
    };
    audit(
        &state,
        &user,
        &ip,
        pid,
        "delete",
        "member",
        &resource,
        removed.is_ok(),
    );
    removed?;
    Ok(StatusCode::OK)
}
