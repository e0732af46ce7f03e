//! The gateway's log under an upstream outage: failure lines are capped per second (the next
//! line written counts the ones left out), and no key ever appears in it.
//!
//! Its own test binary: it installs the process-wide tracing subscriber that captures the log.

mod support;

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::*;
use tracing_subscriber::fmt::MakeWriter;

/// Everything the subscriber writes, kept in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_writes_a_few_failure_lines_a_second_and_never_a_key() {
    let log = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(log.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap_or_else(|e| panic!("{e}"));

    let opts = Options {
        upstream_url: Some(closed_upstream_url().await),
        ..Options::default()
    };
    let env = Env::start_opts(&base_toml(""), opts).await;
    // One client connection, so one serving thread and one line budget; 60 failing calls take
    // a few milliseconds.
    let started = std::time::Instant::now();
    for _ in 0..60 {
        let r = env.chat(ACME_KEY, "hello").await;
        assert_eq!(r.status(), 502);
    }
    let burst = started.elapsed();
    let failures = |text: &str| {
        text.lines()
            .filter(|l| l.contains("request failed"))
            .count()
    };
    let written = failures(&log.text());
    assert!(written >= 1, "no failure was logged:\n{}", log.text());
    let first = log
        .text()
        .lines()
        .find(|l| l.contains("request failed"))
        .map(str::to_string);
    assert!(
        first
            .as_deref()
            .is_some_and(|l| !l.contains("similar_lines_dropped")),
        "the first line has nothing dropped before it: {first:?}"
    );
    // At most 10 lines in each second the burst touched (60 without the cap).
    let seconds_touched = burst.as_secs() as usize + 2;
    assert!(
        written <= 10 * seconds_touched.min(5),
        "{written} failure lines for 60 calls in {burst:?}"
    );

    // The next second's first line says how many were left out.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = env.chat(BETA_KEY, "hello").await;
    assert_eq!(r.status(), 502);
    let text = log.text();
    assert_eq!(failures(&text), written + 1, "{text}");
    let last = text
        .lines()
        .rfind(|l| l.contains("request failed"))
        .unwrap_or_default();
    if burst < Duration::from_secs(2) {
        assert!(last.contains("similar_lines_dropped="), "{last}");
    }

    for secret in [
        ACME_KEY,
        BETA_KEY,
        UPSTREAM_KEY,
        "qs_acme_test",
        "sk-upstream",
    ] {
        assert!(!text.contains(secret), "the log holds {secret}:\n{text}");
    }
}
