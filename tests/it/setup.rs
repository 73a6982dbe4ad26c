//! `berth-setup --answers`: bad answers are refused by field and write nothing; good ones give
//! a system berthd runs from, serving HTTPS with the generated CA.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{built_bin, free_port, make_certificates, must, run, Berthd};

const PASSWORD: &str = "Setup12345";

fn setup(root: &Path, answers: &str) -> std::process::Output {
    let file = tempfile::NamedTempFile::new().expect("answers file");
    std::fs::write(file.path(), answers).expect("write answers");
    run(Command::new(built_bin("berth-setup"))
        .arg("--answers")
        .arg(file.path())
        .arg("--root")
        .arg(root)
        .arg("--no-start"))
}

/// Every file under `dir`.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// A certificate for 127.0.0.1 that expired yesterday, and its key.
fn expired_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    use rcgen::{CertificateParams, KeyPair};
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
    let now = time_now();
    params.not_before = now - std::time::Duration::from_secs(30 * 86_400);
    params.not_after = now - std::time::Duration::from_secs(86_400);
    let cert = params.self_signed(&key).expect("cert");
    let (c, k) = (dir.join("expired.crt"), dir.join("expired.key"));
    std::fs::write(&c, cert.pem()).expect("write");
    std::fs::write(&k, key.serialize_pem()).expect("write");
    (c, k)
}

fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

#[test]
fn bad_answers_are_refused_by_field_and_write_nothing() {
    let certs = tempfile::tempdir().expect("tempdir");
    make_certificates(certs.path());
    let (expired_crt, expired_key) = expired_certificate(certs.path());
    // A key that is not the certificate's: the CA's own certificate with the server's key.
    let ca = certs.path().join("ca.crt");
    let server_key = certs.path().join("server.key");
    let closed = free_port();
    let good = format!("hostname = \"127.0.0.1\"\nadmin_password = \"{PASSWORD}\"\n");
    let cases: Vec<(String, &str)> = vec![
        (
            format!("hostname = \"not a host!\"\nadmin_password = \"{PASSWORD}\"\n"),
            "hostname",
        ),
        (
            "hostname = \"reg.example.com\"\nadmin_password = \"password\"\n".into(),
            "admin_password",
        ),
        (
            format!(
                "{good}[tls]\nmode = \"provided\"\ncertificate = \"{}\"\nprivate_key = \"{}\"\n",
                ca.display(),
                server_key.display()
            ),
            "tls.private_key",
        ),
        (
            format!(
                "{good}[tls]\nmode = \"provided\"\ncertificate = \"{}\"\nprivate_key = \"{}\"\n",
                expired_crt.display(),
                expired_key.display()
            ),
            "tls.certificate",
        ),
        (
            format!(
                "{good}[auth]\nmode = \"ldap\"\n[ldap]\nldap_url = \"ldap://127.0.0.1:{closed}\"\n\
                 ldap_base_dn = \"dc=example,dc=com\"\nldap_timeout = 2\n"
            ),
            "ldap",
        ),
        (format!("{good}surprise = 1\n"), "answers"),
    ];
    for (answers, field) in cases {
        let root = tempfile::tempdir().expect("root");
        let out = setup(root.path(), &answers);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "accepted:\n{answers}");
        assert!(
            stderr.contains(&format!("{field}: ")),
            "the message must name {field}:\n{stderr}"
        );
        assert!(
            files_under(root.path()).is_empty(),
            "{field}: wrote {:?}",
            files_under(root.path())
        );
    }
}

#[test]
fn answers_configure_a_system_that_serves_https_with_the_generated_ca() {
    let root = tempfile::tempdir().expect("root");
    let (http_port, https_port) = (free_port(), free_port());
    let answers = format!(
        "hostname = \"127.0.0.1\"\nadmin_password = \"{PASSWORD}\"\n\
         [network]\nlisten_address = \"127.0.0.1\"\nhttp_port = {http_port}\nhttps_port = {https_port}\n"
    );
    let out = setup(root.path(), &answers);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("docker login 127.0.0.1:{https_port} -u admin")),
        "{stdout}"
    );
    assert!(
        stdout.contains("/etc/docker/certs.d/127.0.0.1:"),
        "{stdout}"
    );
    assert!(stdout.contains("CA SHA-256:"), "{stdout}");

    let r = root.path();
    let mode = |p: &str| {
        std::fs::metadata(r.join(p))
            .unwrap_or_else(|e| panic!("{p}: {e}"))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("etc/berth/berth.toml"), 0o640);
    assert_eq!(mode("etc/berth/tls/server.key"), 0o640);
    assert_eq!(mode("etc/berth/tls/ca.key"), 0o600);
    assert_eq!(mode("etc/berth/tls/ca.crt"), 0o644);
    assert!(r.join("etc/berth/configured").is_file());
    assert!(r.join("var/lib/berth/berth.db").is_file());
    // The plain password is written nowhere: not in the configuration, not in the database.
    for file in files_under(r) {
        let bytes = std::fs::read(&file).expect("read");
        assert!(
            !bytes
                .windows(PASSWORD.len())
                .any(|w| w == PASSWORD.as_bytes()),
            "{} holds the admin password",
            file.display()
        );
    }
    assert!(files_under(r)
        .iter()
        .all(|f| !f.to_string_lossy().contains("berth-setup")));

    // berthd from the written configuration (its paths moved under the test's root).
    let config = crate::harness::rooted_config(r);
    let berthd = Berthd::start_with_config(|_, port| {
        config.replace(&format!(":{http_port}\""), &format!(":{port}\""))
    });
    let ca = std::fs::read_to_string(r.join("etc/berth/tls/ca.crt")).expect("ca");
    let served = crate::harness::http()
        .get(format!("{}/api/v2.0/systeminfo/getcert", berthd.url()))
        .send()
        .expect("getcert")
        .text()
        .expect("body");
    assert_eq!(served, ca);

    // skopeo verifies TLS on loopback too: trusting only the CA setup made, the admin pushes
    // with the password from the answers.
    let certs = tempfile::tempdir().expect("certs");
    std::fs::write(certs.path().join("ca.crt"), &ca).expect("write");
    let docker = crate::harness::Docker::new();
    let local = format!("{}/library/setup:v1", berthd.host());
    docker.build(&local, &[4_000]);
    let archive = certs.path().join("image.tar");
    docker.ok(&["save", "-o", archive.to_str().expect("path"), &local]);
    let oci = format!("docker-archive:{}", archive.display());
    let dest = format!("docker://127.0.0.1:{https_port}/library/setup:v1");
    must(
        Command::new("skopeo")
            .args([
                "copy",
                "--dest-creds",
                &format!("admin:{PASSWORD}"),
                "--dest-cert-dir",
            ])
            .arg(certs.path())
            .arg(&oci)
            .arg(&dest),
    );
    let without_ca = run(Command::new("skopeo").args(["inspect", "--raw", &dest]));
    assert!(
        !without_ca.status.success(),
        "the certificate was trusted without the CA"
    );

    // Setup again: a new server certificate under the same CA, a new admin password; a
    // setting setup does not ask about, added by hand, is kept; a run-time setting added by
    // hand moves into the database, where the portal and the API change it.
    let config_file = r.join("etc/berth/berth.toml");
    let mut edited = std::fs::read_to_string(&config_file).expect("config");
    edited.push_str("\n[server]\nmax_connections = 77\n[system]\nself_registration = true\n");
    let before = crate::harness::stored_settings(r);
    std::fs::write(&config_file, edited).expect("edit");
    let again = answers.replace(PASSWORD, "Again12345");
    let out = setup(r, &again);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(r.join("etc/berth/tls/ca.crt")).expect("ca"),
        ca,
        "the CA is kept"
    );
    let token = |password: &str| {
        crate::harness::http()
            .get(format!(
                "{}/service/token?service=harbor-registry",
                berthd.url()
            ))
            .basic_auth("admin", Some(password))
            .send()
            .expect("token")
            .status()
            .as_u16()
    };
    assert_eq!(token("Again12345"), 200);
    assert_eq!(token(PASSWORD), 401);
    let rewritten = std::fs::read_to_string(&config_file).expect("config");
    assert!(
        rewritten.contains("[server]\nmax_connections = 77"),
        "{rewritten}"
    );
    assert!(!rewritten.contains("[system]"), "{rewritten}");
    assert!(
        !rewritten.contains("[auth]") && !rewritten.contains("[ldap]"),
        "{rewritten}"
    );
    // The stored settings stand (the portal may have changed them since the first start); the
    // stale section is gone from the file, and setup said so.
    let stored = crate::harness::stored_settings(r);
    assert_eq!(stored, before);
    assert_eq!(stored["system"]["self_registration"], false, "{stored}");
    assert_eq!(stored["auth_mode"], "db");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("stored settings")
            || String::from_utf8_lossy(&out.stderr).contains("stored settings"),
        "setup says the file's run-time settings were not used"
    );

    // Without admin_password, a configured system keeps the current one; a new system needs it.
    let keep = answers.replace(&format!("admin_password = \"{PASSWORD}\"\n"), "");
    assert!(!keep.contains("admin_password"));
    let out = setup(r, &keep);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(token("Again12345"), 200);
    let fresh = tempfile::tempdir().expect("root");
    let out = setup(fresh.path(), &keep);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("admin_password: is required"));
    assert!(files_under(fresh.path()).is_empty());
}

#[test]
fn a_provided_certificate_is_copied_and_served() {
    let certs = tempfile::tempdir().expect("certs");
    make_certificates(certs.path());
    let root = tempfile::tempdir().expect("root");
    let r = root.path();
    let (http_port, https_port) = (free_port(), free_port());
    let answers = format!(
        "hostname = \"127.0.0.1\"\nadmin_password = \"{PASSWORD}\"\n\
         [tls]\nmode = \"provided\"\ncertificate = \"{}\"\nprivate_key = \"{}\"\n\
         [network]\nlisten_address = \"127.0.0.1\"\nhttp_port = {http_port}\nhttps_port = {https_port}\n",
        certs.path().join("server.crt").display(),
        certs.path().join("server.key").display()
    );
    let out = setup(r, &answers);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !stdout.contains("CA SHA-256"),
        "no CA of Berth's own:\n{stdout}"
    );
    assert_eq!(
        std::fs::read(r.join("etc/berth/tls/server.crt")).expect("cert"),
        std::fs::read(certs.path().join("server.crt")).expect("cert")
    );
    let key = r.join("etc/berth/tls/server.key");
    assert_eq!(
        std::fs::metadata(&key).expect("key").permissions().mode() & 0o777,
        0o640
    );
    assert!(!r.join("etc/berth/tls/ca.key").exists());

    let config = crate::harness::rooted_config(r);
    let berthd = Berthd::start_with_config(|_, port| {
        config.replace(&format!(":{http_port}\""), &format!(":{port}\""))
    });
    let getcert = crate::harness::http()
        .get(format!("{}/api/v2.0/systeminfo/getcert", berthd.url()))
        .send()
        .expect("getcert");
    assert_eq!(getcert.status().as_u16(), 404, "no private CA to hand out");
    // Clients that trust the operator's CA log in over HTTPS.
    let trust = tempfile::tempdir().expect("trust");
    std::fs::copy(certs.path().join("ca.crt"), trust.path().join("ca.crt")).expect("ca");
    let auth = tempfile::tempdir().expect("auth");
    must(
        Command::new("skopeo")
            .args(["login", "--username", "admin", "--password", PASSWORD])
            .arg("--authfile")
            .arg(auth.path().join("auth.json"))
            .arg("--cert-dir")
            .arg(trust.path())
            .arg(format!("127.0.0.1:{https_port}")),
    );
}
