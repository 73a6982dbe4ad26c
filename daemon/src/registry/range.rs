//! The blob API's two range headers, as pure functions (fuzzed in `fuzz/`): `Range` on a blob
//! `GET`, and `Content-Range` on an upload `PATCH` or `PUT`.

/// A `Range` that no byte of the blob satisfies (answered 416).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsatisfiable;

/// Parses `bytes=a-b`, `bytes=a-` or `bytes=-n` against a blob of `size` bytes into an
/// inclusive range; `Ok(None)` means no usable range header (serve the whole blob).
pub fn byte_range(header: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, Unsatisfiable> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None); // multiple ranges: serve the whole blob, as the spec permits
    }
    let number = |s: &str| s.parse::<u64>().map_err(|_| Unsatisfiable);
    let last = || size.checked_sub(1).ok_or(Unsatisfiable);
    let (a, b) = spec.split_once('-').ok_or(Unsatisfiable)?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n = number(n)?;
            if n == 0 {
                return Err(Unsatisfiable);
            }
            (size.saturating_sub(n), last()?)
        }
        (a, "") => (number(a)?, last()?),
        (a, b) => (number(a)?, number(b)?.min(size.saturating_sub(1))),
    };
    if start > end || start >= size {
        return Err(Unsatisfiable);
    }
    Ok(Some((start, end)))
}

/// The first byte's offset from `Content-Range: <start>-<end>` (also `bytes a-b/n` and
/// `bytes=a-b`); `None` when the value is malformed.
pub fn content_range_start(raw: &str) -> Option<u64> {
    let spec = raw
        .trim()
        .trim_start_matches("bytes")
        .trim_start_matches('=')
        .trim();
    let spec = spec.split('/').next().unwrap_or_default();
    spec.split('-').next().and_then(|s| s.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_as_rfc_9110_reads_them() {
        assert_eq!(byte_range(None, 10), Ok(None));
        assert_eq!(byte_range(Some("bytes=2-4"), 10), Ok(Some((2, 4))));
        assert_eq!(byte_range(Some("bytes=8-"), 10), Ok(Some((8, 9))));
        assert_eq!(byte_range(Some("bytes=-3"), 10), Ok(Some((7, 9))));
        assert_eq!(byte_range(Some("bytes=5-100"), 10), Ok(Some((5, 9))));
        assert_eq!(byte_range(Some("bytes=10-"), 10), Err(Unsatisfiable));
        assert_eq!(byte_range(Some("bytes=0-"), 0), Err(Unsatisfiable));
        assert_eq!(byte_range(Some("bytes=1-2,4-5"), 10), Ok(None));
        assert_eq!(byte_range(Some("bytes=5-2"), 10), Err(Unsatisfiable));
        assert_eq!(byte_range(Some("bytes=x-2"), 10), Err(Unsatisfiable));
        assert_eq!(content_range_start("0-99"), Some(0));
        assert_eq!(content_range_start("bytes 100-199/*"), Some(100));
        assert_eq!(content_range_start("bytes=5-9"), Some(5));
        assert_eq!(content_range_start("x-1"), None);
    }
}
