//! The proxy's policies (issue 13): the model downgrade once a workspace's USD budgets reach a
//! rule's share.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    let env = Env::start_opts(
        &base_toml(&downgrading(0.01, "gpt-4.1-mini")),
        Options {
            upstream_url: Some(upstream.url.clone()),
            ..Options::default()
        },
    )
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

// ------------------------------------------------------------------- a scripted upstream

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

/// A fake upstream on 127.0.0.1:0 that keeps every request body and answers a chat completion
/// for the request's model, with a large usage.
struct Scripted {
    url: String,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
    _stop: tokio_util::sync::CancellationToken,
}

impl Scripted {
    async fn start() -> Scripted {
        use axum::body::Body;
        use axum::http::{HeaderValue, Request, Response, StatusCode};
        let bodies: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let kept = bodies.clone();
        let app = axum::Router::new().fallback(move |req: Request<Body>| {
            let kept = kept.clone();
            async move {
                let body = axum::body::to_bytes(req.into_body(), 1 << 20)
                    .await
                    .unwrap_or_default();
                kept.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(body.to_vec());
                let canned = {
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
                };
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
            _stop: stop,
        }
    }

    fn bodies(&self) -> Vec<Vec<u8>> {
        self.bodies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
