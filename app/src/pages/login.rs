//! `/login`: paste a workspace key or the admin key. The server answers with an HttpOnly,
//! SameSite=Strict session cookie; the browser never keeps the key. The form is a real
//! `POST /login`: before the WASM has loaded, or without JavaScript, the server signs in and
//! redirects (back here with `?error=…` when it fails); the key is never put in a URL.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::components::Header;
use crate::data::Loader;
use crate::tr::use_tr;

#[component]
pub fn LoginPage() -> impl IntoView {
    let tr = use_tr();
    #[cfg(feature = "ssr")]
    {
        // Already signed in: straight to the right page.
        if let Some(s) = Loader::from_context(tr.locale()).session_now() {
            leptos_axum::redirect(if s.is_admin() { "/admin" } else { "/" });
        }
    }
    #[cfg(not(feature = "ssr"))]
    let _ = Loader::from_context;
    let key = RwSignal::new(String::new());
    // A failed form post comes back as `/login?error=…`.
    let returned = use_query_map().with_untracked(|q| q.get("error"));
    let error = RwSignal::new(returned.and_then(|e| match e.as_str() {
        "empty" => Some(tr.t("login-error-empty")),
        "invalid" => Some(tr.t("login-error-invalid")),
        "blocked" => Some(tr.t("login-error-blocked")),
        "failed" => Some(tr.t("login-error-failed")),
        _ => None,
    }));
    let busy = RwSignal::new(false);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let k = key.get_untracked().trim().to_string();
        if k.is_empty() {
            error.set(Some(tr.t("login-error-empty")));
            return;
        }
        busy.set(true);
        error.set(None);
        #[cfg(not(feature = "ssr"))]
        leptos::task::spawn_local(async move {
            use crate::data::{browser::send_json, Session};
            let result = send_json("POST", "/api/session", &serde_json::json!({ "key": k })).await;
            busy.set(false);
            match result {
                Ok((200, body)) => {
                    let admin = serde_json::from_str::<Session>(&body).is_ok_and(|s| s.is_admin());
                    if let Some(w) = web_sys::window() {
                        let _ = w.location().assign(if admin { "/admin" } else { "/" });
                    }
                }
                Ok((401 | 403, _)) => error.set(Some(tr.t("login-error-invalid"))),
                Ok((429, _)) => error.set(Some(tr.t("login-error-blocked"))),
                _ => error.set(Some(tr.t("login-error-failed"))),
            }
        });
    };
    view! {
        <Header/>
        <main class="page narrow">
            <form class="card login" method="post" action="/login" on:submit=on_submit data-testid="login-form">
                <h1>{tr.t("login-title")}</h1>
                <p class="muted">{tr.t("login-intro")}</p>
                <label for="key">{tr.t("login-key-label")}</label>
                <input id="key" name="key" type="password" autocomplete="current-password" required
                    placeholder=tr.t("login-key-placeholder")
                    prop:value=move || key.get()
                    on:input=move |ev| key.set(event_target_value(&ev))/>
                <p class="muted small">{tr.t("login-key-help")}</p>
                {move || error.get().map(|e| view! { <p class="form-error" role="alert" data-testid="login-error">{e}</p> })}
                <button class="button" type="submit" disabled=move || busy.get()>{tr.t("login-submit")}</button>
            </form>
        </main>
    }
}
