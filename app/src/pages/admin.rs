//! `/admin`: the overview ([`super::overview`]) and the workspaces in a live table, a page at a
//! time (the server renders the first; the browser searches the server as the admin types,
//! debounced, and for a status, and pages with next / previous; sort applies to the page), and `/admin/workspaces/:id`: one workspace's history charts,
//! notifications, upstream headroom, next resets and model downgrades in effect, alert rules
//! ([`super::rules`]), limits and policies ([`super::policies`]) and the reset button (with
//! confirmation). Admin sessions only.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use super::overview::Overview;
use super::policies::PoliciesForm;
use super::rules::AlertRulesForm;
use super::{sendable, when_loaded};
use crate::components::{
    Banner, BarChart, DowngradeNotice, Header, NextResetTimes, NotificationList, StatusPill,
    ToastStack, Upstream, UsageBar, UsageBars,
};
use crate::data::{AdminData, DetailData, Loader, DAYS, HOURS};
use crate::logic::chart::{daily_slots, hourly_slots};
use crate::logic::table::{filter_and_sort, SortKey};
use crate::monitor::{use_quota_monitor, MonitorOptions, QuotaMonitor};
use crate::tr::{use_tr, Tr};
use crate::types::{ArgValue, LimitKind, Status, StatusReport, UsageRow, WORKSPACE_PAGE_DEFAULT};

#[component]
pub fn AdminPage() -> impl IntoView {
    let tr = use_tr();
    let loader = Loader::from_context(tr.locale());
    #[cfg(feature = "ssr")]
    super::guard(&loader, true);
    let data = Resource::new(|| (), move |_| sendable(loader.clone().admin()));
    when_loaded(data, |d| view! { <AdminView data=d/> }.into_any(), None)
}

/// The `GET /api/admin/workspaces` URL of the page after `cursor` for search `q` and `status`.
fn page_url(
    locale: crate::i18n::Locale,
    q: &str,
    status: Option<Status>,
    cursor: Option<&str>,
) -> String {
    crate::data::workspace_page_url(locale, q, status, cursor)
}

/// How long the search box waits after the last keystroke before it asks the server.
#[cfg_attr(feature = "ssr", allow(dead_code))]
const SEARCH_DEBOUNCE_MS: u64 = 250;

#[component]
fn AdminView(data: AdminData) -> impl IntoView {
    let tr = use_tr();
    let m = use_quota_monitor(MonitorOptions {
        workspace: None,
        locale: tr.locale(),
        initial: data.page.workspaces.clone(),
        initial_notifications: data.latest.clone(),
        toasts: true,
    });
    // The monitor keeps the reports of the page's workspaces only.
    m.watch_only(
        data.page.workspaces.clone(),
        page_url(tr.locale(), "", None, None),
    );
    // The page shown: its workspaces come live from the monitor; its cursor and total from the
    // server. `cursors` holds the cursor of each page up to this one (`None`: the first).
    let page = RwSignal::new(data.page.clone());
    let cursors = RwSignal::new(vec![None::<String>]);
    let loading = RwSignal::new(false);
    let failed = RwSignal::new(false);
    // Numbers the latest search and page load: a late answer to an earlier one is dropped.
    let seq = StoredValue::new(0u64);
    let query = RwSignal::new(String::new());
    let status_filter = RwSignal::new(None::<Status>);
    let sort = RwSignal::new((SortKey::Workspace, false));
    // Loads the page after the last cursor of `stack` for search `q` and the status chosen.
    let load = move |q: String, stack: Vec<Option<String>>| {
        #[cfg(not(feature = "ssr"))]
        {
            let status = status_filter.get_untracked();
            let n = seq.get_value() + 1;
            seq.set_value(n);
            loading.set(true);
            let cursor = stack.last().cloned().flatten();
            let loader = Loader::from_context(tr.locale());
            leptos::task::spawn_local(async move {
                let r = loader.workspace_page(&q, status, cursor.as_deref()).await;
                if seq.get_value() != n {
                    return;
                }
                loading.set(false);
                match r {
                    Ok(list) => {
                        failed.set(false);
                        m.watch_only(
                            list.workspaces.clone(),
                            page_url(tr.locale(), &q, status, cursor.as_deref()),
                        );
                        page.set(list);
                        cursors.set(stack);
                    }
                    Err(_) => failed.set(true),
                }
            });
        }
        #[cfg(feature = "ssr")]
        let _ = (q, stack, seq, loading, failed);
    };
    let debounce = StoredValue::new(0u64);
    let on_search = move |ev: leptos::ev::Event| {
        let v = event_target_value(&ev);
        query.set(v.clone());
        let n = debounce.get_value() + 1;
        debounce.set_value(n);
        #[cfg(not(feature = "ssr"))]
        set_timeout(
            move || {
                if debounce.get_value() == n {
                    load(v, vec![None]);
                }
            },
            std::time::Duration::from_millis(SEARCH_DEBOUNCE_MS),
        );
        #[cfg(feature = "ssr")]
        let _ = (v, load);
    };
    let next = move |_| {
        let Some(c) = page.with_untracked(|p| p.next_cursor.clone()) else {
            return;
        };
        let mut stack = cursors.get_untracked();
        stack.push(Some(c));
        load(query.get_untracked(), stack);
    };
    let previous = move |_| {
        let mut stack = cursors.get_untracked();
        if stack.len() <= 1 {
            return;
        }
        stack.pop();
        load(query.get_untracked(), stack);
    };
    // "51–100 of 100,000": pages before this one are full (a cursor follows full pages only).
    let range = move || {
        let before = cursors.with(|c| c.len().saturating_sub(1)) * WORKSPACE_PAGE_DEFAULT;
        page.with(|p| {
            (!p.workspaces.is_empty()).then(|| {
                let n = |v: usize| ArgValue::Text(tr.int(v as u64));
                tr.ta(
                    "admin-page-range",
                    &[
                        ("from", n(before + 1)),
                        ("to", n(before + p.workspaces.len())),
                        ("total", n(p.total)),
                    ],
                )
            })
        })
    };
    // The page's rows, filtered (at once, before the server's answer) and sorted here.
    let rows = Memo::new(move |_| {
        let (key, desc) = sort.get();
        m.reports.with(|r| {
            filter_and_sort(
                r.values().map(|t| &t.report),
                &query.get(),
                status_filter.get(),
                key,
                desc,
            )
        })
    });
    let header = move |key: SortKey| {
        let label = tr.t(&format!("admin-col-{}", key.as_str()));
        let aria = move || {
            let (k, d) = sort.get();
            if k != key {
                "none"
            } else if d {
                "descending"
            } else {
                "ascending"
            }
        };
        let arrow = move || {
            let (k, d) = sort.get();
            if k != key {
                ""
            } else if d {
                " ▼"
            } else {
                " ▲"
            }
        };
        view! {
            <th scope="col" aria-sort=aria>
                <button class="sort" data-testid=format!("sort-{}", key.as_str())
                    on:click=move |_| sort.update(|(k, d)| {
                        if *k == key { *d = !*d } else { *k = key; *d = key != SortKey::Workspace }
                    })>
                    {label}{arrow}
                </button>
            </th>
        }
    };
    let status_options = Status::ALL
        .into_iter()
        .map(|s| view! { <option value=s.as_str()>{tr.t(&format!("status-label-{}", s.as_str()))}</option> })
        .collect_view();
    view! {
        <Header session=data.session.clone() connection=m.connection/>
        <main class="page" data-testid="admin-page">
            <div class="page-title">
                <h1>{tr.t("overview-title")}</h1>
                <nav class="admin-links" aria-label=tr.t("overview-title")>
                    <a href="/admin/channels" data-testid="nav-channels">{tr.t("nav-channels")}</a>
                    <a href="/admin/audit" data-testid="nav-audit">{tr.t("nav-audit")}</a>
                </nav>
            </div>
            {move || m.stale().get().then(|| view! {
                <p class="stale" data-testid="stale" role="status"><span aria-hidden="true">"◷ "</span>{tr.t("stale-data")}</p>
            })}
            <Overview monitor=m budget=data.account.clone() initial=data.overview.clone()/>
            <h2 class="section-title">{tr.t("admin-title")}</h2>
            <div class="filters">
                <label>
                    <span>{tr.t("admin-filter")}</span>
                    <input type="search" data-testid="filter" placeholder=tr.t("admin-filter-placeholder")
                        prop:value=move || query.get() on:input=on_search/>
                </label>
                <label>
                    <span>{tr.t("admin-filter-status")}</span>
                    <select data-testid="status-filter" on:change=move |ev| {
                        let v = event_target_value(&ev);
                        status_filter.set(Status::ALL.into_iter().find(|s| s.as_str() == v));
                        load(query.get_untracked(), vec![None]);
                    }>
                        <option value="">{tr.t("admin-filter-any")}</option>
                        {status_options}
                    </select>
                </label>
            </div>
            <div class="table-wrap">
                <table class="admin-table" data-testid="workspaces">
                    <caption class="visually-hidden">{tr.t("admin-title")}</caption>
                    <thead>
                        <tr>
                            {header(SortKey::Workspace)}
                            {header(SortKey::Status)}
                            {header(SortKey::RequestsDay)}
                            {header(SortKey::TokensDay)}
                            {header(SortKey::SpendDay)}
                            {header(SortKey::SpendMonth)}
                            <th scope="col">{tr.t("admin-col-last_error")}</th>
                        </tr>
                    </thead>
                    <tbody>
                        <For each=move || rows.get() key=|r| r.workspace.clone() let:row>
                            <AdminRow id=row.workspace.clone() monitor=m tr=tr/>
                        </For>
                    </tbody>
                </table>
                {move || rows.with(|r| r.is_empty()).then(|| view! { <p class="muted">{tr.t("admin-empty")}</p> })}
            </div>
            <nav class="pager" aria-label=tr.t("admin-paging") data-testid="pager">
                <button class="button secondary" data-testid="page-previous" on:click=previous
                    disabled=move || loading.get() || cursors.with(|c| c.len() <= 1)>
                    {tr.t("admin-page-previous")}
                </button>
                <span class="muted" data-testid="page-range" aria-live="polite">{range}</span>
                <button class="button secondary" data-testid="page-next" on:click=next
                    disabled=move || loading.get() || page.with(|p| p.next_cursor.is_none())>
                    {tr.t("admin-page-next")}
                </button>
                {move || loading.get().then(|| view! { <span class="muted small" data-testid="page-loading">{tr.t("admin-page-loading")}</span> })}
            </nav>
            {move || failed.get().then(|| view! { <p class="reset-outcome failed" role="status" data-testid="page-failed">{tr.t("admin-page-failed")}</p> })}
        </main>
        <ToastStack monitor=m/>
    }
    .into_any()
}

#[component]
fn AdminRow(id: String, monitor: QuotaMonitor, tr: Tr) -> impl IntoView {
    let key = id.clone();
    let report = Signal::derive(move || {
        monitor
            .reports
            .with(|r| r.get(&key).map(|t| t.report.clone()))
    });
    let get = move |f: fn(&StatusReport) -> String| {
        move || report.with(|r| r.as_ref().map(f).unwrap_or_default())
    };
    let status = Signal::derive(move || {
        report.with(|r| r.as_ref().map(|r| r.status).unwrap_or(Status::Normal))
    });
    let name = get(|r| r.name.clone());
    let spend_day = move || {
        report.with(|r| {
            r.as_ref()
                .map(|r| tr.usd(r.usage.cost_usd_day))
                .unwrap_or_default()
        })
    };
    let spend_month = move || {
        report.with(|r| {
            r.as_ref()
                .map(|r| tr.usd(r.usage.cost_usd_month))
                .unwrap_or_default()
        })
    };
    let last_error = move || {
        report
            .with(|r| r.as_ref().and_then(|r| r.last_error.clone()))
            .unwrap_or_else(|| "—".into())
    };
    view! {
        <tr data-testid="workspace-row" data-workspace=id.clone()>
            <th scope="row">
                <a href=format!("/admin/workspaces/{id}")>{name}</a>
                <span class="muted small block">{id.clone()}</span>
            </th>
            <td data-testid="row-status"><StatusPill status=status/></td>
            <td><UsageBar kind=LimitKind::RequestsPerDay report=report compact=true/></td>
            <td><UsageBar kind=LimitKind::TokensPerDay report=report compact=true/></td>
            <td class="num">{spend_day}</td>
            <td class="num">{spend_month}</td>
            <td class="small">{last_error}</td>
        </tr>
    }
}

#[component]
pub fn DetailPage() -> impl IntoView {
    let tr = use_tr();
    let loader = Loader::from_context(tr.locale());
    #[cfg(feature = "ssr")]
    super::guard(&loader, true);
    let params = use_params_map();
    let data = Resource::new(
        move || params.with(|p| p.get("id").unwrap_or_default()),
        move |id| sendable(loader.clone().detail(id)),
    );
    when_loaded(data, |d| view! { <DetailView data=d/> }.into_any(), None)
}

fn fmt_int(tr: Tr, v: f64) -> String {
    tr.int(v.max(0.0).round() as u64)
}

fn fmt_usd(tr: Tr, v: f64) -> String {
    tr.usd(v)
}

fn series(rows: &[Option<&UsageRow>], f: fn(&UsageRow) -> f64) -> Vec<f64> {
    rows.iter().map(|r| r.map(f).unwrap_or(0.0)).collect()
}

#[component]
fn DetailView(data: DetailData) -> impl IntoView {
    let tr = use_tr();
    let id = data.status.workspace.clone();
    let m = use_quota_monitor(MonitorOptions {
        workspace: Some(id.clone()),
        locale: tr.locale(),
        initial: vec![data.status.clone()],
        initial_notifications: data.notifications.clone(),
        toasts: true,
    });
    let status = m.status();
    let status_value = Signal::derive(move || {
        status.with(|s| s.as_ref().map(|s| s.status).unwrap_or(Status::Normal))
    });
    let name = move || status.with(|s| s.as_ref().map(|s| s.name.clone()).unwrap_or_default());
    // Chart slots come from the data's own time, so server and browser draw the same bars.
    let now = data.generated_at;
    let hourly = hourly_slots(&data.hourly, now, HOURS);
    let daily = daily_slots(&data.daily, now.date_naive(), DAYS);
    let h_rows: Vec<Option<&UsageRow>> = hourly.iter().map(|(_, r)| *r).collect();
    let d_rows: Vec<Option<&UsageRow>> = daily.iter().map(|(_, r)| *r).collect();
    let h_labels: Vec<String> = hourly
        .iter()
        .map(|(t, _)| t.format("%H:00").to_string())
        .collect();
    let d_labels: Vec<String> = daily.iter().map(|(d, _)| tr.date(*d)).collect();
    let tokens = |r: &UsageRow| (r.input_tokens + r.output_tokens) as f64;
    let charts = view! {
        <div class="charts">
            <BarChart title=tr.t("chart-hourly-requests") values=series(&h_rows, |r| r.requests as f64) labels=h_labels.clone() format=fmt_int testid="chart-hourly-requests"/>
            <BarChart title=tr.t("chart-hourly-tokens") values=series(&h_rows, tokens) labels=h_labels.clone() format=fmt_int testid="chart-hourly-tokens"/>
            <BarChart title=tr.t("chart-hourly-cost") values=series(&h_rows, |r| r.cost_usd) labels=h_labels format=fmt_usd testid="chart-hourly-cost"/>
            <BarChart title=tr.t("chart-daily-requests") values=series(&d_rows, |r| r.requests as f64) labels=d_labels.clone() format=fmt_int testid="chart-daily-requests"/>
            <BarChart title=tr.t("chart-daily-tokens") values=series(&d_rows, tokens) labels=d_labels.clone() format=fmt_int testid="chart-daily-tokens"/>
            <BarChart title=tr.t("chart-daily-cost") values=series(&d_rows, |r| r.cost_usd) labels=d_labels format=fmt_usd testid="chart-daily-cost"/>
        </div>
    };
    view! {
        <Header session=data.session.clone() connection=m.connection/>
        <main class="page" data-testid="detail-page">
            <p><a href="/admin">{tr.t("detail-back")}</a></p>
            <div class="page-title">
                <h1>{name}</h1>
                <StatusPill status=status_value/>
                <ResetButton workspace=id.clone() monitor=m/>
            </div>
            <Banner monitor=m/>
            <DowngradeNotice report=status/>
            <div class="grid">
                <section class="card wide">
                    <h2>{tr.t("usage-title")}</h2>
                    <UsageBars report=status/>
                    <NextResetTimes report=status/>
                </section>
                <section class="card wide">
                    <h2>{tr.t("history-title")}</h2>
                    {charts}
                </section>
                <section class="card">
                    <h2>{tr.t("upstream-title")}</h2>
                    <Upstream upstream=m.upstream() now_ms=m.now_ms/>
                </section>
                <section class="card">
                    <h2>{tr.t("notifications-title")}</h2>
                    <NotificationList monitor=m/>
                </section>
                <section class="card">
                    <h2>{tr.t("rules-title")}</h2>
                    <AlertRulesForm workspace=id.clone() limits=data.status.limits.clone()/>
                </section>
                <section class="card wide" aria-labelledby="policies-h">
                    <h2 id="policies-h">{tr.t("policies-title")}</h2>
                    <PoliciesForm workspace=id.clone() monitor=m initial=data.status.limits.clone()/>
                </section>
            </div>
        </main>
        <ToastStack monitor=m/>
    }
    .into_any()
}

/// Reset with an inline confirmation step.
#[component]
fn ResetButton(workspace: String, monitor: QuotaMonitor) -> impl IntoView {
    let tr = use_tr();
    let confirming = RwSignal::new(false);
    let outcome = RwSignal::new(None::<(bool, String)>);
    let ws = StoredValue::new(workspace);
    let do_reset = move |_| {
        confirming.set(false);
        #[cfg(not(feature = "ssr"))]
        leptos::task::spawn_local(async move {
            let body = serde_json::json!({ "workspace": ws.get_value() });
            match crate::data::browser::send_json("POST", "/api/quota/reset", &body).await {
                Ok((200, _)) => outcome.set(Some((true, tr.t("reset-done")))),
                _ => outcome.set(Some((false, tr.t("reset-failed")))),
            }
        });
        let _ = (ws, monitor);
    };
    view! {
        <div class="reset">
            <Show when=move || confirming.get() fallback=move || view! {
                <button class="button danger" data-testid="reset" on:click=move |_| { outcome.set(None); confirming.set(true) }>
                    {tr.t("reset-button")}
                </button>
            }>
                <div class="confirm" role="alertdialog" aria-labelledby="reset-q" data-testid="reset-confirm">
                    <p id="reset-q">{tr.t("reset-confirm-question")}</p>
                    <button class="button danger" data-testid="reset-yes" on:click=do_reset>{tr.t("reset-confirm-yes")}</button>
                    <button class="button secondary" data-testid="reset-no" on:click=move |_| confirming.set(false)>{tr.t("reset-confirm-no")}</button>
                </div>
            </Show>
            {move || outcome.get().map(|(ok, text)| view! {
                <p class=if ok { "reset-outcome ok" } else { "reset-outcome failed" } role="status" data-testid="reset-outcome">{text}</p>
            })}
        </div>
    }
}
