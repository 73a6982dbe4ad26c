//! Secrets Berth must present to others (the directory's search password) are stored in the
//! configuration sealed: AES-256-GCM under a key kept in the data directory (0600, the daemon's
//! user). The configuration can then be read by the `berth` group, backed up or pasted into a
//! ticket without giving the secret away; the key stays with the data it protects.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};

/// The key's file name inside the data directory.
pub const KEY_FILE: &str = "secret.key";
const PREFIX: &str = "sealed:v1:";

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read the sealing key {path}: {reason}")]
    Key { path: String, reason: String },
    #[error("the sealed value is damaged or was sealed with another key")]
    Damaged,
}

pub struct SealingKey([u8; 32]);

impl SealingKey {
    pub fn generate() -> SealingKey {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        SealingKey(bytes)
    }

    pub fn load(path: &Path) -> Result<SealingKey, SecretError> {
        let fail = |reason: String| SecretError::Key {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|e| fail(e.to_string()))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| fail("not a 256-bit key".into()))?;
        Ok(SealingKey(bytes))
    }

    /// Writes the key, readable by its owner only.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        file.write_all(self.encoded().as_bytes())?;
        file.sync_all()
    }

    /// The key file's contents.
    pub fn encoded(&self) -> String {
        format!("{}\n", STANDARD.encode(self.0))
    }

    fn aead(&self) -> LessSafeKey {
        // A 32-byte key is always a valid AES-256 key.
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.0).expect("AES-256 key"))
    }

    /// `sealed:v1:` and base64 of a fresh nonce followed by the ciphertext and tag.
    pub fn seal(&self, plain: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut data = plain.as_bytes().to_vec();
        self.aead()
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
            .expect("sealing cannot fail for in-memory data of this size");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        format!("{PREFIX}{}", STANDARD.encode(out))
    }

    pub fn unseal(&self, sealed: &str) -> Result<String, SecretError> {
        let encoded = sealed.strip_prefix(PREFIX).ok_or(SecretError::Damaged)?;
        let bytes = STANDARD.decode(encoded).map_err(|_| SecretError::Damaged)?;
        if bytes.len() < NONCE_LEN {
            return Err(SecretError::Damaged);
        }
        let (nonce, data) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SecretError::Damaged)?;
        let mut data = data.to_vec();
        let plain = self
            .aead()
            .open_in_place(nonce, Aad::empty(), &mut data)
            .map_err(|_| SecretError::Damaged)?;
        String::from_utf8(plain.to_vec()).map_err(|_| SecretError::Damaged)
    }
}

pub fn is_sealed(value: &str) -> bool {
    value.starts_with(PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key() {
        let key = SealingKey::generate();
        let sealed = key.seal("reader password");
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("reader"));
        assert_ne!(
            sealed,
            key.seal("reader password"),
            "a fresh nonce each time"
        );
        assert_eq!(key.unseal(&sealed).expect("opens"), "reader password");
        assert!(SealingKey::generate().unseal(&sealed).is_err());
        let mut damaged = sealed.clone();
        damaged.pop();
        damaged.push('A');
        assert!(key.unseal(&damaged).is_err());
        assert!(key.unseal("sealed:v1:").is_err());
        assert!(key.unseal("plain").is_err());
    }

    #[test]
    fn keys_round_trip_through_their_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(KEY_FILE);
        let key = SealingKey::generate();
        key.save(&path).expect("save");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = SealingKey::load(&path).expect("load");
        assert_eq!(again.unseal(&key.seal("x")).expect("opens"), "x");
        std::fs::write(&path, "short").expect("write");
        assert!(SealingKey::load(&path).is_err());
    }
}
