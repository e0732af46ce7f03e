//! The simulator's `x-ratelimit-*` bookkeeping: two lock-free GCRA buckets
//! (requests and tokens per minute) that refill continuously like OpenAI's.
//! The simulator only *reports* them in headers; it never rejects on its own
//! (inject [`super::Fault::RateLimited`] for that).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Requests per minute reported in `x-ratelimit-limit-requests`.
pub(crate) const LIMIT_REQUESTS: u64 = 10_000;
/// Tokens per minute reported in `x-ratelimit-limit-tokens`.
pub(crate) const LIMIT_TOKENS: u64 = 10_000_000;

const WINDOW_NS: u64 = 60_000_000_000;

/// One bucket: `tat` is the theoretical time (ns since `epoch`) at which the
/// bucket is full again.
struct Bucket {
    limit: u64,
    tat: AtomicU64,
}

impl Bucket {
    const fn new(limit: u64) -> Self {
        Self {
            limit,
            tat: AtomicU64::new(0),
        }
    }

    /// Charge `cost` units at `now` and return (remaining, ns until full).
    fn charge(&self, now: u64, cost: u64) -> (u64, u64) {
        let interval = WINDOW_NS / self.limit.max(1);
        let add = interval.saturating_mul(cost);
        let mut prev = self.tat.load(Ordering::Relaxed);
        loop {
            let next = prev.max(now).saturating_add(add).min(now + WINDOW_NS);
            match self
                .tat
                .compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    let pending = next - now;
                    let used = pending.div_ceil(interval.max(1));
                    return (self.limit.saturating_sub(used), pending);
                }
                Err(actual) => prev = actual,
            }
        }
    }
}

/// Snapshot of both buckets after charging one request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub remaining_requests: u64,
    pub reset_requests_ms: u64,
    pub remaining_tokens: u64,
    pub reset_tokens_ms: u64,
}

pub(crate) struct RateLimiter {
    epoch: Instant,
    requests: Bucket,
    tokens: Bucket,
}

impl RateLimiter {
    pub(super) fn new() -> Self {
        Self {
            epoch: Instant::now(),
            requests: Bucket::new(LIMIT_REQUESTS),
            tokens: Bucket::new(LIMIT_TOKENS),
        }
    }

    /// Charge one request costing `tokens` tokens.
    pub(super) fn charge(&self, tokens: u64) -> Limits {
        let now = self.epoch.elapsed().as_nanos() as u64;
        let (remaining_requests, req_ns) = self.requests.charge(now, 1);
        let (remaining_tokens, tok_ns) = self.tokens.charge(now, tokens);
        Limits {
            remaining_requests,
            reset_requests_ms: req_ns.div_ceil(1_000_000),
            remaining_tokens,
            reset_tokens_ms: tok_ns.div_ceil(1_000_000),
        }
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn remaining_decreases_and_reset_grows() {
        let rl = RateLimiter::new();
        let a = rl.charge(100);
        let b = rl.charge(100);
        assert_eq!(a.remaining_requests, LIMIT_REQUESTS - 1);
        assert!(b.remaining_requests <= LIMIT_REQUESTS - 2 + 1);
        assert!(b.remaining_requests < a.remaining_requests || b.reset_requests_ms > 0);
        assert!(a.remaining_tokens <= LIMIT_TOKENS - 100);
        assert_eq!(a.reset_requests_ms, 6);
    }
}
