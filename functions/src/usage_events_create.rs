//! `POST /api/v1/metrics/usage-events`: store a batch of the caller's UI events, all or nothing
//! Takes `application/json` and `text/plain` (what `navigator.sendBeacon` sends).
//! 202 only after the rows are committed.
//!
//! The body is validated from `serde_json::Value` by hand so that every problem of every event
//! is listed (`events[3].event_type`), which serde's first-error-wins cannot do.

use crate::common::{check_nul, field_error, is_snake_identifier, unknown_fields, NUL_MESSAGE};
use serde_json::{Map, Value};
use shared::db::sql;
use shared::error::FieldError;
use shared::{
    util, ApiError, Auth, Ctx, ErrorCode, Function, Method, Request, RequestBody, Response,
};
use time::{Duration, OffsetDateTime};

pub const FUNCTION: Function = Function {
    name: "usage_events_create",
    method: Method::Post,
    path: "/api/v1/metrics/usage-events",
    auth: Auth::User,
    summary: "Store a batch of 1 to 1000 usage events for the caller (all or nothing)",
    query: &[],
    request_body: Some(
        r#"{"type":"object","additionalProperties":false,"required":["events"],"properties":{"events":{"type":"array","minItems":1,"maxItems":1000,"items":{"type":"object","additionalProperties":false,"required":["event_type","timestamp"],"properties":{"event_type":{"type":"string","pattern":"^[a-z][a-z0-9_]{0,63}$"},"page_name":{"type":["string","null"],"maxLength":255},"element_id":{"type":["string","null"],"maxLength":255},"success":{"type":["boolean","null"]},"metadata":{"type":["object","null"],"description":"At most 4 KiB serialized"},"timestamp":{"type":"string","format":"date-time","description":"Not more than 5 minutes in the future nor older than 7 days"}}}}}}"#,
    ),
    success_status: 202,
    response_body: Some(
        r#"{"type":"object","required":["accepted"],"properties":{"accepted":{"type":"integer"}}}"#,
    ),
    body: RequestBody::DEFAULT,
    handler: |ctx, req| Box::pin(handle(ctx, req)),
};

pub const MAX_EVENTS: usize = 1000;
const MAX_TEXT_CHARS: usize = 255;
const MAX_METADATA_BYTES: usize = 4 * 1024;
const EVENT_FIELDS: &[&str] = &[
    "event_type",
    "page_name",
    "element_id",
    "success",
    "metadata",
    "timestamp",
];

/// One valid event, ready for the insert.
struct Event {
    timestamp: OffsetDateTime,
    event_type: String,
    page_name: Option<String>,
    element_id: Option<String>,
    success: Option<bool>,
    metadata: Option<Value>,
}

fn validate(body: Value, now: OffsetDateTime) -> Result<Vec<Event>, ApiError> {
    let Value::Object(mut object) = body else {
        return Err(ApiError::validation(vec![field_error(
            "body",
            "must be a JSON object: {\"events\": [...]}",
        )]));
    };
    let mut errors = Vec::new();
    unknown_fields(&object, &["events"], "", &mut errors);
    let events = match object.remove("events") {
        Some(Value::Array(events)) => events,
        None | Some(Value::Null) => {
            errors.push(field_error("events", "is required"));
            Vec::new()
        }
        Some(_) => {
            errors.push(field_error("events", "must be an array of events"));
            Vec::new()
        }
    };
    if events.len() > MAX_EVENTS {
        return Err(ApiError::new(
            ErrorCode::BatchTooLarge,
            format!(
                "The batch has {} events; send at most {MAX_EVENTS} per request.",
                events.len()
            ),
        ));
    }
    if events.is_empty() && errors.is_empty() {
        errors.push(field_error("events", "must hold at least one event"));
    }
    let mut valid = Vec::with_capacity(events.len());
    for (i, event) in events.into_iter().enumerate() {
        if let Some(e) = validate_event(event, &format!("events[{i}]"), now, &mut errors) {
            valid.push(e);
        }
    }
    if errors.is_empty() {
        Ok(valid)
    } else {
        Err(ApiError::validation(errors))
    }
}

fn validate_event(
    event: Value,
    at: &str,
    now: OffsetDateTime,
    errors: &mut Vec<FieldError>,
) -> Option<Event> {
    let before = errors.len();
    let Value::Object(mut e) = event else {
        errors.push(field_error(at, "must be an object"));
        return None;
    };
    unknown_fields(&e, EVENT_FIELDS, &format!("{at}."), errors);
    let event_type = match e.remove("event_type") {
        Some(Value::String(t)) if is_snake_identifier(&t, 64) => Some(t),
        Some(Value::String(_)) => {
            errors.push(field_error(
                format!("{at}.event_type"),
                "must match ^[a-z][a-z0-9_]{0,63}$",
            ));
            None
        }
        None | Some(Value::Null) => {
            errors.push(field_error(format!("{at}.event_type"), "is required"));
            None
        }
        Some(_) => {
            errors.push(field_error(format!("{at}.event_type"), "must be a string"));
            None
        }
    };
    let mut text = |name: &str, e: &mut Map<String, Value>| match e.remove(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.contains('\0') => {
            errors.push(field_error(format!("{at}.{name}"), NUL_MESSAGE));
            None
        }
        Some(Value::String(s)) if s.chars().count() <= MAX_TEXT_CHARS => Some(s),
        Some(Value::String(_)) => {
            errors.push(field_error(
                format!("{at}.{name}"),
                format!("must be at most {MAX_TEXT_CHARS} characters"),
            ));
            None
        }
        Some(_) => {
            errors.push(field_error(
                format!("{at}.{name}"),
                "must be a string or null",
            ));
            None
        }
    };
    let page_name = text("page_name", &mut e);
    let element_id = text("element_id", &mut e);
    let success = match e.remove("success") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(b),
        Some(_) => {
            errors.push(field_error(
                format!("{at}.success"),
                "must be true, false or null",
            ));
            None
        }
    };
    let metadata = match e.remove("metadata") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => {
            check_nul(&v, &format!("{at}.metadata"), errors);
            let size = serde_json::to_vec(&v)
                .map(|b| b.len())
                .unwrap_or(usize::MAX);
            if size > MAX_METADATA_BYTES {
                errors.push(field_error(
                    format!("{at}.metadata"),
                    format!(
                        "is {size} bytes serialized; the limit is {MAX_METADATA_BYTES} (4 KiB)"
                    ),
                ));
            }
            Some(v)
        }
        Some(_) => {
            errors.push(field_error(
                format!("{at}.metadata"),
                "must be an object or null",
            ));
            None
        }
    };
    let timestamp = match e.remove("timestamp") {
        Some(Value::String(s)) => match util::parse_rfc3339(&s) {
            Some(t) if t > now + Duration::minutes(5) => {
                errors.push(field_error(
                    format!("{at}.timestamp"),
                    "is more than 5 minutes in the future",
                ));
                None
            }
            Some(t) if t < now - Duration::days(7) => {
                errors.push(field_error(
                    format!("{at}.timestamp"),
                    "is older than 7 days",
                ));
                None
            }
            Some(t) => Some(t),
            None => {
                errors.push(field_error(
                    format!("{at}.timestamp"),
                    "must be an RFC 3339 date-time such as 2026-01-31T12:00:00Z",
                ));
                None
            }
        },
        None | Some(Value::Null) => {
            errors.push(field_error(format!("{at}.timestamp"), "is required"));
            None
        }
        Some(_) => {
            errors.push(field_error(
                format!("{at}.timestamp"),
                "must be an RFC 3339 date-time string",
            ));
            None
        }
    };
    if errors.len() > before {
        return None;
    }
    Some(Event {
        timestamp: timestamp?,
        event_type: event_type?,
        page_name,
        element_id,
        success,
        metadata,
    })
}

pub async fn handle(ctx: Ctx, req: Request) -> Result<Response, ApiError> {
    let user = ctx.user()?;
    let events = validate(req.json_value(true)?, OffsetDateTime::now_utc())?;
    let n = events.len();
    let mut timestamp = Vec::with_capacity(n);
    let mut event_type = Vec::with_capacity(n);
    let mut page_name = Vec::with_capacity(n);
    let mut element_id = Vec::with_capacity(n);
    let mut success = Vec::with_capacity(n);
    let mut metadata = Vec::with_capacity(n);
    for e in events {
        timestamp.push(e.timestamp);
        event_type.push(e.event_type);
        page_name.push(e.page_name);
        element_id.push(e.element_id);
        success.push(e.success);
        metadata.push(e.metadata);
    }
    let client = ctx.db().await?;
    // One statement: atomic on its own, committed when it returns.
    let inserted = client
        .execute(
            sql::USAGE_EVENTS_INSERT,
            &[
                &timestamp,
                &event_type,
                &user.user_name,
                &page_name,
                &element_id,
                &success,
                &metadata,
            ],
        )
        .await?;
    Response::json(202, &serde_json::json!({ "accepted": inserted }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(e: ApiError) -> Vec<String> {
        e.details.unwrap()["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn every_problem_of_every_event_is_listed() {
        let now = OffsetDateTime::now_utc();
        let ok = util::rfc3339(now);
        let old = util::rfc3339(now - Duration::days(8));
        let future = util::rfc3339(now + Duration::minutes(6));
        let body = json!({"events": [
            {"event_type": "page_view", "timestamp": ok, "page_name": "home", "success": null, "metadata": {"a": 1}},
            {"event_type": "Bad", "timestamp": old},
            {"timestamp": future, "success": "yes", "extra": 1},
            {"event_type": "click", "timestamp": "yesterday", "page_name": "x".repeat(256), "metadata": {"a": "x".repeat(5000)}},
            7
        ]});
        let e = validate(body, now).err().unwrap();
        assert_eq!(e.status(), 422);
        assert_eq!(
            fields(e),
            [
                "events[1].event_type",
                "events[1].timestamp",
                "events[2].extra",
                "events[2].event_type",
                "events[2].success",
                "events[2].timestamp",
                "events[3].page_name",
                "events[3].metadata",
                "events[3].timestamp",
                "events[4]"
            ]
        );
    }

    #[test]
    fn batch_size_rules() {
        let now = OffsetDateTime::now_utc();
        let event = json!({"event_type": "click", "timestamp": util::rfc3339(now)});
        assert_eq!(
            fields(validate(json!({"events": []}), now).err().unwrap()),
            ["events"]
        );
        assert_eq!(fields(validate(json!({}), now).err().unwrap()), ["events"]);
        let too_many = json!({"events": vec![event.clone(); 1001]});
        assert_eq!(
            validate(too_many, now).err().unwrap().code,
            ErrorCode::BatchTooLarge
        );
        let max = json!({"events": vec![event; 1000]});
        assert_eq!(validate(max, now).ok().unwrap().len(), 1000);
    }
}
