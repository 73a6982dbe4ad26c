//! LDAP login against a real OpenLDAP (Debian's slapd), started per test on a loopback port
//! with its own configuration and database, loaded with users and groups (the memberof overlay
//! gives them Active Directory style `memberOf` attributes), and stopped by pid.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{
    free_port, http, make_certificates, must, run, Berthd, Docker, ADMIN_PASSWORD,
};

const BASE: &str = "dc=example,dc=com";

pub struct Slapd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    /// The ldaps:// port, when started with TLS.
    pub tls_port: Option<u16>,
    child: Option<Child>,
}

impl Slapd {
    pub fn start() -> Slapd {
        Slapd::start_with(false)
    }

    /// With a certificate from a CA of the test's own (`ca.crt` in its directory), serving
    /// StartTLS on the ldap:// port and TLS on an ldaps:// port.
    pub fn start_tls() -> Slapd {
        Slapd::start_with(true)
    }

    pub fn ca(&self) -> std::path::PathBuf {
        self.dir.path().join("ca.crt")
    }

    pub fn ldaps_url(&self) -> String {
        format!("ldaps://127.0.0.1:{}/", self.tls_port.unwrap_or(0))
    }

    fn start_with(tls: bool) -> Slapd {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::create_dir_all(d.join("db")).expect("db dir");
        let conf = format!(
            "include /etc/ldap/schema/core.schema\ninclude /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\nmodulepath /usr/lib/ldap\n\
             moduleload back_mdb\nmoduleload memberof\npidfile {d}/slapd.pid\n\
             database mdb\nmaxsize 104857600\nsuffix \"{BASE}\"\nrootdn \"cn=admin,{BASE}\"\n\
             rootpw secret\ndirectory {d}/db\noverlay memberof\n",
            d = d.display()
        );
        let conf = if tls {
            make_certificates(d);
            format!(
                "TLSCACertificateFile {d}/ca.crt\nTLSCertificateFile {d}/server.crt\nTLSCertificateKeyFile {d}/server.key\n{conf}",
                d = d.display()
            )
        } else {
            conf
        };
        std::fs::write(d.join("slapd.conf"), conf).expect("slapd.conf");
        let tls_port = tls.then(free_port);
        let mut s = Slapd {
            dir,
            port: free_port(),
            tls_port,
            child: None,
        };
        s.spawn();
        s.load(TREE);
        s
    }

    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}/", self.port)
    }

    fn spawn(&mut self) {
        let conf = self.dir.path().join("slapd.conf");
        let urls = match self.tls_port {
            Some(_) => format!("{} {}", self.url(), self.ldaps_url()),
            None => self.url(),
        };
        let child = Command::new("slapd")
            .args(["-d", "0", "-h", &urls, "-f"])
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start slapd (tests/run.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if run(Command::new("ldapwhoami").args(["-x", "-H", &self.url()]))
                .status
                .success()
            {
                return;
            }
            assert!(Instant::now() < deadline, "slapd did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn load(&self, ldif: &str) {
        let path = self.dir.path().join("tree.ldif");
        std::fs::write(&path, ldif).expect("ldif");
        must(
            Command::new("ldapadd")
                .args([
                    "-x",
                    "-H",
                    &self.url(),
                    "-D",
                    &format!("cn=admin,{BASE}"),
                    "-w",
                    "secret",
                    "-f",
                ])
                .arg(&path),
        );
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on the pid of a child we started and have not reaped.
            unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
            let _ = child.wait();
        }
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// People, a reader for searching, two groups, a non-ASCII login and two entries that share a
/// login name (an ambiguous match).
static TREE: &str = concat!(
    "dn: dc=example,dc=com\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n",
    "dn: ou=people,dc=example,dc=com\nobjectClass: organizationalUnit\nou: people\n\n",
    "dn: ou=others,dc=example,dc=com\nobjectClass: organizationalUnit\nou: others\n\n",
    "dn: ou=groups,dc=example,dc=com\nobjectClass: organizationalUnit\nou: groups\n\n",
    "dn: uid=reader,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: reader\ncn: Reader\nsn: Reader\nuserPassword: readerpw\n\n",
    "dn: uid=alice,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: alice\ncn: Alice Example\nsn: Example\nmail: alice@example.com\nuserPassword: alicepw\n\n",
    "dn: uid=carol,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: carol\ncn: Carol Admin\nsn: Admin\nmail: carol@example.com\nuserPassword: carolpw\n\n",
    "dn: uid=twin,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: twin\ncn: Twin One\nsn: One\nuserPassword: twinpw\n\n",
    "dn: uid=twin,ou=others,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: twin\ncn: Twin Two\nsn: Two\nuserPassword: twinpw\n\n",
    "dn:: dWlkPWrDvHJnZW4sb3U9cGVvcGxlLGRjPWV4YW1wbGUsZGM9Y29t\nobjectClass: inetOrgPerson\nuid:: asO8cmdlbg==\ncn: Juergen\nsn: Juergen\nuserPassword: juergenpw\n\n",
    "dn: cn=admins,ou=groups,dc=example,dc=com\nobjectClass: groupOfNames\ncn: admins\nmember: uid=carol,ou=people,dc=example,dc=com\n\n",
    "dn: cn=devs,ou=groups,dc=example,dc=com\nobjectClass: groupOfNames\ncn: devs\nmember: uid=alice,ou=people,dc=example,dc=com\n\n",
);

fn berthd_with_directory(slapd: &Slapd) -> Berthd {
    berthd_with(&slapd.url(), "")
}

/// A berthd whose directory is at `url`, with `extra` LDAP settings.
fn berthd_with(url: &str, extra: &str) -> Berthd {
    Berthd::start_with_config(|dir: &Path, port| {
        format!(
            "data_dir = \"{}/data\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n[auth]\nmode = \"ldap\"\n[ldap]\n\
             ldap_url = \"{url}\"\nldap_search_dn = \"uid=reader,ou=people,{BASE}\"\nldap_search_password = \"readerpw\"\n\
             ldap_base_dn = \"{BASE}\"\nldap_filter = \"(objectClass=inetOrgPerson)\"\nldap_uid = \"uid\"\nldap_timeout = 2\n\
             ldap_group_base_dn = \"ou=groups,{BASE}\"\nldap_group_search_filter = \"(objectClass=groupOfNames)\"\n\
                          ldap_group_admin_dn = \"cn=admins,ou=groups,{BASE}\"\n{extra}\n",
            dir.display()
        )
    })
}

fn token_status(berthd: &Berthd, user: &str, password: &str) -> u16 {
    http()
        .get(format!(
            "{}/service/token?service=harbor-registry&scope=repository:library/x:pull",
            berthd.url()
        ))
        .basic_auth(user, Some(password))
        .send()
        .expect("token")
        .status()
        .as_u16()
}

#[test]
fn directory_users_log_in_and_injection_is_refused() {
    let slapd = Slapd::start();
    let berthd = berthd_with_directory(&slapd);
    assert_eq!(token_status(&berthd, "alice", "alicepw"), 200);
    assert_eq!(
        token_status(&berthd, "jürgen", "juergenpw"),
        200,
        "non-ASCII login names"
    );
    for (user, password, why) in [
        ("alice", "wrong", "wrong password"),
        ("alice", "", "empty password"),
        ("nobody", "alicepw", "no such entry"),
        ("twin", "twinpw", "two entries match"),
        ("*", "alicepw", "wildcard"),
        ("alice)(uid=*", "alicepw", "filter injection"),
        ("*)(|(uid=*", "alicepw", "filter injection"),
        ("\\", "alicepw", "backslash"),
        ("alice\0", "alicepw", "NUL"),
    ] {
        assert_eq!(
            token_status(&berthd, user, password),
            401,
            "{why}: {user:?}"
        );
    }
    // The built-in admin logs in against the local database.
    assert_eq!(token_status(&berthd, "admin", ADMIN_PASSWORD), 200);

    // Alice now exists locally, with e-mail and name from the directory and no local password.
    let users: Value = http()
        .get(format!(
            "{}/api/v2.0/users?q=username%3Dalice",
            berthd.url()
        ))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .expect("GET")
        .json()
        .expect("json");
    assert_eq!(users[0]["email"], "alice@example.com");
    assert_eq!(users[0]["realname"], "Alice Example");
    let info: Value = http()
        .get(format!("{}/api/v2.0/systeminfo", berthd.url()))
        .send()
        .expect("GET")
        .json()
        .expect("json");
    assert_eq!(info["auth_mode"], "ldap_auth");

    // Members of the admin group are system admins; others are not.
    let users_as = |u: &str, p: &str| {
        http()
            .get(format!("{}/api/v2.0/users", berthd.url()))
            .basic_auth(u, Some(p))
            .send()
            .expect("GET")
            .status()
            .as_u16()
    };
    assert_eq!(users_as("carol", "carolpw"), 200);
    assert_eq!(users_as("alice", "alicepw"), 403);

    // A real docker login and push as a directory user who is a member of the project.
    berthd.create_project("dir", false);
    let add = json!({"role_id": 2, "member_user": {"username": "alice"}});
    let r = http()
        .request(
            Method::POST,
            format!("{}/api/v2.0/projects/dir/members", berthd.url()),
        )
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .json(&add)
        .send()
        .expect("POST");
    assert_eq!(r.status(), 201);
    let docker = Docker::new();
    let tag = format!("{}/dir/app:1", berthd.host());
    docker.build(&tag, &[3_000]);
    let login = docker.login(&berthd.host(), "alice", "alicepw");
    assert!(
        login.status.success(),
        "{}",
        String::from_utf8_lossy(&login.stderr)
    );
    docker.ok(&["push", &tag]);
    assert!(!docker
        .login(&berthd.host(), "alice", "nope")
        .status
        .success());
}

/// With the directory gone, directory logins fail within the timeout with a clear message in
/// the log; the admin still logs in, and tokens already issued keep working.
#[test]
fn a_stopped_directory_fails_logins_quickly_and_breaks_nothing_else() {
    let mut slapd = Slapd::start();
    let berthd = berthd_with_directory(&slapd);
    let reg = berthd.registry(&["library/up"]);
    reg.push_image("library/up", "v1", b"still here");
    assert_eq!(token_status(&berthd, "alice", "alicepw"), 200);
    slapd.stop();
    let started = Instant::now();
    assert_eq!(token_status(&berthd, "alice", "alicepw"), 401);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?} with a 2 s timeout",
        started.elapsed()
    );
    assert!(
        berthd.log().contains("the directory is unavailable"),
        "{}",
        berthd.log()
    );
    assert_eq!(token_status(&berthd, "admin", ADMIN_PASSWORD), 200);
    assert_eq!(reg.get("/v2/library/up/manifests/v1").status(), 200);
}

/// ldaps:// and StartTLS with the directory's CA trusted; refused without it unless
/// verification is turned off explicitly.
#[test]
fn ldaps_and_starttls() {
    let slapd = Slapd::start_tls();
    let ca = format!("ldap_ca_certificate = \"{}\"", slapd.ca().display());
    let ldaps = berthd_with(&slapd.ldaps_url(), &ca);
    assert_eq!(
        token_status(&ldaps, "alice", "alicepw"),
        200,
        "ldaps with the CA:\n{}",
        ldaps.log()
    );
    assert_eq!(token_status(&ldaps, "alice", "wrong"), 401);
    let starttls = berthd_with(&slapd.url(), &format!("{ca}\nldap_starttls = true"));
    assert_eq!(
        token_status(&starttls, "alice", "alicepw"),
        200,
        "StartTLS with the CA:\n{}",
        starttls.log()
    );
    // Without the CA the certificate is not trusted, and the log says what failed.
    let untrusted = berthd_with(&slapd.ldaps_url(), "");
    assert_eq!(token_status(&untrusted, "alice", "alicepw"), 401);
    let log = untrusted.log();
    assert!(
        log.contains("the directory is unavailable") && log.to_lowercase().contains("tls"),
        "{log}"
    );
    // ... unless verification is off, which only an explicit setting does.
    let unverified = berthd_with(&slapd.ldaps_url(), "ldap_verify_cert = false");
    assert_eq!(
        token_status(&unverified, "alice", "alicepw"),
        200,
        "{}",
        unverified.log()
    );
}
