//! The appliance's own machine, configured only by `berth-setup --appliance`: its host name,
//! its network (DHCP or static), SSH for root with keys only, a console password, and the
//! console's login banner with the registry's URL and CA. A package install never gets any
//! of this: there the machine is its operator's.
//!
//! The files are returned for `apply` to stage with everything else (all or nothing); what
//! must happen on the running system afterwards is in [`activate`].

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::answers::{AddressingMode, AnswerError, Answers, ApplianceAnswer};

pub const HOSTNAME_PATH: &str = "/etc/hostname";
pub const HOSTS_PATH: &str = "/etc/hosts";
/// Sorts before the image's `80-berth-dhcp.network`, so a static address wins.
pub const NETWORK_PATH: &str = "/etc/systemd/network/10-berth.network";
pub const AUTHORIZED_KEYS_PATH: &str = "/root/.ssh/authorized_keys";
pub const SSHD_DROP_IN_PATH: &str = "/etc/ssh/sshd_config.d/berth.conf";
/// agetty shows every `/etc/issue.d/*.issue` after `/etc/issue` (agetty(8)).
pub const BANNER_PATH: &str = "/etc/issue.d/berth.issue";

/// One file to write, relative to the root being configured.
pub struct MachineFile {
    pub path: &'static str,
    pub contents: String,
    pub mode: u32,
}

/// The short host name the machine takes, when the registry's name is a DNS name.
fn short_name(hostname: &str) -> Option<&str> {
    if hostname.parse::<IpAddr>().is_ok() {
        return None;
    }
    hostname.trim_end_matches('.').split('.').next()
}

/// The addresses a generated certificate must also name: the static one, when given.
pub fn extra_addresses(answers: &Answers) -> Vec<IpAddr> {
    answers
        .appliance
        .as_ref()
        .and_then(|a| a.static_address().ok().flatten())
        .map(|(ip, _)| vec![ip])
        .unwrap_or_default()
}

/// The files the appliance's machine gets from these answers. `existing_hosts` is the
/// current `/etc/hosts`, whose other lines are kept.
pub fn files(
    answers: &Answers,
    existing_hosts: &str,
    banner: String,
) -> Result<Vec<MachineFile>, AnswerError> {
    let mut files = Vec::new();
    if let Some(short) = short_name(&answers.hostname) {
        files.push(MachineFile {
            path: HOSTNAME_PATH,
            contents: format!("{short}\n"),
            mode: 0o644,
        });
        let mut hosts: String = existing_hosts
            .lines()
            .filter(|l| !l.starts_with("127.0.1.1"))
            .map(|l| format!("{l}\n"))
            .collect();
        let fqdn = answers.hostname.trim_end_matches('.');
        hosts.push_str(&if fqdn == short {
            format!("127.0.1.1 {short}\n")
        } else {
            format!("127.0.1.1 {fqdn} {short}\n")
        });
        files.push(MachineFile {
            path: HOSTS_PATH,
            contents: hosts,
            mode: 0o644,
        });
    }
    let appliance = answers.appliance.clone().unwrap_or_default();
    if let Some(network) = network_file(&appliance)? {
        files.push(MachineFile {
            path: NETWORK_PATH,
            contents: network,
            mode: 0o644,
        });
    }
    if !appliance.ssh_authorized_keys.is_empty() {
        files.push(MachineFile {
            path: AUTHORIZED_KEYS_PATH,
            contents: appliance
                .ssh_authorized_keys
                .iter()
                .map(|k| format!("{}\n", k.trim()))
                .collect(),
            mode: 0o600,
        });
        files.push(MachineFile {
            path: SSHD_DROP_IN_PATH,
            contents:
                "# Written by berth-setup: root logs in with a key, nobody with a password.\n\
                       HostKey /etc/ssh/ssh_host_ed25519_key\n\
                       PermitRootLogin prohibit-password\n\
                       PasswordAuthentication no\n\
                       KbdInteractiveAuthentication no\n"
                    .into(),
            mode: 0o644,
        });
    }
    files.push(MachineFile {
        path: BANNER_PATH,
        contents: banner,
        mode: 0o644,
    });
    Ok(files)
}

fn network_file(appliance: &ApplianceAnswer) -> Result<Option<String>, AnswerError> {
    let Some((ip, prefix)) = appliance.static_address()? else {
        return Ok(None);
    };
    debug_assert_eq!(appliance.network, AddressingMode::Static);
    let mut text = format!(
        "# Written by berth-setup: the static address given at first boot.\n\
         [Match]\nName=en* eth*\n\n[Network]\nAddress={ip}/{prefix}\n"
    );
    if let Some(gateway) = appliance.gateway {
        text.push_str(&format!("Gateway={gateway}\n"));
    }
    for dns in &appliance.dns {
        text.push_str(&format!("DNS={dns}\n"));
    }
    Ok(Some(text))
}

/// The login banner: what the operator at the console needs to hand the registry out. agetty
/// reads backslash escapes in it, so none of ours may contain one (`\4` is the address).
pub fn banner(url: &str, registry: &str, ca_fingerprint: Option<&str>) -> String {
    let clean = |s: &str| s.replace('\\', "/");
    let mut text = format!(
        "Berth container registry\n  URL          {}\n  Address      \\4\n",
        clean(url)
    );
    if let Some(fp) = ca_fingerprint {
        let split = fp.char_indices().nth(48).map_or(fp.len(), |(i, _)| i);
        let (first, second) = fp.split_at(split);
        text.push_str(&format!(
            "  CA SHA-256   {}\n               {}\n  Trust it     download {}/api/v2.0/systeminfo/getcert,\n               check its SHA-256 against the one above, then copy it to\n               /etc/docker/certs.d/{}/ca.crt on each Docker host\n",
            clean(first),
            clean(second),
            clean(url),
            clean(registry)
        ));
    }
    text.push_str(&format!(
        "  Sign in      {} as admin\n  Change it    berth-setup, as root on this console\n\n",
        clean(url)
    ));
    text
}

/// What the running system must do once the files are in place: take the host name, reload
/// the network, make SSH host keys and start SSH, set root's console password. With `live`
/// false (another root, or no systemd) only what works offline is done.
pub fn activate(answers: &Answers, root: &Path, live: bool) -> Result<(), String> {
    let run = |program: &str, args: &[&str]| -> Result<(), String> {
        let status = Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("{program} {}: {e}", args.join(" ")))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("{program} {} failed", args.join(" ")))
        }
    };
    let root_arg = root.display().to_string();
    if live {
        if let Some(short) = short_name(&answers.hostname) {
            run("hostnamectl", &["set-hostname", short])?;
        }
        run("networkctl", &["reload"])?;
    }
    let appliance = answers.appliance.clone().unwrap_or_default();
    if !appliance.ssh_authorized_keys.is_empty() {
        let ssh_dir = root.join("root/.ssh");
        std::fs::set_permissions(
            &ssh_dir,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .map_err(|e| format!("chmod {}: {e}", ssh_dir.display()))?;
        // This machine's own host key (none was made when the image was): Ed25519 only,
        // which every current client speaks and which takes no time to make.
        let host_key = under(root, "/etc/ssh/ssh_host_ed25519_key");
        if !host_key.exists() {
            let host_key = host_key.display().to_string();
            run(
                "ssh-keygen",
                &["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", &host_key],
            )?;
        }
        if live {
            run("systemctl", &["enable", "--now", "ssh.service"])?;
        } else {
            run("systemctl", &["--root", &root_arg, "enable", "ssh.service"])?;
        }
    }
    if let Some(password) = &appliance.root_password {
        set_root_password(root, password)?;
    }
    Ok(())
}

/// `chpasswd` hashes the password as the system's PAM does (yescrypt on Debian 12); the
/// password only ever passes through its standard input.
fn set_root_password(root: &Path, password: &str) -> Result<(), String> {
    use std::io::Write;
    let mut command = Command::new("chpasswd");
    if root != Path::new("/") {
        command.arg("--root").arg(root);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("chpasswd: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(format!("root:{password}\n").as_bytes())
            .map_err(|e| format!("chpasswd: {e}"))?;
    }
    let status = child.wait().map_err(|e| format!("chpasswd: {e}"))?;
    if !status.success() {
        return Err("chpasswd could not set root's password".into());
    }
    Ok(())
}

/// Where a file goes under `root`.
pub fn under(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(extra: &str) -> Answers {
        let a = Answers::from_toml(&format!(
            "hostname = \"registry.example.com\"\nadmin_password = \"Harbor12345\"\n{extra}"
        ))
        .expect("parses");
        a.check().expect("valid");
        a
    }

    #[test]
    fn dhcp_writes_no_network_file_and_no_ssh() {
        let files = files(
            &answers(""),
            "127.0.0.1 localhost\n127.0.1.1 berth\n",
            "b".into(),
        )
        .expect("files");
        let paths: Vec<&str> = files.iter().map(|f| f.path).collect();
        assert_eq!(paths, [HOSTNAME_PATH, HOSTS_PATH, BANNER_PATH]);
        assert_eq!(files[0].contents, "registry\n");
        assert_eq!(
            files[1].contents,
            "127.0.0.1 localhost\n127.0.1.1 registry.example.com registry\n"
        );
    }

    #[test]
    fn static_network_and_ssh_keys() {
        let a = answers(
            "[appliance]\nnetwork = \"static\"\naddress = \"192.0.2.10/24\"\ngateway = \"192.0.2.1\"\n\
             dns = [\"192.0.2.53\"]\nssh_authorized_keys = [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA you@host\"]\n",
        );
        let files = files(&a, "", "b".into()).expect("files");
        let network = files
            .iter()
            .find(|f| f.path == NETWORK_PATH)
            .expect("network");
        assert!(network
            .contents
            .contains("Address=192.0.2.10/24\nGateway=192.0.2.1\nDNS=192.0.2.53\n"));
        let keys = files
            .iter()
            .find(|f| f.path == AUTHORIZED_KEYS_PATH)
            .expect("keys");
        assert_eq!(keys.mode, 0o600);
        assert!(files.iter().any(
            |f| f.path == SSHD_DROP_IN_PATH && f.contents.contains("PasswordAuthentication no")
        ));
        assert_eq!(
            extra_addresses(&a),
            ["192.0.2.10".parse::<IpAddr>().expect("ip")]
        );
    }

    #[test]
    fn an_ip_hostname_leaves_the_host_name_alone() {
        let a = Answers::from_toml("hostname = \"192.0.2.10\"\nadmin_password = \"Harbor12345\"\n")
            .expect("parses");
        let files = files(&a, "", "b".into()).expect("files");
        assert!(files.iter().all(|f| f.path != HOSTNAME_PATH));
    }

    #[test]
    fn bad_machine_answers_name_their_key() {
        for (extra, key) in [
            ("[appliance]\nnetwork = \"static\"\n", "appliance.address"),
            (
                "[appliance]\nnetwork = \"static\"\naddress = \"192.0.2.10\"\n",
                "appliance.address",
            ),
            (
                "[appliance]\naddress = \"192.0.2.10/24\"\n",
                "appliance.address",
            ),
            (
                "[appliance]\ngateway = \"192.0.2.1\"\n",
                "appliance.gateway",
            ),
            (
                "[appliance]\nssh_authorized_keys = [\"hunter2\"]\n",
                "appliance.ssh_authorized_keys",
            ),
            (
                "[appliance]\nroot_password = \"short\"\n",
                "appliance.root_password",
            ),
        ] {
            let a = Answers::from_toml(&format!(
                "hostname = \"r.example.com\"\nadmin_password = \"Harbor12345\"\n{extra}"
            ))
            .expect("parses");
            assert_eq!(a.check().expect_err(extra).field, key, "{extra}");
        }
    }

    #[test]
    fn the_banner_names_the_url_and_the_whole_fingerprint() {
        let fp = ["AB"; 32].join(":");
        let text = banner("https://r.example.com", "r.example.com", Some(&fp));
        assert!(text.contains("URL          https://r.example.com\n"));
        let joined: String = text
            .lines()
            .skip_while(|l| !l.contains("CA SHA-256"))
            .take(2)
            .map(|l| l.trim_start_matches("  CA SHA-256").trim())
            .collect();
        assert_eq!(joined, fp);
        assert!(text.contains("/etc/docker/certs.d/r.example.com/ca.crt"));
        assert!(!banner("http://a\\b", "a", None).contains("a\\b"));
    }
}
