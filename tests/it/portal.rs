//! The portal in a real Chromium: what an administrator, a member and a robot's creator do
//! there, against a real berthd and a real Docker Engine. Every page visited is checked with
//! axe-core and saved as a screenshot under `target/screenshots/`.

use std::time::Duration;

use serde_json::{json, Value};

use crate::browser::Browser;
use crate::harness::{http, random_bytes, Berthd, Docker, ADMIN_PASSWORD};

fn start() -> Berthd {
    Berthd::start_with_config(|dir, port| {
        format!(
            "data_dir = \"{}/data\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n[gc]\ntime_window_minutes = 0\n",
            dir.display()
        )
    })
}

fn api(berthd: &Berthd, method: reqwest::Method, path: &str) -> reqwest::blocking::RequestBuilder {
    http()
        .request(method, format!("{}/api/v2.0{path}", berthd.url()))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
}

fn sign_in(web: &Browser, user: &str, password: &str) {
    web.goto("/");
    assert!(web.path().starts_with("/account/sign-in"), "{}", web.path());
    web.fill("#principal", user);
    web.fill("#password", password);
    web.click("form button[type=submit]");
    assert!(
        web.wait_until(Duration::from_secs(10), |w| w
            .path()
            .starts_with("/projects")),
        "signed in, the projects page shows: {}",
        web.path()
    );
}

/// Binary units with two decimals, as the portal shows sizes.
fn size_text(bytes: i64) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let units = ["KiB", "MiB", "GiB"];
    let mut v = bytes as f64 / 1024.0;
    let mut i = 0;
    while v >= 1024.0 && i < units.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.2} {}", units[i])
}

#[test]
fn an_admin_creates_a_project_pushes_and_finds_the_image() {
    let berthd = start();
    let docker = Docker::new();
    let web = Browser::start(&berthd.url());
    web.goto("/account/sign-in");
    web.check_page("sign-in");
    sign_in(&web, "admin", ADMIN_PASSWORD);
    web.check_page("projects");

    web.click("details.create summary");
    web.fill("#new-name", "webshop");
    web.click("details.create button[type=submit]");
    assert!(web.wait_until(Duration::from_secs(5), |w| w.path()
        == "/projects/webshop/repositories"));
    assert!(
        web.text(".flash").contains("webshop"),
        "the creation is confirmed"
    );
    web.check_page("repositories-empty");
    let login = web.attr("ol.commands li:first-child button.copy", "data-copy");
    assert_eq!(login, Some(format!("docker login {}", berthd.host())));

    // A private project: anonymous visitors see nothing of it.
    let anonymous = http()
        .get(format!("{}/api/v2.0/projects/webshop", berthd.url()))
        .send()
        .expect("anonymous");
    assert_eq!(anonymous.status(), 401);

    let host = berthd.host();
    let image = format!("{host}/webshop/cart:v1");
    docker.build(&image, &[3000, 5000]);
    let out = docker.login(&host, "admin", ADMIN_PASSWORD);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    docker.ok(&["push", &image]);
    let digest = docker
        .repo_digest(&image)
        .rsplit('@')
        .next()
        .expect("digest")
        .to_string();
    let artifact: Value = api(
        &berthd,
        reqwest::Method::GET,
        "/projects/webshop/repositories/cart/artifacts/v1",
    )
    .send()
    .expect("artifact")
    .json()
    .expect("json");
    let size = artifact["size"].as_i64().expect("size");

    web.goto("/projects/webshop/repositories");
    web.click_link("webshop/cart");
    assert_eq!(web.path(), "/projects/webshop/repositories/cart");
    assert_eq!(web.all_text("table.artifacts .tag"), vec!["v1".to_string()]);
    web.check_page("artifacts");
    web.click("table.artifacts td a");
    assert_eq!(
        web.path(),
        format!("/projects/webshop/repositories/cart/-/{digest}")
    );
    assert_eq!(web.text("#digest"), digest);
    assert_eq!(web.text("#artifact-size"), size_text(size));
    let pull = format!("docker pull {host}/webshop/cart@{digest}");
    assert_eq!(web.text("#pull-by-digest"), pull);
    web.check_page("artifact");

    // Copy: the button says so, and what lands on the clipboard pastes back as the command.
    let button = format!("button.copy[data-copy=\"{pull}\"]");
    web.click(&button);
    assert!(web.wait_until(Duration::from_secs(5), |w| w
        .attr(&button, "data-copied")
        .is_some()));
    web.fill("#new-tag", "");
    web.keys(&format!("{}v", char::from(fantoccini::key::Key::Control)));
    let pasted = web.execute("return document.getElementById('new-tag').value;");
    assert_eq!(pasted, json!(pull), "the clipboard holds the pull command");

    // The command shown is the one that works.
    docker.ok(&["rmi", &image]);
    let args: Vec<&str> = pull.split(' ').skip(1).collect();
    docker.ok(&args);
}

#[test]
fn garbage_collection_runs_from_the_portal_and_shows_what_it_freed() {
    let berthd = start();
    let registry = berthd.registry(&["library/gone"]);
    let layer = random_bytes(40_000);
    let (_, digest) = registry.push_image("library/gone", "v1", &layer);
    let r = registry
        .req(
            reqwest::Method::DELETE,
            &format!("/v2/library/gone/manifests/{digest}"),
        )
        .send()
        .expect("delete");
    assert_eq!(r.status(), 202);

    let web = Browser::start(&berthd.url());
    sign_in(&web, "admin", ADMIN_PASSWORD);
    web.click_link("Garbage Collection");
    assert_eq!(web.path(), "/admin/gc");
    web.check_page("gc");
    web.click("#gc-now");
    assert!(web.wait_until(Duration::from_secs(5), |w| w
        .path()
        .starts_with("/admin/gc/")));
    // The live view follows the run to its end without a reload.
    assert!(
        web.wait_until(Duration::from_secs(60), |w| w
            .attr("#gc-status", "data-status")
            .as_deref()
            == Some("success")),
        "the run reaches Success: {}",
        web.text("#gc-status")
    );
    assert_eq!(
        web.text("#gc-deleted-blobs"),
        "2",
        "config and layer were freed"
    );
    let freed = web.text("#gc-freed");
    assert!(freed.ends_with("KiB"), "freed bytes are shown: {freed}");
    assert!(web.text("#gc-log").contains("blob"), "the log is shown");
    web.check_page("gc-run");
    web.goto("/admin/gc");
    let history = web.text("#gc-history tbody");
    assert!(
        history.contains(&freed),
        "the history shows the freed space: {history}"
    );
}

#[test]
fn the_portal_speaks_chinese_and_goes_back_to_english() {
    let berthd = start();
    let web = Browser::start(&berthd.url());
    sign_in(&web, "admin", ADMIN_PASSWORD);
    web.click("a.lang[lang=zh-CN]");
    assert!(web.wait_until(Duration::from_secs(5), |w| w.text("h1") == "项目"));
    assert_eq!(
        web.path(),
        "/projects",
        "the switch comes back to the same page"
    );
    assert_eq!(web.attr("html", "lang").as_deref(), Some("zh-CN"));
    web.check_page("projects-zh");
    web.goto("/projects/library/summary");
    assert!(web.source().contains("概要"));
    web.check_page("summary-zh");
    web.goto("/admin/gc");
    assert_eq!(web.text("h1"), "垃圾清理");
    web.check_page("gc-zh");
    web.click("a.lang[lang=en]");
    assert!(web.wait_until(Duration::from_secs(5), |w| w.text("h1")
        == "Garbage Collection"));
}

#[test]
fn every_action_is_reachable_by_keyboard() {
    let berthd = start();
    let web = Browser::start(&berthd.url());
    web.goto("/account/sign-in");
    // Sign in with the keyboard alone: the user name field has the focus.
    web.keys("admin");
    web.tab();
    web.keys(ADMIN_PASSWORD);
    web.enter();
    assert!(web.wait_until(Duration::from_secs(10), |w| w.path() == "/projects"));
    // Tab through the page: every link, button and field on it is reached, in order.
    let expected: Value = web.execute(
        "return Array.from(document.querySelectorAll('a[href], button, input:not([type=hidden]), select, summary'))
           .filter(e => e.offsetParent !== null).length;",
    );
    let mut reached = std::collections::BTreeSet::new();
    for _ in 0..expected.as_u64().unwrap_or(0) + 3 {
        web.tab();
        reached.insert(web.focused());
    }
    for needle in [
        "A# Garbage Collection",
        "SUMMARY# New Project",
        "A# library",
        "BUTTON# Sign out",
    ] {
        assert!(
            reached.iter().any(|f| f.starts_with(needle)),
            "{needle} is reachable with Tab: {reached:?}"
        );
    }
    // Open the create form with Enter on its summary and create a project.
    web.goto("/projects");
    web.execute("document.querySelector('details.create summary').focus(); return true;");
    web.enter();
    web.tab();
    web.keys("keyboard");
    web.enter();
    assert!(web.wait_until(Duration::from_secs(5), |w| w.path()
        == "/projects/keyboard/repositories"));
    // Go to GC by keyboard: focus the link, Enter, then run it from its form.
    web.execute("Array.from(document.querySelectorAll('nav.sidenav a')).find(a => a.getAttribute('href') === '/admin/gc').focus(); return true;");
    web.enter();
    assert!(web.wait_until(Duration::from_secs(5), |w| w.path() == "/admin/gc"));
    web.execute("document.getElementById('gc-now').focus(); return true;");
    web.enter();
    assert!(web.wait_until(Duration::from_secs(5), |w| w
        .path()
        .starts_with("/admin/gc/")));
}

#[test]
fn hostile_names_and_annotations_render_inert() {
    let berthd = start();
    let registry = berthd.registry(&["library/inert"]);
    let config = br#"{"architecture":"amd64","os":"linux","config":{"Env":["X=<script>alert(1)</script>"],"Labels":{"l":"javascript:alert(2)"}},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    let c = registry.push_blob("library/inert", config);
    let layer = random_bytes(100);
    let l = registry.push_blob("library/inert", &layer);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": c, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": l, "size": layer.len()}],
        "annotations": {
            "org.example.x": "<script>window.pwned=1</script>",
            "org.example.y": "\"'><img src=x onerror=window.pwned=2>",
            "org.example.url": "javascript:window.pwned=3",
        },
    });
    let body = serde_json::to_vec(&manifest).expect("json");
    let r = registry.put_manifest(
        "library/inert",
        "v1",
        "application/vnd.oci.image.manifest.v1+json",
        &body,
    );
    assert_eq!(r.status(), 201);
    let digest = crate::harness::sha256(&body);

    let web = Browser::start(&berthd.url());
    sign_in(&web, "admin", ADMIN_PASSWORD);
    web.goto(&format!("/projects/library/repositories/inert/-/{digest}"));
    let source = web.source();
    assert!(
        source.contains("&lt;script&gt;window.pwned=1&lt;/script&gt;"),
        "escaped"
    );
    assert!(!source.contains("<img src=x"), "no element was injected");
    let pwned = web.execute("return window.pwned === undefined;");
    assert_eq!(pwned, json!(true), "nothing ran");
    let scripts = web.execute("return document.scripts.length;");
    assert_eq!(
        scripts,
        json!(1),
        "only the portal's own script is on the page"
    );
    assert!(!web.exists("a[href^='javascript:']"), "no javascript: link");
    web.check_page("artifact-hostile");
}

#[test]
fn a_robot_made_in_the_portal_pushes_with_the_secret_shown_once() {
    let berthd = start();
    let docker = Docker::new();
    let web = Browser::start(&berthd.url());
    sign_in(&web, "admin", ADMIN_PASSWORD);
    web.goto("/projects/library/robots");
    web.check_page("robots-empty");
    web.click("details.create summary");
    web.fill("#robot-name", "ci");
    web.fill("#robot-description", "the build pipeline");
    web.click("input[value='repository:pull']");
    web.click("input[value='repository:push']");
    web.click("#robot-create");
    assert!(web.wait_until(Duration::from_secs(5), |w| w.exists("#secret-value")));
    let name = web.text("#secret-name");
    let secret = web.text("#secret-value");
    assert!(name.ends_with("library+ci"), "{name}");
    assert!(secret.len() >= 8);
    web.check_page("robot-secret");
    // The export is the same name and secret, as a file.
    let exported: Value = serde_json::from_str(
        web.execute_async(
            "const done = arguments[arguments.length - 1];
             const form = new FormData(document.querySelector('form[action=\"/account/secret.json\"]'));
             fetch('/account/secret.json', {method: 'POST', body: new URLSearchParams(form)})
               .then(r => r.text()).then(done);",
        )
        .as_str()
        .expect("text"),
    )
    .expect("json");
    assert_eq!(exported, json!({"name": name, "secret": secret}));
    // Shown once: the next page has no secret on it.
    web.goto("/projects/library/robots");
    assert!(
        !web.exists("#secret-value"),
        "the secret is gone after one showing"
    );
    assert!(!web.source().contains(&secret));
    assert!(web.text("#robots").contains(&name));
    web.check_page("robots");

    let host = berthd.host();
    let out = docker.login(&host, &name, &secret);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let image = format!("{host}/library/from-robot:v1");
    docker.build(&image, &[1000]);
    docker.ok(&["push", &image]);
    web.goto("/projects/library/repositories");
    assert!(web.source().contains("library/from-robot"));

    // Disabled in the portal, the robot's secret stops working.
    web.goto("/projects/library/robots");
    web.click("form[action$='/toggle'] button");
    assert!(web.wait_until(Duration::from_secs(5), |w| w.exists(".flash-ok")));
    let token = http()
        .get(format!(
            "{}/service/token?service=harbor-registry&scope=repository:library/from-robot:pull",
            berthd.url()
        ))
        .basic_auth(&name, Some(&secret))
        .send()
        .expect("token");
    assert_eq!(token.status(), 401, "a disabled robot gets no token");
    // Robots cannot sign in to the portal.
    let other = Browser::start(&berthd.url());
    other.goto("/account/sign-in");
    other.fill("#principal", &name);
    other.fill("#password", &secret);
    other.click("form button[type=submit]");
    assert!(other.wait_until(Duration::from_secs(5), |w| w.exists("#sign-in-error")));
    assert!(other.path().starts_with("/account/sign-in"));
}

/// Creates a user in the administration pages and adds it to `project` with `role`.
fn add_member(web: &Browser, project: &str, user: &str, role: &str) {
    web.goto("/admin/users");
    web.click("details.create summary");
    web.fill("#new-username", user);
    web.fill("#new-email", &format!("{user}@example.com"));
    web.fill("#new-password", "Member12345");
    web.click("details.create button[type=submit]");
    assert!(
        web.wait_until(Duration::from_secs(5), |w| w.exists(".flash-ok")),
        "{}",
        web.source()
    );
    web.goto(&format!("/projects/{project}/members"));
    web.click("details.create summary");
    web.fill("#member-name", user);
    web.execute(&format!(
        "const s = document.getElementById('member-role'); s.value = Array.from(s.options).find(o => o.text === '{role}').value; return true;"
    ));
    web.click("details.create button[type=submit]");
    assert!(web.wait_until(Duration::from_secs(5), |w| w.exists(".flash-ok")));
    assert!(web.text("#members").contains(user));
}

#[test]
fn a_member_sees_what_the_role_allows_and_nothing_more() {
    let berthd = start();
    let registry = berthd.registry(&["library/app"]);
    let (_, digest) = registry.push_image("library/app", "v1", &random_bytes(500));
    let admin = Browser::start(&berthd.url());
    sign_in(&admin, "admin", ADMIN_PASSWORD);
    add_member(&admin, "library", "gina", "Guest");
    admin.check_page("members");
    add_member(&admin, "library", "dave", "Developer");
    admin.goto("/admin/users");
    admin.check_page("users");

    let artifact = format!("/projects/library/repositories/app/-/{digest}");
    let guest = Browser::start(&berthd.url());
    sign_in(&guest, "gina", "Member12345");
    // No administration at all.
    assert!(!guest.exists("a[href='/admin/gc']"));
    assert!(!guest.exists("a[href='/admin/users']"));
    guest.goto("/projects/library/summary");
    assert!(
        !guest.exists("a[href='/projects/library/delete']"),
        "no delete button"
    );
    let tabs = guest.all_text("nav.tabs a");
    assert!(
        !tabs.iter().any(|t| t == "Logs"),
        "guests do not read the log: {tabs:?}"
    );
    guest.goto("/projects/library/repositories");
    assert!(!guest.exists("details.push-commands"), "guests cannot push");
    guest.goto(&artifact);
    assert!(!guest.exists("#new-tag"), "no tag form");
    assert!(
        !guest.exists(&format!("a[href='{artifact}/delete']")),
        "no delete"
    );
    assert!(
        !guest.exists("a[href*='/tags/v1/delete']"),
        "no tag removal"
    );
    guest.check_page("artifact-guest");
    guest.goto("/projects/library/members");
    assert!(!guest.exists("details.create"), "guests cannot add members");
    // What the page does not offer, the server refuses too.
    let status = guest.execute_async(&format!(
        "const done = arguments[arguments.length - 1];
         const csrf = document.querySelector('input[name=csrf]').value;
         fetch('{artifact}/delete', {{method: 'POST', body: new URLSearchParams({{csrf}}), redirect: 'manual'}})
           .then(() => fetch('{artifact}')).then(r => r.text()).then(done);"
    ));
    assert!(
        status
            .as_str()
            .unwrap_or("")
            .contains("you may not delete artifact"),
        "the server refused the guest"
    );
    assert!(
        registry
            .get(&format!("/v2/library/app/manifests/{digest}"))
            .status()
            .is_success(),
        "the artifact is still there"
    );
    guest.goto("/admin/gc");
    assert!(
        guest.text("main").contains("403"),
        "administration is refused"
    );

    let developer = Browser::start(&berthd.url());
    sign_in(&developer, "dave", "Member12345");
    developer.goto("/projects/library/repositories");
    assert!(developer.exists("details.push-commands"), "developers push");
    developer.goto(&artifact);
    assert!(developer.exists("#new-tag"), "developers tag");
    assert!(
        !developer.exists(&format!("a[href='{artifact}/delete']")),
        "but do not delete"
    );
    developer.fill("#new-tag", "stable");
    developer.click("form.inline-form button");
    assert!(developer.wait_until(Duration::from_secs(5), |w| w.exists(".flash-ok")));
    assert!(developer
        .all_text("span.tag")
        .contains(&"stable".to_string()));
}

#[test]
fn configuration_changed_in_the_portal_takes_effect_at_once() {
    let berthd = start();
    let web = Browser::start(&berthd.url());
    sign_in(&web, "admin", ADMIN_PASSWORD);
    web.goto("/admin/configuration");
    web.check_page("configuration");
    // Self-registration and a banner, from the portal; the API sees the same values.
    web.click("input[name=self_registration]");
    web.fill("#banner_text", "Read-only window tonight at 22:00 UTC");
    web.fill("#token_expiration", "12");
    web.click("#config-save");
    assert!(
        web.wait_until(Duration::from_secs(5), |w| w.exists(".flash-ok")),
        "{}",
        web.source()
    );
    assert_eq!(web.text("#banner"), "Read-only window tonight at 22:00 UTC");
    let config: Value = api(&berthd, reqwest::Method::GET, "/configurations")
        .send()
        .expect("configurations")
        .json()
        .expect("json");
    assert_eq!(config["self_registration"]["value"], true);
    assert_eq!(config["token_expiration"]["value"], 12);
    // A bad value is refused with the reason, and what was typed stays in the form.
    web.fill("#session_timeout", "0");
    web.click("#config-save");
    assert!(web.wait_until(Duration::from_secs(5), |w| w.exists(".flash-error")));
    assert!(web.text(".flash-error").contains("session_timeout"));
    assert_eq!(web.attr("#session_timeout", "value").as_deref(), Some("0"));
    // The LDAP test names the step that failed.
    web.goto("/admin/configuration");
    web.fill("#ldap_url", "ldap://127.0.0.1:1");
    web.fill("#ldap_base_dn", "dc=example,dc=com");
    web.click("#ldap-test");
    assert!(web.wait_until(Duration::from_secs(15), |w| w.exists("#ldap-test-result")));
    assert!(
        web.text("#ldap-test-result").contains("connection"),
        "{}",
        web.text("#ldap-test-result")
    );
    web.check_page("configuration-ldap-test");
    // Changing the login mode says what happens first.
    web.execute("document.getElementById('auth_mode').value = 'ldap_auth'; return true;");
    web.click("#config-save");
    assert!(web.wait_until(Duration::from_secs(5), |w| w.exists("#mode-consequence")));
    web.check_page("configuration-mode-confirm");
    web.click_link("Cancel");

    // Self-registration is on at once: a visitor signs up and signs in.
    let visitor = Browser::start(&berthd.url());
    visitor.goto("/account/sign-in");
    assert_eq!(
        visitor.text("#banner"),
        "Read-only window tonight at 22:00 UTC"
    );
    visitor.click_link("Create an account");
    visitor.check_page("sign-up");
    visitor.fill("#username", "newcomer");
    visitor.fill("#email", "newcomer@example.com");
    visitor.fill("#password", "Newcomer123");
    visitor.fill("#password2", "Newcomer123");
    visitor.click("form button[type=submit]");
    assert!(visitor.wait_until(Duration::from_secs(5), |w| w
        .path()
        .starts_with("/account/sign-in")));
    sign_in(&visitor, "newcomer", "Newcomer123");
    visitor.goto("/account/profile");
    visitor.check_page("profile");
    visitor.fill("#old_password", "Newcomer123");
    visitor.fill("#new_password", "Changed1234");
    visitor.fill("#new_password2", "Changed1234");
    visitor.click("form[action='/account/password'] button");
    assert!(visitor.wait_until(Duration::from_secs(5), |w| w.exists(".flash-ok")));

    // The other administration pages, as an administrator sees them.
    for (path, name) in [
        ("/admin/system", "system"),
        ("/admin/logs", "logs"),
        ("/admin/groups", "groups"),
        ("/projects/library/summary", "summary"),
        ("/projects/library/members", "members-admin"),
        ("/projects/library/logs", "project-logs"),
        ("/projects/library/delete", "confirm-delete"),
        ("/projects/nope/summary", "error"),
    ] {
        web.goto(path);
        web.check_page(name);
    }
    web.goto("/admin/logs?operation=update&resource_type=configuration");
    assert!(
        web.text("#log").contains("token_expiration"),
        "the change is in the audit log"
    );
    web.goto("/admin/system");
    assert!(web.text("#version").starts_with("Berth "));
}

#[test]
fn a_directory_user_signs_in_and_the_ldap_test_passes_against_the_real_directory() {
    let slapd = crate::ldap::Slapd::start();
    let berthd = crate::ldap::berthd_with_directory(&slapd);
    let web = Browser::start(&berthd.url());
    sign_in(&web, "alice", "alicepw");
    web.goto("/account/profile");
    assert!(web.text("main").contains("alice"));
    assert!(
        !web.exists("#old_password"),
        "directory users change their password there"
    );
    web.check_page("profile-ldap");
    assert!(
        !web.exists("a[href='/admin/configuration']"),
        "alice is no administrator"
    );
    // A wrong directory password is refused at the sign-in page.
    let other = Browser::start(&berthd.url());
    other.goto("/account/sign-in");
    other.fill("#principal", "alice");
    other.fill("#password", "wrong");
    other.click("form button[type=submit]");
    assert!(other.wait_until(Duration::from_secs(10), |w| w.exists("#sign-in-error")));
    // The administrator's LDAP test, with the saved settings, passes step by step.
    sign_in(&other, "admin", ADMIN_PASSWORD);
    other.goto("/admin/configuration");
    let mode = other.execute("return document.getElementById('auth_mode').value;");
    assert_eq!(mode, json!("ldap_auth"));
    other.click("#ldap-test");
    assert!(other.wait_until(Duration::from_secs(15), |w| w.exists("#ldap-test-result")));
    let said = other.text("#ldap-test-result");
    assert!(
        said.contains("connection, TLS, search bind and base DN all work"),
        "{said}"
    );
}

/// An administrator adds another berthd as an endpoint, tests it, writes a push rule, runs
/// it and watches it to the end, reads a task's log; then, with the destination down, sees
/// the execution fail with the reason and retries it once the destination is back.
#[test]
fn replication_is_set_up_watched_and_retried_from_the_portal() {
    let source = start();
    let mut target = start();
    let registry = source.registry(&["library/shop"]);
    let (_, digest) = registry.push_image("library/shop", "v1", &random_bytes(200_000));

    let web = Browser::start(&source.url());
    sign_in(&web, "admin", ADMIN_PASSWORD);
    web.click_link("Registries");
    assert_eq!(web.path(), "/admin/registries");
    web.check_page("registries-empty");
    web.fill("#registry-name", "target");
    web.fill("#registry-url", &target.url());
    web.fill("#registry-key", "admin");
    web.fill("#registry-secret", ADMIN_PASSWORD);
    web.click("#registry-form button[type=submit]");
    assert!(
        web.wait_until(Duration::from_secs(10), |w| w
            .text("#registries tbody")
            .contains("target")),
        "{}",
        web.source()
    );
    web.click("#registries form[action$='/test'] button");
    assert!(
        web.wait_until(Duration::from_secs(10), |w| w
            .source()
            .contains("answered and accepted the credentials")),
        "the test says the endpoint works: {}",
        web.source()
    );
    web.check_page("registries");

    web.click_link("Replications");
    web.check_page("replications-empty");
    web.fill("#policy-name", "to-target");
    web.fill("#policy-name-filter", "library/**");
    web.click("#policy-form button[type=submit]");
    assert!(web.wait_until(Duration::from_secs(10), |w| w
        .text("#policies tbody")
        .contains("to-target")));
    web.check_page("replications");
    web.click("#policies form[action$='/run'] button");
    assert!(web.wait_until(Duration::from_secs(10), |w| w
        .path()
        .starts_with("/admin/replications/executions/")));
    assert!(
        web.wait_until(Duration::from_secs(60), |w| w
            .exists("#repl-status.status-success")),
        "the live view reaches Succeeded: {}",
        web.text("#repl-status")
    );
    assert_eq!(web.text("#repl-succeed"), "1");
    assert_eq!(web.text("#repl-failed"), "0");
    web.check_page("replication-run");
    web.click("#repl-tasks a");
    assert!(web.wait_until(Duration::from_secs(10), |w| w.path().contains("/tasks/")));
    assert!(
        web.text("#task-log").contains("written"),
        "{}",
        web.text("#task-log")
    );
    web.check_page("replication-task");
    let at_target = target.registry(&["library/shop"]);
    let r = at_target
        .req(reqwest::Method::HEAD, "/v2/library/shop/manifests/v1")
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .expect("HEAD");
    assert_eq!(r.headers()["docker-content-digest"], digest.as_str());

    // The destination goes down: the run fails and says why; back up, a retry succeeds.
    registry.push_image("library/shop", "v2", &random_bytes(1000));
    target.stop();
    web.goto("/admin/replications");
    web.click("#policies form[action$='/run'] button");
    assert!(
        web.wait_until(Duration::from_secs(60), |w| w
            .exists("#repl-status.status-error")),
        "the run fails: {}",
        web.source()
    );
    assert!(
        web.source().contains("cannot be reached"),
        "{}",
        web.source()
    );
    web.check_page("replication-failed");
    target.spawn();
    web.click("#repl-retry");
    assert!(
        web.wait_until(Duration::from_secs(60), |w| w
            .exists("#repl-status.status-success")),
        "the retried run reaches Succeeded: {}",
        web.source()
    );
    let v2 = target
        .registry(&["library/shop"])
        .req(reqwest::Method::HEAD, "/v2/library/shop/manifests/v2")
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .expect("HEAD");
    assert_eq!(v2.status(), 200);
}

/// The tags left in a repository, by the REST API.
fn tags_of(berthd: &Berthd, project: &str, repo: &str) -> Vec<String> {
    let artifacts: Value = api(
        berthd,
        reqwest::Method::GET,
        &format!("/projects/{project}/repositories/{repo}/artifacts?page_size=100"),
    )
    .send()
    .expect("artifacts")
    .json()
    .expect("json");
    let mut tags: Vec<String> = artifacts
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|a| a["tags"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["name"].as_str().map(String::from))
        .collect();
    tags.sort();
    tags
}

/// Waits on a retention run's page until it has ended (the page reloads itself only by hand).
fn run_ended(web: &Browser) -> String {
    let path = web.path();
    assert!(
        web.wait_until(Duration::from_secs(60), |w| {
            w.goto(&path);
            let status = w.text("#run-status");
            status == "Success" || status == "Error"
        }),
        "the run ends: {}",
        web.text("#run-status")
    );
    web.text("#run-status")
}

#[test]
fn retention_immutability_and_quotas_are_managed_from_the_portal() {
    let berthd = start();
    let r = api(&berthd, reqwest::Method::POST, "/projects")
        .json(&json!({"project_name": "pol", "storage_limit": 1024 * 1024}))
        .send()
        .expect("project");
    assert_eq!(r.status(), 201);
    let registry = berthd.registry(&["pol/app"]);
    for tag in ["v1", "v2", "v3", "v4"] {
        registry.push_image("pol/app", tag, &random_bytes(20_000));
    }

    let web = Browser::start(&berthd.url());
    sign_in(&web, "admin", ADMIN_PASSWORD);
    web.goto("/projects/pol/summary");
    let quota = web.text(".quota");
    assert!(
        quota.contains("of 1.00 MiB"),
        "the header shows the quota: {quota}"
    );
    assert!(web.exists(".quota meter"));
    web.click_link("Policy");
    assert_eq!(web.path(), "/projects/pol/policy");
    web.check_page("policy-empty");

    // A rule that keeps v1 only, tried first as a dry run.
    web.execute("document.querySelector('#ret-template').value = 'always';");
    web.fill("#ret-tag-pattern", "v1");
    web.click("#retention-add-rule");
    assert!(web.wait_until(Duration::from_secs(5), |w| w.exists(".flash-ok")));
    let rules = web.text("#retention-rules");
    assert!(
        rules.contains("retain always") && rules.contains("matching v1"),
        "{rules}"
    );
    web.click("#retention-dry-run");
    assert!(web.wait_until(Duration::from_secs(5), |w| w
        .path()
        .starts_with("/projects/pol/policy/retention/")));
    assert_eq!(run_ended(&web), "Success");
    assert_eq!(web.text("#run-deleted"), "3");
    web.check_page("retention-dry-run");
    web.click("#retention-tasks tbody a");
    let log = web.text("#task-log");
    assert!(log.contains("would delete pol/app:v2"), "{log}");
    assert!(log.contains("retain pol/app:v1"), "{log}");
    web.check_page("retention-task");
    assert_eq!(
        tags_of(&berthd, "pol", "app"),
        ["v1", "v2", "v3", "v4"],
        "a dry run deletes nothing"
    );

    // v3 made immutable; the real run keeps it.
    web.click_link("Policy");
    web.click("#immutability details.create summary");
    web.fill("#imm-tag-pattern", "v3");
    web.click("#immutable-add-rule");
    assert!(web.wait_until(Duration::from_secs(5), |w| w.exists(".flash-ok")));
    assert!(web.text("#immutable-rules").contains("matching v3"));
    web.click("#retention-run-now");
    assert!(web.wait_until(Duration::from_secs(5), |w| w
        .path()
        .starts_with("/projects/pol/policy/retention/")));
    assert_eq!(run_ended(&web), "Success");
    web.click("#retention-tasks tbody a");
    let log = web.text("#task-log");
    assert!(
        log.contains("retain pol/app:v3") && log.contains("immutable"),
        "{log}"
    );
    assert!(log.contains("delete pol/app:v2"), "{log}");
    assert_eq!(tags_of(&berthd, "pol", "app"), ["v1", "v3"]);
    web.goto("/projects/pol/policy");
    let history = web.text("#retention-history");
    assert!(
        history.lines().count() >= 3,
        "both runs are listed: {history}"
    );
    web.check_page("policy");

    // The administrators' quota list: a bar per project, a limit changed in place.
    web.click_link("Project Quotas");
    assert_eq!(web.path(), "/admin/quotas");
    web.check_page("quotas");
    let row = web.text("#quotas");
    assert!(row.contains("pol") && row.contains("of 1.00 MiB"), "{row}");
    let form = "form.quota-edit[action$='/admin/quotas/2']";
    web.fill(&format!("{form} input[name=amount]"), "2");
    web.click(&format!("{form} button"));
    assert!(web.wait_until(Duration::from_secs(5), |w| w.exists(".flash-ok")));
    assert!(web.text("#quotas").contains("of 2.00 MiB"));
    // Below what the project stores: refused, with the reason.
    web.fill(&format!("{form} input[name=amount]"), "1");
    web.execute("document.querySelector(\"form.quota-edit[action$='/admin/quotas/2'] select\").value = 'B';");
    web.click(&format!("{form} button"));
    assert!(web.wait_until(Duration::from_secs(5), |w| w.exists(".flash-error")));
    assert!(
        web.text(".flash-error").contains("already stores"),
        "{}",
        web.text(".flash-error")
    );
    web.check_page("quotas-refused");
}
