//! Cluster links changed by editing `etc/emqx.conf` and sending SIGHUP (issue 6 item 4: "through the
//! API or a config reload"): a link added to the file starts without a restart, a changed topic list
//! takes effect, a removed link stops, and a broken file changes nothing.

mod link_support;

use std::time::Duration;

use link_support::{Cluster, await_no_route, await_route, eventually, link, recv_matching};
use linkmq_client::QoS;

const UP: Duration = Duration::from_secs(10);

fn links_named(c: &Cluster) -> Vec<String> {
    let (code, v) = c.api("GET", "/cluster/links", None);
    assert_eq!(code, 200, "{v}");
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| l["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn sighup_applies_links_added_changed_and_removed_in_the_file() {
    let mut east = Cluster::new("east").with_api();
    let mut west = Cluster::new("west");
    east.launch(&[]);
    west.launch(&[link("east", east.port, &[])]);
    let s = east.client("s").await;
    s.subscribe("t/1", QoS::AtLeastOnce).await.unwrap();
    s.subscribe("u/1", QoS::AtLeastOnce).await.unwrap();
    let p = west.client("p").await;
    assert!(links_named(&east).is_empty());

    // Added in the file: east's route actor starts and replicates t/1 into west.
    east.reload_links(&[link("west", west.port, &["t/#"])]);
    await_route(&p, "t/1", UP).await;
    eventually("the API lists the reloaded link", UP, || {
        links_named(&east) == vec!["west".to_string()]
    })
    .await;
    p.publish("t/1", "via-link", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    let got = recv_matching(&s, UP, |m| &m.payload[..] == b"via-link").await;
    assert_eq!(got.topic, "t/1");

    // Changed topics: u/# replaces t/#.
    east.reload_links(&[link("west", west.port, &["u/#"])]);
    await_route(&p, "u/1", UP).await;
    await_no_route(&p, "t/1", UP).await;

    // A broken file is refused and changes nothing.
    std::fs::write(east.dir.join("emqx.conf"), "mqtt.max_packet_size = lots\n").unwrap();
    let status = std::process::Command::new("kill")
        .args(["-HUP", &east_pid(&east)])
        .status()
        .unwrap();
    assert!(status.success());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(links_named(&east), vec!["west".to_string()]);
    eventually("reload failure logged", UP, || {
        east.log().contains("configuration reload failed")
    })
    .await;

    // Removed from the file: the actor stops and west forgets east's routes after the TTL.
    east.reload_links(&[]);
    eventually("the API lists no link", UP, || {
        links_named(&east).is_empty()
    })
    .await;
    await_no_route(&p, "u/1", Duration::from_secs(20)).await;
}

fn east_pid(c: &Cluster) -> String {
    c.pid().to_string()
}
