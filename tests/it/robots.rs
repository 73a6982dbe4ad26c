//! Robot accounts: created through the REST API, used by a real `docker login`, and refused
//! at the next token request once disabled, expired, refreshed away or deleted.

use std::process::Command;

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{http, run, Berthd, Docker, ADMIN_PASSWORD};

fn api(
    berthd: &Berthd,
    creds: (&str, &str),
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::blocking::Response {
    let mut r = http()
        .request(method, format!("{}/api/v2.0{path}", berthd.url()))
        .basic_auth(creds.0, Some(creds.1));
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().expect("request")
}

fn robot_body(name: &str, project: &str, actions: &[(&str, &str)]) -> Value {
    let access: Vec<Value> = actions
        .iter()
        .map(|(r, a)| json!({"resource": r, "action": a}))
        .collect();
    json!({"name": name, "level": "project", "duration": 30, "description": "CI",
           "permissions": [{"kind": "project", "namespace": project, "access": access}]})
}

/// A token request with Basic credentials: 200 or 401.
fn token_status(berthd: &Berthd, user: &str, secret: &str) -> u16 {
    http()
        .get(format!(
            "{}/service/token?service=harbor-registry&scope=repository:ci/app:pull",
            berthd.url()
        ))
        .basic_auth(user, Some(secret))
        .send()
        .expect("token")
        .status()
        .as_u16()
}

#[test]
fn robot_accounts_log_in_push_and_are_refused_when_revoked() {
    let berthd = Berthd::start();
    let admin = ("admin", ADMIN_PASSWORD);
    assert_eq!(
        api(
            &berthd,
            admin,
            Method::POST,
            "/projects",
            Some(json!({"project_name": "ci"}))
        )
        .status(),
        201
    );

    // Bad robots: a clear 400, nothing created.
    for bad in [
        robot_body("Bad Name", "ci", &[("repository", "pull")]),
        robot_body("x", "ci", &[("repository", "teleport")]),
        json!({"name": "x", "level": "project", "duration": 0, "permissions": [{"kind": "project", "namespace": "ci", "access": [{"resource": "repository", "action": "pull"}]}]}),
        json!({"name": "x", "level": "galaxy", "permissions": [{"kind": "project", "namespace": "ci", "access": []}]}),
        json!({"name": "x", "level": "project", "permissions": [
            {"kind": "project", "namespace": "ci", "access": []}, {"kind": "project", "namespace": "library", "access": []}]}),
        json!({"name": "x", "level": "project", "secret": "weak", "permissions": [{"kind": "project", "namespace": "ci", "access": []}]}),
    ] {
        let r = api(&berthd, admin, Method::POST, "/robots", Some(bad.clone()));
        assert_eq!(r.status(), 400, "{bad}");
    }
    assert_eq!(
        api(&berthd, admin, Method::GET, "/robots", None)
            .json::<Value>()
            .expect("json"),
        json!([])
    );

    let r = api(
        &berthd,
        admin,
        Method::POST,
        "/robots",
        Some(robot_body(
            "builder",
            "ci",
            &[("repository", "pull"), ("repository", "push")],
        )),
    );
    assert_eq!(r.status(), 201);
    let created: Value = r.json().expect("json");
    let name = created["name"].as_str().expect("name").to_string();
    let secret = created["secret"].as_str().expect("secret").to_string();
    let id = created["id"].as_i64().expect("id");
    assert_eq!(name, "robot$ci+builder");
    assert!(secret.len() >= 32);
    assert_eq!(
        api(
            &berthd,
            admin,
            Method::POST,
            "/robots",
            Some(robot_body("builder", "ci", &[("repository", "pull")]))
        )
        .status(),
        409
    );

    // The secret is never shown again, and the listing filters as Harbor's UI asks.
    let project_id = api(&berthd, admin, Method::GET, "/projects/ci", None)
        .json::<Value>()
        .expect("json")["project_id"]
        .clone();
    let q = format!("/robots?q=Level%3Dproject,ProjectID%3D{project_id}");
    let listed: Value = api(&berthd, admin, Method::GET, &q, None)
        .json()
        .expect("json");
    assert_eq!(listed[0]["name"], name.as_str());
    assert_eq!(listed[0]["secret"], "");
    assert_eq!(listed[0]["permissions"][0]["access"][1]["action"], "push");

    // A real docker login and push with the robot.
    let docker = Docker::new();
    let tag = format!("{}/ci/app:1", berthd.host());
    docker.build(&tag, &[4_000]);
    let login = docker.login(&berthd.host(), &name, &secret);
    assert!(
        login.status.success(),
        "{}",
        String::from_utf8_lossy(&login.stderr)
    );
    docker.ok(&["push", &tag]);
    // ... but it cannot read another private project or manage the API.
    assert_eq!(
        api(&berthd, (&name, &secret), Method::GET, "/users", None).status(),
        403
    );
    assert_eq!(
        api(
            &berthd,
            (&name, &secret),
            Method::POST,
            "/projects",
            Some(json!({"project_name": "nope"}))
        )
        .status(),
        403
    );

    // A pull-only robot cannot push (skopeo, with its own credentials).
    let r = api(
        &berthd,
        admin,
        Method::POST,
        "/robots",
        Some(robot_body("reader", "ci", &[("repository", "pull")])),
    );
    let reader: Value = r.json().expect("json");
    let creds = format!(
        "{}:{}",
        reader["name"].as_str().expect("n"),
        reader["secret"].as_str().expect("s")
    );
    let src = format!("docker://{}/ci/app:1", berthd.host());
    let inspect = run(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        &creds,
        &src,
    ]));
    assert!(
        inspect.status.success(),
        "{}",
        String::from_utf8_lossy(&inspect.stderr)
    );
    let push = run(Command::new("skopeo").args([
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--src-creds",
        &creds,
        "--dest-creds",
        &creds,
        &src,
        &format!("docker://{}/ci/copy:1", berthd.host()),
    ]));
    assert!(!push.status.success(), "a pull-only robot pushed");

    // Disable: refused at the next token request. Enable again: accepted.
    assert_eq!(token_status(&berthd, &name, &secret), 200);
    let mut body = robot_body(
        "builder",
        "ci",
        &[("repository", "pull"), ("repository", "push")],
    );
    body["disable"] = json!(true);
    assert_eq!(
        api(
            &berthd,
            admin,
            Method::PUT,
            &format!("/robots/{id}"),
            Some(body.clone())
        )
        .status(),
        200
    );
    assert_eq!(token_status(&berthd, &name, &secret), 401);
    assert!(
        !docker
            .login(&berthd.host(), &name, &secret)
            .status
            .success(),
        "a disabled robot logged in"
    );
    body["disable"] = json!(false);
    assert_eq!(
        api(
            &berthd,
            admin,
            Method::PUT,
            &format!("/robots/{id}"),
            Some(body)
        )
        .status(),
        200
    );
    assert_eq!(token_status(&berthd, &name, &secret), 200);

    // Expired (its expiry moved into the past behind berthd's back): refused.
    {
        let conn = rusqlite::Connection::open(berthd.data().join("berth.db")).expect("db");
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .expect("timeout");
        conn.execute(
            "UPDATE robots SET expires_at = strftime('%s','now') - 10 WHERE id = ?1",
            [id],
        )
        .expect("expire");
    }
    assert_eq!(token_status(&berthd, &name, &secret), 401);
    {
        let conn = rusqlite::Connection::open(berthd.data().join("berth.db")).expect("db");
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .expect("timeout");
        conn.execute("UPDATE robots SET expires_at = -1 WHERE id = ?1", [id])
            .expect("unexpire");
    }
    assert_eq!(token_status(&berthd, &name, &secret), 200);

    // Refresh: the old secret stops working, the new one works.
    let r = api(
        &berthd,
        admin,
        Method::PATCH,
        &format!("/robots/{id}"),
        Some(json!({})),
    );
    assert_eq!(r.status(), 200);
    let fresh = r.json::<Value>().expect("json")["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    assert_eq!(token_status(&berthd, &name, &secret), 401);
    assert_eq!(token_status(&berthd, &name, &fresh), 200);

    // Delete: refused from then on.
    assert_eq!(
        api(
            &berthd,
            admin,
            Method::DELETE,
            &format!("/robots/{id}"),
            None
        )
        .status(),
        200
    );
    assert_eq!(token_status(&berthd, &name, &fresh), 401);
    assert_eq!(
        api(&berthd, admin, Method::GET, &format!("/robots/{id}"), None).status(),
        404
    );

    // The stored secret is a hash, never the secret itself.
    let conn = rusqlite::Connection::open(berthd.data().join("berth.db")).expect("db");
    let stored: String = conn
        .query_row(
            "SELECT secret_hash FROM robots WHERE name = 'robot$ci+reader'",
            [],
            |r| r.get(0),
        )
        .expect("row");
    assert!(
        stored.starts_with("$argon2id$")
            && !stored.contains(reader["secret"].as_str().unwrap_or("-"))
    );
}

#[test]
fn only_project_admins_manage_a_projects_robots() {
    let berthd = Berthd::start();
    let admin = ("admin", ADMIN_PASSWORD);
    api(
        &berthd,
        admin,
        Method::POST,
        "/projects",
        Some(json!({"project_name": "team"})),
    );
    let user = json!({"username": "devon", "email": "devon@example.com", "password": "Passw0rdOK"});
    assert_eq!(
        api(&berthd, admin, Method::POST, "/users", Some(user)).status(),
        201
    );
    let add = json!({"role_id": 2, "member_user": {"username": "devon"}});
    assert_eq!(
        api(
            &berthd,
            admin,
            Method::POST,
            "/projects/team/members",
            Some(add)
        )
        .status(),
        201
    );
    let devon = ("devon", "Passw0rdOK");
    assert_eq!(
        api(
            &berthd,
            devon,
            Method::POST,
            "/robots",
            Some(robot_body("ci", "team", &[("repository", "pull")]))
        )
        .status(),
        403
    );
    let created: Value = api(
        &berthd,
        admin,
        Method::POST,
        "/robots",
        Some(robot_body("ci", "team", &[("repository", "pull")])),
    )
    .json()
    .expect("json");
    let id = created["id"].as_i64().expect("id");
    // A developer may read the project's robots (as in Harbor) but not delete them.
    assert_eq!(
        api(&berthd, devon, Method::GET, &format!("/robots/{id}"), None).status(),
        200
    );
    assert_eq!(
        api(
            &berthd,
            devon,
            Method::DELETE,
            &format!("/robots/{id}"),
            None
        )
        .status(),
        403
    );
    // System robots are for system admins.
    let system = json!({"name": "sys", "level": "system", "duration": -1,
                        "permissions": [{"kind": "project", "namespace": "*", "access": [{"resource": "repository", "action": "pull"}]}]});
    assert_eq!(
        api(
            &berthd,
            devon,
            Method::POST,
            "/robots",
            Some(system.clone())
        )
        .status(),
        403
    );
    let r = api(&berthd, admin, Method::POST, "/robots", Some(system));
    assert_eq!(r.status(), 201);
    let sys: Value = r.json().expect("json");
    assert_eq!(sys["name"], "robot$sys");
    assert_eq!(sys["expires_at"], -1);
}
