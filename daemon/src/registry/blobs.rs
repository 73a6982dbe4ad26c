//! `GET`/`HEAD`/`DELETE /v2/<name>/blobs/<digest>`.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;

use super::error::OciError;
use super::{response, Ctx};
use crate::digest::Digest;
use crate::names::RepoName;
use crate::service::registry::RegistryError;

fn digest(s: &str) -> Result<Digest, OciError> {
    Ok(s.parse()?)
}

pub(super) async fn get(
    ctx: &Ctx,
    name: &RepoName,
    reference: &str,
    head: bool,
) -> Result<Response, OciError> {
    let digest = digest(reference)?;
    let registry = &ctx.state.registry;
    let size = if head {
        registry.check_blob(name, &digest, ctx.may_push).await?
    } else {
        registry.blob_size(name, &digest).await?
    };
    let range = super::range::byte_range(ctx.header("range"), size)
        .map_err(|_| OciError::Registry(RegistryError::RangeNotSatisfiable { size }))?;
    let (status, start, len) = match range {
        Some((s, e)) => (StatusCode::PARTIAL_CONTENT, s, e - s + 1),
        None => (StatusCode::OK, 0, size),
    };
    let mut headers = vec![
        ("content-length", len.to_string()),
        ("content-type", "application/octet-stream".to_string()),
        ("docker-content-digest", digest.to_string()),
        ("etag", format!("\"{digest}\"")),
        ("accept-ranges", "bytes".to_string()),
    ];
    if status == StatusCode::PARTIAL_CONTENT {
        headers.push((
            "content-range",
            format!("bytes {}-{}/{size}", start, start + len - 1),
        ));
    }
    let body = if head {
        Body::empty()
    } else {
        let metrics = ctx.state.metrics.clone();
        Body::from_stream(futures_util::StreamExt::inspect(
            ctx.state.registry.blob_stream(&digest, start, len),
            move |chunk| {
                if let Ok(bytes) = chunk {
                    metrics.blob_sent(bytes.len());
                }
            },
        ))
    };
    Ok(response(status, &headers, body))
}

pub(super) async fn delete(
    ctx: &Ctx,
    name: &RepoName,
    reference: &str,
) -> Result<Response, OciError> {
    let digest = digest(reference)?;
    ctx.state.registry.delete_blob(name, &digest).await?;
    Ok(response(
        StatusCode::ACCEPTED,
        &[("content-length", "0".into())],
        Body::empty(),
    ))
}
