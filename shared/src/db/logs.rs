//! The model-serving tables: `model_inference_logs` and `schema_detection_events`. Small typed
//! helpers so the functions that own these rows (model serving, schema detection) never write
//! SQL or worry about parameter types.

use super::{sql, RequestClient};
use crate::error::ApiError;
use serde_json::Value;
use time::OffsetDateTime;

/// One model invocation to record. `inputs` / `predictions` should already be cut to size.
#[derive(Clone, Debug)]
pub struct NewInferenceLog<'a> {
    pub request_id: &'a str,
    pub endpoint_name: &'a str,
    pub user_id: &'a str,
    /// `SUCCESS`, `FAILURE`, `TIMEOUT`, …
    pub status: &'a str,
    pub inputs: Option<&'a Value>,
    pub predictions: Option<&'a Value>,
    pub error_message: Option<&'a str>,
    pub execution_time_ms: Option<i64>,
    pub created_at: OffsetDateTime,
    pub completed_at: Option<OffsetDateTime>,
}

/// A row of `model_inference_logs` as `GET /api/model-serving/logs` shows it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct InferenceLog {
    pub request_id: String,
    pub endpoint_name: String,
    pub status: String,
    pub inputs: Option<Value>,
    pub predictions: Option<Value>,
    pub error_message: Option<String>,
    pub execution_time_ms: Option<i64>,
    /// RFC 3339 UTC with `Z`.
    pub created_at: String,
    pub completed_at: Option<String>,
}

/// Insert one invocation; returns its id.
pub async fn insert_inference_log(
    client: &RequestClient,
    log: &NewInferenceLog<'_>,
) -> Result<i64, ApiError> {
    let row = client
        .query_one(
            sql::INFERENCE_LOG_INSERT,
            &[
                &log.request_id,
                &log.endpoint_name,
                &log.user_id,
                &log.status,
                &log.inputs,
                &log.predictions,
                &log.error_message,
                &log.execution_time_ms,
                &log.created_at,
                &log.completed_at,
            ],
        )
        .await?;
    Ok(row.get(0))
}

/// One page of `user_id`'s invocations, newest first, and their total count.
pub async fn list_inference_logs(
    client: &RequestClient,
    user_id: &str,
    limit: i64,
    offset: i64,
) -> Result<(Vec<InferenceLog>, i64), ApiError> {
    let rows = client
        .query(sql::INFERENCE_LOGS_LIST, &[&user_id, &limit, &offset])
        .await?;
    let total = match rows.first() {
        Some(row) => row.get::<_, i64>(9),
        None => client
            .query_one(sql::INFERENCE_LOGS_COUNT, &[&user_id])
            .await?
            .get(0),
    };
    let logs = rows
        .iter()
        .map(|row| InferenceLog {
            request_id: row.get(0),
            endpoint_name: row.get(1),
            status: row.get(2),
            inputs: row.get(3),
            predictions: row.get(4),
            error_message: row.get(5),
            execution_time_ms: row.get(6),
            created_at: crate::util::rfc3339(row.get(7)),
            completed_at: row
                .get::<_, Option<OffsetDateTime>>(8)
                .map(crate::util::rfc3339),
        })
        .collect();
    Ok((logs, total))
}

/// One schema detection to record.
#[derive(Clone, Debug)]
pub struct NewSchemaDetection<'a> {
    pub endpoint_name: &'a str,
    pub user_id: &'a str,
    /// `FOUNDATION_MODEL`, `EXTERNAL_MODEL`, `MLFLOW_MODEL` or `UNKNOWN`.
    pub detected_type: &'a str,
    /// `SUCCESS`, `FAILURE` or `TIMEOUT`.
    pub status: &'a str,
    pub latency_ms: i64,
    pub error_message: Option<&'a str>,
    pub correlation_id: Option<&'a str>,
}

/// Insert one detection; returns its id.
pub async fn insert_schema_detection(
    client: &RequestClient,
    event: &NewSchemaDetection<'_>,
) -> Result<i64, ApiError> {
    let row = client
        .query_one(
            sql::SCHEMA_DETECTION_INSERT,
            &[
                &event.endpoint_name,
                &event.user_id,
                &event.detected_type,
                &event.status,
                &event.latency_ms,
                &event.error_message,
                &event.correlation_id,
            ],
        )
        .await?;
    Ok(row.get(0))
}
