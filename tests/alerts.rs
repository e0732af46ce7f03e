//! Alert channels end to end: notifications caused through the gateway reach webhook, Slack
//! and email receivers run by the test on 127.0.0.1, signed, retried, filtered, across a
//! restart and with two gateways on one database; the admin API; no secret in the log.
//!
//! Its own test binary: it installs the process-wide tracing subscriber that captures the log
//! (every test here logs into it, and the secrets test reads it all).

mod support;

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use support::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

// ------------------------------------------------------------------ the captured log

/// The log of this test binary (installed by the first test that asks).
fn log() -> &'static Captured {
    static LOG: OnceLock<Captured> = OnceLock::new();
    // This test binary has no other subscriber; were one there, the capture stays empty.
    LOG.get_or_init(|| Captured::install().unwrap_or_default())
}

// ------------------------------------------------------------------ secrets of the tests

/// The secrets (webhook secrets, the SMTP password) the tests put in the environment (each test its own variable, so
/// tests running at once never race on one). Every value here must never reach the log.
const SECRETS: [(&str, &str); 8] = [
    (
        "QS_TEST_ALERTS_SHARED",
        "whsec_c2VjcmV0LXNoYXJlZC12YWx1ZS0wMDAwMDAwMDAwMA==",
    ),
    (
        "QS_TEST_ALERTS_RETRY",
        "whsec_c2VjcmV0LXJldHJ5LXZhbHVlLTAwMDAwMDAwMDAwMA==",
    ),
    (
        "QS_TEST_ALERTS_FILTER",
        "whsec_c2VjcmV0LWZpbHRlci12YWx1ZS0wMDAwMDAwMDAwMA==",
    ),
    (
        "QS_TEST_ALERTS_RESTART",
        "whsec_c2VjcmV0LXJlc3RhcnQtdmFsdWUtMDAwMDAwMDAwMA==",
    ),
    (
        "QS_TEST_ALERTS_TWO",
        "whsec_c2VjcmV0LXR3by1pbnN0YW5jZXMtMDAwMDAwMDAwMDA=",
    ),
    (
        "QS_TEST_ALERTS_ADMIN",
        "whsec_c2VjcmV0LWFkbWluLWZpbGUtMDAwMDAwMDAwMDAwMA==",
    ),
    (
        "QS_TEST_ALERTS_API_ENV",
        "c2VjcmV0LWFwaS1lbnYtYmFyZS1iYXNlNjQtMDAwMDA=",
    ),
    ("QS_TEST_ALERTS_SMTP_PW", "smtp-password-never-logged-0123"),
];

/// The secret of variable `name` (set in the environment on first use).
fn secret(name: &str) -> &'static str {
    let value = SECRETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("no test secret {name}"));
    std::env::set_var(name, value);
    value
}

/// The path of the Slack test URL: a Slack URL's path is its secret.
const SLACK_PATH: &str = "/services/T0TEST/B0TEST/slack-path-token-0123";

// ------------------------------------------------------------------ a webhook receiver

/// One request a [`Receiver`] got.
#[derive(Clone, Debug)]
struct Hit {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// The status it was answered with.
    answered: u16,
    /// The Standard Webhooks signature checked out with the receiver's secret (`None`: it has
    /// no secret).
    verified: Option<bool>,
}

impl Hit {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e})"))
    }
}

/// Checks a Standard Webhooks signature as a receiver would: the key is the base64 after
/// `whsec_`, the message `{id}.{timestamp}.{body}`, and the timestamp within five minutes.
fn verify(secret: &str, id: &str, timestamp: &str, signature: &str, body: &[u8]) -> bool {
    let b64 = base64::engine::general_purpose::STANDARD;
    let Ok(key) = b64.decode(secret.strip_prefix("whsec_").unwrap_or(secret)) else {
        return false;
    };
    let Ok(ts) = timestamp.parse::<i64>() else {
        return false;
    };
    if (chrono::Utc::now().timestamp() - ts).abs() > 300 {
        return false;
    }
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else {
        return false;
    };
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = format!("v1,{}", b64.encode(mac.finalize().into_bytes()));
    // Several signatures may be sent, separated by spaces.
    signature.split(' ').any(|s| s == expected)
}

/// An HTTP receiver on 127.0.0.1 that records every request and answers with the given
/// statuses in turn, then 200.
struct Receiver {
    url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
    stop: CancellationToken,
}

impl Receiver {
    async fn start(secret: Option<&str>, answers: &[u16]) -> Receiver {
        let (listener, _) = local_listener().await;
        Receiver::start_on(listener, secret, answers)
    }

    fn start_on(
        listener: tokio::net::TcpListener,
        secret: Option<&str>,
        answers: &[u16],
    ) -> Receiver {
        use axum::body::Body;
        use axum::http::{Request, StatusCode};
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let hits = Arc::new(Mutex::new(Vec::new()));
        let answers = Arc::new(Mutex::new(answers.iter().copied().collect::<VecDeque<_>>()));
        let secret = secret.map(str::to_string);
        let log = hits.clone();
        let app = axum::Router::new().fallback(move |req: Request<Body>| {
            let (log, answers, secret) = (log.clone(), answers.clone(), secret.clone());
            async move {
                let path = req.uri().path().to_string();
                let headers: Vec<(String, String)> = req
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
                    .collect();
                let body = axum::body::to_bytes(req.into_body(), 1 << 20)
                    .await
                    .map(|b| b.to_vec())
                    .unwrap_or_default();
                let mut hit = Hit {
                    path,
                    headers,
                    body,
                    answered: 200,
                    verified: None,
                };
                hit.verified = secret.as_deref().map(|s| {
                    verify(
                        s,
                        hit.header("webhook-id"),
                        hit.header("webhook-timestamp"),
                        hit.header("webhook-signature"),
                        &hit.body,
                    )
                });
                let scripted = answers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .pop_front();
                hit.answered = match (hit.verified, scripted) {
                    (Some(false), _) => 401,
                    (_, Some(s)) => s,
                    (_, None) => 200,
                };
                let status = StatusCode::from_u16(hit.answered).unwrap_or(StatusCode::OK);
                log.lock().unwrap_or_else(|e| e.into_inner()).push(hit);
                (status, "ok")
            }
        });
        let stop = serve(listener, app);
        Receiver {
            url: format!("http://{addr}"),
            hits,
            stop,
        }
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits (bounded, 10 s) until `f` holds for the hits so far; returns them.
    async fn wait(&self, what: &str, f: impl Fn(&[Hit]) -> bool) -> Vec<Hit> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let hits = self.hits();
            if f(&hits) {
                return hits;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: never happened; hits: {:?}",
                hits.iter()
                    .map(|h| (h.header("webhook-id").to_string(), h.answered))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// How many hits were answered 200.
fn delivered(hits: &[Hit]) -> usize {
    hits.iter().filter(|h| h.answered == 200).count()
}

/// A port on 127.0.0.1 where nothing listens yet (bound, then released), to start a receiver
/// on later.
async fn reserved_port() -> std::net::SocketAddr {
    let (l, addr) = local_listener().await;
    drop(l);
    addr
}

// ------------------------------------------------------------------ helpers

/// The TOML of the test gateways: retries from 50 ms, acme limited to `requests_per_day`.
fn toml_with(requests_per_day: u32, channels: &str) -> String {
    format!(
        "[alerts]\nretry_initial = \"50ms\"\ngive_up_after = \"1h\"\n{}\n{channels}",
        base_toml(&format!("requests_per_day = {requests_per_day}"))
    )
}

/// A webhook channel to `url` with the secret of `secret_env`.
fn webhook(id: &str, url: &str, secret_env: &str, extra: &str) -> String {
    format!(
        "[[channels]]\nid = \"{id}\"\nkind = \"webhook\"\nurl = \"{url}\"\nsecret_env = \"{secret_env}\"\n{extra}\n"
    )
}

/// Chat calls as acme until one is refused (`requests_per_day` reached): the refusal
/// becomes a `quota_exceeded` notification of level `error`.
async fn exceed_daily_limit(env: &Env, limit: u32) {
    for i in 0..limit {
        let r = env.chat(ACME_KEY, "hello").await;
        assert_eq!(r.status(), 200, "call {i}");
        let _ = r.bytes().await;
    }
    let r = env.chat(ACME_KEY, "one too many").await;
    assert_eq!(r.status(), 429);
    let _ = r.bytes().await;
    env.wait_status(ACME_KEY, "quota_exceeded").await;
}

/// The delivery log of channel `id`, newest first, once `f` holds (bounded, 10 s).
async fn wait_deliveries(env: &Env, id: &str, f: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let path = format!("/api/admin/channels/{id}/deliveries?limit=500");
    let v = env
        .wait_json(ADMIN_KEY, &path, |v| {
            v["deliveries"].as_array().is_some_and(|d| f(d))
        })
        .await;
    v["deliveries"].as_array().cloned().unwrap_or_default()
}

/// The outcomes of a delivery log, as listed.
fn outcomes(log: &[Value]) -> Vec<&str> {
    log.iter().filter_map(|d| d["outcome"].as_str()).collect()
}

async fn delete(env: &Env, key: &str, path: &str) -> reqwest::Response {
    env.http
        .delete(env.url(path))
        .bearer_auth(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Acme's notifications as the API lists them (in `locale`).
async fn acme_notifications(env: &Env, locale: &str) -> Vec<Value> {
    let v = env
        .get_json(
            ACME_KEY,
            &format!("/api/quota/notifications?locale={locale}"),
        )
        .await;
    v["notifications"].as_array().cloned().unwrap_or_default()
}

// ------------------------------------------------------------------ webhooks

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_is_signed_retried_with_one_id_and_delivered_once() {
    log();
    let key = secret("QS_TEST_ALERTS_RETRY");
    let rx = Receiver::start(Some(key), &[500, 500]).await;
    let channel = webhook(
        "ops",
        &format!("{}/hook", rx.url),
        "QS_TEST_ALERTS_RETRY",
        "levels = [\"error\"]",
    );
    let env = Env::start(&toml_with(2, &channel)).await;
    exceed_daily_limit(&env, 2).await;

    let hits = rx
        .wait("a delivery answered 200", |h| delivered(h) == 1)
        .await;
    let log = wait_deliveries(&env, "ops", |d| outcomes(d).contains(&"delivered")).await;
    assert_eq!(
        outcomes(&log),
        ["delivered", "will_retry", "will_retry"],
        "{log:?}"
    );
    let attempts: Vec<u64> = log.iter().filter_map(|d| d["attempt"].as_u64()).collect();
    assert_eq!(attempts, [3, 2, 1]);
    let statuses: Vec<u64> = log
        .iter()
        .filter_map(|d| d["http_status"].as_u64())
        .collect();
    assert_eq!(statuses, [200, 500, 500]);
    // Nothing more is sent once it is delivered.
    let hits_now = rx.hits();
    assert_eq!(hits_now.len(), 3, "{hits:?}");
    assert_eq!(delivered(&hits_now), 1);
    assert!(
        hits_now.iter().all(|h| h.verified == Some(true)),
        "bad signature"
    );
    assert!(hits_now.iter().all(|h| h.path == "/hook"));
    assert!(hits_now
        .iter()
        .all(|h| h.header("content-type") == "application/json"));
    let ids: Vec<&str> = hits_now.iter().map(|h| h.header("webhook-id")).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");

    // The payload: the notification, its text in the channel's locale, the workspace status.
    let body = hits_now[2].json();
    assert_eq!(body["type"], "quota.notification", "{body}");
    let n = &body["data"]["notification"];
    assert_eq!(n["key"], "notif-alert-threshold", "{body}");
    assert_eq!(n["level"], "error");
    assert_eq!(n["workspace"], "acme");
    assert_eq!(n["locale"], "en");
    assert_eq!(n["args"]["limit"], "requests_per_day");
    assert_eq!(
        ids[0],
        format!("{}:ops", n["id"].as_str().unwrap_or_default())
    );
    let listed = acme_notifications(&env, "en").await;
    let same = listed
        .iter()
        .find(|l| l["id"] == n["id"])
        .cloned()
        .unwrap_or_default();
    assert_eq!(n["title"], same["title"], "{same}");
    assert_eq!(n["body"], same["body"], "{same}");
    assert_eq!(body["data"]["status"]["workspace"], "acme");
    assert_eq!(body["data"]["status"]["status"], "quota_exceeded");
    assert_eq!(log[0]["notification_id"], n["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_take_only_their_levels_and_workspaces() {
    log();
    let key = secret("QS_TEST_ALERTS_FILTER");
    let all = Receiver::start(Some(key), &[]).await;
    let errors = Receiver::start(Some(key), &[]).await;
    let other = Receiver::start(Some(key), &[]).await;
    let env_name = "QS_TEST_ALERTS_FILTER";
    let channels = [
        webhook("all", &all.url, env_name, ""),
        webhook("errors", &errors.url, env_name, "levels = [\"error\"]"),
        webhook("other", &other.url, env_name, "workspaces = [\"other\"]"),
    ]
    .concat();
    // 4 of 5 calls cross the 80 % warning, the sixth call is refused: a warning, then an error.
    let env = Env::start(&toml_with(5, &channels)).await;
    exceed_daily_limit(&env, 5).await;
    let listed = acme_notifications(&env, "en").await;
    let by_level = |level: &str| -> Vec<String> {
        let mut ids: Vec<String> = listed
            .iter()
            .filter(|n| n["level"] == level)
            .filter_map(|n| n["id"].as_str().map(str::to_string))
            .collect();
        ids.sort();
        ids
    };
    let (warnings, errs) = (by_level("warning"), by_level("error"));
    assert!(!warnings.is_empty() && !errs.is_empty(), "{listed:?}");

    let notified = |hits: &[Hit]| -> Vec<String> {
        let mut ids: Vec<String> = hits
            .iter()
            .map(|h| {
                h.json()["data"]["notification"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        ids.sort();
        ids
    };
    let every = listed.len();
    let got_all = all.wait("every notification", |h| h.len() >= every).await;
    assert_eq!(notified(&got_all).len(), every);
    let got_errors = errors
        .wait("the error notifications", |h| h.len() >= errs.len())
        .await;
    assert_eq!(
        notified(&got_errors),
        errs,
        "levels = [\"error\"] takes errors only"
    );
    // Outbox rows are written with their notification: none was ever queued for `other`.
    let pool = env.db_pool().await;
    let queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE channel_id = 'other'")
        .fetch_one(&pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(queued, 0);
    assert!(other.hits().is_empty());
    assert_eq!(
        errors.hits().len(),
        errs.len(),
        "no warning reached `errors`"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_delivery_survives_a_restart_and_is_delivered_once() {
    log();
    let key = secret("QS_TEST_ALERTS_RESTART");
    let addr = reserved_port().await;
    let channel = webhook(
        "ops",
        &format!("http://{addr}/hook"),
        "QS_TEST_ALERTS_RESTART",
        "levels = [\"error\"]",
    );
    let mut env = Env::start(&toml_with(2, &channel)).await;
    exceed_daily_limit(&env, 2).await;
    // Nothing listens: the attempts fail and are retried.
    let log = wait_deliveries(&env, "ops", |d| !d.is_empty()).await;
    assert_eq!(log[0]["outcome"], "will_retry", "{log:?}");
    assert!(log[0]["http_status"].is_null());
    // Why, without the URL (a Slack URL's path is its secret).
    let detail = log[0]["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("refused"), "{detail}");
    assert!(!detail.contains(&addr.to_string()), "{detail}");
    let queued = log[0]["notification_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let row = log[0]["outbox_id"].clone();
    env.stop_gateway().await;

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("{addr}: {e}"));
    let rx = Receiver::start_on(listener, Some(key), &[]);
    env.restart().await;
    // (The restarted registry may notify again, under a new id: only the queued one counts.)
    let id = format!("{queued}:ops");
    let of_row = |hits: &[Hit]| -> Vec<Hit> {
        hits.iter()
            .filter(|h| h.header("webhook-id") == id)
            .cloned()
            .collect()
    };
    rx.wait("the delivery after the restart", |h| !of_row(h).is_empty())
        .await;
    let log = wait_deliveries(&env, "ops", |d| {
        d.iter()
            .any(|x| x["outbox_id"] == row && x["outcome"] == "delivered")
    })
    .await;
    let row_log: Vec<&str> = log
        .iter()
        .filter(|x| x["outbox_id"] == row)
        .filter_map(|x| x["outcome"].as_str())
        .collect();
    assert_eq!(row_log[0], "delivered", "{log:?}");
    assert!(row_log[1..].iter().all(|o| *o == "will_retry"), "{log:?}");
    // Past the next poll: it is not sent again.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let hits = of_row(&rx.hits());
    assert_eq!(hits.len(), 1, "delivered once");
    assert_eq!(hits[0].verified, Some(true));
    assert_eq!(
        hits[0].json()["data"]["notification"]["key"],
        "notif-alert-threshold"
    );
}

/// A second gateway on the database file of `env`, with the same configuration.
async fn second_gateway(
    env: &Env,
    toml: &str,
) -> (quota_sentinel::server::Running, CancellationToken) {
    use quota_sentinel::config::{Overrides, RawConfig};
    use secrecy::SecretString;
    let raw = RawConfig::parse(toml).unwrap_or_else(|e| panic!("{e}"));
    let config = raw
        .validate(Overrides {
            listen: Some("127.0.0.1:0".into()),
            database_url: Some(format!("sqlite://{}", env.db_path().display())),
            upstream_url: Some(format!("{}/v1", env.sim_url)),
            upstream_key: Some(SecretString::from(UPSTREAM_KEY)),
            admin_key: Some(SecretString::from(ADMIN_KEY)),
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let listener =
        quota_sentinel::server::bind("127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"));
    let stop = CancellationToken::new();
    let running = quota_sentinel::server::start(config, listener, stop.clone())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (running, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_one_database_deliver_each_row_once() {
    log();
    let key = secret("QS_TEST_ALERTS_TWO");
    let addr = reserved_port().await;
    let toml = toml_with(
        2,
        &webhook(
            "ops",
            &format!("http://{addr}/hook"),
            "QS_TEST_ALERTS_TWO",
            "",
        ),
    );
    let env = Env::start(&toml).await;
    let (second, stop_second) = second_gateway(&env, &toml).await;
    // Ten test alerts queued through the first gateway; nothing listens yet, so both
    // gateways' workers keep claiming the rows that fall due again.
    const ROWS: usize = 10;
    let mut ids = Vec::new();
    for _ in 0..ROWS {
        let r = env
            .post(ADMIN_KEY, "/api/admin/channels/ops/test", json!({}))
            .await;
        assert_eq!(r.status(), 202);
        let v: Value = r.json().await.unwrap_or_default();
        ids.push(v["webhook_id"].as_str().unwrap_or_default().to_string());
    }
    wait_deliveries(&env, "ops", |d| d.len() >= 2 * ROWS).await;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("{addr}: {e}"));
    let rx = Receiver::start_on(listener, Some(key), &[]);
    let log = wait_deliveries(&env, "ops", |d| {
        outcomes(d).iter().filter(|o| **o == "delivered").count() == ROWS
    })
    .await;
    // Past the next poll of both workers: nothing more arrives.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let hits = rx.hits();
    let mut got: Vec<&str> = hits.iter().map(|h| h.header("webhook-id")).collect();
    got.sort();
    ids.sort();
    assert_eq!(got, ids, "each row once");
    assert!(hits.iter().all(|h| h.verified == Some(true)));
    let delivered_rows: Vec<i64> = log
        .iter()
        .filter(|d| d["outcome"] == "delivered")
        .filter_map(|d| d["outbox_id"].as_i64())
        .collect();
    let mut unique = delivered_rows.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ROWS, "{delivered_rows:?}");
    let pool = env.db_pool().await;
    let workers: Vec<(String, i64)> =
        sqlx::query_as("SELECT worker, COUNT(*) FROM deliveries GROUP BY worker")
            .fetch_all(&pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    // Which process made how many attempts (both, as a rule; not asserted: it is timing).
    eprintln!("attempts per worker: {workers:?}");
    stop_second.cancel();
    tokio::time::timeout(Duration::from_secs(20), second.wait())
        .await
        .unwrap_or_else(|_| panic!("the second gateway did not stop"))
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_threshold_crossed_in_two_gateways_on_one_database_is_sent_once() {
    log();
    let key = secret("QS_TEST_ALERTS_SHARED");
    let rx = Receiver::start(Some(key), &[]).await;
    let toml = toml_with(
        4,
        &webhook(
            "ops",
            &format!("{}/hook", rx.url),
            "QS_TEST_ALERTS_SHARED",
            "",
        ),
    );
    let env = Env::start(&toml).await;
    let (second, stop_second) = second_gateway(&env, &toml).await;
    // Each gateway counts its own calls: both see acme cross 50 % of its 4 requests a day.
    for _ in 0..2 {
        let r = env.chat(ACME_KEY, "through the first").await;
        assert_eq!(r.status(), 200);
        let _ = r.bytes().await;
    }
    rx.wait("the first 50 % alert", |h| !h.is_empty()).await;
    for _ in 0..2 {
        let r = env
            .http
            .post(format!("http://{}/v1/chat/completions", second.addr))
            .bearer_auth(ACME_KEY)
            .json(&json!({"model": "gpt-4o-mini", "max_tokens": 5, "messages": [{"role": "user", "content": "through the second"}]}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.status(), 200);
        let _ = r.bytes().await;
    }
    // The second gateway raised the same alert (same id): the store kept one, one was sent.
    let pool = env.db_pool().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ledger WHERE workspace = 'acme'")
            .fetch_one(&pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        if n >= 4 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the ledger has {n} rows"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Past both writers' next batch and both workers' next poll.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let hits = rx.hits();
    let keys: Vec<String> = hits
        .iter()
        .map(|h| {
            h.json()["data"]["notification"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(
        keys[0].starts_with("alert:acme:requests_per_day:") && keys[0].ends_with(":5000"),
        "{keys:?}"
    );
    let outbox: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
        .fetch_one(&pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outbox, 1);
    stop_second.cancel();
    tokio::time::timeout(Duration::from_secs(20), second.wait())
        .await
        .unwrap_or_else(|_| panic!("the second gateway did not stop"))
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_is_given_up_at_once_and_a_long_failure_after_give_up_after() {
    log();
    let key = secret("QS_TEST_ALERTS_RETRY");
    let refusing = Receiver::start(Some(key), &[410]).await;
    let down = reserved_port().await;
    let toml = format!(
        "[alerts]\nretry_initial = \"20ms\"\ngive_up_after = \"300ms\"\n{}\n{}{}",
        base_toml(""),
        webhook("gone", &refusing.url, "QS_TEST_ALERTS_RETRY", ""),
        webhook(
            "down",
            &format!("http://{down}/"),
            "QS_TEST_ALERTS_RETRY",
            ""
        )
    );
    let env = Env::start(&toml).await;
    for id in ["gone", "down"] {
        let r = env
            .post(
                ADMIN_KEY,
                &format!("/api/admin/channels/{id}/test"),
                json!({}),
            )
            .await;
        assert_eq!(r.status(), 202);
    }
    let gone = wait_deliveries(&env, "gone", |d| !d.is_empty()).await;
    assert_eq!(outcomes(&gone), ["gave_up"]);
    assert_eq!(gone[0]["http_status"], 410);
    assert_eq!(gone[0]["attempt"], 1);
    let down = wait_deliveries(&env, "down", |d| outcomes(d).first() == Some(&"gave_up")).await;
    assert!(down.len() >= 2, "retried before giving up: {down:?}");
    assert!(
        outcomes(&down)[1..].iter().all(|o| *o == "will_retry"),
        "{down:?}"
    );
    let first = chrono::DateTime::parse_from_rfc3339(
        down[down.len() - 1]["at"].as_str().unwrap_or_default(),
    );
    let last = chrono::DateTime::parse_from_rfc3339(down[0]["at"].as_str().unwrap_or_default());
    let (Ok(first), Ok(last)) = (first, last) else {
        panic!("times: {down:?}");
    };
    assert!(
        last - first >= chrono::Duration::milliseconds(300),
        "given up only once give_up_after had passed: {down:?}"
    );
    // Nothing is attempted after that.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let after = wait_deliveries(&env, "down", |_| true).await;
    assert_eq!(after.len(), down.len());
    assert_eq!(refusing.hits().len(), 1);
}

// ------------------------------------------------------------------ Slack

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_gets_text_and_blocks() {
    log();
    let rx = Receiver::start(None, &[]).await;
    let channel = format!(
        "[[channels]]\nid = \"chat\"\nkind = \"slack\"\nurl = \"{}{SLACK_PATH}\"\nlevels = [\"error\"]\ntime_zone = \"Europe/Rome\"\n",
        rx.url
    );
    let env = Env::start(&toml_with(2, &channel)).await;
    exceed_daily_limit(&env, 2).await;
    let hits = rx.wait("the Slack message", |h| !h.is_empty()).await;
    let listed = acme_notifications(&env, "en").await;
    let n = listed
        .iter()
        .find(|n| n["key"] == "notif-alert-threshold")
        .cloned()
        .unwrap_or_default();
    let (title, body) = (
        n["title"].as_str().unwrap_or_default(),
        n["body"].as_str().unwrap_or_default(),
    );
    // The channel shows times in its own zone: the API's midnight (UTC) is Rome's 01:00 or
    // 02:00.
    let midnight = (chrono::Utc::now().date_naive() + chrono::Days::new(1))
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc();
    let rome = midnight
        .with_timezone(&chrono_tz::Europe::Rome)
        .format("%H:%M")
        .to_string();
    let body = body.replace("at 00:00", &format!("at {rome}"));
    let body = body.as_str();
    let msg = hits[0].json();
    assert_eq!(hits[0].path, SLACK_PATH);
    assert_eq!(msg["text"], format!("{title}: {body}"), "{msg}");
    let blocks = msg["blocks"].as_array().cloned().unwrap_or_default();
    assert_eq!(blocks.len(), 3, "{msg}");
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    assert_eq!(blocks[0]["text"]["text"], title);
    assert_eq!(blocks[1]["type"], "section");
    assert_eq!(blocks[1]["text"]["type"], "mrkdwn");
    assert_eq!(blocks[1]["text"]["text"], body);
    assert_eq!(blocks[2]["type"], "context");
    let context = blocks[2]["elements"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(
        context.starts_with("Workspace acme · quota exceeded · ")
            && (context.ends_with(" CET") || context.ends_with(" CEST")),
        "the time in the channel's zone: {context}"
    );
    // GET shows the channel without the URL's path.
    let list = env.get_json(ADMIN_KEY, "/api/admin/channels").await;
    assert!(!list.to_string().contains("slack-path-token"), "{list}");
    assert_eq!(list["channels"][0]["url"], format!("{}/***", rx.url));
}

// ------------------------------------------------------------------ email

/// One message an [`SmtpSink`] accepted.
#[derive(Clone, Debug)]
struct Mail {
    /// The `AUTH` command of its session, if it authenticated.
    auth: Option<String>,
    from: String,
    to: Vec<String>,
    data: String,
}

/// Just enough SMTP on 127.0.0.1: greeting, EHLO, MAIL, RCPT, DATA, QUIT.
struct SmtpSink {
    port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
    stop: CancellationToken,
}

impl SmtpSink {
    async fn start() -> SmtpSink {
        let (listener, addr) = local_listener().await;
        let mails = Arc::new(Mutex::new(Vec::new()));
        let stop = CancellationToken::new();
        let (m, t) = (mails.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let conn = tokio::select! {
                    c = listener.accept() => c,
                    () = t.cancelled() => return,
                };
                let Ok((socket, _)) = conn else { return };
                let m = m.clone();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(Duration::from_secs(10), session(socket, m)).await;
                });
            }
        });
        SmtpSink {
            port: addr.port(),
            mails,
            stop,
        }
    }

    fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn session(socket: tokio::net::TcpStream, mails: Arc<Mutex<Vec<Mail>>>) -> io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 sink.test ESMTP\r\n").await?;
    let (mut auth, mut from, mut to) = (None, String::new(), Vec::new());
    while let Some(line) = lines.next_line().await? {
        let verb = line
            .split([' ', ':'])
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" | "HELO" => b"250-sink.test\r\n250 AUTH PLAIN\r\n",
            "AUTH" => {
                auth = Some(line.clone());
                b"235 2.7.0 authenticated\r\n"
            }
            "MAIL" => {
                from = line.clone();
                b"250 OK\r\n"
            }
            "RCPT" => {
                to.push(line.clone());
                b"250 OK\r\n"
            }
            "DATA" => {
                write.write_all(b"354 go ahead\r\n").await?;
                let mut data = String::new();
                while let Some(l) = lines.next_line().await? {
                    if l == "." {
                        break;
                    }
                    data.push_str(l.strip_prefix('.').unwrap_or(&l));
                    data.push_str("\r\n");
                }
                mails.lock().unwrap_or_else(|e| e.into_inner()).push(Mail {
                    auth: auth.clone(),
                    from: std::mem::take(&mut from),
                    to: std::mem::take(&mut to),
                    data,
                });
                b"250 2.0.0 queued as 1\r\n"
            }
            "RSET" | "NOOP" => b"250 OK\r\n",
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
    Ok(())
}

/// Decodes quoted-printable text (soft line breaks and `=XX`).
fn quoted_printable(text: &str) -> Vec<u8> {
    let joined = text.replace("=\r\n", "");
    let b = joined.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' && i + 2 < b.len() {
            if let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// A header's value, unfolded, with RFC 2047 encoded words decoded.
fn header_value(head: &str, name: &str) -> String {
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    let raw = unfolded
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    let mut out = String::new();
    let mut last_encoded = false;
    for word in raw.split(' ') {
        let decoded = word
            .strip_prefix("=?")
            .and_then(|w| w.strip_suffix("?="))
            .and_then(|w| {
                let mut parts = w.splitn(3, '?');
                let (_charset, enc, text) = (parts.next()?, parts.next()?, parts.next()?);
                let bytes = if enc.eq_ignore_ascii_case("b") {
                    base64::engine::general_purpose::STANDARD
                        .decode(text)
                        .ok()?
                } else {
                    quoted_printable(&text.replace('_', " "))
                };
                String::from_utf8(bytes).ok()
            });
        match decoded {
            // Space between two encoded words is not part of the text.
            Some(d) => {
                if !last_encoded && !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(&d);
                last_encoded = true;
            }
            None => {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(word);
                last_encoded = false;
            }
        }
    }
    out
}

/// The decoded body of the part of `mail` whose content type starts with `content_type`.
fn part(mail: &str, content_type: &str) -> Option<String> {
    let (head, _) = mail.split_once("\r\n\r\n")?;
    let ctype = header_value(head, "content-type");
    let boundary = ctype
        .split("boundary=")
        .nth(1)?
        .trim_matches('"')
        .to_string();
    for p in mail.split(&format!("--{boundary}")) {
        let Some((phead, body)) = p.trim_start_matches("\r\n").split_once("\r\n\r\n") else {
            continue;
        };
        if !header_value(phead, "content-type").starts_with(content_type) {
            continue;
        }
        let bytes = match header_value(phead, "content-transfer-encoding")
            .to_ascii_lowercase()
            .as_str()
        {
            "base64" => base64::engine::general_purpose::STANDARD
                .decode(body.split_whitespace().collect::<String>())
                .ok()?,
            "quoted-printable" => quoted_printable(body),
            _ => body.as_bytes().to_vec(),
        };
        return String::from_utf8(bytes).ok();
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_in_german_has_a_text_and_an_html_part() {
    log();
    let password = secret("QS_TEST_ALERTS_SMTP_PW");
    let sink = SmtpSink::start().await;
    let config = format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {}\nfrom = \"Quota Sentinel <qs@example.com>\"\ntls = \"none\"\n\
         username = \"qs\"\npassword_env = \"QS_TEST_ALERTS_SMTP_PW\"\n\
         [[channels]]\nid = \"mail\"\nkind = \"email\"\nto = [\"ops@example.com\"]\nlocale = \"de\"\nlevels = [\"error\"]\n",
        sink.port
    );
    let env = Env::start(&toml_with(2, &config)).await;
    exceed_daily_limit(&env, 2).await;
    let attempts = wait_deliveries(&env, "mail", |d| !d.is_empty()).await;
    assert_eq!(attempts[0]["outcome"], "delivered", "{attempts:?}");
    assert_eq!(attempts[0]["smtp_code"], 250);
    let mails = sink.mails();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert!(mail.from.contains("<qs@example.com>"), "{}", mail.from);
    assert_eq!(mail.to.len(), 1);
    assert!(mail.to[0].contains("<ops@example.com>"), "{:?}", mail.to);
    // It signed in with the password from password_env (AUTH PLAIN: NUL user NUL password).
    let auth = mail.auth.clone().unwrap_or_default();
    let plain = auth.strip_prefix("AUTH PLAIN ").unwrap_or_default();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(plain)
        .unwrap_or_default();
    assert_eq!(decoded, format!("\0qs\0{password}").into_bytes(), "{auth}");
    assert!(
        !log().text().contains(password),
        "the log holds the SMTP password"
    );

    let de = acme_notifications(&env, "de").await;
    let n = de
        .iter()
        .find(|n| n["key"] == "notif-alert-threshold")
        .cloned()
        .unwrap_or_default();
    let (title, body) = (
        n["title"].as_str().unwrap_or_default(),
        n["body"].as_str().unwrap_or_default(),
    );
    let en = acme_notifications(&env, "en").await;
    assert!(
        en.iter().all(|e| e["title"] != title),
        "the German title is German"
    );
    let (head, _) = mail.data.split_once("\r\n\r\n").unwrap_or_default();
    assert_eq!(
        header_value(head, "subject"),
        format!("[Quota Sentinel] {title} – Workspace acme")
    );
    assert!(header_value(head, "content-type").starts_with("multipart/alternative"));
    let text =
        part(&mail.data, "text/plain").unwrap_or_else(|| panic!("no text part:\n{}", mail.data));
    assert!(text.contains(title) && text.contains(body), "{text}");
    assert!(
        text.contains("Gesendet von Quota Sentinel über den Alarmkanal mail."),
        "{text}"
    );
    assert!(text.contains("Status: Kontingent überschritten"), "{text}");
    let html =
        part(&mail.data, "text/html").unwrap_or_else(|| panic!("no HTML part:\n{}", mail.data));
    assert!(html.contains(&format!("<h1>{title}</h1>")), "{html}");
    assert!(html.contains("lang=\"de\""), "{html}");
}

// ------------------------------------------------------------------ the admin API

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_are_managed_through_the_admin_api() {
    log();
    let file_key = secret("QS_TEST_ALERTS_ADMIN");
    let env_key = secret("QS_TEST_ALERTS_API_ENV");
    let rx_file = Receiver::start(Some(file_key), &[]).await;
    let file = webhook("from-file", &rx_file.url, "QS_TEST_ALERTS_ADMIN", "");
    let mut env = Env::start(&toml_with(100, &file)).await;

    // Only the admin.
    let r = env.get_anon("/api/admin/channels").await;
    assert_eq!(r.status(), 401);
    api_error(env.get(ACME_KEY, "/api/admin/channels").await)
        .await
        .assert_status_code(403, "invalid_admin_key");
    let body = json!({"id": "hook", "kind": "webhook", "url": "http://127.0.0.1:9/x"});
    api_error(env.post(ACME_KEY, "/api/admin/channels", body).await)
        .await
        .assert_status_code(403, "invalid_admin_key");

    // A webhook without secret_env gets a secret, shown once.
    let rx = Receiver::start(None, &[]).await;
    let r = env
        .post(
            ADMIN_KEY,
            "/api/admin/channels",
            json!({"id": "hook", "kind": "webhook", "url": format!("{}/api", rx.url), "levels": ["error"]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap_or_default();
    let made = created["secret"].as_str().unwrap_or_default().to_string();
    assert!(made.starts_with("whsec_") && made.len() > 40, "{created}");
    assert_eq!(created["channel"]["secret"], "set");
    assert_eq!(created["channel"]["origin"], "api");
    assert_eq!(created["channel"]["levels"], json!(["error"]));
    // One with secret_env keeps it in the environment.
    let r = env
        .post(
            ADMIN_KEY,
            "/api/admin/channels",
            json!({"id": "hook-env", "kind": "webhook", "url": format!("{}/env", rx.url), "secret_env": "QS_TEST_ALERTS_API_ENV"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap_or_default();
    assert!(v["secret"].is_null(), "{v}");
    assert_eq!(v["channel"]["secret_env"], "QS_TEST_ALERTS_API_ENV");

    let list = env.get_json(ADMIN_KEY, "/api/admin/channels").await;
    let text = list.to_string();
    for s in [made.as_str(), file_key, env_key] {
        assert!(!text.contains(s), "GET shows a secret: {text}");
    }
    let ids: Vec<&str> = list["channels"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, ["from-file", "hook", "hook-env"]);
    assert_eq!(list["channels"][0]["origin"], "file");
    assert!(list["channels"].as_array().is_some_and(|a| a
        .iter()
        .all(|c| c["kind"] != "webhook" || c["secret"] == "set")));

    // Bad input names the field, as the config file does.
    for (body, param, words) in [
        (
            json!({"id": "x", "kind": "webhook", "url": "http://127.0.0.1:9/", "levels": ["critical"]}),
            "levels",
            "unknown level `critical`",
        ),
        (
            json!({"id": "x", "kind": "slack", "url": "not a url"}),
            "url",
            "not a URL",
        ),
        (
            json!({"id": "x", "kind": "webhook", "url": "http://127.0.0.1:9/", "secret_env": "QS_TEST_ALERTS_NOT_SET"}),
            "secret_env",
            "QS_TEST_ALERTS_NOT_SET is not set",
        ),
        (
            json!({"id": "x", "kind": "email", "to": ["a@example.com"]}),
            "kind",
            "[smtp]",
        ),
        (
            json!({"id": "X Y", "kind": "slack", "url": "http://127.0.0.1:9/"}),
            "id",
            "lower-case",
        ),
        (
            json!({"id": "x", "kind": "slack", "url": "http://127.0.0.1:9/", "locale": "fr"}),
            "locale",
            "unknown locale `fr`",
        ),
    ] {
        let e = api_error(
            env.post(ADMIN_KEY, "/api/admin/channels", body.clone())
                .await,
        )
        .await;
        assert_eq!(e.status, 400, "{body}: {}", e.raw);
        assert_eq!(e.body.error.param.as_deref(), Some(param), "{}", e.raw);
        assert!(
            e.body.error.message.starts_with(&format!("{param}: ")),
            "{}",
            e.raw
        );
        assert!(e.body.error.message.contains(words), "{}", e.raw);
        assert_eq!(e.body.error.kind, "invalid_request_error");
    }
    let e = api_error(
        env.post(
            ADMIN_KEY,
            "/api/admin/channels",
            json!({"id": "x", "kind": "slack", "url": "http://127.0.0.1:9/", "colour": "red"}),
        )
        .await,
    )
    .await;
    assert_eq!(e.status, 400, "{}", e.raw);
    assert!(e.raw.contains("colour"), "{}", e.raw);
    for id in ["hook", "from-file"] {
        let body = json!({"id": id, "kind": "slack", "url": "http://127.0.0.1:9/"});
        api_error(env.post(ADMIN_KEY, "/api/admin/channels", body).await)
            .await
            .assert_status_code(409, "channel_exists");
    }

    // The test button: a test alert to that channel alone, signed with the secret made above.
    let r = env
        .post(ADMIN_KEY, "/api/admin/channels/hook/test", json!({}))
        .await;
    assert_eq!(r.status(), 202);
    let queued: Value = r.json().await.unwrap_or_default();
    let webhook_id = queued["webhook_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(webhook_id.ends_with(":hook"), "{queued}");
    let hits = rx.wait("the test alert", |h| !h.is_empty()).await;
    assert_eq!(hits.len(), 1);
    let h = &hits[0];
    assert_eq!(h.path, "/api");
    assert_eq!(h.header("webhook-id"), webhook_id);
    assert!(verify(
        &made,
        h.header("webhook-id"),
        h.header("webhook-timestamp"),
        h.header("webhook-signature"),
        &h.body
    ));
    let n = h.json()["data"]["notification"].clone();
    assert_eq!(n["key"], "alert-test");
    assert_eq!(n["title"], "Test alert from Quota Sentinel");
    assert!(
        n["body"].as_str().is_some_and(|b| b.contains("hook")),
        "{n}"
    );
    assert!(h.json()["data"]["status"].is_null());
    let log = wait_deliveries(&env, "hook", |d| !d.is_empty()).await;
    assert_eq!(log[0]["outcome"], "delivered");
    assert_eq!(log[0]["outbox_id"], queued["outbox_id"]);
    assert!(rx_file.hits().is_empty(), "only the tested channel");
    api_error(
        env.post(ADMIN_KEY, "/api/admin/channels/nope/test", json!({}))
            .await,
    )
    .await
    .assert_status_code(404, "channel_not_found");

    // A created channel and its secret survive a restart.
    env.restart().await;
    let r = env
        .post(ADMIN_KEY, "/api/admin/channels/hook/test", json!({}))
        .await;
    assert_eq!(r.status(), 202);
    let hits = rx
        .wait("the test alert after the restart", |h| h.len() == 2)
        .await;
    let h = &hits[1];
    assert!(verify(
        &made,
        h.header("webhook-id"),
        h.header("webhook-timestamp"),
        h.header("webhook-signature"),
        &h.body
    ));

    // Deleting: an API channel goes; a file channel is the file's.
    let r = delete(&env, ADMIN_KEY, "/api/admin/channels/hook").await;
    assert_eq!(r.status(), 204);
    api_error(delete(&env, ADMIN_KEY, "/api/admin/channels/hook").await)
        .await
        .assert_status_code(404, "channel_not_found");
    let e = api_error(delete(&env, ADMIN_KEY, "/api/admin/channels/from-file").await).await;
    e.assert_status_code(409, "channel_in_config_file");
    assert!(e.body.error.message.contains("config file"), "{}", e.raw);
    api_error(delete(&env, ACME_KEY, "/api/admin/channels/hook-env").await)
        .await
        .assert_status_code(403, "invalid_admin_key");
    let list = env.get_json(ADMIN_KEY, "/api/admin/channels").await;
    let ids: Vec<&str> = list["channels"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, ["from-file", "hook-env"]);
    api_error(
        env.get(ADMIN_KEY, "/api/admin/channels/hook/deliveries")
            .await,
    )
    .await
    .assert_status_code(404, "channel_not_found");
    env.restart().await;
    let list = env.get_json(ADMIN_KEY, "/api/admin/channels").await;
    assert_eq!(list["channels"].as_array().map(Vec::len), Some(2), "{list}");
}

// ------------------------------------------------------------------ secrets

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_log() {
    let log = log();
    // A channel of each kind sends and fails and is listed, so that each path logs.
    let key = secret("QS_TEST_ALERTS_ADMIN");
    let rx = Receiver::start(Some(key), &[500]).await;
    let slack = Receiver::start(None, &[]).await;
    let channels = format!(
        "{}[[channels]]\nid = \"chat\"\nkind = \"slack\"\nurl = \"{}{SLACK_PATH}\"\n",
        webhook("ops", &rx.url, "QS_TEST_ALERTS_ADMIN", ""),
        slack.url
    );
    let env = Env::start(&toml_with(2, &channels)).await;
    let r = env
        .post(
            ADMIN_KEY,
            "/api/admin/channels",
            json!({"id": "made", "kind": "webhook", "url": format!("{}/made", rx.url)}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let made: Value = r.json().await.unwrap_or_default();
    let made = made["secret"].as_str().unwrap_or_default().to_string();
    for id in ["ops", "chat", "made"] {
        let r = env
            .post(
                ADMIN_KEY,
                &format!("/api/admin/channels/{id}/test"),
                json!({}),
            )
            .await;
        assert_eq!(r.status(), 202);
    }
    exceed_daily_limit(&env, 2).await;
    wait_deliveries(&env, "ops", |d| outcomes(d).contains(&"delivered")).await;
    slack.wait("the Slack messages", |h| h.len() >= 2).await;
    let text = log.text();
    assert!(
        text.contains("alert delivered"),
        "the log was captured:\n{text}"
    );
    let mut secrets: Vec<String> = SECRETS.iter().map(|(_, v)| v.to_string()).collect();
    // Without the prefix too.
    secrets.extend(
        SECRETS
            .iter()
            .map(|(_, v)| v.trim_start_matches("whsec_").to_string()),
    );
    secrets.push(made.clone());
    secrets.push(made.trim_start_matches("whsec_").to_string());
    secrets.push("slack-path-token".to_string());
    for s in &secrets {
        assert!(
            !text.contains(s.as_str()),
            "the log holds a secret ({s}):\n{text}"
        );
    }
}
