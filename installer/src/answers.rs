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
            if password.chars().count() < 8 || password.contains(['\n', ':']) {
                return Err(wrong(
                    "appliance.root_password",
                    "must be at least 8 characters, without a colon or a line break",
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

/// Harbor's password rule, as the daemon enforces it.
pub fn check_admin_password(password: &str) -> Result<(), AnswerError> {
    berth::service::users::check_password(password)
        .map_err(|e| wrong("admin_password", e.to_string()))
}

impl Answers {
    /// Answers assembled as a table (from the OVF environment), with the file's rules.
    pub fn from_table(table: toml::Table) -> Result<Answers, AnswerError> {
        toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| wrong("answers", e.message().to_string()))
    }

    pub fn from_toml(text: &str) -> Result<Answers, AnswerError> {
        toml::from_str(text).map_err(|e| {
            let message = e.message().to_string();
            // Name the field serde complained about when it says which.
            wrong("answers", message)
        })
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
        if !self.storage.data_dir.is_absolute() {
            return Err(wrong("storage.data_dir", "must be an absolute path"));
        }
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
}
