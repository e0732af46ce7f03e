//! Statuses: workspace limits (refused before the upstream) and upstream signals (account-wide
//! quota, rate limits, failures, unreachable upstream).

mod support;

use quota_sentinel::simulator::{Fault, SimConfig};
use serde_json::{json, Value};
use support::*;

/// Chat calls of `max_tokens` as acme until the gateway refuses one (at most 10): how many
/// went through (at least one), and the refusal.
async fn calls_until_refused(env: &Env, max_tokens: u64) -> (u64, ApiErr) {
    let mut ok = 0;
    for _ in 0..10 {
        let r = env
            .post(
                ACME_KEY,
                "/v1/chat/completions",
                chat_body("hello world", max_tokens),
            )
            .await;
        if r.status() == 429 {
            assert!(ok >= 1, "the first call was refused");
            return (ok, api_error(r).await);
        }
        assert_eq!(r.status(), 200);
        let _ = r.bytes().await;
        ok += 1;
    }
    panic!("never refused in {ok} calls");
}

/// A successful call as beta ends an account-wide status: both workspaces are normal again.
async fn beta_call_recovers_both(env: &Env) {
    env.post_ok(BETA_KEY, "/v1/chat/completions", chat_body("hello", 5))
        .await;
    env.wait_status(ACME_KEY, "normal").await;
    env.wait_status(BETA_KEY, "normal").await;
}

fn chat_body(words: &str, max_tokens: u64) -> Value {
    json!({"model": "gpt-4o-mini", "max_tokens": max_tokens, "messages": [{"role": "user", "content": words}]})
}

// ------------------------------------------------------------------ workspace limits

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_per_minute_refuses_the_third_call_before_the_upstream() {
    let env = Env::start(&base_toml("requests_per_minute = 2")).await;
    for i in 0..2 {
        let r = env.chat(ACME_KEY, "hello").await;
        assert_eq!(r.status(), 200, "call {i}");
        let _ = r.bytes().await;
    }
    let e = api_error(env.chat(ACME_KEY, "hello").await).await;
    assert_eq!(e.status, 429, "{}", e.raw);
    assert_eq!(e.body.error.kind, "requests", "{}", e.raw);
    e.assert_code("workspace_quota_exceeded");
    let retry = retry_after(&e);
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(
        env.sim.stats().requests,
        2,
        "the refused call reached the upstream"
    );

    let st = env.wait_status(ACME_KEY, "rate_limited").await;
    assert_eq!(st["cause"]["kind"], "workspace_limit", "{st}");
    assert_eq!(st["cause"]["limit"], "requests_per_minute", "{st}");
    assert_eq!(st["scope"], "workspace", "{st}");
    assert!(
        st["retry_after_seconds"]
            .as_u64()
            .is_some_and(|s| (1..=60).contains(&s)),
        "{st}"
    );
    let check = env.get_json(ACME_KEY, "/api/quota/check").await;
    assert_eq!(check["allowed"], false, "{check}");
    // beta is not affected.
    let b = env.get_json(BETA_KEY, "/api/quota/status").await;
    assert_eq!(b["status"], "normal", "{b}");
    assert_eq!(env.chat(BETA_KEY, "hello").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_per_day_gives_quota_exceeded() {
    let env = Env::start(&base_toml("tokens_per_day = 100")).await;
    let (ok, e) = calls_until_refused(&env, 20).await;
    assert_eq!(e.body.error.kind, "tokens", "{}", e.raw);
    e.assert_code("workspace_quota_exceeded");
    assert!(e.headers.get("retry-after").is_some());
    assert_eq!(env.sim.stats().requests, ok);
    let st = env.wait_status(ACME_KEY, "quota_exceeded").await;
    assert_eq!(st["cause"]["kind"], "workspace_limit", "{st}");
    assert_eq!(st["cause"]["limit"], "tokens_per_day", "{st}");
    assert_eq!(st["scope"], "workspace", "{st}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_daily_budget_refuses_with_type_budget() {
    // gpt-4o-mini: a 10-token answer costs a few micro-dollars.
    let env = Env::start(&base_toml("budget_usd_per_day = 0.00002")).await;
    let (ok, e) = calls_until_refused(&env, 10).await;
    assert_eq!(e.status, 429);
    assert_eq!(e.body.error.kind, "budget", "{}", e.raw);
    e.assert_code("workspace_quota_exceeded");
    assert_eq!(env.sim.stats().requests, ok);
    let st = env.wait_status(ACME_KEY, "quota_exceeded").await;
    assert_eq!(st["cause"]["limit"], "budget_usd_per_day", "{st}");
    assert!(
        st["usage"]["cost_usd_day"]
            .as_f64()
            .is_some_and(|c| c > 0.0),
        "{st}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worst_case_is_reserved_before_the_upstream() {
    let env = Env::start(&base_toml("tokens_per_minute = 1000")).await;
    // 3 + 2 prompt tokens + 100 output tokens are used.
    env.post_ok(
        ACME_KEY,
        "/v1/chat/completions",
        chat_body("hello world", 100),
    )
    .await;
    env.wait_json(ACME_KEY, "/api/quota/status", |v| {
        n(&v["usage"], "tokens_minute") == 105
    })
    .await;
    // 950 more output tokens would fit an empty window, not what is left of this one.
    let e = api_error(
        env.post(
            ACME_KEY,
            "/v1/chat/completions",
            chat_body("hello world", 950),
        )
        .await,
    )
    .await;
    assert_eq!(e.status, 429, "{}", e.raw);
    assert_eq!(e.body.error.kind, "tokens", "{}", e.raw);
    e.assert_code("workspace_quota_exceeded");
    assert!(e.headers.get("retry-after").is_some());
    assert_eq!(
        env.sim.stats().requests,
        1,
        "the refused call reached the upstream"
    );
    // A call that fits what is left still goes through.
    let r = env
        .post(
            ACME_KEY,
            "/v1/chat/completions",
            chat_body("hello world", 100),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(env.sim.stats().requests, 2);
    // Without max_tokens the reserve is 4096 tokens: more than the whole limit.
    let e = api_error(env.chat(ACME_KEY, "hello world").await).await;
    assert_eq!(e.status, 429, "{}", e.raw);
    assert_eq!(env.sim.stats().requests, 2);
}

// ------------------------------------------------------------------ upstream signals

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insufficient_quota_is_account_wide_until_an_admin_reset() {
    let env = Env::start(&base_toml("")).await;
    // The body the upstream sends, for comparison.
    env.sim.inject(Fault::InsufficientQuota, 1);
    let direct = env
        .http
        .post(format!("{}/v1/chat/completions", env.sim_url))
        .bearer_auth(UPSTREAM_KEY)
        .json(&chat_body("hello", 5))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(direct.status(), 429);
    let upstream_body = direct.text().await.unwrap_or_default();

    env.sim.inject(Fault::InsufficientQuota, 1);
    let r = env
        .post(ACME_KEY, "/v1/chat/completions", chat_body("hello", 5))
        .await;
    assert_eq!(r.status(), 429);
    let body = r.text().await.unwrap_or_default();
    assert_eq!(body, upstream_body, "the upstream error body was changed");

    for key in [ACME_KEY, BETA_KEY] {
        let st = env.wait_status(key, "quota_exceeded").await;
        assert_eq!(st["cause"]["kind"], "account_quota_exceeded", "{st}");
        assert_eq!(st["scope"], "account", "{st}");
    }
    let n_en = env
        .wait_notification(ACME_KEY, "", "notif-quota-exceeded-account")
        .await;
    assert_eq!(n_en["title"], "OpenAI account out of credit", "{n_en}");
    assert_eq!(n_en["level"], "error", "{n_en}");
    let n_it = env
        .wait_notification(ACME_KEY, "locale=it", "notif-quota-exceeded-account")
        .await;
    assert_eq!(
        n_it["title"], "Credito dell'account OpenAI esaurito",
        "{n_it}"
    );
    env.wait_notification(BETA_KEY, "", "notif-quota-exceeded-account")
        .await;

    // Only the admin resets.
    let r = env
        .post(ACME_KEY, "/api/quota/reset", json!({"workspace": "acme"}))
        .await;
    assert_eq!(r.status(), 403);
    let v = env
        .post_ok_json(ADMIN_KEY, "/api/quota/reset", json!({"workspace": "acme"}))
        .await;
    assert_eq!(v["workspace"], "acme", "{v}");
    env.wait_status(ACME_KEY, "normal").await;
    env.wait_status(BETA_KEY, "normal").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_success_ends_the_account_quota() {
    let env = Env::start(&base_toml("")).await;
    env.sim.inject(Fault::BillingHardLimit, 1);
    let r = env
        .post(ACME_KEY, "/v1/chat/completions", chat_body("hello", 5))
        .await;
    assert_eq!(r.status(), 400);
    api_error(r).await.assert_code("billing_hard_limit_reached");
    env.wait_status(BETA_KEY, "quota_exceeded").await;
    beta_call_recovers_both(&env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_rate_limit_ends_by_itself() {
    let env = Env::start(&base_toml("")).await;
    env.sim.inject(
        Fault::RateLimited {
            retry_after_secs: 2,
        },
        1,
    );
    let r = env
        .post(ACME_KEY, "/v1/chat/completions", chat_body("hello", 5))
        .await;
    assert_eq!(r.status(), 429);
    assert_eq!(
        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("2")
    );
    let e = api_error(r).await;
    e.assert_code("rate_limit_exceeded");
    let started = tokio::time::Instant::now();
    let st = env.wait_status(ACME_KEY, "rate_limited").await;
    assert_eq!(st["cause"]["kind"], "upstream_rate_limited", "{st}");
    assert_eq!(st["scope"], "account", "{st}");
    let retry = st["retry_after_seconds"].as_u64().unwrap_or(0);
    assert!(
        (1..=2).contains(&retry),
        "retry_after_seconds {retry}: {st}"
    );
    env.wait_status(BETA_KEY, "rate_limited").await;
    env.wait_status(ACME_KEY, "normal").await;
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    env.wait_notification(ACME_KEY, "", "notif-rate-limited-upstream")
        .await;
    env.wait_notification(ACME_KEY, "", "notif-recovered").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_degrade_and_successes_recover() {
    let env = Env::start(&base_toml("")).await;
    env.sim.inject(Fault::ServerError, 3);
    for i in 0..3 {
        let r = env
            .post(ACME_KEY, "/v1/chat/completions", chat_body("hello", 5))
            .await;
        assert_eq!(r.status(), 500, "call {i}");
        let e = api_error(r).await;
        assert_eq!(e.body.error.kind, "server_error", "{}", e.raw);
    }
    let st = env.wait_status(ACME_KEY, "degraded").await;
    assert_eq!(st["cause"]["kind"], "upstream_failures", "{st}");
    assert_eq!(st["cause"]["consecutive"], 3, "{st}");
    env.wait_status(BETA_KEY, "degraded").await;
    env.wait_notification(ACME_KEY, "", "notif-degraded").await;

    env.post_ok(ACME_KEY, "/v1/chat/completions", chat_body("hello", 5))
        .await;
    // One success is not enough (recover_after = 2).
    let st = env.get_json(ACME_KEY, "/api/quota/status").await;
    assert_eq!(st["status"], "degraded", "{st}");
    beta_call_recovers_both(&env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_upstream_is_a_502_in_openai_shape() {
    let opts = Options {
        upstream_url: Some(closed_upstream_url().await),
        ..Options::default()
    };
    let env = Env::start_opts(&base_toml(""), opts).await;
    for _ in 0..3 {
        let e = api_error(env.chat(ACME_KEY, "hello").await).await;
        e.assert_status_code(502, "upstream_unreachable");
        assert!(!e.body.error.message.is_empty());
    }
    let st = env.wait_status(ACME_KEY, "degraded").await;
    assert_eq!(st["scope"], "account", "{st}");
    let (report, row) = env
        .wait_row(ACME_KEY, "family", "chat.completions", |r| {
            n(r, "requests") == 3
        })
        .await;
    assert_eq!(n(&row, "input_tokens"), 0, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_upstream_is_a_504_after_the_timeout() {
    let toml = format!("{}\n[upstream]\ntimeout_seconds = 1\n", base_toml(""));
    let env = Env::start(&toml).await;
    env.sim.inject(Fault::Delay { ms: 3000 }, 1);
    let started = std::time::Instant::now();
    let e = api_error(env.chat(ACME_KEY, "hello").await).await;
    e.assert_status_code(504, "upstream_timeout");
    assert!(started.elapsed() < std::time::Duration::from_millis(2500));
    let st = env.get_json(ACME_KEY, "/api/quota/status?locale=en").await;
    assert_eq!(st["last_error"], "OpenAI did not answer in time.", "{st}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeout_also_bounds_a_slow_body() {
    let toml = format!("{}\n[upstream]\ntimeout_seconds = 1\n", base_toml(""));
    let sim = SimConfig {
        api_key: Some(UPSTREAM_KEY.into()),
        stream_chunk_delay_ms: 150,
        ..SimConfig::default()
    };
    let env = Env::start_with(&toml, sim).await;
    let started = std::time::Instant::now();
    let r = env
        .post(
            ACME_KEY,
            "/v1/chat/completions",
            json!({"model": "gpt-4o-mini", "stream": true, "messages": [{"role": "user", "content": "tell me a long story please"}]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let text = String::from_utf8_lossy(&r.bytes().await.unwrap_or_default()).to_string();
    assert!(
        !text.contains("[DONE]"),
        "the stream outlived the timeout:\n{text}"
    );
    assert!(started.elapsed() < std::time::Duration::from_millis(3000));
    // The cut call is still recorded, its tokens estimated.
    let (report, row) = env
        .wait_row(ACME_KEY, "family", "chat.completions", |r| {
            n(r, "estimated_requests") == 1
        })
        .await;
    assert!(n(&row, "input_tokens") > 0, "{report}");
}
