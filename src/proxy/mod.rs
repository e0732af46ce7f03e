//! The gateway's hot path: `ANY /v1/{*path}` is authenticated, admitted against the
//! workspace's limits and its caps on calls in flight and buffered bytes ([`crate::guard`]),
//! forwarded to the upstream with the key swapped, and streamed back while its usage is read on
//! the fly; when the body ends (or the client leaves) the call is settled, recorded and fed to
//! the status engine. [`Proxy::forward`] is the request's way in, step by step.
//!
//! One job a file:
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | [`Proxy`]: its setup, and [`Proxy::forward`], the way in |
//! | [`family`] | endpoint naming and the one table of how each family is metered ([`family::FamilySpec`]; how to add a family) |
//! | `route.rs` | the path: refused when unsafe, its family |
//! | `tags.rs` | the call's id and its `X-Quota-*` tags |
//! | `request.rs` | the request body's way in: JSON read whole, multipart peeked, anything else streamed |
//! | [`inspect`] | what admission reads from a request body, and the JSON bodies it refuses |
//! | [`multipart`] | a multipart upload's fields, and its late `model` |
//! | [`include_usage`] | a body rewrite: asking a stream for its usage |
//! | `downgrade.rs` | the other body rewrite: a call sent for the model a downgrade rule puts in place of its own |
//! | `admit.rs` | what a call reserves, asked of the registry |
//! | `header_policy.rs` | which headers go upstream and come back; every header name |
//! | `upstream.rs` | the clients, the upstream URI, the send under the call's deadline (every attempt) |
//! | `retry.rs` | when and how a call is sent again after an upstream `rate_limit_exceeded`; the read of that 429 |
//! | `answer.rs` | the answer's way back: its head, the metered body |
//! | [`sse`] | the stream tap |
//! | `json_bytes.rs` | the tap's scanner: values out of JSON bytes without parsing |
//! | [`usage`] | the usage of a JSON answer, per family |
//! | `lenient.rs` | the serde readers that accept any value and keep one kind |
//! | `settle.rs` | settlement: usage, price, counters, metrics, ledger row |
//! | [`signals`] | `x-ratelimit-*`, 429 kinds |
//! | [`estimate`] | the tokenizer estimates |
//! | [`meters`] | the metric handles of the hot path |
//! | `media.rs` | what a `Content-Type` announces |
//!
//! Must not: decide policy (it asks [`crate::registry`] / [`crate::quota`]), hold a lock across an
//! `.await`, buffer a stream, allocate per chunk, or log a key.

pub mod estimate;
pub mod family;
pub mod include_usage;
pub mod inspect;
pub mod meters;
pub mod multipart;
pub mod signals;
pub mod sse;
pub mod usage;

mod admit;
mod answer;
mod downgrade;
mod header_policy;
mod json_bytes;
mod lenient;
mod media;
mod request;
mod retry;
mod route;
mod settle;
mod shared;
mod tags;
mod upstream;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::uri::{Authority, Scheme, Uri};
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response};

use crate::config::UpstreamAccount;
use crate::error::{mask_key, AppError};
use crate::guard::CallSlot;
use crate::headers::bearer;
use crate::pricing::PriceTable;
use crate::registry::{CallPolicy, Caller, Registry};
use crate::store::Store;
use route::Route;
use settle::{Call, Settlement};
use tags::Tags;

pub use header_policy::{ANSWER_HEADERS, FORWARDED_REQUEST_HEADERS};
pub use settle::drain_deferred;
pub use upstream::set_serving_slot;

/// JSON request bodies are read whole (to see `model`, `stream`, `max_tokens`); larger ones
/// are refused with 413 in OpenAI's shape.
pub const MAX_JSON_BODY: usize = 32 * 1024 * 1024;
/// Output tokens reserved for a generating call that sets no `max_tokens`.
pub const DEFAULT_OUTPUT_RESERVE: u64 = 4096;

/// The forwarding side of the gateway. Shared as `Arc<Proxy>`.
#[derive(Debug)]
pub struct Proxy {
    /// One pooled client per serving runtime (see [`set_serving_slot`]): a connection then lives
    /// on the runtime whose calls use it, so no call wakes another thread.
    clients: Vec<upstream::UpstreamClient>,
    /// The upstream base URL, split once: scheme, authority and path prefix (no trailing `/`).
    scheme: Scheme,
    authority: Authority,
    /// The `Host` header of every upstream request, built once (the client would otherwise
    /// format and allocate it per call).
    host: HeaderValue,
    base_path: String,
    upstream_auth: Option<HeaderValue>,
    /// `OpenAI-Organization` / `OpenAI-Project` of every upstream request, from `[upstream]`.
    organization: Option<HeaderValue>,
    project: Option<HeaderValue>,
    pass_organization_header: bool,
    timeout: Duration,
    pub registry: Arc<Registry>,
    prices: Arc<PriceTable>,
    store: Store,
    meters: meters::Meters,
    /// Per-workspace caps on calls in flight and buffered request bytes.
    limits: crate::guard::Limits,
    /// Settlements still running off the async threads (token estimates of streams that
    /// ended without usage): shutdown waits for them before the ledger writer stops.
    settling: tokio_util::task::TaskTracker,
    /// Shared state (`[redis]`), if several instances share the counters.
    state: Option<Arc<crate::state::RedisState>>,
}

impl Proxy {
    pub fn new(
        base_url: &str,
        upstream_key: Option<&str>,
        timeout_seconds: u64,
        registry: Arc<Registry>,
        prices: Arc<PriceTable>,
        store: Store,
        serving_runtimes: usize,
    ) -> Result<Proxy, axum::http::uri::InvalidUri> {
        let base: Uri = base_url.trim_end_matches('/').parse()?;
        let scheme = base.scheme().cloned().unwrap_or(Scheme::HTTPS);
        // A URL without a host fails here rather than on the first call.
        let authority = match base.authority() {
            Some(a) => a.clone(),
            None => "".parse::<Authority>()?,
        };
        let host = upstream::host_header(&scheme, &authority);
        let base_path = base.path().trim_end_matches('/').to_string();
        let upstream_auth = upstream_key.and_then(|k| {
            let mut v = HeaderValue::from_str(&format!("Bearer {k}")).ok()?;
            v.set_sensitive(true);
            Some(v)
        });
        Ok(Proxy {
            clients: upstream::clients(serving_runtimes),
            scheme,
            authority,
            host,
            base_path,
            upstream_auth,
            organization: None,
            project: None,
            pass_organization_header: false,
            timeout: Duration::from_secs(timeout_seconds),
            registry,
            prices,
            store,
            meters: meters::Meters::default(),
            limits: crate::guard::Limits::default(),
            settling: tokio_util::task::TaskTracker::new(),
            state: None,
        })
    }

    /// Sets the account headers sent upstream and whether the upstream's are passed back.
    /// The values were validated with the configuration (visible ASCII); one that is not a
    /// header value is an error rather than silently dropped.
    pub fn with_account(
        mut self,
        account: &UpstreamAccount,
    ) -> Result<Proxy, axum::http::header::InvalidHeaderValue> {
        let value = |v: &Option<String>| v.as_deref().map(HeaderValue::from_str).transpose();
        self.organization = value(&account.organization)?;
        self.project = value(&account.project)?;
        self.pass_organization_header = account.pass_organization_header;
        Ok(self)
    }

    /// The same proxy, admitting and settling through shared state.
    pub fn with_shared_state(mut self, state: Arc<crate::state::RedisState>) -> Proxy {
        self.state = Some(state);
        self
    }

    /// Shared state, if configured.
    pub fn shared_state(&self) -> Option<&Arc<crate::state::RedisState>> {
        self.state.as_ref()
    }

    /// The same proxy with these per-workspace caps (else the defaults).
    pub fn with_limits(mut self, limits: crate::guard::Limits) -> Proxy {
        self.limits = limits;
        self
    }

    /// Waits until every settlement still running has recorded its call. Calls that end
    /// later are still settled; shutdown calls this once the server has stopped serving.
    pub async fn settled(&self) {
        self.settling.close();
        self.settling.wait().await;
        self.settling.reopen();
    }

    /// Handles one `/v1/...` request end to end: the request's way in.
    pub async fn forward(self: &Arc<Self>, req: Request<Body>) -> Result<Response<Body>, AppError> {
        let started = Instant::now();
        let (mut parts, body) = req.into_parts();
        // Before anything else, whoever the caller is.
        let route = Route::of(parts.uri.path())?;
        let caller = self.authenticate(&parts.headers)?;
        // A place among the workspace's calls in flight, held until the call is settled.
        let mut slot = CallSlot::admit(&caller.workspace.load, &self.limits)?;
        let tags = Tags::from_headers(&parts.headers)?;
        let request_id = tags::request_id(&parts.headers);
        // The body: JSON read whole (it must be seen), multipart peeked at, anything else
        // streamed; then the workspace's policies (a JSON call may be sent for a cheaper
        // model, and sent again after an upstream rate limit), then the call's worst case is
        // reserved, for the model it is sent for, at the call's priority class.
        let mut request = request::read(route.kind, &parts.headers, body, &mut slot).await?;
        let policy = if request.is_json {
            let model = request.seen.info.model.as_deref();
            self.registry
                .call_policy(&caller.workspace, model, chrono::Utc::now())
        } else {
            CallPolicy::default()
        };
        let requested_model = policy
            .downgrade_to
            .and_then(|to| downgrade::apply(&mut request, to, &caller.workspace.id));
        let (reservation, shared) = self
            .reserve(&caller, route.kind, &request.seen, tags.priority)
            .await?;
        let uri = self.upstream_uri(route.rest, parts.uri.query())?;
        let headers = self.upstream_headers(std::mem::take(&mut parts.headers), request.is_json);
        // Only a body the gateway holds can be sent again.
        let resend = (policy.retries > 0 && request.is_json).then(|| {
            retry::Resend::new(
                &parts.method,
                &uri,
                &headers,
                request.seen.json.clone(),
                policy.retries,
            )
        });
        let call = Call {
            caller,
            reservation,
            shared,
            family: route.family,
            other_path: route.other_path(),
            kind: route.kind,
            tags,
            request_id,
            is_get: parts.method == Method::GET,
            requested_model,
            upstream_retries: 0,
            started,
            _slot: slot,
        };
        // Settled when the answer's body ends, the upstream fails, or the client leaves.
        let settlement = Settlement::new(self.clone(), call, request.seen);
        self.meters.overhead.record(started.elapsed().as_secs_f64());
        let upstream = upstream::upstream_request(parts.method, uri, headers, request.body);
        self.send(settlement, upstream, resend, request.strip_usage_chunk)
            .await
    }

    /// The caller of a bearer key, refused without one or with an unknown one.
    fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, AppError> {
        let key = bearer(headers).ok_or(AppError::MissingKey)?;
        self.registry
            .authenticate(key)
            .ok_or_else(|| AppError::InvalidKey {
                masked: mask_key(key),
            })
    }
}
