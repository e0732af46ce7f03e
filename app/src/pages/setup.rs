//! `/setup`: the first run. The gateway's one-time setup link (`/setup/begin?token=…`) signs the
//! browser in as the setup admin and lands here, without the token in the address bar. The page
//! creates the first workspace, mints its key, and shows the two lines an OpenAI SDK reads
//! (`OPENAI_BASE_URL`, `OPENAI_API_KEY`). Without an admin session it says why the link no
//! longer works (`?error=used|expired|invalid`) and what to do.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::{load_error_view, loading_view, sendable};
use crate::components::Header;
use crate::data::{LoadError, Loader};
use crate::tr::use_tr;
use crate::types::ArgValue;

#[component]
pub fn SetupPage() -> impl IntoView {
    let tr = use_tr();
    let loader = Loader::from_context(tr.locale());
    let session = Resource::new(
        || (),
        move |_| {
            let l = loader.clone();
            sendable(async move { l.session().await })
        },
    );
    view! {
        <Suspense fallback=loading_view>
            {move || Suspend::new(async move {
                match session.await {
                    Ok(s) if s.is_admin() => view! { <SetupForm/> }.into_any(),
                    Ok(_) => load_error_view(LoadError::Forbidden),
                    Err(LoadError::Unauthorized) => view! { <SetupClosed/> }.into_any(),
                    Err(e) => load_error_view(e),
                }
            })}
        </Suspense>
    }
}

/// No admin session: the link was used, expired, or is not this gateway's.
#[component]
fn SetupClosed() -> impl IntoView {
    let tr = use_tr();
    let reason = use_query_map().with_untracked(|q| q.get("error"));
    let why = match reason.as_deref() {
        Some("used") => tr.t("setup-closed-used"),
        Some("expired") => tr.t("setup-closed-expired"),
        _ => tr.t("setup-closed-invalid"),
    };
    view! {
        <Header/>
        <main class="page narrow" data-testid="setup-closed">
            <div class="card">
                <h1>{tr.t("setup-closed-title")}</h1>
                <p data-testid="setup-closed-reason">{why}</p>
                <p>{tr.t("setup-closed-next")}</p>
                <p><a href="/login">{tr.t("setup-closed-sign-in")}</a></p>
            </div>
        </main>
    }
}

/// What the form made: the workspace's name and its new key.
#[derive(Clone)]
struct Created {
    name: String,
    key: String,
}

#[component]
fn SetupForm() -> impl IntoView {
    let tr = use_tr();
    let id = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let created = RwSignal::new(None::<Created>);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let ws = id.get_untracked().trim().to_string();
        let display = name.get_untracked().trim().to_string();
        busy.set(true);
        error.set(None);
        #[cfg(not(feature = "ssr"))]
        leptos::task::spawn_local(async move {
            use crate::data::browser::send_json;
            let mut body = serde_json::json!({ "id": ws });
            if !display.is_empty() {
                body["name"] = serde_json::Value::String(display.clone());
            }
            let made = match send_json("POST", "/api/admin/workspaces", &body).await {
                Ok((201, _)) => {
                    let url = format!("/api/admin/workspaces/{ws}/keys");
                    send_json("POST", &url, &serde_json::json!({})).await
                }
                other => other,
            };
            busy.set(false);
            match made {
                Ok((201, text)) => match serde_json::from_str::<crate::types::MintedKey>(&text) {
                    Ok(crate::types::MintedKey { key, .. }) => created.set(Some(Created {
                        name: if display.is_empty() { ws } else { display },
                        key,
                    })),
                    Err(_) => error.set(Some(tr.t("setup-error-failed"))),
                },
                Ok((400, _)) => error.set(Some(tr.t("setup-error-id"))),
                Ok((409, _)) => error.set(Some(tr.t("setup-error-exists"))),
                Ok((401 | 403, _)) => error.set(Some(tr.t("setup-error-session"))),
                _ => error.set(Some(tr.t("setup-error-failed"))),
            }
        });
        #[cfg(feature = "ssr")]
        let _ = (ws, display, created);
    };
    let form = move || {
        view! {
            <form class="card" on:submit=on_submit data-testid="setup-form">
                <h1>{tr.t("setup-title")}</h1>
                <p class="muted">{tr.t("setup-intro")}</p>
                <label for="setup-id">{tr.t("setup-id-label")}</label>
                <input id="setup-id" name="id" required maxlength="64" pattern="[A-Za-z0-9_\\-]+"
                    autocomplete="off" spellcheck="false"
                    prop:value=move || id.get()
                    on:input=move |ev| id.set(event_target_value(&ev))/>
                <p class="muted small">{tr.t("setup-id-help")}</p>
                <label for="setup-name">{tr.t("setup-name-label")}</label>
                <input id="setup-name" name="name" maxlength="128" autocomplete="off"
                    prop:value=move || name.get()
                    on:input=move |ev| name.set(event_target_value(&ev))/>
                {move || error.get().map(|e| view! { <p class="form-error" role="alert" data-testid="setup-error">{e}</p> })}
                <button class="button" type="submit" disabled=move || busy.get()>{tr.t("setup-submit")}</button>
            </form>
        }
    };
    let done = move |c: Created| {
        let base = base_url();
        let lines = format!("OPENAI_BASE_URL={base}/v1\nOPENAI_API_KEY={}", c.key);
        let key = c.key.clone();
        view! {
            <section class="card" data-testid="setup-done" aria-labelledby="setup-done-title">
                <h1 id="setup-done-title">
                    {tr.ta("setup-done-title", &[("name", ArgValue::Text(c.name.clone()))])}
                </h1>
                <p>{tr.t("setup-done-env")}</p>
                <pre class="env-lines" data-testid="setup-env"><code>{lines}</code></pre>
                <p><strong>{tr.t("setup-done-key-once")}</strong></p>
                <p class="muted">{tr.t("setup-done-admin")}</p>
                <button class="button" data-testid="setup-open-workspace"
                    on:click=move |_| open_workspace(key.clone())>
                    {tr.t("setup-open-workspace")}
                </button>
            </section>
        }
    };
    view! {
        <Header/>
        <main class="page narrow" data-testid="setup-page">
            {move || match created.get() {
                Some(c) => done(c).into_any(),
                None => form().into_any(),
            }}
        </main>
    }
}

/// This page's origin, as the SDK on this machine reaches the gateway.
fn base_url() -> String {
    #[cfg(not(feature = "ssr"))]
    {
        web_sys::window()
            .and_then(|w| w.location().origin().ok())
            .unwrap_or_default()
    }
    #[cfg(feature = "ssr")]
    String::new()
}

/// Signs in with the new workspace's key (the setup session is replaced) and opens its page.
fn open_workspace(key: String) {
    #[cfg(not(feature = "ssr"))]
    leptos::task::spawn_local(async move {
        use crate::data::browser::send_json;
        let body = serde_json::json!({ "key": key });
        if let Ok((200, _)) = send_json("POST", "/api/session", &body).await {
            if let Some(w) = web_sys::window() {
                let _ = w.location().assign("/");
            }
        }
    });
    #[cfg(feature = "ssr")]
    let _ = key;
}
