//! The web dashboard in a real browser (issue 8): headless Chromium driven over WebDriver
//! (chromedriver, plain HTTP/JSON) against two `linkmq` processes, `east` (dashboard) and `west`
//! (a remote cluster with a mutual-TLS listener). Login (keyboard), overview, clients (search,
//! paging, details, kick), subscriptions (topic filters), Management → Cluster Linking (create
//! with every field, API validation errors next to their field, list, toggle off/on, overview
//! with metrics and node status, edit topics, delete), narrow viewport, logout and an invalid
//! session. Screenshots of each page go to `target/dashboard-screenshots/`.

mod dashboard_support;
mod link_support;

use std::time::Duration;

use dashboard_support::*;
use link_support::{Cluster, await_route, collect, link};
use linkmq_client::{Client, ConnectOptions, Event, QoS};
use linkmq_tests::free_port;
use linkmq_tests::pki::Pki;
use serde_json::{Value, json};

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
    // The session's live state: nothing queued of the 1,000 it may hold.
    b.wait_text("#client-detail", "0 / 1000");
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
