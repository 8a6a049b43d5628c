//! Every header rule, the parameter checks and the shipped files.

use super::header::{parse, placeholders};
use super::*;
use serde_json::json;

fn bad(file: &str, text: &str) -> HeaderError {
    parse(file, text).expect_err("must be rejected")
}

const OK: &str = "-- @description Demo\n-- @param n INT default 5\n-- @param s STRING\n-- @cache 30\n-- @scope app\nSELECT :n, :s;\n";

#[test]
fn a_full_header_parses() {
    let q = parse("demo.sql", OK).unwrap();
    assert_eq!(q.name, "demo");
    assert_eq!(q.description, "Demo");
    assert_eq!(q.cache_seconds, 30);
    assert_eq!(q.scope, Scope::App);
    assert_eq!(q.params.len(), 2);
    assert_eq!(q.params[0].ty, ParamType::Int);
    assert_eq!(q.params[0].default, Some(Literal::Int(5)));
    assert_eq!(q.params[0].line, 2);
    assert_eq!(q.params[1].default, None);
    assert_eq!(q.sql, "SELECT :n, :s");
}

#[test]
fn defaults_cache_0_and_scope_user() {
    let q = parse("x.sql", "-- @description d\n-- a free comment\n\nSELECT 1").unwrap();
    assert_eq!(q.cache_seconds, 0);
    assert_eq!(q.scope, Scope::User);
    assert!(q.params.is_empty());
}

#[test]
fn file_names_must_be_snake_case() {
    for name in ["Bad.sql", "1x.sql", "a-b.sql", "x.txt"] {
        let e = bad(name, "-- @description d\nSELECT 1");
        assert_eq!(e.line, 1, "{name}");
    }
    let long = format!("a{}.sql", "b".repeat(64));
    assert!(bad(&long, "-- @description d\nSELECT 1")
        .message
        .contains("must match"));
    assert!(parse(
        &format!("a{}.sql", "b".repeat(63)),
        "-- @description d\nSELECT 1"
    )
    .is_ok());
}

#[test]
fn each_malformed_line_is_named() {
    let cases: &[(&str, usize, &str)] = &[
        ("SELECT 1", 1, "no @description"),
        ("-- @description\nSELECT 1", 1, "needs a text"),
        (
            "-- @description a\n-- @description b\nSELECT 1",
            2,
            "second @description",
        ),
        (
            "-- @description a\n-- @cache soon\nSELECT 1",
            2,
            "whole number",
        ),
        (
            "-- @description a\n-- @cache -1\nSELECT 1",
            2,
            "whole number",
        ),
        (
            "-- @description a\n-- @cache 999999999\nSELECT 1",
            2,
            "7 days",
        ),
        (
            "-- @description a\n-- @cache 1\n-- @cache 2\nSELECT 1",
            3,
            "second @cache",
        ),
        (
            "-- @description a\n-- @scope team\nSELECT 1",
            2,
            "user or app",
        ),
        (
            "-- @description a\n-- @scope app\n-- @scope user\nSELECT 1",
            3,
            "second @scope",
        ),
        (
            "-- @description a\n-- @owner me\nSELECT 1",
            2,
            "unknown declaration @owner",
        ),
        ("-- @description a\n-- @param x\nSELECT :x", 2, "NAME TYPE"),
        (
            "-- @description a\n-- @param X INT\nSELECT :X",
            2,
            "must match",
        ),
        (
            "-- @description a\n-- @param x TEXT\nSELECT :x",
            2,
            "unknown type",
        ),
        (
            "-- @description a\n-- @param x DECIMAL(0,0)\nSELECT :x",
            2,
            "out of range",
        ),
        (
            "-- @description a\n-- @param x DECIMAL(39,2)\nSELECT :x",
            2,
            "out of range",
        ),
        (
            "-- @description a\n-- @param x DECIMAL(5,6)\nSELECT :x",
            2,
            "out of range",
        ),
        (
            "-- @description a\n-- @param x DECIMAL(5\nSELECT :x",
            2,
            "DECIMAL(",
        ),
        (
            "-- @description a\n-- @param x INT maybe 3\nSELECT :x",
            2,
            "after the type",
        ),
        (
            "-- @description a\n-- @param x INT default\nSELECT :x",
            2,
            "needs a value",
        ),
        (
            "-- @description a\n-- @param x INT default 3.5\nSELECT :x",
            2,
            "not an integer",
        ),
        (
            "-- @description a\n-- @param x INT default 3000000000\nSELECT :x",
            2,
            "out of range for INT",
        ),
        (
            "-- @description a\n-- @param x DOUBLE default abc\nSELECT :x",
            2,
            "finite",
        ),
        (
            "-- @description a\n-- @param x BOOLEAN default yes\nSELECT :x",
            2,
            "true or false",
        ),
        (
            "-- @description a\n-- @param x DECIMAL(4,2) default 123.4\nSELECT :x",
            2,
            "out of range",
        ),
        (
            "-- @description a\n-- @param x DATE default 2026-02-30\nSELECT :x",
            2,
            "no day 30",
        ),
        (
            "-- @description a\n-- @param x TIMESTAMP default 2026-01-01\nSELECT :x",
            2,
            "not a timestamp",
        ),
        (
            "-- @description a\n-- @param x INT\n-- @param x INT\nSELECT :x",
            3,
            "second @param x",
        ),
        ("-- @description a\n-- nothing\n", 2, "no statement"),
        (
            "-- @description a\nSELECT 1\n-- @cache 5",
            3,
            "after the statement began",
        ),
        (
            "-- @description a\n-- @param x INT\nSELECT\n  :x, :y",
            4,
            "placeholder :y has no @param",
        ),
        (
            "-- @description a\n-- @param x INT\n-- @param y INT\nSELECT :x",
            3,
            "@param y is not used",
        ),
    ];
    for (text, line, needle) in cases {
        let e = bad("q.sql", text);
        assert_eq!(e.line, *line, "{text:?}: {e}");
        assert!(e.message.contains(needle), "{text:?}: {e}");
        assert!(
            e.to_string()
                .starts_with(&format!("sql/queries/q.sql:{line}: ")),
            "{e}"
        );
    }
}

#[test]
fn types_and_defaults() {
    let q = parse(
        "t.sql",
        "-- @description t\n-- @param a BIGINT default -9000000000\n-- @param b DOUBLE default 2.5\n-- @param c decimal( 10 , 2 ) default 012.50\n-- @param d BOOLEAN default TRUE\n-- @param e DATE default 2024-02-29\n-- @param f TIMESTAMP default 2026-01-31T12:00:00.5+01:00\n-- @param g STRING default 'it''s here'\nSELECT :a,:b,:c,:d,:e,:f,:g",
    )
    .unwrap();
    let d: Vec<_> = q
        .params
        .iter()
        .map(|p| p.default.clone().unwrap())
        .collect();
    assert_eq!(d[0], Literal::Int(-9_000_000_000));
    assert_eq!(d[1], Literal::Float(2.5));
    assert_eq!(q.params[2].ty.sql_name(), "DECIMAL(10,2)");
    assert_eq!(d[2], Literal::Text("12.5".into()));
    assert_eq!(d[3], Literal::Bool(true));
    assert_eq!(d[4], Literal::Text("2024-02-29".into()));
    assert_eq!(d[6], Literal::Text("it's here".into()));
    assert_eq!(describe(&q)["parameters"][2]["default"], json!("12.5"));
    assert_eq!(
        describe(&q)["parameters"][0]["default"],
        json!(-9_000_000_000i64)
    );
}

#[test]
fn placeholders_skip_literals_comments_and_casts() {
    let sql = "SELECT ':no', \":no\", `:no`, x::int -- :no\n/* :no\n */ , :yes1, 'a\\':no' , :yes2";
    let found = placeholders(sql);
    assert_eq!(
        found,
        vec![("yes1".to_string(), 2), ("yes2".to_string(), 2)]
    );
}

fn demo() -> QueryDef {
    parse(
        "demo.sql",
        "-- @description d\n-- @param i INT\n-- @param big BIGINT default 1\n-- @param x DOUBLE default 1\n-- @param m DECIMAL(5,2) default 1\n-- @param b BOOLEAN default false\n-- @param day DATE default 2026-01-01\n-- @param at TIMESTAMP default 2026-01-01T00:00:00Z\n-- @param s STRING default 'z'\nSELECT :i,:big,:x,:m,:b,:day,:at,:s",
    )
    .unwrap()
}

fn fields(body: serde_json::Value) -> Vec<(String, String)> {
    bind(&demo(), &body)
        .expect_err("invalid")
        .into_iter()
        .map(|e| (e.field, e.message))
        .collect()
}

#[test]
fn binding_takes_defaults_and_null() {
    let b = bind(&demo(), &json!({"parameters": {"i": 7, "s": null}})).unwrap();
    let get = |n: &str| b.iter().find(|x| x.name == n).unwrap().clone();
    assert_eq!(get("i").value.as_deref(), Some("7"));
    assert_eq!(get("i").type_name, "INT");
    assert_eq!(get("big").value.as_deref(), Some("1"));
    // null is SQL NULL even though `s` has a default; NULL omits `value`.
    assert_eq!(get("s").value, None);
    assert_eq!(get("s").to_json(), json!({"name": "s", "type": "STRING"}));
    assert_eq!(get("m").type_name, "DECIMAL(5,2)");
    let b = bind(
        &demo(),
        &json!({"parameters": {"i": -1, "m": "-123.45", "x": 1e3, "b": true, "day": "2024-02-29", "at": "2026-05-01 10:00:00Z"}}),
    )
    .unwrap();
    let values: Vec<_> = b
        .iter()
        .map(|x| x.value.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        values,
        [
            "-1",
            "1",
            "1000",
            "-123.45",
            "true",
            "2024-02-29",
            "2026-05-01 10:00:00Z",
            "z"
        ]
    );
}

#[test]
fn every_problem_is_listed() {
    let problems = fields(json!({
        "parameters": {"big": "1", "x": "2.0", "m": 1234.5, "b": 1, "day": "2026-13-01", "at": "yesterday", "s": 5, "extra": 1},
        "other": true,
    }));
    let find = |f: &str| {
        problems
            .iter()
            .find(|(field, _)| field == f)
            .unwrap_or_else(|| panic!("{f} not in {problems:?}"))
            .1
            .clone()
    };
    assert!(find("other").contains("unknown field"));
    assert!(find("parameters.extra").contains("unknown parameter"));
    assert!(find("parameters.i").contains("missing"));
    assert!(find("parameters.big").contains("wrong type"));
    assert!(find("parameters.x").contains("wrong type"));
    assert!(find("parameters.m").contains("out of range"));
    assert!(find("parameters.b").contains("wrong type"));
    assert!(find("parameters.day").contains("out of range"));
    assert!(find("parameters.at").contains("not a timestamp"));
    assert!(find("parameters.s").contains("wrong type"));
    assert_eq!(problems.len(), 10, "{problems:?}");
    let range = fields(json!({"parameters": {"i": 2147483648i64, "big": 1e30, "m": "0.001"}}));
    assert_eq!(range.len(), 3, "{range:?}");
    assert!(
        range.iter().all(|(_, m)| m.contains("out of range")),
        "{range:?}"
    );
    let frac = fields(json!({"parameters": {"i": 1.5}}));
    assert!(frac[0].1.contains("wrong type"));
    assert!(fields(json!([1]))[0].0 == "body");
    assert!(fields(json!({"parameters": [1]}))
        .iter()
        .any(|(f, _)| f == "parameters"));
}

#[test]
fn cache_keys_follow_scope_and_values() {
    let q = demo();
    let b1 = bind(&q, &json!({"parameters": {"i": 1}})).unwrap();
    let b2 = bind(&q, &json!({"parameters": {"i": 2}})).unwrap();
    let n = bind(&q, &json!({"parameters": {"i": 1, "s": null}})).unwrap();
    assert_eq!(cache_key(&q, "a", &b1), cache_key(&q, "a", &b1));
    assert_ne!(cache_key(&q, "a", &b1), cache_key(&q, "b", &b1));
    assert_ne!(cache_key(&q, "a", &b1), cache_key(&q, "a", &b2));
    assert_ne!(cache_key(&q, "a", &b1), cache_key(&q, "a", &n));
    let mut app = q.clone();
    app.scope = Scope::App;
    assert_eq!(cache_key(&app, "a", &b1), cache_key(&app, "b", &b1));
}

/// The shipped files: all parse (the build checked them too), at least two read
/// system.information_schema, and one of those has parameters and a cache.
#[test]
fn shipped_queries() {
    assert!(all().len() >= 2);
    let info: Vec<_> = all()
        .iter()
        .filter(|q| q.sql.contains("system.information_schema"))
        .collect();
    assert!(info.len() >= 2);
    assert!(info
        .iter()
        .any(|q| !q.params.is_empty() && q.cache_seconds > 0));
    assert!(all().windows(2).all(|w| w[0].name < w[1].name));
    assert!(by_name("tables_in_schema").is_some());
    assert!(by_name("nope").is_none());
}
