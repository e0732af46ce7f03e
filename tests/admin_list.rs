//! The admin's workspace list, `GET /api/admin/workspaces`: pages by cursor, search by part of
//! the id or name, the count of matches, 400s in OpenAI's error shape for bad parameters; and
//! the overview over every workspace, `GET /api/admin/overview`; and the admin socket without
//! the snapshot of every workspace (`/api/quota/ws?snapshot=none`).

mod support;

use serde_json::{json, Value};
use support::*;

/// `acme` and `beta` of the base config, and `team-000` … `team-119` named "Team 0" … (every
/// tenth "Research Team N" instead).
fn many_toml() -> String {
    let mut toml = base_toml("");
    for i in 0..120 {
        let name = if i % 10 == 0 {
            format!("Research Team {i}")
        } else {
            format!("Team {i}")
        };
        toml.push_str(&format!(
            "[[workspaces]]\nid = \"team-{i:03}\"\nname = \"{name}\"\n"
        ));
    }
    toml
}

fn ids(page: &Value) -> Vec<String> {
    page["workspaces"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|w| w["workspace"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Every page of `GET /api/admin/workspaces?{query}`, following `next_cursor`: the ids in
/// order and the `total` of each page.
async fn all_pages(env: &Env, query: &str) -> (Vec<String>, Vec<u64>) {
    let (mut all, mut totals) = (Vec::new(), Vec::new());
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let mut path = format!("/api/admin/workspaces?{query}");
        if let Some(c) = &cursor {
            // Cursors are URL-safe as given.
            path.push_str(&format!("&cursor={c}"));
        }
        let page = env.get_json(ADMIN_KEY, &path).await;
        all.extend(ids(&page));
        totals.push(page["total"].as_u64().unwrap_or(u64::MAX));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return (all, totals),
        }
    }
    panic!("more than 100 pages for {query}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_pages_by_cursor_in_id_order() {
    let env = Env::start(&many_toml()).await;
    let mut expected: Vec<String> = ["acme", "beta"].map(String::from).to_vec();
    expected.extend((0..120).map(|i| format!("team-{i:03}")));
    expected.sort();

    // Without parameters: the first 50, the count of all, a cursor.
    let first = env.get_json(ADMIN_KEY, "/api/admin/workspaces").await;
    assert_eq!(ids(&first), expected[..50], "{first}");
    assert_eq!(first["total"], 122);
    assert!(first["next_cursor"].is_string(), "{first}");
    // Each report is the full status report of the workspace.
    assert_eq!(first["workspaces"][0]["name"], "Acme");
    assert_eq!(first["workspaces"][0]["status"], "normal");

    // Pages of 50 and of 7: every workspace once, in id order; the last page has no cursor.
    for limit in [50, 7, 500] {
        let (all, totals) = all_pages(&env, &format!("limit={limit}")).await;
        assert_eq!(all, expected, "limit={limit}");
        assert!(
            totals.iter().all(|t| *t == 122),
            "limit={limit}: {totals:?}"
        );
        assert_eq!(totals.len(), 122usize.div_ceil(limit), "limit={limit}");
    }

    // Keyset paging: a workspace created before the cursor's place moves nothing after it.
    let page1 = env
        .get_json(ADMIN_KEY, "/api/admin/workspaces?limit=10")
        .await;
    let cursor = page1["next_cursor"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    env.post(ADMIN_KEY, "/api/admin/workspaces", json!({"id": "aaa-new"}))
        .await;
    let page2 = env
        .get_json(
            ADMIN_KEY,
            &format!("/api/admin/workspaces?limit=10&cursor={cursor}"),
        )
        .await;
    assert_eq!(ids(&page2), expected[10..20], "{page2}");
    assert_eq!(page2["total"], 123, "the new workspace counts: {page2}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_searches_ids_and_names_in_any_case() {
    let env = Env::start(&many_toml()).await;
    // "research" is in twelve names only; any case.
    for q in ["research", "RESEARCH", "ReSeArCh%20team"] {
        let (all, totals) = all_pages(&env, &format!("q={q}&limit=5")).await;
        let want: Vec<String> = (0..120)
            .step_by(10)
            .map(|i| format!("team-{i:03}"))
            .collect();
        assert_eq!(all, want, "q={q}");
        assert!(totals.iter().all(|t| *t == 12), "q={q}: {totals:?}");
    }
    // An id: "team-11" is team-110 … team-119 and team-011 is not ("team-011" has "team-01").
    let page = env
        .get_json(ADMIN_KEY, "/api/admin/workspaces?q=team-11")
        .await;
    let want: Vec<String> = (110..120).map(|i| format!("team-{i:03}")).collect();
    assert_eq!(ids(&page), want, "{page}");
    assert_eq!(page["total"], 10);
    assert!(page["next_cursor"].is_null(), "{page}");
    // The id or the name: "acm" is acme's id and name; "Beta" its name and id in other case.
    let page = env.get_json(ADMIN_KEY, "/api/admin/workspaces?q=BET").await;
    assert_eq!(ids(&page), ["beta"]);
    // Surrounding spaces do not count; nothing matching is an empty page, not an error.
    let page = env
        .get_json(ADMIN_KEY, "/api/admin/workspaces?q=%20%20acm%20")
        .await;
    assert_eq!(ids(&page), ["acme"]);
    let page = env
        .get_json(ADMIN_KEY, "/api/admin/workspaces?q=no-such-thing")
        .await;
    assert_eq!(ids(&page), Vec::<String>::new());
    assert_eq!(page["total"], 0);
    assert!(page["next_cursor"].is_null());
    // An empty search is every workspace.
    let page = env
        .get_json(ADMIN_KEY, "/api/admin/workspaces?q=&limit=1")
        .await;
    assert_eq!(page["total"], 122);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_filters_by_status_on_the_server() {
    let mut toml = base_toml("requests_per_minute = 1");
    toml.push_str(&many_toml()[base_toml("").len()..]);
    let env = Env::start(&toml).await;
    let page = env
        .get_json(ADMIN_KEY, "/api/admin/workspaces?status=normal&limit=3")
        .await;
    assert_eq!(ids(&page), ["acme", "beta", "team-000"]);
    assert_eq!(page["total"], 122);
    // acme refused at its minute limit: its status now, and it alone has it.
    for want in [200, 429] {
        let r = env.chat(ACME_KEY, "hello status").await;
        assert_eq!(r.status(), want);
        let _ = r.bytes().await;
    }
    let acme = env
        .get_json(ADMIN_KEY, "/api/quota/status?workspace=acme")
        .await;
    let status = acme["status"].as_str().unwrap_or_default().to_string();
    assert_ne!(status, "normal", "{acme}");
    let page = env
        .get_json(ADMIN_KEY, &format!("/api/admin/workspaces?status={status}"))
        .await;
    assert_eq!(ids(&page), ["acme"], "{page}");
    assert_eq!(page["total"], 1);
    let (all, totals) = all_pages(&env, "status=normal&q=team&limit=50").await;
    assert_eq!(all.len(), 120);
    assert!(totals.iter().all(|t| *t == 120), "{totals:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_list_parameters_are_400s_naming_the_parameter() {
    let env = Env::start(&many_toml()).await;
    let long = "x".repeat(201);
    for (query, param) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=-1", "limit"),
        ("limit=ten", "limit"),
        ("limit=1.5", "limit"),
        ("cursor=garbage", "cursor"),
        ("cursor=ws.zz", "cursor"),
        ("cursor=ws.", "cursor"),
        ("cursor=ws.ff", "cursor"),
        ("status=fine", "status"),
        ("status=NORMAL", "status"),
        (&*format!("q={long}"), "q"),
    ] {
        let r = env
            .get(ADMIN_KEY, &format!("/api/admin/workspaces?{query}"))
            .await;
        let e = api_error(r).await;
        assert_eq!(e.status, 400, "{query}: {}", e.raw);
        assert_eq!(e.body.error.kind, "invalid_request_error", "{query}");
        assert_eq!(e.body.error.param.as_deref(), Some(param), "{query}");
        assert!(
            e.body.error.message.contains(&format!("`{param}`")),
            "{query}: {}",
            e.raw
        );
    }
    // The list still needs the admin key.
    let e = api_error(env.get(ACME_KEY, "/api/admin/workspaces?limit=5").await).await;
    assert_eq!(e.status, 403, "{}", e.raw);
    // A cursor of a workspace that is gone still pages on after its place.
    let cursor = format!("ws.{}", hex::encode("team-0995"));
    let page = env
        .get_json(ADMIN_KEY, &format!("/api/admin/workspaces?cursor={cursor}"))
        .await;
    assert!(
        ids(&page).first().is_some_and(|id| id == "team-100"),
        "{page}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_sums_every_workspace_not_one_page() {
    let env = Env::start(&many_toml()).await;
    let r = env.chat(ACME_KEY, "hello overview").await;
    assert_eq!(r.status(), 200);
    let _ = r.bytes().await;
    let o = env
        .wait_json(ADMIN_KEY, "/api/admin/overview", |o| {
            o["cost_usd_day"].as_f64().is_some_and(|c| c > 0.0)
        })
        .await;
    assert_eq!(o["workspaces"], 122, "{o}");
    // Acme is last but one of the first page in no order; the sums are over all.
    let acme = env
        .get_json(ADMIN_KEY, "/api/quota/status?workspace=acme")
        .await;
    let day = acme["usage"]["cost_usd_day"].as_f64().unwrap_or(-1.0);
    assert!(
        (o["cost_usd_day"].as_f64().unwrap_or(0.0) - day).abs() < 1e-12,
        "{o} vs {acme}"
    );
    assert!(o["cost_usd_month"].as_f64().unwrap_or(0.0) >= day, "{o}");
    assert_eq!(o["top_spend"][0]["workspace"], "acme", "{o}");
    assert_eq!(o["top_spend"][0]["name"], "Acme", "{o}");
    assert_eq!(o["top_spend"].as_array().map(Vec::len), Some(1), "{o}");
    assert_eq!(o["account_status"], "normal", "{o}");
    // Admin only.
    let e = api_error(env.get(ACME_KEY, "/api/admin/overview").await).await;
    assert_eq!(e.status, 403, "{}", e.raw);
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws_connect(env: &Env, query: &str) -> Ws {
    let url = format!(
        "{}/api/quota/ws?token={ADMIN_KEY}{query}",
        env.gateway.replacen("http://", "ws://", 1)
    );
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .unwrap_or_else(|e| panic!("ws connect: {e}"));
    ws
}

/// The types of the messages up to and including the first `pong` (a ping is sent first).
async fn types_until_pong(ws: &mut Ws) -> Vec<String> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    ws.send(Message::Text(r#"{"type":"ping"}"#.into()))
        .await
        .unwrap_or_else(|e| panic!("ping: {e}"));
    let mut types = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no pong; got {types:?}"));
        let Some(Ok(Message::Text(t))) = msg else {
            continue;
        };
        let v: Value = serde_json::from_str(t.as_str()).unwrap_or_default();
        let kind = v["type"].as_str().unwrap_or_default().to_string();
        types.push(kind.clone());
        if kind == "pong" {
            return types;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_socket_may_go_without_the_snapshot_of_every_workspace() {
    let env = Env::start(&many_toml()).await;
    // The default: a status of every workspace first (the pong comes after them).
    let mut all = ws_connect(&env, "").await;
    let types = types_until_pong(&mut all).await;
    assert_eq!(types.iter().filter(|t| *t == "status").count(), 122);
    // snapshot=none: nothing before the pong; a change still comes through.
    let mut none = ws_connect(&env, "&snapshot=none").await;
    assert_eq!(types_until_pong(&mut none).await, ["pong"]);
    let r = env.chat(ACME_KEY, "hello socket").await;
    assert_eq!(r.status(), 200);
    let _ = r.bytes().await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        use futures_util::StreamExt;
        let msg = tokio::time::timeout_at(deadline, none.next())
            .await
            .unwrap_or_else(|_| panic!("no status of acme after its call"));
        if let Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))) = msg {
            let v: Value = serde_json::from_str(t.as_str()).unwrap_or_default();
            if v["type"] == "status" && v["data"]["workspace"] == "acme" {
                break;
            }
        }
    }
    // A workspace's own socket always gets its one snapshot; a bad value is a 400.
    let mut one = ws_connect(&env, "&workspace=beta&snapshot=none").await;
    assert_eq!(types_until_pong(&mut one).await, ["status", "pong"]);
    let url = format!(
        "{}/api/quota/ws?token={ADMIN_KEY}&snapshot=some",
        env.gateway.replacen("http://", "ws://", 1)
    );
    match tokio_tungstenite::connect_async(url).await {
        Ok(_) => panic!("snapshot=some: the upgrade was accepted"),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 400);
            let body = resp.body().clone().unwrap_or_default();
            let e: quota_sentinel::types::ErrorBody = serde_json::from_slice(&body)
                .unwrap_or_else(|e| panic!("not an OpenAI error ({e}): {body:?}"));
            assert_eq!(e.error.param.as_deref(), Some("snapshot"));
        }
        Err(e) => panic!("snapshot=some: unexpected error {e}"),
    }
}
