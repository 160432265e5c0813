//! The EMQX environment overlay: `EMQX_MQTT__MAX_PACKET_SIZE=2MB` sets `mqtt.max_packet_size`.
//! `__` separates levels, keys are lower-cased, each value is read as HOCON (else as a string),
//! and the environment wins over the file.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::{Origins, to_json};

const PREFIX: &str = "EMQX_";

/// EMQX's single-underscore aliases kept for operators' muscle memory (the `__` form wins).
const LEGACY_ALIASES: &[(&str, &[&str])] = &[
    ("NODE_NAME", &["node", "name"]),
    ("NODE_COOKIE", &["node", "cookie"]),
];

/// Applies every `EMQX_*` variable of `env` to `tree`, recording the variable as the origin.
pub(crate) fn apply_env_overlay(tree: &mut Value, origins: &mut Origins, env: &[(String, String)]) {
    let mut overrides: Vec<(Vec<String>, &str, &str)> = Vec::new();
    for (name, value) in env {
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let path: Vec<String> = if rest.contains("__") {
            rest.split("__").map(str::to_ascii_lowercase).collect()
        } else if let Some((_, path)) = LEGACY_ALIASES.iter().find(|(alias, _)| *alias == rest) {
            path.iter().map(|s| s.to_string()).collect()
        } else {
            // EMQX_LOG_DIR, EMQX_VERSION, ...: not configuration keys.
            continue;
        };
        if path.iter().any(String::is_empty) {
            tracing::warn!(var = %name, "ignoring environment variable with an empty key segment");
            continue;
        }
        overrides.push((path, name, value));
    }
    // Shorter paths first so that EMQX_MQTT='{...}' does not undo EMQX_MQTT__X; ties by name,
    // which also applies EMQX_NODE_NAME before EMQX_NODE__NAME ('N' < '_'), so the latter wins.
    overrides.sort_by(|a, b| (a.0.len(), a.1).cmp(&(b.0.len(), b.1)));
    for (path, name, value) in overrides {
        set_path(tree, &path, parse_env_value(value));
        origins.set_env(&path, name);
    }
}

/// Reads an environment value as a HOCON value (`[{name = x}]`, `true`, `10`), else as a plain string.
pub(crate) fn parse_env_value(text: &str) -> Value {
    let doc = format!("v = {text}");
    let opts = hocon::ParseOptions::defaults().with_env(HashMap::new());
    match hocon::parse_string_with_options(&doc, opts) {
        Ok(cfg) if cfg.keys().len() == 1 => cfg
            .get("v")
            .map(to_json)
            .unwrap_or_else(|| Value::String(text.to_string())),
        _ => Value::String(text.to_string()),
    }
}

fn set_path(tree: &mut Value, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = tree;
    for key in parents {
        let map = as_object(node);
        node = map
            .entry(key.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    let map = as_object(node);
    match (map.get_mut(last), value) {
        (Some(Value::Object(existing)), Value::Object(new)) => merge(existing, new),
        (_, value) => {
            map.insert(last.clone(), value);
        }
    }
}

fn as_object(node: &mut Value) -> &mut Map<String, Value> {
    if !node.is_object() {
        *node = Value::Object(Map::new());
    }
    match node {
        Value::Object(m) => m,
        _ => unreachable!("just replaced by an object"),
    }
}

fn merge(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(Value::Object(a)), Value::Object(b)) => merge(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn env_values_are_hocon_with_string_fallback() {
        assert_eq!(parse_env_value("2MB"), json!("2MB"));
        assert_eq!(parse_env_value("10"), json!(10));
        assert_eq!(parse_env_value("true"), json!(true));
        assert_eq!(parse_env_value("emqx@10.0.0.1"), json!("emqx@10.0.0.1"));
        assert_eq!(parse_env_value("0.0.0.0:1884"), json!("0.0.0.0:1884"));
        assert_eq!(parse_env_value(r#""quoted""#), json!("quoted"));
        assert_eq!(
            parse_env_value("[{name = a, topics = [\"t/#\"]}]"),
            json!([{"name": "a", "topics": ["t/#"]}])
        );
        assert_eq!(parse_env_value("a\nb = 1"), json!("a\nb = 1"));
        assert_eq!(parse_env_value(""), json!(""));
    }

    #[test]
    fn overlay_creates_merges_and_replaces() {
        let mut tree = json!({"mqtt": {"max_inflight": 32, "idle_timeout": "15s"}});
        let mut origins = Origins::default();
        let env = vec![
            ("EMQX_MQTT__MAX_INFLIGHT".to_string(), "64".to_string()),
            ("EMQX_LOG__CONSOLE__LEVEL".to_string(), "debug".to_string()),
            ("EMQX_LOG_DIR".to_string(), "/var/log".to_string()),
            ("PATH".to_string(), "/bin".to_string()),
        ];
        apply_env_overlay(&mut tree, &mut origins, &env);
        assert_eq!(
            tree,
            json!({"mqtt": {"max_inflight": 64, "idle_timeout": "15s"}, "log": {"console": {"level": "debug"}}})
        );
    }

    #[test]
    fn double_underscore_form_beats_legacy_alias() {
        let mut tree = json!({});
        let env = vec![
            ("EMQX_NODE_NAME".to_string(), "old@h".to_string()),
            ("EMQX_NODE__NAME".to_string(), "new@h".to_string()),
        ];
        apply_env_overlay(&mut tree, &mut Origins::default(), &env);
        assert_eq!(tree, json!({"node": {"name": "new@h"}}));
        let mut tree = json!({});
        let env = vec![("EMQX_NODE_NAME".to_string(), "old@h".to_string())];
        apply_env_overlay(&mut tree, &mut Origins::default(), &env);
        assert_eq!(tree, json!({"node": {"name": "old@h"}}));
    }
}
