//! `/`: the signed-in workspace's view: status, banner, usage bars, upstream headroom, usage by
//! goal and task, and the notification panel, all live.

use leptos::prelude::*;

use super::{load_error_view, loading_view, sendable};
use crate::components::{
    Banner, Header, NotificationList, StatusPill, ToastStack, Upstream, UsageBars, UsageTable,
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
    view! {
        <Suspense fallback=loading_view>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(d) => view! { <WorkspaceView data=d/> }.into_any(),
                    Err(crate::data::LoadError::Forbidden) => {
                        view! { <leptos_router::components::Redirect path="/admin"/> }.into_any()
                    }
                    Err(e) => load_error_view(e),
                }
            })}
        </Suspense>
    }
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
            <div class="grid">
                <section class="card wide" aria-labelledby="usage-h">
                    <h2 id="usage-h">{tr.t("usage-title")}</h2>
                    <UsageBars report=status/>
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
                        <UsageTable rows=data.by_goal caption=tr.t("breakdown-by-goal") testid="by-goal"/>
                        <UsageTable rows=data.by_task caption=tr.t("breakdown-by-task") testid="by-task"/>
                    </div>
                </section>
            </div>
        </main>
        <ToastStack monitor=m/>
    }
    .into_any()
}
