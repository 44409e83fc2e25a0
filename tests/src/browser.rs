//! Headless Chromium driven over WebDriver (Debian's `chromium` and `chromium-driver`), for the
//! browser tests of the web pages. Each test gets its own `chromedriver` and browser; a test
//! that fails saves a screenshot under `target/browser-screenshots/`.

use std::{panic::AssertUnwindSafe, path::PathBuf, process::Stdio, time::Duration};

use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use futures::FutureExt as _;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tokio::{
    io::{AsyncBufReadExt as _, BufReader},
    process::{Child, Command},
};

use crate::skip::skip;

/// How long a page element may take to appear.
pub const WAIT: Duration = Duration::from_secs(10);

/// A browser session; the driver process ends with it.
pub struct Browser {
    pub client: Client,
    _driver: Child,
}

impl Browser {
    /// A headless Chromium `width` pixels wide, or `None` (after reporting the skip) when
    /// `chromium` or `chromedriver` is not installed.
    pub async fn start(test: &str, width: u32) -> Option<Self> {
        let (Some(chromium), Some(chromedriver)) = (find("chromium"), find("chromedriver")) else {
            skip(
                test,
                "needs Chromium and its driver (Debian: apt-get install chromium chromium-driver)",
            );
            return None;
        };
        let port = free_port();
        let mut driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        // It says so on stdout once it listens.
        let stdout = driver
            .stdout
            .take()
            .expect("chromedriver's stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        tokio::time::timeout(WAIT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("started successfully") {
                    return;
                }
            }
            panic!("chromedriver exited before it was ready");
        })
        .await
        .expect("chromedriver starts in time");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-dev-shm-usage", "--enable-precise-memory-info",
                    format!("--window-size={width},900"),
                ],
            }),
        );
        // The driver is on loopback: plain HTTP, no TLS stack.
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("open a Chromium session");
        Some(Self {
            client,
            _driver: driver,
        })
    }

    /// Runs `body`; when it fails, saves a screenshot named after `test` before failing.
    pub async fn run<F>(&self, test: &str, body: F)
    where
        F: std::future::Future<Output = ()>,
    {
        let outcome = AssertUnwindSafe(body).catch_unwind().await;
        if outcome.is_ok() {
            self.close().await;
        }
        if let Err(panic) = outcome {
            if let Ok(png) = self.client.screenshot().await {
                let dir = screenshot_dir();
                let _ = std::fs::create_dir_all(&dir);
                let file = dir.join(format!("{}.png", test.replace("::", "-")));
                if std::fs::write(&file, png).is_ok() {
                    let _ = std::io::Write::write_all(
                        &mut std::io::stderr(),
                        format!("screenshot of the failure: {}\n", file.display()).as_bytes(),
                    );
                }
            }
            self.close().await;
            std::panic::resume_unwind(panic);
        }
    }

    /// Ends the session, which ends the browser: killing chromedriver alone would leave
    /// Chromium's processes behind.
    pub async fn close(&self) {
        let _ = self.client.clone().close().await;
    }

    /// With `TODO_SCREENSHOTS=<dir>` set, saves the page as `<dir>/<name>.png` (how the
    /// screenshots in `docs/` are made: `TODO_SCREENSHOTS=docs cargo test ... browser::`).
    pub async fn screenshot_if_asked(&self, name: &str) {
        let Ok(dir) = std::env::var("TODO_SCREENSHOTS") else {
            return;
        };
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(dir);
        let png = self.client.screenshot().await.expect("take a screenshot");
        std::fs::create_dir_all(&dir).expect("create the screenshot folder");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("save the screenshot");
    }

    /// Waits for the element `css` selects.
    pub async fn wait_for(&self, css: &str) -> Element {
        let quoted = serde_json::to_string(css).expect("a selector is a string");
        self.wait_until(
            &format!("{css} appears"),
            &format!("document.querySelector({quoted})"),
        )
        .await;
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|err| panic!("find {css}: {err}"))
    }

    /// Waits until `condition` (a script expression) is true in the page: checked at once and
    /// again whenever the document changes (a `MutationObserver`), so nothing is polled.
    pub async fn wait_until(&self, what: &str, condition: &str) {
        let script = format!(
            r#"const done = arguments[arguments.length - 1];
            const holds = () => {{ try {{ return Boolean({condition}); }} catch (e) {{ return false; }} }};
            if (holds()) {{ done(true); return; }}
            const observer = new MutationObserver(() => {{
              if (holds()) {{ observer.disconnect(); done(true); }}
            }});
            observer.observe(document, {{ subtree: true, childList: true, attributes: true, characterData: true }});
            setTimeout(() => {{ observer.disconnect(); done(holds()); }}, {timeout});"#,
            timeout = WAIT.as_millis()
        );
        let held = self
            .client
            .execute_async(&script, Vec::new())
            .await
            .unwrap_or_else(|err| panic!("wait for {what}: {err}"));
        assert_eq!(held, json!(true), "{what} did not happen within {WAIT:?}");
    }

    /// Types into the field `css` selects, replacing what was there.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.wait_for(css).await;
        field.clear().await.expect("clear a field");
        field.send_keys(text).await.expect("type into a field");
    }

    /// Clicks what `css` selects.
    pub async fn click(&self, css: &str) {
        self.wait_for(css)
            .await
            .click()
            .await
            .unwrap_or_else(|err| panic!("click {css}: {err}"));
    }

    /// The text of what `css` selects.
    pub async fn text(&self, css: &str) -> String {
        self.wait_for(css).await.text().await.expect("read text")
    }
}

/// Where failing browser tests leave their screenshots.
pub fn screenshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/browser-screenshots")
}

fn find(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|path| path.is_file())
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}
