//! Storage quotas under `/api/v2.0/quotas`, in Harbor's shapes (`Quota`, `QuotaUpdateReq`).
//! Only system administrators (and system robots granted `quota`) read the list or change a
//! limit; project members see their project's quota in `/projects/{p}/summary`.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

use super::audit;
use super::error::ApiError;
use super::extract::{
    id, ApiJson, ClientIp, ListQuotas, QueryPairs, ReadQuotas, SystemAdmin, UpdateQuotas,
};
use super::paging::Page;
use super::rfc3339;
use crate::db::quotas::{QuotaOrder, QuotaRow};
use crate::server::AppState;

/// Harbor's `Quota`.
pub(crate) fn quota_wire(q: &QuotaRow) -> Value {
    json!({
        "id": q.id,
        "ref": {"id": q.project_id, "name": q.project_name, "owner_name": q.owner_name},
        "hard": {"storage": q.hard},
        "used": {"storage": q.used},
        "creation_time": rfc3339(q.created_at),
        "update_time": rfc3339(q.updated_at),
    })
}

fn order(sort: Option<&str>) -> Result<QuotaOrder, ApiError> {
    Ok(match sort.unwrap_or("") {
        "" => QuotaOrder::Id,
        "hard.storage" => QuotaOrder::HardAsc,
        "-hard.storage" => QuotaOrder::HardDesc,
        "used.storage" => QuotaOrder::UsedAsc,
        "-used.storage" => QuotaOrder::UsedDesc,
        "creation_time" => QuotaOrder::CreatedAsc,
        "-creation_time" => QuotaOrder::CreatedDesc,
        other => {
            return Err(ApiError::BadRequest(format!(
                "sort {other:?} is not one of hard.storage, used.storage, creation_time (with - for descending)"
            )))
        }
    })
}

pub(super) async fn list_quotas(
    State(state): State<AppState>,
    _: SystemAdmin<ListQuotas>,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    let page = Page::from_query(&query.0)?;
    let reference_id = match query.get("reference_id") {
        None | Some("") => None,
        Some(raw) => Some(id(raw, "reference_id")?),
    };
    let (rows, total) = state
        .quotas
        .list(
            query.get("reference").filter(|r| !r.is_empty()),
            reference_id,
            order(query.get("sort"))?,
            page.offset(),
            page.limit(),
        )
        .await?;
    let items: Vec<Value> = rows.iter().map(quota_wire).collect();
    Ok((
        page.headers(total as u64, "/api/v2.0/quotas", &query.0),
        Json(items),
    )
        .into_response())
}

pub(super) async fn get_quota(
    State(state): State<AppState>,
    _: SystemAdmin<ReadQuotas>,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let q = state.quotas.get(id(&raw, "id")?).await?;
    Ok(Json(quota_wire(&q)))
}

/// Harbor's `QuotaUpdateReq`: `{"hard": {"storage": BYTES}}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct QuotaUpdateReq {
    hard: BTreeMap<String, i64>,
}

pub(super) async fn update_quota(
    State(state): State<AppState>,
    SystemAdmin(by, _): SystemAdmin<UpdateQuotas>,
    ClientIp(ip): ClientIp,
    Path(raw): Path<String>,
    ApiJson(req): ApiJson<QuotaUpdateReq>,
) -> Result<Json<Value>, ApiError> {
    let quota_id = id(&raw, "id")?;
    if let Some(other) = req.hard.keys().find(|k| *k != "storage") {
        return Err(ApiError::BadRequest(format!(
            "hard.{other} is not a quota resource: the only one is storage"
        )));
    }
    let hard = *req.hard.get("storage").ok_or_else(|| {
        ApiError::BadRequest("hard.storage is required (-1 for unlimited)".into())
    })?;
    let result = state.quotas.set_limit(quota_id, hard).await;
    let project = result.as_ref().ok().map(|(b, _)| b.project_id);
    audit(
        &state,
        &by,
        &ip,
        project,
        "update",
        "quota",
        &format!("quota {quota_id}: storage {hard}"),
        result.is_ok(),
    );
    let (_, after) = result?;
    Ok(Json(quota_wire(&after)))
}
