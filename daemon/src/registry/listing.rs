//! Listings: tags, the catalog (only what the caller may pull), and referrers.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::error::OciError;
use super::{response, Ctx};
use crate::auth::token::Claims;
use crate::digest::Digest;
use crate::manifest::OCI_INDEX;
use crate::names::RepoName;
use crate::service::registry::RegistryError;

const CATALOG_DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 10_000;

/// `n` and `last`; `n` absent means `default`.
fn page(ctx: &Ctx, default: i64) -> Result<(i64, Option<String>), OciError> {
    let n = match ctx.query("n") {
        None | Some("") => default,
        Some(n) => n
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or(OciError::PaginationInvalid)?
            .min(MAX_PAGE),
    };
    Ok((
        n,
        ctx.query("last")
            .filter(|l| !l.is_empty())
            .map(str::to_string),
    ))
}

fn json_page(items: serde_json::Value, next: Option<String>) -> Response {
    let mut headers = vec![("content-type", "application/json".to_string())];
    if let Some(link) = next {
        headers.push(("link", link));
    }
    response(StatusCode::OK, &headers, Body::from(items.to_string()))
}

fn link(path: &str, n: i64, last: &str) -> String {
    let q = serde_urlencoded::to_string([("n", n.to_string()), ("last", last.to_string())])
        .unwrap_or_default();
    format!("<{path}?{q}>; rel=\"next\"")
}

pub(super) async fn tags(ctx: &Ctx, name: &RepoName) -> Result<Response, OciError> {
    let (n, last) = page(ctx, MAX_PAGE)?;
    let mut tags = ctx.state.registry.tags(name, last, n + 1).await?;
    let next = if tags.len() as i64 > n {
        tags.truncate(n as usize);
        tags.last()
            .map(|l| link(&format!("/v2/{name}/tags/list"), n, l))
    } else {
        None
    };
    Ok(json_page(
        json!({"name": name.as_str(), "tags": tags}),
        next,
    ))
}

pub(super) async fn catalog(ctx: &Ctx, claims: &Claims) -> Result<Response, OciError> {
    let (n, last) = page(ctx, CATALOG_DEFAULT_PAGE)?;
    let auth = &ctx.state.auth;
    let principal = auth
        .principal_for_subject(&claims.sub)
        .await
        .map_err(internal)?;
    let projects = auth.visible_projects(&principal).await.map_err(internal)?;
    let mut repos = ctx.state.registry.catalog(projects, last, n + 1).await?;
    let next = if repos.len() as i64 > n {
        repos.truncate(n as usize);
        repos.last().map(|l| link("/v2/_catalog", n, l))
    } else {
        None
    };
    Ok(json_page(json!({"repositories": repos}), next))
}

fn internal(e: crate::auth::AuthError) -> OciError {
    OciError::Registry(RegistryError::Internal(e.to_string()))
}

pub(super) async fn referrers(
    ctx: &Ctx,
    name: &RepoName,
    digest: &str,
) -> Result<Response, OciError> {
    let digest: Digest = digest.parse()?;
    let filter = ctx.query("artifactType").map(str::to_string);
    let rows = ctx
        .state
        .registry
        .referrers(name, &digest, filter.as_deref())
        .await?;
    let manifests: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|r| {
            let mut d = json!({"mediaType": r.media_type, "digest": r.digest, "size": r.size});
            if let Some(t) = r.artifact_type {
                d["artifactType"] = json!(t);
            }
            if let Some(a) = r
                .annotations
                .and_then(|a| serde_json::from_str::<serde_json::Value>(&a).ok())
            {
                d["annotations"] = a;
            }
            d
        })
        .collect();
    let doc = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
    let mut headers = vec![("content-type", OCI_INDEX.to_string())];
    if filter.is_some() {
        headers.push(("oci-filters-applied", "artifactType".into()));
    }
    Ok(response(
        StatusCode::OK,
        &headers,
        Body::from(doc.to_string()),
    ))
}
