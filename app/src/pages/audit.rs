//! `/admin/audit`: the audit trail of admin actions, newest first, with "older" paging and the
//! CSV export. Admin sessions only.

use leptos::prelude::*;

use super::{sendable, when_loaded};
use crate::components::Header;
use crate::data::{AuditData, Loader};
use crate::tr::use_tr;
use crate::types::AuditRecord;

#[component]
pub fn AuditPage() -> impl IntoView {
    let tr = use_tr();
    let loader = Loader::from_context(tr.locale());
    #[cfg(feature = "ssr")]
    super::guard(&loader, true);
    let data = Resource::new(|| (), move |_| sendable(loader.clone().audit()));
    when_loaded(data, |d| view! { <AuditView data=d/> }.into_any(), None)
}

/// A change as one line: `before → after` in JSON (secrets were left out by the server).
fn change(e: &AuditRecord) -> String {
    let show =
        |v: &Option<serde_json::Value>| v.as_ref().map_or("—".to_string(), |v| v.to_string());
    match (&e.before, &e.after) {
        (None, None) => String::new(),
        (None, after) => show(after),
        (before, None) => show(before),
        (before, after) => format!("{} → {}", show(before), show(after)),
    }
}

#[component]
fn AuditView(data: AuditData) -> impl IntoView {
    let tr = use_tr();
    let entries = RwSignal::new(data.audit.entries);
    let next = RwSignal::new(data.audit.next_before);
    let failed = RwSignal::new(false);
    let older = move |_| {
        let Some(before) = next.get_untracked() else {
            return;
        };
        #[cfg(not(feature = "ssr"))]
        {
            let loader = Loader::from_context(tr.locale());
            leptos::task::spawn_local(async move {
                match loader.audit_page(Some(before)).await {
                    Ok(page) => {
                        entries.update(|e| e.extend(page.entries));
                        next.set(page.next_before);
                    }
                    Err(_) => failed.set(true),
                }
            });
        }
        #[cfg(feature = "ssr")]
        let _ = (before, failed);
    };
    view! {
        <Header session=data.session.clone()/>
        <main class="page" data-testid="audit-page">
            <p><a href="/admin">{tr.t("detail-back")}</a></p>
            <div class="page-title">
                <h1>{tr.t("audit-title")}</h1>
                <a class="button secondary" href="/api/admin/audit.csv" download="quota-sentinel-audit.csv"
                    data-testid="audit-export">{tr.t("audit-export")}</a>
            </div>
            <div class="table-wrap">
                <table class="admin-table" data-testid="audit">
                    <caption class="visually-hidden">{tr.t("audit-title")}</caption>
                    <thead>
                        <tr>
                            <th scope="col">{tr.t("audit-col-at")}</th>
                            <th scope="col">{tr.t("audit-col-actor")}</th>
                            <th scope="col">{tr.t("audit-col-address")}</th>
                            <th scope="col">{tr.t("audit-col-action")}</th>
                            <th scope="col">{tr.t("audit-col-target")}</th>
                            <th scope="col">{tr.t("audit-col-change")}</th>
                        </tr>
                    </thead>
                    <tbody>
                        <For each=move || entries.get() key=|e| e.id let:e>
                            <tr data-testid="audit-row" data-action=e.action.clone()>
                                <td><time datetime=e.at.to_rfc3339()>{tr.datetime(e.at)}</time></td>
                                <td>{e.actor.clone()}</td>
                                <td>{e.address.clone().unwrap_or_default()}</td>
                                <td><code>{e.action.clone()}</code></td>
                                <td>{e.target.clone()}</td>
                                <td class="audit-change"><code>{change(&e)}</code></td>
                            </tr>
                        </For>
                    </tbody>
                </table>
                {move || entries.with(|e| e.is_empty()).then(|| view! { <p class="muted">{tr.t("audit-empty")}</p> })}
            </div>
            {move || next.get().is_some().then(|| view! {
                <button class="button secondary" data-testid="audit-older" on:click=older>{tr.t("audit-older")}</button>
            })}
            {move || failed.get().then(|| view! { <p class="reset-outcome failed" role="status">{tr.t("audit-failed")}</p> })}
        </main>
    }
    .into_any()
}
