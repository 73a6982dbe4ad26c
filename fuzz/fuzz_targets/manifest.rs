//! `berth::manifest::parse`: never panics on any body and `Content-Type`, and what it accepts is
//! consistent: a supported media type, every referenced digest valid, no duplicates, blobs only
//! for image manifests and children only for indexes, and the same answer twice.
//!
//! Input: the first byte picks the `Content-Type` (absent, one of the known types, or the bytes
//! up to the first newline); the rest is the body.
#![no_main]

use berth::digest::Digest;
use berth::manifest::{
    parse, ManifestError, DOCKER_LIST, DOCKER_MANIFEST, MAX_MANIFEST_BYTES, OCI_INDEX, OCI_MANIFEST,
};
use libfuzzer_sys::fuzz_target;

const TYPES: &[&str] = &[
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    DOCKER_LIST,
    "application/json",
    "application/octet-stream",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/vnd.oci.image.manifest.v1+json; charset=utf-8",
];

fn valid_digest(d: &str) -> bool {
    d.parse::<Digest>().is_ok_and(|p| p.to_string() == d)
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if rest.len() > MAX_MANIFEST_BYTES {
        return;
    }
    let (content_type, body): (Option<String>, &[u8]) = match usize::from(selector) {
        0 => (None, rest),
        n if n <= TYPES.len() => (Some(TYPES[n - 1].to_string()), rest),
        _ => {
            let nl = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            let ct = String::from_utf8_lossy(&rest[..nl]).into_owned();
            (Some(ct), rest.get(nl + 1..).unwrap_or_default())
        }
    };
    let result = parse(content_type.as_deref(), body);
    assert_eq!(
        result,
        parse(content_type.as_deref(), body),
        "deterministic"
    );
    let p = match result {
        Ok(p) => p,
        // `Unsupported` carries the offending media type, which may be empty
        // (`"mediaType": ""`); the message as a whole is never empty.
        Err(e @ (ManifestError::Invalid(_) | ManifestError::Unsupported(_))) => {
            assert!(!e.to_string().is_empty());
            if let ManifestError::Invalid(m) = &e {
                assert!(!m.is_empty());
            }
            return;
        }
    };
    match p.media_type.as_str() {
        OCI_MANIFEST | DOCKER_MANIFEST => {
            assert!(!p.blobs.is_empty(), "the config is always a blob");
            assert!(p.manifests.is_empty());
            assert!(p.artifact_type.is_some());
        }
        OCI_INDEX | DOCKER_LIST => assert!(p.blobs.is_empty()),
        other => panic!("accepted unsupported media type {other:?}"),
    }
    for list in [&p.blobs, &p.manifests] {
        for (i, d) in list.iter().enumerate() {
            assert!(valid_digest(d), "invalid digest {d:?} accepted");
            assert!(!list[..i].contains(d), "duplicate {d:?}");
        }
    }
    if let Some(s) = &p.subject {
        assert!(valid_digest(s), "invalid subject {s:?} accepted");
    }
    if let Some(a) = &p.annotations {
        assert!(a.is_object());
    }
    // An accepted body is a JSON object with schemaVersion 2.
    let doc: serde_json::Value = serde_json::from_slice(body).expect("accepted => JSON");
    assert_eq!(doc.get("schemaVersion").and_then(|v| v.as_i64()), Some(2));
});
