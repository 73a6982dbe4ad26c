//! Replication's API in process: who may call each operation (the system table, every role
//! that must not), secrets sealed and never shown, bad input refused with nothing changed,
//! and an execution that reports the truth and can be retried. Copies between real registries
//! are `tests/it/replication.rs`.

mod common;

use common::{App, ADMIN, PASSWORD};
use serde_json::{json, Value};

/// An address nothing listens on: endpoints pointing here are saved `unhealthy`.
const NOWHERE: &str = "http://127.0.0.1:9";

async fn endpoint(app: &App, name: &str) -> i64 {
    let r = app
        .api(
            "POST",
            "/registries",
            Some(ADMIN),
            Some(json!({"name": name, "type": "docker-registry", "url": NOWHERE,
                        "credential": {"type": "basic", "access_key": "repl", "access_secret": "S3cret-value"}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let location = r.headers["location"].to_str().expect("location");
    location
        .rsplit('/')
        .next()
        .expect("id")
        .parse()
        .expect("id")
}

async fn policy(app: &App, name: &str, registry: i64, extra: Value) -> i64 {
    let mut body = json!({"name": name, "dest_registry": {"id": registry},
                          "trigger": {"type": "manual"}, "filters": []});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let r = app
        .api("POST", "/replication/policies", Some(ADMIN), Some(body))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let location = r.headers["location"].to_str().expect("location");
    location
        .rsplit('/')
        .next()
        .expect("id")
        .parse()
        .expect("id")
}

async fn system_robot(app: &App, name: &str, grants: &[(&str, &str)]) -> (String, String) {
    let access: Vec<Value> = grants
        .iter()
        .map(|(r, a)| json!({"resource": r, "action": a}))
        .collect();
    let r = app
        .api(
            "POST",
            "/robots",
            Some(ADMIN),
            Some(json!({"name": name, "level": "system", "duration": -1,
                        "permissions": [{"kind": "system", "namespace": "/", "access": access}]})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    (
        r.body["name"].as_str().expect("name").to_string(),
        r.body["secret"].as_str().expect("secret").to_string(),
    )
}

/// Every replication operation, by every caller: only a system administrator (and a system
/// robot granted that very entry) gets through; anonymous callers get 401, the rest 403.
#[tokio::test]
async fn every_replication_call_follows_the_system_table() {
    let app = App::new().await;
    app.user("plain").await;
    app.user("padmin").await;
    app.project(ADMIN, "proj", false).await;
    let r = app
        .api(
            "POST",
            "/projects/proj/members",
            Some(ADMIN),
            Some(json!({"role_id": 1, "member_user": {"username": "padmin"}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let registry = endpoint(&app, "target").await;
    let policy_id = policy(&app, "push", registry, json!({})).await;
    let watcher = system_robot(
        &app,
        "watcher",
        &[
            ("registry", "list"),
            ("registry", "read"),
            ("replication", "list"),
            ("replication", "read"),
        ],
    )
    .await;
    let gc_only = system_robot(&app, "gconly", &[("garbage-collection", "list")]).await;
    let r = app
        .robot(ADMIN, "proj-robot", "proj", &[("repository", "push")])
        .await;
    let project_robot = (
        r.body["name"].as_str().expect("name").to_string(),
        r.body["secret"].as_str().expect("secret").to_string(),
    );
    let new_endpoint = json!({"name": "other", "type": "harbor", "url": NOWHERE});
    let new_policy = json!({"name": "other", "dest_registry": {"id": registry}});
    let calls: Vec<(&str, String, Option<Value>, &str)> = vec![
        ("GET", "/registries".into(), None, "registry:list"),
        (
            "POST",
            "/registries".into(),
            Some(new_endpoint.clone()),
            "registry:create",
        ),
        (
            "POST",
            "/registries/ping".into(),
            Some(new_endpoint),
            "registry:create",
        ),
        (
            "GET",
            format!("/registries/{registry}"),
            None,
            "registry:read",
        ),
        (
            "PUT",
            format!("/registries/{registry}"),
            Some(json!({"description": "changed"})),
            "registry:update",
        ),
        (
            "DELETE",
            "/registries/999999".into(),
            None,
            "registry:delete",
        ),
        (
            "GET",
            format!("/registries/{registry}/info"),
            None,
            "registry:read",
        ),
        (
            "GET",
            "/replication/adapters".into(),
            None,
            "replication-adapter:list",
        ),
        (
            "GET",
            "/replication/policies".into(),
            None,
            "replication-policy:list",
        ),
        (
            "POST",
            "/replication/policies".into(),
            Some(new_policy.clone()),
            "replication-policy:create",
        ),
        (
            "GET",
            format!("/replication/policies/{policy_id}"),
            None,
            "replication-policy:read",
        ),
        (
            "PUT",
            format!("/replication/policies/{policy_id}"),
            Some(json!({"name": "push", "dest_registry": {"id": registry}, "enabled": false})),
            "replication-policy:update",
        ),
        (
            "DELETE",
            "/replication/policies/999999".into(),
            None,
            "replication-policy:delete",
        ),
        (
            "GET",
            "/replication/executions".into(),
            None,
            "replication:list",
        ),
        (
            "POST",
            "/replication/executions".into(),
            Some(json!({"policy_id": 999999})),
            "replication:create",
        ),
        (
            "GET",
            "/replication/executions/999999".into(),
            None,
            "replication:read",
        ),
        (
            "PUT",
            "/replication/executions/999999".into(),
            None,
            "replication:stop",
        ),
        (
            "POST",
            "/replication/executions/999999/retry".into(),
            None,
            "replication:create",
        ),
        (
            "GET",
            "/replication/executions/999999/tasks".into(),
            None,
            "replication:read",
        ),
        (
            "GET",
            "/replication/executions/999999/tasks/1/log".into(),
            None,
            "replication:read",
        ),
    ];
    let who: [(&str, Option<(&str, &str)>); 7] = [
        ("admin", Some(ADMIN)),
        ("plain user", Some(("plain", PASSWORD))),
        ("project admin", Some(("padmin", PASSWORD))),
        (
            "project robot",
            Some((project_robot.0.as_str(), project_robot.1.as_str())),
        ),
        ("gc robot", Some((gc_only.0.as_str(), gc_only.1.as_str()))),
        ("watcher", Some((watcher.0.as_str(), watcher.1.as_str()))),
        ("anonymous", None),
    ];
    let before = app.api("GET", "/registries", Some(ADMIN), None).await.body;
    let mut failures = Vec::new();
    for (name, creds) in &who {
        for (method, path, body, permission) in &calls {
            if *name == "admin" {
                continue;
            }
            let r = app.api(method, path, *creds, body.clone()).await;
            let refused = matches!(r.status.as_u16(), 401 | 403);
            let want = *name == "watcher"
                && matches!(
                    *permission,
                    "registry:list" | "registry:read" | "replication:list" | "replication:read"
                );
            let right_refusal = if *name == "anonymous" { 401 } else { 403 };
            if want == refused || (!want && r.status.as_u16() != right_refusal) {
                failures.push(format!(
                    "{permission} by {name}: {method} {path} -> {} {}",
                    r.status, r.text
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Nothing the refused callers sent changed anything.
    assert_eq!(
        app.api("GET", "/registries", Some(ADMIN), None).await.body,
        before
    );
    let p = app
        .api(
            "GET",
            &format!("/replication/policies/{policy_id}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(p.body["enabled"], true, "{}", p.text);
    // And the administrator may do each of them.
    for (method, path, body, permission) in &calls {
        let r = app.api(method, path, Some(ADMIN), body.clone()).await;
        assert!(
            !matches!(r.status.as_u16(), 401 | 403),
            "{permission} by admin: {} {}",
            r.status,
            r.text
        );
    }
}

/// The secret is sealed in the database and in no answer; changing the URL without giving
/// the secret again is refused, so the saved one never goes to a new address.
#[tokio::test]
async fn endpoint_secrets_are_sealed_and_never_returned() {
    let app = App::new().await;
    let id = endpoint(&app, "sealed").await;
    for path in ["/registries".to_string(), format!("/registries/{id}")] {
        let r = app.api("GET", &path, Some(ADMIN), None).await;
        assert_eq!(r.status, 200);
        assert!(!r.text.contains("S3cret-value"), "{}", r.text);
        assert!(!r.text.contains("access_secret"), "{}", r.text);
        assert!(r.text.contains("\"access_key\":\"repl\""), "{}", r.text);
    }
    let r = app
        .api("GET", &format!("/registries/{id}"), Some(ADMIN), None)
        .await;
    assert_eq!(r.body["status"], "unhealthy", "nothing listens there");
    assert_eq!(r.body["self_target"], false);
    let stored: String = rusqlite::Connection::open(app.data().join("berth.db"))
        .expect("db")
        .query_row(
            "SELECT access_secret FROM registries WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .expect("row");
    assert!(stored.starts_with("sealed:v1:"), "{stored}");
    assert!(!stored.contains("S3cret"));

    let r = app
        .api(
            "PUT",
            &format!("/registries/{id}"),
            Some(ADMIN),
            Some(json!({"url": "http://127.0.0.2:9"})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("access_secret"), "{}", r.text);
    let r = app
        .api("GET", &format!("/registries/{id}"), Some(ADMIN), None)
        .await;
    assert_eq!(r.body["url"], NOWHERE, "unchanged");
    let r = app
        .api(
            "PUT",
            &format!("/registries/{id}"),
            Some(ADMIN),
            Some(json!({"url": "http://127.0.0.2:9", "access_secret": "another"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // A ping of an unreachable endpoint is a 400 with the reason.
    let r = app
        .api(
            "POST",
            "/registries/ping",
            Some(ADMIN),
            Some(json!({"id": id})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("cannot reach"), "{}", r.text);
}

/// Bad endpoints and policies are refused, each with its reason, and nothing is stored.
#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let app = App::new().await;
    let registry = endpoint(&app, "target").await;
    let bad_endpoints = [
        (
            json!({"name": "x", "type": "dockerhub", "url": NOWHERE}),
            "type",
        ),
        (
            json!({"name": "x", "type": "harbor", "url": "ftp://x"}),
            "http",
        ),
        (
            json!({"name": "x", "type": "harbor", "url": "https://u:p@x.example"}),
            "credentials",
        ),
        (
            json!({"name": "x", "type": "harbor", "url": "https://x.example/path"}),
            "path",
        ),
        (
            json!({"name": "", "type": "harbor", "url": NOWHERE}),
            "name",
        ),
        (
            json!({"name": "x", "type": "harbor", "url": NOWHERE, "ca_certificate": "not pem"}),
            "PEM",
        ),
        (
            json!({"name": "x", "type": "harbor", "url": NOWHERE, "credential": {"type": "oauth"}}),
            "basic",
        ),
        (
            json!({"name": "target", "type": "harbor", "url": NOWHERE}),
            "exists",
        ),
        (
            json!({"name": "x", "type": "harbor", "url": NOWHERE, "surprise": 1}),
            "surprise",
        ),
    ];
    for (body, says) in bad_endpoints {
        let r = app
            .api("POST", "/registries", Some(ADMIN), Some(body.clone()))
            .await;
        assert!(
            matches!(r.status.as_u16(), 400 | 409 | 422),
            "{body}: {} {}",
            r.status,
            r.text
        );
        assert!(r.text.contains(says), "{body}: {}", r.text);
    }
    let bad_policies = [
        (json!({"name": "p"}), "dest_registry"),
        (
            json!({"name": "p", "src_registry": {"id": registry}, "dest_registry": {"id": registry}}),
            "not both",
        ),
        (
            json!({"name": "p", "dest_registry": {"id": 999}}),
            "no registry",
        ),
        (
            json!({"name": "p", "dest_registry": {"id": registry}, "filters": [{"type": "label", "value": ["a"]}]}),
            "label",
        ),
        (
            json!({"name": "p", "dest_registry": {"id": registry}, "filters": [{"type": "name", "value": "a/{b"}]}),
            "pattern",
        ),
        (
            json!({"name": "p", "src_registry": {"id": registry}, "trigger": {"type": "event_based"}}),
            "push-based",
        ),
        (
            json!({"name": "p", "dest_registry": {"id": registry}, "trigger": {"type": "scheduled", "trigger_settings": {"cron": "daily"}}}),
            "cron",
        ),
        (
            json!({"name": "p", "dest_registry": {"id": registry}, "dest_namespace": "Bad Name"}),
            "dest_namespace",
        ),
        (
            json!({"name": "p", "dest_registry": {"id": registry}, "dest_namespace_replace_count": -2}),
            "dest_namespace_replace_count",
        ),
        (
            json!({"name": "p", "dest_registry": {"id": registry}, "overide": true}),
            "overide",
        ),
    ];
    for (body, says) in bad_policies {
        let r = app
            .api(
                "POST",
                "/replication/policies",
                Some(ADMIN),
                Some(body.clone()),
            )
            .await;
        assert!(
            matches!(r.status.as_u16(), 400 | 422),
            "{body}: {} {}",
            r.status,
            r.text
        );
        assert!(r.text.contains(says), "{body}: {}", r.text);
    }
    let r = app.api("GET", "/registries", Some(ADMIN), None).await;
    assert_eq!(r.body.as_array().map(Vec::len), Some(1), "{}", r.text);
    let r = app
        .api("GET", "/replication/policies", Some(ADMIN), None)
        .await;
    assert_eq!(r.body.as_array().map(Vec::len), Some(0), "{}", r.text);

    // An endpoint a policy uses cannot go; a disabled policy does not start.
    let p = policy(&app, "off", registry, json!({"enabled": false})).await;
    let r = app
        .api(
            "DELETE",
            &format!("/registries/{registry}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(r.status, 412, "{}", r.text);
    assert!(r.text.contains("off"), "{}", r.text);
    let r = app
        .api(
            "POST",
            "/replication/executions",
            Some(ADMIN),
            Some(json!({"policy_id": p})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("disabled"), "{}", r.text);
}

/// An execution towards an endpoint that is down fails, says why, and can be retried by
/// hand as itself; a garbage collection's id is no replication execution.
#[tokio::test]
async fn a_failed_execution_says_why_and_can_be_retried() {
    let app = App::new().await;
    let registry = endpoint(&app, "down").await;
    let policy_id = policy(&app, "push", registry, json!({})).await;
    let r = app
        .api(
            "POST",
            "/replication/executions",
            Some(ADMIN),
            Some(json!({"policy_id": policy_id})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let execution: i64 = r.headers["location"]
        .to_str()
        .expect("location")
        .rsplit('/')
        .next()
        .expect("id")
        .parse()
        .expect("id");
    app.state.jobs.wait(execution).await.expect("ended");
    let r = app
        .api(
            "GET",
            &format!("/replication/executions/{execution}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(r.body["status"], "Failed", "{}", r.text);
    assert_eq!(r.body["policy_id"], policy_id);
    assert_eq!(r.body["trigger"], "manual");
    assert!(
        r.body["status_text"]
            .as_str()
            .is_some_and(|t| t.contains("cannot be reached")),
        "{}",
        r.text
    );
    let r = app
        .api(
            "GET",
            &format!("/replication/executions?policy_id={policy_id}&status=Failed"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(r.body.as_array().map(Vec::len), Some(1), "{}", r.text);
    let r = app
        .api(
            "GET",
            "/replication/executions?status=Succeed",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(r.body.as_array().map(Vec::len), Some(0), "{}", r.text);

    // Retried by hand: the same execution runs again (and fails again: still down).
    let r = app
        .api(
            "POST",
            &format!("/replication/executions/{execution}/retry"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let e = app.state.jobs.execution(execution).await.expect("row");
    assert_eq!(e.status, "Pending");
    app.state.jobs.wait(execution).await.expect("ended");
    let r = app
        .api("GET", "/replication/executions", Some(ADMIN), None)
        .await;
    assert_eq!(
        r.body.as_array().map(Vec::len),
        Some(1),
        "no new execution: {}",
        r.text
    );
    assert_eq!(r.body[0]["status"], "Failed");

    // A stop of an ended execution is a conflict; a GC's id is not found here.
    let r = app
        .api(
            "PUT",
            &format!("/replication/executions/{execution}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    let gc = app
        .api(
            "POST",
            "/system/gc/schedule",
            Some(ADMIN),
            Some(json!({"schedule": {"type": "Manual"}, "parameters": {"dry_run": true}})),
        )
        .await;
    assert_eq!(gc.status, 201, "{}", gc.text);
    let gc_id = gc.headers["location"]
        .to_str()
        .expect("location")
        .rsplit('/')
        .next()
        .expect("id")
        .to_string();
    for path in [
        format!("/replication/executions/{gc_id}"),
        format!("/replication/executions/{gc_id}/tasks"),
    ] {
        let r = app.api("GET", &path, Some(ADMIN), None).await;
        assert_eq!(r.status, 404, "{path}: {}", r.text);
    }
    let r = app
        .api(
            "POST",
            &format!("/replication/executions/{gc_id}/retry"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);

    // The policy goes with its finished executions.
    let r = app
        .api(
            "DELETE",
            &format!("/replication/policies/{policy_id}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .api(
            "GET",
            &format!("/replication/executions/{execution}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    // Every step is in the audit log.
    app.state.audit.flush().await;
    let r = app
        .api("GET", "/audit-logs?page_size=100", Some(ADMIN), None)
        .await;
    for kind in ["registry", "replication-policy", "replication-execution"] {
        assert!(
            r.body
                .as_array()
                .is_some_and(|a| a.iter().any(|e| e["resource_type"] == kind)),
            "{kind} missing from {}",
            r.text
        );
    }
}
