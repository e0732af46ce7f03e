//! Test harness: a real gateway on 127.0.0.1:0 in front of the project's OpenAI simulator,
//! with a fresh SQLite database per test.
#![allow(dead_code)]

use std::time::Duration;

use quota_sentinel::config::{Overrides, RawConfig};
use quota_sentinel::server::{self, Running};
use quota_sentinel::simulator::{SimConfig, Simulator};
use secrecy::SecretString;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub const UPSTREAM_KEY: &str = "sk-upstream-secret-0123456789";
pub const ADMIN_KEY: &str = "admin-secret-key-0123456789";
pub const ACME_KEY: &str = "qs_acme_test_key_0123456789";
pub const BETA_KEY: &str = "qs_beta_test_key_0123456789";

pub fn sha(key: &str) -> String {
    hex::encode(quota_sentinel::registry::key_hash(key))
}

/// One gateway + one simulator.
pub struct Env {
    pub gateway: String,
    pub sim: Simulator,
    pub sim_url: String,
    pub http: reqwest::Client,
    pub db_dir: tempfile::TempDir,
    pub running: Option<Running>,
    pub stop: CancellationToken,
    sim_stop: CancellationToken,
    extra: String,
}

/// The default workspaces: `acme` and `beta`, each with generous limits unless `extra` says
/// otherwise (it is appended to the TOML).
pub fn base_toml(acme_limits: &str) -> String {
    format!(
        "[[workspaces]]\nid = \"acme\"\nname = \"Acme\"\nkey_sha256 = [\"{}\"]\n{acme_limits}\n\
         [[workspaces]]\nid = \"beta\"\nname = \"Beta\"\nkey_sha256 = [\"{}\"]\n",
        sha(ACME_KEY),
        sha(BETA_KEY)
    )
}

impl Env {
    pub async fn start(toml: &str) -> Env {
        Env::start_with(toml, SimConfig { api_key: Some(UPSTREAM_KEY.into()), rate_limit_headers: true, ..SimConfig::default() }).await
    }

    pub async fn start_with(toml: &str, sim_cfg: SimConfig) -> Env {
        let sim = Simulator::new(sim_cfg);
        let sim_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
        let sim_addr = sim_listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let sim_stop = CancellationToken::new();
        let s2 = sim.clone();
        let t = sim_stop.clone();
        tokio::spawn(async move {
            let _ = quota_sentinel::simulator::serve(sim_listener, s2, async move { t.cancelled().await }).await;
        });
        let db_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut env = Env {
            gateway: String::new(),
            sim,
            sim_url: format!("http://{sim_addr}"),
            http: reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(30)).build().unwrap_or_else(|e| panic!("{e}")),
            db_dir,
            running: None,
            stop: CancellationToken::new(),
            sim_stop,
            extra: toml.to_string(),
        };
        env.boot().await;
        env
    }

    async fn boot(&mut self) {
        let raw = RawConfig::parse(&self.extra).unwrap_or_else(|e| panic!("bad test config: {e}"));
        let config = raw
            .validate(Overrides {
                listen: Some("127.0.0.1:0".into()),
                database_url: Some(format!("sqlite://{}/qs.db", self.db_dir.path().display())),
                upstream_url: Some(format!("{}/v1", self.sim_url)),
                upstream_key: Some(SecretString::from(UPSTREAM_KEY)),
                admin_key: Some(SecretString::from(ADMIN_KEY)),
                ..Default::default()
            })
            .unwrap_or_else(|e| panic!("{e}"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
        self.stop = CancellationToken::new();
        let running = server::start(config, listener, self.stop.clone()).await.unwrap_or_else(|e| panic!("{e}"));
        self.gateway = format!("http://{}", running.addr);
        self.running = Some(running);
    }

    /// Stops the gateway (flushing the ledger) and starts it again on the same database.
    pub async fn restart(&mut self) {
        self.stop_gateway().await;
        self.boot().await;
    }

    pub async fn stop_gateway(&mut self) {
        self.stop.cancel();
        if let Some(r) = self.running.take() {
            tokio::time::timeout(Duration::from_secs(20), r.wait())
                .await
                .unwrap_or_else(|_| panic!("gateway did not stop in time"))
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.gateway, path)
    }

    pub async fn post(&self, key: &str, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    pub async fn get(&self, key: &str, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).bearer_auth(key).send().await.unwrap_or_else(|e| panic!("{e}"))
    }

    pub async fn get_json(&self, key: &str, path: &str) -> Value {
        let r = self.get(key, path).await;
        let status = r.status();
        let v: Value = r.json().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(status.is_success(), "{path}: {status} {v}");
        v
    }

    pub async fn chat(&self, key: &str, words: &str) -> reqwest::Response {
        self.post(
            key,
            "/v1/chat/completions",
            serde_json::json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": words}]}),
        )
        .await
    }

    /// Waits (bounded) until `f` holds for the usage report of `ws` grouped by `group_by`.
    pub async fn wait_usage(&self, key: &str, group_by: &str, f: impl Fn(&Value) -> bool) -> Value {
        let path = format!("/api/quota/usage?group_by={group_by}&from=2000-01-01");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let v = self.get_json(key, &path).await;
            if f(&v) {
                return v;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("usage never matched: {v}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (bounded) until the status of the key's workspace is `want`.
    pub async fn wait_status(&self, key: &str, want: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let v = self.get_json(key, "/api/quota/status").await;
            if v["status"] == want {
                return v;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("status never became {want}: {v}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.stop.cancel();
        self.sim_stop.cancel();
    }
}
