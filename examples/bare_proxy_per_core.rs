//! The bare proxy of `bare_proxy.rs` served thread per core, for BENCHMARKS.md: one
//! current-thread tokio runtime per core, each with its own `SO_REUSEPORT` listener and its
//! own hyper client, so a call never leaves the thread that accepted it. `make bench` runs it
//! next to `bare_proxy` to show what the serving model alone is worth on this machine.
//!
//! `bare_proxy_per_core LISTEN UPSTREAM` (e.g. `127.0.0.1:9001 http://127.0.0.1:8000`);
//! `THREADS` sets the number of runtimes (default: the number of cores).

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

/// One runtime: its own listener on the shared port, its own client.
async fn serve_one(addr: SocketAddr, upstream: String) -> std::io::Result<()> {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1024)
        .build(http);
    let up = Arc::new((client, upstream));
    let app = axum::Router::new().fallback(forward).with_state(up);
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseport(true)?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let listener = axum::serve::ListenerExt::tap_io(socket.listen(1024)?, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(listen), Some(upstream)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: bare_proxy_per_core LISTEN UPSTREAM");
        std::process::exit(2);
    };
    let addr: SocketAddr = listen.parse().unwrap_or_else(|e| {
        eprintln!("bad LISTEN {listen}: {e}");
        std::process::exit(2);
    });
    let threads = std::env::var("THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let upstream = upstream.trim_end_matches('/').to_string();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let upstream = upstream.clone();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                rt.block_on(serve_one(addr, upstream))
            })
        })
        .collect();
    for h in handles {
        if let Ok(Err(e)) = h.join() {
            eprintln!("bare_proxy_per_core: {e}");
            std::process::exit(1);
        }
    }
}
