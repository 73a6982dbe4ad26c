//! Online garbage collection against the real berthd and real clients, with a time window of
//! 0: the race of a `HEAD` before GC and a manifest after it, a storm of pushes and deletes from
//! docker, skopeo and raw HTTP while GC runs every second, `kill -9` in the middle of a run, and
//! docker pushing an image again after GC took its layers.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{http, must, random_bytes, sha256, Berthd, Docker, Registry, ADMIN_PASSWORD};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn start() -> Berthd {
    Berthd::start_with_config(|dir, port| {
        format!(
            "data_dir = \"{}/data\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n[gc]\ntime_window_minutes = 0\n",
            dir.display()
        )
    })
}

fn api(berthd: &Berthd, method: reqwest::Method, path: &str) -> reqwest::blocking::RequestBuilder {
    http()
        .request(method, format!("{}/api/v2.0{path}", berthd.url()))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
}

/// Starts a run; returns its id.
fn start_gc(berthd: &Berthd, parameters: Value) -> i64 {
    let r = api(berthd, reqwest::Method::POST, "/system/gc/schedule")
        .json(&json!({"schedule": {"type": "Manual"}, "parameters": parameters}))
        .send()
        .expect("gc");
    assert_eq!(r.status(), 201, "{:?}", r.text());
    r.headers()["location"]
        .to_str()
        .ok()
        .and_then(|l| l.rsplit('/').next())
        .and_then(|id| id.parse().ok())
        .expect("run id")
}

fn run_state(berthd: &Berthd, id: i64) -> Value {
    api(berthd, reqwest::Method::GET, &format!("/system/gc/{id}"))
        .send()
        .expect("gc state")
        .json()
        .expect("json")
}

/// Polls a run until it ends (bounded); returns it.
fn wait_gc(berthd: &Berthd, id: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let run = run_state(berthd, id);
        if !matches!(run["job_status"].as_str(), Some("Pending" | "Running")) {
            return run;
        }
        assert!(Instant::now() < deadline, "GC {id} did not end: {run}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs GC to its end (waiting its turn if a scheduled run holds the runner).
fn gc(berthd: &Berthd, parameters: Value) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = api(berthd, reqwest::Method::POST, "/system/gc/schedule")
            .json(&json!({"schedule": {"type": "Manual"}, "parameters": parameters}))
            .send()
            .expect("gc");
        if r.status() == 409 {
            assert!(Instant::now() < deadline, "GC stayed busy");
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        assert_eq!(r.status(), 201, "{:?}", r.text());
        let id = r.headers()["location"]
            .to_str()
            .ok()
            .and_then(|l| l.rsplit('/').next())
            .and_then(|id| id.parse().ok())
            .expect("run id");
        let run = wait_gc(berthd, id);
        assert_eq!(run["job_status"], "Success", "{run}");
        return run;
    }
}

fn result(run: &Value, key: &str) -> i64 {
    run["result"][key].as_i64().unwrap_or(-1)
}

/// The blob store holds exactly the blobs some manifest references, each of its recorded
/// size: nothing referenced is missing and nothing else is left (a time window of 0).
fn store_holds_exactly_the_referenced(berthd: &Berthd) -> Result<(), String> {
    let data = berthd.dir.path().join("data");
    let db = rusqlite::Connection::open_with_flags(
        data.join("berth.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .map_err(|e| e.to_string())?;
    let mut stmt = db
        .prepare(
            "SELECT DISTINCT r.digest, b.size FROM manifest_references r
             LEFT JOIN blobs b ON b.digest = r.digest WHERE r.kind = 'blob'",
        )
        .map_err(|e| e.to_string())?;
    let referenced: BTreeMap<String, Option<i64>> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(|e| e.to_string())?
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let mut files = BTreeMap::new();
    for alg in std::fs::read_dir(data.join("blobs"))
        .map_err(|e| e.to_string())?
        .flatten()
    {
        for shard in std::fs::read_dir(alg.path())
            .map_err(|e| e.to_string())?
            .flatten()
        {
            for f in std::fs::read_dir(shard.path())
                .map_err(|e| e.to_string())?
                .flatten()
            {
                let name = format!(
                    "{}:{}",
                    alg.file_name().to_string_lossy(),
                    f.file_name().to_string_lossy()
                );
                let len = f.metadata().map_err(|e| e.to_string())?.len();
                files.insert(name, len as i64);
            }
        }
    }
    let mut problems = Vec::new();
    for (digest, size) in &referenced {
        match (size, files.get(digest)) {
            (None, _) => problems.push(format!("referenced {digest} has no row")),
            (_, None) => problems.push(format!("referenced {digest} has no file")),
            (Some(s), Some(f)) if s != f => problems.push(format!("{digest}: row {s}, file {f}")),
            _ => {}
        }
    }
    for digest in files.keys() {
        if !referenced.contains_key(digest) {
            problems.push(format!("unreferenced file {digest} left"));
        }
    }
    let disk: i64 = files.values().sum();
    let wanted: i64 = referenced.values().flatten().sum();
    if disk != wanted {
        problems.push(format!("disk holds {disk} bytes, references {wanted}"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The manifest of an OCI image over these blobs.
fn image(config: &[u8], layers: &[Vec<u8>]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(config), "size": config.len()},
        "layers": layers.iter().map(|l| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(l), "size": l.len()})).collect::<Vec<_>>(),
    }))
    .expect("manifest")
}

fn push_all(reg: &Registry, repo: &str, config: &[u8], layers: &[Vec<u8>]) {
    reg.push_blob(repo, config);
    for l in layers {
        reg.push_blob(repo, l);
    }
}

fn delete_manifest(reg: &Registry, repo: &str, reference: &str) -> u16 {
    reg.req(
        reqwest::Method::DELETE,
        &format!("/v2/{repo}/manifests/{reference}"),
    )
    .send()
    .expect("delete")
    .status()
    .as_u16()
}

/// Pushes an image by digest and deletes it: garbage for GC.
fn push_garbage(reg: &Registry, repo: &str, config: &[u8], layers: &[Vec<u8>]) {
    push_all(reg, repo, config, layers);
    let m = image(config, layers);
    let d = sha256(&m);
    assert_eq!(reg.put_manifest(repo, &d, OCI_MANIFEST, &m).status(), 201);
    assert_eq!(delete_manifest(reg, repo, &d), 202);
}

fn head_status(reg: &Registry, repo: &str, digest: &str) -> u16 {
    reg.req(reqwest::Method::HEAD, &format!("/v2/{repo}/blobs/{digest}"))
        .send()
        .expect("HEAD")
        .status()
        .as_u16()
}

/// The race that breaks other registries: `HEAD` says a blob exists, GC runs with a time window
/// of 0, then the manifest that uses it arrives. The push succeeds and pulls back, while GC does
/// take the garbage nobody leased (the control), so the run was real.
#[test]
fn a_head_before_gc_still_lets_the_manifest_in() {
    let berthd = start();
    berthd.create_project("race", false);
    let repo = "race/app";
    let reg = berthd.registry(&[repo]);
    let (config, layers) = (b"{\"race\":true}".to_vec(), vec![random_bytes(4096)]);
    let (control_config, control_layers) =
        (b"{\"control\":true}".to_vec(), vec![random_bytes(4096)]);
    let manifest = image(&config, &layers);
    for (c, l) in [(&config, &layers), (&control_config, &control_layers)] {
        push_garbage(&reg, repo, c, l);
    }
    // A new push of the first image: the client HEADs its blobs and skips the uploads.
    let pusher = berthd.registry(&[repo]);
    for d in std::iter::once(sha256(&config)).chain(layers.iter().map(|l| sha256(l))) {
        assert_eq!(head_status(&pusher, repo, &d), 200, "{d}");
    }
    // GC until the control's blobs are gone (the time window is whole seconds). Checked with
    // GET: a pusher's HEAD would lease the control too.
    let deadline = Instant::now() + Duration::from_secs(20);
    let control_path = format!("/v2/{repo}/blobs/{}", sha256(&control_config));
    while reg.get(&control_path).status() != 404 {
        assert!(Instant::now() < deadline, "GC never took the control blobs");
        gc(&berthd, json!({}));
        std::thread::sleep(Duration::from_millis(200));
    }
    let r = pusher.put_manifest(repo, "v1", OCI_MANIFEST, &manifest);
    assert_eq!(r.status(), 201, "the push GC raced: {:?}", r.text());
    let r = reg.get(&format!("/v2/{repo}/manifests/v1"));
    assert_eq!(r.bytes().expect("manifest").to_vec(), manifest);
    for blob in std::iter::once(&config).chain(layers.iter()) {
        let r = reg.get(&format!("/v2/{repo}/blobs/{}", sha256(blob)));
        assert_eq!(r.status(), 200);
        assert_eq!(&r.bytes().expect("blob").to_vec(), blob, "byte for byte");
    }
    gc(&berthd, json!({}));
    store_holds_exactly_the_referenced(&berthd).expect("store");
}

/// After GC took an image's layers, `docker push` of the same image uploads them again.
#[test]
fn docker_pushes_an_image_again_after_gc_took_its_layers() {
    let berthd = start();
    berthd.create_project("again", false);
    let docker = Docker::new();
    let out = docker.login(&berthd.host(), "admin", ADMIN_PASSWORD);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tag = format!("{}/again/app:v1", berthd.host());
    docker.build(&tag, &[20_000, 30_000]);
    let id = docker.image_id(&tag);
    docker.ok(&["push", &tag]);
    let r = api(
        &berthd,
        reqwest::Method::DELETE,
        "/projects/again/repositories/app/artifacts/v1",
    )
    .send()
    .expect("delete");
    assert_eq!(r.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let run = gc(&berthd, json!({}));
        if result(&run, "deleted_blobs") >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "GC never took the layers: {run}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = docker.run(&["push", &tag]);
    assert!(
        out.status.success(),
        "push after GC: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    docker.ok(&["rmi", &tag]);
    docker.ok(&["pull", &tag]);
    assert_eq!(docker.image_id(&tag), id);
    docker.run(&["rmi", &tag]);
}

/// Garbage: 40 images of 100 small layers each, pushed by 4 clients and deleted; returns once
/// a dry run sees the 4,000 layers outside the time window (it counts whole seconds).
fn seed_garbage(berthd: &Berthd, repo: &'static str) {
    let garbage: Vec<_> = (0..4)
        .map(|t| {
            let reg = berthd.registry(&[repo]);
            std::thread::spawn(move || {
                for i in 0..10 {
                    let config = format!("{{\"garbage\":\"{t}-{i}\"}}").into_bytes();
                    let layers: Vec<Vec<u8>> = (0..100).map(|_| random_bytes(64)).collect();
                    push_garbage(&reg, repo, &config, &layers);
                }
            })
        })
        .collect();
    for g in garbage {
        g.join().expect("garbage pusher");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while result(&gc(berthd, json!({"dry_run": true})), "deleted_blobs") < 4000 {
        assert!(
            Instant::now() < deadline,
            "the garbage never left the time window"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until a run is Running; panics if it ended first.
fn wait_running(berthd: &Berthd, id: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let run = run_state(berthd, id);
        if run["job_status"] == "Running" {
            return run;
        }
        assert_eq!(
            run["job_status"], "Pending",
            "the run ended before it could be interrupted: {run}"
        );
        assert!(Instant::now() < deadline, "the run never started");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// `kill -9` in the middle of a run: nothing referenced is lost, the interrupted run is not
/// left Running (it is marked Error and retried), and the retry frees what is left.
#[test]
fn kill_9_in_the_middle_of_gc_loses_nothing_and_the_retry_finishes() {
    let mut berthd = start();
    berthd.create_project("crash", false);
    let repo = "crash/app";
    // What must survive.
    let keep = berthd.registry(&[repo]);
    let kept: Vec<(Vec<u8>, Vec<u8>)> = (0..3)
        .map(|i| {
            let layer = random_bytes(10_000 + i);
            let (manifest, _) = keep.push_image(repo, &format!("keep{i}"), &layer);
            (manifest, layer)
        })
        .collect();
    seed_garbage(&berthd, repo);
    let id = start_gc(&berthd, json!({"workers": 1}));
    wait_running(&berthd, id);
    berthd.kill9();
    berthd.spawn();
    let interrupted = run_state(&berthd, id);
    assert_eq!(interrupted["job_status"], "Error", "{interrupted}");
    assert!(
        interrupted["result"].to_string().contains("interrupted"),
        "{interrupted}"
    );
    // The retry runs on its own and frees what is left.
    let history: Vec<Value> = api(&berthd, reqwest::Method::GET, "/system/gc?page_size=100")
        .send()
        .expect("history")
        .json()
        .expect("json");
    let retry = history
        .iter()
        .find(|r| r["retry_of"] == id)
        .unwrap_or_else(|| panic!("no retry of {id}: {history:?}"));
    let retry = wait_gc(&berthd, retry["id"].as_i64().expect("id"));
    assert_eq!(retry["job_status"], "Success", "{retry}");
    let reg = berthd.registry(&[repo]);
    for (i, (manifest, layer)) in kept.iter().enumerate() {
        let r = reg.get(&format!("/v2/{repo}/manifests/keep{i}"));
        assert_eq!(&r.bytes().expect("manifest").to_vec(), manifest);
        let r = reg.get(&format!("/v2/{repo}/blobs/{}", sha256(layer)));
        assert_eq!(&r.bytes().expect("layer").to_vec(), layer);
    }
    store_holds_exactly_the_referenced(&berthd).expect("store after the retry");
}

/// A stop ends a run promptly, as `Stopped` with what it did so far; the next run frees the
/// rest.
#[test]
fn a_stopped_gc_ends_stopped_and_the_next_run_frees_the_rest() {
    let berthd = start();
    berthd.create_project("halt", false);
    let repo = "halt/app";
    seed_garbage(&berthd, repo);
    let id = start_gc(&berthd, json!({"workers": 1}));
    wait_running(&berthd, id);
    let r = api(&berthd, reqwest::Method::PUT, &format!("/system/gc/{id}"))
        .send()
        .expect("stop");
    assert_eq!(r.status(), 200, "{:?}", r.text());
    let run = wait_gc(&berthd, id);
    assert_eq!(run["job_status"], "Stopped", "{run}");
    assert_eq!(run["result"]["stopped"], true, "{run}");
    let first = result(&run, "deleted_blobs");
    assert!(first < 4040, "it stopped before the end: {run}");
    let rest = gc(&berthd, json!({}));
    assert_eq!(first + result(&rest, "deleted_blobs"), 4040, "{rest}");
    store_holds_exactly_the_referenced(&berthd).expect("store");
}

/// What a storm client pushed and still expects to pull: tag → manifest bytes and blobs.
type Expected = Arc<Mutex<BTreeMap<String, (Vec<u8>, Vec<Vec<u8>>)>>>;

/// What every storm client shares: the stop switch, where failures go, a layer they all push.
#[derive(Clone)]
struct Storm {
    stop: Arc<AtomicBool>,
    errors: Arc<Mutex<Vec<String>>>,
    shared: Vec<u8>,
}

/// Raw HTTP: images sharing a layer, tags moved and deleted, artifacts deleted by digest.
fn raw_client(berthd: &Berthd, storm: Storm, expected: Expected) -> std::thread::JoinHandle<()> {
    let repo = "storm/raw";
    let reg = berthd.registry(&[repo]);
    std::thread::spawn(move || {
        let mut i = 0u64;
        while !storm.stop.load(Ordering::Relaxed) {
            i += 1;
            let config = format!("{{\"raw\":{i}}}").into_bytes();
            let layers = vec![storm.shared.clone(), random_bytes(2048)];
            let tag = format!("t{}", i % 5);
            push_all(&reg, repo, &config, &layers);
            let m = image(&config, &layers);
            let r = reg.put_manifest(repo, &tag, OCI_MANIFEST, &m);
            if r.status() != 201 {
                storm.errors.lock().expect("errors").push(format!(
                    "raw push {tag}: {} {:?}",
                    r.status(),
                    r.text()
                ));
                continue;
            }
            let mut blobs = vec![config];
            blobs.extend(layers);
            expected
                .lock()
                .expect("expected")
                .insert(tag.clone(), (m.clone(), blobs));
            let deleted = match i % 4 {
                // Delete the tag: the artifact is left untagged, for GC.
                1 => delete_manifest(&reg, repo, &tag) == 202,
                // Delete the artifact by digest.
                2 => delete_manifest(&reg, repo, &sha256(&m)) == 202,
                _ => false,
            };
            if deleted {
                expected.lock().expect("expected").remove(&tag);
            }
        }
    })
}

/// skopeo copies OCI layouts (a layer shared with the raw client, one of its own) under a few
/// tags, over and over.
fn skopeo_client(berthd: &Berthd, storm: Storm, expected: Expected) -> std::thread::JoinHandle<()> {
    let host = berthd.host();
    std::thread::spawn(move || {
        let mut i = 0u64;
        while !storm.stop.load(Ordering::Relaxed) {
            i += 1;
            let dir = tempfile::tempdir().expect("layout");
            let blobs_dir = dir.path().join("blobs/sha256");
            std::fs::create_dir_all(&blobs_dir).expect("dirs");
            let put = |bytes: &[u8]| {
                std::fs::write(
                    blobs_dir.join(sha256(bytes).trim_start_matches("sha256:")),
                    bytes,
                )
                .expect("blob");
            };
            let config = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"skopeo\":{i}}}")
                .into_bytes();
            let layers = vec![storm.shared.clone(), random_bytes(3000)];
            let m = image(&config, &layers);
            for b in std::iter::once(&config)
                .chain(layers.iter())
                .chain(std::iter::once(&m))
            {
                put(b);
            }
            std::fs::write(
                dir.path().join("index.json"),
                json!({"schemaVersion": 2, "manifests": [{"mediaType": OCI_MANIFEST, "digest": sha256(&m), "size": m.len()}]}).to_string(),
            )
            .expect("index.json");
            std::fs::write(
                dir.path().join("oci-layout"),
                r#"{"imageLayoutVersion":"1.0.0"}"#,
            )
            .expect("oci-layout");
            let tag = format!("s{}", i % 3);
            let out = Command::new("skopeo")
                .args([
                    "copy",
                    "--quiet",
                    "--dest-tls-verify=false",
                    "--preserve-digests",
                ])
                .args(["--dest-creds", &format!("admin:{ADMIN_PASSWORD}")])
                .arg(format!("oci:{}", dir.path().display()))
                .arg(format!("docker://{host}/storm/skopeo:{tag}"))
                .output()
                .expect("skopeo");
            if out.status.success() {
                let mut blobs = vec![config];
                blobs.extend(layers);
                expected.lock().expect("expected").insert(tag, (m, blobs));
            } else {
                storm.errors.lock().expect("errors").push(format!(
                    "skopeo copy {tag}: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
    })
}

/// docker builds images on a base layer it shares with its earlier builds and pushes them under
/// two tags in turn; returns the tags pushed with their image ids.
fn docker_client(
    berthd: &Berthd,
    storm: Storm,
) -> std::thread::JoinHandle<BTreeMap<String, String>> {
    let host = berthd.host();
    std::thread::spawn(move || {
        let docker = Docker::new();
        let out = docker.login(&host, "admin", ADMIN_PASSWORD);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ctx = tempfile::tempdir().expect("context");
        std::fs::write(ctx.path().join("base"), random_bytes(50_000)).expect("base");
        let mut pushed = BTreeMap::new();
        let mut i = 0u64;
        while !storm.stop.load(Ordering::Relaxed) {
            i += 1;
            std::fs::write(ctx.path().join("own"), random_bytes(20_000)).expect("own");
            std::fs::write(
                ctx.path().join("Dockerfile"),
                "FROM scratch\nCOPY base /base\nCOPY own /own\n",
            )
            .expect("Dockerfile");
            let tag = format!("{host}/storm/docker:d{}", i % 2);
            let mut build = docker.cmd(&["build", "-q", "-t", &tag]);
            build.arg(ctx.path()).env("DOCKER_BUILDKIT", "0");
            must(&mut build);
            let out = docker.run(&["push", &tag]);
            if out.status.success() {
                pushed.insert(tag.clone(), docker.image_id(&tag));
            } else {
                storm.errors.lock().expect("errors").push(format!(
                    "docker push {tag}: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        pushed
    })
}

/// A storm: docker, skopeo and raw HTTP push images that share layers and delete some, while a
/// schedule runs GC (with delete_untagged) every second, with a time window of 0, for a minute.
/// Every push succeeds; afterwards every acknowledged tag pulls back byte for byte, and the blob
/// store holds exactly what is referenced.
#[test]
fn a_storm_of_pushes_and_deletes_while_gc_runs_every_second() {
    let berthd = start();
    berthd.create_project("storm", false);
    let r = api(&berthd, reqwest::Method::POST, "/system/gc/schedule")
        .json(&json!({"schedule": {"type": "Custom", "cron": "* * * * * *"}, "parameters": {"delete_untagged": true, "workers": 2}}))
        .send()
        .expect("schedule");
    assert_eq!(r.status(), 201, "{:?}", r.text());
    let storm = Storm {
        stop: Arc::new(AtomicBool::new(false)),
        errors: Arc::default(),
        shared: random_bytes(8192),
    };
    let raw_expected: Expected = Arc::default();
    let skopeo_expected: Expected = Arc::default();
    let raw = raw_client(&berthd, storm.clone(), raw_expected.clone());
    let skopeo = skopeo_client(&berthd, storm.clone(), skopeo_expected.clone());
    let docker = docker_client(&berthd, storm.clone());
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(65));
    storm.stop.store(true, Ordering::Relaxed);
    raw.join().expect("raw client");
    skopeo.join().expect("skopeo client");
    let docker_tags = docker.join().expect("docker client");
    let lasted = started.elapsed();
    // The clients' last touch happened no later than this second.
    let last_second = unix_seconds();
    let errors = storm.errors.lock().expect("errors").clone();
    assert!(
        errors.is_empty(),
        "pushes failed during the storm:\n{}",
        errors.join("\n")
    );

    // The schedule fired, many times, and collected.
    let history: Vec<Value> = api(&berthd, reqwest::Method::GET, "/system/gc?page_size=100")
        .send()
        .expect("history")
        .json()
        .expect("json");
    let scheduled: Vec<&Value> = history
        .iter()
        .filter(|r| r["job_kind"] == "SCHEDULE")
        .collect();
    let statuses: Vec<&str> = scheduled
        .iter()
        .filter_map(|r| r["job_status"].as_str())
        .collect();
    assert!(
        scheduled.len() >= 20,
        "{} scheduled runs in {lasted:?}",
        scheduled.len()
    );
    // A run slower than the schedule never builds a queue: one waits at most.
    let waiting = statuses.iter().filter(|s| **s == "Pending").count();
    assert!(waiting <= 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| matches!(*s, "Success" | "Pending" | "Running")),
        "{statuses:?}"
    );
    let freed: i64 = history
        .iter()
        .map(|r| result(r, "deleted_blobs").max(0))
        .sum();
    assert!(freed > 0, "the storm's GC freed nothing");
    let r = api(&berthd, reqwest::Method::PUT, "/system/gc/schedule")
        .json(&json!({"schedule": {"type": "None"}}))
        .send()
        .expect("unschedule");
    assert_eq!(r.status(), 200);
    // GC's time window is 0 and counts whole seconds: a blob the clients touched in the
    // second the final run starts is still inside it, and stays. So the run starts once the
    // clock has left the clients' last second (at most a second from now).
    while unix_seconds() <= last_second {
        std::thread::sleep(Duration::from_millis(20));
    }
    gc(&berthd, json!({"delete_untagged": true}));

    // Every acknowledged tag pulls back byte for byte.
    for (repo, expected) in [
        ("storm/raw", &raw_expected),
        ("storm/skopeo", &skopeo_expected),
    ] {
        let reg = berthd.registry(&[repo]);
        let expected = expected.lock().expect("expected");
        assert!(!expected.is_empty(), "{repo} pushed nothing");
        for (tag, (manifest, blobs)) in expected.iter() {
            let r = reg.get(&format!("/v2/{repo}/manifests/{tag}"));
            assert_eq!(r.status(), 200, "{repo}:{tag}");
            assert_eq!(
                &r.bytes().expect("manifest").to_vec(),
                manifest,
                "{repo}:{tag}"
            );
            for b in blobs {
                let r = reg.get(&format!("/v2/{repo}/blobs/{}", sha256(b)));
                assert_eq!(r.status(), 200, "{repo}:{tag} blob");
                assert_eq!(&r.bytes().expect("blob").to_vec(), b, "{repo}:{tag} blob");
            }
        }
    }
    assert!(!docker_tags.is_empty(), "docker pushed nothing");
    let docker = Docker::new();
    let out = docker.login(&berthd.host(), "admin", ADMIN_PASSWORD);
    assert!(out.status.success());
    for (tag, id) in &docker_tags {
        docker.run(&["rmi", tag]);
        docker.ok(&["pull", tag]);
        assert_eq!(&docker.image_id(tag), id, "{tag}");
        docker.run(&["rmi", tag]);
    }
    store_holds_exactly_the_referenced(&berthd).expect("store after the storm");
}
