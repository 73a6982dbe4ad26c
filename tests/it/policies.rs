//! Quotas and immutability against the real berthd and the real Docker CLI: what `docker push`
//! prints when a quota or an immutable tag refuses it, usage after a delete and garbage
//! collection, and usage staying exact while 3N clients race for room for N images. Retention
//! over its 60-tag fixture is in `daemon/tests/policies.rs`; replication refused by an
//! immutable tag is in `replication.rs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{http, random_bytes, sha256, Berthd, Docker, Registry, ADMIN_PASSWORD};

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn start() -> Berthd {
    Berthd::start_with_config(|dir, port| {
        format!(
            "data_dir = \"{}/data\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n[gc]\ntime_window_minutes = 0\n",
            dir.display()
        )
    })
}

fn api(b: &Berthd, method: Method, path: &str) -> reqwest::blocking::RequestBuilder {
    http()
        .request(method, format!("{}/api/v2.0{path}", b.url()))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
}

fn project_with_limit(b: &Berthd, name: &str, limit: i64) {
    let r = api(b, Method::POST, "/projects")
        .json(&json!({"project_name": name, "storage_limit": limit}))
        .send()
        .expect("create project");
    assert_eq!(r.status(), 201, "{:?}", r.text());
}

/// (quota id, limit, usage) of a project, from `/quotas`, checked against its summary.
fn quota(b: &Berthd, project: &str) -> (i64, i64, i64) {
    let p: Value = api(b, Method::GET, &format!("/projects/{project}"))
        .send()
        .expect("project")
        .json()
        .expect("json");
    let list: Value = api(
        b,
        Method::GET,
        &format!("/quotas?reference=project&reference_id={}", p["project_id"]),
    )
    .send()
    .expect("quotas")
    .json()
    .expect("json");
    let q = &list[0];
    let summary: Value = api(b, Method::GET, &format!("/projects/{project}/summary"))
        .send()
        .expect("summary")
        .json()
        .expect("json");
    assert_eq!(summary["quota"]["used"], q["used"], "{summary} {q}");
    assert_eq!(summary["quota"]["hard"], q["hard"], "{summary} {q}");
    (
        q["id"].as_i64().expect("id"),
        q["hard"]["storage"].as_i64().expect("hard"),
        q["used"]["storage"].as_i64().expect("used"),
    )
}

/// Runs garbage collection to the end; returns its log.
fn gc(b: &Berthd) -> String {
    let r = api(b, Method::POST, "/system/gc/schedule")
        .json(&json!({"schedule": {"type": "Manual"}}))
        .send()
        .expect("gc");
    assert_eq!(r.status(), 201, "{:?}", r.text());
    let id = r.headers()["location"]
        .to_str()
        .ok()
        .and_then(|l| l.rsplit('/').next())
        .map(str::to_string)
        .expect("id");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let run: Value = api(b, Method::GET, &format!("/system/gc/{id}"))
            .send()
            .expect("gc state")
            .json()
            .expect("json");
        match run["job_status"].as_str() {
            Some("Success") => {
                return api(b, Method::GET, &format!("/system/gc/{id}/log"))
                    .send()
                    .and_then(|r| r.text())
                    .unwrap_or_default()
            }
            Some("Pending" | "Running") => {}
            other => panic!("gc ended {other:?}: {run}"),
        }
        assert!(Instant::now() < deadline, "gc did not end: {run}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `docker push` over the quota prints the refusal with the project, its limit and usage;
/// with room it works; a limit below usage is refused; delete and GC bring usage to zero.
#[test]
fn docker_push_over_quota_is_refused_with_the_projects_figures() {
    let b = start();
    project_with_limit(&b, "small", 100 * 1024);
    let docker = Docker::new();
    let out = docker.login(&b.host(), "admin", ADMIN_PASSWORD);
    assert!(out.status.success(), "{out:?}");
    let image = format!("{}/small/app:v1", b.host());
    docker.build(&image, &[300 * 1024]);
    let out = docker.run(&["push", &image]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "the push must fail");
    assert!(
        stderr.contains("quota exceeded: project small is limited to 100.0 KiB (102400 bytes)"),
        "docker shows the refusal: {stderr}"
    );
    let (qid, _, used) = quota(&b, "small");
    assert!(
        used < 100 * 1024,
        "nothing over the limit was stored: {used}"
    );

    // A limit below usage is refused; room is given by the API; the same push then works.
    if used > 0 {
        let r = api(&b, Method::PUT, &format!("/quotas/{qid}"))
            .json(&json!({"hard": {"storage": used - 1}}))
            .send()
            .expect("put");
        assert_eq!(r.status(), 409, "{:?}", r.text());
    }
    let r = api(&b, Method::PUT, &format!("/quotas/{qid}"))
        .json(&json!({"hard": {"storage": 1024 * 1024}}))
        .send()
        .expect("put");
    assert_eq!(r.status(), 200, "{:?}", r.text());
    docker.ok(&["push", &image]);
    let (_, hard, used) = quota(&b, "small");
    assert_eq!(hard, 1024 * 1024);
    assert!(used > 300 * 1024 && used < 400 * 1024, "{used}");

    // Deleted: the manifest stops counting at once, the layers when GC frees them.
    let digest = docker.repo_digest(&image);
    let digest = digest.rsplit('@').next().expect("digest").to_string();
    let r = api(
        &b,
        Method::DELETE,
        &format!("/projects/small/repositories/app/artifacts/{digest}"),
    )
    .send()
    .expect("delete");
    assert_eq!(r.status(), 200, "{:?}", r.text());
    let (_, _, after_delete) = quota(&b, "small");
    assert!(
        after_delete < used && after_delete > 300 * 1024,
        "{after_delete}"
    );
    // The time window is 0, but "last seen" has a resolution of a second: collect until the
    // second the layers were seen has passed (bounded).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = gc(&b);
        let used = quota(&b, "small").2;
        if used == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "GC frees the project's usage: {used} left\n{log}"
        );
    }
}

/// `docker push` to an immutable tag prints Harbor's message; the tag keeps its image.
#[test]
fn docker_push_to_an_immutable_tag_is_refused() {
    let b = start();
    b.create_project("fixed", false);
    let docker = Docker::new();
    let out = docker.login(&b.host(), "admin", ADMIN_PASSWORD);
    assert!(out.status.success(), "{out:?}");
    let image = format!("{}/fixed/app:release-1", b.host());
    docker.build(&image, &[2048]);
    docker.ok(&["push", &image]);
    let first = docker.repo_digest(&image);
    let r = api(&b, Method::POST, "/projects/fixed/immutabletagrules")
        .json(&json!({"tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "release-*"}],
                      "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}}))
        .send()
        .expect("rule");
    assert_eq!(r.status(), 201, "{:?}", r.text());
    // The same image again is no change, and goes through.
    docker.ok(&["push", &image]);
    docker.build(&image, &[4096]);
    let out = docker.run(&["push", &image]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "the push must fail");
    assert!(
        stderr.contains(
            "Failed to process request due to 'fixed/app:release-1' configured as immutable."
        ),
        "docker shows Harbor's message: {stderr}"
    );
    let reg = b.registry(&["fixed/app"]);
    let r = reg
        .req(Method::HEAD, "/v2/fixed/app/manifests/release-1")
        .header("accept", MANIFEST)
        .send()
        .expect("head");
    let now = r.headers()["docker-content-digest"]
        .to_str()
        .expect("digest")
        .to_string();
    assert!(
        first.ends_with(&now),
        "the tag kept its image: {first} vs {now}"
    );
    // Deleting it is refused too, through Docker's own registry API path.
    let r = reg
        .req(Method::DELETE, &format!("/v2/fixed/app/manifests/{now}"))
        .send()
        .expect("delete");
    assert_eq!(r.status(), 403);
}

/// One image of exactly `size` bytes in all (config, layer, manifest), unique to `i`.
fn image_parts(i: usize, layer_len: usize) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let config =
        format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"n\":\"{i:06}\"}}").into_bytes();
    let layer = random_bytes(layer_len);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(&layer), "size": layer.len()}],
    });
    (config, layer, serde_json::to_vec(&manifest).expect("json"))
}

/// What one client's push did: which blobs were stored (201), and whether the manifest was.
struct Outcome {
    stored_blobs: Vec<usize>,
    manifest: bool,
    refusals: Vec<String>,
}

fn push_parts(
    reg: &Registry,
    repo: &str,
    tag: &str,
    parts: &(Vec<u8>, Vec<u8>, Vec<u8>),
) -> Outcome {
    let mut out = Outcome {
        stored_blobs: vec![],
        manifest: false,
        refusals: vec![],
    };
    for blob in [&parts.0, &parts.1] {
        let r = reg
            .req(
                Method::POST,
                &format!("/v2/{repo}/blobs/uploads/?digest={}", sha256(blob)),
            )
            .body(blob.clone())
            .send()
            .expect("upload");
        match r.status().as_u16() {
            201 => out.stored_blobs.push(blob.len()),
            403 => {
                out.refusals.push(r.text().unwrap_or_default());
                return out;
            }
            other => panic!("upload: {other} {:?}", r.text()),
        }
    }
    let r = reg.put_manifest(repo, tag, MANIFEST, &parts.2);
    match r.status().as_u16() {
        201 => out.manifest = true,
        403 => out.refusals.push(r.text().unwrap_or_default()),
        other => panic!("manifest: {other} {:?}", r.text()),
    }
    out
}

/// With room for exactly N images, N pushed one after another all fit and the next is
/// refused; 3N pushed at once leave only whole images of those that succeeded, and usage is
/// exactly what they stored.
#[test]
fn usage_is_exact_when_3n_clients_race_for_room_for_n() {
    const N: usize = 4;
    const LAYER: usize = 64 * 1024;
    let b = start();
    let sample = image_parts(0, LAYER);
    let image_size = (sample.0.len() + sample.1.len() + sample.2.len()) as i64;
    let limit = N as i64 * image_size;

    // One after another: exactly N fit.
    project_with_limit(&b, "serial", limit);
    let reg = b.registry(&["serial/app"]);
    for i in 0..N {
        let o = push_parts(
            &reg,
            "serial/app",
            &format!("t{i}"),
            &image_parts(1000 + i, LAYER),
        );
        assert!(o.manifest, "image {i} fits: {:?}", o.refusals);
    }
    assert_eq!(
        quota(&b, "serial").2,
        limit,
        "N images fill the quota exactly"
    );
    let o = push_parts(&reg, "serial/app", "over", &image_parts(2000, LAYER));
    assert!(!o.manifest);
    assert!(
        o.refusals
            .iter()
            .any(|r| r.contains("DENIED") && r.contains("project serial")),
        "{:?}",
        o.refusals
    );
    assert_eq!(
        quota(&b, "serial").2,
        limit,
        "a refused push stores nothing"
    );

    // At once: 3N clients, each with its own connection and image.
    project_with_limit(&b, "race", limit);
    let images: Vec<_> = (0..3 * N).map(|i| image_parts(i + 1, LAYER)).collect();
    let images = Arc::new(images);
    let base = b.url();
    let token = b.registry(&["race/app"]).token;
    let handles: Vec<_> = (0..3 * N)
        .map(|i| {
            let images = images.clone();
            let (base, token) = (base.clone(), token.clone());
            std::thread::spawn(move || {
                let reg = Registry {
                    base,
                    token,
                    http: http(),
                };
                push_parts(&reg, "race/app", &format!("t{i}"), &images[i])
            })
        })
        .collect();
    let outcomes: Vec<Outcome> = handles
        .into_iter()
        .map(|h| h.join().expect("client"))
        .collect();
    let succeeded: Vec<usize> = (0..3 * N).filter(|i| outcomes[*i].manifest).collect();
    assert!(
        !succeeded.is_empty() && succeeded.len() <= N,
        "between 1 and N whole images: {succeeded:?}"
    );
    let reg = b.registry(&["race/app"]);
    for i in 0..3 * N {
        let r = reg.get(&format!("/v2/race/app/manifests/t{i}"));
        if outcomes[i].manifest {
            assert_eq!(r.status(), 200);
            assert_eq!(
                r.bytes().expect("body").to_vec(),
                images[i].2,
                "t{i} is whole"
            );
            let layer = reg.get(&format!("/v2/race/app/blobs/{}", sha256(&images[i].1)));
            assert_eq!(layer.bytes().expect("layer").len(), LAYER);
        } else {
            assert_eq!(r.status(), 404, "t{i} was refused and is not there");
            assert!(
                outcomes[i].refusals.iter().all(|m| m.contains("DENIED")),
                "{:?}",
                outcomes[i].refusals
            );
        }
    }
    let stored: i64 = outcomes
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let blobs: usize = o.stored_blobs.iter().sum();
            (blobs + if o.manifest { images[i].2.len() } else { 0 }) as i64
        })
        .sum();
    let used = quota(&b, "race").2;
    assert_eq!(used, stored, "usage is exactly what was stored");
    assert!(used <= limit, "{used} > {limit}");
}
