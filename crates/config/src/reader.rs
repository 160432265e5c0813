//! Walks the merged value tree section by section: typed getters with defaults, precise
//! diagnostics (file:line:col + key), and a warning for every key nobody asked for.

use std::fmt;

use serde_json::{Map, Value};

use crate::error::{Diagnostic, Location};
use crate::source::Origins;

pub(crate) use crate::values::*;

/// One step of a key path: an object key or an array index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// A key path such as `cluster.links[0].name`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct KeyPath(pub(crate) Vec<Seg>);

impl KeyPath {
    pub(crate) fn key(&self, k: &str) -> KeyPath {
        let mut segs = self.0.clone();
        segs.push(Seg::Key(k.to_string()));
        KeyPath(segs)
    }

    pub(crate) fn index(&self, i: usize) -> KeyPath {
        let mut segs = self.0.clone();
        segs.push(Seg::Index(i));
        KeyPath(segs)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => f.write_str(k)?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// Collects errors and warnings while a tree is read.
pub(crate) struct Ctx<'o> {
    origins: Option<&'o Origins>,
    pub(crate) errors: Vec<Diagnostic>,
    pub(crate) warnings: Vec<Diagnostic>,
}

impl<'o> Ctx<'o> {
    pub(crate) fn new(origins: Option<&'o Origins>) -> Self {
        Ctx {
            origins,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn diagnostic(&self, path: &KeyPath, message: String) -> Diagnostic {
        Diagnostic {
            location: self.locate(path),
            key: path.to_string(),
            message,
        }
    }

    pub(crate) fn locate(&self, path: &KeyPath) -> Option<Location> {
        self.origins.and_then(|o| o.locate(path))
    }

    pub(crate) fn error(&mut self, path: &KeyPath, message: impl Into<String>) {
        let d = self.diagnostic(path, message.into());
        self.errors.push(d);
    }

    pub(crate) fn warn(&mut self, path: &KeyPath, message: impl Into<String>) {
        let d = self.diagnostic(path, message.into());
        self.warnings.push(d);
    }
}

/// An object being read; remembers which keys were consumed.
pub(crate) struct Section<'v> {
    path: KeyPath,
    map: Option<&'v Map<String, Value>>,
    used: Vec<String>,
}

impl<'v> Section<'v> {
    /// Reads `value` (if any) as an object at `path`; anything else is reported.
    pub(crate) fn new(ctx: &mut Ctx<'_>, path: KeyPath, value: Option<&'v Value>) -> Self {
        let map = match value {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m),
            Some(other) => {
                ctx.error(
                    &path,
                    format!("expected an object, found {}", describe(other)),
                );
                None
            }
        };
        Section {
            path,
            map,
            used: Vec::new(),
        }
    }

    pub(crate) fn path(&self) -> &KeyPath {
        &self.path
    }

    /// Whether the object was present at all.
    pub(crate) fn is_present(&self) -> bool {
        self.map.is_some()
    }

    /// Whether `key` is set to a non-null value.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.map
            .and_then(|m| m.get(key))
            .is_some_and(|v| !v.is_null())
    }

    /// The raw value of `key` (marks it consumed); `null` counts as absent.
    pub(crate) fn raw(&mut self, key: &str) -> Option<&'v Value> {
        self.used.push(key.to_string());
        self.map.and_then(|m| m.get(key)).filter(|v| !v.is_null())
    }

    /// Marks keys as known although linkmq does not interpret them (yet).
    pub(crate) fn accept(&mut self, keys: &[&str]) {
        self.used.extend(keys.iter().map(|k| k.to_string()));
    }

    /// Reads `key` with `parse`, falling back to `default` when absent or invalid (invalid is reported).
    pub(crate) fn get<T>(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &str,
        default: T,
        parse: impl FnOnce(&Value) -> Result<T, String>,
    ) -> T {
        self.opt(ctx, key, parse).unwrap_or(default)
    }

    /// Reads an optional `key`; `None` when absent or invalid (invalid is reported).
    pub(crate) fn opt<T>(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &str,
        parse: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Option<T> {
        let v = self.raw(key)?;
        match parse(v) {
            Ok(t) => Some(t),
            Err(msg) => {
                ctx.error(&self.path.key(key), msg);
                None
            }
        }
    }

    /// Reads a required `key`; a missing key is reported.
    pub(crate) fn required<T>(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &str,
        parse: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Option<T> {
        if !self.has(key) {
            self.used.push(key.to_string());
            ctx.error(&self.path.key(key), "required field is missing");
            return None;
        }
        self.opt(ctx, key, parse)
    }

    /// Opens the sub-object `key`.
    pub(crate) fn section(&mut self, ctx: &mut Ctx<'_>, key: &str) -> Section<'v> {
        let path = self.path.key(key);
        let v = self.raw(key);
        Section::new(ctx, path, v)
    }

    /// Every entry of this object (marks all consumed), for maps keyed by user-chosen names.
    pub(crate) fn entries(&mut self) -> Vec<(String, &'v Value)> {
        let Some(map) = self.map else {
            return Vec::new();
        };
        self.used.extend(map.keys().cloned());
        map.iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v))
            .collect()
    }

    /// Opens the array `key`, yielding each element with its path; reports a non-array.
    pub(crate) fn array(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &str,
    ) -> Option<Vec<(KeyPath, &'v Value)>> {
        let path = self.path.key(key);
        match self.raw(key)? {
            Value::Array(items) => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (path.index(i), v))
                    .collect(),
            ),
            other => {
                ctx.error(
                    &path,
                    format!("expected an array, found {}", describe(other)),
                );
                None
            }
        }
    }

    /// Warns about every key that no getter consumed.
    pub(crate) fn finish(self, ctx: &mut Ctx<'_>) {
        let Some(map) = self.map else { return };
        for key in map.keys() {
            if !self.used.iter().any(|u| u == key) {
                ctx.warn(&self.path.key(key), "unknown key, ignored");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_render_like_emqx_keys() {
        let p = KeyPath::default()
            .key("cluster")
            .key("links")
            .index(2)
            .key("name");
        assert_eq!(p.to_string(), "cluster.links[2].name");
    }
}
