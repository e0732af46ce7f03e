//! The admin page's overview: the OpenAI account's status and headroom, spend today and this
//! month across every workspace, the workspaces that spend most and those on course to use up
//! a limit, and the latest alerts. Live: it reads the admin monitor.

use leptos::prelude::*;

use crate::components::{NotificationList, StatusPill, Upstream};
use crate::monitor::QuotaMonitor;
use crate::tr::use_tr;
use crate::types::{AccountBudgetReport, Scope, Status, StatusReport};

/// How many workspaces each top list shows.
const TOP: usize = 5;

/// The account's own status: the greatest status any workspace has for an account-wide cause.
fn account_status(reports: &[StatusReport]) -> (Status, Option<String>) {
    reports
        .iter()
        .filter(|r| r.scope == Some(Scope::Account))
        .max_by_key(|r| r.status)
        .map_or((Status::Normal, None), |r| {
            (r.status, Some(r.message.clone()))
        })
}

#[component]
pub fn Overview(monitor: QuotaMonitor, budget: AccountBudgetReport) -> impl IntoView {
    let tr = use_tr();
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
    let reports = Memo::new(move |_| {
        monitor
            .reports
            .with(|r| r.values().map(|t| t.report.clone()).collect::<Vec<_>>())
    });
    let account = Memo::new(move |_| reports.with(|r| account_status(r)));
    let account_pill = Signal::derive(move || account.get().0);
    let upstream =
        Signal::derive(move || reports.with(|r| r.iter().find_map(|r| r.upstream.clone())));
    let total = move |f: fn(&StatusReport) -> f64| {
        move || tr.usd(reports.with(|r| r.iter().map(f).sum::<f64>()))
    };
    let top_spend = move || {
        let mut r: Vec<(String, String, f64)> = reports.with(|r| {
            r.iter()
                .filter(|r| r.usage.cost_usd_day > 0.0)
                .map(|r| (r.workspace.clone(), r.name.clone(), r.usage.cost_usd_day))
                .collect()
        });
        r.sort_by(|a, b| b.2.total_cmp(&a.2));
        r.truncate(TOP);
        if r.is_empty() {
            return view! { <p class="muted">{tr.t("overview-no-spend")}</p> }.into_any();
        }
        view! {
            <ol class="top-list" data-testid="top-spend">
                {r.into_iter().map(|(id, name, usd)| view! {
                    <li><a href=format!("/admin/workspaces/{id}")>{name}</a>" "<span class="num">{tr.usd(usd)}</span></li>
                }).collect_view()}
            </ol>
        }
        .into_any()
    };
    let burning = move || {
        let mut r: Vec<(String, String, chrono::DateTime<chrono::Utc>, String)> =
            reports.with(|r| {
                r.iter()
                    .flat_map(|r| {
                        r.forecasts.iter().filter(|f| f.before_reset).map(|f| {
                            let limit = tr.t(&format!("usage-label-{}", f.limit.as_str()));
                            (
                                r.workspace.clone(),
                                r.name.clone(),
                                f.runs_out_at,
                                format!("{limit}: {}", f.text),
                            )
                        })
                    })
                    .collect()
            });
        r.sort_by_key(|x| x.2);
        r.truncate(TOP);
        if r.is_empty() {
            return view! { <p class="muted">{tr.t("overview-no-burn")}</p> }.into_any();
        }
        view! {
            <ol class="top-list" data-testid="top-burn">
                {r.into_iter().map(|(id, name, _, text)| view! {
                    <li><a href=format!("/admin/workspaces/{id}")>{name}</a>" "<span class="muted">{text}</span></li>
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
                    <dd><span data-testid="spend-today">{total(|r| r.usage.cost_usd_day)}</span>{of_budget(budget_day)}</dd>
                    <dt>{tr.t("overview-spend-month")}</dt>
                    <dd><span data-testid="spend-month">{total(|r| r.usage.cost_usd_month)}</span>{of_budget(budget_month)}</dd>
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
