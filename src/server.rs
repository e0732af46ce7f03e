//! Wiring: builds the store, alert channels, registry, proxy and router from a [`Config`],
//! starts the background tasks (ledger writer, alert delivery worker, status ticker, hourly
//! roll-up), serves until the shutdown
//! token fires, then flushes the ledger before returning.
//!
//! Owns: start-up order (migrations, counter rebuild from the ledger, then listening) and
//! graceful shutdown. Must not: hold logic that deserves its own tests.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use chrono::Utc;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alerts::{Channels, Hub, StatusLookup, Worker};
use crate::api::{self, AppState, Shared};
use crate::config::Config;
use crate::conn::{ConnLimits, Gate};
use crate::pricing::PriceTable;
use crate::proxy::Proxy;
use crate::registry::{key_hash, Registry};
use crate::store::Store;

/// What can stop the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("price table: {0}")]
    Pricing(#[from] crate::pricing::PricingError),
    #[error("upstream URL: {0}")]
    UpstreamUrl(#[from] axum::http::uri::InvalidUri),
    #[error("upstream organization or project: {0}")]
    UpstreamAccount(#[from] axum::http::header::InvalidHeaderValue),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("metrics recorder: {0}")]
    Metrics(String),
    #[error("alert channels: {0}")]
    Alerts(#[from] crate::alerts::AlertsError),
    #[error("redis ([redis] url / QS_REDIS_URL): {0}")]
    Redis(#[from] crate::state::StateError),
}

/// The process-wide Prometheus recorder, installed once; concurrent first callers wait for
/// the one that installs it (several gateways may start at once in one test process).
fn metrics_handle() -> Result<metrics_exporter_prometheus::PrometheusHandle, ServerError> {
    static HANDLE: OnceLock<Result<metrics_exporter_prometheus::PrometheusHandle, String>> =
        OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
            ];
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
                .set_buckets(&buckets)
                .map_err(|e| e.to_string())?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).map_err(|e| e.to_string())?;
            Ok(handle)
        })
        .clone()
        .map_err(ServerError::Metrics)
}

/// Leptos options from cargo-leptos' environment, with the project's defaults.
pub fn leptos_options(addr: SocketAddr) -> LeptosOptions {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    LeptosOptions::builder()
        .output_name(env("LEPTOS_OUTPUT_NAME", "quota-sentinel"))
        .site_root(env("LEPTOS_SITE_ROOT", "target/site"))
        .site_pkg_dir(env("LEPTOS_SITE_PKG_DIR", "pkg"))
        .site_addr(addr)
        .build()
}

/// A running server.
pub struct Running {
    pub addr: SocketAddr,
    pub shared: Arc<Shared>,
    /// First run only: the line that carries the one-time setup link. The caller prints it
    /// once (it is in no log) and drops it.
    pub setup_link: Option<String>,
    done: tokio::task::JoinHandle<Result<(), ServerError>>,
}

impl Running {
    /// Waits until the server has stopped and the ledger is flushed.
    pub async fn wait(self) -> Result<(), ServerError> {
        self.done
            .await
            .map_err(|e| ServerError::Io(std::io::Error::other(e)))?
    }
}

/// Builds everything and starts serving on `listener`; stops when `shutdown` is cancelled.
pub async fn start(
    mut config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<Running, ServerError> {
    let addr = listener.local_addr()?;
    let (store, writer) = Store::open(&config.database_url).await?;
    let writer = match &config.spool_file {
        Some(path) => writer.with_spool(path.clone()).await?,
        None => writer,
    };
    // Before the writer stores any notification: it queues deliveries by the channels' filters.
    let channels = Arc::new(Channels::load(&config, &store).await?);
    tracing::info!(channels = channels.list().len(), "alert channels");
    let tracker = TaskTracker::new();
    // The writer stops only after the HTTP server has finished every in-flight call, so the
    // last calls' rows are in the final batch.
    let writer_stop = CancellationToken::new();
    let writer_stop_signal = writer_stop.clone();
    tracker.spawn(writer.run_until(async move { writer_stop_signal.cancelled().await }));

    let hub = Arc::new(Hub::default());
    let registry = Arc::new(Registry::new(
        config.time_zone,
        config.account,
        store.clone(),
        hub,
        config.burn_min_minutes,
    ));
    registry.set_account_budget(config.account_budget.clone());
    let now = Utc::now();
    load_workspaces(&config, &store, &registry, now).await?;
    // The registry holds the workspaces now: the file's copy would only take memory (hundreds
    // of bytes each, a lot with many workspaces).
    config.workspaces = Vec::new();
    // From the start of the earliest month period of any workspace (each has its own
    // `reset_monthly_on`); each meter keeps only what falls in its own periods.
    let since = registry.earliest_month_start(now);
    let buckets = store.usage_buckets(since, now).await?;
    for b in &buckets {
        registry.restore(&b.workspace, b.at, b.requests, b.tokens, b.cost_nanos, now);
    }
    tracing::info!(rows = buckets.len(), "counters rebuilt from the ledger");
    registry.remember_runs(store.recent_run_ids(crate::model::SEEN_RUNS_CAP).await?);
    // Alerts of the last two months: the current periods' and the back-under notices of the
    // periods before them. Unreadable, they could only be raised once more: not worth refusing
    // to start over.
    match store
        .alert_ids_since(since - chrono::TimeDelta::days(32))
        .await
    {
        Ok(marks) => registry.restore_alerts(marks.iter().map(String::as_str)),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the alerts raised so far; an alert of this period may be raised again")
        }
    }

    // Installed before anything registers a metric handle.
    let metrics = metrics_handle()?;
    let prices = Arc::new(PriceTable::shipped()?.with_overrides(config.prices.clone()));
    tracing::info!(
        as_of = prices.as_of(),
        models = prices.models().len(),
        "price table"
    );
    let upstream_key = config
        .upstream_key
        .as_ref()
        .map(|k| k.expose_secret().to_string());
    if upstream_key.is_none() {
        tracing::warn!("OPENAI_API_KEY is not set: calls reach the upstream without a key");
    }
    let proxy = Proxy::new(
        &config.upstream_url,
        upstream_key.as_deref(),
        config.upstream_timeout_seconds,
        registry.clone(),
        prices,
        store.clone(),
        config.serving_threads,
    )?
    .with_account(&config.upstream_account)?
    .with_limits(config.abuse);
    let proxy = Arc::new(match &config.redis {
        None => proxy,
        Some(r) => {
            // A reservation lives as long as a call may (the upstream timeout bounds the answer
            // and its body), and 10 s for the instances' clocks.
            let hold = config.upstream_timeout_seconds.saturating_add(10);
            let state = crate::state::RedisState::connect(&r.url, hold, r.fail_open).await?;
            let on_failure = if r.fail_open { "open" } else { "closed" };
            tracing::info!(on_failure, "shared state in redis");
            proxy.with_shared_state(Arc::new(state))
        }
    });
    let admin_hash = config
        .admin_key
        .as_ref()
        .map(|k| key_hash(k.expose_secret()));
    let config_metrics_hash = config
        .metrics_token
        .as_ref()
        .map(|k| key_hash(k.expose_secret()));
    let (session_key, key_source) = api::session::signing_key(&config, &store).await?;
    if key_source == api::session::KeySource::Random {
        tracing::warn!("neither QUOTA_ADMIN_KEY nor QS_SESSION_SECRET is set: browser sessions end when the gateway stops");
    }
    let sessions = api::session::Sessions::load(session_key, &config, &store).await?;
    // First run: nobody could sign in or create anything, so a one-time setup link is made.
    let (setup, setup_link) = if registry.workspace_count() == 0 && admin_hash.is_none() {
        let (gate, token) = api::setup::SetupGate::new(std::time::Instant::now());
        (
            Some(gate),
            Some(api::setup::announcement(&local_base_url(addr), &token)),
        )
    } else {
        (None, None)
    };
    // Alert delivery: the worker reads workspace statuses through the registry, wired here.
    let lookup = registry.clone();
    let status: StatusLookup =
        Arc::new(move |ws: &str| lookup.workspace(ws).map(|w| lookup.view(&w, Utc::now())));
    let worker = Worker::new(
        store.clone(),
        channels.clone(),
        config.smtp.as_ref(),
        status,
        config.alerts,
    )?;
    tracker.spawn(worker.run(shutdown.clone()));
    let shared = Arc::new(Shared {
        channels,
        auth_guard: crate::guard::AuthGuard::new(&config.abuse),
        config,
        registry: registry.clone(),
        proxy,
        store: store.clone(),
        metrics,
        admin_hash,
        metrics_hash: config_metrics_hash,
        sessions,
        setup,
    });

    // Status ticker: expiries and live usage pushes, once a second.
    let tick_stop = shutdown.clone();
    let tick_registry = registry.clone();
    let tick_metrics = shared.metrics.clone();
    tracker.spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut n: u64 = 0;
        loop {
            tokio::select! {
                _ = every.tick() => {
                    tick_registry.tick(Utc::now());
                    // Histogram samples accumulate until upkeep folds them into buckets; without
                    // it an unscraped /metrics would grow without bound.
                    n += 1;
                    if n.is_multiple_of(5) {
                        tick_metrics.run_upkeep();
                    }
                }
                () = tick_stop.cancelled() => return,
            }
        }
    });
    if let Some(state) = shared.proxy.shared_state() {
        spawn_fanout(&tracker, state.clone(), registry.clone(), shutdown.clone());
        store.set_notice_claim(Arc::new(RedisClaim(state.clone())));
    }
    // Hourly roll-up and pruning of rows past the retention period.
    let roll_stop = shutdown.clone();
    let roll_store = store.clone();
    let retention = chrono::Duration::days(i64::from(shared.config.retention_days));
    tracker.spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tokio::select! {
                _ = every.tick() => match roll_store.roll_up(Utc::now() - retention).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(rows = n, "ledger rows rolled up and pruned"),
                    Err(e) => tracing::warn!(error = %e, "roll-up failed; will retry in an hour"),
                },
                () = roll_stop.cancelled() => return,
            }
        }
    });
    tracker.close();

    let options = leptos_options(addr);
    let state = AppState {
        leptos_options: options.clone(),
        shared: shared.clone(),
    };
    let app = api::Front::new(shared.clone(), router(state));
    let serve_stop = shutdown.clone();
    let proxy = shared.proxy.clone();
    let threads = shared.config.serving_threads;
    let limits = shared.config.connections.clone();
    let done = tokio::spawn(async move {
        let served = serve_per_core(listener, addr, threads, app, limits, serve_stop).await;
        // Every task stops (even if serving failed), calls still being settled are recorded,
        // then the ledger flushes what is queued.
        shutdown.cancel();
        proxy.settled().await;
        writer_stop.cancel();
        tracker.wait().await;
        store.close().await;
        tracing::info!("stopped; ledger flushed");
        served.map_err(ServerError::Io)
    });
    Ok(Running {
        addr,
        shared,
        setup_link,
        done,
    })
}

/// Status changes between instances sharing Redis: a status that changes here is announced
/// (one `PUBLISH` per change, not per call); an announcement from another instance makes this
/// one read that workspace's shared counters again and mirror them, so that its own status,
/// WebSockets and alerts follow what calls through the other instance caused. What the
/// upstream answered another instance (announced by the proxy) is observed here as if seen.
fn spawn_fanout(
    tracker: &tokio_util::task::TaskTracker,
    state: Arc<crate::state::RedisState>,
    registry: Arc<Registry>,
    stop: CancellationToken,
) {
    let mut changes = registry.hub().subscribe_all();
    let (announce_state, announce_stop) = (state.clone(), stop.clone());
    tracker.spawn(async move {
        // The last status announced per workspace: the hub also carries usage snapshots
        // (once a second while a workspace is busy), which announce nothing.
        let mut told = std::collections::HashMap::<String, crate::types::Status>::new();
        loop {
            let event = tokio::select! {
                e = changes.recv() => e,
                () = announce_stop.cancelled() => return,
            };
            match event {
                Ok(crate::alerts::Event::Status(v)) => {
                    if told.get(&v.workspace) == Some(&v.status) {
                        continue;
                    }
                    told.insert(v.workspace.clone(), v.status);
                    // Unreachable Redis: the other instances read the counters at their next
                    // call anyway.
                    let _ = announce_state.announce(&v.workspace).await;
                }
                Ok(crate::alerts::Event::Notification(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    let (tx, mut rx) = tokio::sync::mpsc::channel::<crate::state::Heard>(1024);
    let (listen_state, listen_stop) = (state.clone(), stop.clone());
    tracker.spawn(async move { listen_state.listen(tx, listen_stop).await });
    tracker.spawn(async move {
        loop {
            let heard = tokio::select! {
                h = rx.recv() => h,
                () = stop.cancelled() => return,
            };
            let (id, reset) = match heard {
                None => return,
                Some(crate::state::Heard::Upstream(o)) => {
                    registry.observe_remote(o, Utc::now());
                    continue;
                }
                Some(crate::state::Heard::Status(id)) => (id, false),
                Some(crate::state::Heard::Reset(id)) => (id, true),
            };
            let Some(w) = registry.workspace(&id) else {
                continue;
            };
            if reset {
                // As the admin's reset did there: refusals remembered here go too.
                registry.reset(&w, Utc::now());
            }
            let now = Utc::now();
            let (day, month) = registry.periods_of(&w, now);
            if let Ok(Some(c)) = state.peek(&w.id, now.timestamp(), day, month).await {
                registry.mirror(&w, &c, Utc::now());
            }
        }
    });
}

/// Status notices between instances: the first to claim one in Redis stores it.
#[derive(Debug)]
struct RedisClaim(Arc<crate::state::RedisState>);

impl crate::store::NoticeClaim for RedisClaim {
    fn claim<'a>(
        &'a self,
        n: &'a crate::model::StoredNotification,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + 'a>> {
        Box::pin(self.0.claim_notice(&n.workspace, n.status.as_str(), &n.key))
    }
}

/// `http://` and `addr`, with a wildcard address replaced by loopback: what a browser on this
/// machine opens.
fn local_base_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// Binds `addr` for [`start`]: with `SO_REUSEPORT`, so that each serving thread can have its
/// own listener on the same port.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    // SO_REUSEPORT would let a second gateway silently share a port that is already taken:
    // a plain bind fails then, so try one first.
    if addr.port() != 0 {
        drop(std::net::TcpListener::bind(addr)?);
    }
    bind_shared(addr)
}

/// A listener on `addr` that shares the port with the others bound with `SO_REUSEPORT`.
fn bind_shared(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseport(true)?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Serves `app` from `threads` threads, each running its own single-threaded runtime with its
/// own listener on `addr` (the kernel spreads connections over them) and its own upstream
/// client (see `proxy::set_serving_slot`). A call then never leaves the thread that accepted
/// it: measured against tokio's work-stealing runtime, +13–29 % requests/s through the
/// gateway on the benchmark machine. Background work stays on the main runtime. If `listener`
/// was not bound by [`bind`], every connection is served by the first thread.
async fn serve_per_core(
    listener: TcpListener,
    addr: SocketAddr,
    threads: usize,
    app: api::Front,
    limits: ConnLimits,
    stop: CancellationToken,
) -> std::io::Result<()> {
    // One gate for every thread: the caps are per process.
    let fd = crate::conn::raise_fd_limit();
    if let Some(f) = fd {
        tracing::info!(
            soft_before = f.soft_before,
            soft = f.soft,
            hard = f.hard,
            "open-file limit"
        );
    }
    let max_total = crate::conn::connection_cap(limits.max_connections, fd);
    tracing::info!(
        max_connections = max_total,
        max_connections_per_address = limits.max_connections_per_address,
        header_read_timeout_s = limits.header_read_timeout.as_secs(),
        body_idle_timeout_s = limits.body_idle_timeout.as_secs(),
        "connection limits"
    );
    let gate = Arc::new(Gate::new(max_total, limits.max_connections_per_address));
    let mut listeners = vec![listener.into_std()?];
    for _ in 1..threads {
        match bind_shared(addr).and_then(|l| l.into_std()) {
            Ok(l) => listeners.push(l),
            Err(e) => {
                tracing::warn!(error = %e, "cannot add a listener on the same port; serving from one thread");
                break;
            }
        }
    }
    let handles: Vec<_> = listeners
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            let (app, stop) = (app.clone(), stop.clone());
            let (limits, gate) = (limits.clone(), gate.clone());
            std::thread::Builder::new()
                .name(format!("qs-serve-{i}"))
                .spawn(move || -> std::io::Result<()> {
                    crate::proxy::set_serving_slot(i);
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    rt.block_on(async move {
                        let listener = TcpListener::from_std(l)?;
                        crate::conn::serve(listener, app, limits, gate, stop).await;
                        // Calls whose answers went out just before the end still settle here.
                        crate::proxy::drain_deferred().await;
                        Ok(())
                    })
                })
        })
        .collect::<std::io::Result<_>>()?;
    tokio::task::spawn_blocking(move || {
        let mut result = Ok(());
        for h in handles {
            match h.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = Err(e),
                Err(_) => result = Err(std::io::Error::other("a serving thread panicked")),
            }
        }
        result
    })
    .await
    .map_err(std::io::Error::other)?
}

/// The whole router: API, proxy, and the Leptos pages with their static files.
pub fn router(state: AppState) -> Router {
    let options = state.leptos_options.clone();
    use crate::ui_backend::UiBackend;
    let routes = generate_route_list(app::App);
    // Pages render their first data on the server through the UI backend.
    let backend = app::data::BackendHandle(UiBackend::shared_backend(state.shared.clone()));
    // Every rendered page (the error pages too) gets its CSP with the nonce of its scripts.
    let context = move || {
        provide_context(backend.clone());
        api::security::page_policy();
    };
    api::router(state.clone())
        .leptos_routes_with_context(&state, routes, context.clone(), {
            let options = options.clone();
            move || app::shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(context, app::shell))
        .with_state(state)
}

async fn load_workspaces(
    config: &Config,
    store: &Store,
    registry: &Registry,
    now: chrono::DateTime<Utc>,
) -> Result<(), ServerError> {
    for w in &config.workspaces {
        registry.upsert_workspace(&w.id, &w.name, w.limits.clone(), now);
        for h in &w.key_sha256 {
            let key_id = format!("cfg_{}", &hex::encode(h)[..12]);
            registry.add_key(&w.id, &key_id, *h);
        }
    }
    for sw in store.workspaces().await? {
        if registry.workspace(&sw.id).is_some() {
            tracing::warn!(workspace = %sw.id, "workspace is both in the config file and the database; the file wins");
            continue;
        }
        let limits = sw.limits.as_ref().map_err(String::as_str);
        registry.add_stored_workspace(&sw.id, &sw.name, limits, &config.defaults, now);
    }
    for k in store.keys().await? {
        if !registry.add_key(&k.workspace, &k.key_id, k.sha256) {
            tracing::warn!(key_id = %k.key_id, "stored key skipped: unknown workspace or duplicate");
        }
    }
    for edit in store.workspace_edits().await? {
        registry.restore_edit(&edit.id, edit.limits.as_ref().map_err(String::as_str), now);
    }
    if registry.workspace_count() == 0 {
        tracing::warn!("no workspaces: add [[workspaces]] to the config file or create one with POST /api/admin/workspaces");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::bind;

    #[tokio::test]
    async fn bind_refuses_a_port_that_is_taken() {
        let first = bind("127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = first.local_addr().unwrap_or_else(|e| panic!("{e}"));
        // SO_REUSEPORT alone would let this succeed and split the traffic.
        assert!(bind(addr).is_err());
        drop(first);
        assert!(bind(addr).is_ok(), "a freed port can be bound again");
    }
}
