//! The proxy: forwarding with the key swapped, tags, auth, families and their metering,
//! unpriced models, metrics and health.

mod support;

use std::collections::BTreeMap;

use serde_json::{json, Value};
use support::*;

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_is_forwarded_with_the_upstream_key_and_tags_are_recorded() {
    let env = Env::start(&base_toml("")).await;
    let r = env
        .http
        .post(env.url("/v1/chat/completions"))
        .bearer_auth(ACME_KEY)
        .header("X-Quota-Goal", "onboarding")
        .header("X-Quota-Task", "summarize-ticket")
        .header("X-Quota-Priority", "critical")
        .header("Accept-Encoding", "gzip, br")
        .header("Proxy-Authorization", "Basic c2VjcmV0")
        .header("X-Caller-Note", "not forwarded")
        .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status(), 200);
    assert_eq!(header_of(&r, "x-quota-workspace"), Some("acme"));
    let qs = r
        .headers()
        .get("x-quota-status")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    assert!(
        matches!(
            qs.as_deref(),
            Some("normal" | "warning" | "degraded" | "rate_limited" | "quota_exceeded")
        ),
        "x-quota-status: {qs:?}"
    );
    let body: Value = r.json().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(body["object"], "chat.completion", "{body}");

    let stats = env.sim.stats();
    assert_eq!(stats.requests, 1);
    assert_eq!(stats.by_path.get("/v1/chat/completions"), Some(&1));
    let auth = header(&stats.last_headers, "authorization");
    assert_eq!(
        auth,
        Some(format!("Bearer {UPSTREAM_KEY}").as_str()),
        "{:?}",
        stats.last_headers
    );
    assert!(
        !stats.last_headers.iter().any(|(_, v)| v.contains(ACME_KEY)),
        "the workspace key reached the upstream: {:?}",
        stats.last_headers
    );
    let leaked: Vec<_> = stats
        .last_headers
        .iter()
        .filter(|(k, _)| k.starts_with("x-quota-"))
        .collect();
    assert!(leaked.is_empty(), "x-quota-* headers forwarded: {leaked:?}");
    // Hop-by-hop headers and the caller's Accept-Encoding stay here (usage is read from
    // plain bodies), as does any header not on the allow-list; Host names the upstream.
    for name in ["accept-encoding", "proxy-authorization", "x-caller-note"] {
        assert_eq!(header(&stats.last_headers, name), None, "{name} forwarded");
    }
    let host = header(&stats.last_headers, "host").unwrap_or_default();
    assert!(
        env.sim_url.ends_with(host),
        "host {host} is not the upstream's"
    );

    let goals = env
        .wait_usage(ACME_KEY, "goal", |v| usage_row(v, "onboarding").is_some())
        .await;
    let g = usage_row(&goals, "onboarding").cloned().unwrap_or_default();
    assert_eq!(n(&g, "requests"), 1, "{goals}");
    assert_eq!(
        n(&g, "input_tokens"),
        n(&body["usage"], "prompt_tokens"),
        "{goals}"
    );
    assert_eq!(
        n(&g, "output_tokens"),
        n(&body["usage"], "completion_tokens"),
        "{goals}"
    );
    let (tasks, task) = env
        .wait_row(ACME_KEY, "task", "summarize-ticket", |_| true)
        .await;
    assert_eq!(n(&task, "requests"), 1, "{tasks}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_priority_is_refused_before_the_upstream() {
    let env = Env::start(&base_toml("")).await;
    let r = env
        .chat_with_header(ACME_KEY, "X-Quota-Priority", "urgent")
        .await;
    let e = api_error(r).await;
    assert_eq!(e.status, 400, "{}", e.raw);
    assert_eq!(e.body.error.kind, "invalid_request_error", "{}", e.raw);
    assert!(
        e.body.error.message.contains("X-Quota-Priority"),
        "{}",
        e.raw
    );
    assert_eq!(env.sim.stats().requests, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_strings_are_forwarded() {
    let env = Env::start(&base_toml("")).await;
    for purpose in ["batch", "assistants", "batch"] {
        let form = reqwest::multipart::Form::new()
            .text("purpose", purpose)
            .part(
                "file",
                reqwest::multipart::Part::bytes(b"{\"a\":1}\n".to_vec()).file_name("data.jsonl"),
            );
        let r = env
            .http
            .post(env.url("/v1/files"))
            .bearer_auth(ACME_KEY)
            .multipart(form)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.status(), 200);
    }
    let all = env.get_json(ACME_KEY, "/v1/files").await;
    assert_eq!(all["data"].as_array().map(Vec::len), Some(3), "{all}");
    let batch = env.get_json(ACME_KEY, "/v1/files?purpose=batch").await;
    let data = batch["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(data.len(), 2, "the query was not forwarded: {batch}");
    assert!(data.iter().all(|f| f["purpose"] == "batch"), "{batch}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_and_wrong_keys_are_refused_without_reaching_the_upstream() {
    let env = Env::start(&base_toml("")).await;
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]});

    let r = env
        .http
        .post(env.url("/v1/chat/completions"))
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let e = api_error(r).await;
    assert_eq!(e.status, 401, "{}", e.raw);
    assert_eq!(e.body.error.kind, "invalid_request_error");
    e.assert_code("missing_api_key");

    let wrong = "qs_wrong_secret_key_9876543210";
    let e = api_error(env.post(wrong, "/v1/chat/completions", body.clone()).await).await;
    assert_eq!(e.status, 401, "{}", e.raw);
    assert_eq!(e.body.error.kind, "invalid_request_error");
    e.assert_code("invalid_api_key");
    assert!(!e.raw.contains(wrong), "the key is not masked: {}", e.raw);
    assert!(
        !e.raw.contains("secret_key_98765"),
        "the key is not masked: {}",
        e.raw
    );

    // Another API family and the quota API answer the same way.
    let e = api_error(env.get(wrong, "/v1/models").await).await;
    e.assert_code("invalid_api_key");
    let e = api_error(
        env.http
            .get(env.url("/api/quota/status"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .await;
    e.assert_status_code(401, "missing_api_key");

    assert_eq!(
        env.sim.stats().requests,
        0,
        "a refused call reached the upstream"
    );
}

/// Sums of the tokens the upstream reported in responses of each family.
#[derive(Default, Debug, Clone, Copy)]
struct Seen {
    requests: u64,
    input: u64,
    output: u64,
}

fn note(seen: &mut BTreeMap<&'static str, Seen>, family: &'static str, body: &Value) {
    let (i, o) = usage_of(body);
    let s = seen.entry(family).or_default();
    s.requests += 1;
    s.input += i;
    s.output += o;
}

fn usage_of(body: &Value) -> (u64, u64) {
    let u = &body["usage"];
    let input = u["prompt_tokens"]
        .as_u64()
        .or_else(|| u["input_tokens"].as_u64())
        .unwrap_or(0);
    let output = u["completion_tokens"]
        .as_u64()
        .or_else(|| u["output_tokens"].as_u64())
        .unwrap_or(0);
    (input, output)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_family_is_named_and_metered_with_the_upstream_usage() {
    let env = Env::start(&base_toml("")).await;
    let mut seen: BTreeMap<&'static str, Seen> = BTreeMap::new();
    let beta_header = ("OpenAI-Beta", "assistants=v2");

    // Embeddings.
    let b = env
        .post_ok_json(
            ACME_KEY,
            "/v1/embeddings",
            json!({"model": "text-embedding-3-small", "input": "the quick brown fox"}),
        )
        .await;
    assert!(usage_of(&b).0 > 0, "{b}");
    note(&mut seen, "embeddings", &b);

    // Images (gpt-image-1 reports tokens).
    let b = env.post_ok_json(ACME_KEY, "/v1/images/generations", json!({"model": "gpt-image-1", "prompt": "a small red cube", "quality": "low", "size": "1024x1024"})).await;
    assert!(usage_of(&b).1 > 0, "{b}");
    note(&mut seen, "images.generations", &b);

    // Moderations (no usage).
    let b = env
        .post_ok_json(
            ACME_KEY,
            "/v1/moderations",
            json!({"input": "a harmless sentence"}),
        )
        .await;
    note(&mut seen, "moderations", &b);

    // Assistants: an assistant, a thread, a run polled until it completes.
    let post_beta = |path: String, body: Value| {
        env.http
            .post(env.url(&path))
            .bearer_auth(ACME_KEY)
            .header(beta_header.0, beta_header.1)
            .json(&body)
            .send()
    };
    let r = post_beta(
        "/v1/assistants".into(),
        json!({"model": "gpt-4o-mini", "instructions": "Be brief."}),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status(), 200);
    let asst: Value = r.json().await.unwrap_or_default();
    note(&mut seen, "assistants", &asst);
    let r = post_beta(
        "/v1/threads".into(),
        json!({"messages": [{"role": "user", "content": "what is the weather like"}]}),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status(), 200);
    let thread: Value = r.json().await.unwrap_or_default();
    note(&mut seen, "threads", &thread);
    let tid = thread["id"].as_str().unwrap_or_default().to_string();
    let r = post_beta(
        format!("/v1/threads/{tid}/runs"),
        json!({"assistant_id": asst["id"]}),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status(), 200);
    let run: Value = r.json().await.unwrap_or_default();
    note(&mut seen, "threads.runs", &run);
    let rid = run["id"].as_str().unwrap_or_default().to_string();
    let mut completed = false;
    for _ in 0..5 {
        let r = env
            .http
            .get(env.url(&format!("/v1/threads/{tid}/runs/{rid}")))
            .bearer_auth(ACME_KEY)
            .header(beta_header.0, beta_header.1)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.status(), 200);
        let run: Value = r.json().await.unwrap_or_default();
        // A completed run shows its usage on every retrieve; it counts once.
        let counted = if completed { json!({}) } else { run.clone() };
        note(&mut seen, "threads.runs", &counted);
        if run["status"] == "completed" {
            completed = true;
        }
    }
    assert!(completed, "the run never completed");
    assert!(seen["threads.runs"].input > 0);

    // A path outside the known families (the simulator answers 404): counted as `other`.
    let r = env
        .post(ACME_KEY, "/v1/some/new/endpoint", json!({"x": 1}))
        .await;
    assert_eq!(r.status(), 404);
    let b: Value = r.json().await.unwrap_or_default();
    note(&mut seen, "other", &b);

    // A multipart transcription of a few hundred KB.
    let audio = vec![7u8; 300 * 1024];
    let form = reqwest::multipart::Form::new()
        .text("model", "gpt-4o-transcribe")
        .text("prompt", "names of people")
        .part(
            "file",
            reqwest::multipart::Part::bytes(audio)
                .file_name("speech.wav")
                .mime_str("audio/wav")
                .unwrap_or_else(|e| panic!("{e}")),
        );
    let r = env
        .post_form(ACME_KEY, "/v1/audio/transcriptions", form)
        .await;
    assert_eq!(r.status(), 200);
    let b: Value = r.json().await.unwrap_or_default();
    assert!(usage_of(&b).0 >= 190, "{b}");
    note(&mut seen, "audio.transcriptions", &b);

    // A file upload.
    let form = reqwest::multipart::Form::new()
        .text("purpose", "assistants")
        .part(
            "file",
            reqwest::multipart::Part::bytes(vec![b'x'; 100 * 1024]).file_name("notes.txt"),
        );
    let r = env.post_form(ACME_KEY, "/v1/files", form).await;
    assert_eq!(r.status(), 200);
    let b: Value = r.json().await.unwrap_or_default();
    assert_eq!(
        b["bytes"],
        100 * 1024,
        "the upload was not forwarded whole: {b}"
    );
    note(&mut seen, "files", &b);

    let total: u64 = seen.values().map(|s| s.requests).sum();
    let report = env
        .wait_usage(ACME_KEY, "family", |v| {
            v["rows"]
                .as_array()
                .is_some_and(|rows| rows.iter().map(|r| n(r, "requests")).sum::<u64>() >= total)
        })
        .await;
    for (family, s) in &seen {
        let row =
            usage_row(&report, family).unwrap_or_else(|| panic!("no row for {family}: {report}"));
        assert_eq!(
            n(row, "requests"),
            s.requests,
            "{family} requests: {report}"
        );
        assert_eq!(
            n(row, "input_tokens"),
            s.input,
            "{family} input tokens: {report}"
        );
        assert_eq!(
            n(row, "output_tokens"),
            s.output,
            "{family} output tokens: {report}"
        );
    }
    let families: Vec<&str> = report["rows"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["key"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        families.len(),
        seen.len(),
        "unexpected families: {families:?}"
    );
    let reported = env.sim.stats().tokens_reported;
    assert_eq!(
        seen.values().map(|s| s.input).sum::<u64>(),
        reported.input,
        "the responses' usage differs from the simulator's tally"
    );
    assert_eq!(
        seen.values().map(|s| s.output).sum::<u64>(),
        reported.output
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpriced_model_costs_nothing_and_is_notified() {
    let env = Env::start(&base_toml("")).await;
    let body = env.post_ok_json(ACME_KEY, "/v1/chat/completions", json!({"model": "mystery-model-1", "messages": [{"role": "user", "content": "who are you"}]})).await;
    let report = env
        .wait_usage(ACME_KEY, "model", |v| {
            any_row_key(v, |k| k.contains("mystery-model-1"))
        })
        .await;
    let row = report["rows"]
        .as_array()
        .and_then(|a| {
            a.iter().find(|r| {
                r["key"]
                    .as_str()
                    .is_some_and(|k| k.contains("mystery-model-1"))
            })
        })
        .cloned()
        .unwrap_or_default();
    assert_eq!(n(&row, "requests"), 1, "{report}");
    assert_eq!(row["cost_usd"].as_f64(), Some(0.0), "{report}");
    assert_eq!(n(&row, "unpriced_requests"), 1, "{report}");
    assert_eq!(
        n(&row, "input_tokens"),
        n(&body["usage"], "prompt_tokens"),
        "{report}"
    );
    let notif = env
        .wait_notification(ACME_KEY, "", "notif-unpriced-model")
        .await;
    assert_eq!(
        notif["args"]["model"]
            .as_str()
            .map(|m| m.contains("mystery-model-1")),
        Some(true),
        "{notif}"
    );
    assert!(
        notif["body"]
            .as_str()
            .is_some_and(|b| b.contains("mystery-model-1")),
        "{notif}"
    );
    assert_eq!(notif["level"], "warning", "{notif}");
}

/// `i` spelled with letters only (`0` → `a` … `9` → `j`), so it is a path word, not an id.
fn letters(i: usize) -> String {
    i.to_string()
        .bytes()
        .map(|d| char::from(b'a' + (d - b'0')))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_paths_are_counted_as_other_and_keep_their_path_in_the_ledger_only() {
    use quota_sentinel::proxy::family::FAMILIES;
    let env = Env::start(&base_toml("")).await;
    const N: usize = 300;
    for batch in (0..N).collect::<Vec<_>>().chunks(25) {
        let env = &env;
        let calls = batch.iter().map(|&i| async move {
            let path = format!("/v1/madeup/{}/zz", letters(i));
            env.post(ACME_KEY, &path, json!({"x": 1})).await
        });
        for r in futures_util::future::join_all(calls).await {
            assert_eq!(r.status(), 404);
        }
    }
    assert_eq!(env.chat(ACME_KEY, "a known family").await.status(), 200);
    let report = env
        .wait_usage(ACME_KEY, "family", |v| {
            usage_row(v, "other").is_some_and(|r| n(r, "requests") >= N as u64)
                && usage_row(v, "chat.completions").is_some()
        })
        .await;
    let keys: Vec<&str> = report["rows"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["key"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(keys, ["chat.completions", "other"], "{report}");
    assert_eq!(
        n(
            usage_row(&report, "other").unwrap_or(&Value::Null),
            "requests"
        ),
        N as u64
    );

    // /metrics: no made-up name, and at most one series set per known family (plus `other`).
    let metrics = env.metrics().await;
    assert!(!metrics.contains("madeup"), "a made-up path is a label");
    let families: std::collections::BTreeSet<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("qs_calls_total{") && l.contains("workspace=\"acme\""))
        .filter_map(|l| l.split("family=\"").nth(1)?.split('"').next())
        .collect();
    assert!(families.contains("other"), "{families:?}");
    assert!(
        families
            .iter()
            .all(|f| *f == "other" || FAMILIES.contains(f)),
        "{families:?}"
    );
    assert!(families.len() <= FAMILIES.len() + 1);

    // The ledger keeps each `other` call's path, and no path for the known families.
    let pool = env.db_pool().await;
    let (rows, paths): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(DISTINCT path) FROM ledger WHERE family = 'other' \
          AND path LIKE 'madeup/%/zz'",
    )
    .fetch_one(&pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((rows, paths), (N as i64, N as i64));
    let known_with_path: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM ledger WHERE family != 'other' AND path IS NOT NULL",
    )
    .fetch_one(&pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(known_with_path, 0);
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_unpriced_models_make_a_handful_of_notifications() {
    let env = Env::start(&base_toml(
        "requests_per_minute = 0\nrequests_per_day = 0\ntokens_per_minute = 0",
    ))
    .await;
    const N: usize = 1000;
    for batch in (0..N).collect::<Vec<_>>().chunks(25) {
        let calls = batch.iter().map(|&i| {
            env.post(
                ACME_KEY,
                "/v1/chat/completions",
                json!({"model": format!("mystery-{i}"), "max_tokens": 5,
                       "messages": [{"role": "user", "content": "hi"}]}),
            )
        });
        for r in futures_util::future::join_all(calls).await {
            assert_eq!(r.status(), 200);
        }
    }
    env.wait_usage(ACME_KEY, "family", |v| {
        usage_row(v, "chat.completions").is_some_and(|r| n(r, "unpriced_requests") >= N as u64)
    })
    .await;
    // Let the status tick (once a second) run a few times: it would send what is pending.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let list = env
        .get_json(ACME_KEY, "/api/quota/notifications?limit=500")
        .await;
    let unpriced: Vec<&Value> = list["notifications"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|n| {
                    n["key"]
                        .as_str()
                        .is_some_and(|k| k.starts_with("notif-unpriced-model"))
                })
                .collect()
        })
        .unwrap_or_default();
    assert!(
        !unpriced.is_empty() && unpriced.len() <= 3,
        "{} unpriced-model notifications",
        unpriced.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_health() {
    let env = Env::start_opts(&base_toml(""), Options::default()).await;
    assert_eq!(env.chat(ACME_KEY, "count me").await.status(), 200);
    // Every workspace's figures: not for anyone who can reach the port, nor for a workspace.
    assert_eq!(api_error(env.get_anon("/metrics").await).await.status, 401);
    assert_eq!(
        api_error(env.get(ACME_KEY, "/metrics").await).await.status,
        403
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let r = env.get(ADMIN_KEY, "/metrics").await;
        assert_eq!(r.status(), 200);
        let text = r.text().await.unwrap_or_default();
        if text
            .lines()
            .any(|l| l.starts_with("qs_calls_total{") && l.contains("workspace=\"acme\""))
        {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("no qs_calls_total for acme in /metrics:\n{text}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let r = env.get_anon("/healthz").await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap_or_default();
    assert_eq!(
        v,
        json!({
            "status": "ok",
            "database": {"engine": "sqlite", "reachable": true},
            "ledger_spool": {"batches": 0},
            "shared_state": {"engine": "memory", "reachable": true},
        })
    );
}

/// Writes `head`, then each of `parts` in its own write, and reads the answer's status line.
/// Raw TCP, because an HTTP client still sending a large body may see the connection close
/// before it reads the early answer.
async fn raw_status(env: &Env, head: String, parts: Vec<Vec<u8>>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = env.gateway.trim_start_matches("http://").to_string();
    let mut tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    tcp.write_all(head.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for p in parts {
        tcp.write_all(&p).await.unwrap_or_else(|e| panic!("{e}"));
    }
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tcp.read_to_end(&mut answer),
    )
    .await;
    assert!(read.is_ok(), "no answer within 10 s");
    let text = String::from_utf8_lossy(&answer).to_string();
    assert!(text.contains("request_too_large"), "{text}");
    text.lines().next().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_body_over_the_limit_is_a_413_and_never_reaches_the_upstream() {
    let env = Env::start(&base_toml("")).await;
    let limit = quota_sentinel::proxy::MAX_JSON_BODY;
    let head = |framing: String| {
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {ACME_KEY}\r\n\
             Content-Type: application/json\r\nConnection: close\r\n{framing}\r\n\r\n"
        )
    };
    // Announced by Content-Length: refused before a byte of the body is read.
    let status = raw_status(&env, head(format!("Content-Length: {}", limit + 1)), vec![]).await;
    assert_eq!(status, "HTTP/1.1 413 Payload Too Large");
    // Chunked, with no length: refused when the limit is crossed (the last, 1-byte chunk
    // and the terminator are sent together, so nothing is left unread).
    let mib = 1 << 20;
    let mut parts: Vec<Vec<u8>> = (0..limit / mib)
        .map(|_| {
            let mut c = format!("{mib:x}\r\n").into_bytes();
            c.extend(std::iter::repeat_n(b' ', mib));
            c.extend_from_slice(b"\r\n");
            c
        })
        .collect();
    parts.push(b"1\r\n \r\n0\r\n\r\n".to_vec());
    let status = raw_status(&env, head("Transfer-Encoding: chunked".into()), parts).await;
    assert_eq!(status, "HTTP/1.1 413 Payload Too Large");
    assert_eq!(env.sim.stats().requests, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_allows_only_the_configured_origins() {
    let toml = server_toml("cors_allow_origins = [\"https://app.example.com\"]");
    let env = Env::start(&toml).await;
    let preflight = |origin: &'static str| {
        env.http
            .request(reqwest::Method::OPTIONS, env.url("/v1/chat/completions"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let allowed = preflight("https://app.example.com")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        header_of(&allowed, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    let other = preflight("https://evil.example.net")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(header_of(&other, "access-control-allow-origin"), None);
    // A real call from the allowed origin carries the header too.
    let r = env
        .chat_with_header(ACME_KEY, "origin", "https://app.example.com")
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header_of(&r, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    // The page may read the headers the gateway adds.
    let exposed = header_of(&r, "access-control-expose-headers").unwrap_or_default();
    for h in quota_sentinel::proxy::ANSWER_HEADERS {
        assert!(exposed.contains(h.as_str()), "{h} not in {exposed:?}");
    }
    // Without the setting, no origin is allowed.
    let plain = Env::start(&base_toml("")).await;
    let r = plain
        .http
        .request(reqwest::Method::OPTIONS, plain.url("/v1/chat/completions"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(header_of(&r, "access-control-allow-origin"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_field_after_a_large_file_part_still_prices_the_upload() {
    let env = Env::start(&base_toml("")).await;
    // The file first, as the Node SDK may send it, and larger than the gateway's peek.
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(vec![7u8; 300 * 1024])
                .file_name("speech.wav")
                .mime_str("audio/wav")
                .unwrap_or_else(|e| panic!("{e}")),
        )
        .text("model", "whisper-1")
        .text("response_format", "verbose_json");
    let r = env
        .post_form(ACME_KEY, "/v1/audio/transcriptions", form)
        .await;
    assert_eq!(r.status(), 200);
    let _ = r.bytes().await;
    let report = env
        .wait_usage(ACME_KEY, "model", |v| usage_row(v, "whisper-1").is_some())
        .await;
    let row = usage_row(&report, "whisper-1").cloned().unwrap_or_default();
    assert_eq!(n(&row, "requests"), 1, "{report}");
    assert!(
        row["cost_usd"].as_f64().is_some_and(|c| c > 0.0),
        "whisper-1 is priced per minute: {report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_has_a_request_id_in_its_answer_and_its_ledger_row() {
    let env = Env::start(&base_toml("")).await;
    let minted = env.chat(ACME_KEY, "hello").await;
    assert_eq!(minted.status(), 200);
    let minted_id = header_of(&minted, "x-quota-request-id")
        .unwrap_or_default()
        .to_string();
    assert!(uuid::Uuid::parse_str(&minted_id).is_ok(), "{minted_id:?}");
    let _ = minted.bytes().await;

    let chosen = env
        .chat_with_header(ACME_KEY, "X-Client-Request-Id", "job-42/step-7")
        .await;
    assert_eq!(
        header_of(&chosen, "x-quota-request-id"),
        Some("job-42/step-7")
    );
    let _ = chosen.bytes().await;
    // OpenAI's own header goes upstream as it is.
    assert_eq!(
        header(&env.sim.stats().last_headers, "x-client-request-id"),
        Some("job-42/step-7")
    );

    env.wait_usage(ACME_KEY, "family", |v| {
        usage_row(v, "chat.completions").is_some_and(|r| n(r, "requests") == 2)
    })
    .await;
    let pool = env.db_pool().await;
    let mut ids: Vec<String> = sqlx::query_scalar("SELECT request_id FROM ledger")
        .fetch_all(&pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    ids.sort();
    let mut want = vec![minted_id, "job-42/step-7".to_string()];
    want.sort();
    assert_eq!(ids, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_served_by_a_thread_per_core() {
    let toml = server_toml("serving_threads = 3");
    let env = Env::start(&toml).await;
    for _ in 0..3 {
        assert_eq!(env.chat(ACME_KEY, "hello").await.status(), 200);
    }
    // Every serving thread got its own listener (a thread whose listener could not share the
    // port would not exist: the server falls back to one thread).
    let names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(|t| t.ok())
                .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
                .map(|n| n.trim().to_string())
                .collect()
        })
        .unwrap_or_default();
    for want in ["qs-serve-0", "qs-serve-1", "qs-serve-2"] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
}

/// A gateway in front of a [`Recorder`] mounted under `/openai/v1`, as behind a reverse proxy.
async fn behind_recorder(
    extra_toml: &str,
    response_headers: &[(&'static str, &'static str)],
) -> (Env, Recorder) {
    let rec = Recorder::start(response_headers).await;
    let env = Env::start_opts(
        &format!("{extra_toml}\n{}", base_toml("")),
        Options {
            upstream_url: Some(format!("{}/openai/v1", rec.url)),
            ..Options::default()
        },
    )
    .await;
    (env, rec)
}

/// The header lines of a raw HTTP answer, names in lower case.
fn raw_headers(answer: &str) -> Vec<(String, String)> {
    let head = answer.split_once("\r\n\r\n").map_or(answer, |(h, _)| h);
    head.lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_never_go_upstream_and_upstream_cookies_never_come_back() {
    let (env, rec) =
        behind_recorder("", &[("set-cookie", "upstream_sid=abc; Path=/; HttpOnly")]).await;
    let r = env
        .chat_with_header(
            ACME_KEY,
            "Cookie",
            "qs_session=admin-session-token; qs_lang=fr",
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header_of(&r, "set-cookie"),
        None,
        "the upstream's cookie came back"
    );
    let _ = r.bytes().await;
    let seen = rec.received();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        seen[0].header("cookie"),
        None,
        "the cookie went upstream: {seen:?}"
    );
    assert!(
        !seen[0]
            .headers
            .iter()
            .any(|(_, v)| v.contains("admin-session-token")),
        "{seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_that_could_leave_the_upstream_base_path_are_refused() {
    let (env, rec) = behind_recorder("", &[]).await;
    let unsafe_paths = [
        "/v1/../../internal/secret",
        "/v1/./../internal/secret",
        "/v1/%2e%2e/%2E%2E/internal/secret",
        "/v1/.%2e/.%2E/internal/secret",
        "/v1/..;/..;/internal/secret",
        "/v1/files%2f..%2f..%2finternal%2fsecret",
        "/v1/files%5c..%5c..%5cinternal",
        "/v1/files/%252e%252e/secret",
        "/v1/files\\..\\..\\internal",
    ];
    for path in unsafe_paths {
        // With a workspace key, and without one: the path is judged first.
        for auth in [
            format!("Authorization: Bearer {ACME_KEY}\r\n"),
            String::new(),
        ] {
            let req =
                format!("GET {path} HTTP/1.1\r\nHost: gateway\r\n{auth}Connection: close\r\n\r\n");
            let answer = raw_http(&env, req.as_bytes()).await;
            assert!(answer.starts_with("HTTP/1.1 400"), "{path}: {answer}");
            let body: Value = serde_json::from_str(raw_body(&answer))
                .unwrap_or_else(|e| panic!("{path}: {e}: {answer}"));
            assert_eq!(
                body["error"]["type"], "invalid_request_error",
                "{path}: {body}"
            );
            assert_eq!(body["error"]["code"], "invalid_path", "{path}: {body}");
            assert!(body["error"]["message"].is_string(), "{body}");
            assert!(body["error"].get("param").is_some(), "{body}");
        }
    }
    assert!(
        rec.received().is_empty(),
        "the upstream saw {:?}",
        rec.received()
    );
    // Dots inside a segment are fine: model names have them.
    let req = format!(
        "GET /v1/models/gpt-3.5-turbo HTTP/1.1\r\nHost: gateway\r\n\
         Authorization: Bearer {ACME_KEY}\r\nConnection: close\r\n\r\n"
    );
    let answer = raw_http(&env, req.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let seen = rec.received();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].path_and_query, "/openai/v1/models/gpt-3.5-turbo");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_allowed_headers_go_upstream_and_the_account_comes_from_the_config() {
    let upstream_answers = [
        ("openai-organization", "org-upstream-real"),
        ("openai-project", "proj_upstream_real"),
        ("connection", "x-upstream-hop"),
        ("x-upstream-hop", "internal"),
        ("x-upstream-other", "kept"),
    ];
    let (env, rec) = behind_recorder(
        "[upstream]\norganization = \"org-from-config\"\nproject = \"proj_from_config\"\n",
        &upstream_answers,
    )
    .await;
    let body = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#;
    let req = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\n\
         Authorization: Bearer {ACME_KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\
         OpenAI-Organization: org-chosen-by-caller\r\nOpenAI-Project: proj_chosen_by_caller\r\n\
         api-key: sk-caller-other-key\r\nx-api-key: sk-caller-third-key\r\n\
         Forwarded: for=10.1.2.3\r\nX-Forwarded-For: 10.1.2.3\r\nX-Real-IP: 10.1.2.3\r\n\
         Cookie: qs_session=s\r\nX-Caller-Note: private\r\n\
         Connection: close, X-Secret-Hop, Idempotency-Key\r\nX-Secret-Hop: hop-secret\r\n\
         Idempotency-Key: named-by-connection\r\n\
         Accept: application/json\r\nUser-Agent: OpenAI/Python 1.99.0\r\n\
         OpenAI-Beta: assistants=v2\r\nX-Client-Request-Id: job-1\r\n\
         X-Stainless-Lang: python\r\nX-Stainless-Retry-Count: 0\r\n\r\n{body}",
        body.len()
    );
    let answer = raw_http(&env, req.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let seen = rec.received();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let got = &seen[0];
    assert_eq!(got.path_and_query, "/openai/v1/chat/completions");
    assert_eq!(
        got.header("openai-organization"),
        Some("org-from-config"),
        "{got:?}"
    );
    assert_eq!(
        got.header("openai-project"),
        Some("proj_from_config"),
        "{got:?}"
    );
    assert_eq!(
        got.headers
            .iter()
            .filter(|(k, _)| k.starts_with("openai-"))
            .count(),
        3,
        "one organization, one project, one beta: {got:?}"
    );
    assert_eq!(
        got.header("authorization"),
        Some(format!("Bearer {UPSTREAM_KEY}").as_str())
    );
    for dropped in [
        "api-key",
        "x-api-key",
        "forwarded",
        "x-forwarded-for",
        "x-real-ip",
        "cookie",
        "x-caller-note",
        "x-secret-hop",
        "idempotency-key",
    ] {
        assert_eq!(
            got.header(dropped),
            None,
            "{dropped} went upstream: {got:?}"
        );
    }
    for (kept, value) in [
        ("accept", "application/json"),
        ("user-agent", "OpenAI/Python 1.99.0"),
        ("openai-beta", "assistants=v2"),
        ("x-client-request-id", "job-1"),
        ("x-stainless-lang", "python"),
        ("x-stainless-retry-count", "0"),
        ("content-type", "application/json"),
    ] {
        assert_eq!(got.header(kept), Some(value), "{kept}: {got:?}");
    }
    // The answer: no account headers, nothing the upstream's Connection names.
    let back = raw_headers(&answer);
    let has = |n: &str| back.iter().any(|(k, _)| k == n);
    for gone in ["openai-organization", "openai-project", "x-upstream-hop"] {
        assert!(!has(gone), "{gone} came back: {answer}");
    }
    assert!(has("x-upstream-other"), "{answer}");

    // `pass_organization_header = true` passes the upstream's account headers back.
    let (env, _rec) = behind_recorder(
        "[upstream]\npass_organization_header = true\n",
        &upstream_answers,
    )
    .await;
    let r = env
        .chat_with_header(ACME_KEY, "OpenAI-Organization", "org-chosen-by-caller")
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header_of(&r, "openai-organization"),
        Some("org-upstream-real")
    );
    assert_eq!(header_of(&r, "openai-project"), Some("proj_upstream_real"));
    assert_eq!(header_of(&r, "x-upstream-hop"), None);
    let _ = r.bytes().await;
    let seen = _rec.received();
    assert_eq!(seen[0].header("openai-organization"), None, "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_bodies_the_upstream_could_read_differently_are_refused() {
    let env = Env::start(&base_toml("")).await;
    let send = |content_type: &'static str, body: &'static str| {
        env.http
            .post(env.url("/v1/chat/completions"))
            .bearer_auth(ACME_KEY)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let msgs = r#""messages":[{"role":"user","content":"hi"}]"#;
    let cases: Vec<(&str, String, &str, &str)> = vec![
        (
            "application/json",
            format!(r#"{{"model":"gpt-4o-mini","model":"gpt-4o",{msgs}}}"#),
            "model",
            "duplicate_key",
        ),
        // Media types are case-insensitive: upper case is still inspected.
        (
            "APPLICATION/JSON",
            format!(r#"{{"model":"gpt-4o-mini","model":"o1",{msgs}}}"#),
            "model",
            "duplicate_key",
        ),
        (
            "Application/Json; charset=utf-8",
            format!(r#"{{"model":"gpt-4o","max_tokens":"100000",{msgs}}}"#),
            "max_tokens",
            "invalid_type",
        ),
        (
            "application/json",
            format!(r#"{{"model":"gpt-4o","max_completion_tokens":-1,{msgs}}}"#),
            "max_completion_tokens",
            "invalid_type",
        ),
        (
            "application/json",
            format!(r#"{{"model":"gpt-4o","n":"8",{msgs}}}"#),
            "n",
            "invalid_type",
        ),
        (
            "application/json",
            format!(r#"{{"model":"gpt-4o","stream":"true",{msgs}}}"#),
            "stream",
            "invalid_type",
        ),
        (
            "application/json",
            format!(r#"{{"model":["gpt-4o"],{msgs}}}"#),
            "model",
            "invalid_type",
        ),
    ];
    for (ct, body, param, code) in cases {
        let body: &'static str = Box::leak(body.into_boxed_str());
        let r = send(Box::leak(ct.to_string().into_boxed_str()), body)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let e = api_error(r).await;
        assert_eq!(e.status, 400, "{ct} {body}: {}", e.raw);
        assert_eq!(e.body.error.kind, "invalid_request_error", "{}", e.raw);
        assert_eq!(
            e.body.error.param.as_deref(),
            Some(param),
            "{body}: {}",
            e.raw
        );
        assert_eq!(
            e.body.error.code.as_deref(),
            Some(code),
            "{body}: {}",
            e.raw
        );
    }
    assert_eq!(
        env.sim.stats().requests,
        0,
        "a refused body reached the upstream"
    );

    // Over the JSON limit in upper case: refused like lower case, before the body is read.
    let limit = quota_sentinel::proxy::MAX_JSON_BODY;
    let req = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {ACME_KEY}\r\n\
         Content-Type: APPLICATION/JSON; Charset=UTF-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        limit + 1
    );
    let answer = raw_http(&env, req.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("request_too_large"), "{answer}");

    // A well-typed body still goes through, read with an upper-case media type.
    let r = send(
        "APPLICATION/JSON",
        r#"{"model":"gpt-4o-mini","max_tokens":null,"n":1,"stream":false,"messages":[{"role":"user","content":"hi"}]}"#,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status(), 200);
    let _ = r.bytes().await;
    env.wait_usage(ACME_KEY, "model", |v| {
        any_row_key(v, |k| k.starts_with("gpt-4o-mini"))
    })
    .await;
    assert_eq!(env.sim.stats().requests, 1);
}

#[tokio::test]
async fn an_answer_whose_media_type_is_written_in_capitals_is_still_metered() {
    // Media types are case-insensitive on the answer as on the request.
    let (env, _rec) =
        behind_recorder("", &[("content-type", "Application/JSON; charset=utf-8")]).await;
    assert_eq!(env.chat(ACME_KEY, "metered").await.status(), 200);
    let report = env
        .wait_usage(ACME_KEY, "family", |v| {
            usage_row(v, "chat.completions").is_some()
        })
        .await;
    let row = usage_row(&report, "chat.completions").unwrap_or(&Value::Null);
    assert_eq!(
        (n(row, "input_tokens"), n(row, "output_tokens")),
        (5, 1),
        "{report}"
    );
    assert_eq!(n(row, "estimated_requests"), 0, "{report}");
}
