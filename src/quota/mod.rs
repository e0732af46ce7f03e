//! The pure quota core: per-workspace metering and limits, the upstream account's state, the
//! combined status with its precedence, status transitions and the notices they raise.
//!
//! Owns: every quota decision (admit / refuse, retry times, status and cause) and the Fluent
//! keys and arguments that describe them (texts live in `locales/*/notifications.ftl`).
//! Must not: do IO, read the clock (`now: DateTime<Utc>` is passed to every call), spawn
//! threads, lock, render text for users, or panic. `admit` and `settle` are O(1) and do not
//! allocate.
//!
//! Submodules: [`window`] (minute ring, calendar periods), [`meter`] (a workspace's counters),
//! [`account`] (the upstream key's state), [`status`] (transitions, notices, messages),
//! [`alerting`] (threshold alerts once per period, back-under notices, the burn-rate forecast).

use chrono::{DateTime, Utc};

use crate::types::{Cause, Status};

pub mod account;
pub mod alerting;
pub mod meter;
pub mod status;
#[cfg(test)]
pub(crate) mod testutil;
pub mod window;

pub use account::{AccountPolicy, AccountState, UpstreamObservation};
pub use alerting::{Alert, AlertRules, Forecast, Mark, Round, Spent, Under};
pub use meter::{Actual, Demand, Refusal, Reservation, SharedCounters, WorkspaceMeter};
pub use status::{
    account_alert_notice, alert_notice, describe, level_for, limit_name_key, status_name_key,
    stored_limits_invalid_notice, unpriced_model_notice, unpriced_models_notice, Notice,
    StatusTracker, Transition,
};

/// A workspace's status at one instant, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub status: Status,
    pub cause: Cause,
    /// When the status is known to end (workspace refusal or limit reset, upstream rate limit);
    /// `None` when unknown (an exhausted account quota, degraded, warnings).
    pub retry_after_secs: Option<u64>,
}

impl Evaluation {
    /// `Normal`, no cause, no retry time.
    pub fn normal() -> Self {
        Evaluation {
            status: Status::Normal,
            cause: Cause::None,
            retry_after_secs: None,
        }
    }
}

/// How pressing a warning is, as the share of a limit used (headroom reports the share left).
fn pressure(c: &Cause) -> f64 {
    match c {
        Cause::NearLimit { ratio, .. } => *ratio,
        Cause::UpstreamHeadroomLow { ratio, .. } => 1.0 - *ratio,
        _ => 0.0,
    }
}

/// True when `a` should be shown instead of `b`: the greater status; among equal statuses the
/// longer (or unknown, so needing action) retry time, and for warnings the higher pressure.
/// Ties keep `b`.
fn outranks(a: &Evaluation, b: &Evaluation) -> bool {
    if a.status != b.status {
        return a.status > b.status;
    }
    match a.status {
        Status::Normal => false,
        Status::Warning => pressure(&a.cause) > pressure(&b.cause),
        _ => a.retry_after_secs.unwrap_or(u64::MAX) > b.retry_after_secs.unwrap_or(u64::MAX),
    }
}

/// The status of a workspace at `now`, combining its own limits with the shared account's
/// state: the greatest [`Status`] wins (`QuotaExceeded` > `RateLimited` > `Degraded` >
/// `Warning` > `Normal`).
pub fn evaluate(ws: &WorkspaceMeter, acct: &AccountState, now: DateTime<Utc>) -> Evaluation {
    let w = ws.evaluate(now);
    let a = acct.evaluate(ws.limits().warning_at, now);
    if outranks(&a, &w) {
        a
    } else {
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::testutil::*;
    use crate::types::{LimitKind, Limits, Resource, UpstreamHeadroom};

    fn use_tokens(m: &mut WorkspaceMeter, tokens: u64, now: DateTime<Utc>) {
        call(m, Demand::default(), actual(tokens, 0), now);
    }

    /// A meter with one limit, `tokens` used at 0 s, and a new account.
    fn used(limit: LimitKind, cap: f64, tokens: u64) -> (WorkspaceMeter, AccountState) {
        let mut m = meter(limits(&[(limit, cap)]));
        use_tokens(&mut m, tokens, at(0));
        (m, account())
    }

    fn account() -> AccountState {
        AccountState::new(AccountPolicy::default())
    }

    /// The upstream's 429 `rate_limit_exceeded`, with a retry time and no headroom.
    fn upstream_rate_limited(retry_after_secs: u64) -> UpstreamObservation {
        UpstreamObservation::RateLimited {
            retry_after_secs: Some(retry_after_secs),
            headroom: None,
        }
    }

    #[test]
    fn nothing_going_on_is_normal() {
        let m = meter(Limits::default());
        let a = account();
        assert_eq!(evaluate(&m, &a, at(0)), Evaluation::normal());
    }

    #[test]
    fn account_quota_outranks_a_workspace_rate_limit_and_has_no_retry() {
        let (m, mut a) = used(LimitKind::RequestsPerMinute, 1.0, 0);
        assert_eq!(evaluate(&m, &a, at(1)).status, Status::RateLimited);
        a.observe(UpstreamObservation::QuotaExhausted, at(1));
        let e = evaluate(&m, &a, at(1));
        assert_eq!(e.status, Status::QuotaExceeded);
        assert_eq!(e.cause, Cause::AccountQuotaExceeded);
        assert_eq!(e.retry_after_secs, None);
    }

    #[test]
    fn workspace_quota_outranks_upstream_rate_limit() {
        let (m, mut a) = used(LimitKind::TokensPerDay, 10.0, 10);
        a.observe(upstream_rate_limited(5), at(0));
        let e = evaluate(&m, &a, at(1));
        assert_eq!(e.status, Status::QuotaExceeded);
        assert_eq!(e.cause, limit_reached(LimitKind::TokensPerDay));
        assert_eq!(e.retry_after_secs, Some(12 * 3600 - 1));
    }

    #[test]
    fn equal_statuses_prefer_the_longer_or_unknown_end() {
        // Both quota exceeded: the account's (needs an admin) wins over the workspace's day.
        let (m, mut a) = used(LimitKind::TokensPerDay, 10.0, 10);
        a.observe(UpstreamObservation::QuotaExhausted, at(0));
        assert_eq!(evaluate(&m, &a, at(1)).cause, Cause::AccountQuotaExceeded);

        // Both rate limited: the later end wins.
        let (m, mut a) = used(LimitKind::RequestsPerMinute, 1.0, 0);
        a.observe(upstream_rate_limited(5), at(0));
        let e = evaluate(&m, &a, at(1));
        assert_eq!(e.cause, limit_reached(LimitKind::RequestsPerMinute));
        assert_eq!(e.retry_after_secs, Some(59));
        a.observe(upstream_rate_limited(120), at(1));
        let e = evaluate(&m, &a, at(1));
        assert_eq!(e.cause, Cause::UpstreamRateLimited);
        assert_eq!(e.retry_after_secs, Some(120));
    }

    #[test]
    fn degraded_outranks_a_warning_and_yields_to_a_rate_limit() {
        let (mut m, mut a) = used(LimitKind::TokensPerMinute, 100.0, 90);
        assert_eq!(evaluate(&m, &a, at(0)).status, Status::Warning);
        for s in 0..3 {
            a.observe(UpstreamObservation::Failure, at(s));
        }
        assert_eq!(evaluate(&m, &a, at(3)).status, Status::Degraded);
        use_tokens(&mut m, 10, at(4));
        let e = evaluate(&m, &a, at(4));
        assert_eq!(e.status, Status::RateLimited);
        assert_eq!(e.retry_after_secs, Some(56));
        // The minute passes: degraded again, then normal after two successes... and the warning
        // is gone with the window.
        assert_eq!(evaluate(&m, &a, at(64)).status, Status::Degraded);
        a.observe(UpstreamObservation::Success { headroom: None }, at(65));
        a.observe(UpstreamObservation::Success { headroom: None }, at(66));
        assert_eq!(evaluate(&m, &a, at(66)), Evaluation::normal());
    }

    #[test]
    fn warnings_pick_the_higher_pressure_and_use_the_workspace_threshold() {
        let mut m = meter(Limits {
            warning_at: 0.8,
            ..limits(&[(LimitKind::TokensPerDay, 100.0)])
        });
        use_tokens(&mut m, 85, at(0));
        let mut a = account();
        let h = UpstreamHeadroom {
            limit_requests: Some(100),
            remaining_requests: Some(10),
            reset_requests_ms: Some(30_000),
            limit_tokens: None,
            remaining_tokens: None,
            reset_tokens_ms: None,
            observed_at: at(0),
        };
        a.observe(UpstreamObservation::Success { headroom: Some(h) }, at(0));
        // Upstream 90% used vs workspace 85%.
        assert_eq!(
            evaluate(&m, &a, at(1)).cause,
            Cause::UpstreamHeadroomLow {
                resource: Resource::Requests,
                ratio: 0.1
            }
        );
        use_tokens(&mut m, 10, at(1));
        assert_eq!(
            evaluate(&m, &a, at(1)).cause,
            near_limit(LimitKind::TokensPerDay, 0.95)
        );
        // The headroom warning follows the workspace's warning_at.
        let m = meter(Limits {
            warning_at: 0.95,
            ..Limits::default()
        });
        assert_eq!(evaluate(&m, &a, at(1)).status, Status::Normal);
    }
}
