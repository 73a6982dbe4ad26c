//! The garbage collection cases of `berth-bench`: `gc-seed` fills a registry with images of many
//! small layers and deletes half of them (garbage for GC); `gc` measures, on a berthd, the push
//! throughput of a client without GC and while an online GC runs, and the GC's wall time. The
//! offline GC of Distribution and the peak RSS are timed by `tests/bench-gc.sh` around it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::StatusCode;

use super::{blob, sha256, Target};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Pushes `images` images of `layers` layers of 256 bytes (tags `i0`, `i1`, ...), then deletes
/// every other one by digest. Returns (blobs pushed, blobs left unreferenced).
pub async fn seed(
    t: &Arc<Target>,
    repo: &str,
    images: usize,
    layers: usize,
    concurrency: usize,
    seed: u64,
) -> Result<(usize, usize)> {
    let started = Instant::now();
    let results: Vec<Result<usize>> = futures_util::stream::iter(0..images)
        .map(|i| {
            let t = t.clone();
            let repo = repo.to_string();
            async move {
                let config = format!("{{\"bench\":{seed},\"image\":{i}}}").into_bytes();
                let layer_blobs: Vec<Vec<u8>> = (0..layers)
                    .map(|j| blob((seed << 32) + (i * layers + j) as u64, 256))
                    .collect();
                for b in std::iter::once(&config).chain(layer_blobs.iter()) {
                    t.push_blob(&repo, Bytes::from(b.clone()), &sha256(b)).await?;
                }
                let manifest = serde_json::to_vec(&serde_json::json!({
                    "schemaVersion": 2,
                    "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&config), "size": config.len()},
                    "layers": layer_blobs.iter().map(|l| serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(l), "size": l.len()})).collect::<Vec<_>>(),
                }))?;
                let r = t
                    .req(reqwest::Method::PUT, &format!("/v2/{repo}/manifests/i{i}"))
                    .await
                    .header("content-type", OCI_MANIFEST)
                    .body(manifest.clone())
                    .send()
                    .await?;
                if r.status() != StatusCode::CREATED {
                    bail!("{}: manifest: {}", t.name, r.status());
                }
                if i % 2 == 1 {
                    let r = t
                        .req(
                            reqwest::Method::DELETE,
                            &format!("/v2/{repo}/manifests/{}", sha256(&manifest)),
                        )
                        .await
                        .send()
                        .await?;
                    if r.status() != StatusCode::ACCEPTED {
                        bail!("{}: delete: {}", t.name, r.status());
                    }
                    return Ok(layers + 1);
                }
                Ok(0)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut garbage = 0;
    for r in results {
        garbage += r?;
    }
    println!(
        "{}: seeded {} blobs in {images} images, {garbage} left unreferenced, in {:.1} s",
        t.name,
        images * (layers + 1),
        started.elapsed().as_secs_f64()
    );
    Ok((images * (layers + 1), garbage))
}

/// Pushes 4 KiB blobs with `concurrency` clients until `stop`; returns how many.
pub(super) async fn push_until(
    t: &Arc<Target>,
    repo: &str,
    concurrency: usize,
    stop: Arc<AtomicBool>,
    seed: u64,
) -> Result<u64> {
    let count = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let (t, repo, stop, count) = (t.clone(), repo.to_string(), stop.clone(), count.clone());
        workers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let b = blob((seed << 24) + ((w as u64) << 20) + n, 4096);
                n += 1;
                t.push_blob(&repo, Bytes::from(b.clone()), &sha256(&b))
                    .await?;
                count.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for w in workers {
        w.await??;
    }
    Ok(count.load(Ordering::Relaxed))
}

/// Push throughput for `window` without GC, then while an online GC runs (`admin` is the
/// API's Basic credentials); prints both, their ratio and the GC's wall time and result.
pub async fn online(
    t: &Arc<Target>,
    repo: &str,
    concurrency: usize,
    window: Duration,
    seed: u64,
) -> Result<()> {
    let (user, password) = t
        .creds
        .clone()
        .context("the berth target needs credentials")?;
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let pushing = tokio::spawn({
        let (t, repo, stop) = (t.clone(), repo.to_string(), stop.clone());
        async move { push_until(&t, &repo, concurrency, stop, seed).await }
    });
    tokio::time::sleep(window).await;
    stop.store(true, Ordering::Relaxed);
    let quiet = pushing.await?? as f64 / started.elapsed().as_secs_f64();

    let api = |path: &str| format!("{}/api/v2.0{path}", t.base);
    let r = t
        .client
        .post(api("/system/gc/schedule"))
        .basic_auth(&user, Some(&password))
        .json(&serde_json::json!({"schedule": {"type": "Manual"}, "parameters": {"workers": 1}}))
        .send()
        .await?;
    if r.status() != StatusCode::CREATED {
        bail!(
            "start GC: {} {}",
            r.status(),
            r.text().await.unwrap_or_default()
        );
    }
    let gc_started = Instant::now();
    let location = r
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .context("no Location")?
        .to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let push_started = Instant::now();
    let pushing = tokio::spawn({
        let (t, repo, stop) = (t.clone(), repo.to_string(), stop.clone());
        async move { push_until(&t, &repo, concurrency, stop, seed + 1).await }
    });
    let run = loop {
        let run: serde_json::Value = t
            .client
            .get(format!("{}{location}", t.base))
            .basic_auth(&user, Some(&password))
            .send()
            .await?
            .json()
            .await?;
        if !matches!(run["job_status"].as_str(), Some("Pending" | "Running")) {
            break run;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let gc_time = gc_started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let during = pushing.await?? as f64 / push_started.elapsed().as_secs_f64();
    println!(
        "berth online GC: {:.2} s wall time, status {}, result {}",
        gc_time.as_secs_f64(),
        run["job_status"],
        run["result"]
    );
    println!("push of 4 KiB blobs, concurrency {concurrency}: {quiet:.0} ops/s without GC, {during:.0} ops/s during GC, ratio {:.2}", during / quiet);
    println!("GC_SECONDS={:.3}", gc_time.as_secs_f64());
    println!("PUSH_RATIO={:.3}", during / quiet);
    Ok(())
}
