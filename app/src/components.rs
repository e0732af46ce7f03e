//! The UI's building blocks: header with language switcher, status pill, connection badge,
//! banner, usage bars, upstream headroom, usage tables, notification list, toasts and the SVG
//! bar chart. Every visible string comes from the Fluent files through [`Tr`].

use leptos::prelude::*;

use crate::data::Session;
use crate::i18n::{translations, Locale, MINUTE_SECS};
use crate::logic::chart;
use crate::logic::format::{bar_level, bar_percent, share};
use crate::logic::live::{countdown_secs, retry_deadline_ms, Connection};
use crate::monitor::QuotaMonitor;
use crate::tr::{switch_language, use_tr, Tr};
use crate::types::{
    ArgValue, LimitKind, Notification, Scope, Status, StatusReport, UpstreamHeadroom, UsageRow,
};

/// A status' icon: colour is never the only cue.
pub fn status_icon(s: Status) -> &'static str {
    match s {
        Status::Normal => "✓",
        Status::Warning => "⚠",
        Status::Degraded => "◐",
        Status::RateLimited => "◷",
        Status::QuotaExceeded => "⊘",
    }
}

/// The page header: product name, navigation, connection state, language, sign-out.
#[component]
pub fn Header(
    #[prop(optional)] session: Option<Session>,
    #[prop(optional)] connection: Option<RwSignal<Connection>>,
) -> impl IntoView {
    let tr = use_tr();
    let nav = session.clone().map(|s| {
        let admin = s
            .is_admin()
            .then(|| view! { <a href="/admin">{tr.t("nav-admin")}</a> });
        let own = s
            .workspace
            .clone()
            .map(|_| view! { <a href="/">{tr.t("nav-workspace")}</a> });
        view! { <nav class="nav" aria-label=tr.t("nav-label")>{own}{admin}</nav> }
    });
    let logout = session.map(|_| {
        view! {
            <button class="button secondary" data-testid="logout" on:click=move |_| sign_out()>
                {tr.t("nav-sign-out")}
            </button>
        }
    });
    view! {
        <header class="header">
            <a class="brand" href="/">
                <span class="brand-mark" aria-hidden="true">"◆"</span>
                {tr.t("app-name")}
            </a>
            {nav}
            <div class="header-tools">
                {connection.map(|c| view! { <ConnectionBadge connection=c/> })}
                <LanguageSwitcher/>
                {logout}
            </div>
        </header>
    }
    .into_any()
}

/// Ends the session and goes to the sign-in page (in the browser; nothing on the server).
pub fn sign_out() {
    #[cfg(not(feature = "ssr"))]
    leptos::task::spawn_local(async {
        let _ =
            crate::data::browser::send_json("DELETE", "/api/session", &serde_json::json!({})).await;
        if let Some(w) = web_sys::window() {
            let _ = w.location().assign("/login");
        }
    });
}

/// A `<select>` of the shipped languages, each named in itself.
#[component]
pub fn LanguageSwitcher() -> impl IntoView {
    let tr = use_tr();
    let current = tr.locale();
    let options = Locale::all()
        .map(|l| {
            let name = translations().text(l, "language-name");
            view! { <option value=l.code() selected=l == current lang=l.code()>{name}</option> }
        })
        .collect_view();
    view! {
        <label class="lang">
            <span class="visually-hidden">{tr.t("language-label")}</span>
            <select data-testid="language" on:change=move |ev| switch_language(&event_target_value(&ev))>
                {options}
            </select>
        </label>
    }
}

/// The live connection's state, with an icon and words.
#[component]
pub fn ConnectionBadge(connection: RwSignal<Connection>) -> impl IntoView {
    let tr = use_tr();
    let icon = move || match connection.get() {
        Connection::Live => "●",
        Connection::Connecting | Connection::Reconnecting => "↻",
        Connection::Offline => "✕",
    };
    view! {
        <span class=move || format!("conn conn-{}", connection.get().as_str())
            data-testid="connection" data-state=move || connection.get().as_str()
            role="status">
            <span aria-hidden="true">{icon}</span>
            " "
            {move || tr.t(&format!("connection-{}", connection.get().as_str()))}
        </span>
    }
}

/// A status as a pill: icon and name, coloured.
#[component]
pub fn StatusPill(#[prop(into)] status: Signal<Status>) -> impl IntoView {
    let tr = use_tr();
    view! {
        <span class=move || format!("pill pill-{}", status.get().as_str()) data-status=move || status.get().as_str()>
            <span class="pill-icon" aria-hidden="true">{move || status_icon(status.get())}</span>
            {move || tr.t(&format!("status-label-{}", status.get().as_str()))}
        </span>
    }
}

/// A clock (ms) for what must change on the second it is due, such as a countdown: the
/// monitor's clock ticks once a second at whatever phase it started, so on its own a countdown
/// could show a second too many for up to a second. In the browser this one also ticks every
/// 100 ms while the component lives; on the server it is the monitor's.
fn use_fine_clock(coarse: RwSignal<u64>) -> Signal<u64> {
    #[cfg(not(feature = "ssr"))]
    {
        let fine = RwSignal::new(crate::monitor::clock_ms());
        let handle = set_interval_with_handle(
            move || fine.set(crate::monitor::clock_ms()),
            std::time::Duration::from_millis(100),
        )
        .ok();
        on_cleanup(move || {
            if let Some(h) = handle {
                h.clear();
            }
        });
        Signal::derive(move || fine.get().max(coarse.get()))
    }
    #[cfg(feature = "ssr")]
    {
        coarse.into()
    }
}

/// The banner shown while calls are refused or failing; gone on recovery.
#[component]
pub fn Banner(monitor: QuotaMonitor) -> impl IntoView {
    let tr = use_tr();
    let tracked = monitor.tracked();
    move || {
        let t = tracked.get().filter(|t| t.report.status.is_blocking())?;
        let r = t.report;
        let status = r.status;
        let scope = r.scope.map(|s| match s {
            Scope::Workspace => tr.t("banner-scope-workspace"),
            Scope::Account => tr.t("banner-scope-account"),
        });
        let deadline = retry_deadline_ms(&r, t.received_ms);
        // With a live countdown, "Retry in 59 seconds." would be a second, frozen clock.
        let actions: Vec<String> = r
            .suggested_actions
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                let key = r.suggested_action_keys.get(*i).map_or("", String::as_str);
                deadline.is_none() || !key.starts_with("action-wait-retry")
            })
            .map(|(_, a)| a.clone())
            .collect();
        let actions = (!actions.is_empty()).then(|| {
            view! {
                <div class="banner-actions">
                    <h3>{tr.t("banner-actions")}</h3>
                    <ul>{actions.into_iter().map(|a| view! { <li>{a}</li> }).collect_view()}</ul>
                </div>
            }
        });
        let countdown = deadline.map(|deadline| {
            // Rendered from the clock, not restarted from each report's rounded-up seconds.
            let now = use_fine_clock(monitor.now_ms);
            let secs = move || countdown_secs(deadline, now.get());
            view! {
                <p class="countdown" data-testid="countdown" aria-live="off">
                    <span aria-hidden="true">"◷ "</span>
                    {move || match secs() {
                        0 => tr.t("banner-retry-now"),
                        s if s < MINUTE_SECS => {
                            tr.ta("banner-retry-in", &[("seconds", ArgValue::Number(s as f64))])
                        }
                        s => tr.ta("banner-retry-in-wait", &[("wait", ArgValue::Text(tr.duration(s)))]),
                    }}
                </p>
            }
        });
        Some(view! {
            <section class=format!("banner banner-{}", status.as_str()) data-testid="banner" data-status=status.as_str()
                aria-labelledby="banner-title">
                <h2 id="banner-title">
                    <span aria-hidden="true">{status_icon(status)}" "</span>
                    {tr.t(&format!("banner-title-{}", status.as_str()))}
                </h2>
                <p class="banner-message">{r.message.clone()}</p>
                {scope.map(|s| view! { <p class="banner-scope"><strong>{tr.t("banner-scope")}</strong>" "{s}</p> })}
                {countdown}
                {actions}
            </section>
        })
    }
}

fn limit_value(tr: Tr, kind: LimitKind, v: f64) -> String {
    match kind {
        LimitKind::BudgetUsdPerDay | LimitKind::BudgetUsdPerMonth => tr.usd(v),
        _ => tr.int(v.max(0.0) as u64),
    }
}

/// One usage bar: label, used / limit, the fill coloured by share, the warning mark.
#[component]
pub fn UsageBar(
    kind: LimitKind,
    report: Signal<Option<StatusReport>>,
    #[prop(optional)] compact: bool,
) -> impl IntoView {
    let tr = use_tr();
    let label = tr.t(&format!("usage-label-{}", kind.as_str()));
    let data = move || {
        report.with(|r| {
            r.as_ref().map(|r| {
                let used = r.usage.get(kind);
                let limit = r.limits.get(kind);
                (used, limit, share(used, limit), r.limits.warning_at)
            })
        })
    };
    let text = move || {
        data().map(|(used, limit, _, _)| match limit {
            Some(l) => tr.ta(
                "usage-of-limit",
                &[
                    ("used", ArgValue::Text(limit_value(tr, kind, used))),
                    ("limit", ArgValue::Text(limit_value(tr, kind, l))),
                ],
            ),
            None => tr.ta(
                "usage-no-limit",
                &[("used", ArgValue::Text(limit_value(tr, kind, used)))],
            ),
        })
    };
    let level = move || {
        data()
            .and_then(|(_, _, s, w)| s.map(|s| bar_level(s, w).as_str()))
            .unwrap_or("none")
    };
    let width = move || {
        data()
            .and_then(|(_, _, s, _)| s)
            .map(bar_percent)
            .unwrap_or(0.0)
    };
    let mark = move || data().map(|(_, _, _, w)| bar_percent(w)).unwrap_or(80.0);
    let state = move || match level() {
        "warning" => tr.t("usage-state-warning"),
        "full" => tr.t("usage-state-full"),
        _ => String::new(),
    };
    // The burn-rate forecast, worded by the server; shown on full-size bars.
    let forecast = move || {
        report.with(|r| {
            r.as_ref()?
                .forecasts
                .iter()
                .find(|f| f.limit == kind)
                .map(|f| (f.text.clone(), f.before_reset))
        })
    };
    let label2 = label.clone();
    view! {
        <div class=move || format!("usage{} usage-{}", if compact { " compact" } else { "" }, level())
            data-testid=format!("usage-{}", kind.as_str())>
            <div class="usage-head">
                <span class="usage-label">{label}</span>
                <span class="usage-value">{text}</span>
            </div>
            <div class="bar" role="progressbar" aria-label=label2 aria-valuemin="0" aria-valuemax="100"
                aria-valuenow=move || format!("{:.0}", width())>
                <div class="bar-fill" style:width=move || format!("{:.1}%", width())></div>
                <div class="bar-mark" style:left=move || format!("{:.1}%", mark()) title=tr.t("usage-warning-mark")></div>
            </div>
            <span class="usage-state">{state}</span>
            {move || (!compact).then(forecast).flatten().map(|(text, soon)| view! {
                <span class=if soon { "usage-forecast soon" } else { "usage-forecast" }
                    data-testid=format!("forecast-{}", kind.as_str())>{text}</span>
            })}
        </div>
    }
}

/// The six usage bars.
#[component]
pub fn UsageBars(report: Signal<Option<StatusReport>>) -> impl IntoView {
    view! {
        <div class="usage-grid">
            {LimitKind::ALL.into_iter().map(|k| view! { <UsageBar kind=k report=report/> }).collect_view()}
        </div>
    }
}

/// When the day limits and the month limit reset next, in the gateway's time zone (the server
/// words the times, as it words the forecasts'); the UTC instant is the `<time>`'s `datetime`.
#[component]
pub fn NextResetTimes(report: Signal<Option<StatusReport>>) -> impl IntoView {
    let tr = use_tr();
    move || {
        report.with(|r| {
            let r = r.as_ref()?;
            let (utc, local) = (r.next_resets.as_ref()?, r.next_resets_local.as_ref()?);
            let line = |key: &str,
                        at: &str,
                        instant: chrono::DateTime<chrono::Utc>,
                        testid: &'static str| {
                view! {
                    <li data-testid=testid>
                        <time datetime=instant.to_rfc3339()>
                            {tr.ta(key, &[("at", ArgValue::Text(at.to_string()))])}
                        </time>
                    </li>
                }
            };
            Some(view! {
                <div class="resets" data-testid="next-resets">
                    <ul>
                        {line("resets-day", &local.day, utc.day, "next-reset-day")}
                        {line("resets-month", &local.month, utc.month, "next-reset-month")}
                    </ul>
                    <p class="muted small">{tr.t("resets-zone")}</p>
                </div>
            })
        })
    }
}

/// The model downgrades in effect ("calls for gpt-4o now use gpt-4o-mini"); nothing when none
/// is.
#[component]
pub fn DowngradeNotice(report: Signal<Option<StatusReport>>) -> impl IntoView {
    let tr = use_tr();
    move || {
        let list = report.with(|r| r.as_ref().map(|r| r.downgrades.clone()).unwrap_or_default());
        (!list.is_empty()).then(|| {
            let items = list
                .into_iter()
                .map(|d| {
                    // 90, 95.5, 0.00001: as the form shows shares, with the locale's separator.
                    let percent = crate::logic::policy::format_percent(d.at)
                        .replace('.', &tr.t("number-decimal-separator"));
                    let text = tr.ta(
                        "downgrade-active",
                        &[
                            ("from", ArgValue::Text(d.from.clone())),
                            ("to", ArgValue::Text(d.to.clone())),
                            ("percent", ArgValue::Text(percent)),
                        ],
                    );
                    view! { <li data-testid="downgrade" data-from=d.from data-to=d.to>{text}</li> }
                })
                .collect_view();
            view! {
                <section class="notice" data-testid="downgrades" aria-labelledby="downgrades-title">
                    <h2 id="downgrades-title"><span aria-hidden="true">"↓ "</span>{tr.t("downgrade-title")}</h2>
                    <ul>{items}</ul>
                </section>
            }
        })
    }
}

/// The upstream account's headroom.
#[component]
pub fn Upstream(
    upstream: Signal<Option<UpstreamHeadroom>>,
    now_ms: RwSignal<u64>,
) -> impl IntoView {
    let tr = use_tr();
    move || match upstream.get() {
        None => view! { <p class="muted" data-testid="upstream-none">{tr.t("upstream-none")}</p> }
            .into_any(),
        Some(u) => {
            let line = |key: &str, rem: Option<u64>, lim: Option<u64>| {
                let value = match (rem, lim) {
                    (Some(r), Some(l)) => tr.ta(
                        "upstream-remaining-of",
                        &[
                            ("remaining", ArgValue::Text(tr.int(r))),
                            ("limit", ArgValue::Text(tr.int(l))),
                        ],
                    ),
                    (Some(r), None) => tr.int(r),
                    _ => tr.t("upstream-unknown"),
                };
                view! { <div class="kv"><dt>{tr.t(key)}</dt><dd>{value}</dd></div> }
            };
            let observed = u.observed_at;
            view! {
                <dl class="kvs" data-testid="upstream">
                    {line("upstream-requests", u.remaining_requests, u.limit_requests)}
                    {line("upstream-tokens", u.remaining_tokens, u.limit_tokens)}
                    <div class="kv">
                        <dt>{tr.t("upstream-observed")}</dt>
                        <dd>{move || tr.ago((now_ms.get() as i64 - observed.timestamp_millis()) / 1000)}</dd>
                    </div>
                </dl>
            }
            .into_any()
        }
    }
}

/// Usage rows (by goal or task) as a table; re-rendered when `rows` changes.
#[component]
pub fn UsageTable(
    #[prop(into)] rows: Signal<Vec<UsageRow>>,
    #[prop(into)] caption: String,
    #[prop(into)] testid: String,
) -> impl IntoView {
    let tr = use_tr();
    move || {
        let (caption, testid) = (caption.clone(), testid.clone());
        rows.with(|rows| {
            if rows.is_empty() {
                return view! {
                    <div data-testid=testid>
                        <h3>{caption}</h3>
                        <p class="muted">{tr.t("usage-table-empty")}</p>
                    </div>
                }
                .into_any();
            }
            let body = rows
                .iter()
                .map(|r| {
                    let key = if r.key.is_empty() {
                        tr.t("usage-table-untagged")
                    } else {
                        r.key.clone()
                    };
                    view! {
                        <tr>
                            <th scope="row">{key}</th>
                            <td class="num">{tr.int(r.requests)}</td>
                            <td class="num">{tr.int(r.input_tokens + r.output_tokens)}</td>
                            <td class="num">{tr.usd(r.cost_usd)}</td>
                        </tr>
                    }
                })
                .collect_view();
            view! {
                <div class="table-wrap" data-testid=testid>
                    <table>
                        <caption>{caption}</caption>
                        <thead>
                            <tr>
                                <th scope="col">{tr.t("usage-table-key")}</th>
                                <th scope="col" class="num">{tr.t("usage-table-requests")}</th>
                                <th scope="col" class="num">{tr.t("usage-table-tokens")}</th>
                                <th scope="col" class="num">{tr.t("usage-table-cost")}</th>
                            </tr>
                        </thead>
                        <tbody>{body}</tbody>
                    </table>
                </div>
            }
            .into_any()
        })
    }
}

fn level_icon(n: &Notification) -> &'static str {
    match n.level {
        crate::types::Level::Info => "ℹ",
        crate::types::Level::Warning => "⚠",
        crate::types::Level::Error => "✖",
    }
}

/// Recent notifications, newest first.
#[component]
pub fn NotificationList(monitor: QuotaMonitor) -> impl IntoView {
    let tr = use_tr();
    let items = move || {
        let list = monitor.notifications.get();
        if list.is_empty() {
            return view! { <p class="muted">{tr.t("notifications-empty")}</p> }.into_any();
        }
        let now = monitor.now_ms;
        view! {
            <ul class="notifications" data-testid="notifications">
                {list
                    .into_iter()
                    .map(|n| {
                        let created = n.created_at.timestamp_millis();
                        let level = n.level.as_str();
                        view! {
                            <li class=format!("notification level-{level}") data-notification-key=n.key.clone()>
                                <span class="notification-icon" aria-hidden="true">{level_icon(&n)}</span>
                                <div>
                                    <p class="notification-title">
                                        <span class="visually-hidden">{tr.t(&format!("level-{level}"))}": "</span>
                                        {n.title.clone()}
                                    </p>
                                    <p class="notification-body">{n.body.clone()}</p>
                                    <p class="notification-time">
                                        <time datetime=n.created_at.to_rfc3339() title=tr.datetime(n.created_at)>
                                            {move || tr.ago((now.get() as i64 - created) / 1000)}
                                        </time>
                                    </p>
                                </div>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        }
        .into_any()
    };
    view! { <div class="notification-panel">{items}</div> }
}

/// The screens where toasts span the width at the bottom, one at a time (as in `main.css`).
const NARROW_SCREEN: &str = "(max-width: 719px)";

/// The toast stack: one per notification (repeats collapse with a count), newest on top. At
/// most three show; the others wait behind a "+N more" line with a "Dismiss all" button.
#[component]
pub fn ToastStack(monitor: QuotaMonitor) -> impl IntoView {
    let tr = use_tr();
    let toasts = monitor.toasts;
    Effect::new(move |_| {
        let handle = window_event_listener(leptos::ev::keydown, move |e| {
            if e.key() == "Escape" {
                toasts.update(|t| t.dismiss_newest(crate::monitor::clock_ms()));
            }
        });
        on_cleanup(move || handle.remove());
    });
    // One toast at a time on a phone (the stack spans the width there), three on a wide screen.
    Effect::new(move |_| {
        use crate::logic::toast::{MAX_VISIBLE, MAX_VISIBLE_NARROW};
        let apply = move || {
            let narrow = window()
                .match_media(NARROW_SCREEN)
                .ok()
                .flatten()
                .is_some_and(|m| m.matches());
            let cap = if narrow {
                MAX_VISIBLE_NARROW
            } else {
                MAX_VISIBLE
            };
            if toasts.with_untracked(|t| t.cap()) != cap {
                toasts.update(|t| t.set_cap(cap, crate::monitor::clock_ms()));
            }
        };
        apply();
        let handle = window_event_listener(leptos::ev::resize, move |_| apply());
        on_cleanup(move || handle.remove());
    });
    // Two live regions, in the page from the first render and never replaced: a screen reader
    // announces what is inserted into a region it already knows, and often skips a new region
    // that arrives with its text. Errors go to the assertive one, the rest to the polite one.
    let region = move |errors: bool| {
        view! {
            <For
                each=move || {
                    toasts
                        .get()
                        .visible()
                        .into_iter()
                        .filter(|t| (t.notification.level == crate::types::Level::Error) == errors)
                        .collect::<Vec<_>>()
                }
                key=|t| (t.id, t.count)
                let:toast
            >
                {toast_view(toast, toasts)}
            </For>
        }
    };
    view! {
        <div class="toasts" data-testid="toasts" aria-label=tr.t("toasts-label")>
            <div class="toast-region" role="alert" aria-live="assertive" aria-relevant="additions"
                data-testid="toasts-assertive">
                {region(true)}
            </div>
            <div class="toast-region" role="status" aria-live="polite" aria-relevant="additions"
                data-testid="toasts-polite">
                {region(false)}
            </div>
            // Outside the live regions: the count changes with every toast and is not news.
            <Show when=move || toasts.with(|t| t.hidden_count() > 0)>
                <div class="toasts-more" data-testid="toasts-more">
                    <span data-testid="toasts-more-count">
                        {move || {
                            let n = toasts.with(|t| t.hidden_count());
                            tr.ta("toast-more", &[("count", ArgValue::Number(n as f64))])
                        }}
                    </span>
                    <button class="button secondary small" data-testid="toasts-dismiss-all"
                        on:click=move |_| toasts.update(|t| t.dismiss_all())>
                        {tr.t("toast-dismiss-all")}
                    </button>
                </div>
            </Show>
        </div>
    }
}

/// One toast, inside its live region (it is not a region itself).
fn toast_view(
    toast: crate::logic::toast::Toast,
    toasts: RwSignal<crate::logic::toast::Toasts>,
) -> impl IntoView {
    let tr = use_tr();
    let now = crate::monitor::clock_ms;
    let id = toast.id;
    let n = toast.notification.clone();
    let level = n.level.as_str();
    let count = (toast.count > 1).then(|| {
        view! {
            <span class="toast-count" data-testid="toast-count">
                {tr.ta("toast-count", &[("count", ArgValue::Number(toast.count as f64))])}
            </span>
        }
    });
    view! {
        <div class=format!("toast toast-{level}") data-testid="toast" data-level=level data-key=n.key.clone()
            on:mouseenter=move |_| toasts.update(|t| t.hold(id, now()))
            on:mouseleave=move |_| toasts.update(|t| t.release(id, now()))
            on:focusin=move |_| toasts.update(|t| t.hold(id, now()))
            on:focusout=move |_| toasts.update(|t| t.release(id, now()))
            on:keydown=move |e| {
                if e.key() == "Escape" {
                    e.stop_propagation();
                    toasts.update(|t| t.dismiss(id, now()));
                }
            }>
            <span class="toast-icon" aria-hidden="true">{level_icon(&n)}</span>
            <div class="toast-text">
                <p class="toast-title">
                    <span class="visually-hidden">{tr.t(&format!("level-{level}"))}": "</span>
                    {n.title.clone()}
                    " "
                    {count}
                </p>
                <p class="toast-body">{n.body.clone()}</p>
            </div>
            <button class="toast-close" aria-label=tr.t("toast-close") title=tr.t("toast-close")
                on:click=move |_| toasts.update(|t| t.dismiss(id, now()))>
                "×"
            </button>
        </div>
    }
}

/// A bar chart in SVG: one bar per slot, the axis maximum and first/last labels.
#[component]
pub fn BarChart(
    #[prop(into)] title: String,
    values: Vec<f64>,
    labels: Vec<String>,
    /// Formats axis values.
    format: fn(Tr, f64) -> String,
    #[prop(into)] testid: String,
) -> impl IntoView {
    let tr = use_tr();
    const W: f64 = 600.0;
    const H: f64 = 160.0;
    const PAD: f64 = 24.0;
    let (top, bars) = chart::bars(&values, W, H, 0.2);
    let total: f64 = values.iter().sum();
    let first = labels.first().cloned().unwrap_or_default();
    let last = labels.last().cloned().unwrap_or_default();
    let rects = bars
        .into_iter()
        .zip(values.iter().zip(labels.iter()))
        .map(|(b, (v, l))| {
            let tip = format!("{l}: {}", format(tr, *v));
            view! {
                <rect class="chart-bar" x=format!("{:.1}", b.x) y=format!("{:.1}", b.y + PAD / 2.0)
                    width=format!("{:.1}", b.width) height=format!("{:.1}", b.height.max(0.0))>
                    <title>{tip}</title>
                </rect>
            }
        })
        .collect_view();
    let summary = tr.ta(
        "chart-summary",
        &[("total", ArgValue::Text(format(tr, total)))],
    );
    view! {
        <figure class="chart" data-testid=testid>
            <figcaption>{title.clone()}<span class="chart-total">{summary}</span></figcaption>
            <svg viewBox=format!("0 0 {W} {}", H + PAD * 2.0) role="img" aria-label=title preserveAspectRatio="none">
                <line class="chart-axis" x1="0" x2=W.to_string() y1=(H + PAD / 2.0).to_string() y2=(H + PAD / 2.0).to_string()></line>
                <line class="chart-grid" x1="0" x2=W.to_string() y1=(PAD / 2.0).to_string() y2=(PAD / 2.0).to_string()></line>
                <text class="chart-label" x="2" y=(PAD / 2.0 - 2.0).to_string()>{format(tr, top)}</text>
                {rects}
                <text class="chart-label" x="2" y=(H + PAD * 1.8).to_string()>{first}</text>
                <text class="chart-label" x=(W - 2.0).to_string() y=(H + PAD * 1.8).to_string() text-anchor="end">{last}</text>
            </svg>
        </figure>
    }
}
