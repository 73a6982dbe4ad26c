//! The fence between removing blob files and taking a backup, across processes.
//!
//! A backup (`berthd backup`, another process) copies the database at one instant and then
//! links every blob that copy records. Garbage collection in the running daemon deletes a
//! blob's rows and then its file. If a deletion ran between the backup's snapshot and its
//! links, the backup would name a blob it never got. So every removal (rows and file) runs
//! inside a shared lock on the fence, and the backup holds it exclusively from just before its
//! snapshot until its last link: a removal happens wholly before the snapshot or wholly after
//! the links. Pushes and pulls never touch the fence.
//!
//! Linux `flock` grants shared locks while an exclusive one waits, so a busy collector could
//! starve the backup. The gate in front of the fence fixes that (a turnstile): removals pass
//! through the gate (shared, let go at once); the backup closes it (exclusive) before waiting
//! on the fence, so new removals queue behind it while the ones in flight finish.
//!
//! The lock files are empty and live in `DATA_DIR/locks/`. `flock` needs only a read-only
//! descriptor, so whoever created them, the daemon's user and root can both take them.
//! Each guard opens its own descriptors: a lock belongs to the open file, and two holders
//! sharing one would release each other's.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Where a data directory's lock files live.
pub fn locks_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("locks")
}

/// The fence of one data directory.
#[derive(Clone, Debug)]
pub struct Fence {
    gate: PathBuf,
    fence: PathBuf,
}

/// A removal in progress; backups wait until it is dropped.
#[must_use = "the removal is fenced only while this is held"]
pub struct Removal {
    _fence: File,
}

/// A backup's hold: no removal starts or runs until it is dropped.
#[must_use = "removals are held off only while this is held"]
pub struct RemovalsPaused {
    _gate: File,
    _fence: File,
}

impl Fence {
    pub fn at(data_dir: &Path) -> Fence {
        let dir = locks_dir(data_dir);
        Fence {
            gate: dir.join("removal.gate"),
            fence: dir.join("removal.fence"),
        }
    }

    /// Blocks while a backup holds the fence. Called by whatever deletes blob rows and
    /// files, before the deletion's transaction, and held until the files are gone.
    pub fn enter_removal(&self) -> io::Result<Removal> {
        let gate = open_lock_file(&self.gate)?;
        gate.lock_shared()?;
        let fence = open_lock_file(&self.fence)?;
        fence.lock_shared()?;
        drop(gate);
        Ok(Removal { _fence: fence })
    }

    /// Blocks until the removals in flight have finished, and keeps new ones waiting until
    /// the result is dropped.
    pub fn pause_removals(&self) -> io::Result<RemovalsPaused> {
        let gate = open_lock_file(&self.gate)?;
        gate.lock()?;
        let fence = open_lock_file(&self.fence)?;
        fence.lock()?;
        Ok(RemovalsPaused {
            _gate: gate,
            _fence: fence,
        })
    }
}

/// The running daemon's claim on its data directory, held for its lifetime, so a second
/// berthd on the same directory and a restore over it are refused while it runs.
pub struct InstanceLock {
    _file: File,
}

impl InstanceLock {
    /// Takes the claim, or says which process holds it.
    pub fn acquire(data_dir: &Path) -> io::Result<InstanceLock> {
        let path = locks_dir(data_dir).join("berthd");
        let file = open_lock_file(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(io::Error::other(format!(
                    "another berthd is using the data directory {}",
                    data_dir.display()
                )))
            }
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
        Ok(InstanceLock { _file: file })
    }

    /// Whether a berthd holds the data directory now.
    pub fn held(data_dir: &Path) -> io::Result<bool> {
        let path = locks_dir(data_dir).join("berthd");
        let file = match open_existing(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        match file.try_lock_shared() {
            Ok(()) => Ok(false),
            Err(fs::TryLockError::WouldBlock) => Ok(true),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

/// Opens a lock file read-only, creating it (and its directory) if needed. Created by root
/// (a backup run before the daemon's first start), it is handed to the data directory's
/// owner, so the daemon can open it too.
fn open_lock_file(path: &Path) -> io::Result<File> {
    match open_existing(path) {
        Ok(f) => return Ok(f),
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other("lock file without a directory"))?;
    if !dir.is_dir() {
        fs::create_dir(dir).or_else(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => Ok(()),
            _ => Err(e),
        })?;
        give_to_data_dir_owner(dir)?;
    }
    let created = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    drop(created);
    give_to_data_dir_owner(path)?;
    open_existing(path)
}

/// Opens a lock file without following a link or blocking on a FIFO (whoever owns the data
/// directory could put either there for root to trip on), and only if it is a plain file.
fn open_existing(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other(format!(
            "{} is not a plain file",
            path.display()
        )));
    }
    Ok(file)
}

/// When running as root, gives `path` to the owner of the data directory that holds it.
fn give_to_data_dir_owner(path: &Path) -> io::Result<()> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    let Some(data_dir) = path.ancestors().find(|p| p.join("berth.db").exists()) else {
        return Ok(());
    };
    let owner = fs::metadata(data_dir)?;
    std::os::unix::fs::lchown(path, Some(owner.uid()), Some(owner.gid()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn a_paused_fence_holds_removals_until_released() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fence = Fence::at(dir.path());
        let removal = fence.enter_removal().expect("first removal");
        // A backup waits for the removal in flight...
        let (paused_tx, paused_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let backup_fence = fence.clone();
        let backup = std::thread::spawn(move || {
            let pause = backup_fence.pause_removals().expect("pause");
            paused_tx.send(()).expect("send");
            let _ = release_rx.recv();
            drop(pause);
        });
        assert!(
            paused_rx.recv_timeout(Duration::from_millis(200)).is_err(),
            "the backup must wait for the removal in flight"
        );
        drop(removal);
        paused_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the backup gets the fence once the removal ends");
        // ...and a removal that starts now waits for the backup.
        let (removed_tx, removed_rx) = mpsc::channel();
        let removal_fence = fence.clone();
        let remover = std::thread::spawn(move || {
            let _removal = removal_fence.enter_removal().expect("removal");
            removed_tx.send(()).expect("send");
        });
        assert!(
            removed_rx.recv_timeout(Duration::from_millis(200)).is_err(),
            "a removal must not start while the backup holds the fence"
        );
        release_tx.send(()).expect("release");
        backup.join().expect("backup thread");
        removed_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the removal runs once the backup lets go");
        remover.join().expect("remover thread");
    }
}
