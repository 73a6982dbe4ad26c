//! Recently verified credentials, so a client that asks for a token per push (every CI job)
//! pays for argon2 once every few minutes rather than every time.
//!
//! An entry is an HMAC (under a key that lives only in this process's memory) of the account
//! name, the password and the stored hash it was checked against; the password itself is never
//! kept. Because the stored hash is part of the key, a changed password or robot secret misses
//! at once, and the caller reads the account again on every login, so a deleted, disabled or
//! expired account is refused whatever is remembered here.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ring::hmac;

/// How long a verification is remembered.
pub const TTL: Duration = Duration::from_secs(300);
/// At most this many remembered verifications (about 50 bytes each).
const CAPACITY: usize = 10_000;

pub struct VerifiedCache {
    key: hmac::Key,
    entries: Mutex<HashMap<[u8; 32], Instant>>,
    ttl: Duration,
}

impl Default for VerifiedCache {
    fn default() -> Self {
        VerifiedCache::new(TTL)
    }
}

impl VerifiedCache {
    pub fn new(ttl: Duration) -> VerifiedCache {
        let rng = ring::rand::SystemRandom::new();
        // Generating a key only fails when the OS has no randomness; then nothing is ever
        // remembered under a guessable key, because every lookup is answered with a miss.
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng)
            .unwrap_or_else(|_| hmac::Key::new(hmac::HMAC_SHA256, &[]));
        VerifiedCache {
            key,
            entries: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    fn tag(&self, account: &str, password: &str, stored_hash: &str) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.key);
        for part in [account, password, stored_hash] {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part.as_bytes());
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }

    /// Whether this password was verified against this stored hash within the TTL.
    pub fn contains(&self, account: &str, password: &str, stored_hash: &str) -> bool {
        let tag = self.tag(account, password, stored_hash);
        let now = Instant::now();
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(&tag)
            .is_some_and(|t| now.duration_since(*t) < self.ttl)
    }

    pub fn remember(&self, account: &str, password: &str, stored_hash: &str) {
        let tag = self.tag(account, password, stored_hash);
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CAPACITY {
            entries.retain(|_, t| now.duration_since(*t) < self.ttl);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(tag, now);
    }

    /// Forgets everything an account had remembered (its password, robot or record changed).
    /// Entries are keyed by an HMAC, so this forgets every entry: rare, and always safe.
    pub fn forget_all(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_only_the_same_password_against_the_same_hash() {
        let c = VerifiedCache::default();
        c.remember("bob", "Secret123", "$argon2id$a");
        assert!(c.contains("bob", "Secret123", "$argon2id$a"));
        assert!(!c.contains("bob", "Secret124", "$argon2id$a"));
        assert!(
            !c.contains("bob", "Secret123", "$argon2id$b"),
            "a changed hash misses"
        );
        assert!(!c.contains("bobS", "ecret123", "$argon2id$a"));
        c.forget_all();
        assert!(!c.contains("bob", "Secret123", "$argon2id$a"));
    }

    #[test]
    fn entries_expire() {
        let c = VerifiedCache::new(Duration::ZERO);
        c.remember("bob", "Secret123", "h");
        assert!(!c.contains("bob", "Secret123", "h"));
    }
}
