//! Blob uploads: `POST` (start, monolithic with `?digest=`, or mount with `?mount=`, with or
//! without `&from=`),
//! `PATCH` (chunks, with `Content-Range` checked), `PUT` (finish), `GET` (status), `DELETE`.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;

use super::access;
use super::error::OciError;
use super::{response, Ctx};
use crate::auth::token::Claims;
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

/// The first byte's offset from the request's `Content-Range`, when it has one.
fn range_start(ctx: &Ctx) -> Result<Option<u64>, OciError> {
    let Some(raw) = ctx.header("content-range") else {
        return Ok(None);
    };
    match super::range::content_range_start(raw) {
        Some(start) => Ok(Some(start)),
        None => Err(OciError::Registry(RegistryError::BlobUploadInvalid(
            format!("bad Content-Range {raw:?}"),
        ))),
    }
}

/// The request body as a stream, each chunk counted as blob bytes received.
fn counted(
    ctx: &Ctx,
    body: Body,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, axum::Error>> + Send + 'static {
    use futures_util::StreamExt;
    let metrics = ctx.state.metrics.clone();
    body.into_data_stream().inspect(move |chunk| {
        if let Ok(bytes) = chunk {
            metrics.blob_received(bytes.len());
        }
    })
}

pub(super) async fn start(
    ctx: &Ctx,
    claims: &Claims,
    name: &RepoName,
    body: Body,
) -> Result<Response, OciError> {
    let registry = &ctx.state.registry;
    if let Some(digest) = ctx.query("mount").and_then(|m| m.parse::<Digest>().ok()) {
        // Mount only from a repository the token may pull; otherwise, as the spec says, fall
        // through to an ordinary upload session.
        if let Some(source) = mount_source(ctx, claims, &digest).await? {
            if registry.mount_blob(name, &source, &digest).await? {
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
            .finish_upload(name, &id, expected, None, counted(ctx, body))
            .await?;
        return Ok(created(name, &done));
    }
    let id = registry
        .start_upload(name, &ctx.username, Algorithm::Sha256)
        .await?;
    let status = UploadStatus { id, offset: 0 };
    Ok(accepted(name, &status, StatusCode::ACCEPTED))
}

/// The repository to mount `digest` from: `from` when the token covers pulling it; without
/// `from` (OCI 1.1), the first repository holding the blob that the token covers.
async fn mount_source(
    ctx: &Ctx,
    claims: &Claims,
    digest: &Digest,
) -> Result<Option<RepoName>, OciError> {
    if let Some(from) = ctx.query("from") {
        let Ok(from) = RepoName::parse(from) else {
            return Ok(None);
        };
        return Ok(access::token_may_pull(claims, &from).then_some(from));
    }
    let holders = ctx.state.registry.repositories_holding(digest).await?;
    Ok(holders
        .into_iter()
        .find(|holder| access::token_may_pull(claims, holder)))
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
        .append_upload(name, id, start, counted(ctx, body))
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
        .finish_upload(name, id, expected, start, counted(ctx, body))
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
