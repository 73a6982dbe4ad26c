//! What operators run against the real berthd: a real Prometheus scraping it (and promtool
//! reading its metrics), JSON logs with request ids, and a disk that fills up, on a small
//! filesystem the test mounts itself.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{free_port, http, random_bytes, sha256, Berthd, Docker, ADMIN_PASSWORD};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn api(base: &str, method: Method, path: &str) -> reqwest::blocking::RequestBuilder {
    http()
        .request(method, format!("{base}/api/v2.0{path}"))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
}

/// The metrics listener's port, from the log line that names it.
fn metrics_port(b: &Berthd) -> u16 {
    b.log()
        .lines()
        .find_map(|l| {
            l.split("serving metrics at http://127.0.0.1:")
                .nth(1)
                .and_then(|rest| rest.split('/').next())
                .and_then(|p| p.parse().ok())
        })
        .unwrap_or_else(|| panic!("no metrics listener in the log:\n{}", b.log()))
}

/// A process killed (by pid) when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Harbor's own gauge names end in `_total`, which promtool's linter flags: the one thing
/// allowed to be reported.
const HARBOR_GAUGES_NAMED_TOTAL: &[&str] = &[
    "harbor_project_total",
    "harbor_project_repo_total",
    "harbor_project_member_total",
    "harbor_project_artifact_total",
    "harbor_task_scheduled_total",
];

/// Debian's Prometheus scrapes both endpoints (the metrics listener without a login, the main
/// listener as a system robot granted `metrics:read`), and promtool parses what they serve.
#[test]
fn a_real_prometheus_scrapes_both_endpoints_and_promtool_parses_them() {
    let b = Berthd::start_with_config(|dir, port| {
        format!(
            "data_dir = \"{}/data\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n\
             [metrics]\nenabled = true\nlisten = \"127.0.0.1:0\"\n",
            dir.display()
        )
    });
    let open_port = metrics_port(&b);
    b.create_project("shop", false);
    let reg = b.registry(&["shop/app"]);
    reg.push_image("shop/app", "v1", &random_bytes(4096));

    // promtool: a parse error fails; of lints, only Harbor's own names may be reported.
    let text = http()
        .get(format!("http://127.0.0.1:{open_port}/metrics"))
        .send()
        .expect("metrics")
        .text()
        .expect("text");
    assert!(
        text.contains("harbor_project_repo_total{project_name=\"shop\",public=\"false\"} 1"),
        "{text}"
    );
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (tests/run.sh installs Debian's prometheus)");
    {
        use std::io::Write;
        promtool
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write");
    }
    let out = promtool.wait_with_output().expect("promtool");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "promtool failed: {report}"
    );
    for line in report.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            HARBOR_GAUGES_NAMED_TOTAL
                .iter()
                .any(|name| line.starts_with(&format!(
                    "{name} non-counter metrics should not have \"_total\" suffix"
                ))),
            "promtool reports a problem with a name of Berth's own: {line}"
        );
    }

    // A system robot that may only read metrics, for the main listener.
    let r = api(&b.url(), Method::POST, "/robots")
        .json(&json!({"name": "prometheus", "level": "system", "duration": -1,
            "permissions": [{"kind": "system", "namespace": "/", "access": [{"resource": "metrics", "action": "read"}]}]}))
        .send()
        .expect("robot");
    assert_eq!(r.status(), 201, "{:?}", r.text());
    let robot: Value = r.json().expect("json");
    let dir = tempfile::tempdir().expect("tempdir");
    let web = free_port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n\
             - job_name: berth-open\n  static_configs:\n  - targets: ['127.0.0.1:{open_port}']\n\
             - job_name: berth-main\n  basic_auth:\n    username: '{}'\n    password: '{}'\n  static_configs:\n  - targets: ['127.0.0.1:{}']\n",
            robot["name"].as_str().expect("name"),
            robot["secret"].as_str().expect("secret"),
            b.port
        ),
    )
    .expect("config");
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{web}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus");
    let _prometheus = Killed(child);
    let query = |q: &str| -> Vec<Value> {
        http()
            .get(format!("http://127.0.0.1:{web}/api/v1/query"))
            .query(&[("query", q)])
            .send()
            .ok()
            .and_then(|r| r.json::<Value>().ok())
            .and_then(|v| v["data"]["result"].as_array().cloned())
            .unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let up = query("up == 1");
        let repos = query("harbor_project_repo_total{project_name=\"shop\",job=\"berth-main\"}");
        if up.len() == 2 && !repos.is_empty() {
            assert_eq!(repos[0]["value"][1], "1", "{repos:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus did not scrape both targets: up = {up:?}, targets = {:?}",
            http()
                .get(format!("http://127.0.0.1:{web}/api/v1/targets"))
                .send()
                .ok()
                .and_then(|r| r.text().ok())
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Counted as it happened: the push's bytes and its requests, by operation and status.
    let pushed = query("berth_blob_bytes_total{direction=\"received\",job=\"berth-open\"}");
    assert!(!pushed.is_empty(), "no blob bytes");
    let puts = query(
        "harbor_core_http_request_total{operation=\"registry:manifest:put\",code=\"201\",job=\"berth-open\"}",
    );
    assert_eq!(
        puts.first().map(|v| v["value"][1].clone()),
        Some(json!("1"))
    );
}

/// `[log] format = "json"`: one JSON object per line, the request's id on its line, the id a
/// client sent echoed back.
#[test]
fn json_logs_carry_the_request_id() {
    let b = Berthd::start_with_config(|dir, port| {
        format!(
            "data_dir = \"{}/data\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n[log]\nformat = \"json\"\n",
            dir.display()
        )
    });
    let r = http()
        .get(format!("{}/api/v2.0/projects", b.url()))
        .header("x-request-id", "pipeline-7.job-3")
        .send()
        .expect("projects");
    assert_eq!(r.headers()["x-request-id"], "pipeline-7.job-3");
    let r = http().get(format!("{}/v2/", b.url())).send().expect("v2");
    let made = r.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = b.log();
        // Every line berthd wrote since it started is a JSON object.
        let lines: Vec<Value> = log
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        let line_of = |id: &str| {
            lines
                .iter()
                .find(|v| v["message"] == "request" && v["span"]["request_id"] == id)
                .cloned()
        };
        if let (Some(chosen), Some(generated)) = (line_of("pipeline-7.job-3"), line_of(&made)) {
            assert_eq!(chosen["path"], "/api/v2.0/projects");
            assert_eq!(chosen["status"], 200);
            assert_eq!(generated["path"], "/v2/");
            assert_eq!(generated["status"], 401);
            break;
        }
        assert!(Instant::now() < deadline, "no request lines in:\n{log}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A tmpfs of its own, unmounted (and its directory removed) when the test ends.
struct SmallDisk {
    mount: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    fn new(mib: u64) -> SmallDisk {
        let dir = tempfile::tempdir().expect("tempdir");
        let mount = dir.path().join("disk");
        std::fs::create_dir(&mount).expect("mount point");
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m,mode=0755"),
                "tmpfs",
            ])
            .arg(&mount)
            .output()
            .expect("mount (tests run as root)");
        assert!(out.status.success(), "mount: {out:?}");
        SmallDisk { mount, _dir: dir }
    }

    fn path(&self) -> &Path {
        &self.mount
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
    }
}

/// Pushes config, one layer and a manifest; the manifest's bytes when every step was
/// acknowledged, or the first refusal's status and body.
fn push(
    reg: &crate::harness::Registry,
    repo: &str,
    tag: &str,
    layer: &[u8],
) -> Result<Vec<u8>, (u16, String)> {
    let config = format!("{{\"tag\":\"{tag}\"}}").into_bytes();
    for blob in [&config[..], layer] {
        let r = reg
            .req(
                Method::POST,
                &format!("/v2/{repo}/blobs/uploads/?digest={}", sha256(blob)),
            )
            .body(blob.to_vec())
            .send()
            .expect("upload");
        if r.status() != 201 {
            return Err((r.status().as_u16(), r.text().unwrap_or_default()));
        }
    }
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(layer), "size": layer.len()}],
    }))
    .expect("json");
    let r = reg.put_manifest(repo, tag, OCI_MANIFEST, &manifest);
    if r.status() != 201 {
        return Err((r.status().as_u16(), r.text().unwrap_or_default()));
    }
    Ok(manifest)
}

/// A 96 MiB disk with a 32 MiB reserve: pushes of 4 MiB images until refused with DENIED
/// saying why; every acknowledged image pulls back; deleting and collecting frees room and
/// pushes work again; the database is sound and a real `docker push` shows the reason.
#[test]
fn a_full_disk_refuses_pushes_keeps_everything_acknowledged_and_recovers() {
    let disk = SmallDisk::new(96);
    let data = disk.path().join("data");
    let mut b = Berthd::start_with_config(|_, port| {
        format!(
            "data_dir = \"{}\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n\
             [storage]\nfree_space_reserve_mib = 32\n[gc]\ntime_window_minutes = 0\n",
            data.display()
        )
    });
    b.create_project("fill", false);
    let reg = b.registry(&["fill/app"]);
    let mut acked: Vec<(String, Vec<u8>, Vec<u8>)> = Vec::new();
    let refusal = loop {
        assert!(
            acked.len() < 40,
            "a 96 MiB disk took {} images of 4 MiB",
            acked.len()
        );
        let tag = format!("t{}", acked.len());
        let layer = random_bytes(4 << 20);
        match push(&reg, "fill/app", &tag, &layer) {
            Ok(manifest) => acked.push((tag, manifest, layer)),
            Err(refused) => break refused,
        }
    };
    assert_eq!(refusal.0, 403, "{refusal:?}");
    let body: Value = serde_json::from_str(&refusal.1).expect("OCI error");
    assert_eq!(body["errors"][0]["code"], "DENIED");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("disk is nearly full"),
        "{body}"
    );
    assert!(acked.len() >= 5, "only {} images fitted", acked.len());
    // Everything acknowledged pulls back byte for byte.
    for (tag, manifest, layer) in &acked {
        let r = reg
            .req(Method::GET, &format!("/v2/fill/app/manifests/{tag}"))
            .header("accept", OCI_MANIFEST)
            .send()
            .expect("manifest");
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().expect("bytes").as_ref(), manifest.as_slice());
        let r = reg.get(&format!("/v2/fill/app/blobs/{}", sha256(layer)));
        assert_eq!(r.status(), 200);
        assert_eq!(sha256(&r.bytes().expect("bytes")), sha256(layer));
    }
    let health: Value = api(&b.url(), Method::GET, "/health")
        .send()
        .expect("health")
        .json()
        .expect("json");
    assert_eq!(health["status"], "unhealthy", "{health}");
    // The real Docker CLI stops at once and shows why.
    let docker = Docker::new();
    assert!(docker
        .login(&b.host(), "admin", ADMIN_PASSWORD)
        .status
        .success());
    let image = format!("{}/fill/docker:1", b.host());
    docker.build(&image, &[1 << 20]);
    let out = docker.run(&["push", &image]);
    assert!(!out.status.success(), "the push must fail");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("disk is nearly full"), "{stderr}");
    let _ = docker.run(&["rmi", &image]);

    // Deleting and collecting frees room; pushes work again.
    for (tag, manifest, _) in acked.iter().take(4) {
        let r = reg
            .req(
                Method::DELETE,
                &format!("/v2/fill/app/manifests/{}", sha256(manifest)),
            )
            .send()
            .expect("delete");
        assert_eq!(r.status(), 202, "delete {tag}");
    }
    let r = api(&b.url(), Method::POST, "/system/gc/schedule")
        .json(&json!({"schedule": {"type": "Manual"}, "parameters": {}}))
        .send()
        .expect("gc");
    assert_eq!(r.status(), 201, "{:?}", r.text());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let runs: Value = api(&b.url(), Method::GET, "/system/gc")
            .send()
            .expect("runs")
            .json()
            .expect("json");
        if runs[0]["job_status"] == "Success" {
            break;
        }
        assert!(
            runs[0]["job_status"] != "Error" && Instant::now() < deadline,
            "{runs}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let again = push(&reg, "fill/app", "after", &random_bytes(1 << 20));
    assert!(again.is_ok(), "still refused after GC: {again:?}");
    // Nothing was corrupted: stop berthd and check the database.
    b.stop();
    let conn = rusqlite::Connection::open(data.join("berth.db")).expect("db");
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity");
    assert_eq!(check, "ok");
}

/// `--free-space-reserve-mib` overrides the file for one run: a reserve no disk can meet
/// refuses pushes, and the same data started with 0 takes them.
#[test]
fn the_reserve_is_overridden_from_the_command_line() {
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("berth.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n[http]\nlisten = \"127.0.0.1:0\"\n\
             [storage]\nfree_space_reserve_mib = 1000000000\n",
            dir.path().join("data").display()
        ),
    )
    .expect("config");
    let layer = random_bytes(4096);
    {
        let b = Berthd::start_on(&config, &[]);
        b.create_project("roomy", false);
        let refused = push(&b.registry(&["roomy/app"]), "roomy/app", "v1", &layer)
            .expect_err("a reserve of a petabyte refuses");
        assert_eq!(refused.0, 403, "{refused:?}");
        assert!(refused.1.contains("disk is nearly full"), "{refused:?}");
    }
    let b = Berthd::start_on(&config, &["--free-space-reserve-mib", "0"]);
    let reg = b.registry(&["roomy/app"]);
    let manifest = push(&reg, "roomy/app", "v1", &layer).expect("no reserve: the push is taken");
    let r = reg
        .req(Method::GET, "/v2/roomy/app/manifests/v1")
        .header("accept", OCI_MANIFEST)
        .send()
        .expect("manifest");
    assert_eq!(r.bytes().expect("bytes").as_ref(), manifest.as_slice());
}
