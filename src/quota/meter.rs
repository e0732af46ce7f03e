//! One workspace's meter: its counters (sliding minute window, local day, local month), the
//! reservations of calls in flight, and the workspace's own refusal state.
//!
//! Owns: admission against every [`LimitKind`], reservations and their settlement, restoring usage
//! from the ledger, the workspace's side of the status (limit reached, refusal remembered, near
//! a limit). Must not: read the clock (`now` is a parameter), do IO, allocate on the hot path
//! (`admit` / `settle`; the minute window's buckets are allocated once, by a workspace's first
//! call), know about the upstream account, or format text.
//!
//! Money is counted in integer nano-dollars (1e-9 USD); dollars appear only in [`Usage`],
//! [`Refusal`] and [`Limits`].

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use super::window::{add_secs, fits, secs_until, Calendar, Counter, MinuteWindow};
use super::Evaluation;
use crate::types::{Cause, LimitKind, Limits, Priority, Status, Usage};

/// Nano-dollars in one US dollar.
pub const NANOS_PER_USD: f64 = 1e9;

/// USD → nano-dollars, rounded; negative or NaN gives 0, huge values saturate.
pub fn usd_to_nanos(usd: f64) -> u64 {
    if usd.is_nan() || usd <= 0.0 {
        return 0;
    }
    // `as` saturates for values beyond u64::MAX (and +inf).
    (usd * NANOS_PER_USD).round() as u64
}

/// Nano-dollars → USD.
pub fn nanos_to_usd(nanos: u64) -> f64 {
    nanos as f64 / NANOS_PER_USD
}

/// The worst case of one call (one request is implied).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Demand {
    pub tokens: u64,
    pub cost_nanos: u64,
}

/// What one call actually used. `cost_nanos: None` means unpriced: it counts 0 cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Actual {
    pub tokens: u64,
    pub cost_nanos: Option<u64>,
}

/// What `admit` reserved, and when and where it was counted, so that `settle` takes back
/// exactly that. Opaque; hand it to [`WorkspaceMeter::settle`] when the call ends.
#[must_use = "a reservation must be settled, or it keeps counting until its window and period pass"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation {
    second: i64,
    /// The day and month counters it was counted in (see `DayCounters::epoch`).
    day_epoch: u64,
    month_epoch: u64,
    tokens: u64,
    cost_nanos: u64,
    generation: u64,
}

/// A workspace's counters as instances share them (through Redis, see `crate::state`): the
/// minute window's live seconds and the current day's and month's totals, reservations in
/// flight included (`held_*` says how much of them reservations hold). In the core's units.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SharedCounters {
    /// Grows with every change of the shared copy: an older copy is never mirrored over a newer.
    pub version: u64,
    /// `(second, requests, tokens)` of the seconds in the minute window that counted something.
    pub minute: Vec<(i64, u64, u64)>,
    /// The day period counted ([`WorkspaceMeter::periods`]).
    pub day: i64,
    pub day_requests: u64,
    pub day_tokens: u64,
    pub day_cost_nanos: u64,
    pub day_held_tokens: u64,
    pub day_held_cost_nanos: u64,
    /// The month period counted ([`WorkspaceMeter::periods`]).
    pub month: i64,
    pub month_cost_nanos: u64,
    pub month_held_cost_nanos: u64,
}

/// Why a call was refused. `used` and `limit_value` are in the limit's unit (USD for budgets);
/// `used` includes the reservations in flight, not the refused demand.
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    pub limit: LimitKind,
    /// Set when the call's priority class was refused at its share of the limit (`share`)
    /// while calls of a higher class are still admitted; `None` when the limit itself is
    /// reached.
    pub priority: Option<(Priority, f64)>,
    /// At least 1.
    pub retry_after_secs: u64,
    pub used: f64,
    pub limit_value: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DayCounters {
    /// The period day counted (see [`Calendar::day`]).
    day: NaiveDate,
    /// Which counters these are: a new number for each new period, kept when a changed
    /// schedule renames the current period, so that a reservation takes back from the counters
    /// it was counted in, and from no others.
    epoch: u64,
    requests: u64,
    tokens: u64,
    cost_nanos: u64,
    /// The part of `tokens` and `cost_nanos` that reservations in flight hold.
    held_tokens: u64,
    held_cost_nanos: u64,
}

impl DayCounters {
    fn new(day: NaiveDate, epoch: u64) -> Self {
        DayCounters {
            day,
            epoch,
            requests: 0,
            tokens: 0,
            cost_nanos: 0,
            held_tokens: 0,
            held_cost_nanos: 0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct MonthCounters {
    month: i32,
    /// See `DayCounters::epoch`.
    epoch: u64,
    cost_nanos: u64,
    /// The part of `cost_nanos` that reservations in flight hold.
    held_cost_nanos: u64,
}

impl MonthCounters {
    fn new(month: i32, epoch: u64) -> Self {
        MonthCounters {
            month,
            epoch,
            cost_nanos: 0,
            held_cost_nanos: 0,
        }
    }
}

/// A refusal, remembered until its retry time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Remembered {
    limit: LimitKind,
    until: DateTime<Utc>,
}

/// One value per limit kind, indexed by `LimitKind as usize`.
type PerKind<T> = [T; LimitKind::COUNT];

/// The caps of the limits in the core's integer units.
type Caps = PerKind<Option<u64>>;

fn caps_of(l: &Limits) -> Caps {
    let mut c: Caps = [None; LimitKind::COUNT];
    c[LimitKind::RequestsPerMinute as usize] = l.requests_per_minute;
    c[LimitKind::RequestsPerDay as usize] = l.requests_per_day;
    c[LimitKind::TokensPerMinute as usize] = l.tokens_per_minute;
    c[LimitKind::TokensPerDay as usize] = l.tokens_per_day;
    c[LimitKind::BudgetUsdPerDay as usize] = l.budget_usd_per_day.map(usd_to_nanos);
    c[LimitKind::BudgetUsdPerMonth as usize] = l.budget_usd_per_month.map(usd_to_nanos);
    c
}

fn soft_of(l: &Limits) -> PerKind<bool> {
    let mut soft = [false; LimitKind::COUNT];
    for kind in LimitKind::ALL {
        soft[kind as usize] = l.is_soft(kind);
    }
    soft
}

/// The calendar of `limits`' schedule in `tz`.
fn calendar_of(l: &Limits, tz: Tz) -> Calendar {
    Calendar::new(tz, l.day_starts_at_secs(), l.month_starts_on())
}

fn is_budget(kind: LimitKind) -> bool {
    matches!(
        kind,
        LimitKind::BudgetUsdPerDay | LimitKind::BudgetUsdPerMonth
    )
}

/// A workspace's counters and its own refusal state.
#[derive(Clone, Debug)]
pub struct WorkspaceMeter {
    /// Shared with the meters of other workspaces that have the same limits (one copy for
    /// many workspaces on the defaults).
    limits: Arc<Limits>,
    caps: Caps,
    /// Limits that only warn (`soft_limits`): never refused, never a refusal status.
    soft: PerKind<bool>,
    /// When days and months begin (the limits' `reset_daily_at` / `reset_monthly_on`).
    cal: Calendar,
    /// The last period epoch handed out.
    epochs: u64,
    window: MinuteWindow,
    day: DayCounters,
    month: MonthCounters,
    refused_minute: Option<Remembered>,
    refused_period: Option<Remembered>,
    /// Bumped by `reset`: reservations made before it take nothing back.
    generation: u64,
    /// The version of the last [`SharedCounters`] mirrored (0: none).
    shared_version: u64,
}

impl WorkspaceMeter {
    /// Whether the minute window's buckets are allocated (a call was counted).
    pub fn window_allocated(&self) -> bool {
        self.window.is_allocated()
    }

    /// A meter with empty counters; day and month counters start on first use. Its periods
    /// are in `tz`, on the limits' schedule. Limits given as an `Arc` may be shared with other
    /// meters (many workspaces have the same limits).
    pub fn new(limits: impl Into<Arc<Limits>>, tz: Tz) -> Self {
        let limits = limits.into();
        WorkspaceMeter {
            caps: caps_of(&limits),
            soft: soft_of(&limits),
            cal: calendar_of(&limits, tz),
            limits,
            epochs: 0,
            window: MinuteWindow::new(),
            day: DayCounters::new(NaiveDate::MIN, 0),
            month: MonthCounters::new(i32::MIN, 0),
            refused_minute: None,
            refused_period: None,
            generation: 0,
            shared_version: 0,
        }
    }

    /// The workspace's limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The time zone of the day and month periods.
    pub fn time_zone(&self) -> Tz {
        self.cal.tz
    }

    /// When the day and month periods begin.
    pub fn calendar(&self) -> &Calendar {
        &self.cal
    }

    /// Replaces the limits. Counters are kept; remembered refusals are forgotten when the limits
    /// actually change (they were judged against the old limits). A changed schedule
    /// (`reset_daily_at`, `reset_monthly_on`) takes effect at its next period start: what the
    /// current day and month counted so far stays counted until then.
    pub fn set_limits(&mut self, limits: impl Into<Arc<Limits>>, now: DateTime<Utc>) {
        let limits = limits.into();
        if *limits != *self.limits {
            self.refused_minute = None;
            self.refused_period = None;
        }
        let cal = calendar_of(&limits, self.cal.tz);
        if cal != self.cal {
            self.roll(now);
            self.cal = cal;
            let today = cal.day(now);
            self.day.day = today;
            self.month.month = cal.month(today);
        }
        self.caps = caps_of(&limits);
        self.soft = soft_of(&limits);
        self.limits = limits;
    }

    /// Starts new day / month counters when the period day has moved forward.
    fn roll(&mut self, now: DateTime<Utc>) {
        let today = self.cal.day(now);
        if today > self.day.day {
            self.epochs = self.epochs.wrapping_add(1);
            self.day = DayCounters::new(today, self.epochs);
        }
        let month = self.cal.month(today);
        if month > self.month.month {
            self.epochs = self.epochs.wrapping_add(1);
            self.month = MonthCounters::new(month, self.epochs);
        }
    }

    /// Usage per limit kind at `now` (reservations included), in the core's integer units,
    /// indexed by `LimitKind as usize`. Does not mutate: periods that ended read as zero.
    fn snapshot(&self, now: DateTime<Utc>) -> PerKind<u64> {
        self.totals(now, false)
    }

    /// Usage per limit kind at `now` in the core's integer units, indexed by `LimitKind as
    /// usize`, without what reservations in flight hold in the day and month periods (minute
    /// windows include them): what calls have actually used. Alerts read this, so that a
    /// burst of worst-case reservations does not cross a threshold the calls never reach.
    pub fn settled(&self, now: DateTime<Utc>) -> PerKind<u64> {
        self.totals(now, true)
    }

    fn totals(&self, now: DateTime<Utc>, without_held: bool) -> PerKind<u64> {
        let sec = now.timestamp();
        let today = self.cal.day(now);
        let day = if today > self.day.day {
            None
        } else {
            Some(&self.day)
        };
        let month = if self.cal.month(today) > self.month.month {
            0
        } else if without_held {
            self.month
                .cost_nanos
                .saturating_sub(self.month.held_cost_nanos)
        } else {
            self.month.cost_nanos
        };
        let (held_tokens, held_cost) = match day {
            Some(d) if without_held => (d.held_tokens, d.held_cost_nanos),
            _ => (0, 0),
        };
        let mut u = [0u64; LimitKind::COUNT];
        u[LimitKind::RequestsPerMinute as usize] = self.window.total(sec, Counter::Requests);
        u[LimitKind::TokensPerMinute as usize] = self.window.total(sec, Counter::Tokens);
        u[LimitKind::RequestsPerDay as usize] = day.map_or(0, |d| d.requests);
        u[LimitKind::TokensPerDay as usize] =
            day.map_or(0, |d| d.tokens.saturating_sub(held_tokens));
        u[LimitKind::BudgetUsdPerDay as usize] =
            day.map_or(0, |d| d.cost_nanos.saturating_sub(held_cost));
        u[LimitKind::BudgetUsdPerMonth as usize] = month;
        u
    }

    /// The cap of `kind` in the core's integer units (nano-dollars for budgets).
    pub fn cap(&self, kind: LimitKind) -> Option<u64> {
        self.caps[kind as usize]
    }

    /// The current period of a day or month limit at `now`, as a number that grows with each
    /// new period (days or months since the common era); 0 for minute limits.
    pub fn period(&self, kind: LimitKind, now: DateTime<Utc>) -> i64 {
        let today = self.cal.day(now);
        match kind {
            LimitKind::RequestsPerMinute | LimitKind::TokensPerMinute => 0,
            LimitKind::RequestsPerDay | LimitKind::TokensPerDay | LimitKind::BudgetUsdPerDay => {
                i64::from(chrono::Datelike::num_days_from_ce(&today))
            }
            LimitKind::BudgetUsdPerMonth => i64::from(self.cal.month(today)),
        }
    }

    /// [`WorkspaceMeter::period`] of the day limits and of the month limit at `now`, from one
    /// time-zone conversion.
    pub fn periods(&self, now: DateTime<Utc>) -> (i64, i64) {
        let today = self.cal.day(now);
        (
            i64::from(chrono::Datelike::num_days_from_ce(&today)),
            i64::from(self.cal.month(today)),
        )
    }

    /// When the period of a day or month limit that holds `now` ends (minute limits: in a
    /// minute).
    pub fn resets_at(&self, kind: LimitKind, now: DateTime<Utc>) -> DateTime<Utc> {
        match kind {
            LimitKind::RequestsPerMinute | LimitKind::TokensPerMinute => add_secs(now, 60),
            LimitKind::RequestsPerDay | LimitKind::TokensPerDay | LimitKind::BudgetUsdPerDay => {
                self.cal.next_day_start(now)
            }
            LimitKind::BudgetUsdPerMonth => self.cal.next_month_start(now),
        }
    }

    /// A count in the limit's unit (USD for budgets).
    pub(super) fn value(kind: LimitKind, v: u64) -> f64 {
        if is_budget(kind) {
            nanos_to_usd(v)
        } else {
            v as f64
        }
    }

    /// Seconds until `demand` fits under `kind`'s limit of `cap` (at least 1).
    fn retry_after(&self, kind: LimitKind, demand: u64, cap: u64, now: DateTime<Utc>) -> u64 {
        let sec = now.timestamp();
        match kind {
            LimitKind::RequestsPerMinute => {
                self.window
                    .secs_until_fits(sec, Counter::Requests, demand, cap)
            }
            LimitKind::TokensPerMinute => {
                self.window
                    .secs_until_fits(sec, Counter::Tokens, demand, cap)
            }
            LimitKind::RequestsPerDay | LimitKind::TokensPerDay | LimitKind::BudgetUsdPerDay => {
                self.cal.secs_until_next_day(now)
            }
            LimitKind::BudgetUsdPerMonth => self.cal.secs_until_next_month(now),
        }
    }

    /// Remembers a refusal until its limit frees: `retry_after_secs` whole seconds counted from
    /// the start of the second `now` is in, as windows and periods free on whole seconds. (Counted
    /// from `now` itself it would outlast the limit by up to a second, and a client counting down
    /// the exact wait would retry into a refusal.)
    fn remember(&mut self, kind: LimitKind, retry_after_secs: u64, now: DateTime<Utc>) {
        let second = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
        let r = Remembered {
            limit: kind,
            until: add_secs(second, retry_after_secs),
        };
        let slot = if kind.is_per_minute() {
            &mut self.refused_minute
        } else {
            &mut self.refused_period
        };
        match slot {
            Some(old) if old.until > now && old.until >= r.until => {}
            _ => *slot = Some(r),
        }
    }

    /// The refusal of a call of class `priority` by its share of a limit, if any: the limit
    /// with the longest retry among those whose share `used + demand` would pass.
    fn shed(
        &self,
        priority: Option<Priority>,
        used: &PerKind<u64>,
        demand: &PerKind<u64>,
        now: DateTime<Utc>,
    ) -> Option<Refusal> {
        let class = priority?;
        let share = self.limits.share_of(priority);
        if share >= 1.0 {
            return None;
        }
        let mut worst: Option<Refusal> = None;
        for kind in LimitKind::ALL {
            let i = kind as usize;
            let Some(cap) = self.caps[i] else { continue };
            if self.soft[i] {
                continue;
            }
            // The class's part of the limit, rounded down: 0.8 of 5 requests admits 4.
            let part = (cap as f64 * share).floor() as u64;
            if fits(used[i], demand[i], part) {
                continue;
            }
            let retry = self.retry_after(kind, demand[i], part, now);
            if worst.as_ref().is_none_or(|w| retry > w.retry_after_secs) {
                worst = Some(Refusal {
                    limit: kind,
                    priority: Some((class, share)),
                    retry_after_secs: retry,
                    used: Self::value(kind, used[i]),
                    limit_value: self
                        .limits
                        .get(kind)
                        .unwrap_or_else(|| Self::value(kind, cap)),
                });
            }
        }
        worst
    }

    /// Seconds until a call of class `priority` (with no tokens or cost of its own) fits its
    /// class's share of every limit again, or `None` when it fits now. The share alone: whether
    /// the workspace itself is limited is [`WorkspaceMeter::evaluate`]'s. Does not mutate.
    pub fn shed_for(&self, priority: Option<Priority>, now: DateTime<Utc>) -> Option<u64> {
        let mut demand = [0u64; LimitKind::COUNT];
        demand[LimitKind::RequestsPerMinute as usize] = 1;
        demand[LimitKind::RequestsPerDay as usize] = 1;
        self.shed(priority, &self.snapshot(now), &demand, now)
            .map(|r| r.retry_after_secs)
    }

    /// Checks every set limit against used + in flight + `d`. On success the demand is counted
    /// as a reservation; on refusal, the limit with the longest retry time is named, and every
    /// refusing limit is remembered until its retry time.
    pub fn admit(&mut self, d: Demand, now: DateTime<Utc>) -> Result<Reservation, Refusal> {
        self.admit_as(d, None, now)
    }

    /// [`WorkspaceMeter::admit`] for a call of class `priority`: below the whole limit, a class
    /// with a share below 1 ([`Limits::share_of`]) is refused once used + in flight + `d`
    /// passes that share of any (hard) limit. Such a refusal names the class and is not
    /// remembered: the workspace is not limited, only that class is shed.
    pub fn admit_as(
        &mut self,
        d: Demand,
        priority: Option<Priority>,
        now: DateTime<Utc>,
    ) -> Result<Reservation, Refusal> {
        self.roll(now);
        let used = self.snapshot(now);
        let mut demand = [0u64; LimitKind::COUNT];
        demand[LimitKind::RequestsPerMinute as usize] = 1;
        demand[LimitKind::RequestsPerDay as usize] = 1;
        demand[LimitKind::TokensPerMinute as usize] = d.tokens;
        demand[LimitKind::TokensPerDay as usize] = d.tokens;
        demand[LimitKind::BudgetUsdPerDay as usize] = d.cost_nanos;
        demand[LimitKind::BudgetUsdPerMonth as usize] = d.cost_nanos;

        let mut worst: Option<Refusal> = None;
        for kind in LimitKind::ALL {
            let i = kind as usize;
            let Some(cap) = self.caps[i] else { continue };
            if self.soft[i] || fits(used[i], demand[i], cap) {
                continue;
            }
            let retry = self.retry_after(kind, demand[i], cap, now);
            self.remember(kind, retry, now);
            if worst.as_ref().is_none_or(|w| retry > w.retry_after_secs) {
                worst = Some(Refusal {
                    limit: kind,
                    priority: None,
                    retry_after_secs: retry,
                    used: Self::value(kind, used[i]),
                    limit_value: self
                        .limits
                        .get(kind)
                        .unwrap_or_else(|| Self::value(kind, cap)),
                });
            }
        }
        if let Some(r) = worst {
            return Err(r);
        }
        if let Some(r) = self.shed(priority, &used, &demand, now) {
            return Err(r);
        }
        Ok(self.hold(d, now))
    }

    /// Counts `d` as a reservation at `now`, unchecked.
    fn hold(&mut self, d: Demand, now: DateTime<Utc>) -> Reservation {
        let second = self.window.effective(now.timestamp());
        self.window.add(second, 1, d.tokens);
        self.day.requests = self.day.requests.saturating_add(1);
        self.day.tokens = self.day.tokens.saturating_add(d.tokens);
        self.day.cost_nanos = self.day.cost_nanos.saturating_add(d.cost_nanos);
        self.day.held_tokens = self.day.held_tokens.saturating_add(d.tokens);
        self.day.held_cost_nanos = self.day.held_cost_nanos.saturating_add(d.cost_nanos);
        self.month.cost_nanos = self.month.cost_nanos.saturating_add(d.cost_nanos);
        self.month.held_cost_nanos = self.month.held_cost_nanos.saturating_add(d.cost_nanos);
        Reservation {
            second,
            day_epoch: self.day.epoch,
            month_epoch: self.month.epoch,
            tokens: d.tokens,
            cost_nanos: d.cost_nanos,
            generation: self.generation,
        }
    }

    /// The caps a shared admission checks for a call of class `priority`, indexed by
    /// `LimitKind as usize`: each hard limit's cap, or its class's share of it when that is
    /// smaller ([`WorkspaceMeter::admit_as`] checks the same); `None` for no limit or a soft one.
    pub fn shared_caps(&self, priority: Option<Priority>) -> PerKind<Option<u64>> {
        let share = self.limits.share_of(priority);
        let mut caps = [None; LimitKind::COUNT];
        for kind in LimitKind::ALL {
            let i = kind as usize;
            if self.soft[i] {
                continue;
            }
            caps[i] = self.caps[i].map(|cap| {
                if share < 1.0 {
                    cap.min((cap as f64 * share).floor() as u64)
                } else {
                    cap
                }
            });
        }
        caps
    }

    /// Whether a USD budget is set (a shared admission cannot fall back to this instance's own
    /// counters for it without risking overspend).
    pub fn has_budget(&self) -> bool {
        self.caps[LimitKind::BudgetUsdPerDay as usize].is_some()
            || self.caps[LimitKind::BudgetUsdPerMonth as usize].is_some()
    }

    /// This meter's counters at `now` as [`SharedCounters`] (version 0): what a cold shared copy
    /// is seeded with after the meter was rebuilt from the ledger.
    pub fn export(&self, now: DateTime<Utc>) -> SharedCounters {
        let (day, month) = self.periods(now);
        let today = self.cal.day(now);
        let d = (today == self.day.day).then_some(&self.day);
        let m = (self.cal.month(today) == self.month.month).then_some(&self.month);
        SharedCounters {
            version: 0,
            minute: self.window.live_buckets(now.timestamp()).collect(),
            day,
            day_requests: d.map_or(0, |d| d.requests),
            day_tokens: d.map_or(0, |d| d.tokens),
            day_cost_nanos: d.map_or(0, |d| d.cost_nanos),
            day_held_tokens: d.map_or(0, |d| d.held_tokens),
            day_held_cost_nanos: d.map_or(0, |d| d.held_cost_nanos),
            month,
            month_cost_nanos: m.map_or(0, |m| m.cost_nanos),
            month_held_cost_nanos: m.map_or(0, |m| m.held_cost_nanos),
        }
    }

    /// Replaces the counters by the shared copy `s`, unless a copy at least as new was mirrored
    /// already (then returns false). Periods other than the current one at `now` count zero
    /// here. Reservations made here keep taking back from the counters of their period.
    pub fn mirror(&mut self, s: &SharedCounters, now: DateTime<Utc>) -> bool {
        if s.version != 0 && s.version <= self.shared_version {
            return false;
        }
        self.shared_version = s.version;
        self.roll(now);
        let (day, month) = self.periods(now);
        self.window.clear();
        for &(second, requests, tokens) in &s.minute {
            self.window.add(second, requests, tokens);
        }
        let same_day = s.day == day;
        self.day.requests = if same_day { s.day_requests } else { 0 };
        self.day.tokens = if same_day { s.day_tokens } else { 0 };
        self.day.cost_nanos = if same_day { s.day_cost_nanos } else { 0 };
        self.day.held_tokens = if same_day { s.day_held_tokens } else { 0 };
        self.day.held_cost_nanos = if same_day { s.day_held_cost_nanos } else { 0 };
        let same_month = s.month == month;
        self.month.cost_nanos = if same_month { s.month_cost_nanos } else { 0 };
        self.month.held_cost_nanos = if same_month {
            s.month_held_cost_nanos
        } else {
            0
        };
        true
    }

    /// A shared admission's outcome made local: mirrors `s` (the shared counters just before
    /// the call, at `version`), then, when the shared copy `reserved` the call, counts its
    /// reservation here too; else refuses it as [`WorkspaceMeter::admit_as`] does (remembering
    /// the refusal), naming `refused` (the limit the shared copy refused at) should this
    /// instance's arithmetic disagree.
    pub fn admit_shared(
        &mut self,
        d: Demand,
        priority: Option<Priority>,
        s: &SharedCounters,
        reserved: bool,
        refused: Option<LimitKind>,
        now: DateTime<Utc>,
    ) -> Result<Reservation, Refusal> {
        self.mirror(s, now);
        if reserved {
            return Ok(self.hold(d, now));
        }
        match self.admit_as(d, priority, now) {
            Err(r) => Err(r),
            Ok(r) => {
                // The shared copy refused what the mirror admits (limits edited meanwhile):
                // the shared copy decides.
                self.settle(r, Actual::default(), now);
                self.day.requests = self.day.requests.saturating_sub(1);
                self.window.remove(r.second, 1, 0);
                let kind = refused.unwrap_or(LimitKind::RequestsPerMinute);
                let used = self.snapshot(now)[kind as usize];
                let cap = self.caps[kind as usize].unwrap_or(used);
                let retry = self.retry_after(kind, 1, cap, now).max(1);
                self.remember(kind, retry, now);
                Err(Refusal {
                    limit: kind,
                    priority: None,
                    retry_after_secs: retry,
                    used: Self::value(kind, used),
                    limit_value: self
                        .limits
                        .get(kind)
                        .unwrap_or_else(|| Self::value(kind, cap)),
                })
            }
        }
    }

    /// Ends a call: takes back what was reserved (from the second / day / month it was counted
    /// in, if still current and not reset since) and counts the actual at `now`. The request
    /// stays counted where it was admitted.
    pub fn settle(&mut self, r: Reservation, a: Actual, now: DateTime<Utc>) {
        self.roll(now);
        if r.generation == self.generation {
            self.window.remove(r.second, 0, r.tokens);
            if r.day_epoch == self.day.epoch {
                self.day.tokens = self.day.tokens.saturating_sub(r.tokens);
                self.day.cost_nanos = self.day.cost_nanos.saturating_sub(r.cost_nanos);
                self.day.held_tokens = self.day.held_tokens.saturating_sub(r.tokens);
                self.day.held_cost_nanos = self.day.held_cost_nanos.saturating_sub(r.cost_nanos);
            }
            if r.month_epoch == self.month.epoch {
                self.month.cost_nanos = self.month.cost_nanos.saturating_sub(r.cost_nanos);
                self.month.held_cost_nanos =
                    self.month.held_cost_nanos.saturating_sub(r.cost_nanos);
            }
        }
        let cost = a.cost_nanos.unwrap_or(0);
        let second = self.window.effective(now.timestamp());
        self.window.add(second, 0, a.tokens);
        self.day.tokens = self.day.tokens.saturating_add(a.tokens);
        self.day.cost_nanos = self.day.cost_nanos.saturating_add(cost);
        self.month.cost_nanos = self.month.cost_nanos.saturating_add(cost);
    }

    /// Adds historical usage (from the ledger at start-up) that happened at `at`. Each part is
    /// ignored when `at` is outside the current minute window / local day / local month; an
    /// `at` later than `now` (clock skew) counts as `now`.
    pub fn restore(
        &mut self,
        at: DateTime<Utc>,
        requests: u64,
        tokens: u64,
        cost_nanos: u64,
        now: DateTime<Utc>,
    ) {
        self.roll(now);
        let at = at.min(now);
        let eff = self.window.effective(now.timestamp());
        let at_sec = at.timestamp();
        if at_sec <= eff {
            // `add` ignores seconds that already left the window.
            self.window.add(at_sec, requests, tokens);
        }
        let at_day = self.cal.day(at);
        if at_day == self.day.day {
            self.day.requests = self.day.requests.saturating_add(requests);
            self.day.tokens = self.day.tokens.saturating_add(tokens);
            self.day.cost_nanos = self.day.cost_nanos.saturating_add(cost_nanos);
        }
        if self.cal.month(at_day) == self.month.month {
            self.month.cost_nanos = self.month.cost_nanos.saturating_add(cost_nanos);
        }
    }

    /// Sets the day's and the month's cost to totals counted elsewhere (the account-wide
    /// budget: the sum of every workspace's), as settled usage at `now`.
    pub fn set_costs(&mut self, day_nanos: u64, month_nanos: u64, now: DateTime<Utc>) {
        self.roll(now);
        self.day.cost_nanos = day_nanos;
        self.day.held_cost_nanos = 0;
        self.month.cost_nanos = month_nanos;
        self.month.held_cost_nanos = 0;
    }

    /// How far along the USD budgets are at `now` (reservations in flight included): the
    /// greater share of the day's and the month's budget; 0 without budgets.
    pub fn budget_share(&self, now: DateTime<Utc>) -> f64 {
        let used = self.snapshot(now);
        [LimitKind::BudgetUsdPerDay, LimitKind::BudgetUsdPerMonth]
            .into_iter()
            .filter_map(|k| {
                let cap = self.caps[k as usize]?;
                Some(if cap == 0 {
                    1.0
                } else {
                    used[k as usize] as f64 / cap as f64
                })
            })
            .fold(0.0, f64::max)
    }

    /// The downgrade rule for calls of `model` in effect at `now`, if any.
    pub fn downgrade_of(
        &self,
        model: &str,
        now: DateTime<Utc>,
    ) -> Option<&crate::types::DowngradeRule> {
        let rules = self.limits.downgrades();
        let rule = rules.iter().find(|r| r.from == model)?;
        (self.budget_share(now) >= rule.at).then_some(rule)
    }

    /// Every downgrade rule in effect at `now`.
    pub fn downgrades(&self, now: DateTime<Utc>) -> Vec<crate::types::ActiveDowngrade> {
        let rules = self.limits.downgrades();
        if rules.is_empty() {
            return Vec::new();
        }
        let share = self.budget_share(now);
        rules
            .iter()
            .filter(|r| share >= r.at)
            .map(|r| crate::types::ActiveDowngrade {
                from: r.from.clone(),
                to: r.to.clone(),
                at: r.at,
            })
            .collect()
    }

    /// Usage in the current window and periods, reservations in flight included.
    pub fn usage(&self, now: DateTime<Utc>) -> Usage {
        let u = self.snapshot(now);
        Usage {
            requests_minute: u[LimitKind::RequestsPerMinute as usize],
            requests_day: u[LimitKind::RequestsPerDay as usize],
            tokens_minute: u[LimitKind::TokensPerMinute as usize],
            tokens_day: u[LimitKind::TokensPerDay as usize],
            cost_usd_day: nanos_to_usd(u[LimitKind::BudgetUsdPerDay as usize]),
            cost_usd_month: nanos_to_usd(u[LimitKind::BudgetUsdPerMonth as usize]),
        }
    }

    /// Admin reset: every counter and the refusal state are cleared. Reservations still in
    /// flight take nothing back when settled; their actual usage still counts.
    pub fn reset(&mut self, now: DateTime<Utc>) {
        self.roll(now);
        self.window.clear();
        self.day.requests = 0;
        self.day.tokens = 0;
        self.day.cost_nanos = 0;
        self.day.held_tokens = 0;
        self.day.held_cost_nanos = 0;
        self.month.cost_nanos = 0;
        self.month.held_cost_nanos = 0;
        self.refused_minute = None;
        self.refused_period = None;
        self.generation = self.generation.wrapping_add(1);
    }

    /// The workspace's own side of the status at `now`: a remembered refusal or a reached limit
    /// (minute limits → `RateLimited`, others → `QuotaExceeded`, the longest retry among equals),
    /// else the limit nearest to its warning threshold, else `Normal`.
    pub fn evaluate(&self, now: DateTime<Utc>) -> Evaluation {
        let used = self.snapshot(now);
        let mut best: Option<(Status, LimitKind, u64)> = None;
        let mut consider = |status: Status, limit: LimitKind, retry: u64| {
            let better = match best {
                None => true,
                Some((s, _, r)) => status > s || (status == s && retry > r),
            };
            if better {
                best = Some((status, limit, retry));
            }
        };
        let status_of = |k: LimitKind| {
            if k.is_per_minute() {
                Status::RateLimited
            } else {
                Status::QuotaExceeded
            }
        };
        for r in [self.refused_minute, self.refused_period]
            .into_iter()
            .flatten()
        {
            if r.until > now {
                consider(status_of(r.limit), r.limit, secs_until(now, r.until));
            }
        }
        for kind in LimitKind::ALL {
            let i = kind as usize;
            let Some(cap) = self.caps[i] else { continue };
            if used[i] >= cap && !self.soft[i] {
                consider(status_of(kind), kind, self.retry_after(kind, 0, cap, now));
            }
        }
        if let Some((status, limit, retry)) = best {
            return Evaluation {
                status,
                cause: Cause::WorkspaceLimit { limit },
                retry_after_secs: Some(retry),
            };
        }

        let warning_at = self.limits.warning_at;
        let mut near: Option<(LimitKind, f64)> = None;
        if warning_at > 0.0 {
            for kind in LimitKind::ALL {
                let i = kind as usize;
                let Some(cap) = self.caps[i] else { continue };
                if cap == 0 {
                    continue;
                }
                let ratio = used[i] as f64 / cap as f64;
                if ratio >= warning_at && near.is_none_or(|(_, r)| ratio > r) {
                    near = Some((kind, ratio));
                }
            }
        }
        match near {
            Some((limit, ratio)) => Evaluation {
                status: Status::Warning,
                cause: Cause::NearLimit { limit, ratio },
                retry_after_secs: None,
            },
            None => Evaluation::normal(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::testutil::*;

    fn secs(t: DateTime<Utc>, s: u64) -> DateTime<Utc> {
        add_secs(t, s)
    }

    /// A meter with `caps` after one call of nothing at `t`.
    fn after_one_call(caps: &[(LimitKind, f64)], t: DateTime<Utc>) -> WorkspaceMeter {
        let mut m = meter(limits(caps));
        call(&mut m, Demand::default(), Actual::default(), t);
        m
    }

    /// A meter allowing one request a minute and `per_day` a day, after one call at `t`.
    fn one_a_minute_after_one_call(per_day: f64, t: DateTime<Utc>) -> WorkspaceMeter {
        let caps = [
            (LimitKind::RequestsPerMinute, 1.0),
            (LimitKind::RequestsPerDay, per_day),
        ];
        after_one_call(&caps, t)
    }

    /// `m` is normal at `now` and admits `d` then.
    fn assert_open(m: &mut WorkspaceMeter, d: Demand, now: DateTime<Utc>) {
        assert_eq!(m.evaluate(now).status, Status::Normal, "at {now}");
        let _ = admitted(m, d, now);
    }

    #[test]
    fn no_limits_admit_everything_and_count_it() {
        let mut m = meter(Limits::default());
        let t = utc(T0);
        for _ in 0..1000 {
            call(&mut m, demand(1000, 5), actual(10, 2), t);
        }
        let u = m.usage(t);
        assert_eq!(u.requests_minute, 1000);
        assert_eq!(u.requests_day, 1000);
        assert_eq!(u.tokens_minute, 10_000);
        assert_eq!(u.tokens_day, 10_000);
        assert!((u.cost_usd_day - 2000e-9).abs() < 1e-15);
        assert_eq!(m.evaluate(t).status, Status::Normal);
    }

    #[test]
    fn usage_includes_reservations_and_settle_replaces_them() {
        let mut m = meter(Limits::default());
        let t = utc(T0);
        let r = admitted(&mut m, demand(500, 3_000_000), t);
        assert_eq!(r.tokens, 500);
        assert_eq!(r.cost_nanos, 3_000_000);
        let u = m.usage(t);
        assert_eq!(
            (u.requests_minute, u.tokens_minute, u.tokens_day),
            (1, 500, 500)
        );
        assert!((u.cost_usd_day - 0.003).abs() < 1e-12);
        assert!((u.cost_usd_month - 0.003).abs() < 1e-12);

        m.settle(r, actual(120, 1_000_000), secs(t, 2));
        let u = m.usage(secs(t, 2));
        assert_eq!((u.requests_minute, u.requests_day), (1, 1));
        assert_eq!((u.tokens_minute, u.tokens_day), (120, 120));
        assert!((u.cost_usd_day - 0.001).abs() < 1e-12);
        assert!((u.cost_usd_month - 0.001).abs() < 1e-12);
    }

    #[test]
    fn an_unpriced_call_counts_no_cost() {
        let mut m = meter(Limits::default());
        let t = utc(T0);
        call(&mut m, demand(10, 7), unpriced(9), t);
        let u = m.usage(t);
        assert_eq!(u.cost_usd_day, 0.0);
        assert_eq!(u.cost_usd_month, 0.0);
        assert_eq!(u.tokens_day, 9);
    }

    #[test]
    fn requests_per_minute_slide() {
        let mut m = meter(limits(&[(LimitKind::RequestsPerMinute, 2.0)]));
        let t = utc(T0);
        let a = admitted(&mut m, Demand::default(), t);
        let b = admitted(&mut m, Demand::default(), secs(t, 30));
        m.settle(a, Actual::default(), secs(t, 1));
        m.settle(b, Actual::default(), secs(t, 31));
        // Settling does not give the request back.
        let r = refused(&mut m, Demand::default(), secs(t, 59));
        assert_eq!(r.limit, LimitKind::RequestsPerMinute);
        assert_eq!(r.retry_after_secs, 1);
        assert_eq!(r.used, 2.0);
        assert_eq!(r.limit_value, 2.0);
        // At t+60 the first request left the window.
        call(&mut m, Demand::default(), Actual::default(), secs(t, 60));
        let r = refused(&mut m, Demand::default(), secs(t, 61));
        assert_eq!(r.retry_after_secs, 29);
        let _ = admitted(&mut m, Demand::default(), secs(t, 90));
    }

    #[test]
    fn tokens_per_minute_retry_after_counts_what_must_expire() {
        let mut m = meter(limits(&[(LimitKind::TokensPerMinute, 1000.0)]));
        let t = utc(T0);
        call(&mut m, demand(400, 0), actual(400, 0), t);
        call(&mut m, demand(400, 0), actual(400, 0), secs(t, 20));
        // 800 used; 300 more needs the first 400 gone (at t+60): from t+40, 20 s.
        let r = refused(&mut m, demand(300, 0), secs(t, 40));
        assert_eq!(r.limit, LimitKind::TokensPerMinute);
        assert_eq!(r.retry_after_secs, 20);
        assert_eq!(r.used, 800.0);
        // 200 fits now.
        call(&mut m, demand(200, 0), actual(200, 0), secs(t, 40));
        // A demand larger than the limit: 60.
        let r = refused(&mut m, demand(1001, 0), secs(t, 41));
        assert_eq!(r.retry_after_secs, 60);
        // After the retry, the 300 fits.
        let _ = admitted(&mut m, demand(300, 0), secs(t, 60));
    }

    #[test]
    fn concurrent_reservations_cannot_overshoot() {
        let mut m = meter(limits(&[
            (LimitKind::TokensPerDay, 1000.0),
            (LimitKind::BudgetUsdPerDay, 1.0),
        ]));
        let t = utc(T0);
        let d = demand(300, 100_000_000);
        let r1 = admitted(&mut m, d, t);
        let r2 = admitted(&mut m, d, t);
        let r3 = admitted(&mut m, d, t);
        let r = refused(&mut m, d, t);
        assert_eq!(r.limit, LimitKind::TokensPerDay);
        assert_eq!(r.used, 900.0);
        assert_eq!(r.limit_value, 1000.0);
        // 100 tokens still fit alongside the three in flight.
        let r4 = admitted(&mut m, demand(100, 0), t);
        assert_eq!(m.usage(t).tokens_day, 1000);
        // Nothing at all fits now, not even a zero-token call: the limit is reached.
        let _ = refused(&mut m, Demand::default(), t);
        // The first call used less than reserved: room comes back.
        m.settle(r1, actual(50, 1), secs(t, 5));
        assert_eq!(m.usage(secs(t, 5)).tokens_day, 750);
        let r5 = admitted(&mut m, demand(250, 0), secs(t, 5));
        for r in [r2, r3, r4, r5] {
            m.settle(r, actual(0, 0), secs(t, 6));
        }
        assert_eq!(m.usage(secs(t, 6)).tokens_day, 50);
    }

    #[test]
    fn budgets_use_nano_dollars_and_report_dollars() {
        let mut m = meter(limits(&[(LimitKind::BudgetUsdPerDay, 0.5)]));
        let t = utc(T0);
        call(&mut m, demand(0, 400_000_000), actual(0, 400_000_000), t);
        let r = refused(&mut m, demand(0, 100_000_001), t);
        assert_eq!(r.limit, LimitKind::BudgetUsdPerDay);
        assert!((r.used - 0.4).abs() < 1e-12);
        assert_eq!(r.limit_value, 0.5);
        assert_eq!(r.retry_after_secs, 12 * 3600);
        let _ = admitted(&mut m, demand(0, 100_000_000), t);
        assert_eq!(usd_to_nanos(0.5), 500_000_000);
        assert_eq!(usd_to_nanos(-1.0), 0);
        assert_eq!(usd_to_nanos(f64::NAN), 0);
        assert_eq!(usd_to_nanos(f64::INFINITY), u64::MAX);
    }

    #[test]
    fn a_refusal_is_remembered_until_the_whole_second_its_limit_frees() {
        let t = utc(T0);
        let mut m = after_one_call(&[(LimitKind::RequestsPerMinute, 1.0)], t);
        // Refused 10.7 s later: the call of second 0 leaves the window at second 60.
        let at = t + chrono::TimeDelta::milliseconds(10_700);
        assert_eq!(refused(&mut m, Demand::default(), at).retry_after_secs, 50);
        let just_before = t + chrono::TimeDelta::milliseconds(59_999);
        assert_eq!(m.evaluate(just_before).status, Status::RateLimited);
        assert_eq!(m.evaluate(just_before).retry_after_secs, Some(1));
        // At second 60 the window has freed and the refusal is over with it, not 0.7 s later.
        assert_open(&mut m, Demand::default(), secs(t, 60));
    }

    #[test]
    fn the_longest_retry_names_the_refusal_and_every_refusal_is_remembered() {
        let t = utc("2024-05-10T23:00:00Z");
        let mut m = one_a_minute_after_one_call(1.0, t);
        let r = refused(&mut m, Demand::default(), secs(t, 10));
        assert_eq!(r.limit, LimitKind::RequestsPerDay);
        assert_eq!(r.retry_after_secs, 3600 - 10);
        let e = m.evaluate(secs(t, 10));
        assert_eq!(e.status, Status::QuotaExceeded);
        assert_eq!(e.cause, limit_reached(LimitKind::RequestsPerDay));
        assert_eq!(e.retry_after_secs, Some(3590));
        // Midnight: a new day, and the minute window has long moved on.
        let midnight = utc("2024-05-11T00:00:00Z");
        assert_open(&mut m, Demand::default(), midnight);
    }

    #[test]
    fn a_minute_refusal_is_rate_limited_until_its_retry_passes() {
        let mut m = meter(limits(&[(LimitKind::TokensPerMinute, 100.0)]));
        let t = utc(T0);
        call(&mut m, demand(60, 0), actual(60, 0), t);
        // 60 of 100 used: below warning_at (0.8).
        assert_eq!(m.evaluate(t).status, Status::Normal);
        let r = refused(&mut m, demand(50, 0), secs(t, 15));
        assert_eq!(r.retry_after_secs, 45);
        let e = m.evaluate(secs(t, 15));
        assert_eq!(e.status, Status::RateLimited);
        assert_eq!(e.cause, limit_reached(LimitKind::TokensPerMinute));
        assert_eq!(e.retry_after_secs, Some(45));
        assert_eq!(m.evaluate(secs(t, 59)).retry_after_secs, Some(1));
        // Expired exactly at its retry time.
        assert_eq!(m.evaluate(secs(t, 60)).status, Status::Normal);
    }

    #[test]
    fn a_reached_limit_is_a_status_without_any_refusal() {
        let mut m = meter(limits(&[
            (LimitKind::RequestsPerMinute, 3.0),
            (LimitKind::TokensPerDay, 1000.0),
            (LimitKind::BudgetUsdPerMonth, 10.0),
        ]));
        let t = utc(T0);
        for i in 0..3 {
            call(
                &mut m,
                Demand::default(),
                Actual::default(),
                secs(t, i * 10),
            );
        }
        let e = m.evaluate(secs(t, 25));
        assert_eq!(e.status, Status::RateLimited);
        assert_eq!(e.cause, limit_reached(LimitKind::RequestsPerMinute));
        // One request must leave: the one at t, at t+60.
        assert_eq!(e.retry_after_secs, Some(35));
        // Two of three left (0.67 < warning_at 0.8): normal again.
        assert_eq!(m.evaluate(secs(t, 60)).status, Status::Normal);
    }

    #[test]
    fn warnings_name_the_highest_ratio() {
        let mut m = meter(Limits {
            warning_at: 0.8,
            ..limits(&[
                (LimitKind::RequestsPerDay, 10.0),
                (LimitKind::TokensPerDay, 1000.0),
            ])
        });
        let t = utc(T0);
        for _ in 0..8 {
            call(&mut m, Demand::default(), actual(100, 0), t);
        }
        // requests 8/10 = 0.8, tokens 800/1000 = 0.8: equal → the first kept.
        let e = m.evaluate(t);
        assert_eq!(e.status, Status::Warning);
        assert_eq!(e.retry_after_secs, None);
        assert_eq!(e.cause, near_limit(LimitKind::RequestsPerDay, 0.8));
        call(&mut m, Demand::default(), actual(50, 0), t);
        // requests 0.9 > tokens 0.85.
        assert_eq!(
            m.evaluate(t).cause,
            near_limit(LimitKind::RequestsPerDay, 0.9)
        );
        // Below the threshold: normal.
        let mut m = meter(limits(&[(LimitKind::TokensPerDay, 1000.0)]));
        call(&mut m, Demand::default(), actual(799, 0), t);
        assert_eq!(m.evaluate(t).status, Status::Normal);
    }

    #[test]
    fn the_day_rolls_over_at_local_midnight() {
        let tz = chrono_tz::America::New_York; // UTC-4 in May
        let mut m = WorkspaceMeter::new(limits(&[(LimitKind::RequestsPerDay, 2.0)]), tz);
        let t = utc("2024-05-11T03:30:00Z"); // 23:30 local on the 10th
        for _ in 0..2 {
            call(&mut m, demand(5, 5), actual(5, 5), t);
        }
        let r = refused(&mut m, Demand::default(), t);
        assert_eq!(r.retry_after_secs, 30 * 60);
        // UTC midnight passed, local midnight not yet.
        assert_eq!(m.usage(utc("2024-05-11T03:59:59Z")).requests_day, 2);
        let _ = refused(&mut m, Demand::default(), utc("2024-05-11T03:59:59Z"));
        // Local midnight: new day, same month.
        let after = utc("2024-05-11T04:00:00Z");
        let u = m.usage(after);
        assert_eq!((u.requests_day, u.tokens_day, u.cost_usd_day), (0, 0, 0.0));
        assert!(u.cost_usd_month > 0.0);
        assert_open(&mut m, Demand::default(), after);
    }

    #[test]
    fn the_month_rolls_over_at_the_local_first() {
        let tz = chrono_tz::Asia::Tokyo; // UTC+9
        let mut m = WorkspaceMeter::new(limits(&[(LimitKind::BudgetUsdPerMonth, 1.0)]), tz);
        let t = utc("2024-01-31T14:00:00Z"); // 23:00 local, Jan 31st
        call(
            &mut m,
            demand(0, 1_000_000_000),
            actual(0, 1_000_000_000),
            t,
        );
        let e = m.evaluate(t);
        assert_eq!(e.status, Status::QuotaExceeded);
        assert_eq!(e.cause, limit_reached(LimitKind::BudgetUsdPerMonth));
        assert_eq!(e.retry_after_secs, Some(3600));
        let r = refused(&mut m, demand(0, 1), t);
        assert_eq!(r.limit, LimitKind::BudgetUsdPerMonth);
        assert_eq!(r.retry_after_secs, 3600);
        let feb = utc("2024-01-31T15:00:00Z");
        assert_eq!(m.usage(feb).cost_usd_month, 0.0);
        assert_open(&mut m, demand(0, 1), feb);
    }

    #[test]
    fn settle_after_the_window_or_the_day_moved_on_takes_back_nothing_there() {
        let mut m = meter(Limits::default());
        let t = utc("2024-05-10T23:59:30Z");
        let r = admitted(&mut m, demand(1000, 1000), t);
        // Activity of the next day in the same minute slot (t + 60 s).
        let next = secs(t, 60);
        call(&mut m, demand(7, 7), actual(7, 7), next);
        // The long call ends: the actual counts now, nothing is taken from the new day.
        m.settle(r, actual(900, 900), next);
        let u = m.usage(next);
        assert_eq!(u.tokens_minute, 907);
        assert_eq!(u.tokens_day, 907);
        assert!((u.cost_usd_day - 907e-9).abs() < 1e-15);
        // Same month: the reservation of 1000 was taken back there.
        assert!((u.cost_usd_month - 907e-9).abs() < 1e-15);
    }

    #[test]
    fn a_reservation_stays_counted_until_settled_within_its_window() {
        let mut m = meter(limits(&[(LimitKind::TokensPerMinute, 100.0)]));
        let t = utc(T0);
        let r = admitted(&mut m, demand(100, 0), t);
        let refusal = refused(&mut m, demand(1, 0), secs(t, 30));
        assert_eq!(refusal.retry_after_secs, 30);
        m.settle(r, actual(10, 0), secs(t, 31));
        assert_eq!(m.usage(secs(t, 31)).tokens_minute, 10);
        let _ = admitted(&mut m, demand(90, 0), secs(t, 31));
    }

    #[test]
    fn reset_clears_counters_and_refusals_and_ignores_older_reservations() {
        let mut m = meter(limits(&[(LimitKind::TokensPerDay, 100.0)]));
        let t = utc(T0);
        let old = admitted(&mut m, demand(100, 0), t);
        let _ = refused(&mut m, demand(1, 0), t);
        assert_eq!(m.evaluate(t).status, Status::QuotaExceeded);
        m.reset(secs(t, 1));
        assert_eq!(m.usage(secs(t, 1)), Usage::default());
        assert_eq!(m.evaluate(secs(t, 1)).status, Status::Normal);
        let new = admitted(&mut m, demand(50, 0), secs(t, 1));
        // Settling the pre-reset call takes nothing from the new counters, adds its actual.
        m.settle(old, actual(20, 0), secs(t, 1));
        assert_eq!(m.usage(secs(t, 1)).tokens_day, 70);
        m.settle(new, actual(5, 0), secs(t, 2));
        assert_eq!(m.usage(secs(t, 2)).tokens_day, 25);
    }

    #[test]
    fn restore_counts_only_the_current_window_day_and_month() {
        let mut m = meter(Limits::default());
        let now = utc("2024-05-10T12:00:00Z");
        m.restore(utc("2024-05-10T11:59:30Z"), 2, 20, 200, now); // window, day, month
        m.restore(utc("2024-05-10T11:59:00Z"), 1, 10, 100, now); // just out of the window
        m.restore(utc("2024-05-10T08:00:00Z"), 3, 30, 300, now); // day and month
        m.restore(utc("2024-05-09T08:00:00Z"), 4, 40, 400, now); // month only
        m.restore(utc("2024-04-30T08:00:00Z"), 5, 50, 500, now); // nothing
        m.restore(utc("2024-05-10T12:00:05Z"), 1, 1, 1, now); // future: counts as now
        let u = m.usage(now);
        assert_eq!((u.requests_minute, u.tokens_minute), (3, 21));
        assert_eq!((u.requests_day, u.tokens_day), (7, 61));
        assert!((u.cost_usd_day - 601e-9).abs() < 1e-15);
        assert!((u.cost_usd_month - 1001e-9).abs() < 1e-15);
        // Restored usage is enforced.
        m.set_limits(limits(&[(LimitKind::RequestsPerMinute, 3.0)]), now);
        let r = refused(&mut m, Demand::default(), now);
        assert_eq!(r.retry_after_secs, 30);
    }

    #[test]
    fn restore_uses_the_local_day() {
        let tz = chrono_tz::Europe::Paris; // UTC+2 in May
        let mut m = WorkspaceMeter::new(Limits::default(), tz);
        let now = utc("2024-05-10T00:30:00Z"); // 02:30 local on the 10th
        m.restore(utc("2024-05-09T22:30:00Z"), 1, 0, 0, now); // 00:30 local, the 10th
        m.restore(utc("2024-05-09T21:30:00Z"), 1, 0, 0, now); // 23:30 local, the 9th
        assert_eq!(m.usage(now).requests_day, 1);
    }

    #[test]
    fn set_limits_forgets_refusals_only_when_limits_change() {
        let l = limits(&[(LimitKind::RequestsPerDay, 1.0)]);
        let mut m = meter(l.clone());
        let t = utc(T0);
        call(&mut m, demand(1000, 0), Actual::default(), t);
        let _ = refused(&mut m, Demand::default(), t);
        m.set_limits(l, t);
        assert_eq!(m.evaluate(t).status, Status::QuotaExceeded);
        m.set_limits(limits(&[(LimitKind::RequestsPerDay, 100.0)]), t);
        assert_eq!(m.limits().requests_per_day, Some(100));
        assert_open(&mut m, Demand::default(), t);
    }

    #[test]
    fn a_zero_limit_blocks() {
        let mut m = meter(limits(&[(LimitKind::BudgetUsdPerDay, 0.0)]));
        let t = utc(T0);
        let r = refused(&mut m, Demand::default(), t);
        assert_eq!(r.limit, LimitKind::BudgetUsdPerDay);
        assert_eq!(m.evaluate(t).status, Status::QuotaExceeded);
    }

    #[test]
    fn a_clock_stepping_back_neither_frees_nor_loses_usage() {
        let t = utc("2024-05-11T00:00:10Z");
        let mut m = one_a_minute_after_one_call(5.0, t);
        let earlier = utc("2024-05-10T23:59:50Z");
        let _ = refused(&mut m, Demand::default(), earlier);
        assert_eq!(m.usage(earlier).requests_day, 1);
    }

    #[test]
    fn lower_classes_are_shed_at_their_share_and_the_workspace_is_not_limited() {
        use crate::types::Priority::{Critical, Normal, Optional};
        // 10 requests a day; optional calls to 80 % (warning_at), normal to 95 % (9 of 10).
        let mut m = meter(limits(&[(LimitKind::RequestsPerDay, 10.0)]));
        let t = utc(T0);
        for _ in 0..8 {
            let r = m.admit_as(Demand::default(), Some(Optional), t);
            assert!(r.is_ok(), "{r:?}");
        }
        let shed = m.admit_as(Demand::default(), Some(Optional), t).err();
        let shed = shed.unwrap_or_else(|| panic!("the 9th optional call is admitted"));
        assert_eq!(shed.priority, Some((Optional, 0.8)));
        assert_eq!(shed.limit, LimitKind::RequestsPerDay);
        assert_eq!((shed.used, shed.limit_value), (8.0, 10.0));
        // Asked without calling: the class is shed until the day ends, the others are not.
        assert_eq!(m.shed_for(Some(Optional), t), Some(shed.retry_after_secs));
        assert_eq!(m.shed_for(Some(Normal), t), None);
        assert_eq!(m.shed_for(None, t), None);
        // Not a refusal of the workspace: its status is a warning, not quota_exceeded.
        assert_eq!(m.evaluate(t).status, Status::Warning);
        assert!(m.admit_as(Demand::default(), Some(Normal), t).is_ok());
        let shed = m.admit_as(Demand::default(), Some(Normal), t).err();
        assert_eq!(shed.and_then(|r| r.priority), Some((Normal, 0.95)));
        assert!(m.admit_as(Demand::default(), Some(Critical), t).is_ok());
        // The hard limit refuses every class, without naming one.
        for class in [None, Some(Critical), Some(Normal), Some(Optional)] {
            let r = m.admit_as(Demand::default(), class, t).err();
            assert_eq!(
                r.map(|r| (r.limit, r.priority)),
                Some((LimitKind::RequestsPerDay, None)),
                "{class:?}"
            );
        }
        assert_eq!(m.evaluate(t).status, Status::QuotaExceeded);
    }

    #[test]
    fn shares_apply_to_demand_and_spare_soft_limits() {
        use crate::types::{Priority::Optional, PriorityShares};
        let mut l = limits(&[
            (LimitKind::TokensPerMinute, 1000.0),
            (LimitKind::RequestsPerDay, 2.0),
        ]);
        l.priority_shares = Some(PriorityShares {
            optional: Some(0.5),
            normal: None,
        });
        l.soft_limits = Some(vec![LimitKind::RequestsPerDay]);
        let mut m = meter(l);
        let t = utc(T0);
        // 600 tokens would pass half of 1000: shed, and retried when the window frees it.
        let r = m.admit_as(demand(600, 0), Some(Optional), t).err();
        assert_eq!(
            r.as_ref().map(|r| (r.limit, r.priority)),
            Some((LimitKind::TokensPerMinute, Some((Optional, 0.5))))
        );
        assert_eq!(
            r.map(|r| r.retry_after_secs),
            Some(60),
            "it never fits in half"
        );
        assert!(m.admit_as(demand(400, 0), Some(Optional), t).is_ok());
        // The soft day limit sheds nothing: three optional calls of 0 tokens would pass 1 of 2.
        let _ = m.admit_as(demand(0, 0), Some(Optional), t);
        let r = m.admit_as(demand(0, 0), Some(Optional), t);
        assert!(r.is_ok(), "{r:?}");
    }

    #[test]
    fn a_scheduled_day_resets_at_its_hour() {
        let mut l = limits(&[(LimitKind::RequestsPerDay, 2.0)]);
        l.reset_daily_at = Some("06:00".into());
        let mut m = meter(l);
        call(
            &mut m,
            Demand::default(),
            Actual::default(),
            utc("2024-05-10T05:00:00Z"),
        );
        call(
            &mut m,
            Demand::default(),
            Actual::default(),
            utc("2024-05-10T05:30:00Z"),
        );
        let r = refused(&mut m, Demand::default(), utc("2024-05-10T05:59:00Z"));
        assert_eq!(r.retry_after_secs, 60);
        assert_eq!(
            m.resets_at(LimitKind::RequestsPerDay, utc("2024-05-10T05:59:00Z")),
            utc("2024-05-10T06:00:00Z")
        );
        assert_open(&mut m, Demand::default(), utc("2024-05-10T06:00:00Z"));
        assert_eq!(m.usage(utc("2024-05-10T06:00:00Z")).requests_day, 1);
    }

    #[test]
    fn a_changed_schedule_starts_at_its_next_boundary_and_keeps_reservations_exact() {
        let t = utc("2024-05-10T03:00:00Z");
        let mut m = meter(limits(&[(LimitKind::TokensPerDay, 1000.0)]));
        call(&mut m, demand(100, 0), actual(100, 0), t);
        let held = admitted(&mut m, demand(300, 0), t);
        // From midnight to 06:00 at 03:00: what today counted stays counted.
        let mut l = m.limits().clone();
        l.reset_daily_at = Some("06:00".into());
        m.set_limits(l, t);
        assert_eq!(m.usage(t).tokens_day, 400);
        // The reservation made before the change takes back exactly what it held.
        m.settle(held, actual(50, 0), t);
        assert_eq!(m.usage(t).tokens_day, 150);
        // The new day begins at 06:00.
        assert_eq!(m.usage(utc("2024-05-10T05:59:59Z")).tokens_day, 150);
        assert_eq!(m.usage(utc("2024-05-10T06:00:00Z")).tokens_day, 0);
        // A restart restores the ledger into the scheduled periods.
        let mut l = limits(&[(LimitKind::TokensPerDay, 1000.0)]);
        l.reset_daily_at = Some("06:00".into());
        let mut m = meter(l);
        let now = utc("2024-05-10T07:00:00Z");
        m.restore(utc("2024-05-10T05:00:00Z"), 1, 70, 0, now); // the period day before
        m.restore(utc("2024-05-10T06:30:00Z"), 1, 30, 0, now);
        assert_eq!(m.usage(now).tokens_day, 30);
    }

    #[test]
    fn a_mirror_of_an_export_is_the_same_usage_and_older_copies_are_ignored() {
        let caps = [
            (LimitKind::TokensPerMinute, 1000.0),
            (LimitKind::BudgetUsdPerDay, 1.0),
        ];
        let mut a = meter(limits(&caps));
        call(&mut a, demand(100, 10), actual(40, 5), at(10));
        let _held = admitted(&mut a, demand(30, 7), at(20));
        let mut copy = a.export(at(20));
        copy.version = 3;
        let mut b = meter(limits(&caps));
        assert!(b.mirror(&copy, at(20)));
        assert_eq!(b.usage(at(20)), a.usage(at(20)));
        assert_eq!(b.settled(at(20)), a.settled(at(20)));
        // The minute slides on the mirrored seconds.
        assert_eq!(b.usage(at(71)).tokens_minute, 30);
        let mut older = copy.clone();
        older.version = 2;
        older.day_requests = 99;
        assert!(!b.mirror(&older, at(20)));
        assert_eq!(b.usage(at(20)).requests_day, 2);
    }

    #[test]
    fn a_mirror_of_another_day_counts_nothing_today() {
        let mut a = meter(limits(&[(LimitKind::RequestsPerDay, 10.0)]));
        call(&mut a, demand(1, 0), actual(1, 0), at(0));
        let mut copy = a.export(at(0));
        copy.version = 1;
        copy.day -= 1;
        let mut b = meter(limits(&[(LimitKind::RequestsPerDay, 10.0)]));
        b.mirror(&copy, at(0));
        assert_eq!(b.usage(at(0)).requests_day, 0);
    }

    #[test]
    fn shared_caps_skip_soft_limits_and_apply_the_class_share() {
        let mut l = limits(&[
            (LimitKind::RequestsPerMinute, 10.0),
            (LimitKind::TokensPerDay, 1000.0),
        ]);
        l.soft_limits = Some(vec![LimitKind::TokensPerDay]);
        let m = meter(l);
        let caps = m.shared_caps(Some(Priority::Normal));
        assert_eq!(caps[LimitKind::TokensPerDay as usize], None);
        assert_eq!(caps[LimitKind::BudgetUsdPerDay as usize], None);
        let normal = m.shared_caps(Some(Priority::Normal))[LimitKind::RequestsPerMinute as usize];
        assert!(normal.is_some_and(|c| c < 10));
        assert_eq!(
            m.shared_caps(None)[LimitKind::RequestsPerMinute as usize],
            Some(10)
        );
    }

    #[test]
    fn a_shared_admission_follows_the_shared_verdict() {
        let caps = [(LimitKind::RequestsPerMinute, 2.0)];
        let mut elsewhere = meter(limits(&caps));
        call(&mut elsewhere, demand(0, 0), actual(0, 0), at(5));
        let mut copy = elsewhere.export(at(6));
        copy.version = 7;
        // Reserved by the shared copy: counted here on top of the mirror.
        let mut m = meter(limits(&caps));
        let r = m.admit_shared(demand(5, 0), None, &copy, true, None, at(6));
        assert!(r.is_ok());
        assert_eq!(m.usage(at(6)).requests_minute, 2);
        // Refused by the shared copy: the local refusal with its exact retry (the call at 5 s
        // leaves the window at 65 s).
        copy.version = 8;
        copy.minute.push((at(6).timestamp(), 1, 0));
        let e = m
            .admit_shared(demand(0, 0), None, &copy, false, None, at(7))
            .expect_err("refused");
        assert_eq!(e.limit, LimitKind::RequestsPerMinute);
        assert_eq!(e.retry_after_secs, 58);
        // Refused by the shared copy though the mirror has room (limits edited meanwhile): refused.
        let mut room = copy.clone();
        room.version = 9;
        room.minute.clear();
        let e = m
            .admit_shared(
                demand(0, 0),
                None,
                &room,
                false,
                Some(LimitKind::RequestsPerMinute),
                at(8),
            )
            .expect_err("refused");
        assert_eq!(e.limit, LimitKind::RequestsPerMinute);
        assert_eq!(m.usage(at(8)).requests_minute, 0);
    }
}
