//! The one error type of every function, and the closed set of error codes.
//!
//! An `ApiError` carries what the client may see (code, message, `retry_after`, `details`) and,
//! separately, `internal`: a detail for the log line only. The runtime turns it into the JSON
//! body in exactly one place (`runtime::respond`).

use serde_json::Value;
use std::fmt;

/// Every `error_code` brickbox can answer with. The status follows from the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidIdentifier,
    InvalidModelInput,
    AuthMissing,
    AuthInvalid,
    AuthExpired,
    AdminRequired,
    PermissionDenied,
    InsufficientScope,
    NotFound,
    CatalogNotFound,
    SchemaNotFound,
    TableNotFound,
    EndpointNotFound,
    PreferenceNotFound,
    MethodNotAllowed,
    EndpointNotReady,
    PayloadTooLarge,
    BatchTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
    AuthRateLimited,
    RateLimited,
    InternalError,
    UpstreamError,
    LakebaseNotConfigured,
    DatabaseUnavailable,
    IdentityUnavailable,
    ServiceUnavailable,
    WarehouseUnavailable,
    ModelUnavailable,
    QueryTimeout,
    ModelTimeout,
    StreamingNotSupported,
    InvalidPath,
    CrossOriginRefused,
    GenieSpaceNotFound,
    FileNotFound,
    QueryNotFound,
    RequestTimeout,
    FileExists,
    DirectoryNotEmpty,
    WarehouseStarting,
    GenieTimeout,
}

impl ErrorCode {
    pub fn status(self) -> u16 {
        use ErrorCode::*;
        match self {
            InvalidRequest
            | InvalidIdentifier
            | InvalidModelInput
            | StreamingNotSupported
            | InvalidPath => 400,
            AuthMissing | AuthInvalid | AuthExpired => 401,
            AdminRequired | PermissionDenied | InsufficientScope | CrossOriginRefused => 403,
            NotFound | CatalogNotFound | SchemaNotFound | TableNotFound | EndpointNotFound
            | PreferenceNotFound | GenieSpaceNotFound | FileNotFound | QueryNotFound => 404,
            MethodNotAllowed => 405,
            RequestTimeout => 408,
            EndpointNotReady | FileExists | DirectoryNotEmpty => 409,
            PayloadTooLarge | BatchTooLarge => 413,
            UnsupportedMediaType => 415,
            ValidationFailed => 422,
            AuthRateLimited | RateLimited => 429,
            InternalError => 500,
            UpstreamError => 502,
            LakebaseNotConfigured
            | DatabaseUnavailable
            | IdentityUnavailable
            | ServiceUnavailable
            | WarehouseUnavailable
            | ModelUnavailable
            | WarehouseStarting => 503,
            QueryTimeout | ModelTimeout | GenieTimeout => 504,
        }
    }

    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            InvalidRequest => "INVALID_REQUEST",
            InvalidIdentifier => "INVALID_IDENTIFIER",
            InvalidModelInput => "INVALID_MODEL_INPUT",
            AuthMissing => "AUTH_MISSING",
            AuthInvalid => "AUTH_INVALID",
            AuthExpired => "AUTH_EXPIRED",
            AdminRequired => "ADMIN_REQUIRED",
            PermissionDenied => "PERMISSION_DENIED",
            InsufficientScope => "INSUFFICIENT_SCOPE",
            NotFound => "NOT_FOUND",
            CatalogNotFound => "CATALOG_NOT_FOUND",
            SchemaNotFound => "SCHEMA_NOT_FOUND",
            TableNotFound => "TABLE_NOT_FOUND",
            EndpointNotFound => "ENDPOINT_NOT_FOUND",
            PreferenceNotFound => "PREFERENCE_NOT_FOUND",
            MethodNotAllowed => "METHOD_NOT_ALLOWED",
            EndpointNotReady => "ENDPOINT_NOT_READY",
            PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            BatchTooLarge => "BATCH_TOO_LARGE",
            UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ValidationFailed => "VALIDATION_FAILED",
            AuthRateLimited => "AUTH_RATE_LIMITED",
            RateLimited => "RATE_LIMITED",
            InternalError => "INTERNAL_ERROR",
            UpstreamError => "UPSTREAM_ERROR",
            LakebaseNotConfigured => "LAKEBASE_NOT_CONFIGURED",
            DatabaseUnavailable => "DATABASE_UNAVAILABLE",
            IdentityUnavailable => "IDENTITY_UNAVAILABLE",
            ServiceUnavailable => "SERVICE_UNAVAILABLE",
            WarehouseUnavailable => "WAREHOUSE_UNAVAILABLE",
            ModelUnavailable => "MODEL_UNAVAILABLE",
            QueryTimeout => "QUERY_TIMEOUT",
            ModelTimeout => "MODEL_TIMEOUT",
            StreamingNotSupported => "STREAMING_NOT_SUPPORTED",
            InvalidPath => "INVALID_PATH",
            CrossOriginRefused => "CROSS_ORIGIN_REFUSED",
            GenieSpaceNotFound => "GENIE_SPACE_NOT_FOUND",
            FileNotFound => "FILE_NOT_FOUND",
            QueryNotFound => "QUERY_NOT_FOUND",
            RequestTimeout => "REQUEST_TIMEOUT",
            FileExists => "FILE_EXISTS",
            DirectoryNotEmpty => "DIRECTORY_NOT_EMPTY",
            WarehouseStarting => "WAREHOUSE_STARTING",
            GenieTimeout => "GENIE_TIMEOUT",
        }
    }
}

/// One field-level problem in a well-formed body (`details.errors[]`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Clone, Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    /// What happened and what to do. Shown to the client: never a token or a raw upstream body.
    pub message: String,
    pub retry_after: Option<u64>,
    pub details: Option<Value>,
    /// For the log line only (with the correlation id), never for the client.
    pub internal: Option<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            retry_after: None,
            details: None,
            internal: None,
        }
    }

    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// The JSON error body: `error_code`, `message`, `correlation_id`, and `retry_after` and
    /// `details` when set. The same body answers a request and ends an SSE stream.
    pub fn body(&self, correlation_id: &str) -> Value {
        let mut body = serde_json::Map::new();
        body.insert("error_code".into(), self.code.as_str().into());
        body.insert("message".into(), self.message.clone().into());
        body.insert("correlation_id".into(), correlation_id.into());
        if let Some(seconds) = self.retry_after {
            body.insert("retry_after".into(), seconds.into());
        }
        if let Some(details) = &self.details {
            body.insert("details".into(), details.clone());
        }
        Value::Object(body)
    }

    pub fn with_retry_after(mut self, seconds: u64) -> ApiError {
        self.retry_after = Some(seconds);
        self
    }

    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = Some(details);
        self
    }

    pub fn with_internal(mut self, internal: impl Into<String>) -> ApiError {
        self.internal = Some(internal.into());
        self
    }

    /// 400 `INVALID_REQUEST`: an unparseable body, or a bad query or path parameter.
    pub fn invalid_request(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::InvalidRequest, message)
    }

    /// 422 `VALIDATION_FAILED` listing every problem of a well-formed body.
    pub fn validation(errors: Vec<FieldError>) -> ApiError {
        let message = match errors.len() {
            1 => format!("{}: {}", errors[0].field, errors[0].message),
            n => format!("{n} fields are invalid; see details.errors"),
        };
        let errors = serde_json::to_value(&errors).unwrap_or(Value::Null);
        ApiError::new(ErrorCode::ValidationFailed, message)
            .with_details(serde_json::json!({ "errors": errors }))
    }

    /// 500 `INTERNAL_ERROR` with the cause kept for the log.
    pub fn internal(cause: impl fmt::Display) -> ApiError {
        ApiError::new(
            ErrorCode::InternalError,
            "An internal error occurred. Quote the correlation id when reporting it.",
        )
        .with_internal(cause.to_string())
    }

    pub fn lakebase_not_configured() -> ApiError {
        ApiError::new(
            ErrorCode::LakebaseNotConfigured,
            "Lakebase is not configured: set PGHOST (or DATABASE_URL) to enable this function.",
        )
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)?;
        if let Some(internal) = &self.internal {
            write!(f, " ({internal})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// Cut an upstream message for quoting in a response: at most 500 characters.
pub fn quote_upstream(message: &str) -> String {
    const MAX: usize = 500;
    let trimmed = message.trim();
    match trimmed.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &trimmed[..cut]),
        None => trimmed.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_their_status() {
        assert_eq!(ErrorCode::AuthMissing.status(), 401);
        assert_eq!(ErrorCode::BatchTooLarge.status(), 413);
        assert_eq!(ErrorCode::ModelTimeout.status(), 504);
        assert_eq!(
            ErrorCode::LakebaseNotConfigured.as_str(),
            "LAKEBASE_NOT_CONFIGURED"
        );
    }

    #[test]
    fn upstream_quotes_are_cut_at_500_characters() {
        let long = "x".repeat(800);
        assert_eq!(quote_upstream(&long).chars().count(), 501);
        assert_eq!(quote_upstream("  short "), "short");
    }

    #[test]
    fn validation_lists_every_field() {
        let e = ApiError::validation(vec![
            FieldError {
                field: "a".into(),
                message: "bad".into(),
            },
            FieldError {
                field: "b".into(),
                message: "worse".into(),
            },
        ]);
        assert_eq!(e.status(), 422);
        assert_eq!(e.details.unwrap()["errors"][1]["field"], "b");
    }
}
