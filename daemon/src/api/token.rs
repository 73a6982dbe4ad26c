//! `GET /service/token`: Docker's token endpoint, as Harbor serves it. HTTP Basic (a user) or
//! nothing (anonymous); the answer is `{"token","access_token","expires_in","issued_at"}`.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde::Deserialize;
use serde_json::json;

use crate::api::error::ApiError;
use crate::api::extract::ClientIp;
use crate::audit::Entry;
use crate::auth::{AuthError, Principal};
use crate::server::AppState;

/// `(username, password)` from an `Authorization: Basic` header, when present and well formed.
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

#[derive(Deserialize)]
pub struct TokenQuery {
    service: Option<String>,
}

pub async fn get_token(
    State(state): State<AppState>,
    Query(q): Query<TokenQuery>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    ClientIp(client_ip): ClientIp,
) -> Response {
    // `scope` may repeat, so it is read from the raw query rather than into the struct.
    let scopes: Vec<String> = uri
        .query()
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v)
        .collect();
    let principal = match basic_credentials(&headers) {
        Some((user, pass)) => {
            let result = state.auth.login(&user, &pass, &client_ip).await;
            state
                .audit
                .record(Entry::login(&user, result.is_ok(), client_ip.clone()));
            match result {
                Ok(p) => p,
                Err(AuthError::BadCredentials) => {
                    tracing::warn!(username = %user, client = %client_ip, "token request with bad credentials");
                    return ApiError::Unauthorized("invalid username or password".into())
                        .into_response();
                }
                Err(e) => return ApiError::from(e).into_response(),
            }
        }
        None if scopes.is_empty() => {
            return ApiError::Unauthorized("authentication required".into()).into_response();
        }
        None => Principal::Anonymous,
    };
    let service = q
        .service
        .unwrap_or_else(|| state.config.token.service.clone());
    match state.auth.issue_token(&principal, &service, &scopes).await {
        Ok(issued) => {
            let issued_at = time::OffsetDateTime::from_unix_timestamp(issued.issued_at)
                .ok()
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_default();
            Json(json!({
                "token": issued.token,
                "access_token": issued.token,
                "expires_in": issued.expires_in,
                "issued_at": issued_at,
            }))
            .into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}
