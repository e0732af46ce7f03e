//! Abuse limits (issue 9, items 11 and 12): the per-address budget of wrong keys on every route
//! that takes a key, and the per-workspace caps on calls in flight, buffered request bytes,
//! WebSockets and WebSocket message size.

mod support;

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use quota_sentinel::simulator::SimConfig;
use serde_json::json;
use support::*;
use tokio_tungstenite::tungstenite::{self, Message};

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
    e.assert_status_code(429, "too_many_auth_failures");
    let retry = retry_after(e);
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
}

// ------------------------------------------------------------------ auth failures (11)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_keys_past_the_budget_are_429_but_a_valid_key_still_passes() {
    let env = Env::start(&server_toml("auth_failures_per_minute = 3")).await;
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
    let metrics = env.metrics().await;
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
    let env = Env::start(&server_toml("auth_failures_per_minute = 3")).await;
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
    let metrics = env.metrics().await;
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

// ------------------------------------------------------------------ calls in flight (12)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_in_flight_are_capped_per_workspace_until_the_body_is_done() {
    let env = Env::start_with(
        &server_toml("max_in_flight_per_workspace = 1"),
        SimConfig {
            api_key: Some(UPSTREAM_KEY.into()),
            stream_chunk_delay_ms: 100,
            ..SimConfig::default()
        },
    )
    .await;
    // A streamed answer: its head is here, its body still streaming.
    let streaming = env
        .post(
            ACME_KEY,
            "/v1/chat/completions",
            json!({"model": "gpt-4o-mini", "stream": true, "max_tokens": 200,
                   "messages": [{"role": "user", "content": "tell me a long story"}]}),
        )
        .await;
    assert_eq!(streaming.status(), 200);
    let e = api_error(env.chat(ACME_KEY, "hi").await).await;
    e.assert_status_code(429, "too_many_concurrent_requests");
    assert_eq!(
        e.headers.get("retry-after").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    // Another workspace is not affected.
    assert_eq!(env.chat(BETA_KEY, "hi").await.status(), 200);
    // The client leaves mid-stream: its place is given back.
    drop(streaming);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = env.chat(ACME_KEY, "hi").await;
        if r.status() == 200 {
            break;
        }
        assert_eq!(r.status(), 429);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the place was never given back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ------------------------------------------------------------------ buffered bytes (12)

/// A JSON POST whose body announces `declared` bytes and sends only what is pushed into the
/// returned sender; the request runs on its own task and its own connection.
fn stalled_post(
    env: &Env,
    key: &str,
    declared: u64,
) -> (
    tokio::sync::mpsc::Sender<Bytes>,
    tokio::task::JoinHandle<Result<reqwest::Response, reqwest::Error>>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx))
    });
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let req = client
        .post(env.url("/v1/chat/completions"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .header("content-length", declared.to_string())
        .body(reqwest::Body::wrap_stream(stream));
    (tx, tokio::spawn(req.send()))
}

/// A small valid chat body padded to `len` bytes with spaces.
fn padded_body(len: usize) -> Vec<u8> {
    let mut b = serde_json::to_vec(
        &json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .unwrap_or_default();
    b.resize(len, b' ');
    b
}

async fn post_bytes(env: &Env, key: &str, body: Vec<u8>) -> reqwest::Response {
    env.http
        .post(env.url("/v1/chat/completions"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffered_request_bytes_are_capped_per_workspace_and_given_back() {
    const MIB: usize = 1024 * 1024;
    let env = Env::start(&server_toml(&format!(
        "max_buffered_bytes_per_workspace = {MIB}"
    )))
    .await;
    // One body larger than the whole budget can never fit: 413, before it is read.
    let (_tx, big) = stalled_post(&env, ACME_KEY, MIB as u64 + 1);
    let r = big
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e}"));
    let e = api_error(r).await;
    assert_eq!(e.status, 413, "{}", e.raw);

    // A slow upload announcing 900 KiB holds them while the gateway reads it.
    let (tx, upload) = stalled_post(&env, ACME_KEY, 900 * 1024);
    tx.send(Bytes::from_static(b"{\"model\": \"gpt-4o-mini\", "))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let e = loop {
        let r = post_bytes(&env, ACME_KEY, padded_body(200 * 1024)).await;
        if r.status() == 429 {
            break api_error(r).await;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "200 KiB more were accepted: {}",
            r.status()
        );
        assert!(!upload.is_finished(), "the slow upload ended early");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    e.assert_code("too_many_buffered_bytes");
    assert_eq!(
        e.headers.get("retry-after").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    // Its body was never read: the answer says the connection ends, so the client's next
    // call does not land on a socket the gateway is closing.
    assert_eq!(
        e.headers.get("connection").map(|v| v.as_bytes()),
        Some(&b"close"[..])
    );
    // Small bodies and other workspaces still pass.
    assert_eq!(env.chat(ACME_KEY, "hi").await.status(), 200);
    assert_eq!(
        post_bytes(&env, BETA_KEY, padded_body(200 * 1024))
            .await
            .status(),
        200
    );

    // The upload is abandoned: its bytes are given back.
    drop(tx);
    upload.abort();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = post_bytes(&env, ACME_KEY, padded_body(200 * 1024)).await;
        if r.status() == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never given back: {}",
            r.status()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ------------------------------------------------------------------ WebSockets (12)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_are_capped_per_workspace() {
    let env = Env::start(&server_toml("max_websockets_per_workspace = 2")).await;
    let connect = |token: &'static str| tokio_tungstenite::connect_async(ws_url(&env, token));
    let (first, _) = connect(ACME_KEY).await.unwrap_or_else(|e| panic!("{e}"));
    let (_second, _) = connect(ACME_KEY).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        ws_refusal(&env, ACME_KEY).await,
        (429, "too_many_websockets".to_string())
    );
    let (_beta, _) = connect(BETA_KEY)
        .await
        .unwrap_or_else(|e| panic!("beta was refused: {e}"));
    // A socket that closes gives its place back.
    drop(first);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while connect(ACME_KEY).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the place was never given back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_message_past_the_limit_ends_the_socket() {
    let env = Env::start(&base_toml("")).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(&env, ACME_KEY))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Within the limit: a ping is answered.
    let ping = || Message::Text(r#"{"type":"ping"}"#.into());
    ws.send(ping()).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(next_pong(&mut ws).await, "no pong to a small ping");
    // 64 KiB, far past the default 4 KiB: the socket ends; the ping after it goes unanswered.
    let big = format!(r#"{{"type":"ping","pad":"{}"}}"#, "x".repeat(64 * 1024));
    let _ = ws.send(Message::Text(big.into())).await;
    let _ = ws.send(ping()).await;
    assert!(!next_pong(&mut ws).await, "a 64 KiB message was accepted");
}

/// Whether a `pong` arrives before the socket ends (within 5 s).
async fn next_pong<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> bool
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return false,
            Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => return false,
            Ok(Some(Ok(Message::Text(t)))) if t.as_str().contains("\"pong\"") => return true,
            Ok(Some(Ok(_))) => continue,
        }
    }
}
