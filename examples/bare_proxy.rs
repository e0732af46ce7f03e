//! The floor of a hyper-based proxy on this machine, for BENCHMARKS.md: axum's server and
//! hyper's pooled client with nothing in between (no metering, no key swap, no body tap).
//! `make bench` runs it next to the gateway and nginx, so the gap between the gateway and
//! nginx splits into "what hyper costs" and "what metering costs".
//!
//! `bare_proxy LISTEN UPSTREAM [--per-core]` (e.g. `127.0.0.1:9000 http://127.0.0.1:8000`).
//! By default it runs on tokio's work-stealing runtime. With `--per-core` it runs one
//! current-thread runtime per core (`THREADS` overrides the count), each with its own
//! `SO_REUSEPORT` listener and hyper client: the serving model of the gateway itself.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

type Upstream = (Client<HttpConnector, Body>, String);

async fn forward(State(up): State<Arc<Upstream>>, mut req: Request) -> Response {
    let pq = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let Ok(uri) = format!("{}{pq}", up.1).parse::<Uri>() else {
        return axum::http::StatusCode::BAD_REQUEST.into_response();
    };
    *req.uri_mut() = uri;
    req.headers_mut().remove(axum::http::header::HOST);
    match up.0.request(req).await {
        Ok(r) => r.map(Body::new),
        Err(_) => axum::http::StatusCode::BAD_GATEWAY.into_response(),
    }
}

/// Serves on `listener` with a client of its own.
async fn serve(listener: tokio::net::TcpListener, upstream: String) -> std::io::Result<()> {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1024)
        .build(http);
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(Arc::new((client, upstream)));
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await
}

fn listen(addr: SocketAddr, reuse_port: bool) -> std::io::Result<tokio::net::TcpListener> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseport(reuse_port)?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(addr), Some(upstream)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: bare_proxy LISTEN UPSTREAM [--per-core]");
        std::process::exit(2);
    };
    let addr: SocketAddr = addr.parse().unwrap_or_else(|e| {
        eprintln!("bad LISTEN {addr}: {e}");
        std::process::exit(2);
    });
    let upstream = upstream.trim_end_matches('/').to_string();
    let per_core = args.get(3).is_some_and(|a| a == "--per-core");
    let threads = if per_core {
        std::env::var("THREADS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
    } else {
        1
    };
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let upstream = upstream.clone();
            std::thread::spawn(move || {
                let rt = if per_core {
                    tokio::runtime::Builder::new_current_thread()
                } else {
                    tokio::runtime::Builder::new_multi_thread()
                }
                .enable_all()
                .build()?;
                rt.block_on(async move { serve(listen(addr, per_core)?, upstream).await })
            })
        })
        .collect();
    for h in handles {
        if let Ok(Err(e)) = h.join() {
            eprintln!("bare_proxy: {e}");
            std::process::exit(1);
        }
    }
}
