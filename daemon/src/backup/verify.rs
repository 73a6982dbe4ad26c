//! Verifying a backup offline: every file against its sum, the database copy's own checks
//! (integrity, references, manifests against their digests, every blob a manifest uses
//! recorded), and every blob it records present in the pool and hashing to its name.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use super::files;
use super::layout::{self, BackupDir, Manifest};
use super::{io_err, BackupError, BackupResult, Progress, Reporter, EVERY};
use crate::digest::Digest;

/// What verification found.
#[derive(Debug, Default)]
pub struct VerifyReport {
    pub snapshots: Vec<String>,
    /// Distinct blobs hashed, and their bytes.
    pub blobs: u64,
    pub bytes: u64,
    pub manifests: u64,
    /// Empty when the backup is sound.
    pub problems: Vec<String>,
}

/// Verifies one snapshot, or every snapshot in the directory; each pool blob is hashed once.
pub fn verify(
    dest: &Path,
    snapshot: Option<&str>,
    report: Reporter<'_>,
) -> BackupResult<VerifyReport> {
    let dir = open(dest)?;
    let names = match snapshot {
        Some(name) => vec![name.to_string()],
        None => dir.list().map_err(io_err("reading", &dir.snapshots()))?,
    };
    if names.is_empty() {
        return Err(BackupError::Refused(format!(
            "{} holds no complete snapshot",
            dest.display()
        )));
    }
    let mut out = VerifyReport::default();
    let mut hashed = HashSet::new();
    for name in &names {
        report(Progress::Step(format!("verifying snapshot {name}")));
        let problems_before = out.problems.len();
        let snapshot_dir = dir.snapshot(name);
        let manifest = match read_manifest(&dir, name) {
            Ok(m) => m,
            Err(e) => {
                out.problems.push(format!("{name}: {e}"));
                continue;
            }
        };
        out.problems.extend(
            check_files(&snapshot_dir, &manifest)
                .into_iter()
                .chain(super::restore::check_targets(&snapshot_dir, &manifest))
                .map(|p| format!("{name}: {p}")),
        );
        if out.problems.len() > problems_before {
            continue; // the database copy itself is not to be trusted
        }
        let db = snapshot_dir.join(layout::DATABASE);
        let findings = crate::db::snapshot::check(&db)?;
        out.manifests += findings.manifests;
        out.problems.extend(
            findings
                .problems
                .into_iter()
                .map(|p| format!("{name}: {p}")),
        );
        let contents = crate::db::snapshot::contents(&db)?;
        if contents.schema_version != manifest.schema_version {
            out.problems.push(format!(
                "{name}: the manifest says schema {} but the database is at {}",
                manifest.schema_version, contents.schema_version
            ));
        }
        let total = contents.blobs.len() as u64;
        let total_bytes: u64 = contents.blobs.iter().map(|(_, s)| s).sum();
        let (mut done, mut bytes) = (0u64, 0u64);
        for (digest, size) in contents.blobs {
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
            if !hashed.insert(digest.clone()) {
                continue;
            }
            let Ok(parsed) = digest.parse::<Digest>() else {
                out.problems
                    .push(format!("{name}: a bad digest {digest:?}"));
                continue;
            };
            let path = dir.blob(&parsed);
            match fs::metadata(&path) {
                Err(_) => out
                    .problems
                    .push(format!("{name}: blob {digest} is missing")),
                Ok(m) if m.len() != size => out.problems.push(format!(
                    "{name}: blob {digest} has {} bytes, the database says {size}",
                    m.len()
                )),
                Ok(_) => match files::hashes_to(&path, &parsed) {
                    Ok(true) => {
                        out.blobs += 1;
                        out.bytes += size;
                    }
                    Ok(false) => out
                        .problems
                        .push(format!("{name}: blob {digest} does not hash to its name")),
                    Err(e) => out
                        .problems
                        .push(format!("{name}: reading blob {digest}: {e}")),
                },
            }
        }
        out.snapshots.push(name.clone());
    }
    Ok(out)
}

/// The directory, if it is a backup.
pub(super) fn open(dest: &Path) -> BackupResult<BackupDir> {
    let dir = BackupDir::new(dest);
    if !dir.marker().is_file() {
        return Err(BackupError::Refused(format!(
            "{} is not a Berth backup (no {} file)",
            dest.display(),
            layout::MARKER
        )));
    }
    Ok(dir)
}

pub(super) fn read_manifest(dir: &BackupDir, name: &str) -> BackupResult<Manifest> {
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return Err(BackupError::Refused(format!(
            "{name:?} is not a snapshot name"
        )));
    }
    let path = dir.snapshot(name).join(layout::MANIFEST);
    let bytes = fs::read(&path).map_err(io_err("reading", &path))?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| BackupError::Damaged(vec![format!("{}: {e}", path.display())]))?;
    if manifest.format != layout::FORMAT {
        return Err(BackupError::Refused(format!(
            "snapshot {name} is in backup format {}, this berthd reads format {}",
            manifest.format,
            layout::FORMAT
        )));
    }
    Ok(manifest)
}

/// Every file the manifest lists, against its size and sum; names must stay inside.
pub(super) fn check_files(snapshot_dir: &Path, manifest: &Manifest) -> Vec<String> {
    let mut problems = Vec::new();
    if !manifest
        .files
        .iter()
        .any(|f| f.kind == layout::FileKind::Database && f.name == layout::DATABASE)
    {
        problems.push("the manifest lists no database".to_string());
    }
    for file in &manifest.files {
        let inside = Path::new(&file.name)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !inside {
            problems.push(format!("{:?} is not a name inside the snapshot", file.name));
            continue;
        }
        match files::sha256_file(&snapshot_dir.join(&file.name)) {
            Ok((size, sum)) if size == file.size && sum == file.sha256 => {}
            Ok(_) => problems.push(format!("{} does not match its sum", file.name)),
            Err(e) => problems.push(format!("{}: {e}", file.name)),
        }
    }
    problems
}
