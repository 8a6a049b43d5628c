//! Cross-site request refusal and the DNS-rebinding guard of the local development token.
//!
//! A browser attaches the Databricks Apps session (and, locally, the development token is used
//! for any loopback caller) to requests that another site makes it send. Two rules close that:
//!
//! * an unsafe method (`POST`, `PUT`, `PATCH`, `DELETE`) is refused 403 `CROSS_ORIGIN_REFUSED`
//!   when `Sec-Fetch-Site` says `cross-site`, when `Origin` is `null`, or when `Origin` is present
//!   and is not this server's own origin: `http://` + `Host` locally, `https://` +
//!   `X-Forwarded-Host` inside Databricks Apps. A request without `Origin` (curl, a script, an
//!   old browser's same-origin form) is let through: only browsers send it, and they always send
//!   it on cross-origin requests.
//! * when the local development token would stand in for the caller, the `Host` header must name
//!   loopback (`127.0.0.1`, `localhost`, `[::1]`, any port). A page on another name that
//!   re-resolves to 127.0.0.1 (DNS rebinding) is then same-origin to the browser, but its
//!   requests still carry the page's own host name, and are refused.
//!
//! Safe methods never reach `check`, so `GET /health` costs nothing here.

use hyper::header::{HeaderMap, HeaderName, HOST, ORIGIN};
use hyper::http::uri::Authority;
use hyper::Method;
use shared::{ApiError, ErrorCode};

const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Whether `method` can change state, so the origin rule applies to it.
pub fn is_unsafe(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// The origin rule for one request; `Err` is the 403 to answer with, before anything else runs.
/// `authority` is the request target's authority (HTTP/2 sends it instead of `Host`).
pub fn check(
    method: &Method,
    headers: &HeaderMap,
    authority: Option<&Authority>,
    in_apps: bool,
) -> Result<(), ApiError> {
    if !is_unsafe(method) {
        return Ok(());
    }
    if headers
        .get_all(SEC_FETCH_SITE)
        .iter()
        .any(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    {
        return Err(refused(
            "the browser marked it cross-site (Sec-Fetch-Site: cross-site)",
        ));
    }
    let mut origins = headers.get_all(ORIGIN).iter();
    let Some(origin) = origins.next() else {
        return Ok(());
    };
    if origins.next().is_some() {
        return Err(refused("it carries more than one Origin header"));
    }
    let origin = origin.to_str().unwrap_or("").trim();
    if origin.eq_ignore_ascii_case("null") {
        return Err(refused("its Origin is null (a sandboxed or opaque page)"));
    }
    let own = if in_apps {
        first_value(headers, &X_FORWARDED_HOST)
            .or_else(|| host(headers, authority))
            .map(|h| ("https", h))
    } else {
        host(headers, authority).map(|h| ("http", h))
    };
    match own {
        Some((scheme, own_host)) if same_origin(origin, scheme, own_host) => Ok(()),
        _ => Err(refused(&format!(
            "its Origin {:?} is not this server's origin",
            origin.chars().take(200).collect::<String>()
        ))),
    }
}

/// The local development token may stand in for this request only when `Host` names loopback.
pub fn check_loopback_host(
    headers: &HeaderMap,
    authority: Option<&Authority>,
) -> Result<(), ApiError> {
    match host(headers, authority) {
        Some(h) if is_loopback_host(h) => Ok(()),
        _ => Err(ApiError::new(
            ErrorCode::CrossOriginRefused,
            "Refused: the local development token is used only for requests addressed to 127.0.0.1, localhost or [::1]; this request names another host (a page that re-resolved its name to this machine).",
        )),
    }
}

fn refused(why: &str) -> ApiError {
    ApiError::new(
        ErrorCode::CrossOriginRefused,
        format!("Cross-site request refused: {why}. Call this API from the app's own pages, or without an Origin header from a script."),
    )
}

/// `Host`, else the request target's authority (HTTP/2).
fn host<'a>(headers: &'a HeaderMap, authority: Option<&'a Authority>) -> Option<&'a str> {
    first_value(headers, &HOST).or_else(|| authority.map(Authority::as_str))
}

/// The first value of `name`, and of a comma-separated list its first element.
fn first_value<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    let value = headers.get(name)?.to_str().ok()?;
    let first = value.split(',').next()?.trim();
    (!first.is_empty()).then_some(first)
}

/// `origin` (`scheme://host[:port]`) names `scheme` + `host` (`name[:port]`); host names compare
/// case-insensitively and a default port counts as absent on either side.
fn same_origin(origin: &str, scheme: &str, host: &str) -> bool {
    let Some((origin_scheme, origin_host)) = origin.split_once("://") else {
        return false;
    };
    if !origin_scheme.eq_ignore_ascii_case(scheme) || origin_host.contains(['/', '@', '?', '#']) {
        return false;
    }
    let default_port = if scheme == "https" { "443" } else { "80" };
    let (a_name, a_port) = split_port(origin_host, default_port);
    let (b_name, b_port) = split_port(host, default_port);
    !a_name.is_empty() && a_name.eq_ignore_ascii_case(b_name) && a_port == b_port
}

/// `name[:port]` or `[v6][:port]` → (name, port), the port defaulted.
fn split_port<'a>(host: &'a str, default_port: &'a str) -> (&'a str, &'a str) {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((v6, tail)) => (&host[..v6.len() + 2], tail.strip_prefix(':')),
            None => (host, None),
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    match port {
        Some(p) if !p.is_empty() => (name, p),
        _ => (name, default_port),
    }
}

/// `127.0.0.1`, `localhost` or `[::1]`, with or without a port.
pub fn is_loopback_host(host: &str) -> bool {
    let (name, port) = split_port(host, "");
    (port.is_empty() || port.bytes().all(|b| b.is_ascii_digit()))
        && (name == "127.0.0.1" || name.eq_ignore_ascii_case("localhost") || name == "[::1]")
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn code(method: Method, pairs: &[(&'static str, &'static str)], apps: bool) -> Option<u16> {
        check(&method, &headers(pairs), None, apps)
            .err()
            .map(|e| e.status())
    }

    #[test]
    fn unsafe_methods_with_a_foreign_origin_are_refused() {
        let local = [("host", "127.0.0.1:8000")];
        assert_eq!(code(Method::POST, &local, false), None, "no Origin");
        let own = [
            ("host", "127.0.0.1:8000"),
            ("origin", "http://127.0.0.1:8000"),
        ];
        assert_eq!(code(Method::POST, &own, false), None);
        for bad in [
            [
                ("host", "127.0.0.1:8000"),
                ("origin", "http://evil.example"),
            ],
            [
                ("host", "127.0.0.1:8000"),
                ("origin", "http://127.0.0.1:8001"),
            ],
            [
                ("host", "127.0.0.1:8000"),
                ("origin", "https://127.0.0.1:8000"),
            ],
            [("host", "127.0.0.1:8000"), ("origin", "null")],
            [("host", "127.0.0.1:8000"), ("sec-fetch-site", "cross-site")],
        ] {
            for m in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
                assert_eq!(code(m, &bad, false), Some(403), "{bad:?}");
            }
            assert_eq!(code(Method::GET, &bad, false), None, "GET is never checked");
            assert_eq!(code(Method::OPTIONS, &bad, false), None);
        }
        let twice = [
            ("host", "127.0.0.1:8000"),
            ("origin", "http://127.0.0.1:8000"),
            ("origin", "http://evil.example"),
        ];
        assert_eq!(code(Method::POST, &twice, false), Some(403));
        let same_site = [
            ("host", "127.0.0.1:8000"),
            ("origin", "http://127.0.0.1:8000"),
            ("sec-fetch-site", "same-origin"),
        ];
        assert_eq!(code(Method::POST, &same_site, false), None);
    }

    #[test]
    fn inside_apps_the_origin_is_https_and_the_forwarded_host() {
        let ok = [
            ("host", "10.0.0.5:8000"),
            ("x-forwarded-host", "app-123.aws.databricksapps.com"),
            ("origin", "https://App-123.aws.databricksapps.com"),
        ];
        assert_eq!(code(Method::POST, &ok, true), None);
        let default_port = [
            ("x-forwarded-host", "app-123.aws.databricksapps.com:443"),
            ("origin", "https://app-123.aws.databricksapps.com"),
        ];
        assert_eq!(code(Method::DELETE, &default_port, true), None);
        let http = [
            ("x-forwarded-host", "app-123.aws.databricksapps.com"),
            ("origin", "http://app-123.aws.databricksapps.com"),
        ];
        assert_eq!(code(Method::POST, &http, true), Some(403));
        let other_app = [
            ("x-forwarded-host", "app-123.aws.databricksapps.com"),
            ("origin", "https://app-456.aws.databricksapps.com"),
        ];
        assert_eq!(code(Method::POST, &other_app, true), Some(403));
    }

    #[test]
    fn http2_requests_use_the_authority() {
        let authority: Authority = "localhost:9000".parse().unwrap();
        let h = headers(&[("origin", "http://localhost:9000")]);
        assert!(check(&Method::POST, &h, Some(&authority), false).is_ok());
        let h = headers(&[("origin", "http://attacker.example:9000")]);
        assert!(check(&Method::POST, &h, Some(&authority), false).is_err());
    }

    #[test]
    fn the_development_token_needs_a_loopback_host() {
        for ok in [
            "127.0.0.1",
            "127.0.0.1:8000",
            "localhost",
            "LOCALHOST:1",
            "[::1]",
            "[::1]:8000",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "attacker.example",
            "attacker.example:8000",
            "127.0.0.1.nip.io",
            "localhost.attacker.example",
            "127.0.0.2",
            "[::2]",
            "",
            "localhost:x",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
        let h = headers(&[("host", "attacker.example:8000")]);
        assert_eq!(
            check_loopback_host(&h, None).unwrap_err().code,
            ErrorCode::CrossOriginRefused
        );
        assert!(check_loopback_host(&headers(&[("host", "127.0.0.1:8000")]), None).is_ok());
    }
}
