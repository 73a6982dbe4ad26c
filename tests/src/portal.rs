//! The portal cases of `berth-bench`: `portal-seed` fills a berthd with projects, repositories
//! and artifacts through the REST API and the registry protocol (HTTP Basic, as berthd accepts
//! on `/v2/`); `portal` signs in through `/c/login` and times the projects list, a project's
//! repositories and a repository's artifacts, each against the REST call that lists the same
//! thing (the baseline, same server, same run, same session), and reports the bytes each page
//! sends. Times are taken at the client over loopback with one kept-alive connection.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures_util::StreamExt;
use reqwest::{Client, StatusCode};

use super::sha256;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

pub struct Scale {
    pub projects: usize,
    pub repositories: usize,
    pub artifacts: usize,
}

fn project(i: usize) -> String {
    format!("p{i:04}")
}

/// Creates `projects` private projects, each with `repositories` repositories of `artifacts`
/// tagged artifacts (one config and one layer per repository, a manifest per artifact made
/// unique by an annotation).
pub async fn seed(base: &str, user: &str, password: &str, scale: &Scale) -> Result<()> {
    let client = Client::builder().pool_max_idle_per_host(64).build()?;
    let started = Instant::now();
    let projects: Vec<Result<()>> = futures_util::stream::iter(0..scale.projects)
        .map(|p| {
            let client = client.clone();
            async move {
                let r = client
                    .post(format!("{base}/api/v2.0/projects"))
                    .basic_auth(user, Some(password))
                    .json(&serde_json::json!({"project_name": project(p), "metadata": {"public": "false"}}))
                    .send()
                    .await?;
                if r.status() != StatusCode::CREATED && r.status() != StatusCode::CONFLICT {
                    bail!("create project {}: {}", project(p), r.status());
                }
                Ok(())
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    projects.into_iter().collect::<Result<Vec<_>>>()?;
    let repos: Vec<(usize, usize)> = (0..scale.projects)
        .flat_map(|p| (0..scale.repositories).map(move |r| (p, r)))
        .collect();
    let done: Vec<Result<()>> =
        futures_util::stream::iter(repos)
            .map(|(p, r)| {
                let client = client.clone();
                async move {
                    seed_repository(&client, base, user, password, p, r, scale.artifacts).await
                }
            })
            .buffer_unordered(16)
            .collect()
            .await;
    done.into_iter().collect::<Result<Vec<_>>>()?;
    println!(
        "seeded {} projects, {} repositories, {} artifacts in {:.1} s",
        scale.projects,
        scale.projects * scale.repositories,
        scale.projects * scale.repositories * scale.artifacts,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn seed_repository(
    client: &Client,
    base: &str,
    user: &str,
    password: &str,
    p: usize,
    r: usize,
    artifacts: usize,
) -> Result<()> {
    let repo = format!("{}/app{r}", project(p));
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Env":["PATH=/usr/bin"],"Entrypoint":["/app"]}},"rootfs":{{"type":"layers","diff_ids":[]}},"history":[{{"created_by":"COPY app /app {repo}"}}]}}"#
    );
    let layer = format!("layer of {repo}").into_bytes();
    let mut descriptors = vec![];
    for body in [config.clone().into_bytes(), layer] {
        let digest = sha256(&body);
        let size = body.len();
        let resp = client
            .post(format!("{base}/v2/{repo}/blobs/uploads/?digest={digest}"))
            .basic_auth(user, Some(password))
            .body(body)
            .send()
            .await?;
        if resp.status() != StatusCode::CREATED {
            bail!("push blob to {repo}: {}", resp.status());
        }
        descriptors.push((digest, size));
    }
    for a in 0..artifacts {
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": descriptors[0].0, "size": descriptors[0].1},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": descriptors[1].0, "size": descriptors[1].1}],
            "annotations": {"org.opencontainers.image.version": format!("{a}")},
        });
        let resp = client
            .put(format!("{base}/v2/{repo}/manifests/v{a}"))
            .basic_auth(user, Some(password))
            .header("content-type", OCI_MANIFEST)
            .body(serde_json::to_vec(&manifest)?)
            .send()
            .await?;
        if resp.status() != StatusCode::CREATED {
            bail!("put manifest {repo}:v{a}: {}", resp.status());
        }
    }
    Ok(())
}

struct Timing {
    p50: Duration,
    p95: Duration,
    bytes: usize,
}

async fn time(client: &Client, url: &str, cookie: &str, n: usize) -> Result<Timing> {
    let mut lat = Vec::with_capacity(n);
    let mut bytes = 0;
    for _ in 0..n {
        let started = Instant::now();
        let resp = client.get(url).header("cookie", cookie).send().await?;
        let status = resp.status();
        let body = resp.bytes().await?;
        lat.push(started.elapsed());
        if !status.is_success() {
            bail!("GET {url}: {status}");
        }
        bytes = body.len();
    }
    lat.sort();
    Ok(Timing {
        p50: lat[lat.len() / 2],
        p95: lat[lat.len() * 95 / 100],
        bytes,
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Signs in, then times each page and its REST baseline `requests` times, in turn.
pub async fn measure(
    base: &str,
    user: &str,
    password: &str,
    scale: &Scale,
    requests: usize,
) -> Result<()> {
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let resp = client
        .post(format!("{base}/c/login"))
        .form(&[("principal", user), ("password", password)])
        .send()
        .await?;
    let cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|c| c.to_str().ok())
        .and_then(|c| c.split(';').next())
        .map(str::to_string)
        .context("no session cookie from /c/login")?;
    let middle = project(scale.projects / 2);
    let repo = format!("app{}", scale.repositories / 2);
    let cases = [
        (
            "projects list",
            format!("{base}/projects"),
            format!("{base}/api/v2.0/projects?page_size=15"),
        ),
        (
            "a project's repositories",
            format!("{base}/projects/{middle}/repositories"),
            format!("{base}/api/v2.0/projects/{middle}/repositories?page_size=15"),
        ),
        (
            "a repository's artifacts",
            format!("{base}/projects/{middle}/repositories/{repo}"),
            format!("{base}/api/v2.0/projects/{middle}/repositories/{repo}/artifacts?page_size=15&with_tag=true"),
        ),
    ];
    println!(
        "{} projects, {} repositories, {} artifacts; {requests} requests each, one at a time",
        scale.projects,
        scale.projects * scale.repositories,
        scale.projects * scale.repositories * scale.artifacts
    );
    println!(
        "{:<26} {:>9} {:>9} {:>9} | {:>13} {:>13} | {:>11}",
        "page", "p50 ms", "p95 ms", "KB", "REST p50 ms", "REST p95 ms", "p95 / REST"
    );
    for (name, page, rest) in cases {
        // Warm both once, so neither pays for the first connection.
        time(&client, &page, &cookie, 3).await?;
        time(&client, &rest, &cookie, 3).await?;
        let p = time(&client, &page, &cookie, requests).await?;
        let r = time(&client, &rest, &cookie, requests).await?;
        println!(
            "{:<26} {:>9.2} {:>9.2} {:>9.1} | {:>13.2} {:>13.2} | {:>11.2}",
            name,
            ms(p.p50),
            ms(p.p95),
            p.bytes as f64 / 1000.0,
            ms(r.p50),
            ms(r.p95),
            ms(p.p95) / ms(r.p95).max(0.001)
        );
    }
    println!("targets: p95 under 50 ms and under 100 KB per page");
    Ok(())
}
