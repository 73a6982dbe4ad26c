//! skopeo and podman, the daemonless clients.

use std::process::Command;

use serde_json::json;

use crate::harness::{must, random_bytes, sha256, Berthd, Docker, ADMIN_PASSWORD};

fn creds() -> String {
    format!("admin:{ADMIN_PASSWORD}")
}

/// Writes an OCI image layout holding a two-platform index; returns the index bytes.
pub(crate) fn write_multiarch_layout(dir: &std::path::Path) -> Vec<u8> {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("layout dirs");
    let put = |bytes: &[u8]| {
        let d = sha256(bytes);
        std::fs::write(blobs.join(d.trim_start_matches("sha256:")), bytes).expect("blob");
        d
    };
    let mut children = Vec::new();
    for arch in ["amd64", "arm64"] {
        let layer = random_bytes(30_000);
        let layer_digest = put(&layer);
        let config = serde_json::to_vec(&json!({
            "architecture": arch, "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        }))
        .expect("config");
        let config_digest = put(&config);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len()}],
        }))
        .expect("manifest");
        let digest = put(&manifest);
        children.push(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": manifest.len(),
            "platform": {"architecture": arch, "os": "linux"},
        }));
    }
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": children,
    }))
    .expect("index");
    let index_digest = put(&index);
    let top = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.index.v1+json", "digest": index_digest, "size": index.len(),
        "annotations": {"org.opencontainers.image.ref.name": "multi"},
    }]});
    std::fs::write(dir.join("index.json"), top.to_string()).expect("index.json");
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)
        .expect("oci-layout");
    index
}

#[test]
fn skopeo_copies_a_multiarch_index_and_reads_it_back() {
    let berthd = Berthd::start();
    berthd.create_project("multi", false);
    let work = tempfile::tempdir().expect("tempdir");
    let src = work.path().join("src");
    let index = write_multiarch_layout(&src);
    let dest = format!("docker://{}/multi/app:1", berthd.host());
    must(
        Command::new("skopeo")
            .args([
                "copy",
                "--all",
                "--preserve-digests",
                "--dest-tls-verify=false",
                "--dest-creds",
                &creds(),
            ])
            .arg(format!("oci:{}:multi", src.display()))
            .arg(&dest),
    );

    let raw = must(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        &creds(),
        &dest,
    ]));
    assert_eq!(
        raw.as_bytes(),
        index.as_slice(),
        "the index came back changed"
    );

    let back = work.path().join("back");
    must(
        Command::new("skopeo")
            .args([
                "copy",
                "--all",
                "--preserve-digests",
                "--src-tls-verify=false",
                "--src-creds",
                &creds(),
                &dest,
            ])
            .arg(format!("oci:{}:multi", back.display())),
    );
    let index_digest = sha256(&index);
    let stored = back
        .join("blobs/sha256")
        .join(index_digest.trim_start_matches("sha256:"));
    assert_eq!(std::fs::read(stored).expect("index copied back"), index);
    // Both platforms' manifests made the round trip too.
    let doc: serde_json::Value = serde_json::from_slice(&index).expect("json");
    for child in doc["manifests"].as_array().expect("children") {
        let d = child["digest"]
            .as_str()
            .expect("digest")
            .trim_start_matches("sha256:");
        assert!(
            back.join("blobs/sha256").join(d).is_file(),
            "child {d} missing after copy back"
        );
    }
}

fn podman(root: &std::path::Path, args: &[&str]) -> Command {
    let mut c = Command::new("podman");
    c.arg("--storage-driver=vfs")
        .arg("--root")
        .arg(root.join("root"))
        .arg("--runroot")
        .arg(root.join("run"))
        .args(["--cgroup-manager=cgroupfs", "--events-backend=file"])
        .args(args)
        .env("REGISTRY_AUTH_FILE", root.join("auth.json"));
    c
}

#[test]
fn podman_pushes_and_pulls() {
    let berthd = Berthd::start();
    berthd.create_project("pod", false);
    // The source image: built with Docker, pushed to berthd.
    let docker = Docker::new();
    let source = format!("{}/pod/source:v1", berthd.host());
    docker.build(&source, &[25_000, 5_000]);
    assert!(docker
        .login(&berthd.host(), "admin", ADMIN_PASSWORD)
        .status
        .success());
    docker.ok(&["push", &source]);

    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    must(&mut podman(
        r,
        &[
            "login",
            "--tls-verify=false",
            "-u",
            "admin",
            "-p",
            ADMIN_PASSWORD,
            &berthd.host(),
        ],
    ));
    must(&mut podman(r, &["pull", "--tls-verify=false", &source]));
    let target = format!("{}/pod/copied:v2", berthd.host());
    must(&mut podman(r, &["tag", &source, &target]));
    must(&mut podman(r, &["push", "--tls-verify=false", &target]));
    let id = must(&mut podman(
        r,
        &["image", "inspect", "--format", "{{.Id}}", &target],
    ))
    .trim()
    .to_string();
    must(&mut podman(r, &["rmi", "-f", &target, &source]));
    must(&mut podman(r, &["pull", "--tls-verify=false", &target]));
    let again = must(&mut podman(
        r,
        &["image", "inspect", "--format", "{{.Id}}", &target],
    ))
    .trim()
    .to_string();
    assert_eq!(id, again, "podman image id changed through the registry");
}

/// Issue 10: a refusal ends skopeo's and podman's attempt at once, naming the cause (a missing
/// project; a name without a project), as it does docker's (tests/it/docker.rs).
#[test]
fn skopeo_and_podman_stop_at_a_refusal_and_name_the_cause() {
    let berthd = Berthd::start();
    let work = tempfile::tempdir().expect("tempdir");
    let src = work.path().join("src");
    write_multiarch_layout(&src);
    let started = std::time::Instant::now();
    for (dest, cause) in [
        ("nosuchproject/app:1", "project nosuchproject not found"),
        ("lonely:1", "project/repository"),
    ] {
        let out = crate::harness::run(
            Command::new("skopeo")
                .args([
                    "copy",
                    "--all",
                    "--dest-tls-verify=false",
                    "--dest-creds",
                    &creds(),
                ])
                .arg(format!("oci:{}:multi", src.display()))
                .arg(format!("docker://{}/{dest}", berthd.host())),
        );
        let text = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!out.status.success(), "skopeo pushed to {dest}");
        assert!(
            text.contains(cause),
            "skopeo did not show {cause:?}: {text}"
        );
    }

    // podman, with an image of its own pulled from berthd first.
    let docker = Docker::new();
    let source = format!("{}/library/refusal:v1", berthd.host());
    docker.build(&source, &[5_000]);
    assert!(docker
        .login(&berthd.host(), "admin", ADMIN_PASSWORD)
        .status
        .success());
    docker.ok(&["push", &source]);
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    must(&mut podman(
        r,
        &[
            "login",
            "--tls-verify=false",
            "-u",
            "admin",
            "-p",
            ADMIN_PASSWORD,
            &berthd.host(),
        ],
    ));
    must(&mut podman(r, &["pull", "--tls-verify=false", &source]));
    let missing = format!("{}/nosuchproject/app:v1", berthd.host());
    must(&mut podman(r, &["tag", &source, &missing]));
    let out = crate::harness::run(&mut podman(r, &["push", "--tls-verify=false", &missing]));
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "podman pushed to a missing project");
    assert!(
        text.contains("project nosuchproject not found"),
        "podman did not show the cause: {text}"
    );
    // Not a timing assertion on speed, only that neither client kept retrying a refusal.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "a client retried a refusal for {:?}",
        started.elapsed()
    );
}
