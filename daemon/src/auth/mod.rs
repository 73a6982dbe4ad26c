//! Who the caller is and what they may do: password checks, the one permission table, and the
//! registry tokens that carry a decision from the token service to `/v2/`.

pub mod endpoint;
pub mod password;
pub mod permissions;
pub mod token;

use std::sync::Arc;

use crate::config::Config;
use crate::db::projects::ProjectRow;
use crate::db::{self, Db, DbError};
use crate::names::RepoName;
use permissions::{Action, Operation, ProjectAccess, ProjectRole, Resource};
use token::{ResourceActions, Scope, TokenKeys};

/// The caller of a request, once credentials have been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    User {
        id: i64,
        username: String,
        sysadmin: bool,
    },
}

impl Principal {
    pub fn username(&self) -> &str {
        match self {
            Principal::Anonymous => "",
            Principal::User { username, .. } => username,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid username or password")]
    BadCredentials,
    #[error("unsupported service {0:?}")]
    UnknownService(String),
    #[error("invalid scope {0:?}")]
    BadScope(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}")]
    Internal(String),
}

/// Credentials and permission decisions. Cheap to clone.
#[derive(Clone)]
pub struct Auth {
    db: Db,
    keys: Arc<TokenKeys>,
    config: Arc<Config>,
}

/// An argon2id hash of a random password, verified against when the user does not exist so
/// that a login's timing does not reveal which usernames exist.
static DUMMY_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

impl Auth {
    pub fn new(db: Db, keys: Arc<TokenKeys>, config: Arc<Config>) -> Auth {
        Auth { db, keys, config }
    }

    pub fn keys(&self) -> &TokenKeys {
        &self.keys
    }

    /// Checks a username and password against the local database.
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Principal, AuthError> {
        let name = username.to_string();
        let user = self.db.read(move |c| db::users::by_name(c, &name)).await?;
        let password = password.to_string();
        let (ok, user) = tokio::task::spawn_blocking(move || {
            let hash = user
                .as_ref()
                .and_then(|u| u.password_hash.clone())
                .unwrap_or_else(|| {
                    DUMMY_HASH
                        .get_or_init(|| password::hash("not-a-password"))
                        .clone()
                });
            (password::verify(&password, &hash) && user.is_some(), user)
        })
        .await
        .map_err(|e| AuthError::Internal(e.to_string()))?;
        match (ok, user) {
            (true, Some(u)) => Ok(Principal::User {
                id: u.id,
                username: u.username,
                sysadmin: u.sysadmin,
            }),
            _ => Err(AuthError::BadCredentials),
        }
    }

    /// Everything the permission table needs about the principal and one project, or `None`
    /// when the project does not exist. Every decision starts here.
    pub async fn project_access(
        &self,
        principal: &Principal,
        project: &str,
    ) -> Result<Option<(ProjectRow, ProjectAccess)>, AuthError> {
        let project_name = project.to_string();
        let (user_id, sysadmin) = match principal {
            Principal::User { id, sysadmin, .. } => (Some(*id), *sysadmin),
            Principal::Anonymous => (None, false),
        };
        Ok(self
            .db
            .read(move |c| {
                let Some(p) = db::projects::by_name(c, &project_name)? else {
                    return Ok(None);
                };
                let role = match user_id {
                    Some(uid) => db::projects::member_role(c, p.id, uid)?,
                    None => None,
                };
                Ok(Some((p, role)))
            })
            .await?
            .map(|(p, role)| {
                let access = ProjectAccess {
                    sysadmin,
                    role: role.and_then(ProjectRole::from_id),
                    public: p.public,
                    robot: None,
                };
                (p, access)
            }))
    }

    /// Whether the principal may do `operation` on `resource` in `project`.
    pub async fn may(
        &self,
        principal: &Principal,
        project: &str,
        resource: Resource,
        operation: Operation,
    ) -> Result<bool, AuthError> {
        Ok(self
            .project_access(principal, project)
            .await?
            .is_some_and(|(_, access)| permissions::allowed(&access, resource, operation)))
    }

    /// The registry actions the principal has on a repository.
    pub async fn repository_actions(
        &self,
        principal: &Principal,
        repository: &RepoName,
    ) -> Result<Vec<Action>, AuthError> {
        Ok(
            match self.project_access(principal, repository.project()).await? {
                None => vec![],
                Some((_, access)) => permissions::repository_actions(&access),
            },
        )
    }

    /// Ids of the projects whose repositories the principal may pull: what `_catalog` lists.
    pub async fn visible_projects(&self, principal: &Principal) -> Result<Vec<i64>, AuthError> {
        let (user_id, sysadmin) = match principal {
            Principal::User { id, sysadmin, .. } => (Some(*id), *sysadmin),
            Principal::Anonymous => (None, false),
        };
        let rows = self
            .db
            .read(move |c| db::projects::all_with_role(c, user_id))
            .await?;
        Ok(rows
            .into_iter()
            .filter(|(p, role)| {
                let access = ProjectAccess {
                    sysadmin,
                    role: role.and_then(ProjectRole::from_id),
                    public: p.public,
                    robot: None,
                };
                permissions::allowed(&access, Resource::Repository, Operation::Pull)
            })
            .map(|(p, _)| p.id)
            .collect())
    }

    /// Looks a token's subject up again, for decisions that depend on the caller rather than on
    /// the token's `access` claim (the catalog).
    pub async fn principal_for_subject(&self, subject: &str) -> Result<Principal, AuthError> {
        if subject.is_empty() {
            return Ok(Principal::Anonymous);
        }
        let name = subject.to_string();
        let user = self.db.read(move |c| db::users::by_name(c, &name)).await?;
        Ok(match user {
            Some(u) => Principal::User {
                id: u.id,
                username: u.username,
                sysadmin: u.sysadmin,
            },
            None => Principal::Anonymous,
        })
    }

    /// The token service's decision: each requested scope's actions intersected with what the
    /// principal is allowed.
    pub async fn issue_token(
        &self,
        principal: &Principal,
        service: &str,
        scopes: &[String],
    ) -> Result<token::Issued, AuthError> {
        if service != self.config.token.service {
            return Err(AuthError::UnknownService(service.to_string()));
        }
        let mut access = Vec::new();
        for raw in scopes
            .iter()
            .flat_map(|s| s.split(' '))
            .filter(|s| !s.is_empty())
        {
            let scope = Scope::parse(raw).ok_or_else(|| AuthError::BadScope(raw.to_string()))?;
            let granted: Vec<String> = match scope.kind.as_str() {
                "repository" => match RepoName::parse(&scope.name) {
                    Ok(repo) => {
                        let allowed = self.repository_actions(principal, &repo).await?;
                        scope
                            .actions
                            .iter()
                            .filter(|a| {
                                Action::parse(a).is_some_and(|a| allowed.contains(&a))
                                    || (a.as_str() == "*" && allowed.len() == Action::ALL.len())
                            })
                            .cloned()
                            .collect()
                    }
                    Err(_) => vec![],
                },
                // The catalog filters by the caller itself, so anyone may ask for it.
                "registry" if scope.name == "catalog" => scope.actions.clone(),
                _ => vec![],
            };
            access.push(ResourceActions {
                kind: scope.kind,
                name: scope.name,
                actions: granted,
            });
        }
        self.keys.issue(
            principal.username(),
            &self.config.token.issuer,
            service,
            self.config.token.expiration_minutes,
            access,
        )
    }
}
