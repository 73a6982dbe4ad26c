//! The answers to the wizard's questions, from its screens or from an answers file, and the
//! checks each must pass. Both ways in go through [`Answers::check`], so they cannot disagree.

use std::net::IpAddr;
use std::path::PathBuf;

use berth::config::LdapConfig;
use serde::Deserialize;

/// One wrong answer: the field it belongs to (as the answers file names it) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct AnswerError {
    pub field: &'static str,
    pub message: String,
}

pub fn wrong(field: &'static str, message: impl Into<String>) -> AnswerError {
    AnswerError {
        field,
        message: message.into(),
    }
}

/// Everything setup needs to know. The admin password is only ever held here, in memory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answers {
    /// The name (or IP address) clients use to reach the registry.
    pub hostname: String,
    /// Required on a system not configured yet; left out on a configured one, the admin keeps
    /// the current password.
    #[serde(default)]
    pub admin_password: Option<String>,
    #[serde(default)]
    pub auth: AuthAnswer,
    /// Directory settings (Harbor's `ldap_*` names), when `auth.mode = "ldap"`.
    #[serde(default)]
    pub ldap: Option<LdapConfig>,
    #[serde(default)]
    pub tls: TlsAnswer,
    #[serde(default)]
    pub network: NetworkAnswer,
    #[serde(default)]
    pub storage: StorageAnswer,
    /// The machine itself, for the appliance only (`berth-setup --appliance`).
    #[serde(default)]
    pub appliance: Option<ApplianceAnswer>,
}

/// How the appliance's network is configured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AddressingMode {
    #[default]
    Dhcp,
    Static,
}

/// The appliance's machine: its network, and the ways an operator may log in to it. None of
/// these has a default that lets anyone in.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplianceAnswer {
    #[serde(default)]
    pub network: AddressingMode,
    /// `address/prefix`, for `static`.
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub gateway: Option<IpAddr>,
    #[serde(default)]
    pub dns: Vec<IpAddr>,
    /// Turns SSH on, for root, with these keys only.
    #[serde(default)]
    pub ssh_authorized_keys: Vec<String>,
    /// Lets root log in on the console (never over SSH).
    #[serde(default)]
    pub root_password: Option<String>,
}

impl ApplianceAnswer {
    /// The static address and its prefix length.
    pub fn static_address(&self) -> Result<Option<(IpAddr, u8)>, AnswerError> {
        let field = "appliance.address";
        match (self.network, &self.address) {
            (AddressingMode::Dhcp, None) => Ok(None),
            (AddressingMode::Dhcp, Some(_)) => Err(wrong(
                field,
                "is only used with appliance.network = \"static\"",
            )),
            (AddressingMode::Static, None) => Err(wrong(
                field,
                "is required with appliance.network = \"static\" (e.g. 192.0.2.10/24)",
            )),
            (AddressingMode::Static, Some(text)) => {
                let bad = || {
                    wrong(
                        field,
                        format!(
                            "{text:?} is not an address with its prefix length, e.g. 192.0.2.10/24"
                        ),
                    )
                };
                let (ip, prefix) = text.trim().split_once('/').ok_or_else(bad)?;
                let ip: IpAddr = ip.parse().map_err(|_| bad())?;
                let prefix: u8 = prefix.parse().map_err(|_| bad())?;
                let max = if ip.is_ipv4() { 32 } else { 128 };
                if prefix == 0 || prefix > max || ip.is_unspecified() || ip.is_loopback() {
                    return Err(bad());
                }
                Ok(Some((ip, prefix)))
            }
        }
    }

    pub fn check(&self) -> Result<(), AnswerError> {
        self.static_address()?;
        if self.network == AddressingMode::Dhcp && (self.gateway.is_some() || !self.dns.is_empty())
        {
            return Err(wrong(
                "appliance.gateway",
                "gateway and dns are only used with appliance.network = \"static\"",
            ));
        }
        for key in &self.ssh_authorized_keys {
            let mut parts = key.split_whitespace();
            let kind = parts.next().unwrap_or("");
            let blob = parts.next().unwrap_or("");
            let known = kind.starts_with("ssh-")
                || kind.starts_with("ecdsa-sha2-")
                || kind.starts_with("sk-");
            if !known || blob.len() < 16 || key.contains(['\n', '\r']) {
                return Err(wrong(
                    "appliance.ssh_authorized_keys",
                    "each entry must be one public key line, e.g. \"ssh-ed25519 AAAA... you@host\"",
                ));
            }
        }
        if let Some(password) = &self.root_password {
            if password.chars().count() < 8
                || password.contains(':')
                || password.chars().any(char::is_control)
            {
                return Err(wrong(
                    "appliance.root_password",
                    "must be at least 8 characters, without a colon or control characters",
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthAnswer {
    #[serde(default)]
    pub mode: berth::config::AuthMode,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// A private CA and a server certificate made here.
    #[default]
    Generate,
    /// The operator's certificate and key.
    Provided,
    /// Plain HTTP only.
    None,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsAnswer {
    #[serde(default)]
    pub mode: TlsMode,
    /// PEM certificate chain (server certificate first), for `provided`.
    #[serde(default)]
    pub certificate: Option<PathBuf>,
    /// PEM private key, for `provided`.
    #[serde(default)]
    pub private_key: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkAnswer {
    /// Plain HTTP; 0 turns it off (allowed only with HTTPS).
    #[serde(default = "default_http_port")]
    pub http_port: u16,
    #[serde(default = "default_https_port")]
    pub https_port: u16,
    /// The address to listen on.
    #[serde(default = "default_listen")]
    pub listen_address: IpAddr,
}

impl Default for NetworkAnswer {
    fn default() -> Self {
        NetworkAnswer {
            http_port: default_http_port(),
            https_port: default_https_port(),
            listen_address: default_listen(),
        }
    }
}

fn default_http_port() -> u16 {
    80
}
fn default_https_port() -> u16 {
    443
}
fn default_listen() -> IpAddr {
    IpAddr::from([0, 0, 0, 0])
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageAnswer {
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
}

impl Default for StorageAnswer {
    fn default() -> Self {
        StorageAnswer {
            data_dir: default_data_dir(),
        }
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("/var/lib/berth")
}

/// A hostname as RFC 1123 allows (letters, digits, hyphens; labels of 1 to 63; at most 253),
/// or an IP address.
pub fn check_hostname(host: &str) -> Result<(), AnswerError> {
    if host.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let field = "hostname";
    if host.is_empty() {
        return Err(wrong(
            field,
            "is empty: give the name or IP address clients will use",
        ));
    }
    if host.len() > 253 {
        return Err(wrong(field, "is longer than 253 characters"));
    }
    for label in host.trim_end_matches('.').split('.') {
        let ok = (1..=63).contains(&label.len())
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(wrong(
                field,
                format!("{host:?} is not a host name or IP address (label {label:?})"),
            ));
        }
    }
    if host.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(wrong(field, format!("{host:?} is not a valid IP address")));
    }
    Ok(())
}

/// The data directory: absolute, not one of the system's own directories (setup gives it to
/// the daemon's user), and plain enough to go in a unit file's `ReadWritePaths=`.
pub fn check_data_dir(dir: &std::path::Path) -> Result<(), AnswerError> {
    let field = "storage.data_dir";
    if !dir.is_absolute() {
        return Err(wrong(field, "must be an absolute path"));
    }
    let text = dir.to_string_lossy();
    if text
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\' || c == '%')
    {
        return Err(wrong(
            field,
            "must not hold spaces, control characters, backslashes or %",
        ));
    }
    let normal = dir.components().collect::<std::path::PathBuf>();
    const SYSTEM: [&str; 16] = [
        "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/opt", "/proc", "/root",
        "/run", "/sbin", "/sys", "/usr", "/var",
    ];
    if SYSTEM.iter().any(|s| normal == std::path::Path::new(s))
        || dir
            .components()
            .any(|c| c == std::path::Component::ParentDir)
    {
        return Err(wrong(
            field,
            format!(
                "{} is a system directory: choose one of its own, e.g. /var/lib/berth",
                dir.display()
            ),
        ));
    }
    Ok(())
}

/// Harbor's password rule, as the daemon enforces it.
pub fn check_admin_password(password: &str) -> Result<(), AnswerError> {
    berth::service::users::check_password(password)
        .map_err(|e| wrong("admin_password", e.to_string()))
}

/// A parser's message without the value it quotes: "invalid type: integer `12345678`" would
/// show a password given as a number on the console and in the journal.
fn without_values(message: &str) -> String {
    if !(message.starts_with("invalid type") || message.starts_with("invalid value")) {
        return message.to_string();
    }
    let mut out = String::new();
    for (i, part) in message.split('`').enumerate() {
        out.push_str(if i % 2 == 1 {
            "(value not shown)"
        } else {
            part
        });
    }
    out
}

impl Answers {
    /// Answers assembled as a table (from the OVF environment), with the file's rules.
    pub fn from_table(table: toml::Table) -> Result<Answers, AnswerError> {
        toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| wrong("answers", without_values(e.message())))
    }

    pub fn from_toml(text: &str) -> Result<Answers, AnswerError> {
        toml::from_str(text).map_err(|e| wrong("answers", without_values(e.message())))
    }

    /// Every check that needs no network and no files beyond the provided certificate.
    pub fn check(&self) -> Result<(), AnswerError> {
        check_hostname(&self.hostname)?;
        if let Some(password) = &self.admin_password {
            check_admin_password(password)?;
        }
        match (&self.auth.mode, &self.ldap) {
            (berth::config::AuthMode::Ldap, None) => {
                return Err(wrong(
                    "ldap",
                    "auth.mode is \"ldap\" but there is no [ldap] section",
                ))
            }
            (berth::config::AuthMode::Ldap, Some(l)) => {
                if let Some(problem) = l.problems().into_iter().next() {
                    return Err(wrong("ldap", problem));
                }
            }
            _ => {}
        }
        let net = &self.network;
        match self.tls.mode {
            TlsMode::None if net.http_port == 0 => {
                return Err(wrong(
                    "network.http_port",
                    "must not be 0 when TLS is off: nothing would listen",
                ))
            }
            TlsMode::Generate | TlsMode::Provided if net.https_port == 0 => {
                return Err(wrong("network.https_port", "must not be 0 when TLS is on"))
            }
            _ => {}
        }
        if self.tls.mode != TlsMode::None && net.http_port == net.https_port {
            return Err(wrong(
                "network.http_port",
                "must differ from network.https_port",
            ));
        }
        if self.tls.mode == TlsMode::Provided {
            if self.tls.certificate.is_none() {
                return Err(wrong(
                    "tls.certificate",
                    "is required when tls.mode = \"provided\"",
                ));
            }
            if self.tls.private_key.is_none() {
                return Err(wrong(
                    "tls.private_key",
                    "is required when tls.mode = \"provided\"",
                ));
            }
        }
        check_data_dir(&self.storage.data_dir)?;
        if let Some(appliance) = &self.appliance {
            appliance.check()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames() {
        for ok in [
            "registry.example.com",
            "localhost",
            "10.0.0.5",
            "::1",
            "a-b.c1.org.",
        ] {
            assert!(check_hostname(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-a.com",
            "a..b",
            "under_score.com",
            "spa ce",
            "999.1.1.1",
            &"a".repeat(64),
        ] {
            let e = check_hostname(bad).expect_err(bad);
            assert_eq!(e.field, "hostname");
        }
    }

    #[test]
    fn answers_are_checked_field_by_field() {
        let base = "hostname = \"reg.example.com\"\nadmin_password = \"Harbor12345\"\n";
        assert!(Answers::from_toml(base).expect("parses").check().is_ok());
        let weak =
            Answers::from_toml("hostname = \"reg.example.com\"\nadmin_password = \"short\"\n")
                .expect("parses");
        assert_eq!(weak.check().expect_err("weak").field, "admin_password");
        let ldap_without =
            Answers::from_toml(&format!("{base}[auth]\nmode = \"ldap\"\n")).expect("parses");
        assert_eq!(ldap_without.check().expect_err("no ldap").field, "ldap");
        let provided =
            Answers::from_toml(&format!("{base}[tls]\nmode = \"provided\"\n")).expect("parses");
        assert_eq!(
            provided.check().expect_err("no cert").field,
            "tls.certificate"
        );
        let no_listener = Answers::from_toml(&format!(
            "{base}[tls]\nmode = \"none\"\n[network]\nhttp_port = 0\n"
        ))
        .expect("parses");
        assert_eq!(
            no_listener.check().expect_err("nothing").field,
            "network.http_port"
        );
        assert!(Answers::from_toml(&format!("{base}colour = \"blue\"\n")).is_err());
    }

    #[test]
    fn system_directories_and_odd_paths_are_no_data_directory() {
        for bad in [
            "/",
            "/etc",
            "/usr/",
            "/var/lib/../..",
            "/srv/my data",
            "/srv/a\nb",
        ] {
            let e = check_data_dir(std::path::Path::new(bad)).expect_err(bad);
            assert_eq!(e.field, "storage.data_dir");
        }
        for ok in ["/var/lib/berth", "/srv/berth", "/data"] {
            assert!(check_data_dir(std::path::Path::new(ok)).is_ok(), "{ok}");
        }
    }

    #[test]
    fn a_password_given_as_a_number_is_not_repeated_in_the_error() {
        let e = Answers::from_toml("hostname = \"r.example.com\"\nadmin_password = 98765432\n")
            .expect_err("a number");
        assert!(!e.message.contains("98765432"), "{}", e.message);
        let control = Answers::from_toml(
            "hostname = \"r.example.com\"\nadmin_password = \"Harbor12345\"\n\
             [appliance]\nroot_password = \"\\u0000xxxxxxxxx\"\n",
        )
        .expect("parses");
        assert_eq!(
            control.check().expect_err("control").field,
            "appliance.root_password"
        );
    }
}
