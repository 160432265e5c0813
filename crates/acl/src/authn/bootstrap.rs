//! EMQX `bootstrap_file` formats: CSV (with a header line) or JSON (an array of objects), with
//! hashed passwords (`bootstrap_type = hash`: `user_id,password_hash,salt,is_superuser`) or clear
//! ones (`bootstrap_type = plain`: `user_id,password,is_superuser`, hashed here with the
//! authenticator's algorithm). The format is chosen by the file extension, as in EMQX.

use std::fmt;

use serde_json::Value;

use super::store::{UserRecord, UserStore};

/// `bootstrap_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BootstrapType {
    /// Rows carry `password_hash` (and `salt`) made with the configured algorithm.
    Hash,
    /// Rows carry the clear `password` (EMQX's default).
    #[default]
    Plain,
}

/// A malformed bootstrap file: which line (CSV) or element (JSON) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapError {
    /// 1-based CSV line, or JSON array index + 1.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for BootstrapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{l}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for BootstrapError {}

fn err(line: Option<usize>, message: impl Into<String>) -> BootstrapError {
    BootstrapError {
        line,
        message: message.into(),
    }
}

/// Parses a bootstrap file's contents into user records (hashing clear passwords; blocking).
pub fn parse(
    file_name: &str,
    data: &str,
    kind: BootstrapType,
    store: &UserStore,
) -> Result<Vec<UserRecord>, BootstrapError> {
    let ext = std::path::Path::new(file_name)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let rows: Vec<(usize, Row)> = match ext.as_deref() {
        Some("csv") => csv_rows(data)?,
        Some("json") => json_rows(data)?,
        Some(other) => return Err(err(None, format!("unsupported file format .{other}"))),
        None => return Err(err(None, "unknown file format (expected .csv or .json)")),
    };
    rows.into_iter()
        .map(|(line, row)| to_record(line, row, kind, store))
        .collect()
}

#[derive(Default)]
struct Row {
    user_id: Option<String>,
    password: Option<String>,
    password_hash: Option<String>,
    salt: Option<String>,
    is_superuser: bool,
}

fn to_record(
    line: usize,
    row: Row,
    kind: BootstrapType,
    store: &UserStore,
) -> Result<UserRecord, BootstrapError> {
    let user_id = row
        .user_id
        .filter(|u| !u.is_empty())
        .ok_or_else(|| err(Some(line), "missing user_id"))?;
    match kind {
        BootstrapType::Plain => {
            let password = row
                .password
                .ok_or_else(|| err(Some(line), "bootstrap_type = plain needs a password field"))?;
            Ok(store.make_record(&user_id, &password, row.is_superuser))
        }
        BootstrapType::Hash => {
            let password_hash = row.password_hash.ok_or_else(|| {
                err(
                    Some(line),
                    "bootstrap_type = hash needs a password_hash field",
                )
            })?;
            Ok(UserRecord {
                user_id,
                password_hash,
                salt: row.salt.unwrap_or_default(),
                is_superuser: row.is_superuser,
                scram: None,
            })
        }
    }
}

fn truthy(s: &str) -> bool {
    s.trim().eq_ignore_ascii_case("true")
}

/// CSV with a header naming the columns; quoted fields may contain commas and `""`.
fn csv_rows(data: &str) -> Result<Vec<(usize, Row)>, BootstrapError> {
    let mut lines = data
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((hline, header)) = lines.next() else {
        return Ok(Vec::new());
    };
    let header = split_csv(header).map_err(|m| err(Some(hline), m))?;
    if !header.iter().any(|h| h == "user_id") {
        return Err(err(Some(hline), "the header has no user_id column"));
    }
    let mut rows = Vec::new();
    for (n, line) in lines {
        let fields = split_csv(line).map_err(|m| err(Some(n), m))?;
        if fields.len() != header.len() {
            return Err(err(
                Some(n),
                format!(
                    "expected {} fields as in the header, found {}",
                    header.len(),
                    fields.len()
                ),
            ));
        }
        let mut row = Row::default();
        for (h, v) in header.iter().zip(fields) {
            match h.as_str() {
                "user_id" => row.user_id = Some(v),
                "password" => row.password = Some(v),
                "password_hash" => row.password_hash = Some(v),
                "salt" => row.salt = Some(v),
                "is_superuser" => row.is_superuser = truthy(&v),
                _ => {}
            }
        }
        rows.push((n, row));
    }
    Ok(rows)
}

fn split_csv(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cur.push(c),
            (false, '"') if cur.trim().is_empty() => {
                cur.clear();
                quoted = true;
                was_quoted = true;
            }
            (false, ',') => {
                out.push(if was_quoted {
                    std::mem::take(&mut cur)
                } else {
                    std::mem::take(&mut cur).trim().to_string()
                });
                was_quoted = false;
            }
            (false, c) => cur.push(c),
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    out.push(if was_quoted {
        cur
    } else {
        cur.trim().to_string()
    });
    Ok(out)
}

fn json_rows(data: &str) -> Result<Vec<(usize, Row)>, BootstrapError> {
    let v: Value = serde_json::from_str(data).map_err(|e| err(Some(e.line()), e.to_string()))?;
    let Value::Array(items) = v else {
        return Err(err(None, "expected a JSON array of users"));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let Value::Object(m) = item else {
                return Err(err(Some(i + 1), "expected an object"));
            };
            let s = |k: &str| match m.get(k) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            let row = Row {
                user_id: s("user_id"),
                password: s("password"),
                password_hash: s("password_hash"),
                salt: s("salt"),
                is_superuser: match m.get("is_superuser") {
                    Some(Value::Bool(b)) => *b,
                    Some(Value::String(s)) => truthy(s),
                    _ => false,
                },
            };
            Ok((i + 1, row))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::hashing::HashAlgorithm;

    fn store() -> UserStore {
        UserStore::in_memory(HashAlgorithm::default(), 16)
    }

    #[test]
    fn emqx_hash_csv_loads() {
        let csv = "user_id,password_hash,salt,is_superuser\n\
myuser3,b6c743545a7817ae8c8f624371d5f5f0373234bb0ff36b8ffbf19bce0e06ab75,de1024f462fb83910fd13151bd4bd235,true\n\
myuser4,ee68c985a69208b6eda8c6c9b4c7c2d2b15ee2352cdd64a903171710a99182e8,ad773b5be9dd0613fe6c2f4d8c403139,false\n";
        let r = parse("users.csv", csv, BootstrapType::Hash, &store()).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].user_id, "myuser3");
        assert!(r[0].is_superuser);
        assert_eq!(r[1].salt, "ad773b5be9dd0613fe6c2f4d8c403139");
        assert!(!r[1].is_superuser);
        assert!(r[0].scram.is_none());
    }

    #[test]
    fn plain_csv_and_json_are_hashed() {
        let s = store();
        let csv = "user_id,password,is_superuser\n\"a,b\",\"p\"\"q\",false\nc, secret ,true\n";
        let r = parse("x.CSV", csv, BootstrapType::Plain, &s).unwrap();
        assert_eq!(r[0].user_id, "a,b");
        assert!(
            s.algorithm()
                .check(&r[0].salt, &r[0].password_hash, b"p\"q")
        );
        assert!(
            s.algorithm()
                .check(&r[1].salt, &r[1].password_hash, b"secret")
        );
        assert!(r[1].is_superuser && r[1].scram.is_some());
        let json = r#"[{"user_id":"j","password":"pw","is_superuser":"true"}]"#;
        let r = parse("u.json", json, BootstrapType::Plain, &s).unwrap();
        assert!(r[0].is_superuser);
        assert!(s.algorithm().check(&r[0].salt, &r[0].password_hash, b"pw"));
    }

    #[test]
    fn errors_name_the_line() {
        let s = store();
        let e = parse(
            "u.csv",
            "user_id,password\na,b,c\n",
            BootstrapType::Plain,
            &s,
        )
        .unwrap_err();
        assert_eq!(e.line, Some(2));
        let e = parse(
            "u.csv",
            "user_id,password_hash\na,h\n",
            BootstrapType::Plain,
            &s,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "2: bootstrap_type = plain needs a password field"
        );
        let e = parse("u.txt", "", BootstrapType::Plain, &s).unwrap_err();
        assert_eq!(e.to_string(), "unsupported file format .txt");
        assert!(parse("u.json", "{}", BootstrapType::Hash, &s).is_err());
    }
}
