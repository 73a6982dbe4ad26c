//! Taking a backup (see the module above for why it is consistent).

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::files;
use super::layout::{self, BackupDir, BlobTotals, FileEntry, FileKind, Manifest};
use super::{
    io_err, BackupError, BackupResult, Progress, Reporter, EVERY, NOT_DATA_FILES, STAGING,
};
use crate::config::Config;
use crate::digest::Digest;
use crate::storage::fence::Fence;

/// What is backed up: the deployment's configuration and the file it came from.
pub struct Source<'a> {
    pub config: &'a Config,
    /// The configuration file (none in `--dev`).
    pub config_file: Option<&'a Path>,
}

/// What a backup did.
#[derive(Debug)]
pub struct BackupReport {
    pub snapshot: String,
    pub path: PathBuf,
    pub blobs: BlobTotals,
    /// Blobs added by a hard link rather than a copy.
    pub linked: u64,
    pub files: usize,
    /// How long garbage collection's removals were held off.
    pub removals_paused: Duration,
    pub elapsed: Duration,
}

pub fn backup(
    source: &Source<'_>,
    dest: &Path,
    report: Reporter<'_>,
) -> BackupResult<BackupReport> {
    let started = Instant::now();
    let data_dir = &source.config.data_dir;
    let live = data_dir.join(layout::DATABASE);
    if !live.is_file() {
        return Err(BackupError::Refused(format!(
            "there is no database at {}: is this the data directory berthd uses?",
            live.display()
        )));
    }
    refuse_inside(data_dir, dest)?;
    let dir = BackupDir::new(dest);
    open_destination(&dir)?;
    // One backup at a time writes into a destination: held until this one returns.
    let _writing = lock_destination(&dir)?;
    let name = free_name(&dir)?;
    let partial = dir.partial(&name);
    let _ = fs::remove_dir_all(&partial);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&partial)
        .map_err(io_err("creating", &partial))?;
    // A staging directory of this process's own; those of backups that died go.
    let staging_root = data_dir.join(STAGING);
    remove_dead_staging(&staging_root);
    let staging = staging_root.join(std::process::id().to_string());
    let _ = fs::remove_dir_all(&staging);

    report(Progress::Step(
        "waiting for garbage collection's removals in flight".into(),
    ));
    let fence = Fence::at(data_dir);
    let paused = fence.pause_removals().map_err(io_err(
        "locking",
        &crate::storage::fence::locks_dir(data_dir),
    ))?;
    let paused_at = Instant::now();
    report(Progress::Step("copying the database".into()));
    let contents = crate::db::snapshot::snapshot(&live, &partial.join(layout::DATABASE))?;
    let created = chrono::Utc::now();
    report(Progress::Step(format!(
        "linking {} blobs recorded by the copy",
        contents.blobs.len()
    )));
    let store = crate::storage::blobs_dir(data_dir);
    let mut totals = BlobTotals::default();
    let total_bytes: u64 = contents.blobs.iter().map(|(_, s)| s).sum();
    let mut linked = 0u64;
    let mut touched = BTreeSet::new();
    let mut later: Vec<(PathBuf, PathBuf)> = Vec::new();
    for (digest, size) in &contents.blobs {
        let digest: Digest = digest.parse().map_err(|_| {
            BackupError::Damaged(vec![format!(
                "the database records a bad digest {digest:?}"
            )])
        })?;
        totals.count += 1;
        totals.bytes += size;
        let target = dir.blob(&digest);
        match fs::metadata(&target) {
            Ok(m) if m.len() == *size => {
                progress(report, &totals, contents.blobs.len(), total_bytes);
                continue;
            }
            // A file of the wrong size cannot be the blob: replace it.
            Ok(_) => fs::remove_file(&target).map_err(io_err("removing", &target))?,
            Err(_) => {}
        }
        let src = crate::storage::blob_path(&store, &digest);
        if !src.is_file() {
            return Err(BackupError::Damaged(vec![format!(
                "the database records {digest} but {} is missing: run verification of the \
                 store (garbage collection removes such rows only with their files)",
                src.display()
            )]));
        }
        if let Some(parent) = target.parent() {
            files::create_dirs(parent).map_err(io_err("creating", parent))?;
            touched.insert(parent.to_path_buf());
        }
        totals.added += 1;
        totals.added_bytes += size;
        match fs::hard_link(&src, &target) {
            Ok(()) => linked += 1,
            Err(e) if files::cannot_link(&e) => {
                // Another filesystem: hold the blob by a link beside the store now, copy it
                // once removals may go on again.
                let held = staging.join(digest.hex());
                let staged = files::create_dirs(&staging).and_then(|()| fs::hard_link(&src, &held));
                match staged {
                    Ok(()) => later.push((held, target)),
                    Err(_) => files::copy_into_place(&src, &target, &dir.pool_tmp())
                        .map_err(io_err("copying", &src))?,
                }
            }
            Err(e) => return Err(io_err("linking", &src)(e)),
        }
        progress(report, &totals, contents.blobs.len(), total_bytes);
    }
    drop(paused);
    let removals_paused = paused_at.elapsed();
    if !later.is_empty() {
        report(Progress::Step(format!(
            "copying {} blobs to another filesystem",
            later.len()
        )));
    }
    for (i, (held, target)) in later.iter().enumerate() {
        files::copy_into_place(held, target, &dir.pool_tmp()).map_err(io_err("copying", held))?;
        let _ = fs::remove_file(held);
        if (i as u64 + 1).is_multiple_of(EVERY) || i + 1 == later.len() {
            report(Progress::Step(format!(
                "copied {} of {}",
                i + 1,
                later.len()
            )));
        }
    }
    let _ = fs::remove_dir_all(&staging);
    let _ = fs::remove_dir(&staging_root);
    let _ = fs::remove_dir_all(dir.pool_tmp());
    for parent in &touched {
        files::fsync_dir(parent).map_err(io_err("syncing", parent))?;
    }

    report(Progress::Step("copying keys and configuration".into()));
    let mut entries = Vec::new();
    let (size, sha256) =
        files::sha256_file(&partial.join(layout::DATABASE)).map_err(io_err("reading", &partial))?;
    entries.push(FileEntry {
        name: layout::DATABASE.into(),
        kind: FileKind::Database,
        restore_to: layout::DATABASE.into(),
        size,
        sha256,
        mode: fs::metadata(&live)
            .map(|m| m.mode() & 0o7777)
            .unwrap_or(0o640),
        owner: None,
        group: None,
    });
    for (path, rel) in data_files(data_dir)? {
        entries.push(keep_file(
            &partial,
            &format!("data/{}", rel.display()),
            &path,
            FileKind::Data,
            rel,
        )?);
    }
    for (i, path) in config_files(source).into_iter().enumerate() {
        let file_name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("file")
            .to_string();
        entries.push(keep_file(
            &partial,
            &format!("config/{i}-{file_name}"),
            &path,
            FileKind::Config,
            path.clone(),
        )?);
    }
    let data_meta = fs::metadata(data_dir).map_err(io_err("reading", data_dir))?;
    let (data_owner, data_group) = files::owner_names(&data_meta);
    let manifest = Manifest {
        format: layout::FORMAT,
        berth_version: crate::VERSION.into(),
        schema_version: contents.schema_version,
        created: created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        hostname: nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default(),
        data_dir: absolute(data_dir),
        data_owner,
        data_group,
        config_file: source.config_file.map(absolute),
        files: entries,
        blobs: totals.clone(),
    };
    let json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| BackupError::Refused(format!("writing the manifest: {e}")))?;
    let manifest_path = partial.join(layout::MANIFEST);
    files::write_file(&manifest_path, &json, 0o600).map_err(io_err("writing", &manifest_path))?;
    files::fsync_dir(&partial).map_err(io_err("syncing", &partial))?;
    let final_path = dir.snapshot(&name);
    fs::rename(&partial, &final_path).map_err(io_err("renaming into place", &final_path))?;
    files::fsync_dir(&dir.snapshots()).map_err(io_err("syncing", &dir.snapshots()))?;
    Ok(BackupReport {
        snapshot: name,
        path: final_path,
        files: manifest.files.len(),
        blobs: totals,
        linked,
        removals_paused,
        elapsed: started.elapsed(),
    })
}

fn progress(report: Reporter<'_>, totals: &BlobTotals, total: usize, total_bytes: u64) {
    if totals.count.is_multiple_of(EVERY) || totals.count == total as u64 {
        report(Progress::Blobs {
            done: totals.count,
            total: total as u64,
            bytes: totals.bytes,
            total_bytes,
        });
    }
}

/// A backup inside the data directory would copy itself and be lost with the disk.
fn refuse_inside(data_dir: &Path, dest: &Path) -> BackupResult<()> {
    let data = fs::canonicalize(data_dir).map_err(io_err("reading", data_dir))?;
    let mut probe = absolute(dest);
    // The destination may not exist yet: compare its nearest existing ancestor.
    while !probe.exists() {
        if !probe.pop() {
            break;
        }
    }
    let probe = fs::canonicalize(&probe).unwrap_or(probe);
    if probe.starts_with(&data) {
        return Err(BackupError::Refused(format!(
            "{} is inside the data directory {}; back up to another directory, ideally another disk",
            dest.display(),
            data_dir.display()
        )));
    }
    Ok(())
}

/// Creates the destination (mode 0700: it holds keys), or accepts it when it is empty or an
/// earlier backup's.
fn open_destination(dir: &BackupDir) -> BackupResult<()> {
    let root = &dir.root;
    match fs::read_dir(root) {
        Ok(mut entries) => {
            if !dir.marker().is_file() && entries.next().is_some() {
                return Err(BackupError::NotABackup(root.clone()));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(root)
                .map_err(io_err("creating", root))?;
        }
        Err(e) => return Err(io_err("reading", root)(e)),
    }
    if !dir.marker().is_file() {
        files::write_file(&dir.marker(), layout::MARKER_TEXT.as_bytes(), 0o644)
            .map_err(io_err("writing", &dir.marker()))?;
    }
    for sub in [dir.pool(), dir.snapshots()] {
        files::create_dirs(&sub).map_err(io_err("creating", &sub))?;
    }
    Ok(())
}

fn lock_destination(dir: &BackupDir) -> BackupResult<fs::File> {
    let marker = dir.marker();
    let file = fs::File::open(&marker).map_err(io_err("opening", &marker))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(BackupError::Refused(format!(
            "another backup is writing to {}; wait for it to end",
            dir.root.display()
        ))),
        Err(fs::TryLockError::Error(e)) => Err(io_err("locking", &marker)(e)),
    }
}

/// Removes staging directories whose backup process is gone (a crash leaves hard links
/// there that hold deleted blobs' space).
fn remove_dead_staging(root: &Path) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let alive = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// The snapshot's name: now, with a suffix if a backup already took this second.
fn free_name(dir: &BackupDir) -> BackupResult<String> {
    let base = layout::snapshot_name(chrono::Utc::now());
    let mut name = base.clone();
    let mut n = 1;
    while dir.snapshot(&name).exists() {
        n += 1;
        name = format!("{base}-{n}");
    }
    Ok(name)
}

/// The data directory's other regular files (keys), with their paths inside it.
fn data_files(data_dir: &Path) -> BackupResult<Vec<(PathBuf, PathBuf)>> {
    let mut found = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        let dir = data_dir.join(&rel);
        for entry in fs::read_dir(&dir).map_err(io_err("reading", &dir))? {
            let entry = entry.map_err(io_err("reading", &dir))?;
            let name = entry.file_name();
            if rel.as_os_str().is_empty()
                && name.to_str().is_some_and(|n| NOT_DATA_FILES.contains(&n))
            {
                continue;
            }
            let kind = entry
                .file_type()
                .map_err(io_err("reading", &entry.path()))?;
            if kind.is_dir() {
                pending.push(rel.join(&name));
            } else if kind.is_file() {
                found.push((entry.path(), rel.join(&name)));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// The configuration file, every file it names, and the two that live beside them: the
/// private CA's key (beside its certificate) and setup's "configured" mark.
fn config_files(source: &Source<'_>) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = Vec::new();
    if let Some(file) = source.config_file {
        paths.push(absolute(file));
        if let Some(dir) = file.parent() {
            paths.push(absolute(&dir.join("configured")));
        }
    }
    if let Some(tls) = &source.config.tls {
        paths.push(absolute(&tls.certificate));
        paths.push(absolute(&tls.private_key));
        if let Some(ca) = &tls.ca_certificate {
            paths.push(absolute(ca));
            if let Some(dir) = ca.parent() {
                paths.push(absolute(&dir.join("ca.key")));
            }
        }
    }
    if let Some(ca) = source
        .config
        .ldap
        .as_ref()
        .and_then(|l| l.ldap_ca_certificate.as_ref())
    {
        paths.push(absolute(ca));
    }
    let mut seen = BTreeSet::new();
    paths
        .into_iter()
        .filter(|p| p.is_file() && seen.insert(p.clone()))
        .collect()
}

/// Copies one small file into the snapshot (mode 0600: keys among them) and describes it.
fn keep_file(
    snapshot: &Path,
    name: &str,
    path: &Path,
    kind: FileKind,
    restore_to: PathBuf,
) -> BackupResult<FileEntry> {
    let bytes = fs::read(path).map_err(io_err("reading", path))?;
    let meta = fs::metadata(path).map_err(io_err("reading", path))?;
    let (owner, group) = files::owner_names(&meta);
    let dest = snapshot.join(name);
    files::write_file(&dest, &bytes, 0o600).map_err(io_err("writing", &dest))?;
    use sha2::Digest as _;
    Ok(FileEntry {
        name: name.into(),
        kind,
        restore_to,
        size: bytes.len() as u64,
        sha256: hex::encode(sha2::Sha256::digest(&bytes)),
        mode: meta.mode() & 0o7777,
        owner,
        group,
    })
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
