//! Streams: the usage chunk the gateway asked for is removed, the one the client asked for is
//! kept, Responses streams are metered, and a cut stream is recorded with estimated tokens.

mod support;

use futures_util::StreamExt;
use quota_sentinel::simulator::Fault;
use serde_json::{json, Value};
use support::*;

/// The `data:` payloads of an SSE body.
fn data_lines(body: &str) -> Vec<&str> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_stream_without_include_usage_gets_no_usage_chunk_but_is_metered() {
    let env = Env::start(&base_toml("")).await;
    let r = env
        .post(ACME_KEY, "/v1/chat/completions", json!({"model": "gpt-4o-mini", "stream": true, "messages": [{"role": "user", "content": "tell me a story"}]}))
        .await;
    assert_eq!(r.status(), 200);
    assert!(r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("text/event-stream")));
    let body = r.text().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !body.contains("\"choices\":[]"),
        "the usage chunk reached the client:\n{body}"
    );
    assert!(
        body.trim_end().ends_with("data: [DONE]"),
        "no [DONE] at the end:\n{body}"
    );
    for d in data_lines(&body) {
        if d == "[DONE]" {
            continue;
        }
        let v: Value = serde_json::from_str(d).unwrap_or_else(|e| panic!("bad chunk {d}: {e}"));
        assert!(v["usage"].is_null(), "a chunk carries usage: {d}");
    }
    // The simulator sent usage (the gateway asked for it); the ledger has exactly that.
    let reported = env.sim.stats().tokens_reported;
    assert!(reported.input > 0 && reported.output > 0, "{reported:?}");
    let (report, row) = env
        .wait_row(ACME_KEY, "family", "chat.completions", |_| true)
        .await;
    assert_eq!(n(&row, "requests"), 1, "{report}");
    assert_eq!(n(&row, "input_tokens"), reported.input, "{report}");
    assert_eq!(n(&row, "output_tokens"), reported.output, "{report}");
    assert_eq!(n(&row, "estimated_requests"), 0, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_stream_with_include_usage_keeps_its_usage_chunk() {
    let env = Env::start(&base_toml("")).await;
    let r = env
        .post(
            ACME_KEY,
            "/v1/chat/completions",
            json!({"model": "gpt-4o-mini", "stream": true, "stream_options": {"include_usage": true}, "max_tokens": 12,
                   "messages": [{"role": "user", "content": "tell me a story"}]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap_or_else(|e| panic!("{e}"));
    let usage_chunk = data_lines(&body)
        .into_iter()
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .find(|v| v["choices"].as_array().is_some_and(Vec::is_empty) && v["usage"].is_object())
        .unwrap_or_else(|| panic!("the client's usage chunk is missing:\n{body}"));
    assert_eq!(
        n(&usage_chunk["usage"], "completion_tokens"),
        12,
        "{usage_chunk}"
    );
    assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
    let (report, row) = env
        .wait_row(ACME_KEY, "family", "chat.completions", |_| true)
        .await;
    assert_eq!(
        n(&row, "input_tokens"),
        n(&usage_chunk["usage"], "prompt_tokens"),
        "{report}"
    );
    assert_eq!(n(&row, "output_tokens"), 12, "{report}");
    assert_eq!(n(&row, "estimated_requests"), 0, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_responses_stream_is_metered_from_response_completed() {
    let env = Env::start(&base_toml("")).await;
    let r = env
        .post(ACME_KEY, "/v1/responses", json!({"model": "gpt-4o-mini", "stream": true, "input": "write one line about the sea", "max_output_tokens": 16}))
        .await;
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap_or_else(|e| panic!("{e}"));
    let completed = data_lines(&body)
        .into_iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .find(|v| v["type"] == "response.completed")
        .unwrap_or_else(|| panic!("no response.completed:\n{body}"));
    let usage = &completed["response"]["usage"];
    assert!(
        n(usage, "input_tokens") > 0 && n(usage, "output_tokens") == 16,
        "{completed}"
    );
    let report = env
        .wait_usage(ACME_KEY, "family", |v| usage_row(v, "responses").is_some())
        .await;
    let row = usage_row(&report, "responses").cloned().unwrap_or_default();
    assert_eq!(
        n(&row, "input_tokens"),
        n(usage, "input_tokens"),
        "{report}"
    );
    assert_eq!(
        n(&row, "output_tokens"),
        n(usage, "output_tokens"),
        "{report}"
    );
    assert_eq!(n(&row, "estimated_requests"), 0, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_stream_is_recorded_with_estimated_tokens() {
    let env = Env::start(&base_toml("")).await;
    env.sim.inject(Fault::CutStream { after_chunks: 3 }, 1);
    let r = env
        .post(ACME_KEY, "/v1/chat/completions", json!({"model": "gpt-4o-mini", "stream": true, "messages": [{"role": "user", "content": "tell me a long story please"}]}))
        .await;
    assert_eq!(r.status(), 200);
    // The body ends with an error (or early); read what arrives.
    let mut stream = r.bytes_stream();
    let mut got = Vec::new();
    let mut failed = false;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(b) => got.extend_from_slice(&b),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&got);
    assert!(
        failed || !text.contains("[DONE]"),
        "the cut stream looked complete:\n{text}"
    );
    assert!(!text.contains("[DONE]"), "{text}");
    let (report, row) = env
        .wait_row(ACME_KEY, "family", "chat.completions", |_| true)
        .await;
    assert_eq!(n(&row, "requests"), 1, "{report}");
    assert_eq!(n(&row, "estimated_requests"), 1, "{report}");
    assert!(n(&row, "input_tokens") > 0, "{report}");
    assert!(n(&row, "output_tokens") > 0, "{report}");
}
