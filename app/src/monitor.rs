//! `use_quota_monitor()`: live quota data for the page.
//!
//! Opens `/api/quota/ws` (one workspace, or every workspace for an admin) and exposes reactive
//! reports (status, usage, limits, upstream), notifications, toasts and the connection's state.
//! Reconnects forever with exponential backoff and jitter (capped at 30 s); while disconnected it
//! polls the REST API; data not confirmed within the freshness window is marked stale;
//! notifications are de-duplicated by id, so the snapshot the server sends on every (re)connect
//! and the catch-up fetch never show one twice. The rules are the pure ones in
//! [`crate::logic::live`] and [`crate::logic::toast`].
//!
//! On the server the hook only seeds its signals with the page's first data, so the HTML is
//! right before the WASM loads; the browser part starts after hydration.

use std::collections::BTreeMap;

use leptos::prelude::*;

use crate::i18n::Locale;
use crate::logic::live::{is_stale, Connection, SeenIds, FRESHNESS_WINDOW_MS};
use crate::logic::toast::Toasts;
use crate::types::{Limits, Notification, StatusReport, UpstreamHeadroom, Usage};

/// A report and when (page clock, ms) it arrived.
#[derive(Clone, Debug, PartialEq)]
pub struct Tracked {
    pub report: StatusReport,
    pub received_ms: u64,
}

/// What the monitor watches.
#[derive(Clone, Debug)]
pub struct MonitorOptions {
    /// One workspace, or `None` for every workspace (admin).
    pub workspace: Option<String>,
    pub locale: Locale,
    /// The page's first data.
    pub initial: Vec<StatusReport>,
    pub initial_notifications: Vec<Notification>,
    /// Whether new notifications become toasts.
    pub toasts: bool,
}

/// The monitor's signals. `Copy`: pass it to components freely.
#[derive(Clone, Copy)]
pub struct QuotaMonitor {
    pub reports: RwSignal<BTreeMap<String, Tracked>>,
    /// Newest first.
    pub notifications: RwSignal<Vec<Notification>>,
    pub connection: RwSignal<Connection>,
    pub toasts: RwSignal<Toasts>,
    /// The page clock (ms since the epoch), ticking every second in the browser.
    pub now_ms: RwSignal<u64>,
    /// When the data was last confirmed (a message, an open socket or a successful poll).
    pub confirmed_ms: RwSignal<u64>,
    workspace: StoredValue<Option<String>>,
    /// For an every-workspace monitor: when set, the only workspaces whose reports are kept
    /// (the admin table's page), so that the page holds a page of reports, not every one.
    watched: StoredValue<Option<Watch>>,
}

/// The workspaces an every-workspace monitor keeps, and the REST URL (a
/// `GET /api/admin/workspaces` page) that gives their reports: fetched on every (re)connect
/// instead of a snapshot of every workspace, and polled while the socket is down.
#[derive(Clone, Debug)]
struct Watch {
    ids: std::collections::BTreeSet<String>,
    #[cfg_attr(feature = "ssr", allow(dead_code))]
    refresh: String,
}

/// Notifications kept in the panel.
#[cfg_attr(feature = "ssr", allow(dead_code))]
const KEEP_NOTIFICATIONS: usize = 50;

pub fn clock_ms() -> u64 {
    #[cfg(feature = "ssr")]
    {
        chrono::Utc::now().timestamp_millis().max(0) as u64
    }
    #[cfg(not(feature = "ssr"))]
    {
        js_sys::Date::now().max(0.0) as u64
    }
}

impl QuotaMonitor {
    /// The watched workspace's report (the only one, for a single-workspace monitor).
    pub fn status(self) -> Signal<Option<StatusReport>> {
        let ws = self.workspace.get_value();
        Signal::derive(move || {
            self.reports.with(|r| match &ws {
                Some(id) => r.get(id).map(|t| t.report.clone()),
                None => r.values().next().map(|t| t.report.clone()),
            })
        })
    }

    pub fn tracked(self) -> Signal<Option<Tracked>> {
        let ws = self.workspace.get_value();
        Signal::derive(move || {
            self.reports.with(|r| match &ws {
                Some(id) => r.get(id).cloned(),
                None => r.values().next().cloned(),
            })
        })
    }

    pub fn usage(self) -> Signal<Option<Usage>> {
        let s = self.status();
        Signal::derive(move || s.with(|r| r.as_ref().map(|r| r.usage.clone())))
    }

    pub fn limits(self) -> Signal<Option<Limits>> {
        let s = self.status();
        Signal::derive(move || s.with(|r| r.as_ref().map(|r| r.limits.clone())))
    }

    pub fn upstream(self) -> Signal<Option<UpstreamHeadroom>> {
        let s = self.status();
        Signal::derive(move || s.with(|r| r.as_ref().and_then(|r| r.upstream.clone())))
    }

    /// True while the data may be out of date.
    pub fn stale(self) -> Signal<bool> {
        Signal::derive(move || {
            is_stale(
                self.connection.get(),
                self.confirmed_ms.get(),
                self.now_ms.get(),
                FRESHNESS_WINDOW_MS,
            )
        })
    }

    /// Watches only the workspaces of `reports` from now on (every-workspace monitor: the
    /// admin table's page), with `reports` as their latest. Reports of other workspaces are
    /// dropped when they arrive; `refresh` is the `GET /api/admin/workspaces` URL of that page,
    /// read again on every (re)connect (the socket then sends no snapshot of every workspace).
    pub fn watch_only(self, reports: Vec<StatusReport>, refresh: String) {
        let now = clock_ms();
        self.watched.set_value(Some(Watch {
            ids: reports.iter().map(|r| r.workspace.clone()).collect(),
            refresh,
        }));
        self.reports.set(
            reports
                .into_iter()
                .map(|r| {
                    (
                        r.workspace.clone(),
                        Tracked {
                            report: r,
                            received_ms: now,
                        },
                    )
                })
                .collect(),
        );
    }

    /// Shows `r` (a report of the watched workspace) as the latest: from the socket, a poll, or
    /// the answer to an admin's edit.
    #[cfg_attr(feature = "ssr", allow(dead_code))]
    pub(crate) fn apply_report(self, r: StatusReport, now: u64) {
        if let Some(ws) = self.workspace.get_value() {
            if r.workspace != ws {
                return;
            }
        }
        let kept = self
            .watched
            .with_value(|w| w.as_ref().is_none_or(|w| w.ids.contains(&r.workspace)));
        if !kept {
            // Still a sign of life from the server (set once a millisecond at most: a snapshot
            // of many workspaces comes in a burst).
            if self.confirmed_ms.get_untracked() != now {
                self.confirmed_ms.set(now);
            }
            return;
        }
        self.reports.update(|m| {
            m.insert(
                r.workspace.clone(),
                Tracked {
                    report: r,
                    received_ms: now,
                },
            );
        });
        self.confirmed_ms.set(now);
    }

    #[cfg_attr(feature = "ssr", allow(dead_code))]
    fn apply_notification(self, n: Notification, seen: &mut SeenIds, toast: bool, now: u64) {
        if !seen.insert(&n.id) {
            return;
        }
        if let Some(ws) = self.workspace.get_value() {
            if n.workspace != ws {
                return;
            }
        }
        self.notifications.update(|list| {
            list.insert(0, n.clone());
            list.sort_by_key(|n| std::cmp::Reverse(n.created_at));
            list.truncate(KEEP_NOTIFICATIONS);
        });
        if toast {
            self.toasts.update(|t| {
                t.push(n, now);
            });
        }
    }
}

/// Starts watching. See the module docs.
pub fn use_quota_monitor(opts: MonitorOptions) -> QuotaMonitor {
    let now = clock_ms();
    let reports = opts
        .initial
        .iter()
        .map(|r| {
            (
                r.workspace.clone(),
                Tracked {
                    report: r.clone(),
                    received_ms: now,
                },
            )
        })
        .collect();
    let mut notifications = opts.initial_notifications.clone();
    notifications.sort_by_key(|n| std::cmp::Reverse(n.created_at));
    let m = QuotaMonitor {
        reports: RwSignal::new(reports),
        notifications: RwSignal::new(notifications),
        connection: RwSignal::new(Connection::Connecting),
        toasts: RwSignal::new(Toasts::default()),
        now_ms: RwSignal::new(now),
        confirmed_ms: RwSignal::new(now),
        workspace: StoredValue::new(opts.workspace.clone()),
        watched: StoredValue::new(None),
    };
    #[cfg(not(feature = "ssr"))]
    browser::start(m, opts);
    #[cfg(feature = "ssr")]
    let _ = opts;
    m
}

#[cfg(not(feature = "ssr"))]
mod browser {
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::time::Duration;

    use leptos::prelude::*;
    use send_wrapper::SendWrapper;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;
    use web_sys::{CloseEvent, MessageEvent, WebSocket};

    use super::{clock_ms, MonitorOptions, QuotaMonitor};
    use crate::data::browser::{enc, get_json};
    use crate::logic::live::{classify, Backoff, SeenIds, POLL_EVERY_MS, SEEN_CAP};
    use crate::types::{
        ClientMessage, NotificationList, ServerMessage, StatusReport, WorkspaceList,
    };

    /// Send a ping this often, so idle proxies keep the socket open.
    const PING_EVERY_MS: u64 = 25_000;

    struct Conn {
        m: QuotaMonitor,
        opts: MonitorOptions,
        ws: Option<WebSocket>,
        open: bool,
        ever_opened: bool,
        backoff: Backoff,
        last_poll_ok: Option<bool>,
        next_poll_ms: u64,
        last_ping_ms: u64,
        seen: SeenIds,
        stopped: bool,
        polling: bool,
        handlers: Vec<Closure<dyn FnMut(JsValue)>>,
    }

    type Shared = Rc<RefCell<Conn>>;

    fn refresh_state(c: &Conn) {
        let state = classify(c.open, c.ever_opened, c.backoff.attempts(), c.last_poll_ok);
        if c.m.connection.get_untracked() != state {
            c.m.connection.set(state);
        }
    }

    fn ws_url(opts: &MonitorOptions, m: QuotaMonitor) -> String {
        let loc = web_sys::window().map(|w| w.location());
        let host = loc.as_ref().and_then(|l| l.host().ok()).unwrap_or_default();
        let https = loc.as_ref().and_then(|l| l.protocol().ok()).as_deref() == Some("https:");
        let mut url = format!(
            "{}://{host}/api/quota/ws?locale={}",
            if https { "wss" } else { "ws" },
            opts.locale.code()
        );
        if let Some(ws) = &opts.workspace {
            url.push_str("&workspace=");
            url.push_str(&enc(ws));
        } else if m.watched.with_value(Option::is_some) {
            // The page reads its workspaces by REST on open (see `refresh_watched`).
            url.push_str("&snapshot=none");
        }
        url
    }

    /// Reads the watched page's reports again (after the socket opened without a snapshot).
    async fn refresh_watched(conn: Shared) {
        let (m, url) = {
            let c = conn.borrow();
            (
                c.m,
                c.m.watched
                    .with_value(|w| w.as_ref().map(|w| w.refresh.clone())),
            )
        };
        let Some(url) = url else {
            return;
        };
        if let Ok(list) = get_json::<WorkspaceList>(&url).await {
            let now = clock_ms();
            for r in list.workspaces {
                m.apply_report(r, now);
            }
        }
    }

    pub(super) fn start(m: QuotaMonitor, opts: MonitorOptions) {
        let mut seen = SeenIds::new(SEEN_CAP);
        for n in &opts.initial_notifications {
            seen.insert(&n.id);
        }
        let conn: Shared = Rc::new(RefCell::new(Conn {
            m,
            opts,
            ws: None,
            open: false,
            ever_opened: false,
            backoff: Backoff::default(),
            last_poll_ok: None,
            next_poll_ms: 0,
            last_ping_ms: 0,
            seen,
            stopped: false,
            polling: false,
            handlers: vec![],
        }));
        // Start after hydration so the first render equals the server's.
        let c = conn.clone();
        request_animation_frame(move || connect(&c));
        let c = conn.clone();
        let clock =
            set_interval_with_handle(move || every_second(&c), Duration::from_millis(1000)).ok();
        let toasts = set_interval_with_handle(
            move || {
                let now = clock_ms();
                let due = m.toasts.with_untracked(|t| t.clone().tick(now));
                if due {
                    m.toasts.update(|t| {
                        t.tick(now);
                    });
                }
            },
            Duration::from_millis(250),
        )
        .ok();
        let cleanup = SendWrapper::new((conn, clock, toasts));
        on_cleanup(move || {
            let (conn, clock, toasts) = cleanup.take();
            if let Some(h) = clock {
                h.clear();
            }
            if let Some(h) = toasts {
                h.clear();
            }
            let mut c = conn.borrow_mut();
            c.stopped = true;
            if let Some(ws) = c.ws.take() {
                let _ = ws.close();
            }
        });
    }

    fn every_second(conn: &Shared) {
        let now = clock_ms();
        let (poll, ping) = {
            let mut c = conn.borrow_mut();
            if c.stopped {
                return;
            }
            c.m.now_ms.set(now);
            refresh_state(&c);
            let poll = !c.open && !c.polling && now >= c.next_poll_ms;
            if poll {
                c.polling = true;
                c.next_poll_ms = now + POLL_EVERY_MS;
            }
            let ping = c.open && now.saturating_sub(c.last_ping_ms) >= PING_EVERY_MS;
            if ping {
                c.last_ping_ms = now;
            }
            (poll, ping)
        };
        if ping {
            if let Some(ws) = conn.borrow().ws.as_ref() {
                let _ = ws.send_with_str(
                    &serde_json::to_string(&ClientMessage::Ping).unwrap_or_default(),
                );
            }
        }
        if poll {
            let conn = conn.clone();
            leptos::task::spawn_local(async move { poll_once(conn).await });
        }
    }

    /// One HTTP poll of the status while the socket is down.
    async fn poll_once(conn: Shared) {
        let (workspace, locale, m) = {
            let c = conn.borrow();
            (c.opts.workspace.clone(), c.opts.locale, c.m)
        };
        let result: Result<Vec<StatusReport>, _> = match &workspace {
            Some(ws) => get_json::<StatusReport>(&format!(
                "/api/quota/status?workspace={}&locale={}",
                enc(ws),
                locale.code()
            ))
            .await
            .map(|r| vec![r]),
            None => get_json::<WorkspaceList>(&m.watched.with_value(|w| match w {
                Some(w) => w.refresh.clone(),
                None => format!("/api/admin/workspaces?locale={}", locale.code()),
            }))
            .await
            .map(|l| l.workspaces),
        };
        let mut c = conn.borrow_mut();
        c.polling = false;
        if c.stopped {
            return;
        }
        let now = clock_ms();
        match result {
            Ok(list) => {
                c.last_poll_ok = Some(true);
                // A successful poll means the server is back: try the socket right away.
                let retry_now = !c.open && c.ws.is_none();
                for r in list {
                    m.apply_report(r, now);
                }
                refresh_state(&c);
                drop(c);
                if retry_now {
                    connect(&conn);
                }
            }
            Err(_) => {
                c.last_poll_ok = Some(false);
                refresh_state(&c);
            }
        }
    }

    /// Fetches notifications missed while disconnected (shown once: de-duplicated by id).
    async fn catch_up(conn: Shared) {
        let (workspace, locale) = {
            let c = conn.borrow();
            (c.opts.workspace.clone(), c.opts.locale)
        };
        let Some(ws) = workspace else {
            return;
        };
        let url = format!(
            "/api/quota/notifications?workspace={}&locale={}&limit=20",
            enc(&ws),
            locale.code()
        );
        if let Ok(list) = get_json::<NotificationList>(&url).await {
            let mut c = conn.borrow_mut();
            let (m, toast) = (c.m, c.opts.toasts);
            let now = clock_ms();
            let mut fresh = list.notifications;
            fresh.reverse();
            for n in fresh {
                m.apply_notification(n, &mut c.seen, toast, now);
            }
        }
    }

    fn handler(f: impl FnMut(JsValue) + 'static) -> Closure<dyn FnMut(JsValue)> {
        Closure::wrap(Box::new(f) as Box<dyn FnMut(JsValue)>)
    }

    fn connect(conn: &Shared) {
        let url = {
            let c = conn.borrow();
            if c.stopped || c.ws.is_some() {
                return;
            }
            ws_url(&c.opts, c.m)
        };
        let ws = match WebSocket::new(&url) {
            Ok(ws) => ws,
            Err(_) => {
                schedule_reconnect(conn);
                return;
            }
        };
        let on_open = {
            let conn = conn.clone();
            handler(move |_| {
                let reconnected = {
                    let mut c = conn.borrow_mut();
                    c.open = true;
                    let again = c.ever_opened;
                    c.ever_opened = true;
                    c.backoff.reset();
                    c.last_poll_ok = None;
                    c.last_ping_ms = clock_ms();
                    c.m.confirmed_ms.set(clock_ms());
                    refresh_state(&c);
                    again
                };
                if reconnected {
                    let conn = conn.clone();
                    leptos::task::spawn_local(async move { catch_up(conn).await });
                }
                let conn = conn.clone();
                leptos::task::spawn_local(async move { refresh_watched(conn).await });
            })
        };
        let on_message = {
            let conn = conn.clone();
            handler(move |e| {
                let Some(text) = e
                    .dyn_ref::<MessageEvent>()
                    .and_then(|e| e.data().as_string())
                else {
                    return;
                };
                let Ok(msg) = serde_json::from_str::<ServerMessage>(&text) else {
                    return;
                };
                let now = clock_ms();
                let mut c = conn.borrow_mut();
                let (m, toast) = (c.m, c.opts.toasts);
                match msg {
                    ServerMessage::Status(r) => m.apply_report(*r, now),
                    ServerMessage::Notification(n) => {
                        m.apply_notification(*n, &mut c.seen, toast, now)
                    }
                    ServerMessage::Pong => m.confirmed_ms.set(now),
                }
            })
        };
        let on_close = {
            let conn = conn.clone();
            handler(move |e| {
                let _ = e.dyn_ref::<CloseEvent>();
                {
                    let mut c = conn.borrow_mut();
                    c.open = false;
                    c.ws = None;
                    c.handlers.clear_later();
                    if c.stopped {
                        return;
                    }
                    // Poll at once, then every few seconds, until the socket is back.
                    c.next_poll_ms = 0;
                }
                schedule_reconnect(&conn);
            })
        };
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        let mut c = conn.borrow_mut();
        c.handlers = vec![on_open, on_message, on_close];
        c.ws = Some(ws);
    }

    /// Dropping closures while one of them runs is unsound; keep them until the next connect.
    trait ClearLater {
        fn clear_later(&mut self);
    }

    impl ClearLater for Vec<Closure<dyn FnMut(JsValue)>> {
        fn clear_later(&mut self) {
            let old = std::mem::take(self);
            leptos::prelude::set_timeout(move || drop(old), Duration::from_millis(0));
        }
    }

    fn schedule_reconnect(conn: &Shared) {
        let delay = {
            let mut c = conn.borrow_mut();
            let d = c.backoff.next_delay_ms(js_sys::Math::random());
            refresh_state(&c);
            d
        };
        let conn = conn.clone();
        set_timeout(move || connect(&conn), Duration::from_millis(delay));
    }
}
