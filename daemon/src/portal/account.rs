//! Signing in and out, signing up, one's own profile and password, the language switch, and
//! the error page.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use serde::Deserialize;

use super::i18n::{Lang, LANG_COOKIE};
use super::page::{
    back_to, local_path, render, CsrfForm, Frame, PortalError, PublicForm, SignedIn, Viewer,
};
use crate::api::extract::ClientIp;
use crate::api::session::session_cookie;
use crate::auth::session::FlashKind;
use crate::config::AuthMode;
use crate::server::{AppState, Scheme};
use crate::service::users::UserRequest;
use crate::state::SignInError;

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorTemplate {
    pub frame: Frame,
    pub status: u16,
    pub message: String,
}

/// `/`: the projects for a signed-in viewer, the sign-in page for anyone else.
pub async fn home(viewer: Viewer) -> Response {
    if viewer.signed_in() {
        Redirect::to("/projects").into_response()
    } else {
        Redirect::to("/account/sign-in").into_response()
    }
}

#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// `GET /lang/{code}?next=`: remembers the language in a cookie and goes back.
pub async fn set_language(Path(code): Path<String>, Query(q): Query<Next>) -> Response {
    let Some(lang) = Lang::from_code(&code) else {
        return PortalError::NotFound(format!("language {code}")).into_response();
    };
    let mut response = back_to(q.next.as_deref().unwrap_or("/"));
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
        lang.code()
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInTemplate {
    frame: Frame,
    next: String,
    username: String,
    error: Option<String>,
    expired: bool,
    registered: bool,
    may_sign_up: bool,
}

#[derive(Deserialize)]
pub struct SignInQuery {
    next: Option<String>,
    #[serde(default)]
    expired: Option<String>,
    #[serde(default)]
    registered: Option<String>,
}

fn may_sign_up(state: &AppState) -> bool {
    state.settings.current().system.self_registration
        && state.settings.current().auth_mode == AuthMode::Db
}

pub async fn sign_in_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<SignInQuery>,
) -> Response {
    let next = q
        .next
        .as_deref()
        .and_then(local_path)
        .unwrap_or("/projects")
        .to_string();
    if viewer.signed_in() {
        return back_to(&next);
    }
    let t = viewer.tr();
    render(&SignInTemplate {
        frame: viewer.frame(&state, t.s("sign-in-title"), "sign-in"),
        next,
        username: String::new(),
        error: None,
        expired: q.expired.is_some(),
        registered: q.registered.is_some(),
        may_sign_up: may_sign_up(&state),
    })
}

#[derive(Deserialize)]
pub struct SignInForm {
    principal: String,
    password: String,
    #[serde(default)]
    next: String,
}

pub async fn sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    scheme: Option<Extension<Scheme>>,
    PublicForm(viewer, form): PublicForm<SignInForm>,
) -> Response {
    let next = local_path(&form.next).unwrap_or("/projects").to_string();
    match state
        .open_session(&form.principal, &form.password, ip)
        .await
    {
        Ok((sid, _csrf)) => {
            let secure = scheme.is_some_and(|Extension(Scheme(s))| s == "https");
            let mut response = back_to(&next);
            if let Ok(v) = HeaderValue::from_str(&session_cookie(&sid, None, secure)) {
                response.headers_mut().insert(header::SET_COOKIE, v);
            }
            response
        }
        Err(e) => {
            let t = viewer.tr();
            let message = match &e {
                SignInError::Robot => t.s("sign-in-robot"),
                SignInError::Auth(crate::auth::AuthError::BadCredentials) => {
                    t.s("sign-in-bad-credentials")
                }
                SignInError::Auth(other) => other.to_string(),
            };
            let mut response = render(&SignInTemplate {
                frame: viewer.frame(&state, t.s("sign-in-title"), "sign-in"),
                next,
                username: form.principal,
                error: Some(message),
                expired: false,
                registered: false,
                may_sign_up: may_sign_up(&state),
            });
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            response
        }
    }
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn sign_out(
    State(state): State<AppState>,
    CsrfForm(viewer, _): CsrfForm<Empty>,
) -> Response {
    if let Some((sid, _)) = &viewer.session {
        state.sessions.remove(sid);
    }
    let mut response = Redirect::to("/account/sign-in").into_response();
    if let Ok(v) = HeaderValue::from_str(&session_cookie("", Some(0), false)) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

#[derive(Template)]
#[template(path = "sign_up.html")]
struct SignUpTemplate {
    frame: Frame,
    form: SignUpForm,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct SignUpForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    realname: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password2: String,
}

pub async fn sign_up_page(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Response, PortalError> {
    if !may_sign_up(&state) {
        return Err(PortalError::NotFound("self-registration is off".into()));
    }
    let t = viewer.tr();
    Ok(render(&SignUpTemplate {
        frame: viewer.frame(&state, t.s("sign-up-title"), "sign-in"),
        form: SignUpForm::default(),
        error: None,
    }))
}

pub async fn sign_up(
    State(state): State<AppState>,
    PublicForm(viewer, mut form): PublicForm<SignUpForm>,
) -> Result<Response, PortalError> {
    if !may_sign_up(&state) {
        return Err(PortalError::NotFound("self-registration is off".into()));
    }
    let t = viewer.tr();
    let result = if form.password != form.password2 {
        Err(t.s("password-mismatch"))
    } else {
        state
            .users
            .create(
                &crate::auth::Principal::Anonymous,
                UserRequest {
                    username: form.username.trim().to_string(),
                    email: form.email.trim().to_string(),
                    realname: form.realname.clone(),
                    comment: String::new(),
                    password: form.password.clone(),
                },
            )
            .await
            .map_err(|e| e.to_string())
    };
    match result {
        Ok(_) => Ok(Redirect::to("/account/sign-in?registered=1").into_response()),
        Err(message) => {
            form.password.clear();
            form.password2.clear();
            let mut response = render(&SignUpTemplate {
                frame: viewer.frame(&state, t.s("sign-up-title"), "sign-in"),
                form,
                error: Some(message),
            });
            *response.status_mut() = StatusCode::BAD_REQUEST;
            Ok(response)
        }
    }
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfileTemplate {
    frame: Frame,
    username: String,
    email: String,
    realname: String,
    comment: String,
    created: String,
    admin: bool,
    /// Directory users change their password in the directory.
    has_password: bool,
}

pub async fn profile_page(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
) -> Result<Response, PortalError> {
    let me = state.users.current(&viewer.principal).await?;
    let t = viewer.tr();
    Ok(render(&ProfileTemplate {
        frame: viewer.frame(&state, t.s("profile-title"), "profile"),
        username: me.username,
        email: me.email.unwrap_or_default(),
        realname: me.realname,
        comment: me.comment,
        created: t.time(me.created_at),
        admin: me.sysadmin,
        has_password: me.password_hash.is_some(),
    }))
}

#[derive(Deserialize)]
pub struct ProfileForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    realname: String,
    #[serde(default)]
    comment: String,
}

pub async fn save_profile(
    State(state): State<AppState>,
    CsrfForm(viewer, form): CsrfForm<ProfileForm>,
) -> Result<Response, PortalError> {
    let me = state.users.current(&viewer.principal).await?;
    let email = Some(form.email.trim().to_string()).filter(|e| !e.is_empty());
    let t = viewer.tr();
    match state
        .users
        .update_profile(
            &viewer.principal,
            me.id,
            email,
            Some(form.realname),
            Some(form.comment),
        )
        .await
    {
        Ok(_) => viewer.flash(&state, FlashKind::Success, t.s("profile-saved")),
        Err(e) => viewer.flash(&state, FlashKind::Error, e.to_string()),
    }
    Ok(back_to("/account/profile"))
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    old_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    new_password2: String,
}

pub async fn change_password(
    State(state): State<AppState>,
    CsrfForm(viewer, form): CsrfForm<PasswordForm>,
) -> Result<Response, PortalError> {
    let me = state.users.current(&viewer.principal).await?;
    let t = viewer.tr();
    if form.new_password != form.new_password2 {
        viewer.flash(&state, FlashKind::Error, t.s("password-mismatch"));
        return Ok(back_to("/account/profile"));
    }
    match state
        .users
        .change_password(
            &viewer.principal,
            me.id,
            Some(form.old_password),
            form.new_password,
        )
        .await
    {
        Ok(()) => {
            // A session someone else holds ends with the old password.
            if let Some((sid, _)) = &viewer.session {
                state.sessions.remove_user_except(me.id, sid);
            }
            viewer.flash(&state, FlashKind::Success, t.s("password-changed"))
        }
        Err(e) => viewer.flash(&state, FlashKind::Error, e.to_string()),
    }
    Ok(back_to("/account/profile"))
}
