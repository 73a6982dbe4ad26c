//! Garbage collection in-process: what it deletes and what it must never delete, dry runs,
//! workers, leases, orphans, and its API. The data's clock is moved back by hand (`age`) so
//! that a time window of 0 is exact; the runs against real clients are in `tests/it/gc.rs`.

mod common;

use serde_json::{json, Value};

use berth::db::DbError;
use common::*;

/// The storage a project's summary reports.
async fn summary(app: &App) -> i64 {
    app.api("GET", "/projects/p/summary", Some(ADMIN), None)
        .await
        .body["quota"]["used"]["storage"]
        .as_i64()
        .unwrap_or(-1)
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

async fn app() -> App {
    App::with(|c| c.gc.time_window_minutes = 0).await
}

/// Everything recorded becomes an hour older: outside any time window of less than that.
async fn age(app: &App) {
    app.state
        .db
        .write(|tx| {
            tx.execute_batch(
                "UPDATE blobs SET last_seen = last_seen - 3600, created_at = created_at - 3600;
                 UPDATE repository_blobs SET linked_at = linked_at - 3600;
                 UPDATE manifests SET push_time = push_time - 3600;",
            )?;
            Ok::<_, DbError>(())
        })
        .await
        .expect("age");
}

/// Starts a run through the API and waits for its end; returns the run as the API shows it.
async fn gc(app: &App, parameters: Value) -> Value {
    let r = app
        .api(
            "POST",
            "/system/gc/schedule",
            Some(ADMIN),
            Some(json!({"schedule": {"type": "Manual"}, "parameters": parameters})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let location = r.headers["location"]
        .to_str()
        .expect("location")
        .to_string();
    let id: i64 = location
        .rsplit('/')
        .next()
        .and_then(|s| s.parse().ok())
        .expect("id");
    let ended = app.state.jobs.wait(id).await.expect("ended");
    assert_eq!(ended.status, "Success", "{}", ended.result);
    let r = app
        .api("GET", &format!("/system/gc/{id}"), Some(ADMIN), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

fn result(run: &Value, key: &str) -> i64 {
    run["result"][key].as_i64().unwrap_or(-1)
}

/// Files in the blob store.
fn blob_files(app: &App) -> Vec<String> {
    let mut files = Vec::new();
    let root = app.data().join("blobs");
    for alg in std::fs::read_dir(&root).expect("blobs").flatten() {
        for shard in std::fs::read_dir(alg.path()).expect("shard").flatten() {
            for f in std::fs::read_dir(shard.path()).expect("files").flatten() {
                files.push(format!(
                    "{}:{}",
                    alg.file_name().to_string_lossy(),
                    f.file_name().to_string_lossy()
                ));
            }
        }
    }
    files.sort();
    files
}

/// Pushes a manifest over the given blobs (digest, size); returns its digest.
async fn manifest(
    app: &App,
    repo: &str,
    token: &str,
    reference: &str,
    blobs: &[(String, usize)],
) -> String {
    let (config, layers) = blobs.split_first().expect("a config");
    let body = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.0, "size": config.1},
        "layers": layers.iter().map(|(d, s)| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": s})).collect::<Vec<_>>(),
    })
    .to_string();
    let r = app
        .v2(
            "PUT",
            &format!("{repo}/manifests/{reference}"),
            token,
            body.clone().into_bytes(),
            Some(OCI_MANIFEST),
        )
        .await;
    assert_eq!(r.status, 201, "manifest: {}", r.text);
    sha256(body.as_bytes())
}

/// `DELETE /v2/{path}`; returns the status.
async fn delete(app: &App, path: &str, token: &str) -> u16 {
    app.v2("DELETE", path, token, vec![], None)
        .await
        .status
        .as_u16()
}

async fn upload(app: &App, repo: &str, token: &str, content: &str) -> (String, usize) {
    (
        app.blob(repo, token, content.as_bytes()).await,
        content.len(),
    )
}

#[tokio::test]
async fn gc_frees_what_a_deletion_leaves_and_never_what_is_referenced() {
    let app = app().await;
    app.project(ADMIN, "p", false).await;
    let token = app.token(ADMIN, "p/app").await;
    let shared = upload(&app, "p/app", &token, "shared layer").await;
    let a = vec![
        upload(&app, "p/app", &token, "{\"a\":1}").await,
        shared.clone(),
        upload(&app, "p/app", &token, "layer only a").await,
    ];
    let b = vec![
        upload(&app, "p/app", &token, "{\"b\":1}").await,
        shared.clone(),
        upload(&app, "p/app", &token, "layer only b has more").await,
    ];
    manifest(&app, "p/app", &token, "a", &a).await;
    let b_digest = manifest(&app, "p/app", &token, "b", &b).await;
    let everything = summary(&app).await;
    assert!(everything > 0);

    // Deleting b's tag leaves an untagged artifact: still referenced, still counted.
    let r = app
        .v2("DELETE", "p/app/manifests/b", &token, vec![], None)
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(summary(&app).await, everything);
    age(&app).await;
    let before = blob_files(&app);
    assert_eq!(before.len(), 5);

    // Without delete_untagged nothing is unreferenced.
    let run = gc(&app, json!({})).await;
    assert_eq!(
        (
            result(&run, "deleted_blobs"),
            result(&run, "deleted_manifests")
        ),
        (0, 0)
    );

    // A dry run says exactly what the real run then does, and deletes nothing.
    let only_b = (b[0].1 + b[2].1) as i64;
    let dry = gc(&app, json!({"delete_untagged": true, "dry_run": true})).await;
    assert_eq!(result(&dry, "deleted_manifests"), 1);
    assert_eq!(result(&dry, "deleted_blobs"), 2);
    assert_eq!(result(&dry, "freed_space"), only_b);
    assert_eq!(blob_files(&app), before, "a dry run deletes nothing");
    let r = app
        .v2(
            "GET",
            &format!("p/app/manifests/{b_digest}"),
            &token,
            vec![],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "b is still there after the dry run");

    let real = gc(&app, json!({"delete_untagged": true, "workers": 2})).await;
    for key in ["deleted_manifests", "deleted_blobs", "freed_space"] {
        assert_eq!(result(&real, key), result(&dry, key), "{key}");
    }
    let params: Value =
        serde_json::from_str(real["job_parameters"].as_str().expect("job_parameters"))
            .expect("json");
    assert_eq!(params["freed_space"], only_b, "merged as Harbor does");
    assert_eq!(blob_files(&app).len(), 3);
    // a pulls whole; b's own blobs are gone, the shared one is not.
    for (d, size) in &a {
        let r = app
            .v2("GET", &format!("p/app/blobs/{d}"), &token, vec![], None)
            .await;
        assert_eq!((r.status.as_u16(), r.text.len()), (200, *size), "{d}");
    }
    for (d, _) in [&b[0], &b[2]] {
        let r = app
            .v2("HEAD", &format!("p/app/blobs/{d}"), &token, vec![], None)
            .await;
        assert_eq!(r.status, 404, "{d}");
    }
    assert!(summary(&app).await < everything);

    // Deleting the last artifact and collecting leaves an empty store.
    let r = app
        .api(
            "DELETE",
            "/projects/p/repositories/app/artifacts/a",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let blobs_only: i64 = a.iter().map(|(_, size)| *size as i64).sum();
    assert_eq!(
        summary(&app).await,
        blobs_only,
        "the manifest stops counting at once, its blobs when GC frees them"
    );
    age(&app).await;
    let run = gc(&app, json!({})).await;
    assert_eq!(result(&run, "deleted_blobs"), 3);
    assert!(blob_files(&app).is_empty());
    assert_eq!(summary(&app).await, 0);
    let r = app.api("GET", "/statistics", Some(ADMIN), None).await;
    assert_eq!(r.body["total_storage_consumption"], 0);
}

/// Deleting a repository leaves its blobs to GC, which frees them (and nothing of another
/// repository that shares one).
#[tokio::test]
async fn a_deleted_repository_is_freed_by_gc() {
    let app = app().await;
    app.project(ADMIN, "p", false).await;
    let gone = app.token(ADMIN, "p/gone").await;
    let stays = app.token(ADMIN, "p/stays").await;
    let shared = upload(&app, "p/gone", &gone, "shared layer").await;
    let blobs = vec![
        upload(&app, "p/gone", &gone, "{\"gone\":1}").await,
        shared.clone(),
        upload(&app, "p/gone", &gone, "only in gone").await,
    ];
    manifest(&app, "p/gone", &gone, "v1", &blobs).await;
    let kept = vec![
        upload(&app, "p/stays", &stays, "{\"stays\":1}").await,
        upload(&app, "p/stays", &stays, "shared layer").await,
    ];
    manifest(&app, "p/stays", &stays, "v1", &kept).await;
    let r = app
        .api("DELETE", "/projects/p/repositories/gone", Some(ADMIN), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    age(&app).await;
    let run = gc(&app, json!({})).await;
    assert_eq!(result(&run, "deleted_blobs"), 2, "{run}");
    assert_eq!(
        result(&run, "freed_space"),
        (blobs[0].1 + blobs[2].1) as i64
    );
    assert_eq!(blob_files(&app).len(), 2);
    for (d, size) in &kept {
        let r = app
            .v2("GET", &format!("p/stays/blobs/{d}"), &stays, vec![], None)
            .await;
        assert_eq!((r.status.as_u16(), r.text.len()), (200, *size));
    }
}

/// The race that breaks other registries: a client `HEAD`s a blob, GC runs with a time
/// window of 0, the client sends a manifest that uses it. A pusher's `HEAD` leases the blob,
/// so the push succeeds; a `HEAD` by someone who may only pull protects nothing beyond the
/// time window.
#[tokio::test]
async fn a_pushers_head_keeps_a_blob_through_gc_until_its_manifest() {
    let app = app().await;
    app.project(ADMIN, "p", false).await;
    let token = app.token(ADMIN, "p/app").await;
    let blobs = vec![
        upload(&app, "p/app", &token, "{\"race\":1}").await,
        upload(&app, "p/app", &token, "the layer").await,
    ];
    let digest = manifest(&app, "p/app", &token, "v1", &blobs).await;
    assert_eq!(
        delete(&app, &format!("p/app/manifests/{digest}"), &token).await,
        202
    );
    age(&app).await;

    // A second push of the same image: the client checks, finds both, skips the uploads.
    let pusher = app.token(ADMIN, "p/app").await;
    for (d, _) in &blobs {
        let r = app
            .v2("HEAD", &format!("p/app/blobs/{d}"), &pusher, vec![], None)
            .await;
        assert_eq!(r.status, 200);
    }
    age(&app).await;
    let run = gc(&app, json!({})).await;
    assert_eq!(result(&run, "deleted_blobs"), 0, "leased by the HEAD");
    manifest(&app, "p/app", &pusher, "v1", &blobs).await;
    for (d, size) in &blobs {
        let r = app
            .v2("GET", &format!("p/app/blobs/{d}"), &token, vec![], None)
            .await;
        assert_eq!((r.status.as_u16(), r.text.len()), (200, *size));
    }

    // The manifest released the leases: deleted again, the blobs go.
    assert_eq!(
        delete(&app, &format!("p/app/manifests/{digest}"), &token).await,
        202
    );
    // A reader's HEAD leases nothing: pulls never keep garbage.
    app.user("reader").await;
    let r = app
        .api(
            "POST",
            "/projects/p/members",
            Some(ADMIN),
            Some(json!({"role_id": 3, "member_user": {"username": "reader"}})),
        )
        .await;
    assert_eq!(r.status, 201);
    let reader = app.token(("reader", PASSWORD), "p/app").await;
    for (d, _) in &blobs {
        let r = app
            .v2("HEAD", &format!("p/app/blobs/{d}"), &reader, vec![], None)
            .await;
        assert_eq!(r.status, 200);
    }
    age(&app).await;
    let run = gc(&app, json!({})).await;
    assert_eq!(result(&run, "deleted_blobs"), 2);
    // A blob that is gone answers 404, so a client uploads it again.
    for (d, _) in &blobs {
        let r = app
            .v2("HEAD", &format!("p/app/blobs/{d}"), &pusher, vec![], None)
            .await;
        assert_eq!(r.status, 404);
    }
    assert!(
        app.state.registry.leases().is_empty(),
        "a HEAD that found nothing holds nothing"
    );
}

/// `delete_untagged` never takes a child of a tagged index or a referrer whose subject stays;
/// once the index's tag is gone, the index, its children and its referrer all go.
#[tokio::test]
async fn delete_untagged_follows_indexes_and_referrers() {
    let app = app().await;
    app.project(ADMIN, "p", false).await;
    let token = app.token(ADMIN, "p/app").await;
    let mut children = Vec::new();
    for arch in ["amd64", "arm64"] {
        let blobs = vec![
            upload(&app, "p/app", &token, &format!("{{\"arch\":\"{arch}\"}}")).await,
            upload(&app, "p/app", &token, &format!("layer {arch}")).await,
        ];
        let d = manifest(&app, "p/app", &token, "placeholder", &blobs).await;
        children.push(d);
    }
    // The placeholder tag now names the arm64 child; move it elsewhere so both are untagged.
    let other = vec![upload(&app, "p/app", &token, "{\"other\":1}").await];
    manifest(&app, "p/app", &token, "placeholder", &other).await;
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": children.iter().map(|d| json!({"mediaType": OCI_MANIFEST, "digest": d, "size": 1,
            "platform": {"os": "linux", "architecture": "amd64"}})).collect::<Vec<_>>(),
    })
    .to_string();
    // Sizes in an index are the client's claim; store the real ones.
    let index = {
        let mut v: Value = serde_json::from_str(&index).expect("index");
        for (i, d) in children.iter().enumerate() {
            let r = app
                .v2("GET", &format!("p/app/manifests/{d}"), &token, vec![], None)
                .await;
            v["manifests"][i]["size"] = json!(r.text.len());
        }
        v.to_string()
    };
    let r = app
        .v2(
            "PUT",
            "p/app/manifests/multi",
            &token,
            index.clone().into_bytes(),
            Some(OCI_INDEX),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let index_digest = sha256(index.as_bytes());
    let signature_config = upload(&app, "p/app", &token, "{}").await;
    let referrer = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.signature",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": signature_config.0, "size": 2},
        "layers": [],
        "subject": {"mediaType": OCI_INDEX, "digest": index_digest, "size": index.len()},
    })
    .to_string();
    let referrer_digest = sha256(referrer.as_bytes());
    let r = app
        .v2(
            "PUT",
            &format!("p/app/manifests/{referrer_digest}"),
            &token,
            referrer.into_bytes(),
            Some(OCI_MANIFEST),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    age(&app).await;

    let run = gc(&app, json!({"delete_untagged": true})).await;
    assert_eq!(result(&run, "deleted_manifests"), 0, "{run}");
    for d in children.iter().chain([&index_digest, &referrer_digest]) {
        let r = app
            .v2(
                "HEAD",
                &format!("p/app/manifests/{d}"),
                &token,
                vec![],
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{d} stays");
    }

    assert_eq!(delete(&app, "p/app/manifests/multi", &token).await, 202);
    age(&app).await;
    let run = gc(&app, json!({"delete_untagged": true})).await;
    assert_eq!(result(&run, "deleted_manifests"), 4, "{run}");
    assert_eq!(result(&run, "deleted_blobs"), 5, "{run}");
    let r = app
        .v2("GET", "p/app/manifests/placeholder", &token, vec![], None)
        .await;
    assert_eq!(r.status, 200, "the tagged image stays");
}

/// Files without rows (a crash between a row's deletion and its file's) and upload files no
/// session owns are removed; any number of workers gives the same result.
#[tokio::test]
async fn orphans_go_and_workers_agree() {
    let mut outcomes = Vec::new();
    for workers in [1, 5] {
        let app = app().await;
        app.project(ADMIN, "p", false).await;
        let token = app.token(ADMIN, "p/app").await;
        let mut doomed = Vec::new();
        for i in 0..40 {
            let blobs = vec![
                upload(&app, "p/app", &token, &format!("{{\"i\":{i}}}")).await,
                upload(&app, "p/app", &token, &format!("layer {}", i % 7)).await,
            ];
            let d = manifest(&app, "p/app", &token, &format!("t{i}"), &blobs).await;
            match i % 4 {
                0 | 2 => doomed.push(d),
                // Untagged: for delete_untagged.
                1 => assert_eq!(
                    delete(&app, &format!("p/app/manifests/t{i}"), &token).await,
                    202
                ),
                _ => {}
            }
        }
        // Layer 8 only in p/app's deleted images, but used in p/other: its link in p/app goes.
        let other = app.token(ADMIN, "p/other").await;
        let shared = vec![
            upload(&app, "p/other", &other, "{\"other\":1}").await,
            upload(&app, "p/other", &other, "layer 8").await,
        ];
        manifest(&app, "p/other", &other, "o", &shared).await;
        let only_doomed = vec![
            upload(&app, "p/app", &token, "{\"x\":1}").await,
            upload(&app, "p/app", &token, "layer 8").await,
        ];
        doomed.push(manifest(&app, "p/app", &token, "x", &only_doomed).await);
        for d in &doomed {
            assert_eq!(
                delete(&app, &format!("p/app/manifests/{d}"), &token).await,
                202
            );
        }
        let orphan = b"nobody recorded me";
        let orphan_digest = sha256(orphan);
        let hex = orphan_digest.trim_start_matches("sha256:");
        let dir = app.data().join("blobs/sha256").join(&hex[..2]);
        std::fs::create_dir_all(&dir).expect("shard");
        std::fs::write(dir.join(hex), orphan).expect("orphan");
        std::fs::write(
            app.data()
                .join("uploads/0b1f6c3e-0000-4000-8000-000000000000"),
            b"half an upload",
        )
        .expect("abandoned upload");
        age(&app).await;
        let dry = gc(&app, json!({"dry_run": true, "delete_untagged": true})).await;
        let run = gc(&app, json!({"workers": workers, "delete_untagged": true})).await;
        for key in [
            "deleted_blobs",
            "deleted_manifests",
            "freed_space",
            "unlinked",
        ] {
            assert_eq!(
                result(&dry, key),
                result(&run, key),
                "{key}: dry run and run agree"
            );
        }
        assert_eq!(result(&run, "orphan_files"), 1);
        assert_eq!(result(&run, "purged_uploads"), 1);
        assert!(!dir.join(hex).exists());
        // Every file left is referenced.
        let referenced: std::collections::BTreeSet<String> = app
            .state
            .db
            .read(|c| {
                let mut stmt = c.prepare(
                    "SELECT DISTINCT digest FROM manifest_references WHERE kind = 'blob'",
                )?;
                let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await
            .expect("referenced");
        let files: std::collections::BTreeSet<String> = blob_files(&app).into_iter().collect();
        assert_eq!(files, referenced);
        outcomes.push(
            [
                "deleted_blobs",
                "deleted_manifests",
                "freed_space",
                "unlinked",
            ]
            .map(|k| result(&run, k)),
        );
    }
    assert_eq!(outcomes[0], outcomes[1], "1 worker and 5 agree");
    assert!(outcomes[0].iter().all(|n| *n > 0), "{:?}", outcomes[0]);
}

#[tokio::test]
async fn the_schedule_and_history_speak_harbors_api() {
    let app = app().await;
    let schedule = |t: &str, cron: &str| json!({"schedule": {"type": t, "cron": cron}, "parameters": {"delete_untagged": true, "workers": 3}});
    let r = app
        .api(
            "POST",
            "/system/gc/schedule",
            Some(ADMIN),
            Some(schedule("Custom", "0 30 3 * * *")),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app
        .api("GET", "/system/gc/schedule", Some(ADMIN), None)
        .await;
    assert_eq!(r.body["schedule"]["type"], "Custom", "{}", r.text);
    assert_eq!(r.body["schedule"]["cron"], "0 30 3 * * *");
    assert!(r.body["schedule"]["next_scheduled_time"].is_string());
    assert_eq!(r.body["parameters"]["workers"], 3);
    let r = app
        .api(
            "POST",
            "/system/gc/schedule",
            Some(ADMIN),
            Some(schedule("Daily", "")),
        )
        .await;
    assert_eq!(r.status, 409, "one schedule: change it with PUT");
    for (bad, why) in [
        (schedule("Custom", "every day"), "a bad cron"),
        (schedule("Custom", "0 0 * * *"), "five fields"),
        (schedule("Sometimes", ""), "an unknown type"),
        (
            json!({"schedule": {"type": "Daily"}, "parameters": {"workers": 9}}),
            "workers above 5",
        ),
        (
            json!({"schedule": {"type": "Daily"}, "parameters": {"dry_run": "yes"}}),
            "a string flag",
        ),
    ] {
        let r = app
            .api("PUT", "/system/gc/schedule", Some(ADMIN), Some(bad))
            .await;
        assert_eq!(r.status, 400, "{why}: {}", r.text);
        assert!(r.body["errors"][0]["message"].is_string());
    }
    let r = app
        .api("GET", "/system/gc/schedule", Some(ADMIN), None)
        .await;
    assert_eq!(
        r.body["schedule"]["cron"], "0 30 3 * * *",
        "refusals changed nothing"
    );
    let r = app
        .api(
            "PUT",
            "/system/gc/schedule",
            Some(ADMIN),
            Some(schedule("None", "")),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = app
        .api("GET", "/system/gc/schedule", Some(ADMIN), None)
        .await;
    assert_eq!(r.body["schedule"]["type"], "None");

    // History, a run's log, and ids of other kinds of job are not garbage collections.
    let run = gc(&app, json!({"dry_run": true})).await;
    let id = run["id"].as_i64().expect("id");
    assert_eq!(run["job_name"], "GARBAGE_COLLECTION");
    assert_eq!(run["job_kind"], "MANUAL");
    assert_eq!(run["job_status"], "Success");
    let r = app.api("GET", "/system/gc", Some(ADMIN), None).await;
    assert_eq!(r.headers["x-total-count"], "1");
    assert_eq!(r.body[0]["id"], id);
    let r = app
        .api("GET", &format!("/system/gc/{id}/log"), Some(ADMIN), None)
        .await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains("garbage collection started"), "{}", r.text);
    assert!(r.text.contains("would delete"), "{}", r.text);
    let r = app
        .api("PUT", &format!("/system/gc/{id}"), Some(ADMIN), None)
        .await;
    assert_eq!(r.status, 409, "it has ended");
    let other = app
        .state
        .jobs
        .submit(
            berth::jobs::housekeeping::PURGE_AUDIT_LOG,
            berth::jobs::Trigger::Manual,
            Value::Null,
        )
        .await
        .expect("submit");
    for (method, path) in [
        ("GET", format!("/system/gc/{other}")),
        ("GET", format!("/system/gc/{other}/log")),
        ("PUT", format!("/system/gc/{other}")),
    ] {
        let r = app.api(method, &path, Some(ADMIN), None).await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.text);
    }
    let r = app.api("GET", "/system/gc/abc", Some(ADMIN), None).await;
    assert_eq!(r.status, 400);
    // Who ran, scheduled and stopped collections is in the audit log, refusals included.
    let r = app
        .api("GET", "/audit-logs?page_size=100", Some(ADMIN), None)
        .await;
    let gc_entries: Vec<(String, String, bool)> = r
        .body
        .as_array()
        .expect("audit log")
        .iter()
        .filter(|e| e["resource_type"] == "garbage_collection")
        .map(|e| {
            (
                e["operation"].as_str().unwrap_or_default().to_string(),
                e["resource"].as_str().unwrap_or_default().to_string(),
                e["operation_result"].as_bool().unwrap_or_default(),
            )
        })
        .collect();
    for wanted in [
        ("create".to_string(), "schedule".to_string(), true),
        ("create".to_string(), "schedule".to_string(), false),
        ("update".to_string(), "schedule".to_string(), true),
        ("create".to_string(), id.to_string(), true),
        ("stop".to_string(), id.to_string(), false),
    ] {
        assert!(
            gc_entries.contains(&wanted),
            "{wanted:?} not in {gc_entries:?}"
        );
    }
    let r = app
        .api("GET", "/systeminfo/volumes", Some(ADMIN), None)
        .await;
    let total = r.body["storage"][0]["total"].as_u64().expect("total");
    let free = r.body["storage"][0]["free"].as_u64().expect("free");
    assert!(total > 0 && free <= total, "{}", r.text);
}

/// A backup holds garbage collection's removals off: while it holds the fence no blob row or
/// file goes, and once it lets go the run finishes and frees them.
#[tokio::test]
async fn gc_removes_nothing_while_a_backup_holds_the_fence() {
    let app = app().await;
    app.project(ADMIN, "p", false).await;
    let token = app.token(ADMIN, "p/app").await;
    let blobs = vec![
        upload(&app, "p/app", &token, "{\"doomed\":1}").await,
        upload(&app, "p/app", &token, "doomed layer").await,
    ];
    let digest = manifest(&app, "p/app", &token, "v1", &blobs).await;
    assert_eq!(
        delete(&app, &format!("p/app/manifests/{digest}"), &token).await,
        202
    );
    age(&app).await;
    let fence = berth::storage::fence::Fence::at(&app.data());
    let paused = tokio::task::spawn_blocking(move || fence.pause_removals())
        .await
        .expect("join")
        .expect("pause");
    let r = app
        .api(
            "POST",
            "/system/gc/schedule",
            Some(ADMIN),
            Some(json!({"schedule": {"type": "Manual"}, "parameters": {}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id: i64 = r.headers["location"]
        .to_str()
        .ok()
        .and_then(|l| l.rsplit('/').next())
        .and_then(|s| s.parse().ok())
        .expect("id");
    // The run starts and reaches its removals, which wait.
    let waited = tokio::time::timeout(
        std::time::Duration::from_millis(500),
        app.state.jobs.wait(id),
    )
    .await;
    assert!(waited.is_err(), "the run must wait for the backup");
    assert_eq!(
        blob_files(&app).len(),
        2,
        "no file went while the fence was held"
    );
    let rows: i64 = app
        .state
        .db
        .read(|c| Ok(c.query_row("SELECT count(*) FROM blobs", [], |r| r.get(0))?))
        .await
        .expect("rows");
    assert_eq!(rows, 2, "no row went while the fence was held");
    drop(paused);
    let ended = app.state.jobs.wait(id).await.expect("ended");
    assert_eq!(ended.status, "Success", "{}", ended.result);
    assert!(blob_files(&app).is_empty());
}
