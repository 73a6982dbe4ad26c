//! Who the caller is and what they may do: password checks, the one permission table, and the
//! registry tokens that carry a decision from the token service to `/v2/`.

pub mod ldap;
pub mod password;
pub mod permissions;
pub mod refusals;
pub mod robot;
pub mod session;
pub mod throttle;
pub mod token;
pub mod verified;

use std::sync::Arc;

use crate::config::{Config, LdapConfig};
use crate::db::projects::ProjectRow;
use crate::db::{self, Db, DbError};
use crate::names::{ProjectRef, RepoName};
use crate::settings::{Settings, SettingsHandle};
use permissions::{Action, Operation, ProjectAccess, ProjectRole, Resource, SystemAccess};
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
    /// A robot account: exactly its grants, never a role.
    Robot {
        id: i64,
        name: String,
        grants: Arc<Vec<robot::Grant>>,
    },
}

impl Principal {
    pub fn username(&self) -> &str {
        match self {
            Principal::Anonymous => "",
            Principal::User { username, .. } => username,
            Principal::Robot { name, .. } => name,
        }
    }

    /// The user id, for membership look-ups (robots and anonymous callers have none).
    pub fn user_id(&self) -> Option<i64> {
        match self {
            Principal::User { id, .. } => Some(*id),
            _ => None,
        }
    }

    pub fn is_sysadmin(&self) -> bool {
        matches!(self, Principal::User { sysadmin: true, .. })
    }

    /// What the permission table needs about this caller at the system level.
    pub fn system_access(&self) -> SystemAccess {
        SystemAccess {
            sysadmin: self.is_sysadmin(),
            robot: match self {
                Principal::Robot { grants, .. } => Some(robot::at_system_level(grants)),
                _ => None,
            },
        }
    }

    /// Whether this caller holds a system-level permission.
    pub fn may_system(&self, resource: Resource, operation: Operation) -> bool {
        permissions::allowed_system(&self.system_access(), resource, operation)
    }

    /// What the permission table needs about this caller in one project, given the caller's
    /// membership roles there (their own and their groups'; the strongest counts).
    pub fn access_in(&self, project: &ProjectRow, role_ids: &[u8]) -> ProjectAccess {
        ProjectAccess {
            sysadmin: self.is_sysadmin(),
            role: ProjectRole::strongest(role_ids),
            public: project.public,
            robot: match self {
                Principal::Robot { grants, .. } => Some(robot::in_project(grants, project.id)),
                _ => None,
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid username or password")]
    BadCredentials,
    #[error("login failed: the directory is unavailable")]
    DirectoryUnavailable,
    #[error("too many failed logins: try again in {} seconds", .0.as_secs().max(1))]
    Throttled(std::time::Duration),
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
    throttle: Arc<throttle::Throttle>,
    verified: Arc<verified::VerifiedCache>,
    settings: SettingsHandle,
    /// The directory for the settings it was made from, made again when they change.
    directory: Arc<std::sync::Mutex<Option<MadeDirectory>>>,
}

/// A directory and the settings it was made from.
type MadeDirectory = (LdapConfig, Arc<ldap::Directory>);

/// An argon2id hash of a random password, verified against when the account does not exist
/// so that a login's timing does not reveal which names exist.
static DUMMY_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

impl Auth {
    pub fn new(
        db: Db,
        keys: Arc<TokenKeys>,
        config: Arc<Config>,
        settings: SettingsHandle,
    ) -> Result<Auth, AuthError> {
        let auth = Auth {
            db,
            keys,
            config,
            throttle: Arc::default(),
            verified: Arc::default(),
            settings,
            directory: Arc::default(),
        };
        // Settings that cannot make a directory are refused at start, not at the first login.
        if let (crate::config::AuthMode::Ldap, Some(cfg)) = (
            auth.settings.current().auth_mode,
            &auth.settings.current().ldap,
        ) {
            ldap::Directory::new(cfg.clone())
                .map_err(|e| AuthError::Internal(format!("LDAP settings: {e}")))?;
        }
        Ok(auth)
    }

    /// The run-time settings in force.
    pub fn settings(&self) -> Arc<Settings> {
        self.settings.current()
    }

    pub fn keys(&self) -> &TokenKeys {
        &self.keys
    }

    /// A login attempt from `client`. It counts against the throttle from the moment it starts
    /// (refused at once while locked out), failures are answered more slowly, and a success
    /// clears the account's count.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        client: &str,
    ) -> Result<Principal, AuthError> {
        let settings = self.settings.current();
        let sys = &settings.system;
        let limits = throttle::Limits {
            max_failures_per_user: sys.login_max_failures,
            max_failures_per_address: sys.login_max_failures.saturating_mul(4),
            lockout: std::time::Duration::from_secs(sys.login_lockout_seconds),
        };
        let attempt = match self.throttle.begin(username, client, &limits).await {
            Ok(a) => a,
            Err(retry) => {
                tracing::warn!(
                    username,
                    client,
                    retry_after_s = retry.as_secs(),
                    "login refused: throttled"
                );
                return Err(AuthError::Throttled(retry));
            }
        };
        match self.authenticate(username, password).await {
            Ok(p) => {
                attempt.succeeded();
                Ok(p)
            }
            Err(AuthError::BadCredentials) => {
                let (delay, locked) = attempt.failed(&limits);
                if locked {
                    tracing::warn!(
                        username,
                        client,
                        lockout_s = limits.lockout.as_secs(),
                        "login locked out after repeated failures"
                    );
                }
                tokio::time::sleep(delay).await;
                Err(AuthError::BadCredentials)
            }
            Err(e) => Err(e),
        }
    }

    /// Checks `password` against a stored hash (or a dummy one when the account has none, so
    /// timing reveals nothing), on the bounded hashing pool; a recent success with the same
    /// password and hash is remembered for a few minutes.
    async fn verify(&self, account: &str, password: &str, stored: Option<String>) -> bool {
        if let Some(hash) = &stored {
            if self.verified.contains(account, password, hash) {
                return true;
            }
        }
        let real = stored.is_some();
        let hash = match stored {
            Some(h) => h,
            None => match DUMMY_HASH.get() {
                Some(h) => h.clone(),
                None => {
                    let made = password::hash_pooled(password::generate())
                        .await
                        .unwrap_or_default();
                    DUMMY_HASH.get_or_init(|| made).clone()
                }
            },
        };
        let ok = password::verify_pooled(password.to_string(), hash.clone()).await && real;
        if ok {
            self.verified.remember(account, password, &hash);
        }
        ok
    }

    /// Checks a username and password: robot accounts (by their name prefix) against their
    /// secret, everyone else against the local database.
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Principal, AuthError> {
        let is_admin = crate::names::account_key(username) == "admin";
        if !is_admin && username.starts_with(&self.settings.current().system.robot_name_prefix) {
            return self.authenticate_robot(username, password).await;
        }
        // The built-in admin always logs in locally, so a broken directory never locks the
        // operator out; `Admin` or `admin ` is the admin too, never a directory account.
        if !is_admin {
            if let Some(directory) = self.directory() {
                return self
                    .authenticate_directory(&directory, username, password)
                    .await;
            }
        }
        let name = username.to_string();
        let user = self.db.read(move |c| db::users::by_name(c, &name)).await?;
        let hash = user.as_ref().and_then(|u| u.password_hash.clone());
        if self
            .verify(&format!("user:{username}"), password, hash)
            .await
        {
            if let Some(u) = user {
                return Ok(self.user_principal(u));
            }
        }
        Err(AuthError::BadCredentials)
    }

    /// A directory login: on success the local record is created or refreshed (e-mail and
    /// display name from the directory), and members of the admin group are system admins.
    async fn authenticate_directory(
        &self,
        directory: &ldap::Directory,
        username: &str,
        password: &str,
    ) -> Result<Principal, AuthError> {
        let found = match directory.authenticate(username, password).await {
            Ok(u) => u,
            Err(e) if e.is_credentials() => {
                tracing::info!(username, reason = %e, "directory login refused");
                return Err(AuthError::BadCredentials);
            }
            Err(e) => {
                tracing::error!(username, error = %e, "directory login failed: the directory is unavailable");
                return Err(AuthError::DirectoryUnavailable);
            }
        };
        let uid = found.username.clone();
        match self.record_directory_user(directory, found).await? {
            Some(row) => Ok(self.user_principal(row)),
            None => {
                tracing::warn!(
                    username,
                    directory_uid = %uid,
                    "directory login refused: the name belongs to a local account"
                );
                Err(AuthError::BadCredentials)
            }
        }
    }

    /// Creates or refreshes the local record of a directory user, with the groups the
    /// directory puts them in (which decide their group roles until their next login).
    pub async fn record_directory_user(
        &self,
        directory: &ldap::Directory,
        found: ldap::DirectoryUser,
    ) -> Result<Option<db::users::UserRow>, AuthError> {
        if found
            .username
            .starts_with(&self.settings.current().system.robot_name_prefix)
        {
            return Ok(None);
        }
        let admin = directory.is_admin(&found);
        let keys: Vec<String> = found.groups.iter().map(|g| ldap::dn_key(g)).collect();
        Ok(self
            .db
            .write(move |tx| {
                let Some(row) = db::users::upsert_directory_user(
                    tx,
                    &found.username,
                    found.email.as_deref(),
                    &found.display_name,
                )?
                else {
                    return Ok(None);
                };
                db::groups::set_directory_membership(tx, row.id, &keys, admin)?;
                db::users::by_id(tx, row.id)?
                    .map(Some)
                    .ok_or_else(|| DbError::Worker(format!("user {} vanished", row.id)))
            })
            .await?)
    }

    /// A local user as a principal: a system admin by the local flag or, while logins go to the
    /// directory, by membership of its admin group at the last login.
    fn user_principal(&self, u: db::users::UserRow) -> Principal {
        Principal::User {
            id: u.id,
            sysadmin: u.sysadmin
                || (self.settings.current().auth_mode == crate::config::AuthMode::Ldap
                    && u.directory_admin),
            username: u.username,
        }
    }

    /// The directory, when logins go to one; made again when its settings changed.
    pub fn directory(&self) -> Option<Arc<ldap::Directory>> {
        if self.settings.current().auth_mode != crate::config::AuthMode::Ldap {
            return None;
        }
        self.saved_directory()
    }

    /// The directory of the saved LDAP settings, whether or not logins go to it (the LDAP
    /// helpers use it to search and import before the mode is switched).
    pub fn saved_directory(&self) -> Option<Arc<ldap::Directory>> {
        let settings = self.settings.current();
        let cfg = settings.ldap.as_ref()?;
        let mut cached = self.directory.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((made_from, directory)) = cached.as_ref() {
            if made_from == cfg {
                return Some(directory.clone());
            }
        }
        match ldap::Directory::new(cfg.clone()) {
            Ok(d) => {
                let d = Arc::new(d);
                *cached = Some((cfg.clone(), d.clone()));
                Some(d)
            }
            Err(e) => {
                tracing::error!(error = %e, "the LDAP settings cannot make a directory");
                None
            }
        }
    }

    /// A robot logs in with its secret while it exists, is enabled and has not expired.
    async fn authenticate_robot(&self, name: &str, secret: &str) -> Result<Principal, AuthError> {
        let key = name.to_string();
        let found = self.db.read(move |c| db::robots::by_name(c, &key)).await?;
        let hash = found.as_ref().map(|r| r.secret_hash.clone());
        let secret_ok = self.verify(&format!("robot:{name}"), secret, hash).await;
        let Some(r) = found.filter(|_| secret_ok) else {
            return Err(AuthError::BadCredentials);
        };
        self.robot_principal(r)
    }

    fn robot_principal(&self, r: db::robots::RobotRow) -> Result<Principal, AuthError> {
        let now = db::now();
        if r.disabled || (r.expires_at != -1 && r.expires_at <= now) {
            tracing::warn!(robot = %r.name, disabled = r.disabled, "refused a disabled or expired robot account");
            return Err(AuthError::BadCredentials);
        }
        let permissions: Vec<robot::StoredPermission> = serde_json::from_str(&r.permissions)
            .map_err(|e| AuthError::Internal(format!("robot {}: {e}", r.name)))?;
        let grants = robot::grants(&permissions)
            .map_err(|e| AuthError::Internal(format!("robot {}: {e}", r.name)))?;
        Ok(Principal::Robot {
            id: r.id,
            name: r.name,
            grants: Arc::new(grants),
        })
    }

    /// Everything the permission table needs about the principal and one project, or `None`
    /// when the project does not exist. Every decision starts here.
    pub async fn project_access(
        &self,
        principal: &Principal,
        project: &ProjectRef,
    ) -> Result<Option<(ProjectRow, ProjectAccess)>, AuthError> {
        let project = project.clone();
        let user_id = principal.user_id();
        let via_groups = self.settings.current().auth_mode == crate::config::AuthMode::Ldap;
        let found = self
            .db
            .read(move |c| {
                let found = match &project {
                    ProjectRef::Id(id) => db::projects::by_id(c, *id)?,
                    ProjectRef::Name(name) => db::projects::by_name(c, name)?,
                };
                let Some(p) = found else {
                    return Ok(None);
                };
                let roles = match user_id {
                    Some(uid) => db::projects::member_roles(c, p.id, uid, via_groups)?,
                    None => vec![],
                };
                Ok(Some((p, roles)))
            })
            .await?;
        Ok(found.map(|(p, roles)| {
            let access = principal.access_in(&p, &roles);
            (p, access)
        }))
    }

    /// Whether the principal may do `operation` on `resource` in `project`.
    pub async fn may(
        &self,
        principal: &Principal,
        project: &ProjectRef,
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
            match self
                .project_access(principal, &ProjectRef::name(repository.project()))
                .await?
            {
                None => vec![],
                Some((_, access)) => permissions::repository_actions(&access),
            },
        )
    }

    /// Every project with what the principal may do in it: the one place that computes it for
    /// all projects at once (listings, the catalog).
    pub async fn all_project_access(
        &self,
        principal: &Principal,
    ) -> Result<Vec<(ProjectRow, ProjectAccess)>, AuthError> {
        let user_id = principal.user_id();
        let via_groups = self.settings.current().auth_mode == crate::config::AuthMode::Ldap;
        let rows = self
            .db
            .read(move |c| db::projects::all_with_roles(c, user_id, via_groups))
            .await?;
        Ok(rows
            .into_iter()
            .map(|(p, roles)| {
                let access = principal.access_in(&p, &roles);
                (p, access)
            })
            .collect())
    }

    /// Ids of the projects whose repositories the principal may pull: what `_catalog` lists.
    pub async fn visible_projects(&self, principal: &Principal) -> Result<Vec<i64>, AuthError> {
        Ok(self
            .all_project_access(principal)
            .await?
            .into_iter()
            .filter(|(_, access)| {
                permissions::allowed(access, Resource::Repository, Operation::Pull)
            })
            .map(|(p, _)| p.id)
            .collect())
    }

    /// The user with this id, as a principal (a session's owner).
    pub async fn user_by_id(&self, id: i64) -> Result<Option<Principal>, AuthError> {
        let user = self.db.read(move |c| db::users::by_id(c, id)).await?;
        Ok(user.map(|u| self.user_principal(u)))
    }

    /// Looks a token's subject up again, for decisions that depend on the caller rather than on
    /// the token's `access` claim (the catalog, and telling 401 from 403). A robot or user that
    /// is gone, disabled or expired since the token was issued counts as anonymous.
    pub async fn principal_for_subject(&self, subject: &str) -> Result<Principal, AuthError> {
        if subject.is_empty() {
            return Ok(Principal::Anonymous);
        }
        let name = subject.to_string();
        if subject.starts_with(&self.settings.current().system.robot_name_prefix) {
            let robot = self.db.read(move |c| db::robots::by_name(c, &name)).await?;
            return Ok(robot
                .and_then(|r| self.robot_principal(r).ok())
                .unwrap_or(Principal::Anonymous));
        }
        let user = self.db.read(move |c| db::users::by_name(c, &name)).await?;
        Ok(match user {
            Some(u) => self.user_principal(u),
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
            self.settings.current().token_expiration_minutes,
            access,
        )
    }
}
