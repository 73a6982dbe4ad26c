//! Access to `/v2/`: every request carries a token from `/service/token`; its signature,
//! expiry, issuer and audience are verified and its `access` claim must cover the repository and
//! action. Otherwise the answer is a Bearer challenge naming the scope to ask for.

use std::net::SocketAddr;

use axum::http::{header, HeaderMap, Uri};

use crate::auth::permissions::Action;
use crate::auth::token::Claims;
use crate::auth::Principal;
use crate::names::RepoName;
use crate::server::AppState;

use super::error::OciError;

/// What a request needs from its token.
pub enum Needed<'a> {
    /// `GET /v2/`: any valid token.
    AnyToken,
    Repository {
        name: &'a str,
        action: Action,
    },
    Catalog,
}

impl Needed<'_> {
    fn scope(&self) -> Option<String> {
        match self {
            Needed::AnyToken => None,
            Needed::Repository { name, action } => Some(format!(
                "repository:{name}:{}",
                match action {
                    Action::Pull => "pull",
                    Action::Push => "pull,push",
                    Action::Delete => "delete",
                }
            )),
            Needed::Catalog => Some("registry:catalog:*".into()),
        }
    }
}

/// The base URL clients reach us at: the configured external URL; else the address of ours
/// the connection came in on; only in `--dev` (or with no socket, in router tests) the
/// request's host (`Host` in HTTP/1.1, the `:authority` in HTTP/2).
pub fn base_url(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    scheme: &str,
    local: Option<SocketAddr>,
) -> String {
    if let Some(base) = state.config.external_base() {
        return base.to_string();
    }
    if let (Some(addr), false) = (local, state.config.realm_from_host_header) {
        return format!("{scheme}://{addr}");
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    format!("{scheme}://{host}")
}

fn challenge(state: &AppState, base: &str, needed: &Needed<'_>, insufficient: bool) -> String {
    let mut c = format!(
        r#"Bearer realm="{base}/service/token",service="{}""#,
        state.config.token.service
    );
    if let Some(scope) = needed.scope() {
        c.push_str(&format!(r#",scope="{scope}""#));
    }
    if insufficient {
        c.push_str(r#",error="insufficient_scope""#);
    }
    c
}

/// Checks the request's token against what it needs; returns the verified claims.
///
/// A valid token that lacks the action is ambiguous: the client may simply hold a token for
/// another scope, or the caller may not be allowed. The permission table decides: a signed-in
/// user who is not allowed gets 403 DENIED (a new token would not help); anyone else gets a
/// challenge naming the scope, so the client fetches a token that covers it.
pub async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    base: &str,
    needed: Needed<'_>,
) -> Result<Claims, OciError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        });
    let Some(token) = token else {
        return Err(OciError::Unauthorized {
            challenge: challenge(state, base, &needed, false),
            message: "authentication required",
        });
    };
    let cfg = &state.config.token;
    let Some(claims) = state
        .auth
        .keys()
        .verify(token.trim(), &cfg.issuer, &cfg.service)
    else {
        return Err(OciError::Unauthorized {
            challenge: challenge(state, base, &needed, false),
            message: "invalid or expired token",
        });
    };
    let (kind, name, action) = match &needed {
        Needed::AnyToken => return Ok(claims),
        Needed::Repository { name, action } => ("repository", *name, *action),
        Needed::Catalog => {
            return if claims.allows("registry", "catalog", "*") {
                Ok(claims)
            } else {
                Err(insufficient(state, base, &needed))
            }
        }
    };
    if claims.allows(kind, name, action.as_str()) {
        return Ok(claims);
    }
    let principal = state
        .auth
        .principal_for_subject(&claims.sub)
        .await
        .map_err(internal)?;
    if principal == Principal::Anonymous {
        return Err(insufficient(state, base, &needed));
    }
    let allowed = match RepoName::parse(name) {
        Ok(repo) => state
            .auth
            .repository_actions(&principal, &repo)
            .await
            .map_err(internal)?,
        Err(_) => vec![],
    };
    if allowed.contains(&action) {
        Err(insufficient(state, base, &needed))
    } else {
        Err(OciError::Denied)
    }
}

fn insufficient(state: &AppState, base: &str, needed: &Needed<'_>) -> OciError {
    OciError::Unauthorized {
        challenge: challenge(state, base, needed, true),
        message: "token does not cover this repository and action",
    }
}

fn internal(e: crate::auth::AuthError) -> OciError {
    OciError::Registry(crate::service::registry::RegistryError::Internal(
        e.to_string(),
    ))
}
