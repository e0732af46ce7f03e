//! `/`: the signed-in workspace's view: status, banner, model downgrades in effect, usage bars
//! with the next resets, upstream headroom, usage by goal and task, and the notification panel,
//! all live.

use leptos::prelude::*;

use super::{sendable, when_loaded};
use crate::components::{
    Banner, DowngradeNotice, Header, NextResetTimes, NotificationList, StatusPill, ToastStack,
    Upstream, UsageBars, UsageTable,
};
use crate::data::{Loader, WorkspaceData};
use crate::monitor::{use_quota_monitor, MonitorOptions};
use crate::tr::use_tr;
use crate::types::Status;

#[component]
pub fn WorkspacePage() -> impl IntoView {
    let tr = use_tr();
    let loader = Loader::from_context(tr.locale());
    #[cfg(feature = "ssr")]
    super::guard(&loader, false);
    let data = Resource::new(|| (), move |_| sendable(loader.clone().workspace()));
    when_loaded(
        data,
        |d| view! { <WorkspaceView data=d/> }.into_any(),
        Some("/admin"),
    )
}

#[component]
fn WorkspaceView(data: WorkspaceData) -> impl IntoView {
    let tr = use_tr();
    let m = use_quota_monitor(MonitorOptions {
        workspace: Some(data.status.workspace.clone()),
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
    let message =
        move || status.with(|s| s.as_ref().map(|s| s.message.clone()).unwrap_or_default());
    let stale = m.stale();
    let by_goal = RwSignal::new(data.by_goal);
    let by_task = RwSignal::new(data.by_task);
    #[cfg(not(feature = "ssr"))]
    live::refresh_breakdown(
        m,
        Loader::from_context(tr.locale()),
        data.status.workspace.clone(),
        data.status.usage.requests_day,
        (by_goal, by_task),
    );
    view! {
        <Header session=data.session.clone() connection=m.connection/>
        <main class="page" data-testid="workspace-page">
            <div class="page-title">
                <h1>{name}</h1>
                <StatusPill status=status_value/>
            </div>
            <p class="status-message" data-testid="status-message">{message}</p>
            {move || stale.get().then(|| view! {
                <p class="stale" data-testid="stale" role="status">
                    <span aria-hidden="true">"◷ "</span>{tr.t("stale-data")}
                </p>
            })}
            <Banner monitor=m/>
            <DowngradeNotice report=status/>
            <div class="grid">
                <section class="card wide" aria-labelledby="usage-h">
                    <h2 id="usage-h">{tr.t("usage-title")}</h2>
                    <UsageBars report=status/>
                    <NextResetTimes report=status/>
                </section>
                <section class="card" aria-labelledby="upstream-h">
                    <h2 id="upstream-h">{tr.t("upstream-title")}</h2>
                    <p class="muted small">{tr.t("upstream-help")}</p>
                    <Upstream upstream=m.upstream() now_ms=m.now_ms/>
                </section>
                <section class="card" aria-labelledby="notifications-h">
                    <h2 id="notifications-h">{tr.t("notifications-title")}</h2>
                    <NotificationList monitor=m/>
                </section>
                <section class="card wide" aria-labelledby="breakdown-h">
                    <h2 id="breakdown-h">{tr.t("breakdown-title")}</h2>
                    <div class="two">
                        <UsageTable rows=by_goal caption=tr.t("breakdown-by-goal") testid="by-goal"/>
                        <UsageTable rows=by_task caption=tr.t("breakdown-by-task") testid="by-task"/>
                    </div>
                </section>
            </div>
        </main>
        <ToastStack monitor=m/>
    }
    .into_any()
}

/// Keeps the goal and task tables live in the browser.
#[cfg(not(feature = "ssr"))]
mod live {
    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::Duration;

    use leptos::prelude::*;

    use crate::data::Loader;
    use crate::monitor::QuotaMonitor;
    use crate::types::UsageRow;

    /// How often the tables may be fetched again. Each fetch is two grouped queries over the
    /// day's ledger, so they follow the live status at this pace rather than call by call.
    const EVERY: Duration = Duration::from_secs(3);

    /// Refetches the tables when the day's request count (pushed over the WebSocket) differs
    /// from the one they were loaded at; one fetch at a time, at most every [`EVERY`].
    pub(super) fn refresh_breakdown(
        m: QuotaMonitor,
        loader: Loader,
        workspace: String,
        loaded_at: u64,
        (by_goal, by_task): (RwSignal<Vec<UsageRow>>, RwSignal<Vec<UsageRow>>),
    ) {
        let usage = m.usage();
        let loaded_at = Rc::new(Cell::new(loaded_at));
        let busy = Rc::new(Cell::new(false));
        let tick = move || {
            let Some(now) = usage.get_untracked().map(|u| u.requests_day) else {
                return;
            };
            if now == loaded_at.get() || busy.get() {
                return;
            }
            busy.set(true);
            let (loader, ws, loaded_at, busy) = (
                loader.clone(),
                workspace.clone(),
                loaded_at.clone(),
                busy.clone(),
            );
            leptos::task::spawn_local(async move {
                if let Ok((goal, task)) = loader.breakdown(&ws).await {
                    loaded_at.set(now);
                    by_goal.try_set(goal);
                    by_task.try_set(task);
                }
                busy.set(false);
            });
        };
        if let Ok(handle) = set_interval_with_handle(tick, EVERY) {
            on_cleanup(move || handle.clear());
        }
    }
}
