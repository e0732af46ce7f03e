//! The floor of a hyper-based proxy on this machine, for BENCHMARKS.md: a proxy with nothing
//! in between (no metering, no key swap, no body tap). `make bench` runs it next to the
//! gateway and nginx, so the gap between the gateway and nginx splits into "what hyper costs"
//! and "what metering costs".
//!
//! `bare_proxy LISTEN UPSTREAM [--per-core | --lean]` (e.g. `127.0.0.1:9000 http://127.0.0.1:8000`):
//! - default: axum's server and hyper-util's pooled client on tokio's work-stealing runtime;
//! - `--per-core`: the same, served by one current-thread runtime per core (`THREADS`
//!   overrides the count), each with its own `SO_REUSEPORT` listener and client: the serving
//!   model of the gateway itself;
//! - `--lean`: per core too, but on hyper's connection APIs alone: `http1` server connections,
//!   and a per-thread stack of `http1` client connections, each put back when its response
//!   body has been read. No axum, no hyper-util pool, no task per call. The least a proxy on
//!   hyper can cost here (HTTP/1 only; an upstream given by `http://IP:PORT`).

use std::cell::RefCell;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

type Upstream = (Client<HttpConnector, Body>, String);

async fn forward(State(up): State<Arc<Upstream>>, mut req: Request) -> Response {
    let pq = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let Ok(uri) = format!("{}{pq}", up.1).parse::<Uri>() else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    *req.uri_mut() = uri;
    req.headers_mut().remove(header::HOST);
    match up.0.request(req).await {
        Ok(r) => r.map(Body::new),
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
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

thread_local! {
    /// `--lean`: this thread's idle upstream connections.
    static IDLE: RefCell<Vec<SendRequest<Body>>> = const { RefCell::new(Vec::new()) };
}

/// `--lean`: an upstream response body that puts its connection back once it has been read.
struct Returning {
    inner: Incoming,
    conn: Option<SendRequest<Body>>,
}

impl HttpBody for Returning {
    type Data = bytes::Bytes;
    type Error = hyper::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Returning {
    fn drop(&mut self) {
        // A body dropped before its end leaves the connection mid-response: close it.
        if self.inner.is_end_stream() {
            if let Some(c) = self.conn.take() {
                IDLE.with(|idle| idle.borrow_mut().push(c));
            }
        }
    }
}

/// `--lean`: an idle connection of this thread, or a new one.
async fn checkout(upstream: SocketAddr) -> std::io::Result<SendRequest<Body>> {
    while let Some(mut c) = IDLE.with(|idle| idle.borrow_mut().pop()) {
        if c.ready().await.is_ok() {
            return Ok(c);
        }
    }
    let tcp = tokio::net::TcpStream::connect(upstream).await?;
    tcp.set_nodelay(true)?;
    let (mut c, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(conn);
    c.ready().await.map_err(std::io::Error::other)?;
    Ok(c)
}

async fn forward_lean(
    upstream: SocketAddr,
    host: HeaderValue,
    req: axum::http::Request<Incoming>,
) -> Response {
    let (mut parts, body) = req.into_parts();
    parts.uri = match parts.uri.path_and_query() {
        Some(pq) => Uri::from(pq.clone()),
        None => Uri::from_static("/"),
    };
    parts.headers.insert(header::HOST, host);
    let Ok(mut conn) = checkout(upstream).await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let req = axum::http::Request::from_parts(parts, Body::new(body));
    match conn.send_request(req).await {
        Ok(r) => r.map(|inner| {
            Body::new(Returning {
                inner,
                conn: Some(conn),
            })
        }),
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}

/// `--lean`: serves on `listener` with hyper's HTTP/1 server connection.
async fn serve_lean(listener: tokio::net::TcpListener, upstream: String) -> std::io::Result<()> {
    let addr: SocketAddr = upstream
        .strip_prefix("http://")
        .unwrap_or(&upstream)
        .parse()
        .map_err(|e| std::io::Error::other(format!("--lean needs http://IP:PORT: {e}")))?;
    let host = HeaderValue::from_str(&addr.to_string()).map_err(std::io::Error::other)?;
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let host = host.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let host = host.clone();
                async move { Ok::<_, std::convert::Infallible>(forward_lean(addr, host, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
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
        eprintln!("usage: bare_proxy LISTEN UPSTREAM [--per-core | --lean]");
        std::process::exit(2);
    };
    let addr: SocketAddr = addr.parse().unwrap_or_else(|e| {
        eprintln!("bad LISTEN {addr}: {e}");
        std::process::exit(2);
    });
    let upstream = upstream.trim_end_matches('/').to_string();
    let lean = args.get(3).is_some_and(|a| a == "--lean");
    let per_core = lean || args.get(3).is_some_and(|a| a == "--per-core");
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
                let mut builder = if per_core {
                    tokio::runtime::Builder::new_current_thread()
                } else {
                    tokio::runtime::Builder::new_multi_thread()
                };
                // EVENT_INTERVAL=N: how many tasks the scheduler runs between I/O polls (tokio's
                // default 61), to measure whether it moves the latency floor (BENCHMARKS.md).
                if let Some(n) = std::env::var("EVENT_INTERVAL")
                    .ok()
                    .and_then(|s| s.parse().ok())
                {
                    builder.event_interval(n);
                }
                let rt = builder.enable_all().build()?;
                rt.block_on(async move {
                    let listener = listen(addr, per_core)?;
                    if lean {
                        serve_lean(listener, upstream).await
                    } else {
                        serve(listener, upstream).await
                    }
                })
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
