//! The Standard Webhooks request (<https://www.standardwebhooks.com>): the JSON payload, the
//! `webhook-id` / `webhook-timestamp` / `webhook-signature` headers, and what an answer means.
//! Slack-compatible channels share the sending and the answer rules ([`post`]).

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::render::Rendered;
use super::worker::{Sent, Verdict};
use crate::types::StatusReport;

/// The version prefix of a signature (`v1,` + base64 of the HMAC-SHA256).
pub const SIGNATURE_VERSION: &str = "v1";

/// The `webhook-signature` value: `v1,` + base64(HMAC-SHA256(key, `{id}.{timestamp}.{body}`)).
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    // An HMAC takes keys of any length: `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "{SIGNATURE_VERSION},{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// The webhook's JSON body: the notification (with its text in the channel's locale) and the
/// workspace's status report, if the workspace is known.
pub(crate) fn payload(r: &Rendered, status: Option<&StatusReport>) -> Value {
    let n = &r.notification;
    json!({
        "type": "quota.notification",
        "timestamp": n.created_at,
        "data": {
            "notification": {
                "id": n.id,
                "workspace": n.workspace,
                "ts": n.created_at,
                "level": n.level,
                "status": n.status,
                "key": n.key,
                "args": n.args,
                "title": n.title,
                "body": n.body,
                "locale": r.locale.code(),
            },
            "status": status,
        }
    })
}

/// What an HTTP answer means for a delivery: 2xx delivered; 408, 429 and 5xx retried; any
/// other (a redirect, which is not followed, or a 4xx) given up at once.
pub(crate) fn verdict(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        408 | 429 | 500..=599 => Verdict::Retry,
        _ => Verdict::GiveUp,
    }
}

/// POSTs `body` to `url` with `headers` and judges the answer. A connection error or timeout
/// is retried. No error text carries the URL (a Slack URL is a secret).
pub(crate) async fn post(
    http: &reqwest::Client,
    url: &str,
    headers: &[(&'static str, String)],
    body: Vec<u8>,
) -> Sent {
    let mut req = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json");
    for (k, v) in headers {
        req = req.header(*k, v.as_str());
    }
    match req.body(body).send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let verdict = verdict(status);
            // A little of the answer helps the admin see why a receiver refused.
            let detail = match verdict {
                Verdict::Delivered => None,
                _ => resp
                    .text()
                    .await
                    .ok()
                    .map(|t| super::worker::truncate(t.trim()))
                    .filter(|t| !t.is_empty()),
            };
            Sent {
                verdict,
                http_status: Some(status),
                smtp_code: None,
                detail,
            }
        }
        Err(e) => Sent::retry(error_chain(&e.without_url())),
    }
}

/// An error and its causes (`error sending request: client error (Connect): tcp connect
/// error: Connection refused`), the URL left out by the caller.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Sends a Standard Webhooks request: signed with `key`, identified by `id`.
pub(crate) async fn send(
    http: &reqwest::Client,
    url: &str,
    key: &[u8],
    id: &str,
    r: &Rendered,
    status: Option<&StatusReport>,
) -> Sent {
    let body = match serde_json::to_vec(&payload(r, status)) {
        Ok(b) => b,
        Err(e) => return Sent::give_up(format!("cannot encode the payload: {e}")),
    };
    let timestamp = chrono::Utc::now().timestamp();
    let signature = sign(key, id, timestamp, &body);
    let headers = [
        ("webhook-id", id.to_string()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature),
    ];
    post(http, url, &headers, body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_matches_the_standard_webhooks_example() {
        // The example of the Standard Webhooks reference libraries.
        let key = crate::config::decode_webhook_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap_or_default();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn answers_are_judged_by_status() {
        for s in [200, 201, 204, 299] {
            assert_eq!(verdict(s), Verdict::Delivered, "{s}");
        }
        for s in [408, 429, 500, 502, 503, 599] {
            assert_eq!(verdict(s), Verdict::Retry, "{s}");
        }
        for s in [301, 302, 400, 401, 403, 404, 410, 422] {
            assert_eq!(verdict(s), Verdict::GiveUp, "{s}");
        }
    }
}
