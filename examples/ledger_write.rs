//! Measures the ledger writer's CPU cost per row, for BENCHMARKS.md: queues `ROWS` (default
//! 200,000) call rows shaped like the benchmark's chat calls, lets the writer commit them into
//! a fresh SQLite file (or the PostgreSQL database of `DATABASE_URL`), and prints this
//! process's CPU time (user + system, every thread) per row and rows/s. With PostgreSQL the
//! server's own CPU is not in the figure; rows/s is.
//!
//! `cargo run --release --example ledger_write -- [ROWS] [DATABASE_URL]`

#![allow(clippy::print_stdout, reason = "a benchmark program reports on stdout")]

use std::sync::Arc;
use std::time::Instant;

use quota_sentinel::store::{LedgerRow, Store, Write};

// The gateway's allocator, so the figure is the gateway's.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "common/cpu.rs"]
mod cpu;

/// User + system CPU time of this process (every thread) so far, in seconds.
fn cpu_seconds() -> f64 {
    cpu::seconds("/proc/self/stat")
}

#[tokio::main]
async fn main() {
    let rows: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    let dir = std::env::temp_dir().join(format!("qs-ledger-bench-{}", std::process::id()));
    let url = std::env::args()
        .nth(2)
        .unwrap_or_else(|| format!("sqlite://{}/ledger.db", dir.display()));
    let (store, writer) = Store::open(&url).await.unwrap_or_else(|e| panic!("{e}"));
    let writer = tokio::spawn(writer.run());
    let (ws, key, family, model): (Arc<str>, Arc<str>, Arc<str>, Arc<str>) = (
        "bench".into(),
        "cfg_0123456789ab".into(),
        "chat.completions".into(),
        "gpt-4o-mini".into(),
    );
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    for i in 0..rows {
        let row = LedgerRow {
            ts: chrono::Utc::now(),
            workspace: ws.clone(),
            key_id: key.clone(),
            family: family.clone(),
            model: Some(model.clone()),
            http_status: 200,
            input_tokens: 12,
            output_tokens: 16,
            cost_nanos: Some(11_400),
            latency_ms: 1,
            request_id: Some(format!("0193b3c2-7c1e-7d4a-9f00-{i:012x}").into()),
            upstream_request_id: Some(format!("req_{i:028x}").into()),
            ..Default::default()
        };
        store.write(Write::Call(Box::new(row)));
        if i % 1000 == 999 {
            tokio::task::yield_now().await;
        }
    }
    let pool = store.pool().clone();
    drop(store);
    writer.await.unwrap_or_else(|e| panic!("{e}"));
    let (cpu, wall) = (cpu_seconds() - cpu0, t0.elapsed().as_secs_f64());
    pool.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "{{\"rows\":{rows},\"cpu_us_per_row\":{:.2},\"rows_per_s\":{:.0}}}",
        cpu * 1e6 / rows as f64,
        rows as f64 / wall
    );
}
