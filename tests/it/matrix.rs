//! The permission matrix end to end: every project role, a non-member, an anonymous caller and
//! a robot, against every operation Harbor's users depend on. Registry operations go through
//! real skopeo; the rest through the REST API. What is expected is written out as a table, so
//! it reads like `docs/permissions.md`.

use std::process::Command;

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{http, run, Berthd, ADMIN_PASSWORD};

const PASSWORD: &str = "Passw0rdOK";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Pull,
    Push,
    RegistryDelete,
    DeleteArtifact,
    DeleteTag,
    DeleteRepository,
    ListMembers,
    AddMember,
    CreateRobot,
    ReadProjectLog,
}

const OPS: [Op; 10] = [
    Op::Pull,
    Op::Push,
    Op::RegistryDelete,
    Op::DeleteArtifact,
    Op::DeleteTag,
    Op::DeleteRepository,
    Op::ListMembers,
    Op::AddMember,
    Op::CreateRobot,
    Op::ReadProjectLog,
];

/// Subject, role id (0: none), and whether each of [`OPS`] is allowed, in order.
const TABLE: &[(&str, u8, [bool; 10])] = &[
    //             pull  push  regdel delart deltag delrepo lsmem addmem robot  log
    (
        "padmin",
        1,
        [true, true, true, true, true, true, true, true, true, true],
    ),
    (
        "maint",
        4,
        [
            true, true, true, true, true, true, true, false, false, false,
        ],
    ),
    (
        "dev",
        2,
        [
            true, true, false, false, false, false, true, false, false, false,
        ],
    ),
    (
        "guest",
        3,
        [
            true, false, false, false, false, false, true, false, false, false,
        ],
    ),
    (
        "limited",
        5,
        [
            true, false, false, false, false, false, false, false, false, false,
        ],
    ),
    (
        "outsider",
        0,
        [
            false, false, false, false, false, false, false, false, false, false,
        ],
    ),
    (
        "anonymous",
        0,
        [
            false, false, false, false, false, false, false, false, false, false,
        ],
    ),
    // A robot with pull and push on the project, nothing else.
    (
        "robot",
        0,
        [
            true, true, false, false, false, false, false, false, false, false,
        ],
    ),
];

struct World {
    berthd: Berthd,
    robot: (String, String),
}

impl World {
    fn creds(&self, subject: &str) -> Option<(String, String)> {
        match subject {
            "anonymous" => None,
            "robot" => Some(self.robot.clone()),
            user => Some((user.to_string(), PASSWORD.to_string())),
        }
    }

    fn api(&self, subject: &str, method: Method, path: &str, body: Option<Value>) -> u16 {
        let mut r = http().request(method, format!("{}/api/v2.0{path}", self.berthd.url()));
        if let Some((u, p)) = self.creds(subject) {
            r = r.basic_auth(u, Some(p));
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().expect("request").status().as_u16()
    }

    fn skopeo(&self, subject: &str, args: &[&str], creds_flag: &str, no_creds_flag: &str) -> bool {
        let mut c = Command::new("skopeo");
        c.args(args);
        match self.creds(subject) {
            Some((u, p)) => c.args([creds_flag, &format!("{u}:{p}")]),
            None => c.arg(no_creds_flag),
        };
        run(&mut c).status.success()
    }
}

fn setup() -> World {
    let berthd = Berthd::start();
    let admin = |method: Method, path: &str, body: Value| {
        let r = http()
            .request(method, format!("{}/api/v2.0{path}", berthd.url()))
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .json(&body)
            .send()
            .expect("request");
        assert!(r.status().is_success(), "{path}: {:?}", r.text());
        r
    };
    admin(
        Method::POST,
        "/projects",
        json!({"project_name": "matrix", "metadata": {"public": "false"}}),
    );
    for (subject, role, _) in TABLE {
        if ["anonymous", "robot"].contains(subject) {
            continue;
        }
        admin(
            Method::POST,
            "/users",
            json!({"username": subject, "email": format!("{subject}@example.com"), "password": PASSWORD}),
        );
        if *role > 0 {
            admin(
                Method::POST,
                "/projects/matrix/members",
                json!({"role_id": role, "member_user": {"username": subject}}),
            );
        }
    }
    let robot: Value = admin(
        Method::POST,
        "/robots",
        json!({"name": "ci", "level": "project", "duration": -1, "permissions": [{"kind": "project", "namespace": "matrix",
               "access": [{"resource": "repository", "action": "pull"}, {"resource": "repository", "action": "push"}]}]}),
    )
    .json()
    .expect("robot");
    let robot = (
        robot["name"].as_str().expect("n").to_string(),
        robot["secret"].as_str().expect("s").to_string(),
    );
    World { berthd, robot }
}

#[test]
fn every_role_against_every_operation() {
    let w = setup();
    let host = w.berthd.host();
    // Content for each subject to try destroying, so no attempt depends on another's outcome.
    let mut repos = Vec::new();
    for (subject, _, _) in TABLE {
        repos.push(format!("matrix/{subject}"));
    }
    repos.push("matrix/base".into());
    let repo_refs: Vec<&str> = repos.iter().map(String::as_str).collect();
    let reg = w.berthd.registry(&repo_refs);
    let (_, base_digest) = reg.push_image("matrix/base", "v1", b"base");
    let mut digests = std::collections::HashMap::new();
    for (subject, _, _) in TABLE {
        let repo = format!("matrix/{subject}");
        let (_, a) = reg.push_image(&repo, "one", subject.as_bytes());
        let (_, b) = reg.push_image(&repo, "two", format!("{subject}-2").as_bytes());
        let (_, c) = reg.push_image(&repo, "three", format!("{subject}-3").as_bytes());
        digests.insert(*subject, (a, b, c));
    }
    let admin_creds = format!("admin:{ADMIN_PASSWORD}");

    let mut mismatches = Vec::new();
    for (subject, _, expected) in TABLE {
        let (art, tagged, regdel) = digests[subject].clone();
        for (op, want) in OPS.iter().zip(expected.iter()) {
            let got = match op {
                Op::Pull => w.skopeo(
                    subject,
                    &[
                        "inspect",
                        "--raw",
                        "--tls-verify=false",
                        &format!("docker://{host}/matrix/base:v1"),
                    ],
                    "--creds",
                    "--no-creds",
                ),
                Op::Push => w.skopeo(
                    subject,
                    &[
                        "copy",
                        "--src-tls-verify=false",
                        "--dest-tls-verify=false",
                        "--src-creds",
                        &admin_creds,
                        &format!("docker://{host}/matrix/base@{base_digest}"),
                        &format!("docker://{host}/matrix/pushed-{subject}:v1"),
                    ],
                    "--dest-creds",
                    "--dest-no-creds",
                ),
                Op::RegistryDelete => w.skopeo(
                    subject,
                    &[
                        "delete",
                        "--tls-verify=false",
                        &format!("docker://{host}/matrix/{subject}@{regdel}"),
                    ],
                    "--creds",
                    "--no-creds",
                ),
                Op::DeleteArtifact => {
                    w.api(
                        subject,
                        Method::DELETE,
                        &format!("/projects/matrix/repositories/{subject}/artifacts/{art}"),
                        None,
                    ) == 200
                }
                Op::DeleteTag => {
                    let path = format!(
                        "/projects/matrix/repositories/{subject}/artifacts/{tagged}/tags/two"
                    );
                    w.api(subject, Method::DELETE, &path, None) == 200
                }
                Op::DeleteRepository => {
                    w.api(
                        subject,
                        Method::DELETE,
                        &format!("/projects/matrix/repositories/{subject}"),
                        None,
                    ) == 200
                }
                Op::ListMembers => {
                    w.api(subject, Method::GET, "/projects/matrix/members", None) == 200
                }
                Op::AddMember => {
                    let body = json!({"role_id": 3, "member_user": {"username": "outsider"}});
                    let status = w.api(
                        subject,
                        Method::POST,
                        "/projects/matrix/members",
                        Some(body),
                    );
                    if status == 201 {
                        // Undo, so the outsider stays an outsider for the rows below.
                        let members: Value = http()
                            .get(format!(
                                "{}/api/v2.0/projects/matrix/members?entityname=outsider",
                                w.berthd.url()
                            ))
                            .basic_auth("admin", Some(ADMIN_PASSWORD))
                            .send()
                            .expect("GET")
                            .json()
                            .expect("json");
                        let mid = members[0]["id"].as_i64().expect("mid");
                        let r = http()
                            .delete(format!(
                                "{}/api/v2.0/projects/matrix/members/{mid}",
                                w.berthd.url()
                            ))
                            .basic_auth("admin", Some(ADMIN_PASSWORD))
                            .send()
                            .expect("DELETE");
                        assert_eq!(r.status(), 200);
                    }
                    status == 201
                }
                Op::CreateRobot => {
                    let body = json!({"name": format!("by-{subject}"), "level": "project", "duration": 1,
                        "permissions": [{"kind": "project", "namespace": "matrix", "access": [{"resource": "repository", "action": "pull"}]}]});
                    w.api(subject, Method::POST, "/robots", Some(body)) == 201
                }
                Op::ReadProjectLog => {
                    w.api(subject, Method::GET, "/projects/matrix/logs", None) == 200
                }
            };
            if got != *want {
                mismatches.push(format!(
                    "{subject} {op:?}: expected {}, got {}",
                    allowed(*want),
                    allowed(got)
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "permission matrix mismatches:\n{}",
        mismatches.join("\n")
    );

    // System admins may do everything: one spot check of the strongest operations.
    assert_eq!(
        http()
            .get(format!("{}/api/v2.0/projects/matrix/logs", w.berthd.url()))
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .send()
            .expect("GET")
            .status(),
        200
    );
}

fn allowed(b: bool) -> &'static str {
    if b {
        "allowed"
    } else {
        "refused"
    }
}
