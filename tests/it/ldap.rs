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

/// A directory tree and the schema it needs beyond OpenLDAP's standard ones.
pub struct Layout {
    pub extra_schema: &'static str,
    pub tree: &'static str,
}

/// Users and groups in OpenLDAP's usual shape (`uid`, `groupOfNames`).
pub const PLAIN: Layout = Layout {
    extra_schema: "",
    tree: TREE,
};

/// Active Directory's shape: `sAMAccountName` logins, `CN=` DNs, groups found through the
/// `memberOf` attribute that the memberof overlay keeps, no group search.
pub const ACTIVE_DIRECTORY: Layout = Layout {
    extra_schema: AD_SCHEMA,
    tree: AD_TREE,
};

pub struct Slapd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    /// The ldaps:// port, when started with TLS.
    pub tls_port: Option<u16>,
    child: Option<Child>,
}

impl Slapd {
    pub fn start() -> Slapd {
        Slapd::start_with(false, &PLAIN)
    }

    /// With a certificate from a CA of the test's own (`ca.crt` in its directory), serving
    /// StartTLS on the ldap:// port and TLS on an ldaps:// port.
    pub fn start_tls() -> Slapd {
        Slapd::start_with(true, &PLAIN)
    }

    pub fn start_layout(layout: &Layout) -> Slapd {
        Slapd::start_with(false, layout)
    }

    /// The DNs of every bind the directory has answered so far, from its stats log.
    pub fn binds(&self) -> Vec<String> {
        let log = std::fs::read_to_string(self.dir.path().join("slapd.log")).unwrap_or_default();
        log.lines()
            .filter(|l| l.contains(" BIND dn=\"") && l.contains(" method="))
            .filter_map(|l| l.split("dn=\"").nth(1))
            .filter_map(|rest| rest.split('"').next())
            .map(str::to_string)
            .collect()
    }

    pub fn ca(&self) -> std::path::PathBuf {
        self.dir.path().join("ca.crt")
    }

    pub fn ldaps_url(&self) -> String {
        format!("ldaps://127.0.0.1:{}/", self.tls_port.unwrap_or(0))
    }

    fn start_with(tls: bool, layout: &Layout) -> Slapd {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::create_dir_all(d.join("db")).expect("db dir");
        std::fs::write(d.join("extra.schema"), layout.extra_schema).expect("schema");
        let conf = format!(
            "include /etc/ldap/schema/core.schema\ninclude /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\ninclude {d}/extra.schema\nmodulepath /usr/lib/ldap\n\
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
        s.load(layout.tree);
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
        // Debug level 256 is the stats log on stderr: one line per operation, binds included.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("slapd.log"))
            .expect("slapd.log");
        let child = Command::new("slapd")
            .args(["-d", "256", "-h", &urls, "-f"])
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(log)
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

    /// Starts it again on the same ports with the same data, after [`Slapd::stop`].
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
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
    "dn: uid=dave,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: dave\ncn: Dave Developer\nsn: Developer\nmail: dave@example.com\nuserPassword: davepw\n\n",
    "dn: uid=erin,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: erin\ncn: Erin Viewer\nsn: Viewer\nuserPassword: erinpw\n\n",
    "dn: uid=frank,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: frank\ncn: Frank Outsider\nsn: Outsider\nuserPassword: frankpw\n\n",
    "dn: cn=admins,ou=groups,dc=example,dc=com\nobjectClass: groupOfNames\ncn: admins\nmember: uid=carol,ou=people,dc=example,dc=com\n\n",
    "dn: cn=devs,ou=groups,dc=example,dc=com\nobjectClass: groupOfNames\ncn: devs\nmember: uid=alice,ou=people,dc=example,dc=com\nmember: uid=dave,ou=people,dc=example,dc=com\n\n",
    "dn: cn=viewers,ou=groups,dc=example,dc=com\nobjectClass: groupOfNames\ncn: viewers\nmember: uid=erin,ou=people,dc=example,dc=com\n\n",
);

/// The two attributes an Active Directory layout needs that OpenLDAP lacks (AD's own OIDs for
/// `sAMAccountName` and `container`).
static AD_SCHEMA: &str = "attributetype ( 1.2.840.113556.1.4.221 NAME 'sAMAccountName' \
    EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch \
    SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )\n\
objectclass ( 1.2.840.113556.1.5.67.1 NAME 'berthTestAdAccount' SUP top AUXILIARY MAY ( sAMAccountName ) )\n\
objectclass ( 1.2.840.113556.1.3.23 NAME 'container' SUP top STRUCTURAL MUST cn )\n";

/// Users under `CN=Users` named by their full name, logging in with `sAMAccountName`; a
/// service account for searching; groups in two places, found only through `memberOf`.
static AD_TREE: &str = concat!(
    "dn: dc=example,dc=com\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n",
    "dn: CN=Users,DC=example,DC=com\nobjectClass: container\ncn: Users\n\n",
    "dn: OU=Groups,DC=example,DC=com\nobjectClass: organizationalUnit\nou: Groups\n\n",
    "dn: CN=svc-berth,CN=Users,DC=example,DC=com\nobjectClass: inetOrgPerson\nobjectClass: berthTestAdAccount\ncn: svc-berth\nsn: berth\nsAMAccountName: svc-berth\nuserPassword: svcpw\n\n",
    "dn: CN=Alice Smith,CN=Users,DC=example,DC=com\nobjectClass: inetOrgPerson\nobjectClass: berthTestAdAccount\ncn: Alice Smith\nsn: Smith\ndisplayName: Alice Smith\nsAMAccountName: asmith\nmail: asmith@corp.example.com\nuserPassword: asmithpw\n\n",
    "dn: CN=Bob Jones,CN=Users,DC=example,DC=com\nobjectClass: inetOrgPerson\nobjectClass: berthTestAdAccount\ncn: Bob Jones\nsn: Jones\nsAMAccountName: bjones\nuserPassword: bjonespw\n\n",
    "dn: CN=Registry Admins,CN=Users,DC=example,DC=com\nobjectClass: groupOfNames\ncn: Registry Admins\nmember: CN=Alice Smith,CN=Users,DC=example,DC=com\n\n",
    "dn: CN=Developers,OU=Groups,DC=example,DC=com\nobjectClass: groupOfNames\ncn: Developers\nmember: CN=Bob Jones,CN=Users,DC=example,DC=com\n\n",
);

pub fn berthd_with_directory(slapd: &Slapd) -> Berthd {
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
    // Back again: the dropped search connection is replaced, and logins work.
    slapd.restart();
    assert_eq!(
        token_status(&berthd, "alice", "alicepw"),
        200,
        "{}",
        berthd.log()
    );
}

/// A directory that accepts connections but never answers fails logins within the timeout,
/// and the log says so.
#[test]
fn a_silent_directory_times_out() {
    // The kernel completes connections to a listening socket that nobody accepts or reads.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "ldap://127.0.0.1:{}/",
        silent.local_addr().expect("addr").port()
    );
    let berthd = berthd_with(&url, "");
    let started = Instant::now();
    assert_eq!(token_status(&berthd, "alice", "alicepw"), 401);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(8),
        "took {took:?} with a 2 s timeout"
    );
    assert!(
        berthd.log().contains("did not answer within 2 s"),
        "{}",
        berthd.log()
    );
    assert_eq!(token_status(&berthd, "admin", ADMIN_PASSWORD), 200);
    drop(silent);
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
    let r = http()
        .post(format!("{}/api/v2.0/ldap/ping", untrusted.url()))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .json(&json!({}))
        .send()
        .expect("ping");
    let v: Value = r.json().expect("json");
    assert_eq!(v["success"], false);
    assert!(
        v["message"].as_str().unwrap_or_default().starts_with("TLS"),
        "{v}"
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

/// A REST call with Basic credentials: the status and the JSON body (`Null` when none).
fn call(
    berthd: &Berthd,
    creds: (&str, &str),
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http()
        .request(method, format!("{}{path}", berthd.url()))
        .basic_auth(creds.0, Some(creds.1));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().expect("request");
    let status = r.status().as_u16();
    let text = r.text().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

const ADMIN: (&str, &str) = ("admin", ADMIN_PASSWORD);

/// The actions a registry token grants on `repo`, read from its `access` claim.
fn granted(berthd: &Berthd, user: &str, password: &str, repo: &str) -> Vec<String> {
    use base64::Engine;
    let r = http()
        .get(format!("{}/service/token", berthd.url()))
        .query(&[
            ("service", "harbor-registry"),
            ("scope", &format!("repository:{repo}:pull,push")),
        ])
        .basic_auth(user, Some(password))
        .send()
        .expect("token");
    assert_eq!(r.status(), 200, "token for {user}");
    let token: Value = r.json().expect("json");
    let jwt = token["token"].as_str().expect("token").to_string();
    let payload = jwt.split('.').nth(1).expect("payload");
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64"),
    )
    .expect("claims");
    claims["access"][0]["actions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// LDAP groups as project members: their members get the group's role through a real
/// `docker push`/`pull`, the strongest of a user's roles counts, and removing the group's
/// membership takes the access away at the next token request.
#[test]
fn group_members_get_the_group_role_through_docker() {
    let slapd = Slapd::start();
    let berthd = berthd_with_directory(&slapd);
    berthd.create_project("team", false);
    let devs = format!("cn=devs,ou=groups,{BASE}");
    let members = "/api/v2.0/projects/team/members";

    // An LDAP group by DN: the user group is created from the directory's entry.
    let add_devs = json!({"role_id": 2, "member_group": {"ldap_group_dn": devs, "group_type": 1}});
    assert_eq!(
        call(&berthd, ADMIN, Method::POST, members, Some(add_devs)).0,
        201
    );
    // The same group spelt differently is the same group.
    let again = json!({"role_id": 3, "member_group": {"ldap_group_dn": format!("CN=Devs, OU=Groups,{BASE}")}});
    assert_eq!(
        call(&berthd, ADMIN, Method::POST, members, Some(again)).0,
        409
    );
    // A DN the directory does not have, and a malformed one, are refused and create nothing.
    let missing = json!({"role_id": 2, "member_group": {"ldap_group_dn": format!("cn=nope,ou=groups,{BASE}")}});
    assert_eq!(
        call(&berthd, ADMIN, Method::POST, members, Some(missing)).0,
        404
    );
    let malformed = json!({"role_id": 2, "member_group": {"ldap_group_dn": "not a dn"}});
    let (status, _) = call(&berthd, ADMIN, Method::POST, members, Some(malformed));
    assert!(status == 400 || status == 404, "{status}");
    // A user group made first, then added by id, as a guest.
    let viewers = json!({"group_name": "viewers", "group_type": 1, "ldap_group_dn": format!("cn=viewers,ou=groups,{BASE}")});
    assert_eq!(
        call(
            &berthd,
            ADMIN,
            Method::POST,
            "/api/v2.0/usergroups",
            Some(viewers)
        )
        .0,
        201
    );
    let (_, groups) = call(&berthd, ADMIN, Method::GET, "/api/v2.0/usergroups", None);
    assert_eq!(groups.as_array().map(Vec::len), Some(2), "{groups}");
    let viewers_id = groups
        .as_array()
        .and_then(|g| g.iter().find(|g| g["group_name"] == "viewers"))
        .map(|g| g["id"].clone())
        .expect("viewers group");
    let add_viewers = json!({"role_id": 3, "member_group": {"id": viewers_id}});
    assert_eq!(
        call(&berthd, ADMIN, Method::POST, members, Some(add_viewers)).0,
        201
    );
    let (_, listed) = call(&berthd, ADMIN, Method::GET, members, None);
    let devs_member = listed
        .as_array()
        .and_then(|m| m.iter().find(|m| m["entity_name"] == "devs"))
        .cloned()
        .expect("devs listed");
    assert_eq!(devs_member["entity_type"], "g");
    assert_eq!(devs_member["role_name"], "developer");

    // Dave is in devs only through the directory: he pushes with a real docker.
    let docker = Docker::new();
    let tag = format!("{}/team/app:1", berthd.host());
    docker.build(&tag, &[2_000, 3_000]);
    assert!(docker
        .login(&berthd.host(), "dave", "davepw")
        .status
        .success());
    docker.ok(&["push", &tag]);
    // Erin, a viewer (guest), pulls but cannot push.
    let erin = Docker::new();
    assert!(erin
        .login(&berthd.host(), "erin", "erinpw")
        .status
        .success());
    erin.ok(&["pull", &tag]);
    let tag2 = format!("{}/team/app:erin", berthd.host());
    erin.ok(&["tag", &tag, &tag2]);
    assert!(!erin.run(&["push", &tag2]).status.success());
    // Frank is in no group: he cannot even pull.
    let frank = Docker::new();
    assert!(frank
        .login(&berthd.host(), "frank", "frankpw")
        .status
        .success());
    assert!(!frank.run(&["pull", &tag]).status.success());

    // Erin's own membership as a developer outranks her group's guest role.
    let erin_dev = json!({"role_id": 2, "member_user": {"username": "erin"}});
    assert_eq!(
        call(&berthd, ADMIN, Method::POST, members, Some(erin_dev)).0,
        201
    );
    erin.ok(&["push", &tag2]);

    // Without the group's membership Dave loses access at his next token request.
    let path = format!("{members}/{}", devs_member["id"]);
    assert_eq!(call(&berthd, ADMIN, Method::DELETE, &path, None).0, 200);
    assert!(!docker.run(&["push", &tag]).status.success());
    assert!(granted(&berthd, "dave", "davepw", "team/app").is_empty());
}

/// Harbor's LDAP helpers: testing settings (naming the step that failed), finding users and
/// groups, importing users; and user groups managed through `/usergroups`.
#[test]
fn ldap_helpers_and_user_groups() {
    let slapd = Slapd::start();
    let berthd = berthd_with_directory(&slapd);
    let ping = |body: Option<Value>| {
        let (status, v) = call(&berthd, ADMIN, Method::POST, "/api/v2.0/ldap/ping", body);
        assert_eq!(status, 200, "{v}");
        (
            v["success"].as_bool().expect("success"),
            v["message"].as_str().unwrap_or_default().to_string(),
        )
    };
    assert!(ping(None).0, "the saved settings work");
    assert!(ping(Some(json!({}))).0);
    let (ok, message) = ping(Some(json!({"ldap_search_password": "wrong-password"})));
    assert!(!ok && message.starts_with("search bind"), "{message}");
    let (ok, message) = ping(Some(
        json!({"ldap_base_dn": "dc=nowhere,dc=example,dc=com"}),
    ));
    assert!(!ok && message.starts_with("base DN"), "{message}");
    let closed = format!("ldap://127.0.0.1:{}/", free_port());
    // Another directory needs the password in the request (the saved one stays home).
    let (status, v) = call(
        &berthd,
        ADMIN,
        Method::POST,
        "/api/v2.0/ldap/ping",
        Some(json!({"ldap_url": closed, "ldap_connection_timeout": 2})),
    );
    assert_eq!(status, 400, "{v}");
    let (ok, message) = ping(Some(
        json!({"ldap_url": closed, "ldap_connection_timeout": 2, "ldap_search_password": "given"}),
    ));
    assert!(!ok && message.starts_with("connection"), "{message}");
    let (status, _) = call(
        &berthd,
        ADMIN,
        Method::POST,
        "/api/v2.0/ldap/ping",
        Some(json!({"ldap_url": "http://example.com"})),
    );
    assert_eq!(status, 400, "a URL that is not LDAP");
    // Only system admins use the helpers.
    let alice = ("alice", "alicepw");
    assert_eq!(
        call(&berthd, alice, Method::POST, "/api/v2.0/ldap/ping", None).0,
        403
    );
    assert_eq!(
        call(
            &berthd,
            alice,
            Method::GET,
            "/api/v2.0/ldap/users/search?username=a",
            None
        )
        .0,
        403
    );

    // Users by part of their login name; user input is escaped, not a wildcard.
    let (status, users) = call(
        &berthd,
        ADMIN,
        Method::GET,
        "/api/v2.0/ldap/users/search?username=ali",
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(users.as_array().map(Vec::len), Some(1), "{users}");
    assert_eq!(users[0]["username"], "alice");
    assert_eq!(users[0]["email"], "alice@example.com");
    assert_eq!(users[0]["realname"], "Alice Example");
    for probe in ["%2A", "%29%28uid%3D%2A", "%5C", "%00"] {
        let (status, found) = call(
            &berthd,
            ADMIN,
            Method::GET,
            &format!("/api/v2.0/ldap/users/search?username={probe}"),
            None,
        );
        assert_eq!(status, 200, "{probe}");
        assert_eq!(found, json!([]), "{probe} must match nothing");
    }
    let (_, everyone) = call(
        &berthd,
        ADMIN,
        Method::GET,
        "/api/v2.0/ldap/users/search",
        None,
    );
    assert!(
        everyone.as_array().map(Vec::len).unwrap_or(0) >= 8,
        "{everyone}"
    );

    // Groups by name and by DN.
    let (_, groups) = call(
        &berthd,
        ADMIN,
        Method::GET,
        "/api/v2.0/ldap/groups/search?groupname=dev",
        None,
    );
    assert_eq!(groups.as_array().map(Vec::len), Some(1), "{groups}");
    assert_eq!(groups[0]["group_name"], "devs");
    assert_eq!(
        groups[0]["ldap_group_dn"],
        format!("cn=devs,ou=groups,{BASE}")
    );
    let (_, by_dn) = call(
        &berthd,
        ADMIN,
        Method::GET,
        &format!("/api/v2.0/ldap/groups/search?groupdn=cn%3Dviewers%2Cou%3Dgroups%2C{BASE}"),
        None,
    );
    assert_eq!(by_dn[0]["group_name"], "viewers", "{by_dn}");

    // Import: Dave is created; a login name the directory lacks and an existing user are
    // reported back.
    assert_eq!(token_status(&berthd, "alice", "alicepw"), 200);
    let (status, failed) = call(
        &berthd,
        ADMIN,
        Method::POST,
        "/api/v2.0/ldap/users/import",
        Some(json!({"ldap_uid_list": ["dave", "nobody", "alice"]})),
    );
    assert_eq!(status, 404);
    let mut uids: Vec<&str> = failed
        .as_array()
        .expect("failures")
        .iter()
        .filter_map(|f| f["uid"].as_str())
        .collect();
    uids.sort();
    assert_eq!(uids, vec!["alice", "nobody"]);
    let (_, dave) = call(
        &berthd,
        ADMIN,
        Method::GET,
        "/api/v2.0/users?q=username%3Ddave",
        None,
    );
    assert_eq!(dave[0]["email"], "dave@example.com", "{dave}");
    assert_eq!(
        call(
            &berthd,
            ADMIN,
            Method::POST,
            "/api/v2.0/ldap/users/import",
            Some(json!({"ldap_uid_list": ["erin"]})),
        )
        .0,
        200
    );

    // User groups: create (the directory must have the DN), find, rename, delete.
    let devs = json!({"ldap_group_dn": format!("cn=devs,ou=groups,{BASE}")});
    let r = http()
        .post(format!("{}/api/v2.0/usergroups", berthd.url()))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .json(&devs)
        .send()
        .expect("POST");
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    assert_eq!(
        call(
            &berthd,
            ADMIN,
            Method::POST,
            "/api/v2.0/usergroups",
            Some(devs)
        )
        .0,
        409
    );
    let unknown = json!({"ldap_group_dn": format!("cn=ghosts,ou=groups,{BASE}")});
    assert_eq!(
        call(
            &berthd,
            ADMIN,
            Method::POST,
            "/api/v2.0/usergroups",
            Some(unknown)
        )
        .0,
        404
    );
    let (_, group) = call(&berthd, ADMIN, Method::GET, &location, None);
    assert_eq!(group["group_name"], "devs");
    assert_eq!(group["group_type"], 1);
    // Any signed-in user may search groups by name; only admins manage them.
    let (status, found) = call(
        &berthd,
        alice,
        Method::GET,
        "/api/v2.0/usergroups/search?groupname=de",
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(found[0]["group_name"], "devs");
    assert_eq!(call(&berthd, alice, Method::DELETE, &location, None).0, 403);
    let rename = json!({"group_name": "developers"});
    assert_eq!(
        call(&berthd, ADMIN, Method::PUT, &location, Some(rename)).0,
        200
    );
    assert_eq!(
        call(&berthd, ADMIN, Method::GET, &location, None).1["group_name"],
        "developers"
    );
    assert_eq!(call(&berthd, ADMIN, Method::DELETE, &location, None).0, 200);
    assert_eq!(call(&berthd, ADMIN, Method::GET, &location, None).0, 404);
}

/// The `sid=...` pair of a login's `Set-Cookie`, to send back.
fn session_cookie(r: &reqwest::blocking::Response) -> String {
    r.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_string()
}

/// A directory user signs in to the REST API with Basic credentials and to the portal with a
/// session, as the token service lets them in.
#[test]
fn directory_users_use_basic_auth_and_sessions() {
    let slapd = Slapd::start();
    let berthd = berthd_with_directory(&slapd);
    let (status, me) = call(
        &berthd,
        ("alice", "alicepw"),
        Method::GET,
        "/api/v2.0/users/current",
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(me["username"], "alice");
    assert_eq!(me["admin_role_in_auth"], false);
    assert_eq!(
        call(
            &berthd,
            ("alice", "wrong"),
            Method::GET,
            "/api/v2.0/users/current",
            None
        )
        .0,
        401
    );
    // Carol is a system admin through the directory's admin group.
    let (_, carol) = call(
        &berthd,
        ("carol", "carolpw"),
        Method::GET,
        "/api/v2.0/users/current",
        None,
    );
    assert_eq!(carol["admin_role_in_auth"], true, "{carol}");

    let login = |user: &str, password: &str| {
        http()
            .post(format!("{}/c/login", berthd.url()))
            .form(&[("principal", user), ("password", password)])
            .send()
            .expect("POST")
    };
    assert_eq!(login("alice", "wrong").status(), 401);
    let r = login("alice", "alicepw");
    assert_eq!(r.status(), 200);
    let cookie = session_cookie(&r);
    let me: Value = http()
        .get(format!("{}/api/v2.0/users/current", berthd.url()))
        .header("cookie", &cookie)
        .send()
        .expect("GET")
        .json()
        .expect("json");
    assert_eq!(me["username"], "alice");
    // A session of the admin group's member is a system admin's.
    let r = login("carol", "carolpw");
    let cookie = session_cookie(&r);
    let users = http()
        .get(format!("{}/api/v2.0/users", berthd.url()))
        .header("cookie", &cookie)
        .send()
        .expect("GET");
    assert_eq!(users.status(), 200);
}

/// With the search connection kept open, a token request costs the directory exactly one
/// bind: the user's. Counted from slapd's own log over real `docker pull`s.
#[test]
fn one_bind_per_token_request() {
    let slapd = Slapd::start();
    let berthd = berthd_with_directory(&slapd);
    berthd.create_project("binds", true);
    let docker = Docker::new();
    let image = format!("{}/binds/app:v1", berthd.host());
    docker.build(&image, &[1_000]);
    assert!(docker
        .login(&berthd.host(), "admin", ADMIN_PASSWORD)
        .status
        .success());
    docker.ok(&["push", &image]);
    docker.ok(&["rmi", &image]);
    // The first login opens the search connection: the search DN's bind, then Alice's.
    // (Binds before it are the harness's own, loading the tree.)
    let setup = slapd.binds().len();
    assert_eq!(token_status(&berthd, "alice", "alicepw"), 200);
    let alice = format!("uid=alice,ou=people,{BASE}");
    assert_eq!(
        slapd.binds()[setup..],
        [format!("uid=reader,ou=people,{BASE}"), alice.clone()]
    );

    let tokens_before = berthd.log().matches("/service/token").count();
    let binds_before = slapd.binds().len();
    assert!(docker
        .login(&berthd.host(), "alice", "alicepw")
        .status
        .success());
    for _ in 0..3 {
        docker.ok(&["pull", &image]);
        docker.ok(&["rmi", &image]);
    }
    for _ in 0..5 {
        assert_eq!(token_status(&berthd, "alice", "alicepw"), 200);
    }
    let token_requests = berthd.log().matches("/service/token").count() - tokens_before;
    let binds = slapd.binds();
    let new_binds = &binds[binds_before..];
    println!(
        "{token_requests} token requests with Alice's credentials made {} binds",
        new_binds.len()
    );
    assert!(token_requests >= 8, "{token_requests}");
    assert_eq!(
        new_binds.len(),
        token_requests,
        "one bind per token request"
    );
    assert!(new_binds.iter().all(|dn| *dn == alice), "{new_binds:?}");
}

/// Active Directory's layout: logins by `sAMAccountName`, a service account for searching,
/// groups only through `memberOf` (the admin group named in another case), and a project
/// membership by group DN.
#[test]
fn active_directory_layout() {
    let slapd = Slapd::start_layout(&ACTIVE_DIRECTORY);
    let url = slapd.url();
    let berthd = Berthd::start_with_config(|dir: &Path, port| {
        format!(
            "data_dir = \"{}/data\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n[auth]\nmode = \"ldap\"\n[ldap]\n\
             ldap_url = \"{url}\"\nldap_search_dn = \"CN=svc-berth,CN=Users,DC=example,DC=com\"\nldap_search_password = \"svcpw\"\n\
             ldap_base_dn = \"DC=example,DC=com\"\nldap_filter = \"(objectClass=person)\"\nldap_uid = \"sAMAccountName\"\n\
             ldap_group_membership_attribute = \"memberOf\"\nldap_group_attribute_name = \"cn\"\n\
             ldap_group_admin_dn = \"cn=registry admins,cn=users,dc=example,dc=com\"\nldap_timeout = 2\n",
            dir.display()
        )
    });
    assert_eq!(token_status(&berthd, "asmith", "asmithpw"), 200);
    assert_eq!(token_status(&berthd, "asmith", "wrong"), 401);
    assert_eq!(
        token_status(&berthd, "Alice Smith", "asmithpw"),
        401,
        "the login name is sAMAccountName, not cn"
    );
    let (_, me) = call(
        &berthd,
        ("asmith", "asmithpw"),
        Method::GET,
        "/api/v2.0/users/current",
        None,
    );
    assert_eq!(me["username"], "asmith");
    assert_eq!(me["realname"], "Alice Smith");
    assert_eq!(me["email"], "asmith@corp.example.com");
    assert_eq!(
        me["admin_role_in_auth"], true,
        "admin through memberOf: {me}"
    );
    let bob = ("bjones", "bjonespw");
    assert_eq!(
        call(&berthd, bob, Method::GET, "/api/v2.0/users", None).0,
        403
    );

    // Bob's group, by DN: he gets its role; before, nothing.
    berthd.create_project("corp", false);
    assert!(granted(&berthd, bob.0, bob.1, "corp/app").is_empty());
    let add = json!({"role_id": 4, "member_group": {"ldap_group_dn": "CN=Developers,OU=Groups,DC=example,DC=com"}});
    assert_eq!(
        call(
            &berthd,
            ADMIN,
            Method::POST,
            "/api/v2.0/projects/corp/members",
            Some(add)
        )
        .0,
        201
    );
    let mut actions = granted(&berthd, bob.0, bob.1, "corp/app");
    actions.sort();
    assert_eq!(actions, vec!["pull", "push"]);
    // The DN search of the helper finds AD groups too.
    let (_, groups) = call(
        &berthd,
        ADMIN,
        Method::GET,
        "/api/v2.0/ldap/users/search?username=smith",
        None,
    );
    assert_eq!(groups[0]["username"], "asmith", "{groups}");
}

/// Issue 10, findings 2 and 11: a directory account whose uid is `Admin` (or the name typed as
/// `ADMIN`, `admin `) never becomes the built-in admin nor touches its record; and the
/// throttle counts one account however its name is typed.
#[test]
fn lookalike_admin_uids_never_become_admin_and_case_buys_no_tries() {
    let slapd = Slapd::start();
    slapd.load(
        "dn: uid=Admin,ou=others,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: Admin\n\
         cn: Lookalike\nsn: Lookalike\nmail: evil@example.com\nuserPassword: Evil1234pw\n\n",
    );
    let berthd = berthd_with_directory(&slapd);
    for typed in ["Admin", "ADMIN", "admin ", " Admin"] {
        assert_eq!(
            token_status(&berthd, typed, "Evil1234pw"),
            401,
            "{typed:?} logged in with the directory's password"
        );
    }
    // The built-in admin is untouched and still logs in with its own password.
    assert_eq!(token_status(&berthd, "admin", ADMIN_PASSWORD), 200);
    let users: Value = http()
        .get(format!("{}/api/v2.0/users", berthd.url()))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .expect("GET")
        .json()
        .expect("json");
    let admins: Vec<&Value> = users
        .as_array()
        .expect("list")
        .iter()
        .filter(|u| {
            u["username"]
                .as_str()
                .is_some_and(|n| n.trim().eq_ignore_ascii_case("admin"))
        })
        .collect();
    assert_eq!(admins.len(), 1, "a second admin-like account: {users}");
    assert_eq!(admins[0]["user_id"], 1);
    assert_eq!(admins[0]["email"], "admin@example.com");
    assert_eq!(admins[0]["sysadmin_flag"], true);

    // Five wrong passwords for carol, each typed differently, lock her out: the sixth try,
    // with the right password, is refused.
    for typed in ["carol", "Carol", "CArol", "CAROL", "carol "] {
        assert_eq!(token_status(&berthd, typed, "wrong"), 401, "{typed:?}");
    }
    assert_eq!(token_status(&berthd, "carol", "carolpw"), 429);
    assert_eq!(token_status(&berthd, "Carol", "carolpw"), 429);
}
