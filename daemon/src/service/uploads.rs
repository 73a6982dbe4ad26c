//! Blob upload sessions. Bytes are hashed as they stream to the upload file on a blocking
//! thread, so the digest is known the moment the last byte lands, without a second read. The
//! running hash lives in memory; a session lost with a restart is answered BLOB_UPLOAD_UNKNOWN
//! and the client starts again (its leftover file is removed at start).

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
    file: Option<Box<dyn UploadFile>>,
    touched: Instant,
}

impl UploadSession {
    pub fn algorithm(&self) -> Option<Algorithm> {
        self.hasher.as_ref().map(Hasher::algorithm)
    }

    pub fn digest_so_far(&self) -> Option<crate::digest::Digest> {
        self.hasher.as_ref().map(Hasher::current)
    }

    /// Closes the file, so the store can fsync and rename it.
    pub fn close(&mut self) {
        self.file = None;
    }
}

pub type SessionHandle = Arc<tokio::sync::Mutex<UploadSession>>;

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("client stream failed: {0}")]
    Client(String),
    #[error("writing upload: {0}")]
    Io(#[from] std::io::Error),
}

/// The table of live sessions.
#[derive(Clone, Default)]
pub struct Uploads {
    sessions: Arc<Mutex<HashMap<String, SessionHandle>>>,
}

impl Uploads {
    pub fn create(
        &self,
        store: &dyn BlobStore,
        repository: &str,
        algorithm: Algorithm,
    ) -> std::io::Result<SessionHandle> {
        let id = uuid::Uuid::new_v4().to_string();
        let file = store.create_upload(&id)?;
        let session = Arc::new(tokio::sync::Mutex::new(UploadSession {
            id: id.clone(),
            repository: repository.to_string(),
            offset: 0,
            hasher: Some(Hasher::new(algorithm)),
            file: Some(file),
            touched: Instant::now(),
        }));
        self.lock().insert(id, session.clone());
        Ok(session)
    }

    pub fn get(&self, id: &str) -> Option<SessionHandle> {
        self.lock().get(id).cloned()
    }

    pub fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SessionHandle>> {
        // A panic while holding this lock cannot leave the map inconsistent; keep serving.
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops sessions idle for longer than `max_age`; returns their ids so their files can go.
    pub fn expire(&self, max_age: Duration) -> Vec<String> {
        let mut expired = Vec::new();
        self.lock().retain(|id, s| match s.try_lock() {
            Ok(s) if s.touched.elapsed() > max_age => {
                expired.push(id.clone());
                false
            }
            _ => true,
        });
        expired
    }
}

/// Streams `body` onto the end of the session's file, hashing as it goes. On a client error the
/// bytes that did arrive stay written and counted, so the client can read the status and resume.
pub async fn append<S, E>(
    store: &Arc<dyn BlobStore>,
    session: &mut UploadSession,
    body: S,
) -> Result<u64, AppendError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    session.touched = Instant::now();
    let mut file = match session.file.take() {
        Some(f) => f,
        None => {
            let store = store.clone();
            let id = session.id.clone();
            tokio::task::spawn_blocking(move || store.reopen_upload(&id))
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))??
        }
    };
    let mut hasher = session.hasher.take();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(32);
    let writer = tokio::task::spawn_blocking(move || {
        let mut written = 0u64;
        let mut result = Ok(());
        while let Some(chunk) = rx.blocking_recv() {
            if let Err(e) = file.write_all(&chunk) {
                result = Err(e);
                break;
            }
            if let Some(h) = hasher.as_mut() {
                h.update(&chunk);
            }
            written += chunk.len() as u64;
        }
        let result = result.and_then(|_| file.flush());
        (file, hasher, written, result)
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
    let (file, hasher, written, result) = writer
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    result?;
    session.file = Some(file);
    session.hasher = hasher;
    session.offset += written;
    session.touched = Instant::now();
    match client_error {
        Some(e) => Err(AppendError::Client(e)),
        None => Ok(written),
    }
}

use std::io::Write as _;
