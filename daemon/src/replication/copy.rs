//! Copying one artifact between two [`Side`]s, done so it can be trusted: every child of an
//! index and every referrer goes with it; a manifest is written only after everything it
//! references is at the destination; blobs stream through (never held in memory), are skipped
//! when the destination has them, mounted when it can, and sent in chunks when large, so a
//! failed chunk resumes at the offset the destination reports. Every document read from the
//! source is checked against its digest before it is written anywhere.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use serde_json::Value;

use super::remote::{RemoteError, UploadLocation};
use super::side::{empty_body, Side};

/// How hard a copy tries, from `[replication]` in berth.toml.
#[derive(Debug, Clone)]
pub struct CopySettings {
    pub blob_retries: u32,
    pub backoff: Duration,
    pub chunk_size: u64,
}

/// Bytes moved by a task, read by the progress writer while it runs.
#[derive(Debug, Default)]
pub struct Progress {
    pub done: AtomicU64,
    pub total: AtomicU64,
}

/// A task's rate limit (Harbor's `speed`, per task).
pub struct Limiter {
    rate: u64,
    start: Instant,
    sent: AtomicU64,
}

impl Limiter {
    pub fn new(bytes_per_second: u64) -> Arc<Limiter> {
        Arc::new(Limiter {
            rate: bytes_per_second.max(1),
            start: Instant::now(),
            sent: AtomicU64::new(0),
        })
    }

    async fn wait_for(&self, n: usize) {
        let sent = self.sent.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        let due = self.start + Duration::from_secs_f64(sent as f64 / self.rate as f64);
        let now = Instant::now();
        if due > now {
            tokio::time::sleep(due - now).await;
        }
    }
}

type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

/// Passes bytes on no faster than the limiter allows, in pieces of at most a twentieth of a
/// second's worth so the rate is even.
fn throttled(inner: ByteStream, limiter: Arc<Limiter>) -> ByteStream {
    let piece = ((limiter.rate / 20).max(1024)) as usize;
    futures_util::stream::unfold(
        (inner, limiter, Bytes::new()),
        move |(mut inner, limiter, mut rest)| async move {
            if rest.is_empty() {
                match inner.next().await? {
                    Err(e) => return Some((Err(e), (inner, limiter, Bytes::new()))),
                    Ok(b) => rest = b,
                }
            }
            let out = rest.split_to(piece.min(rest.len()));
            limiter.wait_for(out.len()).await;
            Some((Ok(out), (inner, limiter, rest)))
        },
    )
    .boxed()
}

fn counted(inner: ByteStream, progress: Arc<Progress>) -> ByteStream {
    inner
        .inspect(move |chunk| {
            if let Ok(b) = chunk {
                progress.done.fetch_add(b.len() as u64, Ordering::Relaxed);
            }
        })
        .boxed()
}

/// Where an execution's blobs are known to be at the destination, for mounts, and which are
/// being sent: tasks running side by side never send the same blob twice (a base layer
/// shared by every image goes once, then is mounted).
#[derive(Default)]
pub struct Placement {
    placed: Mutex<HashMap<String, String>>,
    sending: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Placement {
    fn repository_holding(&self, digest: &str) -> Option<String> {
        self.placed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(digest)
            .cloned()
    }

    fn placed(&self, digest: &str, repository: &str) {
        self.placed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest.to_string(), repository.to_string());
    }

    /// The gate one task holds while it sends a blob.
    fn gate(&self, digest: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.sending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(digest.to_string())
            .or_default()
            .clone()
    }
}

/// What one artifact's copy did, for the task's log and result.
#[derive(Debug, Default)]
pub struct CopyReport {
    pub blobs_copied: u64,
    pub blobs_skipped: u64,
    pub blobs_mounted: u64,
    pub manifests_written: u64,
    pub tags_written: Vec<String>,
    pub tags_kept: Vec<String>,
}

/// One artifact's copy: source and destination, and the shared state of its execution.
pub struct Copy<'a> {
    pub src: &'a Side,
    pub dst: &'a Side,
    pub settings: &'a CopySettings,
    pub progress: Arc<Progress>,
    pub limiter: Option<Arc<Limiter>>,
    pub override_tags: bool,
    /// Where the execution's blobs are at the destination (shared by its tasks).
    pub placed: Arc<Placement>,
    /// Lines for the task's log.
    pub log: Vec<String>,
    pub report: CopyReport,
    /// Manifests this task has made sure of, so none is visited twice.
    pub visited: HashSet<String>,
}

/// What a manifest references: child manifests (an index's) and blobs with their sizes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct References {
    pub children: Vec<String>,
    pub blobs: Vec<(String, u64)>,
}

/// The descriptors a manifest references.
pub fn references(body: &[u8]) -> Result<References, String> {
    let doc: Value =
        serde_json::from_slice(body).map_err(|e| format!("the manifest is not JSON: {e}"))?;
    let descriptor = |d: &Value| -> Option<(String, u64, bool)> {
        let digest = d.get("digest")?.as_str()?.to_string();
        let size = d.get("size")?.as_u64()?;
        // Foreign layers live at their URLs, not in registries.
        let foreign = d
            .get("urls")
            .and_then(|u| u.as_array())
            .is_some_and(|u| !u.is_empty());
        Some((digest, size, foreign))
    };
    let children = doc
        .get("manifests")
        .and_then(|m| m.as_array())
        .map(|m| {
            m.iter()
                .filter_map(|d| descriptor(d).map(|(digest, _, _)| digest))
                .collect()
        })
        .unwrap_or_default();
    let mut blobs = Vec::new();
    if let Some(config) = doc.get("config").and_then(descriptor) {
        blobs.push(config);
    }
    for field in ["layers", "blobs"] {
        if let Some(list) = doc.get(field).and_then(|l| l.as_array()) {
            blobs.extend(list.iter().filter_map(descriptor));
        }
    }
    let mut seen = HashSet::new();
    Ok(References {
        children,
        blobs: blobs
            .into_iter()
            .filter(|(d, _, foreign)| !foreign && seen.insert(d.clone()))
            .map(|(d, s, _)| (d, s))
            .collect(),
    })
}

/// Whether a document hashes to the digest it was fetched by; anything that is not a valid
/// digest (a tag name passed off as one, say) never matches.
fn matches_digest(body: &[u8], digest: &str) -> bool {
    match digest.parse::<crate::digest::Digest>() {
        Ok(d) => crate::digest::Digest::of(d.algorithm(), body) == d,
        Err(_) => false,
    }
}

/// Nesting of indexes a copy follows (an index of indexes is 2).
const MAX_DEPTH: u32 = 8;
/// Manifests one task may write (its artifact, children and referrers).
const MAX_MANIFESTS_PER_TASK: usize = 10_000;
/// Referrers of one subject a copy follows.
const MAX_REFERRERS: usize = 1_000;

/// A source stream that must carry exactly `len` bytes: more is an error at once (a peer
/// cannot fill the disk before the hash check), fewer is caught by the destination's check.
fn exactly(inner: ByteStream, len: u64) -> ByteStream {
    let mut seen = 0u64;
    inner
        .map(move |chunk| {
            let chunk = chunk?;
            seen += chunk.len() as u64;
            if seen > len {
                return Err(std::io::Error::other(format!(
                    "the source sent more than the {len} bytes it declared"
                )));
            }
            Ok(chunk)
        })
        .boxed()
}

/// How deep referrers of referrers are followed (a signature of an SBOM of an image is 2).
const MAX_REFERRER_DEPTH: u32 = 4;

impl Copy<'_> {
    fn note(&mut self, line: impl Into<String>) {
        self.log.push(line.into());
    }

    /// Copies the artifact `digest` of `src_repo` to `dst_repo` under `tags`, with its
    /// children and referrers. A tag that points elsewhere at the destination is replaced
    /// only with `override`.
    pub async fn artifact(
        &mut self,
        src_repo: &str,
        dst_repo: &str,
        digest: &str,
        tags: &[String],
    ) -> Result<(), RemoteError> {
        let (body, media_type) = self.fetch(src_repo, digest).await?;
        let mut to_write = Vec::new();
        for tag in tags {
            match self.dst.head_manifest(dst_repo, tag).await? {
                Some((there, _)) if there == digest => {
                    self.note(format!("tag {tag}: already at {digest}"));
                }
                Some((there, _)) if !self.override_tags => {
                    self.note(format!(
                        "tag {tag}: kept, it points at {there} at the destination and the policy does not override"
                    ));
                    self.report.tags_kept.push(tag.clone());
                }
                _ => to_write.push(tag.clone()),
            }
        }
        let all_kept = !tags.is_empty() && self.report.tags_kept.len() == tags.len();
        if all_kept {
            return Ok(());
        }
        self.tree(src_repo, dst_repo, digest, body.clone(), &media_type, 0)
            .await?;
        for tag in &to_write {
            self.dst
                .put_manifest(dst_repo, tag, &media_type, body.clone())
                .await?;
            self.note(format!("tag {tag}: written"));
            self.report.tags_written.push(tag.clone());
        }
        self.referrers(src_repo, dst_repo, digest, 1).await
    }

    async fn fetch(&mut self, repo: &str, digest: &str) -> Result<(Bytes, String), RemoteError> {
        let (body, media_type) = self.src.manifest(repo, digest).await?;
        if !matches_digest(&body, digest) {
            return Err(RemoteError::Refused(format!(
                "{}: the manifest served for {repo}@{digest} does not hash to its digest",
                self.src.describe()
            )));
        }
        Ok((body, media_type))
    }

    /// Makes sure the manifest `digest`, and everything it references, is at the destination.
    fn tree<'s>(
        &'s mut self,
        src_repo: &'s str,
        dst_repo: &'s str,
        digest: &'s str,
        body: Bytes,
        media_type: &'s str,
        depth: u32,
    ) -> futures_util::future::BoxFuture<'s, Result<(), RemoteError>> {
        Box::pin(async move {
            if !self.visited.insert(digest.to_string()) {
                return Ok(());
            }
            if depth > MAX_DEPTH || self.visited.len() > MAX_MANIFESTS_PER_TASK {
                return Err(RemoteError::Refused(format!(
                    "{digest}: nested deeper than {MAX_DEPTH} or more than {MAX_MANIFESTS_PER_TASK} manifests: not copied"
                )));
            }
            if self.dst.head_manifest(dst_repo, digest).await?.is_some() {
                self.note(format!("manifest {digest}: already at the destination"));
                return Ok(());
            }
            let References { children, blobs } = references(&body).map_err(RemoteError::Refused)?;
            for child in children {
                let (child_body, child_type) = self.fetch(src_repo, &child).await?;
                self.tree(
                    src_repo,
                    dst_repo,
                    &child,
                    child_body,
                    &child_type,
                    depth + 1,
                )
                .await?;
            }
            for (blob, size) in blobs {
                if blob.parse::<crate::digest::Digest>().is_err() {
                    return Err(RemoteError::Refused(format!(
                        "manifest {digest} names {blob:?}, which is no digest"
                    )));
                }
                self.blob(src_repo, dst_repo, &blob, size).await?;
            }
            self.dst
                .put_manifest(dst_repo, digest, media_type, body)
                .await?;
            self.report.manifests_written += 1;
            self.note(format!("manifest {digest}: written"));
            Ok(())
        })
    }

    fn referrers<'s>(
        &'s mut self,
        src_repo: &'s str,
        dst_repo: &'s str,
        subject: &'s str,
        depth: u32,
    ) -> futures_util::future::BoxFuture<'s, Result<(), RemoteError>> {
        Box::pin(async move {
            if depth > MAX_REFERRER_DEPTH {
                return Ok(());
            }
            let referrers = self.src.referrers(src_repo, subject).await?;
            if referrers.len() > MAX_REFERRERS {
                self.note(format!(
                    "{subject} has {} referrers: the first {MAX_REFERRERS} are copied",
                    referrers.len()
                ));
            }
            for referrer in referrers.into_iter().take(MAX_REFERRERS) {
                if self.visited.contains(&referrer) {
                    continue;
                }
                let (body, media_type) = self.fetch(src_repo, &referrer).await?;
                self.note(format!("referrer {referrer} of {subject}"));
                self.tree(src_repo, dst_repo, &referrer, body, &media_type, 1)
                    .await?;
                self.referrers(src_repo, dst_repo, &referrer, depth + 1)
                    .await?;
            }
            Ok(())
        })
    }

    /// One blob: skipped when the destination has it, else mounted or uploaded, with retries
    /// and backoff.
    async fn blob(
        &mut self,
        src_repo: &str,
        dst_repo: &str,
        digest: &str,
        size: u64,
    ) -> Result<(), RemoteError> {
        // Another task sending the same blob is waited for: then it is there to mount.
        let gate = self.placed.gate(digest);
        let _sending = gate.lock().await;
        if self.dst.has_blob(dst_repo, digest).await? {
            self.report.blobs_skipped += 1;
            return Ok(());
        }
        self.progress.total.fetch_add(size, Ordering::Relaxed);
        let base = self.progress.done.load(Ordering::Relaxed);
        let from = self.placed.repository_holding(digest);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self
                .upload(src_repo, dst_repo, digest, size, from.as_deref(), base)
                .await
            {
                Ok(mounted) => {
                    if mounted {
                        // Nothing was sent: a mount moves no bytes.
                        self.report.blobs_mounted += 1;
                        self.progress.done.store(base, Ordering::Relaxed);
                        self.progress.total.fetch_sub(size, Ordering::Relaxed);
                        self.note(format!("blob {digest}: mounted"));
                    } else {
                        self.report.blobs_copied += 1;
                    }
                    break;
                }
                Err(e) if e.retryable() && attempt <= self.settings.blob_retries => {
                    let wait = self.settings.backoff * 2u32.saturating_pow(attempt - 1);
                    self.note(format!(
                        "blob {digest}: attempt {attempt} failed ({e}); again in {:.1} s",
                        wait.as_secs_f64()
                    ));
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        }
        self.placed.placed(digest, dst_repo);
        Ok(())
    }

    fn source_stream(&self, stream: ByteStream) -> ByteStream {
        let stream = counted(stream, self.progress.clone());
        match &self.limiter {
            Some(l) => throttled(stream, l.clone()),
            None => stream,
        }
    }

    /// One attempt: `Ok(true)` when the destination mounted it.
    async fn upload(
        &mut self,
        src_repo: &str,
        dst_repo: &str,
        digest: &str,
        size: u64,
        from: Option<&str>,
        base: u64,
    ) -> Result<bool, RemoteError> {
        self.progress.done.store(base, Ordering::Relaxed);
        let Some(upload) = self.dst.start_upload(dst_repo, digest, from).await? else {
            return Ok(true);
        };
        // Whatever ends this attempt early (an error, a stop that drops it) ends the session.
        let mut open = OpenUpload {
            dst: self.dst.clone(),
            repo: dst_repo.to_string(),
            upload: Some(upload),
        };
        if size <= self.settings.chunk_size {
            let body = self.src.blob(src_repo, digest, 0, Some(size)).await?;
            let body = self.source_stream(exactly(body, size));
            self.dst
                .finish_upload(dst_repo, open.location(), digest, size, body)
                .await?;
            open.finished();
            return Ok(false);
        }
        let mut offset = 0;
        let mut failures = 0;
        while offset < size {
            let len = self.settings.chunk_size.min(size - offset);
            let sent = async {
                let body = self.src.blob(src_repo, digest, offset, Some(len)).await?;
                let body = self.source_stream(exactly(body, len));
                self.dst
                    .upload_chunk(dst_repo, open.location(), offset, len, body)
                    .await
            }
            .await;
            match sent {
                Ok(next) => {
                    open.upload = Some(next);
                    offset += len;
                }
                Err(e) if e.retryable() && failures < self.settings.blob_retries => {
                    failures += 1;
                    let wait = self.settings.backoff * 2u32.saturating_pow(failures - 1);
                    tokio::time::sleep(wait).await;
                    // Resume where the destination says the upload stands.
                    offset = self.dst.upload_offset(dst_repo, open.location()).await?;
                    self.progress.done.store(base + offset, Ordering::Relaxed);
                    self.note(format!(
                        "blob {digest}: chunk failed ({e}); resuming at byte {offset}"
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        self.dst
            .finish_upload(dst_repo, open.location(), digest, 0, empty_body())
            .await?;
        open.finished();
        Ok(false)
    }
}

/// An upload session at the destination that this attempt owns: dropped before it finished,
/// it is given up (a local session at once, in the background), so a failed or stopped copy
/// never holds one of the session caps until expiry.
struct OpenUpload {
    dst: Side,
    repo: String,
    upload: Option<UploadLocation>,
}

impl OpenUpload {
    fn location(&self) -> &UploadLocation {
        self.upload
            .as_ref()
            .expect("an open upload has a location until it is finished")
    }

    fn finished(&mut self) {
        self.upload = None;
    }
}

impl Drop for OpenUpload {
    fn drop(&mut self) {
        if let Some(upload) = self.upload.take() {
            let (dst, repo) = (self.dst.clone(), std::mem::take(&mut self.repo));
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move { dst.cancel_upload(&repo, &upload).await });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_of_manifests_and_indexes() {
        let image = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "config":{"mediaType":"c","digest":"sha256:aa","size":2},
            "layers":[{"mediaType":"l","digest":"sha256:bb","size":3},
                      {"mediaType":"l","digest":"sha256:bb","size":3},
                      {"mediaType":"f","digest":"sha256:cc","size":4,"urls":["https://x.example/l"]}]}"#;
        let References { children, blobs } = references(image).expect("parsed");
        assert!(children.is_empty());
        assert_eq!(
            blobs,
            [("sha256:aa".to_string(), 2), ("sha256:bb".to_string(), 3)],
            "deduplicated, foreign layers left out"
        );
        let index = br#"{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"sha256:11","size":5},{"mediaType":"m","digest":"sha256:22","size":6}]}"#;
        let References { children, blobs } = references(index).expect("parsed");
        assert_eq!(children, ["sha256:11", "sha256:22"]);
        assert!(blobs.is_empty());
        assert!(references(b"not json").is_err());
    }

    #[test]
    fn digests_are_checked() {
        let body = b"{}";
        let good = crate::digest::Digest::sha256_of(body).to_string();
        assert!(matches_digest(body, &good));
        assert!(!matches_digest(b"{ }", &good));
    }

    #[tokio::test]
    async fn the_limiter_holds_the_rate() {
        let data = Bytes::from(vec![7u8; 64 * 1024]);
        let stream = futures_util::stream::iter(vec![Ok(data.clone()), Ok(data)]).boxed();
        let started = Instant::now();
        let limiter = Limiter::new(256 * 1024);
        let total: usize = throttled(stream, limiter)
            .map(|c| c.map(|b| b.len()).unwrap_or(0))
            .fold(0, |a, b| async move { a + b })
            .await;
        assert_eq!(total, 128 * 1024);
        // 128 KiB at 256 KiB/s takes half a second, give or take a piece.
        assert!(started.elapsed() >= Duration::from_millis(450));
    }
}
