//! Abuse limits: the per-address budget of authentication failures, and the per-workspace caps
//! on calls in flight, buffered request bytes and WebSockets.
//!
//! # Authentication failures
//! Every wrong key (`/v1`, `/api/session`, the WebSocket's `?token=`, a wrong admin key) counts
//! against its client address: the TCP peer, an IPv6 address by its /64 (one host usually owns
//! a whole /64). Past `auth_failures_per_minute` failures in a minute the address is blocked
//! for `auth_block_seconds`, doubled for each block that follows another (up to an hour; an hour
//! without failures starts over at `auth_block_seconds`): its wrong keys are then answered 429 `too_many_auth_failures` with `Retry-After`.
//! Every failure counts in `qs_auth_failures_total{route,outcome}`; each new block writes one
//! warn line (at most [`LOG_LINES_PER_SECOND`] a second in all; never a key).
//!
//! **A key that verifies is always accepted, blocked address or not.** The guard sits only on
//! the failure path: a valid key costs what it cost before (one SHA-256 and one map lookup)
//! and never touches the guard's lock. Refusing a blocked address outright would stop a
//! guesser cold, but the TCP peer is often not one client: behind a reverse proxy (the default
//! `listen` is loopback) or a NAT every client shares it, and anyone could then lock every
//! client out with 21 wrong keys a minute. The price of this choice: during a block a guesser
//! still tells a right key (200) from a wrong one (429), so the budget makes guessing loud
//! (metric, log, 429) rather than slower. Against guessing itself what protects is the key's
//! entropy: keys minted by the gateway (`qs_` + 256 random bits) cannot be found online at
//! any rate; the admin key and keys configured by hash must be as random (`keygen`).
//!
//! The map of addresses has a fixed capacity ([`TRACKED_ADDRESSES`]); when full, the address
//! seen least recently is forgotten. Its lock is a plain mutex, held for a few arithmetic steps
//! on the failure path only.
//!
//! # Per-workspace load
//! Counters are atomics in each workspace's [`Load`] (no shared lock on the hot path); every admission
//! returns an RAII guard that gives its share back on drop, so a client that leaves mid-stream
//! releases it too. A [`CallSlot`] (calls in flight, and the bytes of the JSON body the proxy
//! buffers) lives in the call's settlement: until the upstream's answer has been streamed out
//! (or the client has left) and the call is recorded. A [`SocketSlot`] lives as long as its
//! WebSocket.
//!
//! Owns: the budgets' arithmetic (pure, `now` passed in) and the guards. Must not: read keys
//! (it sees addresses only) or format client-facing text (that is [`AppError`]'s).

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use lru::LruCache;

use crate::error::AppError;
use crate::loglimit::LineBudget;

/// How many client addresses the failure budget tracks at once.
pub const TRACKED_ADDRESSES: usize = 16_384;
/// The window of `auth_failures_per_minute`.
const WINDOW: Duration = Duration::from_secs(60);
/// The longest block: repeated blocks double up to this.
const MAX_BLOCK: Duration = Duration::from_secs(3600);
/// Warn lines about new blocks, at most, per second.
pub const LOG_LINES_PER_SECOND: u32 = 10;

/// The abuse limits of `[server]`; `0` turns a cap off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub auth_failures_per_minute: u32,
    pub auth_block_seconds: u64,
    pub max_in_flight_per_workspace: u32,
    pub max_buffered_bytes_per_workspace: u64,
    pub max_websockets_per_workspace: u32,
    pub websocket_max_message_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            auth_failures_per_minute: 20,
            auth_block_seconds: 60,
            max_in_flight_per_workspace: 64,
            max_buffered_bytes_per_workspace: 64 * 1024 * 1024,
            max_websockets_per_workspace: 32,
            websocket_max_message_bytes: 4096,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Authentication failures
// ---------------------------------------------------------------------------------------------

/// Where a failed attempt came in, the `route` label of `qs_auth_failures_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    V1,
    Session,
    WebSocket,
    Admin,
    Api,
}

impl Route {
    pub fn as_str(self) -> &'static str {
        match self {
            Route::V1 => "v1",
            Route::Session => "session",
            Route::WebSocket => "websocket",
            Route::Admin => "admin",
            Route::Api => "api",
        }
    }

    /// The route kind of a path (`admin` wins when the failure was a wrong admin key).
    pub fn of(path: &str, wrong_admin_key: bool) -> Route {
        if wrong_admin_key {
            Route::Admin
        } else if path.starts_with("/v1") {
            Route::V1
        } else if path == "/api/session" {
            Route::Session
        } else if path == "/api/quota/ws" {
            Route::WebSocket
        } else if path.starts_with("/api/admin/") || path == "/api/quota/reset" {
            Route::Admin
        } else {
            Route::Api
        }
    }
}

/// The address a budget is kept for: IPv4 as it is (also when mapped into IPv6), IPv6 by /64.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(
                u128::from(v6) & 0xffff_ffff_ffff_ffff_0000_0000_0000_0000,
            )),
        },
    }
}

/// What a failure leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Within budget: the usual 401/403.
    Within,
    /// This failure started a block of `secs` seconds.
    NewBlock { secs: u64 },
    /// The address is blocked for `retry_after_secs` more seconds.
    Blocked { retry_after_secs: u64 },
}

/// One address's failures.
#[derive(Clone, Debug)]
struct Entry {
    window_start: Instant,
    failures: u32,
    blocked_until: Option<Instant>,
    /// Blocks in a row (reset after [`MAX_BLOCK`] without failures nor a block).
    strikes: u32,
    last_failure: Instant,
}

impl Entry {
    fn new(now: Instant) -> Entry {
        Entry {
            window_start: now,
            failures: 0,
            blocked_until: None,
            strikes: 0,
            last_failure: now,
        }
    }

    /// Counts one failure at `now`.
    fn fail(&mut self, now: Instant, per_minute: u32, block: Duration) -> Verdict {
        let quiet_since = self
            .blocked_until
            .map_or(self.last_failure, |t| t.max(self.last_failure));
        if now.saturating_duration_since(quiet_since) >= MAX_BLOCK {
            // An hour without failures (nor a block) forgives the past blocks.
            self.strikes = 0;
        }
        self.last_failure = now;
        if let Some(until) = self.blocked_until {
            if until > now {
                return Verdict::Blocked {
                    retry_after_secs: secs_ceil(until - now),
                };
            }
            self.blocked_until = None;
            self.window_start = now;
            self.failures = 0;
        }
        if now.saturating_duration_since(self.window_start) >= WINDOW {
            self.window_start = now;
            self.failures = 0;
        }
        self.failures += 1;
        if self.failures <= per_minute {
            return Verdict::Within;
        }
        let length = block
            .saturating_mul(1 << self.strikes.min(16))
            .min(MAX_BLOCK.max(block));
        self.strikes = self.strikes.saturating_add(1);
        self.blocked_until = Some(now + length);
        self.failures = 0;
        Verdict::NewBlock {
            secs: secs_ceil(length),
        }
    }
}

fn secs_ceil(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

struct Tracked {
    entries: LruCache<IpAddr, Entry>,
    /// Warn lines, by the second since the guard started.
    lines: LineBudget,
}

/// The per-address budget of authentication failures. Shared by every route.
pub struct AuthGuard {
    per_minute: u32,
    block: Duration,
    started: Instant,
    tracked: Mutex<Tracked>,
}

impl std::fmt::Debug for AuthGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthGuard")
            .field("per_minute", &self.per_minute)
            .field("block", &self.block)
            .finish_non_exhaustive()
    }
}

impl AuthGuard {
    pub fn new(limits: &Limits) -> AuthGuard {
        AuthGuard::with_capacity(limits, TRACKED_ADDRESSES)
    }

    fn with_capacity(limits: &Limits, capacity: usize) -> AuthGuard {
        AuthGuard {
            per_minute: limits.auth_failures_per_minute,
            block: Duration::from_secs(limits.auth_block_seconds.max(1)),
            started: Instant::now(),
            tracked: Mutex::new(Tracked {
                entries: LruCache::new(NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN)),
                lines: LineBudget::new(LOG_LINES_PER_SECOND),
            }),
        }
    }

    /// Counts a failed attempt from `ip` at `now`; `Some(retry_after_secs)` when the address
    /// is (now) blocked and the attempt must be answered 429.
    pub fn failed(&self, ip: IpAddr, route: Route, now: Instant) -> Option<u64> {
        if self.per_minute == 0 {
            metrics::counter!("qs_auth_failures_total", "route" => route.as_str(), "outcome" => "refused").increment(1);
            return None;
        }
        let key = client_key(ip);
        let (verdict, log) = {
            let mut t = self.tracked.lock().unwrap_or_else(|p| p.into_inner());
            let verdict = t.entries.get_or_insert_mut(key, || Entry::new(now)).fail(
                now,
                self.per_minute,
                self.block,
            );
            let log = match verdict {
                Verdict::NewBlock { .. } => {
                    let second = now.saturating_duration_since(self.started).as_secs();
                    t.lines.take(second)
                }
                _ => None,
            };
            (verdict, log)
        };
        let outcome = match verdict {
            Verdict::Within => "refused",
            _ => "blocked",
        };
        metrics::counter!("qs_auth_failures_total", "route" => route.as_str(), "outcome" => outcome).increment(1);
        match verdict {
            Verdict::Within => None,
            Verdict::NewBlock { secs } => {
                if let Some(dropped) = log {
                    let dropped = (dropped > 0).then_some(dropped);
                    let client = match key {
                        IpAddr::V6(_) => format!("{key}/64"),
                        IpAddr::V4(_) => key.to_string(),
                    };
                    tracing::warn!(
                        %client,
                        route = route.as_str(),
                        failures_per_minute = self.per_minute,
                        block_secs = secs,
                        similar_lines_dropped = dropped,
                        "authentication failures over budget: address blocked"
                    );
                }
                Some(secs)
            }
            Verdict::Blocked { retry_after_secs } => Some(retry_after_secs),
        }
    }

    /// Addresses currently tracked.
    pub fn tracked(&self) -> usize {
        self.tracked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entries
            .len()
    }
}

// ---------------------------------------------------------------------------------------------
// Per-workspace load
// ---------------------------------------------------------------------------------------------

/// A workspace's live load: calls in flight, JSON body bytes buffered, WebSockets open.
#[derive(Debug, Default)]
pub struct Load {
    in_flight: AtomicU32,
    buffered: AtomicU64,
    sockets: AtomicU32,
}

impl Load {
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub fn buffered(&self) -> u64 {
        self.buffered.load(Ordering::Relaxed)
    }

    pub fn sockets(&self) -> u32 {
        self.sockets.load(Ordering::Relaxed)
    }
}

/// Takes one of `cap` places of `counter`; false (and nothing taken) when all are taken.
fn take_place(counter: &AtomicU32, cap: u32) -> bool {
    if cap == 0 {
        counter.fetch_add(1, Ordering::Relaxed);
        return true;
    }
    counter
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < cap).then_some(n + 1)
        })
        .is_ok()
}

/// One proxied call's share of its workspace's load: a place among the calls in flight and the
/// request bytes it buffers. Given back on drop.
#[derive(Debug)]
pub struct CallSlot {
    load: Arc<Load>,
    bytes: u64,
    max_bytes: u64,
}

impl CallSlot {
    /// A place for one more call of `workspace`, or 429 `too_many_concurrent_requests`.
    pub fn admit(load: &Arc<Load>, limits: &Limits) -> Result<CallSlot, AppError> {
        if !take_place(&load.in_flight, limits.max_in_flight_per_workspace) {
            metrics::counter!("qs_abuse_refused_total", "cap" => "in_flight").increment(1);
            return Err(AppError::TooManyConcurrentRequests {
                limit: limits.max_in_flight_per_workspace,
            });
        }
        Ok(CallSlot {
            load: load.clone(),
            bytes: 0,
            max_bytes: limits.max_buffered_bytes_per_workspace,
        })
    }

    /// Grows this call's reservation of buffered bytes to `total`: 413 when one body alone
    /// is larger than the workspace's whole budget, 429 `too_many_buffered_bytes` when the
    /// workspace's other calls hold the rest.
    pub fn reserve(&mut self, total: u64) -> Result<(), AppError> {
        if total <= self.bytes {
            return Ok(());
        }
        let more = total - self.bytes;
        let counter = &self.load.buffered;
        if self.max_bytes == 0 {
            counter.fetch_add(more, Ordering::Relaxed);
        } else if total > self.max_bytes {
            return Err(AppError::PayloadTooLarge(
                usize::try_from(self.max_bytes).unwrap_or(usize::MAX),
            ));
        } else if counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                n.checked_add(more).filter(|&t| t <= self.max_bytes)
            })
            .is_err()
        {
            metrics::counter!("qs_abuse_refused_total", "cap" => "buffered_bytes").increment(1);
            return Err(AppError::TooManyBufferedBytes {
                limit: self.max_bytes,
            });
        }
        self.bytes = total;
        Ok(())
    }

    /// Bytes this call holds reserved.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for CallSlot {
    fn drop(&mut self) {
        let load = &self.load;
        load.in_flight.fetch_sub(1, Ordering::AcqRel);
        if self.bytes > 0 {
            load.buffered.fetch_sub(self.bytes, Ordering::AcqRel);
        }
    }
}

/// Reads a JSON request body whole, at most `max` bytes, reserving its bytes against the
/// workspace's budget: the declared `Content-Length` before reading anything, and more as it
/// comes if the body is longer or has no length.
pub async fn read_json_body(
    body: Body,
    content_length: Option<u64>,
    max: usize,
    slot: &mut CallSlot,
) -> Result<Bytes, AppError> {
    if let Some(n) = content_length {
        slot.reserve(n.min(max as u64))?;
    }
    let cut = || AppError::bad_request("The request body was cut before it ended.", None);
    let mut body = body;
    let mut first: Option<Bytes> = None;
    let mut rest: Option<BytesMut> = None;
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(chunk) = frame.map_err(|_| cut())?.into_data() else {
            continue;
        };
        total += chunk.len();
        if total > max {
            return Err(AppError::PayloadTooLarge(max));
        }
        slot.reserve(total as u64)?;
        match (&mut first, &mut rest) {
            (None, _) => first = Some(chunk),
            (Some(f), None) => {
                let mut b = BytesMut::with_capacity(
                    content_length.map_or(total, |n| (n as usize).clamp(total, max)),
                );
                b.extend_from_slice(f);
                b.extend_from_slice(&chunk);
                rest = Some(b);
            }
            (Some(_), Some(b)) => b.extend_from_slice(&chunk),
        }
    }
    Ok(match (first, rest) {
        (_, Some(b)) => b.freeze(),
        (Some(f), None) => f,
        (None, None) => Bytes::new(),
    })
}

/// One WebSocket's place among its workspace's. Given back on drop.
#[derive(Debug)]
pub struct SocketSlot {
    load: Arc<Load>,
}

impl SocketSlot {
    /// A place for one more socket of `workspace`, or 429 `too_many_websockets`.
    pub fn admit(load: &Arc<Load>, limits: &Limits) -> Result<SocketSlot, AppError> {
        if !take_place(&load.sockets, limits.max_websockets_per_workspace) {
            metrics::counter!("qs_abuse_refused_total", "cap" => "websockets").increment(1);
            return Err(AppError::TooManyWebSockets {
                limit: limits.max_websockets_per_workspace,
            });
        }
        Ok(SocketSlot { load: load.clone() })
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        self.load.sockets.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK: Duration = Duration::from_secs(60);

    #[test]
    fn the_21st_failure_in_a_minute_blocks_and_blocks_double() {
        let t0 = Instant::now();
        let mut e = Entry::new(t0);
        for i in 0..20 {
            assert_eq!(
                e.fail(t0 + Duration::from_millis(i), 20, BLOCK),
                Verdict::Within
            );
        }
        assert_eq!(
            e.fail(t0 + Duration::from_secs(1), 20, BLOCK),
            Verdict::NewBlock { secs: 60 }
        );
        assert_eq!(
            e.fail(t0 + Duration::from_secs(31), 20, BLOCK),
            Verdict::Blocked {
                retry_after_secs: 30
            }
        );
        // The block ends: a fresh budget, and the next block is twice as long.
        let t1 = t0 + Duration::from_secs(61);
        for i in 0..20 {
            assert_eq!(
                e.fail(t1 + Duration::from_millis(i), 20, BLOCK),
                Verdict::Within
            );
        }
        assert_eq!(e.fail(t1, 20, BLOCK), Verdict::NewBlock { secs: 120 });
        // A quiet hour after the block forgives the strikes.
        let t2 = t1 + Duration::from_secs(120 + 3600);
        for _ in 0..20 {
            assert_eq!(e.fail(t2, 20, BLOCK), Verdict::Within);
        }
        assert_eq!(e.fail(t2, 20, BLOCK), Verdict::NewBlock { secs: 60 });
    }

    #[test]
    fn failures_spread_over_minutes_never_block_and_blocks_stop_at_an_hour() {
        let t0 = Instant::now();
        let mut e = Entry::new(t0);
        for m in 0..10u64 {
            for i in 0..20u64 {
                let at = t0 + Duration::from_secs(m * 60 + i);
                assert_eq!(e.fail(at, 20, BLOCK), Verdict::Within, "minute {m}");
            }
        }
        let mut at = t0 + Duration::from_secs(3600);
        let mut last = 0;
        for _ in 0..10 {
            let mut v = Verdict::Within;
            while v == Verdict::Within {
                v = e.fail(at, 1, BLOCK);
            }
            let Verdict::NewBlock { secs } = v else {
                panic!("{v:?}");
            };
            last = secs;
            at += Duration::from_secs(secs);
        }
        assert_eq!(last, 3600);
    }

    #[test]
    fn ipv6_counts_by_slash_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let b: IpAddr = "2001:db8:1:2:bbbb::9"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        let mapped: IpAddr = "::ffff:10.0.0.7".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            client_key(mapped),
            "10.0.0.7"
                .parse::<IpAddr>()
                .unwrap_or_else(|e| panic!("{e}"))
        );
    }

    #[test]
    fn the_guard_is_bounded_and_blocks_per_address() {
        let limits = Limits {
            auth_failures_per_minute: 2,
            ..Limits::default()
        };
        let g = AuthGuard::with_capacity(&limits, 4);
        let now = Instant::now();
        let bad: IpAddr = "10.0.0.1".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(g.failed(bad, Route::V1, now), None);
        assert_eq!(g.failed(bad, Route::V1, now), None);
        assert_eq!(g.failed(bad, Route::V1, now), Some(60));
        let other: IpAddr = "10.0.0.2".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(g.failed(other, Route::V1, now), None, "another address");
        for i in 0..100u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0b00_0000 + i));
            g.failed(ip, Route::Admin, now);
        }
        assert_eq!(g.tracked(), 4);
    }

    #[test]
    fn each_new_block_writes_one_warn_line_at_most_ten_a_second() {
        let limits = Limits {
            auth_failures_per_minute: 1,
            ..Limits::default()
        };
        let g = AuthGuard::new(&limits);
        let now = Instant::now();
        let text = crate::loglimit::captured_log(|| {
            // 30 addresses blocked in the same second, each hammering on.
            for i in 0..30u32 {
                let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
                for _ in 0..5 {
                    g.failed(ip, Route::V1, now);
                }
            }
            // The next second: the next line says how many were left out.
            let ip: IpAddr = "2001:db8::1".parse().unwrap_or_else(|e| panic!("{e}"));
            g.failed(ip, Route::Session, now + Duration::from_secs(1));
            g.failed(ip, Route::Session, now + Duration::from_secs(1));
        });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 11, "{text}");
        assert!(
            lines
                .iter()
                .all(|l| l.contains("WARN") && l.contains("address blocked")),
            "{text}"
        );
        assert!(
            lines[0].contains("client=10.0.0.0") && lines[0].contains("route=\"v1\""),
            "{text}"
        );
        assert!(lines[10].contains("client=2001:db8::/64"), "{text}");
        assert!(lines[10].contains("similar_lines_dropped=20"), "{text}");
    }

    #[test]
    fn route_kinds() {
        assert_eq!(Route::of("/v1/models", false), Route::V1);
        assert_eq!(Route::of("/api/session", false), Route::Session);
        assert_eq!(Route::of("/api/quota/ws", false), Route::WebSocket);
        assert_eq!(Route::of("/api/admin/workspaces", false), Route::Admin);
        assert_eq!(Route::of("/api/quota/status", true), Route::Admin);
        assert_eq!(Route::of("/api/quota/status", false), Route::Api);
    }
}
