//! Input-schema detection for serving endpoints (`GET /api/model-serving/endpoints/{name}/schema`):
//! foundation and external models answer from their task at once; MLflow models read the
//! endpoint's OpenAPI document, then the `MLmodel` signature, inside a 5 s budget.

use super::client::{map_upstream_error, DatabricksClient, UpstreamError};
use super::retry::{self, Deadline, Failure, Policy};
use super::serving::{entities, text, WHAT};
use crate::error::ApiError;
use crate::secret::Secret;
use crate::util::percent_encode;
use crate::Method;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// MLflow schema detection must finish within 5 s.
pub const DETECTION_BUDGET: Duration = Duration::from_secs(5);
use super::serving::{endpoint_type, task, EXTERNAL_MODEL, FOUNDATION_MODEL, MLFLOW_MODEL};

/// The answer of `GET /api/model-serving/endpoints/{name}/schema`; every field present.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Detection {
    pub endpoint_name: String,
    pub detected_type: &'static str,
    /// `SUCCESS`, `FAILURE` or `TIMEOUT`.
    pub status: &'static str,
    /// `chat`, `completions`, `embeddings`, `dataframe_split` or `inputs`.
    pub input_format: Option<&'static str>,
    pub schema: Value,
    pub example_json: Value,
    pub error_message: Option<String>,
    pub latency_ms: f64,
    pub detected_at: String,
}

/// What to send when nothing better is known.
pub fn generic_example() -> Value {
    json!({"inputs": {"input": "value"}, "_comment": "No input schema was detected: replace this with the input your model expects."})
}

/// Detect the input schema of an endpoint already fetched (`endpoint`): foundation and external
/// models from the task, MLflow models from the OpenAPI document then the `MLmodel` signature
/// within `budget`. `Err` only for 403 (permission denied).
pub async fn detect(
    client: &Arc<DatabricksClient>,
    token: &Secret,
    endpoint: &Value,
    started: Instant,
    budget: Duration,
) -> Result<Detection, ApiError> {
    let name = text(endpoint, "name").unwrap_or_default();
    let detected_type = endpoint_type(endpoint);
    let finish = |status, format, schema, example, error: Option<String>| Detection {
        endpoint_name: name.clone(),
        detected_type,
        status,
        input_format: format,
        schema,
        example_json: example,
        error_message: error,
        latency_ms: (started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
        detected_at: crate::util::now_rfc3339(),
    };
    match detected_type {
        FOUNDATION_MODEL | EXTERNAL_MODEL => {
            let (format, schema, example) = llm_schema(task(endpoint).as_deref());
            Ok(finish("SUCCESS", Some(format), schema, example, None))
        }
        MLFLOW_MODEL => {
            let deadline = Deadline::after(budget);
            let found = tokio::time::timeout(budget, mlflow_schema(client, token, endpoint, &name, deadline)).await;
            match found {
                Err(_) | Ok(Err(MlflowError::Timeout)) => Ok(finish(
                    "TIMEOUT",
                    None,
                    Value::Null,
                    generic_example(),
                    Some(format!(
                        "Schema detection did not finish within {} s; the example is generic.",
                        budget.as_secs()
                    )),
                )),
                Ok(Err(MlflowError::Denied(e))) => Err(e),
                Ok(Err(MlflowError::NotFound(message))) => Ok(finish(
                    "FAILURE",
                    None,
                    Value::Null,
                    generic_example(),
                    Some(message),
                )),
                Ok(Ok(found)) => Ok(finish(
                    "SUCCESS",
                    Some(found.format),
                    found.schema,
                    found.example,
                    None,
                )),
            }
        }
        _ => Ok(finish(
            "FAILURE",
            None,
            Value::Null,
            generic_example(),
            Some("The endpoint's model type could not be determined; consult the model's documentation for its input format.".into()),
        )),
    }
}

/// `(input_format, JSON Schema, example)` of an LLM task.
fn llm_schema(task: Option<&str>) -> (&'static str, Value, Value) {
    let task = task.unwrap_or("").to_ascii_lowercase();
    let knobs = json!({
        "max_tokens": {"type": "integer", "minimum": 1},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
    });
    let with_knobs = |mut props: Map<String, Value>| {
        if let Some(k) = knobs.as_object() {
            props.extend(k.clone());
        }
        Value::Object(props)
    };
    if task.contains("embeddings") {
        (
            "embeddings",
            json!({"type": "object", "required": ["input"], "properties": {
                "input": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
            }}),
            json!({"input": ["Databricks Apps bring data and AI to everyone."]}),
        )
    } else if task.contains("completions") && !task.contains("chat") {
        let mut props = Map::new();
        props.insert(
            "prompt".into(),
            json!({"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}),
        );
        (
            "completions",
            json!({"type": "object", "required": ["prompt"], "properties": with_knobs(props)}),
            json!({"prompt": "Write a haiku about data lakes.", "max_tokens": 150, "temperature": 0.7}),
        )
    } else {
        let mut props = Map::new();
        props.insert(
            "messages".into(),
            json!({"type": "array", "items": {"type": "object", "required": ["role", "content"], "properties": {
                "role": {"type": "string", "enum": ["system", "user", "assistant"]},
                "content": {"type": "string"}
            }}}),
        );
        (
            "chat",
            json!({"type": "object", "required": ["messages"], "properties": with_knobs(props)}),
            json!({"messages": [
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": "Hello, how can you help me?"}
            ], "max_tokens": 150, "temperature": 0.7}),
        )
    }
}

struct Found {
    format: &'static str,
    schema: Value,
    example: Value,
}

enum MlflowError {
    Timeout,
    Denied(ApiError),
    /// No schema anywhere; the message says where we looked.
    NotFound(String),
}

async fn mlflow_schema(
    client: &Arc<DatabricksClient>,
    token: &Secret,
    endpoint: &Value,
    name: &str,
    deadline: Deadline,
) -> Result<Found, MlflowError> {
    let openapi = retry::call(
        client,
        "serving",
        Method::Get,
        &format!(
            "/api/2.0/serving-endpoints/{}/openapi",
            percent_encode(name)
        ),
        token,
        None,
        deadline,
        Policy::TRANSIENT,
    )
    .await;
    let openapi_problem = match openapi {
        Ok(response) => {
            match serde_json::from_slice::<Value>(&response.body)
                .ok()
                .and_then(|doc| from_openapi(&doc))
            {
                Some(found) => return Ok(found),
                None => "the endpoint's OpenAPI document has no usable request schema".to_string(),
            }
        }
        Err(Failure::DeadlineExceeded { .. }) => return Err(MlflowError::Timeout),
        Err(Failure::Upstream { error, .. }) => match &error {
            UpstreamError::Api {
                status: 401 | 403, ..
            } => return Err(MlflowError::Denied(map_upstream_error(&error, WHAT))),
            other => format!("the endpoint's OpenAPI document is not available ({other})"),
        },
    };
    // Fallback: the MLmodel file of the first UC-registered served model.
    let model = entities(endpoint).into_iter().find_map(|e| {
        let name = text(e, "entity_name").or_else(|| text(e, "model_name"))?;
        let version = text(e, "entity_version").or_else(|| text(e, "model_version"))?;
        let parts: Vec<&str> = name.split('.').collect();
        (parts.len() == 3).then(|| {
            (
                parts
                    .iter()
                    .map(|p| percent_encode(p))
                    .collect::<Vec<_>>()
                    .join("/"),
                version,
            )
        })
    });
    let Some((path, version)) = model else {
        return Err(MlflowError::NotFound(format!(
            "No input schema found: {openapi_problem}, and the served model is not a Unity Catalog model whose MLmodel file could be read."
        )));
    };
    let mlmodel = retry::call(
        client,
        "files",
        Method::Get,
        &format!(
            "/api/2.0/fs/files/Models/{path}/{}/MLmodel",
            percent_encode(&version)
        ),
        token,
        None,
        deadline,
        Policy::TRANSIENT,
    )
    .await;
    match mlmodel {
        Ok(response) => {
            let yaml = String::from_utf8_lossy(&response.body);
            match signature_inputs(&yaml).and_then(|inputs| from_signature(&inputs)) {
                Some(found) => Ok(found),
                None => Err(MlflowError::NotFound(format!(
                    "No input schema found: {openapi_problem}, and the model's MLmodel file has no input signature."
                ))),
            }
        }
        Err(Failure::DeadlineExceeded { .. }) => Err(MlflowError::Timeout),
        Err(Failure::Upstream { error, .. }) => Err(MlflowError::NotFound(format!(
            "No input schema found: {openapi_problem}, and the model's MLmodel file could not be read ({}).",
            match &error {
                UpstreamError::Api { status, error_code, .. } => format!("HTTP {status} {error_code}"),
                other => other.to_string(),
            }
        ))),
    }
}

/// The request schema of `POST …/invocations` in an endpoint's OpenAPI document, and an example
/// built from it. Variants (`oneOf`/`anyOf`) are tried in the order MLflow recommends.
fn from_openapi(doc: &Value) -> Option<Found> {
    let paths = doc.get("paths")?.as_object()?;
    let schema = paths.iter().find_map(|(path, item)| {
        if !path.ends_with("/invocations") {
            return None;
        }
        item.pointer("/post/requestBody/content/application~1json/schema")
    })?;
    let schema = resolve(doc, schema, 0);
    let variants: Vec<Value> = ["oneOf", "anyOf"]
        .iter()
        .filter_map(|k| schema.get(*k).and_then(Value::as_array))
        .flatten()
        .map(|v| resolve(doc, v, 0))
        .collect();
    let candidates = if variants.is_empty() {
        vec![schema.clone()]
    } else {
        variants
    };
    let has = |v: &Value, key: &str| v.pointer(&format!("/properties/{key}")).is_some();
    for key in [
        "dataframe_split",
        "dataframe_records",
        "inputs",
        "instances",
    ] {
        let Some(variant) = candidates.iter().find(|v| has(v, key)) else {
            continue;
        };
        let part = resolve(doc, &variant["properties"][key], 0);
        let example = match key {
            "dataframe_split" => dataframe_split_from_schema(doc, &part)
                .unwrap_or_else(|| json!({key: example_from_schema(doc, &part, 0)})),
            "dataframe_records" => {
                let record = resolve(doc, part.get("items").unwrap_or(&Value::Null), 0);
                let columns = record.get("properties").and_then(Value::as_object);
                match columns {
                    Some(cols) if !cols.is_empty() => json!({"dataframe_split": {
                        "columns": cols.keys().collect::<Vec<_>>(),
                        "data": [cols.values().map(|c| example_from_schema(doc, c, 0)).collect::<Vec<_>>()],
                    }}),
                    _ => json!({key: [example_from_schema(doc, &record, 0)]}),
                }
            }
            _ => json!({key: example_from_schema(doc, &part, 0)}),
        };
        let format = if example.get("dataframe_split").is_some() {
            "dataframe_split"
        } else {
            "inputs"
        };
        return Some(Found {
            format,
            schema: variant.clone(),
            example,
        });
    }
    let only = candidates.first()?;
    Some(Found {
        format: "inputs",
        schema: only.clone(),
        example: example_from_schema(doc, only, 0),
    })
}

/// `dataframe_split` with its columns named by the schema (`columns.items.enum`, or
/// `prefixItems` of `const`s) and one row of examples from `data.items.prefixItems`.
fn dataframe_split_from_schema(doc: &Value, part: &Value) -> Option<Value> {
    let columns_schema = resolve(doc, part.pointer("/properties/columns")?, 0);
    let names: Vec<Value> = if let Some(e) = columns_schema
        .pointer("/items/enum")
        .and_then(Value::as_array)
    {
        e.clone()
    } else {
        columns_schema
            .get("prefixItems")
            .and_then(Value::as_array)?
            .iter()
            .filter_map(|c| c.get("const").or_else(|| c.pointer("/enum/0")).cloned())
            .collect()
    };
    if names.is_empty() {
        return None;
    }
    let row_types = part
        .pointer("/properties/data/items/prefixItems")
        .and_then(Value::as_array);
    let row: Vec<Value> = (0..names.len())
        .map(|i| match row_types.and_then(|t| t.get(i)) {
            Some(t) => example_from_schema(doc, t, 0),
            None => Value::from("example"),
        })
        .collect();
    Some(json!({"dataframe_split": {"columns": names, "data": [row]}}))
}

/// Follow a local `$ref` (`#/components/schemas/X`), a few levels deep.
fn resolve(doc: &Value, schema: &Value, depth: usize) -> Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) if depth < 8 => match r.strip_prefix('#').and_then(|p| doc.pointer(p)) {
            Some(target) => resolve(doc, target, depth + 1),
            None => Value::Null,
        },
        _ => schema.clone(),
    }
}

/// A value that fits a JSON Schema: `example`/`default`/`enum` first, else by `type`.
fn example_from_schema(doc: &Value, schema: &Value, depth: usize) -> Value {
    let schema = resolve(doc, schema, 0);
    if depth > 8 {
        return Value::Null;
    }
    if let Some(v) = schema.get("example").or_else(|| schema.get("default")) {
        return v.clone();
    }
    if let Some(v) = schema.get("const").or_else(|| schema.pointer("/enum/0")) {
        return v.clone();
    }
    if let Some(first) = ["oneOf", "anyOf"]
        .iter()
        .find_map(|k| schema.get(*k).and_then(|v| v.get(0)))
    {
        return example_from_schema(doc, first, depth + 1);
    }
    let ty = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ if schema.get("items").is_some() => "array",
        _ => "",
    };
    match ty {
        "string" => match schema.get("format").and_then(Value::as_str) {
            Some("date-time") => Value::from("2026-01-01T00:00:00Z"),
            Some("date") => Value::from("2026-01-01"),
            _ => Value::from("example"),
        },
        "integer" => Value::from(1),
        "number" => Value::from(1.5),
        "boolean" => Value::Bool(true),
        "array" => match schema.get("prefixItems").and_then(Value::as_array) {
            Some(items) => Value::Array(
                items
                    .iter()
                    .map(|i| example_from_schema(doc, i, depth + 1))
                    .collect(),
            ),
            None => Value::Array(vec![example_from_schema(
                doc,
                schema.get("items").unwrap_or(&Value::Null),
                depth + 1,
            )]),
        },
        "object" => Value::Object(
            schema
                .get("properties")
                .and_then(Value::as_object)
                .map(|props| {
                    props
                        .iter()
                        .map(|(k, v)| (k.clone(), example_from_schema(doc, v, depth + 1)))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        _ => Value::Null,
    }
}

/// The `signature.inputs` JSON of an `MLmodel` YAML file (reference §8.3: a JSON *string* inside
/// YAML, single-quoted and possibly folded over several lines). A small reader for exactly that
/// shape, instead of a YAML dependency.
pub fn signature_inputs(yaml: &str) -> Option<Value> {
    let lines: Vec<&str> = yaml.lines().collect();
    let start = lines.iter().position(|l| l.trim_end() == "signature:")?;
    let mut i = start + 1;
    while i < lines.len() {
        let line = lines[i];
        if !line.starts_with(' ') && !line.trim().is_empty() {
            return None;
        }
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("inputs:") {
            let indent = line.len() - trimmed.len();
            let mut scalar = rest.trim().to_string();
            // Continuation lines are indented deeper than the key.
            let mut j = i + 1;
            while j < lines.len() {
                let next = lines[j];
                let next_indent = next.len() - next.trim_start().len();
                if next.trim().is_empty() || next_indent <= indent {
                    break;
                }
                scalar.push(' ');
                scalar.push_str(next.trim());
                j += 1;
            }
            let json_text = if let Some(inner) = scalar.strip_prefix('\'') {
                inner.strip_suffix('\'')?.replace("''", "'")
            } else if let Some(inner) = scalar.strip_prefix('"') {
                serde_json::from_str::<String>(&format!("\"{}", inner)).ok()?
            } else {
                scalar
            };
            if json_text == "null" || json_text.is_empty() {
                return None;
            }
            return serde_json::from_str(&json_text).ok();
        }
        i += 1;
    }
    None
}

/// An example from MLflow signature inputs: `dataframe_split` for named columns, `inputs` for
/// tensors (and for a single unnamed column).
fn from_signature(inputs: &Value) -> Option<Found> {
    let specs = inputs.as_array().filter(|a| !a.is_empty())?;
    let is_tensor = specs
        .iter()
        .any(|s| s.get("type").and_then(Value::as_str) == Some("tensor"));
    let example = if is_tensor {
        let tensor = |s: &Value| {
            let dtype = s
                .pointer("/tensor-spec/dtype")
                .and_then(Value::as_str)
                .unwrap_or("float64");
            let shape: Vec<i64> = s
                .pointer("/tensor-spec/shape")
                .and_then(Value::as_array)
                .map(|d| d.iter().filter_map(Value::as_i64).collect())
                .unwrap_or_default();
            tensor_example(dtype, &shape)
        };
        let named: Vec<(&str, &Value)> = specs
            .iter()
            .filter_map(|s| Some((s.get("name")?.as_str()?, s)))
            .collect();
        if named.len() == specs.len() && specs.len() > 1 {
            json!({"inputs": named.into_iter().map(|(n, s)| (n.to_string(), tensor(s))).collect::<Map<_, _>>()})
        } else {
            json!({"inputs": tensor(&specs[0])})
        }
    } else {
        let names: Option<Vec<&str>> = specs
            .iter()
            .map(|s| s.get("name").and_then(Value::as_str))
            .collect();
        let row: Vec<Value> = specs.iter().map(column_example).collect();
        match names {
            Some(names) => json!({"dataframe_split": {"columns": names, "data": [row]}}),
            None => json!({"inputs": row}),
        }
    };
    let format = if example.get("dataframe_split").is_some() {
        "dataframe_split"
    } else {
        "inputs"
    };
    Some(Found {
        format,
        schema: inputs.clone(),
        example,
    })
}

fn column_example(spec: &Value) -> Value {
    match spec.get("type").and_then(Value::as_str).unwrap_or("") {
        "double" | "float" => Value::from(1.5),
        "integer" | "long" => Value::from(1),
        "boolean" => Value::Bool(true),
        "string" => Value::from("example"),
        "binary" => Value::from(""),
        "datetime" => Value::from("2026-01-01T00:00:00Z"),
        "array" => Value::Array(vec![column_example(
            spec.get("items").unwrap_or(&Value::Null),
        )]),
        "object" => Value::Object(
            spec.get("properties")
                .and_then(Value::as_object)
                .map(|p| {
                    p.iter()
                        .map(|(k, v)| (k.clone(), column_example(v)))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        "map" => json!({"key": column_example(spec.get("values").unwrap_or(&Value::Null))}),
        _ => Value::Null,
    }
}

/// Nested arrays of `shape` (variable dimensions as 1, each dimension capped at 8 so an image
/// signature does not produce megabytes of example).
fn tensor_example(dtype: &str, shape: &[i64]) -> Value {
    let leaf = if dtype.starts_with("float") {
        Value::from(0.5)
    } else if dtype.starts_with("int") || dtype.starts_with("uint") {
        Value::from(1)
    } else if dtype == "bool" {
        Value::Bool(true)
    } else {
        Value::from("example")
    };
    shape.iter().rev().take(6).fold(leaf, |inner, &d| {
        let n = if d < 1 { 1 } else { d.min(8) as usize };
        Value::Array(vec![inner; n])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_read_from_mlmodel_yaml() {
        let yaml = "artifact_path: model\nflavors:\n  python_function: {}\nsignature:\n  inputs: '[{\"type\": \"double\", \"name\": \"x\", \"required\": true}, {\"type\":\n    \"string\", \"name\": \"it''s\", \"required\": true}]'\n  outputs: '[{\"type\": \"long\"}]'\n  params: null\nutc_time_created: x\n";
        let inputs = signature_inputs(yaml).unwrap();
        assert_eq!(inputs[1]["name"], "it's");
        let found = from_signature(&inputs).unwrap();
        assert_eq!(found.format, "dataframe_split");
        assert_eq!(
            found.example,
            json!({"dataframe_split": {"columns": ["x", "it's"], "data": [[1.5, "example"]]}})
        );
        let tensor =
            json!([{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 3]}}]);
        let found = from_signature(&tensor).unwrap();
        assert_eq!(
            (found.format, found.example),
            ("inputs", json!({"inputs": [[0.5, 0.5, 0.5]]}))
        );
        assert!(signature_inputs("flavors: {}\n").is_none());
    }

    #[test]
    fn llm_tasks_pick_their_format() {
        assert_eq!(llm_schema(Some("llm/v1/chat")).0, "chat");
        assert_eq!(llm_schema(Some("llm/v1/completions")).0, "completions");
        assert_eq!(llm_schema(Some("llm/v1/embeddings")).0, "embeddings");
        assert_eq!(llm_schema(None).0, "chat");
    }
}
