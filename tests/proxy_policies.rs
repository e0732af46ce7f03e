//! The proxy's policies (issue 13): the model downgrade once a workspace's USD budgets reach a
//! rule's share, and the gateway-side retries of an upstream `rate_limit_exceeded`.

mod support;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use quota_sentinel::simulator::Fault;
use serde_json::{json, Value};
use support::*;

/// `[[workspaces]]` acme's limits: a soft day budget of `budget` USD (it never refuses, its
/// share still counts) and one downgrade rule `gpt-4o` → `to` at half of it.
fn downgrading(budget: f64, to: &str) -> String {
    format!(
        "budget_usd_per_day = {budget}\nsoft_limits = [\"budget_usd_per_day\"]\n\
         downgrade = [{{ from = \"gpt-4o\", to = \"{to}\", at = 0.5 }}]\n"
    )
}

/// The key of workspace `solo`, which one test has to itself (the metrics are the test
/// process's, shared by every test of this file).
const SOLO_KEY: &str = "qs_solo_test_key_0123456789";

/// Workspace `solo` with `limits`, then the default ones.
fn solo_toml(limits: &str) -> String {
    format!(
        "[[workspaces]]\nid = \"solo\"\nname = \"Solo\"\nkey_sha256 = [\"{}\"]\n{limits}\n{}",
        sha(SOLO_KEY),
        base_toml("")
    )
}

/// One ledger row as the tests read it.
#[derive(Debug, PartialEq, sqlx::FromRow)]
struct Row {
    model: Option<String>,
    requested_model: Option<String>,
    http_status: i64,
    upstream_retries: i64,
}

/// Waits (bounded) until the ledger holds `want` rows; returns them oldest first. A little
/// longer is waited when they are there, so that a row too many would show.
async fn ledger(env: &Env, want: usize) -> Vec<Row> {
    let pool = env.db_pool().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let read = || async {
        sqlx::query_as::<_, Row>(
            "SELECT model, requested_model, http_status, upstream_retries FROM ledger ORDER BY id",
        )
        .fetch_all(&pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    };
    loop {
        let rows = read().await;
        if rows.len() >= want {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let rows = read().await;
            pool.close().await;
            assert_eq!(rows.len(), want, "{rows:#?}");
            return rows;
        }
        assert!(Instant::now() < deadline, "{} rows, not {want}", rows.len());
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The value of the counter `name` whose labels include every one of `labels` (0 if none).
fn counter(metrics: &str, name: &str, labels: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter(|l| labels.iter().all(|x| l.contains(x)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn chat_for(env: &Env, model: &str) -> reqwest::Response {
    env.post(
        ACME_KEY,
        "/v1/chat/completions",
        json!({"model": model, "messages": [{"role": "user", "content": "hello"}]}),
    )
    .await
}

async fn patch(env: &Env, id: &str, body: Value) {
    let r = env
        .http
        .patch(env.url(&format!("/api/admin/workspaces/{id}")))
        .bearer_auth(ADMIN_KEY)
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    assert_eq!(status, 200, "{text}");
}

// ------------------------------------------------------------------------------ downgrade

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_is_downgraded_once_the_budget_share_is_reached_and_edited_live() {
    let env = Env::start(&base_toml(&downgrading(0.000001, "gpt-4o-mini"))).await;
    // Nothing spent yet: the call goes for the model asked.
    let r = chat_for(&env, "gpt-4o").await;
    assert_eq!(r.status(), 200);
    assert_eq!(header_of(&r, "x-quota-model-downgraded-from"), None);
    let body: Value = r.json().await.unwrap_or_default();
    assert!(
        body["model"].as_str().is_some_and(|m| !m.contains("mini")),
        "{body}"
    );
    // Spent (or held) past half the budget: `gpt-4o` goes upstream as `gpt-4o-mini`.
    let r = chat_for(&env, "gpt-4o").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header_of(&r, "x-quota-model-downgraded-from"),
        Some("gpt-4o")
    );
    let body: Value = r.json().await.unwrap_or_default();
    assert!(
        body["model"]
            .as_str()
            .is_some_and(|m| m.starts_with("gpt-4o-mini")),
        "{body}"
    );
    // A model no rule names is untouched.
    let r = chat_for(&env, "gpt-4o-mini").await;
    assert_eq!(header_of(&r, "x-quota-model-downgraded-from"), None);
    let _ = r.bytes().await;
    // An upstream error carries the header too.
    env.sim.inject(Fault::ServerError, 1);
    let r = chat_for(&env, "gpt-4o").await;
    assert_eq!(r.status(), 500);
    assert_eq!(
        header_of(&r, "x-quota-model-downgraded-from"),
        Some("gpt-4o")
    );
    let _ = r.bytes().await;
    // A stream is sent for the new model too.
    let r = env
        .post(
            ACME_KEY,
            "/v1/chat/completions",
            json!({"model": "gpt-4o", "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(
        header_of(&r, "x-quota-model-downgraded-from"),
        Some("gpt-4o")
    );
    let text = r.text().await.unwrap_or_default();
    assert!(text.contains("\"model\":\"gpt-4o-mini"), "{text}");
    assert!(text.contains("[DONE]"), "{text}");

    // The rules are edited live: none, then another target.
    patch(&env, "acme", json!({"downgrade": []})).await;
    let r = chat_for(&env, "gpt-4o").await;
    assert_eq!(header_of(&r, "x-quota-model-downgraded-from"), None);
    let body: Value = r.json().await.unwrap_or_default();
    assert!(
        body["model"].as_str().is_some_and(|m| !m.contains("mini")),
        "{body}"
    );
    patch(
        &env,
        "acme",
        json!({"downgrade": [{"from": "gpt-4o", "to": "gpt-3.5-turbo", "at": 0.5}]}),
    )
    .await;
    let r = chat_for(&env, "gpt-4o").await;
    assert_eq!(
        header_of(&r, "x-quota-model-downgraded-from"),
        Some("gpt-4o")
    );
    let body: Value = r.json().await.unwrap_or_default();
    assert!(
        body["model"]
            .as_str()
            .is_some_and(|m| m.starts_with("gpt-3.5-turbo")),
        "{body}"
    );

    // The ledger keeps both models of a downgraded call, and only the one used otherwise.
    let rows = ledger(&env, 7).await;
    let requested: Vec<Option<&str>> = rows.iter().map(|r| r.requested_model.as_deref()).collect();
    assert_eq!(
        requested,
        [
            None,
            Some("gpt-4o"),
            None,
            Some("gpt-4o"),
            Some("gpt-4o"),
            None,
            Some("gpt-4o")
        ],
        "{rows:#?}"
    );
    assert!(rows[0]
        .model
        .as_deref()
        .is_some_and(|m| m.starts_with("gpt-4o-2")));
    for i in [1, 4] {
        assert!(
            rows[i]
                .model
                .as_deref()
                .is_some_and(|m| m.starts_with("gpt-4o-mini")),
            "{rows:#?}"
        );
    }
    assert!(rows[6]
        .model
        .as_deref()
        .is_some_and(|m| m.starts_with("gpt-3.5-turbo")));
    assert_eq!(rows[3].http_status, 500);

    let metrics = env.metrics().await;
    let downgraded = |to: &str| {
        counter(
            &metrics,
            "qs_downgraded_total",
            &[
                "workspace=\"acme\"",
                "from=\"gpt-4o\"",
                &format!("to=\"{to}\""),
            ],
        )
    };
    assert_eq!(downgraded("gpt-4o-mini"), 3.0, "{metrics}");
    assert_eq!(downgraded("gpt-3.5-turbo"), 1.0, "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_downgraded_body_keeps_every_other_byte_and_is_priced_for_the_new_model() {
    let upstream = Scripted::start().await;
    let env = upstream
        .gateway(&base_toml(&downgrading(0.01, "gpt-4.1-mini")))
        .await;
    let raw = "{ \"messages\" : [{\"role\":\"user\",\"content\":\"\\\"model\\\": \\\"gpt-4o\\\"\"}],\n  \"model\":\"gpt-4o\" , \"max_tokens\": 7 }";
    for i in 0..2 {
        if i == 1 {
            // The first call is settled: its cost counts.
            env.wait_usage(ACME_KEY, "family", |v| {
                usage_row(v, "chat.completions").is_some_and(|r| n(r, "requests") == 1)
            })
            .await;
        }
        let r = env
            .http
            .post(env.url("/v1/chat/completions"))
            .bearer_auth(ACME_KEY)
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.status(), 200);
        let _ = r.bytes().await;
    }
    let bodies = upstream.bodies();
    assert_eq!(bodies.len(), 2);
    assert_eq!(
        bodies[0],
        raw.as_bytes(),
        "the first call is below the share"
    );
    assert_eq!(
        String::from_utf8_lossy(&bodies[1]),
        raw.replace("\"model\":\"gpt-4o\"", "\"model\":\"gpt-4.1-mini\""),
        "only the top-level model changes"
    );
    // The answer names the model used; each is priced as its own (gpt-4.1-mini costs less).
    let rows = ledger(&env, 2).await;
    assert_eq!(rows[1].model.as_deref(), Some("gpt-4.1-mini"));
    assert_eq!(rows[1].requested_model.as_deref(), Some("gpt-4o"));
    let pool = env.db_pool().await;
    let costs: Vec<i64> = sqlx::query_scalar("SELECT cost_nanos FROM ledger ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(costs[1] < costs[0], "{costs:?}");
}

// -------------------------------------------------------------------------------- retries

/// acme retries an upstream `rate_limit_exceeded` `n` times.
fn retrying(n: u32) -> String {
    base_toml(&format!("upstream_retries = {n}\n"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_is_retried_after_its_retry_after_and_the_call_succeeds() {
    let env = Env::start(&solo_toml("upstream_retries = 2")).await;
    env.sim.inject(
        Fault::RateLimited {
            retry_after_secs: 1,
        },
        2,
    );
    let started = Instant::now();
    let r = env.chat(SOLO_KEY, "hello").await;
    assert_eq!(r.status(), 200);
    assert!(started.elapsed() >= Duration::from_secs(2), "it waited");
    assert_eq!(header_of(&r, "x-quota-upstream-retries"), Some("2"));
    let body: Value = r.json().await.unwrap_or_default();
    assert_eq!(body["object"], "chat.completion", "{body}");
    assert_eq!(env.sim.stats().requests, 3);
    // One call, one row, with the usage of the answer that succeeded.
    let rows = ledger(&env, 1).await;
    assert_eq!((rows[0].http_status, rows[0].upstream_retries), (200, 2));
    let (_, row) = env
        .wait_row(SOLO_KEY, "family", "chat.completions", |_| true)
        .await;
    assert_eq!(n(&row, "requests"), 1);
    assert_eq!(n(&row, "input_tokens"), n(&body["usage"], "prompt_tokens"));
    // Each retried 429 was seen by the status engine.
    let metrics = env.metrics().await;
    assert_eq!(
        counter(
            &metrics,
            "qs_upstream_retries_total",
            &["workspace=\"solo\""]
        ),
        2.0,
        "{metrics}"
    );
    assert!(
        counter(
            &metrics,
            "qs_status_transitions_total",
            &["workspace=\"solo\"", "to=\"rate_limited\""]
        ) >= 1.0,
        "{metrics}"
    );
    let status = env.get_json(SOLO_KEY, "/api/quota/status").await;
    assert!(status["last_error"].is_string(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_stop_after_n_and_the_last_429_is_answered_as_it_came() {
    let upstream = Scripted::start().await;
    let env = upstream.gateway(&retrying(2)).await;
    let limited = rate_limited_body("Rate limit reached for requests.");
    for _ in 0..4 {
        upstream.push(Canned::json(
            429,
            &limited,
            &[
                ("retry-after-ms", "20"),
                ("x-ratelimit-remaining-requests", "0"),
            ],
        ));
    }
    let r = env.chat(ACME_KEY, "hello").await;
    assert_eq!(r.status(), 429);
    assert_eq!(header_of(&r, "retry-after-ms"), Some("20"));
    assert_eq!(header_of(&r, "x-ratelimit-remaining-requests"), Some("0"));
    assert_eq!(header_of(&r, "x-quota-upstream-retries"), Some("2"));
    assert_eq!(r.text().await.unwrap_or_default(), limited);
    assert_eq!(upstream.bodies().len(), 3, "one call and two retries");
    let rows = ledger(&env, 1).await;
    assert_eq!((rows[0].http_status, rows[0].upstream_retries), (429, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_delay_the_gateway_backs_off_before_it_retries() {
    let upstream = Scripted::start().await;
    let env = upstream.gateway(&retrying(1)).await;
    upstream.push(Canned::json(
        429,
        &rate_limited_body("Rate limit reached."),
        &[],
    ));
    let started = Instant::now();
    let r = env.chat(ACME_KEY, "hello").await;
    assert_eq!(r.status(), 200);
    // The first backoff is half a second, less at most a fifth.
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(header_of(&r, "x-quota-upstream-retries"), Some("1"));
    assert_eq!(upstream.bodies().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_are_off_by_default() {
    let env = Env::start(&base_toml("")).await;
    env.sim.inject(
        Fault::RateLimited {
            retry_after_secs: 0,
        },
        1,
    );
    let e = api_error(env.chat(ACME_KEY, "hello").await).await;
    e.assert_status_code(429, "rate_limit_exceeded");
    assert_eq!(e.headers.get("x-quota-upstream-retries"), None);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(env.sim.stats().requests, 1);
    let rows = ledger(&env, 1).await;
    assert_eq!((rows[0].http_status, rows[0].upstream_retries), (429, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_billing_and_server_errors_are_never_retried() {
    let env = Env::start(&retrying(3)).await;
    for (fault, status, code) in [
        (Fault::InsufficientQuota, 429, Some("insufficient_quota")),
        (
            Fault::BillingHardLimit,
            400,
            Some("billing_hard_limit_reached"),
        ),
        (Fault::ServerError, 500, None),
        (Fault::Overloaded, 503, None),
    ] {
        env.sim.reset_stats();
        env.sim.inject(fault, 1);
        let e = api_error(env.chat(ACME_KEY, "hello").await).await;
        assert_eq!(e.status, status, "{fault:?}: {}", e.raw);
        assert_eq!(e.body.error.code.as_deref(), code, "{fault:?}");
        assert_eq!(e.headers.get("x-quota-upstream-retries"), None);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(env.sim.stats().requests, 1, "{fault:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_that_is_not_json_or_too_large_to_read_passes_through_untouched() {
    let upstream = Scripted::start().await;
    let env = upstream.gateway(&retrying(3)).await;
    let large = rate_limited_body(&"x".repeat(100 * 1024));
    for canned in [
        Canned {
            status: 429,
            content_type: "text/plain",
            headers: vec![("retry-after", "0".into())],
            body: b"Too Many Requests".to_vec(),
            chunked: false,
        },
        // Announced larger than the gateway reads: not read.
        Canned::json(429, &large, &[("retry-after", "0")]),
        // Found larger as it is read: what was read, then the rest.
        Canned {
            chunked: true,
            ..Canned::json(429, &large, &[("retry-after", "0")])
        },
        // Chunked, and small: read whole, and retried.
        Canned {
            chunked: true,
            ..Canned::json(429, &rate_limited_body("small"), &[("retry-after", "0")])
        },
    ] {
        let retried = canned.chunked && canned.body.len() < 1024;
        let want = canned.body.clone();
        upstream.push(canned);
        let before = upstream.bodies().len();
        let r = env.chat(ACME_KEY, "hello").await;
        if retried {
            assert_eq!(r.status(), 200);
            assert_eq!(header_of(&r, "x-quota-upstream-retries"), Some("1"));
            let _ = r.bytes().await;
            assert_eq!(upstream.bodies().len(), before + 2);
            continue;
        }
        assert_eq!(r.status(), 429);
        assert_eq!(header_of(&r, "x-quota-upstream-retries"), None);
        let got = r.bytes().await.unwrap_or_default();
        assert_eq!(got.len(), want.len());
        assert!(got == want, "the body changed");
        assert_eq!(upstream.bodies().len(), before + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_is_never_retried() {
    let env = Env::start(&retrying(3)).await;
    env.sim.inject(
        Fault::RateLimited {
            retry_after_secs: 0,
        },
        1,
    );
    let form = reqwest::multipart::Form::new()
        .text("purpose", "batch")
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"{\"a\":1}\n".to_vec()).file_name("data.jsonl"),
        );
    let r = env.post_form(ACME_KEY, "/v1/files", form).await;
    assert_eq!(r.status(), 429);
    let _ = r.bytes().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(env.sim.stats().requests, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_after_its_first_bytes_is_never_retried() {
    let env = Env::start(&retrying(3)).await;
    env.sim.inject(Fault::CutStream { after_chunks: 2 }, 1);
    let r = env
        .post(
            ACME_KEY,
            "/v1/chat/completions",
            json!({"model": "gpt-4o-mini", "stream": true, "messages": [{"role": "user", "content": "tell me a long story please"}]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let mut stream = r.bytes_stream();
    let mut got = Vec::new();
    while let Some(Ok(b)) = stream.next().await {
        got.extend_from_slice(&b);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("data: "), "{text}");
    assert!(!text.contains("[DONE]"), "{text}");
    let rows = ledger(&env, 1).await;
    assert_eq!(rows[0].upstream_retries, 0);
    assert_eq!(env.sim.stats().requests, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_past_the_calls_deadline_is_not_taken() {
    let env = Env::start(&format!(
        "{}\n[upstream]\ntimeout_seconds = 3\n",
        retrying(3)
    ))
    .await;
    env.sim.inject(
        Fault::RateLimited {
            retry_after_secs: 30,
        },
        1,
    );
    let started = Instant::now();
    let e = api_error(env.chat(ACME_KEY, "hello").await).await;
    e.assert_status_code(429, "rate_limit_exceeded");
    assert_eq!(retry_after(&e), 30);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(e.headers.get("x-quota-upstream-retries"), None);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(env.sim.stats().requests, 1);
    // A wait that fits is taken, the next one that would not is not: two calls.
    env.sim.reset_stats();
    env.sim.inject(
        Fault::RateLimited {
            retry_after_secs: 2,
        },
        2,
    );
    let e = api_error(env.chat(ACME_KEY, "hello").await).await;
    e.assert_status_code(429, "rate_limit_exceeded");
    assert_eq!(
        e.headers
            .get("x-quota-upstream-retries")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    assert_eq!(env.sim.stats().requests, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_client_leaves_during_the_wait_is_still_recorded_once() {
    let env = Env::start(&retrying(1)).await;
    env.sim.inject(
        Fault::RateLimited {
            retry_after_secs: 2,
        },
        1,
    );
    let impatient = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let r = impatient
        .post(env.url("/v1/chat/completions"))
        .bearer_auth(ACME_KEY)
        .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await;
    assert!(r.is_err(), "the client gave up first");
    // The call ended when its client left, with the 429 it had; it is recorded once.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rows = ledger(&env, 1).await;
    assert_eq!(
        (rows[0].http_status, rows[0].upstream_retries),
        (429, 0),
        "{rows:#?}"
    );
    assert_eq!(
        env.sim.stats().requests,
        1,
        "no retry after the client left"
    );
    let status = env.get_json(ACME_KEY, "/api/quota/status").await;
    assert_eq!(status["usage"]["requests_minute"], 1, "{status}");

    // So is a call whose client leaves before the upstream's first answer (it had none).
    env.sim.inject(Fault::Delay { ms: 2000 }, 1);
    let r = impatient
        .post(env.url("/v1/chat/completions"))
        .bearer_auth(ACME_KEY)
        .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await;
    assert!(r.is_err(), "the client gave up first");
    let rows = ledger(&env, 2).await;
    assert_eq!(
        (rows[1].http_status, rows[1].upstream_retries),
        (0, 0),
        "{rows:#?}"
    );
}

// ------------------------------------------------------------------- a scripted upstream

/// An OpenAI error body of a 429 `rate_limit_exceeded` with `message`.
fn rate_limited_body(message: &str) -> String {
    json!({"error": {"message": message, "type": "requests", "param": null, "code": "rate_limit_exceeded"}})
        .to_string()
}

/// One answer of a [`Scripted`] upstream.
#[derive(Clone, Debug)]
struct Canned {
    status: u16,
    content_type: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    /// Sent in 16 KiB chunks without a `Content-Length`.
    chunked: bool,
}

impl Canned {
    fn json(status: u16, body: &str, headers: &[(&'static str, &str)]) -> Canned {
        Canned {
            status,
            content_type: "application/json",
            headers: headers.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            body: body.as_bytes().to_vec(),
            chunked: false,
        }
    }
}

/// A fake upstream on 127.0.0.1:0 that keeps every request body and plays the answers it was
/// given, in order; then a chat completion for the request's model, with a large usage.
struct Scripted {
    url: String,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
    answers: Arc<Mutex<VecDeque<Canned>>>,
    _stop: tokio_util::sync::CancellationToken,
}

impl Scripted {
    /// A gateway with `toml`'s workspaces in front of this upstream.
    async fn gateway(&self, toml: &str) -> Env {
        Env::start_opts(
            toml,
            Options {
                upstream_url: Some(self.url.clone()),
                ..Options::default()
            },
        )
        .await
    }

    async fn start() -> Scripted {
        use axum::body::Body;
        use axum::http::{HeaderValue, Request, Response, StatusCode};
        let bodies: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let answers: Arc<Mutex<VecDeque<Canned>>> = Arc::default();
        let (kept, queue) = (bodies.clone(), answers.clone());
        let app = axum::Router::new().fallback(move |req: Request<Body>| {
            let (kept, queue) = (kept.clone(), queue.clone());
            async move {
                let body = axum::body::to_bytes(req.into_body(), 1 << 20)
                    .await
                    .unwrap_or_default();
                kept.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(body.to_vec());
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                let canned = next.unwrap_or_else(|| {
                    let model = serde_json::from_slice::<Value>(&body)
                        .ok()
                        .and_then(|v| v["model"].as_str().map(str::to_string))
                        .unwrap_or_default();
                    let answer = json!({
                        "id": "chatcmpl-scripted", "object": "chat.completion", "created": 1,
                        "model": model,
                        "choices": [{"index": 0, "finish_reason": "stop",
                            "message": {"role": "assistant", "content": "ok"}}],
                        "usage": {"prompt_tokens": 1000, "completion_tokens": 1000, "total_tokens": 2000}
                    });
                    Canned::json(200, &answer.to_string(), &[])
                });
                let body = if canned.chunked {
                    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = canned
                        .body
                        .chunks(16 * 1024)
                        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
                        .collect();
                    Body::from_stream(futures_util::stream::iter(chunks))
                } else {
                    Body::from(canned.body)
                };
                let mut resp = Response::new(body);
                *resp.status_mut() = StatusCode::from_u16(canned.status).unwrap_or_default();
                let h = resp.headers_mut();
                h.insert(
                    "content-type",
                    HeaderValue::from_static(canned.content_type),
                );
                for (k, v) in canned.headers {
                    if let Ok(v) = HeaderValue::from_str(&v) {
                        h.insert(k, v);
                    }
                }
                resp
            }
        });
        let (listener, addr) = local_listener().await;
        let stop = serve(listener, app);
        Scripted {
            url: format!("http://{addr}/v1"),
            bodies,
            answers,
            _stop: stop,
        }
    }

    fn push(&self, answer: Canned) {
        self.answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(answer);
    }

    fn bodies(&self) -> Vec<Vec<u8>> {
        self.bodies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
