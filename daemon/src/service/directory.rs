//! What Berth does with the directory beyond logins: user groups (directory groups that can be
//! project members), and Harbor's LDAP helpers for operators (test the settings, find users
//! and groups, import users). All of it is for system admins, except finding user groups.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::ldap::{dn_key, Directory, DirectoryGroup, DirectoryUser, LdapError};
use crate::auth::permissions::{Operation, Resource};
use crate::auth::{Auth, AuthError, Principal};
use crate::config::{LdapConfig, Secret};
use crate::db::groups::{GroupRow, LDAP_GROUP};
use crate::db::{self, Db, DbError};

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("{0}")]
    Invalid(String),
    #[error("LDAP is not configured: save the directory's settings first (Administration, Configuration)")]
    NotConfigured,
    #[error("authentication required")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The directory could not be asked (as opposed to answering "no").
    #[error("the directory is unavailable: {0}")]
    Unavailable(LdapError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl From<LdapError> for DirectoryError {
    fn from(e: LdapError) -> Self {
        match e {
            LdapError::Config(m) => DirectoryError::Invalid(m),
            LdapError::InvalidDn(_) => DirectoryError::Invalid(e.to_string()),
            other => DirectoryError::Unavailable(other),
        }
    }
}

/// Which group to make a member: an existing user group by id or name, or an LDAP group by DN
/// (a user group is created for it when the directory has it). Harbor's `UserGroup`.
#[derive(Debug, Default, Clone)]
pub struct GroupRef {
    pub id: Option<i64>,
    pub group_name: Option<String>,
    pub group_type: Option<i64>,
    pub ldap_group_dn: Option<String>,
}

/// Settings to test, over the saved ones: Harbor's `LdapConf`. Absent fields keep the saved
/// value, and so does an empty search password (the portal never has the saved one to send).
#[derive(Debug, Default, Clone)]
pub struct LdapSettings {
    pub ldap_url: Option<String>,
    pub ldap_search_dn: Option<String>,
    pub ldap_search_password: Option<Secret>,
    pub ldap_base_dn: Option<String>,
    pub ldap_filter: Option<String>,
    pub ldap_uid: Option<String>,
    pub ldap_scope: Option<u8>,
    pub ldap_connection_timeout: Option<u64>,
    pub ldap_verify_cert: Option<bool>,
}

/// One user an import could not bring in, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedImport {
    pub uid: String,
    pub error: String,
}

/// The longest a settings test may wait on the directory, whatever it is asked to.
const PING_TIMEOUT_MAX: u64 = 60;

#[derive(Clone)]
pub struct DirectoryService {
    db: Db,
    auth: Auth,
}

/// The caller holds the system-level permission (a system admin, or a robot granted it).
fn holds(by: &Principal, resource: Resource, operation: Operation) -> Result<(), DirectoryError> {
    if by.may_system(resource, operation) {
        return Ok(());
    }
    match by {
        Principal::Anonymous => Err(DirectoryError::Unauthorized),
        _ => Err(DirectoryError::Forbidden(
            "only a system administrator may do this".into(),
        )),
    }
}

fn check_group_name(name: &str) -> Result<(), DirectoryError> {
    let n = name.chars().count();
    if n == 0 || n > 255 || name.chars().any(char::is_control) {
        return Err(DirectoryError::Invalid(
            "group_name must be 1 to 255 characters, without control characters".into(),
        ));
    }
    Ok(())
}

impl DirectoryService {
    pub fn new(db: Db, auth: Auth) -> DirectoryService {
        DirectoryService { db, auth }
    }

    /// The saved settings' directory: the one logins use, or (with the database login mode
    /// and LDAP settings saved) one for the helpers only.
    fn directory(&self) -> Result<Arc<Directory>, DirectoryError> {
        self.auth
            .saved_directory()
            .ok_or(DirectoryError::NotConfigured)
    }

    // ---- user groups ----

    pub async fn list_groups(
        &self,
        by: &Principal,
        name_fragment: Option<&str>,
        dn: Option<&str>,
    ) -> Result<Vec<GroupRow>, DirectoryError> {
        holds(by, Resource::UserGroup, Operation::List)?;
        let rows = self.db.read(db::groups::all).await?;
        let dn = dn.map(dn_key);
        Ok(rows
            .into_iter()
            .filter(|g| name_fragment.is_none_or(|f| g.group_name.contains(f)))
            .filter(|g| dn.as_ref().is_none_or(|k| dn_key(&g.ldap_group_dn) == *k))
            .collect())
    }

    /// Any signed-in user may find groups by name, to add them as members.
    pub async fn search_groups(
        &self,
        by: &Principal,
        name_fragment: &str,
    ) -> Result<Vec<GroupRow>, DirectoryError> {
        if matches!(by, Principal::Anonymous) {
            return Err(DirectoryError::Unauthorized);
        }
        let rows = self.db.read(db::groups::all).await?;
        Ok(rows
            .into_iter()
            .filter(|g| g.group_name.contains(name_fragment))
            .collect())
    }

    pub async fn group(&self, by: &Principal, id: i64) -> Result<GroupRow, DirectoryError> {
        holds(by, Resource::UserGroup, Operation::Read)?;
        self.db
            .read(move |c| db::groups::by_id(c, id))
            .await?
            .ok_or_else(|| DirectoryError::NotFound(format!("user group {id}")))
    }

    /// Creates a user group for an LDAP group the directory has.
    pub async fn create_group(
        &self,
        by: &Principal,
        req: GroupRef,
    ) -> Result<GroupRow, DirectoryError> {
        holds(by, Resource::UserGroup, Operation::Create)?;
        if req.group_type.unwrap_or(LDAP_GROUP) != LDAP_GROUP {
            return Err(DirectoryError::Invalid(
                "only LDAP groups (group_type 1) are supported".into(),
            ));
        }
        let Some(dn) = req.ldap_group_dn.filter(|d| !d.trim().is_empty()) else {
            return Err(DirectoryError::Invalid(
                "ldap_group_dn is required for an LDAP group".into(),
            ));
        };
        let key = dn_key(&dn);
        if let Some(existing) = self
            .db
            .read({
                let key = key.clone();
                move |c| db::groups::by_dn_key(c, &key)
            })
            .await?
        {
            return Err(DirectoryError::Conflict(format!(
                "a user group for {dn:?} already exists (id {})",
                existing.id
            )));
        }
        self.create_from_directory(&dn, req.group_name).await
    }

    /// Looks the DN up in the directory and records it as a user group.
    async fn create_from_directory(
        &self,
        dn: &str,
        name: Option<String>,
    ) -> Result<GroupRow, DirectoryError> {
        let found = self.directory()?.search_groups("", Some(dn)).await?;
        let Some(group) = found.into_iter().next() else {
            return Err(DirectoryError::NotFound(format!("LDAP group {dn:?}")));
        };
        let name = name.filter(|n| !n.is_empty()).unwrap_or(group.name);
        check_group_name(&name)?;
        let key = dn_key(&group.dn);
        self.db
            .write(move |tx| {
                if let Some(existing) = db::groups::by_dn_key(tx, &key)? {
                    return Ok(existing);
                }
                let id = db::groups::insert(tx, &name, LDAP_GROUP, &group.dn, &key)?;
                db::groups::by_id(tx, id)?
                    .ok_or_else(|| DirectoryError::NotFound(format!("user group {id}")))
            })
            .await
    }

    /// Renames a user group (its DN is what it is).
    pub async fn rename_group(
        &self,
        by: &Principal,
        id: i64,
        name: &str,
    ) -> Result<GroupRow, DirectoryError> {
        holds(by, Resource::UserGroup, Operation::Update)?;
        check_group_name(name)?;
        let name = name.to_string();
        self.db
            .write(move |tx| {
                if !db::groups::rename(tx, id, &name)? {
                    return Err(DirectoryError::NotFound(format!("user group {id}")));
                }
                db::groups::by_id(tx, id)?
                    .ok_or_else(|| DirectoryError::NotFound(format!("user group {id}")))
            })
            .await
    }

    /// Deletes a user group and its project memberships.
    pub async fn delete_group(&self, by: &Principal, id: i64) -> Result<GroupRow, DirectoryError> {
        holds(by, Resource::UserGroup, Operation::Delete)?;
        self.db
            .write(move |tx| {
                let found = db::groups::by_id(tx, id)?
                    .ok_or_else(|| DirectoryError::NotFound(format!("user group {id}")))?;
                db::groups::delete(tx, id)?;
                Ok(found)
            })
            .await
    }

    /// The user group a membership request names, creating it for an LDAP group the
    /// directory has. The caller has already been allowed to add members.
    pub async fn resolve_group(&self, req: GroupRef) -> Result<GroupRow, DirectoryError> {
        if let Some(id) = req.id.filter(|id| *id > 0) {
            return self
                .db
                .read(move |c| db::groups::by_id(c, id))
                .await?
                .ok_or_else(|| DirectoryError::NotFound(format!("user group {id}")));
        }
        if let Some(dn) = req.ldap_group_dn.clone().filter(|d| !d.trim().is_empty()) {
            let key = dn_key(&dn);
            if let Some(g) = self
                .db
                .read(move |c| db::groups::by_dn_key(c, &key))
                .await?
            {
                return Ok(g);
            }
            return self.create_from_directory(&dn, req.group_name).await;
        }
        if let Some(name) = req.group_name.filter(|n| !n.is_empty()) {
            let lookup = name.clone();
            let mut found = self
                .db
                .read(move |c| db::groups::by_name(c, &lookup))
                .await?;
            return match found.len() {
                0 => Err(DirectoryError::NotFound(format!("user group {name:?}"))),
                1 => Ok(found.remove(0)),
                _ => Err(DirectoryError::Conflict(format!(
                    "several user groups are named {name:?}: give its id or ldap_group_dn"
                ))),
            };
        }
        Err(DirectoryError::Invalid(
            "member_group needs an id, a group_name or an ldap_group_dn".into(),
        ))
    }

    // ---- LDAP helpers ----

    /// Tests settings (the saved ones, with `given` over them) step by step. `Ok(Err(why))`
    /// is a test that ran and failed, naming the step: connection, TLS, search bind, base DN.
    pub async fn ping(
        &self,
        by: &Principal,
        given: LdapSettings,
    ) -> Result<Result<(), String>, DirectoryError> {
        holds(by, Resource::Configuration, Operation::Update)?;
        let settings = self.auth.settings();
        let mut cfg = match (&settings.ldap, &given.ldap_url, &given.ldap_base_dn) {
            (Some(saved), _, _) => saved.clone(),
            (None, Some(url), Some(base)) => LdapConfig::new(url, base),
            (None, _, _) => {
                return Err(DirectoryError::Invalid(
                    "no LDAP settings are saved: give at least ldap_url and ldap_base_dn".into(),
                ))
            }
        };
        let LdapSettings {
            ldap_url,
            ldap_search_dn,
            ldap_search_password,
            ldap_base_dn,
            ldap_filter,
            ldap_uid,
            ldap_scope,
            ldap_connection_timeout,
            ldap_verify_cert,
        } = given;
        let url_changed = ldap_url.as_ref().is_some_and(|u| *u != cfg.ldap_url);
        // Turning certificate checks off would let an interceptor read the saved password too.
        let checks_dropped = cfg.ldap_verify_cert && ldap_verify_cert == Some(false);
        let dn_changed = ldap_search_dn
            .as_ref()
            .is_some_and(|d| *d != cfg.ldap_search_dn);
        cfg.ldap_url = ldap_url.unwrap_or(cfg.ldap_url);
        if url_changed && cfg.ldap_url.starts_with("ldaps://") {
            cfg.ldap_starttls = false;
        }
        cfg.ldap_search_dn = ldap_search_dn.unwrap_or(cfg.ldap_search_dn);
        match ldap_search_password.filter(|p| !p.0.is_empty()) {
            Some(p) => cfg.ldap_search_password = p,
            // The saved password goes only to the saved directory, bound as the saved DN:
            // testing another URL or DN needs the password in the request.
            None if (url_changed || dn_changed || checks_dropped)
                && !cfg.ldap_search_dn.is_empty() =>
            {
                return Err(DirectoryError::Invalid(
                    "testing another ldap_url or ldap_search_dn, or without certificate checks, needs ldap_search_password in the request: the saved one is only sent to the saved directory, verified".into(),
                ));
            }
            None => {}
        }
        cfg.ldap_base_dn = ldap_base_dn.unwrap_or(cfg.ldap_base_dn);
        cfg.ldap_filter = ldap_filter.unwrap_or(cfg.ldap_filter);
        cfg.ldap_uid = ldap_uid.unwrap_or(cfg.ldap_uid);
        cfg.ldap_scope = ldap_scope.unwrap_or(cfg.ldap_scope);
        cfg.ldap_timeout = ldap_connection_timeout
            .unwrap_or(cfg.ldap_timeout)
            .clamp(1, PING_TIMEOUT_MAX);
        cfg.ldap_verify_cert = ldap_verify_cert.unwrap_or(cfg.ldap_verify_cert);
        let problems = cfg.problems();
        if !problems.is_empty() {
            return Err(DirectoryError::Invalid(problems.join("; ")));
        }
        let directory = Directory::new(cfg)?;
        // The whole test, not just each step, is bounded.
        let limit = Duration::from_secs(directory.config().ldap_timeout * 4);
        Ok(match tokio::time::timeout(limit, directory.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ping_message(&e)),
            Err(_) => Err(format!(
                "connection: the directory did not answer within {} s",
                limit.as_secs()
            )),
        })
    }

    /// Whether the saved directory answers (connection, TLS, search bind, base DN), for the
    /// health check; `None` unless logins go to a directory.
    pub async fn reachable(&self) -> Option<Result<(), String>> {
        let settings = self.auth.settings();
        if settings.auth_mode != crate::config::AuthMode::Ldap {
            return None;
        }
        let cfg = settings.ldap.clone()?;
        let directory = match Directory::new(cfg) {
            Ok(d) => d,
            Err(e) => return Some(Err(e.to_string())),
        };
        let limit = Duration::from_secs(directory.config().ldap_timeout.clamp(1, 10) * 2);
        Some(match tokio::time::timeout(limit, directory.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ping_message(&e)),
            Err(_) => Err(format!(
                "connection: the directory did not answer within {} s",
                limit.as_secs()
            )),
        })
    }

    /// Directory users whose login name contains `fragment`.
    pub async fn search_users(
        &self,
        by: &Principal,
        fragment: &str,
    ) -> Result<Vec<DirectoryUser>, DirectoryError> {
        holds(by, Resource::LdapUser, Operation::List)?;
        Ok(self.directory()?.search_users(fragment).await?)
    }

    /// Directory groups by DN, or by a fragment of their name.
    pub async fn search_directory_groups(
        &self,
        by: &Principal,
        name: &str,
        dn: Option<&str>,
    ) -> Result<Vec<DirectoryGroup>, DirectoryError> {
        holds(by, Resource::LdapUser, Operation::List)?;
        Ok(self.directory()?.search_groups(name, dn).await?)
    }

    /// Creates local records for directory users, as their first login would. Users that
    /// already exist, or that the directory does not have exactly once, are reported back.
    pub async fn import_users(
        &self,
        by: &Principal,
        uids: &[String],
    ) -> Result<Vec<FailedImport>, DirectoryError> {
        holds(by, Resource::LdapUser, Operation::Create)?;
        let directory = self.directory()?;
        let mut failed = Vec::new();
        for uid in uids {
            let fail = |error: String| FailedImport {
                uid: uid.clone(),
                error,
            };
            let found = match directory.find_user(uid).await {
                Ok(u) => u,
                Err(e) if e.is_credentials() => {
                    failed.push(fail(e.to_string()));
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let name = found.username.clone();
            if self
                .db
                .read(move |c| db::users::by_account_key(c, &crate::names::account_key(&name)))
                .await?
                .is_some()
            {
                failed.push(fail("the user already exists".into()));
                continue;
            }
            if self
                .auth
                .record_directory_user(&directory, found)
                .await?
                .is_none()
            {
                failed.push(fail("the name belongs to a local account".into()));
            }
        }
        Ok(failed)
    }
}

/// What a failed settings test tells the operator: the step, then the directory's words.
fn ping_message(e: &LdapError) -> String {
    match e {
        LdapError::Connect(m) => format!("connection: {m}"),
        LdapError::Tls(m) => format!("TLS: {m}"),
        LdapError::Timeout(_) => format!("connection: {e}"),
        LdapError::SearchBind(m) => format!("search bind: {m}"),
        LdapError::NoSuchBase(_) | LdapError::InvalidDn(_) => format!("base DN: {e}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_messages_name_the_step() {
        assert!(ping_message(&LdapError::Connect("refused".into())).starts_with("connection:"));
        assert!(ping_message(&LdapError::Tls("bad cert".into())).starts_with("TLS:"));
        assert!(ping_message(&LdapError::SearchBind("49".into())).starts_with("search bind:"));
        assert!(ping_message(&LdapError::NoSuchBase("dc=x".into())).starts_with("base DN:"));
    }
}
