//! Turns HOCON text (plus includes, `${VAR}` substitutions and the `EMQX_*` overlay) into one
//! merged `serde_json::Value` tree and a map of where every key was set.

mod env;
mod positions;

use std::collections::HashMap;
use std::path::Path;

use hocon::{HoconError, HoconValue, ScalarType, ScalarValue};
use serde_json::{Map, Number, Value};

use crate::error::{ConfigError, Location};

pub(crate) use env::apply_env_overlay;
pub(crate) use positions::Origins;

/// A parsed, resolved and env-overlaid configuration document.
pub(crate) struct Document {
    /// The merged tree (always an object).
    pub(crate) tree: Value,
    /// Where each key was set.
    pub(crate) origins: Origins,
}

/// Parses `text` (named `file` in messages; includes resolve relative to its directory),
/// resolves `${VAR}` against `env`, then applies the `EMQX_*` overlay from `env`.
pub(crate) fn parse_document(
    text: &str,
    file: &str,
    env: &[(String, String)],
) -> Result<Document, ConfigError> {
    let ast = positions::parse_ast(file, text)?;
    let mut origins = Origins::from_ast(file, &ast)?;

    let env_map: HashMap<String, String> = env.iter().cloned().collect();
    let mut opts = hocon::ParseOptions::defaults()
        .with_env(env_map)
        .with_origin_description(file.to_string());
    if let Some(dir) = Path::new(file)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        opts = opts.with_base_dir(dir.to_path_buf());
    }
    let parsed = hocon::parse_string_with_options(text, opts).map_err(|e| hocon_error(file, e))?;

    let mut root = Map::new();
    for key in parsed.keys() {
        if let Some(v) = parsed.get(key) {
            root.insert(key.to_string(), to_json(v));
        }
    }
    let mut tree = Value::Object(root);
    apply_env_overlay(&mut tree, &mut origins, env);
    Ok(Document { tree, origins })
}

fn hocon_error(file: &str, e: HoconError) -> ConfigError {
    let at = |line: usize, col: usize| Location::File {
        file: file.to_string(),
        line,
        col,
    };
    match e {
        HoconError::Parse(p) => ConfigError::Syntax {
            location: at(p.line, p.col),
            message: p.message,
        },
        HoconError::Resolve(r) => ConfigError::Resolve {
            location: at(r.line, r.col),
            message: r.message,
        },
        HoconError::Io(source) => ConfigError::Io {
            path: file.into(),
            source,
        },
        other => ConfigError::Resolve {
            location: at(0, 0),
            message: other.to_string(),
        },
    }
}

/// Converts a resolved HOCON value to JSON; numbers keep their spelling when JSON would change it.
pub(crate) fn to_json(v: &HoconValue) -> Value {
    match v {
        HoconValue::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
        HoconValue::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        HoconValue::Scalar(s) => scalar_to_json(s),
        _ => Value::Null,
    }
}

fn scalar_to_json(s: &ScalarValue) -> Value {
    match s.value_type {
        ScalarType::Null => Value::Null,
        ScalarType::Boolean => Value::Bool(s.raw.eq_ignore_ascii_case("true")),
        ScalarType::Number => number(&s.raw),
        _ => Value::String(s.raw.clone()),
    }
}

fn number(raw: &str) -> Value {
    if let Ok(i) = raw.parse::<i64>() {
        if i.to_string() == raw {
            return Value::Number(i.into());
        }
    } else if let Ok(u) = raw.parse::<u64>() {
        if u.to_string() == raw {
            return Value::Number(u.into());
        }
    } else if raw.contains(['.', 'e', 'E'])
        && let Some(n) = raw.parse::<f64>().ok().and_then(Number::from_f64)
    {
        return Value::Number(n);
    }
    // e.g. a leading zero: keep the text ("0123" as a cookie must not become 123).
    Value::String(raw.to_string())
}
