//! Time arithmetic of the quota core: the sliding 60-second window of requests and tokens, and
//! the calendar periods (local day, local month) of the configured time zone.
//!
//! Owns: the ring of sixty one-second buckets, and the [`Calendar`] of a workspace's periods:
//! from an instant to its period day / month and to the next day or month start, on local
//! midnight and the 1st or on a schedule (`reset_daily_at`, `reset_monthly_on`), DST gaps and
//! overlaps included.
//! Must not: read the clock, do IO, or know about limits or statuses (callers compare), or
//! allocate but once: a window's buckets are allocated on its first add (an idle workspace
//! holds a null pointer, not 1.4 KB) and kept from then on.

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

/// Length of the sliding minute window, in seconds.
pub const WINDOW_SECS: i64 = 60;
const SLOTS: usize = WINDOW_SECS as usize;

/// Which counter of the minute window a question is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    Requests,
    Tokens,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Bucket {
    /// The Unix second this bucket counts, `i64::MIN` when never used.
    second: i64,
    requests: u64,
    tokens: u64,
}

const EMPTY: Bucket = Bucket {
    second: i64::MIN,
    requests: 0,
    tokens: 0,
};

impl Bucket {
    fn get(&self, c: Counter) -> u64 {
        match c {
            Counter::Requests => self.requests,
            Counter::Tokens => self.tokens,
        }
    }
}

/// True when `used + demand` fits under `limit` and the limit is not already reached.
///
/// A reached limit (`used >= limit`) refuses even a zero demand, so that a workspace shown as
/// limited is also refused.
pub fn fits(used: u64, demand: u64, limit: u64) -> bool {
    used < limit && used.saturating_add(demand) <= limit
}

/// A sliding 60-second window of requests and tokens: sixty one-second buckets, each tagged with
/// the second it counts, so a stale bucket is recognised without a sweep. The buckets are
/// allocated by the first [`MinuteWindow::add`] (one allocation in the window's life; until then
/// the window is 16 bytes and counts nothing), then fixed: no allocation after.
///
/// The window's "now" never goes back: a clock that steps backwards cannot free capacity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MinuteWindow {
    /// `None` until the first add: every bucket is then empty.
    buckets: Option<Box<[Bucket; SLOTS]>>,
    /// The latest second ever written.
    head: i64,
}

impl Default for MinuteWindow {
    fn default() -> Self {
        MinuteWindow {
            buckets: None,
            head: i64::MIN,
        }
    }
}

fn slot(second: i64) -> usize {
    // rem_euclid of a positive modulus is in 0..60.
    second.rem_euclid(WINDOW_SECS) as usize
}

fn live(second: i64, eff: i64) -> bool {
    second <= eff && second > eff.saturating_sub(WINDOW_SECS)
}

impl MinuteWindow {
    /// An empty window.
    pub fn new() -> Self {
        Self::default()
    }

    /// Empties every bucket (the window's notion of "now" is kept, and so are the buckets'
    /// memory, for the next add).
    pub fn clear(&mut self) {
        if let Some(b) = &mut self.buckets {
            **b = [EMPTY; SLOTS];
        }
    }

    /// Whether the buckets are allocated (the window was ever added to).
    pub fn is_allocated(&self) -> bool {
        self.buckets.is_some()
    }

    /// The bucket of `second`'s slot, if the buckets exist.
    fn bucket(&self, second: i64) -> Option<&Bucket> {
        self.buckets.as_deref().map(|b| &b[slot(second)])
    }

    /// The second the window treats as "now" for a caller at `second`.
    pub fn effective(&self, second: i64) -> i64 {
        second.max(self.head)
    }

    /// Adds to the bucket of `second`. Returns false (and adds nothing) when `second` is already
    /// outside the window.
    pub fn add(&mut self, second: i64, requests: u64, tokens: u64) -> bool {
        if second > self.head {
            self.head = second;
        }
        if !live(second, self.head) {
            return false;
        }
        if self.buckets.is_none() && requests == 0 && tokens == 0 {
            // Every bucket is empty and stays so: nothing to allocate for.
            return true;
        }
        let b = &mut self.buckets.get_or_insert_with(|| Box::new([EMPTY; SLOTS]))[slot(second)];
        if b.second != second {
            *b = Bucket {
                second,
                requests: 0,
                tokens: 0,
            };
        }
        b.requests = b.requests.saturating_add(requests);
        b.tokens = b.tokens.saturating_add(tokens);
        true
    }

    /// Takes back what was added to the bucket of `second`, if that bucket still counts that
    /// second (it is reused once the second has left the window).
    pub fn remove(&mut self, second: i64, requests: u64, tokens: u64) {
        let Some(buckets) = &mut self.buckets else {
            return;
        };
        let b = &mut buckets[slot(second)];
        if b.second == second {
            b.requests = b.requests.saturating_sub(requests);
            b.tokens = b.tokens.saturating_sub(tokens);
        }
    }

    /// The live seconds of the window ending at `second` that counted something, as
    /// `(second, requests, tokens)` in no particular order.
    pub fn live_buckets(&self, second: i64) -> impl Iterator<Item = (i64, u64, u64)> + '_ {
        let eff = self.effective(second);
        self.buckets
            .as_deref()
            .into_iter()
            .flat_map(|b| b.iter())
            .filter(move |b| live(b.second, eff) && (b.requests > 0 || b.tokens > 0))
            .map(|b| (b.second, b.requests, b.tokens))
    }

    /// The sum of one counter over the window ending at `second`.
    pub fn total(&self, second: i64, c: Counter) -> u64 {
        let Some(buckets) = self.buckets.as_deref() else {
            return 0;
        };
        let eff = self.effective(second);
        buckets
            .iter()
            .filter(|b| live(b.second, eff))
            .fold(0u64, |acc, b| acc.saturating_add(b.get(c)))
    }

    /// Seconds (1..=60) until enough of the window has expired for `demand` to fit under
    /// `limit`; 60 when it never fits (the demand alone exceeds the limit).
    pub fn secs_until_fits(&self, second: i64, c: Counter, demand: u64, limit: u64) -> u64 {
        let eff = self.effective(second);
        let mut used = self.total(eff, c);
        for k in 1..=WINDOW_SECS {
            // At eff + k the bucket of eff - 60 + k leaves the window.
            let leaving = eff.saturating_sub(WINDOW_SECS).saturating_add(k);
            if let Some(b) = self.bucket(leaving).filter(|b| b.second == leaving) {
                used = used.saturating_sub(b.get(c));
            }
            if fits(used, demand, limit) {
                return k as u64;
            }
        }
        WINDOW_SECS as u64
    }
}

/// The local calendar day of `at` in `tz`.
pub fn local_day(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// A month as a single ordered number (`year * 12 + month0`).
pub fn month_key(day: NaiveDate) -> i32 {
    day.year()
        .saturating_mul(12)
        .saturating_add(day.month0() as i32)
}

/// `now + secs`, saturating at the largest representable instant.
pub fn add_secs(now: DateTime<Utc>, secs: u64) -> DateTime<Utc> {
    let secs = i64::try_from(secs).unwrap_or(i64::MAX);
    TimeDelta::try_seconds(secs)
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Whole seconds from `now` to `later`, rounded up, at least 1.
pub fn secs_until(now: DateTime<Utc>, later: DateTime<Utc>) -> u64 {
    let ms = (later - now).num_milliseconds();
    if ms <= 0 {
        return 1;
    }
    let secs = (ms as u64).div_ceil(1000);
    secs.max(1)
}

/// The first instant of local `day` in `tz`. Midnight may not exist (a DST gap at midnight): the
/// day then starts at the first local time that exists. When midnight happens twice, the first.
pub fn start_of_local_day(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    Calendar::midnight(tz).start_of(day)
}

/// The first instant of the local day `now` is in (see [`start_of_local_day`]).
pub fn day_start(now: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    Calendar::midnight(tz).day_start(now)
}

/// The first instant of the local month `now` is in: the start of its first day.
pub fn month_start(now: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    Calendar::midnight(tz).month_start(now)
}

/// Seconds from `now` until the next local midnight in `tz` (at least 1).
pub fn secs_until_next_day(now: DateTime<Utc>, tz: Tz) -> u64 {
    Calendar::midnight(tz).secs_until_next_day(now)
}

/// Seconds from `now` until the first instant of the next local month in `tz` (at least 1).
pub fn secs_until_next_month(now: DateTime<Utc>, tz: Tz) -> u64 {
    Calendar::midnight(tz).secs_until_next_month(now)
}

/// When a workspace's periods begin: each day at `day_offset` seconds after local midnight
/// (`reset_daily_at`), each month on day `month_day` (`reset_monthly_on`; the last day of a
/// shorter month) at that time, in `tz`. [`Calendar::midnight`] is local midnight and the 1st.
///
/// A period is named by its *period day*: the local date of the instant less the offset (with
/// `06:00`, 05:59 on the 10th is in the period day of the 9th), and a month by the month whose
/// start day the period day is on or after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Calendar {
    pub tz: Tz,
    /// Seconds after local midnight, below 86,400.
    day_offset: u32,
    /// 1 to 31.
    month_day: u32,
}

/// The days of month `m` (1-based) of year `y`.
fn days_in_month(y: i32, m: u32) -> u32 {
    let (ny, nm) = if m == 12 {
        (y.saturating_add(1), 1)
    } else {
        (y, m + 1)
    };
    match (
        NaiveDate::from_ymd_opt(y, m, 1),
        NaiveDate::from_ymd_opt(ny, nm, 1),
    ) {
        (Some(a), Some(b)) => u32::try_from((b - a).num_days()).unwrap_or(31),
        _ => 31,
    }
}

impl Calendar {
    /// Days from local midnight, months from the 1st.
    pub fn midnight(tz: Tz) -> Calendar {
        Calendar {
            tz,
            day_offset: 0,
            month_day: 1,
        }
    }

    /// Days from `day_offset` seconds after local midnight (clamped below a day), months from
    /// day `month_day` (clamped to 1..=31).
    pub fn new(tz: Tz, day_offset: u32, month_day: u32) -> Calendar {
        Calendar {
            tz,
            day_offset: day_offset.min(86_399),
            month_day: month_day.clamp(1, 31),
        }
    }

    /// The period day `at` is in.
    pub fn day(&self, at: DateTime<Utc>) -> NaiveDate {
        let local = at.with_timezone(&self.tz).naive_local();
        if self.day_offset == 0 {
            return local.date();
        }
        local
            .checked_sub_signed(TimeDelta::seconds(i64::from(self.day_offset)))
            .map_or(local.date(), |t| t.date())
    }

    /// The day of month (`y`, `m`) on which its month period starts.
    fn month_start_day(&self, y: i32, m: u32) -> u32 {
        self.month_day.min(days_in_month(y, m))
    }

    /// The (year, month) of the month period that period day `day` is in.
    fn month_of_day(&self, day: NaiveDate) -> (i32, u32) {
        let (y, m) = (day.year(), day.month());
        if day.day() >= self.month_start_day(y, m) {
            (y, m)
        } else if m == 1 {
            (y.saturating_sub(1), 12)
        } else {
            (y, m - 1)
        }
    }

    /// The month period of period day `day`, as one ordered number (see [`month_key`]).
    pub fn month(&self, day: NaiveDate) -> i32 {
        let (y, m) = self.month_of_day(day);
        y.saturating_mul(12).saturating_add(m as i32 - 1)
    }

    /// The first instant of period day `day`: its local date at the offset. A local time that
    /// does not exist (a DST gap) moves to the first that does, by quarter hours; one that
    /// happens twice is the first.
    pub fn start_of(&self, day: NaiveDate) -> DateTime<Utc> {
        let Some(mut t) = day
            .and_hms_opt(0, 0, 0)
            .and_then(|t| t.checked_add_signed(TimeDelta::seconds(i64::from(self.day_offset))))
        else {
            return DateTime::<Utc>::MAX_UTC;
        };
        let fallback = t.and_utc();
        // Gaps are at most a few hours; try every quarter hour of the day.
        for _ in 0..96 {
            match self.tz.from_local_datetime(&t) {
                LocalResult::Single(x) => return x.with_timezone(&Utc),
                LocalResult::Ambiguous(first, _) => return first.with_timezone(&Utc),
                LocalResult::None => match t.checked_add_signed(TimeDelta::minutes(15)) {
                    Some(next) => t = next,
                    None => break,
                },
            }
        }
        fallback
    }

    /// The first day of month period (`y`, `m`).
    fn first_day(&self, (y, m): (i32, u32)) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(y, m, self.month_start_day(y, m))
    }

    /// The first instant of the period day `now` is in.
    pub fn day_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.start_of(self.day(now))
    }

    /// The first instant of the month period `now` is in.
    pub fn month_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self.first_day(self.month_of_day(self.day(now))) {
            Some(first) => self.start_of(first),
            None => DateTime::<Utc>::MIN_UTC,
        }
    }

    /// The first instant of the next period day after the one `now` is in.
    pub fn next_day_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self.day(now).succ_opt() {
            Some(next) => self.start_of(next),
            None => add_secs(now, 86_400),
        }
    }

    /// The first instant of the month period after the one `now` is in.
    pub fn next_month_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let (y, m) = self.month_of_day(self.day(now));
        let next = if m == 12 {
            (y.saturating_add(1), 1)
        } else {
            (y, m + 1)
        };
        match self.first_day(next) {
            Some(first) => self.start_of(first),
            None => add_secs(now, 31 * 86_400),
        }
    }

    /// Seconds from `now` until the next period day (at least 1).
    pub fn secs_until_next_day(&self, now: DateTime<Utc>) -> u64 {
        secs_until(now, self.next_day_start(now))
    }

    /// Seconds from `now` until the next month period (at least 1).
    pub fn secs_until_next_month(&self, now: DateTime<Utc>) -> u64 {
        secs_until(now, self.next_month_start(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::testutil::utc;

    #[test]
    fn fits_refuses_a_reached_limit_even_for_zero() {
        assert!(fits(0, 10, 10));
        assert!(!fits(1, 10, 10));
        assert!(fits(9, 0, 10));
        assert!(!fits(10, 0, 10));
        assert!(!fits(0, 0, 0));
        assert!(!fits(u64::MAX, 1, u64::MAX));
    }

    #[test]
    fn a_bucket_counts_for_exactly_sixty_seconds() {
        let mut w = MinuteWindow::new();
        assert!(w.add(1000, 1, 50));
        assert_eq!(w.total(1000, Counter::Requests), 1);
        assert_eq!(w.total(1059, Counter::Tokens), 50);
        assert_eq!(w.total(1060, Counter::Tokens), 0);
        assert_eq!(w.total(1060, Counter::Requests), 0);
    }

    #[test]
    fn buckets_slide_one_second_at_a_time() {
        let mut w = MinuteWindow::new();
        for s in 0..120 {
            assert!(w.add(10_000 + s, 1, 2));
            let expect = (s + 1).min(60) as u64;
            assert_eq!(w.total(10_000 + s, Counter::Requests), expect, "at +{s}");
            assert_eq!(w.total(10_000 + s, Counter::Tokens), 2 * expect);
        }
    }

    #[test]
    fn a_reused_slot_forgets_its_old_second() {
        let mut w = MinuteWindow::new();
        assert!(w.add(0, 5, 5));
        assert!(w.add(60, 1, 1)); // same slot, one minute later
        assert_eq!(w.total(60, Counter::Requests), 1);
        // Removing what was added at second 0 must not touch second 60.
        w.remove(0, 5, 5);
        assert_eq!(w.total(60, Counter::Requests), 1);
        w.remove(60, 1, 1);
        assert_eq!(w.total(60, Counter::Requests), 0);
    }

    #[test]
    fn adds_older_than_the_window_are_refused() {
        let mut w = MinuteWindow::new();
        assert!(w.add(500, 1, 1));
        assert!(w.add(441, 1, 1));
        assert!(!w.add(440, 1, 1));
        assert_eq!(w.total(500, Counter::Requests), 2);
    }

    #[test]
    fn a_clock_stepping_back_frees_nothing() {
        let mut w = MinuteWindow::new();
        assert!(w.add(1000, 3, 0));
        // "now" earlier than what was written: still counted.
        assert_eq!(w.total(900, Counter::Requests), 3);
        assert_eq!(w.effective(900), 1000);
    }

    #[test]
    fn secs_until_fits_waits_for_the_oldest_buckets() {
        let mut w = MinuteWindow::new();
        // 40 tokens at t=0, 40 at t=30; limit 100 at t=50.
        assert!(w.add(0, 0, 40));
        assert!(w.add(30, 0, 40));
        assert!(w.add(50, 0, 0));
        // Demand 30: 80+30 > 100; at t=60 the first 40 leave → 40+30 fits: 10 s.
        assert_eq!(w.secs_until_fits(50, Counter::Tokens, 30, 100), 10);
        // Demand 70: needs the bucket of t=30 gone too → at t=90: 40 s.
        assert_eq!(w.secs_until_fits(50, Counter::Tokens, 70, 100), 40);
        // Demand larger than the limit: never fits → 60.
        assert_eq!(w.secs_until_fits(50, Counter::Tokens, 101, 100), 60);
        // Zero limit: never.
        assert_eq!(w.secs_until_fits(50, Counter::Tokens, 0, 0), 60);
        // Already fits: the minimum, 1.
        assert_eq!(w.secs_until_fits(50, Counter::Tokens, 1, 1000), 1);
    }

    #[test]
    fn an_idle_window_is_small_and_allocates_on_its_first_add_only() {
        let mut w = MinuteWindow::new();
        assert!(std::mem::size_of::<MinuteWindow>() <= 16);
        assert!(!w.is_allocated());
        // Reading, removing, clearing and asking for a wait leave it unallocated.
        assert_eq!(w.total(1000, Counter::Requests), 0);
        assert_eq!(w.secs_until_fits(1000, Counter::Tokens, 10, 100), 1);
        assert_eq!(w.secs_until_fits(1000, Counter::Tokens, 101, 100), 60);
        w.remove(1000, 1, 1);
        w.clear();
        assert!(!w.is_allocated());
        assert_eq!(w, MinuteWindow::new());
        // An add of nothing moves "now" and allocates nothing; nor does a refused add.
        let mut zero = MinuteWindow::new();
        assert!(zero.add(2000, 0, 0));
        assert!(!zero.is_allocated());
        assert_eq!(zero.effective(1000), 2000);
        assert!(!zero.add(1000, 1, 1));
        assert!(!zero.is_allocated());
        let mut never = MinuteWindow::new();
        never.head = 2000;
        assert!(!never.add(1000, 1, 1));
        assert!(!never.is_allocated());
        // First use: the buckets exist and count as before; the same box is kept after.
        assert!(w.add(1000, 2, 30));
        assert!(w.is_allocated());
        let first = w.buckets.as_deref().map(|b| b as *const _);
        assert_eq!(w.total(1000, Counter::Requests), 2);
        assert_eq!(w.total(1059, Counter::Tokens), 30);
        // Expiry: the second leaves the window after sixty seconds, as with inline buckets.
        assert_eq!(w.total(1060, Counter::Tokens), 0);
        assert_eq!(w.secs_until_fits(1030, Counter::Tokens, 80, 100), 30);
        for s in 1000..1200 {
            assert!(w.add(s, 1, 1));
        }
        w.clear();
        assert_eq!(w.total(1199, Counter::Requests), 0);
        assert_eq!(w.buckets.as_deref().map(|b| b as *const _), first);
        // A clock stepping back after expiry still frees nothing.
        assert!(w.add(1199, 4, 0));
        assert_eq!(w.total(900, Counter::Requests), 4);
    }

    #[test]
    fn midnight_in_utc_and_in_a_zone() {
        let now = utc("2024-03-05T23:59:30Z");
        assert_eq!(secs_until_next_day(now, chrono_tz::UTC), 30);
        // Paris is UTC+1 in March: local 00:59:30 on the 6th; next midnight is 23:00Z.
        assert_eq!(
            secs_until_next_day(now, chrono_tz::Europe::Paris),
            23 * 3600 + 30
        );
        assert_eq!(
            local_day(now, chrono_tz::Europe::Paris),
            NaiveDate::from_ymd_opt(2024, 3, 6).unwrap_or_default()
        );
        // Sub-second remainders round up.
        let now = utc("2024-03-05T23:59:59.200Z");
        assert_eq!(secs_until_next_day(now, chrono_tz::UTC), 1);
    }

    #[test]
    fn a_dst_day_is_23_or_25_hours_long() {
        // Paris springs forward on 2024-03-31 (02:00 → 03:00): that day has 23 hours.
        let tz = chrono_tz::Europe::Paris;
        let start = utc("2024-03-30T23:00:00Z"); // local midnight of the 31st
        assert_eq!(secs_until_next_day(start, tz), 23 * 3600);
        // Falls back on 2024-10-27: 25 hours.
        let start = utc("2024-10-26T22:00:00Z");
        assert_eq!(secs_until_next_day(start, tz), 25 * 3600);
    }

    #[test]
    fn a_day_without_midnight_starts_at_its_first_existing_minute() {
        // Santiago springs forward at local midnight (2024-09-08 00:00 → 01:00, UTC-4 → UTC-3).
        let tz = chrono_tz::America::Santiago;
        let day = NaiveDate::from_ymd_opt(2024, 9, 8).unwrap_or_default();
        assert_eq!(start_of_local_day(day, tz), utc("2024-09-08T04:00:00Z"));
        assert_eq!(local_day(utc("2024-09-08T04:00:00Z"), tz), day);
        assert_eq!(secs_until_next_day(utc("2024-09-08T03:59:00Z"), tz), 60);
    }

    #[test]
    fn day_and_month_starts_are_local_across_dst() {
        // Rome: the day clocks go forward has 23 hours, the day they go back 25.
        let rome = chrono_tz::Europe::Rome;
        let spring = utc("2026-03-29T12:00:00Z");
        assert_eq!(day_start(spring, rome), utc("2026-03-28T23:00:00Z"));
        assert_eq!(secs_until_next_day(spring, rome), 10 * 3600);
        let autumn = utc("2026-10-25T01:30:00Z"); // 02:30 local, the second time
        assert_eq!(day_start(autumn, rome), utc("2026-10-24T22:00:00Z"));
        assert_eq!(secs_until_next_day(autumn, rome), 21 * 3600 + 30 * 60);
        // New York at 02:30 on the day of the gap (that local time does not exist).
        let ny = chrono_tz::America::New_York;
        let gap = utc("2026-03-08T07:30:00Z"); // 03:30 EDT, just after the gap
        assert_eq!(day_start(gap, ny), utc("2026-03-08T05:00:00Z"));
        assert_eq!(month_start(gap, ny), utc("2026-03-01T05:00:00Z"));
        // Santiago skips midnight itself: the day starts at 01:00.
        let santiago = chrono_tz::America::Santiago;
        assert_eq!(
            day_start(utc("2024-09-08T12:00:00Z"), santiago),
            utc("2024-09-08T04:00:00Z")
        );
        // Month starts: in Rome it is already April 1st at 23:30 UTC on March 31st.
        let now = utc("2026-03-31T23:30:00Z");
        assert_eq!(
            month_start(now, chrono_tz::UTC),
            utc("2026-03-01T00:00:00Z")
        );
        assert_eq!(month_start(now, rome), utc("2026-03-31T22:00:00Z"));
    }

    #[test]
    fn next_month_start_handles_december_and_zones() {
        let now = utc("2024-12-31T23:00:00Z");
        assert_eq!(secs_until_next_month(now, chrono_tz::UTC), 3600);
        // In Tokyo (UTC+9) it is already 2025-01-01 08:00: next month is February.
        let tokyo = chrono_tz::Asia::Tokyo;
        assert_eq!(secs_until_next_month(now, tokyo), (31 * 24 - 8) * 3600);
        assert_eq!(
            month_key(local_day(now, tokyo)),
            month_key(NaiveDate::from_ymd_opt(2025, 1, 15).unwrap_or_default())
        );
        assert!(
            month_key(NaiveDate::from_ymd_opt(2025, 1, 1).unwrap_or_default())
                > month_key(NaiveDate::from_ymd_opt(2024, 12, 31).unwrap_or_default())
        );
    }

    #[test]
    fn add_secs_saturates() {
        let now = utc("2024-01-01T00:00:00Z");
        assert_eq!(add_secs(now, 90), utc("2024-01-01T00:01:30Z"));
        assert_eq!(add_secs(now, u64::MAX), DateTime::<Utc>::MAX_UTC);
        assert_eq!(secs_until(now, now), 1);
        assert_eq!(secs_until(now, add_secs(now, 5)), 5);
    }

    #[test]
    fn a_scheduled_day_starts_at_its_hour_and_a_month_on_its_day() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default();
        // Days from 06:00 UTC, months from the 15th.
        let cal = Calendar::new(chrono_tz::UTC, 6 * 3600, 15);
        assert_eq!(cal.day(utc("2026-05-10T05:59:59Z")), d("2026-05-09"));
        assert_eq!(cal.day(utc("2026-05-10T06:00:00Z")), d("2026-05-10"));
        let now = utc("2026-05-10T05:00:00Z");
        assert_eq!(cal.day_start(now), utc("2026-05-09T06:00:00Z"));
        assert_eq!(cal.next_day_start(now), utc("2026-05-10T06:00:00Z"));
        assert_eq!(cal.secs_until_next_day(now), 3600);
        // The 10th is in the month period that began on April 15th at 06:00.
        assert_eq!(cal.month_start(now), utc("2026-04-15T06:00:00Z"));
        assert_eq!(cal.next_month_start(now), utc("2026-05-15T06:00:00Z"));
        // The 15th before 06:00 is still April's period; from 06:00 it is May's.
        assert_eq!(
            cal.month(cal.day(utc("2026-05-15T05:59:00Z"))),
            cal.month(d("2026-04-20"))
        );
        assert!(cal.month(cal.day(utc("2026-05-15T06:00:00Z"))) > cal.month(d("2026-05-14")));
        // December's period runs into January.
        let dec = utc("2026-12-20T12:00:00Z");
        assert_eq!(cal.next_month_start(dec), utc("2027-01-15T06:00:00Z"));
        assert_eq!(
            cal.month_start(utc("2027-01-02T00:00:00Z")),
            utc("2026-12-15T06:00:00Z")
        );
    }

    #[test]
    fn a_month_day_past_a_short_months_end_is_its_last_day() {
        let cal = Calendar::new(chrono_tz::UTC, 0, 31);
        // February 2026 has 28 days: its period begins on the 28th.
        let now = utc("2026-02-27T12:00:00Z");
        assert_eq!(cal.month_start(now), utc("2026-01-31T00:00:00Z"));
        assert_eq!(cal.next_month_start(now), utc("2026-02-28T00:00:00Z"));
        assert_eq!(
            cal.next_month_start(utc("2026-02-28T00:00:00Z")),
            utc("2026-03-31T00:00:00Z")
        );
        // April has 30: the 30th.
        assert_eq!(
            cal.next_month_start(utc("2026-04-01T00:00:00Z")),
            utc("2026-04-30T00:00:00Z")
        );
    }

    #[test]
    fn a_scheduled_hour_in_a_dst_gap_starts_at_the_first_existing_minute() {
        // New York skips 02:00-03:00 on 2026-03-08; a 02:30 reset happens at 03:00 EDT.
        let ny = chrono_tz::America::New_York;
        let cal = Calendar::new(ny, 2 * 3600 + 1800, 1);
        let day = NaiveDate::from_ymd_opt(2026, 3, 8).unwrap_or_default();
        assert_eq!(cal.start_of(day), utc("2026-03-08T07:00:00Z"));
        // On an ordinary day 02:30 EST is 07:30Z; in summer 02:30 EDT is 06:30Z.
        let day = NaiveDate::from_ymd_opt(2026, 3, 7).unwrap_or_default();
        assert_eq!(cal.start_of(day), utc("2026-03-07T07:30:00Z"));
        let day = NaiveDate::from_ymd_opt(2026, 7, 7).unwrap_or_default();
        assert_eq!(cal.start_of(day), utc("2026-07-07T06:30:00Z"));
        // The midnight calendar is the one the free functions use.
        let now = utc("2026-07-07T12:00:00Z");
        assert_eq!(Calendar::midnight(ny).day_start(now), day_start(now, ny));
        assert_eq!(
            Calendar::midnight(ny).month_start(now),
            month_start(now, ny)
        );
    }
}
