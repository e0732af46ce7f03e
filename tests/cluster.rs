//! Several gateway instances on one PostgreSQL and one Redis (`scripts/with-engines.sh` starts
//! both): limits are exact across instances, a cold Redis is rebuilt from the ledger, and an
//! unreachable Redis fails closed for workspaces with USD budgets.

mod support;

use std::sync::Arc;

use serde_json::Value;
use support::*;

/// Three instances sharing a new PostgreSQL schema and a Redis database; the second and third
/// call the first one's simulator.
async fn cluster(toml: &str, redis_url: &str) -> Vec<Env> {
    cluster_on(toml, &postgres_schema_url().await, redis_url).await
}

/// Three instances on the PostgreSQL at `database_url` and the Redis at `redis_url` (either may
/// lead through a relay a test cuts); the second and third call the first one's simulator.
async fn cluster_on(toml: &str, database_url: &str, redis_url: &str) -> Vec<Env> {
    let opts = |upstream: Option<String>| Options {
        database_url: Some(database_url.to_string()),
        redis_url: Some(redis_url.to_string()),
        upstream_url: upstream,
        ..Options::default()
    };
    let a = Env::start_opts(toml, opts(None)).await;
    let upstream = Some(format!("{}/v1", a.sim_url));
    let b = Env::start_opts(toml, opts(upstream.clone())).await;
    let c = Env::start_opts(toml, opts(upstream)).await;
    vec![a, b, c]
}

/// A relay in front of the server of `url`, which a test can cut and heal, and `url` leading
/// through it (the server's host and port follow `after`: `"redis://"`, or `"@"` in a
/// PostgreSQL URL).
async fn relayed(url: &str, after: &str) -> (support::cut::Cuttable, String) {
    let authority = url
        .split(after)
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("{url}"))
        .to_string();
    let relay = support::cut::Cuttable::start(authority.clone()).await;
    let through = url.replace(&authority, &relay.addr.to_string());
    (relay, through)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_per_minute_are_exact_across_three_instances() {
    let redis = redis_db_url().await;
    let envs = Arc::new(cluster(&base_toml("requests_per_minute = 100"), &redis).await);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..32 {
        let (envs, next) = (envs.clone(), next.clone());
        clients.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= 300 {
                    return seen;
                }
                let r = envs[i % 3].chat(ACME_KEY, &format!("call {i}")).await;
                let status = r.status().as_u16();
                let retry = r.headers().contains_key("retry-after");
                let body: Value = r.json().await.unwrap_or_else(|e| panic!("{e}"));
                seen.push((status, retry, body));
            }
        }));
    }
    let (mut ok, mut refused) = (0, 0);
    for c in clients {
        for (status, retry, body) in c.await.unwrap_or_else(|e| panic!("{e}")) {
            match status {
                200 => ok += 1,
                429 => {
                    assert_eq!(body["error"]["code"], "workspace_quota_exceeded", "{body}");
                    assert!(retry, "{body}");
                    refused += 1;
                }
                other => panic!("{other}: {body}"),
            }
        }
    }
    assert_eq!((ok, refused), (100, 200));
    let upstream = envs[0].sim.stats().by_path["/v1/chat/completions"];
    assert_eq!(upstream, 100, "calls the upstream answered");
    // Every instance shows the shared minute once its calls have settled.
    for env in envs.iter() {
        let st = env.get_json(ACME_KEY, "/api/quota/status").await;
        assert_eq!(st["status"], "rate_limited", "{st}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flushed_redis_is_rebuilt_from_the_ledger_without_double_counting() {
    let redis = redis_db_url().await;
    let envs = cluster(&base_toml("requests_per_day = 10"), &redis).await;
    for i in 0..4 {
        let r = envs[i % 3].chat(ACME_KEY, &format!("call {i}")).await;
        assert_eq!(r.status(), 200);
    }
    // The rows reach the ledger (batched), then Redis forgets everything.
    wait_for("four ledger rows", || async {
        let st = envs[1]
            .get_json(ACME_KEY, "/api/quota/usage?group_by=family")
            .await;
        st["rows"][0]["requests"].as_u64() == Some(4)
    })
    .await;
    flush(&redis).await;
    // Seeded from the ledger (4), never added to: six more fit, the eleventh does not.
    for i in 4..10 {
        let r = envs[i % 3].chat(ACME_KEY, &format!("call {i}")).await;
        assert_eq!(r.status(), 200, "call {i}");
    }
    let r = envs[1].chat(ACME_KEY, "one too many").await;
    assert_eq!(r.status(), 429);
    // The refusing instance mirrored the shared counters.
    let st = envs[1].get_json(ACME_KEY, "/api/quota/status").await;
    assert_eq!(n(&st["usage"], "requests_day"), 10, "{st}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_fails_closed_for_budgets_only_and_service_resumes() {
    let redis = redis_db_url().await;
    let (relay, through) = relayed(&redis, "redis://").await;
    let toml = base_toml("budget_usd_per_day = 100.0");
    let opts = Options {
        database_url: Some(postgres_schema_url().await),
        redis_url: Some(through),
        ..Options::default()
    };
    let env = Env::start_opts(&toml, opts).await;
    assert_eq!(env.chat(ACME_KEY, "before").await.status(), 200);

    relay.cut();
    let r = env.chat(ACME_KEY, "while redis is away").await;
    assert_eq!(r.status(), 503);
    assert_eq!(
        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("5")
    );
    let body: Value = r.json().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(body["error"]["code"], "quota_state_unavailable", "{body}");
    assert_eq!(body["error"]["type"], "server_error", "{body}");
    // The workspace's status says why.
    let st = env.get_json(ACME_KEY, "/api/quota/status").await;
    let why = st["last_error"].as_str().unwrap_or_default();
    assert!(why.contains("Redis"), "{st}");
    // Beta has no USD budget: served on this instance's own counters.
    assert_eq!(env.chat(BETA_KEY, "no budget").await.status(), 200);
    let health = env.get_json(ACME_KEY, "/healthz").await;
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["shared_state"]["engine"], "redis", "{health}");
    assert_eq!(health["shared_state"]["reachable"], false, "{health}");

    relay.heal();
    wait_for("service to resume", || async {
        env.chat(ACME_KEY, "after").await.status() == 200
    })
    .await;
    let health = env.get_json(ACME_KEY, "/healthz").await;
    assert_eq!(health["shared_state"]["reachable"], true, "{health}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_failure_open_serves_budgets_on_local_counters() {
    let redis = redis_db_url().await;
    let (relay, through) = relayed(&redis, "redis://").await;
    let toml = format!(
        "{}\n[redis]\non_failure = \"open\"\n",
        base_toml("budget_usd_per_day = 100.0")
    );
    let opts = Options {
        redis_url: Some(through),
        ..Options::default()
    };
    let env = Env::start_opts(&toml, opts).await;
    relay.cut();
    assert_eq!(env.chat(ACME_KEY, "redis away").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_websocket_on_one_instance_sees_the_status_a_call_through_another_caused() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let redis = redis_db_url().await;
    let envs = cluster(&base_toml("requests_per_minute = 3"), &redis).await;
    let url = format!(
        "{}/api/quota/ws?token={ACME_KEY}",
        envs[0].gateway.replacen("http://", "ws://", 1)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Three calls through the third instance reach the limit; the fourth is refused there.
    for i in 0..3 {
        assert_eq!(
            envs[2].chat(ACME_KEY, &format!("call {i}")).await.status(),
            200
        );
    }
    let caused = std::time::Instant::now();
    assert_eq!(envs[2].chat(ACME_KEY, "refused").await.status(), 429);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let m = tokio::time::timeout_at(deadline, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no rate_limited status on the first instance in 10 s"));
        let Some(Ok(Message::Text(t))) = m else {
            continue;
        };
        let v: Value = serde_json::from_str(&t).unwrap_or_default();
        if v["type"] == "status" && v["data"]["status"] == "rate_limited" {
            eprintln!(
                "cross-instance status: {} ms after the refusal's answer",
                caused.elapsed().as_millis()
            );
            break;
        }
    }
    // The first instance's REST status agrees.
    let st = envs[0].get_json(ACME_KEY, "/api/quota/status").await;
    assert_eq!(st["status"], "rate_limited", "{st}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_upstream_answered_one_instance_is_the_account_state_of_all() {
    let redis = redis_db_url().await;
    let envs = cluster(&base_toml(""), &redis).await;
    // Let the instances' subscriptions settle in before the announcement.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    envs[0]
        .sim
        .inject(quota_sentinel::simulator::Fault::InsufficientQuota, 1);
    let r = envs[2].chat(ACME_KEY, "the account is out of quota").await;
    assert_eq!(r.status(), 429);
    // Beta never called through the first instance, which never saw the 429 itself.
    wait_for(
        "the account's quota_exceeded on the first instance",
        || async {
            let st = envs[0].get_json(BETA_KEY, "/api/quota/status").await;
            st["status"] == "quota_exceeded" && st["scope"] == "account"
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reservations_of_a_killed_instance_expire_and_its_calls_leave_no_row() {
    let redis = redis_db_url().await;
    let db = postgres_schema_url().await;
    let toml = format!(
        "{}\n[upstream]\ntimeout_seconds = 3\n",
        base_toml("tokens_per_day = 2000")
    );
    let env = Env::start_opts(
        &toml,
        Options {
            database_url: Some(db.clone()),
            redis_url: Some(redis.clone()),
            ..Options::default()
        },
    )
    .await;
    let sim_v1 = format!("{}/v1", env.sim_url);
    let mut killed = support::process::Process::start_with(
        "4096:4096",
        &toml,
        &["--database-url", &db, "--redis-url", &redis],
        &[
            ("QS_UPSTREAM_URL", &sim_v1),
            ("OPENAI_API_KEY", UPSTREAM_KEY),
        ],
    )
    .await;
    // Two calls through the doomed instance hang upstream, holding ~1,600 of the 2,000 tokens.
    env.sim
        .inject(quota_sentinel::simulator::Fault::Delay { ms: 20_000 }, 2);
    let big = serde_json::json!({"model": "gpt-4o-mini", "max_tokens": 800,
        "messages": [{"role": "user", "content": "hello"}]});
    let url = format!("http://{}/v1/chat/completions", killed.addr);
    for _ in 0..2 {
        let (http, url, body) = (env.http.clone(), url.clone(), big.clone());
        tokio::spawn(async move {
            let _ = http
                .post(url)
                .bearer_auth(ACME_KEY)
                .json(&body)
                .send()
                .await;
        });
    }
    wait_for("two calls upstream", || async {
        env.sim.stats().by_path.get("/v1/chat/completions") == Some(&2)
    })
    .await;
    killed.kill();
    let killed_at = std::time::Instant::now();
    // Held by the dead instance: refused here.
    let r = env
        .post(ACME_KEY, "/v1/chat/completions", big.clone())
        .await;
    assert_eq!(r.status(), 429, "{}", r.text().await.unwrap_or_default());
    // Released by expiry (3 s timeout + 10 s), without the dead instance.
    wait_for("the dead instance's reservations to expire", || async {
        env.post(ACME_KEY, "/v1/chat/completions", big.clone())
            .await
            .status()
            == 200
    })
    .await;
    let waited = killed_at.elapsed();
    assert!(waited.as_secs() <= 14, "{waited:?}");
    // Only answered calls are in the ledger: the survivor's one.
    wait_for("the survivor's row", || async {
        let st = env
            .get_json(ACME_KEY, "/api/quota/usage?group_by=family")
            .await;
        st["rows"][0]["requests"].as_u64() == Some(1)
    })
    .await;
}

/// A cluster whose workspace has `requests_per_minute = 2`, both used through the first
/// instance.
async fn cluster_at_its_limit() -> Vec<Env> {
    let redis = redis_db_url().await;
    let envs = cluster(&base_toml("requests_per_minute = 2"), &redis).await;
    for i in 0..2 {
        assert_eq!(
            envs[0].chat(ACME_KEY, &format!("call {i}")).await.status(),
            200
        );
    }
    envs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_change_seen_by_every_instance_is_notified_once() {
    let envs = cluster_at_its_limit().await;
    // Refused through every instance: each one sees the workspace rate limited.
    for env in &envs {
        assert_eq!(env.chat(ACME_KEY, "refused").await.status(), 429);
    }
    // Once the writers are through (batches every few ms), each instance lists one notice.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    for env in &envs {
        assert_eq!(rate_limited_notices(env).await, 1);
    }
}

async fn rate_limited_notices(env: &Env) -> usize {
    let v = env
        .get_json(ACME_KEY, "/api/quota/notifications?limit=500")
        .await;
    v["notifications"]
        .as_array()
        .map(|a| a.iter().filter(|n| n["status"] == "rate_limited").count())
        .unwrap_or(0)
}

/// 64 clients spread over the instances make `calls` calls of `body`; the answers' statuses.
async fn load(envs: &Arc<Vec<Env>>, calls: usize, body: Value) -> Vec<u16> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..64 {
        let (envs, next, body) = (envs.clone(), next.clone(), body.clone());
        clients.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= calls {
                    return seen;
                }
                let env = &envs[i % envs.len()];
                let r = env
                    .post(ACME_KEY, "/v1/chat/completions", body.clone())
                    .await;
                seen.push(r.status().as_u16());
                // Slow down a little so that outages fall mid-load.
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }));
    }
    let mut all = Vec::new();
    for c in clients {
        all.extend(c.await.unwrap_or_else(|e| panic!("{e}")));
    }
    all
}

/// The ledger's rows and their distinct request ids, and the tokens in all.
async fn pg_ledger(url: &str) -> (i64, i64, i64) {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let row: (i64, i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(DISTINCT request_id), \
                CAST(COALESCE(SUM(input_tokens + output_tokens), 0) AS BIGINT) FROM ledger",
    )
    .fetch_one(&mut c)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let _ = c.close().await;
    row
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_per_minute_admitted_across_instances_never_pass_the_limit() {
    let redis = redis_db_url().await;
    let db = postgres_schema_url().await;
    let toml = base_toml("tokens_per_minute = 3000\nrequests_per_minute = 0");
    let envs = Arc::new(cluster_on(&toml, &db, &redis).await);
    let body = serde_json::json!({"model": "gpt-4o-mini", "max_tokens": 40,
        "messages": [{"role": "user", "content": "count the tokens of this call"}]});
    let seen = load(&envs, 300, body).await;
    let ok = seen.iter().filter(|&&s| s == 200).count() as i64;
    assert!(seen.iter().all(|&s| s == 200 || s == 429), "{seen:?}");
    assert!(ok > 0 && ok < 300, "{ok} answered");
    wait_for("every answered call in the ledger", || async {
        pg_ledger(&db).await.0 == ok
    })
    .await;
    // Every admission reserved its worst case against the shared minute: what the answered
    // calls used (all within the minute) stays under the limit.
    let (_, _, tokens) = pg_ledger(&db).await;
    assert!(
        tokens <= 3000,
        "{tokens} tokens admitted in a minute of 3,000"
    );
    eprintln!("tokens_per_minute 3000: {ok} calls answered, {tokens} tokens used");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_and_postgres_restarted_mid_load_lose_and_duplicate_no_row() {
    let redis = redis_db_url().await;
    let db = postgres_schema_url().await;
    let (redis_relay, redis_through) = relayed(&redis, "redis://").await;
    let (db_relay, db_through) = relayed(&db, "@").await;
    // No limit is reached: every call is answered, whatever the outages.
    let toml = base_toml("requests_per_minute = 0\nrequests_per_day = 0");
    let envs = Arc::new(cluster_on(&toml, &db_through, &redis_through).await);
    let body = serde_json::json!({"model": "gpt-4o-mini", "max_tokens": 8,
        "messages": [{"role": "user", "content": "hello"}]});
    let chaos = async {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        // Redis restarts (its data gone), then PostgreSQL goes away for a while.
        redis_relay.cut();
        flush(&redis).await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        redis_relay.heal();
        db_relay.cut();
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        db_relay.heal();
    };
    let (seen, ()) = tokio::join!(load(&envs, 600, body), chaos);
    assert!(seen.iter().all(|&s| s == 200), "{seen:?}");
    wait_for("every answered call in the ledger, once", || async {
        let (rows, distinct, _) = pg_ledger(&db).await;
        assert!(rows <= 600, "{rows} rows for 600 calls");
        rows == 600 && distinct == 600
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_reset_on_one_instance_resets_every_instance() {
    let envs = cluster_at_its_limit().await;
    assert_eq!(envs[1].chat(ACME_KEY, "refused").await.status(), 429);
    let r = envs[2]
        .post(
            ADMIN_KEY,
            "/api/quota/reset",
            serde_json::json!({"workspace": "acme"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    // The other instances mirror the reset (announced), and calls go through them again.
    wait_for("the reset on the second instance", || async {
        envs[1].get_json(ACME_KEY, "/api/quota/status").await["status"] == "normal"
    })
    .await;
    assert_eq!(
        envs[1].chat(ACME_KEY, "after the reset").await.status(),
        200
    );
    assert_eq!(envs[0].chat(ACME_KEY, "and one more").await.status(), 200);
    assert_eq!(
        envs[1].chat(ACME_KEY, "the limit again").await.status(),
        429
    );
}

async fn flush(url: &str) {
    let client = redis::Client::open(url).unwrap_or_else(|e| panic!("{e}"));
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let () = redis::cmd("FLUSHDB")
        .query_async(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}
