//! Cross-instance notification latency for BENCHMARKS.md ("Shared state"): the time from the
//! answer of a call through instance B that changes a workspace's status to the arrival of that
//! status on a WebSocket open on instance A, the two instances sharing one Redis.
//!
//! Starts `quota-sentinel simulate` and two `quota-sentinel serve` as child processes (each
//! with its own SQLite ledger, both with `--redis-url REDIS_URL`, whose database is flushed
//! first), with `CROSSINGS + 1` workspaces of `requests_per_day = 1`, and opens the admin's
//! every-workspace socket on A (`?snapshot=none`). Each workspace's first call through B uses
//! its whole day: answered 200, its status leaves `normal` on B, B announces it on Redis, and A
//! reads the workspace's shared counters again and sends the new status. The crossings start
//! one every `SPACING_MS` (one workspace each); the program records when each call's answer
//! was read in full and when A's first status other than `normal` naming that workspace
//! arrived, on one monotonic clock. The first crossing warms up and is not counted.
//!
//! `cargo run --release --example fanout_latency -- BIN REDIS_URL [CROSSINGS] [SPACING_MS]`
//! (defaults 100 and 20; `REDIS_URL` must name a database nothing else uses) prints one JSON
//! line: `{"crossings", "delivered", "spacing_ms", "ms": {"p50", "p99", "max", "min"}}`; it
//! exits non-zero if a call was not answered 200 or a status did not arrive within 30 s.

#![allow(clippy::print_stdout, reason = "a benchmark program reports on stdout")]

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

#[path = "common/procs.rs"]
mod procs;
use procs::{
    arg, arrived, free_port, http_client, one_call_workspaces, serve, wait_up, Arrivals, Children,
    Crossings,
};

const ADMIN_KEY: &str = "qs_fanout_latency_admin_0123456789";
/// How long the statuses are waited for after the last crossing.
const DEADLINE: Duration = Duration::from_secs(30);

fn key(i: usize) -> String {
    format!("qs_fanout_latency_{i:04}")
}

fn workspace(i: usize) -> String {
    format!("fan{i:04}")
}

/// Reads the socket until it ends, recording arrivals.
async fn listen<S>(mut ws: S, arrivals: Arrivals)
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    while let Some(Ok(m)) = ws.next().await {
        let Message::Text(text) = m else { continue };
        let at = Instant::now();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if v["type"] != "status" || v["data"]["status"] == "normal" {
            continue;
        }
        if let Some(w) = v["data"]["workspace"].as_str() {
            arrived(&arrivals, w, at);
        }
    }
}

async fn run() -> Result<String, String> {
    let bin = procs::binary(1);
    let redis_url = std::env::args()
        .nth(2)
        .ok_or("usage: fanout_latency BIN REDIS_URL [CROSSINGS] [SPACING_MS]")?;
    let crossings: usize = arg(3, 100);
    let spacing = Duration::from_millis(arg(4, 20));

    let redis = redis::Client::open(redis_url.as_str()).map_err(|e| e.to_string())?;
    let mut conn = redis
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| format!("redis: {e}"))?;
    redis::cmd("FLUSHDB")
        .query_async::<()>(&mut conn)
        .await
        .map_err(|e| format!("redis: {e}"))?;

    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let cfg = dir.path().join("qs.toml");
    std::fs::write(&cfg, one_call_workspaces(crossings + 1, key, workspace))
        .map_err(|e| e.to_string())?;
    let mut children = Children(Vec::new());
    let sim_port = children.simulator(&bin)?;
    let (a_port, b_port) = (free_port()?, free_port()?);
    for (name, port) in [("a", a_port), ("b", b_port)] {
        let db = dir.path().join(format!("{name}.db"));
        children.spawn(
            serve(&bin, &cfg, port, &db, sim_port)
                .arg("--redis-url")
                .arg(&redis_url)
                .env("OPENAI_API_KEY", "sk-fanout-latency")
                .env("QUOTA_ADMIN_KEY", ADMIN_KEY),
        )?;
    }
    let http = http_client()?;
    let (a, b) = (
        format!("127.0.0.1:{a_port}"),
        format!("http://127.0.0.1:{b_port}"),
    );
    wait_up(&http, &format!("http://127.0.0.1:{sim_port}/_sim/stats")).await?;
    wait_up(&http, &format!("http://{a}/healthz")).await?;
    wait_up(&http, &format!("{b}/healthz")).await?;

    let arrivals: Arrivals = Arc::default();
    let (ws, _) = tokio_tungstenite::connect_async(format!(
        "ws://{a}/api/quota/ws?token={ADMIN_KEY}&snapshot=none"
    ))
    .await
    .map_err(|e| format!("websocket on A: {e}"))?;
    let (_sink, stream) = ws.split();
    tokio::spawn(listen(stream, arrivals.clone()));

    Crossings {
        url: format!("{b}/v1/chat/completions"),
        body: r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"use the day"}],"max_tokens":16}"#,
        count: crossings,
        spacing,
        key,
        workspace,
        deadline: DEADLINE,
        what: "statuses on A",
    }
    .run(&http, &arrivals, children)
    .await
}

fn main() -> ExitCode {
    procs::report("fanout_latency", run)
}
