//! `GET`/`HEAD`/`PUT`/`DELETE /v2/<name>/manifests/<reference>`.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;

use super::error::OciError;
use super::{response, Ctx};
use crate::audit::Entry;
use crate::manifest::MAX_MANIFEST_BYTES;
use crate::names::RepoName;
use crate::service::registry::RegistryError;
use crate::service::replication::{trusted_origin, Event};

/// Tells replication about a push or a delete (event-based policies act on it).
async fn replicate(ctx: &Ctx, name: &RepoName, reference: &str, digest: &str, deleted: bool) {
    let header = ctx.header(crate::replication::remote::ORIGIN_HEADER);
    let origin = match header {
        Some(_) => match ctx.state.auth.principal_for_subject(&ctx.username).await {
            Ok(by) => trusted_origin(&by, header),
            Err(_) => None,
        },
        None => None,
    };
    let tag = if reference.contains(':') {
        ""
    } else {
        reference
    };
    ctx.state.replication.on_event(Event {
        repository: name.to_string(),
        tag: tag.to_string(),
        digest: digest.to_string(),
        deleted,
        origin,
    });
}

/// What the audit log calls an artifact: `repo:tag` or `repo@digest`.
fn artifact(name: &RepoName, reference: &str) -> String {
    if reference.contains(':') {
        format!("{name}@{reference}")
    } else {
        format!("{name}:{reference}")
    }
}

fn audit(
    ctx: &Ctx,
    project_id: Option<i64>,
    operation: &'static str,
    resource: String,
    success: bool,
) {
    ctx.state.audit.record(Entry {
        project_id,
        operation,
        resource_type: "artifact",
        resource,
        username: ctx.username.clone(),
        success,
        client_ip: ctx.client_ip.clone(),
    });
}

pub(super) async fn get(
    ctx: &Ctx,
    name: &RepoName,
    reference: &str,
    head: bool,
) -> Result<Response, OciError> {
    let found = ctx.state.registry.get_manifest(name, reference).await;
    // HEAD is how clients check for updates; only GET is a pull.
    if !head {
        if !ctx.state.settings.current().system.pull_audit_log_disable {
            let project_id = found.as_ref().ok().map(|m| m.project_id);
            audit(
                ctx,
                project_id,
                "pull",
                artifact(name, reference),
                found.is_ok(),
            );
        }
        if let Ok(m) = &found {
            let tag = (!reference.contains(':')).then(|| reference.to_string());
            ctx.state.audit.pulled(m.repository_id, m.id, tag);
        }
    }
    let m = found?;
    let headers = [
        ("content-type", m.media_type.clone()),
        ("content-length", m.content.len().to_string()),
        ("docker-content-digest", m.digest.clone()),
        ("etag", format!("\"{}\"", m.digest)),
    ];
    let body = if head {
        Body::empty()
    } else {
        Body::from(m.content)
    };
    Ok(response(StatusCode::OK, &headers, body))
}

pub(super) async fn put(
    ctx: &Ctx,
    name: &RepoName,
    reference: &str,
    body: Body,
) -> Result<Response, OciError> {
    let too_large = || OciError::Registry(RegistryError::ManifestTooLarge(MAX_MANIFEST_BYTES));
    if ctx
        .header("content-length")
        .and_then(|l| l.parse::<usize>().ok())
        .is_some_and(|l| l > MAX_MANIFEST_BYTES)
    {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, MAX_MANIFEST_BYTES)
        .await
        .map_err(|_| too_large())?;
    let content_type = ctx.header("content-type").map(str::to_string);
    let pushed = ctx
        .state
        .registry
        .put_manifest(name, reference, content_type.as_deref(), bytes)
        .await;
    let project_id = pushed.as_ref().ok().map(|o| o.project_id);
    audit(
        ctx,
        project_id,
        "push",
        artifact(name, reference),
        pushed.is_ok(),
    );
    let out = pushed?;
    replicate(ctx, name, reference, &out.digest.to_string(), false).await;
    let mut headers = vec![
        ("location", format!("/v2/{name}/manifests/{}", out.digest)),
        ("docker-content-digest", out.digest.to_string()),
        ("content-length", "0".into()),
    ];
    if let Some(subject) = out.subject {
        headers.push(("oci-subject", subject));
    }
    Ok(response(StatusCode::CREATED, &headers, Body::empty()))
}

pub(super) async fn delete(
    ctx: &Ctx,
    name: &RepoName,
    reference: &str,
) -> Result<Response, OciError> {
    let deleted = ctx.state.registry.delete_manifest(name, reference).await;
    audit(
        ctx,
        deleted.as_ref().ok().copied(),
        "delete",
        artifact(name, reference),
        deleted.is_ok(),
    );
    deleted?;
    let digest = if reference.contains(':') {
        reference
    } else {
        ""
    };
    replicate(ctx, name, reference, digest, true).await;
    Ok(response(
        StatusCode::ACCEPTED,
        &[("content-length", "0".into())],
        Body::empty(),
    ))
}
