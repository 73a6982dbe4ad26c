//! A project's repositories, a repository's artifacts, one artifact in full, and changing
//! them: tags added and removed, artifacts and repositories deleted, each after a page that
//! says what goes.
//!
//! Under `/projects/{p}/repositories/` the rest of the path is the repository's name (which may
//! hold `/`), then `/-/` and what follows: no repository name component can be `-`.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;

use super::i18n::{machine_time, Tr};
use super::page::{back_to, render, CsrfForm, Frame, PortalError, RegistryHost, SignedIn};
use super::projects::{ConfirmTemplate, ProjectHeader};
use super::table::{remember_size, Paging, TableQuery};
use crate::api::extract::ClientIp;
use crate::auth::permissions::{Operation, Resource};
use crate::auth::session::FlashKind;
use crate::db::artifacts::ArtifactRow;
use crate::names::ProjectRef;
use crate::server::AppState;

/// What the rest of a repository URL names.
#[derive(Debug, PartialEq, Eq)]
pub enum RepoPage {
    Artifacts {
        repo: String,
    },
    DeleteRepository {
        repo: String,
    },
    Artifact {
        repo: String,
        digest: String,
    },
    DeleteArtifact {
        repo: String,
        digest: String,
    },
    AddTag {
        repo: String,
        digest: String,
    },
    DeleteTag {
        repo: String,
        digest: String,
        tag: String,
    },
}

impl RepoPage {
    pub fn parse(rest: &str) -> Option<RepoPage> {
        // Names and digests never hold these; a decoded path that does names nothing here.
        if rest.starts_with("-/")
            || rest.contains("..")
            || rest.contains(['?', '#', '\\', '%'])
            || rest.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return None;
        }
        let (repo, tail) = match rest.split_once("/-/") {
            Some((r, t)) => (r.to_string(), Some(t)),
            None => (rest.trim_end_matches('/').to_string(), None),
        };
        if repo.is_empty() {
            return None;
        }
        let Some(tail) = tail else {
            return Some(RepoPage::Artifacts { repo });
        };
        let parts: Vec<&str> = tail.split('/').collect();
        match parts.as_slice() {
            ["delete"] => Some(RepoPage::DeleteRepository { repo }),
            [d] if d.contains(':') => Some(RepoPage::Artifact {
                repo,
                digest: d.to_string(),
            }),
            [d, "delete"] => Some(RepoPage::DeleteArtifact {
                repo,
                digest: d.to_string(),
            }),
            [d, "tags"] => Some(RepoPage::AddTag {
                repo,
                digest: d.to_string(),
            }),
            [d, "tags", tag, "delete"] => Some(RepoPage::DeleteTag {
                repo,
                digest: d.to_string(),
                tag: tag.to_string(),
            }),
            _ => None,
        }
    }
}

fn repo_url(project: &str, repo: &str) -> String {
    format!("/projects/{project}/repositories/{repo}")
}

fn artifact_url(project: &str, repo: &str, digest: &str) -> String {
    format!("/projects/{project}/repositories/{repo}/-/{digest}")
}

struct RepositoryItem {
    name: String,
    href: String,
    artifacts: i64,
    pulls: i64,
    updated: String,
    updated_iso: String,
}

#[derive(Template)]
#[template(path = "repositories.html")]
struct RepositoriesTemplate {
    frame: Frame,
    header: ProjectHeader,
    repositories: Vec<RepositoryItem>,
    paging: Paging,
    host: String,
    project: String,
    may_push: bool,
}

pub async fn list(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
    RegistryHost(host): RegistryHost,
    headers: HeaderMap,
    Path(project): Path<String>,
    Query(query): Query<TableQuery>,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let (view, mut rows) = state.repositories.list(&viewer.principal, &project).await?;
    let prefix = format!("{}/", view.project.name);
    let needle = query.q.trim().to_lowercase();
    if !needle.is_empty() {
        rows.retain(|r| r.name.contains(&needle));
    }
    match query.sort.as_str() {
        "pulls" => rows.sort_by_key(|r| std::cmp::Reverse(r.pull_count)),
        "updated" => rows.sort_by_key(|r| std::cmp::Reverse(r.updated_at)),
        _ => {}
    }
    let base = format!("/projects/{}/repositories", view.project.name);
    let (shown, paging) = Paging::cut(rows, &query, query.size(&headers), &base);
    let repositories = shown
        .into_iter()
        .map(|r| {
            let short = r.name.strip_prefix(&prefix).unwrap_or(&r.name).to_string();
            RepositoryItem {
                href: repo_url(&view.project.name, &short),
                name: r.name,
                artifacts: r.artifact_count,
                pulls: r.pull_count,
                updated: t.time(r.updated_at),
                updated_iso: machine_time(r.updated_at),
            }
        })
        .collect();
    let mut response = render(&RepositoriesTemplate {
        header: ProjectHeader::new(&t, &view, "repositories"),
        repositories,
        paging,
        host,
        project: view.project.name.clone(),
        may_push: view.may(Resource::Repository, Operation::Push),
        frame: viewer.frame(&state, view.project.name.clone(), "projects"),
    });
    remember_size(&query, &mut response);
    Ok(response)
}

/// A tag with its pull command.
struct TagItem {
    name: String,
    pull: String,
    pushed: String,
}

struct ArtifactItem {
    digest: String,
    short: String,
    href: String,
    kind: String,
    tags: Vec<TagItem>,
    size: String,
    pushed: String,
    pushed_iso: String,
    pulled: String,
    pull: String,
    children: i64,
}

#[derive(Template)]
#[template(path = "artifacts.html")]
struct ArtifactsTemplate {
    frame: Frame,
    header: ProjectHeader,
    repository: String,
    full_name: String,
    artifacts: Vec<ArtifactItem>,
    paging: Paging,
    may_delete_repository: bool,
    delete_href: String,
    back: String,
}

/// What an artifact is, by its media types, in the reader's words.
fn kind(t: &Tr, a: &ArtifactRow) -> String {
    if a.media_type.contains("index") || a.media_type.contains("manifest.list") {
        t.s("kind-index")
    } else if let Some(at) = &a.artifact_type {
        if at.contains("image.config") {
            t.s("kind-image")
        } else {
            at.clone()
        }
    } else {
        t.s("kind-image")
    }
}

fn short_digest(d: &str) -> String {
    let hex = d.split_once(':').map(|(_, h)| h).unwrap_or(d);
    format!("sha256:{}", &hex[..hex.len().min(12)])
}

pub async fn show(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
    RegistryHost(host): RegistryHost,
    headers: HeaderMap,
    Path((project, rest)): Path<(String, String)>,
    Query(query): Query<TableQuery>,
) -> Result<Response, PortalError> {
    let page = RepoPage::parse(&rest).ok_or_else(|| PortalError::NotFound(rest.clone()))?;
    if !crate::names::valid_project_name(&project) {
        return Err(PortalError::NotFound(format!("project {project}")));
    }
    match page {
        RepoPage::Artifacts { repo } => {
            artifacts(state, viewer, host, headers, project, repo, query).await
        }
        RepoPage::Artifact { repo, digest } => {
            artifact(state, viewer, host, project, repo, digest).await
        }
        RepoPage::DeleteRepository { repo } => {
            confirm_delete_repository(state, viewer, project, repo).await
        }
        RepoPage::DeleteArtifact { repo, digest } => {
            confirm_delete_artifact(state, viewer, project, repo, digest).await
        }
        RepoPage::DeleteTag { repo, digest, tag } => {
            let t = viewer.tr();
            // Looked up first: the form's action is built from what exists, never from the
            // URL's own text (which could name any other action).
            let a = state
                .repositories
                .tags(&viewer.principal, &project, &repo, &digest)
                .await?;
            let Some(tag) = a
                .tags
                .iter()
                .find(|x| x.name == tag)
                .map(|x| x.name.clone())
            else {
                return Err(PortalError::NotFound(format!("tag {tag}")));
            };
            let name = crate::service::repositories::full_name(&project, &repo)?;
            let repo = name
                .to_string()
                .split_once('/')
                .map(|(_, r)| r.to_string())
                .unwrap_or_default();
            let back = artifact_url(&project, &repo, &a.digest);
            Ok(render(&ConfirmTemplate {
                frame: viewer.frame(&state, t.s("confirm-title"), "projects"),
                question: t.t1("tag-delete-question", "tag", &tag),
                items: vec![format!("{project}/{repo}:{tag}")],
                consequence: t.s("tag-delete-consequence"),
                action: format!("{back}/tags/{tag}/delete"),
                cancel: back,
                button: t.s("action-delete"),
            }))
        }
        RepoPage::AddTag { .. } => Err(PortalError::NotFound(rest)),
    }
}

async fn artifacts(
    state: AppState,
    viewer: super::page::Viewer,
    host: String,
    headers: HeaderMap,
    project: String,
    repo: String,
    query: TableQuery,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let (view, repository, mut rows) = state
        .repositories
        .artifacts(&viewer.principal, &project, &repo)
        .await?;
    // An index's children are listed inside the index, as Harbor does.
    let children: std::collections::HashSet<String> =
        rows.iter().flat_map(|a| a.children.clone()).collect();
    rows.retain(|a| !children.contains(&a.digest) || !a.tags.is_empty());
    let needle = query.q.trim();
    if !needle.is_empty() {
        rows.retain(|a| {
            a.tags.iter().any(|t| t.name.contains(needle)) || a.digest.contains(needle)
        });
    }
    match query.sort.as_str() {
        "size" => rows.sort_by_key(|a| std::cmp::Reverse(a.size)),
        "pulled" => rows.sort_by_key(|a| std::cmp::Reverse(a.pull_time.unwrap_or(0))),
        _ => rows.sort_by_key(|a| std::cmp::Reverse((a.push_time, a.id))),
    }
    let base = repo_url(&view.project.name, &repo);
    let (shown, paging) = Paging::cut(rows, &query, query.size(&headers), &base);
    let full = repository.name.clone();
    let artifacts = shown
        .into_iter()
        .map(|a| ArtifactItem {
            href: artifact_url(&view.project.name, &repo, &a.digest),
            short: short_digest(&a.digest),
            kind: kind(&t, &a),
            tags: a
                .tags
                .iter()
                .map(|tag| TagItem {
                    pull: format!("docker pull {host}/{full}:{}", tag.name),
                    name: tag.name.clone(),
                    pushed: t.time(tag.push_time),
                })
                .collect(),
            size: t.size(a.size),
            pushed: t.time(a.push_time),
            pushed_iso: machine_time(a.push_time),
            pulled: a.pull_time.map(|p| t.time(p)).unwrap_or_default(),
            pull: format!("docker pull {host}/{full}@{}", a.digest),
            children: a.children.len() as i64,
            digest: a.digest,
        })
        .collect();
    let mut response = render(&ArtifactsTemplate {
        header: ProjectHeader::new(&t, &view, "repositories"),
        repository: repo.clone(),
        full_name: full,
        artifacts,
        paging,
        may_delete_repository: view.may(Resource::Repository, Operation::Delete),
        delete_href: format!("{base}/-/delete"),
        back: format!("/projects/{}/repositories", view.project.name),
        frame: viewer.frame(&state, repository.name.clone(), "projects"),
    });
    remember_size(&query, &mut response);
    Ok(response)
}

struct ChildItem {
    digest: String,
    href: String,
    platform: String,
    size: String,
}

struct LayerItem {
    digest: String,
    media_type: String,
    size: String,
}

struct ReferrerItem {
    digest: String,
    href: String,
    artifact_type: String,
    size: String,
}

/// What a reader wants from an image's configuration.
#[derive(Default)]
struct ConfigView {
    os_arch: String,
    created: String,
    author: String,
    entrypoint: String,
    cmd: String,
    workdir: String,
    user: String,
    env: Vec<String>,
    labels: Vec<(String, String)>,
    history: Vec<String>,
}

#[derive(Template)]
#[template(path = "artifact.html")]
struct ArtifactTemplate {
    frame: Frame,
    header: ProjectHeader,
    repository: String,
    repo_href: String,
    digest: String,
    href: String,
    media_type: String,
    artifact_type: String,
    size: String,
    pushed: String,
    pushed_iso: String,
    pulled: String,
    pull: String,
    tags: Vec<TagItem>,
    children: Vec<ChildItem>,
    layers: Vec<LayerItem>,
    referrers: Vec<ReferrerItem>,
    annotations: Vec<(String, String)>,
    config: Option<ConfigView>,
    subject: Option<(String, String)>,
    may_add_tag: bool,
    may_delete_tag: bool,
    may_delete: bool,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|s| {
                    s.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| s.to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

fn pairs(v: Option<&Value>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = v
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn config_view(t: &Tr, config: &[u8]) -> Option<ConfigView> {
    let doc: Value = serde_json::from_slice(config).ok()?;
    let c = doc.get("config");
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
    let created = doc
        .get("created")
        .and_then(Value::as_str)
        .and_then(|s| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
        })
        .map(|d| t.time(d.unix_timestamp()))
        .unwrap_or_default();
    let os_arch = [
        text(doc.get("os")),
        text(doc.get("architecture")),
        text(doc.get("variant")),
    ]
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect::<Vec<_>>()
    .join("/");
    Some(ConfigView {
        os_arch,
        created,
        author: text(doc.get("author")),
        entrypoint: strings(c.and_then(|c| c.get("Entrypoint"))).join(" "),
        cmd: strings(c.and_then(|c| c.get("Cmd"))).join(" "),
        workdir: text(c.and_then(|c| c.get("WorkingDir"))),
        user: text(c.and_then(|c| c.get("User"))),
        env: strings(c.and_then(|c| c.get("Env"))),
        labels: pairs(c.and_then(|c| c.get("Labels"))),
        history: doc
            .get("history")
            .and_then(Value::as_array)
            .map(|h| {
                h.iter()
                    .map(|e| text(e.get("created_by")))
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
    })
}

async fn artifact(
    state: AppState,
    viewer: super::page::Viewer,
    host: String,
    project: String,
    repo: String,
    digest: String,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let detail = state
        .repositories
        .artifact_detail(&viewer.principal, &project, &repo, &digest)
        .await?;
    let view = &detail.view;
    let a = &detail.artifact;
    let full = detail.repository.name.clone();
    let doc: Value = serde_json::from_slice(&detail.manifest).unwrap_or(Value::Null);
    let pname = view.project.name.clone();
    let children = doc
        .get("manifests")
        .and_then(Value::as_array)
        .map(|ms| {
            ms.iter()
                .map(|m| {
                    let d = m
                        .get("digest")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    let p = m.get("platform");
                    let field = |k: &str| {
                        p.and_then(|p| p.get(k))
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string()
                    };
                    let platform = [field("os"), field("architecture"), field("variant")]
                        .into_iter()
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                        .join("/");
                    ChildItem {
                        href: artifact_url(&pname, &repo, &d),
                        size: t.size(m.get("size").and_then(Value::as_i64).unwrap_or(0)),
                        platform,
                        digest: d,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let layers = doc
        .get("layers")
        .and_then(Value::as_array)
        .map(|ls| {
            ls.iter()
                .map(|l| LayerItem {
                    digest: l
                        .get("digest")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    media_type: l
                        .get("mediaType")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    size: t.size(l.get("size").and_then(Value::as_i64).unwrap_or(0)),
                })
                .collect()
        })
        .unwrap_or_default();
    let subject = doc
        .get("subject")
        .and_then(|s| s.get("digest"))
        .and_then(Value::as_str)
        .map(|d| (d.to_string(), artifact_url(&pname, &repo, d)));
    let page = ArtifactTemplate {
        header: ProjectHeader::new(&t, view, "repositories"),
        repository: repo.clone(),
        repo_href: repo_url(&pname, &repo),
        digest: a.digest.clone(),
        href: artifact_url(&pname, &repo, &a.digest),
        media_type: a.media_type.clone(),
        artifact_type: a.artifact_type.clone().unwrap_or_default(),
        size: t.size(a.size),
        pushed: t.time(a.push_time),
        pushed_iso: machine_time(a.push_time),
        pulled: a.pull_time.map(|p| t.time(p)).unwrap_or_default(),
        pull: format!("docker pull {host}/{full}@{}", a.digest),
        tags: a
            .tags
            .iter()
            .map(|tag| TagItem {
                pull: format!("docker pull {host}/{full}:{}", tag.name),
                name: tag.name.clone(),
                pushed: t.time(tag.push_time),
            })
            .collect(),
        children,
        layers,
        referrers: detail
            .referrers
            .iter()
            .map(|r| ReferrerItem {
                href: artifact_url(&pname, &repo, &r.digest),
                digest: r.digest.clone(),
                artifact_type: r
                    .artifact_type
                    .clone()
                    .unwrap_or_else(|| r.media_type.clone()),
                size: t.size(r.size),
            })
            .collect(),
        annotations: pairs(doc.get("annotations")),
        config: detail.config.as_deref().and_then(|c| config_view(&t, c)),
        subject,
        may_add_tag: view.may(Resource::Tag, Operation::Create),
        may_delete_tag: view.may(Resource::Tag, Operation::Delete),
        may_delete: view.may(Resource::Artifact, Operation::Delete),
        frame: viewer.frame(&state, short_digest(&a.digest), "projects"),
    };
    Ok(render(&page))
}

async fn confirm_delete_repository(
    state: AppState,
    viewer: super::page::Viewer,
    project: String,
    repo: String,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let (view, repository, rows) = state
        .repositories
        .artifacts(&viewer.principal, &project, &repo)
        .await?;
    if !view.may(Resource::Repository, Operation::Delete) {
        return Err(PortalError::Forbidden(format!(
            "you may not delete repositories in project {}",
            view.project.name
        )));
    }
    let base = repo_url(&view.project.name, &repo);
    let mut items = vec![repository.name.clone()];
    items.extend(rows.iter().flat_map(|a| {
        a.tags
            .iter()
            .map(|tag| format!("{}:{}", repository.name, tag.name))
            .collect::<Vec<_>>()
    }));
    Ok(render(&ConfirmTemplate {
        frame: viewer.frame(&state, t.s("confirm-title"), "projects"),
        question: t.with(
            "repository-delete-question",
            &[
                ("name", super::i18n::Arg::Text(&repository.name)),
                ("count", super::i18n::Arg::Number(rows.len() as i64)),
            ],
        ),
        items,
        consequence: t.s("gc-frees-later"),
        action: format!("{base}/-/delete"),
        cancel: base,
        button: t.s("action-delete"),
    }))
}

async fn confirm_delete_artifact(
    state: AppState,
    viewer: super::page::Viewer,
    project: String,
    repo: String,
    digest: String,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let (full, a) = state
        .repositories
        .artifact(&viewer.principal, &project, &repo, &digest)
        .await?;
    let back = artifact_url(&project, &repo, &a.digest);
    let mut items = vec![format!("{}@{}", full.name, a.digest)];
    items.extend(
        a.tags
            .iter()
            .map(|tag| format!("{}:{}", full.name, tag.name)),
    );
    Ok(render(&ConfirmTemplate {
        frame: viewer.frame(&state, t.s("confirm-title"), "projects"),
        question: t.n1("artifact-delete-question", "tags", a.tags.len() as i64),
        items,
        consequence: t.s("gc-frees-later"),
        action: format!("{back}/delete"),
        cancel: back,
        button: t.s("action-delete"),
    }))
}

#[derive(Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    tag: String,
}

/// Every change under a repository: which one is in the path.
pub async fn change(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path((project, rest)): Path<(String, String)>,
    CsrfForm(viewer, form): CsrfForm<ChangeForm>,
) -> Result<Response, PortalError> {
    let t = viewer.tr();
    let by = &viewer.principal;
    let page = RepoPage::parse(&rest).ok_or_else(|| PortalError::NotFound(rest.clone()))?;
    if !crate::names::valid_project_name(&project) {
        return Err(PortalError::NotFound(format!("project {project}")));
    }
    let project_id = state
        .projects
        .view(by, &ProjectRef::name(&project))
        .await
        .ok()
        .map(|v| v.project.id);
    let audit = |operation: &'static str, kind: &'static str, resource: &str, ok: bool| {
        crate::api::audit(&state, by, &ip, project_id, operation, kind, resource, ok)
    };
    let (result, ok_message, success_to, failure_to) = match page {
        RepoPage::DeleteRepository { repo } => {
            let r = state.repositories.delete(by, &project, &repo).await;
            audit(
                "delete",
                "repository",
                &format!("{project}/{repo}"),
                r.is_ok(),
            );
            (
                r.map(|_| ()),
                t.t1("repository-deleted", "name", &format!("{project}/{repo}")),
                format!("/projects/{project}/repositories"),
                repo_url(&project, &repo),
            )
        }
        RepoPage::DeleteArtifact { repo, digest } => {
            let r = state
                .repositories
                .delete_artifact(by, &project, &repo, &digest)
                .await;
            audit(
                "delete",
                "artifact",
                &format!("{project}/{repo}@{digest}"),
                r.is_ok(),
            );
            (
                r.map(|_| ()),
                t.t1("artifact-deleted", "digest", &short_digest(&digest)),
                repo_url(&project, &repo),
                artifact_url(&project, &repo, &digest),
            )
        }
        RepoPage::AddTag { repo, digest } => {
            let tag = form.tag.trim().to_string();
            let r = state
                .repositories
                .create_tag(by, &project, &repo, &digest, &tag)
                .await;
            audit(
                "create",
                "tag",
                &format!("{project}/{repo}:{tag}"),
                r.is_ok(),
            );
            let back = artifact_url(&project, &repo, &digest);
            (
                r.map(|_| ()),
                t.t1("tag-added", "tag", &tag),
                back.clone(),
                back,
            )
        }
        RepoPage::DeleteTag { repo, digest, tag } => {
            let r = state
                .repositories
                .delete_tag(by, &project, &repo, &digest, &tag)
                .await;
            audit(
                "delete",
                "tag",
                &format!("{project}/{repo}:{tag}"),
                r.is_ok(),
            );
            let back = artifact_url(&project, &repo, &digest);
            (
                r.map(|_| ()),
                t.t1("tag-deleted", "tag", &tag),
                back.clone(),
                back,
            )
        }
        RepoPage::Artifacts { .. } | RepoPage::Artifact { .. } => {
            return Err(PortalError::NotFound(rest))
        }
    };
    match result {
        Ok(()) => {
            viewer.flash(&state, FlashKind::Success, ok_message);
            Ok(back_to(&success_to))
        }
        Err(e) => {
            viewer.flash(&state, FlashKind::Error, e.to_string());
            Ok(back_to(&failure_to))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RepoPage::{self, *};

    #[test]
    fn repository_paths_split_at_the_dash() {
        let s = |x: &str| x.to_string();
        assert_eq!(RepoPage::parse("a/b"), Some(Artifacts { repo: s("a/b") }));
        assert_eq!(
            RepoPage::parse("a/b/-/sha256:ab"),
            Some(Artifact {
                repo: s("a/b"),
                digest: s("sha256:ab")
            })
        );
        assert_eq!(
            RepoPage::parse("a/-/sha256:ab/tags/v1/delete"),
            Some(DeleteTag {
                repo: s("a"),
                digest: s("sha256:ab"),
                tag: s("v1")
            })
        );
        assert_eq!(
            RepoPage::parse("a/-/delete"),
            Some(DeleteRepository { repo: s("a") })
        );
        assert_eq!(RepoPage::parse("-/delete"), None);
        assert_eq!(RepoPage::parse("a/-/x/y/z"), None);
        assert_eq!(
            RepoPage::parse("../../admin/users/2/delete?/x/-/sha256:0/tags/v1/delete"),
            None
        );
        assert_eq!(RepoPage::parse("a/-/sha256:0/tags/v1%3F/delete"), None);
    }
}
