//! The one place an `ApiError` becomes an HTTP answer.

use shared::{ApiError, Response};

pub fn error_response(error: &ApiError, correlation_id: &str) -> Response {
    let body = error.body(correlation_id);
    let mut response = Response::text(
        error.status(),
        "application/json",
        serde_json::to_vec(&body).unwrap_or_default(),
    );
    if let Some(seconds) = error.retry_after {
        response.headers.push(("retry-after", seconds.to_string()));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::ErrorCode;

    #[test]
    fn error_bodies_carry_code_message_id_and_retry() {
        let e = ApiError::new(ErrorCode::AuthRateLimited, "slow down").with_retry_after(3);
        let r = error_response(&e, "cid-1");
        assert_eq!(r.status, 429);
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["error_code"], "AUTH_RATE_LIMITED");
        assert_eq!(body["correlation_id"], "cid-1");
        assert_eq!(body["retry_after"], 3);
        assert!(body.get("details").is_none());
        assert_eq!(r.headers, vec![("retry-after", "3".to_string())]);
    }

    #[test]
    fn internal_details_never_reach_the_client() {
        let e = ApiError::internal("db password=hunter2 rejected");
        let r = error_response(&e, "c");
        assert!(!String::from_utf8(r.body).unwrap().contains("hunter2"));
    }
}
