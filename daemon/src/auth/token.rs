//! Registry tokens: ES256 JWTs signed with a key generated on first start (file mode 0600).
//! The claims follow Docker's token specification and Harbor's token service: `iss`, `sub`,
//! `aud` (a single string), `exp`, `nbf`, `iat`, `jti` and `access`.
//!
//! Harbor signs with RS256; Berth uses ES256, which Docker's token format allows, because a
//! P-256 key is generated in microseconds and the tokens are a third the size. Only Berth
//! verifies its own tokens, so clients are unaffected.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::AuthError;

/// One entry of the `access` claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceActions {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: String,
    #[serde(default)]
    pub access: Vec<ResourceActions>,
}

impl Claims {
    /// Whether the token grants `action` on the resource.
    pub fn allows(&self, kind: &str, name: &str, action: &str) -> bool {
        self.access.iter().any(|a| {
            a.kind == kind && a.name == name && a.actions.iter().any(|x| x == action || x == "*")
        })
    }
}

/// A requested scope, `type:name:action[,action]`. The name may itself hold `:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        let (kind, rest) = s.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        Some(Scope {
            kind: kind.to_string(),
            name: name.to_string(),
            actions: actions
                .split(',')
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect(),
        })
    }
}

/// A signed token and when it was made, as the token endpoint returns it.
pub struct Issued {
    pub token: String,
    pub expires_in: i64,
    pub issued_at: i64,
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl TokenKeys {
    /// Loads the signing key, generating it (mode 0600) on first start.
    pub fn load_or_create(path: &Path) -> anyhow::Result<TokenKeys> {
        use anyhow::Context;
        if !path.exists() {
            let dir = path.parent().context("token key path has no directory")?;
            fs::create_dir_all(dir)?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
            let key = rcgen::KeyPair::generate().context("generating the token key")?;
            let tmp = path.with_extension("tmp");
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(key.serialize_pem().as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, path)?;
        }
        let pem =
            fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let key = rcgen::KeyPair::from_pem(&pem).context("parsing the token key")?;
        Ok(TokenKeys {
            encoding: EncodingKey::from_ec_pem(pem.as_bytes()).context("token key")?,
            decoding: DecodingKey::from_ec_pem(key.public_key_pem().as_bytes())
                .context("token public key")?,
        })
    }

    pub fn issue(
        &self,
        subject: &str,
        issuer: &str,
        audience: &str,
        minutes: u32,
        access: Vec<ResourceActions>,
    ) -> Result<Issued, AuthError> {
        use rand::distributions::{Alphanumeric, DistString};
        let now = crate::db::now();
        let expires_in = i64::from(minutes) * 60;
        let claims = Claims {
            iss: issuer.to_string(),
            sub: subject.to_string(),
            aud: audience.to_string(),
            exp: now + expires_in,
            nbf: now,
            iat: now,
            jti: Alphanumeric.sample_string(&mut rand::thread_rng(), 16),
            access,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &self.encoding)
            .map_err(|e| AuthError::Internal(format!("signing token: {e}")))?;
        Ok(Issued {
            token,
            expires_in,
            issued_at: now,
        })
    }

    /// Checks signature (ES256 only: `alg: none` and every other algorithm are refused), expiry,
    /// not-before, issuer and audience.
    pub fn verify(&self, token: &str, issuer: &str, audience: &str) -> Option<Claims> {
        let mut v = Validation::new(Algorithm::ES256);
        v.set_audience(&[audience]);
        v.set_issuer(&[issuer]);
        v.validate_nbf = true;
        // No leeway: only this process issues and verifies tokens, on one clock, so an expired
        // token is expired to the second.
        v.leeway = 0;
        v.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &v)
            .ok()
            .map(|d| d.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn keys() -> (tempfile::TempDir, TokenKeys) {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = TokenKeys::load_or_create(&dir.path().join("secret/token.pem")).expect("keys");
        (dir, keys)
    }

    fn access(name: &str) -> Vec<ResourceActions> {
        vec![ResourceActions {
            kind: "repository".into(),
            name: name.into(),
            actions: vec!["pull".into()],
        }]
    }

    #[test]
    fn key_file_is_private_and_reused() {
        let (dir, k1) = keys();
        let path = dir.path().join("secret/token.pem");
        assert_eq!(
            fs::metadata(&path).expect("meta").permissions().mode() & 0o777,
            0o600
        );
        let t = k1
            .issue("u", "iss", "aud", 30, access("p/r"))
            .expect("issue");
        let k2 = TokenKeys::load_or_create(&path).expect("reload");
        assert!(k2.verify(&t.token, "iss", "aud").is_some());
    }

    #[test]
    fn verifies_and_refuses() {
        let (_d, k) = keys();
        let t = k
            .issue("u", "iss", "aud", 30, access("p/r"))
            .expect("issue")
            .token;
        let c = k.verify(&t, "iss", "aud").expect("valid");
        assert!(c.allows("repository", "p/r", "pull"));
        assert!(!c.allows("repository", "p/other", "pull"));
        assert!(!c.allows("repository", "p/r", "push"));
        assert!(k.verify(&t, "iss", "other-aud").is_none());
        assert!(k.verify(&t, "other-iss", "aud").is_none());
        let (_d2, other) = keys();
        assert!(other.verify(&t, "iss", "aud").is_none(), "wrong signature");
        // alg: none with the same claims
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let parts: Vec<&str> = t.split('.').collect();
        let none = format!(
            "{}.{}.",
            b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
            parts[1]
        );
        assert!(k.verify(&none, "iss", "aud").is_none(), "alg none");
    }

    #[test]
    fn expired_tokens_are_refused() {
        let (_d, k) = keys();
        let now = crate::db::now();
        let claims = Claims {
            iss: "iss".into(),
            sub: "u".into(),
            aud: "aud".into(),
            exp: now - 3600,
            nbf: now - 7200,
            iat: now - 7200,
            jti: "x".into(),
            access: access("p/r"),
        };
        let t = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &k.encoding)
            .expect("sign");
        assert!(k.verify(&t, "iss", "aud").is_none());
    }

    #[test]
    fn scopes() {
        let s = Scope::parse("repository:host:5000/p/r:pull,push").expect("parses");
        assert_eq!(
            (s.kind.as_str(), s.name.as_str()),
            ("repository", "host:5000/p/r")
        );
        assert_eq!(s.actions, vec!["pull", "push"]);
        assert!(Scope::parse("repository").is_none());
        assert!(Scope::parse("repository::pull").is_none());
    }
}
