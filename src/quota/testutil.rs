//! Helpers of the quota core's tests: instants, limits, demands and actual usage, meters and
//! whole calls, so that each test spells only what it is about.

use chrono::{DateTime, Utc};

use super::window::add_secs;
use super::{Actual, Demand, Refusal, Reservation, WorkspaceMeter};
use crate::types::{Cause, LimitKind, Limits};

/// The instant tests start from unless the calendar matters: a Friday noon, UTC.
pub(crate) const T0: &str = "2024-05-10T12:00:00Z";

/// An RFC 3339 instant.
pub(crate) fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("bad date {s}: {e}"))
        .with_timezone(&Utc)
}

/// `s` seconds after [`T0`].
pub(crate) fn at(s: u64) -> DateTime<Utc> {
    add_secs(utc(T0), s)
}

/// The default limits (no limit, warned at 0.8) but for `caps`: counts as whole numbers,
/// budgets in USD.
pub(crate) fn limits(caps: &[(LimitKind, f64)]) -> Limits {
    let mut l = Limits::default();
    for &(kind, cap) in caps {
        let count = Some(cap as u64);
        match kind {
            LimitKind::RequestsPerMinute => l.requests_per_minute = count,
            LimitKind::RequestsPerDay => l.requests_per_day = count,
            LimitKind::TokensPerMinute => l.tokens_per_minute = count,
            LimitKind::TokensPerDay => l.tokens_per_day = count,
            LimitKind::BudgetUsdPerDay => l.budget_usd_per_day = Some(cap),
            LimitKind::BudgetUsdPerMonth => l.budget_usd_per_month = Some(cap),
        }
    }
    l
}

/// A meter with `limits`, its days and months in UTC.
pub(crate) fn meter(limits: Limits) -> WorkspaceMeter {
    WorkspaceMeter::new(limits, chrono_tz::UTC)
}

/// A call's worst case.
pub(crate) fn demand(tokens: u64, cost_nanos: u64) -> Demand {
    Demand { tokens, cost_nanos }
}

/// A priced call's actual usage.
pub(crate) fn actual(tokens: u64, cost_nanos: u64) -> Actual {
    Actual {
        tokens,
        cost_nanos: Some(cost_nanos),
    }
}

/// An unpriced call's actual usage (its cost counts 0).
pub(crate) fn unpriced(tokens: u64) -> Actual {
    Actual {
        tokens,
        cost_nanos: None,
    }
}

/// Admits `d` at `now`; a refusal fails the test.
pub(crate) fn admitted(m: &mut WorkspaceMeter, d: Demand, now: DateTime<Utc>) -> Reservation {
    m.admit(d, now)
        .unwrap_or_else(|r| panic!("refused at {now}: {r:?}"))
}

/// Refuses `d` at `now`; an admission fails the test.
pub(crate) fn refused(m: &mut WorkspaceMeter, d: Demand, now: DateTime<Utc>) -> Refusal {
    match m.admit(d, now) {
        Ok(r) => panic!("admitted at {now}: {r:?}"),
        Err(r) => r,
    }
}

/// A whole call at `now`: `d` admitted, then settled with `a`.
pub(crate) fn call(m: &mut WorkspaceMeter, d: Demand, a: Actual, now: DateTime<Utc>) {
    let r = admitted(m, d, now);
    m.settle(r, a, now);
}

/// The cause of a reached workspace limit.
pub(crate) fn limit_reached(limit: LimitKind) -> Cause {
    Cause::WorkspaceLimit { limit }
}

/// The cause of a workspace limit used to `ratio`, at or past its warning threshold.
pub(crate) fn near_limit(limit: LimitKind, ratio: f64) -> Cause {
    Cause::NearLimit { limit, ratio }
}
