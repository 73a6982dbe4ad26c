//! The daemon itself: configuration file, HTTPS with rustls, logs, graceful shutdown.

use std::process::Command;

use crate::harness::{free_port, make_certificates, must, Berthd, Docker, ADMIN_PASSWORD};

/// HTTPS from the configuration file: the CA verifies the certificate, the token realm is
/// https, and skopeo pushes and reads back over it with only the CA to trust.
#[test]
fn serves_https_from_the_configuration_file() {
    let tls_port = free_port();
    let berthd = Berthd::start_with_config(|dir, http_port| {
        make_certificates(dir);
        format!(
            "data_dir = \"{d}/data\"\n[http]\nlisten = \"127.0.0.1:{http_port}\"\n\
             [tls]\nlisten = \"127.0.0.1:{tls_port}\"\ncertificate = \"{d}/server.crt\"\nprivate_key = \"{d}/server.key\"\n\
             [token]\nexpiration_minutes = 5\n",
            d = dir.display()
        )
    });
    let dir = berthd.dir.path();
    let https = format!("https://127.0.0.1:{tls_port}");
    let ca = dir.join("ca.crt");
    let pong = must(
        Command::new("curl")
            .args(["-sS", "--cacert"])
            .arg(&ca)
            .arg(format!("{https}/api/v2.0/ping")),
    );
    assert_eq!(pong, "Pong");
    // Without the CA, the certificate is not trusted.
    let untrusted =
        crate::harness::run(Command::new("curl").args(["-sS", &format!("{https}/api/v2.0/ping")]));
    assert!(
        !untrusted.status.success(),
        "an untrusted certificate was accepted"
    );
    let headers = must(
        Command::new("curl")
            .args(["-sS", "-D", "-", "-o", "/dev/null", "--cacert"])
            .arg(&ca)
            .arg(format!("{https}/v2/")),
    );
    assert!(
        headers.contains(&format!("realm=\"{https}/service/token\"")),
        "{headers}"
    );
    // The configured token lifetime is used.
    let token = must(
        Command::new("curl")
            .args(["-sS", "--cacert"])
            .arg(&ca)
            .args(["-u", &format!("admin:{ADMIN_PASSWORD}")])
            .arg(format!("{https}/service/token?service=harbor-registry")),
    );
    let v: serde_json::Value = serde_json::from_str(&token).expect("json");
    assert_eq!(v["expires_in"], 300);

    // skopeo over HTTPS with TLS verification on, trusting only our CA.
    let certs = tempfile::tempdir().expect("tempdir");
    std::fs::copy(&ca, certs.path().join("ca.crt")).expect("copy CA");
    let docker = Docker::new();
    let local = format!("{}/library/tls:v1", berthd.host());
    docker.build(&local, &[5_000]);
    let archive = certs.path().join("image.tar");
    docker.ok(&["save", "-o", archive.to_str().expect("path"), &local]);
    let dest = format!("docker://127.0.0.1:{tls_port}/library/tls:v1");
    must(
        Command::new("skopeo")
            .args([
                "copy",
                "--dest-creds",
                &format!("admin:{ADMIN_PASSWORD}"),
                "--dest-cert-dir",
            ])
            .arg(certs.path())
            .arg(format!("docker-archive:{}", archive.display()))
            .arg(&dest),
    );
    let raw = must(
        Command::new("skopeo")
            .args(["inspect", "--raw", "--cert-dir"])
            .arg(certs.path())
            .arg(&dest),
    );
    assert!(raw.contains("schemaVersion"), "{raw}");
}

#[test]
fn sigterm_stops_gracefully_and_requests_are_logged() {
    let mut berthd = Berthd::start();
    let r = crate::harness::http()
        .get(format!("{}/v2/", berthd.url()))
        .send()
        .expect("GET");
    assert_eq!(r.status(), 401);
    let status = berthd.stop().expect("exit status");
    assert!(status.success(), "berthd exited with {status:?} on SIGTERM");
    let log = berthd.log();
    let line = log
        .lines()
        .find(|l| l.contains("path=/v2/"))
        .unwrap_or_else(|| panic!("no request line in:\n{log}"));
    assert!(
        line.contains("method=GET") && line.contains("status=401"),
        "{line}"
    );
    assert!(log.contains("shutting down"), "{log}");
    assert!(
        !log.contains(ADMIN_PASSWORD),
        "the admin password reached the log"
    );
}

#[test]
fn bad_configuration_is_refused_with_every_problem_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("berth.toml");
    std::fs::write(
        &path,
        "external_url = \"ftp://x\"\n[token]\nexpiration_minutes = 0\n",
    )
    .expect("write");
    let out = crate::harness::run(
        Command::new(crate::harness::berthd_bin())
            .arg("--config")
            .arg(&path),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in ["no listener", "external_url", "expiration_minutes"] {
        assert!(err.contains(needle), "{needle} not in: {err}");
    }
    std::fs::write(&path, "listen_everywhere = true\n").expect("write");
    let out = crate::harness::run(
        Command::new(crate::harness::berthd_bin())
            .arg("--config")
            .arg(&path),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("listen_everywhere"));
}

/// Repeated failures slow logins down, then refuse them with 429 across the token service and
/// the REST API alike; a lockout ends by itself, so the admin is never locked out for good.
#[test]
fn failed_logins_are_throttled_then_refused_for_a_while() {
    let berthd = Berthd::start_with_config(|dir, http_port| {
        format!(
            "data_dir = \"{}/data\"\n[http]\nlisten = \"127.0.0.1:{http_port}\"\n\
             [system]\nlogin_max_failures = 3\nlogin_lockout_seconds = 2\n",
            dir.display()
        )
    });
    let client = crate::harness::http();
    let user = serde_json::json!({"username": "victim", "email": "v@example.com", "password": "Passw0rdOK"});
    let r = client
        .post(format!("{}/api/v2.0/users", berthd.url()))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .json(&user)
        .send()
        .expect("POST");
    assert_eq!(r.status(), 201);
    let token = |u: &str, p: &str| {
        client
            .get(format!(
                "{}/service/token?service=harbor-registry",
                berthd.url()
            ))
            .basic_auth(u, Some(p))
            .send()
            .expect("token")
    };
    for _ in 0..3 {
        assert_eq!(token("victim", "wrong").status(), 401);
    }
    // Locked: even the right password is refused, with Retry-After, on both doors.
    let r = token("victim", "Passw0rdOK");
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let r = client
        .get(format!("{}/api/v2.0/users/current", berthd.url()))
        .basic_auth("victim", Some("Passw0rdOK"))
        .send()
        .expect("GET");
    assert_eq!(r.status(), 429);
    let body: serde_json::Value = r.json().expect("json");
    assert_eq!(body["errors"][0]["code"], "TOO_MANY_REQUESTS");
    let login = client
        .post(format!("{}/c/login", berthd.url()))
        .form(&[("principal", "victim"), ("password", "Passw0rdOK")])
        .send()
        .expect("POST");
    assert_eq!(login.status(), 429, "the portal login is throttled too");
    // Other accounts from the same address are unaffected.
    assert_eq!(token("admin", ADMIN_PASSWORD).status(), 200);

    // The admin locks out too, but only for the lockout period.
    for _ in 0..3 {
        assert_eq!(token("admin", "wrong").status(), 401);
    }
    assert_eq!(token("admin", ADMIN_PASSWORD).status(), 429);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while token("admin", ADMIN_PASSWORD).status() != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "the admin stayed locked out"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(
        token("victim", "Passw0rdOK").status(),
        200,
        "the victim's lockout ended too"
    );
    assert!(
        berthd
            .log()
            .contains("login locked out after repeated failures"),
        "{}",
        berthd.log()
    );
    // Every failure is in the audit log.
    let logs: serde_json::Value = client
        .get(format!(
            "{}/api/v2.0/audit-logs?q=operation%3Dlogin,username%3Dvictim&page_size=50",
            berthd.url()
        ))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .expect("GET")
        .json()
        .expect("json");
    let failures = logs
        .as_array()
        .expect("array")
        .iter()
        .filter(|e| e["operation_result"] == false)
        .count();
    assert!(failures >= 3, "{logs}");
}
