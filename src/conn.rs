//! Connections: accepting them, bounding how many and how long, and serving HTTP/1.1 on each.
//!
//! Owns: the caps on open connections (in all and per client address), the header-read and
//! idle keep-alive timeout (hyper's, which runs whenever a connection waits for a request
//! head — right after it opens and after every response), the request-body idle timeout (a
//! gap between two body chunks, so a slow but steady upload still works), raising the soft
//! open-file limit at start, and graceful shutdown of each connection. The client's address
//! reaches handlers as an [`axum::extract::ConnectInfo`] extension.
//! Must not: know routes, keys or anything of a request beyond its body's pace.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// File descriptors kept free of connections for the database, the upstream client, the
/// listeners and the log when the connection cap is derived from the open-file limit.
pub const FD_RESERVE: usize = 128;

/// The connection settings of `[server]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnLimits {
    /// A connection must deliver a whole request head within this long of opening or of its
    /// previous response (so it also bounds an idle keep-alive connection).
    pub header_read_timeout: Duration,
    /// A request body that sends nothing for this long ends the request (and the connection).
    pub body_idle_timeout: Duration,
    /// Open connections in all; `None` = derived from the open-file limit at start.
    pub max_connections: Option<usize>,
    /// Open connections from one client address (an IPv6 /64 counts as one); 0 = no cap.
    pub max_connections_per_address: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            header_read_timeout: Duration::from_secs(10),
            body_idle_timeout: Duration::from_secs(30),
            max_connections: None,
            max_connections_per_address: 256,
        }
    }
}

/// The open-file limits at start: the soft one before and after raising it to the hard one.
#[derive(Debug, Clone, Copy)]
pub struct FdLimits {
    pub soft_before: u64,
    pub soft: u64,
    pub hard: u64,
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit: every open connection costs a file
/// descriptor, and the common soft default (1,024) is a few hundred sockets from refusing
/// every call. `None` where the platform has no such limit.
pub fn raise_fd_limit() -> Option<FdLimits> {
    let (soft_before, hard) = rlimit::Resource::NOFILE.get().ok()?;
    let soft = match rlimit::increase_nofile_limit(hard) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the open-file limit");
            soft_before
        }
    };
    Some(FdLimits {
        soft_before,
        soft,
        hard,
    })
}

/// The connection cap: the configured one, never more than the open-file limit allows.
pub fn connection_cap(configured: Option<usize>, fd: Option<FdLimits>) -> usize {
    let by_fds = fd.map_or(usize::MAX, |f| {
        usize::try_from(f.soft)
            .unwrap_or(usize::MAX)
            .saturating_sub(FD_RESERVE)
            .max(1)
    });
    configured.unwrap_or(10_000).min(by_fds)
}

/// The address a per-address cap counts by: IPv4 as is, IPv6 by its /64 (one host usually
/// owns a whole /64), an IPv4-mapped IPv6 address as its IPv4 address.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Total,
    PerAddress,
}

impl Refused {
    fn as_str(self) -> &'static str {
        match self {
            Refused::Total => "total",
            Refused::PerAddress => "per_address",
        }
    }
}

/// Counts open connections, in all and per address, across every serving thread. The lock is
/// taken once when a connection opens and once when it closes, never across an await.
#[derive(Debug)]
pub struct Gate {
    max_total: usize,
    max_per_address: usize,
    open: AtomicUsize,
    per_address: Mutex<HashMap<IpAddr, usize>>,
    /// Unix second of the last "connection refused" log line (one every 10 s at most).
    last_warned: AtomicU64,
}

impl Gate {
    pub fn new(max_total: usize, max_per_address: usize) -> Gate {
        Gate {
            max_total,
            max_per_address,
            open: AtomicUsize::new(0),
            per_address: Mutex::new(HashMap::new()),
            last_warned: AtomicU64::new(0),
        }
    }

    /// Open connections now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Admits a connection from `ip`, or says why not. The permit gives its place back when
    /// dropped.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Permit, Refused> {
        // Reserve a place in all first; give it back if the address is over its cap.
        let taken = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_total).then_some(n + 1)
            });
        if taken.is_err() {
            return Err(Refused::Total);
        }
        let key = address_key(ip);
        if self.max_per_address > 0 {
            let mut map = self
                .per_address
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let n = map.entry(key).or_insert(0);
            if *n >= self.max_per_address {
                drop(map);
                self.open.fetch_sub(1, Ordering::AcqRel);
                return Err(Refused::PerAddress);
            }
            *n += 1;
        }
        Ok(Permit {
            gate: self.clone(),
            key,
        })
    }

    fn release(&self, key: IpAddr) {
        if self.max_per_address > 0 {
            let mut map = self
                .per_address
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(n) = map.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&key);
                }
            }
        }
        self.open.fetch_sub(1, Ordering::AcqRel);
    }

    /// Counts a refusal; logs one line every 10 s at most (an attacker must not flood the log).
    fn refused(&self, why: Refused, peer: SocketAddr) {
        metrics::counter!("qs_connections_refused_total", "reason" => why.as_str()).increment(1);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let last = self.last_warned.load(Ordering::Relaxed);
        if now >= last + 10
            && self
                .last_warned
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let (limit, cap) = match why {
                Refused::Total => ("max_connections", self.max_total),
                Refused::PerAddress => ("max_connections_per_address", self.max_per_address),
            };
            tracing::warn!(client = %peer.ip(), limit, cap, "connection refused: too many open connections");
        }
    }
}

/// A connection's place in the [`Gate`].
#[derive(Debug)]
pub struct Permit {
    gate: Arc<Gate>,
    key: IpAddr,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.gate.release(self.key);
    }
}

pin_project_lite::pin_project! {
    /// A request body that fails when no frame arrives for `gap`. The timer is armed only
    /// while the body is waited on, and reset (one clock read) after a frame: no work per
    /// chunk that arrives at once.
    pub struct IdleBody {
        #[pin]
        inner: Incoming,
        #[pin]
        timer: Sleep,
        armed: bool,
        gap: Duration,
    }
}

/// The error an idle body ends with.
#[derive(Debug, thiserror::Error)]
#[error("the request body sent nothing for {0:?}")]
pub struct BodyIdle(Duration);

impl IdleBody {
    pub fn new(inner: Incoming, gap: Duration) -> IdleBody {
        IdleBody {
            inner,
            // Not registered with the timer wheel until first polled.
            timer: tokio::time::sleep_until(Instant::now() + gap),
            armed: false,
            gap,
        }
    }
}

impl http_body::Body for IdleBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let mut this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Ready(frame) => {
                *this.armed = false;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                if !*this.armed {
                    *this.armed = true;
                    this.timer.as_mut().reset(Instant::now() + *this.gap);
                }
                ready!(this.timer.poll(cx));
                Poll::Ready(Some(Err(Box::new(BodyIdle(*this.gap)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Accepts connections on `listener` until `stop`, serving each with `app`; then waits for
/// the open ones to finish (idle ones close at once, calls in flight complete).
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    limits: ConnLimits,
    gate: Arc<Gate>,
    stop: CancellationToken,
) where
    S: tower::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let connections = TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, or a connection reset while queued: the next
                    // accept may succeed once others have closed.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        let permit = match gate.admit(peer.ip()) {
            Ok(p) => p,
            Err(why) => {
                gate.refused(why, peer);
                drop(stream);
                continue;
            }
        };
        // Nagle would hold a response's body segment behind its headers' delayed ACK.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let app = app.clone();
        let gap = limits.body_idle_timeout;
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let mut req = req.map(|b| Body::new(IdleBody::new(b, gap)));
            req.extensions_mut().insert(ConnectInfo(peer));
            tower::ServiceExt::oneshot(app.clone(), req)
        });
        let conn = http
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let stop = stop.clone();
        connections.spawn(async move {
            let _permit = permit;
            tokio::pin!(conn);
            let ended = tokio::select! {
                r = conn.as_mut() => r,
                () = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    connections.close();
    connections.wait().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_gate_caps_each_address_and_the_total() {
        let gate = Arc::new(Gate::new(3, 2));
        let a1 = gate.admit(ip("10.0.0.1"));
        let a2 = gate.admit(ip("10.0.0.1"));
        assert!(a1.is_ok() && a2.is_ok());
        assert_eq!(gate.admit(ip("10.0.0.1")).err(), Some(Refused::PerAddress));
        // The refusal gave its place in all back.
        assert_eq!(gate.open(), 2);
        let b1 = gate.admit(ip("10.0.0.2"));
        assert!(b1.is_ok());
        assert_eq!(gate.admit(ip("10.0.0.3")).err(), Some(Refused::Total));
        drop(a1);
        assert!(
            gate.admit(ip("10.0.0.1")).is_ok(),
            "a closed connection frees its place"
        );
        drop((a2, b1));
        assert_eq!(gate.open(), 0);
        assert!(gate
            .per_address
            .lock()
            .map(|m| m.is_empty())
            .unwrap_or(false));
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_prefix_and_mapped_ipv4_as_ipv4() {
        let gate = Arc::new(Gate::new(100, 1));
        let _a = gate.admit(ip("2001:db8:1:2::1"));
        assert_eq!(
            gate.admit(ip("2001:db8:1:2:ffff::9")).err(),
            Some(Refused::PerAddress)
        );
        assert!(gate.admit(ip("2001:db8:1:3::1")).is_ok());
        let _b = gate.admit(ip("192.0.2.7"));
        assert_eq!(
            gate.admit(ip("::ffff:192.0.2.7")).err(),
            Some(Refused::PerAddress)
        );
    }

    #[test]
    fn no_per_address_cap_when_zero() {
        let gate = Arc::new(Gate::new(5, 0));
        let held: Vec<_> = (0..5).map(|_| gate.admit(ip("127.0.0.1"))).collect();
        assert!(held.iter().all(Result::is_ok));
        assert_eq!(gate.admit(ip("127.0.0.1")).err(), Some(Refused::Total));
    }

    #[test]
    fn the_cap_leaves_file_descriptors_for_everything_else() {
        let fd = |soft| {
            Some(FdLimits {
                soft_before: soft,
                soft,
                hard: soft,
            })
        };
        assert_eq!(connection_cap(None, fd(1024)), 1024 - FD_RESERVE);
        assert_eq!(connection_cap(Some(100), fd(1024)), 100);
        assert_eq!(connection_cap(Some(5000), fd(1024)), 1024 - FD_RESERVE);
        assert_eq!(connection_cap(None, fd(1_048_576)), 10_000);
        assert_eq!(connection_cap(None, None), 10_000);
    }
}
