//! Demo mode: the real gateway and UI in front of the built-in simulator, with synthetic traffic
//! from three workspaces that climb through `warning`, `rate_limited` and `quota_exceeded`, see
//! the account hit upstream rate limits and failures, and recover — every state within a minute.
//!
//! Owns: the demo's configuration, its scripted traffic and fault schedule. The traffic goes
//! through the real proxy path (HTTP to the gateway's own `/v1`), so everything shown is real
//! metering of real (simulated) OpenAI responses. Must not: be reachable outside `demo`.

use std::time::Duration;

use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Overrides, RawConfig};
use crate::simulator::{Fault, SimConfig, Simulator};

/// The demo's workspace keys and admin key (printed at start; demo only).
pub const DEMO_KEYS: [(&str, &str, &str); 3] = [
    ("atlas", "Atlas Support Bots", "qs_demo_atlas"),
    ("borealis", "Borealis Research", "qs_demo_borealis"),
    ("cascade", "Cascade Marketing", "qs_demo_cascade"),
];
pub const DEMO_ADMIN_KEY: &str = "qs_demo_admin";
const UPSTREAM_KEY: &str = "sk-demo-upstream";

/// The demo configuration: Atlas has a tight per-minute limit, Borealis a small daily token
/// quota, Cascade a small daily budget.
pub fn config(listen: &str, database_url: &str, upstream_url: &str) -> Result<Config, String> {
    let hash = |k: &str| hex::encode(crate::registry::key_hash(k));
    let toml = format!(
        r#"
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
"#,
        DEMO_KEYS[0].1,
        hash(DEMO_KEYS[0].2),
        DEMO_KEYS[1].1,
        hash(DEMO_KEYS[1].2),
        DEMO_KEYS[2].1,
        hash(DEMO_KEYS[2].2),
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
    let config = config(listen, &db_url, &format!("http://{sim_addr}/v1"))?;
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

    let traffic = tokio::spawn(traffic(base, sim, stop.clone()));
    let result = running.wait().await.map_err(|e| e.to_string());
    traffic.abort();
    let _ = sim_task.await;
    let _ = std::fs::remove_dir_all(&db_dir);
    result
}

/// One scripted minute, repeated. Cascade spends its daily budget (warning at ~10 s,
/// quota_exceeded at ~12 s); Atlas ramps against its 40/min limit (warning ~21 s, rate_limited
/// ~25 s); Borealis calls lightly and so shows the account's events: an upstream rate limit at
/// 30 s (rate_limited for 6 s), three upstream failures at 42 s (degraded, then recovery), then
/// it burns its daily tokens (warning, quota_exceeded ~55 s). At 58 s the admin "adds credit"
/// and resets Borealis and Cascade.
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
        let plan = [
            (DEMO_KEYS[0].2, atlas, "gpt-4o-mini", 64),
            (DEMO_KEYS[1].2, borealis, "gpt-4.1-mini", borealis_tokens),
            (DEMO_KEYS[2].2, cascade, "gpt-4o", 300),
        ];
        match t {
            30 => sim.inject(
                Fault::RateLimited {
                    retry_after_secs: 6,
                },
                1,
            ),
            42 => sim.inject(Fault::ServerError, 3),
            58 => {
                for (id, _, _) in &DEMO_KEYS[1..] {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_config_is_valid() {
        let c = config("127.0.0.1:0", "sqlite://x.db", "http://127.0.0.1:1/v1")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.workspaces.len(), 3);
        assert_eq!(c.workspaces[0].limits.requests_per_minute, Some(40));
        assert_eq!(c.workspaces[2].limits.budget_usd_per_day, Some(0.02));
    }
}
