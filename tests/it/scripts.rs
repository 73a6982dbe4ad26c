//! Scripts in Harbor users' style, run unchanged against Berth.

use std::process::Command;

use serde_json::Value;

use crate::harness::{http, must, Berthd, ADMIN_PASSWORD};

fn tags_of(berthd: &Berthd, project: &str, encoded_repo: &str) -> Vec<String> {
    let artifacts: Value = http()
        .get(format!(
            "{}/api/v2.0/projects/{project}/repositories/{encoded_repo}/artifacts?page_size=100",
            berthd.url()
        ))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .expect("GET")
        .json()
        .expect("json");
    let mut tags: Vec<String> = artifacts
        .as_array()
        .expect("array")
        .iter()
        .flat_map(|a| a["tags"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["name"].as_str().map(String::from))
        .collect();
    tags.sort();
    tags
}

/// The classic cleanup job: projects, then repositories, then artifacts newest first; all but
/// the newest N deleted. More artifacts than one page, and a nested repository name.
#[test]
fn harbor_cleanup_script_keeps_the_newest_artifacts() {
    let berthd = Berthd::start();
    berthd.create_project("cleanup", false);
    let reg = berthd.registry(&["cleanup/app", "cleanup/team/api", "library/tool"]);
    for i in 1..=60 {
        reg.push_image(
            "cleanup/app",
            &format!("t{i:02}"),
            format!("app {i}").as_bytes(),
        );
    }
    for i in 1..=3 {
        reg.push_image(
            "cleanup/team/api",
            &format!("v{i}"),
            format!("api {i}").as_bytes(),
        );
    }
    reg.push_image("library/tool", "only", b"tool");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/harbor_cleanup.py");
    let run = |extra: &[&str]| {
        must(
            Command::new("python3")
                .arg(script)
                .args([
                    "--url",
                    &berthd.url(),
                    "--user",
                    "admin",
                    "--password",
                    ADMIN_PASSWORD,
                    "--keep",
                    "2",
                ])
                .args(extra),
        )
    };

    let dry = run(&["--dry-run"]);
    assert!(dry.contains("would delete 59 artifacts"), "{dry}");
    assert_eq!(
        tags_of(&berthd, "cleanup", "app").len(),
        60,
        "a dry run deleted something"
    );

    let out = run(&[]);
    assert!(out.contains("deleted 59 artifacts"), "{out}");
    assert_eq!(tags_of(&berthd, "cleanup", "app"), vec!["t59", "t60"]);
    assert_eq!(
        tags_of(&berthd, "cleanup", "team%252Fapi"),
        vec!["v2", "v3"]
    );
    assert_eq!(tags_of(&berthd, "library", "tool"), vec!["only"]);
    // What was deleted is gone from the registry too; what was kept still pulls.
    assert_eq!(reg.get("/v2/cleanup/app/manifests/t01").status(), 404);
    assert_eq!(reg.get("/v2/cleanup/app/manifests/t60").status(), 200);
    assert_eq!(reg.get("/v2/cleanup/team/api/manifests/v1").status(), 404);
}
