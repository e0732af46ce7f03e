//! The REST API around the proxy: admin endpoints, workspace isolation, the WebSocket and the
//! configuration file.

mod support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use quota_sentinel::simulator::Fault;
use serde_json::{json, Value};
use support::*;
use tokio_tungstenite::tungstenite::{self, Message};

// ------------------------------------------------------------------ admin

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_endpoints_need_the_admin_key() {
    let env = Env::start(&base_toml("")).await;
    let r = env.get_anon("/api/admin/workspaces").await;
    let e = api_error(r).await;
    e.assert_status_code(401, "admin_key_required");

    // A wrong key is refused, and a workspace key is not an admin key either.
    for (what, r) in [
        (
            "a wrong key listing",
            env.get("not-the-admin-key-000", "/api/admin/workspaces")
                .await,
        ),
        (
            "a workspace key listing",
            env.get(ACME_KEY, "/api/admin/workspaces").await,
        ),
        (
            "a workspace key creating",
            env.post(ACME_KEY, "/api/admin/workspaces", json!({"id": "evil"}))
                .await,
        ),
    ] {
        let e = api_error(r).await;
        assert_eq!(e.status, 403, "{what}: {}", e.raw);
        assert_eq!(e.body.error.kind, "permission_error", "{what}: {}", e.raw);
    }

    let list = env.get_json(ADMIN_KEY, "/api/admin/workspaces").await;
    let ids: Vec<&str> = list["workspaces"]
        .as_array()
        .map(|a| a.iter().filter_map(|w| w["workspace"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, ["acme", "beta"], "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_admin_key_the_admin_api_is_disabled() {
    let env = Env::start_opts(
        &base_toml(""),
        Options {
            admin_key: None,
            ..Options::default()
        },
    )
    .await;
    for key in [Some(ADMIN_KEY), Some("anything-at-all-123"), None] {
        let mut req = env.http.get(env.url("/api/admin/workspaces"));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let e = api_error(req.send().await.unwrap_or_else(|e| panic!("{e}"))).await;
        e.assert_status_code_for(format_args!("{key:?}"), 403, "admin_api_disabled");
    }
    let e = api_error(
        env.post(ADMIN_KEY, "/api/quota/reset", json!({"workspace": "acme"}))
            .await,
    )
    .await;
    e.assert_code("admin_api_disabled");
    // The proxy still works.
    assert_eq!(env.chat(ACME_KEY, "hello").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_workspaces_and_minted_keys_work_and_survive_a_restart() {
    let mut env = Env::start(&base_toml("")).await;
    let r = env
        .post(
            ADMIN_KEY,
            "/api/admin/workspaces",
            json!({"id": "gamma", "name": "Gamma", "requests_per_day": 1234}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap_or_default();
    assert_eq!(created["workspace"], "gamma", "{created}");
    assert_eq!(created["limits"]["requests_per_day"], 1234, "{created}");

    // A taken id, a malformed id, and keys for a workspace that does not exist.
    for (path, body, status) in [
        ("/api/admin/workspaces", json!({"id": "gamma"}), 409),
        ("/api/admin/workspaces", json!({"id": "bad id!"}), 400),
        ("/api/admin/workspaces/nope/keys", json!({}), 404),
    ] {
        let e = api_error(env.post(ADMIN_KEY, path, body.clone()).await).await;
        assert_eq!(e.status, status, "POST {path} {body}: {}", e.raw);
    }

    let r = env
        .post(ADMIN_KEY, "/api/admin/workspaces/gamma/keys", json!({}))
        .await;
    assert_eq!(r.status(), 201);
    let minted: Value = r.json().await.unwrap_or_default();
    let key = minted["key"].as_str().unwrap_or_default().to_string();
    assert!(key.starts_with("qs_"), "{minted}");
    assert_eq!(minted["workspace"], "gamma");
    assert_eq!(minted["key_sha256"], sha(&key), "{minted}");

    let r = env.chat(&key, "hello from gamma").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()
            .get("x-quota-workspace")
            .and_then(|v| v.to_str().ok()),
        Some("gamma")
    );
    let _ = r.bytes().await;
    let st = env.get_json(&key, "/api/quota/status").await;
    assert_eq!(st["workspace"], "gamma", "{st}");
    env.wait_usage(&key, "family", |v| {
        usage_row(v, "chat.completions").is_some()
    })
    .await;

    env.restart().await;

    let list = env.get_json(ADMIN_KEY, "/api/admin/workspaces").await;
    let gamma = list["workspaces"]
        .as_array()
        .and_then(|a| a.iter().find(|w| w["workspace"] == "gamma"))
        .cloned()
        .unwrap_or_else(|| panic!("gamma is gone after a restart: {list}"));
    assert_eq!(gamma["name"], "Gamma", "{gamma}");
    assert_eq!(gamma["limits"]["requests_per_day"], 1234, "{gamma}");
    let r = env.chat(&key, "hello again").await;
    assert_eq!(
        r.status(),
        200,
        "the minted key stopped working after a restart"
    );
    let _ = r.bytes().await;
    let st = env.get_json(&key, "/api/quota/status").await;
    assert_eq!(st["workspace"], "gamma", "{st}");
    assert_eq!(st["usage"]["requests_day"], 2, "{st}");
}

/// Stops the gateway, writes `json` as workspace gamma's stored limits, starts it again.
async fn restart_with_stored_limits(env: &mut Env, json: &str) {
    env.stop_gateway().await;
    let pool = env.db_pool().await;
    sqlx::query("UPDATE workspaces SET limits = ?1 WHERE id = 'gamma'")
        .bind(json)
        .execute(&pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    pool.close().await;
    env.restart().await;
}

/// Stored limits that break a rule are never used, nor replaced silently: the workspace runs
/// on the default limits and is told which field is wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_limits_that_break_a_rule_are_reported_and_the_defaults_apply() {
    let mut env = Env::start(&base_toml("")).await;
    let body = json!({"id": "gamma", "requests_per_day": 1234});
    assert_eq!(
        env.post(ADMIN_KEY, "/api/admin/workspaces", body)
            .await
            .status(),
        201
    );
    let minted: Value = env
        .post(ADMIN_KEY, "/api/admin/workspaces/gamma/keys", json!({}))
        .await
        .json()
        .await
        .unwrap_or_default();
    let key = minted["key"].as_str().unwrap_or_default().to_string();
    restart_with_stored_limits(
        &mut env,
        r#"{"id":"gamma","requests_per_day":1234,"budget_usd_per_day":-5.0}"#,
    )
    .await;

    let st = env.get_json(&key, "/api/quota/status").await;
    assert_eq!(
        st["limits"]["requests_per_day"], 10_000,
        "the defaults: {st}"
    );
    assert_eq!(st["limits"]["budget_usd_per_day"], Value::Null, "{st}");
    let n = env
        .wait_notification(&key, "", "notif-stored-limits-invalid")
        .await;
    assert_eq!(n["workspace"], "gamma", "{n}");
    assert_eq!(n["level"], "warning", "{n}");
    assert_eq!(n["args"]["field"], "budget_usd_per_day", "{n}");
    assert!(
        n["body"]
            .as_str()
            .unwrap_or_default()
            .contains("budget_usd_per_day"),
        "{n}"
    );
    // The other workspaces hear nothing of it.
    let list = env.get_json(ACME_KEY, "/api/quota/notifications").await;
    assert!(
        !list.to_string().contains("notif-stored-limits-invalid"),
        "{list}"
    );

    // Limits whose JSON cannot be read (a string where a number goes) do not stop the gateway
    // or the other workspaces: reported the same way, naming the limits as a whole.
    restart_with_stored_limits(&mut env, r#"{"id":"gamma","requests_per_day":"lots"}"#).await;
    let st = env.get_json(&key, "/api/quota/status").await;
    assert_eq!(st["limits"]["requests_per_day"], 10_000, "{st}");
    let list = env
        .wait_json(&key, "/api/quota/notifications", |v| {
            v.to_string().contains(r#""field":"limits""#)
        })
        .await;
    assert!(
        list.to_string().contains("notif-stored-limits-invalid"),
        "{list}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_key_reads_only_its_own_workspace() {
    let env = Env::start(&base_toml("")).await;
    for path in [
        "/api/quota/status",
        "/api/quota/usage",
        "/api/quota/notifications",
        "/api/quota/check",
    ] {
        let e = api_error(env.get(ACME_KEY, &format!("{path}?workspace=beta")).await).await;
        e.assert_status_code_for(format_args!("{path}"), 403, "workspace_forbidden");
    }
    let own = env
        .get_json(ACME_KEY, "/api/quota/status?workspace=acme")
        .await;
    assert_eq!(own["workspace"], "acme");
    let b = env
        .get_json(ADMIN_KEY, "/api/quota/status?workspace=beta")
        .await;
    assert_eq!(b["workspace"], "beta", "{b}");
    assert_eq!(b["name"], "Beta", "{b}");
    let u = env
        .get_json(ADMIN_KEY, "/api/quota/usage?workspace=beta")
        .await;
    assert_eq!(u["workspace"], "beta", "{u}");
    let e = api_error(env.get(ADMIN_KEY, "/api/quota/status").await).await;
    assert_eq!(e.status, 400, "{}", e.raw);
    let e = api_error(env.get(ADMIN_KEY, "/api/quota/status?workspace=nope").await).await;
    assert_eq!(e.status, 404, "{}", e.raw);
}

// ------------------------------------------------------------------ WebSocket

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws_connect(env: &Env, token: &str) -> Ws {
    let url = format!(
        "{}/api/quota/ws?token={token}",
        env.gateway.replacen("http://", "ws://", 1)
    );
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .unwrap_or_else(|e| panic!("ws connect: {e}"));
    ws
}

/// The next JSON text message within `within`, or `None`.
async fn ws_next(ws: &mut Ws, within: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next()).await.ok()??;
        match msg {
            Ok(Message::Text(t)) => {
                return Some(
                    serde_json::from_str(t.as_str())
                        .unwrap_or_else(|e| panic!("bad ws message {t}: {e}")),
                )
            }
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

/// The next message of type `kind` within `within` (others are skipped).
async fn ws_wait(ws: &mut Ws, kind: &str, within: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let m = ws_next(ws, left).await?;
        if m["type"] == kind {
            return Some(m);
        }
    }
}

/// [`ws_wait`] that must hear the message: panics, naming `what` was awaited, when none comes.
async fn ws_expect(
    ws: &mut Ws,
    kind: &str,
    within: Duration,
    what: impl std::fmt::Display,
) -> Value {
    ws_wait(ws, kind, within)
        .await
        .unwrap_or_else(|| panic!("{what} (no {kind} message within {within:?})"))
}

/// The next notification within `within`, which must be a `key` one; panics, naming `what` was
/// awaited, when none comes.
async fn ws_notification(
    ws: &mut Ws,
    within: Duration,
    key: &str,
    what: impl std::fmt::Display,
) -> Value {
    let notif = ws_expect(ws, "notification", within, what).await;
    assert_eq!(notif["data"]["key"], key, "{notif}");
    notif
}

/// One chat by acme that the upstream refuses for the account's quota (429), read to its end.
async fn chat_refused_for_quota(env: &Env) {
    env.sim.inject(Fault::InsufficientQuota, 1);
    let r = env.chat(ACME_KEY, "hello").await;
    assert_eq!(r.status(), 429);
    let _ = r.bytes().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_websocket_sends_status_pong_and_notifications() {
    let env = Env::start(&base_toml("")).await;
    let mut ws = ws_connect(&env, ACME_KEY).await;
    let first = ws_next(&mut ws, Duration::from_secs(5))
        .await
        .unwrap_or_else(|| panic!("no first message"));
    assert_eq!(first["type"], "status", "{first}");
    assert_eq!(first["data"]["workspace"], "acme", "{first}");
    assert_eq!(first["data"]["status"], "normal", "{first}");

    ws.send(Message::Text(r#"{"type":"ping"}"#.into()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let pong = ws_expect(&mut ws, "pong", Duration::from_secs(5), "no pong").await;
    assert_eq!(pong, json!({"type": "pong"}));

    chat_refused_for_quota(&env).await;
    let notif = ws_notification(
        &mut ws,
        Duration::from_secs(1),
        "notif-quota-exceeded-account",
        "no notification within 1 s of the refusal",
    )
    .await;
    assert_eq!(notif["data"]["workspace"], "acme", "{notif}");
    assert!(
        notif["data"]["title"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{notif}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_socket_never_gets_another_workspaces_notifications() {
    let env = Env::start(&base_toml("requests_per_minute = 1")).await;
    let mut acme = ws_connect(&env, ACME_KEY).await;
    let mut beta = ws_connect(&env, BETA_KEY).await;
    let a0 = ws_next(&mut acme, Duration::from_secs(5))
        .await
        .unwrap_or_default();
    assert_eq!(a0["data"]["workspace"], "acme", "{a0}");
    let b0 = ws_next(&mut beta, Duration::from_secs(5))
        .await
        .unwrap_or_default();
    assert_eq!(b0["data"]["workspace"], "beta", "{b0}");

    // acme's own limit: the second call is refused.
    let r = env.chat(ACME_KEY, "one").await;
    assert_eq!(r.status(), 200);
    let _ = r.bytes().await;
    let r = env.chat(ACME_KEY, "two").await;
    assert_eq!(r.status(), 429);
    ws_notification(
        &mut acme,
        Duration::from_secs(2),
        "notif-rate-limited-workspace",
        "acme got no notification",
    )
    .await;
    // Everything acme's event published is already in beta's queue if it was sent there.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
    while let Some(m) = ws_next(
        &mut beta,
        deadline.saturating_duration_since(tokio::time::Instant::now()),
    )
    .await
    {
        assert_ne!(
            m["type"], "notification",
            "beta got acme's notification: {m}"
        );
        assert_eq!(
            m["data"]["workspace"], "beta",
            "beta got acme's status: {m}"
        );
    }
}

/// Read-your-writes: a notification heard on the WebSocket is listed by
/// `GET /api/quota/notifications` right away (not a batch interval later), in the same form
/// (same id, same time), over several transitions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_heard_on_the_websocket_is_listed_right_away() {
    let mut env = Env::start(&base_toml("")).await;
    let mut ws = ws_connect(&env, ACME_KEY).await;
    let first = ws_expect(&mut ws, "status", Duration::from_secs(5), "no first status").await;
    assert_eq!(first["data"]["status"], "normal", "{first}");
    let mut heard: Vec<String> = Vec::new();
    for round in 0..4 {
        for want in ["notif-quota-exceeded-account", "notif-recovered"] {
            if want == "notif-recovered" {
                env.post_ok(ADMIN_KEY, "/api/quota/reset", json!({"workspace": "acme"}))
                    .await;
            } else {
                chat_refused_for_quota(&env).await;
            }
            let notif = ws_notification(
                &mut ws,
                Duration::from_secs(2),
                want,
                format!("round {round}: no {want} notification"),
            )
            .await;
            let id = notif["data"]["id"].as_str().unwrap_or_default().to_string();
            // Right away: no wait, no retry.
            let list = env
                .get_json(ACME_KEY, "/api/quota/notifications?limit=3&locale=en")
                .await;
            let items = list["notifications"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            assert_eq!(
                items.first(),
                Some(&notif["data"]),
                "round {round}: {want} ({id}) heard on the socket but not listed first: {list}"
            );
            assert!(items.len() <= 3, "limit: {list}");
            heard.push(id);
        }
    }
    // Once stored, the same notifications in the same form: newest first, each once.
    heard.reverse();
    let list = env
        .wait_json(ACME_KEY, "/api/quota/notifications?limit=50", |v| {
            v["notifications"].as_array().map(Vec::len) == Some(8)
        })
        .await;
    let ids: Vec<&str> = list["notifications"]
        .as_array()
        .map(|a| a.iter().filter_map(|n| n["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, heard, "{list}");
    drop(ws);
    env.restart().await;
    let after = env
        .get_json(ACME_KEY, "/api/quota/notifications?limit=50")
        .await;
    assert_eq!(after, list, "the stored form differs from the live one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_with_a_bad_token_is_refused() {
    let env = Env::start(&base_toml("")).await;
    let base = env.gateway.replacen("http://", "ws://", 1);
    for url in [
        format!("{base}/api/quota/ws?token=qs_not_a_real_key_123456"),
        format!("{base}/api/quota/ws"),
    ] {
        match tokio_tungstenite::connect_async(url.clone()).await {
            Ok(_) => panic!("{url}: the upgrade was accepted"),
            Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 401, "{url}"),
            Err(e) => panic!("{url}: unexpected error {e}"),
        }
    }
    // A workspace key cannot watch another workspace.
    match tokio_tungstenite::connect_async(format!(
        "{base}/api/quota/ws?token={ACME_KEY}&workspace=beta"
    ))
    .await
    {
        Ok(_) => panic!("acme's key watched beta"),
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 403),
        Err(e) => panic!("unexpected error {e}"),
    }
}

// ------------------------------------------------------------------ configuration

#[test]
fn a_config_file_with_an_unknown_field_is_rejected_with_the_field_named() {
    use quota_sentinel::config::{Config, Overrides};
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cases = [
        (
            "[[workspaces]]\nid = \"acme\"\ntokens_per_dya = 5\n",
            "tokens_per_dya",
        ),
        ("[status]\nrecover_aftr = 2\n", "recover_aftr"),
        (
            "[server]\nlisten = \"127.0.0.1:3000\"\nport = 3000\n",
            "port",
        ),
        ("colour = \"blue\"\n", "colour"),
    ];
    for (i, (text, field)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("qs-{i}.toml"));
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        let err = match Config::load(Some(&path), Overrides::default()) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(&format!("unknown field `{field}`")), "{err}");
        assert!(
            err.contains(&path.display().to_string()),
            "the file is not named: {err}"
        );
    }
    // The same file without the mistake loads.
    let path = dir.path().join("ok.toml");
    std::fs::write(&path, "[[workspaces]]\nid = \"acme\"\ntokens_per_day = 5\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let c = Config::load(Some(&path), Overrides::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.workspaces[0].limits.tokens_per_day, Some(5));
    // A missing file is an error that names it.
    let missing = dir.path().join("missing.toml");
    let err = Config::load(Some(&missing), Overrides::default())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("missing.toml"), "{err}");
}

/// Demo mode says so on every page, in the reader's language; a normal gateway does not.
#[tokio::test]
async fn demo_pages_say_they_are_a_demo() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let db = format!("sqlite://{}/demo.db", dir.path().display());
    let config = quota_sentinel::demo::config("127.0.0.1:0", &db, "http://127.0.0.1:9/v1")
        .unwrap_or_else(|e| panic!("{e}"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let stop = tokio_util::sync::CancellationToken::new();
    let running = quota_sentinel::server::start(config, listener, stop.clone())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let page = |lang: &'static str| {
        let http = http.clone();
        let url = format!("http://{}/login", running.addr);
        async move {
            http.get(url)
                .header("accept-language", lang)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .text()
                .await
                .unwrap_or_default()
        }
    };
    let en = page("en").await;
    assert!(
        en.contains("data-demo-label=\"Demo: simulated OpenAI"),
        "{}",
        &en[..en.len().min(600)]
    );
    let it = page("it").await;
    assert!(
        it.contains("data-demo-label=\"Demo: OpenAI simulato"),
        "{}",
        &it[..it.len().min(600)]
    );
    stop.cancel();
    running.wait().await.unwrap_or_else(|e| panic!("{e}"));

    let env = Env::start(&base_toml("")).await;
    let html = env.get_text("/login").await;
    assert!(html.contains("<html"), "{html}");
    assert!(
        !html.contains("data-demo-label"),
        "a normal gateway must not say demo"
    );
}

#[tokio::test]
async fn workspace_names_are_bounded() {
    let env = Env::start_opts(&base_toml(""), Options::default()).await;
    let huge = "n".repeat(200_000);
    for (name, why) in [
        (huge.as_str(), "200,000 characters"),
        ("a\nb", "a line break"),
        ("  ", "blank"),
    ] {
        let e = api_error(
            env.post(
                ADMIN_KEY,
                "/api/admin/workspaces",
                json!({"id": "big", "name": name}),
            )
            .await,
        )
        .await;
        assert_eq!(e.status, 400, "{why}: {}", &e.raw[..e.raw.len().min(300)]);
        assert_eq!(e.body.error.param.as_deref(), Some("name"), "{why}");
        assert!(e.raw.len() < 1000, "the answer does not echo the name back");
    }
    let ok = env
        .post(
            ADMIN_KEY,
            "/api/admin/workspaces",
            json!({"id": "fine", "name": "Ünïcode team ✓"}),
        )
        .await;
    assert_eq!(ok.status(), 201);
    // The file is held to the same rule.
    let toml = format!(
        "[[workspaces]]\nid = \"w\"\nname = \"{}\"\n",
        "x".repeat(129)
    );
    let e = quota_sentinel::config::RawConfig::parse(&toml)
        .unwrap_or_else(|e| panic!("{e}"))
        .validate(Default::default())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.starts_with("workspaces[0].name: must be 1 to 128 characters"),
        "{e}"
    );
}

// ------------------------------------------------------------------ usage pages

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_pages_walk_every_group_exactly_once() {
    let env = Env::start(&base_toml("")).await;
    const GOALS: usize = 130;
    for batch in (0..GOALS).collect::<Vec<_>>().chunks(26) {
        let env = &env;
        let calls = batch.iter().map(|i| async move {
            let goal = format!("goal-{i:03}");
            env.chat_with_header(ACME_KEY, "X-Quota-Goal", &goal).await
        });
        for r in futures_util::future::join_all(calls).await {
            assert_eq!(r.status(), 200);
        }
    }
    let base = "/api/quota/usage?group_by=goal&from=2000-01-01";
    // Wait until every call is in the ledger (the family grouping has one row).
    env.wait_usage(ACME_KEY, "family", |v| {
        usage_row(v, "chat.completions").is_some_and(|r| n(r, "requests") >= GOALS as u64)
    })
    .await;

    // The default page is 100 groups, with a cursor to the rest.
    let first = env.get_json(ACME_KEY, base).await;
    assert_eq!(first["rows"].as_array().map(Vec::len), Some(100), "{first}");
    assert!(first["next_cursor"].is_string(), "{first}");

    // Small pages: each group exactly once, in order, and the last page says so.
    let mut keys: Vec<String> = Vec::new();
    let mut requests = 0;
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = format!("{base}&limit=7");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = env.get_json(ACME_KEY, &path).await;
        let rows = page["rows"].as_array().cloned().unwrap_or_default();
        assert!(rows.len() <= 7, "{page}");
        for r in &rows {
            keys.push(r["key"].as_str().unwrap_or_default().to_string());
            requests += n(r, "requests");
        }
        pages += 1;
        assert!(pages <= 100, "the pages never end");
        match page["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(rows.len(), 7, "a page before the last is full: {page}");
                cursor = Some(c.to_string());
            }
            None => break,
        }
    }
    let want: Vec<String> = (0..GOALS).map(|i| format!("goal-{i:03}")).collect();
    assert_eq!(keys, want);
    assert_eq!(requests, GOALS as u64);
    assert_eq!(pages, GOALS.div_ceil(7));

    // Bad limits and cursors are refused in OpenAI's shape.
    for bad in [
        format!("{base}&limit=0"),
        format!("{base}&limit=1001"),
        format!("{base}&cursor=nonsense"),
        format!(
            "/api/quota/usage?group_by=model&from=2000-01-01&cursor={}",
            first["next_cursor"].as_str().unwrap_or_default()
        ),
    ] {
        let e = api_error(env.get(ACME_KEY, &bad).await).await;
        assert_eq!(e.status, 400, "{bad}: {}", e.raw);
    }
}

// ------------------------------------------------------------------ sessions and browsers

/// The `name=value` of the session cookie an answer sets, if any.
fn session_cookie_of(r: &reqwest::Response) -> Option<(String, String)> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("qs_session="))
        .map(|c| {
            let pair = c.split(';').next().unwrap_or_default().to_string();
            (pair, c.to_string())
        })
}

/// Signs in with `key` as the UI does; returns the cookie to send back (`qs_session=…`) and
/// the whole `Set-Cookie` line.
async fn sign_in(env: &Env, key: &str) -> (String, String) {
    let r = env
        .http
        .post(env.url("/api/session"))
        .json(&json!({ "key": key }))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status(), 200, "sign-in with {key}");
    session_cookie_of(&r).unwrap_or_else(|| panic!("no session cookie"))
}

/// `GET /api/session` with `cookie`: its status.
async fn whoami(env: &Env, cookie: &str) -> u16 {
    session_call(env, reqwest::Method::GET, cookie)
        .await
        .status()
        .as_u16()
}

/// `/api/session` by `method` with `cookie`.
async fn session_call(env: &Env, method: reqwest::Method, cookie: &str) -> reqwest::Response {
    env.http
        .request(method, env.url("/api/session"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Asserts the status `GET /api/session` answers with `cookie`.
async fn assert_whoami(env: &Env, cookie: &str, want: u16, why: &str) {
    assert_eq!(whoami(env, cookie).await, want, "{why}");
}

/// `POST /api/admin/workspaces/acme/keys` with `cookie` (and `extra` headers): its status.
async fn mint_with_cookie(env: &Env, cookie: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut req = env
        .http
        .post(env.url("/api/admin/workspaces/acme/keys"))
        .header("cookie", cookie)
        .json(&json!({}));
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_ends_the_session_on_the_server_and_across_a_restart() {
    let mut env = Env::start(&base_toml("")).await;
    let (cookie, line) = sign_in(&env, ACME_KEY).await;
    assert!(line.contains("Max-Age=43200"), "12 h by default: {line}");
    assert!(
        line.contains("HttpOnly") && line.contains("SameSite=Strict"),
        "{line}"
    );
    assert_eq!(whoami(&env, &cookie).await, 200);
    let (other, _) = sign_in(&env, ACME_KEY).await;

    let r = session_call(&env, reqwest::Method::DELETE, &cookie).await;
    assert_eq!(r.status(), 204);
    // A copy of the cookie kept after sign-out (a stolen one) no longer works.
    assert_whoami(&env, &cookie, 401, "the signed-out session still works").await;
    assert_whoami(&env, &other, 200, "another session of the key goes on").await;
    env.restart().await;
    assert_whoami(&env, &cookie, 401, "a restart revived the session").await;
    assert_eq!(whoami(&env, &other).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_admin_key_ends_admin_sessions() {
    for session_secret in [None, Some("a-session-secret-kept-outside-the-db")] {
        let mut env = Env::start_opts(
            &base_toml(""),
            Options {
                session_secret: session_secret.map(str::to_string),
                ..Options::default()
            },
        )
        .await;
        let (admin, _) = sign_in(&env, ADMIN_KEY).await;
        let (acme, _) = sign_in(&env, ACME_KEY).await;
        assert_eq!(mint_with_cookie(&env, &admin, &[]).await.status(), 201);
        env.set_admin_key(Some("a-brand-new-admin-key-0123456789"));
        env.restart().await;
        let r = mint_with_cookie(&env, &admin, &[]).await;
        assert_eq!(
            r.status(),
            401,
            "{session_secret:?}: the old admin cookie still works: {}",
            r.text().await.unwrap_or_default()
        );
        assert_eq!(whoami(&env, &admin).await, 401, "{session_secret:?}");
        // Without QS_SESSION_SECRET the key is derived from the admin key: every session ends.
        let want = if session_secret.is_some() { 200 } else { 401 };
        assert_eq!(whoami(&env, &acme).await, want, "{session_secret:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_workspace_key_ends_its_sessions() {
    let mut env = Env::start(&base_toml("")).await;
    let (acme, _) = sign_in(&env, ACME_KEY).await;
    let (beta, _) = sign_in(&env, BETA_KEY).await;
    // acme's key is replaced in the configuration file.
    let toml = base_toml("").replace(&sha(ACME_KEY), &sha("qs_acme_replacement_key_0123"));
    env.set_toml(&toml);
    env.restart().await;
    assert_whoami(&env, &acme, 401, "the removed key's session works").await;
    assert_eq!(whoami(&env, &beta).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_last_the_configured_time_and_are_renewed_past_half_their_life() {
    use quota_sentinel::api::session::{cookie_key, derive_key, sign, verify, Claims, KeySource};
    let secret = "renewal-test-session-secret";
    let env = Env::start_opts(
        &server_toml("session_ttl_hours = 1"),
        Options {
            session_secret: Some(secret.into()),
            ..Options::default()
        },
    )
    .await;
    let (fresh, line) = sign_in(&env, ACME_KEY).await;
    assert!(line.contains("Max-Age=3600"), "{line}");
    // A young session is not renewed.
    let r = session_call(&env, reqwest::Method::GET, &fresh).await;
    assert_eq!(r.status(), 200);
    assert!(session_cookie_of(&r).is_none(), "renewed too early");

    // The same session 50 minutes later: 10 minutes left, so it is renewed on use.
    let salt: Vec<u8> = {
        let pool = env.db_pool().await;
        sqlx::query_scalar("SELECT value FROM settings WHERE key = 'session_salt'")
            .fetch_one(&pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let key = cookie_key(&derive_key(
        secret.as_bytes(),
        &salt,
        KeySource::SessionSecret,
    ));
    let now = chrono::Utc::now().timestamp();
    let value = fresh.trim_start_matches("qs_session=");
    let claims = verify(&key, value, now).unwrap_or_else(|| panic!("the test derives the key"));
    let old = sign(
        &key,
        &Claims {
            expires: now + 600,
            ..claims.clone()
        },
    );
    let r = env
        .http
        .get(env.url("/api/quota/status"))
        .header("cookie", format!("qs_session={old}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status(), 200);
    let (renewed, line) = session_cookie_of(&r).unwrap_or_else(|| panic!("not renewed"));
    assert!(line.contains("Max-Age=3600"), "{line}");
    let renewed = verify(&key, renewed.trim_start_matches("qs_session="), now)
        .unwrap_or_else(|| panic!("the renewed cookie does not verify"));
    assert_eq!(
        renewed.sid, claims.sid,
        "renewal keeps the session (and its sign-out)"
    );
    assert!(renewed.expires >= now + 3599, "{renewed:?}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let mut env = Env::start(&base_toml("")).await;
    assert_eq!(env.chat(ACME_KEY, "hi").await.status(), 200);
    let check = |env: &Env| {
        for suffix in ["", "-wal", "-shm"] {
            let path = format!("{}{suffix}", env.db_path().display());
            let mode = std::fs::metadata(&path)
                .unwrap_or_else(|e| panic!("{path}: {e}"))
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{path}: {:o}", mode & 0o777);
        }
    };
    check(&env);
    // A database an older version left world-readable is made private at start.
    env.stop_gateway().await;
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", env.db_path().display());
        if std::path::Path::new(&path).exists() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
    env.restart().await;
    check(&env);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_database_holds_cannot_sign_a_session() {
    use base64::prelude::{Engine, BASE64_STANDARD};
    use hmac::{Hmac, Mac};
    use quota_sentinel::api::session::cookie_key;
    let env = Env::start(&base_toml("")).await;
    let (admin, _) = sign_in(&env, ADMIN_KEY).await;
    assert_eq!(whoami(&env, &admin).await, 200);
    let values: Vec<Vec<u8>> = {
        let pool = env.db_pool().await;
        sqlx::query_scalar("SELECT value FROM settings")
            .fetch_all(&pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    };
    assert!(!values.is_empty(), "the settings table is empty");
    let exp = chrono::Utc::now().timestamp() + 3600;
    // The real cookie's claims (after the signature's 44 base64 characters), and the claims
    // of the former formats.
    let real = admin.trim_start_matches("qs_session=");
    let payloads = [
        real.get(44..).unwrap_or_default().to_string(),
        format!("v1.admin.-.{exp}"),
    ];
    for v in &values {
        // The value as the HMAC key, and as the 32-byte secret the cookie key derives from.
        let mut keys = vec![v.clone()];
        if let Ok(secret) = <[u8; 32]>::try_from(v.as_slice()) {
            keys.push(cookie_key(&secret).signing().to_vec());
        }
        for key in &keys {
            for payload in &payloads {
                let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key)
                    .unwrap_or_else(|e| panic!("{e}"));
                m.update(payload.as_bytes());
                let tag = m.finalize().into_bytes();
                for forged in [
                    format!("qs_session={}{payload}", BASE64_STANDARD.encode(tag)),
                    format!("qs_session={payload}.{}", hex::encode(tag)),
                ] {
                    assert_whoami(
                        &env,
                        &forged,
                        401,
                        "a cookie signed with a value from the database works: {forged}",
                    )
                    .await;
                    assert_ne!(mint_with_cookie(&env, &forged, &[]).await.status(), 201);
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_requests_from_other_sites_are_refused() {
    let env = Env::start(&server_toml(
        "cors_allow_origins = [\"https://dash.example.com\"]",
    ))
    .await;
    let (admin, _) = sign_in(&env, ADMIN_KEY).await;
    let host = env.gateway.trim_start_matches("http://").to_string();
    let reset = |cookie: &str, headers: &[(&str, &str)]| {
        let mut req = env
            .http
            .post(env.url("/api/quota/reset"))
            .header("cookie", cookie)
            .json(&json!({"workspace": "acme"}));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send()
    };
    let refused = [
        vec![("origin", "http://evil.example.com")],
        // Same site (another port of the same host), another origin.
        vec![
            ("origin", "http://127.0.0.1:1"),
            ("sec-fetch-site", "same-site"),
        ],
        vec![("sec-fetch-site", "cross-site")],
    ];
    for headers in &refused {
        let e = api_error(
            reset(&admin, headers)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
        )
        .await;
        e.assert_status_code_for(format_args!("{headers:?}"), 403, "cross_origin_request");
        assert_eq!(e.body.error.kind, "permission_error");
        let r = mint_with_cookie(&env, &admin, headers).await;
        assert_eq!(r.status(), 403, "mint: {headers:?}");
    }
    let same_origin = format!("http://{host}");
    for headers in [
        vec![("origin", same_origin.as_str())],
        vec![
            ("origin", same_origin.as_str()),
            ("sec-fetch-site", "same-origin"),
        ],
        vec![
            ("origin", "https://dash.example.com"),
            ("sec-fetch-site", "cross-site"),
        ],
        vec![],
    ] {
        let r = reset(&admin, &headers)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.status(), 200, "{headers:?}");
    }
    // Signing in from another site is refused too (no login CSRF).
    let r = env
        .http
        .post(env.url("/api/session"))
        .header("origin", "http://evil.example.com")
        .json(&json!({ "key": ACME_KEY }))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status(), 403);
    // A bearer key is not ambient: a cross-origin caller with the key is served.
    let r = env
        .http
        .post(env.url("/api/quota/reset"))
        .bearer_auth(ADMIN_KEY)
        .header("origin", "http://evil.example.com")
        .json(&json!({"workspace": "acme"}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cookie_websocket_from_another_site_is_refused() {
    use tungstenite::client::IntoClientRequest;
    let env = Env::start(&base_toml("")).await;
    let (cookie, _) = sign_in(&env, ACME_KEY).await;
    let url = format!(
        "{}/api/quota/ws",
        env.gateway.replacen("http://", "ws://", 1)
    );
    let connect = |origin: String| {
        let mut req = url
            .clone()
            .into_client_request()
            .unwrap_or_else(|e| panic!("{e}"));
        let h = req.headers_mut();
        h.insert("cookie", cookie.parse().unwrap_or_else(|e| panic!("{e}")));
        h.insert("origin", origin.parse().unwrap_or_else(|e| panic!("{e}")));
        tokio_tungstenite::connect_async(req)
    };
    match connect("http://evil.example.com".into()).await {
        Ok(_) => panic!("a cross-origin page opened the cookie socket"),
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 403),
        Err(e) => panic!("unexpected error {e}"),
    }
    let (mut ws, _) = connect(env.gateway.clone())
        .await
        .unwrap_or_else(|e| panic!("same-origin socket: {e}"));
    let m = ws_expect(&mut ws, "status", Duration::from_secs(5), "no status").await;
    assert_eq!(m["data"]["workspace"], "acme", "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minting_a_key_needs_a_json_body() {
    let env = Env::start(&base_toml("")).await;
    let url = env.url("/api/admin/workspaces/acme/keys");
    let bare = env.http.post(&url).bearer_auth(ADMIN_KEY).send();
    let form = env
        .http
        .post(&url)
        .bearer_auth(ADMIN_KEY)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("a=b")
        .send();
    for r in [bare.await, form.await] {
        let e = api_error(r.unwrap_or_else(|e| panic!("{e}"))).await;
        assert_eq!(e.status, 400, "{}", e.raw);
    }
    let r = env
        .post(ADMIN_KEY, "/api/admin/workspaces/acme/keys", json!({}))
        .await;
    assert_eq!(r.status(), 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_and_the_api_carry_the_browser_security_headers() {
    let env = Env::start(&base_toml("")).await;
    let r = env.get_anon("/login").await;
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    let html = r.text().await.unwrap_or_default();
    let csp = h
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no CSP on /login"))
        .to_string();
    // Every inline script carries the nonce the CSP names.
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .unwrap_or_else(|| panic!("no nonce in {csp}"));
    let scripts = html.matches("<script").count();
    assert!(scripts > 0, "no script on the page");
    assert_eq!(
        html.matches(&format!("<script nonce=\"{nonce}\"")).count()
            + html
                .matches(&format!("<script type=\"module\" nonce=\"{nonce}\""))
                .count(),
        scripts,
        "{html}"
    );
    let host = env.gateway.trim_start_matches("http://");
    for part in [
        "'wasm-unsafe-eval'",
        "frame-ancestors 'none'",
        &format!("connect-src 'self' ws://{host} wss://{host}"),
    ] {
        assert!(csp.contains(part), "{part} missing: {csp}");
    }
    for (name, want) in [
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(
            h.get(name).and_then(|v| v.to_str().ok()),
            Some(want),
            "/login {name}"
        );
    }
    // An unknown page (rendered by the fallback) gets its own nonce too.
    let r = env.get_anon("/no-such-page").await;
    let csp = header_of(&r, "content-security-policy")
        .unwrap_or_default()
        .to_string();
    assert!(csp.contains("'nonce-"), "404 page: {csp}");

    // The API, the minted key above all: not stored, not framed, not sniffed.
    let r = env
        .post(ADMIN_KEY, "/api/admin/workspaces/acme/keys", json!({}))
        .await;
    assert_eq!(r.status(), 201);
    for (name, want) in [
        ("cache-control", "no-store"),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
    ] {
        assert_eq!(header_of(&r, name), Some(want), "minted key {name}");
    }
    let csp = header_of(&r, "content-security-policy").unwrap_or_default();
    assert!(
        csp.starts_with("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );

    // OpenAI's answers through /v1 are left as they are.
    let r = env.chat(ACME_KEY, "hi").await;
    assert_eq!(r.status(), 200);
    for name in [
        "x-frame-options",
        "content-security-policy",
        "referrer-policy",
    ] {
        assert_eq!(header_of(&r, name), None, "/v1 got {name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_cookie_is_secure_when_configured() {
    let env = Env::start(&base_toml("")).await;
    let (_, line) = sign_in(&env, ACME_KEY).await;
    assert!(!line.contains("Secure"), "plain HTTP: {line}");
    let env = Env::start(&server_toml("secure_cookies = true")).await;
    let (_, line) = sign_in(&env, ACME_KEY).await;
    assert!(line.contains("; Secure"), "{line}");
    let r = env
        .http
        .delete(env.url("/api/session"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (_, line) = session_cookie_of(&r).unwrap_or_else(|| panic!("sign-out sets no cookie"));
    assert!(
        line.contains("Max-Age=0") && line.contains("; Secure"),
        "{line}"
    );
}

// ------------------------------------------------------------------ sign-in without JavaScript

#[tokio::test]
async fn the_sign_in_form_works_without_javascript_and_keeps_the_key_out_of_urls() {
    let env = Env::start_opts(&base_toml(""), Options::default()).await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    // What a browser sends for the form: a same-origin, url-encoded POST.
    let post = |key: &'static str| {
        http.post(env.url("/login"))
            .header("sec-fetch-site", "same-origin")
            .form(&[("key", key)])
            .send()
    };
    let location = |r: &reqwest::Response| header_of(r, "location").unwrap_or("").to_string();

    let r = post(ACME_KEY).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/");
    let cookie = header_of(&r, "set-cookie").unwrap_or("").to_string();
    assert!(cookie.starts_with("qs_session="), "{cookie}");
    let session = cookie.split(';').next().unwrap_or("").to_string();
    let page = http
        .get(env.url("/"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(page.status(), 200, "signed in: the workspace page renders");

    let r = post(ADMIN_KEY).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((r.status().as_u16(), location(&r)), (303, "/admin".into()));

    // A wrong key comes back to the form with the reason, and the key in no URL.
    let r = post("qs_wrong_key_000000000000")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(location(&r), "/login?error=invalid");
    assert!(header_of(&r, "set-cookie").is_none());
    let html = env.get_text("/login?error=invalid").await;
    assert!(html.contains("This key is not valid."), "the page says why");
    let r = post("").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(location(&r), "/login?error=empty");

    // From another site, the form is refused like every cookie-minting request.
    let r = http
        .post(env.url("/login"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("key", ACME_KEY)])
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status(), 403);
    assert!(header_of(&r, "set-cookie").is_none());
}

// ------------------------------------------------------------------ last errors

/// The numbers a text shows, other than the parts of an `HH:MM` time.
fn numbers_outside_times(text: &str) -> Vec<u64> {
    let mut out = vec![];
    let mut rest = text;
    while let Some(i) = rest.find(|c: char| c.is_ascii_digit()) {
        let run: String = rest[i..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == ':')
            .collect();
        if !run.contains(':') {
            out.extend(run.parse::<u64>().ok());
        }
        rest = &rest[i + run.len()..];
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daily_limits_last_error_names_the_local_reset_time_not_raw_seconds() {
    // India is 5:30 ahead of UTC all year: its midnight is 18:30 UTC, so "00:00" can only come
    // from the configured zone.
    let toml = format!(
        "{}\n[server]\ntime_zone = \"Asia/Kolkata\"\n",
        base_toml("requests_per_day = 1")
    );
    let env = Env::start(&toml).await;
    assert_eq!(env.chat(ACME_KEY, "hello").await.status(), 200);
    assert_eq!(env.chat(ACME_KEY, "hello").await.status(), 429);

    let last_error = |list: &Value| {
        list["workspaces"]
            .as_array()
            .and_then(|a| a.iter().find(|w| w["workspace"] == "acme"))
            .and_then(|w| w["last_error"].as_str())
            .unwrap_or_else(|| panic!("no last error for acme: {list}"))
            .to_string()
    };
    let en = last_error(&env.get_json(ADMIN_KEY, "/api/admin/workspaces").await);
    assert!(en.contains("It resets at 00:00, in "), "{en}");
    assert!(
        numbers_outside_times(&en).iter().all(|n| *n <= 60),
        "a raw count of seconds: {en}"
    );
    let it = last_error(
        &env.get_json(ADMIN_KEY, "/api/admin/workspaces?locale=it")
            .await,
    );
    assert!(it.contains("Si azzera alle 00:00, tra "), "{it}");
    assert!(numbers_outside_times(&it).iter().all(|n| *n <= 60), "{it}");

    // The server-rendered admin table shows the same text.
    let (admin, _) = sign_in(&env, ADMIN_KEY).await;
    let html = env
        .http
        .get(env.url("/admin"))
        .header("cookie", &admin)
        .header("accept-language", "en")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .text()
        .await
        .unwrap_or_default();
    assert!(
        html.contains(&en),
        "the admin page lacks {en:?}: {}",
        &html[..html.len().min(2000)]
    );
}

#[test]
fn numbers_outside_times_skips_clock_times() {
    assert_eq!(
        numbers_outside_times("resets at 00:00, in 21 h 1 min; 75685 s"),
        [21, 1, 75685]
    );
}

/// A store failure while a page loads shows a localized message and an incident id, never the
/// database's error text (it goes to the log under the same id).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_failure_renders_no_internal_detail() {
    let mut env = Env::start(&base_toml("")).await;
    let (cookie, _) = sign_in(&env, ACME_KEY).await;
    // The table goes while the gateway is stopped (a schema change under its open connections
    // could also stall them); the restarted gateway starts without reading it.
    env.stop_gateway().await;
    let pool = env.db_pool().await;
    sqlx::query("DROP TABLE notifications")
        .execute(&pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    pool.close().await;
    env.restart().await;

    let r = env
        .http
        .get(env.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status(), 500);
    let html = r.text().await.unwrap_or_default();
    assert!(html.contains("Could not load this page"), "{html}");
    assert!(
        html.contains("Reference for the administrator: inc_"),
        "the page names the incident: {html}"
    );
    for internal in ["no such table", "sqlite", "SQLite", "database", "DROP"] {
        assert!(
            !html.contains(internal),
            "the page shows {internal:?}: {html}"
        );
    }
}
