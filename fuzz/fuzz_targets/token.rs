//! Token parsing (`berth::auth::token` and the headers that carry credentials):
//! - `Scope::parse` never panics, and a parsed scope re-rendered parses to itself;
//! - `TokenKeys::verify` refuses garbage and refuses every alteration of a genuine token that
//!   changes what was signed (header or claims);
//! - `basic_credentials` (the token endpoint's `Authorization: Basic`), `session::cookie` and
//!   `session::same_token` never panic and agree with their definitions.
//!
//! Input: the first byte picks the mode, the rest is the data.
#![no_main]

use std::sync::OnceLock;

use base64::Engine;
use berth::api::token::basic_credentials;
use berth::auth::session::{cookie, same_token};
use berth::auth::token::{ResourceActions, Scope, TokenKeys};
use libfuzzer_sys::fuzz_target;

const ISS: &str = "harbor-token-issuer";
const AUD: &str = "harbor-registry";

struct Fixture {
    _dir: tempfile::TempDir,
    keys: TokenKeys,
    token: String,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = TokenKeys::load_or_create(&dir.path().join("key/token.pem")).expect("keys");
        let access = vec![ResourceActions {
            kind: "repository".into(),
            name: "library/app".into(),
            actions: vec!["pull".into(), "push".into()],
        }];
        let token = keys
            .issue("alice", ISS, AUD, 30, access)
            .expect("issue")
            .token;
        let claims = keys
            .verify(&token, ISS, AUD)
            .expect("a genuine token verifies");
        assert!(claims.allows("repository", "library/app", "push"));
        Fixture {
            _dir: dir,
            keys,
            token,
        }
    })
}

/// The signed part of a JWT: `header.claims`.
fn signed_part(t: &str) -> &str {
    t.rsplit_once('.').map_or(t, |(signed, _)| signed)
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match mode % 6 {
        // A requested scope, as `GET /service/token?scope=` receives it.
        0 => {
            if let Some(s) = Scope::parse(&text) {
                assert!(!s.kind.is_empty() && !s.kind.contains(':'));
                assert!(!s.name.is_empty());
                assert!(s
                    .actions
                    .iter()
                    .all(|a| !a.is_empty() && !a.contains([',', ':'])));
                let again = format!("{}:{}:{}", s.kind, s.name, s.actions.join(","));
                assert_eq!(Scope::parse(&again).as_ref(), Some(&s), "{again:?}");
            }
        }
        // Garbage as a bearer token.
        1 => assert!(
            f.keys.verify(&text, ISS, AUD).is_none(),
            "{text:?} verified"
        ),
        // A genuine token with bytes spliced in at an offset: what verifies was what we signed.
        2 => {
            let Some((&at, insert)) = rest.split_first() else {
                return;
            };
            let mut t = f.token.clone().into_bytes();
            let at = usize::from(at) * t.len() / 256;
            let cut = insert.len().min(t.len() - at);
            t.splice(at..at + cut, insert.iter().copied());
            let t = String::from_utf8_lossy(&t);
            if f.keys.verify(&t, ISS, AUD).is_some() {
                assert_eq!(signed_part(&t), signed_part(&f.token), "forged {t:?}");
            }
        }
        // Claims of the input's choosing under the genuine header and signature.
        3 => {
            let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            let parts: Vec<&str> = f.token.split('.').collect();
            for header in [parts[0].to_string(), b64.encode(r#"{"alg":"none"}"#)] {
                let t = format!("{header}.{}.{}", b64.encode(rest), parts[2]);
                if f.keys.verify(&t, ISS, AUD).is_some() {
                    assert_eq!(signed_part(&t), signed_part(&f.token), "forged {t:?}");
                }
                let t = format!("{header}.{}.", b64.encode(rest));
                assert!(f.keys.verify(&t, ISS, AUD).is_none(), "unsigned {t:?}");
            }
        }
        // `Authorization: Basic ...` at the token endpoint.
        4 => {
            let Ok(value) = http::HeaderValue::from_bytes(rest) else {
                return;
            };
            let mut headers = http::HeaderMap::new();
            headers.insert(http::header::AUTHORIZATION, value);
            if let Some((user, pass)) = basic_credentials(&headers) {
                assert!(!user.contains(':'));
                let encoded =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
                let mut again = http::HeaderMap::new();
                again.insert(
                    http::header::AUTHORIZATION,
                    http::HeaderValue::from_str(&format!("Basic {encoded}")).expect("ascii"),
                );
                assert_eq!(basic_credentials(&again), Some((user, pass)));
            }
        }
        // The session cookie and the constant-time comparison.
        _ => {
            let half = (0..=text.len() / 2)
                .rev()
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(0);
            let (a, b) = text.split_at(half);
            assert_eq!(same_token(a, b), a == b);
            assert!(same_token(a, a));
            if let Some(v) = cookie(&text, "sid") {
                assert!(text.contains(&format!("sid={v}")));
            }
            if let Some(v) = cookie(&text, a) {
                assert!(text.contains(v));
            }
        }
    }
});
