//! Alert rules: each day and month limit's thresholds, crossed at most once per period; the
//! "back under" notice when a period resets, an admin resets the counters or a limit is
//! raised; and the burn-rate forecast of when a limit runs out at the recent rate of spending.
//!
//! Owns: when an [`Alert`] is due and its identity (the same alert in the same [`Round`] has
//! the same [`Alert::id`], so a second gateway process sharing the store, or a restart, raises
//! it once). Must not: read the clock (`now` is a parameter), do IO, lock, or word the alert (the
//! notice's key and arguments are [`super::status::alert_notice`]'s). Allocates only when an
//! alert is raised and once per workspace for its burn-rate history (on its first call).
//!
//! # Thresholds
//! Thresholds are shares of a day or month limit (`alert_thresholds`, default
//! [`DEFAULT_ALERT_THRESHOLDS`](crate::types::DEFAULT_ALERT_THRESHOLDS)). They are read against
//! what calls have actually used ([`WorkspaceMeter::settled`]), not the worst case that calls
//! in flight reserve. When usage jumps past several, one alert names the highest. Minute
//! limits have no thresholds: they recover within a minute and the status engine reports them
//! (`rate_limited`).
//!
//! # Burn rate
//! The rate is the spending of the last [`BURN_WINDOW_MINUTES`] whole minutes, per minute, with
//! the busiest minute left out (a trimmed mean): steady traffic reads at its rate, a single
//! burst does not project an exhaustion that the traffic after it will not reach, and a
//! workspace idle for the window reads 0. It needs a number of whole minutes of history (after
//! a workspace's first call, or a restart) before it projects anything: a parameter of
//! [`AlertRules::on_tick`] and [`AlertRules::forecasts`] (`[alerts] burn_min_minutes` in the
//! config file, 1 to [`BURN_WINDOW_MINUTES`], default [`BURN_MIN_MINUTES`]). With a single
//! minute known there is nothing to leave out: that minute is the rate. The projection is
//! `now + (limit − used) / rate`; when it falls before the period's reset, a warning names both
//! times, once per limit and period.

use chrono::{DateTime, Utc};

use super::meter::WorkspaceMeter;
use crate::types::LimitKind;

/// The limits that have thresholds and forecasts: those of a calendar period.
pub const PERIOD_KINDS: [LimitKind; 4] = [
    LimitKind::RequestsPerDay,
    LimitKind::TokensPerDay,
    LimitKind::BudgetUsdPerDay,
    LimitKind::BudgetUsdPerMonth,
];

/// Whole minutes of history the burn rate reads.
pub const BURN_WINDOW_MINUTES: usize = 15;
/// Whole minutes of history needed before the burn rate projects anything, by default (the
/// warm-up is a parameter: see the module docs).
pub const BURN_MIN_MINUTES: u32 = 5;

/// Thresholds compare with this slack, so that 0.8 of a limit counts as 80 % in binary floats.
const EPSILON: f64 = 1e-9;

/// A run of a limit's thresholds: its period, and when in the period an admin reset the
/// counters or raised the limit (0 until then). Each threshold fires at most once a round.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Round {
    pub period: i64,
    /// Unix milliseconds of the admin action that started the round; 0 for the period's first.
    pub since_ms: i64,
}

impl Round {
    fn first(period: i64) -> Round {
        Round {
            period,
            since_ms: 0,
        }
    }
}

impl std::fmt::Display for Round {
    /// `739220` for a period's first round, `739220.1715342400000` for a later one.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.since_ms == 0 {
            write!(f, "{}", self.period)
        } else {
            write!(f, "{}.{}", self.period, self.since_ms)
        }
    }
}

impl std::str::FromStr for Round {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Round, Self::Err> {
        Ok(match s.split_once('.') {
            Some((p, since)) => Round {
                period: p.parse()?,
                since_ms: since.parse()?,
            },
            None => Round::first(s.parse()?),
        })
    }
}

/// Why usage is back under a limit's thresholds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Under {
    /// The period ended: the counters start again.
    PeriodReset,
    /// An admin reset the workspace's counters.
    AdminReset,
    /// The limit was raised above the usage.
    LimitRaised,
}

impl Under {
    /// The wire name, a Fluent selector (`reason`).
    pub fn as_str(self) -> &'static str {
        match self {
            Under::PeriodReset => "period_reset",
            Under::AdminReset => "admin_reset",
            Under::LimitRaised => "limit_raised",
        }
    }
}

/// An alert that is due. Amounts are in the limit's unit (USD for budgets).
#[derive(Clone, Debug, PartialEq)]
pub enum Alert {
    /// Usage reached `threshold` (a share) of `limit` in `round`.
    Threshold {
        limit: LimitKind,
        threshold: f64,
        round: Round,
        used: f64,
        cap: f64,
        soft: bool,
        resets_at: DateTime<Utc>,
    },
    /// Usage is back under the thresholds that had fired (the highest was `threshold`).
    BackUnder {
        limit: LimitKind,
        threshold: f64,
        /// For a period reset, the round that ended; for an admin's act, the round it starts.
        round: Round,
        why: Under,
    },
    /// At the recent rate, `limit` runs out at `runs_out_at`, before it resets at `resets_at`.
    BurnRate {
        limit: LimitKind,
        period: i64,
        runs_out_at: DateTime<Utc>,
        resets_at: DateTime<Utc>,
        used: f64,
        cap: f64,
    },
}

impl Alert {
    pub fn limit(&self) -> LimitKind {
        match self {
            Alert::Threshold { limit, .. }
            | Alert::BackUnder { limit, .. }
            | Alert::BurnRate { limit, .. } => *limit,
        }
    }

    /// The notification id of this alert in `workspace`: the same for the same alert in the same
    /// round (`alert:acme:budget_usd_per_day:739220:8000`, the threshold in basis points), so
    /// that the store keeps it once whichever process raised it. A period's end is
    /// `under:…:{round}`, a round an admin started `again:…:{round}`, a forecast
    /// `burn:…:{period}`.
    pub fn id(&self, workspace: &str) -> String {
        match self {
            Alert::Threshold {
                limit,
                threshold,
                round,
                ..
            } => format!(
                "alert:{workspace}:{}:{round}:{}",
                limit.as_str(),
                basis_points(*threshold)
            ),
            Alert::BurnRate { limit, period, .. } => {
                format!("burn:{workspace}:{}:{period}", limit.as_str())
            }
            Alert::BackUnder {
                limit, round, why, ..
            } => {
                let kind = if *why == Under::PeriodReset {
                    "under"
                } else {
                    "again"
                };
                format!("{kind}:{workspace}:{}:{round}", limit.as_str())
            }
        }
    }
}

fn basis_points(share: f64) -> u64 {
    (share * 10_000.0).round().max(0.0) as u64
}

/// What a stored alert id says, for [`AlertRules::restore`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mark {
    Threshold {
        limit: LimitKind,
        round: Round,
        threshold: f64,
    },
    BurnRate {
        limit: LimitKind,
        period: i64,
    },
    /// The round ended with its period.
    Under {
        limit: LimitKind,
        round: Round,
    },
    /// An admin started a round.
    Again {
        limit: LimitKind,
        round: Round,
    },
}

impl Mark {
    /// Reads an id made by [`Alert::id`]: its workspace and what it marks. `None` for any other
    /// id.
    pub fn parse(id: &str) -> Option<(&str, Mark)> {
        let mut parts = id.split(':');
        let kind = parts.next()?;
        let workspace = parts.next()?;
        let limit = parts.next()?;
        let limit = LimitKind::ALL.into_iter().find(|l| l.as_str() == limit)?;
        let round: Round = parts.next()?.parse().ok()?;
        let mark = match kind {
            "alert" => Mark::Threshold {
                limit,
                round,
                threshold: parts.next()?.parse::<u64>().ok()? as f64 / 10_000.0,
            },
            "burn" if round.since_ms == 0 => Mark::BurnRate {
                limit,
                period: round.period,
            },
            "under" => Mark::Under { limit, round },
            "again" => Mark::Again { limit, round },
            _ => return None,
        };
        parts.next().is_none().then_some((workspace, mark))
    }
}

/// A threshold fired in a round: the highest one so far.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Fired {
    round: Round,
    threshold: f64,
}

/// One workspace's alert state. `Default` is a workspace that raised nothing yet.
#[derive(Clone, Debug, Default)]
pub struct AlertRules {
    /// Allocated by the first mark (a threshold fired, a round started, a warning raised):
    /// a workspace that never raised anything holds a null pointer, not ~280 bytes.
    marks: Option<Box<Marks>>,
    /// Allocated on the first call.
    burn: Option<Box<BurnRate>>,
}

/// What a workspace's alerts remember, per [`PERIOD_KINDS`] entry.
#[derive(Clone, Debug, Default)]
struct Marks {
    /// The highest threshold fired and its round.
    fired: [Option<Fired>; PERIOD_KINDS.len()],
    /// The latest round an admin started (a period's first round is implied).
    rounds: [Option<Round>; PERIOD_KINDS.len()],
    /// The period a burn-rate warning was raised in.
    warned: [Option<i64>; PERIOD_KINDS.len()],
}

/// The marks of a workspace without any.
static NO_MARKS: Marks = Marks {
    fired: [None; PERIOD_KINDS.len()],
    rounds: [None; PERIOD_KINDS.len()],
    warned: [None; PERIOD_KINDS.len()],
};

/// What one call used, for the burn rate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Spent {
    pub requests: u64,
    pub tokens: u64,
    pub cost_nanos: u64,
}

/// A limit's projected exhaustion at the recent rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Forecast {
    pub limit: LimitKind,
    pub runs_out_at: DateTime<Utc>,
    pub resets_at: DateTime<Utc>,
}

impl Forecast {
    /// Whether the limit runs out before it resets.
    pub fn before_reset(&self) -> bool {
        self.runs_out_at < self.resets_at
    }
}

/// The highest of `thresholds` (ascending) that `ratio` reached.
fn reached(thresholds: &[f64], ratio: f64) -> Option<f64> {
    thresholds
        .iter()
        .rev()
        .find(|t| ratio + EPSILON >= **t)
        .copied()
}

/// A limit's period, cap and settled usage at `now`, in the core's units.
struct Reading {
    period: i64,
    cap: u64,
    used: u64,
}

/// What the rules read of a meter at one instant: settled usage and the current day and
/// month, each worked out once (a time-zone conversion each).
struct Snap {
    settled: [u64; LimitKind::COUNT],
    periods: (i64, i64),
}

impl Snap {
    fn of(meter: &WorkspaceMeter, now: DateTime<Utc>) -> Snap {
        Snap {
            settled: meter.settled(now),
            periods: meter.periods(now),
        }
    }
}

fn read(meter: &WorkspaceMeter, snap: &Snap, kind: LimitKind) -> Option<Reading> {
    let cap = meter.cap(kind)?;
    let period = match kind {
        LimitKind::BudgetUsdPerMonth => snap.periods.1,
        LimitKind::RequestsPerMinute | LimitKind::TokensPerMinute => 0,
        _ => snap.periods.0,
    };
    Some(Reading {
        period,
        cap,
        used: snap.settled[kind as usize],
    })
}

impl Reading {
    fn ratio(&self) -> f64 {
        if self.cap == 0 {
            return 0.0;
        }
        self.used as f64 / self.cap as f64
    }
}

impl AlertRules {
    fn marks(&self) -> &Marks {
        self.marks.as_deref().unwrap_or(&NO_MARKS)
    }

    fn marks_mut(&mut self) -> &mut Marks {
        self.marks.get_or_insert_with(Box::default)
    }

    /// Forgets slot `i`'s fired threshold (allocates nothing when there are no marks).
    fn clear_fired(&mut self, i: usize) -> Option<Fired> {
        self.marks.as_deref_mut().and_then(|m| m.fired[i].take())
    }

    /// Forgets slot `i`'s burn-rate warning (allocates nothing when there are no marks).
    fn clear_warned(&mut self, i: usize) {
        if let Some(m) = self.marks.as_deref_mut() {
            m.warned[i] = None;
        }
    }
    /// The round of slot `i` in `period`: the one an admin started in it, else its first.
    fn round(&self, i: usize, period: i64) -> Round {
        match self.marks().rounds[i] {
            Some(r) if r.period == period => r,
            _ => Round::first(period),
        }
    }

    /// After a call settled: records what it spent and raises the thresholds it crossed.
    pub fn after_call(
        &mut self,
        meter: &WorkspaceMeter,
        spent: Spent,
        now: DateTime<Utc>,
        out: &mut Vec<Alert>,
    ) {
        self.burn
            .get_or_insert_with(|| Box::new(BurnRate::new(now)))
            .record(now, spent);
        let snap = Snap::of(meter, now);
        for (i, kind) in PERIOD_KINDS.into_iter().enumerate() {
            let Some(r) = read(meter, &snap, kind) else {
                self.clear_fired(i);
                continue;
            };
            self.roll(i, kind, r.period, out);
            let Some(t) = reached(meter.limits().thresholds_of(kind), r.ratio()) else {
                continue;
            };
            if self.marks().fired[i].is_some_and(|f| f.threshold >= t) {
                continue;
            }
            let round = self.round(i, r.period);
            self.marks_mut().fired[i] = Some(Fired {
                round,
                threshold: t,
            });
            out.push(Alert::Threshold {
                limit: kind,
                threshold: t,
                round,
                used: WorkspaceMeter::value(kind, r.used),
                cap: WorkspaceMeter::value(kind, r.cap),
                soft: meter.limits().is_soft(kind),
                resets_at: meter.resets_at(kind, now),
            });
        }
    }

    /// Once a second: periods that ended say so, and limits projected to run out before their
    /// reset are warned about (once per period). `min_minutes`: the burn rate's warm-up, whole
    /// minutes of history needed before it projects anything.
    pub fn on_tick(
        &mut self,
        meter: &WorkspaceMeter,
        now: DateTime<Utc>,
        min_minutes: u32,
        out: &mut Vec<Alert>,
    ) {
        let marks = self.marks();
        let idle = marks.fired.iter().all(Option::is_none)
            && marks.warned.iter().all(Option::is_none)
            && self.burn.as_ref().is_none_or(|b| !b.active(now));
        if idle {
            return;
        }
        let snap = Snap::of(meter, now);
        for (i, kind) in PERIOD_KINDS.into_iter().enumerate() {
            let Some(r) = read(meter, &snap, kind) else {
                continue;
            };
            self.roll(i, kind, r.period, out);
            if self.marks().warned[i] == Some(r.period) {
                continue;
            }
            let Some(f) = self.forecast(meter, &r, kind, now, min_minutes) else {
                continue;
            };
            if f.before_reset() {
                self.marks_mut().warned[i] = Some(r.period);
                out.push(Alert::BurnRate {
                    limit: kind,
                    period: r.period,
                    runs_out_at: f.runs_out_at,
                    resets_at: f.resets_at,
                    used: WorkspaceMeter::value(kind, r.used),
                    cap: WorkspaceMeter::value(kind, r.cap),
                });
            }
        }
    }

    /// After the limits changed: a limit raised above the thresholds that had fired says so,
    /// and starts a new round, in which those thresholds can fire again.
    pub fn on_limits_changed(
        &mut self,
        meter: &WorkspaceMeter,
        now: DateTime<Utc>,
        out: &mut Vec<Alert>,
    ) {
        let snap = Snap::of(meter, now);
        for (i, kind) in PERIOD_KINDS.into_iter().enumerate() {
            let Some(f) = self.marks().fired[i] else {
                continue;
            };
            let Some(r) = read(meter, &snap, kind) else {
                self.clear_fired(i);
                continue;
            };
            if r.period != f.round.period {
                continue;
            }
            let now_reached = reached(meter.limits().thresholds_of(kind), r.ratio());
            if now_reached.is_none_or(|t| t < f.threshold) {
                let round = self.start_round(i, r.period, now);
                out.push(Alert::BackUnder {
                    limit: kind,
                    threshold: f.threshold,
                    round,
                    why: Under::LimitRaised,
                });
                // The thresholds still reached stay fired (in the new round).
                self.marks_mut().fired[i] = now_reached.map(|threshold| Fired { round, threshold });
                // A raised limit may last the period: forecast it afresh.
                self.clear_warned(i);
            }
        }
    }

    /// After an admin reset of the counters at `now`: every fired threshold is back under, in a
    /// new round.
    pub fn on_reset(&mut self, meter: &WorkspaceMeter, now: DateTime<Utc>, out: &mut Vec<Alert>) {
        for (i, kind) in PERIOD_KINDS.into_iter().enumerate() {
            if let Some(f) = self.clear_fired(i) {
                let round = self.start_round(i, meter.period(kind, now), now);
                out.push(Alert::BackUnder {
                    limit: kind,
                    threshold: f.threshold,
                    round,
                    why: Under::AdminReset,
                });
            }
            self.clear_warned(i);
        }
    }

    /// Starts a round of slot `i` at `now` (later than any before it, even within one
    /// millisecond).
    fn start_round(&mut self, i: usize, period: i64, now: DateTime<Utc>) -> Round {
        let last = self.round(i, period).since_ms;
        let round = Round {
            period,
            since_ms: now.timestamp_millis().max(last.saturating_add(1)),
        };
        self.marks_mut().rounds[i] = Some(round);
        round
    }

    /// Takes back a mark of an alert raised before a restart (or by another process), so that
    /// it is not raised again. Give the marks oldest first.
    pub fn restore(&mut self, mark: Mark) {
        let slot = |limit: LimitKind| PERIOD_KINDS.iter().position(|k| *k == limit);
        match mark {
            Mark::Threshold {
                limit,
                round,
                threshold,
            } => {
                let Some(i) = slot(limit) else { return };
                let keep = self.marks().fired[i].is_some_and(|f| {
                    f.round > round || (f.round == round && f.threshold >= threshold)
                });
                if !keep {
                    self.marks_mut().fired[i] = Some(Fired { round, threshold });
                }
                if round.since_ms != 0 && self.marks().rounds[i].is_none_or(|r| r < round) {
                    self.marks_mut().rounds[i] = Some(round);
                }
            }
            Mark::BurnRate { limit, period } => {
                if let Some(i) = slot(limit) {
                    if self.marks().warned[i].is_none_or(|p| p < period) {
                        self.marks_mut().warned[i] = Some(period);
                    }
                }
            }
            Mark::Under { limit, round } => {
                if let Some(i) = slot(limit) {
                    if self.marks().fired[i].is_some_and(|f| f.round.period <= round.period) {
                        self.clear_fired(i);
                    }
                }
            }
            Mark::Again { limit, round } => {
                if let Some(i) = slot(limit) {
                    if self.marks().rounds[i].is_none_or(|r| r < round) {
                        self.marks_mut().rounds[i] = Some(round);
                    }
                    if self.marks().fired[i].is_some_and(|f| f.round < round) {
                        self.clear_fired(i);
                    }
                }
            }
        }
    }

    /// Takes back what was spent at `at` (read from the ledger at start): the burn rate's
    /// window of history, whole, counts from `now` back, since every call went through the
    /// gateway and is in the ledger. What is older than the window is ignored.
    pub fn restore_spend(&mut self, at: DateTime<Utc>, spent: Spent, now: DateTime<Utc>) {
        let window = BURN_WINDOW_MINUTES as i64;
        let since = minute_of(now) - window;
        let m = minute_of(at.min(now));
        if m < since {
            return;
        }
        let burn = self
            .burn
            .get_or_insert_with(|| Box::new(BurnRate::new(now)));
        burn.since = burn.since.min(since);
        burn.record(at.min(now), spent);
    }

    /// The forecasts of the period limits that have a rate, for the status report
    /// (`min_minutes` as for [`AlertRules::on_tick`]).
    pub fn forecasts(
        &self,
        meter: &WorkspaceMeter,
        now: DateTime<Utc>,
        min_minutes: u32,
    ) -> Vec<Forecast> {
        if self.burn.as_ref().is_none_or(|b| !b.active(now)) {
            return Vec::new();
        }
        let snap = Snap::of(meter, now);
        PERIOD_KINDS
            .into_iter()
            .filter_map(|kind| {
                let r = read(meter, &snap, kind)?;
                self.forecast(meter, &r, kind, now, min_minutes)
            })
            .collect()
    }

    fn forecast(
        &self,
        meter: &WorkspaceMeter,
        r: &Reading,
        kind: LimitKind,
        now: DateTime<Utc>,
        min_minutes: u32,
    ) -> Option<Forecast> {
        let rate = self
            .burn
            .as_ref()?
            .per_second(quantity(kind), now, min_minutes)?;
        let runs_out_at = runs_out_at(r.used, r.cap, rate, now)?;
        Some(Forecast {
            limit: kind,
            runs_out_at,
            resets_at: meter.resets_at(kind, now),
        })
    }

    /// A period that ended while thresholds of it had fired: they are back under.
    fn roll(&mut self, i: usize, kind: LimitKind, period: i64, out: &mut Vec<Alert>) {
        if let Some(f) = self.marks().fired[i] {
            if f.round.period < period {
                self.clear_fired(i);
                out.push(Alert::BackUnder {
                    limit: kind,
                    threshold: f.threshold,
                    round: f.round,
                    why: Under::PeriodReset,
                });
            }
        }
    }
}

/// What a limit counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantity {
    Requests = 0,
    Tokens = 1,
    CostNanos = 2,
}

fn quantity(kind: LimitKind) -> Quantity {
    match kind {
        LimitKind::RequestsPerMinute | LimitKind::RequestsPerDay => Quantity::Requests,
        LimitKind::TokensPerMinute | LimitKind::TokensPerDay => Quantity::Tokens,
        LimitKind::BudgetUsdPerDay | LimitKind::BudgetUsdPerMonth => Quantity::CostNanos,
    }
}

/// When `cap − used` runs out at `per_second`; `None` if it already has or never will.
pub fn runs_out_at(
    used: u64,
    cap: u64,
    per_second: f64,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if used >= cap || per_second.is_nan() || per_second <= 0.0 {
        return None;
    }
    let secs = (cap - used) as f64 / per_second;
    if !secs.is_finite() || secs > 400.0 * 86_400.0 {
        return None;
    }
    Some(now + chrono::TimeDelta::milliseconds((secs * 1000.0).ceil() as i64))
}

/// Spending per whole minute over the last [`BURN_WINDOW_MINUTES`] (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct BurnRate {
    /// Per minute slot (`minute % BURN_WINDOW_MINUTES`): which minute it holds …
    minutes: [i64; BURN_WINDOW_MINUTES],
    /// … and what was spent in it, per [`Quantity`].
    spent: [[u64; 3]; BURN_WINDOW_MINUTES],
    /// The first minute recorded.
    since: i64,
}

fn minute_of(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(60)
}

impl BurnRate {
    pub fn new(now: DateTime<Utc>) -> Self {
        BurnRate {
            minutes: [i64::MIN; BURN_WINDOW_MINUTES],
            spent: [[0; 3]; BURN_WINDOW_MINUTES],
            since: minute_of(now),
        }
    }

    pub fn record(&mut self, now: DateTime<Utc>, s: Spent) {
        let m = minute_of(now);
        let slot = m.rem_euclid(BURN_WINDOW_MINUTES as i64) as usize;
        if self.minutes[slot] != m {
            self.minutes[slot] = m;
            self.spent[slot] = [0; 3];
        }
        let b = &mut self.spent[slot];
        b[0] = b[0].saturating_add(s.requests);
        b[1] = b[1].saturating_add(s.tokens);
        b[2] = b[2].saturating_add(s.cost_nanos);
    }

    /// Whether anything was spent in the window (else the rate is 0 and there is nothing to
    /// forecast).
    fn active(&self, now: DateTime<Utc>) -> bool {
        let m = minute_of(now);
        self.minutes
            .iter()
            .any(|&x| x <= m && x > m - BURN_WINDOW_MINUTES as i64 - 1)
    }

    /// Units of `q` per second: the trimmed mean over the whole minutes before `now`'s (a
    /// single minute known is its own rate); `None` while fewer than `min_minutes` (at least 1)
    /// are known.
    pub fn per_second(&self, q: Quantity, now: DateTime<Utc>, min_minutes: u32) -> Option<f64> {
        let current = minute_of(now);
        let known = (current - self.since).min(BURN_WINDOW_MINUTES as i64);
        if known < i64::from(min_minutes.max(1)) {
            return None;
        }
        let (mut sum, mut max) = (0u64, 0u64);
        for m in current - known..current {
            let slot = m.rem_euclid(BURN_WINDOW_MINUTES as i64) as usize;
            let v = if self.minutes[slot] == m {
                self.spent[slot][q as usize]
            } else {
                0
            };
            sum = sum.saturating_add(v);
            max = max.max(v);
        }
        let per_minute = if known == 1 {
            sum as f64
        } else {
            (sum - max) as f64 / (known - 1) as f64
        };
        Some(per_minute / 60.0)
    }
}

#[cfg(test)]
mod tests;
