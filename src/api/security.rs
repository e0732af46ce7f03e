//! What keeps browsers safe on every path but `/v1`: the cross-origin check of cookie
//! requests, the security headers, and each page's Content-Security-Policy.
//!
//! - [`origin_guard`]: a request that changes something (any method but GET, HEAD, OPTIONS) and
//!   carries no bearer key must come from the gateway's own pages or from an origin in
//!   `[server] cors_allow_origins`; otherwise 403 `cross_origin_request`. The rule is that of
//!   Go's `net/http.CrossOriginProtection`: `Sec-Fetch-Site` when the browser sends it, else
//!   `Origin` against `Host`; a request with neither is not from a browser and passes. The
//!   WebSocket upgrade runs the same [`check_origin`] when it is authenticated by the cookie.
//! - [`browser_headers`]: `X-Frame-Options: DENY`, `X-Content-Type-Options: nosniff`,
//!   `Referrer-Policy: no-referrer`, a locked-down CSP on everything that sets none
//!   (`default-src 'none'; frame-ancestors 'none'`), and `Cache-Control: no-store` on `/api/*`
//!   and HTML pages.
//! - [`page_policy`]: run while Leptos renders a page; sets the page's CSP with the nonce
//!   Leptos puts on its inline scripts, the app's own WASM and its WebSocket.
//!
//! `/v1` never gets here ([`super::Front`] sends it straight to the proxy): OpenAI clients get
//! OpenAI's headers only.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

use super::{bearer, Shared};
use crate::error::AppError;

/// The CSP of everything that is not a page (API answers, files): nothing may load, nobody may
/// frame it.
const LOCKED_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

static SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// The host (and port) a request was sent to: `Host`, or the URI's authority (HTTP/2).
fn request_host<'a>(headers: &'a HeaderMap, uri: &'a Uri) -> Option<&'a str> {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
}

/// Whether a browser request comes from the gateway's own origin or an allowed one.
/// Refused: 403 `cross_origin_request`.
pub fn check_origin(headers: &HeaderMap, uri: &Uri, allowed: &[String]) -> Result<(), AppError> {
    let origin = headers
        .get(header::ORIGIN)
        .map(|o| o.to_str().unwrap_or("?"));
    if let Some(o) = origin {
        if allowed.iter().any(|a| a.eq_ignore_ascii_case(o)) {
            return Ok(());
        }
    }
    let refused = |site: &str| AppError::CrossOrigin {
        origin: origin.unwrap_or(site).to_string(),
    };
    match headers
        .get(&SEC_FETCH_SITE)
        .map(|s| s.to_str().unwrap_or("?"))
    {
        Some("same-origin" | "none") => return Ok(()),
        Some(site) => return Err(refused(site)),
        None => {}
    }
    // Without Sec-Fetch-Site, an older browser: Origin against Host. Without Origin either,
    // not a browser: a page cannot make a browser drop both from a cross-origin request.
    let Some(origin) = origin else {
        return Ok(());
    };
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    match (origin_host, request_host(headers, uri)) {
        (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => Ok(()),
        _ => Err(refused(origin)),
    }
}

/// Refuses a cross-origin request that changes something and carries no bearer key (so is
/// authenticated by the session cookie, or signs in).
pub async fn origin_guard(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && bearer(req.headers()).is_none() {
        if let Err(e) = check_origin(req.headers(), req.uri(), &shared.config.cors_allow_origins) {
            return e.into_response();
        }
    }
    next.run(req).await
}

/// `Cache-Control: no-store` on API answers and pages (a minted key, a signed-in page), unless
/// the answer says otherwise.
async fn no_store(req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let mut resp = next.run(req).await;
    let html = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"text/html"));
    if api || html {
        resp.headers_mut()
            .entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-store"));
    }
    resp
}

/// The router with the browser security headers on every answer.
pub fn browser_headers(router: Router) -> Router {
    router
        .layer(axum::middleware::from_fn(no_store))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(LOCKED_CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
}

/// The CSP of a page whose inline scripts carry `nonce`, served from `host` (its WebSocket is
/// `ws://host` or `wss://host`; a host with unexpected characters is left out).
pub fn page_csp(nonce: &str, host: Option<&str>) -> String {
    let ws = host
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .map(|h| format!(" ws://{h} wss://{h}"))
        .unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; style-src-attr 'unsafe-inline'; img-src 'self'; \
         connect-src 'self'{ws}; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

/// Sets the CSP of the page being rendered (call it in the Leptos context of each render): the
/// nonce is the one Leptos puts on the page's inline scripts. Without a nonce (a static file)
/// it does nothing, and the locked-down CSP applies.
pub fn page_policy() {
    use leptos::prelude::use_context;
    let (Some(nonce), Some(resp)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    let parts = use_context::<axum::http::request::Parts>();
    let host = parts
        .as_ref()
        .and_then(|p| request_host(&p.headers, &p.uri));
    if let Ok(v) = HeaderValue::from_str(&page_csp(&nonce, host)) {
        resp.insert_header(header::CONTENT_SECURITY_POLICY, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn check(pairs: &[(&'static str, &'static str)], allowed: &[&str]) -> Result<(), String> {
        let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
        check_origin(&headers(pairs), &Uri::from_static("/api/x"), &allowed)
            .map_err(|e| e.code().unwrap_or_default().to_string())
    }

    #[test]
    fn same_origin_passes_and_other_sites_are_refused() {
        let host = ("host", "gw.example.com:3000");
        assert!(
            check(&[host], &[]).is_ok(),
            "no browser headers: not a browser"
        );
        assert!(check(&[host, ("sec-fetch-site", "same-origin")], &[]).is_ok());
        assert!(check(&[host, ("sec-fetch-site", "none")], &[]).is_ok());
        assert_eq!(
            check(&[host, ("sec-fetch-site", "same-site")], &[]),
            Err("cross_origin_request".into())
        );
        assert!(check(&[host, ("origin", "http://gw.example.com:3000")], &[]).is_ok());
        assert!(check(&[host, ("origin", "https://GW.example.com:3000")], &[]).is_ok());
        for o in [
            "http://other.example.com:3000",
            "http://gw.example.com",
            "null",
        ] {
            let origin = ("origin", o);
            assert!(check(&[host, origin], &[]).is_err(), "{o}");
        }
        // An allowed origin passes even where the browser says cross-site.
        let allowed = ("origin", "https://app.example.com");
        let cross = ("sec-fetch-site", "cross-site");
        assert!(check(&[host, allowed, cross], &["https://app.example.com"]).is_ok());
        assert!(check(&[host, allowed, cross], &["https://else.example.com"]).is_err());
    }

    #[test]
    fn the_page_csp_names_the_nonce_wasm_and_the_socket() {
        let csp = page_csp("abc123", Some("127.0.0.1:3000"));
        assert!(
            csp.contains("script-src 'self' 'nonce-abc123' 'wasm-unsafe-eval'"),
            "{csp}"
        );
        assert!(csp.contains("connect-src 'self' ws://127.0.0.1:3000 wss://127.0.0.1:3000"));
        assert!(csp.contains("frame-ancestors 'none'"));
        // A Host that could add directives is left out.
        let csp = page_csp("n", Some("evil; script-src *"));
        assert!(csp.contains("connect-src 'self'; "), "{csp}");
        assert!(!csp.contains("evil"), "{csp}");
    }
}
