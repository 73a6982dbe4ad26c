//! Harbor's LDAP helpers under `/api/v2.0/ldap`: test settings, find directory users and
//! groups, import users. For system admins.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::audit;
use super::error::ApiError;
use super::extract::{
    ApiJson, ClientIp, ImportLdapUsers, ListLdapUsers, QueryPairs, SystemAdmin, UpdateConfiguration,
};
use crate::config::Secret;
use crate::server::AppState;
use crate::service::directory::LdapSettings;

/// Harbor's `LdapConf`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LdapConfReq {
    #[serde(default)]
    ldap_url: Option<String>,
    #[serde(default)]
    ldap_search_dn: Option<String>,
    #[serde(default)]
    ldap_search_password: Option<Secret>,
    #[serde(default)]
    ldap_base_dn: Option<String>,
    #[serde(default)]
    ldap_filter: Option<String>,
    #[serde(default)]
    ldap_uid: Option<String>,
    #[serde(default)]
    ldap_scope: Option<u8>,
    #[serde(default)]
    ldap_connection_timeout: Option<u64>,
    #[serde(default)]
    ldap_verify_cert: Option<bool>,
}

/// Tests the saved settings, or the given ones over them. A test that ran answers 200 with
/// `success` and a message naming the step that failed.
pub(super) async fn ping(
    State(state): State<AppState>,
    SystemAdmin(by, _): SystemAdmin<UpdateConfiguration>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = body.map_err(|r| match r.status() {
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge("the request body is too large".into())
        }
        _ => ApiError::BadRequest(r.body_text()),
    })?;
    // The body is optional: none (or `{}`) tests the saved settings.
    let req: LdapConfReq = if body.iter().all(u8::is_ascii_whitespace) {
        LdapConfReq::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("invalid LDAP settings: {e}")))?
    };
    let settings = LdapSettings {
        ldap_url: req.ldap_url,
        ldap_search_dn: req.ldap_search_dn,
        ldap_search_password: req.ldap_search_password,
        ldap_base_dn: req.ldap_base_dn,
        ldap_filter: req.ldap_filter,
        ldap_uid: req.ldap_uid,
        ldap_scope: req.ldap_scope,
        ldap_connection_timeout: req.ldap_connection_timeout,
        ldap_verify_cert: req.ldap_verify_cert,
    };
    Ok(Json(match state.directory.ping(&by, settings).await? {
        Ok(()) => {
            json!({"success": true, "message": "the directory answered: connection, search bind and base DN are fine"})
        }
        Err(why) => json!({"success": false, "message": why}),
    }))
}

pub(super) async fn search_users(
    State(state): State<AppState>,
    SystemAdmin(by, _): SystemAdmin<ListLdapUsers>,
    query: QueryPairs,
) -> Result<Json<Vec<Value>>, ApiError> {
    let users = state
        .directory
        .search_users(&by, query.get("username").unwrap_or(""))
        .await?;
    Ok(Json(
        users
            .into_iter()
            .map(|u| json!({"username": u.username, "realname": u.display_name, "email": u.email.unwrap_or_default()}))
            .collect(),
    ))
}

pub(super) async fn search_groups(
    State(state): State<AppState>,
    SystemAdmin(by, _): SystemAdmin<ListLdapUsers>,
    query: QueryPairs,
) -> Result<Json<Vec<Value>>, ApiError> {
    let dn = query.get("groupdn").filter(|d| !d.is_empty());
    let groups = state
        .directory
        .search_directory_groups(&by, query.get("groupname").unwrap_or(""), dn)
        .await?;
    Ok(Json(
        groups
            .into_iter()
            // No `id`: these are the directory's groups, not (yet) user groups.
            .map(|g| json!({"group_name": g.name, "group_type": 1, "ldap_group_dn": g.dn}))
            .collect(),
    ))
}

/// Harbor's `LdapImportUsers`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ImportReq {
    ldap_uid_list: Vec<String>,
}

/// 200 when every user was imported; otherwise 404 with the ones that were not, and why.
pub(super) async fn import_users(
    State(state): State<AppState>,
    SystemAdmin(by, _): SystemAdmin<ImportLdapUsers>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<ImportReq>,
) -> Result<Response, ApiError> {
    if req.ldap_uid_list.is_empty() || req.ldap_uid_list.len() > 1000 {
        return Err(ApiError::BadRequest(
            "ldap_uid_list must hold 1 to 1000 login names".into(),
        ));
    }
    let failed = state
        .directory
        .import_users(&by, &req.ldap_uid_list)
        .await?;
    for uid in &req.ldap_uid_list {
        let ok = !failed.iter().any(|f| &f.uid == uid);
        audit(&state, &by, &ip, None, "create", "user", uid, ok);
    }
    if failed.is_empty() {
        return Ok(StatusCode::OK.into_response());
    }
    let body: Vec<Value> = failed
        .into_iter()
        .map(|f| json!({"uid": f.uid, "error": f.error}))
        .collect();
    Ok((StatusCode::NOT_FOUND, Json(body)).into_response())
}
