//! The header of a named query file (`sql/queries/NAME.sql`) and the checks of parameter values.
//!
//! Plain `std` on purpose: `shared/build.rs` includes this file as a module to check every query
//! while compiling, so a malformed header fails the build with the file and line; the server
//! parses the same text with the same code at startup.
//!
//! A file starts with comment lines; those beginning `-- @` declare the query:
//!
//! ```sql
//! -- @description Tables of one schema
//! -- @param catalog STRING
//! -- @param max_rows INT default 100
//! -- @cache 300
//! -- @scope user
//! SELECT … WHERE table_catalog = :catalog …
//! ```

use std::fmt;

/// The longest cache lifetime a file may ask for (7 days).
pub const MAX_CACHE_SECONDS: u64 = 7 * 24 * 3600;
/// DECIMAL precision limit (the warehouse's own).
pub const MAX_DECIMAL_PRECISION: u32 = 38;

/// A parameter's declared type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamType {
    String,
    Int,
    Bigint,
    Double,
    Decimal { precision: u32, scale: u32 },
    Boolean,
    Date,
    Timestamp,
}

impl ParamType {
    /// The name sent as the Statement Execution parameter `type` (and shown by the list).
    pub fn sql_name(&self) -> String {
        match self {
            ParamType::String => "STRING".into(),
            ParamType::Int => "INT".into(),
            ParamType::Bigint => "BIGINT".into(),
            ParamType::Double => "DOUBLE".into(),
            ParamType::Decimal { precision, scale } => format!("DECIMAL({precision},{scale})"),
            ParamType::Boolean => "BOOLEAN".into(),
            ParamType::Date => "DATE".into(),
            ParamType::Timestamp => "TIMESTAMP".into(),
        }
    }

    /// `STRING`, `INT`, …, `DECIMAL(p,s)` (case-insensitive, blanks allowed inside the
    /// parentheses).
    pub fn parse(text: &str) -> Result<ParamType, String> {
        let upper = text.trim().to_ascii_uppercase();
        let simple = match upper.as_str() {
            "STRING" => Some(ParamType::String),
            "INT" => Some(ParamType::Int),
            "BIGINT" => Some(ParamType::Bigint),
            "DOUBLE" => Some(ParamType::Double),
            "BOOLEAN" => Some(ParamType::Boolean),
            "DATE" => Some(ParamType::Date),
            "TIMESTAMP" => Some(ParamType::Timestamp),
            _ => None,
        };
        if let Some(t) = simple {
            return Ok(t);
        }
        let bad = || {
            format!("unknown type {text:?}: use STRING, INT, BIGINT, DOUBLE, DECIMAL(p,s), BOOLEAN, DATE or TIMESTAMP")
        };
        let inner = upper
            .strip_prefix("DECIMAL")
            .map(str::trim_start)
            .and_then(|r| r.strip_prefix('('))
            .and_then(|r| r.strip_suffix(')'))
            .ok_or_else(bad)?;
        let (p, s) = inner.split_once(',').ok_or_else(bad)?;
        let (p, s): (u32, u32) = match (p.trim().parse(), s.trim().parse()) {
            (Ok(p), Ok(s)) => (p, s),
            _ => return Err(bad()),
        };
        if p == 0 || p > MAX_DECIMAL_PRECISION || s > p {
            return Err(format!(
                "DECIMAL({p},{s}) is out of range: precision 1 to {MAX_DECIMAL_PRECISION}, scale 0 to the precision"
            ));
        }
        Ok(ParamType::Decimal {
            precision: p,
            scale: s,
        })
    }
}

/// A checked value of a parameter's type.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    /// STRING, DATE, TIMESTAMP and DECIMAL values (DECIMAL normalized, e.g. `-12.50`).
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Literal {
    /// The text sent as the parameter's `value`.
    pub fn to_sql_text(&self) -> String {
        match self {
            Literal::Text(t) => t.clone(),
            Literal::Int(n) => n.to_string(),
            Literal::Float(f) => f.to_string(),
            Literal::Bool(b) => b.to_string(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Cached answers are per user.
    User,
    /// Cached answers are shared by every user.
    App,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::App => "app",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ParamDef {
    pub name: String,
    pub ty: ParamType,
    pub default: Option<Literal>,
    /// The line of its `@param`.
    pub line: usize,
}

/// One parsed query file.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryDef {
    pub name: String,
    pub description: String,
    pub params: Vec<ParamDef>,
    pub cache_seconds: u64,
    pub scope: Scope,
    /// The statement sent to the warehouse: the file after its header, without a trailing `;`.
    pub sql: String,
}

/// A problem in a query file: `sql/queries/FILE:LINE: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sql/queries/{}:{}: {}",
            self.file, self.line, self.message
        )
    }
}

/// `^[a-z][a-z0-9_]{0,63}$`: query and parameter names.
pub fn is_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// Parse `file` (e.g. `tables_in_schema.sql`) with contents `text`.
pub fn parse(file: &str, text: &str) -> Result<QueryDef, HeaderError> {
    let err = |line: usize, message: String| HeaderError {
        file: file.to_string(),
        line,
        message,
    };
    let name = file
        .strip_suffix(".sql")
        .ok_or_else(|| err(1, "a query file's name must end in .sql".into()))?;
    if !is_name(name) {
        return Err(err(
            1,
            format!("the query name {name:?} must match ^[a-z][a-z0-9_]{{0,63}}$"),
        ));
    }
    let mut description: Option<String> = None;
    let mut params: Vec<ParamDef> = Vec::new();
    let mut cache: Option<u64> = None;
    let mut scope: Option<Scope> = None;
    let mut body_start: Option<usize> = None;
    let lines: Vec<&str> = text.lines().collect();
    for (i, raw) in lines.iter().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        let comment = line.strip_prefix("--").map(str::trim);
        let directive = comment.and_then(|c| c.strip_prefix('@'));
        if body_start.is_none() && !line.is_empty() && comment.is_none() {
            body_start = Some(i);
        }
        let Some(directive) = directive else { continue };
        if body_start.is_some() {
            return Err(err(
                line_no,
                "a `-- @` declaration after the statement began: declarations belong in the header at the top".into(),
            ));
        }
        let (word, rest) = match directive.split_once(char::is_whitespace) {
            Some((w, r)) => (w, r.trim()),
            None => (directive, ""),
        };
        match word {
            "description" => {
                if description.is_some() {
                    return Err(err(line_no, "a second @description".into()));
                }
                if rest.is_empty() {
                    return Err(err(line_no, "@description needs a text".into()));
                }
                description = Some(rest.to_string());
            }
            "cache" => {
                if cache.is_some() {
                    return Err(err(line_no, "a second @cache".into()));
                }
                let seconds: u64 = rest.parse().map_err(|_| {
                    err(
                        line_no,
                        format!(
                            "@cache needs a whole number of seconds (0 = no cache), got {rest:?}"
                        ),
                    )
                })?;
                if seconds > MAX_CACHE_SECONDS {
                    return Err(err(
                        line_no,
                        format!(
                            "@cache {seconds} is more than {MAX_CACHE_SECONDS} seconds (7 days)"
                        ),
                    ));
                }
                cache = Some(seconds);
            }
            "scope" => {
                if scope.is_some() {
                    return Err(err(line_no, "a second @scope".into()));
                }
                scope = Some(match rest {
                    "user" => Scope::User,
                    "app" => Scope::App,
                    _ => {
                        return Err(err(
                            line_no,
                            format!("@scope must be user or app, got {rest:?}"),
                        ))
                    }
                });
            }
            "param" => {
                let p = parse_param(rest, line_no).map_err(|m| err(line_no, m))?;
                if params.iter().any(|q| q.name == p.name) {
                    return Err(err(line_no, format!("a second @param {}", p.name)));
                }
                params.push(p);
            }
            other => {
                return Err(err(
                    line_no,
                    format!(
                        "unknown declaration @{other}: use @description, @param, @cache or @scope"
                    ),
                ))
            }
        }
    }
    let description = description.ok_or_else(|| err(1, "the header has no @description".into()))?;
    let start = body_start.ok_or_else(|| {
        err(
            lines.len().max(1),
            "the file has no statement after its header".into(),
        )
    })?;
    let placeholders = placeholders(&lines[start..].join("\n"));
    for (name, offset) in &placeholders {
        if !params.iter().any(|p| &p.name == name) {
            return Err(err(
                start + offset + 1,
                format!("the placeholder :{name} has no @param {name}"),
            ));
        }
    }
    for p in &params {
        if !placeholders.iter().any(|(n, _)| n == &p.name) {
            return Err(err(
                p.line,
                format!(
                    "@param {} is not used: the statement has no :{}",
                    p.name, p.name
                ),
            ));
        }
    }
    let mut sql = lines[start..].join("\n").trim_end().to_string();
    while sql.ends_with(';') {
        sql.pop();
        sql.truncate(sql.trim_end().len());
    }
    Ok(QueryDef {
        name: name.to_string(),
        description,
        params,
        cache_seconds: cache.unwrap_or(0),
        scope: scope.unwrap_or(Scope::User),
        sql,
    })
}

/// `NAME TYPE [default VALUE]`.
fn parse_param(rest: &str, line: usize) -> Result<ParamDef, String> {
    let usage = "@param needs NAME TYPE [default VALUE]";
    let (name, after) = rest.split_once(char::is_whitespace).ok_or(usage)?;
    if !is_name(name) {
        return Err(format!(
            "the parameter name {name:?} must match ^[a-z][a-z0-9_]{{0,63}}$"
        ));
    }
    let after = after.trim_start();
    // DECIMAL(p, s) may hold blanks: the type runs to its closing parenthesis.
    let type_end = if after.to_ascii_uppercase().starts_with("DECIMAL") && after.contains('(') {
        after
            .find(')')
            .map(|i| i + 1)
            .ok_or("DECIMAL( without its )")?
    } else {
        after.find(char::is_whitespace).unwrap_or(after.len())
    };
    let ty = ParamType::parse(&after[..type_end])?;
    let tail = after[type_end..].trim();
    let default = if tail.is_empty() {
        None
    } else {
        let (keyword, value) = tail.split_once(char::is_whitespace).unwrap_or((tail, ""));
        if !keyword.eq_ignore_ascii_case("default") {
            return Err(format!("unexpected {tail:?} after the type: {usage}"));
        }
        let value = value.trim();
        if value.is_empty() {
            return Err("default needs a value".into());
        }
        Some(parse_default(ty, value).map_err(|m| format!("default {value}: {m}"))?)
    };
    Ok(ParamDef {
        name: name.to_string(),
        ty,
        default,
        line,
    })
}

/// A default as written in the header: strings may be in single quotes (`''` for a quote).
fn parse_default(ty: ParamType, value: &str) -> Result<Literal, String> {
    let unquoted = value
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .filter(|_| value.len() >= 2)
        .map(|v| v.replace("''", "'"));
    match ty {
        ParamType::String => Ok(Literal::Text(unquoted.unwrap_or_else(|| value.to_string()))),
        ParamType::Int | ParamType::Bigint => {
            let n: i64 = value.parse().map_err(|_| "not an integer".to_string())?;
            check_int(ty, n).map(Literal::Int)
        }
        ParamType::Double => value
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Literal::Float)
            .ok_or_else(|| "not a finite number".into()),
        ParamType::Boolean => match value.to_ascii_lowercase().as_str() {
            "true" => Ok(Literal::Bool(true)),
            "false" => Ok(Literal::Bool(false)),
            _ => Err("must be true or false".into()),
        },
        ParamType::Decimal { precision, scale } => {
            check_decimal(unquoted.as_deref().unwrap_or(value), precision, scale).map(Literal::Text)
        }
        ParamType::Date => {
            let v = unquoted.unwrap_or_else(|| value.to_string());
            check_date(&v).map(|_| Literal::Text(v))
        }
        ParamType::Timestamp => {
            let v = unquoted.unwrap_or_else(|| value.to_string());
            check_timestamp(&v).map(|_| Literal::Text(v))
        }
    }
}

/// INT is 32-bit, BIGINT 64-bit.
pub fn check_int(ty: ParamType, n: i64) -> Result<i64, String> {
    if ty == ParamType::Int && i32::try_from(n).is_err() {
        return Err(format!(
            "{n} is out of range for INT ({} to {})",
            i32::MIN,
            i32::MAX
        ));
    }
    Ok(n)
}

/// A decimal number in plain notation (`-12.5`, `3`, `.5` not allowed) that fits DECIMAL(p,s):
/// at most p−s digits before the point and s after. Returns it normalized (no `+`, no leading
/// zeros).
pub fn check_decimal(text: &str, precision: u32, scale: u32) -> Result<String, String> {
    let t = text.trim();
    let (negative, digits) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let ok = !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
        && !(digits.contains('.') && frac.is_empty());
    if !ok {
        return Err(format!("{text:?} is not a decimal number such as -12.50"));
    }
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    if int.len() as u32 > precision - scale || frac.len() as u32 > scale {
        return Err(format!(
            "{text} is out of range for DECIMAL({precision},{scale}) (at most {} digits before the point and {scale} after)",
            precision - scale
        ));
    }
    let mut out = String::new();
    if negative && (!int.is_empty() || !frac.is_empty()) {
        out.push('-');
    }
    out.push_str(if int.is_empty() { "0" } else { int });
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    Ok(out)
}

fn number(text: &str, len: usize) -> Option<u32> {
    (text.len() == len && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// `YYYY-MM-DD`, a real calendar day.
pub fn check_date(text: &str) -> Result<(), String> {
    let bad = || format!("{text:?} is not a date YYYY-MM-DD");
    let mut parts = text.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let (Some(y), Some(m), Some(d)) = (number(y, 4), number(m, 2), number(d, 2)) else {
        return Err(bad());
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => {
            return Err(format!(
                "{text:?} is out of range: month {m} does not exist"
            ))
        }
    };
    if d == 0 || d > days {
        return Err(format!(
            "{text:?} is out of range: {y}-{m:02} has no day {d}"
        ));
    }
    Ok(())
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` (RFC 3339; a blank may stand for the `T`).
pub fn check_timestamp(text: &str) -> Result<(), String> {
    let bad = || {
        format!("{text:?} is not a timestamp such as 2026-01-31T12:00:00Z (RFC 3339, with Z or an offset)")
    };
    if text.len() < 20 || !text.is_char_boundary(10) {
        return Err(bad());
    }
    let (date, rest) = text.split_at(10);
    check_date(date)?;
    let rest = rest
        .strip_prefix('T')
        .or_else(|| rest.strip_prefix('t'))
        .or_else(|| rest.strip_prefix(' '))
        .ok_or_else(bad)?;
    let (time, zone) = if let Some(t) = rest.strip_suffix(['Z', 'z']) {
        (t, None)
    } else if rest.len() > 6 && rest.is_char_boundary(rest.len() - 6) {
        let (t, z) = rest.split_at(rest.len() - 6);
        (t, Some(z))
    } else {
        return Err(bad());
    };
    let (hms, fraction) = time.split_once('.').unwrap_or((time, "0"));
    let mut parts = hms.split(':');
    let (Some(h), Some(mi), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let (Some(h), Some(mi), Some(s)) = (number(h, 2), number(mi, 2), number(s, 2)) else {
        return Err(bad());
    };
    if fraction.is_empty() || fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    if h > 23 || mi > 59 || s > 60 {
        return Err(format!(
            "{text:?} is out of range: no time {h:02}:{mi:02}:{s:02}"
        ));
    }
    if let Some(zone) = zone {
        let sign_ok = zone.starts_with('+') || zone.starts_with('-');
        let (zh, zm) = zone[1..].split_once(':').ok_or_else(bad)?;
        match (sign_ok, number(zh, 2), number(zm, 2)) {
            (true, Some(zh), Some(zm)) if zh <= 23 && zm <= 59 => {}
            _ => return Err(bad()),
        }
    }
    Ok(())
}

/// Every `:name` marker of `sql` with the 0-based line it is on, skipping string literals,
/// quoted identifiers, comments and `::` casts.
pub fn placeholders(sql: &str) -> Vec<(String, usize)> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut line = 0usize;
    let mut i = 0usize;
    let skip_to = |i: &mut usize, line: &mut usize, end: &[u8]| {
        while *i < b.len() && !b[*i..].starts_with(end) {
            if b[*i] == b'\n' {
                *line += 1;
            }
            // A backslash escapes the next character inside a literal.
            if b[*i] == b'\\' && end.len() == 1 && end[0] != b'`' {
                *i += 1;
                if *i < b.len() && b[*i] == b'\n' {
                    *line += 1;
                }
            }
            *i += 1;
        }
        *i += end.len();
    };
    while i < b.len() {
        match b[i] {
            b'\n' => {
                line += 1;
                i += 1;
            }
            q @ (b'\'' | b'"' | b'`') => {
                i += 1;
                skip_to(&mut i, &mut line, &[q]);
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                skip_to(&mut i, &mut line, b"*/");
            }
            b':' if b.get(i + 1) == Some(&b':') => i += 2,
            b':' if b
                .get(i + 1)
                .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_') =>
            {
                let start = i + 1;
                i = start;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                out.push((sql[start..i].to_string(), line));
            }
            _ => i += 1,
        }
    }
    out
}
