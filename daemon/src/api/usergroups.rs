//! User groups under `/api/v2.0/usergroups`, in Harbor's `UserGroup` shape: LDAP groups that
//! can be project members.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::audit;
use super::error::ApiError;
use super::extract::{
    id, ApiJson, AuthUser, ClientIp, CreateUserGroups, DeleteUserGroups, ListUserGroups,
    QueryPairs, ReadUserGroups, SystemAdmin, UpdateUserGroups,
};
use super::paging::Page;
use crate::db::groups::GroupRow;
use crate::server::AppState;
use crate::service::directory::GroupRef;

/// Harbor's `UserGroup`, as requests send it (for creation, renaming and `member_group`).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct GroupReq {
    #[serde(default)]
    id: Option<i64>,
    #[serde(default)]
    group_name: Option<String>,
    #[serde(default)]
    group_type: Option<i64>,
    #[serde(default)]
    ldap_group_dn: Option<String>,
}

impl From<GroupReq> for GroupRef {
    fn from(g: GroupReq) -> Self {
        GroupRef {
            id: g.id,
            group_name: g.group_name,
            group_type: g.group_type,
            ldap_group_dn: g.ldap_group_dn,
        }
    }
}

/// Harbor's `UserGroup`, as answers carry it.
#[derive(Serialize)]
pub(super) struct GroupWire {
    pub id: i64,
    pub group_name: String,
    pub group_type: i64,
    pub ldap_group_dn: String,
}

impl From<GroupRow> for GroupWire {
    fn from(g: GroupRow) -> Self {
        GroupWire {
            id: g.id,
            group_name: g.group_name,
            group_type: g.group_type,
            ldap_group_dn: g.ldap_group_dn,
        }
    }
}

fn page_of(
    rows: Vec<GroupRow>,
    query: &QueryPairs,
    path: &str,
    short: bool,
) -> Result<Response, ApiError> {
    let page = Page::from_query(&query.0)?;
    let total = rows.len() as u64;
    let items: Vec<serde_json::Value> = rows
        .into_iter()
        .skip(page.offset() as usize)
        .take(page.limit() as usize)
        .map(|g| {
            if short {
                // Harbor's `UserGroupSearchItem`.
                serde_json::json!({"id": g.id, "group_name": g.group_name, "group_type": g.group_type})
            } else {
                serde_json::json!(GroupWire::from(g))
            }
        })
        .collect();
    Ok((page.headers(total, path, &query.0), Json(items)).into_response())
}

pub(super) async fn list_groups(
    State(state): State<AppState>,
    SystemAdmin(by, _): SystemAdmin<ListUserGroups>,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    let rows = state
        .directory
        .list_groups(&by, query.get("group_name"), query.get("ldap_group_dn"))
        .await?;
    page_of(rows, &query, "/api/v2.0/usergroups", false)
}

pub(super) async fn search_groups(
    State(state): State<AppState>,
    AuthUser(by): AuthUser,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    let Some(name) = query.get("groupname") else {
        return Err(ApiError::BadRequest("groupname is required".into()));
    };
    let rows = state.directory.search_groups(&by, name).await?;
    page_of(rows, &query, "/api/v2.0/usergroups/search", true)
}

pub(super) async fn create_group(
    State(state): State<AppState>,
    SystemAdmin(by, _): SystemAdmin<CreateUserGroups>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<GroupReq>,
) -> Result<Response, ApiError> {
    let what = req.ldap_group_dn.clone().unwrap_or_default();
    let created = state.directory.create_group(&by, req.into()).await;
    audit(
        &state,
        &by,
        &ip,
        None,
        "create",
        "user_group",
        &what,
        created.is_ok(),
    );
    let group = created?;
    let location = format!("/api/v2.0/usergroups/{}", group.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)]).into_response())
}

pub(super) async fn get_group(
    State(state): State<AppState>,
    SystemAdmin(by, _): SystemAdmin<ReadUserGroups>,
    Path(group_id): Path<String>,
) -> Result<Json<GroupWire>, ApiError> {
    let group = state
        .directory
        .group(&by, id(&group_id, "group_id")?)
        .await?;
    Ok(Json(group.into()))
}

pub(super) async fn update_group(
    State(state): State<AppState>,
    SystemAdmin(by, _): SystemAdmin<UpdateUserGroups>,
    ClientIp(ip): ClientIp,
    Path(group_id): Path<String>,
    ApiJson(req): ApiJson<GroupReq>,
) -> Result<StatusCode, ApiError> {
    let group_id = id(&group_id, "group_id")?;
    let Some(name) = req.group_name else {
        return Err(ApiError::BadRequest(
            "group_name is required (a group's type and DN cannot change)".into(),
        ));
    };
    let renamed = state.directory.rename_group(&by, group_id, &name).await;
    audit(
        &state,
        &by,
        &ip,
        None,
        "update",
        "user_group",
        &format!("{group_id} {name}"),
        renamed.is_ok(),
    );
    renamed?;
    Ok(StatusCode::OK)
}

pub(super) async fn delete_group(
    State(state): State<AppState>,
    SystemAdmin(by, _): SystemAdmin<DeleteUserGroups>,
    ClientIp(ip): ClientIp,
    Path(group_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let group_id = id(&group_id, "group_id")?;
    let deleted = state.directory.delete_group(&by, group_id).await;
    let what = match &deleted {
        Ok(g) => g.ldap_group_dn.clone(),
        Err(_) => group_id.to_string(),
    };
    audit(
        &state,
        &by,
        &ip,
        None,
        "delete",
        "user_group",
        &what,
        deleted.is_ok(),
    );
    deleted?;
    Ok(StatusCode::OK)
}
