//! Remembers where each key path was written (file, line, column), by walking the HOCON syntax
//! tree of the main file and of its includes; the resolved value tree carries no positions.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use hocon::parser::{AstField, AstNode, Pos};

use crate::error::{ConfigError, Location};
use crate::reader::{KeyPath, Seg};

/// Deepest include nesting followed for positions (the HOCON resolver rejects cycles itself).
const MAX_INCLUDE_DEPTH: usize = 16;

/// Key path → where it was (last) set.
#[derive(Debug, Default)]
pub(crate) struct Origins {
    map: HashMap<Vec<String>, Location>,
    fallback: Option<Location>,
}

impl Origins {
    /// Positions of every key in `ast` (the parsed text of `file`), following includes.
    pub(crate) fn from_ast(file: &str, ast: &AstNode) -> Result<Origins, ConfigError> {
        let mut origins = Origins {
            map: HashMap::new(),
            fallback: Some(Location::File {
                file: file.to_string(),
                line: 0,
                col: 0,
            }),
        };
        let mut walker = Walker {
            origins: &mut origins,
            depth: 0,
        };
        walker.value(file, &[], ast)?;
        Ok(origins)
    }

    /// Where `path` (or its nearest ancestor that was written down) came from.
    pub(crate) fn locate(&self, path: &KeyPath) -> Option<Location> {
        let mut key = segments(path);
        while !key.is_empty() {
            if let Some(loc) = self.map.get(&key) {
                return Some(loc.clone());
            }
            key.pop();
        }
        self.fallback.clone()
    }

    /// Records that the environment variable `var` set `path` (and everything under it).
    pub(crate) fn set_env(&mut self, path: &[String], var: &str) {
        self.map.retain(|k, _| !k.starts_with(path));
        self.map.insert(
            path.to_vec(),
            Location::Env {
                var: var.to_string(),
            },
        );
    }
}

fn segments(path: &KeyPath) -> Vec<String> {
    path.0
        .iter()
        .map(|s| match s {
            Seg::Key(k) => k.clone(),
            Seg::Index(i) => i.to_string(),
        })
        .collect()
}

/// Location of `pos` in `file`.
pub(crate) fn at(file: &str, pos: &Pos) -> Location {
    Location::File {
        file: file.to_string(),
        line: pos.line,
        col: pos.col,
    }
}

/// Parses HOCON text into its syntax tree, reporting syntax errors against `file`.
pub(crate) fn parse_ast(file: &str, text: &str) -> Result<AstNode, ConfigError> {
    let syntax = |e: hocon::ParseError| {
        let mut message = e.message;
        if message.contains("'@'") {
            message.push_str(" (quote values such as node names: name = \"emqx@127.0.0.1\")");
        }
        ConfigError::Syntax {
            location: Location::File {
                file: file.to_string(),
                line: e.line,
                col: e.col,
            },
            message,
        }
    };
    let tokens = hocon::tokenize(text).map_err(syntax)?;
    hocon::parser::parse_tokens(&tokens).map_err(syntax)
}

struct Walker<'a> {
    origins: &'a mut Origins,
    depth: usize,
}

impl Walker<'_> {
    fn fields(
        &mut self,
        file: &str,
        prefix: &[String],
        fields: &[AstField],
    ) -> Result<(), ConfigError> {
        for field in fields {
            if let AstNode::Include { path, is_file, .. } = &field.value {
                self.include(file, prefix, path, *is_file)?;
                continue;
            }
            let mut full = prefix.to_vec();
            for (i, seg) in field.key.iter().enumerate() {
                full.push(seg.clone());
                if i + 1 < field.key.len() {
                    // `a.b.c = 1` also introduces `a` and `a.b` here, unless they already exist.
                    self.origins
                        .map
                        .entry(full.clone())
                        .or_insert_with(|| at(file, &field.pos));
                }
            }
            self.origins.map.insert(full.clone(), at(file, &field.pos));
            // `key += value` appends at an index we cannot know here; the key itself is enough.
            if !field.append {
                self.value(file, &full, &field.value)?;
            }
        }
        Ok(())
    }

    fn value(&mut self, file: &str, path: &[String], node: &AstNode) -> Result<(), ConfigError> {
        match node {
            AstNode::Object { fields, .. } => self.fields(file, path, fields),
            AstNode::Array { items, .. } => {
                for (i, item) in items.iter().enumerate() {
                    let mut p = path.to_vec();
                    p.push(i.to_string());
                    if let Some(pos) = node_pos(item) {
                        self.origins.map.insert(p.clone(), at(file, pos));
                    }
                    self.value(file, &p, item)?;
                }
                Ok(())
            }
            AstNode::Concat { nodes, .. } => {
                for n in nodes {
                    if matches!(n, AstNode::Object { .. }) {
                        self.value(file, path, n)?;
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn include(
        &mut self,
        file: &str,
        prefix: &[String],
        target: &str,
        is_file: bool,
    ) -> Result<(), ConfigError> {
        if self.depth >= MAX_INCLUDE_DEPTH {
            return Ok(());
        }
        let base = if is_file {
            PathBuf::new()
        } else {
            Path::new(file)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default()
        };
        let mut candidate = base.join(target);
        if candidate.extension().is_none() {
            candidate.set_extension("conf");
        }
        // Missing optional includes are the resolver's business; positions are best effort.
        let Ok(text) = std::fs::read_to_string(&candidate) else {
            return Ok(());
        };
        let name = candidate.display().to_string();
        let ast = parse_ast(&name, &text)?;
        self.depth += 1;
        let result = self.value(&name, prefix, &ast);
        self.depth -= 1;
        result
    }
}

fn node_pos(node: &AstNode) -> Option<&Pos> {
    match node {
        AstNode::Object { pos, .. }
        | AstNode::Array { pos, .. }
        | AstNode::Scalar { pos, .. }
        | AstNode::Concat { pos, .. }
        | AstNode::Substitution { pos, .. }
        | AstNode::Include { pos, .. } => Some(pos),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}
