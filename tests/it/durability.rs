//! `kill -9` in the middle of concurrent pushes: after a restart, every manifest that was
//! answered 201 pulls back byte for byte, no partial blob is visible, leftover uploads are gone.

use std::sync::{Arc, Mutex};

use crate::harness::{random_bytes, sha256, Berthd};

/// (repository, tag, manifest bytes) of a push that was answered 201.
type Acknowledged = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

#[test]
fn kill_nine_during_concurrent_pushes_loses_nothing_acknowledged() {
    let mut berthd = Berthd::start();
    let acknowledged: Acknowledged = Arc::default();
    let repos: Vec<String> = (0..6).map(|i| format!("library/crash{i}")).collect();
    let repo_refs: Vec<&str> = repos.iter().map(String::as_str).collect();
    let reg = Arc::new(berthd.registry(&repo_refs));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for (w, repo) in repos.iter().cloned().enumerate() {
        let (reg, acknowledged, stop) = (reg.clone(), acknowledged.clone(), stop.clone());
        workers.push(std::thread::spawn(move || {
            // Bounded: at most 200 pushes per worker, and it stops when the daemon dies.
            for i in 0..200 {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let layer = random_bytes(64 * 1024 + w * 1000 + i);
                let config = format!(r#"{{"architecture":"amd64","os":"linux","n":{i}}}"#).into_bytes();
                let push = |bytes: &[u8]| -> Option<String> {
                    let d = sha256(bytes);
                    let r = reg
                        .req(reqwest::Method::POST, &format!("/v2/{repo}/blobs/uploads/?digest={d}"))
                        .body(bytes.to_vec())
                        .send()
                        .ok()?;
                    (r.status() == 201).then_some(d)
                };
                let (Some(c), Some(l)) = (push(&config), push(&layer)) else { break };
                let manifest = serde_json::json!({
                    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": c, "size": config.len()},
                    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": l, "size": layer.len()}],
                })
                .to_string()
                .into_bytes();
                let tag = format!("t{i}");
                let Ok(r) = reg
                    .req(reqwest::Method::PUT, &format!("/v2/{repo}/manifests/{tag}"))
                    .header("content-type", "application/vnd.oci.image.manifest.v1+json")
                    .body(manifest.clone())
                    .send()
                else {
                    break;
                };
                if r.status() == 201 {
                    acknowledged.lock().expect("lock").push((repo.clone(), tag, manifest));
                }
            }
        }));
    }
    // Kill once a good number of pushes have been acknowledged (bounded wait), mid-stream.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while acknowledged.lock().expect("lock").len() < 60 && std::time::Instant::now() < deadline {
        std::thread::yield_now();
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    berthd.kill9();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert!(
        acknowledged.len() >= 20,
        "too few pushes before the kill: {}",
        acknowledged.len()
    );

    berthd.spawn();
    // Leftover uploads were removed at start.
    let uploads: Vec<_> = std::fs::read_dir(berthd.data().join("uploads"))
        .expect("uploads")
        .collect();
    assert!(
        uploads.is_empty(),
        "upload files left after restart: {}",
        uploads.len()
    );
    // Every acknowledged manifest and its blobs pull back byte for byte.
    let reg = berthd.registry(&repo_refs);
    for (repo, tag, manifest) in &acknowledged {
        let r = reg.get(&format!("/v2/{repo}/manifests/{tag}"));
        assert_eq!(r.status(), 200, "{repo}:{tag} lost after kill -9");
        assert_eq!(
            r.bytes().expect("body").as_ref(),
            manifest.as_slice(),
            "{repo}:{tag} changed"
        );
        let doc: serde_json::Value = serde_json::from_slice(manifest).expect("json");
        for d in [&doc["config"]["digest"], &doc["layers"][0]["digest"]] {
            let d = d.as_str().expect("digest");
            let body = reg
                .get(&format!("/v2/{repo}/blobs/{d}"))
                .bytes()
                .expect("blob");
            assert_eq!(sha256(&body), d, "blob {d} of {repo}:{tag} is damaged");
        }
    }
    // No partial blob anywhere: every file under blobs/ hashes to its name.
    let mut checked = 0;
    for alg_dir in std::fs::read_dir(berthd.data().join("blobs/sha256"))
        .expect("blobs")
        .flatten()
    {
        for f in std::fs::read_dir(alg_dir.path()).expect("dir").flatten() {
            let bytes = std::fs::read(f.path()).expect("read blob");
            let name = f.file_name().to_string_lossy().into_owned();
            assert_eq!(
                sha256(&bytes),
                format!("sha256:{name}"),
                "partial or corrupt blob file"
            );
            checked += 1;
        }
    }
    assert!(checked > 0);
}
