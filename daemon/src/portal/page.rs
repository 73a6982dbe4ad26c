//! What every portal page shares: who is looking (`Viewer`, from the `/c/login` session
//! cookie), the frame around the content (`Frame`), forms that must carry the session's CSRF
//! token (`CsrfForm`), and `PortalError`, the one place a failure becomes a page.

use askama::Template;
use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::i18n::{Lang, Tr, LANG_COOKIE};
use crate::auth::permissions::{Operation, Resource};
use crate::auth::session::{self, Flash, FlashKind};
use crate::auth::Principal;
use crate::server::AppState;

/// The largest form the portal reads.
const FORM_LIMIT: usize = 64 * 1024;

/// Who is looking at a page, and in which language.
#[derive(Clone)]
pub struct Viewer {
    pub principal: Principal,
    /// The session id and its CSRF token, when signed in.
    pub session: Option<(String, String)>,
    /// A session cookie came with the request but its session is gone.
    pub expired: bool,
    pub lang: Lang,
    /// The path and query of this page, to come back to.
    pub here: String,
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| session::cookie(h, name))
}

impl Viewer {
    /// Reads the session without refreshing it when `refresh` is false (progress polling).
    pub async fn read(headers: &HeaderMap, uri: &Uri, state: &AppState, refresh: bool) -> Viewer {
        let lang = Lang::negotiate(
            cookie_value(headers, LANG_COOKIE),
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok()),
        );
        let here = uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let sid = cookie_value(headers, session::COOKIE).filter(|s| !s.is_empty());
        let live = sid.and_then(|sid| {
            let s = if refresh {
                state.sessions.get(sid)
            } else {
                state.sessions.peek(sid)
            };
            s.map(|s| (sid.to_string(), s))
        });
        let mut viewer = Viewer {
            principal: Principal::Anonymous,
            session: None,
            expired: sid.is_some() && live.is_none(),
            lang,
            here,
        };
        if let Some((sid, s)) = live {
            match state.auth.user_by_id(s.user_id).await {
                Ok(Some(p @ Principal::User { .. })) => {
                    viewer.principal = p;
                    viewer.session = Some((sid, s.csrf_token));
                }
                _ => viewer.expired = true,
            }
        }
        viewer
    }

    pub fn tr(&self) -> Tr {
        Tr::new(self.lang)
    }

    pub fn signed_in(&self) -> bool {
        self.session.is_some()
    }

    pub fn csrf(&self) -> &str {
        self.session.as_ref().map(|(_, c)| c.as_str()).unwrap_or("")
    }

    pub fn may_system(&self, resource: Resource, operation: Operation) -> bool {
        self.principal.may_system(resource, operation)
    }

    /// Leaves a message for the next page.
    pub fn flash(&self, state: &AppState, kind: FlashKind, text: String) {
        if let Some((sid, _)) = &self.session {
            state.sessions.set_flash(
                sid,
                Flash {
                    kind,
                    text,
                    secret: None,
                },
            );
        }
    }

    /// Says on the next page what a change did: `ok`'s text, or the server's reason.
    pub fn tell<T, E: std::fmt::Display>(
        &self,
        state: &AppState,
        result: Result<T, E>,
        ok: impl FnOnce(T) -> String,
    ) {
        match result {
            Ok(v) => self.flash(state, FlashKind::Success, ok(v)),
            Err(e) => self.flash(state, FlashKind::Error, e.to_string()),
        }
    }

    /// The frame for a page of this viewer, taking any waiting message.
    pub fn frame(&self, state: &AppState, title: String, section: &'static str) -> Frame {
        let flash = self
            .session
            .as_ref()
            .and_then(|(sid, _)| state.sessions.take_flash(sid));
        Frame {
            t: self.tr(),
            title,
            section,
            user: self
                .signed_in()
                .then(|| self.principal.username().to_string()),
            may_gc: self.may_system(Resource::GarbageCollection, Operation::List),
            may_replicate: self.may_system(Resource::Registry, Operation::List)
                || self.may_system(Resource::ReplicationPolicy, Operation::List),
            may_users: self.may_system(Resource::User, Operation::List),
            may_logs: self.may_system(Resource::AuditLog, Operation::List),
            may_config: self.may_system(Resource::Configuration, Operation::Read),
            may_quotas: self.may_system(Resource::Quota, Operation::List),
            csrf: self.csrf().to_string(),
            here: self.here.clone(),
            flash,
            banner: current_banner(&state.settings.current().system.banner_message),
            css: super::assets::css_url(),
            js: super::assets::js_url(),
            icon: super::assets::icon_url(),
            langs: Lang::ALL
                .iter()
                .map(|l| LangChoice {
                    code: l.code(),
                    label: l.label(),
                    current: *l == self.lang,
                })
                .collect(),
        }
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Viewer::read(&parts.headers, &parts.uri, state, true).await)
    }
}

/// A signed-in viewer; anyone else is sent to sign in and brought back afterwards.
pub struct SignedIn(pub Viewer);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = PortalError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let viewer = Viewer::read(&parts.headers, &parts.uri, state, true).await;
        if viewer.signed_in() {
            Ok(SignedIn(viewer))
        } else {
            Err(PortalError::SignIn {
                next: viewer.here,
                expired: viewer.expired,
            })
        }
    }
}

/// One language option in the switch every page carries.
pub struct LangChoice {
    pub code: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// The frame around every page: title, navigation, language switch, messages.
pub struct Frame {
    pub t: Tr,
    pub title: String,
    /// The navigation entry this page belongs to.
    pub section: &'static str,
    pub user: Option<String>,
    pub may_gc: bool,
    /// The project quotas list.
    pub may_quotas: bool,
    /// Registries and replications.
    pub may_replicate: bool,
    pub may_users: bool,
    pub may_logs: bool,
    pub may_config: bool,
    pub csrf: String,
    pub here: String,
    pub flash: Option<Flash>,
    /// The banner message in force: (type, message).
    pub banner: Option<(String, String)>,
    pub css: String,
    pub js: String,
    pub icon: String,
    pub langs: Vec<LangChoice>,
}

impl Frame {
    pub fn flash_ok(&self) -> bool {
        self.flash
            .as_ref()
            .is_some_and(|f| f.kind == FlashKind::Success)
    }
}

/// The configured banner, when its dates (if any) include now.
fn current_banner(json: &str) -> Option<(String, String)> {
    let b = crate::config::Banner::parse(json)?;
    let day = |d: &str| {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        time::OffsetDateTime::parse(d, &time::format_description::well_known::Rfc3339)
            .map(|t| t.unix_timestamp())
            .or_else(|_| {
                time::Date::parse(d.get(..10).unwrap_or(d), &format)
                    .map(|d| d.midnight().assume_utc().unix_timestamp())
            })
            .ok()
    };
    let now = crate::db::now();
    let started = day(&b.from_date).is_none_or(|from| from <= now);
    let ended = day(&b.to_date).is_some_and(|to| to + 86_400 <= now);
    (started && !ended && !b.message.is_empty()).then_some((b.kind, b.message))
}

/// Renders a page; a template that fails to render is a 500 (and a bug).
pub fn render<T: Template>(page: &T) -> Response {
    match page.render() {
        Ok(html) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        Err(e) => PortalError::Internal(format!("rendering: {e}")).into_response(),
    }
}

/// Whether `next` is a path on this site (never another origin, nor a scheme-relative URL).
pub fn local_path(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control());
    ok.then_some(next)
}

/// See-other to a page after a change (post, redirect, get).
pub fn back_to(path: &str) -> Response {
    Redirect::to(local_path(path).unwrap_or("/")).into_response()
}

/// Why a page could not be shown; turned into a page by [`super::frame_errors`], which knows
/// the viewer. Every refusal carries the server's reason.
#[derive(Debug)]
pub enum PortalError {
    SignIn { next: String, expired: bool },
    NotFound(String),
    Forbidden(String),
    Invalid(String),
    Conflict(String),
    Internal(String),
}

/// The status and message of a failed page, carried to the middleware that draws it.
#[derive(Clone, Debug)]
pub struct ErrorPage {
    pub status: StatusCode,
    pub message: String,
}

impl IntoResponse for PortalError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            PortalError::SignIn { next, expired } => {
                let mut to = format!(
                    "/account/sign-in?next={}",
                    urlencode(local_path(&next).unwrap_or("/"))
                );
                if expired {
                    to.push_str("&expired=1");
                }
                return Redirect::to(&to).into_response();
            }
            PortalError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            PortalError::Forbidden(m) => (StatusCode::FORBIDDEN, m),
            PortalError::Invalid(m) => (StatusCode::BAD_REQUEST, m),
            PortalError::Conflict(m) => (StatusCode::CONFLICT, m),
            PortalError::Internal(m) => {
                tracing::error!(cause = %m, "portal: internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error".to_string(),
                )
            }
        };
        let mut response = (status, message.clone()).into_response();
        response
            .extensions_mut()
            .insert(ErrorPage { status, message });
        response
    }
}

impl From<crate::service::projects::ProjectError> for PortalError {
    fn from(e: crate::service::projects::ProjectError) -> Self {
        use crate::service::projects::ProjectError as E;
        match e {
            E::InvalidName(_) | E::Invalid(_) => PortalError::Invalid(e.to_string()),
            E::Conflict(m) => PortalError::Conflict(m),
            E::Unauthorized => PortalError::SignIn {
                next: "/".into(),
                expired: false,
            },
            E::Forbidden(m) => PortalError::Forbidden(m),
            E::NotFound(_) => PortalError::NotFound(e.to_string()),
            E::PreconditionFailed(m) => PortalError::Conflict(m),
            E::Db(e) => PortalError::Internal(e.to_string()),
            E::Auth(e) => PortalError::Internal(e.to_string()),
            E::Directory(e) => PortalError::Invalid(e.to_string()),
        }
    }
}

impl From<crate::service::users::UserError> for PortalError {
    fn from(e: crate::service::users::UserError) -> Self {
        use crate::service::users::UserError as E;
        match e {
            E::Forbidden(_) => PortalError::Forbidden(e.to_string()),
            E::Unauthorized => PortalError::SignIn {
                next: "/".into(),
                expired: false,
            },
            E::NotFound(_) => PortalError::NotFound(e.to_string()),
            E::Conflict(_) => PortalError::Conflict(e.to_string()),
            E::Db(_) => PortalError::Internal(e.to_string()),
            _ => PortalError::Invalid(e.to_string()),
        }
    }
}

impl From<crate::db::DbError> for PortalError {
    fn from(e: crate::db::DbError) -> Self {
        PortalError::Internal(e.to_string())
    }
}

impl From<crate::service::gc::GcError> for PortalError {
    fn from(e: crate::service::gc::GcError) -> Self {
        use crate::service::gc::GcError as E;
        match e {
            E::NotFound(_) => PortalError::NotFound(e.to_string()),
            E::Conflict(_) => PortalError::Conflict(e.to_string()),
            E::Invalid(_) => PortalError::Invalid(e.to_string()),
            E::Internal(_) => PortalError::Internal(e.to_string()),
        }
    }
}

/// Percent-encodes a query value.
pub fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|e| e.trim_start_matches('=').to_string())
        .unwrap_or_default()
}

#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

/// A form posted by a signed-in viewer, with the session's CSRF token in its `csrf` field.
/// A request from another origin, or without the token, changes nothing.
pub struct CsrfForm<T>(pub Viewer, pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = PortalError;

    async fn from_request(req: Request<Body>, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        same_origin(&parts.headers, &parts.uri)?;
        let SignedIn(viewer) = SignedIn::from_request_parts(&mut parts, state).await?;
        let bytes = axum::body::to_bytes(body, FORM_LIMIT)
            .await
            .map_err(|_| PortalError::Invalid("the form is too large".into()))?;
        let token: CsrfField = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| PortalError::Invalid(format!("unreadable form: {e}")))?;
        if !session::same_token(&token.csrf, viewer.csrf()) {
            return Err(PortalError::Forbidden(
                "the form's security token is missing or stale: reload the page and try again"
                    .into(),
            ));
        }
        let form: T = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| PortalError::Invalid(format!("unreadable form: {e}")))?;
        Ok(CsrfForm(viewer, form))
    }
}

/// A form that needs no session (sign-in, sign-up): only the origin check applies.
pub struct PublicForm<T>(pub Viewer, pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for PublicForm<T> {
    type Rejection = PortalError;

    async fn from_request(req: Request<Body>, state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        same_origin(&parts.headers, &parts.uri)?;
        let viewer = Viewer::read(&parts.headers, &parts.uri, state, true).await;
        let bytes = axum::body::to_bytes(body, FORM_LIMIT)
            .await
            .map_err(|_| PortalError::Invalid("the form is too large".into()))?;
        let form: T = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| PortalError::Invalid(format!("unreadable form: {e}")))?;
        Ok(PublicForm(viewer, form))
    }
}

/// Browsers send `Origin` with every form post; one naming another site is refused.
fn same_origin(headers: &HeaderMap, uri: &Uri) -> Result<(), PortalError> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return Ok(());
    };
    // HTTP/1.1 names the site in `Host`; HTTP/2 in the request's authority.
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .unwrap_or("");
    let origin_host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
    if origin_host.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err(PortalError::Forbidden(
            "a form from another site was refused".into(),
        ))
    }
}

/// The security headers every portal response carries.
pub fn secure_headers(headers: &mut HeaderMap) {
    let set = |h: &mut HeaderMap, name: &'static str, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "x-frame-options", "DENY");
    set(headers, "referrer-policy", "same-origin");
}

/// The registry's address as clients use it (`host[:port]`), for the commands a page shows:
/// the configured external URL, else the address this browser reached.
pub struct RegistryHost(pub String);

impl FromRequestParts<AppState> for RegistryHost {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let scheme = parts
            .extensions
            .get::<crate::server::Scheme>()
            .map(|s| s.0)
            .unwrap_or("http");
        let local = parts
            .extensions
            .get::<crate::server::LocalAddr>()
            .map(|l| l.0);
        let base =
            crate::registry::access::base_url(state, &parts.headers, &parts.uri, scheme, local);
        let host = base
            .split_once("://")
            .map(|(_, h)| h.trim_end_matches('/').to_string())
            .unwrap_or(base);
        Ok(RegistryHost(host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path("/projects?page=2"), Some("/projects?page=2"));
        assert_eq!(local_path("//evil.example/x"), None);
        assert_eq!(local_path("/\\evil.example"), None);
        assert_eq!(local_path("https://evil.example"), None);
        assert_eq!(local_path("javascript:alert(1)"), None);
        assert_eq!(local_path("/a\r\nSet-Cookie: x"), None);
    }

    #[test]
    fn foreign_origins_are_refused() {
        let path = Uri::from_static("/projects");
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("reg.example:8443"));
        assert!(same_origin(&h, &path).is_ok());
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://reg.example:8443"),
        );
        assert!(same_origin(&h, &path).is_ok());
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(same_origin(&h, &path).is_err());
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(same_origin(&h, &path).is_err());
        // HTTP/2: no Host, the authority in the URI.
        let absolute = Uri::from_static("https://reg.example/projects");
        let mut h2 = HeaderMap::new();
        h2.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://reg.example"),
        );
        assert!(same_origin(&h2, &absolute).is_ok());
        h2.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(same_origin(&h2, &absolute).is_err());
    }
}
