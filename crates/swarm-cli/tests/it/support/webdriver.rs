//! A minimal W3C WebDriver client for the browser tests: starts Debian's
//! `chromedriver`, opens a headless Chromium session, and speaks the few
//! commands the tests need (navigate, run a script, read the page, take a
//! screenshot) as
//! JSON over HTTP, with the `reqwest` client the workspace already builds.
//!
//! A WebDriver crate (fantoccini) would pull in its own HTTP stack, cookie
//! and time crates and the `webdriver` crate with ICU segmentation data:
//! two dozen crates to compile on every CI run for a handful of HTTP calls. The
//! protocol is small and stable, so the tests carry these calls instead.
//!
//! Nothing here skips: if `chromedriver` or `chromium` is missing or cannot
//! start, the test fails and says how to install them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

use super::free_port;

/// The chromium binary Debian's `chromium` package installs.
pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";
/// The driver Debian's `chromium-driver` package installs.
pub(crate) const CHROMEDRIVER: &str = "chromedriver";

/// A running `chromedriver`, killed on drop.
pub(crate) struct Chromedriver {
    child: Child,
    /// Where it listens.
    pub(crate) url: String,
}

impl Chromedriver {
    /// Starts `chromedriver` on a free port and waits until it is ready.
    pub(crate) async fn start() -> Chromedriver {
        let port = free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {CHROMEDRIVER}: {e}; install Debian's chromium and \
                     chromium-driver (scripts/test does)"
                )
            });
        let driver = Chromedriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = http.get(format!("{}/status", driver.url)).send().await {
                if let Ok(v) = r.json::<Value>().await {
                    if v["value"]["ready"] == true {
                        return driver;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "{CHROMEDRIVER} did not become ready on port {port} within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser session.
pub(crate) struct Session {
    http: reqwest::Client,
    base: String,
    _profile: tempfile::TempDir,
}

impl Session {
    /// Opens headless Chromium through `driver`.
    pub(crate) async fn new(driver: &Chromedriver) -> Session {
        Self::open(driver, true).await
    }

    /// Opens headless Chromium with JavaScript disabled for pages (the
    /// driver's own commands still work).
    pub(crate) async fn without_javascript(driver: &Chromedriver) -> Session {
        Self::open(driver, false).await
    }

    async fn open(driver: &Chromedriver, javascript: bool) -> Session {
        let profile = tempfile::tempdir().unwrap();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let capabilities = json!({
            "capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": CHROMIUM,
                    "args": [
                        "--headless",
                        "--no-sandbox",
                        "--disable-gpu",
                        "--disable-background-networking",
                        "--disable-dev-shm-usage",
                        "--window-size=1280,1400",
                        format!("--user-data-dir={}", profile.path().display()),
                    ],
                    "prefs": {
                        "profile.managed_default_content_settings.javascript":
                            if javascript { 1 } else { 2 },
                    },
                },
            }},
        });
        let r = http
            .post(format!("{}/session", driver.url))
            .json(&capabilities)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{CHROMEDRIVER} refused a session: {e}"));
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        let Some(id) = body["value"]["sessionId"].as_str() else {
            panic!(
                "cannot start {CHROMIUM} through {CHROMEDRIVER} (HTTP {status}): {}",
                body["value"]["message"]
            );
        };
        Session {
            base: format!("{}/session/{id}", driver.url),
            http,
            _profile: profile,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let r = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert!(
            status.is_success(),
            "WebDriver {method} {path}: HTTP {status}: {}",
            body["value"]
        );
        body["value"].clone()
    }

    /// Loads `url` and waits for the page to load.
    pub(crate) async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    /// The current URL.
    pub(crate) async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Runs `script` (a function body; `return` gives the result).
    pub(crate) async fn execute(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// Runs `script` until it returns something other than `null`/`false`,
    /// at most `timeout`; returns that value.
    pub(crate) async fn wait_for(&self, what: &str, script: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.execute(script).await;
            if !(v.is_null() || v == Value::Bool(false)) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "waited {timeout:?} for {what}; the page is at {}",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The page's current HTML, as the browser holds it.
    pub(crate) async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// A PNG of the viewport.
    pub(crate) async fn screenshot(&self) -> Vec<u8> {
        let encoded = self.call(reqwest::Method::GET, "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap_or_default())
            .unwrap()
    }

    /// Ends the session (the browser exits).
    pub(crate) async fn close(self) {
        let _ = self.http.delete(&self.base).send().await;
    }
}
