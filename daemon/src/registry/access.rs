//! Access to `/v2/`: every request carries a token from `/service/token`; its signature,
//! expiry, issuer and audience are verified and its `access` claim must cover the repository and
//! action. Otherwise the answer is a Bearer challenge naming the scope to ask for.

use std::net::SocketAddr;

use axum::http::{header, HeaderMap, Uri};

use crate::auth::permissions::{self, Action};
use crate::auth::token::Claims;
use crate::auth::Principal;
use crate::names::{ProjectRef, RepoName};
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
    /// `POST .../blobs/uploads/?mount=D&from=R`: push on the target is required; the challenge
    /// also names pull on the source, so a client that asks for exactly the challenged scopes
    /// gets a token the mount can use.
    Mount {
        name: &'a str,
        from: &'a str,
    },
    Catalog,
}

impl Needed<'_> {
    /// The scopes a token needs, as the challenge names them (space-separated there, as
    /// Distribution does).
    fn scopes(&self) -> Vec<String> {
        let repository = |name: &str, action: Action| {
            format!(
                "repository:{name}:{}",
                match action {
                    Action::Pull => "pull",
                    Action::Push => "pull,push",
                    Action::Delete => "delete",
                }
            )
        };
        match self {
            Needed::AnyToken => vec![],
            Needed::Repository { name, action } => vec![repository(name, *action)],
            Needed::Mount { name, from } => vec![
                repository(name, Action::Push),
                repository(from, Action::Pull),
            ],
            Needed::Catalog => vec!["registry:catalog:*".into()],
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
    let scopes = needed.scopes();
    if !scopes.is_empty() {
        c.push_str(&format!(r#",scope="{}""#, scopes.join(" ")));
    }
    if insufficient {
        c.push_str(r#",error="insufficient_scope""#);
    }
    c
}

/// A challenge that names a refusal's cause (quotes and backslashes removed, so the header
/// stays well formed).
fn explained(state: &AppState, base: &str, needed: &Needed<'_>, message: &str) -> String {
    let description: String = message
        .chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
        .collect();
    format!(
        r#"{},error_description="{description}""#,
        challenge(state, base, needed, true)
    )
}

fn denied(state: &AppState, base: &str, needed: &Needed<'_>, message: String) -> OciError {
    OciError::Denied {
        challenge: explained(state, base, needed, &message),
        message,
    }
}

/// NAME_INVALID for a repository name, with the rule in the challenge too.
pub fn name_invalid(state: &AppState, base: &str, name: &str, problem: String) -> OciError {
    let message = format!("invalid repository name {name:?}: {problem}");
    OciError::NameInvalid {
        challenge: explained(state, base, &Needed::AnyToken, &message),
        message,
    }
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
    client: &str,
    request: &str,
    needed: Needed<'_>,
) -> Result<Claims, OciError> {
    let insufficient =
        |needed: &Needed<'_>| insufficient_for(state, headers, request, base, needed);
    let claims = match crate::api::token::basic_credentials(headers) {
        // Harbor accepts Basic credentials on `/v2/` too (`curl -u user:pass`); they go through
        // the same login, throttle and token decision as a token request.
        Some((user, password)) => {
            basic_claims(state, base, client, &needed, &user, &password).await?
        }
        None => bearer_claims(state, headers, base, &needed)?,
    };
    let (kind, name, action) = match &needed {
        Needed::AnyToken => return Ok(claims),
        Needed::Repository { name, action } => ("repository", *name, *action),
        Needed::Mount { name, .. } => ("repository", *name, Action::Push),
        Needed::Catalog => {
            return if claims.allows("registry", "catalog", "*") {
                Ok(claims)
            } else {
                Err(insufficient(&needed))
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
        return Err(insufficient(&needed));
    }
    let Ok(repo) = RepoName::parse(name) else {
        return Err(denied(
            state,
            base,
            &needed,
            format!("invalid repository name {name:?}: use PROJECT/NAME"),
        ));
    };
    let project = ProjectRef::name(repo.project());
    let found = state
        .auth
        .project_access(&principal, &project)
        .await
        .map_err(internal)?
        // A project the caller may not see is "not found", as on the REST API.
        .filter(|(_, access)| permissions::sees_project(access));
    let Some((_, access)) = found else {
        return Err(denied(
            state,
            base,
            &needed,
            format!(
                "project {} not found: create it first, or use an existing project",
                repo.project()
            ),
        ));
    };
    if permissions::repository_actions(&access).contains(&action) {
        Err(insufficient(&needed))
    } else {
        Err(denied(
            state,
            base,
            &needed,
            format!(
                "{} may not {} {}",
                principal.username(),
                action.as_str(),
                repo
            ),
        ))
    }
}

fn bearer_claims(
    state: &AppState,
    headers: &HeaderMap,
    base: &str,
    needed: &Needed<'_>,
) -> Result<Claims, OciError> {
    let Some(token) = bearer_token(headers) else {
        return Err(OciError::Unauthorized {
            challenge: challenge(state, base, needed, false),
            message: "authentication required",
        });
    };
    let cfg = &state.config.token;
    state
        .auth
        .keys()
        .verify(token.trim(), &cfg.issuer, &cfg.service)
        .ok_or_else(|| OciError::Unauthorized {
            challenge: challenge(state, base, needed, false),
            message: "invalid or expired token",
        })
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
}

/// Basic credentials: a login, then exactly the claims a token request for this scope gets.
async fn basic_claims(
    state: &AppState,
    base: &str,
    client: &str,
    needed: &Needed<'_>,
    user: &str,
    password: &str,
) -> Result<Claims, OciError> {
    let login = state.auth.login(user, password, client).await;
    state.audit.record(crate::audit::Entry::login(
        user,
        login.is_ok(),
        client.to_string(),
    ));
    let principal = match login {
        Ok(p) => p,
        Err(crate::auth::AuthError::Throttled(retry)) => {
            return Err(OciError::Registry(
                crate::service::registry::RegistryError::TooManyRequests(format!(
                    "too many failed logins: try again in {} seconds",
                    retry.as_secs().max(1)
                )),
            ))
        }
        Err(crate::auth::AuthError::BadCredentials) => {
            return Err(OciError::Unauthorized {
                challenge: challenge(state, base, needed, false),
                message: "invalid username or password",
            })
        }
        Err(e) => return Err(internal(e)),
    };
    let cfg = &state.config.token;
    let scopes = needed.scopes();
    let issued = state
        .auth
        .issue_token(&principal, &cfg.service, &scopes)
        .await
        .map_err(internal)?;
    state
        .auth
        .keys()
        .verify(&issued.token, &cfg.issuer, &cfg.service)
        .ok_or_else(|| {
            internal(crate::auth::AuthError::Internal(
                "a fresh token did not verify".into(),
            ))
        })
}

/// A valid token without the scope: a challenge naming it; the same token refused again for
/// the same request gets 403 with that challenge (see [`crate::auth::refusals`]).
fn insufficient_for(
    state: &AppState,
    headers: &HeaderMap,
    request: &str,
    base: &str,
    needed: &Needed<'_>,
) -> OciError {
    if let Some(token) = bearer_token(headers) {
        if state.refusals.repeated(token, request) {
            return OciError::Denied {
                challenge: challenge(state, base, needed, true),
                message: "the token does not cover this repository and action: \
                          get a new one for the scope in the challenge"
                    .into(),
            };
        }
    }
    insufficient(state, base, needed)
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

/// Whether the token lets its holder pull `repo`. A mount source is judged by the token, as
/// Distribution and Harbor do: a token scoped to one repository must not read another through
/// a mount, even when its subject could ask for more.
pub fn token_may_pull(claims: &Claims, repo: &RepoName) -> bool {
    claims.allows("repository", repo.as_str(), Action::Pull.as_str())
}
