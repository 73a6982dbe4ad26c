//! What a backup directory looks like, and its manifest of sums.
//!
//! ```text
//! DEST/
//!   BERTH-BACKUP                 marks the directory as Berth's (format version)
//!   blobs/sha256/ab/abcd…        every blob once, named by its sum, shared by all snapshots
//!   snapshots/20261130T201503Z/  one per backup, complete once renamed from .NAME.partial
//!     manifest.json              what the snapshot holds: files with sizes and sums
//!     berth.db                   the database as of the snapshot's instant
//!     data/…                     the data directory's other files (token key, sealing key)
//!     config/0-berth.toml …      the configuration and the files it names (TLS, CA)
//! ```
//!
//! Blobs need no sums of their own: each one's name is its sum, and the database copy (whose
//! sum the manifest holds) lists them. Incremental backups into the same directory add only
//! the blobs the pool lacks.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// The marker file's name and first line.
pub const MARKER: &str = "BERTH-BACKUP";
pub const MARKER_TEXT: &str = "Berth backup, format 1\n";
pub const FORMAT: u32 = 1;

/// Paths inside one backup directory.
#[derive(Clone, Debug)]
pub struct BackupDir {
    pub root: PathBuf,
}

impl BackupDir {
    pub fn new(root: &Path) -> BackupDir {
        BackupDir {
            root: root.to_path_buf(),
        }
    }

    pub fn marker(&self) -> PathBuf {
        self.root.join(MARKER)
    }

    pub fn pool(&self) -> PathBuf {
        self.root.join("blobs")
    }

    /// Where a blob lives in the pool: the blob store's own layout.
    pub fn blob(&self, digest: &Digest) -> PathBuf {
        crate::storage::blob_path(&self.pool(), digest)
    }

    /// Where copies are written before their rename into the pool.
    pub fn pool_tmp(&self) -> PathBuf {
        self.pool().join(".incoming")
    }

    pub fn snapshots(&self) -> PathBuf {
        self.root.join("snapshots")
    }

    pub fn snapshot(&self, name: &str) -> PathBuf {
        self.snapshots().join(name)
    }

    pub fn partial(&self, name: &str) -> PathBuf {
        self.snapshots().join(format!(".{name}.partial"))
    }

    /// Complete snapshots, oldest first (their names are UTC times).
    pub fn list(&self) -> std::io::Result<Vec<String>> {
        let mut names = Vec::new();
        let entries = match std::fs::read_dir(self.snapshots()) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(names),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            if let Some(name) = entry.file_name().to_str() {
                if !name.starts_with('.') && entry.path().join(MANIFEST).is_file() {
                    names.push(name.to_string());
                }
            }
        }
        names.sort();
        Ok(names)
    }
}

/// The manifest's file name inside a snapshot.
pub const MANIFEST: &str = "manifest.json";
/// The database copy's name inside a snapshot.
pub const DATABASE: &str = "berth.db";

/// A snapshot's manifest of sums.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    pub berth_version: String,
    pub schema_version: i64,
    /// RFC 3339, UTC: the instant of the database copy.
    pub created: String,
    pub hostname: String,
    /// The data directory backed up, and its owner's names (so a restore as root on another
    /// machine gives the files to the same account).
    pub data_dir: PathBuf,
    pub data_owner: Option<String>,
    pub data_group: Option<String>,
    /// The configuration file, when berthd ran with one.
    pub config_file: Option<PathBuf>,
    pub files: Vec<FileEntry>,
    pub blobs: BlobTotals,
}

/// One file of a snapshot other than blobs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Path inside the snapshot directory.
    pub name: String,
    pub kind: FileKind,
    /// Where it goes back: relative to the data directory for `database` and `data`, the
    /// absolute path it came from for `config`.
    pub restore_to: PathBuf,
    pub size: u64,
    pub sha256: String,
    pub mode: u32,
    pub owner: Option<String>,
    pub group: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    Database,
    Data,
    Config,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobTotals {
    pub count: u64,
    pub bytes: u64,
    /// Of those, how many this backup added to the pool (the rest were there already).
    pub added: u64,
    pub added_bytes: u64,
}

/// A snapshot name for now: the UTC time, to the second.
pub fn snapshot_name(now: chrono::DateTime<chrono::Utc>) -> String {
    now.format("%Y%m%dT%H%M%SZ").to_string()
}
