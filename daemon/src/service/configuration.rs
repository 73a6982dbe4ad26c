//! Harbor's `/configurations`: the run-time settings under Harbor's key names, read and changed
//! as a whole. A change is checked completely before anything is stored, stored in one write,
//! then takes effect at once (the settings handle is replaced; session and lease lifetimes
//! follow).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::auth::session::Sessions;
use crate::config::{AuthMode, CreationRestriction, LdapConfig, Secret};
use crate::db::Db;
use crate::gc::leases::Leases;
use crate::settings::{Settings, SettingsError, SettingsHandle};

#[derive(Debug, thiserror::Error)]
pub enum ConfigurationError {
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    #[error("{0}")]
    Internal(String),
}

impl From<SettingsError> for ConfigurationError {
    fn from(e: SettingsError) -> Self {
        match e {
            SettingsError::Invalid(p) => ConfigurationError::Invalid(p),
            other => ConfigurationError::Internal(other.to_string()),
        }
    }
}

#[derive(Clone)]
pub struct ConfigurationService {
    db: Db,
    data_dir: PathBuf,
    settings: SettingsHandle,
    sessions: Arc<Sessions>,
    leases: Leases,
}

/// Keys shown but not changed here: what they are is decided elsewhere.
const READ_ONLY: [&str; 4] = [
    "read_only",
    "primary_auth_mode",
    "ldap_ca_certificate",
    "login_max_failures",
];

fn harbor_mode(mode: AuthMode) -> &'static str {
    mode.harbor_name()
}

impl ConfigurationService {
    pub fn new(
        db: Db,
        data_dir: PathBuf,
        settings: SettingsHandle,
        sessions: Arc<Sessions>,
        leases: Leases,
    ) -> ConfigurationService {
        ConfigurationService {
            db,
            data_dir,
            settings,
            sessions,
            leases,
        }
    }

    pub fn current(&self) -> Arc<Settings> {
        self.settings.current()
    }

    /// Every key as Harbor's `ConfigurationsResponse` shows it: `{"value", "editable"}`. The
    /// directory's search password is never shown.
    pub fn view(&self) -> Value {
        let s = self.settings.current();
        let sys = &s.system;
        let default_ldap = LdapConfig::new("", "");
        let l = s.ldap.as_ref().unwrap_or(&default_ldap);
        let mut out = Map::new();
        let mut put = |k: &str, v: Value| {
            out.insert(
                k.to_string(),
                json!({"value": v, "editable": !READ_ONLY.contains(&k)}),
            );
        };
        put("auth_mode", json!(harbor_mode(s.auth_mode)));
        put("primary_auth_mode", json!(false));
        put("read_only", json!(false));
        put("ldap_url", json!(l.ldap_url));
        put("ldap_base_dn", json!(l.ldap_base_dn));
        put("ldap_search_dn", json!(l.ldap_search_dn));
        put("ldap_filter", json!(l.ldap_filter));
        put("ldap_uid", json!(l.ldap_uid));
        put("ldap_scope", json!(l.ldap_scope));
        put("ldap_timeout", json!(l.ldap_timeout));
        put("ldap_verify_cert", json!(l.ldap_verify_cert));
        put("ldap_starttls", json!(l.ldap_starttls));
        put(
            "ldap_ca_certificate",
            json!(l
                .ldap_ca_certificate
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()),
        );
        put("ldap_group_base_dn", json!(l.ldap_group_base_dn));
        put(
            "ldap_group_search_filter",
            json!(l.ldap_group_search_filter),
        );
        put(
            "ldap_group_attribute_name",
            json!(l.ldap_group_attribute_name),
        );
        put("ldap_group_search_scope", json!(l.ldap_group_search_scope));
        put("ldap_group_admin_dn", json!(l.ldap_group_admin_dn));
        put(
            "ldap_group_membership_attribute",
            json!(l.ldap_group_membership_attribute),
        );
        put("self_registration", json!(sys.self_registration));
        put(
            "project_creation_restriction",
            json!(sys.project_creation_restriction.as_str()),
        );
        put("token_expiration", json!(s.token_expiration_minutes));
        put("robot_token_duration", json!(sys.robot_token_duration_days));
        put("robot_name_prefix", json!(sys.robot_name_prefix));
        put("session_timeout", json!(sys.session_timeout_minutes));
        put("banner_message", json!(sys.banner_message));
        put(
            "audit_log_retention_days",
            json!(sys.audit_log_retention_days),
        );
        put("pull_audit_log_disable", json!(sys.pull_audit_log_disable));
        put("login_max_failures", json!(sys.login_max_failures));
        put(
            "quota_per_project_enable",
            json!(sys.quota_per_project_enable),
        );
        put("storage_per_project", json!(sys.storage_per_project));
        Value::Object(out)
    }

    /// The settings `changes` (Harbor's `Configurations`: plain values by key) would make,
    /// with every problem found; nothing is stored.
    pub fn apply_to(&self, changes: &Map<String, Value>) -> Result<Settings, ConfigurationError> {
        let mut s = (*self.settings.current()).clone();
        let mut problems = vec![];
        let text = |k: &str, v: &Value, problems: &mut Vec<String>| -> Option<String> {
            match v.as_str() {
                Some(t) if t.chars().count() <= 2048 && !t.chars().any(|c| c.is_control()) => {
                    Some(t.to_string())
                }
                _ => {
                    problems.push(format!("{k} must be a string of at most 2048 characters"));
                    None
                }
            }
        };
        let number = |k: &str, v: &Value, min: u64, max: u64, problems: &mut Vec<String>| match v
            .as_u64()
            .filter(|n| (min..=max).contains(n))
        {
            Some(n) => Some(n),
            None => {
                problems.push(format!("{k} must be a whole number from {min} to {max}"));
                None
            }
        };
        let flag = |k: &str, v: &Value, problems: &mut Vec<String>| match v.as_bool() {
            Some(b) => Some(b),
            None => {
                problems.push(format!("{k} must be true or false"));
                None
            }
        };
        // LDAP settings may be given before any exist: they start from the defaults.
        let mut ldap = s.ldap.clone();
        let ldap_given = changes.keys().any(|k| k.starts_with("ldap_"));
        if ldap_given && ldap.is_none() {
            ldap = Some(LdapConfig::new("", ""));
        }
        for (k, v) in changes {
            if READ_ONLY.contains(&k.as_str()) {
                problems.push(format!("{k} cannot be changed here"));
                continue;
            }
            let l = ldap.as_mut();
            match (k.as_str(), l) {
                ("auth_mode", _) => match v.as_str() {
                    Some("db_auth") => s.auth_mode = AuthMode::Db,
                    Some("ldap_auth") => s.auth_mode = AuthMode::Ldap,
                    _ => problems.push("auth_mode must be \"db_auth\" or \"ldap_auth\"".into()),
                },
                ("ldap_url", Some(l)) => {
                    if let Some(t) = text(k, v, &mut problems) {
                        l.ldap_url = t;
                    }
                }
                ("ldap_base_dn", Some(l)) => {
                    if let Some(t) = text(k, v, &mut problems) {
                        l.ldap_base_dn = t;
                    }
                }
                ("ldap_search_dn", Some(l)) => {
                    if let Some(t) = text(k, v, &mut problems) {
                        l.ldap_search_dn = t;
                    }
                }
                // An empty password keeps the saved one (forms never have it to send back).
                ("ldap_search_password", Some(l)) => {
                    if let Some(t) = text(k, v, &mut problems) {
                        if !t.is_empty() {
                            l.ldap_search_password = Secret(t);
                        }
                    }
                }
                ("ldap_filter", Some(l)) => {
                    if let Some(t) = text(k, v, &mut problems) {
                        l.ldap_filter = t;
                    }
                }
                ("ldap_uid", Some(l)) => {
                    if let Some(t) = text(k, v, &mut problems) {
                        l.ldap_uid = t;
                    }
                }
                ("ldap_scope", Some(l)) => {
                    if let Some(n) = number(k, v, 0, 2, &mut problems) {
                        l.ldap_scope = n as u8;
                    }
                }
                ("ldap_timeout", Some(l)) => {
                    if let Some(n) = number(k, v, 1, 300, &mut problems) {
                        l.ldap_timeout = n;
                    }
                }
                ("ldap_verify_cert", Some(l)) => {
                    if let Some(b) = flag(k, v, &mut problems) {
                        l.ldap_verify_cert = b;
                    }
                }
                ("ldap_starttls", Some(l)) => {
                    if let Some(b) = flag(k, v, &mut problems) {
                        l.ldap_starttls = b;
                    }
                }
                ("ldap_group_base_dn", Some(l)) => {
                    if let Some(t) = text(k, v, &mut problems) {
                        l.ldap_group_base_dn = t;
                    }
                }
                ("ldap_group_search_filter", Some(l)) => {
                    if let Some(t) = text(k, v, &mut problems) {
                        l.ldap_group_search_filter = t;
                    }
                }
                ("ldap_group_attribute_name", Some(l)) => {
                    if let Some(t) = text(k, v, &mut problems) {
                        l.ldap_group_attribute_name = t;
                    }
                }
                ("ldap_group_search_scope", Some(l)) => {
                    if let Some(n) = number(k, v, 0, 2, &mut problems) {
                        l.ldap_group_search_scope = n as u8;
                    }
                }
                ("ldap_group_admin_dn", Some(l)) => {
                    if let Some(t) = text(k, v, &mut problems) {
                        l.ldap_group_admin_dn = t;
                    }
                }
                ("ldap_group_membership_attribute", Some(l)) => {
                    if let Some(t) = text(k, v, &mut problems) {
                        l.ldap_group_membership_attribute = t;
                    }
                }
                ("self_registration", _) => {
                    if let Some(b) = flag(k, v, &mut problems) {
                        s.system.self_registration = b;
                    }
                }
                ("project_creation_restriction", _) => match v.as_str() {
                    Some("everyone") => {
                        s.system.project_creation_restriction = CreationRestriction::Everyone
                    }
                    Some("adminonly") => {
                        s.system.project_creation_restriction = CreationRestriction::AdminOnly
                    }
                    _ => problems.push(
                        "project_creation_restriction must be \"everyone\" or \"adminonly\"".into(),
                    ),
                },
                ("token_expiration", _) => {
                    if let Some(n) = number(k, v, 1, 1440, &mut problems) {
                        s.token_expiration_minutes = n as u32;
                    }
                }
                ("robot_token_duration", _) => {
                    if let Some(n) = number(k, v, 1, 3650, &mut problems) {
                        s.system.robot_token_duration_days = n as u32;
                    }
                }
                ("robot_name_prefix", _) => {
                    if let Some(t) = text(k, v, &mut problems) {
                        s.system.robot_name_prefix = t;
                    }
                }
                ("session_timeout", _) => {
                    if let Some(n) = number(k, v, 1, 10080, &mut problems) {
                        s.system.session_timeout_minutes = n as u32;
                    }
                }
                ("banner_message", _) => {
                    if let Some(t) = text(k, v, &mut problems) {
                        s.system.banner_message = t;
                    }
                }
                ("audit_log_retention_days", _) => {
                    if let Some(n) = number(k, v, 1, 36500, &mut problems) {
                        s.system.audit_log_retention_days = n as u32;
                    }
                }
                ("pull_audit_log_disable", _) => {
                    if let Some(b) = flag(k, v, &mut problems) {
                        s.system.pull_audit_log_disable = b;
                    }
                }
                ("quota_per_project_enable", _) => {
                    if let Some(b) = flag(k, v, &mut problems) {
                        s.system.quota_per_project_enable = b;
                    }
                }
                ("storage_per_project", _) => match v.as_i64() {
                    Some(n) => s.system.storage_per_project = n,
                    None => problems.push(
                        "storage_per_project must be -1 (unlimited) or a size in bytes".into(),
                    ),
                },
                (other, _) => problems.push(format!("unknown configuration key {other:?}")),
            }
        }
        // The saved search password goes only to the saved directory, bound as the saved DN,
        // verified (as for the LDAP test): changing any of those needs the password again.
        if let (Some(saved), Some(next)) = (&self.settings.current().ldap, &ldap) {
            let moved = next.ldap_url != saved.ldap_url
                || next.ldap_search_dn != saved.ldap_search_dn
                || (saved.ldap_verify_cert && !next.ldap_verify_cert);
            let retyped = changes
                .get("ldap_search_password")
                .and_then(Value::as_str)
                .is_some_and(|p| !p.is_empty());
            if moved && !retyped && !next.ldap_search_password.0.is_empty() {
                problems.push(
                    "changing ldap_url or ldap_search_dn, or turning ldap_verify_cert off, needs ldap_search_password again: the saved one is only sent to the saved directory, verified".into(),
                );
            }
        }
        s.ldap = ldap;
        problems.extend(s.problems());
        if problems.is_empty() {
            Ok(s)
        } else {
            Err(ConfigurationError::Invalid(problems))
        }
    }

    /// Checks, stores and puts into force; returns the keys whose values changed (for the
    /// audit log: names only, never values).
    pub async fn update(
        &self,
        changes: &Map<String, Value>,
    ) -> Result<Vec<String>, ConfigurationError> {
        let next = self.apply_to(changes)?;
        let before = self.view();
        crate::settings::store(&self.db, &self.data_dir, &next).await?;
        self.settings.replace(next.clone());
        self.sessions.set_idle_timeout(Duration::from_secs(
            u64::from(next.system.session_timeout_minutes) * 60,
        ));
        self.leases.extend_lifetime(Duration::from_secs(
            u64::from(next.token_expiration_minutes) * 60,
        ));
        let after = self.view();
        let mut changed: Vec<String> = after
            .as_object()
            .map(|a| {
                a.iter()
                    .filter(|(k, v)| before.get(k.as_str()) != Some(v))
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default();
        if changes
            .get("ldap_search_password")
            .and_then(Value::as_str)
            .is_some_and(|p| !p.is_empty())
        {
            changed.push("ldap_search_password".into());
        }
        Ok(changed)
    }
}
