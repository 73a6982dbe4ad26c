//! The audit log with filters: all of it for system administrators (`/admin/logs`), one
//! project's for whoever may list its logs (`/projects/{p}/logs`). Filtered and paged in SQL.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

use super::i18n::{k, machine_time};
use super::page::{render, urlencode, Frame, PortalError, SignedIn};
use super::projects::ProjectHeader;
use super::table::{remember_size, Paging, TableQuery};
use crate::audit::Filter;
use crate::auth::permissions::{Operation, Resource};
use crate::names::ProjectRef;
use crate::server::AppState;

/// The log's filters, all optional: who (part of the name), what operation, which kind of
/// resource, part of the resource's name, and a date range (UTC days).
#[derive(Deserialize, Default, Clone)]
pub struct LogQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    operation: String,
    #[serde(default)]
    resource_type: String,
    #[serde(default)]
    resource: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    page: Option<usize>,
    #[serde(default)]
    page_size: Option<usize>,
}

const OPERATIONS: [(&str, &str); 7] = [
    ("create", k("op-create")),
    ("update", k("op-update")),
    ("delete", k("op-delete")),
    ("push", k("op-push")),
    ("pull", k("op-pull")),
    ("login", k("op-login")),
    ("stop", k("op-stop")),
];

const RESOURCE_TYPES: [&str; 10] = [
    "project",
    "repository",
    "artifact",
    "tag",
    "member",
    "robot",
    "user",
    "user_group",
    "garbage_collection",
    "configuration",
];

struct Choice {
    value: &'static str,
    label: String,
    current: bool,
}

struct LogItem {
    time: String,
    time_iso: String,
    username: String,
    resource: String,
    resource_type: String,
    operation: String,
    success: bool,
    client_ip: String,
}

#[derive(Template)]
#[template(path = "logs.html")]
struct LogsTemplate {
    frame: Frame,
    header: Option<ProjectHeader>,
    action: String,
    query: LogQuery,
    operations: Vec<Choice>,
    resource_types: Vec<Choice>,
    entries: Vec<LogItem>,
    paging: Paging,
}

/// A UTC day (`YYYY-MM-DD`) as unix seconds at its start.
fn day_start(day: &str) -> Option<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(day, &format)
        .ok()
        .map(|d| d.midnight().assume_utc().unix_timestamp())
}

fn filters(q: &LogQuery) -> Vec<(&'static str, Filter)> {
    let mut out = vec![];
    if !q.q.trim().is_empty() {
        out.push(("username", Filter::Contains(q.q.trim().to_string())));
    }
    if let Some((op, _)) = OPERATIONS.iter().find(|(o, _)| *o == q.operation) {
        out.push(("operation", Filter::Exact(op.to_string())));
    }
    if let Some(rt) = RESOURCE_TYPES.iter().find(|r| **r == q.resource_type) {
        out.push(("resource_type", Filter::Exact(rt.to_string())));
    }
    if !q.resource.trim().is_empty() {
        out.push(("resource", Filter::Contains(q.resource.trim().to_string())));
    }
    let from = day_start(&q.from);
    let to = day_start(&q.to).map(|t| t + 86_399);
    if from.is_some() || to.is_some() {
        out.push(("op_time", Filter::Range(from, to)));
    }
    out
}

async fn page(
    state: &AppState,
    viewer: super::page::Viewer,
    headers: &HeaderMap,
    project: Option<crate::service::projects::ProjectView>,
    query: LogQuery,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let table = TableQuery {
        q: query.q.clone(),
        sort: String::new(),
        page: query.page,
        page_size: query.page_size,
    };
    let size = table.size(headers);
    let page_no = query.page.unwrap_or(1).clamp(1, 1_000_000);
    let offset = ((page_no - 1) * size) as i64;
    let (rows, total) = state
        .audit
        .search(
            project.as_ref().map(|v| v.project.id),
            filters(&query),
            offset,
            size as i64,
        )
        .await?;
    let action = match &project {
        Some(v) => format!("/projects/{}/logs", v.project.name),
        None => "/admin/logs".to_string(),
    };
    let kept = [
        ("operation", &query.operation),
        ("resource_type", &query.resource_type),
        ("resource", &query.resource),
        ("from", &query.from),
        ("to", &query.to),
    ];
    let mut paging = Paging::new(total as usize, Some(page_no), size, &table, |p| {
        let mut url = format!("{action}?page={p}&q={}", urlencode(&query.q));
        for (k, v) in &kept {
            if !v.is_empty() {
                url.push_str(&format!("&{k}={}", urlencode(v)));
            }
        }
        url
    });
    paging.keep = kept
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let entries = rows
        .into_iter()
        .map(|r| LogItem {
            time: t.time(r.op_time),
            time_iso: machine_time(r.op_time),
            username: r.username,
            resource: r.resource,
            resource_type: r.resource_type,
            operation: OPERATIONS
                .iter()
                .find(|(o, _)| *o == r.operation)
                .map(|(_, key)| t.s(key))
                .unwrap_or(r.operation),
            success: r.success,
            client_ip: r.client_ip,
        })
        .collect();
    let title = t.s("logs-title");
    let mut response = render(&LogsTemplate {
        header: project.as_ref().map(|v| ProjectHeader::new(&t, v, "logs")),
        operations: OPERATIONS
            .iter()
            .map(|(o, key)| Choice {
                value: o,
                label: t.s(key),
                current: *o == query.operation,
            })
            .collect(),
        resource_types: RESOURCE_TYPES
            .iter()
            .map(|r| Choice {
                value: r,
                label: r.to_string(),
                current: *r == query.resource_type,
            })
            .collect(),
        entries,
        paging,
        action,
        frame: viewer.frame(
            state,
            title,
            if project.is_some() {
                "projects"
            } else {
                "admin-logs"
            },
        ),
        query,
    });
    remember_size(&table, &mut response);
    Ok(response)
}

pub async fn system(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
    headers: HeaderMap,
    Query(query): Query<LogQuery>,
) -> Result<Response, PortalError> {
    if !viewer.may_system(Resource::AuditLog, Operation::List) {
        return Err(PortalError::Forbidden(
            "only a system administrator may read the whole audit log".into(),
        ));
    }
    page(&state, viewer, &headers, None, query).await
}

pub async fn project(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
    headers: HeaderMap,
    Path(project): Path<String>,
    Query(query): Query<LogQuery>,
) -> Result<Response, PortalError> {
    let view = state
        .projects
        .require(
            &viewer.principal,
            &ProjectRef::name(&project),
            Resource::Log,
            Operation::List,
        )
        .await?;
    page(&state, viewer, &headers, Some(view), query).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_filters_reach_the_query() {
        let q = LogQuery {
            q: " adm ".into(),
            operation: "drop table".into(),
            resource_type: "tag".into(),
            from: "2026-01-02".into(),
            to: "not a day".into(),
            ..Default::default()
        };
        let f = filters(&q);
        let columns: Vec<&str> = f.iter().map(|(c, _)| *c).collect();
        assert_eq!(columns, vec!["username", "resource_type", "op_time"]);
        assert!(matches!(&f[2].1, Filter::Range(Some(t), None) if *t == 1_767_312_000));
    }
}
