//! The daemon itself: configuration file, HTTPS with rustls, logs, graceful shutdown.

use std::process::Command;

use crate::harness::{make_certificates, must, Berthd, Docker, ADMIN_PASSWORD};

/// HTTPS from the configuration file: the CA verifies the certificate, the token realm is
/// https, and skopeo pushes and reads back over it with only the CA to trust.
#[test]
fn serves_https_from_the_configuration_file() {
    let berthd = Berthd::start_with_config(|dir, http_port| {
        make_certificates(dir);
        format!(
            "data_dir = \"{d}/data\"\n[http]\nlisten = \"127.0.0.1:{http_port}\"\n\
             [tls]\nlisten = \"127.0.0.1:0\"\ncertificate = \"{d}/server.crt\"\nprivate_key = \"{d}/server.key\"\n\
             [token]\nexpiration_minutes = 5\n",
            d = dir.display()
        )
    });
    let tls_port = berthd.https_port();
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

/// The issuer's common name of the certificate served at `addr`, as openssl prints it.
fn served_issuer(addr: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect {addr} </dev/null 2>/dev/null | openssl x509 -noout -issuer"
        ))
        .output()
        .expect("openssl");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// With HTTPS configured: `getcert` hands out the CA, plain HTTP sends browsers to HTTPS (and
/// still serves clients), and SIGHUP swaps the certificate without dropping an open
/// connection; a broken certificate file on SIGHUP keeps the old one.
#[test]
fn getcert_redirect_and_certificate_reload() {
    use std::io::Write;
    let berthd = Berthd::start_with_config(|dir, http_port| {
        make_certificates(dir);
        format!(
            "data_dir = \"{d}/data\"\n[http]\nlisten = \"127.0.0.1:{http_port}\"\n\
             [tls]\nlisten = \"127.0.0.1:0\"\ncertificate = \"{d}/server.crt\"\n\
             private_key = \"{d}/server.key\"\nca_certificate = \"{d}/ca.crt\"\n",
            d = dir.display()
        )
    });
    let tls_port = berthd.https_port();
    let dir = berthd.dir.path().to_path_buf();
    let client = crate::harness::http();

    // getcert: the CA as a download, without signing in.
    let r = client
        .get(format!("{}/api/v2.0/systeminfo/getcert", berthd.url()))
        .send()
        .expect("GET");
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap_or_default()
        .contains("ca.crt"));
    let served = r.text().expect("body");
    assert_eq!(
        served,
        std::fs::read_to_string(dir.join("ca.crt")).expect("ca")
    );

    // Plain HTTP: the portal redirects; the API and the registry answer.
    crate::harness::tls_provider();
    let no_redirects = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = no_redirects
        .get(format!("{}/harbor/projects?x=1", berthd.url()))
        .send()
        .expect("GET");
    assert_eq!(r.status(), 308);
    assert_eq!(
        r.headers()["location"].to_str().unwrap_or_default(),
        format!("https://127.0.0.1:{tls_port}/harbor/projects?x=1")
    );
    let ping = no_redirects
        .get(format!("{}/api/v2.0/ping", berthd.url()))
        .send()
        .expect("GET");
    assert_eq!(ping.status(), 200);
    let v2 = no_redirects
        .get(format!("{}/v2/", berthd.url()))
        .send()
        .expect("GET");
    assert_eq!(v2.status(), 401);

    // An open HTTPS connection, used before and after the reload.
    let addr = format!("127.0.0.1:{tls_port}");
    let mut conn = std::process::Command::new("openssl")
        .args(["s_client", "-quiet", "-connect", &addr, "-CAfile"])
        .arg(dir.join("ca.crt"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("openssl s_client");
    let mut to_server = conn.stdin.take().expect("stdin");
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    let stdout = conn.stdout.take().expect("stdout");
    // Raw chunks, not lines: the body "Pong" ends without a newline.
    std::thread::spawn(move || {
        let mut stdout = stdout;
        let mut buf = [0u8; 4096];
        while let Ok(n) = std::io::Read::read(&mut stdout, &mut buf) {
            if n == 0
                || lines_tx
                    .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                    .is_err()
            {
                break;
            }
        }
    });
    let request = "GET /api/v2.0/ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    let pong_within = |lines: &std::sync::mpsc::Receiver<String>| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match lines.recv_timeout(left) {
                Ok(line) if line.contains("Pong") => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
        false
    };
    to_server.write_all(request.as_bytes()).expect("write");
    to_server.flush().expect("flush");
    assert!(pong_within(&lines), "no answer on the open connection");

    // New certificate from another CA, then SIGHUP: new connections get it.
    let before = served_issuer(&addr);
    assert!(before.contains("Berth test CA"), "{before}");
    crate::harness::make_certificates_named(&dir, "Second CA");
    berthd.hangup();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !served_issuer(&addr).contains("Second CA") {
        assert!(
            std::time::Instant::now() < deadline,
            "the certificate was not reloaded:\n{}",
            berthd.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // ... and the connection opened before it still works.
    to_server.write_all(request.as_bytes()).expect("write");
    to_server.flush().expect("flush");
    assert!(pong_within(&lines), "the open connection was dropped");
    drop(to_server);
    let _ = conn.kill();
    let _ = conn.wait();

    // A broken file on SIGHUP: the old certificate stays, and the log says so.
    std::fs::write(dir.join("server.crt"), "not a certificate").expect("write");
    berthd.hangup();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !berthd.log().contains("still serving the old one") {
        assert!(std::time::Instant::now() < deadline, "{}", berthd.log());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(served_issuer(&addr).contains("Second CA"));
}

/// Under systemd (`Type=notify`), berthd says READY=1 once its listeners are bound, and
/// STOPPING=1 when asked to stop.
#[test]
fn tells_systemd_when_ready_and_stopping() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket_path = dir.path().join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).expect("bind");
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    let path = socket_path.to_str().expect("utf-8 path").to_string();
    let mut berthd = Berthd::start_with_config_env(
        |dir, http_port| {
            format!(
                "data_dir = \"{}/data\"\n[http]\nlisten = \"127.0.0.1:{http_port}\"\n",
                dir.display()
            )
        },
        &[("NOTIFY_SOCKET", &path)],
    );
    let mut buf = [0u8; 256];
    let n = socket.recv(&mut buf).expect("a notification");
    assert_eq!(String::from_utf8_lossy(&buf[..n]).trim(), "READY=1");
    berthd.stop();
    let n = socket.recv(&mut buf).expect("a notification");
    assert_eq!(String::from_utf8_lossy(&buf[..n]).trim(), "STOPPING=1");
}

/// Issue 10, first start: a busy port is reported with its address before the admin is
/// created (so a generated password is never shown and lost), and a weak
/// BERTH_ADMIN_PASSWORD is refused.
#[test]
fn a_busy_port_or_a_weak_admin_password_stops_the_first_start_cleanly() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = busy.local_addr().expect("addr").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(crate::harness::berthd_bin())
        .args(["--dev", "--listen", &addr, "--data"])
        .arg(dir.path().join("data"))
        .env_remove("BERTH_ADMIN_PASSWORD")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(&format!("cannot listen on {addr}")), "{text}");
    assert!(
        !text.contains("password:"),
        "a password was printed and lost: {text}"
    );
    assert!(
        !dir.path().join("data/berth.db").exists(),
        "the admin was created anyway"
    );
    drop(busy);

    let out = std::process::Command::new(crate::harness::berthd_bin())
        .args(["--dev", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path().join("data2"))
        .env("BERTH_ADMIN_PASSWORD", "short")
        .output()
        .expect("run");
    assert!(!out.status.success(), "a weak admin password was accepted");
    assert!(String::from_utf8_lossy(&out.stderr).contains("BERTH_ADMIN_PASSWORD"));
}

/// Issue 10, finding 12: whatever umask berthd is started with, nothing it creates is
/// readable by others.
#[test]
fn files_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let log = std::fs::File::create(dir.path().join("log")).expect("log");
    let mut cmd = std::process::Command::new(crate::harness::berthd_bin());
    cmd.args([
        "--dev",
        "--listen",
        "127.0.0.1:0",
        "--free-space-reserve-mib",
        "0",
        "--data",
    ])
    .arg(&data)
    .env("BERTH_ADMIN_PASSWORD", ADMIN_PASSWORD)
    .stdout(log.try_clone().expect("log"))
    .stderr(log);
    // SAFETY: umask(2) in the child between fork and exec; async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0o000);
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !std::fs::read_to_string(dir.path().join("log"))
        .unwrap_or_default()
        .contains("listening on")
    {
        assert!(std::time::Instant::now() < deadline, "berthd did not start");
        assert!(child.try_wait().expect("wait").is_none(), "berthd exited");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for path in [
        data.clone(),
        data.join("blobs"),
        data.join("uploads"),
        data.join("berth.db"),
        data.join("secret"),
    ] {
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(
            mode & 0o007,
            0,
            "{} is open to others: {mode:o}",
            path.display()
        );
    }
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
}

/// Issue 10: outside --dev the token realm never comes from the client's Host header.
#[test]
fn the_realm_is_not_taken_from_the_host_header() {
    let berthd = Berthd::start_with_config(|dir, http_port| {
        format!(
            "data_dir = \"{}/data\"\n[http]\nlisten = \"127.0.0.1:{http_port}\"\n",
            dir.display()
        )
    });
    let r = crate::harness::http()
        .get(format!("{}/v2/", berthd.url()))
        .header("host", "evil.example.net")
        .send()
        .expect("GET");
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(
        challenge.contains(&format!("realm=\"http://{}/service/token\"", berthd.host())),
        "{challenge}"
    );
}

/// Issue 10, finding 4: idle connections cannot starve the server: beyond the connection
/// limit a connection is closed at once, and an idle one is closed after the header timeout.
#[test]
fn idle_connections_are_limited_and_timed_out() {
    use std::io::Read;
    let berthd = Berthd::start_with_config(|dir, http_port| {
        format!(
            "data_dir = \"{}/data\"\n[http]\nlisten = \"127.0.0.1:{http_port}\"\n\
             [server]\nmax_connections = 8\nheader_read_timeout_seconds = 2\n\
             idle_timeout_seconds = 3\n",
            dir.display()
        )
    });
    let idle: Vec<std::net::TcpStream> = (0..8)
        .map(|_| std::net::TcpStream::connect(berthd.host()).expect("connect"))
        .collect();
    // A ninth connection is accepted by the kernel and closed by berthd without an answer.
    let mut ninth = std::net::TcpStream::connect(berthd.host()).expect("connect");
    ninth
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    let mut buf = [0u8; 16];
    assert_eq!(
        ninth.read(&mut buf).ok(),
        Some(0),
        "the ninth connection was served"
    );
    // The idle ones are closed by the header timeout; then requests are served again.
    for s in idle {
        assert!(closed_within(s, 20), "an idle connection stayed open");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let ok = crate::harness::http()
            .get(format!("{}/api/v2.0/ping", berthd.url()))
            .send()
            .is_ok_and(|r| r.status() == 200);
        if ok {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not served after the idle ones closed"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    // A body that stops arriving: the headers are complete (no header timeout), then nothing
    // moves, and the inactivity deadline closes the connection.
    let mut stalled = std::net::TcpStream::connect(berthd.host()).expect("connect");
    std::io::Write::write_all(
        &mut stalled,
        b"POST /c/login HTTP/1.1\r\nHost: x\r\ncontent-type: application/x-www-form-urlencoded\r\n\
          content-length: 1000\r\n\r\nprincipal=a",
    )
    .expect("write");
    assert!(
        closed_within(stalled, 20),
        "a stalled body held the connection"
    );
}

/// Whether the server closes `stream` within `seconds` (answering first is allowed); a read
/// timeout means it is still open.
fn closed_within(mut stream: std::net::TcpStream, seconds: u64) -> bool {
    use std::io::Read;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        stream.set_read_timeout(Some(left)).expect("timeout");
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

/// Issue 10: the operator resets a lost admin password from the machine itself, with berthd
/// running (the old password stops working at once) or stopped; a weak one changes nothing.
#[test]
fn the_admin_password_can_be_reset_from_the_machine() {
    use std::io::Write;
    let mut berthd = Berthd::start();
    let data = berthd.data();
    let reset = |args: &[&str], env: Option<&str>, stdin: Option<&str>| {
        let mut cmd = std::process::Command::new(crate::harness::berthd_bin());
        cmd.args(["--dev", "--data"])
            .arg(&data)
            .arg("reset-admin-password")
            .args(args)
            .env_remove("BERTH_ADMIN_PASSWORD")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if let Some(pw) = env {
            cmd.env("BERTH_ADMIN_PASSWORD", pw);
        }
        let mut child = cmd.spawn().expect("run reset");
        let mut input = child.stdin.take().expect("stdin");
        input
            .write_all(stdin.unwrap_or("").as_bytes())
            .expect("write stdin");
        drop(input);
        child.wait_with_output().expect("reset output")
    };
    let status = |url: &str, pw: &str| {
        crate::harness::http()
            .get(format!("{url}/api/v2.0/users/current"))
            .basic_auth("admin", Some(pw))
            .send()
            .expect("GET")
            .status()
            .as_u16()
    };
    let url = berthd.url();

    let weak = reset(&[], Some("short"), None);
    assert_eq!(weak.status.code(), Some(2), "a weak password was accepted");
    assert!(String::from_utf8_lossy(&weak.stderr).contains("nothing was changed"));
    assert_eq!(status(&url, crate::harness::ADMIN_PASSWORD), 200);

    // While berthd runs: from the environment.
    let out = reset(&[], Some("Fresh1Password"), None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        status(&url, crate::harness::ADMIN_PASSWORD),
        401,
        "old password still works"
    );
    assert_eq!(status(&url, "Fresh1Password"), 200);

    // From standard input (one line), while running.
    let out = reset(&[], None, Some("Piped2Password\n"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(status(&url, "Piped2Password"), 200);

    // With berthd stopped: a generated password, printed once on standard output.
    berthd.stop();
    let out = reset(&["--generate"], None, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let generated = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(generated.len(), 20, "{generated:?}");
    berthd.spawn();
    let url = berthd.url();
    assert_eq!(status(&url, "Piped2Password"), 401);
    assert_eq!(status(&url, &generated), 200);

    // A database that is a link is refused: root is never led to a file elsewhere.
    let linked = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink(data.join("berth.db"), linked.path().join("berth.db"))
        .expect("symlink");
    let out = std::process::Command::new(crate::harness::berthd_bin())
        .args(["--dev", "--data"])
        .arg(linked.path())
        .args(["reset-admin-password", "--generate"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a plain file"));

    // A directory that holds no database is named, and nothing is created there.
    let empty = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(crate::harness::berthd_bin())
        .args(["--dev", "--data"])
        .arg(empty.path())
        .args(["reset-admin-password", "--generate"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no database at"));
    assert!(!empty.path().join("berth.db").exists());
}

/// Issue 10, finding 4: an upload session holds no file descriptor between requests, so 100
/// open sessions, each with a chunk written, leave berthd's descriptor count where it was.
#[test]
fn open_upload_sessions_hold_no_file_descriptors() {
    let berthd = Berthd::start();
    let reg = berthd.registry(&["library/fds"]);
    let fds = || {
        std::fs::read_dir(format!("/proc/{}/fd", berthd.pid()))
            .expect("berthd's descriptors")
            .count()
    };
    let before = fds();
    for i in 0..100u8 {
        let start = reg
            .req(reqwest::Method::POST, "/v2/library/fds/blobs/uploads/")
            .send()
            .expect("POST");
        assert_eq!(start.status(), 202);
        let location = start.headers()["location"]
            .to_str()
            .expect("location")
            .to_string();
        let r = reg
            .req(reqwest::Method::PATCH, &location)
            .header("content-range", "0-9")
            .body(vec![i; 10])
            .send()
            .expect("PATCH");
        assert_eq!(r.status(), 202);
    }
    let after = fds();
    assert!(
        after < before + 20,
        "100 open sessions took {} descriptors ({before} -> {after})",
        after.saturating_sub(before)
    );
}
