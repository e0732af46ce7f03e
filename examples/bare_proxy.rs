//! The floor of a hyper-based proxy on this machine, for BENCHMARKS.md: axum's server and
//! hyper's pooled client with nothing in between (no metering, no key swap, no body tap).
//! `make bench` runs it next to the gateway and nginx, so the gap between the gateway and
//! nginx splits into "what hyper costs" and "what metering costs".
//!
//! `bare_proxy LISTEN UPSTREAM` (e.g. `127.0.0.1:9000 http://127.0.0.1:8000`).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

type Upstream = (Client<HttpConnector, Body>, String);

async fn forward(State(up): State<std::sync::Arc<Upstream>>, mut req: Request) -> Response {
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

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: bare_proxy LISTEN UPSTREAM");
        std::process::exit(2);
    }
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1024)
        .build(http);
    let up = std::sync::Arc::new((client, args[2].trim_end_matches('/').to_string()));
    let app = axum::Router::new().fallback(forward).with_state(up);
    let listener = tokio::net::TcpListener::bind(&args[1])
        .await
        .unwrap_or_else(|e| panic!("cannot listen on {}: {e}", args[1]));
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}
