//! Extractors for the REST API, so a handler's signature says who may call it and what it
//! takes; every rejection is an [`ApiError`] in Harbor's shape.

use std::net::SocketAddr;

use std::collections::HashMap;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::api::token::basic_credentials;
use crate::audit::Entry;
use crate::auth::permissions::{Operation, Resource};
use crate::auth::Principal;
use crate::names::ProjectRef;
use crate::server::AppState;

/// The caller, anonymous when no credentials were sent. Wrong credentials are refused. Every
/// credential check is a login in the audit log, successful or not.
pub struct MaybeUser(pub Principal);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match basic_credentials(&parts.headers) {
            None => session_user(parts, state).await.map(MaybeUser),
            Some((user, pass)) => {
                let ip = ClientIp::from_parts(parts).0;
                let result = state.auth.login(&user, &pass, &ip).await;
                state.audit.record(Entry::login(&user, result.is_ok(), ip));
                Ok(MaybeUser(result?))
            }
        }
    }
}

/// The user behind a session cookie, if any. A mutating request made with the cookie must
/// echo the session's CSRF token in `X-Harbor-CSRF-Token`.
async fn session_user(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    use crate::auth::session;
    let sid = parts
        .headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| session::cookie(h, session::COOKIE));
    let Some(s) = sid.and_then(|sid| state.sessions.get(sid)) else {
        return Ok(Principal::Anonymous);
    };
    let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let sent = parts
            .headers
            .get(session::CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !session::same_token(sent, &s.csrf_token) {
            return Err(ApiError::Forbidden(
                "CSRF token missing or invalid: send X-Harbor-CSRF-Token".into(),
            ));
        }
    }
    Ok(state
        .auth
        .user_by_id(s.user_id)
        .await?
        .unwrap_or(Principal::Anonymous))
}

/// The client's address, for the audit log.
pub struct ClientIp(pub String);

impl ClientIp {
    fn from_parts(parts: &Parts) -> ClientIp {
        ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_string())
                .unwrap_or_default(),
        )
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp::from_parts(parts))
    }
}

/// A signed-in user; anonymous callers get 401.
pub struct AuthUser(pub Principal);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match MaybeUser::from_request_parts(parts, state).await?.0 {
            Principal::Anonymous => Err(ApiError::Unauthorized("authentication required".into())),
            user => Ok(AuthUser(user)),
        }
    }
}

/// An entry of the system-level permission table, named by a type so that a handler's
/// signature says who may call it: `SystemAdmin<ReadAuditLog>`.
pub trait SystemPermission {
    const RESOURCE: Resource;
    const OPERATION: Operation;
}

macro_rules! system_permissions {
    ($($(#[$doc:meta])* $name:ident = $resource:ident : $operation:ident;)*) => {$(
        $(#[$doc])*
        pub struct $name;
        impl SystemPermission for $name {
            const RESOURCE: Resource = Resource::$resource;
            const OPERATION: Operation = Operation::$operation;
        }
    )*};
}

system_permissions! {
    ListAuditLogs = AuditLog: List;
    ListUsers = User: List;
    UpdateUsers = User: Update;
    DeleteUsers = User: Delete;
    ReadUserGroups = UserGroup: Read;
    ListUserGroups = UserGroup: List;
    CreateUserGroups = UserGroup: Create;
    UpdateUserGroups = UserGroup: Update;
    DeleteUserGroups = UserGroup: Delete;
    ListLdapUsers = LdapUser: List;
    ImportLdapUsers = LdapUser: Create;
    ReadConfiguration = Configuration: Read;
    /// Testing directory settings is changing the configuration, as in Harbor.
    UpdateConfiguration = Configuration: Update;
    ReadSystemVolumes = SystemVolumes: Read;
    /// The Prometheus metrics on the main listeners (a listener of their own needs none).
    ReadMetrics = Metrics: Read;
    /// One execution, its log, and the schedule.
    ReadGc = GarbageCollection: Read;
    ListGc = GarbageCollection: List;
    /// Setting the schedule, and running now (Harbor's `Manual` schedule).
    CreateGc = GarbageCollection: Create;
    UpdateGc = GarbageCollection: Update;
    StopGc = GarbageCollection: Stop;
    ReadRegistries = Registry: Read;
    ListRegistries = Registry: List;
    /// Creating an endpoint, and pinging one (Berth connects out with the given credentials).
    CreateRegistries = Registry: Create;
    UpdateRegistries = Registry: Update;
    DeleteRegistries = Registry: Delete;
    ListAdapters = ReplicationAdapter: List;
    ReadPolicies = ReplicationPolicy: Read;
    ListPolicies = ReplicationPolicy: List;
    CreatePolicies = ReplicationPolicy: Create;
    UpdatePolicies = ReplicationPolicy: Update;
    DeletePolicies = ReplicationPolicy: Delete;
    /// One execution, its tasks and their logs.
    ReadReplications = Replication: Read;
    ListReplications = Replication: List;
    /// Starting an execution, and retrying its failed tasks.
    CreateReplications = Replication: Create;
    StopReplications = Replication: Stop;
    ReadQuotas = Quota: Read;
    ListQuotas = Quota: List;
    UpdateQuotas = Quota: Update;
}

/// A caller holding the system-level permission `P`: a system admin, or a robot granted it.
/// Anonymous callers get 401, everyone else 403 naming the permission.
pub struct SystemAdmin<P>(pub Principal, pub std::marker::PhantomData<P>);

impl<P: SystemPermission> FromRequestParts<AppState> for SystemAdmin<P> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let AuthUser(by) = AuthUser::from_request_parts(parts, state).await?;
        if by.may_system(P::RESOURCE, P::OPERATION) {
            Ok(SystemAdmin(by, std::marker::PhantomData))
        } else {
            Err(ApiError::Forbidden(format!(
                "only a system administrator (or a robot granted {}:{}) may do this",
                P::RESOURCE.as_str(),
                P::OPERATION.as_str()
            )))
        }
    }
}

/// An entry of the project permission table, named by a type: `ProjectAccess<ListProjectLogs>`.
pub trait ProjectPermission {
    const RESOURCE: Resource;
    const OPERATION: Operation;
}

/// Reading a project (anyone, in a public project).
pub struct ReadProject;
impl ProjectPermission for ReadProject {
    const RESOURCE: Resource = Resource::Project;
    const OPERATION: Operation = Operation::Read;
}

/// Reading a project's own audit log (project admins, as in Harbor).
pub struct ListProjectLogs;
impl ProjectPermission for ListProjectLogs {
    const RESOURCE: Resource = Resource::Log;
    const OPERATION: Operation = Operation::List;
}

/// A caller (anonymous too) holding `P` in the project of the path's `{project_name_or_id}`,
/// with the project as the caller sees it. A project the caller may not see is "not found"
/// (401 for anonymous callers), one they see but may not do `P` in is 403.
pub struct ProjectAccess<P> {
    pub by: Principal,
    pub view: crate::service::projects::ProjectView,
    _permission: std::marker::PhantomData<P>,
}

impl<P: ProjectPermission> FromRequestParts<AppState> for ProjectAccess<P> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let MaybeUser(by) = MaybeUser::from_request_parts(parts, state).await?;
        let ProjectPath(key) = ProjectPath::from_request_parts(parts, state).await?;
        let view = state
            .projects
            .require(&by, &key, P::RESOURCE, P::OPERATION)
            .await?;
        Ok(ProjectAccess {
            by,
            view,
            _permission: std::marker::PhantomData,
        })
    }
}

/// The query string as pairs, for paging, `q` and filters. A malformed query is a 400.
pub struct QueryPairs(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.uri.query() {
            None => Ok(QueryPairs(vec![])),
            Some(q) => serde_urlencoded::from_str(q)
                .map(QueryPairs)
                .map_err(|e| ApiError::BadRequest(format!("malformed query string: {e}"))),
        }
    }
}

impl QueryPairs {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A JSON body. Malformed JSON, a wrong type or an unknown field is a 400 naming the problem;
/// a body over the limit is a 413.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(
                ApiError::PayloadTooLarge("the request body is too large".into()),
            ),
            Err(rejection) => Err(ApiError::BadRequest(rejection.body_text())),
        }
    }
}

/// Harbor's `{project_name_or_id}`: digits are an id unless the request says
/// `X-Is-Resource-Name: true`, so an all-digit project name can always be reached by name.
pub struct ProjectPath(pub ProjectRef);

impl<S: Send + Sync> FromRequestParts<S> for ProjectPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        let raw = params
            .get("project_name_or_id")
            .ok_or_else(|| ApiError::Internal("route without {project_name_or_id}".into()))?;
        let is_name = parts
            .headers
            .get("x-is-resource-name")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        Ok(ProjectPath(ProjectRef::name_or_id(raw, is_name)))
    }
}

/// A path id that must be a positive integer.
pub fn id(raw: &str, what: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().ok().filter(|i| *i > 0).ok_or_else(|| {
        ApiError::BadRequest(format!("{what} must be a positive integer, not {raw:?}"))
    })
}
