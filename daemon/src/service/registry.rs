//! The registry's rules: what a push must contain, how uploads become blobs, what a repository
//! may serve. Errors are [`RegistryError`], which `registry::error` maps to OCI error JSON.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::Stream;

use crate::db::registry::{self as q, ManifestRow, NewManifest, ReferrerRow};
use crate::db::{self, Db, DbError};
use crate::digest::{Algorithm, Digest, Hasher};
use crate::manifest::{self, ManifestError};
use crate::names::{valid_tag, RepoName};

use crate::gc::leases::Leases;
use crate::gc::locks::BlobLocks;
use crate::settings::SettingsHandle;
use crate::storage::BlobStore;

use super::immutability::{self, Immutable};
use super::quotas::quota_refusal;

/// How many repositories holding a blob a mount without `from` considers.
const MOUNT_CANDIDATES: u32 = 20;
/// A `HEAD` records that a blob was seen at most this often (the grace period is hours).
const TOUCH_EVERY_SECONDS: i64 = 60;

use super::uploads::{self, AppendError, SessionLimits, Uploads};

/// A rule broken, or something that failed underneath. Each variant is one OCI error code.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("blob unknown to registry")]
    BlobUnknown,
    #[error("blob upload invalid: {0}")]
    BlobUploadInvalid(String),
    #[error("blob upload unknown to registry")]
    BlobUploadUnknown,
    #[error("provided digest did not match uploaded content: {0}")]
    DigestInvalid(String),
    #[error("blob unknown to registry: {0}")]
    ManifestBlobUnknown(String),
    #[error("{0}")]
    ManifestInvalid(String),
    #[error("manifest unknown")]
    ManifestUnknown,
    #[error("invalid repository name: {0}")]
    NameInvalid(String),
    #[error("repository name not known to registry")]
    NameUnknown,
    #[error("{0}")]
    SizeInvalid(String),
    #[error("manifest too large: the limit is {0} bytes")]
    ManifestTooLarge(usize),
    #[error("chunk out of order: the upload is at offset {offset}")]
    RangeInvalid { offset: u64 },
    #[error("requested range not satisfiable")]
    RangeNotSatisfiable { size: u64 },
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    TooManyRequests(String),
    /// Something else still uses it: deleting it would break an image.
    #[error("{0}")]
    InUse(String),
    /// A project's policy refuses it: an immutable tag, a full quota.
    #[error("{0}")]
    Denied(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<DbError> for RegistryError {
    fn from(e: DbError) -> Self {
        RegistryError::Internal(e.to_string())
    }
}

impl From<std::io::Error> for RegistryError {
    fn from(e: std::io::Error) -> Self {
        // Past the reserve (concurrent uploads, another program filling the disk): still a
        // clear refusal, not an internal error.
        if e.kind() == std::io::ErrorKind::StorageFull {
            return RegistryError::Denied(
                "the registry's disk is full: pushes are refused until an administrator frees \
                 space (delete artifacts, then run garbage collection); pulls go on"
                    .into(),
            );
        }
        RegistryError::Internal(format!("storage: {e}"))
    }
}

impl From<tokio::task::JoinError> for RegistryError {
    fn from(e: tokio::task::JoinError) -> Self {
        RegistryError::Internal(e.to_string())
    }
}

impl From<ManifestError> for RegistryError {
    fn from(e: ManifestError) -> Self {
        match e {
            ManifestError::Invalid(m) => RegistryError::ManifestInvalid(m),
            ManifestError::Unsupported(m) => RegistryError::Unsupported(m),
        }
    }
}

impl From<AppendError> for RegistryError {
    fn from(e: AppendError) -> Self {
        match e {
            AppendError::Client(m) => {
                RegistryError::BlobUploadInvalid(format!("upload interrupted: {m}"))
            }
            AppendError::Io(e) => e.into(),
            AppendError::Full(why) => RegistryError::Denied(why),
        }
    }
}

type Result<T> = std::result::Result<T, RegistryError>;

/// Where an upload stands: what `Location` and `Range` report.
#[derive(Debug, Clone)]
pub struct UploadStatus {
    pub id: String,
    pub offset: u64,
}

/// A tag or a digest, as the `<reference>` of a manifest path.
pub enum Reference {
    Tag(String),
    Digest(Digest),
}

impl Reference {
    pub fn parse(s: &str) -> Result<Reference> {
        if s.contains(':') {
            s.parse::<Digest>()
                .map(Reference::Digest)
                .map_err(|e| RegistryError::DigestInvalid(e.to_string()))
        } else if valid_tag(s) {
            Ok(Reference::Tag(s.to_string()))
        } else {
            Err(RegistryError::ManifestInvalid(format!("invalid tag {s:?}")))
        }
    }
}

pub struct PutManifestOutcome {
    pub digest: Digest,
    pub subject: Option<String>,
    pub project_id: i64,
}

#[derive(Clone)]
pub struct Registry {
    db: Db,
    store: Arc<dyn BlobStore>,
    uploads: Uploads,
    limits: SessionLimits,
    /// Pushers' claims on content no manifest references yet (see `gc::leases`).
    leases: Leases,
    /// Upload commits and GC's file removals exclude each other per digest.
    locks: BlobLocks,
    /// Whether quotas are enforced (`quota_per_project_enable`) is read at each push.
    settings: SettingsHandle,
    /// The free-space reserve every push checks.
    room: super::room::Room,
}

impl Registry {
    /// `lease_lifetime` is how long a push may take from a `HEAD` to its manifest: the push
    /// token's lifetime.
    pub fn new(
        db: Db,
        store: Arc<dyn BlobStore>,
        limits: SessionLimits,
        lease_lifetime: Duration,
        settings: SettingsHandle,
        reserve_bytes: u64,
    ) -> Registry {
        Registry {
            db,
            room: super::room::Room::new(store.clone(), reserve_bytes),
            store,
            uploads: Uploads::default(),
            limits,
            leases: Leases::new(lease_lifetime),
            locks: BlobLocks::default(),
            settings,
        }
    }

    /// `DENIED` when the data volume is below its free-space reserve.
    async fn ensure_room(&self) -> Result<()> {
        let room = self.room.clone();
        tokio::task::spawn_blocking(move || room.check())
            .await?
            .map_err(RegistryError::Denied)
    }

    fn quotas_enforced(&self) -> bool {
        self.settings.current().system.quota_per_project_enable
    }

    pub fn store(&self) -> &Arc<dyn BlobStore> {
        &self.store
    }

    pub fn leases(&self) -> &Leases {
        &self.leases
    }

    pub fn locks(&self) -> &BlobLocks {
        &self.locks
    }

    /// The project id for a repository name; NAME_UNKNOWN when the project does not exist.
    async fn project_id(&self, repo: &RepoName) -> Result<i64> {
        let project = repo.project().to_string();
        self.db
            .read(move |c| db::projects::by_name(c, &project))
            .await?
            .map(|p| p.id)
            .ok_or(RegistryError::NameUnknown)
    }

    /// A `HEAD` on a blob: its size if linked to the repository. The lease (for callers who
    /// may push) is taken before the blob is looked up, so garbage collection either sees the
    /// lease or has already deleted the rows, and then this answers 404 and the client uploads
    /// the blob again. The blob counts as seen now, for the grace period.
    pub async fn check_blob(
        &self,
        repo: &RepoName,
        digest: &Digest,
        may_push: bool,
    ) -> Result<u64> {
        let (r, d) = (repo.to_string(), digest.to_string());
        let taken = may_push.then(|| self.leases.take(&r, &d));
        let (r2, d2) = (r.clone(), d.clone());
        // A pusher's lookup goes through the writer: a GC batch that checked the lease before
        // it was taken has then committed, and the answer is 404, never a 200 for a blob that
        // is going. Others only read, and refresh nothing: pulls never keep garbage.
        let seen = if may_push {
            self.db
                .write(move |tx| {
                    let seen = q::linked_blob_seen(tx, &r2, &d2)?;
                    if let Some((_, last_seen)) = seen {
                        if db::now() - last_seen >= TOUCH_EVERY_SECONDS {
                            q::touch_blob(tx, &d2)?;
                        }
                    }
                    Ok::<_, DbError>(seen)
                })
                .await
        } else {
            self.db
                .read(move |c| q::linked_blob_seen(c, &r2, &d2))
                .await
        };
        // A miss or a failure gives back the lease this lookup took (only if it took it).
        let Ok(Some((size, _))) = seen else {
            if let Some(taken) = taken {
                self.leases.give_back(&r, &d, taken);
            }
            seen?;
            return Err(RegistryError::BlobUnknown);
        };
        Ok(size as u64)
    }

    /// Size of a blob linked to the repository.
    pub async fn blob_size(&self, repo: &RepoName, digest: &Digest) -> Result<u64> {
        let (r, d) = (repo.to_string(), digest.to_string());
        let size = self
            .db
            .read(move |c| q::linked_blob_size(c, &r, &d))
            .await?;
        size.map(|s| s as u64).ok_or(RegistryError::BlobUnknown)
    }

    pub fn blob_stream(
        &self,
        digest: &Digest,
        offset: u64,
        len: u64,
    ) -> BoxStream<'static, std::io::Result<Bytes>> {
        self.store.read(digest, offset, len)
    }

    /// A small blob linked to the repository, whole: `None` when it is larger than `max`.
    pub async fn read_small_blob(
        &self,
        repo: &RepoName,
        digest: &Digest,
        max: u64,
    ) -> Result<Option<Vec<u8>>> {
        use futures_util::StreamExt;
        let size = self.blob_size(repo, digest).await?;
        if size > max {
            return Ok(None);
        }
        let mut stream = self.store.read(digest, 0, size);
        let mut out = Vec::with_capacity(size as usize);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| RegistryError::Internal(e.to_string()))?;
            if (out.len() + chunk.len()) as u64 > max {
                return Ok(None);
            }
            out.extend_from_slice(&chunk);
        }
        Ok(Some(out))
    }

    /// Unlinks a blob from the repository, never while a manifest there uses it.
    pub async fn delete_blob(&self, repo: &RepoName, digest: &Digest) -> Result<()> {
        let (r, d) = (repo.to_string(), digest.to_string());
        self.db
            .write(move |tx| {
                let repo_id = q::repository_id(tx, &r)?.ok_or(RegistryError::BlobUnknown)?;
                if let Some(user) = q::blob_user(tx, repo_id, &d)? {
                    return Err(RegistryError::InUse(format!(
                        "blob {d} is used by manifest {user} in {r}: delete that manifest first"
                    )));
                }
                if q::unlink_blob(tx, repo_id, &d)? {
                    Ok(())
                } else {
                    Err(RegistryError::BlobUnknown)
                }
            })
            .await
    }

    /// Links a blob of `from` into `repo` without copying. `false` when `from` does not have it,
    /// in which case the caller falls back to a normal upload, as the spec says.
    pub async fn mount_blob(
        &self,
        repo: &RepoName,
        from: &RepoName,
        digest: &Digest,
    ) -> Result<bool> {
        let project_id = self.project_id(repo).await?;
        let (r, f, d) = (repo.to_string(), from.to_string(), digest.to_string());
        // Leased first: the blob stays until the manifest that needs it arrives.
        let taken = self.leases.take(&r, &d);
        let (r2, d2) = (r.clone(), d.clone());
        let enforced = self.quotas_enforced();
        let project = repo.project().to_string();
        let mounted = self
            .db
            .write(move |tx| {
                let Some(size) = q::linked_blob_size(tx, &f, &d2)? else {
                    return Ok(false);
                };
                if enforced {
                    if let Err(e) = db::quotas::check_room(tx, project_id, &d2, size)? {
                        return Err(quota_refusal(&project, &e));
                    }
                }
                let repo_id = q::ensure_repository(tx, project_id, &r2)?;
                q::link_blob(tx, repo_id, &d2)?;
                Ok::<_, RegistryError>(true)
            })
            .await;
        if !matches!(mounted, Ok(true)) {
            self.leases.give_back(&r, &d, taken);
        }
        mounted
    }

    /// Repositories the blob is linked to (a bounded sample), candidates for a mount without
    /// `from`; the caller decides which it may pull.
    pub async fn repositories_holding(&self, digest: &Digest) -> Result<Vec<RepoName>> {
        let d = digest.to_string();
        let names = self
            .db
            .read(move |c| q::repositories_holding(c, &d, MOUNT_CANDIDATES))
            .await?;
        Ok(names
            .iter()
            .filter_map(|n| RepoName::parse(n).ok())
            .collect())
    }

    /// Starts an upload session for `owner` (the token's subject), within the caps on open
    /// sessions; returns its id.
    pub async fn start_upload(
        &self,
        repo: &RepoName,
        owner: &str,
        algorithm: Algorithm,
    ) -> Result<String> {
        self.project_id(repo).await?;
        self.ensure_room().await?;
        let store = self.store.clone();
        let uploads = self.uploads.clone();
        let (name, owner, limits) = (repo.to_string(), owner.to_string(), self.limits);
        let handle = tokio::task::spawn_blocking(move || {
            uploads.create(store.as_ref(), &name, &owner, algorithm, limits)
        })
        .await?
        .map_err(|e| match e {
            uploads::CreateError::TooMany(m) => RegistryError::TooManyRequests(m),
            uploads::CreateError::Io(e) => e.into(),
        })?;
        let id = handle.lock().await.id.clone();
        Ok(id)
    }

    /// The session, locked, if it exists and belongs to this repository. The repository is
    /// checked under the lock, for every operation: a session id alone never reaches another
    /// repository's upload.
    async fn session(
        &self,
        repo: &RepoName,
        id: &str,
    ) -> Result<tokio::sync::OwnedMutexGuard<uploads::UploadSession>> {
        let handle = self
            .uploads
            .get(id)
            .ok_or(RegistryError::BlobUploadUnknown)?;
        let session = handle.lock_owned().await;
        if session.repository == repo.as_str() {
            Ok(session)
        } else {
            Err(RegistryError::BlobUploadUnknown)
        }
    }

    /// Appends a chunk. `start` is the first byte's offset from `Content-Range`, when sent; a
    /// chunk that does not continue where the upload stands is refused (416).
    pub async fn append_upload<S, E>(
        &self,
        repo: &RepoName,
        id: &str,
        start: Option<u64>,
        body: S,
    ) -> Result<UploadStatus>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let mut session = self.session(repo, id).await?;
        if let Some(start) = start {
            if start != session.offset {
                return Err(RegistryError::RangeInvalid {
                    offset: session.offset,
                });
            }
        }
        let result = uploads::append(&self.store, &self.room, &mut session, body).await;
        // A failed write, or a full disk (whose partial file is best given back at once).
        if let Err(AppendError::Io(_) | AppendError::Full(_)) = &result {
            self.discard(&session.id).await;
        }
        result?;
        Ok(UploadStatus {
            id: session.id.clone(),
            offset: session.offset,
        })
    }

    pub async fn upload_status(&self, repo: &RepoName, id: &str) -> Result<UploadStatus> {
        let session = self.session(repo, id).await?;
        Ok(UploadStatus {
            id: session.id.clone(),
            offset: session.offset,
        })
    }

    pub async fn cancel_upload(&self, repo: &RepoName, id: &str) -> Result<()> {
        let session = self.session(repo, id).await?;
        self.discard(&session.id).await;
        Ok(())
    }

    async fn discard(&self, id: &str) {
        self.uploads.remove(id);
        let store = self.store.clone();
        let id = id.to_string();
        let _ = tokio::task::spawn_blocking(move || store.remove_upload(&id)).await;
    }

    /// Completes an upload: the last chunk (possibly empty), the digest check, the durable move
    /// into place, and only then the database record and the link.
    pub async fn finish_upload<S, E>(
        &self,
        repo: &RepoName,
        id: &str,
        expected: &str,
        start: Option<u64>,
        body: S,
    ) -> Result<Digest>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let expected: Digest = match expected.parse() {
            Ok(d) => d,
            Err(e) => return Err(RegistryError::DigestInvalid(e.to_string())),
        };
        let project_id = self.project_id(repo).await?;
        let mut session = self.session(repo, id).await?;
        if let Some(start) = start {
            if start != session.offset {
                return Err(RegistryError::RangeInvalid {
                    offset: session.offset,
                });
            }
        }
        if let Err(e) = uploads::append(&self.store, &self.room, &mut session, body).await {
            if matches!(e, AppendError::Io(_) | AppendError::Full(_)) {
                self.discard(&session.id).await;
            }
            return Err(e.into());
        }
        let size = session.offset;
        let actual = match session
            .digest_so_far()
            .filter(|d| d.algorithm() == expected.algorithm())
        {
            Some(d) => d,
            // The client chose another algorithm than the one hashed while streaming.
            None => {
                let store = self.store.clone();
                let (upload_id, algorithm) = (session.id.clone(), expected.algorithm());
                tokio::task::spawn_blocking(move || rehash(store.as_ref(), &upload_id, algorithm))
                    .await??
            }
        };
        if actual != expected {
            self.discard(&session.id).await;
            return Err(RegistryError::DigestInvalid(format!(
                "expected {expected}, content is {actual}"
            )));
        }
        // Over quota: refused before the file moves, so nothing is stored. The check is made
        // again in the transaction that links the blob, which decides.
        let enforced = self.quotas_enforced();
        if enforced {
            let d = expected.to_string();
            let room = self
                .db
                .read(move |c| db::quotas::check_room(c, project_id, &d, size as i64))
                .await?;
            if let Err(e) = room {
                self.discard(&session.id).await;
                return Err(quota_refusal(repo.project(), &e));
            }
        }
        let project = repo.project().to_string();
        // The file moves into place and its row is written under the blob's lock, so garbage
        // collection never removes a file between the two; the lease keeps the blob until the
        // manifest that uses it arrives. Both steps run in a task of their own that owns the
        // lock and the session: a client that goes away mid-way drops this future, never the
        // lock before the row is written, and the session ends either way.
        let (r, d) = (repo.to_string(), expected.to_string());
        let guard = self.locks.lock(&d).await;
        let taken = self.leases.take(&r, &d);
        let (store, db, uploads, leases) = (
            self.store.clone(),
            self.db.clone(),
            self.uploads.clone(),
            self.leases.clone(),
        );
        let (upload_id, digest) = (session.id.clone(), expected.clone());
        let digest_for_removal = expected.clone();
        let committed = tokio::spawn(async move {
            let _guard = guard;
            let session = session;
            let moved = tokio::task::spawn_blocking({
                let upload_id = upload_id.clone();
                let store = store.clone();
                move || store.commit_upload(&upload_id, &digest)
            })
            .await
            .map_err(RegistryError::from)
            .and_then(|r| r.map_err(RegistryError::from));
            let outcome = match moved {
                Ok(()) => {
                    uploads.remove(&upload_id);
                    let (r, d) = (r.clone(), d.clone());
                    let stored = db
                        .write(move |tx| {
                            // Whether the file was already known: a refused first copy goes.
                            let known = q::blob_exists(tx, &d)?;
                            if enforced {
                                if let Err(e) =
                                    db::quotas::check_room(tx, project_id, &d, size as i64)?
                                {
                                    return Ok(Err((quota_refusal(&project, &e), known)));
                                }
                            }
                            let repo_id = q::ensure_repository(tx, project_id, &r)?;
                            q::record_blob(tx, repo_id, &d, size as i64)?;
                            Ok::<_, RegistryError>(Ok(()))
                        })
                        .await;
                    match stored {
                        Ok(Ok(())) => Ok(()),
                        Ok(Err((refusal, known))) => {
                            // Still under the blob's lock: no other commit or GC is between.
                            if !known {
                                let _ = tokio::task::spawn_blocking(move || {
                                    store.remove_blob(&digest_for_removal)
                                })
                                .await;
                            }
                            Err(refusal)
                        }
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
            drop(session);
            if let Err(e) = &outcome {
                leases.give_back(&r, &d, taken);
                tracing::warn!(upload = %upload_id, error = %e, "an upload could not be stored");
            }
            outcome
        });
        committed.await??;
        Ok(expected)
    }

    /// Checks and stores a manifest, its references and its tag in one transaction. Whether
    /// every referenced blob is linked is checked again inside that transaction, so a manifest
    /// never points at a blob that garbage collection has taken.
    pub async fn put_manifest(
        &self,
        repo: &RepoName,
        reference: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<PutManifestOutcome> {
        let reference = Reference::parse(reference)?;
        self.ensure_room().await?;
        if body.len() > manifest::MAX_MANIFEST_BYTES {
            return Err(RegistryError::ManifestTooLarge(
                manifest::MAX_MANIFEST_BYTES,
            ));
        }
        let parsed = manifest::parse(content_type, &body)?;
        let digest = match &reference {
            Reference::Digest(d) => {
                let actual = Digest::of(d.algorithm(), &body);
                if &actual != d {
                    return Err(RegistryError::DigestInvalid(format!(
                        "manifest digest is {actual}, not {d}"
                    )));
                }
                actual
            }
            Reference::Tag(_) => Digest::sha256_of(&body),
        };
        let project_id = self.project_id(repo).await?;
        let tag = match reference {
            Reference::Tag(t) => Some(t),
            Reference::Digest(_) => None,
        };
        let repo_name = repo.to_string();
        let digest_str = digest.to_string();
        let subject = parsed.subject.clone();
        // A manifest pushed by digest alone (an index's child, a referrer) is untagged until
        // what needs it arrives: leased like a blob, so `delete_untagged` leaves it.
        let by_digest = tag.is_none();
        let taken = by_digest.then(|| self.leases.take(&repo_name, &digest_str));
        let used: Vec<String> = parsed
            .blobs
            .iter()
            .chain(parsed.manifests.iter())
            .cloned()
            .collect();
        let enforced = self.quotas_enforced();
        let project = repo.project().to_string();
        let subject_here = self
            .db
            .write(move |tx| {
                if let Some(tag) = &tag {
                    let current = q::tag_digest(tx, &repo_name, tag)?;
                    if current.is_some_and(|d| d != digest_str)
                        && Immutable::load(tx, project_id)?.protects(&repo_name, tag)
                    {
                        return Err(RegistryError::Denied(immutability::refusal(
                            &repo_name, tag,
                        )));
                    }
                }
                if enforced {
                    if let Err(e) =
                        db::quotas::check_room(tx, project_id, &digest_str, body.len() as i64)?
                    {
                        return Err(quota_refusal(&project, &e));
                    }
                }
                let repo_id = q::ensure_repository(tx, project_id, &repo_name)?;
                let missing = q::unlinked_blobs(tx, repo_id, &parsed.blobs)?;
                if let Some(first) = missing.first() {
                    return Err(RegistryError::ManifestBlobUnknown(first.clone()));
                }
                let missing = q::missing_manifests(tx, repo_id, &parsed.manifests)?;
                if let Some(first) = missing.first() {
                    return Err(RegistryError::ManifestBlobUnknown(format!(
                        "manifest {first}"
                    )));
                }
                let annotations = parsed.annotations.as_ref().map(|a| a.to_string());
                let id = q::put_manifest(
                    tx,
                    repo_id,
                    &NewManifest {
                        digest: &digest_str,
                        media_type: &parsed.media_type,
                        artifact_type: parsed.artifact_type.as_deref(),
                        subject_digest: parsed.subject.as_deref(),
                        annotations: annotations.as_deref(),
                        content: &body,
                        blobs: &parsed.blobs,
                        manifests: &parsed.manifests,
                    },
                )?;
                if let Some(tag) = &tag {
                    q::put_tag(tx, repo_id, tag, id)?;
                }
                // A referrer whose subject is here stays with it: it needs no lease.
                let subject_here = match &parsed.subject {
                    Some(s) => {
                        q::missing_manifests(tx, repo_id, std::slice::from_ref(s))?.is_empty()
                    }
                    None => false,
                };
                Ok(subject_here)
            })
            .await;
        let subject_here = match subject_here {
            Ok(here) => here,
            Err(e) => {
                // A refused manifest keeps nothing alive.
                if let Some(taken) = taken {
                    self.leases
                        .give_back(repo.as_str(), &digest.to_string(), taken);
                }
                return Err(e);
            }
        };
        // Referenced now: the leases that kept these for this push have done their work.
        self.leases.release(repo.as_str(), &used);
        if subject_here {
            self.leases.release(repo.as_str(), [&digest.to_string()]);
        }
        Ok(PutManifestOutcome {
            digest,
            subject,
            project_id,
        })
    }

    pub async fn get_manifest(&self, repo: &RepoName, reference: &str) -> Result<ManifestRow> {
        let reference = match Reference::parse(reference) {
            Ok(r) => r,
            Err(RegistryError::DigestInvalid(_)) | Err(RegistryError::ManifestInvalid(_)) => {
                return Err(RegistryError::ManifestUnknown)
            }
            Err(e) => return Err(e),
        };
        let r = repo.to_string();
        let row = self
            .db
            .read(move |c| match reference {
                Reference::Tag(t) => q::manifest_by_tag(c, &r, &t),
                Reference::Digest(d) => q::manifest_by_digest(c, &r, &d.to_string()),
            })
            .await?;
        match row {
            Some(row) => Ok(row),
            None => Err(self.unknown_manifest_or_name(repo).await),
        }
    }

    /// A manifest miss in an unknown repository is NAME_UNKNOWN; in a known one MANIFEST_UNKNOWN.
    async fn unknown_manifest_or_name(&self, repo: &RepoName) -> RegistryError {
        let r = repo.to_string();
        match self.db.read(move |c| q::repository_id(c, &r)).await {
            Ok(Some(_)) => RegistryError::ManifestUnknown,
            Ok(None) => RegistryError::NameUnknown,
            Err(e) => e.into(),
        }
    }

    /// By digest: the manifest and its tags go, with the children of an index that nothing
    /// else uses and the referrers of a subject; a manifest another one references is refused.
    /// By tag: only the tag goes. Returns the project's id, for the audit log.
    pub async fn delete_manifest(&self, repo: &RepoName, reference: &str) -> Result<i64> {
        let reference = Reference::parse(reference)?;
        let project_id = self.project_id(repo).await?;
        let r = repo.to_string();
        let removed = self
            .db
            .write(move |tx| {
                let Some(repo_id) = q::repository_id(tx, &r)? else {
                    return Ok(false);
                };
                let immutable = Immutable::load(tx, project_id)?;
                // By digest, whatever goes with the manifest (an index's children, referrers)
                // takes its tags along: none of them may be immutable.
                let tags = match &reference {
                    Reference::Tag(t) => vec![t.clone()],
                    Reference::Digest(d) => match q::deletion_of(tx, repo_id, &d.to_string())? {
                        q::ManifestDeletion::Deleted(doomed) => {
                            q::tags_of_digests(tx, repo_id, &doomed)?
                        }
                        _ => vec![],
                    },
                };
                if let Some(t) = immutable.first_protected(&r, &tags) {
                    return Err(RegistryError::Denied(immutability::refusal(&r, t)));
                }
                match reference {
                    Reference::Tag(t) => Ok(q::delete_tag(tx, &r, &t)?),
                    Reference::Digest(d) => match q::delete_manifest(tx, repo_id, &d.to_string())? {
                        q::ManifestDeletion::Deleted(_) => Ok(true),
                        q::ManifestDeletion::NotFound => Ok(false),
                        q::ManifestDeletion::Referenced { by } => Err(RegistryError::InUse(
                            format!("manifest {d} is referenced by manifest {by} in {r}: delete that one first"),
                        )),
                    },
                }
            })
            .await?;
        if removed {
            Ok(project_id)
        } else {
            Err(self.unknown_manifest_or_name(repo).await)
        }
    }

    pub async fn tags(
        &self,
        repo: &RepoName,
        last: Option<String>,
        limit: i64,
    ) -> Result<Vec<String>> {
        let r = repo.to_string();
        self.db
            .read(move |c| match q::repository_id(c, &r)? {
                Some(id) => Ok(Some(q::tags_page(c, id, last.as_deref(), limit)?)),
                None => Ok(None),
            })
            .await?
            .ok_or(RegistryError::NameUnknown)
    }

    pub async fn catalog(
        &self,
        project_ids: Vec<i64>,
        last: Option<String>,
        limit: i64,
    ) -> Result<Vec<String>> {
        Ok(self
            .db
            .read(move |c| q::catalog_page(c, &project_ids, last.as_deref(), limit))
            .await?)
    }

    pub async fn referrers(
        &self,
        repo: &RepoName,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<ReferrerRow>> {
        let (r, d) = (repo.to_string(), digest.to_string());
        let mut rows = self.db.read(move |c| q::referrers(c, &r, &d)).await?;
        if let Some(t) = artifact_type {
            rows.retain(|row| row.artifact_type.as_deref() == Some(t));
        }
        Ok(rows)
    }

    /// Removes upload files left by an earlier run: their running hashes died with it.
    pub async fn purge_leftover_uploads(&self) -> Result<usize> {
        let store = self.store.clone();
        Ok(tokio::task::spawn_blocking(move || store.purge_uploads(Duration::ZERO)).await??)
    }

    /// Upload files that no live session owns (a session's file is created after the session
    /// and removed after it, so such a file is garbage), removed when `remove`; returns how
    /// many.
    pub async fn abandoned_uploads(&self, remove: bool) -> Result<usize> {
        let store = self.store.clone();
        let uploads = self.uploads.clone();
        Ok(tokio::task::spawn_blocking(move || {
            let mut found = 0;
            for id in store.list_uploads()? {
                if uploads.get(&id).is_none() && (!remove || store.remove_upload(&id).is_ok()) {
                    found += 1;
                }
            }
            Ok::<_, std::io::Error>(found)
        })
        .await??)
    }

    /// Upload sessions open now.
    pub fn uploads_open(&self) -> usize {
        self.uploads.open()
    }

    /// Sessions idle for longer than `max_age` (what `expire_uploads` would discard).
    pub fn idle_uploads(&self, max_age: Duration) -> usize {
        self.uploads.idle(max_age)
    }

    /// Discards sessions idle for longer than `max_age`, with their files.
    pub async fn expire_uploads(&self, max_age: Duration) -> Result<usize> {
        let expired = self.uploads.expire(max_age);
        let n = expired.len();
        for id in expired {
            self.discard(&id).await;
        }
        Ok(n)
    }
}

fn rehash(store: &dyn BlobStore, id: &str, algorithm: Algorithm) -> std::io::Result<Digest> {
    use std::io::Read;
    let mut reader = store.read_upload(id)?;
    let mut hasher = Hasher::new(algorithm);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok(hasher.finish());
        }
        hasher.update(&buf[..n]);
    }
}
