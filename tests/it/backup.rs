//! Backup, verification and restore with the real `berthd`, while clients push and garbage
//! collection deletes; and the safety of upgrades: a failed migration and a database newer
//! than the binary, with the real binary's messages.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{
    berthd_bin, http, make_certificates, random_bytes, sha256, Berthd, Docker, Registry,
    ADMIN_PASSWORD,
};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A berthd with a configuration file that names TLS files and a CA, and a GC time window
/// of 0, so garbage collection deletes at once what nothing uses.
fn start() -> Berthd {
    Berthd::start_with_config(|dir, port| {
        make_certificates(dir);
        format!(
            "data_dir = \"{d}/data\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n\
             [tls]\nlisten = \"127.0.0.1:0\"\ncertificate = \"{d}/server.crt\"\n\
             private_key = \"{d}/server.key\"\nca_certificate = \"{d}/ca.crt\"\n\
             [gc]\ntime_window_minutes = 0\n",
            d = dir.display()
        )
    })
}

fn api(base: &str, method: Method, path: &str) -> reqwest::blocking::RequestBuilder {
    http()
        .request(method, format!("{base}/api/v2.0{path}"))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
}

/// `berthd ARGS…`, bounded in time.
fn berthd(args: &[&str]) -> Output {
    bounded(
        Command::new(berthd_bin()).args(args),
        Duration::from_secs(300),
    )
}

/// Runs a command to its end or kills it at the deadline (a berthd that starts instead of
/// refusing would otherwise run for ever).
fn bounded(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start berthd");
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "{cmd:?} did not end within {limit:?}:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// An image pushed and acknowledged: its manifest and every blob's bytes, and when.
struct Acked {
    manifest: Vec<u8>,
    blobs: Vec<Vec<u8>>,
    at: Instant,
}

fn image(config: &[u8], layers: &[Vec<u8>]) -> Vec<u8> {
    let layer = |l: &Vec<u8>| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(l), "size": l.len()});
    serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(config), "size": config.len()},
        "layers": layers.iter().map(layer).collect::<Vec<_>>(),
    }))
    .expect("json")
}

/// Pushes config and layers and the manifest; true when the manifest was acknowledged.
fn push(reg: &Registry, repo: &str, tag: &str, blobs: &[Vec<u8>]) -> Option<Vec<u8>> {
    for b in blobs {
        let digest = sha256(b);
        let r = reg
            .req(
                Method::POST,
                &format!("/v2/{repo}/blobs/uploads/?digest={digest}"),
            )
            .body(b.clone())
            .send()
            .ok()?;
        if r.status() != 201 {
            return None;
        }
    }
    let manifest = image(&blobs[0], &blobs[1..]);
    let r = reg.put_manifest(repo, tag, OCI_MANIFEST, &manifest);
    (r.status() == 201).then_some(manifest)
}

/// Pulls `repo:tag` and checks the manifest and every blob byte for byte.
fn pulls_back(reg: &Registry, repo: &str, tag: &str, acked: &Acked) -> Result<(), String> {
    let r = reg
        .req(Method::GET, &format!("/v2/{repo}/manifests/{tag}"))
        .header("accept", OCI_MANIFEST)
        .send()
        .map_err(|e| e.to_string())?;
    if r.status() != 200 {
        return Err(format!("{repo}:{tag}: manifest {}", r.status()));
    }
    if r.bytes().map_err(|e| e.to_string())?.as_ref() != acked.manifest.as_slice() {
        return Err(format!("{repo}:{tag}: another manifest"));
    }
    for blob in &acked.blobs {
        let digest = sha256(blob);
        let r = reg.get(&format!("/v2/{repo}/blobs/{digest}"));
        if r.status() != 200 {
            return Err(format!("{repo}:{tag}: blob {digest} {}", r.status()));
        }
        if sha256(&r.bytes().map_err(|e| e.to_string())?) != digest {
            return Err(format!("{repo}:{tag}: blob {digest} has other bytes"));
        }
    }
    Ok(())
}

/// What the pushers share: the stop switch, errors, and what was acknowledged.
#[derive(Clone, Default)]
struct Storm {
    stop: Arc<AtomicBool>,
    errors: Arc<Mutex<Vec<String>>>,
    acked: Arc<Mutex<BTreeMap<String, Acked>>>,
}

/// Pushes images that stay (`keep/live:tN`), recording each acknowledgement.
fn keeper(b: &Berthd, storm: Storm) -> std::thread::JoinHandle<()> {
    let reg = b.registry(&["keep/live"]);
    std::thread::spawn(move || {
        let mut n = 0;
        while !storm.stop.load(Ordering::Relaxed) {
            let tag = format!("t{n}");
            n += 1;
            let blobs = vec![
                format!("{{\"n\":{n}}}").into_bytes(),
                random_bytes(4096 + n * 7),
                random_bytes(100),
            ];
            match push(&reg, "keep/live", &tag, &blobs) {
                Some(manifest) => {
                    let at = Instant::now();
                    storm.acked.lock().expect("acked").insert(
                        tag,
                        Acked {
                            manifest,
                            blobs,
                            at,
                        },
                    );
                }
                None => storm
                    .errors
                    .lock()
                    .expect("errors")
                    .push(format!("push of keep/live:{tag} failed")),
            }
        }
    })
}

/// Pushes images and deletes them at once, so garbage collection has blobs to remove
/// while the backup runs.
fn churner(b: &Berthd, storm: Storm) -> std::thread::JoinHandle<()> {
    let reg = b.registry(&["churn/x"]);
    std::thread::spawn(move || {
        let mut n = 0;
        while !storm.stop.load(Ordering::Relaxed) {
            n += 1;
            let blobs = vec![format!("{{\"c\":{n}}}").into_bytes(), random_bytes(8192)];
            if let Some(manifest) = push(&reg, "churn/x", "tmp", &blobs) {
                let r = reg
                    .req(
                        Method::DELETE,
                        &format!("/v2/churn/x/manifests/{}", sha256(&manifest)),
                    )
                    .send()
                    .expect("delete");
                if r.status() != 202 {
                    storm
                        .errors
                        .lock()
                        .expect("errors")
                        .push(format!("delete: {}", r.status()));
                }
            }
        }
    })
}

/// Runs garbage collection back to back until stopped; returns how many runs ended.
fn collector(b: &Berthd, storm: Storm) -> std::thread::JoinHandle<usize> {
    let base = b.url();
    std::thread::spawn(move || {
        let mut runs = 0;
        while !storm.stop.load(Ordering::Relaxed) {
            let r = api(&base, Method::POST, "/system/gc/schedule")
                .json(&json!({"schedule": {"type": "Manual"}, "parameters": {"delete_untagged": true}}))
                .send()
                .expect("gc");
            if r.status() == 409 {
                continue; // one is still running
            }
            assert_eq!(r.status(), 201, "{:?}", r.text());
            let id: i64 = r.headers()["location"]
                .to_str()
                .ok()
                .and_then(|l| l.rsplit('/').next())
                .and_then(|id| id.parse().ok())
                .expect("id");
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let run: Value = api(&base, Method::GET, &format!("/system/gc/{id}"))
                    .send()
                    .expect("gc state")
                    .json()
                    .expect("json");
                let status = run["job_status"].as_str().unwrap_or("").to_string();
                if !matches!(status.as_str(), "Pending" | "Running") {
                    if status != "Success" {
                        storm
                            .errors
                            .lock()
                            .expect("errors")
                            .push(format!("gc run {id}: {run}"));
                    }
                    break;
                }
                assert!(Instant::now() < deadline, "gc run {id} did not end");
                std::thread::sleep(Duration::from_millis(50));
            }
            runs += 1;
        }
        runs
    })
}

/// "N added" in a backup's summary.
fn added(summary: &str) -> u64 {
    summary
        .split(", ")
        .find_map(|part| {
            part.split_once(" added")
                .and_then(|(n, _)| n.trim().parse().ok())
        })
        .expect("an added count in the summary")
}

fn snapshot_of(summary: &str) -> String {
    summary
        .split_whitespace()
        .nth(1)
        .expect("snapshot name")
        .to_string()
}

/// Paths as a restore under `root` writes them.
fn under(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").expect("absolute"))
}

/// A backup taken while images are pushed and garbage collection removes others holds every
/// image acknowledged before it started, verifies, restores into another root, and the
/// restored registry serves every one byte for byte with the same users, robots, settings,
/// policies, audit log, token key and CA; an incremental backup adds only new blobs; a
/// restore over data is refused; damage is found.
#[test]
fn a_backup_during_pushes_and_gc_restores_everything_acknowledged_before_it() {
    let b = start();
    let base = b.url();
    b.create_project("keep", false);
    b.create_project("churn", false);

    // Things besides images that a restore must bring back.
    let r = api(&base, Method::POST, "/users")
        .json(&json!({"username": "dev1", "email": "dev1@example.com", "realname": "Dev One", "password": "Dev1Pass99"}))
        .send()
        .expect("user");
    assert_eq!(r.status(), 201, "{:?}", r.text());
    let r = api(&base, Method::POST, "/robots")
        .json(&json!({"name": "ci", "level": "project", "duration": -1,
            "permissions": [{"kind": "project", "namespace": "keep", "access": [
                {"resource": "repository", "action": "pull"}]}]}))
        .send()
        .expect("robot");
    assert_eq!(r.status(), 201, "{:?}", r.text());
    let robot_secret = r.json::<Value>().expect("json")["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    let project: Value = api(&base, Method::GET, "/projects/keep")
        .send()
        .expect("project")
        .json()
        .expect("json");
    let r = api(&base, Method::POST, "/retentions")
        .json(&json!({"algorithm": "or", "rules": [{"action": "retain", "template": "latestPushedK", "params": {"latestPushedK": 100},
                "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**"}],
                "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}}],
            "trigger": {"kind": "Schedule", "settings": {"cron": ""}},
            "scope": {"level": "project", "ref": project["project_id"]}}))
        .send()
        .expect("retention");
    assert_eq!(r.status(), 201, "{:?}", r.text());
    let r = api(&base, Method::POST, "/projects/keep/immutabletagrules")
        .json(&json!({"tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "release-*"}],
                      "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}}))
        .send()
        .expect("immutable rule");
    assert_eq!(r.status(), 201, "{:?}", r.text());
    let r = api(&base, Method::PUT, "/configurations")
        .json(&json!({"ldap_url": "ldap://directory.invalid:389", "ldap_base_dn": "dc=example,dc=com"}))
        .send()
        .expect("settings");
    assert_eq!(r.status(), 200, "{:?}", r.text());

    // An image pushed by the real Docker CLI, and a token issued before the backup.
    let docker = Docker::new();
    assert!(docker
        .login(&b.host(), "admin", ADMIN_PASSWORD)
        .status
        .success());
    let docker_image = format!("{}/keep/docker:1", b.host());
    docker.build(&docker_image, &[3000, 5000]);
    docker.ok(&["push", &docker_image]);
    let old_token = b.token(
        Some(("admin", ADMIN_PASSWORD)),
        &["repository:keep/live:pull"],
    );

    let storm = Storm::default();
    let threads = vec![keeper(&b, storm.clone()), churner(&b, storm.clone())];
    let gc = collector(&b, storm.clone());
    let deadline = Instant::now() + Duration::from_secs(60);
    while storm.acked.lock().expect("acked").len() < 10 {
        assert!(Instant::now() < deadline, "the pusher made no progress");
        std::thread::sleep(Duration::from_millis(20));
    }

    let dest = tempfile::tempdir().expect("backup dir");
    let backup_dir = dest.path().join("berth-backup");
    let config = b.dir.path().join("berth.toml");
    let started = Instant::now();
    let out = berthd(&[
        "--config",
        config.to_str().expect("path"),
        "backup",
        backup_dir.to_str().expect("path"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let first = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text(&out).contains("blobs "),
        "progress is shown: {}",
        text(&out)
    );
    // Some pushes after the backup, then everything stops.
    let after = storm.acked.lock().expect("acked").len() + 3;
    while storm.acked.lock().expect("acked").len() < after {
        assert!(
            Instant::now() < deadline + Duration::from_secs(60),
            "no pushes after"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    storm.stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("client");
    }
    let gc_runs = gc.join().expect("collector");
    assert!(gc_runs >= 1, "garbage collection ran during the test");
    let errors = storm.errors.lock().expect("errors").clone();
    assert!(errors.is_empty(), "clients failed: {errors:?}");

    let out = berthd(&["verify", backup_dir.to_str().expect("path")]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("1 snapshot(s) sound"), "{}", text(&out));

    // Incremental: the second backup adds only what is new.
    let out = berthd(&[
        "--config",
        config.to_str().expect("path"),
        "backup",
        backup_dir.to_str().expect("path"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let second = String::from_utf8_lossy(&out.stdout).to_string();
    let total_second: u64 = second
        .split(": ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("blob count");
    assert!(
        added(&second) < total_second / 2,
        "an incremental backup copies only new blobs: {second}"
    );
    let out = berthd(&["verify", backup_dir.to_str().expect("path")]);
    assert!(out.status.success(), "{}", text(&out));

    // Restore the snapshot taken during the storm into another root. As root, a backup
    // someone else could have changed is refused first.
    let root = tempfile::tempdir().expect("root");
    let snapshot = snapshot_of(&first);
    let manifest = backup_dir
        .join("snapshots")
        .join(&snapshot)
        .join("manifest.json");
    let mode = |m: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&manifest, std::fs::Permissions::from_mode(m)).expect("chmod");
    };
    mode(0o666);
    let out = berthd(&[
        "restore",
        backup_dir.to_str().expect("path"),
        "--snapshot",
        &snapshot,
        "--root",
        root.path().to_str().expect("path"),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not root's alone"), "{}", text(&out));
    assert!(
        std::fs::read_dir(root.path())
            .expect("root")
            .next()
            .is_none(),
        "a refused restore wrote nothing"
    );
    mode(0o600);
    let out = berthd(&[
        "restore",
        backup_dir.to_str().expect("path"),
        "--snapshot",
        &snapshot,
        "--root",
        root.path().to_str().expect("path"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let restored_config = under(root.path(), &config);
    let restored_data = under(root.path(), &b.data());
    for name in ["ca.crt", "server.crt", "server.key"] {
        assert_eq!(
            std::fs::read(under(root.path(), &b.dir.path().join(name))).expect("restored file"),
            std::fs::read(b.dir.path().join(name)).expect("original"),
            "{name} is restored as it was"
        );
    }
    assert_eq!(
        std::fs::read(restored_data.join("secret/token.pem")).expect("token key"),
        std::fs::read(b.data().join("secret/token.pem")).expect("original key"),
    );
    let restored = Berthd::start_on(
        &restored_config,
        &["--data", restored_data.to_str().expect("path")],
    );
    let rbase = restored.url();

    // Every image acknowledged before the backup began pulls back byte for byte.
    let reg = restored.registry(&["keep/live"]);
    let acked = storm.acked.lock().expect("acked");
    let mut checked = 0;
    for (tag, image) in acked.iter() {
        if image.at < started {
            pulls_back(&reg, "keep/live", tag, image).expect("restored image");
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} images predate the backup");
    drop(acked);
    // The token the original issued is good on the restored one: the same signing key.
    let r = http()
        .get(format!("{rbase}/v2/keep/live/tags/list"))
        .bearer_auth(&old_token)
        .send()
        .expect("tags");
    assert_eq!(r.status(), 200, "{:?}", r.text());
    // The CA is the same.
    let ca = http()
        .get(format!("{rbase}/api/v2.0/systeminfo/getcert"))
        .send()
        .expect("cert")
        .bytes()
        .expect("bytes");
    assert_eq!(
        ca.as_ref(),
        std::fs::read(b.dir.path().join("ca.crt")).expect("ca")
    );
    // Users, robots (their secret), settings, policies and the audit log.
    let users: Value = api(&rbase, Method::GET, "/users?q=username%3Ddev1")
        .send()
        .expect("users")
        .json()
        .expect("json");
    assert_eq!(users.as_array().map(Vec::len), Some(1), "{users}");
    let r = http()
        .get(format!("{rbase}/service/token"))
        .query(&[
            ("service", "harbor-registry"),
            ("scope", "repository:keep/live:pull"),
        ])
        .basic_auth("robot$keep+ci", Some(&robot_secret))
        .send()
        .expect("robot token");
    assert_eq!(r.status(), 200, "the robot's secret still works");
    let settings: Value = api(&rbase, Method::GET, "/configurations")
        .send()
        .expect("settings")
        .json()
        .expect("json");
    assert_eq!(
        settings["ldap_url"]["value"],
        "ldap://directory.invalid:389"
    );
    let rules: Value = api(&rbase, Method::GET, "/projects/keep/immutabletagrules")
        .send()
        .expect("rules")
        .json()
        .expect("json");
    assert_eq!(rules.as_array().map(Vec::len), Some(1), "{rules}");
    let project: Value = api(&rbase, Method::GET, "/projects/keep")
        .send()
        .expect("project")
        .json()
        .expect("json");
    let retention = project["metadata"]["retention_id"]
        .as_str()
        .expect("retention id");
    let r = api(&rbase, Method::GET, &format!("/retentions/{retention}"))
        .send()
        .expect("retention");
    assert_eq!(r.status(), 200);
    let logs: Value = api(
        &rbase,
        Method::GET,
        "/audit-logs?q=operation%3Dpush,resource%3D~keep/docker&page_size=100",
    )
    .send()
    .expect("audit")
    .json()
    .expect("json");
    assert!(
        logs.as_array().is_some_and(|l| !l.is_empty()),
        "the push is in the restored audit log: {logs}"
    );
    // The real Docker CLI pulls its image back from the restored registry.
    let pulled = format!("{}/keep/docker:1", restored.host());
    let fresh = Docker::new();
    assert!(fresh
        .login(&restored.host(), "admin", ADMIN_PASSWORD)
        .status
        .success());
    fresh.ok(&["pull", &pulled]);
    assert_eq!(fresh.image_id(&pulled), docker.image_id(&docker_image));
    let _ = fresh.run(&["rmi", &pulled]);

    // A restore over data, or over a running berthd, is refused and changes nothing.
    let out = berthd(&[
        "restore",
        backup_dir.to_str().expect("path"),
        "--root",
        root.path().to_str().expect("path"),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("is not empty"), "{}", text(&out));
    let out = berthd(&[
        "restore",
        backup_dir.to_str().expect("path"),
        "--root",
        root.path().to_str().expect("path"),
        "--force",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("is running"), "{}", text(&out));
    assert!(
        restored_data.join("berth.db").is_file(),
        "the refused restore left the running registry alone"
    );

    // A restore that did not finish leaves its marker, and berthd will not start on it.
    let mut restored = restored;
    restored.stop();
    let marker = restored_data.join("restore-in-progress");
    std::fs::write(&marker, b"test").expect("marker");
    let out = bounded(
        Command::new(berthd_bin())
            .arg("--config")
            .arg(&restored_config)
            .args([
                "--data",
                restored_data.to_str().expect("path"),
                "--listen",
                "127.0.0.1:0",
            ]),
        Duration::from_secs(60),
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("did not finish"), "{}", text(&out));
    std::fs::remove_file(&marker).expect("remove marker");

    // Damage is found: a blob with one byte changed, and one cut short.
    let pool = backup_dir.join("blobs/sha256");
    let mut blobs: Vec<PathBuf> = Vec::new();
    for shard in std::fs::read_dir(&pool).expect("pool") {
        for f in std::fs::read_dir(shard.expect("shard").path()).expect("shard") {
            blobs.push(f.expect("blob").path());
        }
    }
    blobs.sort();
    // Hard links share the live store's inode: change a copy, never the store's file.
    let flipped = &blobs[0];
    let mut bytes = std::fs::read(flipped).expect("blob");
    bytes[0] ^= 0xff;
    std::fs::remove_file(flipped).expect("unlink");
    std::fs::write(flipped, &bytes).expect("write");
    let cut = &blobs[1];
    let bytes = std::fs::read(cut).expect("blob");
    std::fs::remove_file(cut).expect("unlink");
    std::fs::write(cut, &bytes[..bytes.len() / 2]).expect("write");
    let out = berthd(&["verify", backup_dir.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = text(&out);
    let name = |p: &PathBuf| {
        p.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string()
    };
    assert!(
        report.contains(&format!("{} does not hash to its name", name(flipped))),
        "{report}"
    );
    assert!(report.contains(&format!("{} has ", name(cut))), "{report}");
}

/// An old binary on a newer database, and a migration that fails: both refuse with a message
/// that says what to do, and leave the database as it was.
#[test]
fn upgrades_refuse_clearly_and_change_nothing() {
    let mut b = Berthd::start();
    b.create_project("kept", false);
    let reg = b.registry(&["kept/app"]);
    let (manifest, _) = reg.push_image("kept/app", "v1", &random_bytes(2048));
    b.stop();
    let db = b.data().join("berth.db");
    let version = |path: &Path| -> i64 {
        rusqlite::Connection::open(path)
            .expect("open")
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version")
    };
    let set_version = |v: i64| {
        rusqlite::Connection::open(&db)
            .expect("open")
            .pragma_update(None, "user_version", v)
            .expect("set version");
    };
    let current = version(&db);
    let start = |data: &Path| {
        let out = bounded(
            Command::new(berthd_bin())
                .args([
                    "--dev",
                    "--data",
                    data.to_str().expect("path"),
                    "--listen",
                    "127.0.0.1:0",
                ])
                .env("BERTH_ADMIN_PASSWORD", ADMIN_PASSWORD),
            Duration::from_secs(60),
        );
        assert!(!out.status.success(), "berthd must refuse to start");
        text(&out)
    };

    // A database written by a newer Berth.
    set_version(current + 1);
    let before = std::fs::read(&db).expect("db");
    let message = start(&b.data());
    assert!(message.contains("written by a newer Berth"), "{message}");
    assert!(message.contains("changed nothing"), "{message}");
    assert_eq!(
        std::fs::read(&db).expect("db"),
        before,
        "the database was not touched"
    );
    assert_eq!(version(&db), current + 1);

    // A migration that fails: the previous version's migration runs again over tables that
    // exist, as a broken upgrade would.
    set_version(current - 1);
    let message = start(&b.data());
    assert!(
        message.contains(&format!(
            "upgrading the database from schema version {} to {current} failed",
            current - 1
        )),
        "{message}"
    );
    assert!(message.contains("To roll back, reinstall"), "{message}");
    assert_eq!(
        version(&db),
        current - 1,
        "the failed migration changed nothing"
    );
    let copies: Vec<PathBuf> = std::fs::read_dir(b.data().join("pre-upgrade"))
        .expect("the copy taken before")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert!(
        message.contains(copies[0].to_str().expect("path")),
        "{message}"
    );
    assert_eq!(version(&copies[0]), current - 1);

    // Put back, it starts and serves what it had.
    set_version(current);
    b.spawn();
    let reg = b.registry(&["kept/app"]);
    let r = reg
        .req(Method::GET, "/v2/kept/app/manifests/v1")
        .header("accept", OCI_MANIFEST)
        .send()
        .expect("pull");
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().expect("bytes").as_ref(), manifest.as_slice());
}
