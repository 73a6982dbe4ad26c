//! LDAP and Active Directory login, as Harbor does it: bind with the search DN, find exactly
//! one entry for the login name under the base DN (at the configured scope and filter), read
//! its groups, then bind as that entry with the given password. User input in filters is
//! escaped as RFC 4515 says. Every step is bounded by `ldap_timeout`.

use std::sync::Arc;
use std::time::Duration;

use ldap3::{ldap_escape, Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry};

use crate::config::LdapConfig;

#[derive(Debug, thiserror::Error)]
pub enum LdapError {
    #[error("cannot connect to the directory: {0}")]
    Connect(String),
    #[error("TLS with the directory failed: {0}")]
    Tls(String),
    #[error("the search DN could not bind: {0}")]
    SearchBind(String),
    #[error("searching the base DN failed: {0}")]
    Search(String),
    #[error("no directory entry matches this login name")]
    NotFound,
    #[error("{0} directory entries match this login name")]
    Ambiguous(usize),
    #[error("wrong password")]
    BadPassword,
    #[error("empty password")]
    EmptyPassword,
    #[error("the directory did not answer within {0} s")]
    Timeout(u64),
    #[error("{0}")]
    Config(String),
}

impl LdapError {
    /// Whether the user got something wrong (as opposed to the directory being unusable).
    pub fn is_credentials(&self) -> bool {
        matches!(
            self,
            LdapError::NotFound
                | LdapError::Ambiguous(_)
                | LdapError::BadPassword
                | LdapError::EmptyPassword
        )
    }
}

/// A user as the directory describes them.
#[derive(Debug, Clone)]
pub struct DirectoryUser {
    pub dn: String,
    pub username: String,
    pub email: Option<String>,
    pub display_name: String,
    /// DNs of the user's groups, from the membership attribute and from the group search.
    pub groups: Vec<String>,
}

pub struct Directory {
    cfg: LdapConfig,
    tls: Option<Arc<rustls::ClientConfig>>,
}

fn scope(n: u8) -> Scope {
    match n {
        0 => Scope::Base,
        1 => Scope::OneLevel,
        _ => Scope::Subtree,
    }
}

/// Sorts ldap3's errors into what an operator can act on.
fn classify(e: ldap3::LdapError) -> LdapError {
    let text = e.to_string();
    let lower = text.to_lowercase();
    if lower.contains("tls") || lower.contains("certificate") || lower.contains("handshake") {
        LdapError::Tls(text)
    } else {
        LdapError::Connect(text)
    }
}

impl Directory {
    pub fn new(cfg: LdapConfig) -> Result<Directory, LdapError> {
        let tls = match &cfg.ldap_ca_certificate {
            None => None,
            Some(path) => {
                use rustls::pki_types::pem::PemObject;
                use rustls::pki_types::CertificateDer;
                let mut roots = rustls::RootCertStore::empty();
                let certs = CertificateDer::pem_file_iter(path)
                    .map_err(|e| LdapError::Config(format!("reading {}: {e}", path.display())))?;
                for cert in certs {
                    let cert =
                        cert.map_err(|e| LdapError::Config(format!("{}: {e}", path.display())))?;
                    roots
                        .add(cert)
                        .map_err(|e| LdapError::Config(format!("{}: {e}", path.display())))?;
                }
                Some(Arc::new(
                    rustls::ClientConfig::builder()
                        .with_root_certificates(roots)
                        .with_no_client_auth(),
                ))
            }
        };
        Ok(Directory { cfg, tls })
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.cfg.ldap_timeout)
    }

    async fn connect(&self) -> Result<Ldap, LdapError> {
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(self.timeout())
            .set_starttls(self.cfg.ldap_starttls)
            .set_no_tls_verify(!self.cfg.ldap_verify_cert);
        if let Some(c) = &self.tls {
            settings = settings.set_config(c.clone());
        }
        let connecting = LdapConnAsync::with_settings(settings, &self.cfg.ldap_url);
        let (conn, ldap) = tokio::time::timeout(self.timeout(), connecting)
            .await
            .map_err(|_| LdapError::Timeout(self.cfg.ldap_timeout))?
            .map_err(classify)?;
        ldap3::drive!(conn);
        Ok(ldap)
    }

    /// Binds as the search DN (or stays anonymous when none is configured).
    async fn search_bind(&self, ldap: &mut Ldap) -> Result<(), LdapError> {
        if self.cfg.ldap_search_dn.is_empty() {
            return Ok(());
        }
        let result = ldap
            .with_timeout(self.timeout())
            .simple_bind(&self.cfg.ldap_search_dn, &self.cfg.ldap_search_password.0)
            .await
            .map_err(|e| self.operation_error(e, LdapError::SearchBind))?;
        result
            .success()
            .map(|_| ())
            .map_err(|e| LdapError::SearchBind(e.to_string()))
    }

    fn operation_error(&self, e: ldap3::LdapError, wrap: fn(String) -> LdapError) -> LdapError {
        match e {
            ldap3::LdapError::Timeout { .. } => LdapError::Timeout(self.cfg.ldap_timeout),
            other => wrap(other.to_string()),
        }
    }

    async fn search(
        &self,
        ldap: &mut Ldap,
        base: &str,
        scope_n: u8,
        filter: &str,
        attrs: Vec<String>,
    ) -> Result<Vec<SearchEntry>, LdapError> {
        let (entries, _) = ldap
            .with_timeout(self.timeout())
            .search(base, scope(scope_n), filter, attrs)
            .await
            .map_err(|e| self.operation_error(e, LdapError::Search))?
            .success()
            .map_err(|e| LdapError::Search(e.to_string()))?;
        Ok(entries.into_iter().map(SearchEntry::construct).collect())
    }

    /// The user filter: the configured one and the login name, escaped.
    fn user_filter(&self, username: &str) -> String {
        let extra = self.cfg.ldap_filter.trim();
        let extra = if extra.is_empty() {
            String::new()
        } else if extra.starts_with('(') {
            extra.to_string()
        } else {
            format!("({extra})")
        };
        format!(
            "(&{extra}({}={}))",
            self.cfg.ldap_uid,
            ldap_escape(username)
        )
    }

    /// Checks a login against the directory and returns who it is.
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<DirectoryUser, LdapError> {
        if password.is_empty() {
            return Err(LdapError::EmptyPassword);
        }
        if username.is_empty() {
            return Err(LdapError::NotFound);
        }
        let mut ldap = self.connect().await?;
        let result = self.authenticate_on(&mut ldap, username, password).await;
        let _ = ldap.unbind().await;
        result
    }

    async fn authenticate_on(
        &self,
        ldap: &mut Ldap,
        username: &str,
        password: &str,
    ) -> Result<DirectoryUser, LdapError> {
        self.search_bind(ldap).await?;
        let membership = self.cfg.ldap_group_membership_attribute.clone();
        let attrs = vec![
            self.cfg.ldap_uid.clone(),
            "mail".into(),
            "cn".into(),
            "displayName".into(),
            membership.clone(),
        ];
        let mut entries = self
            .search(
                ldap,
                &self.cfg.ldap_base_dn,
                self.cfg.ldap_scope,
                &self.user_filter(username),
                attrs,
            )
            .await?;
        let entry = match entries.len() {
            0 => return Err(LdapError::NotFound),
            1 => entries.remove(0),
            n => return Err(LdapError::Ambiguous(n)),
        };
        let first = |attr: &str| {
            entry
                .attrs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(attr))
                .and_then(|(_, v)| v.first().cloned())
        };
        let mut groups: Vec<String> = entry
            .attrs
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(&membership))
            .flat_map(|(_, v)| v.iter().cloned())
            .collect();
        // Groups that name the user as a member, found while still bound as the search DN.
        if !self.cfg.ldap_group_base_dn.is_empty() {
            let extra = self.cfg.ldap_group_search_filter.trim();
            let extra = if extra.is_empty() || extra.starts_with('(') {
                extra.to_string()
            } else {
                format!("({extra})")
            };
            let filter = format!(
                "(&{extra}(|(member={dn})(uniqueMember={dn})))",
                dn = ldap_escape(entry.dn.as_str())
            );
            let found = self
                .search(
                    ldap,
                    &self.cfg.ldap_group_base_dn,
                    self.cfg.ldap_group_search_scope,
                    &filter,
                    vec!["dn".to_string()],
                )
                .await?;
            for g in found {
                if !groups.iter().any(|x| x.eq_ignore_ascii_case(&g.dn)) {
                    groups.push(g.dn);
                }
            }
        }
        let bound = ldap
            .with_timeout(self.timeout())
            .simple_bind(&entry.dn, password)
            .await
            .map_err(|e| self.operation_error(e, LdapError::Search))?;
        match bound.rc {
            0 => {}
            49 => return Err(LdapError::BadPassword),
            _ => return Err(LdapError::Search(bound.to_string())),
        }
        Ok(DirectoryUser {
            username: first(&self.cfg.ldap_uid).unwrap_or_else(|| username.to_string()),
            email: first("mail"),
            display_name: first("displayName")
                .or_else(|| first("cn"))
                .unwrap_or_default(),
            dn: entry.dn.clone(),
            groups,
        })
    }

    /// Whether the user is in the configured admin group.
    pub fn is_admin(&self, user: &DirectoryUser) -> bool {
        let admin = self.cfg.ldap_group_admin_dn.trim();
        !admin.is_empty() && user.groups.iter().any(|g| g.eq_ignore_ascii_case(admin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directory(filter: &str) -> Directory {
        let cfg: crate::config::Config = crate::config::Config::from_toml(&format!(
            "[ldap]\nldap_url = \"ldap://127.0.0.1:1\"\nldap_base_dn = \"dc=x\"\nldap_uid = \"uid\"\nldap_filter = \"{filter}\"\n"
        ))
        .expect("parses");
        Directory::new(cfg.ldap.expect("ldap")).expect("directory")
    }

    #[test]
    fn filters_escape_user_input() {
        let d = directory("objectClass=person");
        assert_eq!(d.user_filter("alice"), "(&(objectClass=person)(uid=alice))");
        assert_eq!(d.user_filter("*"), "(&(objectClass=person)(uid=\\2a))");
        assert_eq!(
            d.user_filter("a)(uid=*"),
            "(&(objectClass=person)(uid=a\\29\\28uid=\\2a))"
        );
        assert_eq!(
            d.user_filter("back\\slash"),
            "(&(objectClass=person)(uid=back\\5cslash))"
        );
        assert_eq!(
            d.user_filter("nul\0"),
            "(&(objectClass=person)(uid=nul\\00))"
        );
        assert_eq!(
            d.user_filter("jürgen"),
            "(&(objectClass=person)(uid=jürgen))"
        );
        assert_eq!(directory("").user_filter("bob"), "(&(uid=bob))");
    }

    #[tokio::test]
    async fn an_unreachable_directory_fails_fast_and_clearly() {
        let d = directory("");
        let started = std::time::Instant::now();
        let err = d
            .authenticate("alice", "pw")
            .await
            .expect_err("nothing listens on port 1");
        assert!(
            matches!(err, LdapError::Connect(_) | LdapError::Timeout(_)),
            "{err}"
        );
        assert!(!err.is_credentials());
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(matches!(
            d.authenticate("alice", "").await,
            Err(LdapError::EmptyPassword)
        ));
    }
}
