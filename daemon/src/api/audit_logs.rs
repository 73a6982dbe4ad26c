//! `GET /api/v2.0/audit-logs` (system admins) and `GET /api/v2.0/projects/{p}/logs` (whoever
//! may list the project's logs), with `q` on username, resource, resource_type, operation and
//! an `op_time` range.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::error::ApiError;
use super::extract::{ListAuditLogs, ListProjectLogs, ProjectAccess, QueryPairs, SystemAdmin};
use super::paging::Page;
use super::query::{parse_time, Match, Query};
use super::rfc3339;
use crate::audit::{AuditRow, Filter};
use crate::server::AppState;

/// Harbor's `AuditLog`, plus the result and client address Berth records.
#[derive(Serialize)]
struct AuditLogWire {
    id: i64,
    username: String,
    resource: String,
    resource_type: String,
    operation: String,
    op_time: String,
    operation_result: bool,
    client_ip: String,
}

impl From<AuditRow> for AuditLogWire {
    fn from(r: AuditRow) -> Self {
        AuditLogWire {
            id: r.id,
            username: r.username,
            resource: r.resource,
            resource_type: r.resource_type,
            operation: r.operation,
            op_time: rfc3339(r.op_time),
            operation_result: r.success,
            client_ip: r.client_ip,
        }
    }
}

fn filters(q: &Query) -> Result<Vec<(&'static str, Filter)>, ApiError> {
    let mut out = Vec::new();
    for (key, m) in &q.terms {
        let column: &'static str = match key.as_str() {
            "username" => "username",
            "resource" => "resource",
            "resource_type" => "resource_type",
            "operation" => "operation",
            "op_time" => "op_time",
            _ => continue, // Query::parse already refused unknown keys
        };
        let f = match (column, m) {
            ("op_time", Match::Range(a, b)) => Filter::Range(
                a.as_deref().map(parse_time).transpose()?,
                b.as_deref().map(parse_time).transpose()?,
            ),
            ("op_time", _) => {
                return Err(ApiError::BadRequest(
                    "op_time takes a range: op_time=[from~to]".into(),
                ))
            }
            (_, Match::Exact(v)) => Filter::Exact(v.clone()),
            (_, Match::Fuzzy(v)) => Filter::Contains(v.clone()),
            (_, _) => return Err(ApiError::BadRequest(format!("{column} takes k=v or k=~v"))),
        };
        out.push((column, f));
    }
    Ok(out)
}

async fn search(
    state: &AppState,
    project_id: Option<i64>,
    path: &str,
    query: &QueryPairs,
) -> Result<Response, ApiError> {
    let page = Page::from_query(&query.0)?;
    let q = Query::parse(
        query.get("q"),
        &[
            "username",
            "resource",
            "resource_type",
            "operation",
            "op_time",
        ],
    )?;
    let filters = filters(&q)?;
    let (offset, limit) = (page.offset(), page.limit());
    let (rows, total) = state
        .audit
        .search(project_id, filters, offset, limit)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let items: Vec<AuditLogWire> = rows.into_iter().map(AuditLogWire::from).collect();
    Ok((page.headers(total as u64, path, &query.0), Json(items)).into_response())
}

pub(super) async fn list_audit_logs(
    State(state): State<AppState>,
    _: SystemAdmin<ListAuditLogs>,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    search(&state, None, "/api/v2.0/audit-logs", &query).await
}

pub(super) async fn list_project_logs(
    State(state): State<AppState>,
    access: ProjectAccess<ListProjectLogs>,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    let project = &access.view.project;
    let path = format!("/api/v2.0/projects/{}/logs", project.name);
    search(&state, Some(project.id), &path, &query).await
}
