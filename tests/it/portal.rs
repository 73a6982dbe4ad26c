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
