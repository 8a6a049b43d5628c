//! What the three admin metrics functions share: the `time_range` parameter, the embedded SQL,
//! and running one read-only statement with enough `work_mem` for its in-memory aggregation.
//! The statements themselves (and the rule for raw versus aggregated hours) are in `sql/`.

use shared::{ApiError, Request};
use time::OffsetDateTime;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use shared::sql;

pub const PERFORMANCE_SQL: &str = sql!("metrics_performance.sql");
pub const USAGE_SQL: &str = sql!("metrics_usage.sql");
pub const TIME_SERIES_SQL: &str = sql!("metrics_time_series.sql");
const BOUNDS_SQL: &str = sql!("metrics_bounds.sql");

/// The `time_range` parameter (parsed by `common::time_range`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeRange {
    pub label: &'static str,
    seconds: u64,
}

impl TimeRange {
    /// `?time_range=`, default `24h`; anything else is 400 naming the allowed values.
    pub fn from_request(req: &Request) -> Result<TimeRange, ApiError> {
        let (label, length) = crate::common::time_range(req)?;
        Ok(TimeRange {
            label,
            seconds: length.as_secs(),
        })
    }

    /// The range as a Postgres interval literal (the statements' `$1`).
    pub fn interval(self) -> String {
        format!("{} seconds", self.seconds)
    }

    /// The time series' default spacing: hours up to 7 days, days beyond.
    pub fn default_step(self) -> &'static str {
        if self.seconds <= 7 * 24 * 3600 {
            "hour"
        } else {
            "day"
        }
    }
}

/// 400 `INVALID_REQUEST` for a query parameter outside its allowed values.
pub fn invalid(name: &str, value: &str, allowed: &str) -> ApiError {
    let shown: String = value.chars().take(64).collect();
    ApiError::invalid_request(format!(
        "{name}={shown:?} is not supported: use one of {allowed}."
    ))
}

/// An optional free-text filter (`endpoint`): empty means absent; at most 255 characters and
/// no control characters, else 400.
pub fn filter(req: &Request, name: &str) -> Result<Option<String>, ApiError> {
    match req.query_value(name)? {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) if v.chars().count() > 255 || v.chars().any(char::is_control) => {
            Err(ApiError::invalid_request(format!(
                "{name} must be at most 255 characters without control characters."
            )))
        }
        Some(v) => Ok(Some(v)),
    }
}

/// The range a query covers, from the database's clock (`metrics_bounds.sql`).
pub struct Bounds {
    /// The start of the UTC hour `time_range` ago.
    pub start: OffsetDateTime,
    /// Now.
    pub end: OffsetDateTime,
    /// The start of the current UTC hour.
    pub hour_start: OffsetDateTime,
}

/// Which bounds a statement takes as its first parameters.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum BoundParams {
    /// `$1` start, `$2` end.
    Range,
    /// `$1` start, `$2` end, `$3` start of the current hour.
    RangeAndHour,
}

/// Run one statement over `range` in a read-only transaction: the bounds first (from the
/// transaction's clock), then the statement with the bounds as its first parameters and
/// `params` after them. One statement sees one snapshot, which is what makes the
/// raw/aggregated split exact.
pub async fn query(
    ctx: &shared::Ctx,
    range: TimeRange,
    statement: &str,
    bounds: BoundParams,
    params: &[&(dyn ToSql + Sync)],
) -> Result<(Bounds, Vec<Row>), ApiError> {
    // One aggregate over up to 90 days: the admin deadline, not a user function's.
    let mut client = ctx
        .db()
        .await?
        .with_deadline(shared::db::ADMIN_STATEMENT_DEADLINE);
    let tx = client.transaction(true).await?;
    tx.batch_execute(shared::db::sql::METRICS_SESSION).await?;
    let row = tx.query_one(BOUNDS_SQL, &[&range.interval()]).await?;
    let b = Bounds {
        start: row.get("start_time"),
        end: row.get("end_time"),
        hour_start: row.get("hour_start"),
    };
    let mut all: Vec<&(dyn ToSql + Sync)> = vec![&b.start, &b.end];
    if bounds == BoundParams::RangeAndHour {
        all.push(&b.hour_start);
    }
    all.extend_from_slice(params);
    let rows = tx.query(statement, &all).await?;
    tx.commit().await?;
    drop(all);
    Ok((b, rows))
}

/// RFC 3339 UTC with `Z`.
pub fn time(t: OffsetDateTime) -> String {
    shared::util::rfc3339(t)
}

/// `part / whole`, `None` when `whole` is 0.
pub fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(query: &str) -> Request {
        Request {
            query: query.into(),
            ..Request::default()
        }
    }

    #[test]
    fn time_ranges_default_to_24h_and_name_the_allowed_values() {
        let day = TimeRange::from_request(&req("")).unwrap();
        assert_eq!((day.label, day.default_step()), ("24h", "hour"));
        let week = TimeRange::from_request(&req("time_range=7d")).unwrap();
        assert_eq!(week.default_step(), "hour");
        let quarter = TimeRange::from_request(&req("time_range=90d")).unwrap();
        assert_eq!(quarter.interval(), "7776000 seconds");
        assert_eq!(quarter.default_step(), "day");
        let e = TimeRange::from_request(&req("time_range=1y")).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.message.contains("24h, 7d, 30d, 90d"), "{}", e.message);
    }

    #[test]
    fn filters_are_optional_and_bounded() {
        assert_eq!(filter(&req("endpoint="), "endpoint").unwrap(), None);
        assert_eq!(
            filter(&req("endpoint=%2Fapi%2Fx"), "endpoint").unwrap(),
            Some("/api/x".into())
        );
        let long = format!("endpoint={}", "a".repeat(256));
        assert_eq!(filter(&req(&long), "endpoint").unwrap_err().status(), 400);
        assert_eq!(ratio(1, 4), Some(0.25));
        assert_eq!(ratio(0, 0), None);
    }
}
