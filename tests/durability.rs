//! A restart loses nothing: the counters are rebuilt from the ledger.

mod support;

use serde_json::Value;
use support::*;

const N: u64 = 5;

async fn make_calls(env: &Env) -> (u64, u64) {
    let (mut input, mut output) = (0, 0);
    for i in 0..N {
        let r = env.chat(ACME_KEY, &format!("call number {i}")).await;
        assert_eq!(r.status(), 200, "call {i}");
        let v: Value = r.json().await.unwrap_or_else(|e| panic!("{e}"));
        input += n(&v["usage"], "prompt_tokens");
        output += n(&v["usage"], "completion_tokens");
    }
    (input, output)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_are_rebuilt_from_the_ledger_after_a_restart() {
    counters_are_rebuilt(None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_are_rebuilt_from_the_ledger_after_a_restart_on_postgres() {
    counters_are_rebuilt(Some(postgres_schema_url().await)).await
}

async fn counters_are_rebuilt(database_url: Option<String>) {
    let opts = Options {
        database_url,
        ..Options::default()
    };
    let mut env = Env::start_opts(&base_toml(""), opts).await;
    let (input, output) = make_calls(&env).await;
    let before = env
        .wait_json(ACME_KEY, "/api/quota/status", |v| {
            n(&v["usage"], "tokens_day") == input + output
        })
        .await;
    assert_eq!(n(&before["usage"], "requests_day"), N, "{before}");

    env.restart().await;

    let st = env.get_json(ACME_KEY, "/api/quota/status").await;
    assert_eq!(n(&st["usage"], "requests_day"), N, "{st}");
    assert_eq!(n(&st["usage"], "requests_minute"), N, "{st}");
    assert_eq!(n(&st["usage"], "tokens_day"), input + output, "{st}");
    assert_eq!(n(&st["usage"], "tokens_minute"), input + output, "{st}");
    assert!(
        st["usage"]["cost_usd_day"]
            .as_f64()
            .is_some_and(|c| c > 0.0),
        "{st}"
    );
    let (report, row) = env.family_row(ACME_KEY, "chat.completions").await;
    assert_eq!(n(&row, "requests"), N, "{report}");
    assert_eq!(n(&row, "input_tokens"), input, "{report}");
    assert_eq!(n(&row, "output_tokens"), output, "{report}");
    // beta had no calls.
    let b = env.get_json(BETA_KEY, "/api/quota/status").await;
    assert_eq!(n(&b["usage"], "requests_day"), 0, "{b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daily_request_limit_still_holds_after_a_restart() {
    let mut env = Env::start(&base_toml(&format!("requests_per_day = {N}"))).await;
    make_calls(&env).await;
    env.wait_status(ACME_KEY, "quota_exceeded").await;

    env.restart().await;

    let st = env.get_json(ACME_KEY, "/api/quota/status").await;
    assert_eq!(n(&st["usage"], "requests_day"), N, "{st}");
    let e = api_error(env.chat(ACME_KEY, "one more").await).await;
    assert_eq!(e.status, 429, "{}", e.raw);
    assert_eq!(e.body.error.kind, "requests", "{}", e.raw);
    e.assert_code("workspace_quota_exceeded");
    assert_eq!(
        env.sim.stats().requests,
        N,
        "the refused call reached the upstream"
    );
    let st = env.wait_status(ACME_KEY, "quota_exceeded").await;
    assert_eq!(st["cause"]["limit"], "requests_per_day", "{st}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_in_flight_at_shutdown_is_still_recorded() {
    use futures_util::StreamExt;
    use quota_sentinel::simulator::SimConfig;
    let sim = SimConfig {
        api_key: Some(UPSTREAM_KEY.into()),
        stream_chunk_delay_ms: 100,
        rate_limit_headers: true,
        ..SimConfig::default()
    };
    let mut env = Env::start_with(&base_toml(""), sim).await;
    let r = env
        .post(
            ACME_KEY,
            "/v1/chat/completions",
            serde_json::json!({"model": "gpt-4o-mini", "stream": true, "max_tokens": 8,
                               "messages": [{"role": "user", "content": "a slow answer"}]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let mut stream = r.bytes_stream();
    let first = stream.next().await.and_then(Result::ok).unwrap_or_default();
    assert!(!first.is_empty(), "no first chunk");
    // The client keeps reading while the gateway shuts down gracefully.
    let reader = tokio::spawn(async move {
        let mut body = String::from_utf8_lossy(&first).into_owned();
        while let Some(Ok(chunk)) = stream.next().await {
            body.push_str(&String::from_utf8_lossy(&chunk));
        }
        body
    });
    env.stop_gateway().await;
    let body = reader.await.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        body.trim_end().ends_with("data: [DONE]"),
        "the graceful shutdown cut the stream:\n{body}"
    );

    env.restart().await;
    let (report, row) = env.family_row(ACME_KEY, "chat.completions").await;
    assert_eq!(
        n(&row, "requests"),
        1,
        "the call that finished during the shutdown was not recorded: {report}"
    );
    assert_eq!(n(&row, "output_tokens"), 8, "{report}");
    let st = env.get_json(ACME_KEY, "/api/quota/status").await;
    assert_eq!(n(&st["usage"], "requests_day"), 1, "{st}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_being_estimated_at_shutdown_is_still_recorded() {
    let mut env = Env::start(&base_toml("tokens_per_minute = 0")).await;
    env.sim.inject(
        quota_sentinel::simulator::Fault::CutStream { after_chunks: 2 },
        1,
    );
    // A long prompt makes the token estimate take a while, so the gateway stops while it
    // runs: shutdown must wait for it before the ledger writer stops.
    let prompt = "a fairly long prompt with many different words in it ".repeat(20_000);
    env.post_ok(
        ACME_KEY,
        "/v1/chat/completions",
        serde_json::json!({"model": "gpt-4o-mini", "stream": true, "messages": [{"role": "user", "content": prompt}]}),
    )
    .await;
    env.restart().await;
    let (report, row) = env
        .wait_row(ACME_KEY, "family", "chat.completions", |r| {
            n(r, "requests") == 1
        })
        .await;
    assert_eq!(n(&row, "estimated_requests"), 1, "{report}");
    assert!(n(&row, "input_tokens") > 100_000, "{report}");
}

/// POSTs with the Assistants beta header.
async fn post_beta(env: &Env, path: &str, body: Value) -> Value {
    let r = env
        .http
        .post(env.url(path))
        .bearer_auth(ACME_KEY)
        .header("OpenAI-Beta", "assistants=v2")
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap_or_else(|e| panic!("{e}"))
}

/// Retrieves a run; returns its status.
async fn retrieve_run(env: &Env, tid: &str, rid: &str) -> String {
    let r = env
        .http
        .get(env.url(&format!("/v1/threads/{tid}/runs/{rid}")))
        .bearer_auth(ACME_KEY)
        .header("OpenAI-Beta", "assistants=v2")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap_or_else(|e| panic!("{e}"));
    v["status"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_counted_before_a_restart_is_not_counted_again() {
    let mut env = Env::start(&base_toml("")).await;
    let asst = post_beta(
        &env,
        "/v1/assistants",
        serde_json::json!({"model": "gpt-4o-mini"}),
    )
    .await;
    let thread = post_beta(
        &env,
        "/v1/threads",
        serde_json::json!({"messages": [{"role": "user", "content": "hello"}]}),
    )
    .await;
    let tid = thread["id"].as_str().unwrap_or_default().to_string();
    let run = post_beta(
        &env,
        &format!("/v1/threads/{tid}/runs"),
        serde_json::json!({"assistant_id": asst["id"]}),
    )
    .await;
    let rid = run["id"].as_str().unwrap_or_default().to_string();
    let mut completed = false;
    for _ in 0..5 {
        if retrieve_run(&env, &tid, &rid).await == "completed" {
            completed = true;
            break;
        }
    }
    assert!(completed, "the run never completed");
    let runs_tokens = |v: &Value| usage_row(v, "threads.runs").map(|r| n(r, "input_tokens"));
    let before = env
        .wait_usage(ACME_KEY, "family", |v| {
            runs_tokens(v).is_some_and(|t| t > 0)
        })
        .await;
    let counted = runs_tokens(&before);
    let calls = usage_row(&before, "threads.runs").map_or(0, |r| n(r, "requests"));

    env.restart().await;
    assert_eq!(retrieve_run(&env, &tid, &rid).await, "completed");
    let after = env
        .wait_usage(ACME_KEY, "family", |v| {
            usage_row(v, "threads.runs").is_some_and(|r| n(r, "requests") == calls + 1)
        })
        .await;
    assert_eq!(runs_tokens(&after), counted, "{after}");
}

/// Rows of the ledger and distinct request ids, read straight from PostgreSQL.
async fn pg_ledger(url: &str) -> (i64, i64) {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let row: (i64, i64) = sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT request_id) FROM ledger")
        .fetch_one(&mut c)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = c.close().await;
    row
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_postgres_unreachable_calls_are_served_and_their_rows_written_once_it_returns() {
    let url = postgres_schema_url().await;
    // Through a relay the test can cut: the server stays up for the other tests.
    let authority = url
        .split('@')
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("{url}"))
        .to_string();
    let relay = support::cut::Cuttable::start(authority.clone()).await;
    let opts = Options {
        database_url: Some(url.replace(&authority, &relay.addr.to_string())),
        ..Options::default()
    };
    let mut env = Env::start_opts(&base_toml(""), opts).await;
    make_calls(&env).await;
    wait_for("the first rows", || async {
        pg_ledger(&url).await.0 == N as i64
    })
    .await;

    relay.cut();
    make_calls(&env).await; // still served: each answer is a 200
    let health = || async {
        let r = env.get_anon("/healthz").await;
        assert_eq!(r.status(), 200, "a gateway that serves is healthy");
        r.json::<Value>().await.unwrap_or_default()
    };
    wait_for("the batches spooled", || async {
        let h = health().await;
        h["status"] == "degraded"
            && h["database"]["reachable"] == false
            && h["ledger_spool"]["batches"].as_u64().unwrap_or(0) > 0
    })
    .await;
    let spooled = std::fs::metadata(env.spool_path())
        .map(|m| m.len())
        .unwrap_or(0);
    assert!(spooled > 0, "the spool file holds the rows");
    assert_eq!(pg_ledger(&url).await.0, N as i64);
    // Reads that need the database say so; quotas are in memory and still answer.
    let usage = env
        .get(ACME_KEY, "/api/quota/usage?group_by=family&from=2000-01-01")
        .await;
    api_error(usage)
        .await
        .assert_status_code(503, "store_unavailable");
    let st = env.get_json(ACME_KEY, "/api/quota/status").await;
    assert_eq!(n(&st["usage"], "requests_day"), 2 * N, "{st}");

    relay.heal();
    wait_for("the spooled rows", || async {
        pg_ledger(&url).await.0 == 2 * N as i64
    })
    .await;
    wait_for("healthy again", || async {
        health().await["status"] == "ok"
    })
    .await;
    assert_eq!(
        pg_ledger(&url).await,
        (2 * N as i64, 2 * N as i64),
        "each row once"
    );
    assert_eq!(
        std::fs::metadata(env.spool_path())
            .map(|m| m.len())
            .unwrap_or(9),
        0
    );

    // Still exactly once after a restart, which replays nothing.
    env.restart().await;
    let st = env.get_json(ACME_KEY, "/api/quota/status").await;
    assert_eq!(n(&st["usage"], "requests_day"), 2 * N, "{st}");
    assert_eq!(pg_ledger(&url).await.0, 2 * N as i64);
}
