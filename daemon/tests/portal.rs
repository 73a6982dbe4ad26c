//! The portal's refusals, in process: every page that changes something, tried by every role
//! that must not use it (and by anonymous callers, without the CSRF token, from another
//! origin), changes nothing; the weakest role that may use it does change something. What
//! exists is compared through the REST API before and after each attempt.

mod common;

use axum::body::Body;
use axum::http::Request;
use serde_json::{json, Value};

use common::{App, Reply, ADMIN};

/// A form's fields.
type Form<'a> = Vec<(&'a str, &'a str)>;

struct Session {
    cookie: String,
    csrf: String,
}

impl App {
    fn session(&self, user_id: i64) -> Session {
        let (sid, csrf) = self.state.sessions.create(user_id);
        Session {
            cookie: format!("sid={sid}"),
            csrf,
        }
    }

    async fn page(&self, path: &str, who: Option<&Session>) -> Reply {
        let mut req = Request::builder().uri(path);
        if let Some(s) = who {
            req = req.header("cookie", &s.cookie);
        }
        self.send(req.body(Body::empty()).expect("request")).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)], who: Option<&Session>) -> Reply {
        let mut pairs: Vec<(String, String)> = form
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut req = Request::builder()
            .method("POST")
            .uri(path)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("host", "berth.test");
        if let Some(s) = who {
            req = req.header("cookie", &s.cookie);
            pairs.push(("csrf".into(), s.csrf.clone()));
        }
        let body = serde_urlencoded::to_string(&pairs).expect("form");
        self.send(req.body(Body::from(body)).expect("request"))
            .await
    }

    /// Everything a portal change could touch, as the REST API shows it to an admin.
    async fn world(&self) -> Value {
        let mut world = serde_json::Map::new();
        for path in [
            "/projects?page_size=100",
            "/projects/p/members",
            "/projects/p/repositories",
            "/projects/p/repositories/app/artifacts?with_tag=true",
            "/robots?q=Level=project",
            "/users?page_size=100",
            "/system/gc",
            "/system/gc/schedule",
            "/registries",
            "/replication/policies",
            "/replication/executions",
            "/projects/p/immutabletagrules",
            "/retentions/1",
            "/retentions/1/executions",
            "/quotas",
        ] {
            let r = self.api("GET", path, Some(ADMIN), None).await;
            let mut body = r.body;
            // Times that move by themselves are not changes.
            strip(
                &mut body,
                &[
                    "update_time",
                    "pull_time",
                    "current_time",
                    "next_scheduled_time",
                ],
            );
            world.insert(path.to_string(), body);
        }
        Value::Object(world)
    }
}

fn strip(v: &mut Value, keys: &[&str]) {
    match v {
        Value::Object(map) => {
            for k in keys {
                map.remove(*k);
            }
            for child in map.values_mut() {
                strip(child, keys);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|c| strip(c, keys)),
        _ => {}
    }
}

/// The id at the end of a 201's `Location`.
fn location_id(r: &Reply) -> String {
    r.headers["location"]
        .to_str()
        .expect("location")
        .rsplit('/')
        .next()
        .expect("id")
        .to_string()
}

async fn member(app: &App, user: &str, role_id: i64) -> i64 {
    let id = app.user(user).await;
    let r = app
        .api(
            "POST",
            "/projects/p/members",
            Some(ADMIN),
            Some(json!({"role_id": role_id, "member_user": {"username": user}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_portal_change_is_refused_to_whoever_may_not_make_it() {
    let app = App::new().await;
    app.project(ADMIN, "p", false).await;
    let token = app.token(ADMIN, "p/app").await;
    let (digest, _) = app.image("p/app", &token, "v1", "portal").await;
    let guest_id = member(&app, "guest", 3).await;
    // Weakest first, so "the roles below X" is a prefix.
    let mut users = vec![("outsider", app.user("outsider").await)];
    users.push(("limited", member(&app, "limited", 5).await));
    users.push(("guest", guest_id));
    users.push(("developer", member(&app, "developer", 2).await));
    users.push(("maintainer", member(&app, "maintainer", 4).await));
    users.push(("owner", member(&app, "owner", 1).await));
    let robot = app.robot(ADMIN, "ci", "p", &[("repository", "pull")]).await;
    let robot_id = robot.body["id"].as_i64().expect("robot id");
    let members = app
        .api("GET", "/projects/p/members", Some(ADMIN), None)
        .await;
    let guest_member = members.body.as_array().and_then(|ms| {
        ms.iter()
            .find(|m| m["entity_name"] == "guest")
            .and_then(|m| m["id"].as_i64())
    });
    let guest_member = guest_member.expect("guest's membership").to_string();
    let gc = app
        .api(
            "POST",
            "/system/gc/schedule",
            Some(ADMIN),
            Some(json!({"schedule": {"type": "Manual"}, "parameters": {"dry_run": true}})),
        )
        .await;
    assert_eq!(gc.status, 201, "{}", gc.text);
    // An endpoint nothing answers at, a policy towards it, and its (failed) execution.
    let r = app
        .api(
            "POST",
            "/registries",
            Some(ADMIN),
            Some(json!({"name": "far", "type": "harbor", "url": "http://127.0.0.1:9"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let registry_id = location_id(&r);
    let r = app
        .api(
            "POST",
            "/replication/policies",
            Some(ADMIN),
            Some(
                json!({"name": "out", "dest_registry": {"id": registry_id.parse::<i64>().expect("id")}}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let policy_id = location_id(&r);
    let r = app
        .api(
            "POST",
            "/replication/executions",
            Some(ADMIN),
            Some(json!({"policy_id": policy_id.parse::<i64>().expect("id")})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let execution_id = location_id(&r);
    // Waiting runs the job runner's rounds, which start the GC run too: both end before the
    // world is looked at, so nothing moves by itself after.
    for id in [execution_id.as_str(), location_id(&gc).as_str()] {
        app.state
            .jobs
            .wait(id.parse().expect("id"))
            .await
            .expect("ended");
    }

    // A retention policy (id 1) and an immutability rule that protects nothing here.
    let selectors = json!({
        "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "zzz-*"}],
        "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]},
    });
    let mut rule = selectors.clone();
    rule["template"] = json!("always");
    let pid = app.api("GET", "/projects/p", Some(ADMIN), None).await.body["project_id"].clone();
    let r = app
        .api(
            "POST",
            "/retentions",
            Some(ADMIN),
            Some(json!({"rules": [rule], "scope": {"level": "project", "ref": pid}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(location_id(&r), "1");
    let r = app
        .api(
            "POST",
            "/projects/p/immutabletagrules",
            Some(ADMIN),
            Some(selectors),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let immutable_rule = location_id(&r);
    let r = app
        .api(
            "POST",
            "/retentions/1/executions",
            Some(ADMIN),
            Some(json!({"dry_run": true})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let retention_run = location_id(&r);
    app.state
        .jobs
        .wait(retention_run.parse().expect("id"))
        .await
        .expect("ended");
    let retention_page = format!("/projects/p/policy/retention/{retention_run}");
    let quota_id = app
        .api("GET", "/quotas?reference_id=2", Some(ADMIN), None)
        .await
        .body[0]["id"]
        .to_string();

    let artifact = format!("/projects/p/repositories/app/-/{digest}");
    let robot_base = format!("/projects/p/robots/{robot_id}");
    // (path, form, how many of `users` (weakest first) may not do it)
    let project_changes: Vec<(String, Form, usize)> = vec![
        ("/projects/p/delete".into(), vec![], 5),
        ("/projects/p/repositories/app/-/delete".into(), vec![], 4),
        (format!("{artifact}/delete"), vec![], 4),
        (format!("{artifact}/tags"), vec![("tag", "new")], 3),
        (format!("{artifact}/tags/v1/delete"), vec![], 4),
        (
            "/projects/p/members".into(),
            vec![("name", "outsider"), ("kind", "user"), ("role_id", "1")],
            5,
        ),
        (
            format!("/projects/p/members/{guest_member}/role"),
            vec![("role_id", "1")],
            5,
        ),
        (
            format!("/projects/p/members/{guest_member}/remove"),
            vec![],
            5,
        ),
        (
            "/projects/p/robots".into(),
            vec![("name", "evil"), ("permission", "repository:pull")],
            5,
        ),
        (format!("{robot_base}/refresh"), vec![], 5),
        (format!("{robot_base}/toggle"), vec![], 5),
        (format!("{robot_base}/delete"), vec![], 5),
        (
            "/projects/p/policy/retention/rules".into(),
            vec![("template", "always"), ("tag_pattern", "**")],
            4,
        ),
        (
            "/projects/p/policy/retention/rules/1/delete".into(),
            vec![],
            4,
        ),
        (
            "/projects/p/policy/retention/schedule".into(),
            vec![("cron", "0 0 3 * * *")],
            4,
        ),
        (
            "/projects/p/policy/retention/run".into(),
            vec![("dry_run", "true")],
            4,
        ),
        (
            "/projects/p/policy/immutable".into(),
            vec![("tag_pattern", "v*")],
            4,
        ),
        (
            format!("/projects/p/policy/immutable/{immutable_rule}/toggle"),
            vec![],
            4,
        ),
        (
            format!("/projects/p/policy/immutable/{immutable_rule}/delete"),
            vec![],
            4,
        ),
    ];
    let guest_admin = format!("/admin/users/{guest_id}/admin");
    let system_changes: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            "/admin/users".into(),
            vec![
                ("username", "mallory"),
                ("email", "m@example.com"),
                ("password", "Passw0rdX"),
            ],
        ),
        (guest_admin.clone(), vec![("admin", "true")]),
        (format!("/admin/users/{guest_id}/delete"), vec![]),
        ("/admin/gc".into(), vec![]),
        ("/admin/gc/schedule".into(), vec![("kind", "Hourly")]),
        ("/admin/groups/1/delete".into(), vec![]),
        (
            "/admin/registries".into(),
            vec![
                ("name", "evil"),
                ("kind", "harbor"),
                ("url", "http://127.0.0.1:9"),
            ],
        ),
        (format!("/admin/registries/{registry_id}/test"), vec![]),
        (format!("/admin/registries/{registry_id}/delete"), vec![]),
        (
            "/admin/replications".into(),
            vec![("name", "evil"), ("endpoint", registry_id.as_str())],
        ),
        (format!("/admin/replications/{policy_id}/run"), vec![]),
        (
            format!("/admin/quotas/{quota_id}"),
            vec![("amount", "1"), ("unit", "GiB")],
        ),
        (format!("/admin/replications/{policy_id}/delete"), vec![]),
        (
            format!("/admin/replications/executions/{execution_id}/stop"),
            vec![],
        ),
        (
            format!("/admin/replications/executions/{execution_id}/retry"),
            vec![],
        ),
    ];

    let before = app.world().await;
    // The snapshot sees what the changes would touch.
    assert_eq!(
        before["/robots?q=Level=project"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(
        before["/projects/p/members"].as_array().map(Vec::len),
        Some(6)
    );
    assert_eq!(
        before["/projects/p/repositories/app/artifacts?with_tag=true"][0]["tags"][0]["name"],
        "v1"
    );
    assert_eq!(before["/system/gc"].as_array().map(Vec::len), Some(1));
    let sessions: Vec<(&str, Session)> =
        users.iter().map(|(n, id)| (*n, app.session(*id))).collect();
    for (path, form, refused) in &project_changes {
        for (name, session) in &sessions[..*refused] {
            let r = app.post(path, form, Some(session)).await;
            assert!(
                r.status.is_redirection() || r.status.is_client_error(),
                "{name} {path}: {}",
                r.status
            );
            assert_eq!(
                app.world().await,
                before,
                "{name} changed something with {path}"
            );
        }
        let r = app.post(path, form, None).await;
        assert_eq!(r.status, 303, "anonymous {path}");
        assert!(r.headers["location"]
            .to_str()
            .unwrap_or("")
            .starts_with("/account/sign-in"));
        assert_eq!(
            app.world().await,
            before,
            "anonymous changed something with {path}"
        );
    }
    for (path, form) in &system_changes {
        for (name, session) in &sessions {
            let r = app.post(path, form, Some(session)).await;
            assert!(
                r.status.is_redirection() || r.status.is_client_error(),
                "{name} {path}: {}",
                r.status
            );
            assert_eq!(
                app.world().await,
                before,
                "{name} changed something with {path}"
            );
        }
    }
    // A stolen cookie without the form's token, or a form posted from another site, does nothing.
    let admin = app.session(1);
    let no_token = Session {
        cookie: admin.cookie.clone(),
        csrf: "0".repeat(64),
    };
    let r = app
        .post(&guest_admin, &[("admin", "true")], Some(&no_token))
        .await;
    assert_eq!(r.status, 403);
    let req = Request::builder()
        .method("POST")
        .uri(&guest_admin)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("host", "berth.test")
        .header("origin", "https://evil.example")
        .header("cookie", &admin.cookie)
        .body(Body::from(format!("admin=true&csrf={}", admin.csrf)))
        .expect("request");
    assert_eq!(app.send(req).await.status, 403);
    assert_eq!(app.world().await, before, "nothing changed");

    // Pages that only show things are refused the same way.
    for (path, allowed_from) in [
        ("/projects/p/logs", 5),
        ("/projects/p/robots", 2),
        ("/projects/p/members", 2),
        ("/projects/p/summary", 1),
        ("/projects/p/policy", 3),
        (retention_page.as_str(), 3),
        (artifact.as_str(), 1),
    ] {
        for (name, session) in &sessions[..allowed_from] {
            let r = app.page(path, Some(session)).await;
            assert!(
                matches!(r.status.as_u16(), 403 | 404),
                "{name} reads {path}: {}",
                r.status
            );
        }
        let (name, session) = &sessions[allowed_from];
        let r = app.page(path, Some(session)).await;
        assert_eq!(r.status, 200, "{name} reads {path}");
    }
    let execution_page = format!("/admin/replications/executions/{execution_id}");
    let progress_page = format!("{execution_page}/progress");
    for path in [
        "/admin/gc",
        "/admin/users",
        "/admin/groups",
        "/admin/logs",
        "/admin/gc/1",
        "/admin/registries",
        "/admin/replications",
        "/admin/quotas",
        execution_page.as_str(),
        progress_page.as_str(),
    ] {
        for (name, session) in &sessions {
            let r = app.page(path, Some(session)).await;
            assert_eq!(r.status, 403, "{name} reads {path}");
        }
        let r = app.page(path, Some(&admin)).await;
        assert_eq!(r.status, 200, "admin reads {path}: {}", r.text);
    }

    // Limited guests read the project, not who is in it nor how busy it is.
    let summary = app.page("/projects/p/summary", Some(&sessions[1].1)).await;
    assert_eq!(summary.status, 200);
    assert!(!summary.text.contains("Project Admin:"), "no member counts");
    assert!(
        !summary.text.contains("Pushes and pulls per day"),
        "no activity"
    );
    let summary = app.page("/projects/p/summary", Some(&sessions[2].1)).await;
    assert!(
        summary.text.contains("Project Admin:"),
        "guests list members"
    );
    // A tag confirmation cannot be made to post elsewhere.
    for path in [
        "/projects/..%2F..%2Fadmin%2Fusers%2F2%2Fdelete%3F/repositories/x/-/sha256:0/tags/v1/delete".to_string(),
        format!("/projects/p/repositories/app/-/{digest}/tags/nosuchtag/delete"),
    ] {
        let r = app.page(&path, Some(&admin)).await;
        assert_eq!(r.status, 404, "{path}: {} {}", r.status, r.text);
        assert!(!r.text.contains("action=\"/admin/users/2/delete"), "{path}");
        assert!(!r.text.contains("action=\"/projects/.."), "{path}");
    }

    // The weakest role that may make each change does change something.
    let owner = &sessions[5].1;
    let developer = &sessions[3].1;
    let maintainer = &sessions[4].1;
    for (path, form, who) in [
        (format!("{artifact}/tags"), vec![("tag", "new")], developer),
        (format!("{artifact}/tags/v1/delete"), vec![], maintainer),
        (format!("{robot_base}/toggle"), vec![], owner),
        (
            format!("/projects/p/members/{guest_member}/role"),
            vec![("role_id", "2")],
            owner,
        ),
        // Last: an immutable v* would refuse the tag deletion above.
        (
            "/projects/p/policy/retention/run".to_string(),
            vec![("dry_run", "true")],
            maintainer,
        ),
        (
            "/projects/p/policy/immutable".to_string(),
            vec![("tag_pattern", "v*")],
            maintainer,
        ),
    ] {
        let now = app.world().await;
        let r = app.post(&path, &form, Some(who)).await;
        assert_eq!(r.status, 303, "{path}");
        assert_ne!(app.world().await, now, "{path} changed something");
    }
    let r = app
        .post(&guest_admin, &[("admin", "true")], Some(&admin))
        .await;
    assert_eq!(r.status, 303);
    let guest = app
        .api("GET", &format!("/users/{guest_id}"), Some(ADMIN), None)
        .await;
    assert_eq!(
        guest.body["sysadmin_flag"], true,
        "the admin made guest an admin"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_carry_their_security_headers_and_sessions_end() {
    let app = App::new().await;
    let r = app.page("/account/sign-in", None).await;
    assert_eq!(r.status, 200);
    let csp = r.headers["content-security-policy"].to_str().unwrap_or("");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(r.headers["x-content-type-options"], "nosniff");
    assert!(!r.text.contains("<script>"), "no inline script");
    // A session that is gone sends the browser to sign in, saying why, and back afterwards.
    let r = app
        .page(
            "/projects/library/summary",
            Some(&Session {
                cookie: "sid=gone".into(),
                csrf: String::new(),
            }),
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(
        r.headers["location"],
        "/account/sign-in?next=%2Fprojects%2Flibrary%2Fsummary&expired=1"
    );
    // The sign-in form never sends anyone to another site afterwards.
    let r = app
        .post(
            "/account/sign-in",
            &[
                ("principal", ADMIN.0),
                ("password", ADMIN.1),
                ("next", "//evil.example/"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(r.headers["location"], "/projects");
    // Assets are cached by digest; an unknown name is not found.
    let page = app.page("/account/sign-in", None).await;
    let css = page
        .text
        .split("href=\"/static/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("style sheet");
    let r = app.page(&format!("/static/{css}"), None).await;
    assert_eq!(r.status, 200);
    assert!(r.headers["cache-control"]
        .to_str()
        .unwrap_or("")
        .contains("immutable"));
    assert_eq!(
        app.page("/static/portal.000000000000.css", None)
            .await
            .status,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_shows_its_platforms_and_a_subject_its_referrers() {
    let app = App::new().await;
    let token = app.token(ADMIN, "library/multi").await;
    let (amd64, _) = app.image("library/multi", &token, "amd64", "amd").await;
    let (arm64, _) = app.image("library/multi", &token, "arm64", "arm").await;
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd64, "size": 1,
             "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": arm64, "size": 1,
             "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        ],
    })
    .to_string();
    let r = app
        .v2(
            "PUT",
            "library/multi/manifests/v1",
            &token,
            index.clone().into_bytes(),
            Some("application/vnd.oci.image.index.v1+json"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let index_digest = common::sha256(index.as_bytes());
    let empty = app.blob("library/multi", &token, b"{}").await;
    let sbom_layer = app.blob("library/multi", &token, b"an sbom").await;
    let sbom = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/spdx+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": "application/spdx+json", "digest": sbom_layer, "size": 7}],
        "subject": {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": index_digest, "size": index.len()},
    })
    .to_string();
    let sbom_digest = common::sha256(sbom.as_bytes());
    let r = app
        .v2(
            "PUT",
            &format!("library/multi/manifests/{sbom_digest}"),
            &token,
            sbom.into_bytes(),
            Some("application/vnd.oci.image.manifest.v1+json"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    let admin = app.session(1);
    let page = app
        .page(
            &format!("/projects/library/repositories/multi/-/{index_digest}"),
            Some(&admin),
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains("linux/amd64") && page.text.contains("linux/arm64/v8"));
    assert!(page
        .text
        .contains(&format!("/projects/library/repositories/multi/-/{amd64}")));
    assert!(
        page.text.contains("application/spdx+json"),
        "the SBOM is listed"
    );
    assert!(page.text.contains(&sbom_digest));
    // The SBOM's page says what it is attached to.
    let page = app
        .page(
            &format!("/projects/library/repositories/multi/-/{sbom_digest}"),
            Some(&admin),
        )
        .await;
    assert!(page.text.contains("Attached to") && page.text.contains(&index_digest));
    // In the list, the tagged index stands for its platforms.
    let list = app
        .page("/projects/library/repositories/multi", Some(&admin))
        .await;
    assert!(list.text.contains("2 platforms"), "{}", list.text);
    // A non-empty project cannot be deleted, and the page says why before anyone tries.
    let confirm = app.page("/projects/library/delete", Some(&admin)).await;
    assert!(
        confirm.text.contains("still holds one repository"),
        "{}",
        confirm.text
    );
    let r = app
        .post("/projects/library/delete", &[], Some(&admin))
        .await;
    assert_eq!(r.status, 303);
    let summary = app.page("/projects/library/summary", Some(&admin)).await;
    assert!(
        summary.text.contains("still holds 1 repositories"),
        "{}",
        summary.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_ends_the_other_sessions() {
    let app = App::new().await;
    let id = app.user("carol").await;
    let here = app.session(id);
    let elsewhere = app.session(id);
    let r = app
        .post(
            "/account/password",
            &[
                ("old_password", common::PASSWORD),
                ("new_password", "Changed1234"),
                ("new_password2", "Changed1234"),
            ],
            Some(&here),
        )
        .await;
    assert_eq!(r.status, 303);
    let page = app.page("/account/profile", Some(&here)).await;
    assert!(
        page.text.contains("Your password was changed."),
        "{}",
        page.text
    );
    let gone = app.page("/account/profile", Some(&elsewhere)).await;
    assert_eq!(gone.status, 303, "the other session ended");
}
