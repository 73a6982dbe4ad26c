//! The appliance that `appliance/build.sh` makes, booted in qemu (KVM when it can run the
//! firmware, software emulation otherwise, with longer waits), headless, its serial console read by the
//! test, port 443 of the guest forwarded to a port on `127.0.0.1`:
//!
//! - the qcow2 under UEFI with a seed disk (vfat, labelled BERTH) and a blank data disk: the
//!   CA the console prints is the one the registry serves; skopeo (trusting only that CA),
//!   Docker and the REST API; then, powered off, the disks are read offline: the data went to
//!   the data disk, the machine got the answers' SSH key and console password, and the admin
//!   password is on neither disk;
//! - the qcow2 under BIOS without a seed: the wizard on the serial console, driven with tmux,
//!   then a push; offline, nothing can log in (root locked, no SSH, no host keys);
//! - the OVA: its structure (descriptor first, POSIX tar, manifest sums and sizes that match),
//!   then its VMDK booted with an ISO seed holding an OVF environment document (the format
//!   VMware hands over), with a static address.
//!
//! `tests/run.sh` builds the images and names their directory in `BERTH_TEST_APPLIANCE`.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{free_port, must, run, sha256, Docker, TrustedCa};
use crate::tmux::Tmux;

const PASSWORD: &str = "Appliance12345";
const CONSOLE_PASSWORD: &str = "Console12345";
const SSH_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBerthApplianceTestKeyNotUsedToLogIn0000 test@berth";

/// The images' directory, and the built version's qcow2 and OVA in it.
fn images() -> (PathBuf, PathBuf) {
    let dir = PathBuf::from(std::env::var("BERTH_TEST_APPLIANCE").unwrap_or_else(|_| {
        panic!("BERTH_TEST_APPLIANCE is not set: run the tests with tests/run.sh, which builds the images")
    }));
    let version = env!("CARGO_PKG_VERSION");
    let qcow2 = dir.join(format!("berth-{version}.qcow2"));
    let ova = dir.join(format!("berth-{version}.ova"));
    assert!(
        qcow2.is_file() && ova.is_file(),
        "no images in {}",
        dir.display()
    );
    (qcow2, ova)
}

/// Whether KVM can run the guest's firmware. A host whose KVM is PVM (nested virtualisation
/// without hardware support, as on these build machines) has `/dev/kvm` but cannot run
/// real-mode code: SeaBIOS and OVMF hang there, so such a host emulates.
fn kvm() -> bool {
    Path::new("/dev/kvm").exists() && !Path::new("/sys/module/kvm_pvm").exists()
}

/// How long a boot may take to reach a ready berthd: generous, never a measure (the
/// benchmark measures).
fn boot_timeout() -> Duration {
    Duration::from_secs(if kvm() { 240 } else { 1500 })
}

/// A wait that takes `seconds` under KVM, five times as long emulated.
fn patience(seconds: u64) -> Duration {
    Duration::from_secs(if kvm() { seconds } else { seconds * 5 })
}

#[derive(Clone, Copy)]
enum Firmware {
    Bios,
    Uefi,
}

/// A virtual machine of the test's own, stopped (by its pid) when dropped.
struct Vm {
    dir: PathBuf,
    child: Option<Child>,
    /// Where the serial console goes when the test reads it from a file.
    serial: PathBuf,
}

struct Boot<'a> {
    dir: &'a Path,
    system: &'a Path,
    system_format: &'a str,
    firmware: Firmware,
    /// Extra `-drive` values.
    drives: Vec<String>,
    port: u16,
    guest_port: u16,
}

impl Boot<'_> {
    fn args(&self) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "-machine".into(),
            "pc".into(),
            "-accel".into(),
            if kvm() { "kvm" } else { "tcg" }.into(),
            "-cpu".into(),
            if kvm() { "host" } else { "max" }.into(),
            "-smp".into(),
            "2".into(),
            "-m".into(),
            "1024".into(),
            "-display".into(),
            "none".into(),
            "-monitor".into(),
            format!(
                "unix:{},server=on,wait=off",
                self.dir.join("monitor").display()
            ),
            "-pidfile".into(),
            self.dir.join("qemu.pid").display().to_string(),
            "-drive".into(),
            format!(
                "file={},if=virtio,format={}",
                self.system.display(),
                self.system_format
            ),
            "-netdev".into(),
            format!(
                "user,id=n0,hostfwd=tcp:127.0.0.1:{}-:{}",
                self.port, self.guest_port
            ),
            "-device".into(),
            "virtio-net-pci,netdev=n0".into(),
        ];
        for drive in &self.drives {
            args.push("-drive".into());
            args.push(drive.clone());
        }
        if let Firmware::Uefi = self.firmware {
            let vars = self.dir.join("OVMF_VARS.fd");
            std::fs::copy("/usr/share/OVMF/OVMF_VARS_4M.fd", &vars).expect("OVMF variables");
            args.push("-drive".into());
            args.push(
                "if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd".into(),
            );
            args.push("-drive".into());
            args.push(format!("if=pflash,format=raw,file={}", vars.display()));
        }
        args
    }

    /// Boots with the serial console written to a file.
    fn start(self) -> Vm {
        let serial = self.dir.join("serial.log");
        let mut args = self.args();
        args.push("-serial".into());
        args.push(format!("file:{}", serial.display()));
        let child = Command::new("qemu-system-x86_64")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join("qemu.err")).expect("qemu.err"))
            .spawn()
            .expect("start qemu-system-x86_64");
        Vm {
            dir: self.dir.to_path_buf(),
            child: Some(child),
            serial,
        }
    }

    /// Boots inside tmux, the serial console on the pane: the test types on it.
    fn start_in_tmux(self) -> (Vm, Tmux) {
        let mut args = self.args();
        args.extend(["-serial".into(), "stdio".into()]);
        let command = format!(
            "qemu-system-x86_64 {} 2>{}; echo qemu exited; read reply",
            args.join(" "),
            self.dir.join("qemu.err").display()
        );
        let tmux = Tmux::start(&command);
        let vm = Vm {
            dir: self.dir.to_path_buf(),
            child: None,
            serial: self.dir.join("serial.log"),
        };
        (vm, tmux)
    }
}

impl Vm {
    fn pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.join("qemu.pid"))
            .ok()
            .and_then(|p| p.trim().parse().ok())
    }

    fn alive(&self) -> bool {
        // SAFETY: signal 0 only checks that the process (qemu, started by this test) exists.
        self.pid()
            .is_some_and(|pid| unsafe { libc::kill(pid, 0) } == 0)
    }

    /// Fails the test, with qemu's own words, when qemu has ended.
    fn check_running(&mut self) {
        let ended = match &mut self.child {
            Some(child) => child.try_wait().ok().flatten().is_some(),
            None => self.pid().is_some() && !self.alive(),
        };
        assert!(
            !ended,
            "qemu ended: {}\n{}",
            std::fs::read_to_string(self.dir.join("qemu.err")).unwrap_or_default(),
            self.serial()
        );
    }

    fn serial(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.serial).unwrap_or_default()).into_owned()
    }

    fn wait_serial(&mut self, text: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let log = self.serial();
            if log.contains(text) {
                return log;
            }
            self.check_running();
            assert!(
                Instant::now() < deadline,
                "the serial console never showed {text:?}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// ACPI power button, then waits for qemu to end (so the guest's file systems are clean
    /// for the offline checks).
    fn power_off(&mut self) {
        monitor_command(&self.dir.join("monitor"), "system_powerdown");
        let deadline = Instant::now() + patience(120);
        while self.alive() && Instant::now() < deadline {
            if let Some(child) = &mut self.child {
                let _ = child.try_wait();
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        assert!(
            !self.alive(),
            "the guest did not power off:\n{}",
            self.serial()
        );
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        if let Some(pid) = self.pid() {
            // SAFETY: kill(2) on the pid qemu (started by this test) wrote to its pidfile.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }
}

/// One command to qemu's human monitor: waits for its prompt, sends the command and waits for
/// the echo (closed any sooner, the monitor drops what it was sent).
fn monitor_command(socket: &Path, command: &str) {
    use std::io::Read;
    let Ok(mut stream) = UnixStream::connect(socket) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut seen = Vec::new();
    // Reads until the monitor has shown its prompt `prompts` times.
    let mut read_prompts = |stream: &mut UnixStream, prompts: usize| {
        let mut buf = [0u8; 1024];
        while String::from_utf8_lossy(&seen).matches("(qemu)").count() < prompts {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    };
    read_prompts(&mut stream, 1);
    let _ = stream.write_all(format!("{command}\n").as_bytes());
    read_prompts(&mut stream, 2);
}

/// `curl` with the given arguments; its output, and whether it succeeded.
fn curl(args: &[&str]) -> (bool, String) {
    let out = run(Command::new("curl")
        .args(["-s", "--max-time", "10"])
        .args(args));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Polls the registry through the forwarded port until berthd answers (any certificate: the
/// test does not know the CA yet).
fn wait_ready(vm: &mut Vm, port: u16) {
    let url = format!("https://127.0.0.1:{port}/api/v2.0/ping");
    let deadline = Instant::now() + boot_timeout();
    loop {
        let (ok, body) = curl(&["-k", &url]);
        if ok && body == "Pong" {
            return;
        }
        vm.check_running();
        assert!(
            Instant::now() < deadline,
            "berthd never answered {url}; the console:\n{}",
            vm.serial()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The CA's SHA-256 fingerprint as the console's banner shows it (two lines), joined: the
/// first word of each, as far as it is hex and colons (a terminal may have left other text
/// on those lines).
fn banner_fingerprint(console: &str) -> String {
    let lines: Vec<&str> = console.lines().collect();
    let at = lines
        .iter()
        .rposition(|l| l.contains("CA SHA-256"))
        .unwrap_or_else(|| panic!("no CA fingerprint on the console:\n{console}"));
    let first_word = |text: &str| -> String {
        text.split_whitespace()
            .next()
            .unwrap_or("")
            .chars()
            .take_while(|c| c.is_ascii_hexdigit() || *c == ':')
            .collect()
    };
    let first = first_word(lines[at].split("CA SHA-256").nth(1).unwrap_or(""));
    let second = first_word(lines.get(at + 1).copied().unwrap_or(""));
    // 32 bytes: 64 hex digits and 31 colons.
    format!("{first}{second}").chars().take(95).collect()
}

/// Downloads the CA the way the banner says, checks it against the banner, writes it to
/// `dir/ca.crt` and returns that path.
fn fetch_and_check_ca(port: u16, console: &str, dir: &Path) -> PathBuf {
    let (ok, pem) = curl(&[
        "-k",
        &format!("https://127.0.0.1:{port}/api/v2.0/systeminfo/getcert"),
    ]);
    assert!(ok && pem.contains("BEGIN CERTIFICATE"), "{pem}");
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("PEM body");
    let fingerprint = sha256(&der)
        .trim_start_matches("sha256:")
        .as_bytes()
        .chunks(2)
        .map(|pair| String::from_utf8_lossy(pair).to_uppercase())
        .collect::<Vec<_>>()
        .join(":");
    assert_eq!(
        banner_fingerprint(console),
        fingerprint,
        "the console shows another CA than the registry serves"
    );
    let path = dir.join("ca.crt");
    std::fs::write(&path, pem).expect("ca.crt");
    path
}

/// What curl says about the registry when it trusts only `ca`.
fn trusted_get(ca: &Path, url: &str, user: bool) -> (bool, String) {
    let ca = ca.display().to_string();
    let mut args = vec!["--fail", "--cacert", ca.as_str(), url];
    let creds = format!("admin:{PASSWORD}");
    if user {
        args.extend(["-u", creds.as_str()]);
    }
    curl(&args)
}

/// skopeo copies a two-platform index in, verifying the certificate against `certs` only.
fn skopeo_push(port: u16, certs: &Path, dir: &Path, repo: &str) {
    let layout = dir.join("layout");
    crate::skopeo::write_multiarch_layout(&layout);
    let copy = |cert_dir: Option<&Path>| {
        let mut cmd = Command::new("skopeo");
        cmd.args(["copy", "--all", "--retry-times", "0"])
            .arg(format!("--dest-creds=admin:{PASSWORD}"));
        if let Some(d) = cert_dir {
            cmd.arg(format!("--dest-cert-dir={}", d.display()));
        }
        cmd.arg(format!("oci:{}:multi", layout.display()))
            .arg(format!("docker://localhost:{port}/library/{repo}:v1"));
        run(&mut cmd)
    };
    let untrusted = copy(None);
    assert!(
        !untrusted.status.success(),
        "skopeo trusted the registry without its CA"
    );
    let trusted = copy(Some(certs));
    assert!(
        trusted.status.success(),
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );
}

/// A raw copy of a disk image, for reading its file systems offline.
fn raw_copy(image: &Path, dir: &Path, name: &str) -> PathBuf {
    let raw = dir.join(name);
    must(
        Command::new("qemu-img")
            .args(["convert", "-O", "raw"])
            .arg(image)
            .arg(&raw),
    );
    raw
}

/// `debugfs -R REQUEST` on an ext4 file system in `image` at byte `offset`.
fn debugfs(image: &Path, offset: u64, request: &str) -> String {
    let device = format!("{}?offset={offset}", image.display());
    let out = run(Command::new("debugfs").args(["-R", request, &device]));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The byte offset of the system disk's root partition (the third).
fn root_offset(raw: &Path) -> u64 {
    let start = must(
        Command::new("partx")
            .args(["--noheadings", "--output", "START", "--nr", "3"])
            .arg(raw),
    );
    start.trim().parse::<u64>().expect("root partition start") * 512
}

/// Whether `needle` occurs anywhere in the file. grep reads it as NUL-separated text, so a
/// disk image's long runs without a newline never make one huge line.
fn file_holds(path: &Path, needle: &str) -> bool {
    run(Command::new("grep")
        .args(["-q", "-a", "-z", "-F", needle])
        .arg(path))
    .status
    .success()
}

fn overlay(base: &Path, base_format: &str, dir: &Path) -> PathBuf {
    let system = dir.join("system.qcow2");
    must(
        Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2", "-F", base_format, "-b"])
            .arg(base)
            .arg(&system),
    );
    system
}

#[test]
fn the_qcow2_boots_from_a_seed_disk_onto_a_data_disk_and_serves_docker_skopeo_and_the_api() {
    let (qcow2, _) = images();
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let port = free_port();
    let system = overlay(&qcow2, "qcow2", d);

    // The seed: a small vfat volume labelled BERTH with the answers file, as an operator
    // makes one with mkfs.vfat and mtools.
    let answers = d.join("berth-answers.toml");
    std::fs::write(
        &answers,
        format!(
            "hostname = \"localhost\"\nadmin_password = \"{PASSWORD}\"\n\n[network]\n\
             http_port = 0\nhttps_port = {port}\n\n[appliance]\n\
             ssh_authorized_keys = [\"{SSH_KEY}\"]\nroot_password = \"{CONSOLE_PASSWORD}\"\n"
        ),
    )
    .expect("answers");
    let seed = d.join("seed.img");
    must(
        Command::new("mkfs.vfat")
            .args(["-n", "BERTH", "-C"])
            .arg(&seed)
            .arg("2048"),
    );
    must(
        Command::new("mcopy")
            .arg("-i")
            .arg(&seed)
            .arg(&answers)
            .arg("::berth-answers.toml"),
    );
    let data = d.join("data.qcow2");
    must(
        Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2"])
            .arg(&data)
            .arg("4G"),
    );

    let mut vm = Boot {
        dir: d,
        system: &system,
        system_format: "qcow2",
        firmware: Firmware::Uefi,
        drives: vec![
            format!("file={},if=virtio,format=raw,readonly=on", seed.display()),
            format!("file={},if=virtio,format=qcow2", data.display()),
        ],
        port,
        guest_port: port,
    }
    .start();
    wait_ready(&mut vm, port);
    let console = vm.wait_serial("Trust it", patience(120));
    assert!(
        console.contains("formatting the blank disk"),
        "the data disk was not taken:\n{console}"
    );
    assert!(
        console.contains(&format!("URL          https://localhost:{port}")),
        "{console}"
    );
    let ca = fetch_and_check_ca(port, &console, d);

    // Clients that trust only that CA.
    let base = format!("https://localhost:{port}");
    let (untrusted, _) = curl(&["--fail", &format!("{base}/api/v2.0/ping")]);
    assert!(!untrusted, "curl trusted the registry without its CA");
    let (ok, info) = trusted_get(&ca, &format!("{base}/api/v2.0/systeminfo"), false);
    assert!(ok, "{info}");
    let certs = d.join("certs");
    std::fs::create_dir_all(&certs).expect("certs");
    std::fs::copy(&ca, certs.join("ca.crt")).expect("ca");
    skopeo_push(port, &certs, d, "multi");

    let docker = Docker::new();
    let registry = format!("localhost:{port}");
    let docker_certs = PathBuf::from(format!("/etc/docker/certs.d/{registry}"));
    let _trusted = TrustedCa(docker_certs.clone());
    std::fs::create_dir_all(&docker_certs).expect("certs.d");
    std::fs::copy(&ca, docker_certs.join("ca.crt")).expect("ca");
    let login = docker.login(&registry, "admin", PASSWORD);
    assert!(
        login.status.success(),
        "{}",
        String::from_utf8_lossy(&login.stderr)
    );
    let image = format!("{registry}/library/app:v1");
    docker.build(&image, &[40_000, 70_000]);
    let pushed_id = docker.image_id(&image);
    docker.ok(&["push", &image]);
    docker.ok(&["rmi", &image]);
    docker.ok(&["pull", &image]);
    assert_eq!(docker.image_id(&image), pushed_id);

    let (ok, repositories) = trusted_get(
        &ca,
        &format!("{base}/api/v2.0/projects/library/repositories"),
        true,
    );
    assert!(ok, "{repositories}");
    assert!(
        repositories.contains("\"library/app\"") && repositories.contains("\"library/multi\""),
        "{repositories}"
    );
    let (ok, artifacts) = trusted_get(
        &ca,
        &format!("{base}/api/v2.0/projects/library/repositories/app/artifacts?with_tag=true"),
        true,
    );
    assert!(ok && artifacts.contains("\"v1\""), "{artifacts}");

    // Offline: the registry's data is on the data disk; the machine has the answers' key and
    // console password; the admin password is on no disk.
    vm.power_off();
    let data_raw = raw_copy(&data, d, "data.raw");
    let listing = debugfs(&data_raw, 0, "ls /");
    assert!(
        listing.contains("berth.db") && listing.contains("blobs"),
        "the data disk holds: {listing}"
    );
    let system_raw = raw_copy(&system, d, "system.raw");
    let offset = root_offset(&system_raw);
    let shadow = debugfs(&system_raw, offset, "cat /etc/shadow");
    let root_hash = shadow
        .lines()
        .find_map(|l| l.strip_prefix("root:"))
        .and_then(|rest| rest.split(':').next())
        .unwrap_or("");
    assert!(root_hash.starts_with('$'), "root has no password: {shadow}");
    let keys = debugfs(&system_raw, offset, "cat /root/.ssh/authorized_keys");
    assert_eq!(keys.trim(), SSH_KEY);
    let ssh = debugfs(&system_raw, offset, "ls /etc/ssh");
    assert!(ssh.contains("ssh_host_ed25519_key.pub"), "{ssh}");
    let wants = debugfs(
        &system_raw,
        offset,
        "ls /etc/systemd/system/multi-user.target.wants",
    );
    assert!(
        wants.contains("ssh.service"),
        "ssh was not turned on: {wants}"
    );
    // Everything the guest wrote is in the overlay and the data disk's clusters.
    for disk in [&system, &data] {
        assert!(
            !file_holds(disk, PASSWORD),
            "the admin password is on {}",
            disk.display()
        );
    }
}

#[test]
fn without_a_seed_the_wizard_on_the_serial_console_configures_the_vm() {
    let (qcow2, _) = images();
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let port = free_port();
    let system = overlay(&qcow2, "qcow2", d);
    let (mut vm, tmux) = Boot {
        dir: d,
        system: &system,
        system_format: "qcow2",
        firmware: Firmware::Bios,
        drives: Vec::new(),
        port,
        guest_port: port,
    }
    .start_in_tmux();

    tmux.wizard_to_login_mode(boot_timeout(), "localhost", PASSWORD);
    tmux.keys(&["Enter"]);
    tmux.wait_for("TLS certificate");
    tmux.keys(&["Enter"]);
    tmux.wait_for("Ports and data directory");
    tmux.keys(&["C-u"]);
    tmux.type_text("0");
    tmux.keys(&["Enter", "C-u"]);
    tmux.type_text(&port.to_string());
    tmux.keys(&["Enter", "Enter", "Enter"]);
    let summary = tmux.wait_for("Summary");
    assert!(summary.contains("Certificate for"), "{summary}");
    tmux.keys(&["Enter"]);
    let done = tmux.wait_for_within("Berth is configured.", patience(120));
    assert!(done.contains("berthd.service is running"), "{done}");
    tmux.keys(&["Enter"]);
    // The login prompt on the serial console, under the banner.
    let banner = tmux.wait_for_within("login:", patience(60));
    wait_ready(&mut vm, port);
    let ca = fetch_and_check_ca(port, &banner, d);
    let certs = d.join("certs");
    std::fs::create_dir_all(&certs).expect("certs");
    std::fs::copy(&ca, certs.join("ca.crt")).expect("ca");
    skopeo_push(port, &certs, d, "wizard");
    let (ok, artifacts) = trusted_get(
        &ca,
        &format!(
            "https://localhost:{port}/api/v2.0/projects/library/repositories/wizard/artifacts"
        ),
        true,
    );
    assert!(ok && artifacts.contains("\"v1\""), "{artifacts}");

    // Nothing answers with a default password: root is locked, SSH is off and keyless.
    vm.power_off();
    let system_raw = raw_copy(&system, d, "system.raw");
    let offset = root_offset(&system_raw);
    let shadow = debugfs(&system_raw, offset, "cat /etc/shadow");
    for line in shadow.lines().filter(|l| !l.trim().is_empty()) {
        let hash = line.split(':').nth(1).unwrap_or("");
        assert!(
            hash.starts_with('*') || hash.starts_with('!'),
            "an account with a password: {line}"
        );
    }
    let ssh = debugfs(&system_raw, offset, "ls /etc/ssh");
    assert!(!ssh.contains("ssh_host_"), "host keys in the image: {ssh}");
    let wants = debugfs(
        &system_raw,
        offset,
        "ls /etc/systemd/system/multi-user.target.wants",
    );
    assert!(wants.contains("berthd.service"), "{wants}");
    assert!(!wants.contains("ssh.service"), "ssh is on: {wants}");
    assert!(!file_holds(&system, PASSWORD));
    drop(tmux);
}

/// One member of a tar archive: its name, where its data starts, its size, and its magic.
struct Member {
    name: String,
    offset: u64,
    size: u64,
    magic: Vec<u8>,
}

fn tar_members(bytes: &[u8]) -> Vec<Member> {
    let mut members = Vec::new();
    let mut at = 0usize;
    while at + 512 <= bytes.len() && bytes[at] != 0 {
        let header = &bytes[at..at + 512];
        let field = |range: std::ops::Range<usize>| {
            String::from_utf8_lossy(&header[range])
                .trim_end_matches('\0')
                .trim()
                .to_string()
        };
        let size = u64::from_str_radix(&field(124..136), 8).expect("octal size");
        members.push(Member {
            name: field(0..100),
            offset: (at + 512) as u64,
            size,
            magic: header[257..265].to_vec(),
        });
        at += 512 + (size as usize).div_ceil(512) * 512;
    }
    members
}

#[test]
fn the_ova_is_well_formed_and_its_vmdk_boots_with_ovf_properties() {
    let (_, ova) = images();
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let bytes = std::fs::read(&ova).expect("ova");
    let members = tar_members(&bytes);
    let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
    let version = env!("CARGO_PKG_VERSION");
    let vmdk_name = format!("berth-{version}-disk1.vmdk");
    assert_eq!(
        names,
        [
            format!("berth-{version}.ovf"),
            format!("berth-{version}.mf"),
            vmdk_name.clone()
        ],
        "the descriptor first, then the manifest, then the disk"
    );
    for m in &members {
        assert_eq!(m.magic, b"ustar\x0000", "{} is not POSIX ustar", m.name);
    }
    let content = |m: &Member| &bytes[m.offset as usize..(m.offset + m.size) as usize];
    let descriptor = String::from_utf8(content(&members[0]).to_vec()).expect("utf-8 descriptor");
    let manifest = String::from_utf8(content(&members[1]).to_vec()).expect("utf-8 manifest");
    let vmdk = content(&members[2]);
    assert_eq!(
        manifest,
        format!(
            "SHA256({})= {}\nSHA256({})= {}\n",
            members[0].name,
            sha256(content(&members[0])).trim_start_matches("sha256:"),
            vmdk_name,
            sha256(vmdk).trim_start_matches("sha256:")
        )
    );
    assert!(
        descriptor.contains(&format!(
            "ovf:href=\"{vmdk_name}\" ovf:size=\"{}\"",
            vmdk.len()
        )),
        "the reference names the disk and its size"
    );
    assert!(descriptor.contains("vmdk.html#streamOptimized"));
    assert!(descriptor.contains("ovf:transport=\"com.vmware.guestInfo\""));
    assert!(!descriptor.contains('@'), "a placeholder was left");
    for key in [
        "admin_password",
        "ldap.ldap_search_password",
        "appliance.root_password",
    ] {
        let property = descriptor
            .split("<Property ")
            .find(|p| p.contains(&format!("ovf:key=\"{key}\"")))
            .unwrap_or_else(|| panic!("no {key} property"));
        let tag = property.split('>').next().unwrap_or("");
        assert!(tag.contains("ovf:password=\"true\""), "{key}: {tag}");
    }
    let capacity: u64 = descriptor
        .split("ovf:capacity=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|n| n.parse().ok())
        .expect("capacity");
    assert_eq!(&vmdk[0..4], b"KDMV", "a sparse VMDK");
    let text_header = String::from_utf8_lossy(&vmdk[512..1536]);
    assert!(
        text_header.contains("createType=\"streamOptimized\""),
        "{text_header}"
    );
    let info = must(
        Command::new("qemu-img")
            .args(["info", "--output=json"])
            .arg({
                let path = d.join(&vmdk_name);
                std::fs::write(&path, vmdk).expect("vmdk");
                path
            }),
    );
    let info: serde_json::Value = serde_json::from_str(&info).expect("qemu-img info");
    assert_eq!(info["virtual-size"].as_u64(), Some(capacity));

    // The VMDK boots (BIOS, as VirtualBox does by default) and takes its answers from an OVF
    // environment document on an ISO seed, static address included.
    let port = free_port();
    let environment = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Environment xmlns="http://schemas.dmtf.org/ovf/environment/1"
     xmlns:oe="http://schemas.dmtf.org/ovf/environment/1" oe:id="">
  <PlatformSection><Kind>qemu</Kind></PlatformSection>
  <PropertySection>
    <Property oe:key="hostname" oe:value="localhost"/>
    <Property oe:key="admin_password" oe:value="{PASSWORD}"/>
    <Property oe:key="tls.mode" oe:value="generate"/>
    <Property oe:key="auth.mode" oe:value="db"/>
    <Property oe:key="ldap.ldap_uid" oe:value="uid"/>
    <Property oe:key="appliance.network" oe:value="static"/>
    <Property oe:key="appliance.address" oe:value="10.0.2.15/24"/>
    <Property oe:key="appliance.gateway" oe:value="10.0.2.2"/>
    <Property oe:key="appliance.dns" oe:value="10.0.2.3"/>
    <Property oe:key="appliance.ssh_authorized_keys" oe:value=""/>
    <Property oe:key="appliance.root_password" oe:value=""/>
  </PropertySection>
</Environment>
"#
    );
    let seed_dir = d.join("seed");
    std::fs::create_dir_all(&seed_dir).expect("seed dir");
    std::fs::write(seed_dir.join("ovf-env.xml"), environment).expect("ovf-env.xml");
    let iso = d.join("seed.iso");
    must(
        Command::new("genisoimage")
            .args(["-quiet", "-volid", "BERTH", "-joliet", "-rock", "-output"])
            .arg(&iso)
            .arg(&seed_dir),
    );
    let system = overlay(&d.join(&vmdk_name), "vmdk", d);
    let mut vm = Boot {
        dir: d,
        system: &system,
        system_format: "qcow2",
        firmware: Firmware::Bios,
        drives: vec![format!("file={},media=cdrom,if=ide", iso.display())],
        port,
        guest_port: 443,
    }
    .start();
    wait_ready(&mut vm, port);
    let console = vm.wait_serial("Trust it", patience(120));
    assert!(console.contains("ovf-env.xml"), "{console}");
    let ca = fetch_and_check_ca(port, &console, d);
    let (ok, me) = trusted_get(
        &ca,
        &format!("https://localhost:{port}/api/v2.0/users/current"),
        true,
    );
    assert!(ok && me.contains("\"admin\""), "{me}");
    vm.power_off();
    let system_raw = raw_copy(&system, d, "system.raw");
    let network = debugfs(
        &system_raw,
        root_offset(&system_raw),
        "cat /etc/systemd/network/10-berth.network",
    );
    assert!(
        network.contains("Address=10.0.2.15/24") && network.contains("Gateway=10.0.2.2"),
        "{network}"
    );
}
