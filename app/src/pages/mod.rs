//! The pages: `/login`, `/` (workspace view), `/admin` (every workspace),
//! `/admin/workspaces/:id` (one workspace's detail, with its alert rules and its limits and
//! policies) and `/setup` (the first run). Each loads its first data through
//! [`crate::data::Loader`] (server-rendered, then hydrated) and goes live with
//! [`crate::monitor::use_quota_monitor`].

pub mod admin;
pub mod audit;
pub mod channels;
pub mod login;
pub mod overview;
pub mod policies;
pub mod rules;
pub mod setup;
pub mod workspace;

use leptos::prelude::*;
use leptos_router::components::Redirect;

use crate::components::Header;
use crate::data::LoadError;
use crate::tr::use_tr;
use crate::types::ArgValue;

/// Wraps a page's data future so a `Resource` accepts it: server futures are `Send`; browser
/// ones (fetch) are not, and stay on the one browser thread.
#[cfg(feature = "ssr")]
pub fn sendable<F: std::future::Future + Send + 'static>(f: F) -> F {
    f
}
#[cfg(not(feature = "ssr"))]
pub fn sendable<F: std::future::Future + 'static>(f: F) -> send_wrapper::SendWrapper<F> {
    send_wrapper::SendWrapper::new(f)
}

/// A page's body once its first data has loaded: `show` renders the data; a failure renders
/// [`load_error_view`], except `Forbidden` when `forbidden_to` names where to go instead (an
/// admin on the workspace view goes to `/admin`).
pub fn when_loaded<T>(
    data: Resource<Result<T, LoadError>>,
    show: fn(T) -> AnyView,
    forbidden_to: Option<&'static str>,
) -> impl IntoView
where
    T: Clone + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static,
{
    view! {
        <Suspense fallback=loading_view>
            {move || Suspend::new(async move {
                match (data.await, forbidden_to) {
                    (Ok(d), _) => show(d),
                    (Err(LoadError::Forbidden), Some(path)) => {
                        view! { <Redirect path=path/> }.into_any()
                    }
                    (Err(e), _) => load_error_view(e),
                }
            })}
        </Suspense>
    }
}

/// What a page shows when its data did not load.
pub fn load_error_view(e: LoadError) -> AnyView {
    let tr = use_tr();
    match e {
        LoadError::Unauthorized => view! { <Redirect path="/login"/> }.into_any(),
        LoadError::Forbidden => view! {
            <Header/>
            <main class="page narrow" data-testid="forbidden">
                <h1>{tr.t("forbidden-title")}</h1>
                <p>{tr.t("forbidden-body")}</p>
                <p><a href="/">{tr.t("forbidden-home")}</a></p>
                // Signed in with a key that cannot see this page: offer the way to another key.
                <p>
                    <button class="button secondary" data-testid="forbidden-sign-out"
                        on:click=move |_| crate::components::sign_out()>
                        {tr.t("nav-sign-out")}
                    </button>
                </p>
            </main>
        }
        .into_any(),
        LoadError::NotFound => view! {
            {set_status(404)}
            <Header/>
            <main class="page narrow"><h1>{tr.t("not-found-title")}</h1></main>
        }
        .into_any(),
        // The reference is an incident id (its detail is in the server's log) or an HTTP
        // status, never an internal error's text.
        LoadError::Failed(reference) => view! {
            {set_status(500)}
            <Header/>
            <main class="page narrow" data-testid="load-error">
                <h1>{tr.t("load-error-title")}</h1>
                <p>{tr.t("load-error-body")}</p>
                <p class="muted" data-testid="load-error-reference">
                    {tr.ta("load-error-reference", &[("reference", ArgValue::Text(reference))])}
                </p>
            </main>
        }
        .into_any(),
    }
}

/// On the server, the page's HTTP status (pages render whole before answering, `SsrMode::Async`,
/// so an error found while loading can still set it). Renders nothing.
fn set_status(code: u16) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let (Some(r), Ok(s)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::StatusCode::from_u16(code),
    ) {
        r.set_status(s);
    }
    #[cfg(not(feature = "ssr"))]
    let _ = code;
}

/// The text shown while a page's data loads (client-side navigation only; the server waits).
pub fn loading_view() -> impl IntoView {
    let tr = use_tr();
    view! { <p class="loading">{tr.t("loading")}</p> }
}

/// On the server: sends a redirect or a status before any HTML when the session does not fit.
#[cfg(feature = "ssr")]
pub fn guard(loader: &crate::data::Loader, need_admin: bool) {
    match loader.session_now() {
        None => leptos_axum::redirect("/login"),
        Some(s) if need_admin && !s.is_admin() => {
            if let Some(r) = use_context::<leptos_axum::ResponseOptions>() {
                r.set_status(http::StatusCode::FORBIDDEN);
            }
        }
        Some(s) if !need_admin && s.workspace.is_none() => leptos_axum::redirect("/admin"),
        _ => {}
    }
}
