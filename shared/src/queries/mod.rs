//! Named SQL queries: the files of `sql/queries/`, compiled into the binary (see `build.rs`),
//! their parameter checks and the result cache.
//!
//! * `header` — the file format and the value checks (plain `std`, shared with `build.rs`).
//! * `cache`  — the result cache (Lakebase or a bounded in-memory map) and the single-flight
//!   table that makes identical concurrent requests run one statement.

pub mod cache;
pub mod header;

pub use header::{HeaderError, Literal, ParamDef, ParamType, QueryDef, Scope};

use crate::error::FieldError;
use serde_json::{json, Value};
use std::sync::LazyLock;

mod files {
    include!(concat!(env!("OUT_DIR"), "/queries.rs"));
}

static ALL: LazyLock<Vec<QueryDef>> = LazyLock::new(|| {
    files::FILES
        .iter()
        .map(|(file, text)| header::parse(file, text).unwrap_or_else(|e| panic!("{e}")))
        .collect()
});

/// Every named query, sorted by name.
pub fn all() -> &'static [QueryDef] {
    &ALL
}

pub fn by_name(name: &str) -> Option<&'static QueryDef> {
    ALL.iter().find(|q| q.name == name)
}

/// A literal as JSON: numbers and booleans as themselves, the rest (DECIMAL included, to keep
/// its digits) as strings.
pub fn literal_json(l: &Literal) -> Value {
    match l {
        Literal::Text(t) => json!(t),
        Literal::Int(n) => json!(n),
        Literal::Float(f) => json!(f),
        Literal::Bool(b) => json!(b),
    }
}

/// One query as `GET /api/queries` lists it.
pub fn describe(q: &QueryDef) -> Value {
    json!({
        "name": q.name,
        "description": q.description,
        "parameters": q.params.iter().map(|p| json!({
            "name": p.name,
            "type": p.ty.sql_name(),
            "default": p.default.as_ref().map(literal_json),
        })).collect::<Vec<_>>(),
        "cache_seconds": q.cache_seconds,
        "scope": q.scope.as_str(),
    })
}

/// A parameter ready for the Statement Execution API: `value` None is SQL NULL.
#[derive(Clone, Debug, PartialEq)]
pub struct Bound {
    pub name: String,
    pub value: Option<String>,
    pub type_name: String,
}

impl Bound {
    /// `{"name","value","type"}` (`value` omitted for NULL, as the API asks).
    pub fn to_json(&self) -> Value {
        let mut v = json!({"name": self.name, "type": self.type_name});
        if let Some(value) = &self.value {
            v["value"] = json!(value);
        }
        v
    }
}

/// Check a `{"parameters": {NAME: value}}` body against the query's declarations. Every problem
/// is listed (missing, unknown, wrong type, out of range); `null` is SQL NULL even where a
/// default exists, an omitted parameter takes its default.
pub fn bind(q: &QueryDef, body: &Value) -> Result<Vec<Bound>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let err = |field: String, message: String| FieldError { field, message };
    let empty = serde_json::Map::new();
    let given = match body {
        Value::Null => &empty,
        Value::Object(o) => {
            for key in o.keys().filter(|k| *k != "parameters") {
                errors.push(err(
                    key.clone(),
                    "unknown field; allowed: parameters".into(),
                ));
            }
            match o.get("parameters") {
                None | Some(Value::Null) => &empty,
                Some(Value::Object(p)) => p,
                Some(_) => {
                    errors.push(err(
                        "parameters".into(),
                        "must be an object of parameter values".into(),
                    ));
                    &empty
                }
            }
        }
        _ => {
            return Err(vec![err(
                "body".into(),
                "must be an object {\"parameters\": {…}}".into(),
            )])
        }
    };
    for key in given.keys() {
        if !q.params.iter().any(|p| &p.name == key) {
            let known: Vec<&str> = q.params.iter().map(|p| p.name.as_str()).collect();
            errors.push(err(
                format!("parameters.{key}"),
                if known.is_empty() {
                    "unknown parameter: this query takes none".into()
                } else {
                    format!("unknown parameter; this query takes {}", known.join(", "))
                },
            ));
        }
    }
    let mut bound = Vec::with_capacity(q.params.len());
    for p in &q.params {
        let field = format!("parameters.{}", p.name);
        let value = match given.get(&p.name) {
            Some(Value::Null) => None,
            Some(v) => match check_value(p.ty, v) {
                Ok(l) => Some(l.to_sql_text()),
                Err(m) => {
                    errors.push(err(field, m));
                    continue;
                }
            },
            None => match &p.default {
                Some(d) => Some(d.to_sql_text()),
                None => {
                    errors.push(err(
                        field,
                        format!("missing: this {} parameter has no default", p.ty.sql_name()),
                    ));
                    continue;
                }
            },
        };
        bound.push(Bound {
            name: p.name.clone(),
            value,
            type_name: p.ty.sql_name(),
        });
    }
    if errors.is_empty() {
        Ok(bound)
    } else {
        Err(errors)
    }
}

/// One JSON value against a type: "wrong type" or "out of range" messages.
pub fn check_value(ty: ParamType, v: &Value) -> Result<Literal, String> {
    let wrong = |what: &str| {
        let got = match v {
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
            Value::Null => "null",
        };
        format!("wrong type: {} needs {what}, got {got}", ty.sql_name())
    };
    match ty {
        ParamType::String => v
            .as_str()
            .map(|s| Literal::Text(s.to_string()))
            .ok_or_else(|| wrong("a string")),
        ParamType::Int | ParamType::Bigint => match v {
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    return header::check_int(ty, i).map(Literal::Int);
                }
                let f = n.as_f64().unwrap_or(f64::NAN);
                if n.is_u64() || (f.is_finite() && f.fract() == 0.0) {
                    Err(format!("{n} is out of range for {}", ty.sql_name()))
                } else {
                    Err(wrong("an integer"))
                }
            }
            _ => Err(wrong("an integer")),
        },
        ParamType::Double => v
            .as_f64()
            .filter(|_| v.is_number())
            .map(Literal::Float)
            .ok_or_else(|| wrong("a number")),
        ParamType::Decimal { precision, scale } => {
            let text = match v {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.clone(),
                _ => return Err(wrong("a number or a decimal string")),
            };
            header::check_decimal(&text, precision, scale).map(Literal::Text)
        }
        ParamType::Boolean => v
            .as_bool()
            .map(Literal::Bool)
            .ok_or_else(|| wrong("true or false")),
        ParamType::Date => {
            let s = v.as_str().ok_or_else(|| wrong("a string YYYY-MM-DD"))?;
            header::check_date(s).map(|_| Literal::Text(s.to_string()))
        }
        ParamType::Timestamp => {
            let s = v.as_str().ok_or_else(|| wrong("an RFC 3339 string"))?;
            header::check_timestamp(s).map(|_| Literal::Text(s.to_string()))
        }
    }
}

/// The cache key: the query, whose answer it is (the user for `@scope user`, everyone for
/// `@scope app`) and the bound values, hashed.
pub fn cache_key(q: &QueryDef, user: &str, bound: &[Bound]) -> String {
    let mut text = String::new();
    text.push_str(&q.name);
    text.push('\0');
    if q.scope == Scope::User {
        text.push_str(user);
    }
    for b in bound {
        text.push('\0');
        text.push_str(&b.name);
        text.push('\0');
        match &b.value {
            Some(v) => {
                text.push('=');
                text.push_str(v);
            }
            None => text.push('N'),
        }
    }
    crate::util::hex(&crate::util::sha256(text.as_bytes()))
}

#[cfg(test)]
mod tests;
