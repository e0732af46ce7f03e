//! Demo mode: the real gateway and UI in front of the built-in simulator, with synthetic traffic
//! from three workspaces that climb through `warning`, `rate_limited` and `quota_exceeded`, see
//! the account hit upstream rate limits and failures, and recover — every state within a minute;
//! a fourth that spends its daily budget steadily, so that its burn-rate warning comes within
//! two minutes (`[alerts] burn_min_minutes = 1`); and a webhook channel to a receiver in the demo
//! process, so the admin's channel page has a delivery log.
//!
//! Owns: the demo's configuration, its scripted traffic and fault schedule, its webhook
//! receiver. The traffic goes through the real proxy path (HTTP to the gateway's own `/v1`), so
//! everything shown is real metering of real (simulated) OpenAI responses, and the webhooks are
//! real deliveries. Must not: be reachable outside `demo`.

use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{channel_from, ChannelConfig, Config, Overrides, RawConfig};
use crate::simulator::{Fault, SimConfig, Simulator};
use crate::types::ChannelCreate;

/// The demo's workspace keys and admin key (printed at start; demo only).
pub const DEMO_KEYS: [(&str, &str, &str); 4] = [
    ("atlas", "Atlas Support Bots", "qs_demo_atlas"),
    ("borealis", "Borealis Research", "qs_demo_borealis"),
    ("cascade", "Cascade Marketing", "qs_demo_cascade"),
    ("delta", "Delta Analytics", "qs_demo_delta"),
];
pub const DEMO_ADMIN_KEY: &str = "qs_demo_admin";
const UPSTREAM_KEY: &str = "sk-demo-upstream";
/// The id of the demo's webhook channel.
pub const DEMO_CHANNEL: &str = "demo-webhook";
/// Delta's calls: one every this many seconds, at `DELTA_MAX_TOKENS` of gpt-4o-mini (about
/// 0.00011 USD each at the built-in prices: 0.0022 USD a minute, so its 0.12 USD a day last
/// about 55 minutes).
const DELTA_EVERY_SECS: u64 = 3;
const DELTA_MAX_TOKENS: u64 = 200;
/// Delta's counters are reset this often (before its budget runs out).
const DELTA_RESET_SECS: u64 = 30 * 60;

/// A webhook signing secret for the demo's channel: `whsec_` and 32 random bytes in base64.
pub fn new_webhook_secret() -> SecretString {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    SecretString::from(format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    ))
}

/// The demo configuration: Atlas has a tight per-minute limit, Borealis a small daily token
/// quota, Cascade a small daily budget, Delta a daily budget (its only limit) that lasts about 55
/// minutes at its steady rate; the burn rate forecasts after one minute of history. Its webhook channel is
/// added by [`webhook_channel`] once the receiver listens.
pub fn config(listen: &str, database_url: &str, upstream_url: &str) -> Result<Config, String> {
    let hash = |k: &str| hex::encode(crate::registry::key_hash(k));
    let toml = format!(
        r#"
[alerts]
burn_min_minutes = 1
[status]
degraded_after = 3
recover_after = 2
default_rate_limit_seconds = 8
[[workspaces]]
id = "atlas"
name = "{}"
key_sha256 = ["{}"]
requests_per_minute = 40
requests_per_day = 0
tokens_per_minute = 0
[[workspaces]]
id = "borealis"
name = "{}"
key_sha256 = ["{}"]
requests_per_minute = 0
tokens_per_minute = 0
tokens_per_day = 6000
[[workspaces]]
id = "cascade"
name = "{}"
key_sha256 = ["{}"]
requests_per_minute = 0
tokens_per_minute = 0
budget_usd_per_day = 0.02
[[workspaces]]
id = "delta"
name = "{}"
key_sha256 = ["{}"]
requests_per_minute = 0
requests_per_day = 0
tokens_per_minute = 0
budget_usd_per_day = 0.12
"#,
        DEMO_KEYS[0].1,
        hash(DEMO_KEYS[0].2),
        DEMO_KEYS[1].1,
        hash(DEMO_KEYS[1].2),
        DEMO_KEYS[2].1,
        hash(DEMO_KEYS[2].2),
        DEMO_KEYS[3].1,
        hash(DEMO_KEYS[3].2),
    );
    let raw = RawConfig::parse(&toml)?;
    let mut config = raw
        .validate(Overrides {
            listen: Some(listen.to_string()),
            database_url: Some(database_url.to_string()),
            upstream_url: Some(upstream_url.to_string()),
            upstream_key: Some(SecretString::from(UPSTREAM_KEY)),
            admin_key: Some(SecretString::from(DEMO_ADMIN_KEY)),
            ..Default::default()
        })
        .map_err(|e| e.to_string())?;
    config.demo = true;
    Ok(config)
}

/// The demo's webhook channel, for `config`'s channels: the warning and error notifications,
/// posted to `url` and signed with `secret`.
pub fn webhook_channel(
    config: &Config,
    url: &str,
    secret: SecretString,
) -> Result<ChannelConfig, String> {
    // The channel is checked by the same rules as a `[[channels]]` entry, but its secret is
    // handed over as the gateway-made one of an API channel instead of through `secret_env`:
    // that would need `std::env::set_var`, unsound once other threads run (the demo runs in
    // the multi-threaded runtime, the simulator already serving), and would leave the secret
    // in the environment of anything the process starts.
    let channel = ChannelCreate {
        id: DEMO_CHANNEL.into(),
        kind: "webhook".into(),
        url: Some(url.to_string()),
        levels: Some(vec!["warning".into(), "error".into()]),
        ..ChannelCreate::default()
    };
    channel_from(
        &channel,
        config.smtp.is_some(),
        config.time_zone,
        Some(secret),
    )
    .map_err(|e| format!("demo channel: {e}"))
}

/// The demo's webhook receiver: answers 200 to every POST and logs a line for each (the
/// notification's key, workspace and level, the delivery's id and whether its signature
/// checks out; never the secret or the signature).
async fn receive_webhooks(
    listener: TcpListener,
    secret: SecretString,
    stop: CancellationToken,
) -> std::io::Result<()> {
    use axum::body::Bytes;
    use axum::http::HeaderMap;
    let key = crate::config::decode_webhook_secret(secret.expose_secret()).unwrap_or_default();
    let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
        let key = key.clone();
        async move {
            let header = |n: &str| {
                headers
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string()
            };
            let id = header("webhook-id");
            let signed = signature_ok(
                &key,
                &id,
                &header("webhook-timestamp"),
                &header("webhook-signature"),
                &body,
            );
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let n = &v["data"]["notification"];
            tracing::info!(
                webhook_id = %id,
                key = n["key"].as_str().unwrap_or("?"),
                workspace = n["workspace"].as_str().unwrap_or("?"),
                level = n["level"].as_str().unwrap_or("?"),
                signed,
                "demo webhook received"
            );
            "ok"
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
}

/// Whether a Standard Webhooks signature (`v1,<base64 HMAC-SHA256 of id.timestamp.body>`, one
/// of several separated by spaces) is right for `key`.
fn signature_ok(key: &[u8], id: &str, timestamp: &str, signatures: &str, body: &[u8]) -> bool {
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(key) else {
        return false;
    };
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    signatures.split(' ').any(|s| s == expected)
}

/// Runs the simulator, the gateway and the traffic until `stop` fires.
pub async fn run(listen: &str, stop: CancellationToken) -> Result<(), String> {
    let sim = Simulator::new(SimConfig {
        api_key: Some(UPSTREAM_KEY.into()),
        latency_ms: 40,
        stream_chunk_delay_ms: 20,
        rate_limit_headers: true,
        ..SimConfig::default()
    });
    let sim_listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let sim_addr = sim_listener.local_addr().map_err(|e| e.to_string())?;
    let sim_stop = stop.clone();
    let sim_task = tokio::spawn(crate::simulator::serve(
        sim_listener,
        sim.clone(),
        async move { sim_stop.cancelled().await },
    ));

    let db_dir = std::env::temp_dir().join(format!("quota-sentinel-demo-{}", std::process::id()));
    std::fs::create_dir_all(&db_dir).map_err(|e| e.to_string())?;
    let db_url = format!("sqlite://{}/demo.db", db_dir.display());
    let hook_listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let hook_url = format!(
        "http://{}/hook",
        hook_listener.local_addr().map_err(|e| e.to_string())?
    );
    let secret = new_webhook_secret();
    let hook_task = tokio::spawn(receive_webhooks(
        hook_listener,
        secret.clone(),
        stop.clone(),
    ));
    let mut config = config(listen, &db_url, &format!("http://{sim_addr}/v1"))?;
    let channel = webhook_channel(&config, &hook_url, secret)?;
    config.channels.push(channel);
    let listener = crate::server::bind(config.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let running = crate::server::start(config, listener, stop.clone())
        .await
        .map_err(|e| e.to_string())?;
    let base = format!("http://{}", running.addr);
    tracing::info!(url = %base, "demo running: sign in with one of the keys below");
    for (id, name, key) in DEMO_KEYS {
        tracing::info!(workspace = id, %name, key, "demo workspace");
    }
    tracing::info!(key = DEMO_ADMIN_KEY, "demo admin");
    tracing::info!(channel = DEMO_CHANNEL, url = %hook_url, "demo webhook receiver (its delivery log: /admin/channels)");

    let traffic = tokio::spawn(traffic(base, sim, stop.clone()));
    let result = running.wait().await.map_err(|e| e.to_string());
    traffic.abort();
    let _ = sim_task.await;
    let _ = hook_task.await;
    let _ = std::fs::remove_dir_all(&db_dir);
    result
}

/// One scripted minute, repeated. Cascade spends its daily budget (warning at ~10 s,
/// quota_exceeded at ~12 s); Atlas ramps against its 40/min limit (warning ~21 s, rate_limited
/// ~25 s); Borealis calls lightly and so shows the account's events: an upstream rate limit at
/// 30 s (rate_limited for 6 s), three upstream failures at 42 s (degraded, then recovery), then
/// it burns its daily tokens (warning, quota_exceeded ~55 s). At 58 s the admin "adds credit"
/// and resets Borealis and Cascade.
///
/// Delta calls every [`DELTA_EVERY_SECS`] from the second after the next whole minute (UTC:
/// the burn rate counts whole minutes), so the minute the burn rate first reads is a full one
/// and its warning comes at the minute after it: 1 to 2 minutes after the start. The admin
/// resets Delta every [`DELTA_RESET_SECS`], before its budget runs out.
async fn traffic(base: String, sim: Simulator, stop: CancellationToken) {
    let http = match reqwest::Client::builder().no_proxy().build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "demo traffic cannot start");
            return;
        }
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut second: u64 = 0;
    let delta_from = delta_start(chrono::Utc::now().timestamp());
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        let t = second % 60;
        let atlas = if (5..27).contains(&t) { 2 } else { 0 };
        let cascade = u64::from(t.is_multiple_of(2) && t < 20);
        let (borealis, borealis_tokens) = match t {
            42 => (3, 40),
            50..=57 => (3, 400),
            _ => (u64::from(t.is_multiple_of(2)), 40),
        };
        let delta = second
            .checked_sub(delta_from)
            .map_or(0, |s| u64::from(s.is_multiple_of(DELTA_EVERY_SECS)));
        let plan = [
            (DEMO_KEYS[0].2, atlas, "gpt-4o-mini", 64),
            (DEMO_KEYS[1].2, borealis, "gpt-4.1-mini", borealis_tokens),
            (DEMO_KEYS[2].2, cascade, "gpt-4o", 300),
            (DEMO_KEYS[3].2, delta, "gpt-4o-mini", DELTA_MAX_TOKENS),
        ];
        if second > delta_from && (second - delta_from).is_multiple_of(DELTA_RESET_SECS) {
            let _ = http
                .post(format!("{base}/api/quota/reset"))
                .bearer_auth(DEMO_ADMIN_KEY)
                .json(&serde_json::json!({ "workspace": DEMO_KEYS[3].0 }))
                .send()
                .await;
        }
        match t {
            30 => sim.inject(
                Fault::RateLimited {
                    retry_after_secs: 6,
                },
                1,
            ),
            42 => sim.inject(Fault::ServerError, 3),
            58 => {
                for (id, _, _) in &DEMO_KEYS[1..3] {
                    let _ = http
                        .post(format!("{base}/api/quota/reset"))
                        .bearer_auth(DEMO_ADMIN_KEY)
                        .json(&serde_json::json!({ "workspace": id }))
                        .send()
                        .await;
                }
            }
            _ => {}
        }
        for (key, calls, model, max_tokens) in plan {
            for _ in 0..calls {
                let http = http.clone();
                let url = format!("{base}/v1/chat/completions");
                tokio::spawn(async move {
                    let body = serde_json::json!({
                        "model": model,
                        "max_tokens": max_tokens,
                        "messages": [{"role": "user", "content": "Summarise the customer's last three messages and suggest a reply."}],
                    });
                    let _ = http
                        .post(url)
                        .bearer_auth(key)
                        .header("x-quota-goal", "demo")
                        .header("x-quota-task", "summarise")
                        .json(&body)
                        .send()
                        .await;
                });
            }
        }
        second += 1;
    }
}

/// The loop's second (counted from its start at `now`, Unix seconds) of Delta's first call:
/// the second after the next whole minute.
fn delta_start(now: i64) -> u64 {
    (60 - now.rem_euclid(60)).unsigned_abs() + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ChannelTarget;

    #[test]
    fn the_demo_config_is_valid() {
        let secret = new_webhook_secret();
        let mut c = config("127.0.0.1:0", "sqlite://x.db", "http://127.0.0.1:1/v1")
            .unwrap_or_else(|e| panic!("{e}"));
        let channel = webhook_channel(&c, "http://127.0.0.1:2/hook", secret.clone())
            .unwrap_or_else(|e| panic!("{e}"));
        c.channels.push(channel);
        assert_eq!(c.workspaces.len(), 4);
        assert_eq!(c.workspaces[0].limits.requests_per_minute, Some(40));
        assert_eq!(c.workspaces[2].limits.budget_usd_per_day, Some(0.02));
        assert_eq!(c.workspaces[3].id, "delta");
        assert_eq!(c.workspaces[3].limits.budget_usd_per_day, Some(0.12));
        assert_eq!(c.workspaces[3].limits.requests_per_day, None);
        assert_eq!(c.burn_min_minutes, 1);
        let [hook] = &c.channels[..] else {
            panic!("one channel: {:?}", c.channels)
        };
        assert_eq!(hook.id, DEMO_CHANNEL);
        let ChannelTarget::Webhook { url, secret: s } = &hook.target else {
            panic!("a webhook: {hook:?}")
        };
        assert_eq!(url, "http://127.0.0.1:2/hook");
        assert_eq!(s.text.expose_secret(), secret.expose_secret());
        assert_eq!(s.env, None, "the secret is not read from the environment");
        assert!(s.key().is_some_and(|k| k.len() == 32));
        // Warnings (the burn rate's) and errors reach it.
        let levels: Vec<&str> = hook.filter.levels.iter().map(|l| l.as_str()).collect();
        assert_eq!(levels, ["warning", "error"]);
        // The secret is never printed.
        assert!(!format!("{c:?}").contains(secret.expose_secret()));
    }

    #[test]
    fn delta_starts_just_after_a_whole_minute() {
        for (now, first) in [(120, 61), (121, 60), (179, 2), (150, 31)] {
            let start = delta_start(now);
            assert_eq!(start, first, "{now}");
            assert_eq!((now + start as i64).rem_euclid(60), 1);
        }
    }

    #[test]
    fn the_receiver_checks_signatures() {
        let key = b"0123456789abcdef0123456789abcdef";
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap_or_else(|e| panic!("{e}"));
        mac.update(b"msg_1.1700000000.{}");
        let sig = format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        );
        assert!(signature_ok(key, "msg_1", "1700000000", &sig, b"{}"));
        assert!(signature_ok(
            key,
            "msg_1",
            "1700000000",
            &format!("v1,xx {sig}"),
            b"{}"
        ));
        assert!(!signature_ok(key, "msg_2", "1700000000", &sig, b"{}"));
        assert!(!signature_ok(key, "msg_1", "1700000000", &sig, b"{ }"));
    }
}
