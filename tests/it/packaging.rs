//! The units (`systemd-analyze verify`) and the packages: their contents; the .deb installed
//! into a fresh Debian root made with debootstrap, configured with `berth-setup --answers`,
//! berthd run from it as the `berth` user, pushed to, upgraded from the previous release (its
//! schema migrated, the data pulled back byte for byte), removed and purged; the .rpm installed
//! with `rpm --root` and upgraded.
//!
//! `tests/run.sh` builds the packages: the previous release's (named [`OLD`]) from its commit,
//! and this one's with `packaging/build.sh`; and the Debian root with debootstrap. It names
//! them in `BERTH_TEST_PACKAGES` and `BERTH_TEST_DEBIAN_ROOT`.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use crate::harness::{
    berthd_bin, built_bin, free_port, http, must, random_bytes, run, wait_until_up, Registry,
};

const PASSWORD: &str = "Package12345";
/// The previous release (built from its commit, one schema behind), which the upgrades start
/// from, and this one.
pub(crate) const OLD: &str = "0.0.9";
pub(crate) const NEW: &str = "0.1.0";

fn env_dir(name: &str) -> PathBuf {
    let dir = std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with tests/run.sh, which prepares it")
    });
    PathBuf::from(dir)
}

pub(crate) fn deb(version: &str) -> PathBuf {
    env_dir("BERTH_TEST_PACKAGES").join(format!("berth_{version}-1_amd64.deb"))
}

pub(crate) fn rpm(version: &str) -> PathBuf {
    env_dir("BERTH_TEST_PACKAGES").join(format!("berth-{version}-1.x86_64.rpm"))
}

/// A fresh copy of the debootstrapped Debian root.
pub(crate) fn debian_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("root");
    must(
        Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", env_dir("BERTH_TEST_DEBIAN_ROOT").display()))
            .arg(root.path()),
    );
    root
}

pub(crate) fn chroot(root: &Path, args: &[&str]) -> std::process::Output {
    run(Command::new("chroot").arg(root).args(args))
}

pub(crate) fn chroot_ok(root: &Path, args: &[&str]) -> String {
    let out = chroot(root, args);
    assert!(
        out.status.success(),
        "chroot {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The uid and gid of `berth` in the root, if it exists.
fn berth_ids(root: &Path) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).ok()?;
    let line = passwd.lines().find(|l| l.starts_with("berth:"))?;
    let fields: Vec<&str> = line.split(':').collect();
    Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?))
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// berthd in the root, as the `berth` user, the way the unit runs it.
struct RootedBerthd {
    child: Child,
}

impl RootedBerthd {
    fn start(root: &Path, http_port: u16) -> RootedBerthd {
        let log = std::fs::File::create(root.join("tmp/berthd.log")).expect("log");
        let child = Command::new("chroot")
            .arg("--userspec=berth:berth")
            .arg(root)
            .args(["/usr/bin/berthd", "--config", "/etc/berth/berth.toml"])
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start berthd in the root");
        let berthd = RootedBerthd { child };
        assert!(
            wait_until_up(
                &format!("http://127.0.0.1:{http_port}/api/v2.0/ping"),
                Duration::from_secs(30)
            ),
            "berthd from the package did not start:\n{}",
            std::fs::read_to_string(root.join("tmp/berthd.log")).unwrap_or_default()
        );
        berthd
    }
}

impl Drop for RootedBerthd {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the pid of a child we started and have not reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

fn answers(http_port: u16, https_port: u16) -> String {
    format!(
        "hostname = \"127.0.0.1\"\nadmin_password = \"{PASSWORD}\"\n\
         [network]\nlisten_address = \"127.0.0.1\"\nhttp_port = {http_port}\nhttps_port = {https_port}\n"
    )
}

/// A project whose survival shows that an upgrade kept the data.
fn create_kept_project(http_port: u16) -> reqwest::blocking::Response {
    http()
        .post(format!("http://127.0.0.1:{http_port}/api/v2.0/projects"))
        .basic_auth("admin", Some(PASSWORD))
        .json(&serde_json::json!({"project_name": "kept", "metadata": {"public": "false"}}))
        .send()
        .expect("create")
}

/// A registry client for the rooted berthd, holding an admin token for `repo`.
fn registry(http_port: u16, repo: &str) -> Registry {
    let base = format!("http://127.0.0.1:{http_port}");
    let r = http()
        .get(format!("{base}/service/token"))
        .query(&[
            ("service", "harbor-registry"),
            ("scope", &format!("repository:{repo}:pull,push")),
        ])
        .basic_auth("admin", Some(PASSWORD))
        .send()
        .expect("token");
    assert_eq!(r.status(), 200, "token: {:?}", r.text());
    let body: serde_json::Value = r.json().expect("token json");
    Registry {
        base,
        token: body["token"].as_str().expect("token").to_string(),
        http: http(),
    }
}

fn projects(http_port: u16, password: &str) -> String {
    http()
        .get(format!("http://127.0.0.1:{http_port}/api/v2.0/projects"))
        .basic_auth("admin", Some(password))
        .send()
        .expect("projects")
        .text()
        .expect("body")
}

const CONTENTS: [&str; 8] = [
    "/usr/bin/berthd",
    "/usr/bin/berth-setup",
    "/usr/lib/systemd/system/berthd.service",
    "/usr/lib/systemd/system/berth-firstboot@.service",
    "/usr/share/doc/berth/examples/berth.toml",
    "/usr/share/doc/berth/README.md",
    "/usr/share/doc/berth/api.md",
    "/usr/share/doc/berth/permissions.md",
];

#[test]
fn units_pass_systemd_analyze_verify() {
    // A root holding the units, the programs they start, and systemd's own units.
    let root = tempfile::tempdir().expect("root");
    let r = root.path();
    for dir in ["usr/bin", "bin", "etc/systemd/system", "usr/lib/systemd"] {
        std::fs::create_dir_all(r.join(dir)).expect("mkdir");
    }
    std::fs::copy(berthd_bin(), r.join("usr/bin/berthd")).expect("berthd");
    std::fs::copy(built_bin("berth-setup"), r.join("usr/bin/berth-setup")).expect("setup");
    std::fs::copy("/bin/sh", r.join("bin/sh")).expect("sh");
    must(
        Command::new("cp")
            .args(["-r", "/usr/lib/systemd/system"])
            .arg(r.join("usr/lib/systemd/")),
    );
    let units = Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd");
    // The wizard's unit is a template: verified as the instances the VM image enables.
    for (file, unit) in [
        ("berthd.service", "/etc/systemd/system/berthd.service"),
        ("berth-firstboot@.service", "berth-firstboot@tty1.service"),
        ("berth-firstboot@.service", "berth-firstboot@ttyS0.service"),
    ] {
        std::fs::copy(units.join(file), r.join("etc/systemd/system").join(file)).expect("unit");
        let out = run(Command::new("systemd-analyze")
            .arg("verify")
            .arg(format!("--root={}", r.display()))
            .arg(unit));
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{unit}:\n{said}");
        assert!(said.trim().is_empty(), "{unit} has warnings:\n{said}");
    }
    let text = std::fs::read_to_string(units.join("berthd.service")).expect("unit");
    for line in [
        "Type=notify",
        "User=berth",
        "StateDirectory=berth",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "Restart=on-failure",
        "ConditionPathExists=/etc/berth/berth.toml",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "berthd.service lacks {line}"
        );
    }
    let security = run(Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(format!("--root={}", r.display()))
        .arg("/etc/systemd/system/berthd.service"));
    let report = String::from_utf8_lossy(&security.stdout);
    let score: f64 = report
        .lines()
        .find_map(|l| l.split("berthd.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{report}"));
    assert!(score < 2.0, "exposure {score} is not OK:\n{report}");
    let firstboot = std::fs::read_to_string(units.join("berth-firstboot@.service")).expect("unit");
    assert!(firstboot.contains("ConditionPathExists=!/etc/berth/configured"));
    assert!(firstboot.contains("TTYPath=/dev/%I"));
}

#[test]
fn packages_hold_the_binaries_units_example_and_docs() {
    let listing = must(Command::new("dpkg-deb").arg("-c").arg(deb(NEW)));
    for path in CONTENTS {
        let line = listing
            .lines()
            .find(|l| l.ends_with(&format!(".{path}")))
            .unwrap_or_else(|| panic!("the .deb lacks {path}:\n{listing}"));
        let want = if path.starts_with("/usr/bin/") {
            "-rwxr-xr-x"
        } else {
            "-rw-r--r--"
        };
        assert!(line.starts_with(want), "{line}");
    }
    assert!(
        !listing.contains("./etc/"),
        "the .deb ships nothing under /etc: setup writes the configuration\n{listing}"
    );
    let info = must(Command::new("dpkg-deb").arg("-I").arg(deb(NEW)));
    for needle in [
        "Package: berth",
        &format!("Version: {NEW}-1"),
        "passwd",
        "libc6",
        "postinst",
        "prerm",
        "postrm",
    ] {
        assert!(info.contains(needle), "{needle} not in:\n{info}");
    }

    let rpm_list = must(Command::new("rpm").args(["-qlp"]).arg(rpm(NEW)));
    for path in CONTENTS {
        assert!(
            rpm_list.lines().any(|l| l == path),
            "the .rpm lacks {path}:\n{rpm_list}"
        );
    }
    let scripts = must(Command::new("rpm").args(["-qp", "--scripts"]).arg(rpm(NEW)));
    for needle in ["useradd", "berth-setup", "try-restart", "systemctl stop"] {
        assert!(scripts.contains(needle), "{needle} not in:\n{scripts}");
    }
    let name = must(
        Command::new("rpm")
            .args(["-qp", "--queryformat", "%{NAME} %{VERSION}"])
            .arg(rpm(NEW)),
    );
    assert_eq!(name, format!("berth {NEW}"));
}

#[test]
fn the_deb_installs_into_debian_configures_runs_upgrades_and_purges() {
    let root = debian_root();
    let r = root.path();
    for version in [OLD, NEW] {
        std::fs::copy(deb(version), r.join(format!("tmp/berth_{version}.deb"))).expect("copy");
    }
    let installed = chroot_ok(r, &["dpkg", "-i", &format!("/tmp/berth_{OLD}.deb")]);
    assert!(installed.contains("Run 'berth-setup'"), "{installed}");
    let (uid, gid) = berth_ids(r).expect("the berth user");
    let data = r.join("var/lib/berth");
    assert_eq!(std::fs::metadata(&data).expect("data").uid(), uid);
    assert_eq!(mode(&data), 0o750);
    assert_eq!(
        std::fs::metadata(r.join("etc/berth")).expect("etc").gid(),
        gid
    );
    assert!(
        !r.join("etc/systemd/system/multi-user.target.wants/berthd.service")
            .exists(),
        "berthd is not enabled before setup"
    );
    assert!(!r.join("etc/berth/berth.toml").exists());

    let (http_port, https_port) = (free_port(), free_port());
    std::fs::write(r.join("tmp/answers.toml"), answers(http_port, https_port)).expect("answers");
    let configured = chroot_ok(r, &["berth-setup", "--answers", "/tmp/answers.toml"]);
    assert!(
        configured.contains("systemctl enable --now berthd.service")
            && configured.contains("runuser -u berth -- berthd --config /etc/berth/berth.toml"),
        "without systemd, setup says how to start berthd:\n{configured}"
    );
    let config_path = r.join("etc/berth/berth.toml");
    let config_meta = std::fs::metadata(&config_path).expect("config");
    assert_eq!((config_meta.uid(), config_meta.gid()), (0, gid));
    assert_eq!(mode(&config_path), 0o640);
    let key = r.join("etc/berth/tls/server.key");
    assert_eq!(std::fs::metadata(&key).expect("key").gid(), gid);
    assert_eq!(mode(&key), 0o640);
    assert_eq!(mode(&r.join("etc/berth/tls/ca.key")), 0o600);
    assert_eq!(
        std::fs::metadata(data.join("berth.db")).expect("db").uid(),
        uid
    );

    // As the unit runs it: the berth user, reading only what setup gave it.
    let berthd = RootedBerthd::start(r, http_port);
    let created = create_kept_project(http_port);
    assert_eq!(created.status().as_u16(), 201);
    let layer = random_bytes(256 * 1024);
    let (manifest, _) = registry(http_port, "kept/app").push_image("kept/app", "v1", &layer);
    drop(berthd);

    // The documented upgrade: apt installs the new package over the old one.
    let config_before = std::fs::read(&config_path).expect("config");
    let upgraded = chroot_ok(
        r,
        &["apt-get", "install", "-y", &format!("/tmp/berth_{NEW}.deb")],
    );
    assert!(
        !upgraded.contains("not configured yet"),
        "a configured system is not told to run setup:\n{upgraded}"
    );
    assert_eq!(
        chroot_ok(r, &["dpkg-query", "-W", "-f", "${Version}", "berth"]),
        format!("{NEW}-1")
    );
    assert_eq!(
        std::fs::read(&config_path).expect("config"),
        config_before,
        "the upgrade kept the configuration"
    );
    assert!(r.join("etc/berth/configured").exists());
    let berthd = RootedBerthd::start(r, http_port);
    assert!(
        projects(http_port, PASSWORD).contains("\"kept\""),
        "the upgrade kept the data"
    );
    // The new berthd migrated the previous release's schema, after copying the database.
    let log = std::fs::read_to_string(r.join("tmp/berthd.log")).unwrap_or_default();
    assert!(
        log.contains("copied the database before upgrading its schema"),
        "the previous release's database was migrated:\n{log}"
    );
    let copies: Vec<String> = std::fs::read_dir(data.join("pre-upgrade"))
        .expect("the pre-upgrade copies")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        copies.len() == 1 && copies[0].starts_with("berth-schema") && copies[0].ends_with(".db"),
        "{copies:?}"
    );
    let reg = registry(http_port, "kept/app");
    let pulled = reg
        .req(reqwest::Method::GET, "/v2/kept/app/manifests/v1")
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .expect("pull manifest");
    assert_eq!(pulled.status(), 200);
    assert_eq!(pulled.bytes().expect("manifest").to_vec(), manifest);
    let blob = reg
        .get(&format!(
            "/v2/kept/app/blobs/{}",
            crate::harness::sha256(&layer)
        ))
        .bytes()
        .expect("layer");
    assert!(
        blob.as_ref() == layer.as_slice(),
        "the layer pulls back byte for byte"
    );
    drop(berthd);

    chroot_ok(r, &["dpkg", "-r", "berth"]);
    assert!(!r.join("usr/bin/berthd").exists());
    assert!(config_path.exists(), "remove keeps the configuration");
    assert!(data.join("berth.db").exists(), "remove keeps the data");
    chroot_ok(r, &["dpkg", "-P", "berth"]);
    assert!(
        !r.join("etc/berth").exists(),
        "purge removes the configuration"
    );
    assert!(!data.exists(), "purge removes the data");
    assert!(berth_ids(r).is_none(), "purge removes the berth user");
}

#[test]
fn the_rpm_installs_with_rpm_root_and_upgrades_keeping_config_and_data() {
    let root = debian_root();
    let r = root.path();
    let rpm_root = |args: &[&str], package: Option<&Path>| {
        let mut cmd = Command::new("rpm");
        cmd.arg("--root").arg(r).args(args);
        if let Some(p) = package {
            cmd.arg(p);
        }
        must(&mut cmd)
    };
    rpm_root(&["--initdb"], None);
    // Debian's rpm refuses to install without --force-debian; the Debian root has no rpm
    // database of its own, so dependencies cannot be resolved there.
    let installed = rpm_root(&["-i", "--nodeps", "--force-debian"], Some(&rpm(OLD)));
    assert!(installed.contains("Run 'berth-setup'"), "{installed}");
    for path in CONTENTS {
        assert!(
            r.join(path.trim_start_matches('/')).is_file(),
            "{path} not installed"
        );
    }
    let (uid, _) = berth_ids(r).expect("the berth user");
    assert_eq!(
        std::fs::metadata(r.join("var/lib/berth"))
            .expect("data")
            .uid(),
        uid
    );

    let (http_port, https_port) = (free_port(), free_port());
    std::fs::write(r.join("tmp/answers.toml"), answers(http_port, https_port)).expect("answers");
    chroot_ok(r, &["berth-setup", "--answers", "/tmp/answers.toml"]);
    let berthd = RootedBerthd::start(r, http_port);
    let created = create_kept_project(http_port);
    assert_eq!(created.status().as_u16(), 201);
    drop(berthd);

    let config_path = r.join("etc/berth/berth.toml");
    let config_before = std::fs::read(&config_path).expect("config");
    rpm_root(&["-U", "--nodeps", "--force-debian"], Some(&rpm(NEW)));
    assert_eq!(
        rpm_root(&["-q", "--queryformat", "%{VERSION}", "berth"], None),
        NEW
    );
    assert_eq!(std::fs::read(&config_path).expect("config"), config_before);
    let berthd = RootedBerthd::start(r, http_port);
    assert!(projects(http_port, PASSWORD).contains("\"kept\""));
    drop(berthd);

    rpm_root(&["-e", "--nodeps", "berth"], None);
    assert!(!r.join("usr/bin/berthd").exists());
    assert!(
        config_path.exists() && r.join("var/lib/berth/berth.db").exists(),
        "an erase keeps configuration and data (RPM has no purge)"
    );
}

/// A container of the test's own Docker Engine running systemd as PID 1, made from the Debian
/// root with systemd installed; on the host's network, so berthd's ports are the host's.
struct SystemdContainer {
    docker: crate::harness::Docker,
    name: String,
    image: String,
}

impl SystemdContainer {
    fn boot() -> SystemdContainer {
        let docker = crate::harness::Docker::new();
        let name = crate::harness::unique("berth-systemd");
        let image = format!("{name}:root");
        let root = env_dir("BERTH_TEST_SYSTEMD_ROOT");
        must(
            Command::new("sh")
                .arg("-c")
                .arg("tar -C \"$ROOT\" -c . | docker import - \"$IMAGE\"")
                .env("ROOT", &root)
                .env("IMAGE", &image)
                .env("DOCKER_HOST", docker.host())
                .env("DOCKER_CONFIG", docker.config.path()),
        );
        let container = SystemdContainer {
            docker,
            name,
            image,
        };
        container.docker.ok(&[
            "run",
            "-d",
            "--name",
            &container.name,
            "--network",
            "host",
            "--tmpfs",
            "/run",
            "--tmpfs",
            "/run/lock",
            "-v",
            "/sys/fs/cgroup:/sys/fs/cgroup:rw",
            &container.image,
            "/lib/systemd/systemd",
        ]);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let state = container.exec(&["systemctl", "is-system-running"]);
            if matches!(state.trim(), "running" | "degraded") {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "systemd did not come up: {state}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        container
    }

    /// Runs a command inside; returns stdout and stderr, whatever the exit status.
    fn exec(&self, args: &[&str]) -> String {
        let mut full = vec!["exec", self.name.as_str()];
        full.extend_from_slice(args);
        let out = self.docker.run(&full);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    fn exec_ok(&self, args: &[&str]) -> String {
        let mut full = vec!["exec", self.name.as_str()];
        full.extend_from_slice(args);
        self.docker.ok(&full)
    }

    fn copy_in(&self, from: &Path, to: &str) {
        self.docker.ok(&[
            "cp",
            from.to_str().expect("path"),
            &format!("{}:{to}", self.name),
        ]);
    }

    fn main_pid(&self) -> String {
        self.exec_ok(&["systemctl", "show", "-p", "MainPID", "--value", "berthd"])
            .trim()
            .to_string()
    }
}

impl Drop for SystemdContainer {
    fn drop(&mut self) {
        let _ = self.docker.run(&["rm", "-f", &self.name]);
        let _ = self.docker.run(&["rmi", &self.image]);
    }
}

fn token_status(http_port: u16, password: &str) -> u16 {
    http()
        .get(format!(
            "http://127.0.0.1:{http_port}/service/token?service=harbor-registry"
        ))
        .basic_auth("admin", Some(password))
        .send()
        .map_or(0, |r| r.status().as_u16())
}

#[test]
fn systemd_runs_the_packaged_daemon_and_setup_reconfigures_it() {
    let system = SystemdContainer::boot();
    let files = tempfile::tempdir().expect("files");
    for version in [OLD, NEW] {
        system.copy_in(&deb(version), &format!("/tmp/berth_{version}.deb"));
    }
    let installed = system.exec_ok(&["dpkg", "-i", &format!("/tmp/berth_{OLD}.deb")]);
    assert!(installed.contains("Run 'berth-setup'"), "{installed}");
    assert_eq!(
        system.exec(&["systemctl", "is-active", "berthd"]).trim(),
        "inactive"
    );
    assert_eq!(
        system.exec(&["systemctl", "is-enabled", "berthd"]).trim(),
        "disabled"
    );

    // Setup under systemd: enabled and started, ready (Type=notify) once it listens. The data
    // directory is not the unit's own, so setup opens it with a drop-in.
    let (http_port, https_port) = (free_port(), free_port());
    let answers_file = files.path().join("answers.toml");
    std::fs::write(
        &answers_file,
        format!(
            "{}[storage]\ndata_dir = \"/srv/berth\"\n",
            answers(http_port, https_port)
        ),
    )
    .expect("answers");
    system.copy_in(&answers_file, "/tmp/answers.toml");
    let configured = system.exec_ok(&["berth-setup", "--answers", "/tmp/answers.toml"]);
    assert!(
        configured.contains("berthd.service is running"),
        "{configured}"
    );
    assert_eq!(
        system.exec(&["systemctl", "is-active", "berthd"]).trim(),
        "active"
    );
    assert_eq!(
        system.exec(&["systemctl", "is-enabled", "berthd"]).trim(),
        "enabled"
    );
    assert!(
        wait_until_up(
            &format!("http://127.0.0.1:{http_port}/api/v2.0/ping"),
            Duration::from_secs(30)
        ),
        "{}",
        system.exec(&["journalctl", "-u", "berthd", "--no-pager"])
    );
    let pid = system.main_pid();
    assert_eq!(
        system
            .exec_ok(&["stat", "-c", "%U", &format!("/proc/{pid}")])
            .trim(),
        "berth",
        "berthd runs as the berth user"
    );
    assert_eq!(token_status(http_port, PASSWORD), 200);
    let created = create_kept_project(http_port);
    assert_eq!(
        created.status().as_u16(),
        201,
        "berthd writes to /srv/berth under ProtectSystem=strict"
    );

    // systemctl reload: the certificate is reloaded in place, the process stays.
    system.exec_ok(&["systemctl", "reload", "berthd"]);
    assert_eq!(system.main_pid(), pid);

    // Setup again with a new admin password: the service is restarted and takes it.
    std::fs::write(
        &answers_file,
        format!(
            "{}[storage]\ndata_dir = \"/srv/berth\"\n",
            answers(http_port, https_port).replace(PASSWORD, "Changed12345")
        ),
    )
    .expect("answers");
    system.copy_in(&answers_file, "/tmp/answers.toml");
    system.exec_ok(&["berth-setup", "--answers", "/tmp/answers.toml"]);
    assert_ne!(system.main_pid(), pid, "reconfiguring restarts berthd");
    assert!(wait_until_up(
        &format!("http://127.0.0.1:{http_port}/api/v2.0/ping"),
        Duration::from_secs(30)
    ));
    assert_eq!(token_status(http_port, "Changed12345"), 200);
    assert_eq!(token_status(http_port, PASSWORD), 401);

    // An upgrade restarts the running daemon on the new binary and keeps everything.
    let before = system.main_pid();
    system.exec_ok(&["dpkg", "-i", &format!("/tmp/berth_{NEW}.deb")]);
    assert_ne!(system.main_pid(), before, "the upgrade restarted berthd");
    assert_eq!(
        system.exec(&["systemctl", "is-active", "berthd"]).trim(),
        "active"
    );
    assert!(wait_until_up(
        &format!("http://127.0.0.1:{http_port}/api/v2.0/ping"),
        Duration::from_secs(30)
    ));
    let projects = projects(http_port, "Changed12345");
    assert!(projects.contains("\"kept\""), "{projects}");

    // The first-boot wizard does not run on a configured system.
    system.exec_ok(&["systemctl", "start", "berth-firstboot@tty1"]);
    assert_eq!(
        system
            .exec_ok(&[
                "systemctl",
                "show",
                "-p",
                "ConditionResult",
                "--value",
                "berth-firstboot@tty1"
            ])
            .trim(),
        "no"
    );

    // Root resets a lost admin password on the running service; the files stay the berth
    // user's, so berthd keeps working and a restart finds them readable.
    system.exec_ok(&[
        "env",
        "BERTH_ADMIN_PASSWORD=Reset12345X",
        "berthd",
        "reset-admin-password",
    ]);
    assert_eq!(token_status(http_port, "Reset12345X"), 200);
    assert_eq!(token_status(http_port, "Changed12345"), 401);
    assert_eq!(
        system.exec(&["find", "/srv/berth", "-user", "root"]).trim(),
        "",
        "the reset left files owned by root"
    );
    system.exec_ok(&["systemctl", "restart", "berthd"]);
    assert!(wait_until_up(
        &format!("http://127.0.0.1:{http_port}/api/v2.0/ping"),
        Duration::from_secs(30)
    ));
    assert_eq!(token_status(http_port, "Reset12345X"), 200);

    // Remove stops it.
    system.exec_ok(&["dpkg", "-r", "berth"]);
    assert_ne!(
        system.exec(&["systemctl", "is-active", "berthd"]).trim(),
        "active"
    );
}
