//! `POST /c/login` and `GET /c/log_out`, as Harbor's portal uses them: a form with `principal`
//! and `password` in, a session cookie and the CSRF token (in `X-Harbor-CSRF-Token`) out.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;

use super::error::ApiError;
use super::extract::ClientIp;
use crate::auth::session::{cookie, COOKIE, CSRF_HEADER};
use crate::server::{AppState, Scheme};
use crate::state::SignInError;

#[derive(Deserialize)]
pub(super) struct LoginForm {
    principal: String,
    password: String,
}

/// The session cookie; `Max-Age=0` ends it. Shared with the portal's sign-in and sign-out.
pub(crate) fn session_cookie(value: &str, max_age: Option<u64>, secure: bool) -> String {
    let mut c = format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    c
}

pub(super) async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    scheme: Option<axum::Extension<Scheme>>,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, ApiError> {
    let Form(form) = form.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let (sid, csrf) = match state
        .open_session(&form.principal, &form.password, ip)
        .await
    {
        Ok(opened) => opened,
        Err(SignInError::Auth(e)) => return Err(e.into()),
        Err(e @ SignInError::Robot) => return Err(ApiError::Unauthorized(e.to_string())),
    };
    let secure = scheme.is_some_and(|axum::Extension(Scheme(s))| s == "https");
    let mut headers = HeaderMap::new();
    let cookie_value = session_cookie(&sid, None, secure);
    headers.insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie_value).map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    headers.insert(
        CSRF_HEADER,
        HeaderValue::from_str(&csrf).map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    Ok((StatusCode::OK, headers).into_response())
}

pub(super) async fn log_out(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(sid) = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| cookie(h, COOKIE))
    {
        state.sessions.remove(sid);
    }
    (
        StatusCode::OK,
        [(header::SET_COOKIE, session_cookie("", Some(0), false))],
    )
        .into_response()
}
