//! Abuse limits (issue 9, items 11 and 12): the per-address budget of wrong keys on every route
//! that takes a key, and the per-workspace caps on calls in flight, buffered request bytes,
//! WebSockets and WebSocket message size.

mod support;

use serde_json::json;
use support::*;
use tokio_tungstenite::tungstenite;

const WRONG: &str = "qs_wrong_guess_0000000000000000";

fn ws_url(env: &Env, token: &str) -> String {
    format!(
        "{}/api/quota/ws?token={token}",
        env.gateway.replacen("http://", "ws://", 1)
    )
}

/// The status and OpenAI error code of a refused WebSocket upgrade.
async fn ws_refusal(env: &Env, token: &str) -> (u16, String) {
    match tokio_tungstenite::connect_async(ws_url(env, token)).await {
        Ok(_) => panic!("the upgrade was accepted"),
        Err(tungstenite::Error::Http(resp)) => {
            let body = resp
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default()
                .into_owned();
            let v: serde_json::Value = serde_json::from_str(&body)
                .unwrap_or_else(|e| panic!("not an OpenAI error body ({e}): {body}"));
            (
                resp.status().as_u16(),
                v["error"]["code"].as_str().unwrap_or_default().to_string(),
            )
        }
        Err(e) => panic!("unexpected error {e}"),
    }
}

fn assert_blocked(e: &ApiErr) {
    assert_eq!(e.status, 429, "{}", e.raw);
    assert_eq!(
        e.body.error.code.as_deref(),
        Some("too_many_auth_failures"),
        "{}",
        e.raw
    );
    let retry: u64 = e
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After: {:?}", e.headers));
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
}

// ------------------------------------------------------------------ auth failures (11)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_keys_past_the_budget_are_429_but_a_valid_key_still_passes() {
    let env = Env::start(&format!(
        "[server]\nauth_failures_per_minute = 3\n{}",
        base_toml("")
    ))
    .await;
    for i in 0..3 {
        let e = api_error(env.chat(WRONG, "hi").await).await;
        assert_eq!(e.status, 401, "attempt {i}: {}", e.raw);
    }
    let e = api_error(env.chat(WRONG, "hi").await).await;
    assert_blocked(&e);
    assert!(!e.raw.contains(WRONG), "{}", e.raw);
    assert_eq!(env.sim.stats().requests, 0, "no guess reached the upstream");
    // The address is blocked, but a key that verifies is never refused nor slowed.
    let r = env.chat(ACME_KEY, "hi").await;
    assert_eq!(r.status(), 200);
    let e = api_error(env.chat(WRONG, "hi").await).await;
    assert_blocked(&e);
    let metrics = env.get_text("/metrics").await;
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("qs_auth_failures_total{")
                && l.contains("route=\"v1\"")
                && l.contains("outcome=\"blocked\"")
        })
        .unwrap_or_else(|| panic!("no qs_auth_failures_total for v1: {metrics}"));
    assert!(line.ends_with(" 2"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_websocket_and_admin_share_the_budget() {
    let env = Env::start(&format!(
        "[server]\nauth_failures_per_minute = 3\n{}",
        base_toml("")
    ))
    .await;
    let sign_in = |key: &str| {
        env.http
            .post(env.url("/api/session"))
            .json(&json!({ "key": key }))
            .send()
    };
    let e = api_error(sign_in(WRONG).await.unwrap_or_else(|e| panic!("{e}"))).await;
    assert_eq!(e.status, 401, "{}", e.raw);
    assert_eq!(ws_refusal(&env, WRONG).await.0, 401);
    let e = api_error(env.get(WRONG, "/api/admin/workspaces").await).await;
    assert_eq!(e.status, 403, "{}", e.raw);

    // The budget is spent: every route answers a wrong key with 429.
    let e = api_error(sign_in(WRONG).await.unwrap_or_else(|e| panic!("{e}"))).await;
    assert_blocked(&e);
    assert_eq!(
        ws_refusal(&env, WRONG).await,
        (429, "too_many_auth_failures".to_string())
    );
    let e = api_error(env.get(WRONG, "/api/admin/workspaces").await).await;
    assert_blocked(&e);
    let e = api_error(env.get(WRONG, "/api/quota/status").await).await;
    assert_blocked(&e);

    // Valid keys still pass everywhere.
    let r = sign_in(ACME_KEY).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status(), 200);
    let r = env.get(ADMIN_KEY, "/api/admin/workspaces").await;
    assert_eq!(r.status(), 200);
    let (_ws, _) = tokio_tungstenite::connect_async(ws_url(&env, ACME_KEY))
        .await
        .unwrap_or_else(|e| panic!("a valid token was refused: {e}"));
    let metrics = env.get_text("/metrics").await;
    for route in ["session", "websocket", "admin"] {
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("qs_auth_failures_total{")
                    && l.contains(&format!("route=\"{route}\""))),
            "{route}: {metrics}"
        );
    }
}
