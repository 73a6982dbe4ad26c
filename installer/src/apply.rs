//! Applying answers to a system (or to another root): certificates, the configuration file,
//! the data directory with the admin's argon2id hash, the "configured" mark, and the service.
//!
//! Nothing is half-written: every file is written beside its final name and fsynced, and
//! only when everything before has worked are they renamed into place; a failure removes
//! what was staged and puts back anything a rename replaced.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth::config::AuthMode;
use berth::settings::Settings;

use crate::answers::{wrong, AnswerError, Answers, TlsMode};
use crate::certs::{self, TlsFiles};
use crate::machine;

/// Where things go, relative to the root being configured.
pub const CONFIG_PATH: &str = "/etc/berth/berth.toml";
pub const TLS_DIR: &str = "/etc/berth/tls";
/// Present once setup has completed; `berth-firstboot.service` runs only while it is absent.
pub const CONFIGURED_MARK: &str = "/etc/berth/configured";
/// The unit's own data directory (`StateDirectory=berth`); any other needs a drop-in, because
/// `ProtectSystem=strict` makes the rest of the file system read-only for berthd.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/berth";
/// The directory's CA, copied here: berthd (user berth, `ProtectHome`) must be able to read it
/// wherever the operator's copy was.
pub const LDAP_CA_PATH: &str = "/etc/berth/tls/ldap-ca.crt";
pub const DATA_DIR_DROP_IN: &str = "/etc/systemd/system/berthd.service.d/data-dir.conf";

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Answer(#[from] AnswerError),
    #[error("{0}")]
    System(String),
}

fn sys(what: impl std::fmt::Display) -> ApplyError {
    ApplyError::System(what.to_string())
}

/// What the last screen shows.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub url: String,
    /// `host[:port]` as `docker login` takes it.
    pub registry: String,
    pub ca_fingerprint: Option<String>,
    /// Where the CA certificate was written, in the target system.
    pub ca_path: Option<String>,
    pub started: bool,
    /// How to start the daemon, when setup did not.
    pub start_hint: Option<String>,
}

impl Outcome {
    pub fn docker_login(&self) -> String {
        format!("docker login {} -u admin", self.registry)
    }

    /// What the operator needs afterwards, one line each: printed at the end of both modes.
    pub fn summary_lines(&self) -> Vec<(&'static str, String)> {
        let mut lines = vec![("URL", self.url.clone())];
        if let Some(fp) = &self.ca_fingerprint {
            // 32 bytes as AB: is 95 characters: two lines of 16 bytes read better.
            let split = fp.char_indices().nth(48).map_or(fp.len(), |(i, _)| i);
            let (first, second) = fp.split_at(split);
            lines.push(("CA SHA-256", format!("{first}\n{second}")));
        }
        lines.push(("Log in with", self.docker_login()));
        if let Some(hint) = self.trust_hint() {
            lines.push(("Trust the CA", hint));
        }
        match &self.start_hint {
            Some(hint) => lines.push(("Start it", hint.clone())),
            None if self.started => lines.push(("Service", "berthd.service is running".into())),
            None => {}
        }
        lines
    }

    pub fn trust_hint(&self) -> Option<String> {
        self.ca_path.as_ref().map(|ca| {
            format!(
                "on each Docker host, copy {ca} from this machine to \
                 /etc/docker/certs.d/{reg}/ca.crt\n(or download {url}/api/v2.0/systeminfo/getcert \
                 and check its SHA-256 against the one above)",
                reg = self.registry,
                url = self.url
            )
        })
    }
}

pub struct Options {
    /// The root of the system to configure: `/` normally, another directory for tests and
    /// image builds.
    pub root: PathBuf,
    /// Enable and (re)start `berthd.service` when systemd runs this system.
    pub start: bool,
    /// This is the appliance: configure its machine too (host name, network, SSH, console
    /// password, login banner; see [`crate::machine`]).
    pub appliance: bool,
    /// Only configure a system nobody has configured yet (a first-boot wizard, which another
    /// console may have beaten to it).
    pub only_unconfigured: bool,
}

/// Held while answers are applied to the running system: two consoles' wizards (or a wizard
/// and a seed disk) never write at once. In `/run`, so it leaves nothing behind.
pub const LOCK_PATH: &str = "/run/berth-setup.lock";

/// Takes the lock when `root` is this running system (another root has no consoles racing).
fn lock_live_system(root: &Path) -> Result<Option<fs::File>, ApplyError> {
    if root != Path::new("/") || !Path::new("/run").is_dir() {
        return Ok(None);
    }
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(LOCK_PATH)
        .map_err(|e| sys(format!("opening {LOCK_PATH}: {e}")))?;
    lock.try_lock().map_err(|_| {
        sys("setup is already being applied (on another console?): wait for it to finish")
    })?;
    Ok(Some(lock))
}

/// The uid and gid of the daemon's user in the target root, when the package created it.
fn berth_ids(root: &Path) -> Option<(u32, u32)> {
    let field = |file: &str, idx: usize| -> Option<u32> {
        let text = fs::read_to_string(root.join(file)).ok()?;
        text.lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.first() == Some(&"berth"))
            .and_then(|f| f.get(idx).and_then(|v| v.parse().ok()))
    };
    Some((field("etc/passwd", 2)?, field("etc/group", 2)?))
}

fn under(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

/// Files written aside, renamed into place together.
#[derive(Default)]
struct Staged {
    /// (temporary path, final path)
    files: Vec<(PathBuf, PathBuf)>,
}

impl Staged {
    fn write(
        &mut self,
        path: PathBuf,
        contents: &[u8],
        mode: u32,
        group: Option<u32>,
    ) -> Result<(), ApplyError> {
        let dir = path
            .parent()
            .ok_or_else(|| sys(format!("{} has no directory", path.display())))?;
        create_dirs(dir)?;
        let tmp = dir.join(format!(
            ".{}.berth-setup",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
        ));
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .map_err(|e| sys(format!("writing {}: {e}", tmp.display())))?;
        self.files.push((tmp.clone(), path.clone()));
        f.write_all(contents)
            .and_then(|_| f.sync_all())
            .map_err(|e| sys(format!("writing {}: {e}", tmp.display())))?;
        // The mode given at creation is masked by the umask; set it exactly.
        fs::set_permissions(&tmp, fs::Permissions::from_mode(mode))
            .map_err(|e| sys(format!("chmod {}: {e}", tmp.display())))?;
        if let Some(gid) = group {
            chown(&tmp, None, Some(gid))?;
        }
        Ok(())
    }

    /// Renames every staged file into place; on failure, puts back what was replaced.
    fn commit(mut self) -> Result<(), ApplyError> {
        let mut done: Vec<(PathBuf, Option<PathBuf>)> = Vec::new();
        for (tmp, path) in std::mem::take(&mut self.files) {
            // server.crt and server.key must not share one backup name.
            let backup = PathBuf::from(format!("{}.berth-setup-old", path.display()));
            let had = path.exists();
            let step = (|| {
                if had {
                    fs::rename(&path, &backup)?;
                }
                fs::rename(&tmp, &path)
            })();
            if let Err(e) = step {
                for (p, old) in done.into_iter().rev() {
                    let _ = fs::remove_file(&p);
                    if let Some(old) = old {
                        let _ = fs::rename(old, &p);
                    }
                }
                let _ = fs::remove_file(&tmp);
                return Err(sys(format!("putting {} in place: {e}", path.display())));
            }
            done.push((path, had.then_some(backup)));
        }
        for (_, old) in done {
            if let Some(old) = old {
                let _ = fs::remove_file(old);
            }
        }
        Ok(())
    }
}

impl Drop for Staged {
    /// Whatever was not committed is removed.
    fn drop(&mut self) {
        for (tmp, _) in &self.files {
            let _ = fs::remove_file(tmp);
        }
    }
}

/// Creates the missing directories on the way to `dir` as 0755 whatever the umask (a unit's
/// `UMask=0077` would otherwise hide `/etc/berth/tls` from the daemon's user).
fn create_dirs(dir: &Path) -> Result<(), ApplyError> {
    let missing: Vec<&Path> = dir.ancestors().take_while(|d| !d.exists()).collect();
    fs::create_dir_all(dir).map_err(|e| sys(format!("creating {}: {e}", dir.display())))?;
    for created in missing {
        fs::set_permissions(created, fs::Permissions::from_mode(0o755))
            .map_err(|e| sys(format!("chmod {}: {e}", created.display())))?;
    }
    Ok(())
}

fn chown(path: &Path, uid: Option<u32>, gid: Option<u32>) -> Result<(), ApplyError> {
    std::os::unix::fs::chown(path, uid, gid)
        .map_err(|e| sys(format!("chown {}: {e}", path.display())))
}

/// The scheme clients use and the `host[:port]` they reach (the port left out when it is the
/// scheme's default; an IPv6 address in brackets).
fn public_address(answers: &Answers, tls: bool) -> (&'static str, String) {
    let (scheme, port, default_port) = if tls {
        ("https", answers.network.https_port, 443)
    } else {
        ("http", answers.network.http_port, 80)
    };
    let host = if answers.hostname.parse::<std::net::Ipv6Addr>().is_ok() {
        format!("[{}]", answers.hostname)
    } else {
        answers.hostname.clone()
    };
    if port == default_port {
        (scheme, host)
    } else {
        (scheme, format!("{host}:{port}"))
    }
}

/// The sections setup writes itself, and the run-time settings it moves into the database
/// (`[auth]`, `[ldap]`, `[system]`, `[token] expiration_minutes`; see `berth::settings`).
/// Everything else an operator added by hand (token, storage, log, server) is kept.
const OWNED_KEYS: [&str; 7] = [
    "external_url",
    "data_dir",
    "http",
    "tls",
    "auth",
    "ldap",
    "system",
];

fn kept_settings(existing: &str) -> Option<String> {
    let table: toml::Table = toml::from_str(existing).ok()?;
    let kept: toml::Table = table
        .into_iter()
        .filter(|(k, _)| !OWNED_KEYS.contains(&k.as_str()))
        .filter_map(|(k, mut v)| {
            if k == "token" {
                let t = v.as_table_mut()?;
                t.remove("expiration_minutes");
                if t.is_empty() {
                    return None;
                }
            }
            Some((k, v))
        })
        .collect();
    if kept.is_empty() {
        return None;
    }
    toml::to_string(&kept).ok()
}

/// The answers the configuration under `root` was written from, for setup to start from on a
/// configured system. The admin password is not among them: only its hash exists.
pub fn current_answers(root: &Path) -> Option<Answers> {
    let text = fs::read_to_string(under(root, CONFIG_PATH)).ok()?;
    let mut config = berth::config::Config::from_toml(&text).ok()?;
    // The sealed search password opens with the key in the data directory (under the root).
    let mut rooted = config.clone();
    rooted.data_dir = under(root, &config.data_dir.display().to_string());
    if rooted.unseal_secrets().is_ok() {
        config.ldap = rooted.ldap;
    } else if let Some(ldap) = &mut config.ldap {
        ldap.ldap_search_password.0.clear();
    }
    // The login settings in force are the database's (the file's only before the first start).
    if let Some(stored) = stored_settings(&rooted.data_dir) {
        config.auth.mode = stored.auth_mode;
        config.ldap = stored.ldap;
    }
    // A file the answers name is read where setup runs: under the root.
    if let Some(ldap) = &mut config.ldap {
        ldap.ldap_ca_certificate = ldap
            .ldap_ca_certificate
            .take()
            .map(|ca| under(root, &ca.display().to_string()));
    }
    let url = config.external_url.as_deref().unwrap_or("");
    let authority = url.split("://").nth(1).unwrap_or(url);
    let authority = authority.split('/').next().unwrap_or("");
    let hostname = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or("").to_string(),
        None => authority.split(':').next().unwrap_or("").to_string(),
    };
    let mut network = crate::answers::NetworkAnswer {
        http_port: config.http.as_ref().map_or(0, |h| h.listen.port()),
        https_port: config.tls.as_ref().map_or(443, |t| t.listen.port()),
        ..Default::default()
    };
    if let Some(addr) = config
        .tls
        .as_ref()
        .map(|t| t.listen)
        .or(config.http.as_ref().map(|h| h.listen))
    {
        network.listen_address = addr.ip();
    }
    let tls = match &config.tls {
        None => crate::answers::TlsAnswer {
            mode: TlsMode::None,
            ..Default::default()
        },
        Some(t) if t.ca_certificate.is_some() => crate::answers::TlsAnswer::default(),
        Some(t) => crate::answers::TlsAnswer {
            mode: TlsMode::Provided,
            certificate: Some(under(root, &t.certificate.display().to_string())),
            private_key: Some(under(root, &t.private_key.display().to_string())),
        },
    };
    Some(Answers {
        hostname,
        admin_password: None,
        auth: crate::answers::AuthAnswer {
            mode: config.auth.mode,
        },
        ldap: config.ldap,
        tls,
        network,
        storage: crate::answers::StorageAnswer {
            data_dir: config.data_dir,
        },
        appliance: None,
    })
}

/// The settings stored in the data directory's database, if it has any.
fn stored_settings(data_dir: &Path) -> Option<Settings> {
    let database = data_dir.join("berth.db");
    if !database.is_file() {
        return None;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    let found = runtime.block_on(async {
        let db = berth::db::Db::open(&database).ok()?;
        berth::settings::load(&db, data_dir).await.ok().flatten()
    });
    // Opening it as root may have made its journal files: they stay the daemon's.
    if let Ok(meta) = fs::metadata(&database) {
        use std::os::unix::fs::MetadataExt;
        for suffix in ["-wal", "-shm"] {
            let journal = data_dir.join(format!("berth.db{suffix}"));
            if journal.exists() {
                let _ = lchown(&journal, meta.uid(), meta.gid());
            }
        }
    }
    found
}

/// The configuration file, with a comment on each part; `existing` is the file it replaces,
/// whose sections setup does not ask about are carried over.
/// The directory's search password is written sealed with `key` (see [`berth::secrets`]).
pub fn render_config(answers: &Answers, tls: Option<&TlsFiles>, existing: Option<&str>) -> String {
    let net = &answers.network;
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    let listen = |port: u16| match net.listen_address {
        std::net::IpAddr::V6(v6) => format!("[{v6}]:{port}"),
        v4 => format!("{v4}:{port}"),
    };
    let mut out = String::from(
        "# Berth configuration, written by berth-setup. Run berth-setup again to change it;\n\
         # berthd reads it at start (the certificate also on SIGHUP). The login mode, LDAP and\n\
         # the other run-time settings live in the database: change them in the portal\n\
         # (Administration, Configuration), with /api/v2.0/configurations or berth-setup.\n\n",
    );
    let (scheme, registry) = public_address(answers, tls.is_some());
    let url = format!("{scheme}://{registry}");
    out.push_str(&format!(
        "# The URL clients use; the token realm is built from it.\nexternal_url = {}\n",
        q(&url)
    ));
    out.push_str(&format!(
        "# Database, blobs and the token signing key.\ndata_dir = {}\n\n",
        q(&answers.storage.data_dir.display().to_string())
    ));
    if net.http_port != 0 {
        out.push_str(&format!(
            "[http]\n# Plain HTTP{}.\nlisten = {}\n\n",
            if tls.is_some() {
                ": the registry and API answer here too; browsers are sent to HTTPS"
            } else {
                " only: credentials cross the network unencrypted"
            },
            q(&listen(net.http_port))
        ));
    }
    if let Some(t) = tls {
        out.push_str(&format!(
            "[tls]\nlisten = {}\ncertificate = {}\n# Readable by root and the berth group only.\nprivate_key = {}\n",
            q(&listen(net.https_port)),
            q(&format!("{TLS_DIR}/server.crt")),
            q(&format!("{TLS_DIR}/server.key")),
        ));
        if t.ca_certificate.is_some() {
            out.push_str(&format!(
                "# Served at /api/v2.0/systeminfo/getcert for clients to trust.\nca_certificate = {}\n",
                q(&format!("{TLS_DIR}/ca.crt"))
            ));
        }
        out.push('\n');
    }
    if let Some(kept) = existing.and_then(kept_settings) {
        out.push_str(
            "\n# Settings setup does not ask about, kept from the previous configuration.\n",
        );
        out.push_str(&kept);
    }
    out
}

/// Tests the directory settings the way the daemon will use them.
pub fn check_directory(answers: &Answers) -> Result<(), AnswerError> {
    match (answers.auth.mode, &answers.ldap) {
        (AuthMode::Ldap, Some(cfg)) => test_directory(cfg)
            .map_err(|e| wrong("ldap", format!("the directory test failed: {}", e.message))),
        _ => Ok(()),
    }
}

/// Connects, binds as the search DN and looks up the base DN; the error names the step that
/// failed (connection, TLS, search bind, base DN).
pub fn test_directory(cfg: &berth::config::LdapConfig) -> Result<(), AnswerError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let directory =
        berth::auth::ldap::Directory::new(cfg.clone()).map_err(|e| wrong("ldap", e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| wrong("ldap", format!("cannot test the directory: {e}")))?;
    runtime
        .block_on(directory.ping())
        .map_err(|e| wrong("ldap", e.to_string()))
}

/// Applies the answers. `progress` hears each step as it starts.
pub fn apply(
    answers: &Answers,
    options: &Options,
    progress: &mut dyn FnMut(&str),
) -> Result<Outcome, ApplyError> {
    let root = options.root.as_path();
    progress("Checking the answers");
    answers.check()?;
    if answers.appliance.is_some() && !options.appliance {
        return Err(wrong(
            "appliance",
            "configures the appliance's machine, which only berth-setup --appliance does",
        )
        .into());
    }
    let _lock = lock_live_system(root)?;
    if options.only_unconfigured && under(root, CONFIGURED_MARK).exists() {
        return Err(sys(
            "this system was configured meanwhile (on another console?): nothing was changed",
        ));
    }
    if answers.auth.mode == AuthMode::Ldap {
        progress("Testing the directory");
        check_directory(answers)?;
    }
    let data_dir = under(root, &answers.storage.data_dir.display().to_string());
    if answers.admin_password.is_none() && !data_dir.join("berth.db").is_file() {
        return Err(wrong(
            "admin_password",
            "is required: this system has no administrator yet",
        )
        .into());
    }
    let ids = berth_ids(root);
    let group = ids.map(|(_, gid)| gid);

    progress("Preparing the certificate");
    let tls_dir = under(root, TLS_DIR);
    let tls = match answers.tls.mode {
        TlsMode::None => None,
        TlsMode::Provided => Some(certs::check_provided(
            answers.tls.certificate.as_deref().unwrap_or(Path::new("")),
            answers.tls.private_key.as_deref().unwrap_or(Path::new("")),
            &answers.hostname,
        )?),
        TlsMode::Generate => {
            // Keep the CA of an earlier run, so clients that trust it keep working.
            let ca = fs::read_to_string(tls_dir.join("ca.crt")).ok();
            let ca_key = fs::read_to_string(tls_dir.join("ca.key")).ok();
            let existing = ca.as_deref().zip(ca_key.as_deref());
            Some(certs::generate(
                &answers.hostname,
                &certs::certificate_addresses(answers, &certs::machine_addresses()),
                existing,
            )?)
        }
    };

    let existing = fs::read_to_string(under(root, CONFIG_PATH)).ok();
    let config_text = render_config(answers, tls.as_ref(), existing.as_deref());
    // The daemon must be able to read what is written.
    berth::config::Config::from_toml(&config_text)
        .map_err(|e| sys(format!("the configuration written would not load: {e}")))?;

    progress("Writing the configuration and keys");
    let mut staged = Staged::default();
    if let Some(t) = &tls {
        staged.write(
            tls_dir.join("server.crt"),
            t.certificate.as_bytes(),
            0o644,
            None,
        )?;
        staged.write(
            tls_dir.join("server.key"),
            t.private_key.as_bytes(),
            0o640,
            group,
        )?;
        if let Some(ca) = &t.ca_certificate {
            staged.write(tls_dir.join("ca.crt"), ca.as_bytes(), 0o644, None)?;
        }
        if let Some(key) = &t.ca_key {
            staged.write(tls_dir.join("ca.key"), key.as_bytes(), 0o600, None)?;
        }
    }
    if let Some(ca) = answers
        .ldap
        .as_ref()
        .filter(|_| answers.auth.mode == AuthMode::Ldap)
        .and_then(|l| l.ldap_ca_certificate.as_ref())
    {
        let pem = fs::read(ca).map_err(|e| {
            wrong(
                "ldap.ldap_ca_certificate",
                format!("cannot read {}: {e}", ca.display()),
            )
        })?;
        staged.write(under(root, LDAP_CA_PATH), &pem, 0o644, None)?;
    }
    let (scheme, registry) = public_address(answers, tls.is_some());
    let url = format!("{scheme}://{registry}");
    let ca_fingerprint = tls
        .as_ref()
        .and_then(|t| t.ca_certificate.as_deref())
        .and_then(certs::fingerprint);
    if options.appliance {
        let hosts = fs::read_to_string(under(root, machine::HOSTS_PATH)).unwrap_or_default();
        let banner = machine::banner(&url, &registry, ca_fingerprint.as_deref());
        for file in machine::files(answers, &hosts, banner)? {
            staged.write(
                under(root, file.path),
                file.contents.as_bytes(),
                file.mode,
                None,
            )?;
        }
    }
    // Root and berth only: the configuration names the directory and its service account.
    staged.write(
        under(root, CONFIG_PATH),
        config_text.as_bytes(),
        0o640,
        group,
    )?;

    let drop_in = under(root, DATA_DIR_DROP_IN);
    let custom_data_dir = answers.storage.data_dir != Path::new(DEFAULT_DATA_DIR);
    if custom_data_dir {
        staged.write(
            drop_in.clone(),
            format!(
                "# Written by berth-setup: berthd's data directory is not {DEFAULT_DATA_DIR}.\n\
                 [Service]\nReadWritePaths={}\n",
                answers.storage.data_dir.display()
            )
            .as_bytes(),
            0o644,
            None,
        )?;
    }

    progress("Initialising the database and the login settings");
    let first = first_settings(existing.as_deref(), root);
    let file_has_runtime = existing
        .as_deref()
        .and_then(|t| berth::config::Config::from_toml(t).ok())
        .is_some_and(|c| c.has_runtime_sections());
    if file_has_runtime && data_dir.join("berth.db").is_file() {
        progress(
            "Note: the stored settings apply; berth.toml's [auth], [ldap], [system] and token \
             expiration are removed from it (change them in the portal, Configuration)",
        );
    }
    init_data(&data_dir, answers, first, ids)?;

    progress("Putting the files in place");
    staged.commit()?;
    if !custom_data_dir && drop_in.exists() {
        fs::remove_file(&drop_in)
            .map_err(|e| sys(format!("removing {}: {e}", drop_in.display())))?;
    }
    let systemd = root == Path::new("/") && Path::new("/run/systemd/system").is_dir();
    if options.appliance {
        progress("Configuring the machine");
        machine::activate(answers, root, systemd).map_err(sys)?;
    }
    let mut outcome = Outcome {
        url,
        registry,
        ca_fingerprint,
        ca_path: tls
            .as_ref()
            .and_then(|t| t.ca_certificate.as_ref())
            .map(|_| format!("{TLS_DIR}/ca.crt")),
        started: false,
        start_hint: None,
    };

    if options.start && systemd {
        progress("Starting berthd.service");
        for args in [
            &["daemon-reload"][..],
            &["enable", "berthd.service"],
            &["restart", "berthd.service"],
        ] {
            let status = std::process::Command::new("systemctl")
                .args(args)
                .status()
                .map_err(|e| sys(format!("systemctl {}: {e}", args.join(" "))))?;
            if !status.success() {
                return Err(sys(format!(
                    "systemctl {} failed: see journalctl -u berthd",
                    args.join(" ")
                )));
            }
        }
        outcome.started = true;
    } else {
        outcome.start_hint = Some(start_hint(systemd || root != Path::new("/")));
    }
    // Last: until every step has worked, the first-boot wizards still run.
    let mut mark = Staged::default();
    mark.write(
        under(root, CONFIGURED_MARK),
        format!("configured by berth-setup {}\n", env!("CARGO_PKG_VERSION")).as_bytes(),
        0o644,
        None,
    )?;
    mark.commit()?;
    Ok(outcome)
}

/// Nothing is running yet: the last thing the operator reads says how to start berthd, with
/// systemd (after `--no-start`, or for another root) or on a machine without it.
pub fn start_hint(systemd: bool) -> String {
    if systemd {
        "not running yet; to start it now and at every boot:\n\
         systemctl enable --now berthd.service"
            .to_string()
    } else {
        format!(
            "not running (no systemd here); once systemd runs it:\n\
             systemctl enable --now berthd.service\n\
             without systemd, as the berth user:\n\
             runuser -u berth -- berthd --config {CONFIG_PATH}"
        )
    }
}

/// The run-time settings to start from when the database has none yet: those an earlier
/// version kept in the configuration file, else the defaults.
fn first_settings(existing: Option<&str>, root: &Path) -> Settings {
    let mut config = existing
        .and_then(|text| berth::config::Config::from_toml(text).ok())
        .unwrap_or_else(berth::config::Config::dev);
    let mut rooted = config.clone();
    rooted.data_dir = under(root, &config.data_dir.display().to_string());
    if rooted.unseal_secrets().is_ok() {
        config.ldap = rooted.ldap;
    }
    Settings::from_config(&config)
}

/// The answers' login settings over the stored (or first) ones: the login mode, and the
/// directory's settings when it is used (kept, for the LDAP helpers, when it is not).
fn settings_from(answers: &Answers, mut base: Settings) -> Settings {
    base.auth_mode = answers.auth.mode;
    if let (AuthMode::Ldap, Some(l)) = (answers.auth.mode, &answers.ldap) {
        let mut l = l.clone();
        if l.ldap_ca_certificate.is_some() {
            l.ldap_ca_certificate = Some(PathBuf::from(LDAP_CA_PATH));
        }
        base.ldap = Some(l);
    }
    base
}

/// Creates the data directory and database, sets the admin password (as a hash) and stores
/// the login settings.
fn init_data(
    dir: &Path,
    answers: &Answers,
    first: Settings,
    ids: Option<(u32, u32)>,
) -> Result<(), ApplyError> {
    let admin_password = answers.admin_password.as_deref();
    let database = dir.join("berth.db");
    fs::create_dir_all(dir).map_err(|e| sys(format!("creating {}: {e}", dir.display())))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o750))
        .map_err(|e| sys(format!("chmod {}: {e}", dir.display())))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(sys)?;
    runtime.block_on(async {
        let db = berth::db::Db::open(&database)
            .map_err(|e| sys(format!("opening the database: {e}")))?;
        if let Some(password) = admin_password {
            berth::service::bootstrap::provision_admin(&db, password)
                .await
                .map_err(|e| sys(format!("setting the admin password: {e}")))?;
        }
        let stored = berth::settings::load(&db, dir)
            .await
            .map_err(|e| sys(format!("reading the stored settings: {e}")))?;
        let settings = settings_from(answers, stored.unwrap_or(first));
        berth::settings::store(&db, dir, &settings)
            .await
            .map_err(|e| sys(format!("storing the login settings: {e}")))
    })?;
    // The daemon runs as berth: it owns its data.
    if let Some((uid, gid)) = ids {
        chown_tree(dir, uid, gid)?;
    }
    Ok(())
}

/// Gives the data directory to the daemon's user. Symbolic links are changed themselves and
/// never followed: the directory is the daemon's to write, and root must not be led from it
/// to `/etc/shadow`.
fn chown_tree(dir: &Path, uid: u32, gid: u32) -> Result<(), ApplyError> {
    lchown(dir, uid, gid)?;
    for entry in fs::read_dir(dir).map_err(|e| sys(format!("{}: {e}", dir.display())))? {
        let path = entry.map_err(sys)?.path();
        let kind = fs::symlink_metadata(&path)
            .map_err(|e| sys(format!("{}: {e}", path.display())))?
            .file_type();
        if kind.is_dir() {
            chown_tree(&path, uid, gid)?;
        } else {
            lchown(&path, uid, gid)?;
        }
    }
    Ok(())
}

fn lchown(path: &Path, uid: u32, gid: u32) -> Result<(), ApplyError> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
        .map_err(|e| sys(format!("chown {}: {e}", path.display())))
}
