//! The admin page's overview: the OpenAI account's status and headroom, spend today and this
//! month across every workspace, the workspaces that spend most and those on course to use up
//! a limit, and the latest alerts. The sums and top lists are the server's
//! (`GET /api/admin/overview`: the page holds one page of workspaces, not every one), refreshed
//! every ten seconds; the account's status and headroom also follow the page's live reports,
//! and the alerts the admin monitor.

use leptos::prelude::*;

use crate::components::{NotificationList, StatusPill, Upstream};
use crate::monitor::QuotaMonitor;
use crate::tr::use_tr;
use crate::types::{AccountBudgetReport, AdminOverview, Scope, Status, StatusReport};

/// How often the browser asks the server for a fresh overview (sums over every workspace are
/// the server's: the page holds one page of workspaces, not every one).
#[cfg_attr(feature = "ssr", allow(dead_code))]
const REFRESH_MS: u64 = 10_000;

/// The account's own status as the page's live reports show it: the greatest status any of
/// them has for an account-wide cause.
fn account_status(reports: &[&StatusReport]) -> Option<(Status, String)> {
    reports
        .iter()
        .filter(|r| r.scope == Some(Scope::Account))
        .max_by_key(|r| r.status)
        .map(|r| (r.status, r.message.clone()))
}

#[component]
pub fn Overview(
    monitor: QuotaMonitor,
    budget: AccountBudgetReport,
    initial: AdminOverview,
) -> impl IntoView {
    let tr = use_tr();
    let overview = RwSignal::new(initial);
    #[cfg(not(feature = "ssr"))]
    {
        // Refreshed every REFRESH_MS on the page clock; an answer that fails keeps the last.
        let last = StoredValue::new(monitor.now_ms.get_untracked());
        let locale = tr.locale();
        Effect::new(move |_| {
            let now = monitor.now_ms.get();
            if now.saturating_sub(last.get_value()) < REFRESH_MS {
                return;
            }
            last.set_value(now);
            leptos::task::spawn_local(async move {
                if let Ok(o) = crate::data::Loader::from_context(locale).overview().await {
                    overview.set(o);
                }
            });
        });
    }
    // "of $500" under a total when the account has a budget for it.
    let of_budget = move |b: Option<f64>| {
        b.map(|b| {
            view! {
                <span class="muted" data-testid="account-budget">
                    " "{tr.ta("overview-of-budget", &[("budget", crate::types::ArgValue::Text(tr.usd(b)))])}
                </span>
            }
        })
    };
    let (budget_day, budget_month) = (budget.budget_usd_per_day, budget.budget_usd_per_month);
    let account_forecasts = budget
        .forecasts
        .iter()
        .filter(|f| f.before_reset)
        .map(|f| {
            let limit = tr.t(&format!("usage-label-{}", f.limit.as_str()));
            let text = tr.ta(
                "overview-account-forecast",
                &[
                    ("limit", crate::types::ArgValue::Text(limit)),
                    ("forecast", crate::types::ArgValue::Text(f.text.clone())),
                ],
            );
            view! { <p class="usage-forecast soon" data-testid="account-forecast">{text}</p> }
        })
        .collect_view();
    // The account's status: the server's over every workspace, or a greater one a workspace
    // of the page shows live (it arrives before the next refresh).
    let account = Memo::new(move |_| {
        let live = monitor
            .reports
            .with(|r| account_status(&r.values().map(|t| &t.report).collect::<Vec<_>>()));
        overview.with(|o| {
            let server = (o.account_status, o.account_message.clone());
            match live {
                Some((s, m)) if s > server.0 => (s, Some(m)),
                _ => server,
            }
        })
    });
    let account_pill = Signal::derive(move || account.get().0);
    let upstream = Signal::derive(move || {
        monitor
            .reports
            .with(|r| r.values().find_map(|t| t.report.upstream.clone()))
            .or_else(|| overview.with(|o| o.upstream.clone()))
    });
    let total = move |f: fn(&AdminOverview) -> f64| move || tr.usd(overview.with(f));
    let top_spend = move || {
        let r = overview.with(|o| o.top_spend.clone());
        if r.is_empty() {
            return view! { <p class="muted">{tr.t("overview-no-spend")}</p> }.into_any();
        }
        view! {
            <ol class="top-list" data-testid="top-spend">
                {r.into_iter().map(|s| view! {
                    <li><a href=format!("/admin/workspaces/{}", s.workspace)>{s.name}</a>" "<span class="num">{tr.usd(s.cost_usd_day)}</span></li>
                }).collect_view()}
            </ol>
        }
        .into_any()
    };
    let burning = move || {
        let r = overview.with(|o| o.burning.clone());
        if r.is_empty() {
            return view! { <p class="muted">{tr.t("overview-no-burn")}</p> }.into_any();
        }
        view! {
            <ol class="top-list" data-testid="top-burn">
                {r.into_iter().map(|b| {
                    let limit = tr.t(&format!("usage-label-{}", b.forecast.limit.as_str()));
                    let text = format!("{limit}: {}", b.forecast.text);
                    view! {
                        <li><a href=format!("/admin/workspaces/{}", b.workspace)>{b.name}</a>" "<span class="muted">{text}</span></li>
                    }
                }).collect_view()}
            </ol>
        }
        .into_any()
    };
    view! {
        <section class="overview grid" data-testid="overview" aria-label=tr.t("overview-title")>
            <div class="card">
                <h2>{tr.t("overview-account")}</h2>
                <p data-testid="account-status"><StatusPill status=account_pill/></p>
                {move || account.get().1.map(|m| view! { <p>{m}</p> })}
                <Upstream upstream=upstream now_ms=monitor.now_ms/>
            </div>
            <div class="card">
                <h2>{tr.t("overview-spend")}</h2>
                <dl class="totals">
                    <dt>{tr.t("overview-spend-today")}</dt>
                    <dd><span data-testid="spend-today">{total(|o| o.cost_usd_day)}</span>{of_budget(budget_day)}</dd>
                    <dt>{tr.t("overview-spend-month")}</dt>
                    <dd><span data-testid="spend-month">{total(|o| o.cost_usd_month)}</span>{of_budget(budget_month)}</dd>
                </dl>
                {account_forecasts}
                <h3>{tr.t("overview-top-spend")}</h3>
                {top_spend}
            </div>
            <div class="card">
                <h2>{tr.t("overview-burn")}</h2>
                {burning}
            </div>
            <div class="card">
                <h2>{tr.t("overview-latest-alerts")}</h2>
                <NotificationList monitor=monitor/>
            </div>
        </section>
    }
}
