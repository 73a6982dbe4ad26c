//! Repositories, artifacts and tags under `/api/v2.0/projects/{p}/repositories`, in Harbor's
//! shapes. Nested repository names come with `/` encoded as `%2F` (or `%252F`).

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::audit;
use super::error::ApiError;
use super::extract::{ApiJson, AuthUser, ClientIp, MaybeUser, QueryPairs};
use super::paging::Page;
use super::query::{parse_time, Match, Query};
use super::rfc3339;
use crate::db::artifacts::{ArtifactRow, RepositoryRow, TagRow};
use crate::manifest::{DOCKER_LIST, OCI_INDEX};
use crate::server::AppState;

/// Harbor's `Repository`.
#[derive(Serialize)]
pub(super) struct RepositoryWire {
    id: i64,
    project_id: i64,
    name: String,
    description: String,
    artifact_count: i64,
    pull_count: i64,
    creation_time: String,
    update_time: String,
}

impl From<RepositoryRow> for RepositoryWire {
    fn from(r: RepositoryRow) -> Self {
        RepositoryWire {
            id: r.id,
            project_id: r.project_id,
            name: r.name,
            description: String::new(),
            artifact_count: r.artifact_count,
            pull_count: r.pull_count,
            creation_time: rfc3339(r.created_at),
            update_time: rfc3339(r.updated_at),
        }
    }
}

fn sort_repositories(rows: &mut [RepositoryRow], sort: Option<&str>) -> Result<(), ApiError> {
    match sort.unwrap_or("name") {
        "name" => rows.sort_by(|a, b| a.name.cmp(&b.name)),
        "-name" => rows.sort_by(|a, b| b.name.cmp(&a.name)),
        "creation_time" => rows.sort_by_key(|r| (r.created_at, r.id)),
        "-creation_time" => rows.sort_by_key(|r| std::cmp::Reverse((r.created_at, r.id))),
        "update_time" => rows.sort_by_key(|r| (r.updated_at, r.id)),
        "-update_time" => rows.sort_by_key(|r| std::cmp::Reverse((r.updated_at, r.id))),
        "pull_count" => rows.sort_by_key(|r| (r.pull_count, r.id)),
        "-pull_count" => rows.sort_by_key(|r| std::cmp::Reverse((r.pull_count, r.id))),
        other => {
            return Err(ApiError::BadRequest(format!(
                "cannot sort repositories by {other:?}"
            )))
        }
    }
    Ok(())
}

fn repository_page(
    rows: Vec<RepositoryRow>,
    query: &QueryPairs,
    path: &str,
) -> Result<Response, ApiError> {
    let page = Page::from_query(&query.0)?;
    let q = Query::parse(query.get("q"), &["name", "project_id"])?;
    let mut rows: Vec<RepositoryRow> = rows
        .into_iter()
        .filter(|r| {
            q.matches("name", &r.name) && q.matches("project_id", &r.project_id.to_string())
        })
        .collect();
    sort_repositories(&mut rows, query.get("sort"))?;
    let total = rows.len() as u64;
    let items: Vec<RepositoryWire> = rows
        .into_iter()
        .skip(page.offset() as usize)
        .take(page.limit() as usize)
        .map(Into::into)
        .collect();
    Ok((page.headers(total, path, &query.0), Json(items)).into_response())
}

pub(super) async fn list_all_repositories(
    State(state): State<AppState>,
    MaybeUser(by): MaybeUser,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    let rows = state.repositories.list_all(&by).await?;
    repository_page(rows, &query, "/api/v2.0/repositories")
}

pub(super) async fn list_repositories(
    State(state): State<AppState>,
    MaybeUser(by): MaybeUser,
    Path(project): Path<String>,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    let (view, rows) = state.repositories.list(&by, &project).await?;
    repository_page(
        rows,
        &query,
        &format!("/api/v2.0/projects/{}/repositories", view.project.name),
    )
}

pub(super) async fn get_repository(
    State(state): State<AppState>,
    MaybeUser(by): MaybeUser,
    Path((project, repository)): Path<(String, String)>,
) -> Result<Json<RepositoryWire>, ApiError> {
    Ok(Json(
        state
            .repositories
            .get(&by, &project, &repository)
            .await?
            .into(),
    ))
}

pub(super) async fn delete_repository(
    State(state): State<AppState>,
    AuthUser(by): AuthUser,
    ClientIp(ip): ClientIp,
    Path((project, repository)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let deleted = state.repositories.delete(&by, &project, &repository).await;
    let (pid, name) = match &deleted {
        Ok(r) => (Some(r.project_id), r.name.clone()),
        Err(_) => (None, format!("{project}/{repository}")),
    };
    audit(
        &state,
        &by,
        &ip,
        pid,
        "delete",
        "repository",
        &name,
        deleted.is_ok(),
    );
    deleted?;
    Ok(StatusCode::OK)
}

/// Harbor's artifact `type`.
fn artifact_type(a: &ArtifactRow) -> &'static str {
    match a.artifact_type.as_deref() {
        Some("application/vnd.oci.image.config.v1+json")
        | Some("application/vnd.docker.container.image.v1+json") => "IMAGE",
        Some("application/vnd.cncf.helm.config.v1+json") => "CHART",
        None if a.media_type == OCI_INDEX || a.media_type == DOCKER_LIST => "IMAGE",
        _ => "UNKNOWN",
    }
}

fn tag_wire(t: &TagRow) -> Value {
    json!({
        "id": t.id, "repository_id": t.repository_id, "artifact_id": t.manifest_id, "name": t.name,
        "push_time": rfc3339(t.push_time), "pull_time": rfc3339(0), "immutable": false,
    })
}

/// Harbor's `Artifact`. `media_type` is the config's media type (the artifact type), as in
/// Harbor; `manifest_media_type` the manifest's own.
fn artifact_wire(project_id: i64, repo: &RepositoryRow, a: &ArtifactRow, with_tag: bool) -> Value {
    let is_index = a.media_type == OCI_INDEX || a.media_type == DOCKER_LIST;
    let media_type = if is_index {
        a.media_type.clone()
    } else {
        a.artifact_type
            .clone()
            .unwrap_or_else(|| a.media_type.clone())
    };
    json!({
        "id": a.id,
        "type": artifact_type(a),
        "media_type": media_type,
        "manifest_media_type": a.media_type,
        "artifact_type": a.artifact_type,
        "project_id": project_id,
        "repository_id": repo.id,
        "repository_name": repo.name,
        "digest": a.digest,
        "size": a.size,
        "push_time": rfc3339(a.push_time),
        "pull_time": rfc3339(a.pull_time.unwrap_or(0)),
        "extra_attrs": {},
        "annotations": a.annotations.as_deref().and_then(|s| serde_json::from_str::<Value>(s).ok()).unwrap_or(json!({})),
        "references": a.children.iter().map(|d| json!({"parent_id": a.id, "child_digest": d})).collect::<Vec<_>>(),
        "tags": if with_tag { Value::from(a.tags.iter().map(tag_wire).collect::<Vec<_>>()) } else { Value::Null },
        "labels": null,
        "icon": "",
    })
}

fn time_in(m: &Match, t: i64) -> Result<bool, ApiError> {
    match m {
        Match::Range(a, b) => Ok(a
            .as_deref()
            .map(parse_time)
            .transpose()?
            .is_none_or(|a| t >= a)
            && b.as_deref()
                .map(parse_time)
                .transpose()?
                .is_none_or(|b| t <= b)),
        Match::Exact(v) => Ok(parse_time(v)? == t),
        _ => Err(ApiError::BadRequest("times take a range: [from~to]".into())),
    }
}

pub(super) async fn list_artifacts(
    State(state): State<AppState>,
    MaybeUser(by): MaybeUser,
    Path((project, repository)): Path<(String, String)>,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    let page = Page::from_query(&query.0)?;
    let q = Query::parse(
        query.get("q"),
        &[
            "digest",
            "tags",
            "media_type",
            "type",
            "push_time",
            "pull_time",
        ],
    )?;
    let with_tag = query.get("with_tag") != Some("false");
    let (view, repo, rows) = state
        .repositories
        .artifacts(&by, &project, &repository)
        .await?;
    let mut kept = Vec::new();
    for a in rows {
        let tags_ok = match q.get("tags") {
            None => true,
            Some(Match::Exact(v)) if v == "*" => !a.tags.is_empty(),
            Some(Match::Exact(v)) if v == "nil" => a.tags.is_empty(),
            Some(_) => a.tags.iter().any(|t| q.matches("tags", &t.name)),
        };
        let push_ok = q
            .get("push_time")
            .map(|m| time_in(m, a.push_time))
            .transpose()?
            .unwrap_or(true);
        let pull_ok = q
            .get("pull_time")
            .map(|m| time_in(m, a.pull_time.unwrap_or(0)))
            .transpose()?
            .unwrap_or(true);
        if tags_ok
            && push_ok
            && pull_ok
            && q.matches("digest", &a.digest)
            && q.matches("media_type", &a.media_type)
            && q.matches("type", artifact_type(&a))
        {
            kept.push(a);
        }
    }
    match query.get("sort").unwrap_or("-push_time") {
        "push_time" => kept.sort_by_key(|a| (a.push_time, a.id)),
        "-push_time" => kept.sort_by_key(|a| std::cmp::Reverse((a.push_time, a.id))),
        "pull_time" => kept.sort_by_key(|a| (a.pull_time.unwrap_or(0), a.id)),
        "-pull_time" => kept.sort_by_key(|a| std::cmp::Reverse((a.pull_time.unwrap_or(0), a.id))),
        other => {
            return Err(ApiError::BadRequest(format!(
                "cannot sort artifacts by {other:?}"
            )))
        }
    }
    let total = kept.len() as u64;
    let items: Vec<Value> = kept
        .iter()
        .skip(page.offset() as usize)
        .take(page.limit() as usize)
        .map(|a| artifact_wire(view.project.id, &repo, a, with_tag))
        .collect();
    let path = format!(
        "/api/v2.0/projects/{}/repositories/{}/artifacts",
        view.project.name,
        repository.replace('/', "%2F")
    );
    Ok((page.headers(total, &path, &query.0), Json(items)).into_response())
}

pub(super) async fn get_artifact(
    State(state): State<AppState>,
    MaybeUser(by): MaybeUser,
    Path((project, repository, reference)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (repo, a) = state
        .repositories
        .artifact(&by, &project, &repository, &reference)
        .await?;
    Ok(Json(artifact_wire(repo.project_id, &repo, &a, true)))
}

/// Tells replication about a deletion made through the REST API.
fn replicate_deletion(
    state: &AppState,
    by: &crate::auth::Principal,
    headers: &axum::http::HeaderMap,
    repository: &str,
    tag: &str,
    digest: &str,
) {
    let header = headers
        .get(crate::replication::remote::ORIGIN_HEADER)
        .and_then(|v| v.to_str().ok());
    state
        .replication
        .on_event(crate::service::replication::Event {
            repository: repository.to_string(),
            tag: tag.to_string(),
            digest: digest.to_string(),
            deleted: true,
            origin: crate::service::replication::trusted_origin(by, header),
        });
}

pub(super) async fn delete_artifact(
    State(state): State<AppState>,
    AuthUser(by): AuthUser,
    ClientIp(ip): ClientIp,
    headers: axum::http::HeaderMap,
    Path((project, repository, reference)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let deleted = state
        .repositories
        .delete_artifact(&by, &project, &repository, &reference)
        .await;
    let pid = deleted.as_ref().ok().map(|(v, _)| v.project.id);
    let resource = format!("{project}/{repository}@{reference}");
    if let (Ok((_, artifact)), Ok(name)) = (
        &deleted,
        crate::service::repositories::full_name(&project, &repository),
    ) {
        replicate_deletion(&state, &by, &headers, name.as_str(), "", &artifact.digest);
    }
    audit(
        &state,
        &by,
        &ip,
        pid,
        "delete",
        "artifact",
        &resource,
        deleted.is_ok(),
    );
    deleted?;
    Ok(StatusCode::OK)
}

pub(super) async fn list_tags(
    State(state): State<AppState>,
    MaybeUser(by): MaybeUser,
    Path((project, repository, reference)): Path<(String, String, String)>,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    let page = Page::from_query(&query.0)?;
    let q = Query::parse(query.get("q"), &["name"])?;
    let a = state
        .repositories
        .tags(&by, &project, &repository, &reference)
        .await?;
    let tags: Vec<&TagRow> = a
        .tags
        .iter()
        .filter(|t| q.matches("name", &t.name))
        .collect();
    let total = tags.len() as u64;
    let items: Vec<Value> = tags
        .into_iter()
        .skip(page.offset() as usize)
        .take(page.limit() as usize)
        .map(tag_wire)
        .collect();
    let path = format!(
        "/api/v2.0/projects/{project}/repositories/{repository}/artifacts/{reference}/tags"
    );
    Ok((page.headers(total, &path, &query.0), Json(items)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TagReq {
    name: String,
    // Harbor's `Tag` carries these read-only fields too; accepted and ignored.
    #[serde(default)]
    id: Option<i64>,
    #[serde(default)]
    immutable: Option<bool>,
}

pub(super) async fn create_tag(
    State(state): State<AppState>,
    AuthUser(by): AuthUser,
    ClientIp(ip): ClientIp,
    Path((project, repository, reference)): Path<(String, String, String)>,
    ApiJson(req): ApiJson<TagReq>,
) -> Result<Response, ApiError> {
    let _ = (req.id, req.immutable);
    let created = state
        .repositories
        .create_tag(&by, &project, &repository, &reference, &req.name)
        .await;
    let pid = created.as_ref().ok().map(|v| v.project.id);
    let resource = format!("{project}/{repository}:{}", req.name);
    audit(
        &state,
        &by,
        &ip,
        pid,
        "create",
        "tag",
        &resource,
        created.is_ok(),
    );
    created?;
    let location = format!(
        "/api/v2.0/projects/{project}/repositories/{repository}/artifacts/{reference}/tags/{}",
        req.name
    );
    Ok((StatusCode::CREATED, [(header::LOCATION, location)]).into_response())
}

pub(super) async fn delete_tag(
    State(state): State<AppState>,
    AuthUser(by): AuthUser,
    ClientIp(ip): ClientIp,
    headers: axum::http::HeaderMap,
    Path((project, repository, reference, tag)): Path<(String, String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let deleted = state
        .repositories
        .delete_tag(&by, &project, &repository, &reference, &tag)
        .await;
    let pid = deleted.as_ref().ok().map(|v| v.project.id);
    if let (Ok(_), Ok(name)) = (
        &deleted,
        crate::service::repositories::full_name(&project, &repository),
    ) {
        replicate_deletion(&state, &by, &headers, name.as_str(), &tag, "");
    }
    audit(
        &state,
        &by,
        &ip,
        pid,
        "delete",
        "tag",
        &format!("{project}/{repository}:{tag}"),
        deleted.is_ok(),
    );
    deleted?;
    Ok(StatusCode::OK)
}
