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
        400
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
