//! Small helpers that would otherwise each pull in a crate: UUID v4, SHA-256, base64,
//! RFC 3339 UTC times, percent-decoding and query strings.

use ring::rand::{SecureRandom, SystemRandom};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A random (version 4) UUID, lowercase and hyphenated, from the OS random source.
pub fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    // The OS random source failing is not something a request can recover from.
    SystemRandom::new()
        .fill(&mut b)
        .expect("the operating system's random source is available");
    format_uuid_v4(b)
}

/// A version 4 UUID from a per-thread generator seeded once from the OS: unique, not secret.
/// For correlation ids, where a `getrandom` call per request is measurable.
pub fn fast_uuid_v4() -> String {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let mut seed = [0u8; 8];
            SystemRandom::new().fill(&mut seed).expect("the operating system's random source is available");
            u64::from_le_bytes(seed)
        });
    }
    // wyrand: a 64-bit generator with a 2^64 period per thread, seeded independently per thread.
    let next = || {
        STATE.with(|s| {
            let x = s.get().wrapping_add(0xa076_1d64_78bd_642f);
            s.set(x);
            let t = u128::from(x) * u128::from(x ^ 0xe703_7ed1_a0b4_28db);
            ((t >> 64) as u64) ^ (t as u64)
        })
    };
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&next().to_le_bytes());
    b[8..].copy_from_slice(&next().to_le_bytes());
    format_uuid_v4(b)
}

fn format_uuid_v4(mut b: [u8; 16]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    // Straight into the one 36-byte string: this runs per request for correlation ids.
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push(DIGITS[usize::from(byte >> 4)] as char);
        s.push(DIGITS[usize::from(byte & 15)] as char);
    }
    s
}

/// True for the 8-4-4-4-12 hex form (any version): service principals' user names.
pub fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    parts.len() == 5
        && parts
            .iter()
            .zip(lens)
            .all(|(p, n)| p.len() == n && p.bytes().all(|c| c.is_ascii_hexdigit()))
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// SHA-256 over data that arrives in pieces (streamed files).
pub struct Sha256(ring::digest::Context);

impl Default for Sha256 {
    fn default() -> Sha256 {
        Sha256(ring::digest::Context::new(&ring::digest::SHA256))
    }
}

impl Sha256 {
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    pub fn finish(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.0.finish().as_ref());
        out
    }
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (HTTP Basic auth).
pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk.len();
        let v = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= n {
                out.push(B64[((v >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Base64url or standard base64, padding optional (JWT segments). `None` on a bad character.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// An RFC 3339 UTC timestamp with `Z`, e.g. `2026-11-26T12:00:00.123456Z`.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| String::from("1970-01-01T00:00:00Z"))
}

pub fn now_rfc3339() -> String {
    rfc3339(OffsetDateTime::now_utc())
}

/// Now as `2026-11-26T12:00:00.123456Z` (microseconds), cheaply: the date-and-seconds part is
/// formatted once per second per thread, since log lines and `/health` ask for it per request.
pub fn now_micros() -> Rfc3339Micros {
    use std::time::{SystemTime, UNIX_EPOCH};
    rfc3339_micros(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
    )
}

/// An RFC 3339 UTC timestamp with microseconds, formatted into a buffer on the stack: the
/// request path writes one per log line and one per `/health` body, without an allocation.
pub struct Rfc3339Micros {
    buf: [u8; 32],
    len: usize,
}

impl Rfc3339Micros {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("1970-01-01T00:00:00.000000Z")
    }
}

/// `since_epoch` as `2026-11-26T12:00:00.123456Z`; see `now_micros`.
pub fn rfc3339_micros(since_epoch: std::time::Duration) -> Rfc3339Micros {
    use std::cell::RefCell;
    thread_local! {
        static PREFIX: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let (secs, micros) = (since_epoch.as_secs(), since_epoch.subsec_micros());
    let mut out = Rfc3339Micros {
        buf: [0; 32],
        len: 0,
    };
    PREFIX.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != secs {
            let t = OffsetDateTime::from_unix_timestamp(secs as i64)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH);
            *cached = (secs, rfc3339(t).trim_end_matches('Z').to_string());
        }
        // `2026-11-26T12:00:00` (years past 9999 do not format, so it is always 19 bytes).
        let prefix = &cached.1.as_bytes()[..cached.1.len().min(24)];
        out.buf[..prefix.len()].copy_from_slice(prefix);
        out.len = prefix.len();
    });
    // The six digits by hand: `format!` with `{:06}` showed up in request-path profiles.
    let tail = &mut out.buf[out.len..out.len + 8];
    tail[0] = b'.';
    let mut rest = micros;
    for digit in tail[1..7].iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    tail[7] = b'Z';
    out.len += 8;
    out
}

pub fn parse_rfc3339(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// Decode `%XX` escapes (and `+` as space when `plus_is_space`). `None` for a malformed escape
/// or a result that is not UTF-8.
pub fn percent_decode(text: &str, plus_is_space: bool) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hi = (*bytes.get(i + 1)? as char).to_digit(16)?;
                let lo = (*bytes.get(i + 2)? as char).to_digit(16)?;
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Percent-encode everything outside the URL "unreserved" set (for building upstream URLs).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `a=1&b=x%20y` → `[("a","1"),("b","x y")]`. `None` when an escape is malformed.
pub fn parse_query(query: &str) -> Option<Vec<(String, String)>> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((percent_decode(k, true)?, percent_decode(v, true)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_v4_has_the_right_shape() {
        let u = uuid_v4();
        assert!(is_uuid(&u), "{u}");
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(uuid_v4(), u);
        let f = fast_uuid_v4();
        assert!(is_uuid(&f) && &f[14..15] == "4", "{f}");
        assert_ne!(fast_uuid_v4(), f);
        assert_eq!(
            format_uuid_v4([0xff; 16]),
            "ffffffff-ffff-4fff-bfff-ffffffffffff"
        );
        assert!(!is_uuid("alice@example.com"));
    }

    #[test]
    fn base64_round_trips() {
        assert_eq!(base64_encode(b"b:c"), "Yjpj");
        assert_eq!(base64_encode(b"ab"), "YWI=");
        assert_eq!(base64_encode(b"a"), "YQ==");
        assert_eq!(base64_decode("YWI").unwrap(), b"ab");
        assert_eq!(base64_decode("eyJleHAiOjF9").unwrap(), br#"{"exp":1}"#);
        assert!(base64_decode("a*b").is_none());
    }

    #[test]
    fn percent_decoding_rejects_bad_escapes() {
        assert_eq!(percent_decode("%2e%2E/x", false).unwrap(), "../x");
        assert_eq!(percent_decode("a+b", true).unwrap(), "a b");
        assert!(percent_decode("%zz", false).is_none());
        assert!(percent_decode("%4", false).is_none());
        assert_eq!(
            parse_query("a=1&b=x%20y&&c").unwrap(),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y".into()),
                ("c".into(), "".into())
            ]
        );
        assert_eq!(percent_encode("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn times_are_utc_with_z() {
        let t = parse_rfc3339("2026-01-02T03:04:05+02:00").unwrap();
        assert_eq!(rfc3339(t), "2026-01-02T01:04:05Z");
        assert_eq!(hex(&sha256(b"abc"))[..8], *"ba7816bf");
    }
}
