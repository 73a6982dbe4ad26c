//! `berth::registry::path::parse`, the `/v2/` path router: never panics, and every route it
//! returns names exactly the path it came from (the last marker wins, so rendering the route
//! gives the input back, modulo the optional slash after `blobs/uploads`). Then what the router
//! does next: the name through `RepoName::parse`, a blob or referrer digest through `Digest`.
#![no_main]

use berth::digest::Digest;
use berth::names::RepoName;
use berth::registry::path::{parse, Route};
use berth_fuzz::render;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(rest) = std::str::from_utf8(data) else {
        return;
    };
    let Some(route) = parse(rest) else {
        return;
    };
    let rendered = render(&route);
    match &route {
        Route::Uploads { .. } => assert!(
            rendered == rest || rendered.strip_suffix('/') == Some(rest),
            "{rest:?} -> {route:?} -> {rendered:?}"
        ),
        _ => assert_eq!(rendered, rest, "{route:?}"),
    }
    assert_eq!(parse(&rendered).as_ref(), Some(&route), "{rendered:?}");
    let name = match &route {
        Route::Catalog => {
            assert_eq!(rest, "_catalog");
            return;
        }
        Route::Tags { name } | Route::Uploads { name } => name,
        Route::Manifest { name, reference } => {
            assert!(!reference.is_empty() && !reference.contains('/'));
            name
        }
        Route::Upload { name, id } => {
            assert!(!id.is_empty() && !id.contains('/'));
            name
        }
        Route::Blob { name, digest } | Route::Referrers { name, digest } => {
            assert!(!digest.is_empty() && !digest.contains('/'));
            if let Ok(d) = digest.parse::<Digest>() {
                assert_eq!(&d.to_string(), digest);
            }
            name
        }
    };
    if let Ok(n) = RepoName::parse(name) {
        assert_eq!(n.as_str(), name);
    }
});
