//! Tag immutability rules under `/api/v2.0/projects/{project_name_or_id}/immutabletagrules`,
//! in Harbor's `ImmutableRule` shape. Every operation goes through the project table's
//! `immutable-tag` entries (project admins and maintainers).

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::collections::HashMap;

use super::audit;
use super::error::ApiError;
use super::extract::{id, ApiJson, ClientIp, MaybeUser, ProjectPath, QueryPairs};
use super::paging::Page;
use crate::server::AppState;
use crate::service::immutability::ImmutableRuleWire;

pub(super) async fn list_rules(
    State(state): State<AppState>,
    MaybeUser(by): MaybeUser,
    ProjectPath(project): ProjectPath,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    let page = Page::from_query(&query.0)?;
    let (view, rules) = state.immutability.list(&by, &project).await?;
    let total = rules.len();
    let items: Vec<ImmutableRuleWire> = rules
        .into_iter()
        .skip(page.offset() as usize)
        .take(page.limit() as usize)
        .collect();
    let path = format!("/api/v2.0/projects/{}/immutabletagrules", view.project.name);
    Ok((page.headers(total as u64, &path, &query.0), Json(items)).into_response())
}

pub(super) async fn create_rule(
    State(state): State<AppState>,
    MaybeUser(by): MaybeUser,
    ClientIp(ip): ClientIp,
    ProjectPath(project): ProjectPath,
    ApiJson(rule): ApiJson<ImmutableRuleWire>,
) -> Result<Response, ApiError> {
    let result = state.immutability.create(&by, &project, &rule).await;
    let (view, rule_id) = match result {
        Ok(v) => v,
        Err(e) => return Err(e.into()),
    };
    audit(
        &state,
        &by,
        &ip,
        Some(view.project.id),
        "create",
        "immutable_rule",
        &format!("{}: rule {rule_id}", view.project.name),
        true,
    );
    let location = format!(
        "/api/v2.0/projects/{}/immutabletagrules/{rule_id}",
        view.project.name
    );
    Ok((StatusCode::CREATED, [(header::LOCATION, location)]).into_response())
}

fn rule_id(params: &HashMap<String, String>) -> Result<i64, ApiError> {
    id(
        params
            .get("immutable_rule_id")
            .map(String::as_str)
            .unwrap_or_default(),
        "immutable_rule_id",
    )
}

pub(super) async fn update_rule(
    State(state): State<AppState>,
    MaybeUser(by): MaybeUser,
    ClientIp(ip): ClientIp,
    ProjectPath(project): ProjectPath,
    Path(params): Path<HashMap<String, String>>,
    ApiJson(rule): ApiJson<ImmutableRuleWire>,
) -> Result<StatusCode, ApiError> {
    let rid = rule_id(&params)?;
    let view = state.immutability.update(&by, &project, rid, &rule).await?;
    audit(
        &state,
        &by,
        &ip,
        Some(view.project.id),
        "update",
        "immutable_rule",
        &format!("{}: rule {rid}", view.project.name),
        true,
    );
    Ok(StatusCode::OK)
}

pub(super) async fn delete_rule(
    State(state): State<AppState>,
    MaybeUser(by): MaybeUser,
    ClientIp(ip): ClientIp,
    ProjectPath(project): ProjectPath,
    Path(params): Path<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    let rid = rule_id(&params)?;
    let view = state.immutability.delete(&by, &project, rid).await?;
    audit(
        &state,
        &by,
        &ip,
        Some(view.project.id),
        "delete",
        "immutable_rule",
        &format!("{}: rule {rid}", view.project.name),
        true,
    );
    Ok(StatusCode::OK)
}
