//! The retention cases of `berth-bench`: `retention-seed` fills a project with `repos`
//! repositories of `tags` tags each, every tag its own artifact (manifests that differ by an
//! annotation over one config and one layer per repository); `retention` makes the project's
//! policy "retain the K most recently pushed", times a dry run (evaluation only) and a run
//! (evaluation and deletion), and measures the push throughput of a concurrent client without a
//! run and during one. Peak RSS is read by `tests/bench-retention.sh` around it.
//!
//! Requests use HTTP Basic credentials, which berthd's `/v2/` accepts as Harbor's does, so one
//! client reaches a thousand repositories without a token for each.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::gc::push_until;
use super::{blob, sha256, Target};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn creds(t: &Target) -> Result<(String, String)> {
    t.creds
        .clone()
        .context("the berth target needs USER,PASSWORD")
}

async fn put_blob(t: &Target, repo: &str, data: &[u8]) -> Result<String> {
    let (user, password) = creds(t)?;
    let digest = sha256(data);
    let r = t
        .client
        .post(format!(
            "{}/v2/{repo}/blobs/uploads/?digest={digest}",
            t.base
        ))
        .basic_auth(&user, Some(&password))
        .body(data.to_vec())
        .send()
        .await?;
    if r.status() != StatusCode::CREATED {
        bail!(
            "{repo}: blob: {} {}",
            r.status(),
            r.text().await.unwrap_or_default()
        );
    }
    Ok(digest)
}

/// Seeds `repos` repositories `{project}/rNNNN` with `tags` artifacts each, tagged `tNNN`.
pub async fn seed(
    t: &Arc<Target>,
    project: &str,
    repos: usize,
    tags: usize,
    concurrency: usize,
) -> Result<()> {
    let started = Instant::now();
    let results: Vec<Result<()>> = futures_util::stream::iter(0..repos)
        .map(|r| {
            let t = t.clone();
            let repo = format!("{project}/r{r:04}");
            async move {
                let (user, password) = creds(&t)?;
                let config = format!("{{\"bench\":\"retention\",\"repo\":{r}}}").into_bytes();
                let layer = blob(0x5eed_0000 + r as u64, 512);
                let c = put_blob(&t, &repo, &config).await?;
                let l = put_blob(&t, &repo, &layer).await?;
                for j in 0..tags {
                    let manifest = serde_json::to_vec(&json!({
                        "schemaVersion": 2,
                        "mediaType": OCI_MANIFEST,
                        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": c, "size": config.len()},
                        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": l, "size": layer.len()}],
                        "annotations": {"bench.n": j.to_string()},
                    }))?;
                    let resp = t
                        .client
                        .put(format!("{}/v2/{repo}/manifests/t{j:03}", t.base))
                        .basic_auth(&user, Some(&password))
                        .header("content-type", OCI_MANIFEST)
                        .body(manifest)
                        .send()
                        .await?;
                    if resp.status() != StatusCode::CREATED {
                        bail!("{repo}: manifest: {}", resp.status());
                    }
                }
                Ok(())
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    for r in results {
        r?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{}: seeded {} tags in {repos} repositories in {secs:.1} s ({:.0} manifests/s)",
        t.name,
        repos * tags,
        (repos * tags) as f64 / secs
    );
    Ok(())
}

async fn api(
    t: &Target,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<reqwest::Response> {
    let (user, password) = creds(t)?;
    let mut req = t
        .client
        .request(method, format!("{}/api/v2.0{path}", t.base))
        .basic_auth(&user, Some(&password));
    if let Some(b) = body {
        req = req.json(&b);
    }
    Ok(req.send().await?)
}

/// Starts a run (or dry run) and waits for its end; returns (wall time, execution).
async fn execute(t: &Target, policy: i64, dry_run: bool) -> Result<(Duration, Value)> {
    let started = Instant::now();
    let r = api(
        t,
        reqwest::Method::POST,
        &format!("/retentions/{policy}/executions"),
        Some(json!({"dry_run": dry_run})),
    )
    .await?;
    if r.status() != StatusCode::CREATED {
        bail!("run: {} {}", r.status(), r.text().await.unwrap_or_default());
    }
    let eid: i64 = r
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .and_then(|l| l.rsplit('/').next()?.parse().ok())
        .context("no execution id")?;
    loop {
        let list: Value = api(
            t,
            reqwest::Method::GET,
            &format!("/retentions/{policy}/executions?page_size=100"),
            None,
        )
        .await?
        .json()
        .await?;
        let e = list
            .as_array()
            .and_then(|a| a.iter().find(|e| e["id"] == eid).cloned())
            .context("execution not listed")?;
        if !matches!(e["status"].as_str(), Some("Pending" | "Running")) {
            return Ok((started.elapsed(), e));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The policy "retain the `keep` most recently pushed" on `project`, a dry run, then a run
/// while a client pushes to `push_repo`, against that client's throughput without a run.
pub async fn run(
    t: &Arc<Target>,
    project: &str,
    keep: i64,
    push_repo: &str,
    concurrency: usize,
    window: Duration,
) -> Result<()> {
    let p: Value = api(
        t,
        reqwest::Method::GET,
        &format!("/projects/{project}"),
        None,
    )
    .await?
    .json()
    .await?;
    let project_id = p["project_id"].as_i64().context("project id")?;
    let selectors = json!({
        "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**"}],
        "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]},
    });
    let mut rule = selectors;
    rule["template"] = json!("latestPushedK");
    rule["params"] = json!({"latestPushedK": keep});
    let r = api(
        t,
        reqwest::Method::POST,
        "/retentions",
        Some(json!({"rules": [rule], "scope": {"level": "project", "ref": project_id}})),
    )
    .await?;
    if r.status() != StatusCode::CREATED {
        bail!(
            "policy: {} {}",
            r.status(),
            r.text().await.unwrap_or_default()
        );
    }
    let policy: i64 = r
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .and_then(|l| l.rsplit('/').next()?.parse().ok())
        .context("no policy id")?;

    let (dry_time, dry) = execute(t, policy, true).await?;
    println!(
        "retention dry run (evaluation only): {:.2} s, status {}, result {}",
        dry_time.as_secs_f64(),
        dry["status"],
        dry["result"]
    );

    // The pusher uses a token for its repository, as Docker does.
    t.login(push_repo).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let pushing = tokio::spawn({
        let (t, repo, stop) = (t.clone(), push_repo.to_string(), stop.clone());
        async move { push_until(&t, &repo, concurrency, stop, 0x1a).await }
    });
    tokio::time::sleep(window).await;
    stop.store(true, Ordering::Relaxed);
    let quiet = pushing.await?? as f64 / started.elapsed().as_secs_f64();

    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let pushing = tokio::spawn({
        let (t, repo, stop) = (t.clone(), push_repo.to_string(), stop.clone());
        async move { push_until(&t, &repo, concurrency, stop, 0x1b).await }
    });
    let (run_time, done) = execute(t, policy, false).await?;
    stop.store(true, Ordering::Relaxed);
    let during = pushing.await?? as f64 / started.elapsed().as_secs_f64();
    let total = done["result"]["total"].as_f64().unwrap_or(0.0);
    println!(
        "retention run (evaluation and deletion): {:.2} s, status {}, result {}, {:.0} artifacts judged per second",
        run_time.as_secs_f64(),
        done["status"],
        done["result"],
        total / run_time.as_secs_f64()
    );
    println!(
        "push of 4 KiB blobs, concurrency {concurrency}: {quiet:.0} ops/s without retention, {during:.0} ops/s during the run, ratio {:.2}",
        during / quiet
    );
    println!("RETENTION_DRY_SECONDS={:.3}", dry_time.as_secs_f64());
    println!("RETENTION_SECONDS={:.3}", run_time.as_secs_f64());
    println!("PUSH_RATIO={:.3}", during / quiet);
    Ok(())
}
