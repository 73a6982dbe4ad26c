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
    #[error("searching the directory failed: {0}")]
    Search(String),
    #[error("the base DN {0:?} does not exist in the directory")]
    NoSuchBase(String),
    #[error("{0:?} is not a valid DN")]
    InvalidDn(String),
    #[error("no directory entry matches this login name")]
    NotFound,
    #[error("more than one directory entry ({0} or more) matches this login name")]
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
    /// A connection bound as the search DN, kept between logins so that a login costs the
    /// directory one bind (the user's), not two.
    searcher: tokio::sync::Mutex<Option<Ldap>>,
}

/// A group as the directory describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryGroup {
    pub dn: String,
    pub name: String,
}

/// Most entries a helper search returns: they fill a picker, not a report.
const SEARCH_LIMIT: i32 = 100;

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

/// A DN in the form used to compare two DNs: lower case, no spaces around `,`, `=` and `+`.
/// Directories hand the same DN back in different spellings (`CN=Devs, OU=Groups`).
pub fn dn_key(dn: &str) -> String {
    let mut out = String::with_capacity(dn.len());
    let (mut escaped, mut after_separator) = (false, false);
    for ch in dn.trim().chars() {
        if !escaped && matches!(ch, ',' | '=' | '+') {
            while out.ends_with(' ') {
                out.pop();
            }
            out.push(ch);
            after_separator = true;
            continue;
        }
        if after_separator && ch == ' ' {
            continue;
        }
        after_separator = false;
        escaped = !escaped && ch == '\\';
        out.extend(ch.to_lowercase());
    }
    out
}

/// `(filter)` for a configured filter written with or without its parentheses; empty stays
/// empty.
fn parenthesised(filter: &str) -> String {
    let f = filter.trim();
    if f.is_empty() || f.starts_with('(') {
        f.to_string()
    } else {
        format!("({f})")
    }
}

fn first_value(entry: &SearchEntry, attr: &str) -> Option<String> {
    entry
        .attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(attr))
        .and_then(|(_, v)| v.first().cloned())
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
        Ok(Directory {
            cfg,
            tls,
            searcher: tokio::sync::Mutex::new(None),
        })
    }

    pub fn config(&self) -> &LdapConfig {
        &self.cfg
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

    /// The kept search connection, opened and bound as the search DN when there is none. The
    /// lock is not held while connecting, so a directory that does not answer delays each
    /// login by one timeout, not by one per login queued before it.
    async fn searcher(&self) -> Result<Ldap, LdapError> {
        if let Some(ldap) = self.searcher.lock().await.as_mut() {
            if !ldap.is_closed() {
                return Ok(ldap.clone());
            }
        }
        let mut ldap = self.connect().await?;
        self.search_bind(&mut ldap).await?;
        *self.searcher.lock().await = Some(ldap.clone());
        Ok(ldap)
    }

    /// A search on the kept connection. A connection the directory has dropped (a restart, an
    /// idle timeout) is replaced once; result codes are not retried.
    async fn search(
        &self,
        base: &str,
        scope_n: u8,
        filter: &str,
        attrs: &[&str],
        limit: i32,
    ) -> Result<Vec<SearchEntry>, LdapError> {
        let mut retried = false;
        loop {
            let mut ldap = self.searcher().await?;
            let found = ldap
                .with_timeout(self.timeout())
                .with_search_options(ldap3::SearchOptions::new().sizelimit(limit))
                .search(base, scope(scope_n), filter, attrs.to_vec())
                .await;
            let ldap3::SearchResult(entries, result) = match found {
                Ok(r) => r,
                Err(ldap3::LdapError::Timeout { .. }) => {
                    return Err(LdapError::Timeout(self.cfg.ldap_timeout))
                }
                Err(e) if !retried => {
                    tracing::info!(error = %e, "the directory dropped the search connection; reconnecting");
                    *self.searcher.lock().await = None;
                    retried = true;
                    continue;
                }
                Err(e) => return Err(LdapError::Search(e.to_string())),
            };
            // 4 is sizeLimitExceeded: the entries up to the limit are still good.
            return match result.rc {
                0 | 4 => Ok(entries.into_iter().map(SearchEntry::construct).collect()),
                32 => Err(LdapError::NoSuchBase(base.to_string())),
                34 => Err(LdapError::InvalidDn(base.to_string())),
                _ => Err(LdapError::Search(result.to_string())),
            };
        }
    }

    /// The user filter: the configured one and `uid_clause`, which the caller has escaped.
    fn user_filter_with(&self, uid_clause: &str) -> String {
        format!(
            "(&{}({}={uid_clause}))",
            parenthesised(&self.cfg.ldap_filter),
            self.cfg.ldap_uid
        )
    }

    /// The user filter for one login name.
    fn user_filter(&self, username: &str) -> String {
        self.user_filter_with(&ldap_escape(username))
    }

    fn user_attributes(&self) -> Vec<&str> {
        vec![
            self.cfg.ldap_uid.as_str(),
            "mail",
            "email",
            "cn",
            "displayName",
            self.cfg.ldap_group_membership_attribute.as_str(),
        ]
    }

    fn directory_user(&self, entry: &SearchEntry, fallback_name: &str) -> DirectoryUser {
        let membership = &self.cfg.ldap_group_membership_attribute;
        DirectoryUser {
            username: first_value(entry, &self.cfg.ldap_uid)
                .unwrap_or_else(|| fallback_name.to_string()),
            email: first_value(entry, "mail").or_else(|| first_value(entry, "email")),
            display_name: first_value(entry, "displayName")
                .or_else(|| first_value(entry, "cn"))
                .unwrap_or_default(),
            dn: entry.dn.clone(),
            groups: entry
                .attrs
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(membership))
                .flat_map(|(_, v)| v.iter().cloned())
                .collect(),
        }
    }

    /// The one entry for a login name, with its groups, without checking a password.
    pub async fn find_user(&self, username: &str) -> Result<DirectoryUser, LdapError> {
        if username.is_empty() {
            return Err(LdapError::NotFound);
        }
        let mut entries = self
            .search(
                &self.cfg.ldap_base_dn,
                self.cfg.ldap_scope,
                &self.user_filter(username),
                &self.user_attributes(),
                2,
            )
            .await?;
        let entry = match entries.len() {
            0 => return Err(LdapError::NotFound),
            1 => entries.remove(0),
            n => return Err(LdapError::Ambiguous(n)),
        };
        let mut user = self.directory_user(&entry, username);
        // Groups that name the user as a member.
        if !self.cfg.ldap_group_base_dn.is_empty() {
            let filter = format!(
                "(&{}(|(member={dn})(uniqueMember={dn})))",
                parenthesised(&self.cfg.ldap_group_search_filter),
                dn = ldap_escape(entry.dn.as_str())
            );
            let found = self
                .search(
                    &self.cfg.ldap_group_base_dn,
                    self.cfg.ldap_group_search_scope,
                    &filter,
                    &["1.1"],
                    0,
                )
                .await?;
            for g in found {
                if !user.groups.iter().any(|x| dn_key(x) == dn_key(&g.dn)) {
                    user.groups.push(g.dn);
                }
            }
        }
        Ok(user)
    }

    /// Checks a login against the directory and returns who it is. The searches run on the
    /// kept search connection; the password is checked by one bind on a connection of its own.
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<DirectoryUser, LdapError> {
        if password.is_empty() {
            return Err(LdapError::EmptyPassword);
        }
        let user = self.find_user(username).await?;
        let mut ldap = self.connect().await?;
        let bound = ldap
            .with_timeout(self.timeout())
            .simple_bind(&user.dn, password)
            .await
            .map_err(|e| self.operation_error(e, LdapError::Search));
        let _ = ldap.unbind().await;
        match bound?.rc {
            0 => Ok(user),
            49 => Err(LdapError::BadPassword),
            rc => Err(LdapError::Search(format!("bind answered result code {rc}"))),
        }
    }

    /// Users whose login name contains `fragment` (all users when it is empty), for the
    /// "add member" and import pickers.
    pub async fn search_users(&self, fragment: &str) -> Result<Vec<DirectoryUser>, LdapError> {
        let clause = if fragment.is_empty() {
            "*".to_string()
        } else {
            format!("*{}*", ldap_escape(fragment))
        };
        let entries = self
            .search(
                &self.cfg.ldap_base_dn,
                self.cfg.ldap_scope,
                &self.user_filter_with(&clause),
                &self.user_attributes(),
                SEARCH_LIMIT,
            )
            .await?;
        Ok(entries
            .iter()
            .map(|e| self.directory_user(e, ""))
            .filter(|u| !u.username.is_empty())
            .collect())
    }

    /// Groups by DN (exactly that entry) or by a fragment of their name.
    pub async fn search_groups(
        &self,
        name: &str,
        dn: Option<&str>,
    ) -> Result<Vec<DirectoryGroup>, LdapError> {
        let name_attr = self.cfg.ldap_group_attribute_name.as_str();
        let class = parenthesised(&self.cfg.ldap_group_search_filter);
        let (base, scope_n, filter) = match dn {
            Some(dn) => (dn.to_string(), 0, format!("(&{class}(objectClass=*))")),
            None => {
                if self.cfg.ldap_group_base_dn.is_empty() {
                    return Err(LdapError::Config(
                        "ldap_group_base_dn is not set, so groups can only be found by DN".into(),
                    ));
                }
                let clause = if name.is_empty() {
                    "*".to_string()
                } else {
                    format!("*{}*", ldap_escape(name))
                };
                (
                    self.cfg.ldap_group_base_dn.clone(),
                    self.cfg.ldap_group_search_scope,
                    format!("(&{class}({name_attr}={clause}))"),
                )
            }
        };
        let entries = match self
            .search(&base, scope_n, &filter, &[name_attr], SEARCH_LIMIT)
            .await
        {
            Err(LdapError::NoSuchBase(_) | LdapError::InvalidDn(_)) if dn.is_some() => vec![],
            other => other?,
        };
        Ok(entries
            .iter()
            .map(|e| DirectoryGroup {
                dn: e.dn.clone(),
                name: first_value(e, name_attr).unwrap_or_else(|| e.dn.clone()),
            })
            .collect())
    }

    /// Tests the settings step by step on a fresh connection, and says which step failed:
    /// connecting (or TLS), the search bind, or the base DN.
    pub async fn ping(&self) -> Result<(), LdapError> {
        let mut ldap = self.connect().await?;
        let result = async {
            self.search_bind(&mut ldap).await?;
            let found = ldap
                .with_timeout(self.timeout())
                .search(
                    &self.cfg.ldap_base_dn,
                    Scope::Base,
                    "(objectClass=*)",
                    vec!["1.1"],
                )
                .await
                .map_err(|e| self.operation_error(e, LdapError::Search))?;
            match found.1.rc {
                0 => Ok(()),
                32 => Err(LdapError::NoSuchBase(self.cfg.ldap_base_dn.clone())),
                34 => Err(LdapError::InvalidDn(self.cfg.ldap_base_dn.clone())),
                _ => Err(LdapError::Search(found.1.to_string())),
            }
        }
        .await;
        let _ = ldap.unbind().await;
        result
    }

    /// Whether the user is in the configured admin group.
    pub fn is_admin(&self, user: &DirectoryUser) -> bool {
        let admin = self.cfg.ldap_group_admin_dn.trim();
        !admin.is_empty() && user.groups.iter().any(|g| dn_key(g) == dn_key(admin))
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

    #[test]
    fn dns_compare_by_key() {
        assert_eq!(
            dn_key("CN=Devs, OU=Groups ,DC=Example"),
            "cn=devs,ou=groups,dc=example"
        );
        assert_eq!(dn_key(r" cn = a\, b ,dc=x"), r"cn=a\, b,dc=x");
        assert_eq!(dn_key("cn=Jürgen,dc=x"), "cn=jürgen,dc=x");
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
