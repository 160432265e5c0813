//! The Erlang term subset `acl.conf` is written in (what `file:consult/1` reads): atoms (bare or
//! quoted), strings (with Erlang escapes; adjacent strings join), integers, tuples and lists, each
//! top-level term ended by `.`; `%` starts a comment. Every term keeps its line and column.

use std::fmt;

/// A syntax or rule error at a position of the source (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for AclError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.col, self.message)
    }
}

impl std::error::Error for AclError {}

/// A parsed term with where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub kind: TermKind,
    pub line: usize,
    pub col: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TermKind {
    Atom(String),
    Str(String),
    Int(i64),
    Tuple(Vec<Term>),
    List(Vec<Term>),
}

impl Term {
    /// An error about this term.
    pub fn error(&self, message: impl Into<String>) -> AclError {
        AclError {
            line: self.line,
            col: self.col,
            message: message.into(),
        }
    }

    /// The atom's name, if this is an atom.
    pub fn atom(&self) -> Option<&str> {
        match &self.kind {
            TermKind::Atom(a) => Some(a),
            _ => None,
        }
    }

    /// Short description for messages.
    pub fn describe(&self) -> String {
        match &self.kind {
            TermKind::Atom(a) => format!("atom {a}"),
            TermKind::Str(s) => format!("string {s:?}"),
            TermKind::Int(i) => format!("integer {i}"),
            TermKind::Tuple(t) => format!("a {}-tuple", t.len()),
            TermKind::List(_) => "a list".to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open(char),
    Close(char),
    Comma,
    Dot,
    Atom(String),
    Str(String),
    Int(i64),
    Eof,
}

struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: usize,
    col: usize,
}

impl Lexer<'_> {
    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn err(&self, line: usize, col: usize, m: impl Into<String>) -> AclError {
        AclError {
            line,
            col,
            message: m.into(),
        }
    }

    /// The next token and where it starts.
    fn next(&mut self) -> Result<(Tok, usize, usize), AclError> {
        loop {
            match self.chars.peek() {
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                Some('%') => {
                    while self.chars.peek().is_some_and(|c| *c != '\n') {
                        self.bump();
                    }
                }
                _ => break,
            }
        }
        let (line, col) = (self.line, self.col);
        let Some(c) = self.bump() else {
            return Ok((Tok::Eof, line, col));
        };
        let tok = match c {
            '{' | '[' => Tok::Open(c),
            '}' | ']' => Tok::Close(c),
            ',' => Tok::Comma,
            '.' => Tok::Dot,
            '"' => Tok::Str(self.quoted('"', line, col)?),
            '\'' => Tok::Atom(self.quoted('\'', line, col)?),
            c if c.is_ascii_lowercase() => {
                let mut s = String::from(c);
                while let Some(&n) = self.chars.peek() {
                    if n.is_ascii_alphanumeric() || n == '_' || n == '@' {
                        s.push(n);
                        self.bump();
                    } else {
                        break;
                    }
                }
                Tok::Atom(s)
            }
            c if c.is_ascii_digit() || c == '-' => {
                let mut s = String::from(c);
                while let Some(&n) = self.chars.peek() {
                    if n.is_ascii_digit() {
                        s.push(n);
                        self.bump();
                    } else {
                        break;
                    }
                }
                Tok::Int(
                    s.parse()
                        .map_err(|_| self.err(line, col, format!("bad integer {s:?}")))?,
                )
            }
            c if c.is_ascii_uppercase() || c == '_' => {
                return Err(self.err(
                    line,
                    col,
                    "variables are not allowed here (atoms start with a lowercase letter or are quoted)",
                ));
            }
            other => return Err(self.err(line, col, format!("unexpected character {other:?}"))),
        };
        Ok((tok, line, col))
    }

    /// A quoted string or atom body with Erlang escapes.
    fn quoted(&mut self, q: char, line: usize, col: usize) -> Result<String, AclError> {
        let mut s = String::new();
        loop {
            let Some(c) = self.bump() else {
                return Err(self.err(line, col, format!("unterminated {q}...{q}")));
            };
            match c {
                c if c == q => return Ok(s),
                '\\' => {
                    let (el, ec) = (self.line, self.col);
                    let Some(e) = self.bump() else {
                        return Err(self.err(line, col, format!("unterminated {q}...{q}")));
                    };
                    match e {
                        'b' => s.push('\u{8}'),
                        'd' => s.push('\u{7f}'),
                        'e' => s.push('\u{1b}'),
                        'f' => s.push('\u{c}'),
                        'n' => s.push('\n'),
                        'r' => s.push('\r'),
                        's' => s.push(' '),
                        't' => s.push('\t'),
                        'v' => s.push('\u{b}'),
                        '0'..='7' => {
                            let mut n = e.to_digit(8).unwrap_or(0);
                            for _ in 0..2 {
                                match self.chars.peek().and_then(|c| c.to_digit(8)) {
                                    Some(d) => {
                                        n = n * 8 + d;
                                        self.bump();
                                    }
                                    None => break,
                                }
                            }
                            s.push(char::from_u32(n).unwrap_or('\u{fffd}'));
                        }
                        'x' => {
                            let mut hex = String::new();
                            if self.chars.peek() == Some(&'{') {
                                self.bump();
                                while let Some(c) = self.bump() {
                                    if c == '}' {
                                        break;
                                    }
                                    hex.push(c);
                                }
                            } else {
                                for _ in 0..2 {
                                    if let Some(c) = self.chars.peek().copied()
                                        && c.is_ascii_hexdigit()
                                    {
                                        hex.push(c);
                                        self.bump();
                                    }
                                }
                            }
                            let ch = u32::from_str_radix(&hex, 16)
                                .ok()
                                .and_then(char::from_u32)
                                .ok_or_else(|| self.err(el, ec, "bad \\x escape"))?;
                            s.push(ch);
                        }
                        '^' => {
                            let c = self
                                .bump()
                                .ok_or_else(|| self.err(el, ec, "bad \\^ escape"))?;
                            s.push(char::from_u32(u32::from(c) & 0x1f).unwrap_or('\u{fffd}'));
                        }
                        // Erlang: any other escaped character stands for itself.
                        other => s.push(other),
                    }
                }
                c => s.push(c),
            }
        }
    }
}

struct Parser<'a> {
    lex: Lexer<'a>,
    peeked: Option<(Tok, usize, usize)>,
}

impl Parser<'_> {
    fn peek(&mut self) -> Result<&(Tok, usize, usize), AclError> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lex.next()?);
        }
        Ok(self.peeked.as_ref().expect("just filled"))
    }

    fn next(&mut self) -> Result<(Tok, usize, usize), AclError> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lex.next(),
        }
    }

    fn term(&mut self) -> Result<Term, AclError> {
        let (tok, line, col) = self.next()?;
        let kind = match tok {
            Tok::Atom(a) => TermKind::Atom(a),
            Tok::Int(i) => TermKind::Int(i),
            Tok::Str(mut s) => {
                // Adjacent string literals join, as in Erlang.
                while let (Tok::Str(_), ..) = self.peek()? {
                    if let (Tok::Str(more), ..) = self.next()? {
                        s.push_str(&more);
                    }
                }
                TermKind::Str(s)
            }
            Tok::Open(open) => {
                let close = if open == '{' { '}' } else { ']' };
                let mut items = Vec::new();
                if !matches!(self.peek()?, (Tok::Close(c), ..) if *c == close) {
                    loop {
                        items.push(self.term()?);
                        match self.next()? {
                            (Tok::Comma, ..) => {}
                            (Tok::Close(c), ..) if c == close => break,
                            (t, l, c) => {
                                return Err(AclError {
                                    line: l,
                                    col: c,
                                    message: format!(
                                        "expected ',' or '{close}', found {}",
                                        show(&t)
                                    ),
                                });
                            }
                        }
                    }
                } else {
                    self.next()?;
                }
                if open == '{' {
                    TermKind::Tuple(items)
                } else {
                    TermKind::List(items)
                }
            }
            t => {
                return Err(AclError {
                    line,
                    col,
                    message: format!("expected a term, found {}", show(&t)),
                });
            }
        };
        Ok(Term { kind, line, col })
    }
}

fn show(t: &Tok) -> String {
    match t {
        Tok::Open(c) | Tok::Close(c) => format!("'{c}'"),
        Tok::Comma => "','".into(),
        Tok::Dot => "'.'".into(),
        Tok::Atom(a) => format!("atom {a}"),
        Tok::Str(s) => format!("string {s:?}"),
        Tok::Int(i) => format!("integer {i}"),
        Tok::Eof => "end of file".into(),
    }
}

/// Reads every top-level term (`Term.`) of `src`.
pub fn parse_terms(src: &str) -> Result<Vec<Term>, AclError> {
    let mut p = Parser {
        lex: Lexer {
            chars: src.chars().peekable(),
            line: 1,
            col: 1,
        },
        peeked: None,
    };
    let mut out = Vec::new();
    loop {
        if let (Tok::Eof, ..) = p.peek()? {
            return Ok(out);
        }
        let t = p.term()?;
        match p.next()? {
            (Tok::Dot, ..) => out.push(t),
            (tok, line, col) => {
                return Err(AclError {
                    line,
                    col,
                    message: format!("expected '.' after the rule, found {}", show(&tok)),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_with_comments_escapes_and_positions() {
        let src = "%% c\n{allow, 'and', [\"a\\\\d\" \"b\", 12]}.\n  {deny, all}. % end\n";
        let t = parse_terms(src).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].line, t[0].col), (2, 1));
        assert_eq!((t[1].line, t[1].col), (3, 3));
        let TermKind::Tuple(items) = &t[0].kind else {
            panic!()
        };
        assert_eq!(items[1].kind, TermKind::Atom("and".into()));
        let TermKind::List(l) = &items[2].kind else {
            panic!()
        };
        assert_eq!(l[0].kind, TermKind::Str("a\\db".into()));
        assert_eq!(l[1].kind, TermKind::Int(12));
    }

    #[test]
    fn syntax_errors_have_line_and_column() {
        let e = parse_terms("{allow, all}.\n{deny, all\n").unwrap_err();
        assert_eq!((e.line, e.col), (3, 1));
        let e = parse_terms("{allow, all}\n{deny, all}.").unwrap_err();
        assert_eq!(
            (e.line, e.col, e.message.as_str()),
            (2, 1, "expected '.' after the rule, found '{'")
        );
        let e = parse_terms("{allow, \"open}.").unwrap_err();
        assert_eq!((e.line, e.col), (1, 9));
        let e = parse_terms("{allow, All}.").unwrap_err();
        assert_eq!((e.line, e.col), (1, 9));
    }
}
