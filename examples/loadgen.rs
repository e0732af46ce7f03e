//! Open-loop load generator for BENCHMARKS.md: sends POSTs at a fixed rate and reports latency
//! percentiles measured from each request's *scheduled* start (no coordinated omission).
//!
//! `cargo run --release --example loadgen -- URL RATE SECONDS KEY [BODY]` prints one JSON line:
//! `{"url", "rate", "sent", "ok", "errors", "p50_ms", "p90_ms", "p99_ms", "max_ms"}`.

use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: loadgen URL RATE SECONDS KEY [BODY]");
        std::process::exit(2);
    }
    let url = args[1].clone();
    let rate: f64 = args[2].parse().unwrap_or(1000.0);
    let secs: f64 = args[3].parse().unwrap_or(10.0);
    let key = args[4].clone();
    let body = args.get(5).cloned().unwrap_or_else(|| {
        r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello benchmark"}],"max_tokens":16}"#.to_string()
    });
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(4096)
        .tcp_nodelay(true)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let body = Arc::new(body);
    let total = (rate * secs) as u64;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now() + Duration::from_millis(100);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Option<Duration>>();
    for i in 0..total {
        let scheduled = start + interval * i as u32;
        tokio::time::sleep_until(scheduled.into()).await;
        let (client, url, key, body, tx) = (
            client.clone(),
            url.clone(),
            key.clone(),
            body.clone(),
            tx.clone(),
        );
        tokio::spawn(async move {
            let r = client
                .post(&url)
                .bearer_auth(&key)
                .header("content-type", "application/json")
                .body(body.as_str().to_owned())
                .send()
                .await;
            let ok = match r {
                Ok(resp) => resp.status().is_success() && resp.bytes().await.is_ok(),
                Err(_) => false,
            };
            let _ = tx.send(ok.then(|| scheduled.elapsed()));
        });
    }
    drop(tx);
    let mut lat = Vec::with_capacity(total as usize);
    let mut errors = 0u64;
    while let Some(r) = rx.recv().await {
        match r {
            Some(d) => lat.push(d.as_secs_f64() * 1000.0),
            None => errors += 1,
        }
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return f64::NAN;
        }
        lat[((lat.len() as f64 - 1.0) * p).round() as usize]
    };
    println!(
        "{{\"url\":\"{url}\",\"rate\":{rate},\"sent\":{total},\"ok\":{},\"errors\":{errors},\"p50_ms\":{:.3},\"p90_ms\":{:.3},\"p99_ms\":{:.3},\"max_ms\":{:.3}}}",
        lat.len(),
        pct(0.5),
        pct(0.9),
        pct(0.99),
        lat.last().copied().unwrap_or(f64::NAN)
    );
}
