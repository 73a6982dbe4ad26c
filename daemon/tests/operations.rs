//! What operators watch, in-process: request ids, the health check (real checks, errors only
//! for administrators), metrics and who may read them, and the free-space reserve.

mod common;

use axum::body::Body;
use axum::http::Request;
use serde_json::{json, Value};

use common::*;

async fn get(app: &App, path: &str, who: Option<(&str, &str)>, headers: &[(&str, &str)]) -> Reply {
    let mut req = Request::builder().method("GET").uri(path);
    if let Some((u, p)) = who {
        req = req.header("authorization", basic(u, p));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    app.send(req.body(Body::empty()).expect("request")).await
}

#[tokio::test]
async fn every_response_carries_a_request_id_the_client_may_choose() {
    let app = App::new().await;
    let r = get(&app, "/api/v2.0/ping", None, &[]).await;
    let made = r.headers["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(uuid_like(&made), "{made}");
    let r = get(&app, "/v2/", None, &[("x-request-id", "ci-run-42.step:7")]).await;
    assert_eq!(r.headers["x-request-id"], "ci-run-42.step:7");
    // Anything else is replaced, never echoed: no spaces, no quotes, no 200-character ids.
    for bad in ["two words", "quote\"d", &"x".repeat(200)] {
        let r = get(&app, "/api/v2.0/ping", None, &[("x-request-id", bad)]).await;
        let id = r.headers["x-request-id"].to_str().expect("ascii");
        assert!(uuid_like(id), "{bad:?} became {id:?}");
    }
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

fn component<'a>(health: &'a Value, name: &str) -> &'a Value {
    health["components"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no {name} in {health}"))
}

#[tokio::test]
async fn health_checks_for_real_and_tells_only_administrators_why() {
    let app = App::new().await;
    let r = app.api("GET", "/health", None, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "healthy");
    for name in ["core", "database", "storage", "jobservice"] {
        assert_eq!(component(&r.body, name)["status"], "healthy", "{}", r.text);
    }
    // The database write is real: the probe row holds the check's time.
    let checked: i64 = app
        .state
        .db
        .read(|c| Ok(c.query_row("SELECT checked_at FROM health_probe", [], |r| r.get(0))?))
        .await
        .expect("probe row");
    assert!(checked > 0);

    // A store that cannot be written: its upload directory replaced by a file.
    let uploads = app.data().join("uploads");
    std::fs::remove_dir_all(&uploads).expect("remove");
    std::fs::write(&uploads, b"not a directory").expect("file");
    // Anonymous callers get the last check (at most ten seconds old): still healthy.
    assert_eq!(app.api("GET", "/health", None, None).await.status, 200);
    // An administrator's check is fresh, and says why.
    let r = app.api("GET", "/health", Some(ADMIN), None).await;
    assert_eq!(r.status, 503);
    let error = component(&r.body, "storage")["error"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(error.contains("writing a file failed"), "{}", r.text);
    // Everyone else now sees which part is down, and not why.
    let r = app.api("GET", "/health", None, None).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.body["status"], "unhealthy");
    let storage = component(&r.body, "storage");
    assert_eq!(storage["status"], "unhealthy");
    assert!(
        storage.get("error").is_none(),
        "anonymous callers get no detail: {storage}"
    );
    app.user("plain").await;
    let r = app
        .api("GET", "/health", Some(("plain", PASSWORD)), None)
        .await;
    assert!(
        component(&r.body, "storage").get("error").is_none(),
        "{}",
        r.text
    );
    std::fs::remove_file(&uploads).expect("remove");
    std::fs::create_dir(&uploads).expect("dir");
    assert_eq!(
        app.api("GET", "/health", Some(ADMIN), None).await.status,
        200
    );

    // In LDAP mode, the directory is a component: here one that does not answer.
    let r = app
        .api(
            "PUT",
            "/configurations",
            Some(ADMIN),
            Some(
                json!({"auth_mode": "ldap_auth", "ldap_url": "ldap://127.0.0.1:1",
                        "ldap_base_dn": "dc=example,dc=com", "ldap_timeout": 1}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.api("GET", "/health", Some(ADMIN), None).await;
    assert_eq!(r.status, 503, "{}", r.text);
    let ldap = component(&r.body, "ldap");
    assert_eq!(ldap["status"], "unhealthy");
    assert!(
        ldap["error"].as_str().unwrap_or("").contains("connection"),
        "{ldap}"
    );
}

#[tokio::test]
async fn metrics_are_off_by_default() {
    let app = App::new().await;
    let r = get(&app, "/metrics", Some(ADMIN), &[]).await;
    assert_eq!(r.status, 404);
}

/// On the main listener, `/metrics` is the system entry `metrics:read`: administrators and
/// system robots granted it; nobody else.
#[tokio::test]
async fn metrics_on_the_main_listener_need_metrics_read() {
    let app = App::with(|c| c.metrics.enabled = true).await;
    app.project(ADMIN, "shop", false).await;
    app.user("plain").await;
    app.user("owner").await;
    let r = app
        .api(
            "POST",
            "/projects/shop/members",
            Some(ADMIN),
            Some(json!({"role_id": 1, "member_user": {"username": "owner"}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let robot = app
        .robot(
            ADMIN,
            "puller",
            "shop",
            &[("repository", "pull"), ("repository", "push")],
        )
        .await;
    assert_eq!(robot.status, 201, "{}", robot.text);
    let project_robot = (
        robot.body["name"].as_str().expect("name").to_string(),
        robot.body["secret"].as_str().expect("secret").to_string(),
    );
    let system_robot = |name: &str, access: Value| {
        json!({"name": name, "level": "system", "duration": -1,
               "permissions": [{"kind": "system", "namespace": "/", "access": access}]})
    };
    let r = app
        .api(
            "POST",
            "/robots",
            Some(ADMIN),
            Some(system_robot(
                "scraper",
                json!([{"resource": "metrics", "action": "read"}]),
            )),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let scraper = (
        r.body["name"].as_str().expect("name").to_string(),
        r.body["secret"].as_str().expect("secret").to_string(),
    );
    let r = app
        .api(
            "POST",
            "/robots",
            Some(ADMIN),
            Some(system_robot(
                "auditor",
                json!([{"resource": "audit-log", "action": "list"}]),
            )),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let auditor = (
        r.body["name"].as_str().expect("name").to_string(),
        r.body["secret"].as_str().expect("secret").to_string(),
    );
    for (who, creds, status) in [
        ("anonymous", None, 401),
        ("plain user", Some(("plain", PASSWORD)), 403),
        ("project admin", Some(("owner", PASSWORD)), 403),
        (
            "project robot",
            Some((project_robot.0.as_str(), project_robot.1.as_str())),
            403,
        ),
        (
            "system robot without the grant",
            Some((auditor.0.as_str(), auditor.1.as_str())),
            403,
        ),
        (
            "system robot granted metrics:read",
            Some((scraper.0.as_str(), scraper.1.as_str())),
            200,
        ),
        ("admin", Some(ADMIN), 200),
    ] {
        let r = get(&app, "/metrics", creds, &[]).await;
        assert_eq!(r.status.as_u16(), status, "{who}: {}", r.text);
        if status != 200 {
            assert!(!r.text.contains("harbor_"), "{who} saw metrics");
        }
    }

    // What was counted and what is read at the scrape.
    let token = app.token(ADMIN, "shop/app").await;
    app.image("shop/app", &token, "v1", "first").await;
    let r = app
        .v2("GET", "shop/app/manifests/v1", &token, vec![], None)
        .await;
    assert_eq!(r.status, 200);
    let r = get(&app, "/metrics", Some(ADMIN), &[]).await;
    assert_eq!(
        r.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    for needle in [
        "harbor_project_total{public=\"false\"} 1",
        "harbor_project_total{public=\"true\"} 1",
        "harbor_project_repo_total{project_name=\"shop\",public=\"false\"} 1",
        "harbor_project_member_total{project_name=\"shop\"}",
        "harbor_project_quota_usage_byte{project_name=\"shop\"}",
        "harbor_artifact_pulled{project_name=\"shop\"}",
        "harbor_core_http_request_total{code=\"201\",method=\"PUT\",operation=\"registry:manifest:put\"} 1",
        "harbor_core_http_request_total{code=\"200\",method=\"GET\",operation=\"registry:manifest:get\"} 1",
        "harbor_core_http_request_duration_seconds_bucket{method=\"POST\",operation=\"/api/v2.0/projects/{project_name_or_id}/members\"",
        "harbor_up{component=\"database\"} 1",
        "harbor_health 1",
        "berth_upload_sessions_open 0",
        "berth_storage_bytes{kind=\"volume_free\"}",
        "berth_database_bytes",
        "process_resident_memory_bytes",
    ] {
        assert!(r.text.contains(needle), "{needle} missing from:\n{}", r.text);
    }
    let received = r
        .text
        .lines()
        .find_map(|l| l.strip_prefix("berth_blob_bytes_total{direction=\"received\"} "))
        .and_then(|v| v.parse::<u64>().ok())
        .expect("received bytes");
    assert!(received > 0, "uploads are counted");
    // Labels come from a bounded set: a path of the client's choosing is not one.
    get(&app, "/no/such/thing/at-all", None, &[]).await;
    let r = get(&app, "/metrics", Some(ADMIN), &[]).await;
    assert!(!r.text.contains("at-all"), "a client minted a label");
}

/// Below the free-space reserve, pushes are refused with `DENIED` saying why; pulls go on.
#[tokio::test]
async fn below_the_reserve_pushes_are_refused_and_pulls_go_on() {
    // A reserve larger than any disk: every push is below it.
    let app = App::with(|c| c.storage.free_space_reserve_mib = 1 << 40).await;
    app.project(ADMIN, "p", false).await;
    let token = app.token(ADMIN, "p/app").await;
    let r = app
        .v2("POST", "p/app/blobs/uploads/", &token, vec![], None)
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.body["errors"][0]["code"], "DENIED");
    assert!(
        r.body["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("disk is nearly full"),
        "{}",
        r.text
    );
    let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(b"{}"), "size": 2},
        "layers": []});
    let r = app
        .v2(
            "PUT",
            "p/app/manifests/v1",
            &token,
            manifest.to_string().into_bytes(),
            Some("application/vnd.oci.image.manifest.v1+json"),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.body["errors"][0]["code"], "DENIED");
    // Reading goes on.
    let r = app.v2("GET", "p/app/tags/list", &token, vec![], None).await;
    assert_ne!(r.status, 403, "{}", r.text);
    let r = app.api("GET", "/health", Some(ADMIN), None).await;
    let storage = component(&r.body, "storage");
    assert!(
        storage["error"]
            .as_str()
            .unwrap_or("")
            .contains("below the reserve"),
        "{storage}"
    );
}
