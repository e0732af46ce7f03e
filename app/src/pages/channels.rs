//! `/admin/channels`: the alert channels (webhook, Slack-compatible, email) with, per channel,
//! a "send a test alert" button, its delivery log and (for channels added here) delete; and
//! the form that adds a channel, which shows a generated webhook secret once. Admin sessions
//! only.

use leptos::prelude::*;

use super::{sendable, when_loaded};
use crate::components::Header;
use crate::data::{ChannelsData, Loader};
use crate::tr::{use_tr, Tr};
use crate::types::{ChannelInfo, ChannelOrigin, DeliveryOutcome, DeliveryRecord, Level};

#[component]
pub fn ChannelsPage() -> impl IntoView {
    let tr = use_tr();
    let loader = Loader::from_context(tr.locale());
    #[cfg(feature = "ssr")]
    super::guard(&loader, true);
    let data = Resource::new(|| (), move |_| sendable(loader.clone().channels()));
    when_loaded(data, |d| view! { <ChannelsView data=d/> }.into_any(), None)
}

/// Where a channel sends: its URL (as the server shows it) or its addresses.
fn target(c: &ChannelInfo) -> String {
    match &c.url {
        Some(u) => u.clone(),
        None => c.to.join(", "),
    }
}

fn outcome_key(o: DeliveryOutcome) -> &'static str {
    match o {
        DeliveryOutcome::Delivered => "delivery-delivered",
        DeliveryOutcome::WillRetry => "delivery-will_retry",
        DeliveryOutcome::GaveUp => "delivery-gave_up",
    }
}

#[component]
fn ChannelsView(data: ChannelsData) -> impl IntoView {
    let tr = use_tr();
    let channels = RwSignal::new(data.channels.channels);
    // Effects run in the browser only: the page says when its buttons work.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    view! {
        <Header session=data.session.clone()/>
        <main class="page" data-testid="channels-page" data-hydrated=move || hydrated.get().to_string()>
            <p><a href="/admin">{tr.t("detail-back")}</a></p>
            <div class="page-title"><h1>{tr.t("channels-title")}</h1></div>
            <p class="muted">{tr.t("channels-intro")}</p>
            {move || channels.with(|c| c.is_empty()).then(|| view! { <p class="muted" data-testid="channels-empty">{tr.t("channels-empty")}</p> })}
            <div class="channel-list">
                <For each=move || channels.get() key=|c| c.id.clone() let:c>
                    <ChannelCard channel=c channels=channels tr=tr/>
                </For>
            </div>
            <section class="card">
                <h2>{tr.t("channels-add")}</h2>
                <AddChannel channels=channels/>
            </section>
        </main>
    }
    .into_any()
}

#[component]
fn ChannelCard(
    channel: ChannelInfo,
    channels: RwSignal<Vec<ChannelInfo>>,
    tr: Tr,
) -> impl IntoView {
    let id = StoredValue::new(channel.id.clone());
    let log = RwSignal::new(None::<Vec<DeliveryRecord>>);
    let message = RwSignal::new(None::<(bool, String)>);
    let confirming = RwSignal::new(false);
    let levels = channel
        .levels
        .iter()
        .map(|l| tr.t(&format!("level-{}", l.as_str())))
        .collect::<Vec<_>>()
        .join(", ");
    let workspaces = if channel.workspaces.is_empty() {
        tr.t("channels-all-workspaces")
    } else {
        channel.workspaces.join(", ")
    };
    let from_file = channel.origin == ChannelOrigin::File;
    // Loads the log; with `until`, polls (bounded) until a delivery of that outbox row is in it.
    let load = move |until: Option<i64>| {
        #[cfg(not(feature = "ssr"))]
        leptos::task::spawn_local(async move {
            let url = format!(
                "/api/admin/channels/{}/deliveries?limit=20",
                crate::data::browser::enc(&id.get_value())
            );
            for _ in 0..40 {
                match crate::data::browser::get_json::<crate::types::DeliveryList>(&url).await {
                    Ok(l) => {
                        let done =
                            until.is_none_or(|o| l.deliveries.iter().any(|d| d.outbox_id == o));
                        log.set(Some(l.deliveries));
                        if done {
                            return;
                        }
                    }
                    Err(_) => {
                        message.set(Some((false, tr.t("channels-log-failed"))));
                        return;
                    }
                }
                gloo_timers::future::TimeoutFuture::new(250).await;
            }
        });
        #[cfg(feature = "ssr")]
        let _ = (until, id, log);
    };
    let test = move |_| {
        message.set(None);
        #[cfg(not(feature = "ssr"))]
        leptos::task::spawn_local(async move {
            let url = format!(
                "/api/admin/channels/{}/test",
                crate::data::browser::enc(&id.get_value())
            );
            match crate::data::browser::send_json("POST", &url, &serde_json::json!({})).await {
                Ok((202, text)) => {
                    message.set(Some((true, tr.t("channels-test-queued"))));
                    let outbox = serde_json::from_str::<crate::types::TestAlertQueued>(&text)
                        .map(|q| q.outbox_id)
                        .ok();
                    load(outbox);
                }
                _ => message.set(Some((false, tr.t("channels-test-failed")))),
            }
        });
    };
    let delete = move |_| {
        confirming.set(false);
        #[cfg(not(feature = "ssr"))]
        leptos::task::spawn_local(async move {
            let url = format!(
                "/api/admin/channels/{}",
                crate::data::browser::enc(&id.get_value())
            );
            match crate::data::browser::send_json("DELETE", &url, &serde_json::json!({})).await {
                Ok((204, _)) => channels.update(|c| c.retain(|c| c.id != id.get_value())),
                _ => message.set(Some((false, tr.t("channels-delete-failed")))),
            }
        });
        #[cfg(feature = "ssr")]
        let _ = channels;
    };
    view! {
        <article class="card channel" data-testid="channel" data-channel=channel.id.clone()>
            <h2><code>{channel.id.clone()}</code>" "<span class="muted">{tr.t(&format!("channel-kind-{}", channel.kind))}</span></h2>
            <dl class="totals">
                <dt>{tr.t("channels-target")}</dt><dd>{target(&channel)}</dd>
                <dt>{tr.t("channels-levels")}</dt><dd>{levels}</dd>
                <dt>{tr.t("channels-workspaces")}</dt><dd>{workspaces}</dd>
                <dt>{tr.t("channels-locale")}</dt><dd>{channel.locale.clone()}" · "{channel.time_zone.clone()}</dd>
                <dt>{tr.t("channels-origin")}</dt>
                <dd>{tr.t(if from_file { "channels-origin-file" } else { "channels-origin-api" })}</dd>
            </dl>
            <div class="actions">
                <button class="button" data-testid="channel-test" on:click=test>{tr.t("channels-test")}</button>
                <button class="button secondary" data-testid="channel-log" on:click=move |_| load(None)>{tr.t("channels-log")}</button>
                {(!from_file).then(|| view! {
                    <Show when=move || confirming.get() fallback=move || view! {
                        <button class="button danger" data-testid="channel-delete" on:click=move |_| confirming.set(true)>{tr.t("channels-delete")}</button>
                    }>
                        <span role="alertdialog" class="confirm">
                            {tr.t("channels-delete-question")}" "
                            <button class="button danger" data-testid="channel-delete-yes" on:click=delete>{tr.t("reset-confirm-yes")}</button>
                            <button class="button secondary" on:click=move |_| confirming.set(false)>{tr.t("reset-confirm-no")}</button>
                        </span>
                    </Show>
                })}
            </div>
            {move || message.get().map(|(ok, text)| view! {
                <p class=if ok { "reset-outcome ok" } else { "reset-outcome failed" } role="status" data-testid="channel-message">{text}</p>
            })}
            {move || log.get().map(|entries| view! { <DeliveryLog entries=entries tr=tr/> })}
        </article>
    }
}

#[component]
fn DeliveryLog(entries: Vec<DeliveryRecord>, tr: Tr) -> impl IntoView {
    if entries.is_empty() {
        return view! { <p class="muted" data-testid="deliveries-empty">{tr.t("channels-log-empty")}</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="admin-table" data-testid="deliveries">
                <caption>{tr.t("channels-log")}</caption>
                <thead><tr>
                    <th scope="col">{tr.t("audit-col-at")}</th>
                    <th scope="col">{tr.t("delivery-attempt")}</th>
                    <th scope="col">{tr.t("delivery-outcome")}</th>
                    <th scope="col">{tr.t("delivery-reply")}</th>
                    <th scope="col">{tr.t("delivery-latency")}</th>
                </tr></thead>
                <tbody>
                    {entries.into_iter().map(|d| {
                        let reply = match (d.http_status, d.smtp_code) {
                            (Some(h), _) => format!("HTTP {h}"),
                            (None, Some(c)) => format!("SMTP {c}"),
                            (None, None) => String::new(),
                        };
                        let reply = match &d.detail {
                            Some(detail) if !detail.is_empty() => format!("{reply} {detail}"),
                            _ => reply,
                        };
                        view! {
                            <tr data-testid="delivery" data-outcome=outcome_key(d.outcome)>
                                <td><time datetime=d.at.to_rfc3339()>{tr.datetime(d.at)}</time></td>
                                <td>{d.attempt}</td>
                                <td>{tr.t(outcome_key(d.outcome))}</td>
                                <td>{reply}</td>
                                <td>{tr.ta("delivery-ms", &[("ms", crate::types::ArgValue::Number(d.latency_ms as f64))])}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// The kinds of channel the form offers.
const KINDS: [&str; 3] = ["webhook", "slack", "email"];

#[component]
fn AddChannel(channels: RwSignal<Vec<ChannelInfo>>) -> impl IntoView {
    let tr = use_tr();
    let id = RwSignal::new(String::new());
    let kind = RwSignal::new("webhook".to_string());
    let url = RwSignal::new(String::new());
    let to = RwSignal::new(String::new());
    let locale = RwSignal::new(tr.locale().code().to_string());
    let levels: Vec<(Level, RwSignal<bool>)> = [Level::Info, Level::Warning, Level::Error]
        .into_iter()
        .map(|l| (l, RwSignal::new(l != Level::Info)))
        .collect();
    let levels = StoredValue::new(levels);
    let outcome = RwSignal::new(None::<(bool, String)>);
    let secret = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        outcome.set(None);
        secret.set(None);
        let chosen: Vec<&str> = levels.with_value(|l| {
            l.iter()
                .filter(|(_, on)| on.get_untracked())
                .map(|(l, _)| l.as_str())
                .collect()
        });
        let k = kind.get_untracked();
        let mut body = serde_json::json!({
            "id": id.get_untracked().trim(),
            "kind": k,
            "levels": chosen,
            "locale": locale.get_untracked(),
        });
        if k == "email" {
            let list: Vec<String> = to
                .get_untracked()
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            body["to"] = serde_json::json!(list);
        } else {
            body["url"] = serde_json::json!(url.get_untracked().trim());
        }
        #[cfg(not(feature = "ssr"))]
        leptos::task::spawn_local(async move {
            match crate::data::browser::send_json("POST", "/api/admin/channels", &body).await {
                Ok((201, text)) => {
                    match serde_json::from_str::<crate::types::ChannelCreated>(&text) {
                        Ok(created) => {
                            channels.update(|c| c.push(created.channel));
                            secret.set(created.secret);
                            outcome.set(Some((true, tr.t("channels-added"))));
                            id.set(String::new());
                        }
                        Err(_) => outcome.set(Some((false, tr.t("channels-add-failed")))),
                    }
                }
                Ok((_, text)) => {
                    let message = serde_json::from_str::<crate::types::ErrorBody>(&text)
                        .map(|e| e.error.message)
                        .unwrap_or_default();
                    outcome.set(Some((
                        false,
                        format!("{} {message}", tr.t("channels-add-failed")),
                    )));
                }
                Err(_) => outcome.set(Some((false, tr.t("channels-add-failed")))),
            }
        });
        #[cfg(feature = "ssr")]
        let _ = (body, channels);
    };
    let level_boxes = levels.with_value(|l| {
        l.iter()
            .map(|(level, on)| {
                let on = *on;
                let name = format!("level-{}", level.as_str());
                let (for_id, id, testid) =
                    (format!("new-{name}"), format!("new-{name}"), format!("new-{name}"));
                view! {
                    <label class="check" for=for_id>
                        <input type="checkbox" id=id data-testid=testid
                            prop:checked=move || on.get() on:change=move |ev| on.set(event_target_checked(&ev))/>
                        {tr.t(&name)}
                    </label>
                }
            })
            .collect_view()
    });
    let kinds = KINDS
        .into_iter()
        .map(|k| view! { <option value=k>{tr.t(&format!("channel-kind-{k}"))}</option> })
        .collect_view();
    let locales = ["en", "de", "es", "it"]
        .into_iter()
        .map(|l| view! { <option value=l selected=move || locale.get() == l>{l}</option> })
        .collect_view();
    view! {
        <form class="rules" data-testid="add-channel" on:submit=submit>
            <label for="new-id">{tr.t("channels-id")}</label>
            <input id="new-id" data-testid="new-id" required prop:value=move || id.get()
                on:input=move |ev| id.set(event_target_value(&ev))/>
            <label for="new-kind">{tr.t("channels-kind")}</label>
            <select id="new-kind" data-testid="new-kind" on:change=move |ev| kind.set(event_target_value(&ev))>{kinds}</select>
            <Show when=move || kind.get() != "email" fallback=move || view! {
                <label for="new-to">{tr.t("channels-to")}</label>
                <input id="new-to" data-testid="new-to" type="text" prop:value=move || to.get()
                    on:input=move |ev| to.set(event_target_value(&ev))/>
            }>
                <label for="new-url">{tr.t("channels-url")}</label>
                <input id="new-url" data-testid="new-url" type="url" prop:value=move || url.get()
                    on:input=move |ev| url.set(event_target_value(&ev))/>
            </Show>
            <fieldset>
                <legend>{tr.t("channels-levels")}</legend>
                {level_boxes}
            </fieldset>
            <label for="new-locale">{tr.t("channels-locale")}</label>
            <select id="new-locale" data-testid="new-locale" on:change=move |ev| locale.set(event_target_value(&ev))>{locales}</select>
            <button class="button" type="submit" data-testid="add-channel-submit">{tr.t("channels-add")}</button>
            {move || outcome.get().map(|(ok, text)| view! {
                <p class=if ok { "reset-outcome ok" } else { "reset-outcome failed" } role="status" data-testid="add-channel-outcome">{text}</p>
            })}
            {move || secret.get().map(|s| view! {
                <div class="secret-once" data-testid="channel-secret">
                    <p>{tr.t("channels-secret-once")}</p>
                    <code>{s}</code>
                </div>
            })}
        </form>
    }
}
