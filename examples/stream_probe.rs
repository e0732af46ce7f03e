//! Streaming probe for BENCHMARKS.md: what a proxy adds to a stream, chunk by chunk.
//!
//! Sends `STREAMS` streamed chat completions, `CONCURRENCY` at a time, to a simulator started
//! with `--sim-stream-chunk-delay-ms 20 --sim-stamp-stream-events` (directly, or through a proxy
//! in front of it). Each event of such a stream is preceded by `: sent_ns=<Unix ns>`, the moment
//! it left the simulator, so the probe measures each event's *transit* (arrival − sent, on the
//! same machine's clock) and each stream's time to first byte. A proxy that held an event back
//! until the next one arrived would show transits of 20 ms and more.
//!
//! The request does not ask for `stream_options.include_usage`: the gateway then adds it and
//! strips the usage-only chunk, the path where an event could be held back.
//!
//! `cargo run --release --example stream_probe -- URL KEY STREAMS CONCURRENCY [include_usage]`
//! (the last: the client asks for the usage chunk itself) prints one JSON
//! line: `{"url", "streams", "ok", "events", "ttfb_ms": {p50, p99, max}, "transit_ms": {p50,
//! p99, p999, max}}`.

#![allow(clippy::print_stdout, reason = "a benchmark program reports on stdout")]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;

fn unix_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// Time to first byte and the transit of each data event of one stream, in ms.
async fn one(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    include_usage: bool,
) -> Option<(f64, Vec<f64>)> {
    let body = if include_usage {
        r#"{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"max_tokens":16,"messages":[{"role":"user","content":"hello streaming benchmark"}]}"#
    } else {
        r#"{"model":"gpt-4o-mini","stream":true,"max_tokens":16,"messages":[{"role":"user","content":"hello streaming benchmark"}]}"#
    };
    let started = Instant::now();
    let resp = client
        .post(url)
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let mut stream = resp.bytes_stream();
    let mut ttfb = None;
    let mut buf: Vec<u8> = Vec::new();
    let mut pending: Option<u128> = None;
    let mut transits = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.ok()?;
        let now = unix_ns();
        ttfb.get_or_insert_with(|| started.elapsed().as_secs_f64() * 1000.0);
        buf.extend_from_slice(&chunk);
        // Every complete event in the buffer: a stamp, or the data event it stamps.
        while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = buf.drain(..end + 2).collect();
            let text = String::from_utf8_lossy(&event);
            if let Some(ns) = text.strip_prefix(": sent_ns=") {
                pending = ns.trim().parse().ok();
            } else if let Some(sent) = pending.take() {
                transits.push(now.saturating_sub(sent) as f64 / 1e6);
            }
        }
    }
    Some((ttfb?, transits))
}

fn pct(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: stream_probe URL KEY STREAMS CONCURRENCY");
        std::process::exit(2);
    }
    let url = Arc::new(args[1].clone());
    let key = Arc::new(args[2].clone());
    let streams: usize = args[3].parse().unwrap_or(200);
    let concurrency: usize = args[4].parse().unwrap_or(10).max(1);
    // `include_usage` as a 5th argument: the client asks for the usage chunk itself.
    let include_usage = args.get(5).is_some_and(|a| a == "include_usage");
    let client = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, url, key, next) = (client.clone(), url.clone(), key.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut out = Vec::new();
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < streams {
                out.push(one(&client, &url, &key, include_usage).await);
            }
            out
        }));
    }
    let (mut ttfb, mut transit, mut ok) = (Vec::new(), Vec::new(), 0usize);
    for w in workers {
        for (t, tr) in w.await.unwrap_or_default().into_iter().flatten() {
            ok += 1;
            ttfb.push(t);
            transit.extend(tr);
        }
    }
    ttfb.sort_by(|a, b| a.total_cmp(b));
    transit.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{{\"url\":\"{url}\",\"streams\":{streams},\"ok\":{ok},\"events\":{},\"ttfb_ms\":{{\"p50\":{:.3},\"p99\":{:.3},\"max\":{:.3}}},\"transit_ms\":{{\"p50\":{:.3},\"p99\":{:.3},\"p999\":{:.3},\"max\":{:.3}}}}}",
        transit.len(),
        pct(&ttfb, 0.5),
        pct(&ttfb, 0.99),
        ttfb.last().copied().unwrap_or(f64::NAN),
        pct(&transit, 0.5),
        pct(&transit, 0.99),
        pct(&transit, 0.999),
        transit.last().copied().unwrap_or(f64::NAN),
    );
}
