//! The HTTP edge: the [`Front`] service (`/v1` straight to the proxy, every other path to the
//! router), the router, shared state, authentication of API callers, and the REST, WebSocket,
//! metrics and health endpoints. Errors are [`AppError`]s, turned into OpenAI-shaped
//! JSON in `crate::error` only.
//!
//! Every answer of the router carries the browser security headers and passes the
//! cross-origin check of cookie requests ([`security`]); sessions are renewed as they are used
//! ([`session::renew`]). `/v1` answers get none of it.
//!
//! Alert channels are managed under `/api/admin/channels` ([`channels`]).
//!
//! Owns: routes and request parsing. Must not: hold business rules (it asks the registry and
//! the store) or log secrets (keys are compared as hashes; the admin key in constant time).

pub mod admin;
pub mod audit;
pub mod channels;
mod quota;
pub mod security;
pub mod session;
pub mod setup;
mod ws;

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{ConnectInfo, FromRef, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, post};
use axum::Router;
use futures_util::future::Either;
use leptos::prelude::LeptosOptions;
use serde::Deserialize;
use subtle::ConstantTimeEq;
use tower::util::BoxCloneSyncService;
use tower::Layer;

use crate::config::Config;
use crate::error::{mask_key, AppError, AuthFailed, InternalDetail};
use crate::guard::{AuthGuard, Route};
use crate::loglimit::LineBudget;
use crate::proxy::Proxy;
use crate::registry::{key_hash, Registry, Workspace};
use crate::store::Store;

/// Everything the handlers share.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub shared: Arc<Shared>,
}

/// The long-lived parts of the gateway.
pub struct Shared {
    pub config: Config,
    pub registry: Arc<Registry>,
    pub proxy: Arc<Proxy>,
    pub store: Store,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// SHA-256 of `QUOTA_ADMIN_KEY`, if set.
    pub admin_hash: Option<[u8; 32]>,
    /// SHA-256 of the metrics scrape token (`[server] metrics_token_env`), if set.
    pub metrics_hash: Option<[u8; 32]>,
    /// Browser sessions: signing key (never stored), lifetime, revocations.
    pub sessions: session::Sessions,
    /// The per-address budget of wrong keys, shared by `/v1` and the API.
    pub auth_guard: AuthGuard,
    /// The first-run setup token, when the gateway started with no workspace and no admin key.
    pub setup: Option<setup::SetupGate>,
    /// The alert channels in force (file and API).
    pub channels: Arc<crate::alerts::Channels>,
}

/// Who is calling an API endpoint.
#[derive(Clone)]
pub enum Principal {
    Workspace(Arc<Workspace>),
    Admin,
}

impl Shared {
    fn is_admin_key(&self, key: &str) -> bool {
        match &self.admin_hash {
            Some(h) => bool::from(key_hash(key).ct_eq(h)),
            None => false,
        }
    }

    /// A workspace key or the admin key → who is calling.
    pub fn principal(&self, key: Option<&str>) -> Result<Principal, AppError> {
        let key = key.ok_or(AppError::MissingKey)?;
        if self.is_admin_key(key) {
            return Ok(Principal::Admin);
        }
        match self.registry.authenticate(key) {
            Some(c) => Ok(Principal::Workspace(c.workspace)),
            None => Err(AppError::InvalidKey {
                masked: mask_key(key),
            }),
        }
    }

    /// Who calls an API endpoint: an explicit key (bearer or `token`) wins, else the session.
    pub fn caller(&self, headers: &HeaderMap, token: Option<&str>) -> Result<Principal, AppError> {
        let key = token.or_else(|| bearer(headers));
        if key.is_none() {
            if let Some(p) = self.session_principal(headers) {
                return Ok(p);
            }
        }
        self.principal(key)
    }

    /// Admin-only endpoints: 403 when the admin API is off, 401 without a key, 403 when wrong.
    /// An admin session cookie counts as the key.
    pub fn require_admin(&self, headers: &HeaderMap) -> Result<(), AppError> {
        // Without an admin key only the setup admin's session (first run) is an admin.
        if self.admin_hash.is_none() && !self.setup.as_ref().is_some_and(|g| g.is_used()) {
            return Err(AppError::AdminDisabled);
        }
        match bearer(headers) {
            None if matches!(self.session_principal(headers), Some(Principal::Admin)) => Ok(()),
            None => Err(AppError::AdminKeyMissing),
            Some(k) if self.is_admin_key(k) => Ok(()),
            Some(_) => Err(AppError::AdminKeyWrong),
        }
    }

    /// The workspace a quota endpoint reads: a workspace key reads its own (naming another is
    /// 403); the admin names one with `?workspace=`.
    pub fn target(
        &self,
        p: &Principal,
        requested: Option<&str>,
    ) -> Result<Arc<Workspace>, AppError> {
        match (p, requested) {
            (Principal::Workspace(w), None) => Ok(w.clone()),
            (Principal::Workspace(w), Some(id)) if *w.id == *id => Ok(w.clone()),
            (Principal::Workspace(_), Some(_)) => Err(AppError::OtherWorkspace),
            (Principal::Admin, None) => Err(AppError::bad_request(
                "With the admin key, name the workspace: ?workspace=ID.",
                Some("workspace"),
            )),
            (Principal::Admin, Some(id)) => self
                .registry
                .workspace(id)
                .ok_or_else(|| AppError::WorkspaceNotFound(id.to_string())),
        }
    }
}

pub use crate::headers::bearer;

/// The API and proxy routes (the UI routes are added by `main`).
pub fn router(state: AppState) -> Router<AppState> {
    let cors = cors_layer(&state.shared.config.cors_allow_origins);
    let api = Router::new()
        .route("/api/quota/status", get(quota::status))
        .route("/api/quota/check", get(quota::check))
        .route("/api/quota/usage", get(quota::usage))
        .route("/api/quota/notifications", get(quota::notifications))
        .route("/api/quota/reset", post(admin::reset))
        .route("/api/quota/ws", get(ws::upgrade))
        .route(
            "/api/session",
            get(session::whoami)
                .post(session::sign_in)
                .delete(session::sign_out),
        )
        .route(
            "/api/admin/workspaces",
            get(admin::list).post(admin::create),
        )
        .route(
            "/api/admin/workspaces/{id}",
            axum::routing::patch(admin::edit),
        )
        .route("/api/admin/workspaces/{id}/keys", post(admin::mint_key))
        .route(
            "/api/admin/workspaces/{id}/keys/{key_id}",
            delete(admin::revoke_key),
        )
        .route("/api/admin/account", get(admin::account))
        .route("/api/admin/overview", get(admin::overview))
        .route("/api/admin/audit", get(audit::list))
        .route("/api/admin/audit.csv", get(audit::export))
        .route(
            "/api/admin/channels",
            get(channels::list).post(channels::create),
        )
        .route("/api/admin/channels/{id}", delete(channels::delete))
        .route("/api/admin/channels/{id}/test", post(channels::test))
        .route(
            "/api/admin/channels/{id}/deliveries",
            get(channels::deliveries),
        )
        .route("/api/{*rest}", any(api_not_found))
        // The sign-in form without JavaScript; `GET /login` is the Leptos page.
        .route("/login", post(session::sign_in_form))
        // The first-run link; `GET /setup` is the Leptos page.
        .route("/setup/begin", get(setup::begin))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .layer(axum::middleware::from_fn_with_state(
            state.shared.clone(),
            auth_budget,
        ))
        .layer(axum::middleware::from_fn(log_errors));
    match cors {
        Some(c) => api.layer(c),
        None => api,
    }
}

fn cors_layer(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let list: Vec<axum::http::HeaderValue> =
        origins.iter().filter_map(|o| o.parse().ok()).collect();
    // A page may read what the gateway adds to an answer (its status, the call's id, what a
    // policy did to the call).
    Some(
        tower_http::cors::CorsLayer::new()
            .allow_origin(list)
            .allow_methods(tower_http::cors::Any)
            .allow_headers(tower_http::cors::Any)
            .expose_headers(crate::proxy::ANSWER_HEADERS),
    )
}

async fn api_not_found(req: Request) -> AppError {
    AppError::NotFound(format!("{} {}", req.method(), req.uri().path()))
}

/// Prometheus text. It names every workspace with its calls, tokens and cost, so it needs
/// the metrics token (for scrapers) or the admin key or session.
async fn metrics(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, AppError> {
    let scraper = match (bearer(&headers), &shared.metrics_hash) {
        (Some(k), Some(h)) => bool::from(key_hash(k).ct_eq(h)),
        _ => false,
    };
    if !scraper {
        shared.require_admin(&headers)?;
    }
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        shared.metrics.render(),
    ))
}

/// `GET /healthz`: 200 while the gateway serves calls. With the database unreachable it still
/// serves (ledger batches wait in the spool), so it answers 200 with `status: "degraded"` and
/// why; without a spool to keep them, a database error is a 503.
async fn healthz(State(shared): State<Arc<Shared>>) -> Response {
    let store = &shared.store;
    let reachable = match sqlx::query("SELECT 1").execute(store.pool()).await {
        Ok(_) => true,
        Err(_) if store.spools() => false,
        Err(e) => return AppError::Store(e.into()).into_response(),
    };
    let spooled = store.spooled_batches();
    let (state_engine, state_reachable) = match shared.proxy.shared_state() {
        Some(s) => ("redis", s.ping().await.is_ok()),
        None => ("memory", true),
    };
    let ok = reachable && spooled == 0 && state_reachable;
    let body = serde_json::json!({
        "status": if ok { "ok" } else { "degraded" },
        "database": {"engine": store.engine().as_str(), "reachable": reachable},
        "ledger_spool": {"batches": spooled},
        "shared_state": {"engine": state_engine, "reachable": state_reachable},
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// The TCP peer of a request (set by the server's `into_make_service_with_connect_info`).
fn peer(req: &Request) -> Option<SocketAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

/// Counts a wrong key against the caller's address (see [`crate::guard`]); past the address's
/// budget the answer becomes 429 `too_many_auth_failures`. Any other answer passes untouched:
/// a valid key never reaches the guard.
fn count_auth_failure(
    guard: &AuthGuard,
    peer: Option<SocketAddr>,
    path: &str,
    resp: Response,
) -> Response {
    if !matches!(
        resp.status(),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
    ) {
        return resp;
    }
    let Some(failed) = resp.extensions().get::<AuthFailed>().copied() else {
        return resp;
    };
    // Without the peer (a server not serving with connect info) every caller shares one budget.
    let ip = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
    match guard.failed(ip, Route::of(path, failed.admin), std::time::Instant::now()) {
        None => resp,
        Some(retry_after_secs) => {
            AppError::TooManyAuthFailures { retry_after_secs }.into_response()
        }
    }
}

/// The router's side of the failure budget.
async fn auth_budget(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let peer = peer(&req);
    let uri = req.uri().clone();
    let resp = next.run(req).await;
    count_auth_failure(&shared.auth_guard, peer, uri.path(), resp)
}

/// Logs the internal detail of 5xx answers (never a key: details carry no headers).
async fn log_errors(req: Request, next: Next) -> Response {
    // Cheap clones (a standard method is inline, a Uri shares its bytes): no allocation per call.
    let method = req.method().clone();
    let uri = req.uri().clone();
    let resp = next.run(req).await;
    log_failure(&method, &uri, &resp);
    resp
}

/// Failure lines the process writes per second at most. An upstream outage fails every call,
/// and one line per call would flood the log (1,000 lines a second at 1,000 calls/s). One
/// budget for the whole process: a per-thread one let the cap grow with the worker threads a
/// burst happened to touch. The lock is taken only on a failure and never across an await.
const FAILURE_LINES_PER_SECOND: u32 = 10;

static FAILURE_LINES: std::sync::Mutex<LineBudget> =
    std::sync::Mutex::new(LineBudget::new(FAILURE_LINES_PER_SECOND));

fn log_failure(method: &Method, uri: &Uri, resp: &Response) {
    let second = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    };
    log_failure_in(&FAILURE_LINES, second, method, uri, resp);
}

/// Logs a failed answer within `budget`; `second` reads the clock (Unix seconds), only when the
/// answer failed. Tests drive it with their own budget and seconds.
fn log_failure_in(
    budget: &std::sync::Mutex<LineBudget>,
    second: impl FnOnce() -> u64,
    method: &Method,
    uri: &Uri,
    resp: &Response,
) {
    let detail = resp.extensions().get::<InternalDetail>();
    if detail.is_none() && !resp.status().is_server_error() {
        return;
    }
    let taken = budget
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take(second());
    let Some(dropped) = taken else {
        return;
    };
    let (path, status) = (uri.path(), resp.status().as_u16());
    // An `Option` field is recorded only when it is `Some`.
    let dropped = (dropped > 0).then_some(dropped);
    match detail {
        Some(InternalDetail(d)) => {
            tracing::error!(%method, %path, status, detail = %d, similar_lines_dropped = dropped, "request failed")
        }
        None => {
            tracing::warn!(%method, %path, status, similar_lines_dropped = dropped, "request failed")
        }
    }
}

/// The proxy as a service: forwards, then logs a failure as the router's middleware does.
type ProxyService = BoxCloneSyncService<Request, Response, Infallible>;

/// The service the server runs. A `/v1` call goes straight to the proxy; every other path to
/// the router. Through axum's router a proxied call paid for a boxed clone of each route and
/// middleware service, a boxed future per layer, and the matched path and URL parameters in
/// its extensions: about 15 allocations the proxy never reads. The CORS allow-list applies to
/// both sides.
#[derive(Clone)]
pub struct Front {
    proxy: ProxyService,
    router: Router,
}

impl Front {
    /// `/v1` to the proxy; everything else to `router`, with the session renewal, the
    /// cross-origin check and the browser security headers.
    pub fn new(shared: Arc<Shared>, router: Router) -> Front {
        let cors = cors_layer(&shared.config.cors_allow_origins);
        // Outermost last: refused cross-origin requests carry the security headers too.
        let router = router
            .layer(axum::middleware::from_fn_with_state(
                shared.clone(),
                session::renew,
            ))
            .layer(axum::middleware::from_fn_with_state(
                shared.clone(),
                security::origin_guard,
            ));
        let router = security::browser_headers(router);
        let direct = tower::service_fn(move |req: Request| {
            let shared = shared.clone();
            async move {
                let method = req.method().clone();
                let uri = req.uri().clone();
                let peer = peer(&req);
                let sent_body = declares_body(req.headers());
                let resp = match shared.proxy.forward(req).await {
                    Ok(r) => r,
                    Err(e) => {
                        let mut resp = count_auth_failure(
                            &shared.auth_guard,
                            peer,
                            uri.path(),
                            e.into_response(),
                        );
                        // A refusal may leave the body unread, and then the server closes the
                        // connection; saying so keeps the client from reusing it for its next
                        // call (which would fail on a closed socket).
                        if sent_body {
                            resp.headers_mut()
                                .insert(header::CONNECTION, HeaderValue::from_static("close"));
                        }
                        resp
                    }
                };
                log_failure(&method, &uri, &resp);
                Ok::<_, Infallible>(resp)
            }
        });
        let proxy = match cors {
            Some(c) => BoxCloneSyncService::new(c.layer(direct)),
            None => BoxCloneSyncService::new(direct),
        };
        Front { proxy, router }
    }
}

/// Whether a request announces a body (a non-zero `Content-Length`, or chunked).
fn declares_body(h: &HeaderMap) -> bool {
    h.get(header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() != b"0")
        || h.contains_key(header::TRANSFER_ENCODING)
}

/// `/v1` and everything under it: OpenAI's API, whatever its path.
fn is_proxy_path(path: &str) -> bool {
    path.strip_prefix("/v1")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

impl tower::Service<Request> for Front {
    type Response = Response;
    type Error = Infallible;
    type Future = Either<
        <ProxyService as tower::Service<Request>>::Future,
        <Router as tower::Service<Request>>::Future,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Both sides are always ready (no back-pressure layers).
        match self.proxy.poll_ready(cx) {
            Poll::Ready(Ok(())) => tower::Service::<Request>::poll_ready(&mut self.router, cx),
            other => other,
        }
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if is_proxy_path(req.uri().path()) {
            Either::Left(self.proxy.call(req))
        } else {
            Either::Right(self.router.call(req))
        }
    }
}

/// `?workspace=&locale=` shared by the quota endpoints.
#[derive(Debug, Default, Deserialize)]
pub struct Scope {
    pub workspace: Option<String>,
    pub locale: Option<String>,
}
pub use admin::new_key;

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// What `f` logs, through a subscriber scoped to it.
    #[test]
    fn failure_lines_are_capped_per_second_and_the_next_second_counts_the_dropped() {
        let budget = Mutex::new(LineBudget::new(FAILURE_LINES_PER_SECOND));
        let uri = Uri::from_static("/v1/chat/completions");
        let failed = || StatusCode::BAD_GATEWAY.into_response();
        let text = crate::loglimit::captured_log(|| {
            // An answer that did not fail is never logged and reads no clock.
            let ok = StatusCode::OK.into_response();
            log_failure_in(&budget, || panic!("clock read"), &Method::GET, &uri, &ok);
            for _ in 0..25 {
                log_failure_in(&budget, || 1_000, &Method::POST, &uri, &failed());
            }
            log_failure_in(&budget, || 1_001, &Method::POST, &uri, &failed());
        });
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("request failed"))
            .collect();
        assert_eq!(
            lines.len(),
            11,
            "10 in the first second, 1 in the next:\n{text}"
        );
        assert!(
            lines[..10]
                .iter()
                .all(|l| !l.contains("similar_lines_dropped")),
            "{text}"
        );
        assert!(lines[10].contains("similar_lines_dropped=15"), "{text}");
    }

    #[test]
    fn only_v1_and_below_go_to_the_proxy() {
        for p in [
            "/v1",
            "/v1/",
            "/v1/chat/completions",
            "/v1/threads/thread_1/runs",
        ] {
            assert!(is_proxy_path(p), "{p}");
        }
        for p in [
            "/",
            "/v10/models",
            "/v1x",
            "/api/v1/x",
            "/api/quota/status",
            "/V1/models",
        ] {
            assert!(!is_proxy_path(p), "{p}");
        }
    }
}
