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
    let manifest = read_manifest(&dir, &name)?;
    if manifest.schema_version > SCHEMA_VERSION {
        return Err(BackupError::Refused(format!(
            "snapshot {name} was taken by Berth {} at database schema {}; this berthd knows \
             schemas up to {SCHEMA_VERSION}: restore it with that release or a newer one",
            manifest.berth_version, manifest.schema_version
        )));
    }
    let snapshot_dir = dir.snapshot(&name);
    let problems = check_files(&snapshot_dir, &manifest);
    if !problems.is_empty() {
        return Err(BackupError::Damaged(problems));
    }
    let rooted = |p: &Path| match &opts.root {
        Some(root) => root.join(p.strip_prefix("/").unwrap_or(p)),
        None => p.to_path_buf(),
    };
    let data_dir = rooted(opts.data_dir.as_deref().unwrap_or(&manifest.data_dir));
    let mut targets = Vec::new();
    for file in &manifest.files {
        let target = match file.kind {
            FileKind::Database | FileKind::Data => {
                if !is_relative_inside(&file.restore_to) {
                    return Err(BackupError::Damaged(vec![format!(
                        "{:?} does not stay inside the data directory",
                        file.restore_to
                    )]));
                }
                data_dir.join(&file.restore_to)
            }
            FileKind::Config => {
                if !file.restore_to.is_absolute()
                    || file
                        .restore_to
                        .components()
                        .any(|c| c == Component::ParentDir)
                {
                    return Err(BackupError::Damaged(vec![format!(
                        "{:?} is not an absolute path",
                        file.restore_to
                    )]));
                }
                rooted(&file.restore_to)
            }
        };
        targets.push((file, target));
    }

    // Refusals come before anything is written.
    let present = berth_entries(&data_dir)?;
    let others = other_entries(&data_dir)?;
    if !opts.force && (!present.is_empty() || !others.is_empty()) {
        return Err(BackupError::Refused(format!(
            "the data directory {} is not empty; restore into an empty or new directory, or \
             pass --force to replace Berth's files in it",
            data_dir.display()
        )));
    }
    if InstanceLock::held(&data_dir).map_err(io_err("checking", &data_dir))? {
        return Err(BackupError::Refused(format!(
            "a berthd is running on {}; stop it before restoring over its data",
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
    let previous_owner = fs::metadata(&data_dir).ok().map(|m| (m.uid(), m.gid()));
    for entry in &present {
        let path = data_dir.join(entry);
        let removed = if path.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        removed.map_err(io_err("removing", &path))?;
    }
    crate::storage::create_private_dir(&data_dir).map_err(io_err("creating", &data_dir))?;

    // Blobs first, the database last: a restore cut short leaves no database that names
    // blobs which are not there.
    let database = snapshot_dir.join(layout::DATABASE);
    let contents = crate::db::snapshot::contents(&database)?;
    let blobs_dir = crate::storage::blobs_dir(&data_dir);
    let incoming = data_dir.join("uploads");
    files::create_dirs(&incoming).map_err(io_err("creating", &incoming))?;
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
            files::create_dirs(parent).map_err(io_err("creating", parent))?;
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
    let (data_uid, data_gid) = {
        let (uid, gid) = files::ids_of(
            manifest.data_owner.as_deref(),
            manifest.data_group.as_deref(),
        );
        match (uid, gid, previous_owner) {
            (None, None, Some((u, g))) => (Some(u), Some(g)),
            _ => (uid, gid),
        }
    };
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
            fs::rename(&staged, target).map_err(io_err("renaming into place", target))?;
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
            }
            files::create_dirs(parent).map_err(io_err("creating", parent))?;
        }
        files::write_file(target, &bytes, file.mode).map_err(io_err("writing", target))?;
        if file.kind == FileKind::Config {
            let (uid, gid) = files::ids_of(file.owner.as_deref(), file.group.as_deref());
            files::give(target, uid, gid).map_err(io_err("giving away", target))?;
            config_files.push(target.clone());
        }
    }
    if data_uid.is_some() || data_gid.is_some() {
        give_tree(&data_dir, data_uid, data_gid)?;
    }
    files::fsync_dir(&data_dir).map_err(io_err("syncing", &data_dir))?;
    Ok(RestoreReport {
        snapshot: name,
        data_dir,
        blobs: done,
        bytes,
        linked,
        config_files,
        elapsed: started.elapsed(),
    })
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

/// Gives the data directory and everything in it to the daemon's account (as root only).
fn give_tree(root: &Path, uid: Option<u32>, gid: Option<u32>) -> BackupResult<()> {
    if !files::is_root() {
        return Ok(());
    }
    let mut pending = vec![root.to_path_buf()];
    while let Some(path) = pending.pop() {
        files::give(&path, uid, gid).map_err(io_err("giving away", &path))?;
        let meta = fs::symlink_metadata(&path).map_err(io_err("reading", &path))?;
        if meta.is_dir() {
            for entry in fs::read_dir(&path).map_err(io_err("reading", &path))? {
                pending.push(entry.map_err(io_err("reading", &path))?.path());
            }
        }
    }
    Ok(())
}
