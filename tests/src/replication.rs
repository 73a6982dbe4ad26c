//! The replication benchmark's parts (`bench-replication.sh` runs them): seeding images with
//! shared base layers, one very large layer streamed in chunks, and one timed execution of a
//! policy through the REST API.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use reqwest::{Client, StatusCode};
use sha2::Digest as _;

use super::{blob, sha256};

/// `images` images of 3 to 5 layers under `repo_prefix-NN:v1`: two base layers shared by
/// all (8 and 4 MiB), then one to three layers of their own, about `unique_mib` MiB in all.
pub async fn seed(
    base: &str,
    user: &str,
    password: &str,
    repo_prefix: &str,
    images: usize,
    unique_mib: usize,
) -> Result<u64> {
    let client = Client::new();
    let shared = [blob(1, 8 << 20), blob(2, 4 << 20)];
    let mut total = shared.iter().map(Vec::len).sum::<usize>() as u64;
    let started = Instant::now();
    for i in 0..images {
        let repo = format!("{repo_prefix}-{i:02}");
        let own = 1 + i % 3;
        let mut layers: Vec<(String, usize)> = Vec::new();
        for layer in &shared {
            layers.push((
                push(&client, base, user, password, &repo, layer).await?,
                layer.len(),
            ));
        }
        for j in 0..own {
            let data = blob(1000 + (i * 10 + j) as u64, (unique_mib << 20) / own);
            total += data.len() as u64;
            layers.push((
                push(&client, base, user, password, &repo, &data).await?,
                data.len(),
            ));
        }
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}},"seed":{i}}}"#
        );
        let config_digest = push(&client, base, user, password, &repo, config.as_bytes()).await?;
        put_manifest(
            &client,
            base,
            user,
            password,
            &repo,
            "v1",
            &config_digest,
            config.len(),
            &layers,
        )
        .await?;
    }
    println!(
        "seeded {images} images ({:.0} MiB of distinct layers) in {:.1} s",
        total as f64 / 1_048_576.0,
        started.elapsed().as_secs_f64()
    );
    Ok(total)
}

async fn push(
    client: &Client,
    base: &str,
    user: &str,
    password: &str,
    repo: &str,
    data: &[u8],
) -> Result<String> {
    let digest = sha256(data);
    let r = client
        .post(format!("{base}/v2/{repo}/blobs/uploads/?digest={digest}"))
        .basic_auth(user, Some(password))
        .header("content-type", "application/octet-stream")
        .body(data.to_vec())
        .send()
        .await?;
    if r.status() != StatusCode::CREATED {
        bail!("push {repo} blob: {} {}", r.status(), r.text().await?);
    }
    Ok(digest)
}

#[allow(clippy::too_many_arguments)]
async fn put_manifest(
    client: &Client,
    base: &str,
    user: &str,
    password: &str,
    repo: &str,
    tag: &str,
    config: &str,
    config_size: usize,
    layers: &[(String, usize)],
) -> Result<()> {
    let layers: Vec<serde_json::Value> = layers
        .iter()
        .map(|(d, n)| {
            serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": n})
        })
        .collect();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_size},
        "layers": layers,
    });
    let r = client
        .put(format!("{base}/v2/{repo}/manifests/{tag}"))
        .basic_auth(user, Some(password))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(serde_json::to_vec(&manifest)?)
        .send()
        .await?;
    if r.status() != StatusCode::CREATED {
        bail!("manifest {repo}:{tag}: {} {}", r.status(), r.text().await?);
    }
    Ok(())
}

/// One image whose layer is `mib` MiB, streamed in 8 MiB chunks (never whole in memory).
pub async fn big(base: &str, user: &str, password: &str, repo: &str, mib: usize) -> Result<()> {
    let client = Client::new();
    let r = client
        .post(format!("{base}/v2/{repo}/blobs/uploads/"))
        .basic_auth(user, Some(password))
        .send()
        .await?;
    if r.status() != StatusCode::ACCEPTED {
        bail!("start upload: {}", r.status());
    }
    let mut location = r
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .context("Location")?
        .to_string();
    let absolute = |l: &str| {
        if l.starts_with("http") {
            l.to_string()
        } else {
            format!("{base}{l}")
        }
    };
    let chunk = 8usize << 20;
    let mut hasher = sha2::Sha256::new();
    let mut offset = 0usize;
    for i in 0..mib.div_ceil(8) {
        let data = Bytes::from(blob(50_000 + i as u64, chunk.min((mib << 20) - offset)));
        hasher.update(&data);
        let r = client
            .patch(absolute(&location))
            .basic_auth(user, Some(password))
            .header("content-type", "application/octet-stream")
            .header(
                "content-range",
                format!("{offset}-{}", offset + data.len() - 1),
            )
            .body(data.clone())
            .send()
            .await?;
        if r.status() != StatusCode::ACCEPTED {
            bail!("chunk at {offset}: {}", r.status());
        }
        location = r
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .context("Location")?
            .to_string();
        offset += data.len();
    }
    let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
    let url = absolute(&location);
    let sep = if url.contains('?') { '&' } else { '?' };
    let r = client
        .put(format!("{url}{sep}digest={digest}"))
        .basic_auth(user, Some(password))
        .send()
        .await?;
    if r.status() != StatusCode::CREATED {
        bail!("finish upload: {} {}", r.status(), r.text().await?);
    }
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = push(&client, base, user, password, repo, config).await?;
    put_manifest(
        &client,
        base,
        user,
        password,
        repo,
        "v1",
        &config_digest,
        config.len(),
        &[(digest, offset)],
    )
    .await?;
    println!("pushed {repo}:v1 with a layer of {mib} MiB");
    Ok(())
}

/// Starts an execution of `policy` and polls it every 20 ms until it ends; prints
/// `REPL_SECONDS=`, `REPL_BYTES=` and `REPL_STATUS=` for the script.
pub async fn run(base: &str, user: &str, password: &str, policy: i64) -> Result<()> {
    let client = Client::new();
    let started = Instant::now();
    let r = client
        .post(format!("{base}/api/v2.0/replication/executions"))
        .basic_auth(user, Some(password))
        .json(&serde_json::json!({"policy_id": policy}))
        .send()
        .await?;
    if r.status() != StatusCode::CREATED {
        bail!("start: {} {}", r.status(), r.text().await?);
    }
    let location = r
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .context("Location")?
        .to_string();
    let deadline = started + Duration::from_secs(3600);
    loop {
        let e: serde_json::Value = client
            .get(format!("{base}{location}"))
            .basic_auth(user, Some(password))
            .send()
            .await?
            .json()
            .await?;
        if e["status"] != "InProgress" {
            println!("REPL_SECONDS={:.3}", started.elapsed().as_secs_f64());
            println!("REPL_BYTES={}", e["bytes_done"]);
            println!("REPL_TASKS={}", e["total"]);
            println!("REPL_STATUS={}", e["status"].as_str().unwrap_or_default());
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the execution did not end within an hour: {e}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
