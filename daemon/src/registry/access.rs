//! Access to `/v2/`: every request carries a token from `/service/token`; its signature,
//! expiry, issuer and audience are verified and its `access` claim must cover the repository and
//! action. Otherwise the answer is a Bearer challenge naming the scope to ask for.

use axum::http::{header, HeaderMap};

use crate::auth::permissions::Action;
use crate::auth::token::Claims;
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

/// The base URL clients reach us at: the configured external URL, else scheme and `Host`.
pub fn base_url(state: &AppState, headers: &HeaderMap, scheme: &str) -> String {
    if let Some(base) = state.config.external_base() {
        return base.to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
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
pub fn authorize(
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
        Needed::Repository { name, action } => ("repository", *name, action.as_str()),
        Needed::Catalog => ("registry", "catalog", "*"),
    };
    if claims.allows(kind, name, action) {
        return Ok(claims);
    }
    // The token names this resource, so the token service has already decided: refused. A token
    // for other resources gets a challenge, so the client asks for one that covers this.
    let decided = claims
        .access
        .iter()
        .any(|a| a.kind == kind && a.name == name);
    if decided {
        Err(OciError::Denied)
    } else {
        Err(OciError::Unauthorized {
            challenge: challenge(state, base, &needed, true),
            message: "token does not cover this repository and action",
        })
    }
}
