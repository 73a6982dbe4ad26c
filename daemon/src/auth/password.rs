//! Password hashing: argon2id with a random salt, in PHC string form. Plain passwords are never
//! stored or logged.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;

pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        // Only fails for parameters or salts out of range, which the defaults are not.
        .unwrap_or_default()
}

pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Hashing is memory-hard (about 19 MiB per call), so every hash and check runs on a bounded
/// pool: at most one per core at a time, and a caller waiting for its turn holds no hashing
/// memory. However many logins arrive at once, hashing memory stays bounded.
fn pool() -> &'static tokio::sync::Semaphore {
    static POOL: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cores.clamp(1, 8))
    })
}

async fn pooled<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let _permit = pool().acquire().await.ok()?;
    tokio::task::spawn_blocking(f).await.ok()
}

/// [`hash`] on the bounded pool, off the reactor.
pub async fn hash_pooled(password: String) -> Option<String> {
    pooled(move || hash(&password)).await
}

/// [`verify`] on the bounded pool, off the reactor.
pub async fn verify_pooled(password: String, phc: String) -> bool {
    pooled(move || verify(&password, &phc))
        .await
        .unwrap_or(false)
}

/// A random password for a first start with none given: 20 characters, letters and digits,
/// always with an upper-case letter, a lower-case letter and a digit.
pub fn generate() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    loop {
        let p: String = (0..20)
            .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
            .collect();
        if p.bytes().any(|b| b.is_ascii_uppercase())
            && p.bytes().any(|b| b.is_ascii_lowercase())
            && p.bytes().any(|b| b.is_ascii_digit())
        {
            return p;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let h = hash("Secret123");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("Secret123", &h));
        assert!(!verify("secret123", &h));
        assert!(!verify("Secret123", "garbage"));
    }

    #[test]
    fn generated_passwords_are_strong() {
        let p = generate();
        assert_eq!(p.len(), 20);
        assert_ne!(p, generate());
    }
}
