//! A small W3C WebDriver client for the board's browser tests: Debian's `chromedriver`
//! driving Debian's headless `chromium`, both started per test on loopback and stopped
//! when the browser is dropped.

use std::{net::SocketAddr, process::Stdio, time::Duration};

use serde_json::{Value, json};
use std::process::{Child, Command};

use crate::http;

/// The key under which WebDriver names an element.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
}

/// An element found on the page.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    /// Starts chromedriver on a free loopback port and a headless Chromium session whose
    /// preferred language is `lang`.
    pub async fn start(lang: &str) -> Browser {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap_or_else(|e| panic!("free port: {e}"));
            probe
                .local_addr()
                .map(|a| a.port())
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let driver = Command::new(driver_path())
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("chromedriver (apt-get install chromium-driver): {e}"));
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromedriver did not listen"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut browser = Browser {
            driver,
            addr,
            session: String::new(),
        };
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": browser_path(),
                        "args": [
                            "--headless=new", "--no-sandbox", "--disable-gpu",
                            "--disable-dev-shm-usage", "--window-size=1400,1100",
                            format!("--lang={lang}"),
                        ],
                        "prefs": { "intl.accept_languages": lang },
                    }
                }
            }
        });
        let created = browser.call("POST", "/session", &capabilities).await;
        browser.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session in {created}"))
            .to_owned();
        browser
    }

    async fn call(&self, method: &str, path: &str, body: &Value) -> Value {
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let response = http::send(self.addr, method, path, &[], "application/json", &body).await;
        let value: Value = serde_json::from_str(&response.body)
            .unwrap_or_else(|e| panic!("webdriver {method} {path}: {e}: {}", response.body));
        assert!(
            response.status < 300,
            "webdriver {method} {path}: {} {}",
            response.status,
            value["value"]
        );
        value["value"].clone()
    }

    async fn session_call(&self, method: &str, path: &str, body: &Value) -> Value {
        let path = format!("/session/{}{path}", self.session);
        self.call(method, &path, body).await
    }

    pub async fn go(&self, url: &str) {
        self.session_call("POST", "/url", &json!({ "url": url }))
            .await;
    }

    pub async fn url(&self) -> String {
        self.session_call("GET", "/url", &Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The elements matching a CSS selector now.
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let found = self
            .session_call(
                "POST",
                "/elements",
                &json!({ "using": "css selector", "value": css }),
            )
            .await;
        found
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| item[ELEMENT_KEY].as_str().map(|id| Element(id.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first element matching `css`, waiting up to `timeout` for one.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Element {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(element) = self.find_all(css).await.into_iter().next() {
                return element;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no `{css}` within {timeout:?} on {}: {}",
                self.url().await,
                self.source().await.chars().take(1_500).collect::<String>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn text(&self, element: &Element) -> String {
        self.session_call("GET", &format!("/element/{}/text", element.0), &Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn attribute(&self, element: &Element, name: &str) -> Option<String> {
        self.session_call(
            "GET",
            &format!("/element/{}/attribute/{name}", element.0),
            &Value::Null,
        )
        .await
        .as_str()
        .map(str::to_owned)
    }

    pub async fn click(&self, element: &Element) {
        self.session_call("POST", &format!("/element/{}/click", element.0), &json!({}))
            .await;
    }

    pub async fn type_into(&self, element: &Element, text: &str) {
        self.session_call(
            "POST",
            &format!("/element/{}/value", element.0),
            &json!({ "text": text }),
        )
        .await;
    }

    /// The page's HTML as the browser holds it now.
    pub async fn source(&self) -> String {
        self.session_call("GET", "/source", &Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Runs `script` in the page and returns what it returns.
    pub async fn execute(&self, script: &str) -> Value {
        self.session_call(
            "POST",
            "/execute/sync",
            &json!({ "script": script, "args": [] }),
        )
        .await
    }

    /// Resizes the window (CSS pixels), e.g. to take in a whole page.
    pub async fn resize(&self, width: u32, height: u32) {
        self.session_call(
            "POST",
            "/window/rect",
            &json!({ "width": width, "height": height }),
        )
        .await;
    }

    /// A PNG of the window.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let data = self.session_call("GET", "/screenshot", &Value::Null).await;
        base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("screenshot: {e}"))
    }

    pub async fn quit(mut self) {
        if !self.session.is_empty() {
            self.session_call("DELETE", "", &Value::Null).await;
            self.session.clear();
        }
    }
}

impl Drop for Browser {
    /// chromedriver takes its browser with it.
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn driver_path() -> String {
    std::env::var("NORDSTERN_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".to_owned())
}

fn browser_path() -> String {
    std::env::var("NORDSTERN_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned())
}
