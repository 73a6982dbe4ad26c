//! Restoring a snapshot into an empty data directory and the configuration's places.
//!
//! Every file is checked against its sum and every blob hashed as it is placed, so a damaged
//! backup stops the restore instead of starting a registry that serves wrong bytes. A
//! non-empty data directory, or a configuration file already in place, is refused unless the
//! operator says `--force`; even then a running berthd on the directory is refused.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use super::files;
use super::layout::{self, FileKind};
use super::verify::{check_files, open, read_manifest};
use super::{io_err, BackupError, BackupResult, Progress, Reporter, EVERY};
use crate::db::SCHEMA_VERSION;
use crate::digest::Digest;
use crate::storage::fence::InstanceLock;

pub struct RestoreOptions {
    /// The backup directory.
    pub from: PathBuf,
    /// The snapshot; the newest when none.
    pub snapshot: Option<String>,
    /// Where the data directory goes; the one backed up when none.
    pub data_dir: Option<PathBuf>,
    /// A prefix for every absolute path written (a machine's root mounted elsewhere).
    pub root: Option<PathBuf>,
    /// Replace Berth's files in a non-empty data directory and existing configuration files.
    pub force: bool,
}

#[derive(Debug)]
pub struct RestoreReport {
    pub snapshot: String,
    pub data_dir: PathBuf,
    pub blobs: u64,
    pub bytes: u64,
    pub linked: u64,
    /// Configuration files written, where.
    pub config_files: Vec<PathBuf>,
    /// With `--force`, where Berth's earlier files in the data directory went.
    pub moved_aside: Option<PathBuf>,
    pub elapsed: Duration,
}

pub fn restore(opts: &RestoreOptions, report: Reporter<'_>) -> BackupResult<RestoreReport> {
    let started = Instant::now();
    let dir = open(&opts.from)?;
    let name = match &opts.snapshot {
        Some(n) => n.clone(),
        None => dir
            .list()
            .map_err(io_err("reading", &dir.snapshots()))?
            .pop()
            .ok_or_else(|| {
                BackupError::Refused(format!(
                    "{} holds no complete snapshot",
                    opts.from.display()
                ))
            })?,
    };
    report(Progress::Step(format!("checking snapshot {name}")));
    trusted(&dir, &name)?;
    let manifest = read_manifest(&dir, &name)?;
    if manifest.schema_version > SCHEMA_VERSION {
        return Err(BackupError::Refused(format!(
            "snapshot {name} was taken by Berth {} at database schema {}; this berthd knows \
             schemas up to {SCHEMA_VERSION}: restore it with that release or a newer one",
            manifest.berth_version, manifest.schema_version
        )));
    }
    let snapshot_dir = dir.snapshot(&name);
    let mut problems = check_files(&snapshot_dir, &manifest);
    problems.extend(check_targets(&snapshot_dir, &manifest));
    if !problems.is_empty() {
        return Err(BackupError::Damaged(problems));
    }
    let rooted = |p: &Path| match &opts.root {
        Some(root) => root.join(p.strip_prefix("/").unwrap_or(p)),
        None => p.to_path_buf(),
    };
    let data_dir = rooted(opts.data_dir.as_deref().unwrap_or(&manifest.data_dir));
    let mut targets: Vec<(&layout::FileEntry, PathBuf)> = manifest
        .files
        .iter()
        .map(|f| match f.kind {
            FileKind::Database | FileKind::Data => (f, data_dir.join(&f.restore_to)),
            FileKind::Config => (f, rooted(&f.restore_to)),
        })
        .collect();

    // Refusals come before anything is written.
    let present = berth_entries(&data_dir)?;
    let others = other_entries(&data_dir)?;
    if !opts.force && (!present.is_empty() || !others.is_empty()) {
        return Err(BackupError::Refused(format!(
            "the data directory {} is not empty; restore into an empty or new directory, or \
             pass --force to move Berth's files in it aside",
            data_dir.display()
        )));
    }
    let existing_config: Vec<&PathBuf> = targets
        .iter()
        .filter(|(f, t)| f.kind == FileKind::Config && t.exists())
        .map(|(_, t)| t)
        .collect();
    if !opts.force && !existing_config.is_empty() {
        return Err(BackupError::Refused(format!(
            "{} already exist; pass --force to replace them",
            existing_config
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let created_dir = !data_dir.exists();
    crate::storage::create_private_dir(&data_dir).map_err(io_err("creating", &data_dir))?;
    let locks = crate::storage::fence::locks_dir(&data_dir);
    let locks_existed = locks.exists();
    // Held to the end: no berthd starts on the directory while it is being restored.
    let _claim = InstanceLock::acquire(&data_dir).map_err(|_| {
        BackupError::Refused(format!(
            "a berthd is running on {}; stop it before restoring over its data",
            data_dir.display()
        ))
    })?;
    // Until the end, berthd refuses to start here: a restore cut short is no registry.
    let marker = data_dir.join(RESTORING);
    files::write_file(&marker, name.as_bytes(), 0o644).map_err(io_err("writing", &marker))?;
    let mut created: Vec<PathBuf> = Vec::new();
    if created_dir {
        created.push(data_dir.clone());
    }
    if !locks_existed {
        created.push(locks.clone());
        created.push(locks.join("berthd"));
    }
    let moved_aside = move_aside(&data_dir, &present)?;

    // Blobs first, the database last.
    let database = snapshot_dir.join(layout::DATABASE);
    let contents = crate::db::snapshot::contents(&database)?;
    let blobs_dir = crate::storage::blobs_dir(&data_dir);
    let incoming = data_dir.join("uploads");
    for d in [&blobs_dir, &incoming] {
        if !d.exists() {
            files::create_dirs(d).map_err(io_err("creating", d))?;
            created.push(d.clone());
        }
    }
    let total = contents.blobs.len() as u64;
    let total_bytes: u64 = contents.blobs.iter().map(|(_, s)| s).sum();
    report(Progress::Step(format!("placing {total} blobs")));
    let (mut done, mut bytes, mut linked) = (0u64, 0u64, 0u64);
    let mut touched = BTreeSet::new();
    for (digest, size) in &contents.blobs {
        let parsed: Digest = digest
            .parse()
            .map_err(|_| BackupError::Damaged(vec![format!("a bad digest {digest:?}")]))?;
        let src = dir.blob(&parsed);
        let dest = crate::storage::blob_path(&blobs_dir, &parsed);
        if let Some(parent) = dest.parent() {
            for d in [parent.parent(), Some(parent)].into_iter().flatten() {
                if !d.exists() {
                    files::create_dirs(d).map_err(io_err("creating", d))?;
                    created.push(d.to_path_buf());
                }
            }
            touched.insert(parent.to_path_buf());
        }
        match fs::hard_link(&src, &dest) {
            Ok(()) => {
                linked += 1;
                // Shared with the backup, so check it where it is.
                if !files::hashes_to(&dest, &parsed).map_err(io_err("reading", &dest))? {
                    let _ = fs::remove_file(&dest);
                    return Err(BackupError::Damaged(vec![format!(
                        "blob {digest} does not hash to its name"
                    )]));
                }
            }
            Err(e) if files::cannot_link(&e) => {
                files::copy_checked(&src, &dest, &incoming, &parsed).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::InvalidData {
                        BackupError::Damaged(vec![e.to_string()])
                    } else {
                        io_err("copying", &src)(e)
                    }
                })?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BackupError::Damaged(vec![format!(
                    "blob {digest} is missing from the backup"
                )]))
            }
            Err(e) => return Err(io_err("linking", &src)(e)),
        }
        created.push(dest);
        done += 1;
        bytes += size;
        if done.is_multiple_of(EVERY) || done == total {
            report(Progress::Blobs {
                done,
                total,
                bytes,
                total_bytes,
            });
        }
    }
    for parent in &touched {
        files::fsync_dir(parent).map_err(io_err("syncing", parent))?;
    }

    report(Progress::Step(
        "writing the database, keys and configuration".into(),
    ));
    let mut config_files = Vec::new();
    // Data files and configuration before the database, for the same reason as blobs.
    targets.sort_by_key(|(f, _)| f.kind == FileKind::Database);
    for (file, target) in &targets {
        let src = snapshot_dir.join(&file.name);
        if file.kind == FileKind::Database {
            let staged = incoming.join(".berth.db.restore");
            let _ = fs::remove_file(&staged);
            reflink_copy::reflink_or_copy(&src, &staged).map_err(io_err("copying", &src))?;
            let (size, sum) = files::sha256_file(&staged).map_err(io_err("reading", &staged))?;
            if size != file.size || sum != file.sha256 {
                let _ = fs::remove_file(&staged);
                return Err(BackupError::Damaged(vec![
                    "the database copy changed while it was restored".into(),
                ]));
            }
            fs::set_permissions(&staged, std::os::unix::fs::PermissionsExt::from_mode(0o640))
                .map_err(io_err("writing", &staged))?;
            fs::File::open(&staged)
                .and_then(|f| f.sync_all())
                .map_err(io_err("syncing", &staged))?;
            // A log left beside the old database must not be replayed into this one.
            for side in ["berth.db-wal", "berth.db-shm", "berth.db-journal"] {
                let _ = fs::remove_file(data_dir.join(side));
            }
            fs::rename(&staged, target).map_err(io_err("renaming into place", target))?;
            created.push(target.clone());
            continue;
        }
        let bytes = fs::read(&src).map_err(io_err("reading", &src))?;
        use sha2::Digest as _;
        if hex::encode(sha2::Sha256::digest(&bytes)) != file.sha256 {
            return Err(BackupError::Damaged(vec![format!(
                "{} changed while it was restored",
                file.name
            )]));
        }
        if let Some(parent) = target.parent() {
            if file.kind == FileKind::Data && !parent.exists() {
                // Directories inside the data directory hold keys: the daemon's alone.
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(parent)
                    .map_err(io_err("creating", parent))?;
                created.push(parent.to_path_buf());
            }
            files::create_dirs(parent).map_err(io_err("creating", parent))?;
        }
        // Permission bits only: a backup cannot make a set-id file.
        files::write_file(target, &bytes, file.mode & 0o777).map_err(io_err("writing", target))?;
        match file.kind {
            FileKind::Config => {
                let (uid, gid) = files::ids_of(file.owner.as_deref(), file.group.as_deref());
                files::give(target, uid, gid).map_err(io_err("giving away", target))?;
                config_files.push(target.clone());
            }
            _ => created.push(target.clone()),
        }
    }
    // What this restore created in the data directory goes to the daemon's account (by
    // name), or to the directory's owner; nothing else there is touched.
    let (uid, gid) = files::ids_of(
        manifest.data_owner.as_deref(),
        manifest.data_group.as_deref(),
    );
    let (uid, gid) = match (uid, gid) {
        (None, None) if !created_dir => {
            let m = fs::metadata(&data_dir).map_err(io_err("reading", &data_dir))?;
            (Some(m.uid()), Some(m.gid()))
        }
        ids => ids,
    };
    for path in &created {
        files::give(path, uid, gid).map_err(io_err("giving away", path))?;
    }
    files::fsync_dir(&data_dir).map_err(io_err("syncing", &data_dir))?;
    fs::remove_file(&marker).map_err(io_err("removing", &marker))?;
    files::fsync_dir(&data_dir).map_err(io_err("syncing", &data_dir))?;
    Ok(RestoreReport {
        snapshot: name,
        data_dir,
        blobs: done,
        bytes,
        linked,
        config_files,
        moved_aside,
        elapsed: started.elapsed(),
    })
}

/// The marker a restore keeps in the data directory until it has finished; berthd refuses
/// to start on a directory that has it.
pub const RESTORING: &str = "restore-in-progress";

/// As root, a backup is trusted only if root owns it and nobody else may change it: its
/// manifest says what to write where, as root.
fn trusted(dir: &layout::BackupDir, name: &str) -> BackupResult<()> {
    if !files::is_root() {
        return Ok(());
    }
    let snapshot = dir.snapshot(name);
    for path in [
        dir.root.clone(),
        dir.snapshots(),
        snapshot.clone(),
        snapshot.join(layout::MANIFEST),
    ] {
        let meta = fs::symlink_metadata(&path).map_err(io_err("reading", &path))?;
        if meta.uid() != 0 || meta.mode() & 0o022 != 0 || meta.file_type().is_symlink() {
            return Err(BackupError::Refused(format!(
                "{} is not root's alone (owner uid {}, mode {:o}); as root, restore only from a \
                 backup that root wrote and nobody else can change",
                path.display(),
                meta.uid(),
                meta.mode() & 0o7777
            )));
        }
    }
    Ok(())
}

/// Where each file may go back: the database to `berth.db`, data files only to the keys'
/// places, configuration only to the configuration file the backup names and the files that
/// configuration (as backed up) names. Shared with verification.
pub(super) fn check_targets(snapshot_dir: &Path, manifest: &layout::Manifest) -> Vec<String> {
    let mut problems = Vec::new();
    let mut allowed: BTreeSet<PathBuf> = BTreeSet::new();
    if let Some(file) = &manifest.config_file {
        allowed.insert(file.clone());
        if let Some(dir) = file.parent() {
            allowed.insert(dir.join("configured"));
        }
        let copy = manifest
            .files
            .iter()
            .find(|f| f.kind == FileKind::Config && &f.restore_to == file);
        let text = copy.and_then(|f| fs::read_to_string(snapshot_dir.join(&f.name)).ok());
        if let Some(config) = text.and_then(|t| crate::config::Config::from_toml(&t).ok()) {
            if let Some(tls) = &config.tls {
                allowed.insert(tls.certificate.clone());
                allowed.insert(tls.private_key.clone());
                if let Some(ca) = &tls.ca_certificate {
                    allowed.insert(ca.clone());
                    if let Some(dir) = ca.parent() {
                        allowed.insert(dir.join("ca.key"));
                    }
                }
            }
            if let Some(ca) = config
                .ldap
                .as_ref()
                .and_then(|l| l.ldap_ca_certificate.clone())
            {
                allowed.insert(ca);
            }
        }
    }
    let allowed: BTreeSet<PathBuf> = allowed
        .into_iter()
        .map(|p| std::path::absolute(&p).unwrap_or(p))
        .collect();
    for file in &manifest.files {
        let ok = match file.kind {
            FileKind::Database => {
                file.restore_to == Path::new(layout::DATABASE) && file.name == layout::DATABASE
            }
            FileKind::Data => {
                is_relative_inside(&file.restore_to)
                    && (file.restore_to == Path::new(crate::secrets::KEY_FILE)
                        || file.restore_to.starts_with("secret"))
            }
            FileKind::Config => {
                file.restore_to.is_absolute()
                    && !file
                        .restore_to
                        .components()
                        .any(|c| c == Component::ParentDir)
                    && allowed.contains(&file.restore_to)
            }
        };
        if !ok {
            problems.push(format!(
                "{} would be restored to {}, which is not a place a backup writes",
                file.name,
                file.restore_to.display()
            ));
        }
    }
    problems
}

/// With `--force`: Berth's entries already in the data directory go aside (same filesystem:
/// a rename), kept until the operator removes them; the lock directory stays.
fn move_aside(data_dir: &Path, present: &[String]) -> BackupResult<Option<PathBuf>> {
    let entries: Vec<&String> = present.iter().filter(|e| *e != "locks").collect();
    if entries.is_empty() {
        return Ok(None);
    }
    let aside = data_dir.join(format!(
        ".before-restore-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
    ));
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&aside)
        .map_err(io_err("creating", &aside))?;
    for entry in entries {
        let from = data_dir.join(entry);
        fs::rename(&from, aside.join(entry)).map_err(io_err("moving aside", &from))?;
    }
    Ok(Some(aside))
}

fn is_relative_inside(path: &Path) -> bool {
    !path.as_os_str().is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)))
}

/// Berth's own entries in a data directory (what `--force` replaces).
const BERTH_ENTRIES: &[&str] = &[
    "berth.db",
    "berth.db-wal",
    "berth.db-shm",
    "berth.db-journal",
    "blobs",
    "uploads",
    "secret",
    crate::secrets::KEY_FILE,
    "locks",
    crate::db::PRE_UPGRADE_DIR,
    super::STAGING,
];

fn berth_entries(data_dir: &Path) -> BackupResult<Vec<String>> {
    Ok(BERTH_ENTRIES
        .iter()
        .filter(|e| fs::symlink_metadata(data_dir.join(e)).is_ok())
        .map(|e| e.to_string())
        .collect())
}

/// Anything else in it, but a filesystem's `lost+found`.
fn other_entries(data_dir: &Path) -> BackupResult<Vec<String>> {
    let entries = match fs::read_dir(data_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("reading", data_dir)(e)),
    };
    Ok(entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n != "lost+found" && !BERTH_ENTRIES.contains(&n.as_str()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::layout::{BlobTotals, FileEntry, Manifest};

    fn entry(name: &str, kind: FileKind, restore_to: &str) -> FileEntry {
        FileEntry {
            name: name.into(),
            kind,
            restore_to: restore_to.into(),
            size: 0,
            sha256: String::new(),
            mode: 0o600,
            owner: None,
            group: None,
        }
    }

    fn manifest(files: Vec<FileEntry>) -> Manifest {
        Manifest {
            format: layout::FORMAT,
            berth_version: "0".into(),
            schema_version: 1,
            created: String::new(),
            hostname: String::new(),
            data_dir: "/var/lib/berth".into(),
            data_owner: None,
            data_group: None,
            config_file: Some("/etc/berth/berth.toml".into()),
            files,
            blobs: BlobTotals::default(),
        }
    }

    /// A manifest names where its files go; only the places a backup writes are accepted, so
    /// a tampered backup cannot make a root restore write elsewhere.
    #[test]
    fn files_go_back_only_where_a_backup_takes_them_from() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("config")).expect("dir");
        std::fs::write(
            dir.path().join("config/0-berth.toml"),
            "[tls]\nlisten = \"0.0.0.0:443\"\ncertificate = \"/etc/berth/tls/server.crt\"\n\
             private_key = \"/etc/berth/tls/server.key\"\nca_certificate = \"/etc/berth/tls/ca.crt\"\n",
        )
        .expect("config");
        let sound = vec![
            entry("berth.db", FileKind::Database, "berth.db"),
            entry("data/secret/token.pem", FileKind::Data, "secret/token.pem"),
            entry("data/secret.key", FileKind::Data, "secret.key"),
            entry(
                "config/0-berth.toml",
                FileKind::Config,
                "/etc/berth/berth.toml",
            ),
            entry(
                "config/1-server.key",
                FileKind::Config,
                "/etc/berth/tls/server.key",
            ),
            entry("config/2-ca.key", FileKind::Config, "/etc/berth/tls/ca.key"),
            entry(
                "config/3-configured",
                FileKind::Config,
                "/etc/berth/configured",
            ),
        ];
        let problems = check_targets(dir.path(), &manifest(sound.clone()));
        assert!(problems.is_empty(), "{problems:?}");
        for bad in [
            entry("config/9-x", FileKind::Config, "/etc/cron.d/berth"),
            entry("config/9-x", FileKind::Config, "/root/.ssh/authorized_keys"),
            entry("config/9-x", FileKind::Config, "/etc/berth/../sudoers"),
            entry("data/x", FileKind::Data, "blobs/sha256/ab/abcd"),
            entry("data/x", FileKind::Data, "berth.db-wal"),
            entry("data/x", FileKind::Data, "../outside"),
            entry("berth.db", FileKind::Database, "other.db"),
        ] {
            let mut files = sound.clone();
            files.push(bad.clone());
            let problems = check_targets(dir.path(), &manifest(files));
            assert_eq!(problems.len(), 1, "{:?}: {problems:?}", bad.restore_to);
        }
    }
}
