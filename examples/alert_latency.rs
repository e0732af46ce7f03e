//! Alert latency for BENCHMARKS.md: the time from the answer of the call that crosses a limit's
//! 100 % threshold to the arrival of that alert's webhook.
//!
//! Starts `quota-sentinel simulate` and `quota-sentinel serve` as child processes (as
//! `scripts/bench.sh` does), the gateway with `CROSSINGS + 1` workspaces, each with
//! `requests_per_day = 1`, and one webhook channel (`levels = ["error"]`, its secret given to
//! the child in `secret_env`) pointing at a receiver this program serves on 127.0.0.1 (port 0).
//! Each workspace's first call uses its whole day: it is answered 200 and raises the threshold
//! alert (`notif-alert-threshold`, level `error`), the only notification the channel takes.
//! The crossings start one every `SPACING_MS` (one workspace each, so they are independent);
//! the program records when each call's answer was read in full and when the webhook naming
//! that workspace (`data.notification.workspace`) arrived in full, on one monotonic clock. The
//! first crossing warms the connections up and is not counted.
//!
//! `cargo run --release --example alert_latency -- [BIN] [CROSSINGS] [SPACING_MS]` (defaults:
//! the `quota-sentinel` binary of the same target directory, 100, 20) prints one JSON line:
//! `{"crossings", "delivered", "spacing_ms", "ms": {"p50", "p99", "max", "min"}}`; it exits
//! non-zero if a call was not answered 200 or a webhook did not arrive within 30 s.

#![allow(clippy::print_stdout, reason = "a benchmark program reports on stdout")]

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "common/procs.rs"]
mod procs;
use procs::{
    arg, arrived, free_port, http_client, one_call_workspaces, serve, wait_up, Arrivals, Children,
    Crossings,
};

/// The channel's signing secret (a local benchmark: a fixed one is enough).
const SECRET: &str = "whsec_YWxlcnQtbGF0ZW5jeS1iZW5jaC1zZWNyZXQtMDA=";
/// How long the webhooks are waited for after the last crossing.
const DEADLINE: Duration = Duration::from_secs(30);

fn key(i: usize) -> String {
    format!("qs_alert_latency_{i:04}")
}

fn workspace(i: usize) -> String {
    format!("lat{i:04}")
}

/// The gateway's config: `n` workspaces of one request a day, and the webhook channel.
fn config(n: usize, hook: &str) -> String {
    format!(
        "[[channels]]\nid = \"bench\"\nkind = \"webhook\"\nurl = \"{hook}\"\n\
         secret_env = \"QS_ALERT_LATENCY_SECRET\"\nlevels = [\"error\"]\n{}",
        one_call_workspaces(n, key, workspace)
    )
}

/// Serves the webhook receiver on `listener`: records the arrival of each `error` threshold
/// alert by workspace and answers 200.
fn receiver(listener: tokio::net::TcpListener, arrivals: Arrivals) {
    use axum::body::Body;
    use axum::http::Request;
    let app = axum::Router::new().fallback(move |req: Request<Body>| {
        let arrivals = arrivals.clone();
        async move {
            let body = axum::body::to_bytes(req.into_body(), 1 << 20)
                .await
                .unwrap_or_default();
            let at = Instant::now();
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let n = &v["data"]["notification"];
            if n["key"] == "notif-alert-threshold" && n["level"] == "error" {
                if let Some(w) = n["workspace"].as_str() {
                    arrived(&arrivals, w, at);
                }
            }
            "ok"
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
}

async fn run() -> Result<String, String> {
    let bin = procs::binary(1);
    let crossings: usize = arg(2, 100);
    let spacing = Duration::from_millis(arg(3, 20));

    let arrivals: Arrivals = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let hook = format!(
        "http://{}/hook",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    receiver(listener, arrivals.clone());

    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let cfg = dir.path().join("qs.toml");
    std::fs::write(&cfg, config(crossings + 1, &hook)).map_err(|e| e.to_string())?;
    let mut children = Children(Vec::new());
    let sim_port = children.simulator(&bin)?;
    let gw_port = free_port()?;
    children.spawn(
        serve(&bin, &cfg, gw_port, &dir.path().join("qs.db"), sim_port)
            .env("OPENAI_API_KEY", "sk-alert-latency")
            // Sessions that outlive a restart: only so the gateway does not warn that they don't.
            .env("QUOTA_ADMIN_KEY", "qs_alert_latency_admin_0123456789")
            .env("QS_ALERT_LATENCY_SECRET", SECRET),
    )?;
    let http = http_client()?;
    let gw = format!("http://127.0.0.1:{gw_port}");
    wait_up(&http, &format!("http://127.0.0.1:{sim_port}/_sim/stats")).await?;
    wait_up(&http, &format!("{gw}/healthz")).await?;

    Crossings {
        url: format!("{gw}/v1/chat/completions"),
        body: r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"cross the limit"}],"max_tokens":16}"#,
        count: crossings,
        spacing,
        key,
        workspace,
        deadline: DEADLINE,
        what: "webhooks",
    }
    .run(&http, &arrivals, children)
    .await
}

fn main() -> ExitCode {
    procs::report("alert_latency", run)
}
