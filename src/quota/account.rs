//! The upstream OpenAI account's state, shared by every workspace that calls through its key:
//! upstream rate limiting, an exhausted account quota, consecutive failures, and the last
//! `x-ratelimit-*` headroom seen.
//!
//! Owns: turning upstream observations into the account's side of the status, and when each
//! state expires. Must not: read the clock (`now` is a parameter), do IO, parse HTTP (the proxy
//! classifies responses into [`UpstreamObservation`]s), or format text.

use chrono::{DateTime, Utc};

use super::window::{add_secs, secs_until};
use super::Evaluation;
use crate::types::{Cause, Resource, Status, UpstreamHeadroom};

/// How long headroom without reset times stays meaningful.
pub const HEADROOM_DEFAULT_TTL_MS: u64 = 60_000;

/// How the account's states start and end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountPolicy {
    /// Consecutive failures that make the account degraded.
    pub degraded_after: u32,
    /// Consecutive successes that end a degraded state.
    pub recover_after: u32,
    /// A degraded state ends this long after the last failure.
    pub degraded_ttl_secs: u64,
    /// An exhausted quota is assumed to last at most this long without news.
    pub quota_exceeded_ttl_secs: u64,
    /// The upstream rate limit's length when the upstream gives no retry time.
    pub default_rate_limit_secs: u64,
}

impl Default for AccountPolicy {
    fn default() -> Self {
        AccountPolicy {
            degraded_after: 3,
            recover_after: 2,
            degraded_ttl_secs: 300,
            quota_exceeded_ttl_secs: 3600,
            default_rate_limit_secs: 20,
        }
    }
}

/// What one upstream response said about the account.
#[derive(Clone, Debug, PartialEq)]
pub enum UpstreamObservation {
    /// Any 2xx/3xx, and 4xx that are the client's fault.
    Success { headroom: Option<UpstreamHeadroom> },
    /// 429 `rate_limit_exceeded`.
    RateLimited {
        retry_after_secs: Option<u64>,
        headroom: Option<UpstreamHeadroom>,
    },
    /// 429 `insufficient_quota` or 400 `billing_hard_limit_reached`.
    QuotaExhausted,
    /// 5xx, timeout, connection refused.
    Failure,
}

/// The state of one upstream key.
#[derive(Clone, Debug, PartialEq)]
pub struct AccountState {
    policy: AccountPolicy,
    rate_limited_until: Option<DateTime<Utc>>,
    quota_exhausted_at: Option<DateTime<Utc>>,
    consecutive_failures: u32,
    last_failure: Option<DateTime<Utc>>,
    /// Set while degraded: the consecutive failures that made (or kept) it so.
    degraded: Option<u32>,
    successes_while_degraded: u32,
    headroom: Option<UpstreamHeadroom>,
}

impl AccountState {
    /// A healthy account with nothing observed.
    pub fn new(policy: AccountPolicy) -> Self {
        AccountState {
            policy,
            rate_limited_until: None,
            quota_exhausted_at: None,
            consecutive_failures: 0,
            last_failure: None,
            degraded: None,
            successes_while_degraded: 0,
            headroom: None,
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &AccountPolicy {
        &self.policy
    }

    /// Consecutive failures observed (a success or the degraded TTL ends the streak).
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    fn failures_stale(&self, now: DateTime<Utc>) -> bool {
        match self.last_failure {
            Some(t) => now >= add_secs(t, self.policy.degraded_ttl_secs),
            None => true,
        }
    }

    fn degraded_at(&self, now: DateTime<Utc>) -> Option<u32> {
        match self.degraded {
            Some(n) if !self.failures_stale(now) => Some(n),
            _ => None,
        }
    }

    fn quota_exhausted(&self, now: DateTime<Utc>) -> bool {
        self.quota_exhausted_at
            .is_some_and(|t| now < add_secs(t, self.policy.quota_exceeded_ttl_secs))
    }

    /// The end of the upstream rate limit in force at `now`, if any.
    pub fn rate_limited(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.rate_limited_until.filter(|&u| now < u)
    }

    /// Records one upstream observation made at `now`.
    pub fn observe(&mut self, o: UpstreamObservation, now: DateTime<Utc>) {
        match o {
            UpstreamObservation::Success { headroom } => {
                if headroom.is_some() {
                    self.headroom = headroom;
                }
                self.quota_exhausted_at = None;
                self.consecutive_failures = 0;
                if self.degraded_at(now).is_some() {
                    self.successes_while_degraded = self.successes_while_degraded.saturating_add(1);
                    if self.successes_while_degraded >= self.policy.recover_after {
                        self.degraded = None;
                        self.successes_while_degraded = 0;
                    }
                } else {
                    self.degraded = None;
                    self.successes_while_degraded = 0;
                }
            }
            UpstreamObservation::RateLimited {
                retry_after_secs,
                headroom,
            } => {
                if headroom.is_some() {
                    self.headroom = headroom;
                }
                let secs = retry_after_secs
                    .unwrap_or(self.policy.default_rate_limit_secs)
                    .max(1);
                let until = add_secs(now, secs);
                match self.rate_limited(now) {
                    Some(old) if old >= until => {}
                    _ => self.rate_limited_until = Some(until),
                }
            }
            UpstreamObservation::QuotaExhausted => {
                self.quota_exhausted_at = Some(now);
            }
            UpstreamObservation::Failure => {
                if self.failures_stale(now) {
                    // The last failure is older than the degraded TTL: a new streak.
                    self.consecutive_failures = 0;
                    self.degraded = None;
                }
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                self.last_failure = Some(now);
                self.successes_while_degraded = 0;
                if self.consecutive_failures >= self.policy.degraded_after {
                    self.degraded = Some(self.consecutive_failures);
                }
            }
        }
    }

    /// Admin reset (after credit was added): every state ends and the headroom is forgotten.
    pub fn reset(&mut self, _now: DateTime<Utc>) {
        *self = AccountState::new(self.policy);
    }

    /// The last headroom seen, or `None` once stale: after `observed_at` plus the larger of its
    /// reset times, or after 60 s when it gives none.
    pub fn headroom(&self, now: DateTime<Utc>) -> Option<&UpstreamHeadroom> {
        let h = self.headroom.as_ref()?;
        let ttl_ms = match (h.reset_requests_ms, h.reset_tokens_ms) {
            (None, None) => HEADROOM_DEFAULT_TTL_MS,
            (a, b) => a.unwrap_or(0).max(b.unwrap_or(0)),
        };
        let ttl = i64::try_from(ttl_ms)
            .ok()
            .and_then(chrono::TimeDelta::try_milliseconds)
            .and_then(|d| h.observed_at.checked_add_signed(d))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        (now < ttl).then_some(h)
    }

    /// The account's side of the status at `now`, for a workspace warned at `warning_at`:
    /// exhausted quota, else upstream rate limit, else degraded, else low headroom, else normal.
    pub fn evaluate(&self, warning_at: f64, now: DateTime<Utc>) -> Evaluation {
        if self.quota_exhausted(now) {
            return Evaluation {
                status: Status::QuotaExceeded,
                cause: Cause::AccountQuotaExceeded,
                retry_after_secs: None,
            };
        }
        if let Some(until) = self.rate_limited(now) {
            return Evaluation {
                status: Status::RateLimited,
                cause: Cause::UpstreamRateLimited,
                retry_after_secs: Some(secs_until(now, until)),
            };
        }
        if let Some(consecutive) = self.degraded_at(now) {
            return Evaluation {
                status: Status::Degraded,
                cause: Cause::UpstreamFailures { consecutive },
                retry_after_secs: None,
            };
        }
        if let Some((resource, ratio)) = self.low_headroom(warning_at, now) {
            return Evaluation {
                status: Status::Warning,
                cause: Cause::UpstreamHeadroomLow { resource, ratio },
                retry_after_secs: None,
            };
        }
        Evaluation::normal()
    }

    /// The resource with the least headroom left, when `remaining / limit <= 1 - warning_at`.
    /// The ratio returned is `remaining / limit` (the share left).
    fn low_headroom(&self, warning_at: f64, now: DateTime<Utc>) -> Option<(Resource, f64)> {
        if warning_at.is_nan() || warning_at <= 0.0 {
            return None;
        }
        let h = self.headroom(now)?;
        // `remaining / limit <= 1 - warning_at`, with a little slack for binary fractions
        // (0.2 must count as low at warning_at 0.8).
        let threshold = 1.0 - warning_at + 1e-9;
        let mut low: Option<(Resource, f64)> = None;
        for (resource, limit, remaining) in [
            (Resource::Requests, h.limit_requests, h.remaining_requests),
            (Resource::Tokens, h.limit_tokens, h.remaining_tokens),
        ] {
            let (Some(limit), Some(remaining)) = (limit, remaining) else {
                continue;
            };
            if limit == 0 {
                continue;
            }
            let ratio = remaining as f64 / limit as f64;
            if ratio <= threshold && low.is_none_or(|(_, r)| ratio < r) {
                low = Some((resource, ratio));
            }
        }
        low
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::testutil::at;

    fn acct() -> AccountState {
        AccountState::new(AccountPolicy::default())
    }

    const FAILURE: UpstreamObservation = UpstreamObservation::Failure;

    /// Observes each `(seconds after T0, observation)` in turn.
    fn observe_all(
        a: &mut AccountState,
        events: impl IntoIterator<Item = (u64, UpstreamObservation)>,
    ) {
        for (s, o) in events {
            a.observe(o, at(s));
        }
    }

    /// A new account after failures at 0, 1 and 2 s: degraded from 2 s on.
    fn failed_three_times() -> AccountState {
        let mut a = acct();
        observe_all(&mut a, (0..3).map(|s| (s, FAILURE)));
        a
    }

    fn status(a: &AccountState, now: DateTime<Utc>) -> Status {
        a.evaluate(0.8, now).status
    }

    /// A 429 with its `Retry-After` and headroom.
    fn rate_limited(
        retry_after_secs: Option<u64>,
        headroom: Option<UpstreamHeadroom>,
    ) -> UpstreamObservation {
        UpstreamObservation::RateLimited {
            retry_after_secs,
            headroom,
        }
    }

    /// A success with its headroom.
    fn success(headroom: Option<UpstreamHeadroom>) -> UpstreamObservation {
        UpstreamObservation::Success { headroom }
    }

    fn headroom(
        req: (u64, u64),
        tok: (u64, u64),
        resets: Option<(u64, u64)>,
        t: DateTime<Utc>,
    ) -> UpstreamHeadroom {
        UpstreamHeadroom {
            limit_requests: Some(req.0),
            remaining_requests: Some(req.1),
            reset_requests_ms: resets.map(|r| r.0),
            limit_tokens: Some(tok.0),
            remaining_tokens: Some(tok.1),
            reset_tokens_ms: resets.map(|r| r.1),
            observed_at: t,
        }
    }

    #[test]
    fn policy_defaults() {
        let p = AccountPolicy::default();
        assert_eq!(
            (
                p.degraded_after,
                p.recover_after,
                p.degraded_ttl_secs,
                p.quota_exceeded_ttl_secs,
                p.default_rate_limit_secs
            ),
            (3, 2, 300, 3600, 20)
        );
    }

    #[test]
    fn a_new_account_is_normal() {
        let a = acct();
        assert_eq!(a.evaluate(0.8, at(0)), Evaluation::normal());
        assert!(a.headroom(at(0)).is_none());
    }

    #[test]
    fn rate_limited_until_the_retry_time() {
        let mut a = acct();
        a.observe(rate_limited(Some(7), None), at(0));
        let e = a.evaluate(0.8, at(2));
        assert_eq!(e.status, Status::RateLimited);
        assert_eq!(e.cause, Cause::UpstreamRateLimited);
        assert_eq!(e.retry_after_secs, Some(5));
        // A success does not end it early (calls in flight may still succeed).
        a.observe(success(None), at(3));
        assert_eq!(status(&a, at(6)), Status::RateLimited);
        assert_eq!(status(&a, at(7)), Status::Normal);
    }

    #[test]
    fn rate_limited_defaults_and_never_shortens() {
        let mut a = acct();
        a.observe(rate_limited(None, None), at(0));
        assert_eq!(a.evaluate(0.8, at(0)).retry_after_secs, Some(20));
        a.observe(rate_limited(Some(1), None), at(1));
        assert_eq!(a.evaluate(0.8, at(1)).retry_after_secs, Some(19));
        a.observe(rate_limited(Some(60), None), at(2));
        assert_eq!(a.evaluate(0.8, at(2)).retry_after_secs, Some(60));
        assert_eq!(status(&a, at(62)), Status::Normal);
        // A zero retry still limits for a second.
        a.observe(rate_limited(Some(0), None), at(100));
        assert_eq!(a.evaluate(0.8, at(100)).retry_after_secs, Some(1));
        // Absurd retry times saturate instead of overflowing.
        a.observe(rate_limited(Some(u64::MAX), None), at(200));
        assert_eq!(status(&a, at(10_000_000)), Status::RateLimited);
    }

    #[test]
    fn quota_exhausted_ends_by_success_reset_or_ttl() {
        let mut a = acct();
        a.observe(UpstreamObservation::QuotaExhausted, at(0));
        let e = a.evaluate(0.8, at(1));
        assert_eq!(e.status, Status::QuotaExceeded);
        assert_eq!(e.cause, Cause::AccountQuotaExceeded);
        assert_eq!(e.retry_after_secs, None);
        a.observe(success(None), at(10));
        assert_eq!(status(&a, at(10)), Status::Normal);

        a.observe(UpstreamObservation::QuotaExhausted, at(20));
        a.reset(at(30));
        assert_eq!(status(&a, at(30)), Status::Normal);

        a.observe(UpstreamObservation::QuotaExhausted, at(100));
        assert_eq!(status(&a, at(100 + 3599)), Status::QuotaExceeded);
        assert_eq!(status(&a, at(100 + 3600)), Status::Normal);
        // Failures do not end it.
        a.observe(UpstreamObservation::QuotaExhausted, at(5000));
        a.observe(FAILURE, at(5001));
        assert_eq!(status(&a, at(5002)), Status::QuotaExceeded);
    }

    #[test]
    fn quota_outranks_rate_limit_outranks_degraded() {
        let mut a = failed_three_times();
        assert_eq!(status(&a, at(3)), Status::Degraded);
        a.observe(rate_limited(Some(10), None), at(4));
        assert_eq!(status(&a, at(5)), Status::RateLimited);
        a.observe(UpstreamObservation::QuotaExhausted, at(6));
        assert_eq!(status(&a, at(7)), Status::QuotaExceeded);
    }

    #[test]
    fn degraded_after_three_failures_recovers_after_two_successes() {
        let mut a = acct();
        observe_all(&mut a, [(0, FAILURE), (1, FAILURE)]);
        assert_eq!(status(&a, at(1)), Status::Normal);
        assert_eq!(a.consecutive_failures(), 2);
        a.observe(FAILURE, at(2));
        let e = a.evaluate(0.8, at(2));
        assert_eq!(e.status, Status::Degraded);
        assert_eq!(e.cause, Cause::UpstreamFailures { consecutive: 3 });
        assert_eq!(e.retry_after_secs, None);
        a.observe(FAILURE, at(3));
        assert_eq!(
            a.evaluate(0.8, at(3)).cause,
            Cause::UpstreamFailures { consecutive: 4 }
        );
        a.observe(success(None), at(4));
        assert_eq!(a.consecutive_failures(), 0);
        assert_eq!(status(&a, at(4)), Status::Degraded);
        // A failure between the successes restarts the recovery count.
        observe_all(&mut a, [(5, FAILURE), (6, success(None))]);
        assert_eq!(status(&a, at(6)), Status::Degraded);
        a.observe(success(None), at(7));
        assert_eq!(status(&a, at(7)), Status::Normal);
    }

    #[test]
    fn success_resets_the_failure_streak() {
        let mut a = acct();
        let events = [
            (0, FAILURE),
            (1, FAILURE),
            (2, success(None)),
            (3, FAILURE),
            (4, FAILURE),
        ];
        observe_all(&mut a, events);
        assert_eq!(status(&a, at(4)), Status::Normal);
        a.observe(FAILURE, at(5));
        assert_eq!(status(&a, at(5)), Status::Degraded);
    }

    #[test]
    fn degraded_expires_after_the_ttl_from_the_last_failure() {
        let mut a = failed_three_times();
        a.observe(FAILURE, at(100));
        assert_eq!(status(&a, at(399)), Status::Degraded);
        assert_eq!(status(&a, at(400)), Status::Normal);
        // A failure after the TTL starts a new streak: not degraded at once.
        a.observe(FAILURE, at(500));
        assert_eq!(status(&a, at(500)), Status::Normal);
        assert_eq!(a.consecutive_failures(), 1);
    }

    #[test]
    fn reset_ends_every_state() {
        let mut a = failed_three_times();
        a.observe(
            rate_limited(Some(30), Some(headroom((100, 0), (1000, 0), None, at(3)))),
            at(3),
        );
        a.reset(at(4));
        assert_eq!(a.evaluate(0.8, at(4)), Evaluation::normal());
        assert!(a.headroom(at(4)).is_none());
        assert_eq!(a.consecutive_failures(), 0);
    }

    #[test]
    fn headroom_goes_stale() {
        let mut a = acct();
        let h = headroom((100, 50), (1000, 500), Some((2_000, 30_000)), at(0));
        a.observe(success(Some(h.clone())), at(0));
        assert_eq!(a.headroom(at(29)), Some(&h));
        assert_eq!(a.headroom(at(30)), None);
        // Without reset times: 60 s.
        let h = headroom((100, 50), (1000, 500), None, at(100));
        a.observe(success(Some(h.clone())), at(100));
        assert_eq!(a.headroom(at(159)), Some(&h));
        assert_eq!(a.headroom(at(160)), None);
        // A success without headroom keeps the last one.
        a.observe(success(None), at(101));
        assert_eq!(a.headroom(at(101)), Some(&h));
    }

    #[test]
    fn low_headroom_warns_with_the_scarcer_resource() {
        let mut a = acct();
        // requests 30% left (not low at 0.8), tokens 15% left (low).
        let h = headroom((100, 30), (1000, 150), Some((10_000, 10_000)), at(0));
        a.observe(success(Some(h)), at(0));
        let e = a.evaluate(0.8, at(1));
        assert_eq!(e.status, Status::Warning);
        assert_eq!(
            e.cause,
            Cause::UpstreamHeadroomLow {
                resource: Resource::Tokens,
                ratio: 0.15
            }
        );
        // Exactly at the threshold counts: 20% left with warning_at 0.8.
        let h = headroom((100, 20), (1000, 900), Some((10_000, 10_000)), at(2));
        a.observe(success(Some(h)), at(2));
        assert_eq!(
            a.evaluate(0.8, at(2)).cause,
            Cause::UpstreamHeadroomLow {
                resource: Resource::Requests,
                ratio: 0.2
            }
        );
        // A stricter workspace threshold does not warn.
        assert_eq!(a.evaluate(0.9, at(2)).status, Status::Normal);
        // Stale headroom never warns.
        assert_eq!(a.evaluate(0.8, at(20)).status, Status::Normal);
        // A 429 carries headroom too.
        let h = headroom((100, 0), (1000, 900), Some((10_000, 10_000)), at(30));
        a.observe(rate_limited(Some(1), Some(h)), at(30));
        assert_eq!(status(&a, at(30)), Status::RateLimited);
        assert_eq!(
            a.evaluate(0.8, at(31)).cause,
            Cause::UpstreamHeadroomLow {
                resource: Resource::Requests,
                ratio: 0.0
            }
        );
    }
}
