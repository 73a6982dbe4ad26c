//! The configuration file (`/etc/berth/berth.toml`): one struct, parsed with serde, validated at
//! once so an operator sees every problem in one go. Nothing here reads the environment; `main.rs`
//! does that and applies overrides.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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
    pub server: ServerConfig,
    #[serde(default)]
    pub gc: GcConfig,
    #[serde(default)]
    pub replication: ReplicationConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub system: SystemConfig,
    #[serde(default)]
    pub auth: AuthConfig,
    /// Directory settings, under Harbor's `ldap_*` names; required when `auth.mode = "ldap"`.
    #[serde(default)]
    pub ldap: Option<LdapConfig>,
    /// `--dev` only: without `external_url`, build the token realm from the request's `Host`
    /// (convenient on a laptop; a client could name any realm, so never in production, where
    /// the address the connection came in on is used instead).
    #[serde(skip)]
    pub realm_from_host_header: bool,
    /// The file has `[auth]`, `[ldap]`, `[system]` or `[token] expiration_minutes`: first
    /// values for the run-time settings (see [`crate::settings`]).
    #[serde(skip)]
    pub runtime_sections: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Where users log in: the local database, or an LDAP / Active Directory server. The
    /// built-in `admin` and robot accounts always use the local database.
    #[serde(default)]
    pub mode: AuthMode,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    #[default]
    Db,
    Ldap,
}

impl AuthMode {
    /// Harbor's name for the mode, as `systeminfo` reports it.
    pub fn harbor_name(self) -> &'static str {
        match self {
            AuthMode::Db => "db_auth",
            AuthMode::Ldap => "ldap_auth",
        }
    }
}

/// A secret from the configuration file: never printed, never logged.
#[derive(Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Harbor's LDAP settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// `ldap://host[:port]` or `ldaps://host[:port]`.
    pub ldap_url: String,
    /// The DN to bind as for searching; anonymous search when empty.
    #[serde(default)]
    pub ldap_search_dn: String,
    #[serde(default)]
    pub ldap_search_password: Secret,
    /// Where users are searched for.
    pub ldap_base_dn: String,
    /// An extra filter users must match, e.g. `(objectClass=person)`.
    #[serde(default)]
    pub ldap_filter: String,
    /// The attribute that holds the login name: `uid`, `cn`, or `sAMAccountName` for AD.
    #[serde(default = "default_ldap_uid")]
    pub ldap_uid: String,
    /// 0 base, 1 one level, 2 subtree.
    #[serde(default = "default_ldap_scope")]
    pub ldap_scope: u8,
    /// Seconds to wait for the directory, per connection and per operation.
    #[serde(default = "default_ldap_timeout")]
    pub ldap_timeout: u64,
    /// Verify the server's certificate (ldaps and StartTLS). Off only when said explicitly.
    #[serde(default = "default_true")]
    pub ldap_verify_cert: bool,
    /// Upgrade an `ldap://` connection with StartTLS.
    #[serde(default)]
    pub ldap_starttls: bool,
    /// A PEM file of CA certificates to trust for the directory, instead of the system's.
    #[serde(default)]
    pub ldap_ca_certificate: Option<PathBuf>,
    /// Where groups are searched for (groups found by their `member` attribute).
    #[serde(default)]
    pub ldap_group_base_dn: String,
    #[serde(default)]
    pub ldap_group_search_filter: String,
    /// The attribute that names a group, e.g. `cn`.
    #[serde(default = "default_group_attribute")]
    pub ldap_group_attribute_name: String,
    #[serde(default = "default_ldap_scope")]
    pub ldap_group_search_scope: u8,
    /// Members of this group are system administrators.
    #[serde(default)]
    pub ldap_group_admin_dn: String,
    /// The user attribute that lists the user's groups, as Active Directory's `memberOf`.
    #[serde(default = "default_membership_attribute")]
    pub ldap_group_membership_attribute: String,
}

impl LdapConfig {
    /// Settings for a directory at `url` with users under `base_dn`, everything else at its
    /// default.
    pub fn new(url: &str, base_dn: &str) -> LdapConfig {
        LdapConfig {
            ldap_url: url.to_string(),
            ldap_search_dn: String::new(),
            ldap_search_password: Secret::default(),
            ldap_base_dn: base_dn.to_string(),
            ldap_filter: String::new(),
            ldap_uid: default_ldap_uid(),
            ldap_scope: default_ldap_scope(),
            ldap_timeout: default_ldap_timeout(),
            ldap_verify_cert: true,
            ldap_starttls: false,
            ldap_ca_certificate: None,
            ldap_group_base_dn: String::new(),
            ldap_group_search_filter: String::new(),
            ldap_group_attribute_name: default_group_attribute(),
            ldap_group_search_scope: default_ldap_scope(),
            ldap_group_admin_dn: String::new(),
            ldap_group_membership_attribute: default_membership_attribute(),
        }
    }

    /// What is wrong with these settings, one sentence each; empty when they are usable.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = self.value_problems();
        if let Some(ca) = &self.ldap_ca_certificate {
            if !ca.is_file() {
                problems.push(format!(
                    "ldap.ldap_ca_certificate: no file at {}",
                    ca.display()
                ));
            }
        }
        problems
    }

    /// The problems with the values themselves, whatever the files where this runs (setup
    /// may write for another root; a missing certificate shows when the directory is made).
    pub fn value_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !(self.ldap_url.starts_with("ldap://") || self.ldap_url.starts_with("ldaps://")) {
            problems.push(format!(
                "ldap.ldap_url must start with ldap:// or ldaps://: {}",
                self.ldap_url
            ));
        }
        if self.ldap_starttls && self.ldap_url.starts_with("ldaps://") {
            problems.push("ldap.ldap_starttls applies to ldap:// URLs, not ldaps://".into());
        }
        if self.ldap_base_dn.is_empty() {
            problems.push("ldap.ldap_base_dn must not be empty".into());
        }
        if self.ldap_uid.is_empty() {
            problems.push("ldap.ldap_uid must not be empty".into());
        }
        for (what, scope) in [
            ("ldap_scope", self.ldap_scope),
            ("ldap_group_search_scope", self.ldap_group_search_scope),
        ] {
            if scope > 2 {
                problems.push(format!(
                    "ldap.{what} must be 0 (base), 1 (one level) or 2 (subtree)"
                ));
            }
        }
        if self.ldap_timeout == 0 {
            problems.push("ldap.ldap_timeout must be at least 1 second".into());
        }
        problems
    }
}

fn default_true() -> bool {
    true
}
fn default_ldap_uid() -> String {
    "cn".into()
}
fn default_ldap_scope() -> u8 {
    2
}
fn default_ldap_timeout() -> u64 {
    5
}
fn default_group_attribute() -> String {
    "cn".into()
}
fn default_membership_attribute() -> String {
    "memberof".into()
}

/// Harbor's system settings, under their Harbor names.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
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
    /// Harbor's `banner_message`: a JSON object with `message`, `type` (`success`, `info`,
    /// `warning`, `danger`), `closable`, `fromDate` and `toDate`; empty for none.
    #[serde(default)]
    pub banner_message: String,
    /// Harbor's `robot_token_duration`: the days a robot lasts when its creator gives none.
    #[serde(default = "default_robot_duration")]
    pub robot_token_duration_days: u32,
    /// Harbor's `quota_per_project_enable`: whether projects' storage limits are enforced
    /// (usage is counted either way).
    #[serde(default = "default_true")]
    pub quota_per_project_enable: bool,
    /// Harbor's `storage_per_project`: a new project's limit in bytes, -1 for none.
    #[serde(default = "default_storage_per_project")]
    pub storage_per_project: i64,
}

fn default_storage_per_project() -> i64 {
    -1
}

impl SystemConfig {
    /// What is wrong with these settings, one sentence each.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = vec![];
        // A `$` no user name may hold keeps robots and people apart, whatever the prefix.
        if self.robot_name_prefix.len() > 32
            || !self.robot_name_prefix.contains('$')
            || self.robot_name_prefix.contains(['/', ':', ' ', '+'])
            || self.robot_name_prefix.chars().any(|c| c.is_control())
        {
            problems.push(
                "robot_name_prefix must be at most 32 characters, contain '$' (which no user name may hold), and have no '/', ':', '+' or spaces"
                    .into(),
            );
        }
        if self.login_max_failures == 0 {
            problems.push("login_max_failures must be at least 1".into());
        }
        if self.audit_log_retention_days == 0 {
            problems.push("audit_log_retention_days must be at least 1".into());
        }
        if self.session_timeout_minutes == 0 {
            problems.push("session_timeout must be at least 1 minute".into());
        }
        if let Err(e) =
            crate::service::quotas::check_limit("storage_per_project", self.storage_per_project)
        {
            problems.push(e);
        }
        if !(1..=3650).contains(&self.robot_token_duration_days) {
            problems.push("robot_token_duration must be 1 to 3650 days".into());
        }
        if !self.banner_message.is_empty() && Banner::parse(&self.banner_message).is_none() {
            problems.push(
                "banner_message must be Harbor's JSON object with \"message\" and \"type\"".into(),
            );
        }
        problems
    }
}

/// Harbor's banner message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Banner {
    pub message: String,
    /// `success`, `info`, `warning` or `danger`.
    #[serde(rename = "type", default = "default_banner_type")]
    pub kind: String,
    #[serde(default)]
    pub closable: bool,
    #[serde(rename = "fromDate", default)]
    pub from_date: String,
    #[serde(rename = "toDate", default)]
    pub to_date: String,
}

impl Banner {
    /// A well-formed banner (at most 1024 characters of message, a known type), else `None`.
    pub fn parse(json: &str) -> Option<Banner> {
        let b: Banner = serde_json::from_str(json).ok()?;
        let ok = b.message.chars().count() <= 1024
            && ["success", "info", "warning", "danger"].contains(&b.kind.as_str());
        ok.then_some(b)
    }
}

fn default_banner_type() -> String {
    "info".into()
}
fn default_robot_duration() -> u32 {
    30
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
            banner_message: String::new(),
            robot_token_duration_days: default_robot_duration(),
            quota_per_project_enable: true,
            storage_per_project: default_storage_per_project(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
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
    /// The CA that issued the certificate (e.g. the private CA `berth-setup` made), served at
    /// `/api/v2.0/systeminfo/getcert` so clients can trust it.
    #[serde(default)]
    pub ca_certificate: Option<PathBuf>,
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
    /// Upload sessions open at once, in all; more are refused with `TOOMANYREQUESTS`.
    #[serde(default = "default_max_uploads")]
    pub max_upload_sessions: usize,
    /// Upload sessions one account may have open at once.
    #[serde(default = "default_max_uploads_per_user")]
    pub max_upload_sessions_per_user: usize,
    /// Free space (MiB) kept on the data directory's filesystem: below it, uploads and
    /// manifest pushes are refused (pulls, deletions and garbage collection go on), so the
    /// database and the disk never fill up. 0 turns the check off.
    #[serde(default = "default_free_space_reserve")]
    pub free_space_reserve_mib: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            upload_max_age_hours: default_upload_max_age(),
            max_upload_sessions: default_max_uploads(),
            max_upload_sessions_per_user: default_max_uploads_per_user(),
            free_space_reserve_mib: default_free_space_reserve(),
        }
    }
}

fn default_free_space_reserve() -> u64 {
    1024
}

/// Prometheus metrics (Harbor's `metric` section).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Off by default, as in Harbor.
    #[serde(default)]
    pub enabled: bool,
    /// `path` is served on the main listeners to system administrators and robots granted
    /// `metrics:read`; this adds a listener of its own (Harbor's exporter port, 9090), open
    /// to whoever can reach it: bind it where only the scraper can.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    #[serde(default = "default_metrics_path")]
    pub path: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: false,
            listen: None,
            path: default_metrics_path(),
        }
    }
}

fn default_metrics_path() -> String {
    "/metrics".into()
}

/// Limits on connections, so that slow or idle clients cannot hold the server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// A client must send a request's headers within this many seconds of starting it (or of
    /// its previous response, on a keep-alive connection).
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout_seconds: u64,
    /// A connection on which no byte moves either way for this many seconds is closed: a body
    /// that stopped arriving, a download nobody reads.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_seconds: u64,
    /// Connections served at once, over all listeners; further ones are closed at once.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            header_read_timeout_seconds: default_header_read_timeout(),
            idle_timeout_seconds: default_idle_timeout(),
            max_connections: default_max_connections(),
        }
    }
}

/// Garbage collection (`/system/gc`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcConfig {
    /// Harbor's time window: a blob uploaded, linked, mounted or checked with `HEAD` within
    /// this many minutes, or an untagged manifest pushed within it, is never collected. Pushes
    /// in flight are protected beyond it by leases, so 0 is safe, if unkind to slow clients.
    #[serde(default = "default_gc_time_window")]
    pub time_window_minutes: u32,
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            time_window_minutes: default_gc_time_window(),
        }
    }
}

fn default_gc_time_window() -> u32 {
    120
}

/// Replication (`/replication/...`): how hard a copy tries and how much runs at once.
/// Harbor's defaults: 5 tries per blob with a backoff from 2 s, 3 per task, 10 MiB chunks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicationConfig {
    /// Tasks of one execution copied at once.
    #[serde(default = "default_replication_workers")]
    pub workers: usize,
    /// Further tries of a failed blob (or chunk) before its task fails.
    #[serde(default = "default_blob_retries")]
    pub blob_retries: u32,
    /// Further tries of a failed task within its execution (retrying by hand is always
    /// possible after).
    #[serde(default = "default_task_retries")]
    pub task_retries: u32,
    /// The first wait before a retry; each later wait doubles it.
    #[serde(default = "default_retry_backoff_ms")]
    pub retry_backoff_ms: u64,
    /// Blobs larger than this go in chunks of this size, so a failure resumes where it
    /// stopped.
    #[serde(default = "default_chunk_size_mib")]
    pub chunk_size_mib: u64,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        ReplicationConfig {
            workers: default_replication_workers(),
            blob_retries: default_blob_retries(),
            task_retries: default_task_retries(),
            retry_backoff_ms: default_retry_backoff_ms(),
            chunk_size_mib: default_chunk_size_mib(),
        }
    }
}

fn default_replication_workers() -> usize {
    4
}
fn default_blob_retries() -> u32 {
    5
}
fn default_task_retries() -> u32 {
    3
}
fn default_retry_backoff_ms() -> u64 {
    2000
}
fn default_chunk_size_mib() -> u64 {
    10
}

fn default_max_uploads() -> usize {
    1024
}
fn default_max_uploads_per_user() -> usize {
    128
}
fn default_header_read_timeout() -> u64 {
    30
}
fn default_idle_timeout() -> u64 {
    120
}
fn default_max_connections() -> usize {
    1024
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter, e.g. `info` or `berth=debug,info`.
    #[serde(default = "default_log_level")]
    pub level: String,
    /// `text` (one readable line per event, for journald and people) or `json` (one JSON
    /// object per line, for log shippers).
    #[serde(default)]
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: default_log_level(),
            format: LogFormat::default(),
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
    /// Whether the file still carries first values for the run-time settings.
    pub fn has_runtime_sections(&self) -> bool {
        self.runtime_sections
    }

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
            server: ServerConfig::default(),
            gc: GcConfig::default(),
            replication: ReplicationConfig::default(),
            log: LogConfig::default(),
            metrics: MetricsConfig::default(),
            system: SystemConfig::default(),
            auth: AuthConfig::default(),
            ldap: None,
            realm_from_host_header: true,
            runtime_sections: false,
        }
    }

    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let mut config: Config =
            toml::from_str(text).map_err(|e| ConfigError(vec![e.to_string()]))?;
        let table: toml::Table = toml::from_str(text).unwrap_or_default();
        config.runtime_sections = ["auth", "ldap", "system"]
            .iter()
            .any(|k| table.contains_key(*k))
            || table
                .get("token")
                .and_then(|t| t.get("expiration_minutes"))
                .is_some();
        Ok(config)
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(vec![format!("cannot read {}: {e}", path.display())]))?;
        let mut config = Config::from_toml(&text)?;
        config.unseal_secrets()?;
        Ok(config)
    }

    /// Opens the secrets `berth-setup` sealed (see [`crate::secrets`]) with the key in the
    /// data directory. Plain values, written by hand, are taken as they are.
    pub fn unseal_secrets(&mut self) -> Result<(), ConfigError> {
        let Some(ldap) = &mut self.ldap else {
            return Ok(());
        };
        if !crate::secrets::is_sealed(&ldap.ldap_search_password.0) {
            return Ok(());
        }
        let fail = |e: crate::secrets::SecretError| {
            ConfigError(vec![format!("ldap.ldap_search_password: {e}")])
        };
        let key = crate::secrets::SealingKey::load(&self.data_dir.join(crate::secrets::KEY_FILE))
            .map_err(fail)?;
        ldap.ldap_search_password.0 = key.unseal(&ldap.ldap_search_password.0).map_err(fail)?;
        Ok(())
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
        // Under /metrics, so it can never collide with a route of the registry, the API or the
        // portal (a collision would stop berthd at start).
        let path = &self.metrics.path;
        let plain = path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b));
        if !path.starts_with("/metrics") || !plain || path.contains("//") {
            problems.push(format!(
                "metrics.path must be /metrics or a plain path under it: {path}"
            ));
        }
        if !(1..=64).contains(&self.replication.workers) {
            problems.push("replication.workers must be from 1 to 64".into());
        }
        if !(1..=1024).contains(&self.replication.chunk_size_mib) {
            problems.push("replication.chunk_size_mib must be from 1 to 1024".into());
        }
        if self.replication.blob_retries > 20 || self.replication.task_retries > 20 {
            problems.push("replication retries must be at most 20".into());
        }
        problems.extend(
            self.system
                .problems()
                .into_iter()
                .map(|p| format!("system.{p}")),
        );
        match (&self.auth.mode, &self.ldap) {
            (AuthMode::Ldap, None) => {
                problems.push("auth.mode is \"ldap\" but there is no [ldap] section".into())
            }
            (_, Some(l)) => problems.extend(l.problems()),
            _ => {}
        }
        if self.storage.upload_max_age_hours == 0 {
            problems.push("storage.upload_max_age_hours must be at least 1".into());
        }
        if self.storage.max_upload_sessions == 0 || self.storage.max_upload_sessions_per_user == 0 {
            problems.push(
                "storage.max_upload_sessions and max_upload_sessions_per_user must be at least 1"
                    .into(),
            );
        }
        if self.server.header_read_timeout_seconds == 0
            || self.server.idle_timeout_seconds == 0
            || self.server.max_connections == 0
        {
            problems.push("server: timeouts and max_connections must be at least 1".into());
        }
        if let Some(tls) = &self.tls {
            for (what, path) in [
                ("certificate", Some(&tls.certificate)),
                ("private_key", Some(&tls.private_key)),
                ("ca_certificate", tls.ca_certificate.as_ref()),
            ] {
                let Some(path) = path else { continue };
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

    /// The annotated example the packages ship must load, and show the real defaults.
    #[test]
    fn the_packaged_example_loads() {
        let text = include_str!("../../packaging/berth.toml.example");
        let config = Config::from_toml(text).expect("the example loads");
        assert_eq!(config.data_dir, default_data_dir());
        assert_eq!(config.token.service, default_service());
        assert_eq!(config.token.expiration_minutes, default_expiration());
        assert_eq!(
            config.storage.upload_max_age_hours,
            default_upload_max_age()
        );
        assert_eq!(
            config.system.login_max_failures,
            default_login_max_failures()
        );
        assert_eq!(
            config.system.session_timeout_minutes,
            default_session_timeout()
        );
        assert_eq!(
            config.system.audit_log_retention_days,
            default_audit_retention()
        );
        assert_eq!(config.system.robot_name_prefix, default_robot_prefix());
        let ldap = config.ldap.expect("ldap");
        assert_eq!(ldap.ldap_scope, default_ldap_scope());
        assert_eq!(ldap.ldap_timeout, default_ldap_timeout());
    }

    #[test]
    fn minimal_file_gets_defaults() {
        let c = Config::from_toml("[http]\nlisten = \"127.0.0.1:8080\"\n").expect("parses");
        assert_eq!(c.token.expiration_minutes, 30);
        assert_eq!(c.token.service, "harbor-registry");
        assert!(c.validate().is_ok());
    }

    #[test]
    fn ldap_settings_use_harbors_names_and_hide_the_password() {
        let c = Config::from_toml(
            "[http]\nlisten = \"127.0.0.1:1\"\n[auth]\nmode = \"ldap\"\n[ldap]\nldap_url = \"ldap://dc:389\"\n\
             ldap_base_dn = \"dc=example,dc=com\"\nldap_search_password = \"s3cret\"\nldap_uid = \"sAMAccountName\"\n",
        )
        .expect("parses");
        assert!(c.validate().is_ok());
        let l = c.ldap.expect("ldap");
        assert_eq!(
            (l.ldap_scope, l.ldap_timeout, l.ldap_verify_cert),
            (2, 5, true)
        );
        assert!(!format!("{l:?}").contains("s3cret"));
        let bad = Config::from_toml("[http]\nlisten = \"127.0.0.1:1\"\n[auth]\nmode = \"ldap\"\n")
            .expect("parses");
        assert!(bad.validate().is_err());
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
