//! Quota Sentinel's shared crate: the types of the API and the WebSocket, the translations, and
//! the Leptos UI that the server renders and the browser hydrates.
//!
//! # Layout
//! - [`types`]: every JSON shape of the REST API and the WebSocket (serde + chrono only).
//! - [`i18n`]: the embedded Fluent files, locale negotiation and rendering.
//! - [`shell`] / [`App`]: the HTML shell and the root component with its routes.
//!
//! Server-only code sits behind the `ssr` feature; browser-only code behind `hydrate`.
#![recursion_limit = "256"]

pub mod i18n;
pub mod types;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    StaticSegment,
};

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
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

/// The root component.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/quota-sentinel.css"/>
        <Title text="Quota Sentinel"/>
        <Router>
            <main>
                <Routes fallback=|| view! { <p>"404"</p> }>
                    <Route path=StaticSegment("") view=Home/>
                </Routes>
            </main>
        </Router>
    }
}

#[component]
fn Home() -> impl IntoView {
    view! { <h1>"Quota Sentinel"</h1> }
}
