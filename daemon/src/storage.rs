//! The blob store: owns all file I/O for content. Blobs live at `blobs/<alg>/<2 hex>/<hex>` and
//! are only ever created by renaming a fully written, fsynced upload file into place, so a file
//! at a blob's final path always hashes to its name. Upload files live in `uploads/` until then.
//!
//! The store sits behind [`BlobStore`] so that an S3-compatible backend can be added later; the
//! filesystem is the default.

use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;

use crate::digest::Digest;

pub mod fence;

/// What the registry needs from a place that keeps blobs. Blocking methods run on
/// `spawn_blocking`; reads come back as a stream.
pub trait BlobStore: Send + Sync + 'static {
    /// The blob's size, if stored.
    fn stat(&self, digest: &Digest) -> io::Result<Option<u64>>;
    /// Streams `len` bytes of the blob from `offset`.
    fn read(&self, digest: &Digest, offset: u64, len: u64)
        -> BoxStream<'static, io::Result<Bytes>>;
    /// Creates (truncating) the upload file for a new session.
    fn create_upload(&self, id: &str) -> io::Result<Box<dyn UploadFile>>;
    /// Reopens an existing upload for appending (after the session was parked).
    fn reopen_upload(&self, id: &str) -> io::Result<Box<dyn UploadFile>>;
    /// Reads an upload back from the start; only for re-hashing with another algorithm.
    fn read_upload(&self, id: &str) -> io::Result<Box<dyn Read + Send>>;
    /// Makes the upload durable and moves it to the blob's final place. Idempotent when the
    /// blob already exists (the upload is then discarded: deduplication).
    fn commit_upload(&self, id: &str, digest: &Digest) -> io::Result<()>;
    /// Discards an upload's file.
    fn remove_upload(&self, id: &str) -> io::Result<()>;
    /// Removes upload files not touched for `max_age` (all of them when zero); returns how many.
    fn purge_uploads(&self, max_age: Duration) -> io::Result<usize>;
    /// Whether the store is usable, for the health endpoint.
    fn check(&self) -> io::Result<()>;
    /// Removes a blob's file; false when there was none. Only garbage collection calls it,
    /// after the blob's rows are gone and under its lock, inside a [`BlobStore::removal`].
    fn remove_blob(&self, digest: &Digest) -> io::Result<bool>;
    /// Blocks while a backup takes its snapshot and links; held from before a removal's
    /// row deletion until its files are gone (see [`fence`]).
    fn removal(&self) -> io::Result<fence::Removal>;
    /// The blobs stored under one shard (the first two hex digits), with their sizes.
    fn list_blobs(&self, shard: &str) -> io::Result<Vec<(Digest, u64)>>;
    /// Upload files by id, for finding those no session owns.
    fn list_uploads(&self) -> io::Result<Vec<String>>;
    /// Total and free bytes of the volume that holds the blobs.
    fn volume(&self) -> io::Result<(u64, u64)>;
}

/// An upload file being written.
pub trait UploadFile: Write + Send {}
impl UploadFile for io::BufWriter<File> {}

/// The filesystem blob store.
pub struct FsBlobStore {
    blobs: PathBuf,
    uploads: PathBuf,
    fence: fence::Fence,
}

const READ_CHUNK: usize = 1024 * 1024;
const WRITE_BUFFER: usize = 1024 * 1024;

impl FsBlobStore {
    pub fn open(data_dir: &Path) -> io::Result<FsBlobStore> {
        let store = FsBlobStore {
            blobs: blobs_dir(data_dir),
            uploads: data_dir.join("uploads"),
            fence: fence::Fence::at(data_dir),
        };
        fs::create_dir_all(&store.blobs)?;
        fs::create_dir_all(&store.uploads)?;
        Ok(store)
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        blob_path(&self.blobs, digest)
    }

    fn upload_path(&self, id: &str) -> io::Result<PathBuf> {
        // Upload ids are our own UUIDs; refuse anything else rather than build a path from it.
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "bad upload id"));
        }
        Ok(self.uploads.join(id))
    }
}

/// Where a blob lives under a blob directory: `<alg>/<2 hex>/<hex>`. Backups keep their pool
/// in the same layout.
pub fn blob_path(blobs: &Path, digest: &Digest) -> PathBuf {
    let hex = digest.hex();
    blobs
        .join(digest.algorithm().name())
        .join(&hex[..2])
        .join(hex)
}

/// The blob directory of a data directory.
pub fn blobs_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("blobs")
}

fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` and its missing parents, fsyncing each parent that gained an entry, so the
/// directory survives power loss along with the file renamed into it.
/// Creates `dir` (and its parents) with no access for others, and takes away any access for
/// others that an earlier run, started with a looser umask, left on it or on the database and
/// content directories inside.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o750)
        .create(dir)?;
    for path in [
        dir.to_path_buf(),
        dir.join("blobs"),
        dir.join("uploads"),
        dir.join("berth.db"),
        dir.join("berth.db-wal"),
        dir.join("berth.db-shm"),
    ] {
        if let Ok(meta) = fs::metadata(&path) {
            let mode = meta.permissions().mode();
            if mode & 0o007 != 0 {
                fs::set_permissions(&path, fs::Permissions::from_mode(mode & !0o007))?;
            }
        }
    }
    Ok(())
}

fn create_dir_durable(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir_durable(parent)?;
        match fs::create_dir(dir) {
            Ok(()) => fsync_dir(parent)?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl BlobStore for FsBlobStore {
    fn stat(&self, digest: &Digest) -> io::Result<Option<u64>> {
        match fs::metadata(self.blob_path(digest)) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn read(
        &self,
        digest: &Digest,
        offset: u64,
        len: u64,
    ) -> BoxStream<'static, io::Result<Bytes>> {
        // One blocking thread per download reads straight into the buffers that go on the
        // wire: one copy, no thread hop per chunk. A closed channel (client gone) ends it.
        let path = self.blob_path(digest);
        let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(4);
        tokio::task::spawn_blocking(move || {
            let result = (|| {
                let mut file = File::open(&path)?;
                if offset > 0 {
                    file.seek(io::SeekFrom::Start(offset))?;
                }
                let mut remaining = len;
                while remaining > 0 {
                    let n = remaining.min(READ_CHUNK as u64) as usize;
                    let mut buf = vec![0u8; n];
                    file.read_exact(&mut buf)?;
                    remaining -= n as u64;
                    if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                        break;
                    }
                }
                Ok::<_, io::Error>(())
            })();
            if let Err(e) = result {
                let _ = tx.blocking_send(Err(e));
            }
        });
        futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        })
        .boxed()
    }

    fn create_upload(&self, id: &str) -> io::Result<Box<dyn UploadFile>> {
        let f = File::create(self.upload_path(id)?)?;
        Ok(Box::new(io::BufWriter::with_capacity(WRITE_BUFFER, f)))
    }

    fn reopen_upload(&self, id: &str) -> io::Result<Box<dyn UploadFile>> {
        let f = fs::OpenOptions::new()
            .append(true)
            .open(self.upload_path(id)?)?;
        Ok(Box::new(io::BufWriter::with_capacity(WRITE_BUFFER, f)))
    }

    fn read_upload(&self, id: &str) -> io::Result<Box<dyn Read + Send>> {
        Ok(Box::new(io::BufReader::with_capacity(
            READ_CHUNK,
            File::open(self.upload_path(id)?)?,
        )))
    }

    fn commit_upload(&self, id: &str, digest: &Digest) -> io::Result<()> {
        let upload = self.upload_path(id)?;
        let target = self.blob_path(digest);
        if target.is_file() {
            fs::remove_file(&upload)?;
            return Ok(());
        }
        File::open(&upload)?.sync_all()?;
        let parent = target
            .parent()
            .ok_or_else(|| io::Error::other("blob path has no parent"))?;
        create_dir_durable(parent)?;
        fs::rename(&upload, &target)?;
        fsync_dir(parent)
    }

    fn remove_upload(&self, id: &str) -> io::Result<()> {
        match fs::remove_file(self.upload_path(id)?) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn purge_uploads(&self, max_age: Duration) -> io::Result<usize> {
        let now = SystemTime::now();
        let mut removed = 0;
        for entry in fs::read_dir(&self.uploads)? {
            let entry = entry?;
            let modified = entry.metadata()?.modified()?;
            let age = now.duration_since(modified).unwrap_or_default();
            if max_age.is_zero() || age > max_age {
                fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn check(&self) -> io::Result<()> {
        fs::metadata(&self.blobs)?;
        // A real write, synced and removed: a read-only or failing disk shows here.
        let probe = self.uploads.join(format!(".health-{}", std::process::id()));
        let written = (|| {
            let mut f = File::create(&probe)?;
            f.write_all(b"berth")?;
            f.sync_all()
        })();
        let _ = fs::remove_file(&probe);
        written
    }

    fn remove_blob(&self, digest: &Digest) -> io::Result<bool> {
        match fs::remove_file(self.blob_path(digest)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn removal(&self) -> io::Result<fence::Removal> {
        self.fence.enter_removal()
    }

    fn list_blobs(&self, shard: &str) -> io::Result<Vec<(Digest, u64)>> {
        let mut found = Vec::new();
        for algorithm in fs::read_dir(&self.blobs)? {
            let algorithm = algorithm?;
            let dir = algorithm.path().join(shard);
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for entry in entries {
                let entry = entry?;
                let name = format!(
                    "{}:{}",
                    algorithm.file_name().to_string_lossy(),
                    entry.file_name().to_string_lossy()
                );
                // Anything that is not a well-formed digest's file is not ours to judge.
                if let Ok(digest) = name.parse::<Digest>() {
                    let meta = entry.metadata()?;
                    if meta.is_file() {
                        found.push((digest, meta.len()));
                    }
                }
            }
        }
        Ok(found)
    }

    fn list_uploads(&self) -> io::Result<Vec<String>> {
        let mut ids = Vec::new();
        for entry in fs::read_dir(&self.uploads)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            // Dot files are the health check's probe, never an upload.
            if !name.starts_with('.') {
                ids.push(name);
            }
        }
        Ok(ids)
    }

    fn volume(&self) -> io::Result<(u64, u64)> {
        let stat = rustix::fs::statvfs(&self.blobs)?;
        let block = stat.f_frsize;
        Ok((stat.f_blocks * block, stat.f_bavail * block))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn commit_moves_into_place_and_dedups() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FsBlobStore::open(dir.path()).expect("open");
        let digest = Digest::sha256_of(b"hello");
        for id in ["0a-1", "0a-2"] {
            let mut f = store.create_upload(id).expect("create");
            f.write_all(b"hello").expect("write");
            f.flush().expect("flush");
            drop(f);
            store.commit_upload(id, &digest).expect("commit");
            assert!(store.upload_path(id).map(|p| !p.exists()).unwrap_or(false));
        }
        assert_eq!(store.stat(&digest).expect("stat"), Some(5));
        let body: Vec<u8> = store
            .read(&digest, 1, 3)
            .map(|c| c.expect("chunk").to_vec())
            .concat()
            .await;
        assert_eq!(body, b"ell");
    }

    #[test]
    fn refuses_path_like_upload_ids() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FsBlobStore::open(dir.path()).expect("open");
        assert!(store.create_upload("../x").is_err());
        assert!(store.create_upload("").is_err());
    }
}
