//! What the latency examples that start `quota-sentinel` as child processes share: the children
//! (killed when dropped), free ports, waiting for a server, arguments, and quantiles.

use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

/// Child processes, killed when dropped.
pub(crate) struct Children(pub(crate) Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Children {
    /// Starts `cmd` (its logs at `warn`, its stdout discarded) and keeps it.
    pub(crate) fn spawn(&mut self, cmd: &mut Command) -> Result<(), String> {
        let child = cmd
            .env("QS_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
        self.0.push(child);
        Ok(())
    }
}

/// The `quota-sentinel` binary: argument `i`, else the one of the same target directory.
pub(crate) fn binary(i: usize) -> PathBuf {
    let default_bin = std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.join("quota-sentinel")))
        .unwrap_or_else(|| PathBuf::from("quota-sentinel"));
    std::env::args().nth(i).map_or(default_bin, PathBuf::from)
}

/// A free port on 127.0.0.1 (bound, then released for a child to take).
pub(crate) fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// Waits (bounded, 20 s) until `url` answers.
pub(crate) async fn wait_up(http: &reqwest::Client, url: &str) -> Result<(), String> {
    for _ in 0..400 {
        if http.get(url).send().await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("not up: {url}"))
}

/// Argument `i` parsed, or `default`.
pub(crate) fn arg<T: std::str::FromStr>(i: usize, default: T) -> T {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

/// The value at quantile `q` of sorted `v` (nearest rank).
fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

/// `{"p50", "p99", "max", "min"}` of the milliseconds `ms` (sorted here), to the µs.
pub(crate) fn summary(ms: &mut [f64]) -> serde_json::Value {
    ms.sort_by(f64::total_cmp);
    let r = |q| (quantile(ms, q) * 1000.0).round() / 1000.0;
    serde_json::json!({ "p50": r(0.50), "p99": r(0.99), "max": r(1.0), "min": r(0.0) })
}

/// Milliseconds from `from` to `to` (negative when `to` came first).
pub(crate) fn ms_between(from: std::time::Instant, to: std::time::Instant) -> f64 {
    match to.checked_duration_since(from) {
        Some(d) => d.as_secs_f64() * 1e3,
        None => -(from.duration_since(to).as_secs_f64() * 1e3),
    }
}

/// Runs `run` on a runtime of one worker thread (the children get the other cores) and prints
/// its JSON line on stdout, or its error on stderr with a failing exit code.
pub(crate) fn report<F>(name: &str, run: impl FnOnce() -> F) -> ExitCode
where
    F: Future<Output = Result<String, String>>,
{
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run()) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}
