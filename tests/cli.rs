//! The command line as an operator meets it: secrets stay out of the process list, logs go to
//! stderr.

mod support;

use std::time::Duration;

use support::process::Process;
use support::ADMIN_KEY;

async fn admin_list_status(p: &Process) -> u16 {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
        .get(format!("http://{}/api/admin/workspaces", p.addr))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_secret_flag_on_the_command_line_is_warned_about() {
    let p = Process::start_with("1024:1024", "", &["--admin-key", ADMIN_KEY], &[]).await;
    assert_eq!(admin_list_status(&p).await, 200, "the flag still works");
    let (_, stderr) = p.stop().await;
    assert!(
        stderr.contains("visible to every user in the process list")
            && stderr.contains("--admin-key"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(ADMIN_KEY),
        "the key itself is never logged"
    );
}

#[tokio::test]
async fn the_admin_key_can_come_from_a_file_without_a_warning() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("admin-key");
    std::fs::write(&file, format!("{ADMIN_KEY}\n")).unwrap_or_else(|e| panic!("{e}"));
    let path = file.display().to_string();
    let p = Process::start_with("1024:1024", "", &["--admin-key-file", &path], &[]).await;
    assert_eq!(
        admin_list_status(&p).await,
        200,
        "the key read from the file (trimmed) works"
    );
    let (_, stderr) = p.stop().await;
    assert!(!stderr.contains("process list"), "{stderr}");

    // Through the environment twin too.
    let p = Process::start_with("1024:1024", "", &[], &[("QUOTA_ADMIN_KEY_FILE", &path)]).await;
    assert_eq!(admin_list_status(&p).await, 200);
    p.stop().await;
}

#[tokio::test]
async fn metrics_are_scraped_with_the_token_named_by_metrics_token_env() {
    const TOKEN: &str = "scrape-token-0123456789abcdef";
    let p = Process::start_with(
        "1024:1024",
        "[server]\nmetrics_token_env = \"QS_TEST_METRICS_TOKEN\"\n",
        &[],
        &[
            ("QS_TEST_METRICS_TOKEN", TOKEN),
            ("QUOTA_ADMIN_KEY", ADMIN_KEY),
        ],
    )
    .await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let url = format!("http://{}/metrics", p.addr);
    let status = |b: Option<&'static str>| {
        let mut r = http.get(&url);
        if let Some(b) = b {
            r = r.bearer_auth(b);
        }
        async move { r.send().await.map(|r| r.status().as_u16()).unwrap_or(0) }
    };
    assert_eq!(status(None).await, 401);
    assert_eq!(status(Some("scrape-token-wrong-0000000")).await, 403);
    assert_eq!(status(Some(TOKEN)).await, 200);
    assert_eq!(status(Some(ADMIN_KEY)).await, 200);
    p.stop().await;
}

/// A fresh gateway (no workspace, no admin key) prints one setup link on stdout, and its token
/// nowhere else; a gateway with an admin key or a workspace prints none.
#[tokio::test]
async fn a_first_run_prints_one_setup_link_on_stdout_only() {
    let p = Process::start("1024:1024", "").await;
    let (stdout, stderr) = p.stop().await;
    let lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("/setup/begin?token="))
        .collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    let token = lines[0]
        .split("token=")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .unwrap_or_default();
    assert_eq!(token.len(), 64, "{}", lines[0]);
    assert_eq!(stdout.matches(token).count(), 1);
    assert!(!stderr.contains(token), "the token is in the log: {stderr}");

    let p = Process::start_with("1024:1024", "", &[], &[("QUOTA_ADMIN_KEY", ADMIN_KEY)]).await;
    let (stdout, _) = p.stop().await;
    assert!(!stdout.contains("setup/begin"), "{stdout}");
    let hash = "0".repeat(64);
    let toml = format!("[[workspaces]]\nid = \"acme\"\nkey_sha256 = [\"{hash}\"]\n");
    let p = Process::start("1024:1024", &toml).await;
    let (stdout, _) = p.stop().await;
    assert!(!stdout.contains("setup/begin"), "{stdout}");
}
