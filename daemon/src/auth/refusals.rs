//! Refusals of a token for lacking a scope, remembered for a few seconds.
//!
//! Such a refusal is a 401 challenge naming the scope, and clients fetch a new token. The oras
//! Python SDK instead resends the same request with the same token, gives up on a second 401,
//! and renews its token only after a 403. So the same token refused again for the same request
//! within [`WINDOW`] gets 403 with the same challenge: a client that renews on 401 never sends
//! that, so Docker, podman, skopeo and containerd see exactly the answers they always did.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

pub const WINDOW: Duration = Duration::from_secs(10);
/// Entries kept at most; beyond it, nothing new is remembered until old ones expire.
const CAP: usize = 10_000;

/// Refusals by key, and when expired ones were last swept out.
#[derive(Default)]
struct Seen {
    at: HashMap<[u8; 32], Instant>,
    last_sweep: Option<Instant>,
}

#[derive(Default)]
pub struct RepeatedRefusals {
    /// Keyed by a hash of the token and the request, never the token itself; with the time of
    /// the last sweep of expired entries (at most one a second, so a flood of refusals costs
    /// no more than that).
    seen: Mutex<Seen>,
}

impl RepeatedRefusals {
    /// Records this refusal; true when the same token was refused for the same request
    /// within the window.
    pub fn repeated(&self, token: &str, request: &str) -> bool {
        let mut hasher = Sha256::new();
        hasher.update(token.as_bytes());
        hasher.update([0]);
        hasher.update(request.as_bytes());
        let key: [u8; 32] = hasher.finalize().into();
        let now = Instant::now();
        let mut guard = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let Seen {
            at: seen,
            last_sweep,
        } = &mut *guard;
        if seen
            .get(&key)
            .is_some_and(|at| now.duration_since(*at) < WINDOW)
        {
            return true;
        }
        let may_sweep = last_sweep.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1));
        if seen.len() >= CAP && may_sweep {
            seen.retain(|_, at| now.duration_since(*at) < WINDOW);
            *last_sweep = Some(now);
        }
        if seen.len() < CAP {
            seen.insert(key, now);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_token_and_request_repeat() {
        let r = RepeatedRefusals::default();
        assert!(!r.repeated("t1", "POST /v2/a/blobs/uploads/"));
        assert!(r.repeated("t1", "POST /v2/a/blobs/uploads/"));
        assert!(!r.repeated("t2", "POST /v2/a/blobs/uploads/"));
        assert!(!r.repeated("t1", "PUT /v2/a/manifests/v1"));
    }

    #[test]
    fn memory_is_bounded() {
        let r = RepeatedRefusals::default();
        for i in 0..CAP + 100 {
            r.repeated(&i.to_string(), "GET /v2/x");
        }
        assert!(r.seen.lock().expect("lock").at.len() <= CAP);
    }
}
