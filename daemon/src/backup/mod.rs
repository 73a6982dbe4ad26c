//! Online backup, offline verification and restore: `berthd backup DEST`, `berthd verify DEST`
//! and `berthd restore DEST`.
//!
//! These are subcommands of `berthd`, run by the operator (as root, or as the daemon's user)
//! on the machine, whether or not the daemon runs: they need no credentials and no network,
//! and they read the same configuration file, so they find the same data directory.
//! A backup is consistent with a running daemon because
//! - the database is copied as of one instant (SQLite's online backup, one read transaction);
//! - garbage collection removes nothing between that instant and the moment every blob the
//!   copy records is linked (the removal fence, [`crate::storage::fence`]); pushes and pulls
//!   never wait for it;
//! - every blob a recorded manifest uses is recorded (the registry's invariant), so every
//!   manifest in the copy has its blobs in the backup, and everything acknowledged before the
//!   instant is in the copy.
//!
//! See [`layout`] for what a backup directory holds.

pub mod files;
pub mod layout;
mod restore;
mod take;
mod verify;

use std::io;
use std::path::{Path, PathBuf};

pub use restore::{restore, RestoreOptions, RestoreReport, RESTORING};
pub use take::{backup, BackupReport, Source};
pub use verify::{verify, VerifyReport};

use crate::db::DbError;

/// The backup layer's one error type.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(
        "{} is not a Berth backup directory (it has no {} file) and is not empty; \
         choose a new or empty directory, or one an earlier backup wrote",
        .0.display(),
        layout::MARKER
    )]
    NotABackup(PathBuf),
    /// A precondition the operator can fix; the message says how.
    #[error("{0}")]
    Refused(String),
    #[error("the backup is damaged: {}", .0.join("; "))]
    Damaged(Vec<String>),
}

pub type BackupResult<T> = Result<T, BackupError>;

/// A closure for `map_err` that names what was being done to which path.
fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> BackupError + use<> {
    let path = path.to_path_buf();
    move |source| BackupError::Io { what, path, source }
}

/// What a long step reports as it goes; the command prints it.
#[derive(Debug)]
pub enum Progress {
    /// A step begins.
    Step(String),
    /// Blobs handled so far, of all.
    Blobs {
        done: u64,
        total: u64,
        bytes: u64,
        total_bytes: u64,
    },
}

/// The sink for [`Progress`]; a command prints it, a test may ignore it.
pub type Reporter<'a> = &'a mut dyn FnMut(Progress);

/// Entries of a data directory that are not copied as files: the database (copied through
/// SQLite), blobs (linked into the pool), and what only matters to a running daemon.
const NOT_DATA_FILES: &[&str] = &[
    "berth.db",
    "berth.db-wal",
    "berth.db-shm",
    "berth.db-journal",
    "blobs",
    "uploads",
    "locks",
    crate::db::PRE_UPGRADE_DIR,
    STAGING,
];

/// A directory inside the data directory (so on the store's filesystem) where a backup to
/// another filesystem links blobs while removals are paused, and copies them from after.
const STAGING: &str = "backup-staging";

/// Reports blob progress at most every `EVERY` blobs, and at the end.
const EVERY: u64 = 256;
