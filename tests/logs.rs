//! The gateway's log under an upstream outage: failure lines are capped per second, and no key
//! ever appears in it. (That the next second's first line counts the ones left out is a unit
//! test of `api::log_failure_in`, which is given its seconds: no test waits for a second.)
//!
//! Its own test binary: it installs the process-wide tracing subscriber that captures the log.

mod support;

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outage_writes_a_few_failure_lines_a_second_and_never_a_key() {
    let log = Captured::install().unwrap_or_else(|e| panic!("{e}"));

    let opts = Options {
        upstream_url: Some(closed_upstream_url().await),
        ..Options::default()
    };
    let env = Env::start_opts(&base_toml(""), opts).await;
    // 60 failing calls from 6 clients at once take a few milliseconds. They are served on
    // several worker threads, which share one line budget (a budget per thread wrote up to 10
    // lines a second on each).
    let wall_second = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    };
    let (started, first_second) = (std::time::Instant::now(), wall_second());
    let env = &env;
    let clients = (0..6).map(|i| async move {
        let key = if i % 2 == 0 { ACME_KEY } else { BETA_KEY };
        for _ in 0..10 {
            let r = env.chat(key, "hello").await;
            assert_eq!(r.status(), 502);
        }
    });
    futures_util::future::join_all(clients).await;
    let (burst, last_second) = (started.elapsed(), wall_second());
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
    let seconds_touched = (last_second - first_second + 1) as usize;
    assert!(
        written <= 10 * seconds_touched,
        "{written} failure lines for 60 calls in {burst:?}"
    );

    let text = log.text();
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
