//! Small helpers shared by several functions: the preference-key rule, `time_range`, and the
//! field checks of hand-validated bodies. Not a function module (the registry test skips it).

use shared::error::FieldError;
use shared::{ApiError, Request};
use std::time::Duration;

pub const MAX_PREFERENCE_KEY: usize = 100;
pub const PREFERENCE_KEY_RULE: &str =
    "must match ^[a-z][a-z0-9_]{0,99}$ (a lowercase letter, then lowercase letters, digits or _; at most 100 characters)";

/// `^[a-z][a-z0-9_]{0,max-1}$`: preference keys (max 100) and event types (max 64).
pub fn is_snake_identifier(s: &str, max: usize) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= max
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

pub fn is_preference_key(s: &str) -> bool {
    is_snake_identifier(s, MAX_PREFERENCE_KEY)
}

/// SPEC §6.2 `time_range`: `24h`, `7d`, `30d` or `90d` (default `24h`).
pub const TIME_RANGES: [(&str, u64); 4] = [
    ("24h", 24 * 3600),
    ("7d", 7 * 24 * 3600),
    ("30d", 30 * 24 * 3600),
    ("90d", 90 * 24 * 3600),
];

pub const TIME_RANGE_SCHEMA: &str =
    r#"{"type":"string","enum":["24h","7d","30d","90d"],"default":"24h"}"#;

/// The `time_range` query parameter: its label and length; 400 `INVALID_REQUEST` naming the
/// allowed values for anything else.
pub fn time_range(req: &Request) -> Result<(&'static str, Duration), ApiError> {
    let value = req.query_value("time_range")?;
    let wanted = value.as_deref().unwrap_or("24h");
    TIME_RANGES
        .iter()
        .find(|(label, _)| *label == wanted)
        .map(|(label, secs)| (*label, Duration::from_secs(*secs)))
        .ok_or_else(|| {
            ApiError::invalid_request(format!(
                "time_range={wanted:?} is not supported: use one of 24h, 7d, 30d, 90d."
            ))
        })
}

pub fn field_error(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

/// Report every key of `object` that is not in `allowed` as `prefix.key: unknown field`.
pub fn unknown_fields(
    object: &serde_json::Map<String, serde_json::Value>,
    allowed: &[&str],
    prefix: &str,
    errors: &mut Vec<FieldError>,
) {
    for key in object.keys() {
        if !allowed.contains(&key.as_str()) {
            errors.push(field_error(
                format!("{prefix}{key}"),
                format!("unknown field; allowed: {}", allowed.join(", ")),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_time_ranges() {
        assert!(is_preference_key("theme"));
        assert!(is_preference_key(&format!("a{}", "b".repeat(99))));
        assert!(!is_preference_key(&format!("a{}", "b".repeat(100))));
        for bad in ["", "Theme", "1a", "a-b", "a b", "é"] {
            assert!(!is_preference_key(bad), "{bad}");
        }
        let req = |q: &str| Request {
            query: q.into(),
            ..Request::default()
        };
        assert_eq!(time_range(&req("")).unwrap().0, "24h");
        assert_eq!(
            time_range(&req("time_range=7d")).unwrap().1,
            Duration::from_secs(604800)
        );
        let e = time_range(&req("time_range=1y")).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.message.contains("24h, 7d, 30d, 90d"));
    }
}
