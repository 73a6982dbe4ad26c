//! Property tests of the parsers that read untrusted input: the `/v2/` path router, digests,
//! repository names and tags, manifests, Harbor's `q` language, token scopes and tokens, the
//! `Authorization: Basic` header and the TOML configuration. The same parsers have cargo-fuzz
//! targets in `fuzz/`; these run a few hundred cases each on every `cargo test`.
//!
//! Two kinds of property: arbitrary input never panics (and what is accepted is well formed),
//! and input built from the grammar is accepted and parses back to what it was built from.

use std::sync::OnceLock;

use base64::Engine;
use berth::api::query::{parse_time, Match, Query};
use berth::api::token::basic_credentials;
use berth::auth::token::{ResourceActions, Scope, TokenKeys};
use berth::config::Config;
use berth::digest::{Algorithm, Digest};
use berth::manifest::{self, ManifestError, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};
use berth::names::{valid_project_name, valid_tag, RepoName};
use berth::registry::path::{self, Route};
use proptest::prelude::*;

/// Spec-valid repository names: `project/repo[/more]`, components
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn repo_name() -> impl Strategy<Value = String> {
    let component = "[a-z0-9]{1,6}((\\.|_|__|-{1,3})[a-z0-9]{1,6}){0,2}";
    prop::collection::vec(component, 2..5).prop_map(|c| c.join("/"))
}

fn digest() -> impl Strategy<Value = String> {
    prop_oneof!["sha256:[0-9a-f]{64}", "sha512:[0-9a-f]{128}"]
}

/// Path segments without `/` (references, upload ids, digests as the router sees them).
fn segment() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.:-]{1,20}"
}

/// The path that names `route`; uploads with the trailing slash.
fn render(route: &Route) -> String {
    match route {
        Route::Catalog => "_catalog".into(),
        Route::Tags { name } => format!("{name}/tags/list"),
        Route::Manifest { name, reference } => format!("{name}/manifests/{reference}"),
        Route::Blob { name, digest } => format!("{name}/blobs/{digest}"),
        Route::Uploads { name } => format!("{name}/blobs/uploads/"),
        Route::Upload { name, id } => format!("{name}/blobs/uploads/{id}"),
        Route::Referrers { name, digest } => format!("{name}/referrers/{digest}"),
    }
}

fn route() -> impl Strategy<Value = Route> {
    // Names may contain marker words: the last marker wins.
    let name = prop_oneof![
        repo_name(),
        repo_name().prop_map(|n| format!("{n}/blobs")),
        repo_name().prop_map(|n| format!("{n}/manifests/tags")),
    ];
    (name, segment(), 0..7u8).prop_map(|(name, seg, kind)| match kind {
        0 => Route::Catalog,
        1 => Route::Tags { name },
        2 => Route::Manifest {
            name,
            reference: seg,
        },
        3 if seg != "uploads" => Route::Blob { name, digest: seg },
        3 | 4 => Route::Uploads { name },
        5 => Route::Upload { name, id: seg },
        _ => Route::Referrers { name, digest: seg },
    })
}

fn descriptor(media_type: &str, digest: &str, size: u32) -> serde_json::Value {
    serde_json::json!({"mediaType": media_type, "digest": digest, "size": size})
}

/// Unstructured text, biased towards the characters the parsers split on.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z0-9/:=,~\\[\\]{}() .\\-_]{0,40}",
        "(sha256|sha512|bytes|blobs|uploads|manifests|tags|list|/|:|-|=|,)*",
    ]
}

struct Keys {
    _dir: tempfile::TempDir,
    keys: TokenKeys,
}

fn keys() -> &'static TokenKeys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    &KEYS
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            let keys =
                TokenKeys::load_or_create(&dir.path().join("secret/token.pem")).expect("keys");
            Keys { _dir: dir, keys }
        })
        .keys
}

proptest! {
    // ---- /v2/ paths ----

    #[test]
    fn path_parse_never_panics_and_round_trips(rest in text()) {
        if let Some(route) = path::parse(&rest) {
            let rendered = render(&route);
            let same = rendered == rest
                || (matches!(route, Route::Uploads { .. })
                    && rendered.strip_suffix('/') == Some(rest.as_str()));
            prop_assert!(same, "{:?} -> {:?} -> {:?}", rest, route, rendered);
            prop_assert_eq!(path::parse(&rendered), Some(route));
        }
    }

    #[test]
    fn path_parse_finds_every_route(route in route()) {
        prop_assert_eq!(path::parse(&render(&route)), Some(route));
    }

    // ---- digests ----

    #[test]
    fn digest_parse_never_panics_and_redisplays(s in text()) {
        if let Ok(d) = s.parse::<Digest>() {
            prop_assert_eq!(d.to_string(), s);
            prop_assert!(d.hex().bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        }
    }

    #[test]
    fn valid_digests_parse(s in digest()) {
        let d: Digest = s.parse().expect("valid");
        prop_assert_eq!(d.to_string(), s.clone());
        prop_assert!(s.to_uppercase().parse::<Digest>().is_err());
        let longer = format!("{s}0");
        prop_assert!(longer.parse::<Digest>().is_err());
        prop_assert!(s[..s.len() - 1].parse::<Digest>().is_err());
    }

    #[test]
    fn computed_digests_reparse(bytes in prop::collection::vec(any::<u8>(), 0..256), sha512: bool) {
        let algorithm = if sha512 { Algorithm::Sha512 } else { Algorithm::Sha256 };
        let d = Digest::of(algorithm, &bytes);
        prop_assert_eq!(d.to_string().parse::<Digest>(), Ok(d));
    }

    // ---- names ----

    #[test]
    fn name_checks_never_panic(s in text()) {
        if let Ok(n) = RepoName::parse(&s) {
            prop_assert_eq!(n.as_str(), s.as_str());
            prop_assert!(s.len() <= 255 && s.contains('/'));
            prop_assert!(s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"/._-".contains(&b)));
        }
        let _ = (valid_tag(&s), valid_project_name(&s));
    }

    #[test]
    fn spec_names_and_tags_are_accepted(
        name in repo_name(),
        tag in "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}",
        project in "[a-z0-9]{1,8}([._-][a-z0-9]{1,8}){0,3}",
    ) {
        let n = RepoName::parse(&name).expect("spec name");
        prop_assert_eq!(n.project(), name.split('/').next().unwrap_or_default());
        prop_assert!(valid_tag(&tag), "{}", tag);
        prop_assert!(valid_project_name(&project), "{}", project);
        for bad in [format!("{name}/"), format!("{name}/A"), format!("/{name}")] {
            prop_assert!(RepoName::parse(&bad).is_err(), "{}", bad);
        }
    }

    // ---- manifests ----

    #[test]
    fn manifest_parse_never_panics(
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            text().prop_map(String::into_bytes),
        ],
        content_type in prop::option::of(prop_oneof![
            Just(OCI_MANIFEST.to_string()),
            Just(OCI_INDEX.to_string()),
            any::<String>(),
        ]),
    ) {
        let _ = manifest::parse(content_type.as_deref(), &body);
    }

    #[test]
    fn image_manifests_parse(
        config in digest(),
        layers in prop::collection::vec(digest(), 0..5),
        docker: bool,
        with_content_type: bool,
    ) {
        let media_type = if docker { DOCKER_MANIFEST } else { OCI_MANIFEST };
        let body = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": descriptor("application/vnd.oci.image.config.v1+json", &config, 2),
            "layers": layers.iter().map(|d| descriptor("application/vnd.oci.image.layer.v1.tar", d, 7)).collect::<Vec<_>>(),
        });
        let ct = with_content_type.then_some(media_type);
        let p = manifest::parse(ct, body.to_string().as_bytes()).expect("valid manifest");
        let mut want = vec![config];
        for l in layers {
            if !want.contains(&l) {
                want.push(l);
            }
        }
        prop_assert_eq!(p.media_type.as_str(), media_type);
        prop_assert_eq!(p.blobs, want);
        prop_assert!(p.manifests.is_empty());
    }

    #[test]
    fn manifests_with_one_field_replaced_are_judged_without_panic(
        children in prop::collection::vec(digest(), 1..4),
        field in prop::sample::select(vec!["schemaVersion", "mediaType", "manifests", "subject", "annotations", "artifactType"]),
        value in prop_oneof![
            Just(serde_json::Value::Null),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<String>().prop_map(serde_json::Value::from),
            Just(serde_json::json!([])),
            Just(serde_json::json!({})),
            digest().prop_map(|d| descriptor("x", &d, 1)),
            Just(descriptor("x", "sha256:zz", 1)),
            Just(serde_json::json!({"mediaType": "x", "digest": "sha256:00", "size": -1})),
        ],
    ) {
        let mut body = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": children.iter().map(|d| descriptor(OCI_MANIFEST, d, 9)).collect::<Vec<_>>(),
        });
        body[field] = value;
        match manifest::parse(None, body.to_string().as_bytes()) {
            Ok(p) => {
                for d in p.manifests.iter().chain(&p.blobs).chain(&p.subject) {
                    prop_assert!(d.parse::<Digest>().is_ok(), "{}", d);
                }
            }
            Err(ManifestError::Invalid(m) | ManifestError::Unsupported(m)) => prop_assert!(!m.is_empty()),
        }
    }

    // ---- the q language ----

    #[test]
    fn query_parse_never_panics(q in text(), value in text()) {
        let allowed = ["name", "public", "size", "tags"];
        let _ = parse_time(&q);
        if let Ok(query) = Query::parse(Some(&q), &allowed) {
            for (key, _) in &query.terms {
                prop_assert!(allowed.contains(&key.as_str()));
                let _ = query.matches(key, &value);
            }
        }
        if let Ok(query) = Query::parse(Some(&q), &[]) {
            prop_assert!(query.terms.is_empty());
        }
    }

    #[test]
    fn query_terms_round_trip(
        terms in prop::collection::vec((
            prop::sample::select(vec!["name", "public", "size", "tags"]),
            prop_oneof![
                "[a-z0-9.]{1,8}".prop_map(Match::Exact),
                "[a-z0-9 .]{0,8}".prop_map(Match::Fuzzy),
                (prop::option::of("[a-z0-9.:]{1,8}"), prop::option::of("[a-z0-9.:]{1,8}"))
                    .prop_map(|(a, b)| Match::Range(a, b)),
                prop::collection::vec("[a-z0-9.]{1,6}", 0..4).prop_map(Match::AnyOf),
            ],
        ), 1..5),
    ) {
        let q = terms
            .iter()
            .map(|(k, m)| match m {
                Match::Exact(v) => format!("{k}={v}"),
                Match::Fuzzy(v) => format!("{k}=~{v}"),
                Match::Range(a, b) => format!(
                    "{k}=[{}~{}]",
                    a.as_deref().unwrap_or_default(),
                    b.as_deref().unwrap_or_default()
                ),
                Match::AnyOf(vs) => format!("{k}={{{}}}", vs.join(" ")),
            })
            .collect::<Vec<_>>()
            .join(",");
        let parsed = Query::parse(Some(&q), &["name", "public", "size", "tags"]).expect("parses");
        // A fuzzy value is taken verbatim after `~`, but each term is trimmed first.
        let want: Vec<(String, Match)> = terms
            .iter()
            .map(|(k, m)| {
                let m = match m {
                    Match::Fuzzy(v) => Match::Fuzzy(v.trim_end().to_string()),
                    other => other.clone(),
                };
                (k.to_string(), m)
            })
            .collect();
        prop_assert_eq!(parsed.terms, want, "{}", q);
    }

    // ---- tokens ----

    #[test]
    fn scope_parse_never_panics_and_round_trips(s in text()) {
        if let Some(scope) = Scope::parse(&s) {
            prop_assert!(!scope.kind.is_empty() && !scope.name.is_empty());
            let again = format!("{}:{}:{}", scope.kind, scope.name, scope.actions.join(","));
            prop_assert_eq!(Scope::parse(&again), Some(scope));
        }
    }

    #[test]
    fn scopes_parse(
        kind in "[a-z]{1,10}",
        name in prop_oneof![repo_name(), repo_name().prop_map(|n| format!("host:5000/{n}"))],
        actions in prop::collection::vec("[a-z*]{1,6}", 0..4),
    ) {
        let s = Scope::parse(&format!("{kind}:{name}:{}", actions.join(","))).expect("parses");
        prop_assert_eq!(s, Scope { kind, name, actions });
    }

    #[test]
    fn garbage_tokens_are_refused(t in prop_oneof![
        text(),
        "[A-Za-z0-9_-]{1,40}\\.[A-Za-z0-9_-]{1,60}\\.[A-Za-z0-9_-]{0,90}",
    ]) {
        prop_assert!(keys().verify(&t, "harbor-token-issuer", "harbor-registry").is_none());
    }

    #[test]
    fn a_token_with_other_claims_is_refused(claims in any::<String>()) {
        let k = keys();
        let access = vec![ResourceActions {
            kind: "repository".into(),
            name: "p/r".into(),
            actions: vec!["pull".into()],
        }];
        let token = k.issue("u", "iss", "aud", 5, access).expect("issue").token;
        let parts: Vec<&str> = token.split('.').collect();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let forged = format!("{}.{}.{}", parts[0], b64.encode(&claims), parts[2]);
        prop_assert!(k.verify(&forged, "iss", "aud").is_none());
    }

    #[test]
    fn basic_credentials_never_panic_and_round_trip(
        raw in text(),
        user in "[^:\\x00]{0,12}",
        pass in "\\PC{0,12}",
    ) {
        let mut headers = axum::http::HeaderMap::new();
        if let Ok(v) = axum::http::HeaderValue::from_str(&raw) {
            headers.insert(axum::http::header::AUTHORIZATION, v);
            let _ = basic_credentials(&headers);
        }
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        let v = axum::http::HeaderValue::from_str(&format!("Basic {encoded}")).expect("ascii");
        headers.insert(axum::http::header::AUTHORIZATION, v);
        prop_assert_eq!(basic_credentials(&headers), Some((user, pass)));
    }

    // ---- the configuration ----

    #[test]
    fn config_from_toml_never_panics(text in prop_oneof![
        text(),
        "(\\[(http|tls|token|storage|server|log|system|auth|ldap)\\]\n)?([a-z_]{1,12} = (\"[a-z0-9:./]{0,12}\"|[0-9]{1,4}|true|false)\n){0,4}",
    ]) {
        if let Ok(config) = Config::from_toml(&text) {
            let _ = config.validate();
        }
    }

    #[test]
    fn config_values_are_read(
        port in 1u16..,
        minutes in 0u32..100_000,
        service in "[a-z][a-z0-9-]{0,15}",
        ldap: bool,
    ) {
        let mut text = format!(
            "[http]\nlisten = \"127.0.0.1:{port}\"\n[token]\nservice = \"{service}\"\nexpiration_minutes = {minutes}\n"
        );
        if ldap {
            text.push_str("[auth]\nmode = \"ldap\"\n[ldap]\nldap_url = \"ldap://dc\"\nldap_base_dn = \"dc=x\"\nldap_search_password = \"hunter2-secret\"\n");
        }
        let c = Config::from_toml(&text).expect("loads");
        prop_assert_eq!(c.http.as_ref().map(|h| h.listen.port()), Some(port));
        prop_assert_eq!(c.token.expiration_minutes, minutes);
        prop_assert_eq!(&c.token.service, &service);
        prop_assert_eq!(c.validate().is_ok(), minutes > 0);
        let printed = format!("{c:?}");
        prop_assert!(!printed.contains("hunter2-secret"));
    }
}
