//! Per-digest exclusion between the two things that touch a blob's file after it exists: an
//! upload committing it (file renamed into place, then its row recorded) and garbage collection
//! removing it (row deleted, then the file). Holding a digest's lock across both steps of
//! either means the other never sees the halfway state: GC never removes a file whose row an
//! upload is about to write, and an upload never records a row for a file GC is about to
//! remove.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

#[derive(Clone, Default)]
pub struct BlobLocks {
    inner: Arc<(Mutex<HashSet<String>>, Notify)>,
}

/// A held digest; released on drop.
pub struct BlobGuard {
    locks: BlobLocks,
    digest: String,
}

impl BlobLocks {
    fn set(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.inner.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The digest's lock, if nobody holds it (GC skips a blob that is busy).
    pub fn try_lock(&self, digest: &str) -> Option<BlobGuard> {
        self.set().insert(digest.to_string()).then(|| BlobGuard {
            locks: self.clone(),
            digest: digest.to_string(),
        })
    }

    /// Waits for the digest's lock (an upload waits for GC to finish with that blob).
    pub async fn lock(&self, digest: &str) -> BlobGuard {
        loop {
            let released = self.inner.1.notified();
            if let Some(guard) = self.try_lock(digest) {
                return guard;
            }
            released.await;
        }
    }
}

impl Drop for BlobGuard {
    fn drop(&mut self) {
        self.locks.set().remove(&self.digest);
        self.locks.inner.1.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_waiter_gets_the_lock_when_it_is_released() {
        let locks = BlobLocks::default();
        let held = locks.try_lock("sha256:1").expect("free");
        assert!(locks.try_lock("sha256:1").is_none());
        assert!(
            locks.try_lock("sha256:2").is_some(),
            "other digests are free"
        );
        let waiter = tokio::spawn({
            let locks = locks.clone();
            async move {
                let _g = locks.lock("sha256:1").await;
            }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(held);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .expect("joined");
    }
}
