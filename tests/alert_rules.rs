//! Alert rules through the gateway: thresholds raised once per period (across a restart too),
//! back-under notices after an admin reset, soft limits that never refuse, and the config's
//! rules for thresholds.

mod support;

use serde_json::{json, Value};
use support::*;

/// The alert notifications listed for the key's workspace, oldest first.
async fn alerts(env: &Env, key: &str) -> Vec<Value> {
    let list = env
        .get_json(key, "/api/quota/notifications?limit=100")
        .await;
    let mut v: Vec<Value> = list["notifications"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| {
            n["key"]
                .as_str()
                .is_some_and(|k| k.starts_with("notif-alert-"))
        })
        .cloned()
        .collect();
    v.reverse();
    v
}

/// `(key, percent)` of each alert.
fn summary(alerts: &[Value]) -> Vec<(String, u64)> {
    alerts
        .iter()
        .map(|n| {
            (
                n["key"].as_str().unwrap_or_default().to_string(),
                n["args"]["percent"].as_f64().unwrap_or(-1.0) as u64,
            )
        })
        .collect()
}

async fn call(env: &Env, key: &str) -> u16 {
    let r = env
        .post(
            key,
            "/v1/chat/completions",
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 5}),
        )
        .await;
    let status = r.status().as_u16();
    let _ = r.bytes().await;
    status
}

#[tokio::test]
async fn thresholds_fire_once_per_period_even_across_a_restart() {
    let mut env = Env::start(&base_toml(
        "requests_per_day = 10\nalert_thresholds = [0.2, 0.5]",
    ))
    .await;
    for _ in 0..2 {
        assert_eq!(call(&env, ACME_KEY).await, 200);
    }
    env.wait_notification(ACME_KEY, "", "notif-alert-threshold")
        .await;
    assert_eq!(
        summary(&alerts(&env, ACME_KEY).await),
        vec![("notif-alert-threshold".to_string(), 20)]
    );
    // After a restart the 20 % alert is known: the third call raises nothing, the fifth 50 %.
    env.restart().await;
    assert_eq!(call(&env, ACME_KEY).await, 200);
    assert_eq!(call(&env, ACME_KEY).await, 200);
    assert_eq!(call(&env, ACME_KEY).await, 200);
    let want = vec![
        ("notif-alert-threshold".to_string(), 20),
        ("notif-alert-threshold".to_string(), 50),
    ];
    env.wait_json(ACME_KEY, "/api/quota/notifications?limit=100", |v| {
        v.to_string().matches("notif-alert-threshold").count() >= 2
    })
    .await;
    let got = alerts(&env, ACME_KEY).await;
    assert_eq!(summary(&got), want);
    let id = got[1]["id"].as_str().unwrap_or_default();
    assert!(
        id.starts_with("alert:acme:requests_per_day:") && id.ends_with(":5000"),
        "{id}"
    );
    // The alert's text names the usage and the reset.
    let body = got[1]["body"].as_str().unwrap_or_default();
    assert!(
        body.contains("50% of its requests per day limit (5 of 10)"),
        "{body}"
    );
    assert!(body.contains("It resets at "), "{body}");
    // Beta, with no day limit, raised nothing.
    assert!(alerts(&env, BETA_KEY).await.is_empty());
}

#[tokio::test]
async fn an_admin_reset_brings_usage_back_under() {
    let env = Env::start(&base_toml("requests_per_day = 2")).await;
    assert_eq!(call(&env, ACME_KEY).await, 200);
    assert_eq!(call(&env, ACME_KEY).await, 200);
    assert_eq!(call(&env, ACME_KEY).await, 429);
    env.wait_notification(ACME_KEY, "", "notif-alert-threshold")
        .await;
    let r = env
        .post(
            ADMIN_KEY,
            "/api/quota/reset",
            json!({ "workspace": "acme" }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let n = env
        .wait_notification(ACME_KEY, "", "notif-alert-back-under")
        .await;
    assert_eq!(n["args"]["reason"], "admin_reset", "{n}");
    assert_eq!(n["level"], "info");
    // The thresholds start over.
    assert_eq!(call(&env, ACME_KEY).await, 200);
    env.wait_json(ACME_KEY, "/api/quota/notifications?limit=100", |v| {
        v.to_string().matches("\"percent\":50").count() >= 2
    })
    .await;
}

#[tokio::test]
async fn a_soft_limit_alerts_and_never_refuses() {
    let env = Env::start(&base_toml(
        "requests_per_day = 2\nsoft_limits = [\"requests_per_day\"]",
    ))
    .await;
    for _ in 0..4 {
        assert_eq!(call(&env, ACME_KEY).await, 200);
    }
    env.wait_status(ACME_KEY, "warning").await;
    env.wait_json(ACME_KEY, "/api/quota/notifications?limit=100", |v| {
        v.to_string().matches("notif-alert-threshold").count() >= 2
    })
    .await;
    let got = alerts(&env, ACME_KEY).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1]["args"]["soft"], "yes");
    assert_eq!(got[1]["level"], "warning");
    assert!(
        got[1]["body"]
            .as_str()
            .is_some_and(|b| b.contains("calls are not refused")),
        "{}",
        got[1]
    );
    let status = env.get_json(ACME_KEY, "/api/quota/status").await;
    assert_eq!(status["limits"]["soft_limits"], json!(["requests_per_day"]));
}

#[tokio::test]
async fn thresholds_out_of_range_are_named_in_the_config_error() {
    for (toml, field) in [
        (
            "[defaults]\nalert_thresholds = [0.5, 1.5]\n",
            "defaults.alert_thresholds",
        ),
        (
            "[[workspaces]]\nid = \"a\"\nkey_sha256 = []\nalert_thresholds = [0]\n",
            "workspaces[0].alert_thresholds",
        ),
    ] {
        let e = quota_sentinel::config::RawConfig::parse(toml)
            .and_then(|raw| raw.validate(Default::default()).map_err(|e| e.to_string()))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.starts_with(field), "{toml}: {e}");
        assert!(e.contains("(0, 1]"), "{e}");
    }
    let e = quota_sentinel::config::RawConfig::parse(
        "[defaults]\nsoft_limits = [\"requests_per_fortnight\"]\n",
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(e.contains("requests_per_fortnight"), "{e}");
}

async fn patch(env: &Env, id: &str, body: Value) -> reqwest::Response {
    env.http
        .patch(env.url(&format!("/api/admin/workspaces/{id}")))
        .bearer_auth(ADMIN_KEY)
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_rules_and_limits_are_edited_live_and_survive_a_restart() {
    let mut env = Env::start(&base_toml("requests_per_day = 2")).await;
    assert_eq!(call(&env, ACME_KEY).await, 200);
    assert_eq!(call(&env, ACME_KEY).await, 200);
    assert_eq!(call(&env, ACME_KEY).await, 429);
    // Raised to 10 with thresholds at 30 % and 60 %: calls go through at once, and usage is
    // back under the thresholds that had fired.
    let r = patch(
        &env,
        "acme",
        json!({"requests_per_day": 10, "alert_thresholds": [0.6, 0.3]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let report: Value = r.json().await.unwrap_or_default();
    assert_eq!(report["limits"]["requests_per_day"], 10);
    assert_eq!(report["limits"]["alert_thresholds"], json!([0.3, 0.6]));
    let n = env
        .wait_notification(ACME_KEY, "", "notif-alert-back-under")
        .await;
    assert_eq!(n["args"]["reason"], "limit_raised", "{n}");
    assert_eq!(call(&env, ACME_KEY).await, 200);
    env.wait_json(ACME_KEY, "/api/quota/notifications?limit=100", |v| {
        v.to_string().contains("\"percent\":30")
    })
    .await;
    // A second edit keeps the first one's fields; a wrong field is named, nothing changes.
    let r = patch(&env, "acme", json!({"soft_limits": ["requests_per_day"]})).await;
    assert_eq!(r.status(), 200);
    let e = api_error(patch(&env, "acme", json!({"alert_thresholds": [2]})).await).await;
    assert_eq!(e.status, 400);
    assert_eq!(
        e.body.error.param.as_deref(),
        Some("alert_thresholds"),
        "{}",
        e.raw
    );
    let e = api_error(patch(&env, "acme", json!({"requests_per_fortnight": 2})).await).await;
    assert_eq!(e.status, 400, "{}", e.raw);
    assert_eq!(
        api_error(patch(&env, "nobody", json!({})).await)
            .await
            .status,
        404
    );
    // Stored: after a restart the edits are in force over the file's limits.
    env.restart().await;
    let status = env.get_json(ACME_KEY, "/api/quota/status").await;
    assert_eq!(status["limits"]["requests_per_day"], 10, "{status}");
    assert_eq!(status["limits"]["soft_limits"], json!(["requests_per_day"]));
    assert_eq!(status["limits"]["alert_thresholds"], json!([0.3, 0.6]));
    // Audited, before and after.
    let trail = env.get_json(ADMIN_KEY, "/api/admin/audit").await;
    let edits: Vec<&Value> = trail["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["action"] == "workspace.limits")
        .collect();
    assert_eq!(edits.len(), 2, "{trail}");
    assert_eq!(edits[1]["before"]["requests_per_day"], 2);
    assert_eq!(edits[1]["after"]["requests_per_day"], 10);
    // Workspaces cannot edit.
    let r = env
        .http
        .patch(env.url("/api/admin/workspaces/acme"))
        .bearer_auth(ACME_KEY)
        .json(&json!({"requests_per_day": 1000}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_lists_every_workspaces_notifications_newest_first() {
    let env = Env::start(&format!(
        "{}\nrequests_per_day = 2\n",
        base_toml("requests_per_day = 2")
    ))
    .await;
    assert_eq!(call(&env, ACME_KEY).await, 200);
    assert_eq!(call(&env, BETA_KEY).await, 200);
    let list = env
        .wait_json(ADMIN_KEY, "/api/quota/notifications?limit=10", |v| {
            v["notifications"].as_array().is_some_and(|a| a.len() >= 2)
        })
        .await;
    let ws: Vec<&str> = list["notifications"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["workspace"].as_str())
        .collect();
    assert_eq!(ws, vec!["beta", "acme"], "{list}");
    // A workspace key still reads only its own.
    let own = env.get_json(ACME_KEY, "/api/quota/notifications").await;
    assert!(!own.to_string().contains("\"beta\""), "{own}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_budget_alerts_on_every_workspace_s_spend_and_refuses_nothing() {
    // Each simulated call costs a few millionths of a dollar: a budget of 0.00001 USD is
    // crossed by the calls of both workspaces together.
    let env = Env::start(&format!(
        "[account]\nbudget_usd_per_day = 0.00001\nalert_thresholds = [0.5]\n{}",
        base_toml("")
    ))
    .await;
    let report = env.get_json(ADMIN_KEY, "/api/admin/account").await;
    assert_eq!(report["budget_usd_per_day"], 0.00001, "{report}");
    for key in [ACME_KEY, BETA_KEY, ACME_KEY, BETA_KEY] {
        assert_eq!(
            call(&env, key).await,
            200,
            "the account budget never refuses"
        );
    }
    // The tick sums the workspaces' spend once a second.
    let list = env
        .wait_json(ADMIN_KEY, "/api/quota/notifications?limit=50", |v| {
            v.to_string().contains("notif-account-alert-threshold")
        })
        .await;
    let n = list["notifications"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["key"] == "notif-account-alert-threshold")
        .cloned()
        .unwrap_or_default();
    assert_eq!(n["workspace"], "_account", "{n}");
    assert_eq!(n["level"], "info");
    assert_eq!(
        n["id"]
            .as_str()
            .map(|id| id.starts_with("alert:_account:budget_usd_per_day:")),
        Some(true)
    );
    let body = n["body"].as_str().unwrap_or_default();
    assert!(
        body.starts_with("All workspaces together have used 50%"),
        "{body}"
    );
    // Raised once.
    for key in [ACME_KEY, BETA_KEY] {
        assert_eq!(call(&env, key).await, 200);
    }
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let list = env
        .get_json(ADMIN_KEY, "/api/quota/notifications?limit=50")
        .await;
    assert_eq!(
        list.to_string()
            .matches("notif-account-alert-threshold")
            .count(),
        1,
        "{list}"
    );
}

#[tokio::test]
async fn the_account_budget_is_checked_like_a_workspace_s() {
    let check = |toml: &str| {
        quota_sentinel::config::RawConfig::parse(toml)
            .and_then(|raw| raw.validate(Default::default()).map_err(|e| e.to_string()))
    };
    let e = check("[account]\nbudget_usd_per_day = -1\n")
        .err()
        .unwrap_or_default();
    assert!(e.starts_with("account.budget_usd_per_day:"), "{e}");
    let e = check("[account]\nbudget_usd_per_month = 5\nalert_thresholds = [3]\n")
        .err()
        .unwrap_or_default();
    assert!(e.starts_with("account.alert_thresholds:"), "{e}");
    let e = check("[account]\nrequests_per_day = 5\n")
        .err()
        .unwrap_or_default();
    assert!(e.contains("requests_per_day"), "{e}");
    let c = check("[account]\nbudget_usd_per_month = 500\n").unwrap_or_else(|e| panic!("{e}"));
    let b = c.account_budget.unwrap_or_default();
    assert_eq!(b.budget_usd_per_month, Some(500.0));
    assert!(b.is_soft(quota_sentinel::types::LimitKind::BudgetUsdPerMonth));
    assert!(check("").is_ok_and(|c| c.account_budget.is_none()));
    // `_account` is kept for the account's notifications: no workspace may take it.
    let e = check("[[workspaces]]\nid = \"_account\"\nkey_sha256 = []\n")
        .err()
        .unwrap_or_default();
    assert!(e.starts_with("workspaces[0].id:"), "{e}");
}

#[tokio::test]
async fn thresholds_of_single_limits_are_read_and_checked() {
    let parse = |toml: &str| {
        quota_sentinel::config::RawConfig::parse(toml)
            .and_then(|raw| raw.validate(Default::default()).map_err(|e| e.to_string()))
    };
    let c = parse(
        "[defaults]\nalert_thresholds_by_limit = { budget_usd_per_day = [1.0, 0.9] }\n\
         [[workspaces]]\nid = \"a\"\nkey_sha256 = []\nbudget_usd_per_day = 5\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let l = &c.workspaces[0].limits;
    assert_eq!(
        l.thresholds_of(quota_sentinel::types::LimitKind::BudgetUsdPerDay),
        &[0.9, 1.0]
    );
    assert_eq!(
        l.thresholds_of(quota_sentinel::types::LimitKind::TokensPerDay),
        &quota_sentinel::types::DEFAULT_ALERT_THRESHOLDS
    );
    for (toml, why) in [
        (
            "[defaults]\nalert_thresholds_by_limit = { requests_per_minute = [0.5] }\n",
            "a minute limit",
        ),
        (
            "[defaults]\nalert_thresholds_by_limit = { tokens_per_day = [1.5] }\n",
            "a share over 1",
        ),
    ] {
        let e = parse(toml).err().unwrap_or_default();
        assert!(
            e.starts_with("defaults.alert_thresholds_by_limit:"),
            "{why}: {e}"
        );
    }
    let e = parse("[defaults]\nalert_thresholds_by_limit = { bananas_per_day = [0.5] }\n")
        .err()
        .unwrap_or_default();
    assert!(e.contains("bananas_per_day"), "{e}");
}
