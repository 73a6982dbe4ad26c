//! Helpers shared by the fuzz targets: the range parsers behind the same header lookups the
//! handlers do, a renderer for registry routes, and small independent reference
//! implementations of the name grammars to compare the daemon's hand-written checks against.

use berth::registry::path::Route;

/// `registry::range::byte_range`, as the blob `GET` handler calls it.
pub mod blobs {
    pub fn parse_range(header: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, ()> {
        berth::registry::range::byte_range(header, size).map_err(|_| ())
    }
}

/// `registry::range::content_range_start`, behind the header lookup the upload handlers do (a
/// value that is not visible ASCII reads as absent, as `Ctx::header` has it).
pub mod uploads {
    pub struct Ctx {
        value: Option<http::HeaderValue>,
    }

    impl Ctx {
        pub fn with_content_range(raw: &[u8]) -> Ctx {
            Ctx {
                value: http::HeaderValue::from_bytes(raw).ok(),
            }
        }
    }

    /// `Ok(None)`: no header; `Err(())`: malformed (BLOB_UPLOAD_INVALID).
    pub fn parse_content_range(ctx: &Ctx) -> Result<Option<u64>, ()> {
        match ctx.value.as_ref().and_then(|v| v.to_str().ok()) {
            None => Ok(None),
            Some(raw) => berth::registry::range::content_range_start(raw)
                .map(Some)
                .ok_or(()),
        }
    }
}

/// The path (after `/v2/`) that names `route`; uploads are rendered with the trailing slash.
pub fn render(route: &Route) -> String {
    match route {
        Route::Catalog => "_catalog".to_string(),
        Route::Tags { name } => format!("{name}/tags/list"),
        Route::Manifest { name, reference } => format!("{name}/manifests/{reference}"),
        Route::Blob { name, digest } => format!("{name}/blobs/{digest}"),
        Route::Uploads { name } => format!("{name}/blobs/uploads/"),
        Route::Upload { name, id } => format!("{name}/blobs/uploads/{id}"),
        Route::Referrers { name, digest } => format!("{name}/referrers/{digest}"),
    }
}

/// Reference grammars, written as plain state machines over the regular expressions the spec
/// gives, independently of the daemon's code.
pub mod reference {
    fn alnum(c: u8) -> bool {
        c.is_ascii_lowercase() || c.is_ascii_digit()
    }

    /// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
    pub fn component(s: &str) -> bool {
        // States: 0 start, 1 in alnum run, 2 after '.', 3 after '_', 4 after "__", 5 in '-' run.
        let mut state = 0;
        for &c in s.as_bytes() {
            state = match (state, c) {
                (_, c) if alnum(c) => 1,
                (1, b'.') => 2,
                (1, b'_') => 3,
                (3, b'_') => 4,
                (1 | 5, b'-') => 5,
                _ => return false,
            };
        }
        state == 1
    }

    /// component(/component)+, at most 255 bytes.
    pub fn repo_name(s: &str) -> bool {
        s.len() <= 255 && s.split('/').count() >= 2 && s.split('/').all(component)
    }

    /// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`
    pub fn tag(s: &str) -> bool {
        let b = s.as_bytes();
        let first = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
        let rest = |c: u8| first(c) || c == b'.' || c == b'-';
        (1..=128).contains(&b.len()) && first(b[0]) && b[1..].iter().all(|&c| rest(c))
    }

    /// `^[a-z0-9]+(?:[._-][a-z0-9]+)*$`, 1 to 255 bytes.
    pub fn project(s: &str) -> bool {
        let mut state = 0; // 0 start, 1 alnum, 2 after one separator
        for &c in s.as_bytes() {
            state = match (state, c) {
                (_, c) if alnum(c) => 1,
                (1, b'.' | b'_' | b'-') => 2,
                _ => return false,
            };
        }
        state == 1 && s.len() <= 255
    }
}
