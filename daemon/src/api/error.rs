//! Harbor's error shape, `{"errors":[{"code","message"}]}`, and the one mapping from service
//! errors to it. Internal causes are logged, never sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::AuthError;
use crate::service::directory::DirectoryError;
use crate::service::projects::ProjectError;
use crate::service::users::UserError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// With the seconds to wait, for `Retry-After`.
    #[error("{0}")]
    TooManyRequests(String, u64),
    /// A service Berth depends on (the directory) could not be reached.
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::BadCredentials => ApiError::Unauthorized(e.to_string()),
            AuthError::DirectoryUnavailable => ApiError::Unauthorized(e.to_string()),
            AuthError::Throttled(retry) => {
                ApiError::TooManyRequests(e.to_string(), retry.as_secs().max(1))
            }
            AuthError::UnknownService(_) | AuthError::BadScope(_) => {
                ApiError::BadRequest(e.to_string())
            }
            AuthError::Db(_) | AuthError::Internal(_) => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<ProjectError> for ApiError {
    fn from(e: ProjectError) -> Self {
        match e {
            ProjectError::InvalidName(_) | ProjectError::Invalid(_) => {
                ApiError::BadRequest(e.to_string())
            }
            ProjectError::Conflict(_) => ApiError::Conflict(e.to_string()),
            ProjectError::Unauthorized => ApiError::Unauthorized(e.to_string()),
            ProjectError::Forbidden(_) => ApiError::Forbidden(e.to_string()),
            ProjectError::NotFound(_) => ApiError::NotFound(e.to_string()),
            ProjectError::PreconditionFailed(_) => ApiError::PreconditionFailed(e.to_string()),
            ProjectError::Db(_) => ApiError::Internal(e.to_string()),
            ProjectError::Auth(e) => e.into(),
            ProjectError::Directory(e) => e.into(),
        }
    }
}

impl From<DirectoryError> for ApiError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::Invalid(_) | DirectoryError::NotConfigured => {
                ApiError::BadRequest(e.to_string())
            }
            DirectoryError::Unauthorized => ApiError::Unauthorized(e.to_string()),
            DirectoryError::Forbidden(_) => ApiError::Forbidden(e.to_string()),
            DirectoryError::NotFound(_) => ApiError::NotFound(e.to_string()),
            DirectoryError::Conflict(_) => ApiError::Conflict(e.to_string()),
            DirectoryError::Unavailable(_) => {
                tracing::warn!(error = %e, "LDAP helper failed");
                ApiError::Unavailable(e.to_string())
            }
            DirectoryError::Db(_) => ApiError::Internal(e.to_string()),
            DirectoryError::Auth(e) => e.into(),
        }
    }
}

impl From<UserError> for ApiError {
    fn from(e: UserError) -> Self {
        match e {
            UserError::Invalid(_) => ApiError::BadRequest(e.to_string()),
            UserError::Conflict(_) => ApiError::Conflict(e.to_string()),
            UserError::Forbidden(_) => ApiError::Forbidden(e.to_string()),
            UserError::Unauthorized => ApiError::Unauthorized(e.to_string()),
            UserError::NotFound(_) => ApiError::NotFound(e.to_string()),
            UserError::Db(_) => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<crate::service::gc::GcError> for ApiError {
    fn from(e: crate::service::gc::GcError) -> Self {
        use crate::service::gc::GcError;
        match e {
            GcError::Invalid(_) => ApiError::BadRequest(e.to_string()),
            GcError::NotFound(_) => ApiError::NotFound(e.to_string()),
            GcError::Conflict(_) => ApiError::Conflict(e.to_string()),
            GcError::Internal(_) => ApiError::Internal(e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "BAD_REQUEST"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "FORBIDDEN"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "CONFLICT"),
            ApiError::PreconditionFailed(_) => (StatusCode::PRECONDITION_FAILED, "PRECONDITION"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE"),
            ApiError::TooManyRequests(_, retry) => {
                let body =
                    json!({"errors": [{"code": "TOO_MANY_REQUESTS", "message": self.to_string()}]});
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(axum::http::header::RETRY_AFTER, retry.to_string())],
                    axum::Json(body),
                )
                    .into_response();
            }
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "api request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR")
            }
        };
        let body = json!({"errors": [{"code": code, "message": self.to_string()}]});
        (status, axum::Json(body)).into_response()
    }
}
