//! Run-time settings: what Harbor keeps in its database and edits through
//! `/api/v2.0/configurations` (login mode and LDAP, self-registration, who creates projects,
//! token and session lifetimes, robot defaults, audit retention, the banner).
//!
//! **One source of truth:** the database's `settings` row. `berth.toml` holds how Berth is
//! deployed (listeners, TLS, paths, limits); its `[auth]`, `[ldap]`, `[system]` and
//! `[token] expiration_minutes` are only the first values, copied into the database at the
//! first start (or the first start after an upgrade from a version that kept them there).
//! The portal, the REST API and `berth-setup` all read and write the row through this module,
//! so none of them can show a value another one does not use.

use std::path::Path;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use crate::config::{AuthMode, Config, LdapConfig, SystemConfig};
use crate::db::{self, Db, DbError};
use crate::secrets::SealingKey;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub auth_mode: AuthMode,
    pub ldap: Option<LdapConfig>,
    pub system: SystemConfig,
    /// Lifetime of a registry token, Harbor's `token_expiration`.
    pub token_expiration_minutes: u32,
}

impl Settings {
    /// The first values, from the configuration file.
    pub fn from_config(config: &Config) -> Settings {
        Settings {
            auth_mode: config.auth.mode,
            ldap: config.ldap.clone(),
            system: config.system.clone(),
            token_expiration_minutes: config.token.expiration_minutes,
        }
    }

    /// Every problem at once, one sentence each.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = vec![];
        if self.auth_mode == AuthMode::Ldap && self.ldap.is_none() {
            problems
                .push("LDAP login needs the directory's settings (ldap_url, ldap_base_dn)".into());
        }
        if let Some(ldap) = &self.ldap {
            problems.extend(ldap.value_problems());
        }
        if self.token_expiration_minutes == 0 {
            problems.push("token_expiration must be at least 1 minute".into());
        }
        problems.extend(self.system.problems());
        problems
    }

    /// The document stored in the database, with the directory's password sealed.
    fn to_stored(&self, key: &SealingKey) -> Result<String, SettingsError> {
        let mut stored = self.clone();
        if let Some(ldap) = &mut stored.ldap {
            let plain = &ldap.ldap_search_password.0;
            if !plain.is_empty() && !crate::secrets::is_sealed(plain) {
                ldap.ldap_search_password.0 = key.seal(plain);
            }
        }
        serde_json::to_string(&stored).map_err(|e| SettingsError::Invalid(vec![e.to_string()]))
    }

    fn from_stored(document: &str, key: Option<&SealingKey>) -> Result<Settings, SettingsError> {
        let mut settings: Settings = serde_json::from_str(document)
            .map_err(|e| SettingsError::Corrupt(format!("stored settings: {e}")))?;
        if let Some(ldap) = &mut settings.ldap {
            if crate::secrets::is_sealed(&ldap.ldap_search_password.0) {
                let key = key.ok_or_else(|| {
                    SettingsError::Corrupt(
                        "the sealing key for the LDAP password is missing".into(),
                    )
                })?;
                ldap.ldap_search_password.0 = key
                    .unseal(&ldap.ldap_search_password.0)
                    .map_err(|e| SettingsError::Corrupt(format!("ldap_search_password: {e}")))?;
            }
        }
        Ok(settings)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    #[error("{0}")]
    Corrupt(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("sealing key: {0}")]
    Key(String),
}

/// The sealing key of a data directory, made (0600) on first use.
pub fn sealing_key(data_dir: &Path) -> Result<SealingKey, SettingsError> {
    let path = data_dir.join(crate::secrets::KEY_FILE);
    match SealingKey::load(&path) {
        Ok(k) => Ok(k),
        Err(_) if !path.exists() => {
            let key = SealingKey::generate();
            key.save(&path)
                .map_err(|e| SettingsError::Key(format!("{}: {e}", path.display())))?;
            Ok(key)
        }
        Err(e) => Err(SettingsError::Key(e.to_string())),
    }
}

/// Reads the stored settings; `None` when none were stored yet.
pub async fn load(db: &Db, data_dir: &Path) -> Result<Option<Settings>, SettingsError> {
    let Some(document) = db.read(db::settings::load).await? else {
        return Ok(None);
    };
    let key = SealingKey::load(&data_dir.join(crate::secrets::KEY_FILE)).ok();
    Settings::from_stored(&document, key.as_ref()).map(Some)
}

/// Checks and stores the settings (the only way they are written).
pub async fn store(db: &Db, data_dir: &Path, settings: &Settings) -> Result<(), SettingsError> {
    let problems = settings.problems();
    if !problems.is_empty() {
        return Err(SettingsError::Invalid(problems));
    }
    let key = sealing_key(data_dir)?;
    let document = settings.to_stored(&key)?;
    db.write(move |tx| db::settings::store(tx, &document, db::now()))
        .await?;
    Ok(())
}

/// The stored settings, or (the first time) the file's, stored then. Differences between a
/// file that still has run-time sections and the database are logged: the database wins.
pub async fn load_or_seed(db: &Db, config: &Config) -> Result<Settings, SettingsError> {
    let from_file = Settings::from_config(config);
    match load(db, &config.data_dir).await? {
        Some(stored) => {
            if stored != from_file && config.has_runtime_sections() {
                tracing::warn!(
                    "berth.toml's [auth], [ldap], [system] or [token] expiration differ from the \
                     settings in the database, which apply: change them in the portal \
                     (Administration, Configuration), with the configurations API or with \
                     berth-setup, and remove them from the file"
                );
            }
            Ok(stored)
        }
        None => {
            store(db, &config.data_dir, &from_file).await?;
            Ok(from_file)
        }
    }
}

/// The settings in force, shared by every service; replaced whole when they change.
#[derive(Clone, Debug)]
pub struct SettingsHandle(Arc<RwLock<Arc<Settings>>>);

impl SettingsHandle {
    pub fn new(settings: Settings) -> SettingsHandle {
        SettingsHandle(Arc::new(RwLock::new(Arc::new(settings))))
    }

    pub fn current(&self) -> Arc<Settings> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn replace(&self, settings: Settings) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(settings);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_document_never_holds_the_password_in_clear() {
        let key = SealingKey::generate();
        let mut settings = Settings::from_config(&Config::dev());
        let mut ldap = LdapConfig::new("ldap://127.0.0.1:1", "dc=example,dc=com");
        ldap.ldap_search_password.0 = "hunter2-secret".into();
        settings.ldap = Some(ldap);
        let stored = settings.to_stored(&key).expect("stored");
        assert!(!stored.contains("hunter2-secret"), "{stored}");
        let back = Settings::from_stored(&stored, Some(&key)).expect("read back");
        assert_eq!(back, settings);
        assert!(
            Settings::from_stored(&stored, None).is_err(),
            "no key, no password"
        );
    }

    #[test]
    fn problems_are_named() {
        let mut s = Settings::from_config(&Config::dev());
        s.auth_mode = AuthMode::Ldap;
        s.token_expiration_minutes = 0;
        let p = s.problems();
        assert_eq!(p.len(), 2, "{p:?}");
    }
}
