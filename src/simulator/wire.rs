//! Wire-level helpers shared by every simulated endpoint: OpenAI-shaped error
//! bodies, JSON/plain responses, object ids, base64, Go-style durations, API-key
//! masking and the model → dated-snapshot map.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

/// Fingerprint reported in `system_fingerprint` (fixed so tests can match it).
pub(crate) const SYSTEM_FINGERPRINT: &str = "fp_5173b2a9e1";

/// Message OpenAI sends when the JSON body cannot be parsed.
const JSON_PARSE_MESSAGE: &str = "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)";

/// An error answered in OpenAI's `{"error":{...}}` shape.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub body: Value,
}

impl ApiError {
    /// The usual shape: `{"error":{"message","type","param","code"}}`.
    pub(crate) fn new(
        status: StatusCode,
        message: impl Into<String>,
        kind: &str,
        param: Option<&str>,
        code: Option<&str>,
    ) -> Self {
        let body = serde_json::json!({
            "error": {
                "message": message.into(),
                "type": kind,
                "param": param,
                "code": code,
            }
        });
        Self { status, body }
    }

    /// 400 `invalid_request_error` with no param/code.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            message,
            "invalid_request_error",
            None,
            None,
        )
    }

    /// 400 with a `param` (and optional code).
    pub(crate) fn invalid_param(
        message: impl Into<String>,
        param: &str,
        code: Option<&str>,
    ) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            message,
            "invalid_request_error",
            Some(param),
            code,
        )
    }

    /// 400 `Missing required parameter: 'x'.`
    pub(crate) fn missing(param: &str) -> Self {
        Self::invalid_param(
            format!("Missing required parameter: '{param}'."),
            param,
            Some("missing_required_parameter"),
        )
    }

    /// The request's `model`, or 400 `you must provide a model parameter` when it is absent or
    /// empty.
    pub(crate) fn require_model(model: Option<String>) -> Result<String, Self> {
        model
            .filter(|m| !m.is_empty())
            .ok_or_else(|| Self::invalid("you must provide a model parameter"))
    }

    /// 404 `invalid_request_error` (object not found).
    pub(crate) fn not_found(message: impl Into<String>, param: Option<&str>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            message,
            "invalid_request_error",
            param,
            None,
        )
    }

    /// 404 `No <kind> found with id '<id>'.` (assistants, threads, runs, vector stores, batches).
    pub(crate) fn no_object(kind: &str, id: &str) -> Self {
        Self::not_found(format!("No {kind} found with id '{id}'."), None)
    }

    /// 404 for a path/method the API does not have.
    pub(crate) fn invalid_url(method: &str, path: &str) -> Self {
        Self::not_found(format!("Invalid URL ({method} {path})"), None)
    }

    /// 400 for a body that is not JSON / does not fit the expected types.
    pub(crate) fn from_json(err: &serde_json::Error) -> Self {
        use serde_json::error::Category;
        match err.classify() {
            Category::Data => Self::invalid_param(
                format!("Invalid type in request body: {err}"),
                "body",
                Some("invalid_type"),
            ),
            Category::Io | Category::Syntax | Category::Eof => Self::invalid(JSON_PARSE_MESSAGE),
        }
    }

    /// 500 for a failure inside the simulator itself (never expected).
    pub(crate) fn internal(detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("The simulator failed to build its answer: {detail}"),
            "server_error",
            None,
            None,
        )
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(err: serde_json::Error) -> Self {
        Self::internal(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_value(self.status, &self.body)
    }
}

/// Serialise `value` as an `application/json` response.
pub(crate) fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => json_bytes(status, bytes),
        Err(err) => {
            let body = format!(
                "{{\"error\":{{\"message\":\"simulator serialisation failed: {}\",\"type\":\"server_error\",\"param\":null,\"code\":null}}}}",
                err.to_string().replace('"', "'")
            );
            json_bytes(StatusCode::INTERNAL_SERVER_ERROR, body.into_bytes())
        }
    }
}

/// A `serde_json::Value` as an `application/json` response.
pub(crate) fn json_value(status: StatusCode, value: &Value) -> Response {
    json(status, value)
}

/// Already-serialised JSON bytes as an `application/json` response.
pub(crate) fn json_bytes(status: StatusCode, bytes: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A body with an explicit content type.
pub(crate) fn typed(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Body>,
) -> Response {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// 200 `{"id": …, "object": …, "deleted": true}`, the answer to a `DELETE`.
pub(crate) fn deleted(id: &str, object: &str) -> Response {
    json(
        StatusCode::OK,
        &serde_json::json!({"id": id, "object": object, "deleted": true}),
    )
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

// ---------------------------------------------------------------- random ids

fn splitmix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn thread_seed() -> u64 {
    static SEEDS: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x1234_5678);
    splitmix(nanos ^ SEEDS.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed))
}

thread_local! {
    static RNG: Cell<u64> = Cell::new(thread_seed());
}

/// A fast per-thread pseudo-random u64 (ids only; not for security).
pub(crate) fn next_u64() -> u64 {
    RNG.with(|c| {
        let x = c.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        c.set(x);
        splitmix(x)
    })
}

const ALNUM: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const HEX: &[u8; 16] = b"0123456789abcdef";

/// `prefix` followed by `n` random alphanumerics (e.g. `chatcmpl-` + 29).
pub(crate) fn alnum_id(prefix: &str, n: usize) -> String {
    random_id(prefix, n, ALNUM)
}

/// `prefix` followed by `n` random lowercase hex digits (e.g. `req_` + 32).
pub(crate) fn hex_id(prefix: &str, n: usize) -> String {
    random_id(prefix, n, HEX)
}

/// `prefix` followed by `n` characters drawn from `alphabet`, as many per random `u64` as it
/// holds whole digits of the alphabet's base.
fn random_id(prefix: &str, n: usize, alphabet: &[u8]) -> String {
    let base = alphabet.len() as u64;
    let per_draw = (u64::MAX.ilog(base)) as usize;
    let mut s = String::with_capacity(prefix.len() + n);
    s.push_str(prefix);
    let mut bits = 0u64;
    let mut left = 0;
    for _ in 0..n {
        if left == 0 {
            bits = next_u64();
            left = per_draw;
        }
        s.push(alphabet[(bits % base) as usize] as char);
        bits /= base;
        left -= 1;
    }
    s
}

// ---------------------------------------------------------------- encodings

/// Standard base64 with padding.
pub(crate) fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b0 = chunk[0] as u32;
        let b1 = chunk.get(1).copied().unwrap_or(0) as u32;
        let b2 = chunk.get(2).copied().unwrap_or(0) as u32;
        let n = (b0 << 16) | (b1 << 8) | b2;
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        if chunk.len() > 1 {
            out.push(T[(n >> 6) as usize & 63] as char);
        } else {
            out.push('=');
        }
        if chunk.len() > 2 {
            out.push(T[n as usize & 63] as char);
        } else {
            out.push('=');
        }
    }
    out
}

/// A duration in Go's `time.Duration.String()` form at millisecond precision,
/// as OpenAI sends in `x-ratelimit-reset-*`: `0s`, `12ms`, `8.64s`, `6m0s`, `1h2m3s`.
pub(crate) fn go_duration(ms: u64) -> String {
    if ms == 0 {
        return "0s".to_owned();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let hours = ms / 3_600_000;
    let minutes = (ms / 60_000) % 60;
    let secs = (ms / 1000) % 60;
    let frac = ms % 1000;
    let mut out = String::with_capacity(12);
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&secs.to_string());
    if frac > 0 {
        let f = format!("{frac:03}");
        out.push('.');
        out.push_str(f.trim_end_matches('0'));
    }
    out.push('s');
    out
}

/// Mask an API key the way OpenAI's 401 message does: keys of more than 12
/// characters show their first 8 and last 4 with `*` in between; shorter
/// keys are shown as given.
pub(crate) fn mask_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 12 {
        return key.to_owned();
    }
    let mut out = String::with_capacity(chars.len());
    out.extend(&chars[..8]);
    out.extend(std::iter::repeat_n('*', chars.len() - 12));
    out.extend(&chars[chars.len() - 4..]);
    out
}

// ---------------------------------------------------------------- models

/// The dated snapshot OpenAI reports for an alias (`gpt-4o-mini` →
/// `gpt-4o-mini-2024-07-18`); any other name is echoed as is.
pub(crate) fn snapshot(model: &str) -> &str {
    match model {
        "gpt-4o-mini" => "gpt-4o-mini-2024-07-18",
        "gpt-4o" => "gpt-4o-2024-08-06",
        "chatgpt-4o-latest" => "chatgpt-4o-latest",
        "gpt-4.1" => "gpt-4.1-2025-04-14",
        "gpt-4.1-mini" => "gpt-4.1-mini-2025-04-14",
        "gpt-4.1-nano" => "gpt-4.1-nano-2025-04-14",
        "gpt-4-turbo" => "gpt-4-turbo-2024-04-09",
        "gpt-4" => "gpt-4-0613",
        "gpt-3.5-turbo" => "gpt-3.5-turbo-0125",
        "o1" => "o1-2024-12-17",
        "o1-mini" => "o1-mini-2024-09-12",
        "o3" => "o3-2025-04-16",
        "o3-mini" => "o3-mini-2025-01-31",
        "o4-mini" => "o4-mini-2025-04-16",
        "gpt-5" => "gpt-5-2025-08-07",
        "gpt-5-mini" => "gpt-5-mini-2025-08-07",
        "gpt-5-nano" => "gpt-5-nano-2025-08-07",
        other => other,
    }
}

/// Whether the model spends reasoning tokens (o1/o3/o4 families and gpt-5,
/// except the `gpt-5-chat` variants).
pub(crate) fn is_reasoning_model(model: &str) -> bool {
    let m = model.strip_prefix("openai/").unwrap_or(model);
    m.starts_with("o1")
        || m.starts_with("o3")
        || m.starts_with("o4")
        || (m.starts_with("gpt-5") && !m.starts_with("gpt-5-chat"))
}

/// The first value named `name` among (key, value) pairs: query parameters, form fields.
pub(crate) fn first_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Parse a URL query string into (key, value) pairs (`+` and `%XX` decoded).
pub(crate) fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    let Some(q) = query else { return Vec::new() };
    q.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hi = (bytes[i + 1] as char).to_digit(16);
                let lo = (bytes[i + 2] as char).to_digit(16);
                match (hi, lo) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(12), "12ms");
        assert_eq!(go_duration(8640), "8.64s");
        assert_eq!(go_duration(360_000), "6m0s");
        assert_eq!(go_duration(3_723_500), "1h2m3.5s");
        assert_eq!(go_duration(1000), "1s");
    }

    #[test]
    fn masks_like_openai() {
        assert_eq!(mask_key("hello"), "hello");
        assert_eq!(mask_key("key_8TjwABCDEFGHrtUb"), "key_8Tjw********rtUb");
        assert_eq!(
            mask_key("sk-proj-abcdefghijklmnopqrstuvwxyz"),
            "sk-proj-**********************wxyz"
        );
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn ids_have_the_right_shape() {
        let id = alnum_id("chatcmpl-", 29);
        assert_eq!(id.len(), 38);
        assert!(id[9..].chars().all(|c| c.is_ascii_alphanumeric()));
        let r = hex_id("req_", 32);
        assert_eq!(r.len(), 36);
        assert_ne!(hex_id("req_", 32), r);
    }

    #[test]
    fn query_parsing() {
        let q = query_pairs(Some("limit=2&order=asc&purpose=fine%2Dtune&x=a+b"));
        assert_eq!(q[0], ("limit".into(), "2".into()));
        assert_eq!(q[2].1, "fine-tune");
        assert_eq!(q[3].1, "a b");
    }
}
