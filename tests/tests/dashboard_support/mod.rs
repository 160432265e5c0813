//! A small WebDriver client for the dashboard browser test: plain HTTP/1.1 to chromedriver and
//! to the linkmq API, a headless Chromium session, and the screenshot directory.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use linkmq_tests::{TestDir, free_port};
use serde_json::{Value, json};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long the page may take to show something.
pub const UI_WAIT: Duration = Duration::from_secs(10);
/// A JS function: how many pixels of a `<canvas>` are saturated colour. Series lines are the
/// only ones (grid and labels are grey).
pub const SATURATED_PIXELS: &str = "((sel) => { const c = document.querySelector(sel); \
     const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0; \
     for (let i = 0; i < d.length; i += 4) { \
       const hi = Math.max(d[i], d[i+1], d[i+2]), lo = Math.min(d[i], d[i+1], d[i+2]); \
       if (d[i+3] > 200 && hi - lo > 60) n++; } return n; })";
pub const W3C_ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

// ---- plain HTTP/1.1 (chromedriver and the linkmq API) ---------------------------------------

pub fn http(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("connect 127.0.0.1:{port}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("send request");
    // Read the head, then exactly the body (chromedriver keeps connections open).
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut buf).expect("read response head");
        assert!(n > 0, "connection closed before the response head");
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status code");
    let length = head.lines().find_map(|l| {
        l.strip_prefix("content-length:")
            .and_then(|v| v.trim().parse::<usize>().ok())
    });
    let chunked = head.contains("transfer-encoding: chunked");
    loop {
        let have = raw.len() - head_end;
        let done = match length {
            Some(n) => have >= n,
            None if chunked => raw[head_end..].windows(5).any(|w| w == b"0\r\n\r\n"),
            None => false,
        };
        if done {
            break;
        }
        let n = s.read(&mut buf).expect("read response body");
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let rest = String::from_utf8_lossy(&raw[head_end..]).into_owned();
    let body = if chunked { dechunk(&rest) } else { rest };
    let json = if body.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&body).unwrap_or(Value::String(body))
    };
    (status, json)
}

pub fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

// ---- WebDriver ------------------------------------------------------------------------------

/// A headless Chromium session through chromedriver; both are stopped on drop.
pub struct Browser {
    driver: Child,
    /// Chromium's `--user-data-dir` and the `TMPDIR` of chromedriver and Chromium (whose
    /// `org.chromium.Chromium.scoped_dir.*` would stay in /tmp otherwise): held only to be
    /// removed, after chromedriver is stopped.
    _scratch: TestDir,
    port: u16,
    session: String,
    shots: PathBuf,
    shot_no: u32,
    started: Instant,
}

impl Browser {
    pub fn start(shots: PathBuf) -> Browser {
        for bin in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(bin).exists(),
                "{bin} is missing: the dashboard test needs Debian's `chromium` and `chromium-driver` \
                 packages (apt-get install chromium chromium-driver; .ci/run installs them)"
            );
        }
        // Chromium's SingletonSocket goes in $TMPDIR/org.chromium.Chromium.scoped_dir.XXXXXX/: the
        // scratch directory itself, so that the path stays within a Unix socket's 108 bytes.
        let scratch = TestDir::new("linkmq-dash-chrome");
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .env("TMPDIR", scratch.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromedriver");
        let until = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < until, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                    "--hide-scrollbars", "--window-size=1280,800",
                    format!("--user-data-dir={}", scratch.join("profile").display()),
                ],
            },
        }}});
        let mut b = Browser {
            driver,
            _scratch: scratch,
            port,
            session: String::new(),
            shots,
            shot_no: 0,
            started: Instant::now(),
        };
        let (status, v) = http(port, "POST", "/session", None, Some(&caps));
        assert_eq!(status, 200, "new WebDriver session: {v}");
        b.session = v["value"]["sessionId"]
            .as_str()
            .expect("sessionId")
            .to_string();
        b
    }

    pub fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, Value> {
        let url = format!("/session/{}{path}", self.session);
        let body = body.or_else(|| (method == "POST").then(|| json!({})));
        let (status, v) = http(self.port, method, &url, None, body.as_ref());
        if status == 200 {
            Ok(v["value"].clone())
        } else {
            Err(v["value"].clone())
        }
    }

    pub fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.cmd(method, path, body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    pub fn goto(&self, url: &str) {
        self.ok("POST", "/url", Some(json!({ "url": url })));
    }

    /// Sizes the window so that the page's viewport is `width` × `height`.
    pub fn viewport(&self, width: i64, height: i64) {
        self.ok(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        );
        let inner = self.js("return [window.innerWidth, window.innerHeight]", json!([]));
        let (iw, ih) = (inner[0].as_i64().unwrap(), inner[1].as_i64().unwrap());
        if (iw, ih) != (width, height) {
            let rect = json!({"width": 2 * width - iw, "height": 2 * height - ih});
            self.ok("POST", "/window/rect", Some(rect));
        }
    }

    /// Runs `script` (a function body using `arguments`) in the page.
    pub fn js(&self, script: &str, args: Value) -> Value {
        self.ok(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    pub fn find(&self, css: &str) -> Option<String> {
        self.cmd(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        )
        .ok()
        .and_then(|v| v[W3C_ELEMENT].as_str().map(String::from))
    }

    /// Waits until `css` is in the page and displayed.
    pub fn wait(&mut self, css: &str) -> String {
        let cond = format!(
            "const e = document.querySelector({}); return !!e && e.getClientRects().length > 0",
            json!(css)
        );
        self.wait_js(&cond, &format!("{css} shown"));
        let found = self.cmd(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        match found {
            Ok(v) => v[W3C_ELEMENT]
                .as_str()
                .unwrap_or_else(|| panic!("find {css}: {v}"))
                .to_string(),
            Err(e) => panic!("find {css}: {e}"),
        }
    }

    /// Waits until the JavaScript condition returns true.
    pub fn wait_js(&mut self, cond: &str, what: &str) {
        let until = Instant::now() + UI_WAIT;
        loop {
            if self.js(cond, json!([])) == json!(true) {
                return;
            }
            if Instant::now() > until {
                self.shot(&format!(
                    "FAILED-{}",
                    what.replace(|c: char| !c.is_alphanumeric(), "_")
                ));
                let text = self.js("return document.body.innerText", json!([]));
                panic!(
                    "timed out waiting for {what}; page text:\n{}",
                    text.as_str().unwrap_or("")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until `css`'s text contains `needle`.
    pub fn wait_text(&mut self, css: &str, needle: &str) {
        let cond = format!(
            "const e = document.querySelector({}); return !!e && e.textContent.includes({})",
            json!(css),
            json!(needle)
        );
        self.wait_js(&cond, &format!("{css} to contain {needle:?}"));
    }

    /// Waits until `css`'s text (trimmed) is `want`.
    pub fn wait_exact(&mut self, css: &str, want: &str) {
        let cond = format!(
            "const e = document.querySelector({}); return !!e && e.textContent.trim() === {}",
            json!(css),
            json!(want)
        );
        self.wait_js(&cond, &format!("{css} to be {want:?}"));
    }

    pub fn text(&self, css: &str) -> String {
        self.js(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : null",
            json!([css]),
        )
        .as_str()
        .unwrap_or_else(|| panic!("no {css}"))
        .to_string()
    }

    /// Clicks `css` once it is shown (found again if the page redrew it meanwhile).
    pub fn click(&mut self, css: &str) {
        for _ in 0..5 {
            let el = self.wait(css);
            match self.cmd("POST", &format!("/element/{el}/click"), None) {
                Ok(_) => return,
                Err(e) if e["error"] == "stale element reference" => continue,
                Err(e) => panic!("click {css}: {e}"),
            }
        }
        panic!("click {css}: element kept going stale");
    }

    /// Replaces the value of the input `css` by typing `text` (WebDriver key codes allowed).
    pub fn type_into(&mut self, css: &str, text: &str) {
        let el = self.wait(css);
        self.ok("POST", &format!("/element/{el}/clear"), None);
        self.ok(
            "POST",
            &format!("/element/{el}/value"),
            Some(json!({ "text": text })),
        );
    }

    pub fn select(&mut self, css: &str, value: &str) {
        self.wait(css);
        self.js(
            "const s = document.querySelector(arguments[0]); s.value = arguments[1]; \
             s.dispatchEvent(new Event('change', {bubbles: true}));",
            json!([css, value]),
        );
    }

    /// Presses Tab in the focused element; returns the id of the element focused next.
    pub fn tab(&self) -> String {
        let active = self.ok("GET", "/element/active", None);
        let el = active[W3C_ELEMENT].as_str().expect("focused element");
        self.ok(
            "POST",
            &format!("/element/{el}/value"),
            Some(json!({"text": "\u{E004}"})),
        );
        let id = self.js(
            "const a = document.activeElement; return a.id || a.tagName.toLowerCase()",
            json!([]),
        );
        id.as_str().unwrap_or("").to_string()
    }

    pub fn is_checked(&self, css: &str) -> bool {
        self.js(
            "return document.querySelector(arguments[0]).checked",
            json!([css]),
        ) == json!(true)
    }

    /// Saves a PNG of the viewport as `NN-name.png`.
    pub fn shot(&mut self, name: &str) {
        let Ok(v) = self.cmd("GET", "/screenshot", None) else {
            return;
        };
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or(""))
            .expect("screenshot base64");
        self.shot_no += 1;
        let path = self.shots.join(format!("{:02}-{name}.png", self.shot_no));
        std::fs::write(&path, png).expect("write screenshot");
        eprintln!(
            "[{:>5.1}s] {}",
            self.started.elapsed().as_secs_f64(),
            path.display()
        );
    }

    /// Console errors of the page (script exceptions, CSP violations), without the network
    /// errors of API calls answered 4xx on purpose.
    pub fn console_errors(&self) -> Vec<String> {
        let log = self.ok("POST", "/se/log", Some(json!({"type": "browser"})));
        log.as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or("").to_string())
            .filter(|m| !m.contains("Failed to load resource"))
            .collect()
    }

    /// The page does not scroll sideways (narrow viewports).
    pub fn assert_no_horizontal_scroll(&self, page: &str) {
        let v = self.js(
            "return [document.documentElement.scrollWidth, window.innerWidth]",
            json!([]),
        );
        let (scroll, inner) = (v[0].as_i64().unwrap(), v[1].as_i64().unwrap());
        assert!(
            scroll <= inner,
            "{page}: page is {scroll}px wide in a {inner}px viewport"
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = http(
                self.port,
                "DELETE",
                &format!("/session/{}", self.session),
                None,
                None,
            );
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

pub fn screenshots_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let mut p = std::env::current_exe().expect("test exe");
            p.pop(); // deps
            p.pop(); // debug
            p.pop();
            p
        });
    let dir = target.join("dashboard-screenshots");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}
