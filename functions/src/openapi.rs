//! The OpenAPI 3.1 document, generated from the registry: one operation per function, with its
//! auth level both as a `security` requirement and as `x-brickbox-auth`.

use serde_json::{json, Map, Value};
use shared::{Auth, Function};

pub fn document(functions: &[Function]) -> Value {
    let mut paths = Map::new();
    for f in functions {
        let item = paths
            .entry(f.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        item[f.method.as_str().to_ascii_lowercase()] = operation(f);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "brickbox",
            "version": shared::VERSION,
            "description": "Functions of a brickbox Databricks App. User and admin functions act on behalf of the caller through the X-Forwarded-Access-Token header that the Databricks Apps proxy forwards.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "forwardedAccessToken": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Forwarded-Access-Token",
                    "description": "The signed-in user's token, added by the Databricks Apps proxy.",
                }
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error_code", "message", "correlation_id"],
                    "properties": {
                        "error_code": {"type": "string"},
                        "message": {"type": "string"},
                        "correlation_id": {"type": "string"},
                        "retry_after": {"type": "integer"},
                        "details": {"type": "object"},
                    },
                }
            },
        },
    })
}

fn operation(f: &Function) -> Value {
    let mut parameters: Vec<Value> = path_params(f.path)
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    for p in f.query {
        parameters.push(json!({
            "name": p.name,
            "in": "query",
            "required": p.required,
            "description": p.description,
            "schema": parse(p.schema),
        }));
    }
    let success = match f.response_body {
        Some(schema) => {
            // Only a body that is itself a string (`/ping`) is text; a JSON object with string
            // fields is still JSON.
            let media = if parse(schema)["type"] == "string" {
                "text/plain"
            } else {
                "application/json"
            };
            json!({"description": "Success", "content": {media: {"schema": parse(schema)}}})
        }
        None => json!({"description": "Success, no body"}),
    };
    let error = json!({"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let mut op = json!({
        "operationId": f.name,
        "summary": f.summary,
        "x-brickbox-auth": f.auth.as_str(),
        "parameters": parameters,
        "responses": {f.success_status.to_string(): success, "default": error},
    });
    if f.auth != Auth::Public {
        op["security"] = json!([{"forwardedAccessToken": []}]);
    }
    if let Some(schema) = f.request_body {
        op["requestBody"] =
            json!({"required": true, "content": {"application/json": {"schema": parse(schema)}}});
    }
    op
}

/// `{name}` segments of a matchit route template.
pub fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|s| s.trim_start_matches('*'))
}

fn parse(schema: &str) -> Value {
    // Schemas are checked to be valid JSON by a unit test over the registry.
    serde_json::from_str(schema).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_is_an_operation_with_its_auth_level() {
        let doc = document(crate::ALL);
        assert_eq!(doc["openapi"], "3.1.0");
        for f in crate::ALL {
            let op = &doc["paths"][f.path][f.method.as_str().to_ascii_lowercase()];
            assert_eq!(op["operationId"], f.name);
            assert_eq!(op["x-brickbox-auth"], f.auth.as_str());
            assert_eq!(op.get("security").is_some(), f.auth != Auth::Public);
        }
    }

    #[test]
    fn only_string_bodies_are_text() {
        let doc = document(crate::ALL);
        let media = |path: &str| {
            doc["paths"][path]["get"]["responses"]["200"]["content"]
                .as_object()
                .and_then(|c| c.keys().next().cloned())
        };
        assert_eq!(media("/ping").as_deref(), Some("text/plain"));
        assert_eq!(media("/api/user/me").as_deref(), Some("application/json"));
        assert_eq!(
            media("/api/unity-catalog/catalogs").as_deref(),
            Some("application/json")
        );
    }

    #[test]
    fn path_params_are_found() {
        let names: Vec<_> = path_params("/api/a/{x}/b/{y}").collect();
        assert_eq!(names, ["x", "y"]);
    }
}
