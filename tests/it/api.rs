//! The Harbor-compatible REST API against a running berthd: users, projects, members, paging,
//! `q`, and bad input that must change nothing.

use reqwest::blocking::Response;
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{http, Berthd, ADMIN_PASSWORD};

const PASSWORD: &str = "Passw0rdOK";

/// A REST client signed in as one user (or anonymous).
struct Api<'a> {
    berthd: &'a Berthd,
    creds: Option<(String, String)>,
}

impl<'a> Api<'a> {
    fn admin(berthd: &'a Berthd) -> Api<'a> {
        Api {
            berthd,
            creds: Some(("admin".into(), ADMIN_PASSWORD.into())),
        }
    }

    fn as_user(berthd: &'a Berthd, user: &str) -> Api<'a> {
        Api {
            berthd,
            creds: Some((user.into(), PASSWORD.into())),
        }
    }

    fn anonymous(berthd: &'a Berthd) -> Api<'a> {
        Api {
            berthd,
            creds: None,
        }
    }

    fn call(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        let mut r = http().request(method, format!("{}/api/v2.0{path}", self.berthd.url()));
        if let Some((u, p)) = &self.creds {
            r = r.basic_auth(u, Some(p));
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().expect("request")
    }

    fn status(&self, method: Method, path: &str, body: Option<Value>) -> u16 {
        self.call(method, path, body).status().as_u16()
    }

    fn json(&self, path: &str) -> Value {
        let r = self.call(Method::GET, path, None);
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().expect("json")
    }

    fn create_user(&self, name: &str) -> i64 {
        let r = self.call(
            Method::POST,
            "/users",
            Some(json!({"username": name, "email": format!("{name}@example.com"), "password": PASSWORD, "realname": name})),
        );
        assert_eq!(r.status(), 201, "create user {name}: {:?}", r.text());
        let location = r.headers()["location"]
            .to_str()
            .expect("location")
            .to_string();
        location
            .rsplit('/')
            .next()
            .and_then(|id| id.parse().ok())
            .expect("user id")
    }
}

#[test]
fn users_lifecycle_and_rules() {
    let berthd = Berthd::start();
    let admin = Api::admin(&berthd);
    let alice = admin.create_user("alice");
    let bob = admin.create_user("bob");

    // Harbor's password rule and the uniqueness rules: a clear 400 or 409, nothing created.
    for bad in ["short1A", "nouppercase1", "NOLOWERCASE1", "NoDigitsAtAll"] {
        let r = admin.call(
            Method::POST,
            "/users",
            Some(json!({"username": "carol", "email": "c@example.com", "password": bad})),
        );
        assert_eq!(r.status(), 400, "{bad}");
        let body: Value = r.json().expect("json");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap_or("")
                .contains("password"),
            "{body}"
        );
    }
    assert_eq!(
        admin.status(
            Method::POST,
            "/users",
            Some(json!({"username": "alice", "email": "x@example.com", "password": PASSWORD}))
        ),
        409
    );
    assert_eq!(
        admin.status(
            Method::POST,
            "/users",
            Some(json!({"username": "carol", "email": "alice@example.com", "password": PASSWORD}))
        ),
        409
    );
    assert_eq!(
        admin.status(
            Method::POST,
            "/users",
            Some(json!({"username": "robot$x", "email": "r@example.com", "password": PASSWORD}))
        ),
        400
    );
    assert_eq!(
        admin.status(
            Method::POST,
            "/users",
            Some(json!({"username": "carol", "email": "not-an-email", "password": PASSWORD}))
        ),
        400
    );
    assert_eq!(admin.status(Method::POST, "/users", Some(json!({"username": "carol", "email": "c@example.com", "password": PASSWORD, "extra": 1}))), 400);
    assert_eq!(
        admin
            .json("/users?q=username%3Dcarol")
            .as_array()
            .map(Vec::len),
        Some(0),
        "a refused user was created"
    );

    // Self-registration is off by default; a signed-in non-admin cannot create users either.
    assert_eq!(
        Api::anonymous(&berthd).status(
            Method::POST,
            "/users",
            Some(json!({"username": "eve", "email": "e@example.com", "password": PASSWORD}))
        ),
        401
    );
    assert_eq!(
        Api::as_user(&berthd, "alice").status(
            Method::POST,
            "/users",
            Some(json!({"username": "eve", "email": "e@example.com", "password": PASSWORD}))
        ),
        403
    );

    // Reading: admin everyone, a user only themselves.
    let a = Api::as_user(&berthd, "alice");
    assert_eq!(a.json("/users/current")["username"], "alice");
    assert_eq!(a.status(Method::GET, &format!("/users/{bob}"), None), 403);
    assert_eq!(a.status(Method::GET, "/users", None), 403);
    assert_eq!(
        admin.json(&format!("/users/{alice}"))["email"],
        "alice@example.com"
    );
    assert_eq!(a.json("/users/search?username=bo")[0]["username"], "bob");

    // Profile, password (old one required for oneself), sysadmin flag.
    assert_eq!(
        a.status(
            Method::PUT,
            &format!("/users/{alice}"),
            Some(json!({"realname": "Alice A."}))
        ),
        200
    );
    assert_eq!(
        admin.json(&format!("/users/{alice}"))["realname"],
        "Alice A."
    );
    assert_eq!(
        a.status(
            Method::PUT,
            &format!("/users/{alice}/password"),
            Some(json!({"old_password": "Wrong123x", "new_password": "NewPassw0rd"}))
        ),
        403
    );
    assert_eq!(
        a.status(
            Method::PUT,
            &format!("/users/{alice}/password"),
            Some(json!({"new_password": "NewPassw0rd"}))
        ),
        403
    );
    assert_eq!(
        a.status(
            Method::PUT,
            &format!("/users/{alice}/password"),
            Some(json!({"old_password": PASSWORD, "new_password": "weak"}))
        ),
        400
    );
    assert_eq!(
        a.status(
            Method::PUT,
            &format!("/users/{alice}/password"),
            Some(json!({"old_password": PASSWORD, "new_password": "NewPassw0rd"}))
        ),
        200
    );
    assert_eq!(
        a.status(Method::GET, "/users/current", None),
        401,
        "the old password still works"
    );
    let a2 = Api {
        berthd: &berthd,
        creds: Some(("alice".into(), "NewPassw0rd".into())),
    };
    assert_eq!(a2.json("/users/current")["sysadmin_flag"], false);
    assert_eq!(
        a2.status(
            Method::PUT,
            &format!("/users/{bob}/sysadmin"),
            Some(json!({"sysadmin_flag": true}))
        ),
        403
    );
    assert_eq!(
        admin.status(
            Method::PUT,
            &format!("/users/{alice}/sysadmin"),
            Some(json!({"sysadmin_flag": true}))
        ),
        200
    );
    assert_eq!(a2.json("/users/current")["sysadmin_flag"], true);
    assert_eq!(
        a2.status(
            Method::PUT,
            "/users/1/sysadmin",
            Some(json!({"sysadmin_flag": false}))
        ),
        403,
        "admin demoted"
    );

    // Delete: not oneself, not the built-in admin.
    assert_eq!(admin.status(Method::DELETE, "/users/1", None), 403);
    assert_eq!(
        admin.status(Method::DELETE, &format!("/users/{bob}"), None),
        200
    );
    assert_eq!(
        admin.status(Method::GET, &format!("/users/{bob}"), None),
        404
    );
    assert_eq!(
        Api::as_user(&berthd, "bob").status(Method::GET, "/users/current", None),
        401
    );
    assert_eq!(admin.status(Method::GET, "/users/abc", None), 400);
}

#[test]
fn projects_members_and_visibility() {
    let berthd = Berthd::start();
    let admin = Api::admin(&berthd);
    admin.create_user("dev");
    admin.create_user("outsider");
    // Everyone may create projects by default; the creator becomes its project admin.
    let dev = Api::as_user(&berthd, "dev");
    assert_eq!(
        dev.status(
            Method::POST,
            "/projects",
            Some(json!({"project_name": "devteam", "metadata": {"public": "false"}}))
        ),
        201
    );
    let p = dev.json("/projects/devteam");
    assert_eq!(p["owner_name"], "dev");
    assert_eq!(p["current_user_role_id"], 1);
    assert_eq!(p["metadata"]["public"], "false");

    // Visibility: outsiders and anonymous do not see the private project.
    let outsider = Api::as_user(&berthd, "outsider");
    assert_eq!(outsider.status(Method::GET, "/projects/devteam", None), 404);
    assert_eq!(
        Api::anonymous(&berthd).status(Method::GET, "/projects/devteam", None),
        401
    );
    let names = |v: Value| -> Vec<String> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|p| p["name"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(names(outsider.json("/projects")), vec!["library"]);
    assert_eq!(
        names(Api::anonymous(&berthd).json("/projects")),
        vec!["library"]
    );
    assert_eq!(names(dev.json("/projects")), vec!["devteam", "library"]);
    assert_eq!(names(admin.json("/projects?name=dev")), vec!["devteam"]);
    assert_eq!(names(admin.json("/projects?public=true")), vec!["library"]);
    assert_eq!(
        names(admin.json("/projects?q=name%3D~team")),
        vec!["devteam"]
    );

    // Members: the project admin adds a guest; the guest can list members, not add them.
    let r = dev.call(
        Method::POST,
        "/projects/devteam/members",
        Some(json!({"role_id": 3, "member_user": {"username": "outsider"}})),
    );
    assert_eq!(r.status(), 201, "{:?}", r.text());
    let location = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    let mid = location.rsplit('/').next().expect("mid").to_string();
    assert_eq!(
        dev.status(
            Method::POST,
            "/projects/devteam/members",
            Some(json!({"role_id": 3, "member_user": {"username": "outsider"}}))
        ),
        409
    );
    assert_eq!(
        dev.status(
            Method::POST,
            "/projects/devteam/members",
            Some(json!({"role_id": 9, "member_user": {"username": "admin"}}))
        ),
        400
    );
    assert_eq!(
        dev.status(
            Method::POST,
            "/projects/devteam/members",
            Some(json!({"role_id": 2, "member_user": {"username": "ghost"}}))
        ),
        404
    );
    let members = outsider.json("/projects/devteam/members");
    assert_eq!(members.as_array().map(Vec::len), Some(2));
    assert_eq!(
        outsider.status(
            Method::POST,
            "/projects/devteam/members",
            Some(json!({"role_id": 2, "member_user": {"username": "admin"}}))
        ),
        403
    );
    assert_eq!(
        outsider.json(&format!("/projects/devteam/members/{mid}"))["role_name"],
        "guest"
    );
    // Now visible to the guest, and the role shows.
    assert_eq!(
        outsider.json("/projects/devteam")["current_user_role_id"],
        3
    );
    // Limited guest: cannot list members.
    assert_eq!(
        dev.status(
            Method::PUT,
            &format!("/projects/devteam/members/{mid}"),
            Some(json!({"role_id": 5}))
        ),
        200
    );
    assert_eq!(
        outsider.status(Method::GET, "/projects/devteam/members", None),
        403
    );
    // A project admin cannot change their own membership.
    let own = dev.json("/projects/devteam/members?entityname=dev")[0]["id"]
        .as_i64()
        .expect("own id");
    assert_eq!(
        dev.status(
            Method::DELETE,
            &format!("/projects/devteam/members/{own}"),
            None
        ),
        403
    );

    // Update: only the project admin flips visibility.
    assert_eq!(
        outsider.status(
            Method::PUT,
            "/projects/devteam",
            Some(json!({"metadata": {"public": "true"}}))
        ),
        403
    );
    assert_eq!(
        dev.status(
            Method::PUT,
            "/projects/devteam",
            Some(json!({"metadata": {"public": "true"}}))
        ),
        200
    );
    assert_eq!(
        Api::anonymous(&berthd).json("/projects/devteam")["metadata"]["public"],
        "true"
    );

    // Delete only when empty (412 otherwise), and HEAD to check a name.
    let reg = berthd.registry(&["devteam/app"]);
    reg.push_image("devteam/app", "v1", b"content");
    let summary = dev.json("/projects/devteam/summary");
    assert_eq!(summary["repo_count"], 1);
    assert!(
        summary["quota"]["used"]["storage"].as_i64().unwrap_or(0) > 0,
        "{summary}"
    );
    assert_eq!(summary["project_admin_count"], 1);
    assert_eq!(dev.status(Method::DELETE, "/projects/devteam", None), 412);
    assert_eq!(
        dev.status(
            Method::POST,
            "/projects",
            Some(json!({"project_name": "empty"}))
        ),
        201
    );
    assert_eq!(
        dev.status(Method::HEAD, "/projects?project_name=empty", None),
        200
    );
    assert_eq!(dev.status(Method::DELETE, "/projects/empty", None), 200);
    assert_eq!(
        dev.status(Method::HEAD, "/projects?project_name=empty", None),
        404
    );
}

#[test]
fn paging_query_and_bad_input() {
    let berthd = Berthd::start();
    let admin = Api::admin(&berthd);
    for i in 0..12 {
        assert_eq!(
            admin.status(
                Method::POST,
                "/projects",
                Some(json!({"project_name": format!("p{i:02}")}))
            ),
            201
        );
    }
    let r = admin.call(Method::GET, "/projects?page=2&page_size=5", None);
    assert_eq!(r.headers()["x-total-count"], "13");
    let link = r.headers()["link"].to_str().expect("link").to_string();
    assert!(
        link.contains("page=1&page_size=5>; rel=\"prev\"")
            && link.contains("page=3&page_size=5>; rel=\"next\""),
        "{link}"
    );
    let page: Value = r.json().expect("json");
    assert_eq!(page.as_array().map(Vec::len), Some(5));
    assert_eq!(page[0]["name"], "p04");

    for bad in [
        "page_size=101",
        "page_size=0",
        "page=0",
        "page=-1",
        "page=abc",
        "q=name%3D%5Ba",
        "q=nosuchkey%3D1",
        "q=name",
    ] {
        let r = admin.call(Method::GET, &format!("/projects?{bad}"), None);
        assert_eq!(r.status(), 400, "{bad}");
        let body: Value = r.json().expect("json");
        assert_eq!(body["errors"][0]["code"], "BAD_REQUEST", "{bad}");
    }

    // SQL metacharacters in every string parameter are just text: a 400 or no match, and
    // nothing changes.
    let nasty = [
        "'; DROP TABLE projects; --",
        "\" OR 1=1 --",
        "p01' OR '1'='1",
        "%",
        "_",
        "\\",
    ];
    for n in nasty {
        let encoded: String = serde_urlencoded::to_string([("name", n)]).expect("encode");
        assert_eq!(
            admin
                .json(&format!("/projects?{encoded}"))
                .as_array()
                .map(Vec::len),
            Some(0),
            "{n}"
        );
        let q: String = serde_urlencoded::to_string([("q", format!("name={n}"))]).expect("encode");
        assert!(
            matches!(
                admin.status(Method::GET, &format!("/projects?{q}"), None),
                200 | 400
            ),
            "{n}"
        );
        assert_eq!(
            admin.status(Method::POST, "/projects", Some(json!({"project_name": n}))),
            400,
            "{n}"
        );
        if n != "_" {
            // (`_` is a valid username; the others hold quotes, spaces, `%` or `\`.)
            assert_eq!(
                admin.status(
                    Method::POST,
                    "/users",
                    Some(json!({"username": n, "email": "x@example.com", "password": PASSWORD}))
                ),
                400,
                "{n}"
            );
        }
        let path: String = n.bytes().map(|b| format!("%{b:02X}")).collect();
        assert!(
            matches!(
                admin.status(Method::GET, &format!("/projects/{path}"), None),
                404 | 400
            ),
            "{n}"
        );
    }
    assert_eq!(
        admin
            .call(Method::GET, "/projects?page_size=100", None)
            .headers()["x-total-count"],
        "13"
    );

    // Invalid and duplicate names, unknown fields, wrong types, malformed JSON, huge bodies.
    assert_eq!(
        admin.status(
            Method::POST,
            "/projects",
            Some(json!({"project_name": "p01"}))
        ),
        409
    );
    assert_eq!(
        admin.status(
            Method::POST,
            "/projects",
            Some(json!({"project_name": "UPPER"}))
        ),
        400
    );
    assert_eq!(
        admin.status(Method::POST, "/projects", Some(json!({"project_name": ""}))),
        400
    );
    assert_eq!(
        admin.status(
            Method::POST,
            "/projects",
            Some(json!({"project_name": "ok1", "colour": "red"}))
        ),
        400
    );
    assert_eq!(
        admin.status(Method::POST, "/projects", Some(json!({"project_name": 5}))),
        400
    );
    let raw = http()
        .post(format!("{}/api/v2.0/projects", berthd.url()))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .header("content-type", "application/json")
        .body("{\"project_name\": ")
        .send()
        .expect("POST");
    assert_eq!(raw.status(), 400);
    let huge = json!({"project_name": "big", "metadata": {"public": "x".repeat(2 * 1024 * 1024)}});
    assert_eq!(admin.status(Method::POST, "/projects", Some(huge)), 413);
    assert_eq!(
        admin
            .call(Method::GET, "/projects?page_size=100", None)
            .headers()["x-total-count"],
        "13",
        "a refused request changed something"
    );
}

/// Polls `check` until it holds or 10 s pass; for effects the daemon applies asynchronously.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn repositories_artifacts_tags_pulls_and_audit() {
    let berthd = Berthd::start();
    let admin = Api::admin(&berthd);
    assert_eq!(
        admin.status(
            Method::POST,
            "/projects",
            Some(json!({"project_name": "shop"}))
        ),
        201
    );
    let reg = berthd.registry(&["shop/app", "shop/team/api"]);
    let (_, d1) = reg.push_image("shop/app", "v1", b"one");
    let (_, _d2) = reg.push_image("shop/app", "v2", b"two");
    let (_, d3) = reg.push_image("shop/app", "v3", b"three");
    reg.push_image("shop/team/api", "1.0", b"nested");

    let repos = admin.json("/projects/shop/repositories");
    let names: Vec<&str> = repos
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, vec!["shop/app", "shop/team/api"]);
    assert_eq!(repos[0]["artifact_count"], 3);
    // Nested names, encoded once or twice as clients do.
    assert_eq!(
        admin.json("/projects/shop/repositories/team%2Fapi")["name"],
        "shop/team/api"
    );
    assert_eq!(
        admin.json("/projects/shop/repositories/team%252Fapi")["name"],
        "shop/team/api"
    );
    assert_eq!(
        admin.status(Method::GET, "/projects/shop/repositories/nope", None),
        404
    );

    let artifacts = admin.json("/projects/shop/repositories/app/artifacts?with_tag=true");
    assert_eq!(artifacts.as_array().map(Vec::len), Some(3));
    let a1 = admin.json("/projects/shop/repositories/app/artifacts/v1");
    assert_eq!(a1["digest"], d1.as_str());
    assert_eq!(a1["type"], "IMAGE");
    assert_eq!(a1["media_type"], "application/vnd.oci.image.config.v1+json");
    assert_eq!(
        a1["manifest_media_type"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(a1["tags"][0]["name"], "v1");
    assert!(a1["size"].as_i64().unwrap_or(0) > 3, "{a1}");
    assert!(a1["push_time"].as_str().unwrap_or("").ends_with('Z'));
    assert_eq!(
        admin.json(&format!("/projects/shop/repositories/app/artifacts/{d1}"))["tags"][0]["name"],
        "v1"
    );
    let filtered = admin.json("/projects/shop/repositories/app/artifacts?q=tags%3Dv2");
    assert_eq!(filtered.as_array().map(Vec::len), Some(1));

    // Tags: add, refuse duplicates and bad names, list, delete.
    let tags = format!("/projects/shop/repositories/app/artifacts/{d3}/tags");
    assert_eq!(
        admin.status(Method::POST, &tags, Some(json!({"name": "stable"}))),
        201
    );
    assert_eq!(
        admin.status(Method::POST, &tags, Some(json!({"name": "stable"}))),
        409
    );
    assert_eq!(
        admin.status(Method::POST, &tags, Some(json!({"name": "-bad"}))),
        400
    );
    let listed: Vec<String> = admin
        .json(&tags)
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|t| t["name"].as_str().map(String::from))
        .collect();
    assert_eq!(listed, vec!["stable", "v3"]);
    assert_eq!(
        reg.get("/v2/shop/app/manifests/stable").status(),
        200,
        "a tag added by the API pulls"
    );
    assert_eq!(
        admin.status(Method::DELETE, &format!("{tags}/stable"), None),
        200
    );
    assert_eq!(
        admin.status(Method::DELETE, &format!("{tags}/stable"), None),
        404
    );

    // Pulls are counted (asynchronously, in batches).
    for _ in 0..3 {
        assert_eq!(reg.get("/v2/shop/app/manifests/v2").status(), 200);
    }
    // Three pulls of v2 and the one of `stable` above.
    eventually("the pull count", || {
        admin.json("/projects/shop/repositories/app")["pull_count"] == 4
    });
    let v2 = admin.json("/projects/shop/repositories/app/artifacts/v2");
    assert!(
        v2["pull_time"]
            .as_str()
            .is_some_and(|t| !t.starts_with("1970")),
        "{v2}"
    );

    // Delete an artifact, then the repository.
    assert_eq!(
        admin.status(
            Method::DELETE,
            &format!("/projects/shop/repositories/app/artifacts/{d1}"),
            None
        ),
        200
    );
    assert_eq!(reg.get("/v2/shop/app/manifests/v1").status(), 404);
    assert_eq!(
        admin.json("/projects/shop/repositories/app")["artifact_count"],
        2
    );
    assert_eq!(
        admin.status(Method::DELETE, "/projects/shop/repositories/app", None),
        200
    );
    assert_eq!(reg.get("/v2/shop/app/tags/list").status(), 404);

    // systeminfo, statistics, search.
    let info = Api::anonymous(&berthd).json("/systeminfo");
    assert_eq!(info["auth_mode"], "db_auth");
    assert_eq!(info["registry_url"], berthd.host().as_str());
    assert_eq!(info["project_creation_restriction"], "everyone");
    assert_eq!(info["self_registration"], false);
    let stats = admin.json("/statistics");
    assert_eq!(stats["total_project_count"], 2);
    assert_eq!(stats["total_repo_count"], 1);
    let found = admin.json("/search?q=team");
    assert_eq!(found["repository"][0]["repository_name"], "shop/team/api");
    assert_eq!(
        Api::anonymous(&berthd).json("/search?q=team")["repository"],
        json!([])
    );

    // The audit log holds all of it, with who, what, result and client address.
    let bad = http()
        .get(format!("{}/api/v2.0/users/current", berthd.url()))
        .basic_auth("mallory", Some("guess"))
        .send()
        .expect("GET");
    assert_eq!(bad.status(), 401);
    let pushes = admin.json("/audit-logs?q=operation%3Dpush,resource%3D~shop/app&page_size=50");
    assert_eq!(pushes.as_array().map(Vec::len), Some(3), "{pushes}");
    assert_eq!(pushes[0]["username"], "admin");
    assert_eq!(pushes[0]["operation_result"], true);
    assert_eq!(pushes[0]["client_ip"], "127.0.0.1");
    let pulls = admin.json("/audit-logs?q=operation%3Dpull,resource%3Dshop/app:v2");
    assert_eq!(pulls.as_array().map(Vec::len), Some(3));
    let failed = admin.json("/audit-logs?q=operation%3Dlogin,username%3Dmallory");
    assert_eq!(failed[0]["operation_result"], false, "{failed}");
    let deletes = admin.json("/projects/shop/logs?q=operation%3Ddelete");
    let kinds: Vec<&str> = deletes
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|e| e["resource_type"].as_str())
        .collect();
    assert!(
        kinds.contains(&"artifact") && kinds.contains(&"repository") && kinds.contains(&"tag"),
        "{kinds:?}"
    );
    let none =
        admin.json("/audit-logs?q=op_time%3D%5B2000-01-01%2000:00:00~2000-01-02%2000:00:00%5D");
    assert_eq!(none, json!([]));
    assert_eq!(
        admin.status(Method::GET, "/audit-logs?q=op_time%3Dyesterday", None),
        400
    );
    // Only system admins read the whole log; project logs need the project admin role.
    admin.create_user("dora");
    let dora = Api::as_user(&berthd, "dora");
    assert_eq!(dora.status(Method::GET, "/audit-logs", None), 403);
}

/// `POST /c/login`: an HttpOnly, SameSite cookie, and a CSRF token required on every mutating
/// request made with it.
#[test]
fn session_login_with_csrf() {
    let berthd = Berthd::start();
    let url = |p: &str| format!("{}{p}", berthd.url());
    let r = http()
        .post(url("/c/login"))
        .form(&[("principal", "admin"), ("password", "wrong")])
        .send()
        .expect("POST");
    assert_eq!(r.status(), 401);
    let r = http()
        .post(url("/c/login"))
        .form(&[("principal", "admin"), ("password", ADMIN_PASSWORD)])
        .send()
        .expect("POST");
    assert_eq!(r.status(), 200);
    let set_cookie = r.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_string();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    let csrf = r.headers()["x-harbor-csrf-token"]
        .to_str()
        .expect("csrf")
        .to_string();
    let cookie = set_cookie.split(';').next().expect("pair").to_string();

    let me: Value = http()
        .get(url("/api/v2.0/users/current"))
        .header("cookie", &cookie)
        .send()
        .expect("GET")
        .json()
        .expect("json");
    assert_eq!(me["username"], "admin");
    let create = |csrf: Option<&str>, name: &str| {
        let mut r = http()
            .post(url("/api/v2.0/projects"))
            .header("cookie", &cookie)
            .json(&json!({"project_name": name}));
        if let Some(t) = csrf {
            r = r.header("X-Harbor-CSRF-Token", t);
        }
        r.send().expect("POST").status().as_u16()
    };
    assert_eq!(create(None, "nocsrf"), 403);
    assert_eq!(create(Some("forged"), "forged"), 403);
    assert_eq!(create(Some(&csrf), "withcsrf"), 201);
    let names: Vec<String> = Api::admin(&berthd)
        .json("/projects")
        .as_array()
        .expect("a")
        .iter()
        .filter_map(|p| p["name"].as_str().map(String::from))
        .collect();
    assert_eq!(
        names,
        vec!["library", "withcsrf"],
        "a refused request created something"
    );

    assert_eq!(
        http()
            .get(url("/c/log_out"))
            .header("cookie", &cookie)
            .send()
            .expect("GET")
            .status(),
        200
    );
    assert_eq!(
        http()
            .get(url("/api/v2.0/users/current"))
            .header("cookie", &cookie)
            .send()
            .expect("GET")
            .status(),
        401
    );
}

/// `project_creation_restriction = "adminonly"` and `self_registration = true`, from the
/// configuration file, as `systeminfo` reports them.
#[test]
fn creation_restriction_and_self_registration() {
    let berthd = Berthd::start_with_config(|dir, port| {
        format!(
            "data_dir = \"{}/data\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n\
             [system]\nproject_creation_restriction = \"adminonly\"\nself_registration = true\n",
            dir.display()
        )
    });
    let anonymous = Api::anonymous(&berthd);
    let info = anonymous.json("/systeminfo");
    assert_eq!(info["project_creation_restriction"], "adminonly");
    assert_eq!(info["self_registration"], true);
    // Anyone may sign up...
    let signup = json!({"username": "newbie", "email": "newbie@example.com", "password": PASSWORD});
    assert_eq!(anonymous.status(Method::POST, "/users", Some(signup)), 201);
    let newbie = Api::as_user(&berthd, "newbie");
    assert_eq!(newbie.json("/users/current")["sysadmin_flag"], false);
    // ... but only the admin creates projects.
    assert_eq!(
        newbie.status(
            Method::POST,
            "/projects",
            Some(json!({"project_name": "mine"}))
        ),
        403
    );
    assert_eq!(
        Api::admin(&berthd).status(
            Method::POST,
            "/projects",
            Some(json!({"project_name": "mine"}))
        ),
        201
    );
}

/// SQL metacharacters (and other nasty text) in the string parameters of every listing: a 200
/// with no match or a clear 400, never a 500, and nothing changes.
#[test]
fn nasty_strings_in_every_listing_parameter() {
    let berthd = Berthd::start();
    let admin = Api::admin(&berthd);
    assert_eq!(
        admin.status(
            Method::POST,
            "/projects",
            Some(json!({"project_name": "nasty"}))
        ),
        201
    );
    let reg = berthd.registry(&["nasty/app"]);
    reg.push_image("nasty/app", "v1", b"x");
    let before = (
        admin.json("/projects?page_size=100"),
        admin.json("/users?page_size=100"),
        admin.json("/robots"),
    );
    let nasty = [
        "'; DROP TABLE users; --",
        "\" OR 1=1 --",
        "') OR ('a'='a",
        "%",
        "_",
        "\\",
        "\u{0}",
        "∑é漢",
        "*",
        "../..",
    ];
    let listings: &[(&str, &[&str])] = &[
        ("/projects", &["name", "owner", "q"]),
        ("/users", &["q"]),
        ("/users/search", &["username"]),
        ("/search", &["q"]),
        ("/repositories", &["q", "sort"]),
        ("/projects/nasty/repositories", &["q", "sort"]),
        ("/projects/nasty/repositories/app/artifacts", &["q", "sort"]),
        ("/projects/nasty/repositories/app/artifacts/v1/tags", &["q"]),
        ("/projects/nasty/members", &["entityname"]),
        ("/projects/nasty/logs", &["q"]),
        ("/audit-logs", &["q"]),
        ("/robots", &["q"]),
    ];
    for (path, params) in listings {
        for param in *params {
            for n in nasty {
                for value in [n.to_string(), format!("name={n}"), format!("name=~{n}")] {
                    let q =
                        serde_urlencoded::to_string([(*param, value.as_str())]).expect("encode");
                    let status = admin.status(Method::GET, &format!("{path}?{q}"), None);
                    assert!(matches!(status, 200 | 400), "{path}?{q} answered {status}");
                }
            }
        }
    }
    // Nasty path segments too.
    for n in nasty {
        let seg: String = n.bytes().map(|b| format!("%{b:02X}")).collect();
        for path in [
            format!("/projects/{seg}"),
            format!("/projects/nasty/repositories/{seg}"),
            format!("/users/{seg}"),
            format!("/robots/{seg}"),
        ] {
            let status = admin.status(Method::GET, &path, None);
            assert!(matches!(status, 400 | 404), "{path} answered {status}");
        }
    }
    let after = (
        admin.json("/projects?page_size=100"),
        admin.json("/users?page_size=100"),
        admin.json("/robots"),
    );
    assert_eq!(before, after, "a query changed something");
    assert!(!berthd.log().contains("panicked"));
}
