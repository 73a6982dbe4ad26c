//! Users under `/api/v2.0/users`, in Harbor's shapes.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::audit;
use super::error::ApiError;
use super::extract::{
    id, ApiJson, AuthUser, ClientIp, DeleteUsers, ListUsers, MaybeUser, QueryPairs, SystemAdmin,
    UpdateUsers,
};
use super::paging::Page;
use super::query::Query;
use super::rfc3339;
use crate::db::users::UserRow;
use crate::server::AppState;
use crate::service::users::UserRequest;

/// Harbor's `UserResp`.
#[derive(Serialize)]
pub(super) struct UserWire {
    user_id: i64,
    username: String,
    email: String,
    realname: String,
    comment: String,
    sysadmin_flag: bool,
    admin_role_in_auth: bool,
    creation_time: String,
    update_time: String,
}

impl From<UserRow> for UserWire {
    fn from(u: UserRow) -> Self {
        UserWire {
            user_id: u.id,
            username: u.username,
            email: u.email.unwrap_or_default(),
            realname: u.realname,
            comment: u.comment,
            sysadmin_flag: u.sysadmin,
            admin_role_in_auth: u.directory_admin,
            creation_time: rfc3339(u.created_at),
            update_time: rfc3339(u.updated_at),
        }
    }
}

/// Harbor's `UserCreationReq`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UserCreationReq {
    username: String,
    email: String,
    password: String,
    #[serde(default)]
    realname: String,
    #[serde(default)]
    comment: String,
}

pub(super) async fn create_user(
    State(state): State<AppState>,
    MaybeUser(by): MaybeUser,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<UserCreationReq>,
) -> Result<Response, ApiError> {
    let name = req.username.clone();
    let created = state
        .users
        .create(
            &by,
            UserRequest {
                username: req.username,
                email: req.email,
                realname: req.realname,
                comment: req.comment,
                password: req.password,
            },
        )
        .await;
    audit(
        &state,
        &by,
        &ip,
        None,
        "create",
        "user",
        &name,
        created.is_ok(),
    );
    let user = created?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v2.0/users/{}", user.id))],
    )
        .into_response())
}

pub(super) async fn list_users(
    State(state): State<AppState>,
    SystemAdmin(by, _): SystemAdmin<ListUsers>,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    let page = Page::from_query(&query.0)?;
    let q = Query::parse(query.get("q"), &["username", "email", "user_id"])?;
    let all = state.users.list(&by).await?;
    let matching: Vec<UserRow> = all
        .into_iter()
        .filter(|u| {
            q.matches("username", &u.username)
                && q.matches("email", u.email.as_deref().unwrap_or(""))
                && q.matches("user_id", &u.id.to_string())
        })
        .collect();
    let total = matching.len() as u64;
    let items: Vec<UserWire> = matching
        .into_iter()
        .skip(page.offset() as usize)
        .take(page.limit() as usize)
        .map(UserWire::from)
        .collect();
    Ok((
        page.headers(total, "/api/v2.0/users", &query.0),
        Json(items),
    )
        .into_response())
}

pub(super) async fn search_users(
    State(state): State<AppState>,
    AuthUser(by): AuthUser,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    let page = Page::from_query(&query.0)?;
    let fragment = query
        .get("username")
        .ok_or_else(|| ApiError::BadRequest("username is required".into()))?;
    let found = state.users.search(&by, fragment).await?;
    let total = found.len() as u64;
    let items: Vec<serde_json::Value> = found
        .into_iter()
        .skip(page.offset() as usize)
        .take(page.limit() as usize)
        .map(|u| serde_json::json!({"user_id": u.id, "username": u.username}))
        .collect();
    Ok((
        page.headers(total, "/api/v2.0/users/search", &query.0),
        Json(items),
    )
        .into_response())
}

pub(super) async fn current_user(
    State(state): State<AppState>,
    AuthUser(by): AuthUser,
) -> Result<Json<UserWire>, ApiError> {
    Ok(Json(state.users.current(&by).await?.into()))
}

pub(super) async fn get_user(
    State(state): State<AppState>,
    AuthUser(by): AuthUser,
    Path(user_id): Path<String>,
) -> Result<Json<UserWire>, ApiError> {
    Ok(Json(
        state.users.get(&by, id(&user_id, "user_id")?).await?.into(),
    ))
}

/// Harbor's `UserProfile`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UserProfile {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    realname: Option<String>,
    #[serde(default)]
    comment: Option<String>,
}

pub(super) async fn update_user(
    State(state): State<AppState>,
    AuthUser(by): AuthUser,
    ClientIp(ip): ClientIp,
    Path(user_id): Path<String>,
    ApiJson(req): ApiJson<UserProfile>,
) -> Result<StatusCode, ApiError> {
    let updated = state
        .users
        .update_profile(
            &by,
            id(&user_id, "user_id")?,
            req.email,
            req.realname,
            req.comment,
        )
        .await;
    let resource = updated
        .as_ref()
        .map(|u| u.username.clone())
        .unwrap_or_else(|_| format!("user {user_id}"));
    audit(
        &state,
        &by,
        &ip,
        None,
        "update",
        "user",
        &resource,
        updated.is_ok(),
    );
    updated?;
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PasswordReq {
    #[serde(default)]
    old_password: Option<String>,
    new_password: String,
}

pub(super) async fn change_password(
    State(state): State<AppState>,
    AuthUser(by): AuthUser,
    ClientIp(ip): ClientIp,
    Path(user_id): Path<String>,
    ApiJson(req): ApiJson<PasswordReq>,
) -> Result<StatusCode, ApiError> {
    let target = id(&user_id, "user_id")?;
    let changed = state
        .users
        .change_password(&by, target, req.old_password, req.new_password)
        .await;
    audit(
        &state,
        &by,
        &ip,
        None,
        "update",
        "user",
        &format!("user {target} password"),
        changed.is_ok(),
    );
    changed?;
    // Browser sessions opened with the old password end with it.
    state.sessions.remove_user(target);
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SysAdminFlag {
    sysadmin_flag: bool,
}

pub(super) async fn set_sysadmin(
    State(state): State<AppState>,
    SystemAdmin(by, _): SystemAdmin<UpdateUsers>,
    ClientIp(ip): ClientIp,
    Path(user_id): Path<String>,
    ApiJson(req): ApiJson<SysAdminFlag>,
) -> Result<StatusCode, ApiError> {
    let target = id(&user_id, "user_id")?;
    let changed = state
        .users
        .set_sysadmin(&by, target, req.sysadmin_flag)
        .await;
    let what = format!("user {target} sysadmin={}", req.sysadmin_flag);
    audit(
        &state,
        &by,
        &ip,
        None,
        "update",
        "user",
        &what,
        changed.is_ok(),
    );
    changed?;
    Ok(StatusCode::OK)
}

pub(super) async fn delete_user(
    State(state): State<AppState>,
    SystemAdmin(by, _): SystemAdmin<DeleteUsers>,
    ClientIp(ip): ClientIp,
    Path(user_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let deleted = state.users.delete(&by, id(&user_id, "user_id")?).await;
    let resource = deleted
        .as_ref()
        .map(|u| u.username.clone())
        .unwrap_or_else(|_| format!("user {user_id}"));
    audit(
        &state,
        &by,
        &ip,
        None,
        "delete",
        "user",
        &resource,
        deleted.is_ok(),
    );
    deleted?;
    Ok(StatusCode::OK)
}
