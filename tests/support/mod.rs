//! Test harness: a real gateway on 127.0.0.1:0 in front of the project's OpenAI simulator,
//! with a fresh SQLite database per test.
#![allow(dead_code)]

pub(crate) mod cut;
pub(crate) mod process;

use std::time::Duration;

use quota_sentinel::config::{Overrides, RawConfig};
use quota_sentinel::server::{self, Running};
use quota_sentinel::simulator::{SimConfig, Simulator};
use quota_sentinel::types::ErrorBody;
use secrecy::SecretString;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub(crate) const UPSTREAM_KEY: &str = "sk-upstream-secret-0123456789";
pub(crate) const ADMIN_KEY: &str = "admin-secret-key-0123456789";
pub(crate) const ACME_KEY: &str = "qs_acme_test_key_0123456789";
pub(crate) const BETA_KEY: &str = "qs_beta_test_key_0123456789";

pub(crate) fn sha(key: &str) -> String {
    hex::encode(quota_sentinel::registry::key_hash(key))
}

/// One gateway + one simulator.
pub(crate) struct Env {
    pub gateway: String,
    pub sim: Simulator,
    pub sim_url: String,
    pub http: reqwest::Client,
    pub db_dir: tempfile::TempDir,
    /// The database, when not the SQLite file in `db_dir`.
    pub database_url: Option<String>,
    /// Shared state (`[redis]`), if any.
    pub redis_url: Option<String>,
    pub running: Option<Running>,
    pub stop: CancellationToken,
    sim_stop: CancellationToken,
    extra: String,
    admin_key: Option<String>,
    session_secret: Option<String>,
    upstream_url: Option<String>,
}

/// How an [`Env`] is built, beyond its TOML.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    pub sim: SimConfig,
    /// `QUOTA_ADMIN_KEY`; `None`: the admin API is disabled.
    pub admin_key: Option<String>,
    /// The upstream base URL; `None`: the simulator's `/v1`.
    pub upstream_url: Option<String>,
    /// `QS_SESSION_SECRET`; `None`: sessions are signed with a key derived from the admin key.
    pub session_secret: Option<String>,
    /// The database; `None`: a SQLite file in the test's own folder.
    pub database_url: Option<String>,
    /// Shared state; `None`: in process.
    pub redis_url: Option<String>,
}

/// A Redis database of its own on the test Redis that `scripts/with-engines.sh` starts
/// (`QS_TEST_REDIS_URL`, 64 databases; database 0 counts which are handed out).
pub(crate) async fn redis_db_url() -> String {
    let Ok(base) = std::env::var("QS_TEST_REDIS_URL") else {
        panic!(
            "QS_TEST_REDIS_URL is not set: this test needs Redis; run it with `make test` or \
             `scripts/with-engines.sh cargo test`"
        )
    };
    let client = redis::Client::open(base.as_str()).unwrap_or_else(|e| panic!("{e}"));
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let n: i64 = redis::cmd("INCR")
        .arg("qs-test-databases")
        .query_async(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        n < 64,
        "the test Redis has 64 databases; {n} were asked for"
    );
    format!("{base}/{n}")
}

/// A new, empty schema on the test PostgreSQL server that `scripts/with-engines.sh` starts
/// (`QS_TEST_POSTGRES_URL`), as a database URL whose connections use it.
pub(crate) async fn postgres_schema_url() -> String {
    use sqlx::Connection;
    let Ok(base) = std::env::var("QS_TEST_POSTGRES_URL") else {
        panic!(
            "QS_TEST_POSTGRES_URL is not set: this test runs on PostgreSQL; run it with \
             `make test` or `scripts/with-engines.sh cargo test`"
        )
    };
    let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
    let mut conn = sqlx::PgConnection::connect(&base)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = conn.close().await;
    format!("{base}?options=-c%20search_path%3D{schema}")
}

impl Default for Options {
    fn default() -> Self {
        Options {
            sim: SimConfig {
                api_key: Some(UPSTREAM_KEY.into()),
                rate_limit_headers: true,
                ..SimConfig::default()
            },
            admin_key: Some(ADMIN_KEY.into()),
            upstream_url: None,
            session_secret: None,
            database_url: None,
            redis_url: None,
        }
    }
}

/// The body of an error answer, with its status and headers.
pub(crate) struct ApiErr {
    pub status: reqwest::StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: ErrorBody,
    pub raw: String,
}

impl ApiErr {
    /// Asserts the error's `code`.
    #[track_caller]
    pub(crate) fn assert_code(&self, code: &str) {
        assert_eq!(self.body.error.code.as_deref(), Some(code), "{}", self.raw);
    }

    /// Asserts the answer's status and the error's `code`.
    #[track_caller]
    pub(crate) fn assert_status_code(&self, status: u16, code: &str) {
        self.assert_status_code_for("", status, code);
    }

    /// [`ApiErr::assert_status_code`], the failure message naming `what` was sent.
    #[track_caller]
    pub(crate) fn assert_status_code_for(
        &self,
        what: impl std::fmt::Display,
        status: u16,
        code: &str,
    ) {
        assert_eq!(self.status, status, "{what}: {}", self.raw);
        assert_eq!(
            self.body.error.code.as_deref(),
            Some(code),
            "{what}: {}",
            self.raw
        );
    }
}

/// Reads an error answer; panics if its body is not OpenAI's error shape.
pub(crate) async fn api_error(r: reqwest::Response) -> ApiErr {
    let status = r.status();
    let headers = r.headers().clone();
    let raw = r.text().await.unwrap_or_else(|e| panic!("error body: {e}"));
    let body: ErrorBody = serde_json::from_str(&raw)
        .unwrap_or_else(|e| panic!("not an OpenAI error body ({e}): {status} {raw}"));
    ApiErr {
        status,
        headers,
        body,
        raw,
    }
}

/// The whole seconds of an answer's `Retry-After`; panics if it has none.
pub(crate) fn retry_after(e: &ApiErr) -> u64 {
    e.headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After: {:?}", e.headers))
}

/// The row of `key` in a usage report, if any.
pub(crate) fn usage_row<'a>(report: &'a Value, key: &str) -> Option<&'a Value> {
    report["rows"].as_array()?.iter().find(|r| r["key"] == key)
}

/// True if a row of a usage report has a key for which `f` holds.
pub(crate) fn any_row_key(report: &Value, f: impl Fn(&str) -> bool) -> bool {
    report["rows"]
        .as_array()
        .is_some_and(|rows| rows.iter().any(|r| r["key"].as_str().is_some_and(&f)))
}

/// A number field of a JSON value as u64 (0 when absent).
/// A response header as text.
pub(crate) fn header_of<'a>(r: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

pub(crate) fn n(v: &Value, field: &str) -> u64 {
    v[field].as_u64().unwrap_or(0)
}

/// A listener on a free port of 127.0.0.1, and its address.
pub(crate) async fn local_listener() -> (tokio::net::TcpListener, std::net::SocketAddr) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = l.local_addr().unwrap_or_else(|e| panic!("{e}"));
    (l, addr)
}

/// `http://127.0.0.1:PORT/v1` where nothing listens (the port was bound, then released).
pub(crate) async fn closed_upstream_url() -> String {
    let (l, addr) = local_listener().await;
    drop(l);
    format!("http://{addr}/v1")
}

/// A `[server]` section holding `settings`, then [`base_toml`] without limits.
pub(crate) fn server_toml(settings: &str) -> String {
    format!("[server]\n{settings}\n{}", base_toml(""))
}

/// The default workspaces: `acme` and `beta`, each with generous limits unless `extra` says
/// otherwise (it is appended to the TOML).
pub(crate) fn base_toml(acme_limits: &str) -> String {
    format!(
        "[[workspaces]]\nid = \"acme\"\nname = \"Acme\"\nkey_sha256 = [\"{}\"]\n{acme_limits}\n\
         [[workspaces]]\nid = \"beta\"\nname = \"Beta\"\nkey_sha256 = [\"{}\"]\n",
        sha(ACME_KEY),
        sha(BETA_KEY)
    )
}

impl Env {
    pub(crate) async fn start(toml: &str) -> Env {
        Env::start_with(
            toml,
            SimConfig {
                api_key: Some(UPSTREAM_KEY.into()),
                rate_limit_headers: true,
                ..SimConfig::default()
            },
        )
        .await
    }

    pub(crate) async fn start_with(toml: &str, sim_cfg: SimConfig) -> Env {
        Env::start_opts(
            toml,
            Options {
                sim: sim_cfg,
                ..Options::default()
            },
        )
        .await
    }

    pub(crate) async fn start_opts(toml: &str, opts: Options) -> Env {
        let sim = Simulator::new(opts.sim);
        let (sim_listener, sim_addr) = local_listener().await;
        let sim_stop = CancellationToken::new();
        let s2 = sim.clone();
        let t = sim_stop.clone();
        tokio::spawn(async move {
            let _ =
                quota_sentinel::simulator::serve(
                    sim_listener,
                    s2,
                    async move { t.cancelled().await },
                )
                .await;
        });
        let db_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut env = Env {
            gateway: String::new(),
            sim,
            sim_url: format!("http://{sim_addr}"),
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_else(|e| panic!("{e}")),
            db_dir,
            running: None,
            stop: CancellationToken::new(),
            sim_stop,
            extra: toml.to_string(),
            admin_key: opts.admin_key,
            session_secret: opts.session_secret,
            upstream_url: opts.upstream_url,
            database_url: opts.database_url,
            redis_url: opts.redis_url,
        };
        env.boot().await;
        env
    }

    async fn boot(&mut self) {
        let raw = RawConfig::parse(&self.extra).unwrap_or_else(|e| panic!("bad test config: {e}"));
        let config = raw
            .validate(Overrides {
                listen: Some("127.0.0.1:0".into()),
                database_url: Some(
                    self.database_url.clone().unwrap_or_else(|| {
                        format!("sqlite://{}/qs.db", self.db_dir.path().display())
                    }),
                ),
                spool_file: Some(self.spool_path().display().to_string()),
                redis_url: self.redis_url.clone(),
                upstream_url: Some(
                    self.upstream_url
                        .clone()
                        .unwrap_or_else(|| format!("{}/v1", self.sim_url)),
                ),
                upstream_key: Some(SecretString::from(UPSTREAM_KEY)),
                admin_key: self.admin_key.clone().map(SecretString::from),
                session_secret: self.session_secret.clone().map(SecretString::from),
                ..Default::default()
            })
            .unwrap_or_else(|e| panic!("{e}"));
        // As `serve` binds: one listener per serving thread on the same port.
        let listener = server::bind("127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"));
        self.stop = CancellationToken::new();
        let running = server::start(config, listener, self.stop.clone())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        self.gateway = format!("http://{}", running.addr);
        self.running = Some(running);
    }

    /// The admin key of the next (re)start.
    pub(crate) fn set_admin_key(&mut self, key: Option<&str>) {
        self.admin_key = key.map(str::to_string);
    }

    /// The configuration (TOML) of the next (re)start.
    pub(crate) fn set_toml(&mut self, toml: &str) {
        self.extra = toml.to_string();
    }

    /// The ledger spool of the gateway.
    pub(crate) fn spool_path(&self) -> std::path::PathBuf {
        self.db_dir.path().join("ledger.spool")
    }

    /// The database file.
    pub(crate) fn db_path(&self) -> std::path::PathBuf {
        self.db_dir.path().join("qs.db")
    }

    /// A connection pool to the database file, to read or change what the API does not show.
    pub(crate) async fn db_pool(&self) -> sqlx::SqlitePool {
        sqlx::SqlitePool::connect(&format!("sqlite://{}", self.db_path().display()))
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", self.db_path().display()))
    }

    /// Stops the gateway (flushing the ledger) and starts it again on the same database.
    pub(crate) async fn restart(&mut self) {
        self.stop_gateway().await;
        self.boot().await;
    }

    pub(crate) async fn stop_gateway(&mut self) {
        self.stop.cancel();
        if let Some(r) = self.running.take() {
            tokio::time::timeout(Duration::from_secs(20), r.wait())
                .await
                .unwrap_or_else(|_| panic!("gateway did not stop in time"))
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.gateway, path)
    }

    pub(crate) async fn post(&self, key: &str, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Env::post`] that must succeed with 200; reads the answer to its end.
    pub(crate) async fn post_ok(&self, key: &str, path: &str, body: Value) {
        let r = self.post(key, path, body).await;
        assert_eq!(r.status(), 200, "{path}");
        let _ = r.bytes().await;
    }

    /// [`Env::post`] that must succeed with 200; its JSON answer.
    pub(crate) async fn post_ok_json(&self, key: &str, path: &str, body: Value) -> Value {
        let r = self.post(key, path, body).await;
        assert_eq!(r.status(), 200, "{path}");
        r.json().await.unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    pub(crate) async fn get(&self, key: &str, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The Prometheus text of `/metrics`, read with the admin key.
    pub(crate) async fn metrics(&self) -> String {
        let r = self.get(ADMIN_KEY, "/metrics").await;
        assert_eq!(r.status(), 200, "/metrics as admin");
        r.text().await.unwrap_or_else(|e| panic!("/metrics: {e}"))
    }

    /// An unauthenticated GET.
    pub(crate) async fn get_anon(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// The body of an unauthenticated GET (pages, /healthz).
    pub(crate) async fn get_text(&self, path: &str) -> String {
        self.http
            .get(self.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .text()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    pub(crate) async fn get_json(&self, key: &str, path: &str) -> Value {
        let r = self.get(key, path).await;
        let status = r.status();
        let v: Value = r.json().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(status.is_success(), "{path}: {status} {v}");
        v
    }

    pub(crate) async fn chat(&self, key: &str, words: &str) -> reqwest::Response {
        self.post(
            key,
            "/v1/chat/completions",
            serde_json::json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": words}]}),
        )
        .await
    }

    /// A multipart POST (uploads, transcriptions).
    pub(crate) async fn post_form(
        &self,
        key: &str,
        path: &str,
        form: reqwest::multipart::Form,
    ) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(key)
            .multipart(form)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// A small chat completion sent with one extra request header.
    pub(crate) async fn chat_with_header(
        &self,
        key: &str,
        name: &str,
        value: &str,
    ) -> reqwest::Response {
        self.http
            .post(self.url("/v1/chat/completions"))
            .bearer_auth(key)
            .header(name, value)
            .json(&serde_json::json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Waits (bounded) until `f` holds for the usage report of `ws` grouped by `group_by`.
    pub(crate) async fn wait_usage(
        &self,
        key: &str,
        group_by: &str,
        f: impl Fn(&Value) -> bool,
    ) -> Value {
        let path = format!("/api/quota/usage?group_by={group_by}&from=2000-01-01");
        self.wait_json(key, &path, f).await
    }

    /// Waits (bounded) until the usage report grouped by `group_by` has a row `row_key` for
    /// which `f` holds; returns the report and that row.
    pub(crate) async fn wait_row(
        &self,
        key: &str,
        group_by: &str,
        row_key: &str,
        f: impl Fn(&Value) -> bool,
    ) -> (Value, Value) {
        let report = self
            .wait_usage(key, group_by, |v| usage_row(v, row_key).is_some_and(&f))
            .await;
        let row = usage_row(&report, row_key).cloned().unwrap_or_default();
        (report, row)
    }

    /// The usage report grouped by family as it is now, and its row `family` (`null` when
    /// there is none).
    pub(crate) async fn family_row(&self, key: &str, family: &str) -> (Value, Value) {
        let report = self
            .get_json(key, "/api/quota/usage?group_by=family&from=2000-01-01")
            .await;
        let row = usage_row(&report, family).cloned().unwrap_or_default();
        (report, row)
    }

    /// Waits (bounded, 10 s) until `f` holds for the JSON of `GET path`.
    pub(crate) async fn wait_json(
        &self,
        key: &str,
        path: &str,
        f: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let v = self.get_json(key, path).await;
            if f(&v) {
                return v;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("{path} never matched: {v}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (bounded) until a notification `notif_key` is listed by
    /// `/api/quota/notifications?{query}`; returns it.
    pub(crate) async fn wait_notification(&self, key: &str, query: &str, notif_key: &str) -> Value {
        let path = format!("/api/quota/notifications?{query}");
        let list = self
            .wait_json(key, &path, |v| {
                v["notifications"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|n| n["key"] == notif_key))
            })
            .await;
        list["notifications"]
            .as_array()
            .and_then(|a| a.iter().find(|n| n["key"] == notif_key))
            .cloned()
            .unwrap_or_default()
    }

    /// Waits (bounded) until the simulator has received `want` `/v1` requests.
    pub(crate) async fn wait_sim_requests(&self, want: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.sim.stats().requests < want {
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "the simulator saw {} requests, not {want}",
                    self.sim.stats().requests
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (bounded) until the status of the key's workspace is `want`.
    pub(crate) async fn wait_status(&self, key: &str, want: &str) -> Value {
        self.wait_json(key, "/api/quota/status", |v| v["status"] == want)
            .await
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.stop.cancel();
        self.sim_stop.cancel();
    }
}

/// One request as a [`Recorder`] upstream received it.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub method: String,
    /// The path and query exactly as sent on the wire.
    pub path_and_query: String,
    /// Every header (names in lower case), repeated ones once per value.
    pub headers: Vec<(String, String)>,
}

impl Received {
    /// The first value of header `name`.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A tiny fake upstream on 127.0.0.1:0 that records every request (method, raw path, headers)
/// and answers each with a small chat completion (with usage) plus the response headers it
/// was given. For what the simulator does not show: the raw path, every header, and
/// response headers a real upstream may send (`Set-Cookie`, `openai-organization`, …).
pub(crate) struct Recorder {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
    stop: CancellationToken,
}

impl Recorder {
    pub(crate) async fn start(response_headers: &[(&'static str, &'static str)]) -> Recorder {
        use axum::body::Body;
        use axum::http::{Request, Response};
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let headers: Vec<(&'static str, &'static str)> = response_headers.to_vec();
        let log = seen.clone();
        let app = axum::Router::new().fallback(move |req: Request<Body>| {
            let log = log.clone();
            let headers = headers.clone();
            async move {
                let r = Received {
                    method: req.method().to_string(),
                    path_and_query: req
                        .uri()
                        .path_and_query()
                        .map(|p| p.as_str().to_string())
                        .unwrap_or_default(),
                    headers: req
                        .headers()
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.as_str().to_string(),
                                String::from_utf8_lossy(v.as_bytes()).to_string(),
                            )
                        })
                        .collect(),
                };
                log.lock().unwrap_or_else(|e| e.into_inner()).push(r);
                let _ = axum::body::to_bytes(req.into_body(), 1 << 20).await;
                let body = serde_json::json!({
                    "id": "chatcmpl-rec",
                    "object": "chat.completion",
                    "created": 1,
                    "model": "gpt-4o-mini",
                    "choices": [{"index": 0, "finish_reason": "stop",
                        "message": {"role": "assistant", "content": "ok"}}],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}
                });
                let mut resp = Response::new(Body::from(body.to_string()));
                let h = resp.headers_mut();
                h.insert(
                    "content-type",
                    axum::http::HeaderValue::from_static("application/json"),
                );
                // Each given header replaces one of the same name (`content-type` too).
                for (k, v) in headers {
                    h.insert(k, axum::http::HeaderValue::from_static(v));
                }
                resp
            }
        });
        let (listener, addr) = local_listener().await;
        let stop = serve(listener, app);
        Recorder {
            url: format!("http://{addr}"),
            seen,
            stop,
        }
    }

    /// Every request received so far.
    pub(crate) fn received(&self) -> Vec<Received> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Sends `request` (a whole HTTP/1.1 request, as written) to the gateway over a raw TCP
/// connection — an HTTP client would normalise its path — and returns the answer as text.
pub(crate) async fn raw_http(env: &Env, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = env.gateway.trim_start_matches("http://").to_string();
    let mut tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    tcp.write_all(request)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "no answer within 10 s");
    String::from_utf8_lossy(&answer).to_string()
}

/// The body of a raw HTTP answer (after the blank line; the gateway's errors are not chunked).
pub(crate) fn raw_body(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// Everything a tracing subscriber writes, kept in memory (the log tests read it).
#[derive(Clone, Default)]
pub(crate) struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    pub(crate) fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

/// Serves `app` on `listener` in the background until the returned token is cancelled
/// (a test's own receiver of webhooks or upstream calls).
pub(crate) fn serve(listener: tokio::net::TcpListener, app: axum::Router) -> CancellationToken {
    let stop = CancellationToken::new();
    let t = stop.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { t.cancelled().await })
            .await;
    });
    stop
}

impl Captured {
    /// A capture installed as the process's tracing subscriber (debug level, no colours).
    /// Fails if the test binary already has one.
    pub(crate) fn install() -> Result<Captured, tracing::subscriber::SetGlobalDefaultError> {
        let log = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(log.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .finish();
        tracing::subscriber::set_global_default(subscriber)?;
        Ok(log)
    }
}

/// Polls `check` every 100 ms until it holds; fails the test after 40 s naming `what`.
pub(crate) async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(40);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not in 40 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
