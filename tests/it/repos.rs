//! The package repositories `packaging/repos.sh` publishes: Berth installed and upgraded with
//! `apt-get` from the signed APT repository (a `file:` source, the key in `Signed-By`) in the
//! debootstrapped Debian root, and with `dnf --installroot` from the signed RPM repository; a
//! tampered package, and a repository re-signed by someone else, are refused and change nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::harness::{must, run};
use crate::packaging::{chroot, chroot_ok, deb, debian_root, rpm, NEW, OLD};

/// `packaging/repos.sh --out OUT --keyring KEYRING --url URL PACKAGES...`, which must succeed.
fn publish(out: &Path, keyring: &Path, url: &str, packages: &[PathBuf]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/repos.sh");
    must(
        Command::new(script)
            .arg("--out")
            .arg(out)
            .arg("--keyring")
            .arg(keyring)
            .args(["--url", url])
            .args(packages),
    )
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// What someone who can write the served directory, but does not hold the key, does: puts
/// their own repository and their own public key in place of ours.
fn replace_served(out: &Path, impostor: &Path, repository: &str) {
    std::fs::remove_dir_all(out.join(repository)).expect("old repository");
    must(
        Command::new("cp")
            .arg("-a")
            .arg(impostor.join(repository))
            .arg(out.join(repository)),
    );
    for key in ["berth-archive-keyring.gpg", "berth-archive-keyring.asc"] {
        std::fs::copy(impostor.join(key), out.join(key)).expect("impostor's key");
    }
}

/// Flips one byte in the middle of a file, as a corrupted mirror or an attacker would.
fn tamper(path: &Path) {
    let mut bytes = std::fs::read(path).expect("package");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(path, bytes).expect("tampered package");
}

fn only_file_with_suffix(dir: &Path, suffix: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    assert_eq!(found.len(), 1, "{suffix} in {}: {found:?}", dir.display());
    found.into_iter().next().expect("one")
}

#[test]
fn apt_installs_and_upgrades_berth_from_the_signed_repository_and_refuses_tampering() {
    let root = debian_root();
    let r = root.path();
    let keyring = tempfile::tempdir().expect("keyring");
    // The repository is served from inside the root, where apt's `file:` method reads it.
    let out = r.join("srv/berth-repo");
    let url = "file:///srv/berth-repo";
    let published = publish(&out, keyring.path(), url, &[deb(OLD)]);
    assert!(published.contains("generating one"), "{published}");
    for signed in ["apt/dists/stable/InRelease", "apt/dists/stable/Release.gpg"] {
        assert!(out.join(signed).is_file(), "{signed} missing");
    }

    // As an operator sets it up: the public key where Signed-By names it, the source beside
    // Debian's (which is left out here: the test machine's root needs nothing from it).
    std::fs::create_dir_all(r.join("etc/apt/keyrings")).expect("keyrings");
    std::fs::copy(
        out.join("berth-archive-keyring.gpg"),
        r.join("etc/apt/keyrings/berth-archive-keyring.gpg"),
    )
    .expect("key");
    std::fs::copy(
        out.join("berth.sources"),
        r.join("etc/apt/sources.list.d/berth.sources"),
    )
    .expect("sources");
    let _ = std::fs::remove_file(r.join("etc/apt/sources.list"));
    let version = |r: &Path| chroot_ok(r, &["dpkg-query", "-W", "-f", "${Version}", "berth"]);

    chroot_ok(r, &["apt-get", "update"]);
    let installed = chroot_ok(r, &["apt-get", "install", "-y", "berth"]);
    assert!(installed.contains("Run 'berth-setup'"), "{installed}");
    assert_eq!(version(r), format!("{OLD}-1"));
    assert!(r.join("usr/bin/berthd").is_file());

    // The next release published into the same repository: a plain upgrade takes it.
    publish(&out, keyring.path(), url, &[deb(NEW)]);
    chroot_ok(r, &["apt-get", "update"]);
    chroot_ok(r, &["apt-get", "upgrade", "-y"]);
    assert_eq!(version(r), format!("{NEW}-1"));
    let berthd = std::fs::read(r.join("usr/bin/berthd")).expect("berthd");

    // A package changed in the pool: its sum no longer matches the signed index.
    let pool = out.join("apt/pool/main/b/berth");
    tamper(&only_file_with_suffix(&pool, &format!("{NEW}-1_amd64.deb")));
    chroot_ok(r, &["apt-get", "clean"]);
    let refused = chroot(r, &["apt-get", "install", "-y", "--reinstall", "berth"]);
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(
        text(&refused).contains("Hash Sum mismatch") || text(&refused).contains("hash sum"),
        "the refusal names the mismatch:\n{}",
        text(&refused)
    );
    assert_eq!(version(r), format!("{NEW}-1"));
    assert_eq!(
        std::fs::read(r.join("usr/bin/berthd")).expect("berthd"),
        berthd,
        "the refused package changed nothing"
    );

    // Someone who can write the repository but does not hold the key publishes a "newer"
    // berth and signs the repository with their own key.
    let impostor_key = tempfile::tempdir().expect("impostor's keyring");
    let impostor = tempfile::tempdir().expect("impostor's repository");
    let unpacked = impostor_key.path().join("unpacked");
    must(
        Command::new("dpkg-deb")
            .arg("-R")
            .arg(deb(NEW))
            .arg(&unpacked),
    );
    let control = unpacked.join("DEBIAN/control");
    let fields = std::fs::read_to_string(&control).expect("control");
    std::fs::write(
        &control,
        fields.replace(&format!("Version: {NEW}-1"), "Version: 9.9.9-1"),
    )
    .expect("control");
    let forged = impostor_key.path().join("berth_9.9.9-1_amd64.deb");
    must(
        Command::new("dpkg-deb")
            .arg("-b")
            .arg(&unpacked)
            .arg(&forged),
    );
    publish(impostor.path(), impostor_key.path(), url, &[forged]);
    replace_served(&out, impostor.path(), "apt");
    // apt keeps the index it trusted and says why; the forged release is not offered.
    let said = chroot_ok(r, &["apt-get", "update"]);
    assert!(
        said.contains("NO_PUBKEY") && said.contains("The repository is not updated"),
        "apt refuses a repository signed by another key:\n{said}"
    );
    chroot_ok(r, &["apt-get", "upgrade", "-y"]);
    assert_eq!(version(r), format!("{NEW}-1"));
}

/// What the Debian root already has (a shell, `useradd`, systemd's directories), recorded in
/// its rpm database so dnf can resolve Berth's dependencies there: one package that provides
/// whatever the Berth .rpm requires.
fn record_the_roots_system(r: &Path, work: &Path) {
    let requires = must(Command::new("rpm").args(["-qpR"]).arg(rpm(NEW)));
    let provides: Vec<&str> = requires
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("rpmlib("))
        .collect();
    let spec = work.join("root-system.spec");
    std::fs::write(
        &spec,
        format!(
            "Name: debian-root-system\nVersion: 1\nRelease: 1\nSummary: The Debian root's own system\n\
             License: MIT\nBuildArch: noarch\n{}\n%description\nWhat dpkg installed, for rpm.\n%files\n",
            provides
                .iter()
                .map(|p| format!("Provides: {p}"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    )
    .expect("spec");
    must(
        Command::new("rpmbuild")
            .arg("--define")
            .arg(format!("_topdir {}", work.join("rpmbuild").display()))
            .arg("-bb")
            .arg(&spec),
    );
    let built = work.join("rpmbuild/RPMS/noarch/debian-root-system-1-1.noarch.rpm");
    must(Command::new("rpm").arg("--root").arg(r).arg("--initdb"));
    must(
        Command::new("rpm")
            .arg("--root")
            .arg(r)
            .args(["-i", "--justdb", "--nodeps", "--force-debian"])
            .arg(built),
    );
}

#[test]
fn dnf_installs_and_upgrades_berth_from_the_signed_repository_and_refuses_tampering() {
    let root = debian_root();
    let r = root.path();
    let work = tempfile::tempdir().expect("work");
    let w = work.path();
    record_the_roots_system(r, w);
    let keyring = w.join("keyring");
    let out = w.join("repo");
    let url = format!("file://{}", out.display());
    publish(&out, &keyring, &url, &[rpm(OLD)]);
    assert!(out.join("rpm/repodata/repomd.xml.asc").is_file());
    let signature = must(
        Command::new("rpm")
            .args(["-qp", "--queryformat", "%{RSAHEADER:pgpsig}"])
            .arg(out.join(format!("rpm/berth-{OLD}-1.x86_64.rpm"))),
    );
    assert!(
        signature.contains("Key ID"),
        "the package is signed: {signature}"
    );

    // The operator's configuration: the .repo file the script wrote and the public key,
    // installed where it names it (here, in the test's own directory).
    let repos = w.join("yum.repos.d");
    std::fs::create_dir_all(&repos).expect("repos");
    let installed_key = w.join("RPM-GPG-KEY-berth");
    std::fs::copy(out.join("berth-archive-keyring.asc"), &installed_key).expect("key");
    let repo_file = std::fs::read_to_string(out.join("berth.repo")).expect("repo file");
    assert!(repo_file.contains("gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-berth\n"));
    std::fs::write(
        repos.join("berth.repo"),
        repo_file.replace(
            "file:///etc/pki/rpm-gpg/RPM-GPG-KEY-berth",
            &format!("file://{}", installed_key.display()),
        ),
    )
    .expect("repo file");
    let config = w.join("dnf.conf");
    std::fs::write(
        &config,
        format!(
            "[main]\ncachedir={}\ninstall_weak_deps=False\nkeepcache=False\n",
            w.join("cache").display()
        ),
    )
    .expect("dnf.conf");
    let dnf = |args: &[&str]| {
        run(Command::new("dnf")
            .arg("-y")
            .arg(format!("--installroot={}", r.display()))
            .arg(format!("--config={}", config.display()))
            .arg(format!("--setopt=reposdir={}", repos.display()))
            .args(["--releasever=12", "--refresh"])
            .args(args))
    };
    let dnf_ok = |args: &[&str]| {
        let out = dnf(args);
        assert!(out.status.success(), "dnf {args:?}:\n{}", text(&out));
        text(&out)
    };
    let version = || {
        must(Command::new("rpm").arg("--root").arg(r).args([
            "-q",
            "--queryformat",
            "%{VERSION}",
            "berth",
        ]))
    };

    let installed = dnf_ok(&["install", "berth"]);
    assert!(installed.contains("Run 'berth-setup'"), "{installed}");
    assert_eq!(version(), OLD);
    assert!(r.join("usr/bin/berthd").is_file());

    publish(&out, &keyring, &url, &[rpm(NEW)]);
    dnf_ok(&["upgrade", "berth"]);
    assert_eq!(version(), NEW);
    let berthd = std::fs::read(r.join("usr/bin/berthd")).expect("berthd");

    // A package changed in the repository: its sum no longer matches the signed metadata.
    let published = out.join(format!("rpm/berth-{NEW}-1.x86_64.rpm"));
    let intact = std::fs::read(&published).expect("package");
    tamper(&published);
    let refused = dnf(&["reinstall", "berth"]);
    assert!(
        !refused.status.success() && text(&refused).contains("incorrect checksum"),
        "{}",
        text(&refused)
    );
    assert_eq!(version(), NEW);
    assert_eq!(
        std::fs::read(r.join("usr/bin/berthd")).expect("berthd"),
        berthd,
        "the refused package changed nothing"
    );
    std::fs::write(&published, intact).expect("restore the package");
    dnf_ok(&["reinstall", "berth"]);

    // The repository rebuilt and re-signed by someone who does not hold the key.
    let impostor = w.join("impostor");
    publish(&impostor, &w.join("impostor-keyring"), &url, &[rpm(NEW)]);
    replace_served(&out, &impostor, "rpm");
    let refused = dnf(&["reinstall", "berth"]);
    assert!(
        !refused.status.success()
            && text(&refused).contains("repomd.xml GPG signature verification error"),
        "dnf refuses a repository signed by another key:\n{}",
        text(&refused)
    );
    assert_eq!(version(), NEW);
}
