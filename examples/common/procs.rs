//! What the latency examples that start `quota-sentinel` as child processes share: the children
//! (killed when dropped), free ports, waiting for a server, arguments, the crossings (calls
//! spaced in time, each timed against what it caused to arrive) and their quantiles.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

impl Children {
    /// Starts `BIN simulate` (the OpenAI simulator) on a free port of 127.0.0.1; its port.
    pub(crate) fn simulator(&mut self, bin: &std::path::Path) -> Result<u16, String> {
        let port = free_port()?;
        self.spawn(
            Command::new(bin)
                .arg("simulate")
                .arg("--sim-listen")
                .arg(format!("127.0.0.1:{port}")),
        )?;
        Ok(port)
    }
}

/// `BIN serve` with the config `cfg` on 127.0.0.1:`port`, its ledger in the SQLite file `db`,
/// in front of the simulator on `sim_port` (the caller adds its own arguments and environment).
pub(crate) fn serve(
    bin: &std::path::Path,
    cfg: &std::path::Path,
    port: u16,
    db: &std::path::Path,
    sim_port: u16,
) -> Command {
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .arg("--config")
        .arg(cfg)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--database-url")
        .arg(format!("sqlite://{}", db.display()))
        .arg("--upstream-url")
        .arg(format!("http://127.0.0.1:{sim_port}/v1"));
    cmd
}

/// The config of `n` workspaces `workspace(i)`, each with the key `key(i)` and one request a
/// day (its first call uses the day: a crossing).
pub(crate) fn one_call_workspaces(
    n: usize,
    key: fn(usize) -> String,
    workspace: fn(usize) -> String,
) -> String {
    use sha2::Digest;
    let mut toml = String::new();
    for i in 0..n {
        let hash = hex::encode(sha2::Sha256::digest(key(i).as_bytes()));
        toml.push_str(&format!(
            "[[workspaces]]\nid = \"{}\"\nkey_sha256 = [\"{hash}\"]\nrequests_per_minute = 0\n\
             tokens_per_minute = 0\nrequests_per_day = 1\n",
            workspace(i)
        ));
    }
    toml
}

/// The HTTP client of the calls: no proxy, 10 s per call.
pub(crate) fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())
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
fn summary(ms: &mut [f64]) -> serde_json::Value {
    ms.sort_by(f64::total_cmp);
    let r = |q| (quantile(ms, q) * 1000.0).round() / 1000.0;
    serde_json::json!({ "p50": r(0.50), "p99": r(0.99), "max": r(1.0), "min": r(0.0) })
}

/// Milliseconds from `from` to `to` (negative when `to` came first).
fn ms_between(from: Instant, to: Instant) -> f64 {
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

/// When what each crossing caused arrived, by workspace (the first arrival of each).
pub(crate) type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

/// Records that what `workspace`'s crossing caused arrived `at` (only the first time).
pub(crate) fn arrived(arrivals: &Arrivals, workspace: &str, at: Instant) {
    arrivals
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(workspace.to_string())
        .or_insert(at);
}

/// The crossings of a latency example: `workspace(i)`'s call number `i` (of `count + 1`)
/// posts `body` to `url` with the key `key(i)`, one every `spacing`, each in its own task, and
/// must be answered 200.
pub(crate) struct Crossings {
    pub(crate) url: String,
    pub(crate) body: &'static str,
    pub(crate) count: usize,
    pub(crate) spacing: Duration,
    pub(crate) key: fn(usize) -> String,
    pub(crate) workspace: fn(usize) -> String,
    /// How long the arrivals are waited for after the last answer.
    pub(crate) deadline: Duration,
    /// What arrives, for the error when some did not.
    pub(crate) what: &'static str,
}

impl Crossings {
    /// Makes the crossings, waits until each workspace's arrival is in `arrivals` (or the
    /// deadline), then stops the `children` and prints
    /// `{"crossings", "delivered", "spacing_ms", "ms": {"p50", "p99", "max", "min"}}`: from
    /// each answer, read in full, to its arrival, on one clock; the first crossing warms up
    /// and is not counted. An error when an arrival is missing.
    pub(crate) async fn run(
        self,
        http: &reqwest::Client,
        arrivals: &Arrivals,
        children: Children,
    ) -> Result<String, String> {
        let Crossings {
            url,
            body,
            count: crossings,
            spacing,
            key,
            workspace,
            deadline,
            what,
        } = self;
        let n = crossings + 1;
        let start = tokio::time::Instant::now() + Duration::from_millis(100);
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..n {
            let (http, url) = (http.clone(), url.to_string());
            let at = start + spacing * u32::try_from(i).unwrap_or(u32::MAX);
            tasks.spawn(async move {
                tokio::time::sleep_until(at).await;
                let r = http
                    .post(url)
                    .bearer_auth(key(i))
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let status = r.status();
                r.bytes().await.map_err(|e| e.to_string())?;
                let answered = Instant::now();
                if status != 200 {
                    return Err(format!("{}: answered {status}", workspace(i)));
                }
                Ok((workspace(i), answered))
            });
        }
        let mut answers = HashMap::new();
        while let Some(r) = tasks.join_next().await {
            let (w, at) = r.map_err(|e| e.to_string())??;
            answers.insert(w, at);
        }

        let until = Instant::now() + deadline;
        loop {
            let got = arrivals.lock().unwrap_or_else(|p| p.into_inner()).len();
            if got >= n || Instant::now() > until {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let came = arrivals.lock().unwrap_or_else(|p| p.into_inner()).clone();
        drop(children);

        let mut ms: Vec<f64> = (1..n)
            .filter_map(|i| {
                let w = workspace(i);
                Some(ms_between(*answers.get(&w)?, *came.get(&w)?))
            })
            .collect();
        let out = serde_json::json!({
            "crossings": crossings,
            "delivered": ms.len(),
            "spacing_ms": spacing.as_millis() as u64,
            "ms": summary(&mut ms),
        });
        if ms.len() < crossings {
            return Err(format!(
                "{} of {crossings} {what} arrived within {deadline:?}: {out}",
                ms.len()
            ));
        }
        Ok(out.to_string())
    }
}
