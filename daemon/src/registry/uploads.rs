//! Blob uploads: `POST` (start, monolithic with `?digest=`, or mount with `?mount=&from=`),
//! `PATCH` (chunks, with `Content-Range` checked), `PUT` (finish), `GET` (status), `DELETE`.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;

use super::access::Needed;
use super::error::OciError;
use super::{response, Ctx};
use crate::auth::permissions::Action;
use crate::digest::{Algorithm, Digest};
use crate::names::RepoName;
use crate::service::registry::{RegistryError, UploadStatus};

fn location(name: &RepoName, id: &str) -> String {
    format!("/v2/{name}/blobs/uploads/{id}")
}

fn accepted(name: &RepoName, status: &UploadStatus, code: StatusCode) -> Response {
    response(
        code,
        &[
            ("location", location(name, &status.id)),
            ("range", format!("0-{}", status.offset.saturating_sub(1))),
            ("docker-upload-uuid", status.id.clone()),
            ("content-length", "0".into()),
        ],
        Body::empty(),
    )
}

fn created(name: &RepoName, digest: &Digest) -> Response {
    response(
        StatusCode::CREATED,
        &[
            ("location", format!("/v2/{name}/blobs/{digest}")),
            ("docker-content-digest", digest.to_string()),
            ("content-length", "0".into()),
        ],
        Body::empty(),
    )
}

/// The first byte's offset from `Content-Range: <start>-<end>` (also accepts `bytes a-b/n`).
fn range_start(ctx: &Ctx) -> Result<Option<u64>, OciError> {
    let Some(raw) = ctx.header("content-range") else {
        return Ok(None);
    };
    let spec = raw
        .trim()
        .trim_start_matches("bytes")
        .trim_start_matches('=')
        .trim();
    let spec = spec.split('/').next().unwrap_or_default();
    let start = spec
        .split('-')
        .next()
        .and_then(|s| s.trim().parse::<u64>().ok());
    match start {
        Some(s) => Ok(Some(s)),
        None => Err(OciError::Registry(RegistryError::BlobUploadInvalid(
            format!("bad Content-Range {raw:?}"),
        ))),
    }
}

pub(super) async fn start(ctx: &Ctx, name: &RepoName, body: Body) -> Result<Response, OciError> {
    let registry = &ctx.state.registry;
    if let (Some(mount), Some(from)) = (ctx.query("mount"), ctx.query("from")) {
        // Mount only what the caller may pull from the source; otherwise, as the spec says,
        // fall through to an ordinary upload session.
        if let (Ok(digest), Ok(from)) = (mount.parse::<Digest>(), RepoName::parse(from)) {
            let may_pull = ctx
                .authorize(Needed::Repository {
                    name: from.as_str(),
                    action: Action::Pull,
                })
                .await
                .is_ok();
            if may_pull && registry.mount_blob(name, &from, &digest).await? {
                return Ok(created(name, &digest));
            }
        }
    }
    if let Some(expected) = ctx.query("digest") {
        let digest: Digest = expected.parse()?;
        let id = registry
            .start_upload(name, &ctx.username, digest.algorithm())
            .await?;
        let done = registry
            .finish_upload(name, &id, expected, None, body.into_data_stream())
            .await?;
        return Ok(created(name, &done));
    }
    let id = registry
        .start_upload(name, &ctx.username, Algorithm::Sha256)
        .await?;
    let status = UploadStatus { id, offset: 0 };
    Ok(accepted(name, &status, StatusCode::ACCEPTED))
}

pub(super) async fn patch(
    ctx: &Ctx,
    name: &RepoName,
    id: &str,
    body: Body,
) -> Result<Response, OciError> {
    let start = range_start(ctx)?;
    let status = ctx
        .state
        .registry
        .append_upload(name, id, start, body.into_data_stream())
        .await?;
    Ok(accepted(name, &status, StatusCode::ACCEPTED))
}

pub(super) async fn put(
    ctx: &Ctx,
    name: &RepoName,
    id: &str,
    body: Body,
) -> Result<Response, OciError> {
    let Some(expected) = ctx.query("digest") else {
        return Err(
            RegistryError::DigestInvalid("the digest query parameter is required".into()).into(),
        );
    };
    let start = range_start(ctx)?;
    let digest = ctx
        .state
        .registry
        .finish_upload(name, id, expected, start, body.into_data_stream())
        .await?;
    Ok(created(name, &digest))
}

pub(super) async fn status(ctx: &Ctx, name: &RepoName, id: &str) -> Result<Response, OciError> {
    let status = ctx.state.registry.upload_status(name, id).await?;
    Ok(accepted(name, &status, StatusCode::NO_CONTENT))
}

pub(super) async fn cancel(ctx: &Ctx, name: &RepoName, id: &str) -> Result<Response, OciError> {
    ctx.state.registry.cancel_upload(name, id).await?;
    Ok(response(StatusCode::NO_CONTENT, &[], Body::empty()))
}
