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

/// Parses `bytes=a-b`, `bytes=a-` or `bytes=-n` against a blob of `size` bytes into an
/// inclusive range. `Err` means unsatisfiable; `Ok(None)` means no usable range header.
fn byte_range(header: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None); // multiple ranges: serve the whole blob, as the spec permits
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| ())?;
            if n == 0 {
                return Err(());
            }
            (size.saturating_sub(n), size.checked_sub(1).ok_or(())?)
        }
        (a, "") => (a.parse().map_err(|_| ())?, size.checked_sub(1).ok_or(())?),
        (a, b) => {
            let (s, e): (u64, u64) = (a.parse().map_err(|_| ())?, b.parse().map_err(|_| ())?);
            (s, e.min(size.saturating_sub(1)))
        }
    };
    if start > end || start >= size {
        return Err(());
    }
    Ok(Some((start, end)))
}

pub(super) async fn get(
    ctx: &Ctx,
    name: &RepoName,
    reference: &str,
    head: bool,
) -> Result<Response, OciError> {
    let digest = digest(reference)?;
    let size = ctx.state.registry.blob_size(name, &digest).await?;
    let range = byte_range(ctx.header("range"), size)
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
        Body::from_stream(ctx.state.registry.blob_stream(&digest, start, len))
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

#[cfg(test)]
mod tests {
    use super::byte_range;

    #[test]
    fn ranges() {
        assert_eq!(byte_range(None, 10), Ok(None));
        assert_eq!(byte_range(Some("bytes=0-4"), 10), Ok(Some((0, 4))));
        assert_eq!(byte_range(Some("bytes=5-"), 10), Ok(Some((5, 9))));
        assert_eq!(byte_range(Some("bytes=-3"), 10), Ok(Some((7, 9))));
        assert_eq!(byte_range(Some("bytes=8-100"), 10), Ok(Some((8, 9))));
        assert_eq!(byte_range(Some("bytes=10-"), 10), Err(()));
        assert_eq!(byte_range(Some("bytes=5-2"), 10), Err(()));
        assert_eq!(byte_range(Some("bytes=x-2"), 10), Err(()));
        assert_eq!(byte_range(Some("bytes=0-0"), 0), Err(()));
    }
}
