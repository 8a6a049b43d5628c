//! Unity Catalog REST (reference §5): catalogs, schemas and tables listed across every page,
//! identifier validation and quoting, and the mapping of UC failures to our error codes.
//!
//! Lists are always complete: `max_results=0` (server-chosen pages) and follow `next_page_token`
//! until it is absent or empty — a page may be empty and still carry a token.

use crate::databricks::retry::{self, Deadline, Failure, Policy};
use crate::databricks::{map_upstream_error, DatabricksClient, UpstreamError};
use crate::error::{ApiError, ErrorCode};
use crate::secret::Secret;
use crate::util::percent_encode;
use crate::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Budget of one listing (all its pages and retries).
pub const LIST_DEADLINE: Duration = Duration::from_secs(30);
/// A listing that needs more pages than this is a server loop, not a catalog.
const MAX_PAGES: usize = 10_000;
const WHAT: &str = "Unity Catalog";

/// 1–255 characters, no backtick, dot, NUL or control character. Checked before any
/// upstream call; `field` names the parameter in the message.
pub fn validate_identifier(field: &str, value: &str) -> Result<(), ApiError> {
    let problem = if value.is_empty() {
        Some("is empty")
    } else if value.chars().count() > 255 {
        Some("is longer than 255 characters")
    } else if value.contains('`') {
        Some("contains a backtick")
    } else if value.contains('.') {
        Some("contains a dot")
    } else if value.chars().any(char::is_control) {
        Some("contains a control character")
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(ApiError::new(
            ErrorCode::InvalidIdentifier,
            format!(
                "The {field} name {problem}: use 1–255 characters without backticks, dots or control characters."
            ),
        )
        .with_details(serde_json::json!({"errors": [{"field": field, "message": problem}]}))),
    }
}

/// `` `name` ``. Only for identifiers that passed `validate_identifier` (no backtick inside).
pub fn quote(identifier: &str) -> String {
    format!("`{identifier}`")
}

/// `` `c`.`s`.`t` ``.
pub fn quoted_table(catalog: &str, schema: &str, table: &str) -> String {
    format!("{}.{}.{}", quote(catalog), quote(schema), quote(table))
}

/// What a listing is of, for the not-found mapping: a 404 while listing schemas means the
/// catalog is missing, while listing tables the schema (or its catalog).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Catalogs,
    Schemas,
    Tables,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct ColumnInfo {
    pub name: Option<String>,
    pub type_name: Option<String>,
    pub type_text: Option<String>,
    /// Omitted upstream when false (`omitempty`), so a missing value reads as false.
    #[serde(default)]
    pub nullable: bool,
    pub comment: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct TableInfo {
    pub name: Option<String>,
    pub catalog_name: Option<String>,
    pub schema_name: Option<String>,
    pub full_name: Option<String>,
    pub table_type: Option<String>,
    pub owner: Option<String>,
    pub comment: Option<String>,
    #[serde(default)]
    pub columns: Vec<ColumnInfo>,
}

/// Every catalog name visible to the caller, sorted.
pub async fn catalog_names(
    client: &Arc<DatabricksClient>,
    token: &Secret,
) -> Result<Vec<String>, ApiError> {
    let items = list_all(
        client,
        token,
        "/api/2.1/unity-catalog/catalogs",
        &[],
        "catalogs",
        Level::Catalogs,
    )
    .await?;
    Ok(sorted_names(&items))
}

/// Every schema name of `catalog`, sorted. 404 `CATALOG_NOT_FOUND`.
pub async fn schema_names(
    client: &Arc<DatabricksClient>,
    token: &Secret,
    catalog: &str,
) -> Result<Vec<String>, ApiError> {
    let items = list_all(
        client,
        token,
        "/api/2.1/unity-catalog/schemas",
        &[("catalog_name", catalog)],
        "schemas",
        Level::Schemas,
    )
    .await?;
    Ok(sorted_names(&items))
}

/// Every table of `catalog.schema` (with columns), sorted by name. 404 `SCHEMA_NOT_FOUND`.
pub async fn tables(
    client: &Arc<DatabricksClient>,
    token: &Secret,
    catalog: &str,
    schema: &str,
    omit_columns: bool,
) -> Result<Vec<TableInfo>, ApiError> {
    let omit = if omit_columns { "true" } else { "false" };
    let items = list_all(
        client,
        token,
        "/api/2.1/unity-catalog/tables",
        &[
            ("catalog_name", catalog),
            ("schema_name", schema),
            ("omit_columns", omit),
            ("omit_properties", "true"),
        ],
        "tables",
        Level::Tables,
    )
    .await?;
    let mut tables: Vec<TableInfo> = items
        .into_iter()
        .filter_map(|item| match serde_json::from_value::<TableInfo>(item) {
            Ok(t) if t.name.is_some() => Some(t),
            // One odd entry must not hide the rest of the schema.
            Ok(_) => None,
            Err(e) => {
                log::warn!("skipping a Unity Catalog table entry brickbox cannot read: {e}");
                None
            }
        })
        .collect();
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(tables)
}

fn sorted_names(items: &[Value]) -> Vec<String> {
    let mut names: Vec<String> = items
        .iter()
        .filter_map(|i| i.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// All items of a paginated UC list, following `next_page_token` to the end.
pub async fn list_all(
    client: &Arc<DatabricksClient>,
    token: &Secret,
    path: &str,
    params: &[(&str, &str)],
    key: &str,
    level: Level,
) -> Result<Vec<Value>, ApiError> {
    let deadline = Deadline::after(LIST_DEADLINE);
    let mut items = Vec::new();
    let mut page_token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut query = String::from("max_results=0");
        for (k, v) in params {
            query.push_str(&format!("&{k}={}", percent_encode(v)));
        }
        if let Some(t) = &page_token {
            query.push_str(&format!("&page_token={}", percent_encode(t)));
        }
        let response = retry::call(
            client,
            "unity_catalog",
            Method::Get,
            &format!("{path}?{query}"),
            token,
            None,
            deadline,
            Policy::TRANSIENT,
        )
        .await
        .map_err(|f| map_failure(&f, level))?;
        let page: Value = serde_json::from_slice(&response.body).map_err(|e| {
            ApiError::new(
                ErrorCode::UpstreamError,
                "Unity Catalog answered with a body brickbox cannot read.",
            )
            .with_internal(format!("{path}: {e}"))
        })?;
        if let Some(list) = page.get(key).and_then(Value::as_array) {
            items.extend(list.iter().cloned());
        }
        match page.get("next_page_token").and_then(Value::as_str) {
            Some(next) if !next.is_empty() => {
                if page_token.as_deref() == Some(next) {
                    return Err(ApiError::new(
                        ErrorCode::UpstreamError,
                        "Unity Catalog returned the same page token twice; the listing cannot finish.",
                    ));
                }
                page_token = Some(next.to_string());
            }
            _ => return Ok(items),
        }
    }
    Err(ApiError::new(
        ErrorCode::UpstreamError,
        "Unity Catalog kept returning pages past any reasonable size; the listing was stopped.",
    ))
}

/// UC failures: `*_DOES_NOT_EXIST` (404, or the 400 "does not exist" quirk) → our not-found
/// codes, by the code when it says which object, else by what was being listed.
pub fn map_failure(failure: &Failure, level: Level) -> ApiError {
    let error = match failure {
        Failure::Upstream { error, .. } => error,
        Failure::DeadlineExceeded { last, .. } => {
            return ApiError::new(
                ErrorCode::ServiceUnavailable,
                "Unity Catalog did not answer in time; try again shortly.",
            )
            .with_retry_after(5)
            .with_internal(format!("deadline exceeded; last error: {last:?}"));
        }
    };
    if let UpstreamError::Api {
        status,
        error_code,
        message,
        ..
    } = error
    {
        let missing = *status == 404
            || (*status == 400
                && error_code == "INVALID_PARAMETER_VALUE"
                && message.to_lowercase().contains("does not exist"));
        if missing {
            let code = match error_code.as_str() {
                "CATALOG_DOES_NOT_EXIST" => ErrorCode::CatalogNotFound,
                "SCHEMA_DOES_NOT_EXIST" => ErrorCode::SchemaNotFound,
                "TABLE_DOES_NOT_EXIST" => ErrorCode::TableNotFound,
                _ => match level {
                    Level::Catalogs => ErrorCode::NotFound,
                    Level::Schemas => ErrorCode::CatalogNotFound,
                    Level::Tables => ErrorCode::SchemaNotFound,
                },
            };
            return not_found(code).with_internal(format!("HTTP {status} {error_code}: {message}"));
        }
    }
    map_upstream_error(error, WHAT)
}

/// The public not-found error for a UC object kind.
pub fn not_found(code: ErrorCode) -> ApiError {
    let message = match code {
        ErrorCode::CatalogNotFound => {
            "The catalog does not exist, or you cannot see it. Check the name with the catalogs list."
        }
        ErrorCode::SchemaNotFound => {
            "The schema does not exist, or you cannot see it. Check the name with the schemas list."
        }
        ErrorCode::TableNotFound => {
            "The table does not exist, or you cannot see it. Check the name with the table-names list."
        }
        _ => "The Unity Catalog object does not exist, or you cannot see it.",
    };
    ApiError::new(code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_checked() {
        for ok in ["main", "my-schema", "Ünïcode_表", &"x".repeat(255)] {
            assert!(validate_identifier("table", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a.b",
            "a`b",
            "a\0b",
            "a\nb",
            "a\u{7f}",
            &"x".repeat(256),
        ] {
            let e = validate_identifier("table", bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidIdentifier, "{bad:?}");
            assert!(e.message.starts_with("The table name"));
        }
        assert_eq!(quoted_table("c", "s s", "t"), "`c`.`s s`.`t`");
    }

    #[test]
    fn not_found_codes_follow_the_upstream_code_then_the_level() {
        let f = |status, code: &str, message: &str| Failure::Upstream {
            error: UpstreamError::Api {
                status,
                error_code: code.into(),
                message: message.into(),
                retry_after: None,
            },
            attempts: 1,
        };
        let code = |failure: Failure, level| map_failure(&failure, level).code;
        assert_eq!(
            code(f(404, "CATALOG_DOES_NOT_EXIST", "x"), Level::Tables),
            ErrorCode::CatalogNotFound
        );
        assert_eq!(
            code(f(404, "NOT_FOUND", "x"), Level::Schemas),
            ErrorCode::CatalogNotFound
        );
        assert_eq!(
            code(
                f(400, "INVALID_PARAMETER_VALUE", "Schema x does not exist"),
                Level::Tables
            ),
            ErrorCode::SchemaNotFound
        );
        assert_eq!(
            code(
                f(403, "PERMISSION_DENIED", "no USE CATALOG"),
                Level::Schemas
            ),
            ErrorCode::PermissionDenied
        );
        assert_eq!(
            code(f(403, "403", "Invalid access token."), Level::Schemas),
            ErrorCode::AuthInvalid
        );
        assert_eq!(
            code(f(429, "REQUEST_LIMIT_EXCEEDED", "x"), Level::Catalogs),
            ErrorCode::RateLimited
        );
        assert_eq!(
            code(f(500, "INTERNAL_ERROR", "x"), Level::Catalogs),
            ErrorCode::ServiceUnavailable
        );
    }
}
