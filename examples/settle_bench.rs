//! Measures the registry's hot path against its periodic tick, for BENCHMARKS.md (issue 11,
//! #8): `THREADS` threads (default 2) admit and settle calls round-robin over `WORKSPACES`
//! workspaces (default 10,000) for `SECONDS` (default 5), each settlement carrying an upstream
//! observation with fresh `x-ratelimit-*` headroom (as a real response does), while another
//! thread runs the registry's tick once a second. Then it times 20 ticks alone. Prints one JSON
//! line: settlements per second (each after its admission), the settling threads' CPU time per
//! settlement (less sensitive than the rate to other processes' load), the slowest admit +
//! settle pair, how many took over a millisecond, and the tick's duration under load and alone.
//!
//! The store's writer is not run: no call here changes a status, so nothing is written.
//!
//! `cargo run --release --example settle_bench -- [WORKSPACES] [SECONDS] [THREADS]`

#![allow(clippy::print_stdout, reason = "a benchmark program reports on stdout")]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use quota_sentinel::alerts::Hub;
use quota_sentinel::quota::{AccountPolicy, Actual, Demand, UpstreamObservation};
use quota_sentinel::registry::Registry;
use quota_sentinel::store::Store;
use quota_sentinel::types::{Limits, UpstreamHeadroom};

#[path = "common/cpu.rs"]
mod cpu;

// The gateway's allocator, so the figure is the gateway's.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn arg(n: usize, default: u64) -> u64 {
    std::env::args()
        .nth(n)
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// User + system CPU time of the calling thread so far, in seconds.
fn thread_cpu_seconds() -> f64 {
    cpu::seconds("/proc/thread-self/stat")
}

/// The median of `v` (sorted here), and its largest value.
fn median_max(v: &mut [f64]) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (
        v.get(v.len() / 2).copied().unwrap_or(0.0),
        v.last().copied().unwrap_or(0.0),
    )
}

/// What one settling thread saw.
#[derive(Default)]
struct Calls {
    count: u64,
    slowest: Duration,
    over_1ms: u64,
    cpu_seconds: f64,
}

fn main() {
    let (workspaces, seconds, threads) = (arg(1, 10_000), arg(2, 5), arg(3, 2));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = std::env::temp_dir().join(format!("qs-settle-bench-{}", std::process::id()));
    let url = format!("sqlite://{}/bench.db", dir.display());
    let (store, _writer) = rt
        .block_on(Store::open(&url))
        .unwrap_or_else(|e| panic!("{e}"));
    let reg = Arc::new(Registry::new(
        chrono_tz::UTC,
        AccountPolicy::default(),
        store,
        Arc::new(Hub::default()),
        quota_sentinel::quota::alerting::BURN_MIN_MINUTES,
    ));
    let limits = Limits {
        requests_per_minute: Some(1_000_000_000),
        tokens_per_day: Some(1_000_000_000_000),
        budget_usd_per_month: Some(1e9),
        ..Limits::default()
    };
    let now = Utc::now();
    let all: Arc<Vec<_>> = Arc::new(
        (0..workspaces)
            .map(|i| reg.upsert_workspace(&format!("ws-{i:05}"), "bench", limits.clone(), now))
            .collect(),
    );

    let stop = Arc::new(AtomicBool::new(false));
    let ticker = {
        let (reg, stop) = (reg.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut ms = vec![];
            let start = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                reg.tick(Utc::now());
                ms.push(t.elapsed().as_secs_f64() * 1e3);
                let next = start + Duration::from_secs(ms.len() as u64);
                while !stop.load(Ordering::Relaxed) && Instant::now() < next {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            ms
        })
    };
    let t0 = Instant::now();
    let settlers: Vec<_> = (0..threads)
        .map(|t| {
            let (reg, all, stop) = (reg.clone(), all.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut calls = Calls::default();
                let cpu0 = thread_cpu_seconds();
                let mut i = t as usize;
                while !stop.load(Ordering::Relaxed) {
                    let w = &all[i % all.len()];
                    let started = Instant::now();
                    let now = Utc::now();
                    let demand = Demand {
                        tokens: 1_000,
                        cost_nanos: 10_000,
                    };
                    let Ok(r) = reg.admit(w, demand, None, now) else {
                        panic!("refused");
                    };
                    let headroom = UpstreamHeadroom {
                        limit_requests: Some(1_000_000),
                        remaining_requests: Some(1_000_000 - calls.count % 1_000),
                        reset_requests_ms: Some(60_000),
                        limit_tokens: Some(100_000_000),
                        remaining_tokens: Some(100_000_000 - calls.count % 100_000),
                        reset_tokens_ms: Some(60_000),
                        observed_at: now,
                    };
                    let actual = Actual {
                        tokens: 28,
                        cost_nanos: Some(11_400),
                    };
                    let seen = UpstreamObservation::Success {
                        headroom: Some(headroom),
                    };
                    reg.settle(w, r, actual, Some(seen), None, now);
                    let took = started.elapsed();
                    calls.count += 1;
                    calls.slowest = calls.slowest.max(took);
                    calls.over_1ms += u64::from(took > Duration::from_millis(1));
                    i += threads as usize;
                }
                calls.cpu_seconds = thread_cpu_seconds() - cpu0;
                calls
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    let calls: Vec<Calls> = settlers
        .into_iter()
        .map(|h| {
            h.join()
                .unwrap_or_else(|_| panic!("a settling thread panicked"))
        })
        .collect();
    let wall = t0.elapsed().as_secs_f64();
    let mut tick_load = ticker
        .join()
        .unwrap_or_else(|_| panic!("the ticking thread panicked"));

    let mut tick_alone: Vec<f64> = (0..20)
        .map(|_| {
            let t = Instant::now();
            reg.tick(Utc::now());
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    let count: u64 = calls.iter().map(|c| c.count).sum();
    let slowest = calls.iter().map(|c| c.slowest).max().unwrap_or_default();
    let over_1ms: u64 = calls.iter().map(|c| c.over_1ms).sum();
    let cpu: f64 = calls.iter().map(|c| c.cpu_seconds).sum();
    let (load_median, load_max) = median_max(&mut tick_load);
    let (alone_median, alone_max) = median_max(&mut tick_alone);
    println!(
        "{{\"workspaces\":{workspaces},\"threads\":{threads},\"settles_per_s\":{:.0},\
         \"cpu_us_per_settle\":{:.3},\"slowest_call_ms\":{:.2},\"calls_over_1ms\":{over_1ms},\
         \"tick_ms_under_load\":{{\"median\":{load_median:.2},\"max\":{load_max:.2}}},\
         \"tick_ms_alone\":{{\"median\":{alone_median:.2},\"max\":{alone_max:.2}}}}}",
        count as f64 / wall,
        cpu * 1e6 / count.max(1) as f64,
        slowest.as_secs_f64() * 1e3,
    );
}
