//! Blob upload sessions. Bytes are hashed as they stream to the upload file on a blocking
//! thread, so the digest is known the moment the last byte lands, without a second read. The
//! running hash lives in memory; a session lost with a restart is answered BLOB_UPLOAD_UNKNOWN
//! and the client starts again (its leftover file is removed at start).
//!
//! A session holds no file descriptor between requests: each request opens the upload file
//! for appending and closes it when its body ends, so idle sessions cannot exhaust
//! descriptors. Open sessions are capped per user and in all, as `[storage]` configures.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use crate::digest::{Algorithm, Hasher};
use crate::storage::{BlobStore, UploadFile};

/// One upload in progress.
pub struct UploadSession {
    pub id: String,
    pub repository: String,
    pub offset: u64,
    hasher: Option<Hasher>,
    touched: Instant,
}

impl UploadSession {
    pub fn algorithm(&self) -> Option<Algorithm> {
        self.hasher.as_ref().map(Hasher::algorithm)
    }

    pub fn digest_so_far(&self) -> Option<crate::digest::Digest> {
        self.hasher.as_ref().map(Hasher::current)
    }
}

pub type SessionHandle = Arc<tokio::sync::Mutex<UploadSession>>;

/// Why a session could not be started.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("{0}")]
    TooMany(String),
    #[error("creating upload: {0}")]
    Io(#[from] std::io::Error),
}

/// How many sessions may be open at once.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    pub per_user: usize,
    pub total: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("client stream failed: {0}")]
    Client(String),
    #[error("writing upload: {0}")]
    Io(#[from] std::io::Error),
    /// The volume fell below the free-space reserve (see [`super::room`]).
    #[error("{0}")]
    Full(String),
}

/// The table of live sessions.
#[derive(Clone, Default)]
pub struct Uploads {
    /// Each live session with its owner (readable without the session's lock).
    sessions: Arc<Mutex<HashMap<String, (String, SessionHandle)>>>,
    /// Open sessions per owner.
    owners: Arc<Mutex<HashMap<String, usize>>>,
}

impl Uploads {
    /// Starts a session for `owner`, within the limits. The slot is taken before the file is
    /// created, so concurrent starts cannot overshoot a cap.
    pub fn create(
        &self,
        store: &dyn BlobStore,
        repository: &str,
        owner: &str,
        algorithm: Algorithm,
        limits: SessionLimits,
    ) -> Result<SessionHandle, CreateError> {
        let id = uuid::Uuid::new_v4().to_string();
        let session = Arc::new(tokio::sync::Mutex::new(UploadSession {
            id: id.clone(),
            repository: repository.to_string(),
            offset: 0,
            hasher: Some(Hasher::new(algorithm)),
            touched: Instant::now(),
        }));
        {
            let mut sessions = self.lock();
            if sessions.len() >= limits.total {
                return Err(CreateError::TooMany(format!(
                    "the registry has {} uploads in progress, its limit: finish or cancel some, or try again later",
                    sessions.len()
                )));
            }
            let mine = self.owners.lock().unwrap_or_else(|p| p.into_inner());
            if mine.get(owner).copied().unwrap_or(0) >= limits.per_user {
                return Err(CreateError::TooMany(format!(
                    "{owner} has {} uploads in progress, the limit per user: finish or cancel some first",
                    limits.per_user
                )));
            }
            drop(mine);
            sessions.insert(id.clone(), (owner.to_string(), session.clone()));
            *self
                .owners
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(owner.to_string())
                .or_default() += 1;
        }
        // Created and closed at once: the session keeps no descriptor.
        if let Err(e) = store.create_upload(&id).and_then(|mut f| f.flush()) {
            self.remove(&id);
            return Err(e.into());
        }
        Ok(session)
    }

    pub fn get(&self, id: &str) -> Option<SessionHandle> {
        self.lock().get(id).map(|(_, s)| s.clone())
    }

    pub fn remove(&self, id: &str) {
        let removed = self.lock().remove(id);
        if let Some((owner, _)) = removed {
            self.release(&owner);
        }
    }

    fn release(&self, owner: &str) {
        let mut owners = self.owners.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = owners.get_mut(owner) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                owners.remove(owner);
            }
        }
    }

    /// Sessions open now.
    pub fn open(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, SessionHandle)>> {
        // A panic while holding this lock cannot leave the map inconsistent; keep serving.
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many sessions have been idle for longer than `max_age`.
    pub fn idle(&self, max_age: Duration) -> usize {
        self.lock()
            .values()
            .filter(|(_, s)| s.try_lock().is_ok_and(|s| s.touched.elapsed() > max_age))
            .count()
    }

    /// Drops sessions idle for longer than `max_age`; returns their ids so their files can go.
    pub fn expire(&self, max_age: Duration) -> Vec<String> {
        let mut expired = Vec::new();
        let mut owners = Vec::new();
        self.lock().retain(|id, (owner, s)| match s.try_lock() {
            Ok(s) if s.touched.elapsed() > max_age => {
                expired.push(id.clone());
                owners.push(owner.clone());
                false
            }
            _ => true,
        });
        for owner in owners {
            self.release(&owner);
        }
        expired
    }
}

/// Streams `body` onto the end of the session's file, hashing as it goes. On a client error the
/// bytes that did arrive stay written and counted, so the client can read the status and resume.
pub async fn append<S, E>(
    store: &Arc<dyn BlobStore>,
    room: &super::room::Room,
    session: &mut UploadSession,
    body: S,
) -> Result<u64, AppendError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    session.touched = Instant::now();
    let mut file: Box<dyn UploadFile> = {
        let store = store.clone();
        let id = session.id.clone();
        tokio::task::spawn_blocking(move || store.reopen_upload(&id))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))??
    };
    let mut hasher = session.hasher.take();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(32);
    let room = room.clone();
    let writer = tokio::task::spawn_blocking(move || {
        let mut written = 0u64;
        let mut result = Ok(());
        // Room is claimed before the first byte and again every CLAIM_BYTES written: a large
        // upload, or many at once, cannot run the disk below its reserve.
        let mut full = None;
        let mut claim = match room.claim() {
            Ok(c) => Some(c),
            Err(why) => {
                full = Some(why);
                None
            }
        };
        let mut in_claim = 0u64;
        while full.is_none() {
            let Some(chunk) = rx.blocking_recv() else {
                break;
            };
            if in_claim + chunk.len() as u64 > super::room::CLAIM_BYTES {
                // Written by now: given back before the next claim counts it again.
                drop(claim.take());
                match room.claim() {
                    Ok(c) => claim = Some(c),
                    Err(why) => {
                        full = Some(why);
                        break;
                    }
                }
                in_claim = 0;
            }
            in_claim += chunk.len() as u64;
            if let Err(e) = file.write_all(&chunk) {
                result = Err(e);
                break;
            }
            if let Some(h) = hasher.as_mut() {
                h.update(&chunk);
            }
            written += chunk.len() as u64;
        }
        // Flushed and closed here: nothing stays open between requests.
        let result = result.and_then(|_| file.flush());
        drop(file);
        drop(claim);
        (hasher, written, result, full)
    });
    let mut body = body;
    let mut client_error = None;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(bytes) => {
                if tx.send(bytes).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                client_error = Some(e.to_string());
                break;
            }
        }
    }
    drop(tx);
    let (hasher, written, result, full) = writer
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    result?;
    if let Some(why) = full {
        return Err(AppendError::Full(why));
    }
    session.hasher = hasher;
    session.offset += written;
    session.touched = Instant::now();
    match client_error {
        Some(e) => Err(AppendError::Client(e)),
        None => Ok(written),
    }
}

use std::io::Write as _;
