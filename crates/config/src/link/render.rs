//! Renders links back to HOCON so runtime changes can be persisted and read back identically.

use std::fmt::Write;

use crate::link::LinkConfig;
use crate::tls::ServerNameIndication;
use crate::units::{format_duration, format_size};

/// Renders `cluster.links = [...]`, which [`crate::parse_str`] reads back to the same links.
pub fn links_to_hocon(links: &[LinkConfig]) -> String {
    let mut out = String::from("cluster.links = [");
    for link in links {
        out.push_str("\n  {\n");
        render_link(&mut out, link);
        out.push_str("  }");
    }
    out.push_str(if links.is_empty() { "]\n" } else { "\n]\n" });
    out
}

fn render_link(out: &mut String, link: &LinkConfig) {
    let i = "    ";
    line(out, i, "name", &quote(&link.name));
    line(out, i, "enable", &link.enable.to_string());
    line(out, i, "server", &quote(link.server.as_str()));
    if let Some(c) = &link.clientid {
        line(out, i, "clientid", &quote(c));
    }
    if let Some(u) = &link.username {
        line(out, i, "username", &quote(u));
    }
    if let Some(p) = &link.password {
        line(out, i, "password", &quote(p.expose()));
    }
    line(out, i, "topics", &list(&link.topics));
    line(out, i, "pool_size", &link.pool_size.to_string());
    line(
        out,
        i,
        "retry_interval",
        &quote(&format_duration(link.retry_interval)),
    );
    line(out, i, "max_inflight", &link.max_inflight.to_string());

    let ssl = &link.ssl;
    let j = "      ";
    let _ = writeln!(out, "{i}ssl {{");
    line(out, j, "enable", &ssl.enable.to_string());
    line(out, j, "verify", ssl.verify.as_str());
    for (key, value) in [
        ("cacertfile", &ssl.cacertfile),
        ("certfile", &ssl.certfile),
        ("keyfile", &ssl.keyfile),
    ] {
        if let Some(v) = value {
            line(out, j, key, &quote(v));
        }
    }
    match &ssl.server_name_indication {
        ServerNameIndication::Auto => {}
        ServerNameIndication::Disable => line(out, j, "server_name_indication", "disable"),
        ServerNameIndication::Name(n) => line(out, j, "server_name_indication", &quote(n)),
    }
    line(out, j, "versions", &list(&ssl.versions));
    line(out, j, "ciphers", &list(&ssl.ciphers));
    let _ = writeln!(out, "{i}}}");

    let r = &link.resource_opts;
    let _ = writeln!(out, "{i}resource_opts {{");
    let ttl = r
        .request_ttl
        .map_or_else(|| "infinity".to_string(), |d| quote(&format_duration(d)));
    line(out, j, "request_ttl", &ttl);
    line(out, j, "inflight_window", &r.inflight_window.to_string());
    line(
        out,
        j,
        "max_buffer_bytes",
        &quote(&format_size(r.max_buffer_bytes)),
    );
    line(
        out,
        j,
        "health_check_interval",
        &quote(&format_duration(r.health_check_interval)),
    );
    line(out, j, "dispatch_strategy", r.dispatch_strategy.as_str());
    let _ = writeln!(out, "{i}}}");
}

fn line(out: &mut String, indent: &str, key: &str, value: &str) {
    let _ = writeln!(out, "{indent}{key} = {value}");
}

/// A HOCON quoted string (JSON string syntax is valid HOCON and never substituted).
fn quote(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", quoted.join(", "))
}
