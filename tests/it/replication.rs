//! Replication between real processes: berthd to berthd (push and pull, a multi-arch index
//! with a referrer, flattening, override, a second run that copies nothing), berthd to CNCF
//! Distribution (Debian's `docker-registry`) and back, wrong credentials, a destination
//! stopped in the middle and the failed tasks retried by hand, `kill -9` of the source in the
//! middle, an endpoint that is the instance itself, and the speed limit.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{http, random_bytes, sha256, Berthd, Registry, ADMIN_PASSWORD};

const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A berthd whose replication retries quickly (the defaults wait seconds, as Harbor's do) and
/// sends blobs over 1 MiB in chunks.
fn replicating_berthd() -> Berthd {
    Berthd::start_with_config(|dir, port| {
        format!(
            "data_dir = \"{}/data\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n\
             [replication]\nretry_backoff_ms = 100\nblob_retries = 2\ntask_retries = 1\n\
             chunk_size_mib = 1\nworkers = 2\n",
            dir.display()
        )
    })
}

fn api(b: &Berthd, method: Method, path: &str) -> reqwest::blocking::RequestBuilder {
    http()
        .request(method, format!("{}/api/v2.0{path}", b.url()))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
}

fn get(b: &Berthd, path: &str) -> Value {
    let r = api(b, Method::GET, path).send().expect("GET");
    assert!(r.status().is_success(), "GET {path}: {:?}", r.text());
    r.json().expect("json")
}

fn created(r: reqwest::blocking::Response) -> i64 {
    let status = r.status();
    let location = r
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .map(str::to_string);
    assert_eq!(status, 201, "{:?}", r.text());
    location
        .and_then(|l| l.rsplit('/').next()?.parse().ok())
        .expect("an id in Location")
}

fn endpoint(b: &Berthd, name: &str, kind: &str, url: &str, user: &str, password: &str) -> i64 {
    created(
        api(b, Method::POST, "/registries")
            .json(&json!({"name": name, "type": kind, "url": url,
                          "credential": {"type": "basic", "access_key": user, "access_secret": password}}))
            .send()
            .expect("create endpoint"),
    )
}

fn policy(b: &Berthd, body: Value) -> i64 {
    created(
        api(b, Method::POST, "/replication/policies")
            .json(&body)
            .send()
            .expect("create policy"),
    )
}

fn start(b: &Berthd, policy_id: i64) -> i64 {
    created(
        api(b, Method::POST, "/replication/executions")
            .json(&json!({"policy_id": policy_id}))
            .send()
            .expect("start"),
    )
}

/// Polls an execution until it has ended (bounded).
fn ended(b: &Berthd, execution: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let e = get(b, &format!("/replication/executions/{execution}"));
        if e["status"] != "InProgress" {
            return e;
        }
        assert!(
            Instant::now() < deadline,
            "execution {execution} did not end: {e}\n{}",
            b.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Polls an execution until `check` holds (bounded).
fn until(b: &Berthd, execution: i64, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let e = get(b, &format!("/replication/executions/{execution}"));
        if check(&e) {
            return e;
        }
        assert!(Instant::now() < deadline, "never {what}: {e}\n{}", b.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn tasks(b: &Berthd, execution: i64) -> Vec<Value> {
    get(
        b,
        &format!("/replication/executions/{execution}/tasks?page_size=100"),
    )
    .as_array()
    .cloned()
    .unwrap_or_default()
}

fn task_logs(b: &Berthd, execution: i64) -> String {
    let mut all = String::new();
    for t in tasks(b, execution) {
        let r = api(
            b,
            Method::GET,
            &format!("/replication/executions/{execution}/tasks/{}/log", t["id"]),
        )
        .send()
        .expect("log");
        all.push_str(&r.text().unwrap_or_default());
    }
    all
}

/// The digest a reference has at a registry (`None` when it has none).
fn digest_at(reg: &Registry, repo: &str, reference: &str) -> Option<String> {
    let r = reg
        .req(Method::HEAD, &format!("/v2/{repo}/manifests/{reference}"))
        .header("accept", format!("{INDEX}, {MANIFEST}"))
        .send()
        .expect("HEAD");
    r.status().is_success().then(|| {
        r.headers()["docker-content-digest"]
            .to_str()
            .expect("digest")
            .to_string()
    })
}

/// A multi-arch index tagged `tag`, over two images, with an SBOM attached to it as a
/// referrer: (index digest, child digests, referrer digest).
fn multi_arch_with_referrer(
    reg: &Registry,
    repo: &str,
    tag: &str,
) -> (String, Vec<String>, String) {
    let mut children = Vec::new();
    let mut descriptors = Vec::new();
    for arch in ["amd64", "arm64"] {
        let (body, digest) = reg.push_image(repo, &format!("{arch}-{tag}"), &random_bytes(3000));
        descriptors.push(
            json!({"mediaType": MANIFEST, "digest": digest, "size": body.len(),
                                "platform": {"architecture": arch, "os": "linux"}}),
        );
        children.push(digest);
    }
    let index = serde_json::to_vec(
        &json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": descriptors}),
    )
    .expect("json");
    let r = reg.put_manifest(repo, tag, INDEX, &index);
    assert_eq!(r.status(), 201, "index: {:?}", r.text());
    let index_digest = sha256(&index);
    let empty = reg.push_blob(repo, b"{}");
    let sbom = reg.push_blob(repo, br#"{"spdxVersion":"SPDX-2.3"}"#);
    let referrer = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": MANIFEST,
        "artifactType": "application/spdx+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": "application/spdx+json", "digest": sbom, "size": 26}],
        "subject": {"mediaType": INDEX, "digest": index_digest, "size": index.len()},
    }))
    .expect("json");
    let referrer_digest = sha256(&referrer);
    let r = reg.put_manifest(repo, &referrer_digest, MANIFEST, &referrer);
    assert_eq!(r.status(), 201, "referrer: {:?}", r.text());
    (index_digest, children, referrer_digest)
}

#[test]
fn berth_to_berth_push_then_pull_with_everything_an_artifact_needs() {
    let a = replicating_berthd();
    let b = replicating_berthd();
    a.create_project("proj", false);
    let on_a = a.registry(&["proj/multi", "proj/app", "proj/other"]);
    let (index, children, referrer) = multi_arch_with_referrer(&on_a, "proj/multi", "v1");
    let (_, app_v1) = on_a.push_image("proj/app", "v1", &random_bytes(5000));
    on_a.push_image("proj/other", "v1", b"not selected");
    // At the destination, proj/app:v1 already points elsewhere.
    b.create_project("proj", false);
    let on_b = b.registry(&["proj/multi", "proj/app", "proj/other"]);
    let (_, b_own) = on_b.push_image("proj/app", "v1", b"the destination's own");

    let to_b = endpoint(&a, "b", "harbor", &b.url(), "admin", ADMIN_PASSWORD);
    let registry = get(&a, &format!("/registries/{to_b}"));
    assert_eq!(registry["status"], "healthy", "{registry}");
    assert_eq!(registry["self_target"], false);
    let push = policy(
        &a,
        json!({"name": "to-b", "dest_registry": {"id": to_b},
               "filters": [{"type": "name", "value": "proj/{multi,app}"},
                           {"type": "tag", "value": "v*"}],
               "trigger": {"type": "manual"}}),
    );
    let first = start(&a, push);
    let e = ended(&a, first);
    assert_eq!(e["status"], "Succeed", "{e}\n{}", task_logs(&a, first));
    assert_eq!(e["total"], 2, "one task per selected artifact: {e}");
    assert_eq!(e["succeed"], 2);
    assert!(e["bytes_done"].as_i64().unwrap_or(0) > 6000, "{e}");
    // Everything the index needs came with it: children, and the referrer with its subject.
    assert_eq!(digest_at(&on_b, "proj/multi", "v1"), Some(index.clone()));
    for child in &children {
        assert_eq!(digest_at(&on_b, "proj/multi", child).as_ref(), Some(child));
    }
    assert_eq!(
        digest_at(&on_b, "proj/multi", "amd64-v1"),
        None,
        "tags not selected stay"
    );
    let referrers: Value = on_b
        .get(&format!("/v2/proj/multi/referrers/{index}"))
        .json()
        .expect("referrers");
    assert_eq!(
        referrers["manifests"][0]["digest"],
        referrer.as_str(),
        "{referrers}"
    );
    assert_eq!(digest_at(&on_b, "proj/other", "v1"), None, "filtered out");
    // Without override, the destination's own tag stays, and the log says why.
    assert_eq!(digest_at(&on_b, "proj/app", "v1"), Some(b_own.clone()));
    assert!(
        task_logs(&a, first).contains("does not override"),
        "{}",
        task_logs(&a, first)
    );

    // With override it is replaced; then a run with nothing new copies no byte.
    let mut p = get(&a, &format!("/replication/policies/{push}"));
    p["override"] = json!(true);
    for read_only in [
        "id",
        "creation_time",
        "update_time",
        "src_registry",
        "dest_registry",
    ] {
        p.as_object_mut().map(|o| o.remove(read_only));
    }
    p["dest_registry"] = json!({"id": to_b});
    let r = api(&a, Method::PUT, &format!("/replication/policies/{push}"))
        .json(&p)
        .send()
        .expect("update");
    assert_eq!(r.status(), 200, "{:?}", r.text());
    let second = start(&a, push);
    assert_eq!(ended(&a, second)["status"], "Succeed");
    assert_eq!(digest_at(&on_b, "proj/app", "v1"), Some(app_v1.clone()));
    let third = start(&a, push);
    let e = ended(&a, third);
    assert_eq!(e["status"], "Succeed", "{e}");
    assert_eq!(e["bytes_done"], 0, "nothing new, nothing sent: {e}");

    // Pull-based, from b's side, flattened into another project that replication creates.
    let from_a = endpoint(&b, "a", "harbor", &a.url(), "admin", ADMIN_PASSWORD);
    let pull = policy(
        &b,
        json!({"name": "from-a", "src_registry": {"id": from_a},
               "filters": [{"type": "name", "value": "proj/multi"}],
               "dest_namespace": "mirror", "dest_namespace_replace_count": 1}),
    );
    let pulled = start(&b, pull);
    let e = ended(&b, pulled);
    assert_eq!(e["status"], "Succeed", "{e}\n{}", task_logs(&b, pulled));
    // A token minted now: the project did not exist when `on_b`'s was.
    let mirror_b = b.registry(&["mirror/multi"]);
    assert_eq!(
        digest_at(&mirror_b, "mirror/multi", "v1"),
        Some(index.clone())
    );
    let mirror = get(&b, "/projects/mirror");
    assert_eq!(mirror["metadata"]["public"], "false", "{mirror}");
    let t = tasks(&b, pulled);
    assert!(
        t.iter()
            .any(|t| t["src_resource"] == "proj/multi:[v1]"
                && t["dst_resource"] == "mirror/multi:[v1]"),
        "{t:?}"
    );
    // Each execution and task is in the audit log.
    let logs = get(&a, "/audit-logs?page_size=100").to_string();
    assert!(logs.contains("replication-task"), "{logs}");
    assert!(logs.contains("replication-execution"), "{logs}");
}

/// CNCF Distribution (Debian's `docker-registry`) on loopback, with Basic auth.
struct Distribution {
    child: Child,
    _dir: tempfile::TempDir,
    port: u16,
}

impl Distribution {
    fn start(user: &str, password: &str) -> Distribution {
        let dir = tempfile::tempdir().expect("tempdir");
        let htpasswd = Command::new("htpasswd")
            .args(["-Bbn", user, password])
            .output()
            .expect("htpasswd (apache2-utils)");
        assert!(htpasswd.status.success(), "{htpasswd:?}");
        let users = dir.path().join("htpasswd");
        std::fs::write(&users, &htpasswd.stdout).expect("htpasswd file");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:0\nauth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                dir.path().join("data").display(),
                users.display()
            ),
        )
        .expect("config");
        let log_path: PathBuf = dir.path().join("log");
        let log = std::fs::File::create(&log_path).expect("log");
        let mut child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("docker-registry");
        let deadline = Instant::now() + Duration::from_secs(20);
        let port = loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "docker-registry exited ({status}): {}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            if let Some(p) = text.lines().find_map(|l| {
                l.split("listening on 127.0.0.1:")
                    .nth(1)?
                    .split(|c: char| !c.is_ascii_digit())
                    .next()?
                    .parse::<u16>()
                    .ok()
            }) {
                break p;
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not start: {text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Distribution {
            child,
            _dir: dir,
            port,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn digest(&self, repo: &str, reference: &str) -> Option<String> {
        let r = http()
            .head(format!("{}/v2/{repo}/manifests/{reference}", self.url()))
            .basic_auth("repl", Some("Distribution-pw1"))
            .header("accept", format!("{INDEX}, {MANIFEST}"))
            .send()
            .expect("HEAD");
        r.status().is_success().then(|| {
            r.headers()["docker-content-digest"]
                .to_str()
                .expect("digest")
                .to_string()
        })
    }
}

impl Drop for Distribution {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn berth_to_distribution_and_back() {
    let dist = Distribution::start("repl", "Distribution-pw1");
    let a = replicating_berthd();
    a.create_project("proj", false);
    let on_a = a.registry(&["proj/app"]);
    // A layer over the chunk size: it goes in chunks.
    let (_, v1) = on_a.push_image("proj/app", "v1", &random_bytes(3 * 1024 * 1024 + 17));
    let (index, children, _) = multi_arch_with_referrer(&on_a, "proj/app", "multi");

    // Wrong credentials: the execution fails and says so.
    let wrong = endpoint(
        &a,
        "dist-wrong",
        "docker-registry",
        &dist.url(),
        "repl",
        "nope",
    );
    assert_eq!(
        get(&a, &format!("/registries/{wrong}"))["status"],
        "unhealthy"
    );
    let p = policy(&a, json!({"name": "wrong", "dest_registry": {"id": wrong}}));
    let e = ended(&a, start(&a, p));
    assert_eq!(e["status"], "Failed", "{e}");
    assert!(
        e["status_text"]
            .as_str()
            .is_some_and(|t| t.contains("credentials")),
        "{e}"
    );

    let dist_id = endpoint(
        &a,
        "dist",
        "docker-registry",
        &dist.url(),
        "repl",
        "Distribution-pw1",
    );
    let r = api(&a, Method::POST, "/registries/ping")
        .json(&json!({"id": dist_id}))
        .send()
        .expect("ping");
    assert_eq!(r.status(), 200, "{:?}", r.text());
    let push = policy(
        &a,
        json!({"name": "to-dist", "dest_registry": {"id": dist_id},
               "filters": [{"type": "name", "value": "proj/**"}]}),
    );
    let execution = start(&a, push);
    let e = ended(&a, execution);
    assert_eq!(e["status"], "Succeed", "{e}\n{}", task_logs(&a, execution));
    assert_eq!(dist.digest("proj/app", "v1"), Some(v1.clone()));
    assert_eq!(dist.digest("proj/app", "multi"), Some(index.clone()));
    for child in &children {
        assert_eq!(dist.digest("proj/app", child).as_ref(), Some(child));
    }

    // And back: pull-based from Distribution (listed with _catalog) into another project.
    let pull = policy(
        &a,
        json!({"name": "from-dist", "src_registry": {"id": dist_id},
               "filters": [{"type": "tag", "value": "v1"}],
               "dest_namespace": "back", "dest_namespace_replace_count": 1}),
    );
    let execution = start(&a, pull);
    let e = ended(&a, execution);
    assert_eq!(e["status"], "Succeed", "{e}\n{}", task_logs(&a, execution));
    assert_eq!(e["total"], 1, "{e}");
    // A token minted now: the project did not exist when `on_a`'s was.
    let on_a = a.registry(&["back/app"]);
    assert_eq!(digest_at(&on_a, "back/app", "v1"), Some(v1));
    // The copy's blobs are whole: the layer pulls back with its digest.
    let manifest: Value = on_a
        .req(Method::GET, "/v2/back/app/manifests/v1")
        .header("accept", MANIFEST)
        .send()
        .expect("manifest")
        .json()
        .expect("json");
    let layer = manifest["layers"][0]["digest"].as_str().expect("layer");
    let bytes = on_a
        .get(&format!("/v2/back/app/blobs/{layer}"))
        .bytes()
        .expect("blob");
    assert_eq!(sha256(&bytes), layer);
}

/// The destination goes away in the middle: the execution fails, truthfully; once it is
/// back, the failed tasks are retried by hand and the same execution ends `Succeed`.
#[test]
fn a_destination_stopped_in_the_middle_then_retried_by_hand() {
    let a = replicating_berthd();
    let mut b = replicating_berthd();
    a.create_project("proj", false);
    let on_a = a.registry(&["proj/big", "proj/small"]);
    on_a.push_image("proj/big", "v1", &random_bytes(6 * 1024 * 1024));
    on_a.push_image("proj/small", "v1", &random_bytes(1000));
    let to_b = endpoint(&a, "b", "harbor", &b.url(), "admin", ADMIN_PASSWORD);
    // Slow enough (2 MiB/s) to be stopped in the middle.
    let p = policy(
        &a,
        json!({"name": "slow", "dest_registry": {"id": to_b}, "speed": 2048}),
    );
    let execution = start(&a, p);
    let running = until(&a, execution, "copying", |e| {
        e["bytes_done"].as_i64().unwrap_or(0) > 1024 * 1024
    });
    assert_eq!(running["status"], "InProgress", "{running}");
    b.stop();
    let e = ended(&a, execution);
    assert_eq!(e["status"], "Failed", "{e}");
    assert!(e["failed"].as_i64().unwrap_or(0) >= 1, "{e}");
    let failed: Vec<Value> = tasks(&a, execution)
        .into_iter()
        .filter(|t| t["status"] == "Failed")
        .collect();
    assert!(
        failed
            .iter()
            .all(|t| !t["error"].as_str().unwrap_or("").is_empty()),
        "{failed:?}"
    );

    b.spawn();
    let r = api(
        &a,
        Method::POST,
        &format!("/replication/executions/{execution}/retry"),
    )
    .send()
    .expect("retry");
    assert_eq!(r.status(), 200, "{:?}", r.text());
    let e = ended(&a, execution);
    assert_eq!(e["status"], "Succeed", "{e}\n{}", task_logs(&a, execution));
    assert_eq!(e["failed"], 0);
    assert_eq!(e["succeed"], e["total"]);
    let on_b = b.registry(&["proj/big", "proj/small"]);
    assert!(digest_at(&on_b, "proj/big", "v1").is_some());
    assert!(digest_at(&on_b, "proj/small", "v1").is_some());
}

/// `kill -9` of the source in the middle: after restart the same execution resumes and ends
/// `Succeed`, and the destination holds whole artifacts, once each.
#[test]
fn kill_9_of_the_source_resumes_the_execution() {
    let mut a = replicating_berthd();
    let b = replicating_berthd();
    a.create_project("proj", false);
    let on_a = a.registry(&["proj/one", "proj/two", "proj/three"]);
    let mut pushed = Vec::new();
    for repo in ["proj/one", "proj/two", "proj/three"] {
        pushed.push((
            repo,
            on_a.push_image(repo, "v1", &random_bytes(3 * 1024 * 1024))
                .1,
        ));
    }
    let to_b = endpoint(&a, "b", "harbor", &b.url(), "admin", ADMIN_PASSWORD);
    let p = policy(
        &a,
        json!({"name": "slow", "dest_registry": {"id": to_b}, "speed": 2048}),
    );
    let execution = start(&a, p);
    until(&a, execution, "copying", |e| {
        e["bytes_done"].as_i64().unwrap_or(0) > 1024 * 1024
    });
    a.kill9();
    a.spawn();
    let e = ended(&a, execution);
    assert_eq!(e["status"], "Succeed", "{e}\n{}", task_logs(&a, execution));
    assert_eq!(e["total"], 3, "the plan was kept, not made again: {e}");
    let all = get(&a, "/replication/executions");
    assert_eq!(
        all.as_array().map(Vec::len),
        Some(1),
        "no second execution: {all}"
    );
    let on_b = b.registry(&["proj/one", "proj/two", "proj/three"]);
    for (repo, digest) in pushed {
        assert_eq!(digest_at(&on_b, repo, "v1"), Some(digest.clone()), "{repo}");
        let manifest: Value = on_b
            .req(Method::GET, &format!("/v2/{repo}/manifests/v1"))
            .header("accept", MANIFEST)
            .send()
            .expect("manifest")
            .json()
            .expect("json");
        let layer = manifest["layers"][0]["digest"].as_str().expect("layer");
        let bytes = on_b
            .get(&format!("/v2/{repo}/blobs/{layer}"))
            .bytes()
            .expect("blob");
        assert_eq!(sha256(&bytes), layer, "{repo}'s layer is whole");
        let artifacts = get(
            &b,
            &format!(
                "/projects/proj/repositories/{}/artifacts",
                repo.trim_start_matches("proj/")
            ),
        );
        assert_eq!(
            artifacts.as_array().map(Vec::len),
            Some(1),
            "{repo}: {artifacts}"
        );
    }
    // The task the kill cut short ran again; none ran more than that.
    let attempts: Vec<i64> = tasks(&a, execution)
        .iter()
        .map(|t| t["attempts"].as_i64().unwrap_or(0))
        .collect();
    assert!(attempts.contains(&2), "{attempts:?}");
}

/// An endpoint that is this very instance is flagged when saved, and a policy towards it is
/// refused.
#[test]
fn an_endpoint_that_is_the_instance_itself_is_refused() {
    let a = replicating_berthd();
    let me = endpoint(&a, "me", "harbor", &a.url(), "admin", ADMIN_PASSWORD);
    let r = get(&a, &format!("/registries/{me}"));
    assert_eq!(r["self_target"], true, "{r}");
    let r = api(&a, Method::POST, "/registries/ping")
        .json(&json!({"type": "harbor", "url": a.url()}))
        .send()
        .expect("ping");
    let v: Value = r.json().expect("json");
    assert_eq!(v["self_target"], true, "{v}");
    let r = api(&a, Method::POST, "/replication/policies")
        .json(&json!({"name": "loop", "dest_registry": {"id": me}}))
        .send()
        .expect("policy");
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap_or_default().contains("this very instance"));
    // A policy whose endpoint turns out to be this instance is skipped at run, once, and
    // says why.
    let b = replicating_berthd();
    let other = endpoint(&a, "other", "harbor", &b.url(), "admin", ADMIN_PASSWORD);
    let p = policy(
        &a,
        json!({"name": "was-elsewhere", "dest_registry": {"id": other}}),
    );
    let r = api(&a, Method::PUT, &format!("/registries/{other}"))
        .json(&json!({"url": a.url(), "access_secret": ADMIN_PASSWORD}))
        .send()
        .expect("update");
    assert_eq!(r.status(), 200, "{:?}", r.text());
    let e = ended(&a, start(&a, p));
    assert_eq!(e["status"], "Failed", "{e}");
    assert!(
        e["status_text"]
            .as_str()
            .is_some_and(|t| t.contains("this very instance") && t.contains("never retried")),
        "{e}"
    );
    // Another address of the same instance is the same instance.
    let r = api(&a, Method::POST, "/registries/ping")
        .json(&json!({"type": "docker-registry", "url": format!("http://localhost:{}", a.port)}))
        .send()
        .expect("ping");
    let v: Value = r.json().expect("json");
    assert_eq!(v["self_target"], true, "{v}");
}

/// `speed` (KB/s) holds a task to its rate, within 20%, measured by the task's own start
/// and end (whole seconds; the layer takes eight).
#[test]
fn the_speed_limit_holds() {
    let a = replicating_berthd();
    let b = replicating_berthd();
    a.create_project("proj", false);
    let on_a = a.registry(&["proj/big"]);
    let size = 8 * 1024 * 1024;
    on_a.push_image("proj/big", "v1", &random_bytes(size));
    let to_b = endpoint(&a, "b", "harbor", &b.url(), "admin", ADMIN_PASSWORD);
    let limit_kb = 1024;
    let p = policy(
        &a,
        json!({"name": "limited", "dest_registry": {"id": to_b}, "speed": limit_kb}),
    );
    let execution = start(&a, p);
    let e = ended(&a, execution);
    assert_eq!(e["status"], "Succeed", "{e}");
    let task = &tasks(&a, execution)[0];
    let at = |field: &str| {
        time::OffsetDateTime::parse(
            task[field].as_str().expect("time"),
            &time::format_description::well_known::Rfc3339,
        )
        .expect("rfc3339")
    };
    let seconds = (at("end_time") - at("start_time"))
        .as_seconds_f64()
        .max(1.0);
    let rate = task["bytes_done"].as_f64().expect("bytes") / seconds / 1024.0;
    assert!(
        rate <= limit_kb as f64 * 1.2 && rate >= limit_kb as f64 * 0.8,
        "{rate:.0} KB/s against a limit of {limit_kb} KB/s: {task}"
    );
}

/// Waits (bounded) until `check` holds.
fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "never {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until no execution is in progress, then returns how many there are.
fn settled(b: &Berthd) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let all = get(b, "/replication/executions?page_size=100");
        let list = all.as_array().cloned().unwrap_or_default();
        if list.iter().all(|e| e["status"] != "InProgress") {
            return list.len();
        }
        assert!(Instant::now() < deadline, "executions never settled: {all}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Two instances with event-based policies towards each other: a push to either appears on
/// both, a deletion too, and the pair settles: one execution per change, nothing sent back.
#[test]
fn two_instances_replicating_to_each_other_settle() {
    let a = replicating_berthd();
    let b = replicating_berthd();
    a.create_project("ha", false);
    b.create_project("ha", false);
    let a_to_b = endpoint(&a, "b", "harbor", &b.url(), "admin", ADMIN_PASSWORD);
    let b_to_a = endpoint(&b, "a", "harbor", &a.url(), "admin", ADMIN_PASSWORD);
    let ha = |to: i64| {
        json!({"name": "ha", "dest_registry": {"id": to}, "trigger": {"type": "event_based"},
               "replicate_deletion": true, "filters": [{"type": "name", "value": "ha/**"}]})
    };
    policy(&a, ha(a_to_b));
    policy(&b, ha(b_to_a));
    let on_a = a.registry(&["ha/app"]);
    let on_b = b.registry(&["ha/app"]);

    let (_, one) = on_a.push_image("ha/app", "one", &random_bytes(4000));
    eventually("ha/app:one on b", || {
        digest_at(&on_b, "ha/app", "one").as_ref() == Some(&one)
    });
    let (_, two) = on_b.push_image("ha/app", "two", &random_bytes(4000));
    eventually("ha/app:two on a", || {
        digest_at(&on_a, "ha/app", "two").as_ref() == Some(&two)
    });
    assert_eq!(settled(&a), 1, "one execution on a, for its own push");
    assert_eq!(settled(&b), 1, "one execution on b, for its own push");
    let e = get(&a, "/replication/executions");
    assert_eq!(e[0]["trigger"], "event_based", "{e}");
    assert_eq!(e[0]["status"], "Succeed", "{e}");

    // A deletion on a goes to b, and does not come back.
    let r = on_a
        .req(Method::DELETE, &format!("/v2/ha/app/manifests/{one}"))
        .send()
        .expect("delete");
    assert_eq!(r.status(), 202);
    eventually("ha/app:one gone from b", || {
        digest_at(&on_b, "ha/app", "one").is_none()
    });
    assert_eq!(settled(&a), 2);
    assert_eq!(settled(&b), 1);
    assert_eq!(digest_at(&on_b, "ha/app", "two"), Some(two.clone()));
    assert_eq!(digest_at(&on_a, "ha/app", "two"), Some(two));

    // A tag deleted through b's REST API goes from a too; the artifact stays on both.
    let r = api(
        &b,
        Method::DELETE,
        "/projects/ha/repositories/app/artifacts/two/tags/two",
    )
    .send()
    .expect("delete tag");
    assert_eq!(r.status(), 200, "{:?}", r.text());
    eventually("ha/app:two gone from a", || {
        digest_at(&on_a, "ha/app", "two").is_none()
    });
    assert_eq!(settled(&a), 2);
    assert_eq!(settled(&b), 2);
}

/// A scheduled policy runs by itself; disabled, its schedule is gone.
#[test]
fn a_scheduled_policy_runs_on_its_own_until_disabled() {
    let a = replicating_berthd();
    let b = replicating_berthd();
    a.create_project("proj", false);
    let on_a = a.registry(&["proj/app"]);
    let (_, digest) = on_a.push_image("proj/app", "v1", b"scheduled");
    let to_b = endpoint(&a, "b", "harbor", &b.url(), "admin", ADMIN_PASSWORD);
    let body = |enabled: bool| {
        json!({"name": "nightly", "dest_registry": {"id": to_b}, "enabled": enabled,
               "trigger": {"type": "scheduled", "trigger_settings": {"cron": "*/2 * * * * *"}}})
    };
    let p = policy(&a, body(true));
    // The project appears at b with the first run: a token per look.
    eventually("a scheduled run copied proj/app:v1", || {
        digest_at(&b.registry(&["proj/app"]), "proj/app", "v1").as_ref() == Some(&digest)
    });
    let runs = get(
        &a,
        &format!("/replication/executions?policy_id={p}&trigger=scheduled"),
    );
    assert!(runs.as_array().is_some_and(|r| !r.is_empty()), "{runs}");
    let schedules = |a: &Berthd| -> i64 {
        rusqlite::Connection::open(a.data().join("berth.db"))
            .expect("db")
            .query_row(
                "SELECT COUNT(*) FROM job_schedules WHERE kind = ?1",
                [format!("REPLICATION/{p}")],
                |r| r.get(0),
            )
            .expect("count")
    };
    assert_eq!(schedules(&a), 1);
    let r = api(&a, Method::PUT, &format!("/replication/policies/{p}"))
        .json(&body(false))
        .send()
        .expect("disable");
    assert_eq!(r.status(), 200, "{:?}", r.text());
    assert_eq!(schedules(&a), 0, "disabled: no schedule");
}

/// A graceful restart (SIGTERM) in the middle leaves the execution to be resumed, not
/// stopped: it ends `Succeed` after the restart.
#[test]
fn a_graceful_restart_resumes_the_execution() {
    let mut a = replicating_berthd();
    let b = replicating_berthd();
    a.create_project("proj", false);
    let on_a = a.registry(&["proj/one", "proj/two"]);
    on_a.push_image("proj/one", "v1", &random_bytes(3 * 1024 * 1024));
    on_a.push_image("proj/two", "v1", &random_bytes(3 * 1024 * 1024));
    let to_b = endpoint(&a, "b", "harbor", &b.url(), "admin", ADMIN_PASSWORD);
    let p = policy(
        &a,
        json!({"name": "slow", "dest_registry": {"id": to_b}, "speed": 2048}),
    );
    let execution = start(&a, p);
    until(&a, execution, "copying", |e| {
        e["bytes_done"].as_i64().unwrap_or(0) > 1024 * 1024
    });
    a.restart();
    let e = ended(&a, execution);
    assert_eq!(e["status"], "Succeed", "{e}\n{}", task_logs(&a, execution));
    assert_eq!(e["total"], 2);
}

/// An HTTPS endpoint: refused while its certificate is not trusted, reached with its CA given
/// (then replicated to, token service included), or with verification off (`insecure`).
#[test]
fn an_https_endpoint_is_trusted_through_its_ca_or_insecure() {
    let a = replicating_berthd();
    let b = Berthd::start_with_config(|dir, port| {
        crate::harness::make_certificates(dir);
        format!(
            "data_dir = \"{d}/data\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n\
             [tls]\nlisten = \"127.0.0.1:0\"\ncertificate = \"{d}/server.crt\"\nprivate_key = \"{d}/server.key\"\n",
            d = dir.display()
        )
    });
    let https = format!("https://127.0.0.1:{}", b.https_port());
    let ca = std::fs::read_to_string(b.dir.path().join("ca.crt")).expect("CA");
    let ping = |extra: Value| {
        let mut body = json!({"type": "harbor", "url": https,
                              "credential": {"type": "basic", "access_key": "admin", "access_secret": ADMIN_PASSWORD}});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        api(&a, Method::POST, "/registries/ping")
            .json(&body)
            .send()
            .expect("ping")
    };
    let r = ping(json!({}));
    assert_eq!(r.status(), 400, "an unknown CA is not trusted");
    assert!(r.text().unwrap_or_default().contains("cannot reach"));
    assert_eq!(ping(json!({"ca_certificate": ca})).status(), 200);
    assert_eq!(ping(json!({"insecure": true})).status(), 200);

    a.create_project("proj", false);
    let on_a = a.registry(&["proj/app"]);
    let (_, digest) = on_a.push_image("proj/app", "v1", b"over tls");
    let id = created(
        api(&a, Method::POST, "/registries")
            .json(&json!({"name": "tls", "type": "harbor", "url": https, "ca_certificate": ca,
                          "credential": {"type": "basic", "access_key": "admin", "access_secret": ADMIN_PASSWORD}}))
            .send()
            .expect("create"),
    );
    assert_eq!(get(&a, &format!("/registries/{id}"))["status"], "healthy");
    let p = policy(&a, json!({"name": "tls", "dest_registry": {"id": id}}));
    let e = ended(&a, start(&a, p));
    assert_eq!(e["status"], "Succeed", "{e}");
    assert_eq!(
        digest_at(&b.registry(&["proj/app"]), "proj/app", "v1"),
        Some(digest)
    );
}

/// An immutable tag at the destination refuses replication like any push: the task fails
/// saying so, the destination keeps its content, and the other artifacts still go.
#[test]
fn an_immutable_tag_at_the_destination_refuses_replication() {
    let a = replicating_berthd();
    let b = replicating_berthd();
    a.create_project("proj", false);
    b.create_project("proj", false);
    let on_a = a.registry(&["proj/app"]);
    on_a.push_image("proj/app", "v1", b"the source's v1");
    let (_, v2) = on_a.push_image("proj/app", "v2", b"the source's v2");
    let on_b = b.registry(&["proj/app"]);
    let (_, kept) = on_b.push_image("proj/app", "v1", b"the destination's own v1");
    let r = api(&b, Method::POST, "/projects/proj/immutabletagrules")
        .json(&json!({"tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v1"}],
                      "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}}))
        .send()
        .expect("rule");
    assert_eq!(r.status(), 201, "{:?}", r.text());

    let to_b = endpoint(&a, "b", "harbor", &b.url(), "admin", ADMIN_PASSWORD);
    let push = policy(
        &a,
        json!({"name": "to-b", "dest_registry": {"id": to_b}, "override": true,
               "filters": [{"type": "name", "value": "proj/**"}]}),
    );
    let execution = start(&a, push);
    let e = ended(&a, execution);
    let logs = task_logs(&a, execution);
    assert_eq!(e["status"], "Failed", "{e}\n{logs}");
    assert_eq!(
        (e["failed"].as_i64(), e["succeed"].as_i64()),
        (Some(1), Some(1)),
        "{e}"
    );
    assert!(
        logs.contains("'proj/app:v1' configured as immutable"),
        "the task says why: {logs}"
    );
    assert_eq!(digest_at(&on_b, "proj/app", "v1"), Some(kept));
    assert_eq!(digest_at(&on_b, "proj/app", "v2"), Some(v2));
}
