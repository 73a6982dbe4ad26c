//! The OCI Distribution API on `/v2/`. Handlers are thin: parse the path, check the token,
//! call [`crate::service::registry::Registry`], shape the response. Errors become OCI JSON in
//! `error.rs` only.

pub mod access;
mod blobs;
pub mod error;
mod listing;
mod manifests;
pub mod path;
pub mod range;
mod uploads;

use axum::body::Body;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Extension, State};
use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;

use crate::auth::permissions::Action;
use crate::names::RepoName;
use crate::server::{AppState, LocalAddr, Scheme};
use crate::service::registry::RegistryError;
use access::Needed;
use error::OciError;
use path::Route;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/", get(base))
        .route("/v2", get(base))
        .route("/v2/{*rest}", any(dispatch))
        .layer(axum::middleware::map_response(
            |mut r: Response| async move {
                r.headers_mut().insert(
                    "Docker-Distribution-API-Version",
                    HeaderValue::from_static("registry/2.0"),
                );
                r
            },
        ))
}

/// What every handler gets: the state, the request's headers and query, and our base URL.
pub(crate) struct Ctx {
    pub state: AppState,
    pub headers: HeaderMap,
    pub query: Vec<(String, String)>,
    pub base: String,
    pub client_ip: String,
    /// The token's subject once authorized: who the audit log names.
    pub username: String,
    /// Method and path, to recognise a request resent with a refused token.
    pub request: String,
    /// Whether the token may push to the request's repository: only pushers lease content
    /// (see `gc::leases`).
    pub may_push: bool,
}

impl Ctx {
    pub fn query(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    async fn authorize(&self, needed: Needed<'_>) -> Result<crate::auth::token::Claims, OciError> {
        access::authorize(
            &self.state,
            &self.headers,
            &self.base,
            &self.client_ip,
            &self.request,
            needed,
        )
        .await
    }
}

fn scheme_of(scheme: Option<Extension<Scheme>>) -> &'static str {
    scheme.map(|Extension(Scheme(s))| s).unwrap_or("http")
}

async fn base(
    State(state): State<AppState>,
    scheme: Option<Extension<Scheme>>,
    local: Option<Extension<LocalAddr>>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let local = local.map(|Extension(LocalAddr(a))| a);
    let base = access::base_url(&state, &headers, &uri, scheme_of(scheme), local);
    let client = connect
        .map(|Extension(ConnectInfo(a))| a.ip().to_string())
        .unwrap_or_default();
    let mut response = match access::authorize(
        &state,
        &headers,
        &base,
        &client,
        "GET /v2/",
        Needed::AnyToken,
    )
    .await
    {
        Ok(_) => (
            axum::http::StatusCode::OK,
            [("content-type", "application/json")],
            "{}",
        )
            .into_response(),
        Err(e) => e.into_response(),
    };
    // Who this is, so a replicating peer can tell it is talking to itself (see
    // `replication`): on every answer, signed in or not, since an endpoint is pinged before
    // its credentials are known to work.
    if let Ok(id) = state.replication.instance_id().await {
        if let Ok(value) = axum::http::HeaderValue::from_str(&id) {
            response
                .headers_mut()
                .insert(crate::replication::remote::INSTANCE_HEADER, value);
        }
    }
    response
}

async fn dispatch(State(state): State<AppState>, req: axum::extract::Request) -> Response {
    let (parts, body) = req.into_parts();
    let (method, uri, headers) = (parts.method, parts.uri, parts.headers);
    let scheme = parts.extensions.get::<Scheme>().map(|s| Extension(*s));
    let connect = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| Extension(*c));
    let local = parts.extensions.get::<LocalAddr>().map(|LocalAddr(a)| *a);
    let base = access::base_url(&state, &headers, &uri, scheme_of(scheme), local);
    let query = uri
        .query()
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .unwrap_or_default();
    let ctx = Ctx {
        state,
        headers,
        query,
        base,
        client_ip: connect
            .map(|Extension(ConnectInfo(a))| a.ip().to_string())
            .unwrap_or_default(),
        username: String::new(),
        request: format!("{method} {}", uri.path()),
        may_push: false,
    };
    let rest = uri.path().strip_prefix("/v2/").unwrap_or_default();
    let head = method == Method::HEAD;
    match route(ctx, method, rest, body).await {
        Ok(r) => r,
        Err(e) if head => e.for_head(),
        Err(e) => e.into_response(),
    }
}

fn action_for(method: &Method) -> Action {
    match *method {
        Method::GET | Method::HEAD => Action::Pull,
        Method::DELETE => Action::Delete,
        _ => Action::Push,
    }
}

fn repo(ctx: &Ctx, name: &str) -> Result<RepoName, OciError> {
    RepoName::parse(name)
        .map_err(|e| access::name_invalid(&ctx.state, &ctx.base, name, e.to_string()))
}

async fn route(mut ctx: Ctx, method: Method, rest: &str, body: Body) -> Result<Response, OciError> {
    let Some(route) = path::parse(rest) else {
        return Err(OciError::NotFound);
    };
    if let Route::Catalog = route {
        if method != Method::GET {
            return Err(OciError::NotFound);
        }
        let claims = ctx.authorize(Needed::Catalog).await?;
        return listing::catalog(&ctx, &claims).await;
    }
    let name = match &route {
        Route::Tags { name }
        | Route::Manifest { name, .. }
        | Route::Blob { name, .. }
        | Route::Uploads { name }
        | Route::Upload { name, .. }
        | Route::Referrers { name, .. } => repo(&ctx, name)?,
        Route::Catalog => return Err(OciError::NotFound),
    };
    let mount_from = match (&route, &method) {
        (Route::Uploads { .. }, &Method::POST) => ctx
            .query("mount")
            .and(ctx.query("from"))
            .map(str::to_string),
        _ => None,
    };
    let needed = match &mount_from {
        Some(from) => Needed::Mount {
            name: name.as_str(),
            from,
        },
        None => Needed::Repository {
            name: name.as_str(),
            action: action_for(&method),
        },
    };
    let claims = ctx.authorize(needed).await?;
    ctx.username = claims.sub.clone();
    ctx.may_push = claims.allows("repository", name.as_str(), "push");
    match (route, method) {
        (Route::Tags { .. }, Method::GET) => listing::tags(&ctx, &name).await,
        (Route::Referrers { digest, .. }, Method::GET) => {
            listing::referrers(&ctx, &name, &digest).await
        }
        (Route::Manifest { reference, .. }, m @ (Method::GET | Method::HEAD)) => {
            manifests::get(&ctx, &name, &reference, m == Method::HEAD).await
        }
        (Route::Manifest { reference, .. }, Method::PUT) => {
            manifests::put(&ctx, &name, &reference, body).await
        }
        (Route::Manifest { reference, .. }, Method::DELETE) => {
            manifests::delete(&ctx, &name, &reference).await
        }
        (Route::Blob { digest, .. }, m @ (Method::GET | Method::HEAD)) => {
            blobs::get(&ctx, &name, &digest, m == Method::HEAD).await
        }
        (Route::Blob { digest, .. }, Method::DELETE) => blobs::delete(&ctx, &name, &digest).await,
        (Route::Uploads { .. }, Method::POST) => uploads::start(&ctx, &claims, &name, body).await,
        (Route::Upload { id, .. }, Method::PATCH) => uploads::patch(&ctx, &name, &id, body).await,
        (Route::Upload { id, .. }, Method::PUT) => uploads::put(&ctx, &name, &id, body).await,
        (Route::Upload { id, .. }, Method::GET) => uploads::status(&ctx, &name, &id).await,
        (Route::Upload { id, .. }, Method::DELETE) => uploads::cancel(&ctx, &name, &id).await,
        _ => Err(OciError::Registry(RegistryError::Unsupported(
            "method not allowed here".into(),
        ))),
    }
}

/// Shorthand for building responses with many headers.
pub(crate) fn response(
    status: axum::http::StatusCode,
    headers: &[(&str, String)],
    body: Body,
) -> Response {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            axum::http::HeaderName::try_from(*k),
            HeaderValue::from_str(v),
        ) {
            r.headers_mut().insert(k, v);
        }
    }
    r
}
