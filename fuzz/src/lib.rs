//! Helpers shared by the fuzz targets: the daemon's private range parsers (copied verbatim from
//! `daemon/src` by `build.rs`), a renderer for registry routes, and small independent reference
//! implementations of the name grammars to compare the daemon's hand-written checks against.

use berth::registry::path::Route;

/// `registry::blobs::byte_range`, verbatim: `Range: bytes=...` against a blob of `size` bytes.
pub mod blobs {
    include!(concat!(env!("OUT_DIR"), "/byte_range.rs"));

    /// The private function, as the handler calls it.
    pub fn parse_range(header: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, ()> {
        byte_range(header, size)
    }
}

/// `registry::uploads::range_start`, verbatim, with just enough of its surroundings (`Ctx`,
/// `OciError`, `RegistryError`) stubbed for it to compile unchanged.
pub mod uploads {
    /// The one `Ctx` method `range_start` calls; `header` behaves as the daemon's (a value that
    /// is not visible ASCII reads as absent).
    pub struct Ctx {
        value: Option<http::HeaderValue>,
    }

    impl Ctx {
        pub fn with_content_range(raw: &[u8]) -> Ctx {
            Ctx {
                value: http::HeaderValue::from_bytes(raw).ok(),
            }
        }

        pub fn header(&self, name: &str) -> Option<&str> {
            assert_eq!(name, "content-range");
            self.value.as_ref().and_then(|v| v.to_str().ok())
        }
    }

    #[derive(Debug)]
    pub enum RegistryError {
        BlobUploadInvalid(#[allow(dead_code)] String),
    }

    #[derive(Debug)]
    pub enum OciError {
        Registry(#[allow(dead_code)] RegistryError),
    }

    include!(concat!(env!("OUT_DIR"), "/range_start.rs"));

    /// The private function, as the PATCH and PUT handlers call it.
    pub fn parse_content_range(ctx: &Ctx) -> Result<Option<u64>, OciError> {
        range_start(ctx)
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
