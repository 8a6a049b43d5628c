//! Unity Catalog lists (reference §5): catalogs, schemas and tables, served in small pages with
//! an empty page carrying a token in between, 404 `*_DOES_NOT_EXIST`, and a catalog that one
//! user (CAROL) may not read.

use super::{scim, FakeRequest, FakeResponse};
use serde_json::{json, Value};
use std::collections::HashMap;

pub struct UcState {
    /// Deliberately unsorted: brickbox must sort.
    pub catalogs: Vec<String>,
    pub schemas: HashMap<String, Vec<String>>,
    /// `(catalog, schema)` → TableInfo objects.
    pub tables: HashMap<(String, String), Vec<Value>>,
    /// Catalog → tokens that get 403 when listing inside it.
    pub forbidden: HashMap<String, Vec<String>>,
    pub page_size: usize,
}

pub fn column(
    name: &str,
    type_name: &str,
    type_text: &str,
    nullable: bool,
    position: usize,
) -> Value {
    let mut c = json!({
        "name": name, "type_name": type_name, "type_text": type_text, "position": position,
        "type_json": format!(r#"{{"name":"{name}","type":"{type_text}","nullable":{nullable},"metadata":{{}}}}"#),
    });
    // The Go SDK's `omitempty`: `nullable` is absent when false.
    if nullable {
        c["nullable"] = json!(true);
    }
    c
}

fn table(catalog: &str, schema: &str, name: &str, columns: Vec<Value>) -> Value {
    json!({
        "name": name, "catalog_name": catalog, "schema_name": schema,
        "full_name": format!("{catalog}.{schema}.{name}"), "table_type": "MANAGED",
        "data_source_format": "DELTA", "owner": "alice@example.com", "comment": format!("The {name} table"),
        "table_id": format!("id-{name}"), "created_at": 1700000000000i64, "updated_at": 1700000000000i64,
        "columns": columns, "properties": {"delta.minReaderVersion": "1"},
    })
}

impl Default for UcState {
    fn default() -> UcState {
        let catalogs = [
            "samples",
            "main",
            "zeta",
            "restricted",
            "alpha",
            "hive_metastore",
            "beta",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut schemas = HashMap::new();
        schemas.insert(
            "main".to_string(),
            vec![
                "sales".into(),
                "default".into(),
                "information_schema".into(),
                "ml".into(),
            ],
        );
        schemas.insert("samples".to_string(), vec!["nyctaxi".into()]);
        schemas.insert("restricted".to_string(), vec!["secret".into()]);
        for c in ["zeta", "alpha", "hive_metastore", "beta"] {
            schemas.insert(c.to_string(), vec!["default".into()]);
        }
        let orders = vec![
            column("id", "LONG", "bigint", false, 0),
            column("amount", "DECIMAL", "decimal(10,2)", true, 1),
            column("price", "DOUBLE", "double", true, 2),
            column("active", "BOOLEAN", "boolean", true, 3),
            column("customer", "STRING", "string", true, 4),
            column("created_at", "TIMESTAMP", "timestamp", true, 5),
        ];
        let mut tables = HashMap::new();
        tables.insert(
            ("main".to_string(), "sales".to_string()),
            vec![
                table("main", "sales", "orders", orders),
                table(
                    "main",
                    "sales",
                    "customers",
                    vec![
                        column("id", "LONG", "bigint", false, 0),
                        column("name", "STRING", "string", true, 1),
                    ],
                ),
                table(
                    "main",
                    "sales",
                    "big",
                    vec![column("id", "INT", "int", false, 0)],
                ),
                table(
                    "main",
                    "sales",
                    "archive",
                    vec![column("id", "INT", "int", false, 0)],
                ),
                table(
                    "main",
                    "sales",
                    "payroll",
                    vec![column("salary", "DOUBLE", "double", true, 0)],
                ),
            ],
        );
        let mut forbidden = HashMap::new();
        forbidden.insert("restricted".to_string(), vec![scim::CAROL.to_string()]);
        UcState {
            catalogs,
            schemas,
            tables,
            forbidden,
            page_size: 2,
        }
    }
}

pub fn route(state: &mut UcState, req: &FakeRequest) -> Option<FakeResponse> {
    if req.method != "GET" {
        return None;
    }
    let token = req.bearer().unwrap_or("-").to_string();
    let response = match req.path.as_str() {
        "/api/2.1/unity-catalog/catalogs" => {
            let items: Vec<Value> = state
                .catalogs
                .iter()
                .map(|c| json!({"name": c, "full_name": c, "owner": "admins", "catalog_type": "MANAGED_CATALOG", "created_at": 1700000000000i64}))
                .collect();
            page(state.page_size, req, "catalogs", items)
        }
        "/api/2.1/unity-catalog/schemas" => {
            let catalog = req.query_value("catalog_name").unwrap_or_default();
            if catalog.is_empty() {
                return Some(FakeResponse::error(
                    400,
                    "INVALID_PARAMETER_VALUE",
                    "catalog_name is required",
                ));
            }
            if let Some(denied) = deny(state, &catalog, &token) {
                return Some(denied);
            }
            match state.schemas.get(&catalog) {
                None => FakeResponse::error(
                    404,
                    "CATALOG_DOES_NOT_EXIST",
                    &format!("Catalog '{catalog}' does not exist."),
                ),
                Some(list) => {
                    let items = list
                        .iter()
                        .map(|s| json!({"name": s, "catalog_name": catalog, "full_name": format!("{catalog}.{s}"), "owner": "admins"}))
                        .collect();
                    page(state.page_size, req, "schemas", items)
                }
            }
        }
        "/api/2.1/unity-catalog/tables" => {
            let catalog = req.query_value("catalog_name").unwrap_or_default();
            let schema = req.query_value("schema_name").unwrap_or_default();
            if let Some(denied) = deny(state, &catalog, &token) {
                return Some(denied);
            }
            if !state.schemas.contains_key(&catalog) {
                FakeResponse::error(
                    404,
                    "CATALOG_DOES_NOT_EXIST",
                    &format!("Catalog '{catalog}' does not exist."),
                )
            } else if !state.schemas[&catalog].contains(&schema) {
                FakeResponse::error(
                    404,
                    "SCHEMA_DOES_NOT_EXIST",
                    &format!("Schema '{catalog}.{schema}' does not exist."),
                )
            } else {
                let omit_columns = req.query_value("omit_columns").as_deref() == Some("true");
                let items = state
                    .tables
                    .get(&(catalog, schema))
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|mut t| {
                        if omit_columns {
                            t.as_object_mut().map(|o| o.remove("columns"));
                        }
                        t
                    })
                    .collect();
                page(state.page_size, req, "tables", items)
            }
        }
        _ => return None,
    };
    Some(response)
}

fn deny(state: &UcState, catalog: &str, token: &str) -> Option<FakeResponse> {
    let denied = state
        .forbidden
        .get(catalog)
        .is_some_and(|tokens| tokens.iter().any(|t| t == token));
    denied.then(|| {
        FakeResponse::error(
            403,
            "PERMISSION_DENIED",
            &format!("User does not have USE CATALOG on Catalog '{catalog}'."),
        )
    })
}

/// One page of `items`: `max_results` unset = everything (legacy); otherwise pages of
/// `page_size`, and after the first page an empty page that still carries a token.
fn page(page_size: usize, req: &FakeRequest, key: &str, items: Vec<Value>) -> FakeResponse {
    if req.query_value("max_results").is_none() {
        return FakeResponse::json(200, json!({ key: items }));
    }
    let token = req.query_value("page_token").unwrap_or_default();
    if let Some(offset) = token.strip_prefix("empty-") {
        return FakeResponse::json(
            200,
            json!({ key: [], "next_page_token": format!("at-{offset}") }),
        );
    }
    let offset: usize = token
        .strip_prefix("at-")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    let end = (offset + page_size).min(items.len());
    let slice = items.get(offset..end).unwrap_or_default().to_vec();
    let mut body = json!({ key: slice });
    if end < items.len() {
        body["next_page_token"] = if offset == 0 {
            json!(format!("empty-{end}"))
        } else {
            json!(format!("at-{end}"))
        };
    }
    FakeResponse::json(200, body)
}
