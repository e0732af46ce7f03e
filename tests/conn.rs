//! Connections held open without a key: slow and silent ones are closed within the timeouts,
//! a slow but steady upload still works, and the gateway answers while 1,000 idle
//! connections are open under an open-file limit of 1,024.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use support::process::Process;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A gateway whose header-read and body-idle timeouts are one second.
async fn quick_timeouts() -> Env {
    let toml = server_toml("header_read_timeout_seconds = 1\nbody_idle_timeout_seconds = 1");
    Env::start(&toml).await
}

fn addr(env: &Env) -> SocketAddr {
    env.gateway
        .trim_start_matches("http://")
        .parse()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A new connection to the gateway.
async fn connect(env: &Env) -> TcpStream {
    TcpStream::connect(addr(env))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Reads until the peer closes; returns what was read and how long it took. Panics if the
/// connection is still open after `within`.
async fn read_until_closed(s: &mut TcpStream, within: Duration) -> (String, Duration) {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((start + within).into(), s.read(&mut buf)).await {
            Err(_) => panic!(
                "the connection was still open after {within:?}; read so far: {:?}",
                String::from_utf8_lossy(&got)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
    (String::from_utf8_lossy(&got).into_owned(), start.elapsed())
}

#[tokio::test]
async fn silent_and_slow_connections_are_closed_within_the_timeouts() {
    let env = quick_timeouts().await;
    let at = addr(&env);
    let cases: [(&str, &[u8]); 4] = [
        ("silent", b""),
        ("partial request line", b"GET /heal"),
        ("partial headers", b"GET /healthz HTTP/1.1\r\nHost: x\r\n"),
        (
            "half-sent body",
            b"POST /api/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"key\":",
        ),
    ];
    let mut tasks = Vec::new();
    for (name, bytes) in cases {
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(at)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            s.write_all(bytes).await.unwrap_or_else(|e| panic!("{e}"));
            let (_, took) = read_until_closed(&mut s, Duration::from_secs(5)).await;
            (name, took)
        }));
    }
    for t in tasks {
        let (name, took) = t.await.unwrap_or_else(|e| panic!("{e}"));
        assert!(
            took >= Duration::from_millis(800),
            "{name}: closed too early ({took:?})"
        );
    }
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_its_last_answer() {
    let env = quick_timeouts().await;
    let mut s = connect(&env).await;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (got, _) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
}

#[tokio::test]
async fn a_slow_but_steady_body_is_read_whole() {
    let env = quick_timeouts().await;
    let mut s = connect(&env).await;
    let body = format!("{{\"key\":\"{ACME_KEY}\"}}");
    let head = format!(
        "POST /api/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Eight pieces, 400 ms apart: 2.8 s in all, each gap under the one-second idle timeout.
    let bytes = body.as_bytes();
    let piece = bytes.len().div_ceil(8);
    for chunk in bytes.chunks(piece) {
        tokio::time::sleep(Duration::from_millis(400)).await;
        s.write_all(chunk).await.unwrap_or_else(|e| panic!("{e}"));
    }
    let (got, _) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(got.starts_with("HTTP/1.1 200"), "signed in: {got}");
}

#[tokio::test]
async fn a_call_is_answered_while_1000_idle_connections_are_open_under_1024_files() {
    // The test process itself holds the 1,000 sockets: give it room.
    if let Ok((_, hard)) = rlimit::Resource::NOFILE.get() {
        let _ = rlimit::increase_nofile_limit(hard.min(65_536));
    }
    // Idle connections are not timed out during the test: the caps alone must hold.
    let gw = Process::start("1024:1024", "[server]\nheader_read_timeout_seconds = 120\n").await;
    let mut idle = Vec::with_capacity(1000);
    for _ in 0..1000 {
        // From another loopback address than the call below: one client hogging sockets.
        let socket = TcpSocket::new_v4().unwrap_or_else(|e| panic!("{e}"));
        socket
            .bind("127.0.0.2:0".parse().unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"));
        match tokio::time::timeout(Duration::from_secs(2), socket.connect(gw.addr)).await {
            Ok(Ok(s)) => idle.push(s),
            // The listen queue is full: the attacker got no more sockets.
            _ => break,
        }
    }
    assert!(
        idle.len() >= 900,
        "only {} idle connections opened",
        idle.len()
    );
    // Let the gateway accept (and refuse) what is queued.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        gw.healthy(Duration::from_secs(5)).await,
        "/healthz did not answer while 1,000 idle connections were open"
    );
    drop(idle);
    let (_, stderr) = gw.stop().await;
    assert!(
        stderr.contains("connection refused: too many open connections"),
        "the refusals are logged: {stderr}"
    );
}

#[tokio::test]
async fn the_soft_open_file_limit_is_raised_to_the_hard_one_and_logged_to_stderr() {
    let gw = Process::start("1024:4096", "").await;
    let (stdout, stderr) = gw.stop().await;
    let line = stderr
        .lines()
        .find(|l| l.contains("open-file limit"))
        .unwrap_or_else(|| panic!("no open-file limit line on stderr: {stderr}"));
    assert!(
        line.contains("soft_before=1024")
            && line.contains("soft=4096")
            && line.contains("hard=4096"),
        "{line}"
    );
    // Logs go to stderr. Stdout holds only the first-run setup link (no workspace, no admin key).
    assert!(
        stdout.lines().all(|l| l.starts_with("First run: ")),
        "logs go to stderr, not stdout: {stdout}"
    );
}
