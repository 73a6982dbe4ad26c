//! The one place where registry failures become OCI error responses:
//! `{"errors":[{"code","message","detail"}]}` with the spec's codes and statuses. Internal
//! causes are logged here and never sent to the client.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::service::registry::RegistryError;

#[derive(Debug)]
pub enum OciError {
    Registry(RegistryError),
    /// No usable token: the client should get one at the realm in the challenge.
    Unauthorized {
        challenge: String,
        message: &'static str,
    },
    /// The permission table refuses this action to this caller; a new token would not help.
    /// `challenge` carries the cause as `error_description`, which Docker, podman and skopeo
    /// read even from a bodiless `HEAD` answer, so they stop at once and show it.
    Denied {
        challenge: String,
        message: String,
    },
    /// A repository name that breaks the naming rule, with the rule in the challenge as well
    /// (for the same reason as `Denied`).
    NameInvalid {
        challenge: String,
        message: String,
    },
    PaginationInvalid,
    NotFound,
}

impl OciError {
    /// The answer to a `HEAD`, which has no body: containers/image (skopeo, podman, buildah)
    /// reads a refusal's cause only from a 401's challenge (any other status shows as a bare
    /// "403 (Forbidden)"), so a refusal that names its cause in the challenge is sent as 401
    /// `DENIED`; Docker reads the challenge whatever the status.
    pub fn for_head(self) -> Response {
        match self {
            OciError::Denied { challenge, message }
            | OciError::NameInvalid { challenge, message } => {
                let mut r = body(StatusCode::UNAUTHORIZED, "DENIED", message);
                if let Ok(v) = HeaderValue::from_str(&challenge) {
                    r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
                r
            }
            other => other.into_response(),
        }
    }
}

impl From<crate::digest::DigestError> for OciError {
    fn from(e: crate::digest::DigestError) -> Self {
        OciError::Registry(RegistryError::DigestInvalid(e.to_string()))
    }
}

impl From<RegistryError> for OciError {
    fn from(e: RegistryError) -> Self {
        OciError::Registry(e)
    }
}

fn body(status: StatusCode, code: &str, message: String) -> Response {
    let doc = json!({"errors": [{"code": code, "message": message, "detail": null}]});
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        doc.to_string(),
    )
        .into_response()
}

impl IntoResponse for OciError {
    fn into_response(self) -> Response {
        use RegistryError as E;
        let e = match self {
            OciError::Unauthorized { challenge, message } => {
                let mut r = body(
                    StatusCode::UNAUTHORIZED,
                    "UNAUTHORIZED",
                    message.to_string(),
                );
                if let Ok(v) = HeaderValue::from_str(&challenge) {
                    r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
                return r;
            }
            OciError::NameInvalid { challenge, message } => {
                let mut r = body(StatusCode::BAD_REQUEST, "NAME_INVALID", message);
                if let Ok(v) = HeaderValue::from_str(&challenge) {
                    r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
                return r;
            }
            OciError::Denied { challenge, message } => {
                let mut r = body(StatusCode::FORBIDDEN, "DENIED", message);
                if let Ok(v) = HeaderValue::from_str(&challenge) {
                    r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
                return r;
            }
            OciError::PaginationInvalid => {
                return body(
                    StatusCode::BAD_REQUEST,
                    "PAGINATION_NUMBER_INVALID",
                    "invalid number of results requested".into(),
                )
            }
            OciError::NotFound => {
                return body(
                    StatusCode::NOT_FOUND,
                    "UNSUPPORTED",
                    "no such endpoint".into(),
                )
            }
            OciError::Registry(e) => e,
        };
        let message = e.to_string();
        let (status, code) = match &e {
            E::BlobUnknown => (StatusCode::NOT_FOUND, "BLOB_UNKNOWN"),
            E::BlobUploadInvalid(_) => (StatusCode::BAD_REQUEST, "BLOB_UPLOAD_INVALID"),
            E::BlobUploadUnknown => (StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN"),
            E::DigestInvalid(_) => (StatusCode::BAD_REQUEST, "DIGEST_INVALID"),
            E::ManifestBlobUnknown(_) => (StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN"),
            E::ManifestInvalid(_) => (StatusCode::BAD_REQUEST, "MANIFEST_INVALID"),
            E::ManifestUnknown => (StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN"),
            E::NameInvalid(_) => (StatusCode::BAD_REQUEST, "NAME_INVALID"),
            E::NameUnknown => (StatusCode::NOT_FOUND, "NAME_UNKNOWN"),
            E::SizeInvalid(_) => (StatusCode::BAD_REQUEST, "SIZE_INVALID"),
            E::ManifestTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "SIZE_INVALID"),
            E::RangeInvalid { offset } => {
                let mut r = body(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "BLOB_UPLOAD_INVALID",
                    message,
                );
                if let Ok(v) = HeaderValue::from_str(&format!("0-{}", offset.saturating_sub(1))) {
                    r.headers_mut().insert(header::RANGE, v);
                }
                return r;
            }
            E::RangeNotSatisfiable { size } => {
                let mut r = body(StatusCode::RANGE_NOT_SATISFIABLE, "BLOB_UNKNOWN", message);
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    r.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                return r;
            }
            E::Unsupported(_) => (StatusCode::BAD_REQUEST, "UNSUPPORTED"),
            E::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "TOOMANYREQUESTS"),
            // Harbor answers 412 here; the code is the spec's nearest.
            E::InUse(_) => (StatusCode::PRECONDITION_FAILED, "DENIED"),
            E::Denied(_) => (StatusCode::FORBIDDEN, "DENIED"),
            E::Internal(cause) => {
                tracing::error!(%cause, "registry request failed");
                return body(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "UNKNOWN",
                    "internal error".into(),
                );
            }
        };
        body(status, code, message)
    }
}
