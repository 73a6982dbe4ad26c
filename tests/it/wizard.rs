//! The real `berth-setup` wizard in a real terminal (tmux, `TERM=linux`, 80x24), through every
//! screen into a temporary root; then berthd from what it wrote, in a network namespace of the
//! test's own, and a real `docker login` and push over HTTPS, trusting the generated CA the way
//! the last screen says. Then the wizard again on the configured system.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use crate::harness::{berthd_bin, built_bin, free_port, http, must, run, Docker, TrustedCa};
use crate::tmux::Tmux;

const PASSWORD: &str = "Wizard12345";
const HOST_ADDRESS: &str = "10.231.0.1";
const BERTH_ADDRESS: &str = "10.231.0.2";

/// A network namespace with a veth pair: the namespace is 10.231.0.2, the root side
/// 10.231.0.1.
struct Namespace {
    name: String,
    link: String,
}

impl Namespace {
    fn create() -> Namespace {
        let id = std::process::id() % 100_000;
        let ns = Namespace {
            name: format!("berth-wz-{id}"),
            link: format!("bwz{id}a"),
        };
        let peer = format!("bwz{id}b");
        let ip = |args: &[&str]| must(Command::new("ip").args(args));
        ip(&["netns", "add", &ns.name]);
        ip(&[
            "link", "add", &ns.link, "type", "veth", "peer", "name", &peer,
        ]);
        ip(&["link", "set", &peer, "netns", &ns.name]);
        ip(&[
            "addr",
            "add",
            &format!("{HOST_ADDRESS}/24"),
            "dev",
            &ns.link,
        ]);
        ip(&["link", "set", &ns.link, "up"]);
        let inside = |args: &[&str]| {
            must(
                Command::new("ip")
                    .args(["netns", "exec", &ns.name, "ip"])
                    .args(args),
            )
        };
        inside(&["addr", "add", &format!("{BERTH_ADDRESS}/24"), "dev", &peer]);
        inside(&["link", "set", &peer, "up"]);
        inside(&["link", "set", "lo", "up"]);
        ns
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = run(Command::new("ip").args(["link", "del", &self.link]));
        let _ = run(Command::new("ip").args(["netns", "del", &self.name]));
    }
}

/// berthd inside the namespace (`ip netns exec` execs it, so the pid is berthd's).
struct NamespacedBerthd {
    child: Child,
    log: PathBuf,
}

impl NamespacedBerthd {
    fn start(ns: &Namespace, config: &Path, log: PathBuf, ping: &str) -> NamespacedBerthd {
        let file = std::fs::File::create(&log).expect("log");
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.name])
            .arg(berthd_bin())
            .arg("--config")
            .arg(config)
            .args(["--free-space-reserve-mib", "0"]) // the shared test disk's free space varies
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .spawn()
            .expect("start berthd in the namespace");
        let berthd = NamespacedBerthd { child, log };
        assert!(
            crate::harness::wait_until_up(ping, Duration::from_secs(30)),
            "berthd did not answer {ping}:\n{}",
            std::fs::read_to_string(&berthd.log).unwrap_or_default()
        );
        berthd
    }
}

impl Drop for NamespacedBerthd {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the pid of a child we started and have not reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

fn wizard_command(root: &Path) -> String {
    format!(
        "env TERM=linux {} --root {} --no-start; echo \"wizard exited with $?\"; read reply",
        built_bin("berth-setup").display(),
        root.display()
    )
}

#[test]
fn the_wizard_in_a_real_terminal_configures_a_registry_docker_pushes_to_over_https() {
    let root = tempfile::tempdir().expect("root");
    let r = root.path();
    let (http_port, https_port) = (free_port(), free_port());
    let registry = format!("{BERTH_ADDRESS}:{https_port}");

    let tmux = Tmux::start(&wizard_command(r));
    tmux.wait_for("Welcome");
    tmux.keys(&["Enter"]);
    tmux.wait_for("Hostname");
    tmux.keys(&["C-u"]);
    tmux.type_text("not_a_host");
    tmux.keys(&["Enter"]);
    tmux.wait_for("Hostname: \"not_a_host\" is not a host name");
    tmux.keys(&["C-u"]);
    tmux.type_text(BERTH_ADDRESS);
    tmux.keys(&["Enter"]);
    tmux.wait_for("Administrator password");
    tmux.type_text(PASSWORD);
    tmux.keys(&["Enter"]);
    tmux.type_text(PASSWORD);
    let screen = tmux.screen();
    assert!(!screen.contains(PASSWORD), "the password shows:\n{screen}");
    tmux.keys(&["Enter"]);
    tmux.wait_for("Login mode");
    tmux.keys(&["Enter"]);
    let tls = tmux.wait_for("TLS certificate");
    assert!(tls.contains("(*) Generate a private CA"), "{tls}");
    tmux.keys(&["Enter"]);
    tmux.wait_for("Ports and data directory");
    tmux.keys(&["C-u"]);
    tmux.type_text(&http_port.to_string());
    tmux.keys(&["Enter", "C-u"]);
    tmux.type_text(&https_port.to_string());
    tmux.keys(&["Enter", "Enter", "Enter"]);
    let summary = tmux.wait_for("Summary");
    assert!(
        summary.contains(&format!("0.0.0.0 port {https_port}")),
        "{summary}"
    );
    assert!(
        std::fs::read_dir(r).expect("root").next().is_none(),
        "nothing is written before the summary is confirmed"
    );
    tmux.keys(&["Enter"]);
    let done = tmux.wait_for("Berth is configured.");
    let login = format!("docker login {registry} -u admin");
    let trust = format!("/etc/docker/certs.d/{registry}/ca.crt");
    assert!(done.contains(&login), "{done}");
    assert!(done.contains(&trust), "{done}");
    assert!(done.contains("CA SHA-256"), "{done}");
    tmux.keys(&["Enter"]);
    let after = tmux.wait_for("wizard exited with");
    assert!(after.contains("wizard exited with 0"), "{after}");
    assert!(
        after.contains(&login),
        "the outcome stays on the terminal:\n{after}"
    );

    // berthd in the namespace, from the written configuration (its paths under the root).
    let config = crate::harness::rooted_config(r);
    assert!(config.contains(&format!("external_url = \"https://{registry}\"")));
    let config_path = r.join("test-berth.toml");
    std::fs::write(&config_path, config).expect("config");
    let ns = Namespace::create();
    let berthd = NamespacedBerthd::start(
        &ns,
        &config_path,
        r.join("berthd.log"),
        &format!("http://{BERTH_ADDRESS}:{http_port}/api/v2.0/ping"),
    );

    // Docker does not trust the registry until the CA is where the last screen said.
    let docker = Docker::new();
    let refused = docker.login(&registry, "admin", PASSWORD);
    assert!(!refused.status.success(), "trusted before the CA was");
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(why.contains("certificate"), "{why}");
    let certs = PathBuf::from(trust.trim_end_matches("/ca.crt"));
    let _trusted = TrustedCa(certs.clone());
    std::fs::create_dir_all(&certs).expect("certs.d");
    std::fs::copy(r.join("etc/berth/tls/ca.crt"), certs.join("ca.crt")).expect("copy the CA");
    let ok = docker.login(&registry, "admin", PASSWORD);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let image = format!("{registry}/library/wizard:v1");
    docker.build(&image, &[3_000, 5_000]);
    docker.ok(&["push", &image]);
    let tags = http()
        .get(format!(
            "http://{BERTH_ADDRESS}:{http_port}/api/v2.0/projects/library/repositories/wizard/artifacts"
        ))
        .basic_auth("admin", Some(PASSWORD))
        .send()
        .expect("artifacts")
        .text()
        .expect("body");
    assert!(tags.contains("\"v1\""), "{tags}");

    // The wizard again, on the configured system: it starts from the current values; a new
    // admin password takes effect in the running daemon.
    drop(tmux);
    let tmux = Tmux::start(&wizard_command(r));
    let welcome = tmux.wait_for("Welcome");
    assert!(welcome.contains("already configured"), "{welcome}");
    tmux.keys(&["Enter"]);
    let host = tmux.wait_for("Hostname");
    assert!(host.contains(BERTH_ADDRESS), "{host}");
    tmux.keys(&["Enter"]);
    tmux.wait_for("Leave both empty to keep the current password");
    tmux.type_text("Changed12345");
    tmux.keys(&["Enter"]);
    tmux.type_text("Changed12345");
    tmux.keys(&["Enter", "Enter", "Enter"]);
    let network = tmux.wait_for("Ports and data directory");
    assert!(network.contains(&https_port.to_string()), "{network}");
    tmux.keys(&["Enter", "Enter", "Enter", "Enter"]);
    tmux.wait_for("Summary");
    tmux.keys(&["Enter"]);
    tmux.wait_for("Berth is configured.");
    tmux.keys(&["Enter"]);
    tmux.wait_for("wizard exited with 0");
    let relogin = Docker::new();
    let old = relogin.login(&registry, "admin", PASSWORD);
    assert!(!old.status.success(), "the old password still works");
    let new = relogin.login(&registry, "admin", "Changed12345");
    assert!(
        new.status.success(),
        "{}",
        String::from_utf8_lossy(&new.stderr)
    );
    drop(berthd);
}

#[test]
fn ctrl_c_leaves_the_wizard_without_writing_anything() {
    let root = tempfile::tempdir().expect("root");
    let tmux = Tmux::start(&wizard_command(root.path()));
    tmux.wait_for("Welcome");
    tmux.keys(&["Enter"]);
    tmux.wait_for("Hostname");
    tmux.keys(&["Enter"]);
    tmux.wait_for("Administrator password");
    tmux.type_text(PASSWORD);
    tmux.keys(&["C-c"]);
    let after = tmux.wait_for("wizard exited with");
    assert!(after.contains("left without changing anything"), "{after}");
    assert!(after.contains("wizard exited with 130"), "{after}");
    assert!(std::fs::read_dir(root.path())
        .expect("root")
        .next()
        .is_none());
}

#[test]
fn the_wizard_tests_a_real_directory_and_configures_ldap_login() {
    // LDAPS with the directory's own CA, given to the wizard as a file.
    let slapd = crate::ldap::Slapd::start_tls();
    let root = tempfile::tempdir().expect("root");
    let r = root.path();
    let tmux = Tmux::start(&wizard_command(r));
    tmux.wizard_to_login_mode(Duration::from_secs(30), "127.0.0.1", PASSWORD);
    tmux.keys(&["Right", "Enter"]);
    tmux.wait_for("LDAP / Active Directory ─");
    // URL, search DN, a wrong search password, base DN, uid attribute.
    tmux.type_text(&slapd.ldaps_url());
    tmux.keys(&["Enter"]);
    tmux.type_text("uid=reader,ou=people,dc=example,dc=com");
    tmux.keys(&["Enter"]);
    tmux.type_text("wrong");
    tmux.keys(&["Enter"]);
    tmux.type_text("dc=example,dc=com");
    tmux.keys(&["Enter", "C-u"]);
    tmux.type_text("uid");
    // Filter, group base, admin group, then the CA; on to the button (StartTLS, verify,
    // button) and run it.
    tmux.keys(&["Tab", "Tab", "Tab", "Tab"]);
    tmux.type_text(&slapd.ca().display().to_string());
    tmux.keys(&["Tab", "Tab", "Tab", "Enter"]);
    let failed = tmux.wait_for("Failed:");
    assert!(
        failed.contains("Failed: the search DN could not bind"),
        "the failed step is named:\n{failed}"
    );
    // The right password, and the test passes.
    tmux.keys(&["Tab", "Tab", "Tab", "C-u"]);
    tmux.type_text("readerpw");
    tmux.keys(&["BTab", "BTab", "BTab", "Enter"]);
    tmux.wait_for("Connected, bound as the search DN and found the base DN.");
    // Leave from the last field before the button; plain HTTP keeps this test short.
    tmux.keys(&["Up", "Enter"]);
    tmux.wait_for("TLS certificate");
    tmux.keys(&["Right", "Right"]);
    tmux.wait_for("WARNING: without TLS");
    tmux.keys(&["Enter"]);
    tmux.wait_for("Ports and data directory");
    let http_port = free_port();
    tmux.keys(&["C-u"]);
    tmux.type_text(&http_port.to_string());
    tmux.keys(&["Enter", "Enter", "C-u"]);
    tmux.type_text("127.0.0.1");
    tmux.keys(&["Enter", "Enter"]);
    let summary = tmux.wait_for("Summary");
    assert!(
        summary.contains(&format!("LDAP at {}", slapd.ldaps_url())),
        "{summary}"
    );
    tmux.keys(&["Enter"]);
    let done = tmux.wait_for("Berth is configured.");
    assert!(
        done.contains(&format!("docker login 127.0.0.1:{http_port} -u admin")),
        "{done}"
    );
    tmux.keys(&["Enter"]);
    tmux.wait_for("wizard exited with 0");

    // berthd from what the wizard wrote: a directory user gets a token.
    let stored = crate::harness::stored_settings(r);
    assert_eq!(stored["auth_mode"], "ldap", "{stored}");
    assert_eq!(
        std::fs::read(r.join("etc/berth/tls/ldap-ca.crt")).expect("the CA copied"),
        std::fs::read(slapd.ca()).expect("ca"),
    );
    assert_eq!(
        stored["ldap"]["ldap_ca_certificate"],
        "/etc/berth/tls/ldap-ca.crt"
    );
    assert!(
        stored["ldap"]["ldap_search_password"]
            .as_str()
            .is_some_and(|p| p.starts_with("sealed:v1:")),
        "the search password is stored sealed: {stored}"
    );
    let database = std::fs::read(r.join("var/lib/berth/berth.db")).expect("database");
    assert!(
        !database.windows(8).any(|w| w == b"readerpw"),
        "no password in clear"
    );
    let config = crate::harness::rooted_config(r);
    assert!(
        !config.contains("[ldap]"),
        "login settings are not in the file:\n{config}"
    );
    let key = r.join("var/lib/berth/secret.key");
    assert_eq!(
        std::fs::metadata(&key).expect("key").permissions().mode() & 0o777,
        0o600
    );
    let rooted = crate::harness::RootedSettings::new(r);
    let berthd = crate::harness::Berthd::start_with_config(|_, port| {
        config.replace(&format!(":{http_port}\""), &format!(":{port}\""))
    });
    let token = |user: &str, password: &str| {
        http()
            .get(format!(
                "{}/service/token?service=harbor-registry",
                berthd.url()
            ))
            .basic_auth(user, Some(password))
            .send()
            .expect("token")
            .status()
            .as_u16()
    };
    assert_eq!(token("alice", "alicepw"), 200);
    assert_eq!(token("alice", "wrong"), 401);
    assert_eq!(token("admin", PASSWORD), 200);

    // Again on the configured system: the directory settings come back, the sealed password
    // opened, so the connection test passes as they stand.
    drop(berthd);
    drop(rooted);
    drop(tmux);
    let tmux = Tmux::start(&wizard_command(r));
    tmux.wait_for("already configured");
    tmux.keys(&["Enter"]);
    tmux.wait_for("Hostname");
    tmux.keys(&["Enter"]);
    tmux.wait_for("Leave both empty");
    tmux.keys(&["Enter", "Enter"]);
    let login = tmux.wait_for("Login mode");
    assert!(login.contains("(*) LDAP / Active Directory"), "{login}");
    tmux.keys(&["Enter"]);
    let directory = tmux.wait_for("LDAP / Active Directory ─");
    assert!(directory.contains("[********"), "{directory}");
    tmux.keys(&["BTab", "Enter"]);
    tmux.wait_for("Connected, bound as the search DN and found the base DN.");
    tmux.keys(&["C-c"]);
    tmux.wait_for("wizard exited with 130");
}
