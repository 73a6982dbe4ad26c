//! The harness the in-process tests share: the whole HTTP application over a temporary data
//! directory, called with `tower::ServiceExt::oneshot`, and helpers to push and call the API.
#![allow(dead_code)] // each test file uses its own part of it

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use base64::Engine;
use serde_json::{json, Value};
use sha2::Digest as _;
use tower::ServiceExt;

use berth::auth::token::TokenKeys;
use berth::config::Config;
use berth::db::Db;
use berth::state::AppState;
use berth::storage::FsBlobStore;

pub const ADMIN: (&str, &str) = ("admin", "Harbor12345");
pub const PASSWORD: &str = "Passw0rdX";

pub struct App {
    pub router: Router,
    pub state: AppState,
    _dir: tempfile::TempDir,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
    pub text: String,
}

pub fn basic(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

impl App {
    pub async fn with(config: impl FnOnce(&mut Config)) -> App {
        // In memory where the machine has it: these tests are about decisions, not durability,
        // and thousands of fsyncs would dominate their time.
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .expect("tempdir");
        let mut cfg = Config::dev();
        cfg.data_dir = dir.path().join("data");
        config(&mut cfg);
        std::fs::create_dir_all(&cfg.data_dir).expect("data dir");
        let db = Db::open(&cfg.data_dir.join("berth.db")).expect("db");
        let store = Arc::new(FsBlobStore::open(&cfg.data_dir).expect("store"));
        let keys = Arc::new(
            TokenKeys::load_or_create(&cfg.data_dir.join("secret/token.pem")).expect("keys"),
        );
        berth::service::bootstrap::ensure_defaults(&db, Some(ADMIN.1.into()))
            .await
            .expect("defaults");
        let settings = berth::settings::load_or_seed(&db, &cfg)
            .await
            .expect("settings");
        let state = AppState::new(Arc::new(cfg), settings, db, store, keys).expect("state");
        App {
            router: berth::server::app(state.clone()),
            state,
            _dir: dir,
        }
    }

    /// The data directory (database, blobs, uploads).
    pub fn data(&self) -> std::path::PathBuf {
        self._dir.path().join("data")
    }

    pub async fn new() -> App {
        App::with(|_| {}).await
    }

    pub async fn send(&self, req: Request<Body>) -> Reply {
        let resp = self.router.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), 64 << 20)
            .await
            .expect("body");
        let text = String::from_utf8_lossy(&bytes).to_string();
        Reply {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            text,
        }
    }

    /// A REST call with Basic credentials (or none) and an optional JSON body.
    pub async fn api(
        &self,
        method: &str,
        path: &str,
        who: Option<(&str, &str)>,
        body: Option<Value>,
    ) -> Reply {
        self.api_with(method, path, who, body, &[]).await
    }

    pub async fn api_with(
        &self,
        method: &str,
        path: &str,
        who: Option<(&str, &str)>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("/api/v2.0{path}"));
        if let Some((u, p)) = who {
            req = req.header("authorization", basic(u, p));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        };
        self.send(req.expect("request")).await
    }

    pub async fn user(&self, name: &str) -> i64 {
        let r = self
            .api(
                "POST",
                "/users",
                Some(ADMIN),
                Some(
                    json!({"username": name, "email": format!("{name}@example.com"),
                            "realname": name, "password": PASSWORD}),
                ),
            )
            .await;
        assert_eq!(r.status, 201, "create user {name}: {}", r.text);
        let r = self
            .api(
                "GET",
                &format!("/users/search?username={name}"),
                Some(ADMIN),
                None,
            )
            .await;
        r.body
            .as_array()
            .and_then(|a| a.iter().find(|u| u["username"] == name))
            .and_then(|u| u["user_id"].as_i64())
            .expect("user id")
    }

    pub async fn project(&self, who: (&str, &str), name: &str, public: bool) -> i64 {
        let r = self
            .api(
                "POST",
                "/projects",
                Some(who),
                Some(json!({"project_name": name, "metadata": {"public": public.to_string()}})),
            )
            .await;
        assert_eq!(r.status, 201, "create project {name}: {}", r.text);
        let r = self
            .api_with(
                "GET",
                &format!("/projects/{name}"),
                Some(who),
                None,
                &[("X-Is-Resource-Name", "true")],
            )
            .await;
        r.body["project_id"].as_i64().expect("project id")
    }

    /// A robot in `project` with `access` pairs; returns (id, full name, secret).
    pub async fn robot(
        &self,
        who: (&str, &str),
        name: &str,
        project: &str,
        access: &[(&str, &str)],
    ) -> Reply {
        let access: Vec<Value> = access
            .iter()
            .map(|(r, a)| json!({"resource": r, "action": a}))
            .collect();
        self.api(
            "POST",
            "/robots",
            Some(who),
            Some(json!({"name": name, "level": "project", "duration": -1,
                        "permissions": [{"kind": "project", "namespace": project, "access": access}]})),
        )
        .await
    }

    /// The actions a registry token grants `who` on `repository`.
    pub async fn granted(&self, who: (&str, &str), repository: &str) -> Vec<String> {
        granted_actions(&self.token(who, repository).await)
    }

    /// A registry token for exactly these scopes.
    pub async fn token_for(&self, who: (&str, &str), scopes: &[&str]) -> String {
        let query: String = scopes.iter().map(|s| format!("&scope={s}")).collect();
        let r = self
            .send(
                Request::get(format!("/service/token?service=harbor-registry{query}"))
                    .header("authorization", basic(who.0, who.1))
                    .body(Body::empty())
                    .expect("request"),
            )
            .await;
        assert_eq!(r.status, 200, "token: {}", r.text);
        r.body["token"].as_str().expect("token").to_string()
    }

    pub async fn token(&self, who: (&str, &str), repository: &str) -> String {
        let r = self
            .send(
                Request::get(format!(
                    "/service/token?service=harbor-registry&scope=repository:{repository}:pull,push,delete"
                ))
                .header("authorization", basic(who.0, who.1))
                .body(Body::empty())
                .expect("request"),
            )
            .await;
        assert_eq!(r.status, 200, "token: {}", r.text);
        r.body["token"].as_str().expect("token").to_string()
    }

    pub async fn v2(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Vec<u8>,
        ct: Option<&str>,
    ) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("/v2/{path}"))
            .header("authorization", format!("Bearer {token}"));
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        self.send(req.body(Body::from(body)).expect("request"))
            .await
    }

    /// Uploads a blob in one request; returns its digest.
    pub async fn blob(&self, repo: &str, token: &str, bytes: &[u8]) -> String {
        let d = sha256(bytes);
        let r = self
            .v2(
                "POST",
                &format!("{repo}/blobs/uploads/?digest={d}"),
                token,
                bytes.to_vec(),
                None,
            )
            .await;
        assert_eq!(r.status, 201, "blob: {}", r.text);
        d
    }

    /// Pushes an image manifest with one layer; returns its digest.
    pub async fn image(&self, repo: &str, token: &str, tag: &str, seed: &str) -> (String, String) {
        let config = self
            .blob(repo, token, format!("{{\"seed\":\"{seed}\"}}").as_bytes())
            .await;
        let layer_bytes = format!("layer {seed}");
        let layer = self.blob(repo, token, layer_bytes.as_bytes()).await;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config,
                       "size": format!("{{\"seed\":\"{seed}\"}}").len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer,
                        "size": layer_bytes.len()}],
        })
        .to_string();
        let r = self
            .v2(
                "PUT",
                &format!("{repo}/manifests/{tag}"),
                token,
                manifest.clone().into_bytes(),
                Some("application/vnd.oci.image.manifest.v1+json"),
            )
            .await;
        assert_eq!(r.status, 201, "manifest: {}", r.text);
        (sha256(manifest.as_bytes()), layer)
    }
}

/// The actions a token's `access` claim grants on its first scope.
pub fn granted_actions(token: &str) -> Vec<String> {
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).expect("claims"))
            .expect("base64"),
    )
    .expect("json");
    claims["access"][0]["actions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}
