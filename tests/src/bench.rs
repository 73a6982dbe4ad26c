//! `berth-bench`: pushes and pulls blobs and reads manifests against registries, and prints
//! throughput (MB/s), latency (p50/p99) and, with several targets, each one's ratio against the
//! first (the baseline), all measured in this one run.
//!
//!     berth-bench --target distribution=http://127.0.0.1:5001 \
//!                 --target berth=http://127.0.0.1:5000,admin,PASSWORD --rss-pid berth=1234
//!
//! Token auth is followed as a client does: a 401 from `/v2/` names the realm, and a token is
//! fetched there with HTTP Basic credentials.

mod backup;
mod gc;
mod portal;
mod replication;
mod retention;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::Parser;
use futures_util::StreamExt;
use reqwest::{Client, StatusCode};
use sha2::Digest as _;

#[derive(Parser)]
#[command(about = "Registry push/pull benchmark")]
struct Args {
    /// NAME=URL[,USER,PASSWORD]; the first target is the baseline.
    #[arg(long = "target", required = true)]
    targets: Vec<String>,
    /// NAME=PID of a target's server process, to report its peak RSS.
    #[arg(long = "rss-pid")]
    rss_pids: Vec<String>,
    /// Repository to use (its project must exist where that matters).
    #[arg(long, default_value = "library/bench")]
    repo: String,
    /// Which cases: big, many, manifests; gc-seed (images of small layers, half deleted) and
    /// gc (push throughput while an online GC runs; berth targets only); portal-seed and
    /// portal (page times against the REST API's; one berth target); retention-seed and
    /// retention (a run over many tags, and pushes during it; one berth target)
    /// (comma-separated).
    #[arg(long, default_value = "big,many,manifests")]
    cases: String,
    /// Size of the big blob, in MiB.
    #[arg(long, default_value_t = 1024)]
    big_mib: usize,
    /// Number of blobs in the many-blobs case, each `many_kib` KiB.
    #[arg(long, default_value_t = 1000)]
    many_count: usize,
    #[arg(long, default_value_t = 1024)]
    many_kib: usize,
    #[arg(long, default_value_t = 16)]
    many_concurrency: usize,
    /// Manifest GETs, and their concurrency.
    #[arg(long, default_value_t = 20_000)]
    manifest_gets: usize,
    #[arg(long, default_value_t = 32)]
    manifest_concurrency: usize,
    /// gc-seed: images, and layers per image.
    #[arg(long, default_value_t = 1000)]
    gc_images: usize,
    #[arg(long, default_value_t = 99)]
    gc_layers: usize,
    /// gc: seconds of pushing without GC, for the baseline.
    #[arg(long, default_value_t = 5)]
    gc_window: u64,
    /// portal-seed and portal: projects, repositories per project, artifacts per repository.
    #[arg(long, default_value_t = 1000)]
    portal_projects: usize,
    #[arg(long, default_value_t = 10)]
    portal_repositories: usize,
    #[arg(long, default_value_t = 10)]
    portal_artifacts: usize,
    /// portal: requests per page.
    #[arg(long, default_value_t = 200)]
    portal_requests: usize,
    /// repl-seed: images (under `--repo`-NN), and MiB of layers of their own in each.
    #[arg(long, default_value_t = 50)]
    repl_images: usize,
    #[arg(long, default_value_t = 10)]
    repl_unique_mib: usize,
    /// repl-big: the layer's size in MiB (under `--repo`).
    #[arg(long, default_value_t = 2048)]
    repl_big_mib: usize,
    /// repl-run: the policy to run.
    #[arg(long, default_value_t = 0)]
    repl_policy: i64,
    /// retention-seed and retention: the project, its repositories and tags per repository,
    /// and the K of "retain the K most recently pushed".
    #[arg(long, default_value = "bench")]
    retention_project: String,
    #[arg(long, default_value_t = 1000)]
    retention_repos: usize,
    #[arg(long, default_value_t = 100)]
    retention_tags: usize,
    #[arg(long, default_value_t = 10)]
    retention_keep: i64,
    /// backup-seed and backup: blobs and their size in KiB (20,000 of 512 KiB: 10 GiB), and
    /// how many more for the incremental backup (1%).
    #[arg(long, default_value_t = 20_000)]
    backup_blobs: usize,
    #[arg(long, default_value_t = 512)]
    backup_kib: usize,
    #[arg(long, default_value_t = 200)]
    backup_new_blobs: usize,
    /// backup: the berthd binary, its configuration file and the backup directory.
    #[arg(long)]
    berthd: Option<std::path::PathBuf>,
    #[arg(long)]
    berth_config: Option<std::path::PathBuf>,
    #[arg(long)]
    backup_dest: Option<std::path::PathBuf>,
}

struct Target {
    name: String,
    base: String,
    creds: Option<(String, String)>,
    client: Client,
    token: tokio::sync::Mutex<Option<String>>,
}

impl Target {
    fn parse(spec: &str) -> Result<Target> {
        let (name, rest) = spec
            .split_once('=')
            .context("target must be NAME=URL[,USER,PASSWORD]")?;
        let mut parts = rest.split(',');
        let base = parts
            .next()
            .context("target URL")?
            .trim_end_matches('/')
            .to_string();
        let creds = match (parts.next(), parts.next()) {
            (Some(u), Some(p)) => Some((u.to_string(), p.to_string())),
            _ => None,
        };
        let client = Client::builder().pool_max_idle_per_host(64).build()?;
        Ok(Target {
            name: name.to_string(),
            base,
            creds,
            client,
            token: Default::default(),
        })
    }

    /// Gets a token for `repo` if the registry asks for one.
    async fn login(&self, repo: &str) -> Result<()> {
        let r = self.client.get(format!("{}/v2/", self.base)).send().await?;
        if r.status() != StatusCode::UNAUTHORIZED {
            return Ok(());
        }
        let challenge = r
            .headers()
            .get("www-authenticate")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .to_string();
        let field = |k: &str| {
            challenge
                .split(&format!("{k}=\""))
                .nth(1)
                .and_then(|s| s.split('"').next())
                .map(str::to_string)
        };
        let realm = field("realm").context("no realm in challenge")?;
        let service = field("service").unwrap_or_default();
        let mut req = self.client.get(realm).query(&[
            ("service", service),
            ("scope", format!("repository:{repo}:pull,push,delete")),
        ]);
        if let Some((u, p)) = &self.creds {
            req = req.basic_auth(u, Some(p));
        }
        let v: serde_json::Value = req.send().await?.error_for_status()?.json().await?;
        *self.token.lock().await = v["token"].as_str().map(str::to_string);
        Ok(())
    }

    async fn req(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let url = if url.starts_with("http") {
            url.to_string()
        } else {
            format!("{}{url}", self.base)
        };
        let r = self.client.request(method, url);
        match self.token.lock().await.as_ref() {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// POST + PUT with the whole body, as a monolithic-capable client does.
    async fn push_blob(&self, repo: &str, data: Bytes, digest: &str) -> Result<()> {
        let r = self
            .req(reqwest::Method::POST, &format!("/v2/{repo}/blobs/uploads/"))
            .await
            .send()
            .await?;
        if r.status() != StatusCode::ACCEPTED {
            bail!("{}: start upload: {}", self.name, r.status());
        }
        let loc = r
            .headers()
            .get("location")
            .and_then(|h| h.to_str().ok())
            .context("no Location")?
            .to_string();
        let sep = if loc.contains('?') { '&' } else { '?' };
        let body = reqwest::Body::from(data);
        let r = self
            .req(reqwest::Method::PUT, &format!("{loc}{sep}digest={digest}"))
            .await
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .await?;
        if r.status() != StatusCode::CREATED {
            bail!(
                "{}: finish upload: {} {}",
                self.name,
                r.status(),
                r.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }

    async fn pull_blob(&self, repo: &str, digest: &str) -> Result<u64> {
        let r = self
            .req(reqwest::Method::GET, &format!("/v2/{repo}/blobs/{digest}"))
            .await
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("{}: pull blob: {}", self.name, r.status());
        }
        let mut n = 0u64;
        let mut s = r.bytes_stream();
        while let Some(chunk) = s.next().await {
            n += chunk?.len() as u64;
        }
        Ok(n)
    }
}

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

/// Distinct pseudo-random content, cheap to make (so generation does not dominate).
fn blob(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

#[derive(Default, Clone)]
struct Figures {
    mb_per_s: f64,
    ops_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn figures(bytes: u64, ops: usize, elapsed: Duration, mut lat: Vec<Duration>) -> Figures {
    lat.sort();
    let pct = |p: f64| {
        if lat.is_empty() {
            return 0.0;
        }
        let i = ((lat.len() as f64 - 1.0) * p).round() as usize;
        lat[i].as_secs_f64() * 1000.0
    };
    let secs = elapsed.as_secs_f64().max(1e-9);
    Figures {
        mb_per_s: bytes as f64 / 1_048_576.0 / secs,
        ops_per_s: ops as f64 / secs,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    }
}

/// Runs `op` over `items` with at most `concurrency` at once; returns per-op latencies.
async fn run_all<T, F, Fut>(
    items: Vec<T>,
    concurrency: usize,
    op: F,
) -> Result<(Duration, Vec<Duration>)>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let started = Instant::now();
    let results: Vec<Result<Duration>> = futures_util::stream::iter(items.into_iter().map(|it| {
        let fut = op(it);
        async move {
            let t = Instant::now();
            fut.await?;
            Ok(t.elapsed())
        }
    }))
    .buffer_unordered(concurrency)
    .collect()
    .await;
    let elapsed = started.elapsed();
    let lat = results.into_iter().collect::<Result<Vec<_>>>()?;
    Ok((elapsed, lat))
}

async fn blobs_case(
    t: &Arc<Target>,
    repo: &str,
    blobs: &[(Bytes, String)],
    concurrency: usize,
) -> Result<(Figures, Figures)> {
    let total: u64 = blobs.iter().map(|(b, _)| b.len() as u64).sum();
    let push_items: Vec<(Bytes, String)> = blobs.to_vec();
    let (elapsed, lat) = run_all(push_items, concurrency, |(data, digest)| {
        let t = t.clone();
        let repo = repo.to_string();
        async move { t.push_blob(&repo, data, &digest).await }
    })
    .await?;
    let push = figures(total, blobs.len(), elapsed, lat);
    let pull_items: Vec<String> = blobs.iter().map(|(_, d)| d.clone()).collect();
    let (elapsed, lat) = run_all(pull_items, concurrency, |digest| {
        let t = t.clone();
        let repo = repo.to_string();
        async move {
            t.pull_blob(&repo, &digest).await?;
            Ok(())
        }
    })
    .await?;
    let pull = figures(total, blobs.len(), elapsed, lat);
    Ok((push, pull))
}

async fn manifests_case(
    t: &Arc<Target>,
    repo: &str,
    gets: usize,
    concurrency: usize,
    seed: u64,
) -> Result<Figures> {
    let config = format!(r#"{{"architecture":"amd64","os":"linux","seed":{seed}}}"#).into_bytes();
    let layer = blob(seed, 4096);
    let (cd, ld) = (sha256(&config), sha256(&layer));
    t.push_blob(repo, Bytes::from(config.clone()), &cd).await?;
    t.push_blob(repo, Bytes::from(layer.clone()), &ld).await?;
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": layer.len()}],
    })
    .to_string();
    let r = t
        .req(reqwest::Method::PUT, &format!("/v2/{repo}/manifests/bench"))
        .await
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.clone())
        .send()
        .await?;
    if r.status() != StatusCode::CREATED {
        bail!("{}: put manifest: {}", t.name, r.status());
    }
    let (elapsed, lat) = run_all((0..gets).collect(), concurrency, |_| {
        let t = t.clone();
        let repo = repo.to_string();
        async move {
            let r = t
                .req(reqwest::Method::GET, &format!("/v2/{repo}/manifests/bench"))
                .await
                .header("accept", "application/vnd.oci.image.manifest.v1+json")
                .send()
                .await?;
            if !r.status().is_success() {
                bail!("get manifest: {}", r.status());
            }
            r.bytes().await?;
            Ok(())
        }
    })
    .await?;
    Ok(figures(
        manifest.len() as u64 * gets as u64,
        gets,
        elapsed,
        lat,
    ))
}

fn peak_rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[tokio::main]
async fn main() -> Result<()> {
    // A workspace build gives reqwest rustls (the daemon's features) without a provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    let targets: Vec<Arc<Target>> = args
        .targets
        .iter()
        .map(|s| Target::parse(s).map(Arc::new))
        .collect::<Result<_>>()?;
    let rss: HashMap<String, String> = args
        .rss_pids
        .iter()
        .filter_map(|s| s.split_once('='))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let cases: Vec<&str> = args.cases.split(',').collect();
    let scale = portal::Scale {
        projects: args.portal_projects,
        repositories: args.portal_repositories,
        artifacts: args.portal_artifacts,
    };
    if let Some(case) = cases.iter().find(|c| c.starts_with("repl-")) {
        // The replication cases take one berthd target with credentials.
        let t = &targets[0];
        let (user, password) = t
            .creds
            .clone()
            .context("replication cases need USER,PASSWORD")?;
        match *case {
            "repl-seed" => {
                replication::seed(
                    &t.base,
                    &user,
                    &password,
                    &args.repo,
                    args.repl_images,
                    args.repl_unique_mib,
                )
                .await?;
            }
            "repl-big" => {
                replication::big(&t.base, &user, &password, &args.repo, args.repl_big_mib).await?
            }
            "repl-run" => replication::run(&t.base, &user, &password, args.repl_policy).await?,
            other => bail!("unknown case {other}"),
        }
        return Ok(());
    }
    if cases.contains(&"portal-seed") || cases.contains(&"portal") {
        // The portal cases take one berthd target with credentials, and nothing else.
        let t = &targets[0];
        let (user, password) = t.creds.clone().context("portal cases need USER,PASSWORD")?;
        if cases.contains(&"portal-seed") {
            portal::seed(&t.base, &user, &password, &scale).await?;
        }
        if cases.contains(&"portal") {
            portal::measure(&t.base, &user, &password, &scale, args.portal_requests).await?;
        }
        return Ok(());
    }
    // (case, target) -> figures
    let mut rows: Vec<(String, String, Figures)> = Vec::new();
    for t in &targets {
        t.login(&args.repo)
            .await
            .with_context(|| format!("login to {}", t.name))?;
    }
    let seed_base = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    if cases.contains(&"big") {
        // One blob each; made once, different per target so nothing is deduplicated across runs.
        for (i, t) in targets.iter().enumerate() {
            let data = blob(seed_base + i as u64, args.big_mib * 1_048_576);
            let d = sha256(&data);
            let (push, pull) = blobs_case(t, &args.repo, &[(Bytes::from(data), d)], 1).await?;
            rows.push((
                format!("1 blob of {} MiB: push", args.big_mib),
                t.name.clone(),
                push,
            ));
            rows.push((
                format!("1 blob of {} MiB: pull", args.big_mib),
                t.name.clone(),
                pull,
            ));
        }
    }
    if cases.contains(&"many") {
        for (i, t) in targets.iter().enumerate() {
            let blobs: Vec<(Bytes, String)> = (0..args.many_count)
                .map(|j| {
                    let b = blob(
                        (seed_base << 20) + (i as u64) * 1_000_000 + j as u64,
                        args.many_kib * 1024,
                    );
                    let d = sha256(&b);
                    (Bytes::from(b), d)
                })
                .collect();
            let (push, pull) = blobs_case(t, &args.repo, &blobs, args.many_concurrency).await?;
            let label = format!(
                "{} blobs of {} KiB, concurrency {}",
                args.many_count, args.many_kib, args.many_concurrency
            );
            rows.push((format!("{label}: push"), t.name.clone(), push));
            rows.push((format!("{label}: pull"), t.name.clone(), pull));
        }
    }
    if cases.contains(&"manifests") {
        for (i, t) in targets.iter().enumerate() {
            let f = manifests_case(
                t,
                &args.repo,
                args.manifest_gets,
                args.manifest_concurrency,
                seed_base + 77 + i as u64,
            )
            .await?;
            rows.push((
                format!(
                    "{} manifest GETs, concurrency {}",
                    args.manifest_gets, args.manifest_concurrency
                ),
                t.name.clone(),
                f,
            ));
        }
    }

    if cases.contains(&"retention-seed") || cases.contains(&"retention") {
        // One berthd target with credentials.
        let t = targets.first().context("a berth target")?;
        if cases.contains(&"retention-seed") {
            retention::seed(
                t,
                &args.retention_project,
                args.retention_repos,
                args.retention_tags,
                16,
            )
            .await?;
        }
        if cases.contains(&"retention") {
            retention::run(
                t,
                &args.retention_project,
                args.retention_keep,
                &args.repo,
                4,
                Duration::from_secs(args.gc_window),
            )
            .await?;
        }
        return Ok(());
    }
    if cases.contains(&"backup-seed") || cases.contains(&"backup") {
        // One berthd target with credentials.
        let t = targets.first().context("a berth target")?;
        let data_bytes = (args.backup_blobs * (args.backup_kib << 10)) as u64;
        if cases.contains(&"backup-seed") {
            backup::seed(
                t,
                &args.repo,
                args.backup_blobs,
                args.backup_kib,
                10,
                0,
                seed_base,
            )
            .await?;
        }
        if cases.contains(&"backup") {
            let command = backup::BackupCommand {
                berthd: args.berthd.clone().context("--berthd")?,
                config: args.berth_config.clone().context("--berth-config")?,
                dest: args.backup_dest.clone().context("--backup-dest")?,
            };
            backup::run(
                t,
                &args.repo,
                // The target's token covers one repository: the pusher's blobs go there too.
                &args.repo,
                command,
                data_bytes,
                args.backup_new_blobs,
                args.backup_kib,
                Duration::from_secs(args.gc_window),
                seed_base + 5,
            )
            .await?;
        }
        return Ok(());
    }
    if cases.contains(&"gc-seed") {
        for t in &targets {
            // The same content in every target: the GC figures compare like with like.
            gc::seed(t, &args.repo, args.gc_images, args.gc_layers, 16, seed_base).await?;
        }
    }
    if cases.contains(&"gc") {
        for t in &targets {
            gc::online(
                t,
                &args.repo,
                4,
                Duration::from_secs(args.gc_window),
                seed_base + 9,
            )
            .await?;
        }
    }
    if rows.is_empty() {
        return Ok(());
    }

    let baseline = &targets[0].name;
    println!(
        "{:<52} {:<14} {:>10} {:>10} {:>9} {:>9} {:>8}",
        "case", "target", "MB/s", "ops/s", "p50 ms", "p99 ms", "ratio"
    );
    let mut case_names: Vec<String> = Vec::new();
    for (c, _, _) in &rows {
        if !case_names.contains(c) {
            case_names.push(c.clone());
        }
    }
    for case in &case_names {
        let base = rows
            .iter()
            .find(|(c, t, _)| c == case && t == baseline)
            .map(|r| r.2.clone())
            .unwrap_or_default();
        for (c, t, f) in rows.iter().filter(|(c, _, _)| c == case) {
            // Throughput ratio: above 1.0 means faster than the baseline.
            let ratio = if base.ops_per_s > 0.0 {
                f.ops_per_s / base.ops_per_s
            } else {
                0.0
            };
            println!(
                "{:<52} {:<14} {:>10.1} {:>10.1} {:>9.2} {:>9.2} {:>8.2}",
                c, t, f.mb_per_s, f.ops_per_s, f.p50_ms, f.p99_ms, ratio
            );
        }
    }
    for t in &targets {
        if let Some(kib) = rss.get(&t.name).and_then(|pid| peak_rss_kib(pid)) {
            println!("peak RSS of {}: {:.1} MiB", t.name, kib as f64 / 1024.0);
        }
    }
    Ok(())
}
