//! A client for another registry: the OCI distribution API (`/v2/`) with its Basic and Bearer
//! token challenges, and for `harbor` endpoints the few REST calls replication needs (list
//! repositories, make a project). Bodies stream both ways; nothing reads a blob into memory,
//! and the documents it does read (manifests, listings, tokens) are capped.
//!
//! Written over reqwest rather than an OCI client crate because replication needs what those
//! do not offer together: a blob streamed from one registry's response into another's request,
//! chunked uploads that resume from the offset the destination reports, a mount attempted in
//! the same request that starts an upload, and a rate limit per task.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, LOCATION};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Deserialize;

use crate::manifest::MAX_MANIFEST_BYTES;

/// The header a Berth answers `/v2/` with: the instance's id, so a peer can tell it is
/// talking to itself.
pub const INSTANCE_HEADER: &str = "berth-instance-id";
/// The header a replicating Berth sends with its writes: its own instance id, so a peer's
/// event-based policies do not send the content straight back.
pub const ORIGIN_HEADER: &str = "berth-replication-origin";

const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.oci.artifact.manifest.v1+json";
/// Listings and token answers larger than this are refused (a hostile peer cannot make
/// berthd buffer without end).
const MAX_DOCUMENT_BYTES: usize = 8 * 1024 * 1024;
/// A whole paged listing's bytes, and names.
const MAX_LISTING_BYTES: usize = 64 * 1024 * 1024;
const MAX_NAMES: usize = 100_000;
/// Every request that reads or writes a document ends within this, however slowly the peer
/// answers.
const DOCUMENT_TIMEOUT: Duration = Duration::from_secs(120);

/// A transfer of `len` bytes may take ten minutes plus the time at 64 KiB/s: a peer that
/// drips cannot hold a task for ever.
fn transfer_timeout(len: u64) -> Duration {
    Duration::from_secs(600 + len / (64 * 1024))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointKind {
    /// Harbor's REST API and `/v2/` (Berth is one).
    Harbor,
    /// Only `/v2/` (CNCF Distribution, zot, ...).
    DockerRegistry,
}

impl EndpointKind {
    pub fn parse(s: &str) -> Option<EndpointKind> {
        match s {
            "harbor" => Some(EndpointKind::Harbor),
            "docker-registry" => Some(EndpointKind::DockerRegistry),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EndpointKind::Harbor => "harbor",
            EndpointKind::DockerRegistry => "docker-registry",
        }
    }
}

/// What it takes to reach an endpoint.
#[derive(Clone)]
pub struct Endpoint {
    pub kind: EndpointKind,
    /// `scheme://host[:port]`, no path, no trailing slash.
    pub url: String,
    pub username: String,
    pub password: String,
    pub insecure: bool,
    pub ca_certificate: String,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("kind", &self.kind)
            .field("url", &self.url)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Why a call failed, and whether trying again can help.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RemoteError {
    /// The network, a 5xx, a 429, a timeout: worth another try.
    #[error("{0}")]
    Transient(String),
    /// Credentials refused or not enough: a person must act.
    #[error("{0}")]
    Auth(String),
    #[error("{0}")]
    NotFound(String),
    /// Anything else the peer refused.
    #[error("{0}")]
    Refused(String),
}

impl RemoteError {
    pub fn retryable(&self) -> bool {
        matches!(self, RemoteError::Transient(_))
    }
}

fn network(url: &str, e: reqwest::Error) -> RemoteError {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    // reqwest's own text names the URL; keep the cause chain for the log.
    let mut cause = String::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(&e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    RemoteError::Transient(if cause.is_empty() {
        format!("{url}: {what}")
    } else {
        format!("{url}: {what}: {cause}")
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Challenge {
    Unknown,
    None,
    Basic,
    Bearer { realm: String, service: String },
}

struct AuthState {
    challenge: Challenge,
    /// Bearer tokens by scope set, with when they stop being used.
    tokens: HashMap<String, (String, Instant)>,
}

/// An upload in progress at the destination: where to send the next request.
#[derive(Debug, Clone)]
pub struct UploadLocation(pub String);

/// One registry, reachable over HTTP. Cheap to share behind an `Arc`.
pub struct Remote {
    /// Follows no redirect: credentials and answers stay with the endpoint.
    http: reqwest::Client,
    /// For blob downloads only, which registries redirect to their storage (reqwest drops
    /// the `Authorization` header when a redirect leaves the host).
    downloads: reqwest::Client,
    endpoint: Endpoint,
    /// `scheme://host:port` of the endpoint: credentials go nowhere else.
    origin_url: url::Url,
    origin: String,
    auth: Mutex<AuthState>,
}

impl Remote {
    /// `origin` is this instance's id, sent with every request.
    pub fn new(endpoint: Endpoint, origin: &str) -> Result<Remote, RemoteError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let origin_url = url::Url::parse(&endpoint.url)
            .map_err(|e| RemoteError::Refused(format!("url {:?}: {e}", endpoint.url)))?;
        let build = |redirects: reqwest::redirect::Policy| {
            let mut builder = reqwest::Client::builder()
                .tls_backend_rustls()
                .connect_timeout(Duration::from_secs(10))
                .read_timeout(Duration::from_secs(60))
                .pool_idle_timeout(Duration::from_secs(30))
                .redirect(redirects)
                .user_agent(concat!("berth-replication/", env!("CARGO_PKG_VERSION")));
            if endpoint.insecure {
                builder = builder.danger_accept_invalid_certs(true);
            } else if !endpoint.ca_certificate.trim().is_empty() {
                let certs =
                    reqwest::Certificate::from_pem_bundle(endpoint.ca_certificate.as_bytes())
                        .map_err(|e| RemoteError::Refused(format!("ca_certificate: {e}")))?;
                builder = builder.tls_certs_only(certs);
            }
            builder
                .build()
                .map_err(|e| RemoteError::Refused(format!("cannot set up a client: {e}")))
        };
        Ok(Remote {
            http: build(reqwest::redirect::Policy::none())?,
            downloads: build(reqwest::redirect::Policy::limited(5))?,
            endpoint,
            origin_url,
            origin: origin.to_string(),
            auth: Mutex::new(AuthState {
                challenge: Challenge::Unknown,
                tokens: HashMap::new(),
            }),
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.endpoint.url)
    }

    fn auth_lock(&self) -> std::sync::MutexGuard<'_, AuthState> {
        self.auth.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn basic(&self) -> Option<HeaderValue> {
        if self.endpoint.username.is_empty() {
            return None;
        }
        let pair = format!("{}:{}", self.endpoint.username, self.endpoint.password);
        let mut value = HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(pair))).ok()?;
        value.set_sensitive(true);
        Some(value)
    }

    /// Pings `/v2/`: first without credentials, learning how the registry wants to be
    /// authenticated and the Berth instance id it answers with (if any, whether or not the
    /// credentials then work), then with the credentials. An endpoint without credentials is
    /// reachable when it answers at all (anonymous pulls may still work).
    pub async fn ping(&self) -> (Option<String>, Result<(), RemoteError>) {
        let (challenge, instance) = match self.probe().await {
            Ok(found) => found,
            Err(e) => return (None, Err(e)),
        };
        if challenge == Challenge::None || self.endpoint.username.is_empty() {
            return (instance, Ok(()));
        }
        let url = self.url("/v2/");
        let checked = match self.send("", || self.http.get(&url)).await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) if matches!(r.status(), StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => {
                Err(RemoteError::Auth(format!(
                    "{url}: the registry refused the credentials of {:?} ({})",
                    self.endpoint.username,
                    r.status()
                )))
            }
            Ok(r) => Err(status_error(&url, r.status(), r).await),
            Err(e) => Err(e),
        };
        (instance, checked)
    }

    /// Learns the challenge (and the instance id) with one unauthenticated `GET /v2/`.
    async fn probe(&self) -> Result<(Challenge, Option<String>), RemoteError> {
        let url = self.url("/v2/");
        let response = self
            .http
            .get(&url)
            .header(ORIGIN_HEADER, &self.origin)
            .send()
            .await
            .map_err(|e| network(&url, e))?;
        let instance = response
            .headers()
            .get(INSTANCE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let challenge = if response.status() == StatusCode::UNAUTHORIZED {
            parse_challenge(response.headers())
        } else if response.status().is_success() {
            Challenge::None
        } else {
            return Err(status_error(&url, response.status(), response).await);
        };
        self.auth_lock().challenge = challenge.clone();
        Ok((challenge, instance))
    }

    /// The `Authorization` header for requests under `scope` (space-separated scopes).
    async fn authorization(&self, scope: &str) -> Result<Option<HeaderValue>, RemoteError> {
        let challenge = {
            let state = self.auth_lock();
            if let Some((token, until)) = state.tokens.get(scope) {
                if Instant::now() < *until {
                    return Ok(bearer(token));
                }
            }
            state.challenge.clone()
        };
        let challenge = match challenge {
            Challenge::Unknown => self.probe().await?.0,
            known => known,
        };
        match challenge {
            Challenge::Unknown | Challenge::None => Ok(self.basic()),
            Challenge::Basic => Ok(self.basic()),
            Challenge::Bearer { realm, service } => {
                let (token, lifetime) = self.fetch_token(&realm, &service, scope).await?;
                // Used until shortly before it expires.
                let until = Instant::now() + lifetime.saturating_sub(Duration::from_secs(10));
                self.auth_lock()
                    .tokens
                    .insert(scope.to_string(), (token.clone(), until));
                Ok(bearer(&token))
            }
        }
    }

    async fn fetch_token(
        &self,
        realm: &str,
        service: &str,
        scope: &str,
    ) -> Result<(String, Duration), RemoteError> {
        let mut query: Vec<(&str, &str)> = vec![("service", service)];
        for s in scope.split(' ').filter(|s| !s.is_empty()) {
            query.push(("scope", s));
        }
        // A realm elsewhere is normal (token services often live apart), but never a
        // downgrade: the credentials of an https endpoint do not travel in clear.
        if self.origin_url.scheme() == "https" && !realm.starts_with("https://") {
            return Err(RemoteError::Refused(format!(
                "{}: the token service {realm} is not https: credentials are not sent there",
                self.endpoint.url
            )));
        }
        let mut request = self.http.get(realm).query(&query).timeout(DOCUMENT_TIMEOUT);
        if let Some(basic) = self.basic() {
            request = request.header(AUTHORIZATION, basic);
        }
        let response = request.send().await.map_err(|e| network(realm, e))?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(RemoteError::Auth(format!(
                "{}: the token service refused the credentials of {:?} ({status})",
                self.endpoint.url, self.endpoint.username
            )));
        }
        if !status.is_success() {
            return Err(status_error(realm, status, response).await);
        }
        #[derive(Deserialize)]
        struct TokenAnswer {
            #[serde(default)]
            token: String,
            #[serde(default)]
            access_token: String,
            #[serde(default)]
            expires_in: Option<u64>,
        }
        let body = read_capped(response, MAX_DOCUMENT_BYTES).await?;
        let answer: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|e| RemoteError::Refused(format!("{realm}: not a token answer: {e}")))?;
        let token = if answer.token.is_empty() {
            answer.access_token
        } else {
            answer.token
        };
        if token.is_empty() {
            return Err(RemoteError::Refused(format!(
                "{realm}: no token in the answer"
            )));
        }
        Ok((
            token,
            Duration::from_secs(answer.expires_in.unwrap_or(60).max(30)),
        ))
    }

    /// Sends a request that can be built again, authorised for `scope`; a 401 is answered
    /// once with fresh credentials.
    async fn send(
        &self,
        scope: &str,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response, RemoteError> {
        for attempt in 0..2 {
            let mut request = build()
                .header(ORIGIN_HEADER, &self.origin)
                .timeout(DOCUMENT_TIMEOUT);
            if let Some(auth) = self.authorization(scope).await? {
                request = request.header(AUTHORIZATION, auth);
            }
            let response = request
                .send()
                .await
                .map_err(|e| network(&self.endpoint.url, e))?;
            if response.status() != StatusCode::UNAUTHORIZED || attempt == 1 {
                return Ok(response);
            }
            // The token may have expired, or this scope needs another challenge.
            let mut state = self.auth_lock();
            state.tokens.remove(scope);
            state.challenge = parse_challenge(response.headers());
        }
        unreachable!("the loop returns on its second pass")
    }

    /// Sends a request whose body can be sent once (a stream); a 401 forgets the token so
    /// the caller's next attempt gets a fresh one.
    async fn send_once(
        &self,
        scope: &str,
        request: RequestBuilder,
        len: u64,
    ) -> Result<Response, RemoteError> {
        let mut request = request
            .header(ORIGIN_HEADER, &self.origin)
            .timeout(transfer_timeout(len));
        if let Some(auth) = self.authorization(scope).await? {
            request = request.header(AUTHORIZATION, auth);
        }
        let response = request
            .send()
            .await
            .map_err(|e| network(&self.endpoint.url, e))?;
        if response.status() == StatusCode::UNAUTHORIZED {
            self.auth_lock().tokens.remove(scope);
            return Err(RemoteError::Transient(format!(
                "{}: authorisation expired mid-transfer",
                self.endpoint.url
            )));
        }
        Ok(response)
    }

    fn pull(repo: &str) -> String {
        format!("repository:{repo}:pull")
    }

    fn push(repo: &str) -> String {
        format!("repository:{repo}:pull,push")
    }

    /// Every repository the credentials can see: Harbor's REST listing for `harbor`
    /// endpoints (its `_catalog` is for admins only), `_catalog` otherwise.
    pub async fn repositories(&self) -> Result<Vec<String>, RemoteError> {
        match self.endpoint.kind {
            EndpointKind::Harbor => self.harbor_repositories().await,
            EndpointKind::DockerRegistry => {
                self.paged_names("/v2/_catalog?n=1000", "registry:catalog:*", "repositories")
                    .await
            }
        }
    }

    async fn harbor_repositories(&self) -> Result<Vec<String>, RemoteError> {
        #[derive(Deserialize)]
        struct Repo {
            name: String,
        }
        let mut names: Vec<String> = Vec::new();
        for page in 1.. {
            let url = self.url(&format!("/api/v2.0/repositories?page={page}&page_size=100"));
            let response = self.api(|| self.http.get(&url)).await?;
            if !response.status().is_success() {
                return Err(status_error(&url, response.status(), response).await);
            }
            let body = read_capped(response, MAX_DOCUMENT_BYTES).await?;
            let repos: Vec<Repo> = serde_json::from_slice(&body)
                .map_err(|e| RemoteError::Refused(format!("{url}: {e}")))?;
            let n = repos.len();
            names.extend(repos.into_iter().map(|r| r.name));
            if n < 100 {
                break;
            }
            if names.len() > MAX_NAMES {
                return Err(RemoteError::Refused(format!(
                    "{url}: more than {MAX_NAMES} repositories: narrow the policy's filters"
                )));
            }
        }
        Ok(names)
    }

    /// A call to Harbor's REST API, with Basic credentials (Harbor and Berth accept them).
    async fn api(&self, build: impl Fn() -> RequestBuilder) -> Result<Response, RemoteError> {
        let mut request = build()
            .header(ORIGIN_HEADER, &self.origin)
            .header("X-Is-Resource-Name", "true")
            .timeout(DOCUMENT_TIMEOUT);
        if let Some(basic) = self.basic() {
            request = request.header(AUTHORIZATION, basic);
        }
        let response = request
            .send()
            .await
            .map_err(|e| network(&self.endpoint.url, e))?;
        if matches!(
            response.status(),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) {
            return Err(RemoteError::Auth(format!(
                "{}: the REST API refused the credentials of {:?} ({})",
                self.endpoint.url,
                self.endpoint.username,
                response.status()
            )));
        }
        Ok(response)
    }

    /// A `/v2/` listing that pages with `Link` (`_catalog`, `tags/list`): names deduplicated,
    /// within [`MAX_NAMES`] and [`MAX_LISTING_BYTES`], and ended when a page adds nothing new
    /// (a `Link` that loops).
    async fn paged_names(
        &self,
        first: &str,
        scope: &str,
        field: &str,
    ) -> Result<Vec<String>, RemoteError> {
        let mut names = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut budget = MAX_LISTING_BYTES;
        let mut next = Some(first.to_string());
        while let Some(path) = next.take() {
            let url = self.url(&path);
            let response = self.send(scope, || self.http.get(&url)).await?;
            if !response.status().is_success() {
                return Err(status_error(&url, response.status(), response).await);
            }
            next = next_link(response.headers());
            let body = read_capped(response, MAX_DOCUMENT_BYTES.min(budget)).await?;
            budget = budget.saturating_sub(body.len());
            let doc: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| RemoteError::Refused(format!("{url}: {e}")))?;
            let before = names.len();
            if let Some(items) = doc.get(field).and_then(|v| v.as_array()) {
                for name in items.iter().filter_map(|v| v.as_str()) {
                    if seen.insert(name.to_string()) {
                        names.push(name.to_string());
                    }
                }
            }
            if names.len() == before || budget == 0 {
                break;
            }
            if names.len() > MAX_NAMES {
                return Err(RemoteError::Refused(format!(
                    "{url}: more than {MAX_NAMES} names: narrow the policy's filters"
                )));
            }
        }
        Ok(names)
    }

    pub async fn tags(&self, repo: &str) -> Result<Vec<String>, RemoteError> {
        match self
            .paged_names(
                &format!("/v2/{repo}/tags/list?n=1000"),
                &Self::pull(repo),
                "tags",
            )
            .await
        {
            Err(RemoteError::NotFound(_)) => Ok(Vec::new()),
            other => other,
        }
    }

    /// The digest and media type a reference resolves to, `None` when it does not exist.
    pub async fn head_manifest(
        &self,
        repo: &str,
        reference: &str,
        write_scope: bool,
    ) -> Result<Option<(String, String)>, RemoteError> {
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"));
        let scope = if write_scope {
            Self::push(repo)
        } else {
            Self::pull(repo)
        };
        let response = self
            .send(&scope, || {
                self.http
                    .head(&url)
                    .header(reqwest::header::ACCEPT, MANIFEST_ACCEPT)
            })
            .await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => {
                let header = |name| {
                    response
                        .headers()
                        .get(name)
                        .and_then(|v: &HeaderValue| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string()
                };
                let digest = header("docker-content-digest");
                let media_type = header(CONTENT_TYPE.as_str());
                if digest.parse::<crate::digest::Digest>().is_ok() {
                    return Ok(Some((digest, media_type)));
                }
                // No usable digest in the answer: the manifest's own hash is the truth.
                let (body, media_type) = self.manifest(repo, reference).await?;
                Ok(Some((
                    crate::digest::Digest::sha256_of(&body).to_string(),
                    media_type,
                )))
            }
            s => Err(status_error(&url, s, response).await),
        }
    }

    /// A manifest: its bytes and media type.
    pub async fn manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<(Bytes, String), RemoteError> {
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"));
        let response = self
            .send(&Self::pull(repo), || {
                self.http
                    .get(&url)
                    .header(reqwest::header::ACCEPT, MANIFEST_ACCEPT)
            })
            .await?;
        if !response.status().is_success() {
            return Err(status_error(&url, response.status(), response).await);
        }
        let media_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = read_capped(response, MAX_MANIFEST_BYTES).await?;
        Ok((body, media_type))
    }

    /// The referrers of a manifest (the OCI referrers API); none where the registry has no
    /// such API.
    pub async fn referrers(&self, repo: &str, digest: &str) -> Result<Vec<String>, RemoteError> {
        let url = self.url(&format!("/v2/{repo}/referrers/{digest}"));
        let response = self.send(&Self::pull(repo), || self.http.get(&url)).await?;
        match response.status() {
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED | StatusCode::BAD_REQUEST => {
                Ok(Vec::new())
            }
            s if s.is_success() => {
                let body = read_capped(response, MAX_DOCUMENT_BYTES).await?;
                let index: serde_json::Value = serde_json::from_slice(&body)
                    .map_err(|e| RemoteError::Refused(format!("{url}: {e}")))?;
                Ok(index
                    .get("manifests")
                    .and_then(|m| m.as_array())
                    .map(|m| {
                        m.iter()
                            .filter_map(|d| d.get("digest")?.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default())
            }
            s => Err(status_error(&url, s, response).await),
        }
    }

    pub async fn has_blob(&self, repo: &str, digest: &str) -> Result<bool, RemoteError> {
        let url = self.url(&format!("/v2/{repo}/blobs/{digest}"));
        let response = self
            .send(&Self::push(repo), || self.http.head(&url))
            .await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(false),
            s if s.is_success() => Ok(true),
            s => Err(status_error(&url, s, response).await),
        }
    }

    /// `len` bytes of a blob from `offset` on (all the rest with `None`), streamed.
    pub async fn blob(
        &self,
        repo: &str,
        digest: &str,
        offset: u64,
        len: Option<u64>,
    ) -> Result<BoxStream<'static, std::io::Result<Bytes>>, RemoteError> {
        let url = self.url(&format!("/v2/{repo}/blobs/{digest}"));
        let range = match len {
            Some(0) => return Ok(futures_util::stream::empty().boxed()),
            Some(n) => Some(format!("bytes={offset}-{}", offset + n - 1)),
            None if offset > 0 => Some(format!("bytes={offset}-")),
            None => None,
        };
        let response = self
            .send(&Self::pull(repo), || {
                let request = self
                    .downloads
                    .get(&url)
                    .timeout(transfer_timeout(len.unwrap_or(1 << 30)));
                match &range {
                    Some(r) => request.header(reqwest::header::RANGE, r),
                    None => request,
                }
            })
            .await?;
        let status = response.status();
        if offset > 0 && status != StatusCode::PARTIAL_CONTENT {
            if status.is_success() {
                return Err(RemoteError::Refused(format!(
                    "{url}: the source does not serve byte ranges"
                )));
            }
            return Err(status_error(&url, status, response).await);
        }
        if !status.is_success() {
            return Err(status_error(&url, status, response).await);
        }
        Ok(response
            .bytes_stream()
            .map_err(std::io::Error::other)
            .boxed())
    }

    /// Starts an upload, asking first to mount the blob (from `from` when given, or wherever
    /// the registry finds it): `None` when it was mounted.
    pub async fn start_upload(
        &self,
        repo: &str,
        digest: &str,
        from: Option<&str>,
    ) -> Result<Option<UploadLocation>, RemoteError> {
        let mut path = format!("/v2/{repo}/blobs/uploads/?mount={digest}");
        let mut scope = Self::push(repo);
        if let Some(from) = from.filter(|f| *f != repo) {
            path.push_str(&format!("&from={from}"));
            scope.push(' ');
            scope.push_str(&Self::pull(from));
        }
        let url = self.url(&path);
        let response = self
            .send(&scope, || {
                self.http
                    .post(&url)
                    .header(reqwest::header::CONTENT_LENGTH, "0")
            })
            .await?;
        match response.status() {
            StatusCode::CREATED => Ok(None),
            StatusCode::ACCEPTED => Ok(Some(self.location(&url, &response)?)),
            s => Err(status_error(&url, s, response).await),
        }
    }

    /// Where an upload continues. Relative locations resolve against the endpoint; an
    /// absolute one must be on the endpoint's host (a proxy in front may name another scheme
    /// or port: the endpoint's are used), or credentials would go elsewhere.
    fn location(&self, url: &str, response: &Response) -> Result<UploadLocation, RemoteError> {
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| RemoteError::Refused(format!("{url}: no Location in the answer")))?;
        let mut resolved = self
            .origin_url
            .join(location)
            .map_err(|e| RemoteError::Refused(format!("{url}: bad Location {location:?}: {e}")))?;
        if resolved.host_str() != self.origin_url.host_str() {
            return Err(RemoteError::Refused(format!(
                "{url}: the upload continues on another host ({location:?}): refused, credentials stay with the endpoint"
            )));
        }
        if resolved.origin() != self.origin_url.origin() {
            let _ = resolved.set_scheme(self.origin_url.scheme());
            let _ = resolved.set_port(self.origin_url.port());
        }
        Ok(UploadLocation(resolved.to_string()))
    }

    /// How many bytes the destination holds of an upload.
    pub async fn upload_offset(
        &self,
        repo: &str,
        upload: &UploadLocation,
    ) -> Result<u64, RemoteError> {
        let response = self
            .send(&Self::push(repo), || self.http.get(&upload.0))
            .await?;
        if !response.status().is_success() {
            return Err(status_error(&upload.0, response.status(), response).await);
        }
        Ok(response
            .headers()
            .get(reqwest::header::RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|r| r.rsplit('-').next()?.parse::<u64>().ok())
            .map(|last| last + 1)
            .unwrap_or(0))
    }

    /// Sends `len` bytes at `offset` (a `PATCH`); returns where the upload continues.
    pub async fn upload_chunk(
        &self,
        repo: &str,
        upload: &UploadLocation,
        offset: u64,
        len: u64,
        body: BoxStream<'static, std::io::Result<Bytes>>,
    ) -> Result<UploadLocation, RemoteError> {
        let request = self
            .http
            .patch(&upload.0)
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::CONTENT_LENGTH, len)
            .header(
                "content-range",
                format!("{offset}-{}", (offset + len).saturating_sub(1)),
            )
            .body(reqwest::Body::wrap_stream(body));
        let response = self.send_once(&Self::push(repo), request, len).await?;
        if response.status() != StatusCode::ACCEPTED && !response.status().is_success() {
            return Err(status_error(&upload.0, response.status(), response).await);
        }
        self.location(&upload.0, &response)
    }

    /// Completes an upload with `body` as its last `len` bytes (0 for none).
    pub async fn finish_upload(
        &self,
        repo: &str,
        upload: &UploadLocation,
        digest: &str,
        len: u64,
        body: BoxStream<'static, std::io::Result<Bytes>>,
    ) -> Result<(), RemoteError> {
        let separator = if upload.0.contains('?') { '&' } else { '?' };
        let url = format!("{}{separator}digest={digest}", upload.0);
        let request = self
            .http
            .put(&url)
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::CONTENT_LENGTH, len)
            .body(reqwest::Body::wrap_stream(body));
        let response = self.send_once(&Self::push(repo), request, len).await?;
        if response.status() != StatusCode::CREATED && !response.status().is_success() {
            return Err(status_error(&url, response.status(), response).await);
        }
        Ok(())
    }

    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: Bytes,
    ) -> Result<(), RemoteError> {
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"));
        let response = self
            .send(&Self::push(repo), || {
                self.http
                    .put(&url)
                    .header(CONTENT_TYPE, media_type)
                    .body(body.clone())
            })
            .await?;
        if !response.status().is_success() {
            return Err(status_error(&url, response.status(), response).await);
        }
        Ok(())
    }

    /// Deletes a tag, or a manifest by digest; false when it was not there. A tag goes
    /// through Harbor's REST API at a `harbor` endpoint (its `/v2/` deletes only by digest);
    /// a `docker-registry` one can only delete the manifest the tag points at, with all its
    /// tags, as Harbor's own adapter does.
    pub async fn delete(&self, repo: &str, reference: &str) -> Result<bool, RemoteError> {
        if reference.contains(':') {
            return self.delete_manifest(repo, reference).await;
        }
        match self.endpoint.kind {
            EndpointKind::Harbor => {
                let (project, rest) = repo.split_once('/').unwrap_or((repo, ""));
                let url = self.url(&format!(
                    "/api/v2.0/projects/{project}/repositories/{}/artifacts/{reference}/tags/{reference}",
                    rest.replace('/', "%252F")
                ));
                let response = self.api(|| self.http.request(Method::DELETE, &url)).await?;
                match response.status() {
                    StatusCode::NOT_FOUND => Ok(false),
                    s if s.is_success() => Ok(true),
                    s => Err(status_error(&url, s, response).await),
                }
            }
            EndpointKind::DockerRegistry => {
                let Some((digest, _)) = self.head_manifest(repo, reference, true).await? else {
                    return Ok(false);
                };
                // Deleting the manifest takes all its tags: never when another tag still
                // points at it there.
                for other in self.tags(repo).await? {
                    if other != reference
                        && self
                            .head_manifest(repo, &other, true)
                            .await?
                            .is_some_and(|(d, _)| d == digest)
                    {
                        return Err(RemoteError::Refused(format!(
                            "{repo}:{reference} not deleted: this registry can delete only the manifest, and its tag {other} points at it too"
                        )));
                    }
                }
                self.delete_manifest(repo, &digest).await
            }
        }
    }

    /// Deletes a manifest by digest; false when it was not there.
    pub async fn delete_manifest(&self, repo: &str, reference: &str) -> Result<bool, RemoteError> {
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"));
        let scope = format!("repository:{repo}:delete,pull,push");
        let response = self
            .send(&scope, || self.http.request(Method::DELETE, &url))
            .await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(false),
            s if s.is_success() => Ok(true),
            s => Err(status_error(&url, s, response).await),
        }
    }

    /// Makes sure a project exists at a `harbor` endpoint (private, as Harbor's replication
    /// makes them); other endpoints have no projects.
    pub async fn ensure_project(&self, name: &str) -> Result<(), RemoteError> {
        if self.endpoint.kind != EndpointKind::Harbor {
            return Ok(());
        }
        let head = self.url(&format!("/api/v2.0/projects?project_name={name}"));
        let response = self.api(|| self.http.head(&head)).await?;
        if response.status().is_success() {
            return Ok(());
        }
        let url = self.url("/api/v2.0/projects");
        let body = serde_json::json!({"project_name": name, "metadata": {"public": "false"}});
        let response = self.api(|| self.http.post(&url).json(&body)).await?;
        match response.status() {
            s if s.is_success() || s == StatusCode::CONFLICT => Ok(()),
            s => Err(status_error(&url, s, response).await),
        }
    }
}

fn bearer(token: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// `WWW-Authenticate: Bearer realm="...",service="..."` or `Basic ...`.
fn parse_challenge(headers: &HeaderMap) -> Challenge {
    let Some(value) = headers
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
    else {
        return Challenge::Basic;
    };
    let (scheme, params) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Challenge::Basic;
    }
    let params = parse_params(params);
    match params.get("realm") {
        Some(realm) => Challenge::Bearer {
            realm: realm.clone(),
            service: params.get("service").cloned().unwrap_or_default(),
        },
        None => Challenge::Basic,
    }
}

/// `key="value",key2="value, with comma"` into a map (keys lower-cased).
fn parse_params(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (after[..end].trim(), &after[end..]),
                None => (after.trim(), ""),
            }
        };
        out.insert(key, value.to_string());
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

/// The path of `Link: </v2/...>; rel="next"`.
fn next_link(headers: &HeaderMap) -> Option<String> {
    let link = headers.get(reqwest::header::LINK)?.to_str().ok()?;
    let start = link.find('<')? + 1;
    let end = link[start..].find('>')? + start;
    if !link[end..].contains("next") {
        return None;
    }
    let target = &link[start..end];
    // Absolute links keep only their path and query.
    let path = match target.find("://") {
        Some(i) => &target[target[i + 3..].find('/').map(|j| i + 3 + j)?..],
        None => target,
    };
    path.starts_with("/v2/").then(|| path.to_string())
}

async fn read_capped(response: Response, max: usize) -> Result<Bytes, RemoteError> {
    let url = response.url().to_string();
    if response.content_length().is_some_and(|n| n as usize > max) {
        return Err(RemoteError::Refused(format!(
            "{url}: the answer is larger than {max} bytes"
        )));
    }
    let mut stream = response.bytes_stream();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| network(&url, e))?;
        if out.len() + chunk.len() > max {
            return Err(RemoteError::Refused(format!(
                "{url}: the answer is larger than {max} bytes"
            )));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(out))
}

/// A failed answer as an error, with the registry's own message when it sent one.
async fn status_error(url: &str, status: StatusCode, response: Response) -> RemoteError {
    let body = read_capped(response, 64 * 1024).await.unwrap_or_default();
    let detail = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            let e = v.get("errors")?.get(0)?;
            Some(format!(
                "{} {}",
                e.get("code").and_then(|c| c.as_str()).unwrap_or_default(),
                e.get("message")
                    .and_then(|m| m.as_str())
                    .unwrap_or_default()
            ))
        })
        // Only a registry's own error document is shown: never raw bytes of whatever
        // answered (an endpoint URL could point at anything).
        .unwrap_or_default();
    // What a peer says is shown, not trusted: one line, printable, bounded.
    let detail: String = detail
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect();
    let message = format!("{url}: {status}: {}", detail.trim());
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => RemoteError::Auth(message),
        StatusCode::NOT_FOUND => RemoteError::NotFound(message),
        StatusCode::TOO_MANY_REQUESTS | StatusCode::REQUEST_TIMEOUT => {
            RemoteError::Transient(message)
        }
        s if s.is_server_error() => RemoteError::Transient(message),
        _ => RemoteError::Refused(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let mut h = HeaderMap::new();
        h.insert(
            reqwest::header::WWW_AUTHENTICATE,
            HeaderValue::from_static(
                r#"Bearer realm="https://r.example/service/token",service="harbor-registry",scope="repository:a/b:pull""#,
            ),
        );
        assert_eq!(
            parse_challenge(&h),
            Challenge::Bearer {
                realm: "https://r.example/service/token".into(),
                service: "harbor-registry".into()
            }
        );
        h.insert(
            reqwest::header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Basic realm="Registry Realm""#),
        );
        assert_eq!(parse_challenge(&h), Challenge::Basic);
        let p = parse_params(r#"realm="a,b", service=svc , scope="x""#);
        assert_eq!(p["realm"], "a,b");
        assert_eq!(p["service"], "svc");
        assert_eq!(p["scope"], "x");
    }

    #[test]
    fn next_links() {
        let mut h = HeaderMap::new();
        h.insert(
            reqwest::header::LINK,
            HeaderValue::from_static(r#"</v2/_catalog?last=b&n=2>; rel="next""#),
        );
        assert_eq!(next_link(&h).as_deref(), Some("/v2/_catalog?last=b&n=2"));
        h.insert(
            reqwest::header::LINK,
            HeaderValue::from_static(r#"<https://x.example/v2/a/tags/list?last=1>; rel="next""#),
        );
        assert_eq!(next_link(&h).as_deref(), Some("/v2/a/tags/list?last=1"));
        h.insert(
            reqwest::header::LINK,
            HeaderValue::from_static(r#"<https://elsewhere.example/steal>; rel="next""#),
        );
        assert_eq!(next_link(&h), None, "only /v2/ paths are followed");
    }
}
