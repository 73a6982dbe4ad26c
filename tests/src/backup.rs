//! The backup cases of `berth-bench`: `backup-seed` fills a berthd with images of large
//! layers (the data directory of the figures); `backup` measures, with `berthd backup` run as
//! the operator runs it, a full backup's time and throughput while a client pushes (and that
//! client's throughput against its own without a backup, in the same run), then an incremental
//! backup after 1% new data. Restore and verification are timed by `tests/bench-backup.sh`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::StatusCode;

use super::{blob, sha256, Target};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Pushes `blobs` layers of `kib` KiB as images of `per_image` layers (tags `b{offset+i}`);
/// returns the bytes pushed.
pub async fn seed(
    t: &Arc<Target>,
    repo: &str,
    blobs: usize,
    kib: usize,
    per_image: usize,
    offset: usize,
    seed: u64,
) -> Result<u64> {
    let started = Instant::now();
    let images = blobs.div_ceil(per_image);
    let results: Vec<Result<u64>> = futures_util::stream::iter(0..images)
        .map(|i| {
            let t = t.clone();
            let repo = repo.to_string();
            async move {
                let image = offset + i;
                let config = format!("{{\"backup-bench\":{seed},\"image\":{image}}}").into_bytes();
                let mut layers = Vec::new();
                let mut bytes = 0u64;
                for j in 0..per_image {
                    let b = blob((seed << 40) + (image * per_image + j) as u64, kib << 10);
                    let digest = sha256(&b);
                    bytes += b.len() as u64;
                    layers.push((digest.clone(), b.len()));
                    t.push_blob(&repo, Bytes::from(b), &digest).await?;
                }
                t.push_blob(&repo, Bytes::from(config.clone()), &sha256(&config))
                    .await?;
                let manifest = serde_json::to_vec(&serde_json::json!({
                    "schemaVersion": 2,
                    "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&config), "size": config.len()},
                    "layers": layers.iter().map(|(d, s)| serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": s})).collect::<Vec<_>>(),
                }))?;
                let r = t
                    .req(reqwest::Method::PUT, &format!("/v2/{repo}/manifests/b{image}"))
                    .await
                    .header("content-type", OCI_MANIFEST)
                    .body(manifest)
                    .send()
                    .await?;
                if r.status() != StatusCode::CREATED {
                    bail!("{}: manifest: {}", t.name, r.status());
                }
                Ok(bytes)
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let mut total = 0;
    for r in results {
        total += r?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "seeded {blobs} blobs of {kib} KiB ({:.2} GiB) in {images} images in {secs:.1} s ({:.0} MB/s)",
        total as f64 / (1u64 << 30) as f64,
        total as f64 / 1e6 / secs
    );
    Ok(total)
}

/// How `berthd backup` is run.
pub struct BackupCommand {
    pub berthd: PathBuf,
    pub config: PathBuf,
    pub dest: PathBuf,
}

fn run_backup(c: &BackupCommand) -> Result<(Duration, String)> {
    let started = Instant::now();
    let out = Command::new(&c.berthd)
        .arg("--config")
        .arg(&c.config)
        .arg("backup")
        .arg(&c.dest)
        .output()
        .context("berthd backup")?;
    let elapsed = started.elapsed();
    if !out.status.success() {
        bail!(
            "berthd backup failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok((
        elapsed,
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    ))
}

/// The full backup with a pusher going, its throughput against the pusher's own without a
/// backup, then an incremental backup after `new_blobs` more blobs.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    t: &Arc<Target>,
    repo: &str,
    pusher_repo: &str,
    command: BackupCommand,
    data_bytes: u64,
    new_blobs: usize,
    kib: usize,
    window: Duration,
    seed_value: u64,
) -> Result<()> {
    // The pusher alone, for the baseline.
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let pushing = tokio::spawn({
        let (t, repo, stop) = (t.clone(), pusher_repo.to_string(), stop.clone());
        async move { super::gc::push_until(&t, &repo, 4, stop, seed_value).await }
    });
    tokio::time::sleep(window).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let quiet = pushing.await?? as f64 / started.elapsed().as_secs_f64();

    // The full backup, with the pusher going.
    let stop = Arc::new(AtomicBool::new(false));
    let push_started = Instant::now();
    let pushing = tokio::spawn({
        let (t, repo, stop) = (t.clone(), pusher_repo.to_string(), stop.clone());
        async move { super::gc::push_until(&t, &repo, 4, stop, seed_value + 1).await }
    });
    let (full, summary) = tokio::task::spawn_blocking({
        let c = BackupCommand {
            berthd: command.berthd.clone(),
            config: command.config.clone(),
            dest: command.dest.clone(),
        };
        move || run_backup(&c)
    })
    .await??;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let during = pushing.await?? as f64 / push_started.elapsed().as_secs_f64();
    println!("full backup: {summary}");
    println!(
        "full backup of {:.2} GiB: {:.1} s, {:.0} MB/s",
        data_bytes as f64 / (1u64 << 30) as f64,
        full.as_secs_f64(),
        data_bytes as f64 / 1e6 / full.as_secs_f64()
    );
    println!(
        "push of 4 KiB blobs, concurrency 4: {quiet:.0} ops/s without a backup, {during:.0} ops/s during it, ratio {:.2}",
        during / quiet
    );

    // What the pusher added during and after the full backup goes in a first incremental, so
    // the measured one holds only the 1% of new data.
    let settle = BackupCommand {
        berthd: command.berthd.clone(),
        config: command.config.clone(),
        dest: command.dest.clone(),
    };
    let (settling, summary) = tokio::task::spawn_blocking(move || run_backup(&settle)).await??;
    println!(
        "incremental backup of the pusher's blobs: {:.1} s: {summary}",
        settling.as_secs_f64()
    );
    // 1% new data, then the incremental backup.
    let added = seed(t, repo, new_blobs, kib, 10, 1_000_000, seed_value + 2).await?;
    let (incremental, summary) =
        tokio::task::spawn_blocking(move || run_backup(&command)).await??;
    println!("incremental backup: {summary}");
    println!(
        "incremental backup after {:.0} MiB new ({:.1}% of the data): {:.1} s ({:.2} of the full backup's time)",
        added as f64 / (1u64 << 20) as f64,
        100.0 * added as f64 / data_bytes as f64,
        incremental.as_secs_f64(),
        incremental.as_secs_f64() / full.as_secs_f64()
    );
    println!("FULL_SECONDS={:.3}", full.as_secs_f64());
    println!("INCREMENTAL_SECONDS={:.3}", incremental.as_secs_f64());
    println!("PUSH_RATIO={:.3}", during / quiet);
    Ok(())
}
