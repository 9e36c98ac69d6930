//! A small W3C WebDriver client over reqwest, enough to drive headless Chromium
//! through chromedriver: sessions, navigation, elements, keys, cookies, scripts and
//! screenshots. Chromedriver runs as our child on a free port and dies with [`Driver`].

use base64::Engine as _;
use serde_json::{Value, json};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The W3C key under which an element reference travels.
pub const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long `wait_for` and friends poll before giving up.
pub const WAIT: Duration = Duration::from_secs(20);

/// A running chromedriver.
#[derive(Debug)]
pub struct Driver {
    child: Child,
    url: String,
    http: reqwest::Client,
}

impl Driver {
    /// Starts chromedriver, or fails the test saying what to install.
    pub async fn start(log_dir: &Path) -> Self {
        for needed in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(needed).exists(),
                "{needed} is missing: the browser tests need Chromium and its driver \
                 (apt-get install chromium chromium-driver)"
            );
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(90))
            .build()
            .unwrap();
        let mut last_error = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let log =
                std::fs::File::create(log_dir.join(format!("chromedriver-{port}.log"))).unwrap();
            let mut child = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .arg("--allowed-ips=127.0.0.1")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(log))
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot run {CHROMEDRIVER}: {e} (apt-get install chromium chromium-driver)"
                    )
                });
            let url = format!("http://127.0.0.1:{port}");
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    last_error = format!("chromedriver exited: {status}");
                    break;
                }
                if let Ok(response) = http.get(format!("{url}/status")).send().await
                    && let Ok(body) = response.json::<Value>().await
                    && body["value"]["ready"] == json!(true)
                {
                    return Self { child, url, http };
                }
                if Instant::now() >= deadline {
                    last_error = "chromedriver did not become ready in 30 s".to_owned();
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        panic!("could not start chromedriver: {last_error}");
    }

    /// A new headless browser with its own profile directory.
    pub async fn browser(&self, profile: &Path) -> Browser {
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--window-size=1280,1000".to_owned(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "pageLoadStrategy": "normal",
                    "goog:chromeOptions": { "binary": CHROMIUM, "args": args }
                }
            }
        });
        let answer = self
            .http
            .post(format!("{}/session", self.url))
            .json(&capabilities)
            .send()
            .await
            .unwrap();
        let body: Value = answer.json().await.unwrap();
        let id = body["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver refused a session: {body}"))
            .to_owned();
        Browser {
            http: self.http.clone(),
            session: format!("{}/session/{id}", self.url),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // `/shutdown` makes chromedriver close every browser it started (a failed test
        // leaves its session open); SIGKILL alone could leave Chromium running.
        shutdown(&self.url);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking `GET /shutdown` (drop cannot await).
fn shutdown(url: &str) {
    use std::io::{Read as _, Write as _};
    let Some(addr) = url.strip_prefix("http://") else {
        return;
    };
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET /shutdown HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_ok() {
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// An element on the current page.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Element {
    /// The WebDriver reference, for passing the element to a script.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.0
    }
}

/// A WebDriver error answer.
#[derive(Debug, Clone)]
pub struct WdError {
    pub error: String,
    pub message: String,
}

/// One browser session.
#[derive(Debug)]
pub struct Browser {
    http: reqwest::Client,
    session: String,
}

impl std::fmt::Display for WdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.message)
    }
}

impl Browser {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, WdError> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        } else if method == reqwest::Method::POST {
            request = request.json(&json!({}));
        }
        let response = request.send().await.map_err(|e| WdError {
            error: "transport".to_owned(),
            message: e.to_string(),
        })?;
        let status = response.status();
        let body: Value = response.json().await.map_err(|e| WdError {
            error: "transport".to_owned(),
            message: e.to_string(),
        })?;
        let value = body.get("value").cloned().unwrap_or(Value::Null);
        if status.is_success() {
            Ok(value)
        } else {
            Err(WdError {
                error: value["error"].as_str().unwrap_or("unknown").to_owned(),
                message: value["message"].as_str().unwrap_or_default().to_owned(),
            })
        }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body))
            .await
            .unwrap_or_else(|e| panic!("WebDriver POST {path}: {e}"))
    }

    async fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, None)
            .await
            .unwrap_or_else(|e| panic!("WebDriver GET {path}: {e}"))
    }

    /// Navigates and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    pub async fn current_url(&self) -> String {
        self.get("/url").await.as_str().unwrap().to_owned()
    }

    /// The current URL's path (and query).
    pub async fn path(&self) -> String {
        let url = self.current_url().await;
        let after_scheme = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
        after_scheme
            .find('/')
            .map_or("/".to_owned(), |i| after_scheme[i..].to_owned())
    }

    pub async fn page_source(&self) -> String {
        self.get("/source").await.as_str().unwrap().to_owned()
    }

    pub async fn title(&self) -> String {
        self.get("/title")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Elements matching a CSS selector, now (no waiting).
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let found = self
            .post(
                "/elements",
                json!({ "using": "css selector", "value": css }),
            )
            .await;
        found
            .as_array()
            .unwrap_or_else(|| panic!("find elements {css:?} answered {found}"))
            .iter()
            .map(|e| Element(e[ELEMENT].as_str().unwrap().to_owned()))
            .collect()
    }

    /// The first element matching, now, if any.
    pub async fn try_find(&self, css: &str) -> Option<Element> {
        self.find_all(css).await.into_iter().next()
    }

    /// Waits for an element to appear.
    pub async fn find(&self, css: &str) -> Element {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(element) = self.try_find(css).await {
                return element;
            }
            if Instant::now() >= deadline {
                let path = self.path().await;
                let source = self.page_source().await;
                panic!("no element {css:?} on {path} within {WAIT:?}; the page was:\n{source}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the path (without query) is `want`.
    pub async fn wait_for_path(&self, want: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let path = self.path().await;
            if path.split('?').next() == Some(want) {
                return;
            }
            if Instant::now() >= deadline {
                let source = self.page_source().await;
                panic!("expected to reach {want}, still on {path}; the page was:\n{source}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn click(&self, element: &Element) {
        self.post(&format!("/element/{}/click", element.0), json!({}))
            .await;
    }

    pub async fn send_keys(&self, element: &Element, text: &str) {
        self.post(
            &format!("/element/{}/value", element.0),
            json!({ "text": text }),
        )
        .await;
    }

    pub async fn clear(&self, element: &Element) {
        self.post(&format!("/element/{}/clear", element.0), json!({}))
            .await;
    }

    /// Types into the field found by `css`, replacing what is there.
    pub async fn fill(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.clear(&element).await;
        self.send_keys(&element, text).await;
    }

    /// The element's rendered text.
    pub async fn text(&self, element: &Element) -> String {
        self.get(&format!("/element/{}/text", element.0))
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The rendered text of the first element matching `css` (waiting for it).
    pub async fn text_of(&self, css: &str) -> String {
        let element = self.find(css).await;
        self.text(&element).await
    }

    pub async fn attribute(&self, element: &Element, name: &str) -> Option<String> {
        self.get(&format!("/element/{}/attribute/{name}", element.0))
            .await
            .as_str()
            .map(str::to_owned)
    }

    /// Runs a script in the page (WebDriver scripts are not subject to the page's CSP).
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": args }))
            .await
    }

    /// All cookies visible to the current page.
    pub async fn cookies(&self) -> Vec<Value> {
        self.get("/cookie")
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// A PNG of the viewport, saved to `path`; returns its bytes.
    pub async fn screenshot(&self, path: &Path) -> Vec<u8> {
        let encoded = self.get("/screenshot").await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap())
            .unwrap();
        std::fs::write(path, &bytes).unwrap();
        bytes
    }

    /// Ends the session (closes the browser).
    pub async fn quit(self) {
        let _ = self.call(reqwest::Method::DELETE, "", None).await;
    }

    /// Adds a virtual WebAuthn authenticator (Chromium's WebDriver extension): a
    /// platform authenticator that holds discoverable credentials and verifies its user
    /// without asking. Returns its id.
    pub async fn add_virtual_authenticator(&self) -> String {
        let id = self
            .post(
                "/webauthn/authenticator",
                json!({
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": true,
                    "hasUserVerification": true,
                    "isUserConsenting": true,
                    "isUserVerified": true
                }),
            )
            .await;
        id.as_str().unwrap().to_owned()
    }

    /// The credentials a virtual authenticator holds.
    pub async fn virtual_credentials(&self, authenticator: &str) -> Vec<Value> {
        self.get(&format!(
            "/webauthn/authenticator/{authenticator}/credentials"
        ))
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
    }

    /// Where a file for an `<input type=file>` must be: an absolute path.
    #[must_use]
    pub fn upload_path(path: &Path) -> PathBuf {
        std::fs::canonicalize(path).unwrap()
    }
}
