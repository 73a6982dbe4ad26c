//! Pushers' claims on content that no manifest references yet.
//!
//! A client that is told a blob exists (`HEAD`), or that uploads or mounts one, then sends a
//! manifest that uses it. Between the two the blob is unreferenced, and a collection with a short
//! grace period would take it: the manifest would then be refused, and the push fail. A lease
//! closes that gap: it is taken before the client gets its answer, lasts until a manifest of the
//! same repository references the content (or the push token's lifetime has passed) and
//! garbage collection never deletes leased content. Only callers allowed to push take leases,
//! so pulls never keep garbage.
//!
//! Leases live in memory: after a restart the grace period (`blobs.last_seen`) still protects
//! what was seen recently, and a push that straddles a restart at worst fails cleanly (the
//! manifest check refuses a missing blob). The map is bounded; when full, new leases are not
//! taken and the grace period alone protects.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// At most this many (repository, digest) leases are held at once.
pub const MAX_LEASES: usize = 200_000;

#[derive(Clone)]
pub struct Leases {
    inner: Arc<Mutex<Inner>>,
    /// Milliseconds; only ever raised, so a token issued before a change stays covered.
    lifetime_ms: Arc<std::sync::atomic::AtomicU64>,
}

/// What [`Leases::take`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// A lease nobody held, ending at this instant (which identifies it).
    New(Instant),
    Renewed,
    /// The map is full: the time window alone protects.
    Full,
}

#[derive(Default)]
struct Inner {
    /// digest → repository → when the lease ends.
    by_digest: HashMap<String, HashMap<String, Instant>>,
    count: usize,
    swept: Option<Instant>,
}

impl Leases {
    pub fn new(lifetime: Duration) -> Leases {
        Leases {
            inner: Arc::new(Mutex::new(Inner::default())),
            lifetime_ms: Arc::new(std::sync::atomic::AtomicU64::new(
                lifetime.as_millis() as u64
            )),
        }
    }

    /// Raises the lifetime to at least `lifetime` (when tokens get longer; never lowered, as
    /// tokens issued under the old lifetime may still be in use).
    pub fn extend_lifetime(&self, lifetime: Duration) {
        self.lifetime_ms.fetch_max(
            lifetime.as_millis() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    fn lifetime(&self) -> Duration {
        Duration::from_millis(self.lifetime_ms.load(std::sync::atomic::Ordering::Relaxed))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes (or renews) a lease. [`Taken::New`] when nobody held it: only then may the taker
    /// give it back on a miss ([`Leases::give_back`]) without ending someone else's.
    pub fn take(&self, repository: &str, digest: &str) -> Taken {
        let now = Instant::now();
        let until = now + self.lifetime();
        let mut inner = self.lock();
        if inner.count >= MAX_LEASES {
            // Sweeping is O(n): at most once a second, however often a full map is asked.
            if inner
                .swept
                .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1))
            {
                inner.drop_expired();
                inner.swept = Some(now);
            }
            if inner.count >= MAX_LEASES {
                return Taken::Full;
            }
        }
        let repos = inner.by_digest.entry(digest.to_string()).or_default();
        match repos.insert(repository.to_string(), until) {
            None => {
                inner.count += 1;
                Taken::New(until)
            }
            // An expired lease protected nothing: this take starts a new one.
            Some(previous) if previous <= now => Taken::New(until),
            Some(_) => Taken::Renewed,
        }
    }

    /// Undoes a [`Leases::take`] whose lookup found nothing, if that take created the lease
    /// and nobody has taken it since (a later take renews it to another instant).
    pub fn give_back(&self, repository: &str, digest: &str, taken: Taken) {
        let Taken::New(until) = taken else { return };
        let mut inner = self.lock();
        let ours = inner
            .by_digest
            .get(digest)
            .and_then(|repos| repos.get(repository))
            .is_some_and(|t| *t == until);
        if ours {
            inner.remove(digest, repository);
        }
    }

    /// Ends the leases a manifest of `repository` has now made unnecessary.
    pub fn release<'a>(&self, repository: &str, digests: impl IntoIterator<Item = &'a String>) {
        let mut inner = self.lock();
        for d in digests {
            inner.remove(d, repository);
        }
    }

    /// Whether anyone holds a live lease on the digest, in any repository.
    pub fn held(&self, digest: &str) -> bool {
        let now = Instant::now();
        self.lock()
            .by_digest
            .get(digest)
            .is_some_and(|repos| repos.values().any(|until| *until > now))
    }

    /// Whether a live lease on the digest is held in the repository.
    pub fn held_in(&self, repository: &str, digest: &str) -> bool {
        let now = Instant::now();
        self.lock()
            .by_digest
            .get(digest)
            .and_then(|repos| repos.get(repository))
            .is_some_and(|until| *until > now)
    }

    pub fn len(&self) -> usize {
        self.lock().count
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    fn remove(&mut self, digest: &str, repository: &str) {
        if let Some(repos) = self.by_digest.get_mut(digest) {
            if repos.remove(repository).is_some() {
                self.count -= 1;
            }
            if repos.is_empty() {
                self.by_digest.remove(digest);
            }
        }
    }

    fn drop_expired(&mut self) {
        let now = Instant::now();
        let mut removed = 0;
        self.by_digest.retain(|_, repos| {
            let before = repos.len();
            repos.retain(|_, until| *until > now);
            removed += before - repos.len();
            !repos.is_empty()
        });
        self.count -= removed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_lasts_until_released_in_its_repository() {
        let leases = Leases::new(Duration::from_secs(60));
        let first = leases.take("p/a", "sha256:1");
        assert!(matches!(first, Taken::New(_)));
        assert!(matches!(leases.take("p/b", "sha256:1"), Taken::New(_)));
        // A second taker that finds nothing does not end the first one's lease...
        let again = leases.take("p/a", "sha256:1");
        assert_eq!(again, Taken::Renewed);
        leases.give_back("p/a", "sha256:1", again);
        assert!(leases.held_in("p/a", "sha256:1"));
        // ...nor does the first taker, once someone else has taken it since.
        leases.give_back("p/a", "sha256:1", first);
        assert!(leases.held_in("p/a", "sha256:1"));
        assert!(leases.held("sha256:1") && leases.held_in("p/a", "sha256:1"));
        leases.release("p/a", &["sha256:1".to_string()]);
        assert!(!leases.held_in("p/a", "sha256:1"));
        assert!(leases.held("sha256:1"), "p/b still holds it");
        leases.release("p/b", &["sha256:1".to_string()]);
        assert!(!leases.held("sha256:1"));
        assert!(leases.is_empty());
    }

    #[test]
    fn an_expired_lease_protects_nothing() {
        let leases = Leases::new(Duration::ZERO);
        assert!(matches!(leases.take("p/a", "sha256:1"), Taken::New(_)));
        assert!(!leases.held("sha256:1"));
    }
}
