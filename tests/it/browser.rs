//! A real Chromium, headless, driven through ChromeDriver (WebDriver) with fantoccini, behind a
//! blocking face so browser tests read like the other end-to-end tests. ChromeDriver binds
//! port 0 and reports the port it got; both processes end when the `Browser` is dropped.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

pub struct Browser {
    runtime: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Child,
    _profile: tempfile::TempDir,
    /// The site every relative path is resolved against.
    pub base: String,
}

/// Where screenshots go: `target/screenshots/` of the workspace.
fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    dir
}

impl Browser {
    /// A fresh browser (its own profile, so no cookies) for the site at `base`.
    pub fn start(base: &str) -> Browser {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let mut driver = Command::new("chromedriver")
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver: install the chromium-driver package");
        let stdout = driver.stdout.take().expect("chromedriver stdout");
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = loop {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not report its port"
            );
            let Some(Ok(line)) = lines.next() else {
                panic!("chromedriver exited before reporting its port");
            };
            if let Some(p) = line
                .split("started successfully on port ")
                .nth(1)
                .and_then(|r| r.trim_end_matches('.').trim().parse::<u16>().ok())
            {
                break p;
            }
        };
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let profile = tempfile::tempdir().expect("profile");
        let args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--window-size=1366,768".into(),
            "--lang=en-US".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"binary": "/usr/bin/chromium", "args": args}),
        );
        let client = runtime
            .block_on(
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(caps)
                    .connect(&format!("http://127.0.0.1:{port}")),
            )
            .expect("a WebDriver session in Chromium");
        Browser {
            runtime,
            client: Some(client),
            driver,
            _profile: profile,
            base: base.trim_end_matches('/').to_string(),
        }
    }

    fn c(&self) -> &Client {
        self.client.as_ref().expect("client")
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    pub fn goto(&self, path: &str) {
        let url = self.url(path);
        self.runtime
            .block_on(self.c().goto(&url))
            .unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    /// The path and query of the current page.
    pub fn path(&self) -> String {
        let u = self.runtime.block_on(self.c().current_url()).expect("url");
        match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        }
    }

    pub fn source(&self) -> String {
        self.runtime.block_on(self.c().source()).expect("source")
    }

    /// The element for a CSS selector, waiting up to five seconds for it to appear.
    pub fn find(&self, css: &str) -> Element {
        self.runtime
            .block_on(async {
                self.c()
                    .wait()
                    .at_most(Duration::from_secs(5))
                    .for_element(Locator::Css(css))
                    .await
            })
            .unwrap_or_else(|e| panic!("no element {css:?} on {}: {e}", self.path()))
    }

    pub fn exists(&self, css: &str) -> bool {
        !self
            .runtime
            .block_on(self.c().find_all(Locator::Css(css)))
            .expect("find_all")
            .is_empty()
    }

    /// A read of the page that the portal's live views may race: they replace elements as they
    /// poll, so a read that finds its element gone (stale) is made again, a bounded number of
    /// times. Any other error fails the test at once.
    fn read_again_if_stale<T>(
        &self,
        what: &str,
        read: impl Fn() -> Result<T, fantoccini::error::CmdError>,
    ) -> T {
        for _ in 0..50 {
            match read() {
                Err(fantoccini::error::CmdError::Standard(e))
                    if e.error == fantoccini::error::ErrorStatus::StaleElementReference => {}
                other => return other.unwrap_or_else(|e| panic!("{what}: {e}")),
            }
        }
        panic!("{what}: the element was replaced 50 times in a row")
    }

    pub fn all_text(&self, css: &str) -> Vec<String> {
        self.read_again_if_stale(css, || {
            self.runtime.block_on(async {
                let mut out = vec![];
                for e in self.c().find_all(Locator::Css(css)).await? {
                    out.push(e.text().await?);
                }
                Ok(out)
            })
        })
    }

    pub fn text(&self, css: &str) -> String {
        self.read_again_if_stale(css, || {
            let e = self.find(css);
            self.runtime.block_on(e.text())
        })
    }

    pub fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.read_again_if_stale(css, || {
            let e = self.find(css);
            self.runtime.block_on(e.attr(name))
        })
    }

    pub fn click(&self, css: &str) {
        let e = self.find(css);
        self.runtime
            .block_on(e.click())
            .unwrap_or_else(|err| panic!("click {css:?}: {err}"));
    }

    /// Replaces an input's value by typing.
    pub fn fill(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.runtime.block_on(async {
            e.clear().await.expect("clear");
            e.send_keys(text).await.expect("type");
        });
    }

    /// Clicks the link whose text is exactly `text`.
    pub fn click_link(&self, text: &str) {
        let e = self
            .runtime
            .block_on(self.c().find(Locator::LinkText(text)))
            .unwrap_or_else(|err| panic!("no link {text:?} on {}: {err}", self.path()));
        self.runtime.block_on(e.click()).expect("click link");
    }

    /// Keys sent to whatever has the focus.
    pub fn keys(&self, keys: &str) {
        self.runtime.block_on(async {
            let active = self.c().active_element().await.expect("focus");
            active.send_keys(keys).await.expect("keys");
        });
    }

    pub fn tab(&self) {
        self.keys(&char::from(Key::Tab).to_string());
    }

    pub fn enter(&self) {
        self.keys(&char::from(Key::Enter).to_string());
    }

    /// What has the focus, described for a test message: tag, id, text.
    pub fn focused(&self) -> String {
        self.execute(
            "const e = document.activeElement; return e.tagName + '#' + (e.id || '') + ' ' + (e.textContent || e.value || '').trim().slice(0, 60);",
        )
        .as_str()
        .unwrap_or("")
        .to_string()
    }

    pub fn execute(&self, script: &str) -> Value {
        self.runtime
            .block_on(self.c().execute(script, vec![]))
            .unwrap_or_else(|e| panic!("script failed: {e}"))
    }

    pub fn execute_async(&self, script: &str) -> Value {
        self.runtime
            .block_on(self.c().execute_async(script, vec![]))
            .unwrap_or_else(|e| panic!("async script failed: {e}"))
    }

    /// Polls `check` until it is true, for at most `timeout`; false if it never was.
    pub fn wait_until(&self, timeout: Duration, mut check: impl FnMut(&Browser) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if check(self) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Saves the page as `target/screenshots/<name>.png`.
    pub fn screenshot(&self, name: &str) {
        let png = self
            .runtime
            .block_on(self.c().screenshot())
            .expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a screenshot is a PNG");
        std::fs::write(screenshot_dir().join(format!("{name}.png")), png)
            .expect("write screenshot");
    }

    /// Runs axe-core on the page and returns its critical and serious violations, one line
    /// each. The script comes from `BERTH_TEST_AXE` (tests/run.sh installs axe-core from npm).
    pub fn accessibility_violations(&self) -> Vec<String> {
        let path = std::env::var("BERTH_TEST_AXE")
            .expect("BERTH_TEST_AXE: the path of axe.min.js (tests/run.sh installs it)");
        let axe = std::fs::read_to_string(&path).expect("axe.min.js");
        self.execute(&format!("{axe}\n;return true;"));
        let result = self.execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {resultTypes: ['violations']}).then(r => done(
               r.violations
                 .filter(v => v.impact === 'critical' || v.impact === 'serious')
                 .map(v => v.impact + ' ' + v.id + ': ' + v.help + ' at ' +
                      v.nodes.map(n => n.target.join(' ')).join(', '))
             ), e => done(['axe failed: ' + e]));",
        );
        result
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_else(|| vec![format!("unexpected axe result {result}")])
    }

    /// The page passes axe and is saved as a screenshot: what every page visit in the tests
    /// ends with.
    pub fn check_page(&self, name: &str) {
        let violations = self.accessibility_violations();
        self.screenshot(name);
        assert!(
            violations.is_empty(),
            "accessibility violations on {} ({name}):\n{}",
            self.path(),
            violations.join("\n")
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = self.runtime.block_on(client.close());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
