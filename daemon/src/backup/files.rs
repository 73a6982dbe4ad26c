//! File moves for backups and restores: a hard link where source and destination share a
//! filesystem (blobs never change once in place, so sharing the inode is safe), a reflink
//! where the filesystem can clone, a copy otherwise; every new file fsynced and renamed into
//! place, so a crash leaves no half file under a final name.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::digest::{Digest, Hasher};

/// Whether a failed hard link means "use a copy" rather than a real error.
pub fn cannot_link(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EXDEV | libc::EPERM | libc::EMLINK | libc::ENOTSUP | libc::EACCES)
    )
}

/// A reflink or a copy of `src` to `dest` through `tmp`, fsynced, renamed into place.
pub fn copy_into_place(src: &Path, dest: &Path, tmp: &Path) -> io::Result<()> {
    fs::create_dir_all(tmp)?;
    let staged = tmp.join(format!(
        "{}.{}",
        dest.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    let _ = fs::remove_file(&staged);
    reflink_copy::reflink_or_copy(src, &staged)?;
    File::open(&staged)?.sync_all()?;
    if let Some(parent) = dest.parent() {
        create_dirs(parent)?;
    }
    fs::rename(&staged, dest)?;
    if let Some(parent) = dest.parent() {
        fsync_dir(parent)?;
    }
    Ok(())
}

/// Copies `src` to `dest` through `tmp` while hashing it with the digest's algorithm, and
/// renames it into place only if the sum matches `expected`.
pub fn copy_checked(src: &Path, dest: &Path, tmp: &Path, expected: &Digest) -> io::Result<u64> {
    fs::create_dir_all(tmp)?;
    let staged = tmp.join(format!("{}.{}", expected.hex(), std::process::id()));
    let _ = fs::remove_file(&staged);
    let mut input = File::open(src)?;
    let mut output = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o640)
        .open(&staged)?;
    let mut hasher = Hasher::new(expected.algorithm());
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        output.write_all(&buf[..n])?;
        total += n as u64;
    }
    output.sync_all()?;
    drop(output);
    if &hasher.finish() != expected {
        let _ = fs::remove_file(&staged);
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} does not hash to {expected}", src.display()),
        ));
    }
    if let Some(parent) = dest.parent() {
        create_dirs(parent)?;
    }
    fs::rename(&staged, dest)?;
    Ok(total)
}

/// Whether the file at `path` hashes to `digest`.
pub fn hashes_to(path: &Path, digest: &Digest) -> io::Result<bool> {
    let mut file = File::open(path)?;
    let mut hasher = Hasher::new(digest.algorithm());
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(&hasher.finish() == digest)
}

/// A file's size and hex SHA-256.
pub fn sha256_file(path: &Path) -> io::Result<(u64, String)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((total, hex::encode(hasher.finalize())))
}

/// Writes `bytes` to `dest` with `mode` (no other access), fsynced, through a temporary
/// name beside it.
pub fn write_file(dest: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let parent = dest
        .parent()
        .ok_or_else(|| io::Error::other("a file without a directory"))?;
    create_dirs(parent)?;
    let staged = parent.join(format!(
        ".{}.{}.tmp",
        dest.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    let _ = fs::remove_file(&staged);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&staged)?;
    f.write_all(bytes)?;
    f.set_permissions(fs::Permissions::from_mode(mode & 0o7777))?;
    f.sync_all()?;
    drop(f);
    fs::rename(&staged, dest)?;
    fsync_dir(parent)
}

pub fn create_dirs(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o750)
        .create(dir)
}

pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The account and group names owning a file, when this machine knows them.
pub fn owner_names(meta: &fs::Metadata) -> (Option<String>, Option<String>) {
    let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(meta.uid()))
        .ok()
        .flatten()
        .map(|u| u.name);
    let group = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(meta.gid()))
        .ok()
        .flatten()
        .map(|g| g.name);
    (user, group)
}

/// This machine's ids for an account and a group name (either may be unknown here).
pub fn ids_of(user: Option<&str>, group: Option<&str>) -> (Option<u32>, Option<u32>) {
    let uid = user
        .and_then(|u| nix::unistd::User::from_name(u).ok().flatten())
        .map(|u| u.uid.as_raw());
    let gid = group
        .and_then(|g| nix::unistd::Group::from_name(g).ok().flatten())
        .map(|g| g.gid.as_raw());
    (uid, gid)
}

/// Whether this process runs as root (and so may give files away).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Gives `path` (not following a link) to the ids, when running as root.
pub fn give(path: &Path, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    if is_root() && (uid.is_some() || gid.is_some()) {
        std::os::unix::fs::lchown(path, uid, gid)?;
    }
    Ok(())
}
