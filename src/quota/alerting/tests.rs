//! The alert rules on synthetic traffic: thresholds once per period, back-under notices, soft
//! limits, restored marks, and the burn rate on steady, bursty, idle and just-reset traffic.

use super::*;
use crate::quota::testutil::*;
use crate::quota::window::add_secs;
use crate::types::{LimitKind, Limits, Status};

const USD: u64 = 1_000_000_000;

/// A workspace: its meter, its alert rules and the burn rate's warm-up (whole minutes).
struct Ws {
    m: WorkspaceMeter,
    rules: AlertRules,
    min: u32,
}

impl Ws {
    fn new(limits: Limits) -> Ws {
        Ws {
            m: meter(limits),
            rules: AlertRules::default(),
            min: BURN_MIN_MINUTES,
        }
    }

    fn forecasts(&self, now: DateTime<Utc>) -> Vec<Forecast> {
        self.rules.forecasts(&self.m, now, self.min)
    }

    /// A call that costs `usd` dollars at `now`; the alerts it raised.
    fn spend(&mut self, usd: f64, now: DateTime<Utc>) -> Vec<Alert> {
        let cost = (usd * USD as f64).round() as u64;
        call(&mut self.m, demand(0, cost), actual(0, cost), now);
        let mut out = Vec::new();
        self.rules.after_call(
            &self.m,
            Spent {
                requests: 1,
                tokens: 0,
                cost_nanos: cost,
            },
            now,
            &mut out,
        );
        out
    }

    fn tick(&mut self, now: DateTime<Utc>) -> Vec<Alert> {
        let mut out = Vec::new();
        self.rules.on_tick(&self.m, now, self.min, &mut out);
        out
    }
}

fn budget(usd: f64) -> Limits {
    limits(&[(LimitKind::BudgetUsdPerDay, usd)])
}

/// The thresholds of threshold alerts in `alerts`.
fn crossed(alerts: &[Alert]) -> Vec<f64> {
    alerts
        .iter()
        .filter_map(|a| match a {
            Alert::Threshold { threshold, .. } => Some(*threshold),
            _ => None,
        })
        .collect()
}

fn under(alerts: &[Alert]) -> Vec<Under> {
    alerts
        .iter()
        .filter_map(|a| match a {
            Alert::BackUnder { why, .. } => Some(*why),
            _ => None,
        })
        .collect()
}

#[test]
fn each_threshold_fires_once_per_period_and_a_jump_names_the_highest() {
    let mut ws = Ws::new(budget(10.0));
    assert_eq!(crossed(&ws.spend(4.0, at(0))), Vec::<f64>::new());
    assert_eq!(crossed(&ws.spend(1.0, at(1))), vec![0.5]);
    assert_eq!(
        crossed(&ws.spend(0.5, at(2))),
        Vec::<f64>::new(),
        "55 %: nothing new"
    );
    // 55 % → 96 %: one alert, the highest threshold passed.
    assert_eq!(crossed(&ws.spend(4.1, at(3))), vec![0.95]);
    assert_eq!(crossed(&ws.spend(0.1, at(4))), Vec::<f64>::new());
    let full = ws.spend(0.3, at(5));
    assert_eq!(crossed(&full), vec![1.0]);
    match &full[0] {
        Alert::Threshold {
            used,
            cap,
            soft,
            resets_at,
            ..
        } => {
            assert!((used - 10.0).abs() < 1e-9 && (cap - 10.0).abs() < 1e-9);
            assert!(!soft);
            assert_eq!(*resets_at, utc("2024-05-11T00:00:00Z"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_new_period_says_back_under_once_and_the_thresholds_fire_again() {
    let mut ws = Ws::new(budget(10.0));
    assert_eq!(crossed(&ws.spend(8.0, at(0))), vec![0.8]);
    assert!(ws.tick(at(60)).is_empty(), "same day: nothing");
    let midnight = utc("2024-05-11T00:00:01Z");
    let t = ws.tick(midnight);
    assert_eq!(under(&t), vec![Under::PeriodReset]);
    assert!(ws.tick(add_secs(midnight, 1)).is_empty(), "said once");
    assert_eq!(crossed(&ws.spend(5.0, add_secs(midnight, 2))), vec![0.5]);
}

#[test]
fn reservations_in_flight_do_not_cross_a_threshold() {
    let mut ws = Ws::new(budget(10.0));
    // A worst case of 9 USD is held while a small call settles: 10 % used, not 90 %.
    let held = admitted(&mut ws.m, demand(0, 9 * USD), at(0));
    assert!(crossed(&ws.spend(1.0, at(1))).is_empty());
    ws.m.settle(held, actual(0, USD), at(2));
    assert!(crossed(&ws.spend(0.0, at(2))).is_empty(), "20 % used");
}

#[test]
fn a_raised_limit_is_back_under_and_its_thresholds_can_fire_again() {
    let mut ws = Ws::new(budget(10.0));
    assert_eq!(crossed(&ws.spend(9.0, at(0))), vec![0.8]);
    ws.m.set_limits(budget(100.0), at(1));
    let mut out = Vec::new();
    ws.rules.on_limits_changed(&ws.m, at(1), &mut out);
    assert_eq!(under(&out), vec![Under::LimitRaised]);
    let again = out[0].id("acme");
    assert!(
        again.starts_with("again:acme:budget_usd_per_day:"),
        "{again}"
    );
    assert_eq!(crossed(&ws.spend(41.0, at(2))), vec![0.5]);
    // Lowering a limit raises nothing by itself; the next call crosses.
    ws.m.set_limits(budget(60.0), at(2));
    out.clear();
    ws.rules.on_limits_changed(&ws.m, at(3), &mut out);
    assert!(out.is_empty());
    assert_eq!(crossed(&ws.spend(0.0, at(4))), vec![0.8]);
}

#[test]
fn an_admin_reset_is_back_under() {
    let mut ws = Ws::new(budget(10.0));
    ws.spend(6.0, at(0));
    let first = ws.spend(0.0, at(0));
    assert!(first.is_empty());
    let before = Ws::new(budget(10.0)).spend(6.0, at(0))[0].id("acme");
    ws.m.reset(at(1));
    let mut out = Vec::new();
    ws.rules.on_reset(&ws.m, at(1), &mut out);
    assert_eq!(under(&out), vec![Under::AdminReset]);
    // The same threshold again, in a new round: another id, so the store keeps both.
    let again = ws.spend(5.0, at(2));
    assert_eq!(crossed(&again), vec![0.5]);
    let after = again[0].id("acme");
    assert_ne!(before, after);
    let ms = at(1).timestamp_millis();
    assert!(after.ends_with(&format!(".{ms}:5000")), "{after}");
    // A restart that takes back both marks raises neither again.
    let mut fresh = Ws::new(budget(10.0));
    for id in [&before, &out[0].id("acme"), &after] {
        let (_, mark) = Mark::parse(id).unwrap_or_else(|| panic!("{id}"));
        fresh.rules.restore(mark);
    }
    fresh.m.reset(at(1));
    assert!(crossed(&fresh.spend(5.0, at(3))).is_empty());
    assert_eq!(crossed(&fresh.spend(3.0, at(4))), vec![0.8]);
    assert!(fresh.spend(0.0, at(4))[..].is_empty());
}

#[test]
fn a_soft_limit_never_refuses_and_alerts_at_its_thresholds() {
    let mut l = budget(1.0);
    l.soft_limits = Some(vec![LimitKind::BudgetUsdPerDay]);
    let mut ws = Ws::new(l);
    let a = ws.spend(1.5, at(0));
    assert!(
        matches!(a.as_slice(), [Alert::Threshold { threshold, soft: true, .. }] if *threshold == 1.0)
    );
    // Past the limit, calls are still admitted, and the status is a warning.
    let _ = admitted(&mut ws.m, demand(0, USD), at(1));
    let e = ws.m.evaluate(at(1));
    assert_eq!(e.status, Status::Warning);
    assert!(
        matches!(e.cause, crate::types::Cause::NearLimit { limit: LimitKind::BudgetUsdPerDay, ratio } if ratio >= 1.5)
    );
}

#[test]
fn no_thresholds_means_no_threshold_alerts() {
    let mut l = budget(1.0);
    l.alert_thresholds = Some(vec![]);
    let mut ws = Ws::new(l);
    assert!(crossed(&ws.spend(1.0, at(0))).is_empty());
}

#[test]
fn ids_are_stable_per_period_and_marks_read_back() {
    let mut ws = Ws::new(budget(10.0));
    let a = ws.spend(8.0, at(0));
    let id = a[0].id("acme-1");
    assert_eq!(
        id,
        format!(
            "alert:acme-1:budget_usd_per_day:{}:8000",
            ws.m.period(LimitKind::BudgetUsdPerDay, at(0))
        )
    );
    assert_eq!(
        ws.m.periods(at(0)),
        (
            ws.m.period(LimitKind::TokensPerDay, at(0)),
            ws.m.period(LimitKind::BudgetUsdPerMonth, at(0))
        ),
        "one conversion gives the same periods"
    );
    let (workspace, mark) = Mark::parse(&id).unwrap_or_else(|| panic!("{id}"));
    assert_eq!(workspace, "acme-1");
    // A restarted workspace that takes the mark back does not raise 80 % again, but 95 %.
    let mut fresh = Ws::new(budget(10.0));
    fresh.rules.restore(mark);
    assert!(crossed(&fresh.spend(8.0, at(1))).is_empty());
    assert_eq!(crossed(&fresh.spend(1.5, at(2))), vec![0.95]);
    // A back-under mark of that period ends it: nothing to say at midnight.
    let period = ws.m.period(LimitKind::BudgetUsdPerDay, at(0));
    let mut again = Ws::new(budget(10.0));
    again.rules.restore(mark);
    again.rules.restore(Mark::Under {
        limit: LimitKind::BudgetUsdPerDay,
        round: Round {
            period,
            since_ms: 0,
        },
    });
    assert!(again.tick(utc("2024-05-11T00:00:01Z")).is_empty());
    for bad in [
        "n-1",
        "alert:a:no_such_limit:1:1",
        "alert:a:budget_usd_per_day:x:1",
        "burn:a:tokens_per_day:1:2",
    ] {
        assert_eq!(Mark::parse(bad), None, "{bad}");
    }
}

/// Steady spending of `usd_per_min` a minute for `minutes` minutes from `start`.
fn steady(ws: &mut Ws, usd_per_min: f64, start: DateTime<Utc>, minutes: u64) -> Vec<Alert> {
    let mut out = Vec::new();
    for m in 0..minutes {
        let t = add_secs(start, m * 60 + 30);
        out.extend(ws.spend(usd_per_min, t));
        out.extend(ws.tick(t));
    }
    out
}

fn burn_alerts(alerts: &[Alert]) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    alerts
        .iter()
        .filter_map(|a| match a {
            Alert::BurnRate {
                runs_out_at,
                resets_at,
                ..
            } => Some((*runs_out_at, *resets_at)),
            _ => None,
        })
        .collect()
}

#[test]
fn steady_spending_projects_the_exhaustion_once_when_it_comes_before_the_reset() {
    let mut l = budget(100.0);
    l.alert_thresholds = Some(vec![]);
    let mut ws = Ws::new(l);
    // 1 USD a minute from 12:00: after 10 minutes 10 USD are used, 90 left → 90 minutes.
    let start = utc("2024-05-10T12:00:00Z");
    let alerts = steady(&mut ws, 1.0, start, 10);
    let burns = burn_alerts(&alerts);
    assert_eq!(burns.len(), 1, "{alerts:?}");
    let (runs_out_at, resets_at) = burns[0];
    assert_eq!(resets_at, utc("2024-05-11T00:00:00Z"));
    // Raised at the first tick with 5 whole minutes known (12:05:30, 6 USD used): 94 minutes.
    assert_eq!(runs_out_at, utc("2024-05-10T13:39:30Z"));
    let f = ws.forecasts(add_secs(start, 10 * 60));
    assert_eq!(f.len(), 1);
    assert!(f[0].before_reset());
    // Not again this period.
    assert!(burn_alerts(&steady(&mut ws, 1.0, add_secs(start, 600), 5)).is_empty());
}

#[test]
fn spending_that_lasts_past_the_reset_raises_nothing() {
    let mut ws = Ws::new(budget(10_000.0));
    let alerts = steady(&mut ws, 1.0, utc("2024-05-10T12:00:00Z"), 15);
    assert!(burn_alerts(&alerts).is_empty());
    let f = ws.forecasts(utc("2024-05-10T12:15:00Z"));
    assert!(f.iter().all(|f| !f.before_reset()), "{f:?}");
}

#[test]
fn one_burst_is_not_a_rate() {
    let mut l = budget(100.0);
    l.alert_thresholds = Some(vec![]);
    let mut ws = Ws::new(l);
    let start = utc("2024-05-10T12:00:00Z");
    // A quiet minute of pennies, one burst of 40 USD, then pennies again.
    let mut alerts = steady(&mut ws, 0.01, start, 3);
    alerts.extend(ws.spend(40.0, add_secs(start, 3 * 60 + 10)));
    alerts.extend(steady(&mut ws, 0.01, add_secs(start, 4 * 60), 10));
    assert!(burn_alerts(&alerts).is_empty(), "{alerts:?}");
}

#[test]
fn bursts_that_repeat_are_a_rate() {
    let mut l = budget(100.0);
    l.alert_thresholds = Some(vec![]);
    let mut ws = Ws::new(l);
    let start = utc("2024-05-10T12:00:00Z");
    let mut alerts = Vec::new();
    // 8 USD every other minute: 4 USD a minute on average.
    for m in 0..12u64 {
        let t = add_secs(start, m * 60 + 30);
        if m % 2 == 0 {
            alerts.extend(ws.spend(8.0, t));
        }
        alerts.extend(ws.tick(t));
    }
    assert_eq!(burn_alerts(&alerts).len(), 1, "{alerts:?}");
}

#[test]
fn an_idle_workspace_and_a_young_one_forecast_nothing() {
    let mut ws = Ws::new(budget(10.0));
    let start = utc("2024-05-10T12:00:00Z");
    // Four minutes of history are not enough.
    let alerts = steady(&mut ws, 1.0, start, 4);
    assert!(burn_alerts(&alerts).is_empty());
    assert!(ws.forecasts(add_secs(start, 4 * 60)).is_empty());
    // Twenty idle minutes later the window holds nothing.
    assert!(ws.forecasts(add_secs(start, 24 * 60)).is_empty());
    assert!(ws.tick(add_secs(start, 24 * 60)).is_empty());
}

#[test]
fn just_after_the_reset_the_forecast_counts_from_the_new_period() {
    let mut l = budget(20.0);
    l.alert_thresholds = Some(vec![]);
    let mut ws = Ws::new(l);
    // 1 USD a minute from 23:50: the day's 20 USD outlast the 10 minutes to midnight.
    let start = utc("2024-05-10T23:50:00Z");
    assert!(burn_alerts(&steady(&mut ws, 1.0, start, 10)).is_empty());
    // After midnight the rate carries over and usage starts at 0: 20 minutes to go, before
    // the next reset, so it warns, naming the new day's reset.
    let alerts = steady(&mut ws, 1.0, utc("2024-05-11T00:00:00Z"), 2);
    let burns = burn_alerts(&alerts);
    assert_eq!(burns.len(), 1, "{alerts:?}");
    assert_eq!(burns[0].1, utc("2024-05-12T00:00:00Z"));
    assert!(burns[0].0 < utc("2024-05-11T00:30:00Z"));
}

/// The minutes after `start` of the first tick that raised a burn-rate warning, on spending of
/// 1 USD a minute (one call at each minute's 30th second) against a 100 USD budget.
fn first_warning_minute(min: u32, start: DateTime<Utc>) -> Option<u64> {
    let mut l = budget(100.0);
    l.alert_thresholds = Some(vec![]);
    let mut ws = Ws::new(l);
    ws.min = min;
    (0..20u64).find(|m| {
        let t = add_secs(start, m * 60 + 30);
        ws.spend(1.0, t);
        !burn_alerts(&ws.tick(t)).is_empty()
    })
}

#[test]
fn the_warm_up_is_a_parameter() {
    let start = utc("2024-05-10T12:00:00Z");
    // One whole minute known is enough with a warm-up of 1: the tick a minute after the first
    // call warns, and the forecast is the status report's too.
    assert_eq!(first_warning_minute(1, start), Some(1));
    assert_eq!(first_warning_minute(2, start), Some(2));
    // The default waits 5 minutes.
    assert_eq!(first_warning_minute(BURN_MIN_MINUTES, start), Some(5));
    assert_eq!(first_warning_minute(15, start), Some(15));
    let mut ws = Ws::new(budget(100.0));
    ws.min = 1;
    ws.spend(1.0, add_secs(start, 30));
    assert!(ws.forecasts(add_secs(start, 59)).is_empty());
    let f = ws.forecasts(add_secs(start, 90));
    assert_eq!(f.len(), 1, "{f:?}");
    // 1 USD in the minute known, 99 left: 99 minutes from 12:01:30.
    assert_eq!(f[0].runs_out_at, utc("2024-05-10T13:40:30Z"));
    // The same history reads nothing with the default warm-up.
    ws.min = BURN_MIN_MINUTES;
    assert!(ws.forecasts(add_secs(start, 90)).is_empty());
    assert!(ws.forecasts(add_secs(start, 4 * 60 + 59)).is_empty());
}

#[test]
fn runs_out_at_is_none_when_used_up_or_idle() {
    let now = at(0);
    assert_eq!(runs_out_at(10, 10, 1.0, now), None);
    assert_eq!(runs_out_at(5, 10, 0.0, now), None);
    assert_eq!(runs_out_at(5, 10, f64::NAN, now), None);
    assert_eq!(runs_out_at(0, 10, 1.0, now), Some(add_secs(now, 10)));
}

#[test]
fn history_read_back_from_the_ledger_needs_no_warm_up() {
    let mut l = budget(100.0);
    l.alert_thresholds = Some(vec![]);
    let mut ws = Ws::new(l);
    let now = utc("2024-05-10T12:10:30Z");
    // Ten minutes of 1 USD a minute, as the ledger holds them, before a restart at 12:10:30.
    for m in 0..10u64 {
        let at = add_secs(utc("2024-05-10T12:00:20Z"), m * 60);
        call(&mut ws.m, demand(0, 0), actual(0, USD), at.min(now));
        ws.rules.restore_spend(
            at,
            Spent {
                requests: 1,
                tokens: 0,
                cost_nanos: USD,
            },
            now,
        );
    }
    // Rows older than the window are not history of the rate.
    ws.rules.restore_spend(
        utc("2024-05-10T11:00:00Z"),
        Spent {
            requests: 1,
            tokens: 0,
            cost_nanos: 50 * USD,
        },
        now,
    );
    let f = ws.rules.forecasts(&ws.m, now, ws.min);
    assert_eq!(f.len(), 1, "{f:?}");
    // 10 USD used, 90 left; the window's 15 minutes hold 10 USD (one minute left out as the
    // busiest, 9 USD over 14 minutes): about 0.64 USD a minute → about 140 minutes.
    let minutes = (f[0].runs_out_at - now).num_minutes();
    assert!((130..=150).contains(&minutes), "{minutes} min");
    assert!(burn_alerts(&ws.tick(now)).len() == 1);
}

#[test]
fn a_limit_can_have_thresholds_of_its_own() {
    let mut l = limits(&[
        (LimitKind::BudgetUsdPerDay, 10.0),
        (LimitKind::BudgetUsdPerMonth, 100.0),
    ]);
    l.alert_thresholds = Some(vec![0.05]);
    l.alert_thresholds_by_limit = Some(
        [(LimitKind::BudgetUsdPerDay, vec![0.9])]
            .into_iter()
            .collect(),
    );
    let mut ws = Ws::new(l);
    // 6 USD: 60 % of the day (its own 90 % not reached), 6 % of the month (5 % reached).
    let a = ws.spend(6.0, at(0));
    let limits: Vec<LimitKind> = a.iter().map(Alert::limit).collect();
    assert_eq!(limits, vec![LimitKind::BudgetUsdPerMonth], "{a:?}");
    let a = ws.spend(3.0, at(1));
    assert_eq!(crossed(&a), vec![0.9]);
    assert_eq!(a[0].limit(), LimitKind::BudgetUsdPerDay);
}
