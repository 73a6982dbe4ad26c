//! A real Docker Engine against a real berthd.

use crate::harness::{Berthd, Docker, ADMIN_PASSWORD};

fn stderr(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn login_accepts_the_right_password_and_refuses_a_wrong_one() {
    let berthd = Berthd::start();
    let docker = Docker::new();
    let bad = docker.login(&berthd.host(), "admin", "wrong-password");
    assert!(
        !bad.status.success(),
        "login with a wrong password succeeded"
    );
    assert!(
        stderr(&bad).contains("unauthorized") || stderr(&bad).contains("401"),
        "{}",
        stderr(&bad)
    );
    let unknown = docker.login(&berthd.host(), "nobody", ADMIN_PASSWORD);
    assert!(
        !unknown.status.success(),
        "login as an unknown user succeeded"
    );
    let good = docker.login(&berthd.host(), "admin", ADMIN_PASSWORD);
    assert!(good.status.success(), "{}", stderr(&good));
}

/// Push a multi-layer image to a private project, restart berthd, remove the local copy, pull it
/// back: same image id, same digest. Without login the same push is refused, and so is a pull.
#[test]
fn push_restart_pull_private_project() {
    let mut berthd = Berthd::start();
    berthd.create_project("team", false);
    let docker = Docker::new();
    let tag = format!("{}/team/app:v1", berthd.host());
    docker.build(&tag, &[150_000, 80_000, 1_000]);
    let id = docker.image_id(&tag);

    let anonymous = Docker::new();
    let denied = anonymous.run(&["push", &tag]);
    assert!(
        !denied.status.success(),
        "anonymous push to a private project succeeded"
    );
    let text = stderr(&denied);
    assert!(
        text.contains("denied") || text.contains("unauthorized"),
        "{text}"
    );

    assert!(docker
        .login(&berthd.host(), "admin", ADMIN_PASSWORD)
        .status
        .success());
    let pushed = docker.ok(&["push", &tag]);
    assert!(pushed.contains("digest: sha256:"), "{pushed}");
    let digest = docker.repo_digest(&tag);

    berthd.restart();

    docker.ok(&["rmi", &tag]);
    assert!(
        !docker.run(&["image", "inspect", &tag]).status.success(),
        "image still present after rmi"
    );
    docker.ok(&["pull", &tag]);
    assert_eq!(
        docker.image_id(&tag),
        id,
        "image id changed through the registry"
    );
    assert_eq!(
        docker.repo_digest(&tag),
        digest,
        "digest changed through the registry"
    );

    let pull = anonymous.run(&["pull", &tag]);
    assert!(
        !pull.status.success(),
        "anonymous pull from a private project succeeded"
    );
}

#[test]
fn anonymous_pull_from_public_library() {
    let berthd = Berthd::start();
    let admin = Docker::new();
    let tag = format!("{}/library/hello:1.0", berthd.host());
    admin.build(&tag, &[20_000]);
    assert!(admin
        .login(&berthd.host(), "admin", ADMIN_PASSWORD)
        .status
        .success());
    admin.ok(&["push", &tag]);
    let id = admin.image_id(&tag);
    admin.ok(&["rmi", &tag]);

    let anonymous = Docker::new();
    anonymous.ok(&["pull", &tag]);
    assert_eq!(anonymous.image_id(&tag), id);
}

/// A second repository in the same project gets the layers by cross-repository mount.
#[test]
fn second_repository_mounts_instead_of_uploading() {
    let berthd = Berthd::start();
    berthd.create_project("shared", false);
    let docker = Docker::new();
    assert!(docker
        .login(&berthd.host(), "admin", ADMIN_PASSWORD)
        .status
        .success());
    let first = format!("{}/shared/one:v1", berthd.host());
    let second = format!("{}/shared/two:v1", berthd.host());
    docker.build(&first, &[60_000, 40_000]);
    docker.ok(&["push", &first]);
    docker.ok(&["tag", &first, &second]);
    let out = docker.ok(&["push", &second]);
    assert!(
        out.contains("Mounted from shared/one"),
        "layers were not mounted:\n{out}"
    );
    assert!(
        !out.contains("Pushed"),
        "layers were uploaded again:\n{out}"
    );
}

/// After a manifest is deleted by digest, a pull fails with "not found", and nothing else breaks.
#[test]
fn deleted_manifest_no_longer_pulls() {
    let berthd = Berthd::start();
    let docker = Docker::new();
    let tag = format!("{}/library/gone:v1", berthd.host());
    docker.build(&tag, &[10_000]);
    assert!(docker
        .login(&berthd.host(), "admin", ADMIN_PASSWORD)
        .status
        .success());
    docker.ok(&["push", &tag]);
    let digest = docker
        .repo_digest(&tag)
        .rsplit('@')
        .next()
        .map(str::to_string)
        .expect("digest");
    docker.ok(&["rmi", &tag]);

    let reg = berthd.registry(&["library/gone"]);
    let r = reg
        .req(
            reqwest::Method::DELETE,
            &format!("/v2/library/gone/manifests/{digest}"),
        )
        .send()
        .expect("delete");
    assert_eq!(r.status(), 202);
    let again = reg
        .req(
            reqwest::Method::DELETE,
            &format!("/v2/library/gone/manifests/{digest}"),
        )
        .send()
        .expect("delete");
    assert_eq!(again.status(), 404);

    let pull = docker.run(&["pull", &tag]);
    assert!(
        !pull.status.success(),
        "pull of a deleted manifest succeeded"
    );
    let text = stderr(&pull);
    assert!(
        text.contains("not found") || text.contains("manifest unknown"),
        "{text}"
    );
    assert!(reg.get("/api/v2.0/ping").status().is_success());
}

/// Refusals end a client's attempt at once and name their cause: a missing project, a
/// permission the caller lacks, a name without a project. (Docker retries for about 50 s and
/// prints a bare "denied" when a refusal carries no reason it can read.)
#[test]
fn refusals_stop_docker_at_once_and_name_the_cause() {
    let berthd = Berthd::start();
    berthd.create_project("guarded", false);
    let docker = Docker::new();
    assert!(docker
        .login(&berthd.host(), "admin", ADMIN_PASSWORD)
        .status
        .success());
    let missing = format!("{}/nosuchproject/app:v1", berthd.host());
    docker.build(&missing, &[10_000]);
    let started = std::time::Instant::now();
    let out = docker.run(&["push", &missing]);
    assert!(!out.status.success(), "push to a missing project succeeded");
    let text = stderr(&out);
    assert!(
        text.contains("project nosuchproject not found"),
        "docker did not show the cause: {text}"
    );
    // Not a timing assertion on speed, only that docker gave up instead of retrying.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "docker retried a refusal for {:?}: {text}",
        started.elapsed()
    );

    let one_segment = format!("{}/lonely:v1", berthd.host());
    docker.ok(&["tag", &missing, &one_segment]);
    let out = docker.run(&["push", &one_segment]);
    assert!(!out.status.success());
    let text = stderr(&out);
    assert!(
        text.contains("PROJECT/NAME") || text.contains("project/repository"),
        "{text}"
    );

    // A robot outside its project.
    let r = crate::harness::http()
        .post(format!("{}/api/v2.0/robots", berthd.url()))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .json(&serde_json::json!({"name": "ci", "level": "project", "duration": -1,
            "permissions": [{"kind": "project", "namespace": "library", "access": [
                {"resource": "repository", "action": "push"}, {"resource": "repository", "action": "pull"}]}]}))
        .send()
        .expect("robot");
    assert_eq!(r.status(), 201);
    let secret = r.json::<serde_json::Value>().expect("json")["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    let robot = Docker::new();
    assert!(robot
        .login(&berthd.host(), "robot$library+ci", &secret)
        .status
        .success());
    let elsewhere = format!("{}/guarded/app:v1", berthd.host());
    robot.ok(&["tag", &missing, &elsewhere]);
    let out = robot.run(&["push", &elsewhere]);
    assert!(!out.status.success());
    let text = stderr(&out);
    assert!(
        text.contains("may not push guarded/app") || text.contains("project guarded not found"),
        "{text}"
    );
}
