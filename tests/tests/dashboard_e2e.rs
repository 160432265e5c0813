//! The web dashboard in a real browser (issue 8): headless Chromium driven over WebDriver
//! (chromedriver, plain HTTP/JSON) against two `linkmq` processes, `east` (dashboard) and `west`
//! (a remote cluster with a mutual-TLS listener). Login (keyboard), overview, clients (search,
//! paging, details, kick), subscriptions (topic filters), Management → Cluster Linking (create
//! with every field, API validation errors next to their field, list, toggle off/on, overview
//! with metrics and node status, edit topics, delete), narrow viewport, logout and an invalid
//! session. Screenshots of each page go to `target/dashboard-screenshots/`.

mod link_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use link_support::{Cluster, await_route, collect, link};
use linkmq_client::{Client, ConnectOptions, Event, QoS};
use linkmq_tests::free_port;
use linkmq_tests::pki::Pki;
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long the page may take to show something.
const UI_WAIT: Duration = Duration::from_secs(10);
/// A JS function: how many pixels of a `<canvas>` are saturated colour. Series lines are the
/// only ones (grid and labels are grey).
const SATURATED_PIXELS: &str = "((sel) => { const c = document.querySelector(sel); \
     const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0; \
     for (let i = 0; i < d.length; i += 4) { \
       const hi = Math.max(d[i], d[i+1], d[i+2]), lo = Math.min(d[i], d[i+1], d[i+2]); \
       if (d[i+3] > 200 && hi - lo > 60) n++; } return n; })";
const W3C_ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

// ---- plain HTTP/1.1 (chromedriver and the linkmq API) ---------------------------------------

fn http(
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

fn dechunk(mut s: &str) -> String {
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
struct Browser {
    driver: Child,
    port: u16,
    session: String,
    shots: PathBuf,
    shot_no: u32,
    started: Instant,
}

impl Browser {
    fn start(shots: PathBuf) -> Browser {
        for bin in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(bin).exists(),
                "{bin} is missing: the dashboard test needs Debian's `chromium` and `chromium-driver` \
                 packages (apt-get install chromium chromium-driver; .ci/run installs them)"
            );
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
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
        let profile =
            std::env::temp_dir().join(format!("linkmq-dash-chrome-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
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
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        }}});
        let mut b = Browser {
            driver,
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

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, Value> {
        let url = format!("/session/{}{path}", self.session);
        let body = body.or_else(|| (method == "POST").then(|| json!({})));
        let (status, v) = http(self.port, method, &url, None, body.as_ref());
        if status == 200 {
            Ok(v["value"].clone())
        } else {
            Err(v["value"].clone())
        }
    }

    fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.cmd(method, path, body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    fn goto(&self, url: &str) {
        self.ok("POST", "/url", Some(json!({ "url": url })));
    }

    /// Sizes the window so that the page's viewport is `width` × `height`.
    fn viewport(&self, width: i64, height: i64) {
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
    fn js(&self, script: &str, args: Value) -> Value {
        self.ok(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    fn find(&self, css: &str) -> Option<String> {
        self.cmd(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        )
        .ok()
        .and_then(|v| v[W3C_ELEMENT].as_str().map(String::from))
    }

    /// Waits until `css` is in the page and displayed.
    fn wait(&mut self, css: &str) -> String {
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
    fn wait_js(&mut self, cond: &str, what: &str) {
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
    fn wait_text(&mut self, css: &str, needle: &str) {
        let cond = format!(
            "const e = document.querySelector({}); return !!e && e.textContent.includes({})",
            json!(css),
            json!(needle)
        );
        self.wait_js(&cond, &format!("{css} to contain {needle:?}"));
    }

    /// Waits until `css`'s text (trimmed) is `want`.
    fn wait_exact(&mut self, css: &str, want: &str) {
        let cond = format!(
            "const e = document.querySelector({}); return !!e && e.textContent.trim() === {}",
            json!(css),
            json!(want)
        );
        self.wait_js(&cond, &format!("{css} to be {want:?}"));
    }

    fn text(&self, css: &str) -> String {
        self.js(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : null",
            json!([css]),
        )
        .as_str()
        .unwrap_or_else(|| panic!("no {css}"))
        .to_string()
    }

    /// Clicks `css` once it is shown (found again if the page redrew it meanwhile).
    fn click(&mut self, css: &str) {
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
    fn type_into(&mut self, css: &str, text: &str) {
        let el = self.wait(css);
        self.ok("POST", &format!("/element/{el}/clear"), None);
        self.ok(
            "POST",
            &format!("/element/{el}/value"),
            Some(json!({ "text": text })),
        );
    }

    fn select(&mut self, css: &str, value: &str) {
        self.wait(css);
        self.js(
            "const s = document.querySelector(arguments[0]); s.value = arguments[1]; \
             s.dispatchEvent(new Event('change', {bubbles: true}));",
            json!([css, value]),
        );
    }

    /// Presses Tab in the focused element; returns the id of the element focused next.
    fn tab(&self) -> String {
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

    fn is_checked(&self, css: &str) -> bool {
        self.js(
            "return document.querySelector(arguments[0]).checked",
            json!([css]),
        ) == json!(true)
    }

    /// Saves a PNG of the viewport as `NN-name.png`.
    fn shot(&mut self, name: &str) {
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
    fn console_errors(&self) -> Vec<String> {
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
    fn assert_no_horizontal_scroll(&self, page: &str) {
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

fn screenshots_dir() -> PathBuf {
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

// ---- the scenario ---------------------------------------------------------------------------

struct Api {
    port: u16,
    token: String,
}

impl Api {
    fn login(port: u16) -> Api {
        let (s, v) = http(
            port,
            "POST",
            "/api/v5/login",
            None,
            Some(&json!({"username": "admin", "password": "public"})),
        );
        assert_eq!(s, 200, "{v}");
        Api {
            port,
            token: v["token"].as_str().unwrap().to_string(),
        }
    }

    fn get(&self, path: &str) -> (u16, Value) {
        http(
            self.port,
            "GET",
            &format!("/api/v5{path}"),
            Some(&self.token),
            None,
        )
    }
}

async fn mqtt(addr: &str, id: &str, username: Option<&str>) -> Client {
    let mut o = ConnectOptions::new(addr.to_string(), id);
    o.username = username.map(String::from);
    Client::connect(o)
        .await
        .unwrap_or_else(|e| panic!("{id} connects: {e}"))
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_login_overview_clients_subscriptions_and_cluster_linking_in_chromium() {
    let shots = screenshots_dir();
    let pki = Pki::new();
    let (client_cert, client_key) = pki.client("link-client", "east", None, None);
    let ssl_port = free_port();

    // west: the remote cluster, with a mutual-TLS listener for east's link and a link back.
    let mut east = Cluster::new("east").with_api();
    let mut west = Cluster::new("west").with_extra(&format!(
        "listeners.ssl.default {{\n  bind = \"127.0.0.1:{ssl_port}\"\n  ssl_options {{\n    \
         certfile = \"{}\"\n    keyfile = \"{}\"\n    cacertfile = \"{}\"\n    \
         verify = verify_peer\n    fail_if_no_peer_cert = true\n  }}\n}}\n",
        pki.path("server.pem").display(),
        pki.path("server.key").display(),
        pki.path("ca.pem").display(),
    ));
    east.launch(&[]);
    west.launch(&[link("east", east.port, &["to-west/#"])]);
    let base = format!("http://127.0.0.1:{}", east.api_port);
    let api = Api::login(east.api_port);

    // MQTT clients on east for the Clients and Subscriptions pages.
    let alice = mqtt(&east.addr(), "dash-client-1", Some("alice")).await;
    alice
        .subscribe("sensors/+/temp", QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    let mut others = Vec::new();
    for i in 2..=11 {
        others.push(mqtt(&east.addr(), &format!("dash-client-{i}"), None).await);
    }

    let mut b = Browser::start(shots.clone());

    // 1. Login, with the keyboard: Enter in the password field submits.
    b.goto(&format!("{base}/"));
    b.viewport(1280, 800);
    b.wait("#login-password");
    assert!(b.js("return location.hash", json!([])) == json!("#/login"));
    b.type_into("#login-password", "wrong\u{E007}");
    b.wait_text("#login-error", "Wrong username or password");
    b.shot("login-error");
    b.type_into("#login-password", "public\u{E007}");
    b.wait("#overview-cards");
    b.wait_text("#current-user", "admin");

    // 2. Overview: counts, nodes with status and uptime, alarms, the live rate chart.
    // 11 test clients, plus west's link connections.
    b.wait_js(
        "const e = document.querySelector('#stat-connections'); return !!e && parseInt(e.textContent) >= 11",
        "the connection count",
    );
    b.wait_text("#nodes-table", "east@127.0.0.1");
    b.wait_text("#nodes-table", "running");
    b.wait_text("#alarms-table", "No active alarms");
    let publisher = mqtt(&east.addr(), "dash-publisher", None).await;
    for i in 0..30 {
        publisher
            .publish(&format!("sensors/{i}/temp"), "21.5", QoS::AtMostOnce, false)
            .await
            .expect("publish");
    }
    // Two samples (2 s apart) make the first rate point; the chart then draws a line.
    b.wait_js(
        "const t = document.querySelector('#stat-rate-in'); return !!t && parseFloat(t.textContent) > 0",
        "a non-zero incoming rate",
    );
    let drawn = b.js(
        &format!("return {SATURATED_PIXELS}('#rates-chart')"),
        json!([]),
    );
    assert!(drawn.as_i64().unwrap() > 20, "rate line drawn: {drawn}");
    b.shot("overview");
    b.assert_no_horizontal_scroll("Overview at 1280x800");

    // 3. Clients: search, paging, details, kick.
    b.click("a[href='#/clients']");
    b.wait("#clients-table");
    b.type_into("#search-clientid", "dash-client");
    b.select("#page-size", "10");
    b.wait_text("#pager-total", "Total 11");
    b.wait_text("#page-current", "Page 1 of 2");
    assert_eq!(
        b.js(
            "return document.querySelectorAll('#clients-table tbody tr').length",
            json!([])
        ),
        json!(10)
    );
    b.shot("clients");
    b.click("#page-next");
    b.wait_text("#page-current", "Page 2 of 2");
    assert_eq!(
        b.js(
            "return document.querySelectorAll('#clients-table tbody tr').length",
            json!([])
        ),
        json!(1)
    );
    b.type_into("#search-username", "alice\u{E007}");
    b.wait_text("#pager-total", "Total 1");
    b.click("#clients-table a[href='#/clients/dash-client-1']");
    b.wait_text("#client-detail", "alice");
    b.wait_text("#client-subscriptions", "sensors/+/temp");
    b.shot("client-details");
    b.click("#kick");
    b.click("dialog .danger-confirm");
    b.wait("#clients-table");
    // Kicked: the messages alice had received, then DISCONNECT 0x98 (or the socket closes).
    loop {
        match tokio::time::timeout(Duration::from_secs(5), alice.recv()).await {
            Ok(Some(Event::Publish(_))) => continue,
            Ok(Some(Event::Disconnect(_) | Event::Closed) | None) => break,
            Err(_) => panic!("the kicked client is still connected"),
        }
    }
    assert_eq!(api.get("/clients/dash-client-1").0, 404);

    // 4. Subscriptions: filter by topic, exact and matching.
    let bob = mqtt(&east.addr(), "dash-client-bob", None).await;
    bob.subscribe("sensors/+/temp", QoS::AtLeastOnce)
        .await
        .unwrap();
    bob.subscribe("alerts/#", QoS::AtMostOnce).await.unwrap();
    b.click("a[href='#/subscriptions']");
    b.wait("#subscriptions-table");
    b.type_into("#filter-topic", "alerts/#\u{E007}");
    b.wait_js(
        "const r = document.querySelectorAll('#subscriptions-table tbody tr'); \
         return r.length === 1 && r[0].textContent.includes('dash-client-bob')",
        "one alerts/# subscription",
    );
    b.select("#filter-topic-mode", "match_topic");
    b.type_into("#filter-topic", "sensors/kitchen/temp\u{E007}");
    b.wait_js(
        "const r = document.querySelectorAll('#subscriptions-table tbody tr'); \
         return r.length === 1 && r[0].textContent.includes('sensors/+/temp')",
        "the subscription matching sensors/kitchen/temp",
    );
    b.shot("subscriptions");

    // 5. Management → Cluster Linking: empty list, Create with every field.
    b.click("a[href='#/cluster-linking']");
    b.wait_text("#links-table", "No cluster links yet");
    b.shot("cluster-linking-empty");
    b.click("#link-create");
    b.wait("#link-form");
    let focused = b.js("return document.activeElement.id", json!([]));
    assert_eq!(
        focused,
        json!("link-name"),
        "the form starts at Cluster Name"
    );
    // Tab walks the fields in the documented order (hidden TLS settings are skipped).
    let order: Vec<String> = (0..7).map(|_| b.tab()).collect();
    assert_eq!(
        order,
        [
            "link-server",
            "link-clientid",
            "link-username",
            "link-password",
            "link-topics-add",
            "link-ssl-enable",
            "summary",
        ]
    );
    b.type_into("#link-name", "west");
    b.type_into("#link-server", "127.0.0.1:notaport");
    b.type_into("#link-clientid", "clink-east");
    b.type_into("#link-username", "clink-user:east");
    b.type_into("#link-password", "clink-password");
    assert_eq!(b.text("#link-topics"), "", "no topics by default");
    b.click("#link-topics-add");
    b.type_into("#link-topic-0", "to-east/#");
    b.click("#link-topics-add");
    b.type_into("#link-topic-1", "to-east/1");
    assert!(!b.is_checked("#link-ssl-enable"));
    assert!(b.find("#link-ssl-settings").is_some());
    b.click("#link-ssl-enable");
    b.select("#link-ssl-verify", "verify_peer");
    b.type_into(
        "#link-ssl-cacertfile",
        &pki.path("ca.pem").display().to_string(),
    );
    b.type_into("#link-ssl-certfile", &client_cert.display().to_string());
    b.type_into("#link-ssl-keyfile", &client_key.display().to_string());
    b.type_into("#link-ssl-sni", "localhost");
    b.type_into("#link-ssl-versions", "tlsv1.3, tlsv1.2");
    b.click("#link-advanced > summary");
    b.type_into("#link-pool-size", "0");
    b.type_into("#link-retry-interval", "1s");
    b.type_into("#link-max-inflight", "16");
    b.type_into("#link-request-ttl", "10s");
    b.type_into("#link-inflight-window", "50");
    b.type_into("#link-max-buffer-bytes", "64MB");
    b.type_into("#link-health-check-interval", "5s");
    b.select("#link-dispatch-strategy", "per_clientid");
    b.shot("cluster-linking-create-form");

    // API validation errors land next to their fields: schema errors first...
    b.click("#link-submit");
    b.wait_text("#link-server-error", "notaport");
    b.wait_text("#link-pool-size-error", "between 1 and 1024");
    assert_eq!(
        b.js(
            "return document.querySelector('#link-server').getAttribute('aria-invalid')",
            json!([])
        ),
        json!("true")
    );
    assert_eq!(b.text("#link-name-error"), "");
    assert_eq!(b.text("#link-form-error"), "");
    b.shot("cluster-linking-validation-errors");
    b.type_into("#link-server", &format!("127.0.0.1:{ssl_port}"));
    b.type_into("#link-pool-size", "2");
    // ...then the topic rules (to-east/1 is covered by to-east/#)...
    b.click("#link-submit");
    b.wait_text("#link-topics-error", "to-east/1");
    assert_eq!(b.text("#link-server-error"), "");
    // ...and the name rule.
    b.click("#link-topics .topic-row:nth-child(2) .remove-topic");
    b.type_into("#link-name", "we st");
    b.click("#link-submit");
    b.wait_text("#link-name-error", "Invalid name format");
    b.type_into("#link-name", "west");
    b.click("#link-submit");

    // Listed: name, server, topics, enable switch, status.
    b.wait("#links-table a[data-link='west']");
    b.wait_text("#links-table", &format!("127.0.0.1:{ssl_port}"));
    b.wait_text("#links-table", "to-east/#");
    assert!(b.is_checked("input[data-link-toggle='west']"));
    let (s, created) = api.get("/cluster/links/west");
    assert_eq!(s, 200, "{created}");
    assert_eq!(created["clientid"], "clink-east");
    assert_eq!(created["username"], "clink-user:east");
    assert_eq!(created["password"], "******");
    assert_eq!(created["topics"], json!(["to-east/#"]));
    assert_eq!(created["enable"], true);
    assert_eq!(created["pool_size"], 2);
    assert_eq!(created["retry_interval"], "1s");
    assert_eq!(created["max_inflight"], 16);
    assert_eq!(created["ssl"]["enable"], true);
    assert_eq!(created["ssl"]["verify"], "verify_peer");
    assert_eq!(created["ssl"]["server_name_indication"], "localhost");
    assert_eq!(created["ssl"]["keyfile"], client_key.display().to_string());
    assert_eq!(created["resource_opts"]["request_ttl"], "10s");
    assert_eq!(created["resource_opts"]["inflight_window"], 50);
    assert_eq!(created["resource_opts"]["health_check_interval"], "5s");
    // The link comes up over mutual TLS.
    b.wait_js(
        "const s = document.querySelector('#links-table [data-status]'); return !!s && s.dataset.status === 'running'",
        "the link to run",
    );
    b.shot("cluster-linking-list");
    b.assert_no_horizontal_scroll("Cluster Linking at 1280x800");

    // Toggle off (configuration kept), then on again.
    b.click("input[data-link-toggle='west']");
    b.wait_js(
        "const s = document.querySelector('#links-table [data-status]'); return !!s && s.dataset.status === 'stopped'",
        "the link to stop",
    );
    assert!(!b.is_checked("input[data-link-toggle='west']"));
    let (_, off) = api.get("/cluster/links/west");
    assert_eq!(off["enable"], false);
    assert_eq!(off["topics"], created["topics"]);
    assert_eq!(off["ssl"], created["ssl"]);
    assert_eq!(off["password"], "******");
    b.shot("cluster-linking-disabled");
    b.click("input[data-link-toggle='west']");
    b.wait_js(
        "const s = document.querySelector('#links-table [data-status]'); return !!s && s.dataset.status === 'running'",
        "the link to run again",
    );
    assert_eq!(api.get("/cluster/links/west").1["enable"], true);

    // Overview tab: routes and forwarding metrics, rates over time, status per node.
    let west_sub = west.client("west-sub").await;
    west_sub
        .subscribe("to-west/news", QoS::AtLeastOnce)
        .await
        .unwrap();
    await_route(&publisher, "to-west/news", Duration::from_secs(10)).await;
    // await_route's probes were forwarded too: count what west received.
    for i in 0..20 {
        publisher
            .publish(
                "to-west/news",
                format!("m{i}").into_bytes(),
                QoS::AtLeastOnce,
                false,
            )
            .await
            .unwrap();
    }
    let got = collect(&west_sub, usize::MAX, Duration::from_millis(800)).await;
    assert!(got.len() >= 20, "west received {}", got.len());
    b.click("#links-table a[data-link='west']");
    b.wait("#link-metrics");
    b.wait_exact("#metric-routes", "1");
    b.wait_exact("#metric-success", &got.len().to_string());
    // More traffic while the page samples: the rates chart draws it.
    for i in 0..40 {
        publisher
            .publish(
                "to-west/news",
                format!("n{i}").into_bytes(),
                QoS::AtLeastOnce,
                false,
            )
            .await
            .unwrap();
    }
    b.wait_exact("#metric-success", &(got.len() + 40).to_string());
    b.wait_js(
        &format!("return {SATURATED_PIXELS}('#link-rates-chart') > 20"),
        "the link's rate line",
    );
    b.wait_text("#link-nodes-table", "east@127.0.0.1");
    b.wait_text("#link-nodes-table", "running");
    b.wait("#link-rates-chart");
    b.wait("#link-delete");
    assert_eq!(
        b.js(
            "return document.querySelector('#tab-overview').getAttribute('aria-selected')",
            json!([])
        ),
        json!("true")
    );
    b.shot("cluster-linking-overview");
    b.assert_no_horizontal_scroll("link overview at 1280x800");

    // Settings tab: edit the topics (remove to leave the list empty, then add with +).
    b.click("#tab-settings");
    b.wait("#link-form");
    assert_eq!(
        b.js(
            "return document.querySelector('#link-name').disabled",
            json!([])
        ),
        json!(true)
    );
    b.click("#link-topics .remove-topic");
    b.wait("#link-topics-empty");
    b.click("#link-topics-add");
    b.type_into("#link-topic-0", "from-west/#");
    b.click("#link-topics-add");
    b.type_into("#link-topic-1", "cluster/+/status");
    b.shot("cluster-linking-settings");
    b.click("#link-submit");
    b.wait("#link-metrics");
    let (_, edited) = api.get("/cluster/links/west");
    assert_eq!(edited["topics"], json!(["from-west/#", "cluster/+/status"]));
    assert_eq!(edited["password"], "******", "the password is kept");
    assert_eq!(edited["ssl"], created["ssl"]);
    b.click("a[href='#/cluster-linking']");
    b.wait_text("#links-table", "cluster/+/status");

    // A second link with the required fields only (no topics), through its row's actions.
    b.click("#link-create");
    b.wait("#link-form");
    b.type_into("#link-name", "north");
    b.type_into("#link-server", "127.0.0.1:1");
    b.click("#link-submit");
    b.wait("#links-table a[data-link='north']");
    let (_, north) = api.get("/cluster/links/north");
    assert_eq!(north["topics"], json!([]));
    assert_eq!(north["ssl"]["enable"], false);
    assert_eq!(north["pool_size"], 8);
    assert_eq!(north["enable"], true);
    b.click("button[aria-label='Settings of north']");
    b.wait("#link-form");
    b.wait("#link-topics-empty");
    assert_eq!(
        b.js("return location.hash", json!([])),
        json!("#/cluster-linking/north/settings")
    );
    b.click("#link-cancel");
    b.wait("#link-metrics");
    b.click("a[href='#/cluster-linking']");
    b.click("button[aria-label='Delete north']");
    b.click("dialog .danger-confirm");
    b.wait_js(
        "return !document.querySelector(\"#links-table a[data-link='north']\") \
         && !!document.querySelector(\"#links-table a[data-link='west']\")",
        "north's row to go",
    );
    assert_eq!(api.get("/cluster/links/north").0, 404);

    // Narrow (mobile) viewport: no sideways scrolling, menu behind a button.
    b.viewport(390, 844);
    b.wait_text("#links-table", "west");
    b.assert_no_horizontal_scroll("Cluster Linking list");
    b.shot("mobile-cluster-linking");
    b.click(".menu-toggle");
    b.wait("#nav a[href='#/overview']");
    b.shot("mobile-menu");
    b.click("#nav a[href='#/overview']");
    b.wait("#overview-cards");
    b.assert_no_horizontal_scroll("Overview");
    b.shot("mobile-overview");
    b.goto(&format!("{base}/#/cluster-linking/create"));
    b.wait("#link-form");
    b.assert_no_horizontal_scroll("Create form");
    b.shot("mobile-create-form");
    b.viewport(1280, 800);

    // Delete with the icon at the upper right of the link's page.
    b.goto(&format!("{base}/#/cluster-linking/west/overview"));
    b.click("#link-delete");
    b.wait_text("dialog", "Delete the link to cluster \"west\"");
    b.click("dialog .danger-confirm");
    b.wait_text("#links-table", "No cluster links yet");
    assert_eq!(api.get("/cluster/links/west").0, 404);
    b.shot("cluster-linking-deleted");

    // Everything came from this origin.
    let foreign = b.js(
        "return performance.getEntriesByType('resource').map(e => e.name)\
         .filter(n => !n.startsWith(location.origin))",
        json!([]),
    );
    assert_eq!(foreign, json!([]), "requests to other origins");
    assert_eq!(b.console_errors(), Vec::<String>::new(), "console errors");

    // Logout revokes the token; an invalid token sends the page back to the login form.
    let token = b.js(
        "return JSON.parse(localStorage.getItem('linkmq.session')).token",
        json!([]),
    );
    b.click("#logout");
    b.wait("#login-password");
    let (s, _) = http(
        east.api_port,
        "GET",
        "/api/v5/nodes",
        Some(token.as_str().unwrap()),
        None,
    );
    assert_eq!(s, 401, "the token is revoked at logout");
    b.type_into("#login-password", "public\u{E007}");
    b.wait("#overview-cards");
    b.js(
        "localStorage.setItem('linkmq.session', JSON.stringify({token: 'expired', username: 'admin'}))",
        json!([]),
    );
    b.click("a[href='#/clients']");
    b.wait_text("#login-notice", "Please log in again");
    b.shot("session-expired");

    drop(others);
    drop(bob);
    drop(b);
    west.kill();
    east.kill();
}
