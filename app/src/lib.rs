//! Quota Sentinel's shared crate: the types of the API and the WebSocket, the translations, and
//! the Leptos UI that the server renders and the browser hydrates.
//!
//! # Layout
//! | module | owns |
//! |---|---|
//! | [`types`] | every JSON shape of the REST API and the WebSocket (serde + chrono only) |
//! | [`i18n`] | the embedded Fluent files, locale negotiation and rendering |
//! | [`logic`] | the UI's rules as pure functions: backoff, staleness, de-dup, toasts, formats, tables, charts |
//! | [`tr`] | the page's locale and [`tr::Tr`], which renders UI strings, numbers, money and times |
//! | [`data`] | page data: from the server's [`data::Backend`] during SSR, from the REST API in the browser |
//! | [`monitor`] | `use_quota_monitor()`: the live WebSocket with reconnect, polling, staleness, toasts |
//! | [`components`] | header, banner, bars, toasts, charts… |
//! | [`pages`] | `/login`, `/`, `/admin`, `/admin/workspaces/:id` |
//! | [`shell`] / [`App`] | the HTML document and the root component with its routes |
//!
//! Server-only code sits behind the `ssr` feature; browser code is compiled without it (and only
//! ever runs in the browser).
#![recursion_limit = "512"]

pub mod components;
pub mod data;
pub mod i18n;
pub mod logic;
pub mod monitor;
pub mod pages;
pub mod tr;
pub mod types;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};

use crate::tr::{page_locale, use_tr, Tr};

/// The HTML document around the app, rendered on the server. `<html lang>` carries the
/// negotiated language to the browser, which reads it back before hydrating.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let locale = page_locale();
    // Demo mode is announced on <html> (rendered by the server only, never hydrated), so the
    // notice cannot disturb hydration; style/main.css shows it.
    let demo_label = demo_label(locale);
    view! {
        <!DOCTYPE html>
        <html lang=locale.code() data-demo-label=demo_label>
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The localized demo notice when the gateway runs in demo mode (server side only).
fn demo_label(locale: i18n::Locale) -> Option<String> {
    #[cfg(feature = "ssr")]
    {
        let backend = use_context::<data::BackendHandle>()?;
        backend
            .0
            .demo()
            .then(|| i18n::translations().text(locale, "demo-notice"))
    }
    #[cfg(not(feature = "ssr"))]
    {
        let _ = locale;
        None
    }
}

/// The root component.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let tr = Tr(page_locale());
    provide_context(tr);
    view! {
        <Stylesheet id="leptos" href="/pkg/quota-sentinel.css"/>
        <Title text=tr.t("app-name")/>
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/") view=pages::workspace::WorkspacePage ssr=SsrMode::Async/>
                <Route path=path!("/login") view=pages::login::LoginPage ssr=SsrMode::Async/>
                <Route path=path!("/admin") view=pages::admin::AdminPage ssr=SsrMode::Async/>
                <Route path=path!("/admin/workspaces/:id") view=pages::admin::DetailPage ssr=SsrMode::Async/>
                <Route path=path!("/admin/audit") view=pages::audit::AuditPage ssr=SsrMode::Async/>
                <Route path=path!("/admin/channels") view=pages::channels::ChannelsPage ssr=SsrMode::Async/>
                <Route path=path!("/setup") view=pages::setup::SetupPage ssr=SsrMode::Async/>
            </Routes>
        </Router>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    let tr = use_tr();
    #[cfg(feature = "ssr")]
    if let Some(r) = use_context::<leptos_axum::ResponseOptions>() {
        r.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <components::Header/>
        <main class="page narrow">
            <h1>{tr.t("not-found-title")}</h1>
            <p><a href="/">{tr.t("forbidden-home")}</a></p>
        </main>
    }
}
