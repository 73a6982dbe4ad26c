//! Manifest documents: which media types Berth stores, and what each one references. Pure
//! parsing, no I/O, so it is unit-tested and fuzzable on its own.

use serde::Deserialize;
use serde_json::Value;

use crate::digest::Digest;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_SCHEMA1: &[&str] = &[
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];

/// Manifests larger than this are refused, as the spec allows and Distribution does.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// What the registry needs to know about a manifest to store and link it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedManifest {
    pub media_type: String,
    /// Blobs that must be linked to the repository: config and layers.
    pub blobs: Vec<String>,
    /// Manifests that must already be in the repository: an index's children.
    pub manifests: Vec<String>,
    pub subject: Option<String>,
    /// `artifactType`, or for an image manifest its config's media type, as the referrers API
    /// reports it.
    pub artifact_type: Option<String>,
    pub annotations: Option<Value>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ManifestError {
    #[error("manifest invalid: {0}")]
    Invalid(String),
    #[error("manifest media type not supported: {0}")]
    Unsupported(String),
}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: String,
    size: i64,
    #[serde(default)]
    urls: Option<Vec<String>>,
}

impl Descriptor {
    fn validated(value: &Value, what: &str) -> Result<Descriptor, ManifestError> {
        let d: Descriptor = serde_json::from_value(value.clone())
            .map_err(|e| ManifestError::Invalid(format!("{what}: {e}")))?;
        if d.media_type.is_empty() {
            return Err(ManifestError::Invalid(format!("{what}: empty mediaType")));
        }
        if d.size < 0 {
            return Err(ManifestError::Invalid(format!("{what}: negative size")));
        }
        d.digest
            .parse::<Digest>()
            .map_err(|e| ManifestError::Invalid(format!("{what}: {e}")))?;
        Ok(d)
    }
}

/// Parses and checks a manifest body. `content_type` is the request's `Content-Type`.
pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<ParsedManifest, ManifestError> {
    let doc: Value = serde_json::from_slice(body)
        .map_err(|e| ManifestError::Invalid(format!("not JSON: {e}")))?;
    let obj = doc
        .as_object()
        .ok_or_else(|| ManifestError::Invalid("not a JSON object".into()))?;
    let content_type = content_type
        .map(|c| c.split(';').next().unwrap_or("").trim())
        .filter(|c| !c.is_empty() && *c != "application/json" && *c != "application/octet-stream");
    let declared = obj.get("mediaType").and_then(Value::as_str);
    if declared.is_some_and(str::is_empty) {
        return Err(ManifestError::Invalid("mediaType is empty".into()));
    }

    if let Some(ct) = content_type {
        if DOCKER_SCHEMA1.contains(&ct) {
            return Err(ManifestError::Unsupported(
                "Docker schema 1 manifests are not supported".into(),
            ));
        }
    }
    match obj.get("schemaVersion").and_then(Value::as_i64) {
        Some(2) => {}
        Some(1) => {
            return Err(ManifestError::Unsupported(
                "Docker schema 1 manifests are not supported".into(),
            ))
        }
        _ => return Err(ManifestError::Invalid("schemaVersion must be 2".into())),
    }
    if let (Some(ct), Some(d)) = (content_type, declared) {
        if ct != d {
            return Err(ManifestError::Invalid(format!(
                "mediaType {d} does not match Content-Type {ct}"
            )));
        }
    }
    let media_type = match declared.or(content_type) {
        Some(m) => m.to_string(),
        None if obj.contains_key("manifests") => OCI_INDEX.to_string(),
        None if obj.contains_key("config") => OCI_MANIFEST.to_string(),
        None => {
            return Err(ManifestError::Invalid(
                "cannot tell the manifest's media type".into(),
            ))
        }
    };

    let subject = match obj.get("subject") {
        None | Some(Value::Null) => None,
        Some(v) => Some(Descriptor::validated(v, "subject")?.digest),
    };
    let artifact_type = obj
        .get("artifactType")
        .and_then(Value::as_str)
        .map(str::to_string);
    let annotations = obj.get("annotations").filter(|v| v.is_object()).cloned();

    match media_type.as_str() {
        OCI_MANIFEST | DOCKER_MANIFEST => {
            let config = Descriptor::validated(
                obj.get("config")
                    .ok_or_else(|| ManifestError::Invalid("missing config".into()))?,
                "config",
            )?;
            let layers = obj
                .get("layers")
                .and_then(Value::as_array)
                .ok_or_else(|| ManifestError::Invalid("missing layers array".into()))?;
            let mut blobs = vec![config.digest.clone()];
            for (i, layer) in layers.iter().enumerate() {
                let d = Descriptor::validated(layer, &format!("layers[{i}]"))?;
                // Foreign layers (Windows base images) live elsewhere, by their URLs.
                if d.urls.as_ref().is_some_and(|u| !u.is_empty()) {
                    continue;
                }
                if !blobs.contains(&d.digest) {
                    blobs.push(d.digest);
                }
            }
            let artifact_type = artifact_type.or(Some(config.media_type));
            Ok(ParsedManifest {
                media_type,
                blobs,
                manifests: vec![],
                subject,
                artifact_type,
                annotations,
            })
        }
        OCI_INDEX | DOCKER_LIST => {
            let children = obj
                .get("manifests")
                .and_then(Value::as_array)
                .ok_or_else(|| ManifestError::Invalid("missing manifests array".into()))?;
            let mut manifests = Vec::new();
            for (i, child) in children.iter().enumerate() {
                let d = Descriptor::validated(child, &format!("manifests[{i}]"))?;
                if !manifests.contains(&d.digest) {
                    manifests.push(d.digest);
                }
            }
            Ok(ParsedManifest {
                media_type,
                blobs: vec![],
                manifests,
                subject,
                artifact_type,
                annotations,
            })
        }
        other => Err(ManifestError::Unsupported(format!(
            "manifest media type {other:?} is not supported"
        ))),
    }
}

/// The `config` descriptor's digest of an image manifest, if it has one that parses.
pub fn config_digest(body: &[u8]) -> Option<Digest> {
    let doc: Value = serde_json::from_slice(body).ok()?;
    doc.get("config")?.get("digest")?.as_str()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> String {
        format!("sha256:{}", hex::encode([n; 32]))
    }

    #[test]
    fn oci_image_manifest() {
        let body = serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": d(1), "size": 2},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d(2), "size": 3},
                       {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d(2), "size": 3}],
        });
        let p = parse(Some(OCI_MANIFEST), body.to_string().as_bytes()).expect("valid");
        assert_eq!(p.blobs, vec![d(1), d(2)]);
        assert_eq!(
            p.artifact_type.as_deref(),
            Some("application/vnd.oci.image.config.v1+json")
        );
    }

    #[test]
    fn artifact_with_subject() {
        let body = serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/x.sig",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": d(1), "size": 2},
            "layers": [], "subject": {"mediaType": OCI_MANIFEST, "digest": d(9), "size": 10},
        });
        let p = parse(None, body.to_string().as_bytes()).expect("valid");
        assert_eq!(p.subject, Some(d(9)));
        assert_eq!(p.artifact_type.as_deref(), Some("application/x.sig"));
    }

    #[test]
    fn index_lists_children() {
        let body = serde_json::json!({"schemaVersion": 2, "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": d(3), "size": 5}]});
        let p = parse(Some(OCI_INDEX), body.to_string().as_bytes()).expect("valid");
        assert_eq!(
            (p.media_type.as_str(), p.manifests),
            (OCI_INDEX, vec![d(3)])
        );
    }

    #[test]
    fn refuses_bad_documents() {
        let cases: &[(&str, Option<&str>)] = &[
            ("{", None),
            ("[]", None),
            (r#"{"schemaVersion": 3}"#, None),
            (
                r#"{"schemaVersion": 2, "mediaType": "a", "config": {}}"#,
                Some("b"),
            ),
            (
                r#"{"schemaVersion": 2, "config": {"mediaType": "x", "digest": "sha256:zz", "size": 1}, "layers": []}"#,
                None,
            ),
            (
                r#"{"schemaVersion": 2, "config": {"mediaType": "x", "digest": "sha256:00", "size": -1}, "layers": []}"#,
                None,
            ),
        ];
        for (body, ct) in cases {
            assert!(
                matches!(parse(*ct, body.as_bytes()), Err(ManifestError::Invalid(_))),
                "{body}"
            );
        }
        assert!(matches!(
            parse(None, br#"{"schemaVersion": 1}"#),
            Err(ManifestError::Unsupported(_))
        ));
        assert!(matches!(
            parse(Some("application/x-unknown"), br#"{"schemaVersion": 2}"#),
            Err(ManifestError::Unsupported(_))
        ));
    }
}
