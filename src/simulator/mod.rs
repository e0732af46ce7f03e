//! OpenAI upstream simulator: a local stand-in for `api.openai.com` that
//! speaks OpenAI's wire format (JSON objects, SSE streams, error bodies and
//! headers) with deterministic token usage, so the gateway can be run, demoed
//! and tested without the real API.
//!
//! This module owns:
//! * the public API ([`Simulator`], [`SimConfig`], [`Fault`], [`SimStats`],
//!   [`serve`]) used by `quota-sentinel simulate`, demo mode and the tests;
//! * the `/v1/...` endpoints (chat, completions, responses, embeddings,
//!   images, audio, moderations, files, assistants/threads/runs, vector
//!   stores, batches, models) — the route table is in `dispatch.rs`;
//! * the request pipeline shared by every `/v1` request: stats, bearer-key
//!   check, queued faults, latency, `x-request-id`/`openai-*`/`x-ratelimit-*`
//!   headers (see [`Simulator::router`]);
//! * the HTTP control routes under `/_sim` (inject/clear faults, stats);
//! * the token rules, documented in [`tokens`].
//!
//! Every handler answers without holding a lock across an `.await`; counters
//! are atomics and the few maps use short `std::sync::Mutex` sections.

mod assistants;
mod chat;
mod dispatch;
mod files;
mod media;
mod models;
mod ratelimit;
mod responses;
mod sse;
mod store;
pub mod tokens;
mod wire;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use serde::{Deserialize, Serialize};

use self::ratelimit::{RateLimiter, LIMIT_REQUESTS, LIMIT_TOKENS};
use self::wire::{go_duration, hex_id, ApiError};

/// Largest request body accepted (multipart uploads are streamed, not kept).
pub(crate) const MAX_BODY_BYTES: usize = 600 * 1024 * 1024;

/// How the simulator behaves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimConfig {
    /// Expected `Authorization: Bearer` key; `None` accepts any (or none).
    pub api_key: Option<String>,
    /// Added before answering every `/v1` request; 0 = none.
    pub latency_ms: u64,
    /// Pause between two events of a streamed answer; 0 = none.
    pub stream_chunk_delay_ms: u64,
    /// Whether `/v1` answers carry `x-ratelimit-*` headers.
    pub rate_limit_headers: bool,
    /// Whether each streamed event is preceded by a comment event `: sent_ns=…` (benchmarks).
    pub stamp_stream_events: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            api_key: None,
            latency_ms: 0,
            stream_chunk_delay_ms: 0,
            rate_limit_headers: true,
            stamp_stream_events: false,
        }
    }
}

/// A failure to play on the next `/v1` request(s). JSON form (control route):
/// `{"fault":"rate_limited","retry_after_secs":20}`, `{"fault":"delay","ms":500}`,
/// `{"fault":"cut_stream","after_chunks":3}`, `{"fault":"server_error"}`, …
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "snake_case")]
pub enum Fault {
    /// 429 `rate_limit_exceeded` with `retry-after: N` and exhausted
    /// `x-ratelimit-*` headers.
    RateLimited {
        #[serde(default = "default_retry_after")]
        retry_after_secs: u64,
    },
    /// 429 `insufficient_quota`.
    InsufficientQuota,
    /// 400 `billing_hard_limit_reached`.
    BillingHardLimit,
    /// 500 `server_error`.
    ServerError,
    /// 502 in Cloudflare's JSON shape (`cf_bad_gateway`).
    BadGateway,
    /// 503 "The engine is currently overloaded".
    Overloaded,
    /// Sleep `ms` before answering normally.
    Delay { ms: u64 },
    /// Answer normally but break the body: a stream ends with an I/O error
    /// after `after_chunks` events (no usage, no `[DONE]`); a non-streamed
    /// body is cut after half of its bytes.
    CutStream {
        #[serde(default)]
        after_chunks: u32,
    },
}

fn default_retry_after() -> u64 {
    1
}

/// Token totals the simulator has reported in usage objects it actually sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokensReported {
    /// Prompt/input tokens (including cached ones).
    pub input: u64,
    /// Completion/output tokens (including reasoning ones).
    pub output: u64,
    /// Cached prompt tokens (a part of `input`).
    pub cached: u64,
}

/// What the simulator has seen and reported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimStats {
    /// `/v1` requests received (any outcome).
    pub requests: u64,
    /// `/v1` requests per literal request path (no query), e.g. `/v1/chat/completions`.
    pub by_path: BTreeMap<String, u64>,
    /// Headers of the last `/v1` request, lowercase names, in arrival order.
    pub last_headers: Vec<(String, String)>,
    /// Usage totals sent to clients.
    pub tokens_reported: TokensReported,
}

/// Usage of one answer: charged to the token rate-limit bucket and, when
/// `report` is set, added to [`TokensReported`] once the body is delivered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Metered {
    pub input: u64,
    pub output: u64,
    pub cached: u64,
    pub report: bool,
}

impl Metered {
    pub(crate) fn reported(input: u64, output: u64, cached: u64) -> Self {
        Self {
            input,
            output,
            cached,
            report: true,
        }
    }
}

/// Request-specific knobs for generation (set by `x-sim-*` headers).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Gen {
    pub forced_cached: Option<u64>,
    pub forced_completion: Option<u64>,
}

/// What a `/v1` handler gets besides the request.
pub(crate) struct Ctx {
    pub inner: Arc<Inner>,
    pub cut: Option<u32>,
    pub gen: Gen,
}

pub(crate) struct Inner {
    pub cfg: SimConfig,
    requests: AtomicU64,
    by_path: Mutex<BTreeMap<String, u64>>,
    last_headers: Mutex<HeaderMap>,
    tok_input: AtomicU64,
    tok_output: AtomicU64,
    tok_cached: AtomicU64,
    faults: Mutex<VecDeque<(Fault, u32)>>,
    faults_pending: AtomicU64,
    limiter: RateLimiter,
    pub store: Mutex<store::Store>,
}

/// Lock a mutex, recovering the data if a holder panicked.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Inner {
    pub(crate) fn report(&self, m: Metered) {
        if m.input > 0 {
            self.tok_input.fetch_add(m.input, Ordering::Relaxed);
        }
        if m.output > 0 {
            self.tok_output.fetch_add(m.output, Ordering::Relaxed);
        }
        if m.cached > 0 {
            self.tok_cached.fetch_add(m.cached, Ordering::Relaxed);
        }
    }

    fn record(&self, path: &str, headers: &HeaderMap) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        {
            let mut by_path = lock(&self.by_path);
            match by_path.get_mut(path) {
                Some(n) => *n += 1,
                None => {
                    by_path.insert(path.to_owned(), 1);
                }
            }
        }
        let copy = headers.clone();
        let old = std::mem::replace(&mut *lock(&self.last_headers), copy);
        drop(old);
    }

    fn pop_fault(&self) -> Option<Fault> {
        if self.faults_pending.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut q = lock(&self.faults);
        let (fault, left) = q.front_mut()?;
        let fault = *fault;
        *left -= 1;
        if *left == 0 {
            q.pop_front();
        }
        self.faults_pending.fetch_sub(1, Ordering::AcqRel);
        Some(fault)
    }
}

/// The simulator; cheap to clone (shared state behind an `Arc`).
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

impl Simulator {
    pub fn new(cfg: SimConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                cfg,
                requests: AtomicU64::new(0),
                by_path: Mutex::new(BTreeMap::new()),
                last_headers: Mutex::new(HeaderMap::new()),
                tok_input: AtomicU64::new(0),
                tok_output: AtomicU64::new(0),
                tok_cached: AtomicU64::new(0),
                faults: Mutex::new(VecDeque::new()),
                faults_pending: AtomicU64::new(0),
                limiter: RateLimiter::new(),
                store: Mutex::new(store::Store::default()),
            }),
        }
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &SimConfig {
        &self.inner.cfg
    }

    /// All routes: `/v1/...` (OpenAI API) and `/_sim/...` (control:
    /// `POST|DELETE /_sim/faults`, `GET|DELETE /_sim/stats`,
    /// `GET /_sim/images/{name}`, `GET /_sim/health`). Adds no fallback, so it
    /// can be merged into another router.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/v1", any(v1_entry))
            .route("/v1/", any(v1_entry))
            .route("/v1/{*rest}", any(v1_entry))
            .route("/_sim/faults", post(ctl_inject).delete(ctl_clear))
            .route("/_sim/stats", get(ctl_stats).delete(ctl_reset))
            .route("/_sim/images/{name}", get(ctl_image))
            .route("/_sim/health", get(ctl_health))
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(self.clone())
    }

    /// The next `count` `/v1` requests (after those already queued) get `fault`.
    pub fn inject(&self, fault: Fault, count: u32) {
        if count == 0 {
            return;
        }
        let mut q = lock(&self.inner.faults);
        q.push_back((fault, count));
        self.inner
            .faults_pending
            .fetch_add(u64::from(count), Ordering::AcqRel);
    }

    /// Drop every queued fault.
    pub fn clear_faults(&self) {
        let mut q = lock(&self.inner.faults);
        q.clear();
        self.inner.faults_pending.store(0, Ordering::Release);
    }

    /// Queued fault plays not yet consumed.
    pub fn pending_faults(&self) -> u64 {
        self.inner.faults_pending.load(Ordering::Acquire)
    }

    /// Counters and the last request's headers.
    pub fn stats(&self) -> SimStats {
        let i = &self.inner;
        let last_headers = lock(&i.last_headers)
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        SimStats {
            requests: i.requests.load(Ordering::Relaxed),
            by_path: lock(&i.by_path).clone(),
            last_headers,
            tokens_reported: TokensReported {
                input: i.tok_input.load(Ordering::Relaxed),
                output: i.tok_output.load(Ordering::Relaxed),
                cached: i.tok_cached.load(Ordering::Relaxed),
            },
        }
    }

    /// Zero the counters and forget the last headers (stored objects stay).
    pub fn reset_stats(&self) {
        let i = &self.inner;
        i.requests.store(0, Ordering::Relaxed);
        lock(&i.by_path).clear();
        lock(&i.last_headers).clear();
        i.tok_input.store(0, Ordering::Relaxed);
        i.tok_output.store(0, Ordering::Relaxed);
        i.tok_cached.store(0, Ordering::Relaxed);
    }
}

/// Serve `sim` on `listener` (TCP_NODELAY set on each connection) until
/// `shutdown` resolves; in-flight requests are allowed to finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    sim: Simulator,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::trace!("simulator: set_nodelay failed: {err}");
        }
    });
    axum::serve(listener, sim.router())
        .with_graceful_shutdown(shutdown)
        .await
}

// ---------------------------------------------------------------- /v1 pipeline

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static OPENAI_PROCESSING_MS: HeaderName = HeaderName::from_static("openai-processing-ms");
static OPENAI_VERSION: HeaderName = HeaderName::from_static("openai-version");
static OPENAI_ORGANIZATION: HeaderName = HeaderName::from_static("openai-organization");
static RL_LIMIT_REQ: HeaderName = HeaderName::from_static("x-ratelimit-limit-requests");
static RL_REMAINING_REQ: HeaderName = HeaderName::from_static("x-ratelimit-remaining-requests");
static RL_RESET_REQ: HeaderName = HeaderName::from_static("x-ratelimit-reset-requests");
static RL_LIMIT_TOK: HeaderName = HeaderName::from_static("x-ratelimit-limit-tokens");
static RL_REMAINING_TOK: HeaderName = HeaderName::from_static("x-ratelimit-remaining-tokens");
static RL_RESET_TOK: HeaderName = HeaderName::from_static("x-ratelimit-reset-tokens");

/// Organisation named in headers and rate-limit messages.
pub(crate) const ORGANIZATION: &str = "org-simulated";

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

async fn v1_entry(State(sim): State<Simulator>, req: Request) -> Response {
    let started = Instant::now();
    let inner = &sim.inner;
    inner.record(req.uri().path(), req.headers());

    if inner.cfg.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(inner.cfg.latency_ms)).await;
    }
    if let Some(expected) = &inner.cfg.api_key {
        if let Err(err) = check_auth(req.headers(), expected) {
            return finish(inner, err.into_response(), started, None).await;
        }
    }
    let mut cut = None;
    match inner.pop_fault() {
        None => {}
        Some(Fault::Delay { ms }) => tokio::time::sleep(Duration::from_millis(ms)).await,
        Some(Fault::CutStream { after_chunks }) => cut = Some(after_chunks),
        Some(fault) => {
            let resp = fault_response(inner, fault, req).await;
            return finish(inner, resp, started, None).await;
        }
    }
    let ctx = Ctx {
        inner: sim.inner.clone(),
        cut,
        gen: Gen {
            forced_cached: header_u64(req.headers(), "x-sim-cached-tokens"),
            forced_completion: header_u64(req.headers(), "x-sim-completion-tokens"),
        },
    };
    let resp = match dispatch::dispatch(&ctx, req).await {
        Ok(resp) => resp,
        Err(err) => err.into_response(),
    };
    finish(inner, resp, started, cut).await
}

fn check_auth(headers: &HeaderMap, expected: &str) -> Result<(), ApiError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|k| !k.is_empty());
    match presented {
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            None,
            None,
        )),
        Some(key) if key == expected => Ok(()),
        Some(key) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            format!(
                "Incorrect API key provided: {}. You can find your API key at https://platform.openai.com/account/api-keys.",
                wire::mask_key(key)
            ),
            "invalid_request_error",
            None,
            Some("invalid_api_key"),
        )),
    }
}

/// The model named in a JSON request body, for the rate-limit message.
async fn peek_model(req: Request) -> Option<String> {
    #[derive(Deserialize)]
    struct M {
        model: Option<String>,
    }
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if !is_json {
        return None;
    }
    let body = axum::body::to_bytes(req.into_body(), 4 * 1024 * 1024)
        .await
        .ok()?;
    serde_json::from_slice::<M>(&body).ok()?.model
}

async fn fault_response(inner: &Inner, fault: Fault, req: Request) -> Response {
    let (status, message, kind, code): (StatusCode, String, &str, Option<&str>) = match fault {
        Fault::RateLimited { retry_after_secs } => {
            let model = peek_model(req).await.unwrap_or_else(|| "gpt-4o-mini".to_owned());
            let err = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "Rate limit reached for {model} in organization {ORGANIZATION} on requests per min (RPM): Limit {LIMIT_REQUESTS}, Used {LIMIT_REQUESTS}, Requested 1. Please try again in {retry_after_secs}s. Visit https://platform.openai.com/account/rate-limits to learn more."
                ),
                "requests",
                None,
                Some("rate_limit_exceeded"),
            );
            let mut resp = err.into_response();
            let limits = inner.limiter.charge(0);
            let h = resp.headers_mut();
            h.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            h.insert(RL_LIMIT_REQ.clone(), HeaderValue::from(LIMIT_REQUESTS));
            h.insert(RL_REMAINING_REQ.clone(), HeaderValue::from(0u64));
            insert_str(h, &RL_RESET_REQ, &go_duration(retry_after_secs.saturating_mul(1000)));
            h.insert(RL_LIMIT_TOK.clone(), HeaderValue::from(LIMIT_TOKENS));
            h.insert(RL_REMAINING_TOK.clone(), HeaderValue::from(limits.remaining_tokens));
            insert_str(h, &RL_RESET_TOK, &go_duration(limits.reset_tokens_ms));
            return resp;
        }
        Fault::InsufficientQuota => (
            StatusCode::TOO_MANY_REQUESTS,
            "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.".to_owned(),
            "insufficient_quota",
            Some("insufficient_quota"),
        ),
        Fault::BillingHardLimit => (
            StatusCode::BAD_REQUEST,
            "Billing hard limit has been reached".to_owned(),
            "invalid_request_error",
            Some("billing_hard_limit_reached"),
        ),
        Fault::ServerError => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "The server had an error while processing your request. Sorry about that!".to_owned(),
            "server_error",
            None,
        ),
        Fault::BadGateway => {
            // OpenAI's edge answers 502 in this slightly different shape.
            let body = serde_json::json!({
                "error": {"code": 502, "message": "Bad gateway.", "param": null, "type": "cf_bad_gateway"}
            });
            return wire::json_value(StatusCode::BAD_GATEWAY, &body);
        }
        Fault::Overloaded => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The engine is currently overloaded, please try again later".to_owned(),
            "server_error",
            None,
        ),
        // Handled by the caller; answered normally if ever passed here.
        Fault::Delay { .. } | Fault::CutStream { .. } => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "The server had an error while processing your request. Sorry about that!".to_owned(),
            "server_error",
            None,
        ),
    };
    ApiError::new(status, message, kind, None, code).into_response()
}

fn insert_str(h: &mut HeaderMap, name: &HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name.clone(), v);
    }
}

/// Apply a cut fault to a non-streamed body, report usage, add the standard
/// headers.
async fn finish(inner: &Inner, mut resp: Response, started: Instant, cut: Option<u32>) -> Response {
    let metered = resp.extensions().get::<Metered>().copied();
    let is_sse = resp.extensions().get::<sse::SseMarker>().is_some();
    let mut cut_applied = false;
    if cut.is_some() && !is_sse {
        resp = cut_body(resp).await;
        cut_applied = true;
    }
    if let Some(m) = metered {
        if m.report && !cut_applied {
            inner.report(m);
        }
    }
    let status = resp.status();
    let h = resp.headers_mut();
    insert_str(h, &X_REQUEST_ID, &hex_id("req_", 32));
    h.insert(
        OPENAI_PROCESSING_MS.clone(),
        HeaderValue::from(started.elapsed().as_millis() as u64),
    );
    h.insert(
        OPENAI_VERSION.clone(),
        HeaderValue::from_static("2020-10-01"),
    );
    h.insert(
        OPENAI_ORGANIZATION.clone(),
        HeaderValue::from_static(ORGANIZATION),
    );
    if inner.cfg.rate_limit_headers
        && status != StatusCode::UNAUTHORIZED
        && !h.contains_key(&RL_LIMIT_REQ)
    {
        let tokens = metered.map_or(0, |m| m.input + m.output);
        let l = inner.limiter.charge(tokens);
        h.insert(RL_LIMIT_REQ.clone(), HeaderValue::from(LIMIT_REQUESTS));
        h.insert(
            RL_REMAINING_REQ.clone(),
            HeaderValue::from(l.remaining_requests),
        );
        insert_str(h, &RL_RESET_REQ, &go_duration(l.reset_requests_ms));
        h.insert(RL_LIMIT_TOK.clone(), HeaderValue::from(LIMIT_TOKENS));
        h.insert(
            RL_REMAINING_TOK.clone(),
            HeaderValue::from(l.remaining_tokens),
        );
        insert_str(h, &RL_RESET_TOK, &go_duration(l.reset_tokens_ms));
    }
    resp
}

/// Send the first half of the body, then fail the connection.
async fn cut_body(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .unwrap_or_default();
    let half = bytes.slice(..bytes.len() / 2);
    let stream = futures_util::stream::unfold(Some(half), |state| async move {
        match state {
            Some(half) => Some((Ok::<Bytes, std::io::Error>(half), None)),
            None => {
                // Let hyper flush the half first (it drops buffered bytes
                // when a body fails).
                tokio::task::yield_now().await;
                let err = std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "simulated upstream body cut",
                );
                Some((Err(err), None))
            }
        }
    });
    let stream = futures_util::StreamExt::take(stream, 2);
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from_stream(stream))
}

// ---------------------------------------------------------------- /_sim control

#[derive(Deserialize)]
struct InjectBody {
    #[serde(flatten)]
    fault: Fault,
    #[serde(default = "one")]
    count: u32,
}

fn one() -> u32 {
    1
}

fn control_error(message: String) -> Response {
    let body = serde_json::json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}});
    wire::json_value(StatusCode::BAD_REQUEST, &body)
}

async fn ctl_inject(State(sim): State<Simulator>, body: Bytes) -> Response {
    match serde_json::from_slice::<InjectBody>(&body) {
        Ok(b) => {
            sim.inject(b.fault, b.count);
            let out = serde_json::json!({"queued": b.count, "fault": b.fault, "pending": sim.pending_faults()});
            wire::json_value(StatusCode::OK, &out)
        }
        Err(err) => control_error(format!(
            "invalid fault: {err}; expected e.g. {{\"fault\":\"rate_limited\",\"retry_after_secs\":20,\"count\":1}}"
        )),
    }
}

async fn ctl_clear(State(sim): State<Simulator>) -> Response {
    let cleared = sim.pending_faults();
    sim.clear_faults();
    wire::json_value(StatusCode::OK, &serde_json::json!({"cleared": cleared}))
}

async fn ctl_stats(State(sim): State<Simulator>) -> Response {
    wire::json(StatusCode::OK, &sim.stats())
}

async fn ctl_reset(State(sim): State<Simulator>) -> Response {
    sim.reset_stats();
    wire::json_value(StatusCode::OK, &serde_json::json!({"reset": true}))
}

async fn ctl_health() -> Response {
    wire::json_value(StatusCode::OK, &serde_json::json!({"status": "ok"}))
}

async fn ctl_image(Path(name): Path<String>) -> Response {
    if name.ends_with(".png") {
        wire::typed(
            StatusCode::OK,
            "image/png",
            Bytes::from_static(media::TINY_PNG),
        )
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}
