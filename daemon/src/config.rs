//! The configuration file (`/etc/berth/berth.toml`): one struct, parsed with serde, validated at
//! once so an operator sees every problem in one go. Nothing here reads the environment; `main.rs`
//! does that and applies overrides.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Default location of the configuration file.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/berth/berth.toml";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The URL clients use to reach Berth, e.g. `https://registry.example.com`. The token realm
    /// in `WWW-Authenticate` is built from it; when unset, from each request's `Host` header.
    #[serde(default)]
    pub external_url: Option<String>,
    /// Where the database, blobs, uploads and keys live.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Plain HTTP listener; off when absent.
    #[serde(default)]
    pub http: Option<HttpConfig>,
    /// HTTPS listener; off when absent.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    #[serde(default)]
    pub token: TokenConfig,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub system: SystemConfig,
}

/// Harbor's system settings, under their Harbor names.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemConfig {
    /// Who may create projects: `everyone` (signed-in users) or `adminonly`.
    #[serde(default)]
    pub project_creation_restriction: CreationRestriction,
    /// Whether anyone may sign up for an account (database login only).
    #[serde(default)]
    pub self_registration: bool,
    /// Prefix of every robot account's name.
    #[serde(default = "default_robot_prefix")]
    pub robot_name_prefix: String,
    /// Audit log entries older than this many days are purged (daily).
    #[serde(default = "default_audit_retention")]
    pub audit_log_retention_days: u32,
    /// Failed logins for one account before it is refused for a while (an address gets four
    /// times as many, across accounts).
    #[serde(default = "default_login_max_failures")]
    pub login_max_failures: u32,
    /// How long a throttled account or address is refused.
    #[serde(default = "default_login_lockout")]
    pub login_lockout_seconds: u64,
    /// Idle time after which a browser session ends (Harbor's `session_timeout`).
    #[serde(default = "default_session_timeout")]
    pub session_timeout_minutes: u32,
    /// Harbor's switch to stop recording pulls in the audit log (pull counts are kept).
    #[serde(default)]
    pub pull_audit_log_disable: bool,
}

impl Default for SystemConfig {
    fn default() -> Self {
        SystemConfig {
            project_creation_restriction: CreationRestriction::default(),
            self_registration: false,
            robot_name_prefix: default_robot_prefix(),
            audit_log_retention_days: default_audit_retention(),
            login_max_failures: default_login_max_failures(),
            login_lockout_seconds: default_login_lockout(),
            session_timeout_minutes: default_session_timeout(),
            pull_audit_log_disable: false,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CreationRestriction {
    #[default]
    Everyone,
    AdminOnly,
}

impl CreationRestriction {
    pub fn as_str(self) -> &'static str {
        match self {
            CreationRestriction::Everyone => "everyone",
            CreationRestriction::AdminOnly => "adminonly",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address and port, e.g. `0.0.0.0:80`.
    pub listen: SocketAddr,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Address and port, e.g. `0.0.0.0:443`.
    pub listen: SocketAddr,
    /// PEM certificate chain, server certificate first.
    pub certificate: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1). Must be readable only by the daemon's user.
    pub private_key: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// The `service` clients name in token requests and the `aud` of every token. Harbor's value
    /// is the default so that scripts written for Harbor work unchanged.
    #[serde(default = "default_service")]
    pub service: String,
    /// The `iss` of every token.
    #[serde(default = "default_issuer")]
    pub issuer: String,
    /// Lifetime of a registry token, as Harbor's `token_expiration`.
    #[serde(default = "default_expiration")]
    pub expiration_minutes: u32,
}

impl Default for TokenConfig {
    fn default() -> Self {
        TokenConfig {
            service: default_service(),
            issuer: default_issuer(),
            expiration_minutes: default_expiration(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Upload sessions idle for longer than this are discarded with their files.
    #[serde(default = "default_upload_max_age")]
    pub upload_max_age_hours: u32,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            upload_max_age_hours: default_upload_max_age(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter, e.g. `info` or `berth=debug,info`.
    #[serde(default = "default_log_level")]
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: default_log_level(),
        }
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("/var/lib/berth")
}
fn default_service() -> String {
    "harbor-registry".into()
}
fn default_issuer() -> String {
    "berth-token-issuer".into()
}
fn default_expiration() -> u32 {
    30
}
fn default_upload_max_age() -> u32 {
    24
}
fn default_session_timeout() -> u32 {
    60
}
fn default_login_max_failures() -> u32 {
    5
}
fn default_login_lockout() -> u64 {
    300
}
fn default_audit_retention() -> u32 {
    90
}
fn default_robot_prefix() -> String {
    "robot$".into()
}
fn default_log_level() -> String {
    "info".into()
}

impl Config {
    /// Embedded defaults for `berthd --dev`: data in `./berth-data`, plain HTTP on
    /// `127.0.0.1:5000`.
    pub fn dev() -> Config {
        Config {
            external_url: None,
            data_dir: PathBuf::from("berth-data"),
            http: Some(HttpConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 5000)),
            }),
            tls: None,
            token: TokenConfig::default(),
            storage: StorageConfig::default(),
            log: LogConfig::default(),
            system: SystemConfig::default(),
        }
    }

    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError(vec![e.to_string()]))?;
        Ok(config)
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(vec![format!("cannot read {}: {e}", path.display())]))?;
        Config::from_toml(&text)
    }

    /// Every problem at once, so the operator fixes the file in one pass.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if self.http.is_none() && self.tls.is_none() {
            problems.push("no listener: configure [http] or [tls]".to_string());
        }
        if let Some(url) = &self.external_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                problems.push(format!(
                    "external_url must start with http:// or https://: {url}"
                ));
            }
        }
        if self.token.expiration_minutes == 0 {
            problems.push("token.expiration_minutes must be at least 1".into());
        }
        if self.token.service.is_empty() {
            problems.push("token.service must not be empty".into());
        }
        if self.system.robot_name_prefix.is_empty()
            || self.system.robot_name_prefix.contains(['/', ':', ' '])
        {
            problems.push(
                "system.robot_name_prefix must be non-empty, without '/', ':' or spaces".into(),
            );
        }
        if self.system.login_max_failures == 0 {
            problems.push("system.login_max_failures must be at least 1".into());
        }
        if self.system.audit_log_retention_days == 0 {
            problems.push("system.audit_log_retention_days must be at least 1".into());
        }
        if self.storage.upload_max_age_hours == 0 {
            problems.push("storage.upload_max_age_hours must be at least 1".into());
        }
        if let Some(tls) = &self.tls {
            for (what, path) in [
                ("certificate", &tls.certificate),
                ("private_key", &tls.private_key),
            ] {
                if !path.is_file() {
                    problems.push(format!("tls.{what}: no file at {}", path.display()));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(problems))
        }
    }

    /// The external base URL without a trailing slash, when configured.
    pub fn external_base(&self) -> Option<&str> {
        self.external_url
            .as_deref()
            .map(|u| u.trim_end_matches('/'))
    }
}

/// All the problems found in a configuration.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {}", .0.join("; "))]
pub struct ConfigError(pub Vec<String>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_file_gets_defaults() {
        let c = Config::from_toml("[http]\nlisten = \"127.0.0.1:8080\"\n").expect("parses");
        assert_eq!(c.token.expiration_minutes, 30);
        assert_eq!(c.token.service, "harbor-registry");
        assert!(c.validate().is_ok());
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(Config::from_toml("colour = \"blue\"\n").is_err());
    }

    #[test]
    fn validate_reports_every_problem() {
        let c = Config::from_toml("external_url = \"ftp://x\"\n[token]\nexpiration_minutes = 0\n")
            .expect("parses");
        let err = c.validate().expect_err("invalid");
        assert_eq!(err.0.len(), 3, "{err}");
    }
}
