//! The gateway binary as a child process, for what only a process shows: its open-file limit,
//! its command line and what it writes to stdout and stderr.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A free port on 127.0.0.1 (bound, then released).
pub(crate) async fn free_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    l.local_addr().unwrap_or_else(|e| panic!("{e}")).port()
}

/// The gateway binary, started under `prlimit --nofile=SOFT:HARD` with `toml` as its config.
pub(crate) struct Process {
    child: Option<std::process::Child>,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Process {
    /// Starts it with `args` after `serve --config … --listen … --database-url …` (a SQLite
    /// file of its own unless `args` has a `--database-url`) and the extra environment `envs`.
    pub(crate) async fn start_with(
        nofile: &str,
        toml: &str,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> Process {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let config = dir.path().join("qs.toml");
        std::fs::write(&config, toml).unwrap_or_else(|e| panic!("{e}"));
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port().await)
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let child = std::process::Command::new("prlimit")
            .arg(format!("--nofile={nofile}"))
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_quota-sentinel"))
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .arg("--listen")
            .arg(addr.to_string())
            .args(
                // The test's own database, if it names one in `args`.
                (!args.contains(&"--database-url"))
                    .then(|| {
                        [
                            "--database-url".to_string(),
                            format!("sqlite://{}/qs.db", dir.path().display()),
                        ]
                    })
                    .into_iter()
                    .flatten(),
            )
            .env_remove("QS_CONFIG")
            .env_remove("QUOTA_ADMIN_KEY")
            .env_remove("OPENAI_API_KEY")
            .env("NO_COLOR", "1")
            .env("QS_LOG", "info")
            .env("QS_UPSTREAM_URL", "http://127.0.0.1:9/v1")
            .args(args)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the gateway under prlimit: {e}"));
        let mut c = Process {
            child: Some(child),
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !c.healthy(Duration::from_secs(1)).await {
            let exited = c.child.as_mut().and_then(|ch| ch.try_wait().ok().flatten());
            if let Some(status) = exited {
                let (_, stderr) = c.stop().await;
                panic!("the gateway exited ({status}) before answering: {stderr}");
            }
            assert!(Instant::now() < deadline, "the gateway did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        c
    }

    pub(crate) async fn start(nofile: &str, toml: &str) -> Process {
        Process::start_with(nofile, toml, &[], &[]).await
    }

    pub(crate) async fn healthy(&self, within: Duration) -> bool {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(within)
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        match client
            .get(format!("http://{}/healthz", self.addr))
            .send()
            .await
        {
            Ok(r) => r.status().is_success(),
            Err(_) => false,
        }
    }

    /// Stops the gateway and returns what it wrote to stdout and stderr.
    /// Kills the gateway with SIGKILL, as a crash would: nothing is flushed.
    pub(crate) fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub(crate) async fn stop(mut self) -> (String, String) {
        let Some(mut child) = self.child.take() else {
            return Default::default();
        };
        let _ = child.kill();
        let out = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
