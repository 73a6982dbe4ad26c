//! Starting and stopping the real programs, and small clients for them. Processes are started
//! on free loopback ports in temporary directories, waited for by polling the ping endpoint
//! with a bounded timeout, and stopped by pid.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use serde_json::Value;
use sha2::Digest as _;

pub const ADMIN_PASSWORD: &str = "Harbor12345";

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

pub fn random_bytes(n: usize) -> Vec<u8> {
    use rand::RngCore;
    let mut v = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut v);
    v
}

pub fn unique(prefix: &str) -> String {
    use rand::Rng;
    format!("{prefix}{}", rand::thread_rng().gen_range(100_000..999_999))
}

/// The `berthd` built next to this test binary (`target/<profile>/berthd`).
pub fn berthd_bin() -> PathBuf {
    built_bin("berthd")
}

/// A binary of this workspace, built next to this test binary (`target/<profile>/NAME`).
pub fn built_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join(name);
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build --workspace` first (tests/run.sh does)",
        bin.display()
    );
    bin
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Installs the TLS crypto provider reqwest needs when a workspace build gives it rustls
/// without one (the daemon's features); harmless when already installed.
pub fn tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub fn http() -> Client {
    tls_provider();
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

/// Polls `url` until it answers 200 or `timeout` passes.
pub fn wait_until_up(url: &str, timeout: Duration) -> bool {
    let client = http();
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if client
            .get(url)
            .timeout(Duration::from_secs(2))
            .send()
            .is_ok_and(|r| r.status().is_success())
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A `berthd` process on its own data directory and port.
pub struct Berthd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
    config: Option<PathBuf>,
    env: Vec<(String, String)>,
    /// Arguments after the configuration (e.g. `--data DIR`).
    args: Vec<String>,
}

impl Berthd {
    /// `berthd --dev` with a data directory and port of its own.
    pub fn start() -> Berthd {
        let mut b = Berthd {
            dir: tempfile::tempdir().expect("tempdir"),
            port: 0,
            child: None,
            config: None,
            env: Vec::new(),
            args: Vec::new(),
        };
        b.spawn();
        b
    }

    /// `berthd --config FILE ARGS…` on a configuration made elsewhere (a restored one);
    /// the harness's own directory holds only the log.
    pub fn start_on(config: &Path, args: &[&str]) -> Berthd {
        let mut b = Berthd {
            dir: tempfile::tempdir().expect("tempdir"),
            port: 0,
            child: None,
            config: Some(config.to_path_buf()),
            env: Vec::new(),
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        b.spawn();
        b
    }

    /// `berthd --config FILE`, where `make_config(dir, http_port)` returns the file's text. The
    /// harness passes port 0 and `--listen 127.0.0.1:0`, then reads the bound port from the log.
    pub fn start_with_config(make_config: impl FnOnce(&Path, u16) -> String) -> Berthd {
        Berthd::start_with_config_env(make_config, &[])
    }

    /// As [`Berthd::start_with_config`], with extra environment variables.
    pub fn start_with_config_env(
        make_config: impl FnOnce(&Path, u16) -> String,
        env: &[(&str, &str)],
    ) -> Berthd {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = 0;
        let path = dir.path().join("berth.toml");
        std::fs::write(&path, make_config(dir.path(), port)).expect("config");
        let mut b = Berthd {
            dir,
            port,
            child: None,
            config: Some(path),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            args: Vec::new(),
        };
        b.spawn();
        b
    }

    /// The running berthd's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("berthd is running").id()
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }

    /// The HTTPS port berthd bound (configure `[tls] listen = "127.0.0.1:0"`), from its log,
    /// which names it just after the HTTP one.
    pub fn https_port(&self) -> u16 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = self.log().lines().find_map(|l| {
                l.split("listening on https://127.0.0.1:")
                    .nth(1)
                    .and_then(|rest| {
                        let digits: String =
                            rest.chars().take_while(char::is_ascii_digit).collect();
                        digits.parse().ok()
                    })
            });
            if let Some(port) = found {
                return port;
            }
            assert!(
                Instant::now() < deadline,
                "no HTTPS listener in the log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("berthd.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        let mut cmd = Command::new(berthd_bin());
        match &self.config {
            Some(path) => cmd.arg("--config").arg(path),
            None => cmd.arg("--dev").arg("--data").arg(self.data()),
        };
        // Port 0 at the first start (the kernel picks, no race with other tests); the same port
        // again at a restart, so clients keep their URLs.
        cmd.args(["--listen", &self.host()]);
        // No full-disk reserve: the test machine's disk is shared and its free space comes and
        // goes. A test about the reserve sets one in its configuration, which is then kept.
        let sets_reserve = self.config.as_ref().is_some_and(|path| {
            std::fs::read_to_string(path).is_ok_and(|text| text.contains("free_space_reserve_mib"))
        });
        if !sets_reserve {
            cmd.args(["--free-space-reserve-mib", "0"]);
        }
        cmd.args(&self.args);
        let log_before = self.log().len();
        let mut child = cmd
            .env("BERTH_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start berthd");
        // Wait for the bound address in the log; a berthd that exits at start is reported at once.
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("berthd exited at start ({status}):\n{}", self.log());
            }
            let log = self.log();
            let found = log.get(log_before..).unwrap_or("").lines().find_map(|l| {
                l.split("listening on http://127.0.0.1:")
                    .nth(1)
                    .and_then(|rest| {
                        let digits: String =
                            rest.chars().take_while(char::is_ascii_digit).collect();
                        digits.parse::<u16>().ok()
                    })
            });
            if let Some(p) = found {
                break p;
            }
            assert!(
                Instant::now() < deadline,
                "berthd did not report its address:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        self.port = port;
        self.child = Some(child);
        let url = format!("{}/api/v2.0/ping", self.url());
        assert!(
            wait_until_up(&url, Duration::from_secs(30)),
            "berthd did not answer ping:\n{}",
            self.log()
        );
    }

    fn signal(&mut self, signal: i32) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        // SAFETY: kill(2) on the pid of a child we started and have not reaped.
        unsafe { libc::kill(child.id() as i32, signal) };
        child.wait().ok()
    }

    /// Sends SIGHUP (reload the certificate) and leaves the process running.
    pub fn hangup(&self) {
        if let Some(child) = &self.child {
            // SAFETY: kill(2) on the pid of a child we started and have not reaped.
            unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
        }
    }

    /// Graceful stop (SIGTERM), waiting for the process to exit; returns how it exited.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        self.signal(libc::SIGTERM)
    }

    pub fn kill9(&mut self) {
        self.signal(libc::SIGKILL);
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Creates a project through the REST API as admin.
    pub fn create_project(&self, name: &str, public: bool) {
        let r = http()
            .post(format!("{}/api/v2.0/projects", self.url()))
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .json(&serde_json::json!({"project_name": name, "metadata": {"public": public.to_string()}}))
            .send()
            .expect("create project");
        assert_eq!(
            r.status(),
            201,
            "create project {name}: {}",
            r.text().unwrap_or_default()
        );
    }

    /// A registry token for `scopes`, as admin (or anonymous with `None`).
    pub fn token(&self, creds: Option<(&str, &str)>, scopes: &[&str]) -> String {
        let mut q: Vec<(&str, &str)> = vec![("service", "harbor-registry")];
        q.extend(scopes.iter().map(|s| ("scope", *s)));
        let mut req = http()
            .get(format!("{}/service/token", self.url()))
            .query(&q);
        if let Some((u, p)) = creds {
            req = req.basic_auth(u, Some(p));
        }
        let r = req.send().expect("token request");
        assert_eq!(r.status(), 200, "token: {:?}", r.text());
        let v: Value = r.json().expect("token json");
        v["token"].as_str().expect("token field").to_string()
    }

    /// An HTTP registry client holding an admin token for the given repositories.
    pub fn registry(&self, repos: &[&str]) -> Registry {
        let scopes: Vec<String> = repos
            .iter()
            .map(|r| format!("repository:{r}:pull,push,delete"))
            .collect();
        let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
        Registry {
            base: self.url(),
            token: self.token(Some(("admin", ADMIN_PASSWORD)), &scopes),
            http: http(),
        }
    }
}

impl Drop for Berthd {
    fn drop(&mut self) {
        self.signal(libc::SIGKILL);
    }
}

/// A minimal OCI client over raw HTTP, for what real clients cannot be made to do.
pub struct Registry {
    pub base: String,
    pub token: String,
    pub http: Client,
}

impl Registry {
    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::blocking::RequestBuilder {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        self.http.request(method, url).bearer_auth(&self.token)
    }

    pub fn get(&self, path: &str) -> Response {
        self.req(reqwest::Method::GET, path).send().expect("GET")
    }

    /// Monolithic upload; returns the digest.
    pub fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        let r = self
            .req(
                reqwest::Method::POST,
                &format!("/v2/{repo}/blobs/uploads/?digest={digest}"),
            )
            .body(bytes.to_vec())
            .send()
            .expect("push blob");
        assert_eq!(r.status(), 201, "push blob: {:?}", r.text());
        digest
    }

    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> Response {
        self.req(
            reqwest::Method::PUT,
            &format!("/v2/{repo}/manifests/{reference}"),
        )
        .header("content-type", media_type)
        .body(body.to_vec())
        .send()
        .expect("put manifest")
    }

    /// Pushes config + one layer + an OCI image manifest; returns (manifest bytes, digest).
    pub fn push_image(&self, repo: &str, tag: &str, layer: &[u8]) -> (Vec<u8>, String) {
        let config =
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let c = self.push_blob(repo, config);
        let l = self.push_blob(repo, layer);
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": c, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": l, "size": layer.len()}],
        });
        let body = serde_json::to_vec(&manifest).expect("json");
        let r = self.put_manifest(
            repo,
            tag,
            "application/vnd.oci.image.manifest.v1+json",
            &body,
        );
        assert_eq!(r.status(), 201, "put manifest: {:?}", r.text());
        let digest = sha256(&body);
        (body, digest)
    }
}

/// The OCI error code of a response body.
pub fn error_code(r: Response) -> String {
    let v: Value = r.json().unwrap_or(Value::Null);
    v["errors"][0]["code"].as_str().unwrap_or("").to_string()
}

/// Runs a command, returning its output; a missing tool is a setup failure with a clear message.
pub fn run(cmd: &mut Command) -> Output {
    match cmd.stdin(Stdio::null()).output() {
        Ok(o) => o,
        Err(e) => panic!(
            "cannot run {:?}: {e} (tests/run.sh installs the tools the tests need)",
            cmd.get_program()
        ),
    }
}

/// Runs a command that must succeed; returns its stdout.
pub fn must(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The configuration `berth-setup --root ROOT` wrote, with its absolute paths (configuration
/// directory, data directory) moved under `root` so a berthd on this machine can run from it.
pub fn rooted_config(root: &Path) -> String {
    std::fs::read_to_string(root.join("etc/berth/berth.toml"))
        .expect("the configuration setup wrote")
        .replace("\"/etc/berth/", &format!("\"{}/etc/berth/", root.display()))
        .replace(
            "\"/var/lib/berth",
            &format!("\"{}/var/lib/berth", root.display()),
        )
}

/// The run-time settings setup stored in the database under `root`, as a JSON document.
pub fn stored_settings(root: &Path) -> Value {
    let document: String = rusqlite::Connection::open(root.join("var/lib/berth/berth.db"))
        .and_then(|c| c.query_row("SELECT document FROM settings", [], |row| row.get(0)))
        .expect("stored settings");
    serde_json::from_str(&document).expect("settings json")
}

/// The paths in the stored settings (the LDAP CA) pointed under `root`, as `rooted_config`
/// does for the file, so a berthd started outside the root finds them; put back on drop, so
/// setup run again on the root reads what it wrote.
pub struct RootedSettings {
    db: PathBuf,
    original: String,
}

impl RootedSettings {
    pub fn new(root: &Path) -> RootedSettings {
        let db = root.join("var/lib/berth/berth.db");
        let conn = rusqlite::Connection::open(&db).expect("database");
        let original: String = conn
            .query_row("SELECT document FROM settings", [], |row| row.get(0))
            .expect("stored settings");
        let rooted = original.replace("\"/etc/berth/", &format!("\"{}/etc/berth/", root.display()));
        conn.execute("UPDATE settings SET document = ?1", [rooted])
            .expect("root the settings");
        RootedSettings { db, original }
    }
}

impl Drop for RootedSettings {
    fn drop(&mut self) {
        if let Ok(conn) = rusqlite::Connection::open(&self.db) {
            let _ = conn.execute("UPDATE settings SET document = ?1", [&self.original]);
        }
    }
}

/// The Docker Engine that `tests/run.sh` started, with a client configuration of our own so
/// tests running at once do not log each other out.
pub struct Docker {
    host: String,
    pub config: tempfile::TempDir,
}

impl Docker {
    pub fn new() -> Docker {
        let host = std::env::var("BERTH_TEST_DOCKER_HOST").unwrap_or_else(|_| {
            panic!("BERTH_TEST_DOCKER_HOST is not set: run the tests with tests/run.sh, which starts dockerd")
        });
        Docker {
            host,
            config: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("docker");
        c.args(args)
            .env("DOCKER_HOST", &self.host)
            .env("DOCKER_CONFIG", self.config.path());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        run(&mut self.cmd(args))
    }

    pub fn ok(&self, args: &[&str]) -> String {
        must(&mut self.cmd(args))
    }

    pub fn login(&self, host: &str, user: &str, password: &str) -> Output {
        let mut c = self.cmd(&["login", "-u", user, "--password-stdin", host]);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("docker login");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            stdin.write_all(password.as_bytes()).expect("password");
        }
        child.wait_with_output().expect("docker login output")
    }

    /// Builds a `FROM scratch` image with one layer per size, of random content.
    pub fn build(&self, tag: &str, layer_sizes: &[usize]) {
        let ctx = tempfile::tempdir().expect("tempdir");
        let mut dockerfile = String::from("FROM scratch\n");
        for (i, size) in layer_sizes.iter().enumerate() {
            std::fs::write(ctx.path().join(format!("f{i}")), random_bytes(*size))
                .expect("layer file");
            dockerfile.push_str(&format!("COPY f{i} /f{i}\n"));
        }
        dockerfile.push_str(&format!("LABEL berth.test=\"{tag}\"\n"));
        std::fs::write(ctx.path().join("Dockerfile"), dockerfile).expect("Dockerfile");
        let mut c = self.cmd(&["build", "-q", "-t", tag]);
        c.arg(ctx.path()).env("DOCKER_BUILDKIT", "0");
        must(&mut c);
    }

    pub fn image_id(&self, tag: &str) -> String {
        self.ok(&["image", "inspect", "--format", "{{.Id}}", tag])
            .trim()
            .to_string()
    }

    pub fn repo_digest(&self, tag: &str) -> String {
        self.ok(&[
            "image",
            "inspect",
            "--format",
            "{{index .RepoDigests 0}}",
            tag,
        ])
        .trim()
        .to_string()
    }
}

/// A private CA (`ca.crt`) and a server certificate for 127.0.0.1 (`server.crt`,
/// `server.key`), written as PEM files into `dir`.
pub fn make_certificates(dir: &Path) {
    make_certificates_named(dir, "Berth test CA");
}

/// As [`make_certificates`], with a CA of the given common name (so two sets differ).
pub fn make_certificates_named(dir: &Path, ca_name: &str) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, ca_name);
    let ca_cert = ca.self_signed(&ca_key).expect("CA cert");
    let key = KeyPair::generate().expect("server key");
    let mut server = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .expect("params");
    server
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    let cert = server
        .signed_by(&key, &Issuer::from_params(&ca, &ca_key))
        .expect("server cert");
    std::fs::write(dir.join("ca.crt"), ca_cert.pem()).expect("write");
    std::fs::write(dir.join("server.crt"), cert.pem()).expect("write");
    std::fs::write(dir.join("server.key"), key.serialize_pem()).expect("write");
}

/// A directory under `/etc/docker/certs.d` a test put a CA in, removed when dropped.
pub struct TrustedCa(pub PathBuf);

impl Drop for TrustedCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
