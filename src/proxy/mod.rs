//! The gateway's hot path: `ANY /v1/{*path}` is authenticated, admitted against the
//! workspace's limits and its caps on calls in flight and buffered bytes ([`crate::guard`]),
//! forwarded to the upstream with the key swapped, and streamed back while
//! its usage is read on the fly; when the body ends (or the client leaves) the call is settled,
//! recorded and fed to the status engine.
//!
//! Owns: forwarding (which paths are refused, which request headers go upstream —
//! [`FORWARDED_REQUEST_HEADERS`] — and which response headers come back; bodies, timeouts),
//! the metered response body, and the mapping of upstream outcomes to
//! [`UpstreamObservation`]s. The pure parts live in submodules:
//! [`family`] (endpoint naming), [`usage`] (request inspection and usage extraction per family),
//! [`sse`] (the streaming tap), [`signals`] (`x-ratelimit-*`, 429 kinds), [`estimate`]
//! (tokenizer). Must not: decide policy (it asks [`crate::registry`] / [`crate::quota`]), hold
//! a lock across an `.await`, buffer a stream, or log a key.

pub mod estimate;
pub mod family;
pub mod meters;
pub mod signals;
pub mod sse;
pub mod usage;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::uri::{Authority, PathAndQuery, Scheme, Uri};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Request, Response, Version};
use axum::BoxError;
use bytes::Bytes;
use chrono::Utc;
use futures_util::stream::StreamExt;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::config::{UpstreamAccount, MAX_SERVING_RUNTIMES};
use crate::error::{mask_key, AppError};
use crate::headers::bearer;
use crate::model::CallUsage;
use crate::pricing::PriceTable;
use crate::quota::{Actual, Demand, Reservation, UpstreamObservation};
use crate::registry::{Caller, Registry};
use crate::store::{LedgerRow, Store, Write};
use crate::types::{ArgValue, UpstreamHeadroom};
use family::FamilyKind;
use signals::UpstreamError;
use sse::{StreamKind, StreamOutcome, StreamTap};
use usage::RequestInfo;

/// JSON request bodies are read whole (to see `model`, `stream`, `max_tokens`); larger ones
/// are refused with 413 in OpenAI's shape.
pub const MAX_JSON_BODY: usize = 32 * 1024 * 1024;
/// How much of a multipart upload is inspected (model, n, size…) before streaming on; a
/// `model` field after it is caught by [`usage::ModelSniffer`] as the rest streams through.
const MULTIPART_PEEK: usize = 64 * 1024;
/// JSON responses larger than this are passed through without usage extraction.
const MAX_COLLECT: usize = 64 * 1024 * 1024;
/// Output tokens reserved for a generating call that sets no `max_tokens`.
pub const DEFAULT_OUTPUT_RESERVE: u64 = 4096;

/// The upstream HTTP client: hyper's pooled client over rustls (HTTP/1.1, or HTTP/2 where
/// the upstream offers it by ALPN). Used directly rather than through reqwest, which parsed a
/// URL and boxed a timeout and a body stream for every call.
type UpstreamClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>;

thread_local! {
    /// Which upstream client this thread's calls use: 0 on the shared runtime, `i + 1` on the
    /// `i`-th serving runtime (set by [`set_serving_slot`]).
    static SERVING_SLOT: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

thread_local! {
    /// The settlements this thread deferred ([`after_flush`]), drained by [`drain_deferred`].
    static DEFERRED: tokio_util::task::TaskTracker = tokio_util::task::TaskTracker::new();
}

/// Runs `settle` once the answer's last bytes are written. hyper stops polling a body when its
/// `Content-Length` is reached and drops it before flushing the connection, so a settlement in
/// the body (reading the usage, pricing, the counters, metrics, the ledger row) was on every
/// answer's latency. Spawned on the serving thread's runtime, it runs as soon as the
/// connection's task has written the answer and yielded; admission stays exact meanwhile (the
/// call's reservation counts until it settles). Tracked by the proxy's `settling` (graceful
/// shutdown waits for it) and by the thread's [`DEFERRED`], which the serving thread drains
/// before its runtime ends, so no call goes unrecorded.
fn after_flush(proxy: &Proxy, settle: impl FnOnce() + Send + 'static) {
    if tokio::runtime::Handle::try_current().is_err() {
        return settle();
    }
    let local = DEFERRED.with(|t| t.track_future(async move { settle() }));
    tokio::spawn(proxy.settling.track_future(local));
}

/// Waits until every settlement this thread deferred has run: a serving thread calls it after
/// it stops serving, while its runtime still runs tasks.
pub async fn drain_deferred() {
    let tracker = DEFERRED.with(Clone::clone);
    tracker.close();
    tracker.wait().await;
}

/// Marks the current thread as the `i`-th serving runtime's.
pub fn set_serving_slot(i: usize) {
    SERVING_SLOT.set(i + 1);
}

/// The forwarding side of the gateway. Shared as `Arc<Proxy>`.
#[derive(Debug)]
pub struct Proxy {
    /// One pooled client per serving runtime (see [`serving_slot`]): a connection then lives
    /// on the runtime whose calls use it, so no call wakes another thread.
    clients: Vec<UpstreamClient>,
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
}

/// The upstream's `Host`: its host, and its port unless it is the scheme's default (as
/// hyper's client would write it).
fn host_header(scheme: &Scheme, authority: &Authority) -> HeaderValue {
    let default_port = if *scheme == Scheme::HTTPS { 443 } else { 80 };
    let host = match authority.port_u16() {
        Some(p) if p != default_port => format!("{}:{p}", authority.host()),
        _ => authority.host().to_string(),
    };
    // An authority is visible ASCII, always a valid header value.
    HeaderValue::from_str(&host).unwrap_or(HeaderValue::from_static(""))
}

/// The request headers that go upstream; every other header of the caller stays here. An
/// entry ending in `*` is a prefix. Not listed, on purpose: `authorization` and `host` (the
/// gateway sets its own), `cookie` (the UI's session), `openai-organization` and
/// `openai-project` (they choose what gets billed: they come from `[upstream]` only),
/// `api-key`/`x-api-key` (other credentials), `forwarded`/`x-forwarded-*`/`x-real-ip` (the
/// caller's network), `accept-encoding` (usage is read from plain bodies),
/// `content-encoding` (the gateway reads the body as sent), the `x-quota-*` tags and every
/// hop-by-hop header. `content-length` is dropped again for JSON bodies (they may be
/// rewritten). The `x-stainless-*` headers are the OpenAI SDKs' telemetry (language, OS,
/// package version, retry count, timeout): harmless, and OpenAI reads them.
pub const FORWARDED_REQUEST_HEADERS: [&str; 8] = [
    "accept",
    "content-type",
    "content-length",
    "user-agent",
    "openai-beta",
    "idempotency-key",
    "x-client-request-id",
    "x-stainless-*",
];

/// Whether the caller's header `name` (lower case, as [`HeaderMap`] keeps it) goes upstream.
fn is_forwarded_request_header(name: &str) -> bool {
    FORWARDED_REQUEST_HEADERS
        .iter()
        .any(|e| match e.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == *e,
        })
}

/// Headers that describe one hop, never passed on in either direction (RFC 9110 §7.6.1).
const HOP_HEADERS: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

/// Removes the headers named by `Connection` (RFC 9110 §7.6.1: they describe this hop only).
/// `close` and `keep-alive` name no header worth a lookup; anything else is rare, so the
/// values are copied (reference-counted) only then.
fn strip_connection_named(h: &mut HeaderMap) {
    let named: Vec<HeaderValue> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter(|v| {
            v.as_bytes().split(|c| *c == b',').any(|t| {
                let t = t.trim_ascii();
                !t.is_empty()
                    && !t.eq_ignore_ascii_case(b"close")
                    && !t.eq_ignore_ascii_case(b"keep-alive")
            })
        })
        .cloned()
        .collect();
    for v in named {
        for token in v.as_bytes().split(|c| *c == b',') {
            if let Ok(name) = HeaderName::from_bytes(token.trim_ascii()) {
                h.remove(name);
            }
        }
    }
}

/// Removes the hop-by-hop headers in place: those named by `Connection`, then the fixed ones.
/// Most messages carry none besides `host`, so the names are compared first and looked up
/// (hashed) only when present.
fn strip_hop_headers(h: &mut HeaderMap) {
    if h.keys().any(|n| HOP_HEADERS.contains(&n.as_str())) {
        strip_connection_named(h);
        for name in HOP_HEADERS {
            h.remove(name);
        }
    }
}

/// Keeps only the caller's headers that may go upstream ([`FORWARDED_REQUEST_HEADERS`]), in
/// place: the map is reused, so nothing is allocated; a name to drop is looked up again after
/// each removal (a request has a dozen headers, a few of them dropped).
fn keep_forwarded_request_headers(h: &mut HeaderMap) {
    // First the headers `Connection` names, even allowed ones (`Connection: close, accept`).
    strip_connection_named(h);
    while let Some(name) = h
        .keys()
        .find(|n| !is_forwarded_request_header(n.as_str()))
        .cloned()
    {
        h.remove(name);
    }
}

/// OpenAI's headers that name the account a call is billed to.
const OPENAI_ORGANIZATION: HeaderName = HeaderName::from_static("openai-organization");
const OPENAI_PROJECT: HeaderName = HeaderName::from_static("openai-project");

/// Whether a request path could leave the upstream's base path once a server or reverse
/// proxy on the way normalises it: a segment that is `.` or `..` as written or once
/// percent-decoded (`%2e`, any case; the part before a `;` counts, as some servers drop path
/// parameters), an encoded `/`, `\` or `%` (`%2f`, `%5c`, `%25`: a second decoding could make
/// one of the above), or a raw `\`. Such a path is refused, never forwarded. Most paths hold
/// none of `.`, `%` and `\`, so one byte scan decides them; nothing is allocated.
fn is_unsafe_path(path: &str) -> bool {
    let b = path.as_bytes();
    if !b.iter().any(|c| matches!(c, b'.' | b'%' | b'\\')) {
        return false;
    }
    if b.contains(&b'\\') {
        return true;
    }
    for seg in b.split(|c| *c == b'/') {
        // The decoded segment's dots, whether anything else is in it before a `;`.
        let (mut dots, mut other, mut params) = (0usize, false, false);
        let mut i = 0;
        while i < seg.len() {
            let mut c = seg[i];
            i += 1;
            if c == b'%' {
                let hex = |k: usize| seg.get(k).and_then(|h| (*h as char).to_digit(16));
                if let (Some(hi), Some(lo)) = (hex(i), hex(i + 1)) {
                    c = (hi * 16 + lo) as u8;
                    i += 2;
                    if matches!(c, b'/' | b'\\' | b'%') {
                        return true;
                    }
                }
            }
            if params {
                continue;
            }
            match c {
                b'.' => dots += 1,
                b';' => params = true,
                _ => other = true,
            }
        }
        if !other && (dots == 1 || dots == 2) {
            return true;
        }
    }
    false
}

const X_QUOTA_GOAL: HeaderName = HeaderName::from_static("x-quota-goal");
const X_QUOTA_STATUS: HeaderName = HeaderName::from_static("x-quota-status");
const X_QUOTA_WORKSPACE: HeaderName = HeaderName::from_static("x-quota-workspace");
const X_QUOTA_REQUEST_ID: HeaderName = HeaderName::from_static("x-quota-request-id");
/// OpenAI's header for an id chosen by the caller (forwarded as it is).
const X_CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("x-client-request-id");
/// The upstream's id of the call, recorded in the ledger.
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The call's id: the caller's `X-Client-Request-Id` when it is printable ASCII of at most
/// 512 bytes (OpenAI's own rule), else a fresh UUIDv7 (time-ordered, like the ledger).
fn request_id(h: &HeaderMap) -> HeaderValue {
    h.get(&X_CLIENT_REQUEST_ID)
        .filter(|v| !v.is_empty() && v.len() <= 512 && v.to_str().is_ok())
        .cloned()
        .unwrap_or_else(|| {
            let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
            let id = fresh_uuid_v7().hyphenated().encode_lower(&mut buf);
            HeaderValue::from_str(id).unwrap_or(HeaderValue::from_static("unknown"))
        })
}

/// A UUIDv7 from the wall clock and the thread's own RNG. `Uuid::now_v7` would take uuid's
/// process-wide counter lock and make a `getrandom` syscall inside it on every call, which
/// under load made the request id the gateway's most contended lock. Ids minted in the same
/// millisecond are unique (74 random bits) but not ordered among themselves, which a request
/// id does not need.
fn fresh_uuid_v7() -> uuid::Uuid {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let mut random = [0u8; 10];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut random);
    uuid::Builder::from_unix_timestamp_millis(ms, &random).into_uuid()
}
const X_QUOTA_TASK: HeaderName = HeaderName::from_static("x-quota-task");
const X_QUOTA_PRIORITY: HeaderName = HeaderName::from_static("x-quota-priority");

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
        let host = host_header(&scheme, &authority);
        let base_path = base.path().trim_end_matches('/').to_string();
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(10)));
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let clients = (0..=serving_runtimes.min(MAX_SERVING_RUNTIMES))
            .map(|_| {
                Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(Duration::from_secs(90))
                    .pool_max_idle_per_host(1024)
                    .build(https.clone())
            })
            .collect();
        let upstream_auth = upstream_key.and_then(|k| {
            let mut v = HeaderValue::from_str(&format!("Bearer {k}")).ok()?;
            v.set_sensitive(true);
            Some(v)
        });
        Ok(Proxy {
            clients,
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

    /// The same proxy with these per-workspace caps (else the defaults).
    pub fn with_limits(mut self, limits: crate::guard::Limits) -> Proxy {
        self.limits = limits;
        self
    }

    /// This thread's upstream client.
    fn client(&self) -> &UpstreamClient {
        let slot = SERVING_SLOT.get();
        self.clients.get(slot).unwrap_or(&self.clients[0])
    }

    /// Waits until every settlement still running has recorded its call. Calls that end
    /// later are still settled; shutdown calls this once the server has stopped serving.
    pub async fn settled(&self) {
        self.settling.close();
        self.settling.wait().await;
        self.settling.reopen();
    }

    /// Handles one `/v1/...` request end to end.
    pub async fn forward(self: &Arc<Self>, req: Request<Body>) -> Result<Response<Body>, AppError> {
        let started = Instant::now();
        let (mut parts, body) = req.into_parts();
        let path = parts.uri.path();
        // Before anything else, whoever the caller is.
        if is_unsafe_path(path) {
            return Err(AppError::InvalidPath);
        }
        let rest = path
            .strip_prefix("/v1/")
            .or_else(|| path.strip_prefix("/v1"))
            .unwrap_or(path)
            .trim_start_matches('/');
        let family = family::family(rest);
        let kind = family::family_kind(family);

        let key = bearer(&parts.headers).ok_or(AppError::MissingKey)?;
        let caller = self
            .registry
            .authenticate(key)
            .ok_or_else(|| AppError::InvalidKey {
                masked: mask_key(key),
            })?;
        // A place among the workspace's calls in flight, held until the call is settled.
        let mut slot = crate::guard::CallSlot::admit(&caller.workspace.load, &self.limits)?;
        let tags = Tags::from_headers(&parts.headers)?;
        let request_id = request_id(&parts.headers);

        // A clone of the parsed header shares its bytes: no copy per call.
        let content_type_header = parts.headers.get(header::CONTENT_TYPE).cloned();
        let content_type = content_type_header.as_ref().and_then(|v| v.to_str().ok());
        let media = content_type.map_or(Media::Other, media_kind);
        let (is_json, is_multipart) = (media == Media::Json, media == Media::Multipart);

        // The request body: JSON is read whole (small, and we must see it); everything else
        // streams, multipart after a short peek for its `model` field.
        let mut strip_usage_chunk = false;
        let mut request_json = Bytes::new();
        let mut late_model: Option<Arc<OnceLock<String>>> = None;
        let (upstream_body, info) = if is_json {
            if content_length(&parts.headers).is_some_and(|n| n > MAX_JSON_BODY as u64) {
                return Err(AppError::PayloadTooLarge(MAX_JSON_BODY));
            }
            // Its bytes count against the workspace's budget of buffered bytes.
            let length = content_length(&parts.headers);
            let bytes =
                crate::guard::read_json_body(body, length, MAX_JSON_BODY, &mut slot).await?;
            // One pass reads what admission needs and refuses what it would have to guess.
            let info = usage::inspect_json_request(kind, &bytes).map_err(body_error)?;
            let bytes = if info.stream
                && !info.include_usage
                && matches!(kind, FamilyKind::ChatCompletions | FamilyKind::Completions)
            {
                match usage::add_include_usage(&bytes) {
                    Some(b) => {
                        strip_usage_chunk = true;
                        Bytes::from(b)
                    }
                    None => bytes,
                }
            } else {
                bytes
            };
            request_json = bytes.clone();
            (Body::from(bytes), info)
        } else if is_multipart {
            let mut stream = body.into_data_stream();
            let mut peek: Vec<Bytes> = Vec::new();
            let mut peeked = 0usize;
            let mut ended = false;
            while peeked < MULTIPART_PEEK {
                match stream.next().await {
                    Some(Ok(b)) => {
                        peeked += b.len();
                        peek.push(b);
                    }
                    Some(Err(_)) => {
                        return Err(AppError::bad_request(
                            "The upload was cut before it ended.",
                            None,
                        ))
                    }
                    None => {
                        ended = true;
                        break;
                    }
                }
            }
            let head: Vec<u8> = peek.iter().flat_map(|b| b.iter().copied()).collect();
            let mut info = usage::inspect_request(kind, content_type, &head);
            info.body_len = content_length(&parts.headers).unwrap_or(peeked as u64);
            let first = futures_util::stream::iter(peek.into_iter().map(Ok::<Bytes, axum::Error>));
            if info.model.is_none() && !ended {
                // The model field comes later (after the file part): watch for it as the
                // rest streams through; the settlement reads it.
                let mut sniffer = usage::ModelSniffer::default();
                let found = Arc::new(OnceLock::new());
                // Its header may have started at the end of the peek (even with its value,
                // when the peek stops before the delimiter that closes the field).
                if let Some(m) = sniffer.push(&head[head.len().saturating_sub(usage::MODEL_SEAM)..])
                {
                    let _ = found.set(m);
                }
                late_model = Some(found.clone());
                let rest = stream.map(move |chunk| {
                    if let Ok(b) = &chunk {
                        if let Some(m) = sniffer.push(b) {
                            let _ = found.set(m);
                        }
                    }
                    chunk
                });
                (Body::from_stream(first.chain(rest)), info)
            } else {
                (Body::from_stream(first.chain(stream)), info)
            }
        } else {
            let info = RequestInfo {
                body_len: content_length(&parts.headers).unwrap_or(0),
                n: 1,
                ..Default::default()
            };
            (body, info)
        };

        let demand = self.demand(kind, &info, &request_json);
        let now = Utc::now();
        let reservation = self
            .registry
            .admit(&caller.workspace, demand, now)
            .map_err(|r| {
                metrics::counter!("qs_refused_total", "workspace" => caller.workspace.id.to_string(), "limit" => r.limit.as_str()).increment(1);
                AppError::QuotaExceeded {
                    workspace: caller.workspace.id.to_string(),
                    limit: r.limit,
                    limit_value: r.limit_value,
                    used: r.used,
                    retry_after_secs: r.retry_after_secs,
                }
            })?;

        let uri = self.upstream_uri(rest, parts.uri.query())?;
        // Only the allowed headers of the caller go upstream (not its key, cookies, account
        // headers, addresses or hop-by-hop headers); a JSON body's length is set again by the
        // client, as the body may have been rewritten. Then the gateway's own: the upstream
        // key, the configured account, the upstream's host.
        let mut headers = std::mem::take(&mut parts.headers);
        keep_forwarded_request_headers(&mut headers);
        if is_json {
            headers.remove(header::CONTENT_LENGTH);
        }
        if let Some(auth) = &self.upstream_auth {
            headers.insert(header::AUTHORIZATION, auth.clone());
        }
        if let Some(org) = &self.organization {
            headers.insert(OPENAI_ORGANIZATION, org.clone());
        }
        if let Some(project) = &self.project {
            headers.insert(OPENAI_PROJECT, project.clone());
        }
        headers.insert(header::HOST, self.host.clone());

        let settlement = Settlement {
            proxy: self.clone(),
            caller,
            reservation,
            family,
            other_path: (family == family::OTHER_FAMILY).then(|| other_path(rest)),
            kind,
            info,
            request_json,
            tags,
            late_model,
            run_id: None,
            request_id,
            is_get: parts.method == axum::http::Method::GET,
            started,
            status: 0,
            error_headers: None,
            headroom: None,
            upstream_request_id: None,
            _slot: slot,
        };
        self.meters.overhead.record(started.elapsed().as_secs_f64());

        let mut upstream_req = Request::new(upstream_body);
        *upstream_req.method_mut() = parts.method;
        *upstream_req.uri_mut() = uri;
        // The client picks HTTP/2 itself when the upstream offers it.
        *upstream_req.version_mut() = Version::HTTP_11;
        *upstream_req.headers_mut() = headers;

        // One deadline covers the whole call, answer and body, like the OpenAI SDKs' timeout.
        let sent = Instant::now();
        let mut deadline = Box::pin(tokio::time::sleep(self.timeout));
        let result = tokio::select! {
            biased;
            r = self.client().request(upstream_req) => r,
            () = deadline.as_mut() => {
                settlement.fail("error-upstream-timeout");
                return Err(AppError::UpstreamTimeout(self.timeout.as_secs()));
            }
        };
        let resp = match result {
            Ok(r) => r,
            Err(e) => {
                settlement.fail("error-upstream-unreachable");
                return Err(AppError::UpstreamUnreachable(e));
            }
        };
        self.meters
            .upstream_latency
            .record(sent.elapsed().as_secs_f64());
        Ok(self.respond(settlement, resp, strip_usage_chunk, deadline))
    }

    /// The upstream URI of `/v1/{rest}?{query}`.
    fn upstream_uri(&self, rest: &str, query: Option<&str>) -> Result<Uri, AppError> {
        let mut pq = String::with_capacity(
            self.base_path.len() + rest.len() + 1 + query.map_or(0, |q| q.len() + 1),
        );
        pq.push_str(&self.base_path);
        pq.push('/');
        pq.push_str(rest);
        if let Some(q) = query {
            pq.push('?');
            pq.push_str(q);
        }
        let pq = PathAndQuery::try_from(pq).map_err(|_| {
            AppError::bad_request("The request path is not a valid URI path.", None)
        })?;
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(pq)
            .build()
            .map_err(|_| AppError::bad_request("The request path is not a valid URI path.", None))
    }

    fn demand(&self, kind: FamilyKind, info: &RequestInfo, body: &[u8]) -> Demand {
        let input = match kind {
            FamilyKind::ChatCompletions
            | FamilyKind::Completions
            | FamilyKind::Responses
            | FamilyKind::Embeddings
            | FamilyKind::Runs => estimate::estimate_prompt_tokens(body),
            _ => 0,
        };
        let output = match kind {
            FamilyKind::ChatCompletions
            | FamilyKind::Completions
            | FamilyKind::Responses
            | FamilyKind::Runs => {
                info.max_output_tokens.unwrap_or(DEFAULT_OUTPUT_RESERVE) * info.n.max(1)
            }
            _ => 0,
        };
        let cost_nanos = self
            .prices
            .worst_case_nanos(info.model.as_deref(), input, output);
        Demand {
            tokens: input + output,
            cost_nanos,
        }
    }

    fn respond(
        &self,
        mut s: Settlement,
        resp: Response<Incoming>,
        strip_usage_chunk: bool,
        deadline: Pin<Box<tokio::time::Sleep>>,
    ) -> Response<Body> {
        let (mut head, incoming) = resp.into_parts();
        let status = head.status;
        s.status = status.as_u16();
        let now = Utc::now();
        s.headroom = signals::headroom(&head.headers, now);
        s.upstream_request_id = head
            .headers
            .get(&X_REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .map(Arc::from);
        if status.as_u16() >= 400 {
            s.error_headers = Some(head.headers.clone());
        }
        // Read as the request's is: `Application/JSON` is metered like `application/json`.
        let media = head
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map_or(Media::Other, media_kind);
        let mode = if media == Media::EventStream {
            let sk = match s.kind {
                FamilyKind::ChatCompletions => StreamKind::Chat { strip_usage_chunk },
                FamilyKind::Completions => StreamKind::Completions { strip_usage_chunk },
                FamilyKind::Responses => StreamKind::Responses,
                _ => StreamKind::Other,
            };
            Mode::Sse(Box::new(StreamTap::new(sk, s.info.model.clone())))
        } else if media == Media::Json || status.as_u16() >= 400 {
            Mode::Collect {
                chunks: Vec::new(),
                len: 0,
                overflow: false,
            }
        } else {
            Mode::Pass
        };
        let changes_length = matches!(mode, Mode::Sse(_)) && strip_usage_chunk;

        // The upstream's head is reused as it is, minus its hop-by-hop headers (and those its
        // `Connection` names), its cookies, and the account it names unless configured.
        let h = &mut head.headers;
        strip_hop_headers(h);
        h.remove(header::SET_COOKIE);
        if !self.pass_organization_header {
            h.remove(OPENAI_ORGANIZATION);
            h.remove(OPENAI_PROJECT);
        }
        if changes_length {
            h.remove(header::CONTENT_LENGTH);
        }
        h.insert(
            X_QUOTA_STATUS,
            HeaderValue::from_static(s.caller.workspace.status().as_str()),
        );
        if let Some(v) = &s.caller.workspace.id_header {
            h.insert(X_QUOTA_WORKSPACE, v.clone());
        }
        h.insert(X_QUOTA_REQUEST_ID, s.request_id.clone());
        // The client's connection has its own version; an HTTP/2 upstream does not change it.
        head.version = Version::HTTP_11;
        let expected = incoming.size_hint().exact();
        let body = MeteredBody {
            received: 0,
            expected,
            keeps_length: !changes_length,
            inner: incoming,
            deadline,
            mode,
            settlement: Some(s),
            tail: None,
        };
        Response::from_parts(head, Body::new(body))
    }
}

/// The optional call tags, recorded and never forwarded.
#[derive(Clone, Debug, Default)]
struct Tags {
    goal: Option<String>,
    task: Option<String>,
    priority: Option<String>,
}

impl Tags {
    fn from_headers(h: &HeaderMap) -> Result<Tags, AppError> {
        let get = |n: &HeaderName| -> Result<Option<String>, AppError> {
            match h.get(n) {
                None => Ok(None),
                Some(v) => {
                    let s = v.to_str().map_err(|_| {
                        AppError::bad_request(format!("Header {n} must be visible ASCII."), None)
                    })?;
                    if s.len() > 200 {
                        return Err(AppError::bad_request(
                            format!("Header {n} is longer than 200 characters."),
                            None,
                        ));
                    }
                    Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty()))
                }
            }
        };
        let priority = get(&X_QUOTA_PRIORITY)?;
        if let Some(p) = &priority {
            if !matches!(p.as_str(), "critical" | "normal" | "optional") {
                return Err(AppError::bad_request(
                    format!(
                        "Header X-Quota-Priority must be critical, normal or optional, not `{p}`."
                    ),
                    None,
                ));
            }
        }
        Ok(Tags {
            goal: get(&X_QUOTA_GOAL)?,
            task: get(&X_QUOTA_TASK)?,
            priority,
        })
    }
}

/// The most of an `other` call's path its ledger row keeps.
const MAX_OTHER_PATH: usize = 512;

/// The path after `/v1/` of a call counted as [`family::OTHER_FAMILY`], cut to
/// [`MAX_OTHER_PATH`] bytes.
fn other_path(rest: &str) -> Arc<str> {
    let mut end = rest.len().min(MAX_OTHER_PATH);
    while !rest.is_char_boundary(end) {
        end -= 1;
    }
    Arc::from(&rest[..end])
}

/// A refused JSON body, in OpenAI's error shape with `param` naming the field.
fn body_error(e: usage::BodyError) -> AppError {
    match e {
        usage::BodyError::NotAnObject => AppError::InvalidBody {
            message: "We could not parse the JSON body of your request: it must be one JSON \
                      object."
                .into(),
            param: None,
            code: "invalid_json",
        },
        usage::BodyError::DuplicateKey(key) => AppError::InvalidBody {
            message: format!("The JSON body has the key `{key}` more than once."),
            param: Some(key),
            code: "duplicate_key",
        },
        usage::BodyError::WrongType { field, expected } => AppError::InvalidBody {
            message: format!("Invalid type for `{field}`: expected {expected}."),
            param: Some(field.to_string()),
            code: "invalid_type",
        },
    }
}

/// What a `Content-Type` announces, as far as metering cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Media {
    /// `application/json`, or any `application/*+json` a server may read as JSON.
    Json,
    /// `multipart/*` (uploads).
    Multipart,
    /// `text/event-stream` (a stream of usage-bearing events).
    EventStream,
    Other,
}

/// The [`Media`] of a `Content-Type`, for the caller's request and the upstream's answer
/// alike. Media types are case-insensitive and may carry parameters: `APPLICATION/JSON;
/// charset=utf-8` is JSON, `Text/Event-Stream` a stream. No allocation.
fn media_kind(content_type: &str) -> Media {
    let essence = content_type
        .split_once(';')
        .map_or(content_type, |(e, _)| e)
        .trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return Media::Other;
    };
    if kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json")
            || subtype
                .len()
                .checked_sub(5)
                .and_then(|i| subtype.get(i..))
                .is_some_and(|t| t.eq_ignore_ascii_case("+json")))
    {
        Media::Json
    } else if kind.eq_ignore_ascii_case("multipart") {
        Media::Multipart
    } else if kind.eq_ignore_ascii_case("text") && subtype.eq_ignore_ascii_case("event-stream") {
        Media::EventStream
    } else {
        Media::Other
    }
}

fn content_length(h: &HeaderMap) -> Option<u64> {
    h.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// A workspace's last error: a Fluent key and its arguments.
type ErrorNote = (&'static str, BTreeMap<String, ArgValue>);

/// What happens to the response body on its way to the client.
enum Mode {
    /// Server-sent events: tapped event by event.
    Sse(Box<StreamTap>),
    /// A JSON (or error) body: the chunks are kept (reference-counted, not copied) to be read
    /// once it ends.
    Collect {
        chunks: Vec<Bytes>,
        len: usize,
        overflow: bool,
    },
    /// Anything else (audio, file contents): passed through untouched.
    Pass,
}

/// How a body ended.
enum End {
    /// The upstream finished it.
    Complete,
    /// The upstream connection failed mid-body.
    UpstreamCut,
    /// The client went away first.
    ClientGone,
}

/// Everything needed to settle a call once its body ends.
struct Settlement {
    proxy: Arc<Proxy>,
    caller: Caller,
    reservation: Reservation,
    family: &'static str,
    /// The path of an [`family::OTHER_FAMILY`] call (kept in its ledger row only).
    other_path: Option<Arc<str>>,
    kind: FamilyKind,
    info: RequestInfo,
    request_json: Bytes,
    tags: Tags,
    /// The run this call counts (set when a retrieve first shows a terminal run's usage).
    run_id: Option<String>,
    /// The caller's `X-Client-Request-Id`, else one minted here; answered as
    /// `x-quota-request-id` and kept in the ledger row.
    request_id: HeaderValue,
    /// The multipart `model` field, when it came after the peek (set while the body streams).
    late_model: Option<Arc<OnceLock<String>>>,
    /// GET of a stored chat completion or response returns its usage again: not counted.
    is_get: bool,
    started: Instant,
    status: u16,
    error_headers: Option<HeaderMap>,
    headroom: Option<UpstreamHeadroom>,
    upstream_request_id: Option<Arc<str>>,
    /// The call's place in flight and its buffered bytes: given back when the call is
    /// recorded (the body ended or the client left).
    _slot: crate::guard::CallSlot,
}

/// The response body: forwards frames as they come and settles the call at the end.
struct MeteredBody {
    /// Bytes received from the upstream so far, and how many it announced: hyper stops
    /// polling a body once its `Content-Length` is written, so "all received" is the end.
    received: u64,
    expected: Option<u64>,
    /// False when the tap rewrites the stream (the injected usage chunk is removed).
    keeps_length: bool,
    inner: Incoming,
    /// The call's deadline, shared with the wait for the answer's head.
    deadline: Pin<Box<tokio::time::Sleep>>,
    mode: Mode,
    settlement: Option<Settlement>,
    /// Bytes the SSE tap held back, sent after the upstream ends.
    tail: Option<Bytes>,
}

/// The upstream took longer than `upstream.timeout_seconds` to send the whole body.
#[derive(Debug, thiserror::Error)]
#[error("the upstream did not finish the response within the timeout")]
struct BodyTimeout;

impl HttpBody for MeteredBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        loop {
            if let Some(t) = this.tail.take() {
                return Poll::Ready(Some(Ok(Frame::data(t))));
            }
            if this.settlement.is_none() {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => {
                    if this.deadline.as_mut().poll(cx).is_ready() {
                        this.finish(End::UpstreamCut);
                        return Poll::Ready(Some(Err(BodyTimeout.into())));
                    }
                    return Poll::Pending;
                }
                Poll::Ready(Some(Ok(frame))) => {
                    let chunk = match frame.into_data() {
                        Ok(chunk) => chunk,
                        // Trailers pass through as they are.
                        Err(frame) => return Poll::Ready(Some(Ok(frame))),
                    };
                    this.received += chunk.len() as u64;
                    let out = match &mut this.mode {
                        Mode::Sse(tap) => tap.push(chunk),
                        Mode::Collect {
                            chunks,
                            len,
                            overflow,
                        } => {
                            if !*overflow {
                                *len += chunk.len();
                                if *len <= MAX_COLLECT {
                                    chunks.push(chunk.clone());
                                } else {
                                    *overflow = true;
                                    chunks.clear();
                                }
                            }
                            chunk
                        }
                        Mode::Pass => chunk,
                    };
                    if this.expected == Some(this.received) {
                        this.finish(End::Complete);
                    }
                    if out.is_empty() {
                        continue;
                    }
                    return Poll::Ready(Some(Ok(Frame::data(out))));
                }
                Poll::Ready(Some(Err(e))) => {
                    this.finish(End::UpstreamCut);
                    return Poll::Ready(Some(Err(e.into())));
                }
                Poll::Ready(None) => {
                    this.finish(End::Complete);
                    // `finish` may have set a tail; the loop sends it, then ends.
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.settlement.is_none() && self.tail.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match (self.keeps_length, self.expected) {
            (true, Some(n)) => SizeHint::with_exact(n.saturating_sub(self.received)),
            _ => SizeHint::default(),
        }
    }
}

impl MeteredBody {
    fn finish(&mut self, end: End) {
        let Some(mut s) = self.settlement.take() else {
            return;
        };
        s.take_late_model();
        let mode = std::mem::replace(&mut self.mode, Mode::Pass);
        match mode {
            Mode::Sse(tap) => {
                let (tail, outcome) = (*tap).finish();
                if !tail.is_empty() && matches!(end, End::Complete) {
                    self.tail = Some(tail);
                }
                s.settle_stream(outcome, end);
            }
            Mode::Collect {
                chunks, overflow, ..
            } => {
                let proxy = s.proxy.clone();
                after_flush(&proxy, move || {
                    let body: Bytes = if overflow {
                        Bytes::new()
                    } else if chunks.len() == 1 {
                        chunks.into_iter().next().unwrap_or_default()
                    } else {
                        let mut v = Vec::with_capacity(chunks.iter().map(Bytes::len).sum());
                        for c in &chunks {
                            v.extend_from_slice(c);
                        }
                        Bytes::from(v)
                    };
                    s.settle_body(&body, end);
                });
            }
            Mode::Pass => {
                let proxy = s.proxy.clone();
                after_flush(&proxy, move || s.settle_body(&[], end));
            }
        }
    }
}

impl Drop for MeteredBody {
    fn drop(&mut self) {
        // The client left before the end: the call is still recorded.
        let end = if self.expected == Some(self.received) {
            End::Complete
        } else {
            End::ClientGone
        };
        self.finish(end);
    }
}

impl Settlement {
    /// The model of a multipart request whose `model` field came late, once the body is sent.
    fn take_late_model(&mut self) {
        if self.info.model.is_none() {
            self.info.model = self.late_model.take().and_then(|m| m.get().cloned());
        }
    }

    /// The upstream was never reached or never answered.
    fn fail(self, error_key: &'static str) {
        let mut s = self;
        s.take_late_model();
        s.status = 0;
        s.record(
            CallUsage::default(),
            Some(UpstreamObservation::Failure),
            Some((error_key, BTreeMap::new())),
        );
    }

    fn observation(
        &self,
        body: &[u8],
        end: &End,
    ) -> (Option<UpstreamObservation>, Option<ErrorNote>) {
        if matches!(end, End::UpstreamCut) {
            return (
                Some(UpstreamObservation::Failure),
                Some(("error-upstream-cut", BTreeMap::new())),
            );
        }
        let empty = HeaderMap::new();
        let headers = self.error_headers.as_ref().unwrap_or(&empty);
        match signals::classify(self.status, headers, body) {
            None => (
                Some(UpstreamObservation::Success {
                    headroom: self.headroom.clone(),
                }),
                None,
            ),
            Some(UpstreamError::RateLimited { retry_after_secs }) => {
                let mut args = BTreeMap::new();
                if let Some(r) = retry_after_secs {
                    args.insert("retry_after".into(), ArgValue::Number(r as f64));
                }
                (
                    Some(UpstreamObservation::RateLimited {
                        retry_after_secs,
                        headroom: self.headroom.clone(),
                    }),
                    Some(("error-upstream-rate-limited", args)),
                )
            }
            Some(UpstreamError::InsufficientQuota) | Some(UpstreamError::BillingHardLimit) => (
                Some(UpstreamObservation::QuotaExhausted),
                Some(("error-upstream-quota", BTreeMap::new())),
            ),
            Some(UpstreamError::ServerError { status }) => {
                let mut args = BTreeMap::new();
                args.insert("status".into(), ArgValue::Number(status as f64));
                (
                    Some(UpstreamObservation::Failure),
                    Some(("error-upstream-server", args)),
                )
            }
            // A client error (bad request, not found…): the upstream itself is fine.
            Some(UpstreamError::Other) => (
                Some(UpstreamObservation::Success {
                    headroom: self.headroom.clone(),
                }),
                None,
            ),
        }
    }

    fn settle_body(self, body: &[u8], end: End) {
        let (obs, err) = match end {
            End::ClientGone => (None, None),
            _ => self.observation(body, &end),
        };
        let refetch = self.is_get
            && matches!(
                self.kind,
                FamilyKind::ChatCompletions | FamilyKind::Responses
            );
        let mut usage = if self.status < 400 && !refetch {
            usage::extract_json(self.kind, &self.info, self.status, body).unwrap_or_default()
        } else {
            CallUsage::default()
        };
        let mut s = self;
        if s.kind == FamilyKind::Runs && usage.total_tokens() > 0 {
            // A run's usage counts once, on the first retrieve that shows it terminal; the
            // ledger keeps its id, so this holds across restarts too.
            match usage::run_id(body) {
                Some(id) if s.proxy.registry.first_sight_of_run(&id) => s.run_id = Some(id),
                Some(_) => {
                    usage = CallUsage {
                        model: usage.model,
                        ..Default::default()
                    };
                }
                None => {}
            }
        }
        s.record(usage, obs, err);
    }

    fn settle_stream(self, outcome: StreamOutcome, end: End) {
        let obs = match end {
            End::UpstreamCut => Some(UpstreamObservation::Failure),
            End::ClientGone => None,
            End::Complete => Some(UpstreamObservation::Success {
                headroom: self.headroom.clone(),
            }),
        };
        let err = matches!(end, End::UpstreamCut).then(|| ("error-upstream-cut", BTreeMap::new()));
        match outcome.usage {
            Some(mut u) => {
                if u.model.is_none() {
                    u.model = outcome.model.or_else(|| self.info.model.clone());
                }
                self.record(u, obs, err);
            }
            None => {
                // No usage arrived: estimate with the model's tokenizer, off the async threads.
                let model = outcome.model.or_else(|| self.info.model.clone());
                let output_text = outcome.output_text;
                let settling = self.proxy.settling.clone();
                let work = move || {
                    let input =
                        estimate::estimate_request_tokens(model.as_deref(), &self.request_json);
                    let output = estimate::count_tokens(model.as_deref(), &output_text);
                    let u = CallUsage {
                        model,
                        input_tokens: input,
                        output_tokens: output,
                        estimated: true,
                        ..Default::default()
                    };
                    self.record(u, obs, err);
                };
                match tokio::runtime::Handle::try_current() {
                    Ok(h) => {
                        settling.spawn_blocking_on(work, &h);
                    }
                    Err(_) => work(),
                }
            }
        }
    }

    /// Settles the reservation, records the ledger row and the metrics.
    fn record(
        self,
        mut usage: CallUsage,
        obs: Option<UpstreamObservation>,
        err: Option<(&'static str, BTreeMap<String, ArgValue>)>,
    ) {
        let now = Utc::now();
        if usage.model.is_none() {
            usage.model.clone_from(&self.info.model);
        }
        let billable = usage.total_tokens() > 0
            || usage.images > 0
            || usage.audio_seconds > 0.0
            || usage.characters > 0;
        let cost_nanos = if billable {
            self.proxy.prices.cost_nanos(&usage)
        } else {
            Some(0)
        };
        if cost_nanos.is_none() {
            self.proxy.registry.note_unpriced(
                &self.caller.workspace,
                usage.model.as_deref().unwrap_or("unknown"),
                now,
            );
        }
        let tokens = usage.total_tokens();
        self.proxy.registry.settle(
            &self.caller.workspace,
            self.reservation,
            Actual { tokens, cost_nanos },
            obs,
            err,
            now,
        );
        let m = self
            .proxy
            .meters
            .family(&self.caller.workspace.id, self.family);
        m.calls[meters::status_class(self.status)].increment(1);
        m.input_tokens.increment(usage.input_tokens);
        m.output_tokens.increment(usage.output_tokens);
        if let Some(c) = cost_nanos {
            m.cost_nanodollars.increment(c);
        }
        let row = LedgerRow {
            ts: now,
            workspace: self.caller.workspace.id.clone(),
            key_id: self.caller.key_id.clone(),
            family: m.family.clone(),
            path: self.other_path,
            model: usage.model.map(Arc::from),
            http_status: self.status,
            input_tokens: usage.input_tokens,
            cached_tokens: usage.cached_tokens,
            output_tokens: usage.output_tokens,
            reasoning_tokens: usage.reasoning_tokens,
            images: usage.images,
            audio_seconds: usage.audio_seconds,
            characters: usage.characters,
            cost_nanos,
            estimated: usage.estimated,
            latency_ms: self.started.elapsed().as_millis() as u64,
            goal: self.tags.goal.map(Arc::from),
            task: self.tags.task.map(Arc::from),
            priority: self.tags.priority.map(Arc::from),
            request_id: self.request_id.to_str().ok().map(Arc::from),
            upstream_request_id: self.upstream_request_id,
            run_id: self.run_id.map(Arc::from),
        };
        if !self.proxy.store.write(Write::Call(Box::new(row))) {
            tracing::error!("ledger writer stopped; a call was not recorded");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_must_be_one_of_three() {
        let mut h = HeaderMap::new();
        h.insert(X_QUOTA_PRIORITY, HeaderValue::from_static("urgent"));
        assert!(Tags::from_headers(&h).is_err());
        h.insert(X_QUOTA_PRIORITY, HeaderValue::from_static("critical"));
        h.insert(X_QUOTA_GOAL, HeaderValue::from_static("onboarding"));
        let t = Tags::from_headers(&h).unwrap_or_default();
        assert_eq!(t.priority.as_deref(), Some("critical"));
        assert_eq!(t.goal.as_deref(), Some("onboarding"));
    }

    #[test]
    fn media_types_are_read_case_insensitively() {
        for json in [
            "application/json",
            "APPLICATION/JSON",
            "Application/Json; charset=utf-8",
            " application/json ;charset=UTF-8",
            "application/merge-patch+json",
        ] {
            assert_eq!(media_kind(json), Media::Json, "{json}");
        }
        for multipart in [
            "multipart/form-data; boundary=x",
            "MULTIPART/Form-Data;boundary=x",
        ] {
            assert_eq!(media_kind(multipart), Media::Multipart, "{multipart}");
        }
        for stream in ["text/event-stream", "Text/Event-Stream; charset=utf-8"] {
            assert_eq!(media_kind(stream), Media::EventStream, "{stream}");
        }
        for other in [
            "application/jsonl",
            "text/plain",
            "application/json-seq",
            "json",
            "",
        ] {
            assert_eq!(media_kind(other), Media::Other, "{other}");
        }
    }

    #[test]
    fn dot_segments_and_encoded_separators_are_unsafe() {
        for p in [
            "/v1/../../internal/secret",
            "/v1/..",
            "/v1/./models",
            "/v1/%2e%2e/x",
            "/v1/%2E%2e/x",
            "/v1/.%2E/x",
            "/v1/%2e/x",
            "/v1/..;/x",
            "/v1/.;x/y",
            "/v1/a%2fb",
            "/v1/a%2Fb",
            "/v1/a%5cb",
            "/v1/a%252e%252e",
            "/v1/a\\..\\b",
            "/v1/files\\x",
        ] {
            assert!(is_unsafe_path(p), "{p} passed");
        }
        for p in [
            "/v1/chat/completions",
            "/v1",
            "/v1/models/gpt-3.5-turbo",
            "/v1/models/ft:gpt-4o-mini:acme::abc.def",
            "/v1/files/...",
            "/v1/files/.x",
            "/v1/files/x..",
            "/v1/models/gpt-3%2E5-turbo",
            "/v1/a%2",
            "/v1/a%zz",
            "/v1/threads/thread_1/runs",
        ] {
            assert!(!is_unsafe_path(p), "{p} refused");
        }
    }

    #[test]
    fn the_host_header_drops_only_a_default_port() {
        let host = |s: Scheme, a: &str| {
            let a: Authority = a.parse().unwrap_or_else(|e| panic!("{e}"));
            host_header(&s, &a)
        };
        assert_eq!(host(Scheme::HTTPS, "api.openai.com"), "api.openai.com");
        assert_eq!(host(Scheme::HTTPS, "api.openai.com:443"), "api.openai.com");
        assert_eq!(
            host(Scheme::HTTPS, "api.openai.com:8443"),
            "api.openai.com:8443"
        );
        assert_eq!(host(Scheme::HTTP, "127.0.0.1:80"), "127.0.0.1");
        assert_eq!(host(Scheme::HTTP, "127.0.0.1:9000"), "127.0.0.1:9000");
        assert_eq!(host(Scheme::HTTP, "[::1]:9000"), "[::1]:9000");
    }

    #[test]
    fn fresh_request_ids_are_unique_v7_uuids_of_now() {
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        let ids: std::collections::HashSet<uuid::Uuid> =
            (0..10_000).map(|_| fresh_uuid_v7()).collect();
        assert_eq!(ids.len(), 10_000);
        for id in ids.iter().take(50) {
            assert_eq!(id.get_version_num(), 7);
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
            let (secs, nanos) = id.get_timestamp().map(|t| t.to_unix()).unwrap_or_default();
            let ms = secs * 1000 + u64::from(nanos) / 1_000_000;
            assert!(ms >= before && ms < before + 60_000, "{ms} vs {before}");
        }
        let h = HeaderMap::new();
        assert_eq!(request_id(&h).len(), 36);
    }
}
