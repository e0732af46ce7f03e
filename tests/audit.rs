//! The audit trail: every admin action recorded with who, when, from where and what changed
//! (secrets masked), listed newest first, exported as CSV; key revocation.

mod support;

use serde_json::{json, Value};
use support::*;

async fn trail(env: &Env) -> Vec<Value> {
    env.get_json(ADMIN_KEY, "/api/admin/audit?limit=50").await["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn chat_status(env: &Env, key: &str) -> u16 {
    let r = env
        .post(
            key,
            "/v1/chat/completions",
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}),
        )
        .await;
    let s = r.status().as_u16();
    let _ = r.bytes().await;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_action_is_recorded_with_who_what_and_where() {
    let env = Env::start(&base_toml("")).await;
    let r = env
        .post(
            ADMIN_KEY,
            "/api/admin/workspaces",
            json!({"id": "gamma", "name": "Gamma", "budget_usd_per_day": 5}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let r = env
        .post(ADMIN_KEY, "/api/admin/workspaces/gamma/keys", json!({}))
        .await;
    assert_eq!(r.status(), 201);
    let minted: Value = r.json().await.unwrap_or_default();
    let key = minted["key"].as_str().unwrap_or_default().to_string();
    let key_id = minted["key_id"].as_str().unwrap_or_default().to_string();
    assert_eq!(chat_status(&env, &key).await, 200);
    let r = env
        .post(ADMIN_KEY, "/api/quota/reset", json!({"workspace": "gamma"}))
        .await;
    assert_eq!(r.status(), 200);
    // Revoking the key: it stops working at once.
    let r = env
        .http
        .delete(env.url(&format!("/api/admin/workspaces/gamma/keys/{key_id}")))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status(), 204);
    assert_eq!(chat_status(&env, &key).await, 401);

    let t = trail(&env).await;
    let actions: Vec<&str> = t.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(
        actions,
        vec!["key.revoke", "quota.reset", "key.mint", "workspace.create"]
    );
    for e in &t {
        assert_eq!(e["actor"], "admin-key", "{e}");
        assert_eq!(e["address"], "127.0.0.1", "{e}");
        assert!(e["at"].as_str().is_some_and(|s| s.starts_with("20")), "{e}");
    }
    assert_eq!(t[3]["target"], "gamma");
    assert_eq!(t[3]["before"], Value::Null);
    assert_eq!(t[3]["after"]["limits"]["budget_usd_per_day"], 5.0);
    assert_eq!(t[2]["target"], key_id.as_str());
    assert_eq!(t[1]["before"]["requests_day"], 1, "{}", t[1]);
    assert_eq!(t[0]["before"]["workspace"], "gamma");
    // The minted key itself is never in the trail, nor in the export.
    let all = serde_json::to_string(&t).unwrap_or_default();
    assert!(!all.contains(&key), "{all}");
    let csv = env
        .http
        .get(env.url("/api/admin/audit.csv"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(csv.status(), 200);
    assert!(csv
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/csv")));
    let text = csv.text().await.unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "id,at,actor,address,action,target,before,after");
    assert_eq!(lines.len(), 5, "{text}");
    assert!(lines[4].contains(",workspace.create,gamma,,"), "{text}");
    assert!(lines[4].contains(r#""{""limits"":"#), "JSON quoted: {text}");
    assert!(!text.contains(&key));
    // Paging: one at a time, following next_before.
    let page = env.get_json(ADMIN_KEY, "/api/admin/audit?limit=1").await;
    let next = page["next_before"].as_i64().unwrap_or_default();
    let second = env
        .get_json(
            ADMIN_KEY,
            &format!("/api/admin/audit?limit=1&before={next}"),
        )
        .await;
    assert_eq!(second["entries"][0]["action"], "quota.reset");
    // Workspaces cannot read it; a bad limit is named.
    assert_eq!(env.get(ACME_KEY, "/api/admin/audit").await.status(), 403);
    let e = api_error(env.get(ADMIN_KEY, "/api/admin/audit?limit=0").await).await;
    assert_eq!(e.status, 400);
    assert_eq!(e.body.error.param.as_deref(), Some("limit"), "{}", e.raw);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trail_outlives_a_restart() {
    let mut env = Env::start(&base_toml("")).await;
    let r = env
        .post(ADMIN_KEY, "/api/quota/reset", json!({"workspace": "acme"}))
        .await;
    assert_eq!(r.status(), 200);
    // An entry from long ago (the store's tests check that pruning leaves the trail alone).
    let pool = env.db_pool().await;
    sqlx::query("UPDATE audit_log SET ts_ms = 0")
        .execute(&pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    env.restart().await;
    let t = trail(&env).await;
    assert_eq!(t.len(), 1);
    assert_eq!(t[0]["at"], "1970-01-01T00:00:00Z");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_keys_minted_through_the_api_can_be_revoked_there() {
    let env = Env::start(&base_toml("")).await;
    let list = |id: &str| format!("/api/admin/workspaces/{id}/keys/nope");
    let r = env
        .http
        .delete(env.url(&list("acme")))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    api_error(r).await.assert_status_code(404, "not_found");
    let r = env
        .http
        .delete(env.url(&list("nobody")))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    api_error(r)
        .await
        .assert_status_code(404, "workspace_not_found");
    let r = env
        .http
        .delete(env.url(&list("acme")))
        .bearer_auth(ACME_KEY)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status(), 403);
    // A key of the config file is revoked by editing the file.
    let cfg = format!("cfg_{}", &sha(ACME_KEY)[..12]);
    let r = env
        .http
        .delete(env.url(&format!("/api/admin/workspaces/acme/keys/{cfg}")))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let e = api_error(r).await;
    e.assert_status_code(409, "conflict");
    assert!(e.raw.contains("configuration file"), "{}", e.raw);
    assert_eq!(chat_status(&env, ACME_KEY).await, 200);
    assert!(trail(&env).await.is_empty(), "refusals are not actions");
}
