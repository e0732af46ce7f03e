//! Status over time: the tracker that remembers each workspace's status, cause and since, the
//! transitions it reports, and the notices and status messages that describe them as Fluent
//! keys with arguments.
//!
//! Owns: which Fluent key (in `locales/*/notifications.ftl`), arguments and suggested actions
//! each status and transition gets, and the level of each notice. Must not: render text, read
//! the clock, do IO, or decide statuses (that is [`super::evaluate`]).
//!
//! Arguments: `limit` is a [`LimitKind`] wire name (`tokens_per_day`; the edge renders it with
//! [`limit_name_key`]), `status` a [`Status`] wire name ([`status_name_key`]), `from` the
//! previous status' wire name, `resource` is `requests` / `tokens` (the messages select on it;
//! do not translate it), `percent` a whole number, `retry_after` seconds, `consecutive` a count,
//! `model` a model name and `field` a limit field's name as written (`warning_at`; not
//! translated). Action keys take the same arguments as the message they come with.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::Evaluation;
use crate::types::{ArgValue, Cause, Level, LimitKind, Resource, Status};

/// A notification to raise, unrendered: a Fluent key (with `.title` and `.body`) and arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    pub level: Level,
    /// The workspace's status when the notice was raised.
    pub status: Status,
    pub key: &'static str,
    pub args: BTreeMap<String, ArgValue>,
    pub action_keys: Vec<&'static str>,
}

/// A change of status (or of its reason) and the notice it raises.
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    pub from: Status,
    pub to: Status,
    pub cause: Cause,
    pub at: DateTime<Utc>,
    pub notice: Notice,
}

/// Remembers a workspace's current status, cause and since when.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusTracker {
    status: Status,
    cause: Cause,
    since: DateTime<Utc>,
}

/// The kinds of situation that have their own message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reason {
    Normal,
    NearLimit(LimitKind),
    Headroom(Resource),
    WorkspaceRate(LimitKind),
    UpstreamRate,
    WorkspaceQuota(LimitKind),
    AccountQuota,
    Degraded,
    /// A status with no cause that explains it (not produced by `evaluate`).
    Other(Status),
}

fn reason(status: Status, cause: &Cause) -> Reason {
    if status == Status::Normal {
        return Reason::Normal;
    }
    match cause {
        Cause::NearLimit { limit, .. } => Reason::NearLimit(*limit),
        Cause::UpstreamHeadroomLow { resource, .. } => Reason::Headroom(*resource),
        Cause::WorkspaceLimit { limit } if limit.is_per_minute() => Reason::WorkspaceRate(*limit),
        Cause::WorkspaceLimit { limit } => Reason::WorkspaceQuota(*limit),
        Cause::UpstreamRateLimited => Reason::UpstreamRate,
        Cause::AccountQuotaExceeded => Reason::AccountQuota,
        Cause::UpstreamFailures { .. } => Reason::Degraded,
        Cause::None => Reason::Other(status),
    }
}

/// The level of a notice about entering `status`.
pub fn level_for(status: Status) -> Level {
    match status {
        Status::Normal => Level::Info,
        Status::Warning | Status::RateLimited => Level::Warning,
        Status::Degraded | Status::QuotaExceeded => Level::Error,
    }
}

/// The Fluent key of a limit's name (`limit-tokens_per_day`).
pub fn limit_name_key(kind: LimitKind) -> &'static str {
    match kind {
        LimitKind::RequestsPerMinute => "limit-requests_per_minute",
        LimitKind::RequestsPerDay => "limit-requests_per_day",
        LimitKind::TokensPerMinute => "limit-tokens_per_minute",
        LimitKind::TokensPerDay => "limit-tokens_per_day",
        LimitKind::BudgetUsdPerDay => "limit-budget_usd_per_day",
        LimitKind::BudgetUsdPerMonth => "limit-budget_usd_per_month",
    }
}

/// The Fluent key of a status' name (`status-name-rate_limited`).
pub fn status_name_key(status: Status) -> &'static str {
    match status {
        Status::Normal => "status-name-normal",
        Status::Warning => "status-name-warning",
        Status::Degraded => "status-name-degraded",
        Status::RateLimited => "status-name-rate_limited",
        Status::QuotaExceeded => "status-name-quota_exceeded",
    }
}

fn resource_str(resource: Resource) -> &'static str {
    match resource {
        Resource::Requests => "requests",
        Resource::Tokens => "tokens",
    }
}

/// A ratio as a whole percentage, rounded down (so 99.9% used never reads as 100%).
fn percent(ratio: f64) -> f64 {
    if ratio.is_nan() {
        return 0.0;
    }
    (ratio * 100.0 + 1e-9).floor().max(0.0)
}

fn text(s: &str) -> ArgValue {
    ArgValue::Text(s.to_string())
}

/// The arguments of a cause's message.
fn args_for(status: Status, cause: &Cause, retry_after: Option<u64>) -> BTreeMap<String, ArgValue> {
    let mut args = BTreeMap::new();
    let r = reason(status, cause);
    match r {
        Reason::Normal | Reason::AccountQuota | Reason::UpstreamRate => {}
        Reason::Other(s) => {
            args.insert("status".to_string(), text(s.as_str()));
        }
        Reason::NearLimit(limit) | Reason::WorkspaceRate(limit) | Reason::WorkspaceQuota(limit) => {
            args.insert("limit".to_string(), text(limit.as_str()));
        }
        Reason::Headroom(resource) => {
            args.insert("resource".to_string(), text(resource_str(resource)));
        }
        Reason::Degraded => {
            if let Cause::UpstreamFailures { consecutive } = cause {
                args.insert(
                    "consecutive".to_string(),
                    ArgValue::Number(f64::from(*consecutive)),
                );
            }
        }
    }
    if let (
        Reason::NearLimit(_) | Reason::Headroom(_),
        Cause::NearLimit { ratio, .. } | Cause::UpstreamHeadroomLow { ratio, .. },
    ) = (r, cause)
    {
        args.insert("percent".to_string(), ArgValue::Number(percent(*ratio)));
    }
    match retry_after {
        Some(secs) if r != Reason::Normal => {
            args.insert("retry_after".to_string(), ArgValue::Number(secs as f64));
        }
        _ => {}
    }
    args
}

/// The suggested actions for a situation. `action-wait-retry` (which shows `$retry_after`
/// seconds) only when the retry time is known and under a minute; `action-wait-retry-long`
/// (which shows it as `$wait`, in minutes or hours and minutes) when it is longer.
fn actions_for(r: Reason, retry_after: Option<u64>) -> Vec<&'static str> {
    let wait = match retry_after {
        Some(s) if s < app::i18n::MINUTE_SECS => "action-wait-retry",
        Some(_) => "action-wait-retry-long",
        None => "action-retry-later",
    };
    match r {
        Reason::Normal | Reason::Other(_) => vec![],
        Reason::NearLimit(_) => vec!["action-reduce-usage", "action-raise-limit"],
        Reason::Headroom(_) => vec!["action-reduce-usage", "action-check-upstream"],
        Reason::WorkspaceRate(_) => vec![wait, "action-reduce-usage", "action-raise-limit"],
        Reason::UpstreamRate => vec![wait, "action-check-upstream"],
        Reason::WorkspaceQuota(_) => vec!["action-wait-period-reset", "action-raise-limit"],
        Reason::AccountQuota => vec!["action-add-credit", "action-reset-after-credit"],
        Reason::Degraded => vec!["action-check-upstream", "action-retry-later"],
    }
}

fn notice_key(r: Reason) -> &'static str {
    match r {
        Reason::Normal => "notif-recovered",
        Reason::NearLimit(_) => "notif-warning-near-limit",
        Reason::Headroom(_) => "notif-warning-upstream-headroom",
        Reason::WorkspaceRate(_) => "notif-rate-limited-workspace",
        Reason::UpstreamRate => "notif-rate-limited-upstream",
        Reason::WorkspaceQuota(_) => "notif-quota-exceeded-workspace",
        Reason::AccountQuota => "notif-quota-exceeded-account",
        Reason::Degraded => "notif-degraded",
        Reason::Other(_) => "notif-status-changed",
    }
}

fn status_key(r: Reason) -> &'static str {
    match r {
        Reason::Normal => "status-normal",
        Reason::NearLimit(_) => "status-warning-near-limit",
        Reason::Headroom(_) => "status-warning-upstream-headroom",
        Reason::WorkspaceRate(_) => "status-rate-limited-workspace",
        Reason::UpstreamRate => "status-rate-limited-upstream",
        Reason::WorkspaceQuota(_) => "status-quota-exceeded-workspace",
        Reason::AccountQuota => "status-quota-exceeded-account",
        Reason::Degraded => "status-degraded",
        Reason::Other(_) => "status-other",
    }
}

/// The notice of entering `e` from `from`.
fn transition_notice(from: Status, e: &Evaluation) -> Notice {
    let r = reason(e.status, &e.cause);
    let mut args = args_for(e.status, &e.cause, e.retry_after_secs);
    if r == Reason::Normal {
        args.insert("from".to_string(), text(from.as_str()));
    }
    Notice {
        level: level_for(e.status),
        status: e.status,
        key: notice_key(r),
        args,
        action_keys: actions_for(r, e.retry_after_secs),
    }
}

/// A warning with its arguments and one suggested action.
fn warning(
    key: &'static str,
    args: impl IntoIterator<Item = (&'static str, ArgValue)>,
    action: &'static str,
    status: Status,
) -> Notice {
    Notice {
        level: Level::Warning,
        status,
        key,
        args: args.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        action_keys: vec![action],
    }
}

/// The warning that a model has no price, so its calls count no cost.
pub fn unpriced_model_notice(model: &str, status: Status) -> Notice {
    warning(
        "notif-unpriced-model",
        [("model", text(model))],
        "action-set-model-price",
        status,
    )
}

/// The warning that models have no price, coalesced: one model alone is
/// [`unpriced_model_notice`]; several are `notif-unpriced-models`, with `models` (the names
/// given, comma-separated) and `more` (how many others were seen).
pub fn unpriced_models_notice<M: AsRef<str>>(models: &[M], more: u64, status: Status) -> Notice {
    if let ([m], 0) = (models, more) {
        return unpriced_model_notice(m.as_ref(), status);
    }
    let names: Vec<&str> = models.iter().map(AsRef::as_ref).collect();
    warning(
        "notif-unpriced-models",
        [
            ("models", text(&names.join(", "))),
            ("more", ArgValue::Number(more as f64)),
        ],
        "action-set-model-price",
        status,
    )
}

/// The warning that a workspace's stored limits break a rule (`field` names the first field
/// that does), so the default limits apply to it instead.
pub fn stored_limits_invalid_notice(field: &str, status: Status) -> Notice {
    warning(
        "notif-stored-limits-invalid",
        [("field", text(field))],
        "action-fix-stored-limits",
        status,
    )
}

/// An instant as a notice argument: RFC 3339 in UTC, to the second. The edge shows it as a
/// local time in the reader's time zone (arguments named `*_at`).
pub fn instant(t: DateTime<Utc>) -> ArgValue {
    ArgValue::Text(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// An amount in a limit's unit, and that unit (`usd` or `count`) for the messages to select on.
fn amount(limit: LimitKind, v: f64) -> ArgValue {
    match limit {
        LimitKind::BudgetUsdPerDay | LimitKind::BudgetUsdPerMonth => {
            ArgValue::Number((v * 100.0).round() / 100.0)
        }
        _ => ArgValue::Number(v.round()),
    }
}

fn unit(limit: LimitKind) -> ArgValue {
    text(match limit {
        LimitKind::BudgetUsdPerDay | LimitKind::BudgetUsdPerMonth => "usd",
        _ => "count",
    })
}

/// The notice of an alert rule ([`super::alerting`]), raised while the workspace is in
/// `status`; `warning_at` is the workspace's warning share.
///
/// - `notif-alert-threshold`: `limit`, `percent` (the threshold), `used` and `cap` (in `unit`:
///   `usd` or `count`), `resets_at`, `soft` (`yes` / `no`). Info below `warning_at`, a warning
///   from it, an error at a hard limit's 100 %.
/// - `notif-alert-back-under`: `limit`, `percent` (the highest threshold that had fired),
///   `reason` (`period_reset`, `admin_reset`, `limit_raised`). Info.
/// - `notif-alert-burn-rate`: `limit`, `percent` (used so far), `runs_out_at`, `resets_at`. A
///   warning.
pub fn alert_notice(alert: &super::Alert, status: Status, warning_at: f64) -> Notice {
    use super::Alert;
    let limit_arg = |l: LimitKind| ("limit", text(l.as_str()));
    let (level, key, args, actions): (
        Level,
        &'static str,
        Vec<(&str, ArgValue)>,
        Vec<&'static str>,
    ) = match alert {
        Alert::Threshold {
            limit,
            threshold,
            used,
            cap,
            soft,
            resets_at,
            ..
        } => {
            let level = if *threshold + 1e-9 >= 1.0 && !soft {
                Level::Error
            } else if *threshold + 1e-9 >= warning_at || *threshold + 1e-9 >= 1.0 {
                Level::Warning
            } else {
                Level::Info
            };
            let actions = if level == Level::Error {
                vec!["action-wait-period-reset", "action-raise-limit"]
            } else if level == Level::Warning {
                vec!["action-reduce-usage"]
            } else {
                vec![]
            };
            (
                level,
                "notif-alert-threshold",
                vec![
                    limit_arg(*limit),
                    ("percent", ArgValue::Number(percent(*threshold))),
                    ("used", amount(*limit, *used)),
                    ("cap", amount(*limit, *cap)),
                    ("unit", unit(*limit)),
                    ("resets_at", instant(*resets_at)),
                    ("soft", text(if *soft { "yes" } else { "no" })),
                ],
                actions,
            )
        }
        Alert::BackUnder {
            limit,
            threshold,
            why,
            ..
        } => (
            Level::Info,
            "notif-alert-back-under",
            vec![
                limit_arg(*limit),
                ("percent", ArgValue::Number(percent(*threshold))),
                ("reason", text(why.as_str())),
            ],
            vec![],
        ),
        Alert::BurnRate {
            limit,
            runs_out_at,
            resets_at,
            used,
            cap,
            ..
        } => (
            Level::Warning,
            "notif-alert-burn-rate",
            vec![
                limit_arg(*limit),
                (
                    "percent",
                    ArgValue::Number(percent(if *cap > 0.0 { used / cap } else { 0.0 })),
                ),
                ("runs_out_at", instant(*runs_out_at)),
                ("resets_at", instant(*resets_at)),
            ],
            vec!["action-reduce-usage"],
        ),
    };
    Notice {
        level,
        status,
        key,
        args: args.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        action_keys: actions,
    }
}

/// The notice of an alert of the account-wide budget (`[account]`): as [`alert_notice`]'s,
/// worded for the whole account (`notif-account-alert-threshold`, `-back-under`,
/// `-burn-rate`), its status `warning` from the warning share on (else `normal`).
pub fn account_alert_notice(alert: &super::Alert, warning_at: f64) -> Notice {
    let mut n = alert_notice(alert, Status::Normal, warning_at);
    n.key = match n.key {
        "notif-alert-threshold" => "notif-account-alert-threshold",
        "notif-alert-back-under" => "notif-account-alert-back-under",
        _ => "notif-account-alert-burn-rate",
    };
    n.status = if n.level == Level::Info {
        Status::Normal
    } else {
        Status::Warning
    };
    // The account's budget only warns; what to do is to spend less.
    n.action_keys.retain(|k| *k == "action-reduce-usage");
    n
}

/// The current status' message (for `GET /api/quota/status`): a Fluent message key, its
/// arguments, and the suggested actions' keys.
pub fn describe(e: &Evaluation) -> (&'static str, BTreeMap<String, ArgValue>, Vec<&'static str>) {
    let r = reason(e.status, &e.cause);
    (
        status_key(r),
        args_for(e.status, &e.cause, e.retry_after_secs),
        actions_for(r, e.retry_after_secs),
    )
}

impl StatusTracker {
    /// A tracker that starts `Normal` at `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        StatusTracker {
            status: Status::Normal,
            cause: Cause::None,
            since: now,
        }
    }

    /// The current status, its cause, and since when the status holds.
    pub fn current(&self) -> (Status, &Cause, DateTime<Utc>) {
        (self.status, &self.cause, self.since)
    }

    /// Takes a fresh evaluation. Returns a transition when the status changed, or when it stayed
    /// but its reason changed (another limit, resource or kind of cause); `since` moves only
    /// with the status. Changes of ratio or failure count update the cause silently.
    pub fn update(&mut self, e: &Evaluation, now: DateTime<Utc>) -> Option<Transition> {
        let status_changed = e.status != self.status;
        let reason_changed = reason(e.status, &e.cause) != reason(self.status, &self.cause);
        let from = self.status;
        self.cause = e.cause.clone();
        if !status_changed && !reason_changed {
            return None;
        }
        if status_changed {
            self.since = now;
        }
        self.status = e.status;
        Some(Transition {
            from,
            to: e.status,
            cause: e.cause.clone(),
            at: now,
            notice: transition_notice(from, e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::testutil::*;
    use crate::quota::{
        evaluate, AccountPolicy, AccountState, Actual, Demand, UpstreamObservation, WorkspaceMeter,
    };
    use std::collections::BTreeSet;

    const FTL: &str = include_str!("../../locales/en/notifications.ftl");

    fn ev(status: Status, cause: Cause, retry: Option<u64>) -> Evaluation {
        Evaluation {
            status,
            cause,
            retry_after_secs: retry,
        }
    }

    /// The tracker's transition to `e` at `now`; none fails the test.
    fn transition(t: &mut StatusTracker, e: &Evaluation, now: DateTime<Utc>) -> Transition {
        t.update(e, now)
            .unwrap_or_else(|| panic!("no transition to {e:?} at {now}"))
    }

    /// Every evaluation shape `evaluate` can produce, and a few it cannot.
    fn all_evaluations() -> Vec<Evaluation> {
        let mut v = vec![
            Evaluation::normal(),
            ev(Status::RateLimited, Cause::UpstreamRateLimited, Some(20)),
            ev(Status::RateLimited, Cause::UpstreamRateLimited, Some(3_600)),
            ev(Status::RateLimited, Cause::UpstreamRateLimited, None),
            ev(Status::QuotaExceeded, Cause::AccountQuotaExceeded, None),
            ev(
                Status::Degraded,
                Cause::UpstreamFailures { consecutive: 3 },
                None,
            ),
        ];
        for limit in LimitKind::ALL {
            v.push(ev(
                Status::Warning,
                Cause::NearLimit { limit, ratio: 0.87 },
                None,
            ));
            let status = if limit.is_per_minute() {
                Status::RateLimited
            } else {
                Status::QuotaExceeded
            };
            v.push(ev(status, Cause::WorkspaceLimit { limit }, Some(42)));
            v.push(ev(status, Cause::WorkspaceLimit { limit }, None));
        }
        for resource in [Resource::Requests, Resource::Tokens] {
            v.push(ev(
                Status::Warning,
                Cause::UpstreamHeadroomLow {
                    resource,
                    ratio: 0.1,
                },
                None,
            ));
        }
        for s in Status::ALL {
            v.push(ev(s, Cause::None, None));
        }
        v
    }

    /// Message ids of the FTL file (lines starting with an identifier and `=`), with the
    /// variables and attributes of each message's block.
    fn parse_ftl() -> BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> {
        let mut out: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
        let mut current: Option<String> = None;
        for line in FTL.lines() {
            let starts_id = line.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
            if starts_id {
                let Some((id, _)) = line.split_once('=') else {
                    panic!("not a message line: {line}");
                };
                let id = id.trim().to_string();
                assert!(
                    id.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                    "bad id {id:?}"
                );
                assert!(!out.contains_key(&id), "duplicate message {id}");
                out.insert(id.clone(), Default::default());
                current = Some(id);
            } else if line.starts_with('#') || line.trim().is_empty() {
                if line.starts_with('#') {
                    current = None;
                }
                continue;
            } else if let Some(t) = line.trim_start().strip_prefix('.') {
                let Some(id) = current.as_ref() else {
                    panic!("orphan attribute: {line}")
                };
                let attr = t.split('=').next().unwrap_or_default().trim().to_string();
                out.entry(id.clone()).or_default().1.insert(attr);
            }
            if let Some(id) = current.as_ref() {
                let mut rest = line;
                while let Some(i) = rest.find('$') {
                    let name: String = rest[i + 1..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                        .collect();
                    out.entry(id.clone()).or_default().0.insert(name);
                    rest = &rest[i + 1..];
                }
            }
        }
        out
    }

    /// Checks that `key` exists, that its variables are all in `args` (`$wait` is added at the
    /// edge from `retry_after`), and (for notices) that it has a title and a body.
    fn check(
        ftl: &BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)>,
        key: &str,
        args: &BTreeMap<String, ArgValue>,
        notice: bool,
    ) {
        let Some((vars, attrs)) = ftl.get(key) else {
            panic!("{key} is missing from locales/en/notifications.ftl");
        };
        for v in vars {
            let from = if v == "wait" { "retry_after" } else { v };
            assert!(
                args.contains_key(from),
                "{key} uses ${v} but is given only {args:?}"
            );
        }
        if notice {
            assert!(
                attrs.contains("title") && attrs.contains("body"),
                "{key} needs .title and .body"
            );
        }
    }

    #[test]
    fn every_key_the_core_emits_is_in_the_english_ftl() {
        let ftl = parse_ftl();
        let mut used = BTreeSet::new();
        for e in all_evaluations() {
            let (key, args, actions) = describe(&e);
            check(&ftl, key, &args, false);
            used.insert(key);
            for a in actions {
                check(&ftl, a, &args, false);
                used.insert(a);
            }
            for from in Status::ALL {
                let n = transition_notice(from, &e);
                check(&ftl, n.key, &n.args, true);
                used.insert(n.key);
                for a in &n.action_keys {
                    check(&ftl, a, &n.args, false);
                    used.insert(a);
                }
            }
        }
        let t0 = chrono::DateTime::<Utc>::UNIX_EPOCH;
        let mut alerts = vec![super::super::Alert::BurnRate {
            limit: LimitKind::TokensPerDay,
            period: 1,
            runs_out_at: t0,
            resets_at: t0,
            used: 1.0,
            cap: 2.0,
        }];
        for (threshold, soft) in [(0.5, false), (0.8, false), (1.0, false), (1.0, true)] {
            alerts.push(super::super::Alert::Threshold {
                limit: LimitKind::BudgetUsdPerDay,
                threshold,
                round: Default::default(),
                used: 1.0,
                cap: 2.0,
                soft,
                resets_at: t0,
            });
        }
        for why in [
            super::super::Under::PeriodReset,
            super::super::Under::AdminReset,
            super::super::Under::LimitRaised,
        ] {
            alerts.push(super::super::Alert::BackUnder {
                limit: LimitKind::RequestsPerDay,
                threshold: 0.8,
                round: Default::default(),
                why,
            });
        }
        let alert_notices = alerts.iter().flat_map(|a| {
            [
                alert_notice(a, Status::Warning, 0.8),
                account_alert_notice(a, 0.8),
            ]
        });
        for n in [
            unpriced_model_notice("gpt-x", Status::Normal),
            unpriced_models_notice(&["gpt-x", "gpt-y"], 7, Status::Normal),
            stored_limits_invalid_notice("warning_at", Status::Normal),
        ]
        .into_iter()
        .chain(alert_notices)
        {
            check(&ftl, n.key, &n.args, true);
            used.insert(n.key);
            for a in &n.action_keys {
                check(&ftl, a, &n.args, false);
                used.insert(a);
            }
        }
        let none = BTreeMap::new();
        for k in LimitKind::ALL {
            check(&ftl, limit_name_key(k), &none, false);
            assert_eq!(limit_name_key(k), format!("limit-{}", k.as_str()));
            used.insert(limit_name_key(k));
        }
        for s in Status::ALL {
            check(&ftl, status_name_key(s), &none, false);
            assert_eq!(status_name_key(s), format!("status-name-{}", s.as_str()));
            used.insert(status_name_key(s));
        }
        // And the file holds nothing the core never emits.
        let unused: Vec<_> = ftl.keys().filter(|k| !used.contains(k.as_str())).collect();
        assert!(unused.is_empty(), "unused messages: {unused:?}");
        // The account quota notice says what to do.
        let body = FTL
            .lines()
            .skip_while(|l| !l.starts_with("notif-quota-exceeded-account"))
            .take(3)
            .collect::<String>();
        assert!(body.contains("credit") && body.contains("reset"), "{body}");
    }

    /// `n` is a warning raised at `status`, with message `key` and the text argument `arg`.
    fn assert_warning(n: &Notice, status: Status, key: &str, arg: (&str, &str)) {
        assert_eq!((n.level, n.status, n.key), (Level::Warning, status, key));
        assert_eq!(n.args.get(arg.0), Some(&text(arg.1)), "{key}");
    }

    #[test]
    fn levels_follow_the_status() {
        assert_eq!(level_for(Status::QuotaExceeded), Level::Error);
        assert_eq!(level_for(Status::Degraded), Level::Error);
        assert_eq!(level_for(Status::RateLimited), Level::Warning);
        assert_eq!(level_for(Status::Warning), Level::Warning);
        assert_eq!(level_for(Status::Normal), Level::Info);
        let n = unpriced_model_notice("m", Status::QuotaExceeded);
        assert_warning(
            &n,
            Status::QuotaExceeded,
            "notif-unpriced-model",
            ("model", "m"),
        );
        assert_eq!(
            unpriced_models_notice(&["m"], 0, Status::Normal).key,
            "notif-unpriced-model"
        );
        let n = unpriced_models_notice(&["a", "b", "c"], 997, Status::Normal);
        assert_eq!(n.key, "notif-unpriced-models");
        assert_eq!(
            n.args.get("models"),
            Some(&ArgValue::Text("a, b, c".into()))
        );
        assert_eq!(n.args.get("more"), Some(&ArgValue::Number(997.0)));
        assert_eq!(
            unpriced_models_notice(&["a"], 2, Status::Normal).key,
            "notif-unpriced-models"
        );
        let n = stored_limits_invalid_notice("warning_at", Status::Warning);
        assert_warning(
            &n,
            Status::Warning,
            "notif-stored-limits-invalid",
            ("field", "warning_at"),
        );
        assert_eq!(n.action_keys, ["action-fix-stored-limits"]);
    }

    #[test]
    fn the_tracker_starts_normal_and_reports_each_transition() {
        let mut t = StatusTracker::new(at(0));
        assert_eq!(t.current(), (Status::Normal, &Cause::None, at(0)));
        assert_eq!(t.update(&Evaluation::normal(), at(1)), None);

        let near = ev(
            Status::Warning,
            near_limit(LimitKind::TokensPerDay, 0.81),
            None,
        );
        let tr = transition(&mut t, &near, at(2));
        assert_eq!(
            (tr.from, tr.to, tr.at),
            (Status::Normal, Status::Warning, at(2))
        );
        assert_eq!(tr.cause, near.cause);
        assert_eq!(tr.notice.key, "notif-warning-near-limit");
        assert_eq!(tr.notice.level, Level::Warning);
        assert_eq!(tr.notice.status, Status::Warning);
        assert_eq!(
            tr.notice.args.get("limit"),
            Some(&ArgValue::Text("tokens_per_day".into()))
        );
        assert_eq!(tr.notice.args.get("percent"), Some(&ArgValue::Number(81.0)));
        assert_eq!(t.current().2, at(2));

        // Ratio creeping up: silent, but the cause is current.
        let nearer = ev(
            Status::Warning,
            near_limit(LimitKind::TokensPerDay, 0.9),
            None,
        );
        assert_eq!(t.update(&nearer, at(3)), None);
        assert_eq!(t.current(), (Status::Warning, &nearer.cause, at(2)));

        // Another limit becomes the reason: notified, since kept.
        let other = ev(
            Status::Warning,
            near_limit(LimitKind::BudgetUsdPerMonth, 0.95),
            None,
        );
        let tr = transition(&mut t, &other, at(4));
        assert_eq!((tr.from, tr.to), (Status::Warning, Status::Warning));
        assert_eq!(
            tr.notice.args.get("limit"),
            Some(&ArgValue::Text("budget_usd_per_month".into()))
        );
        assert_eq!(t.current().2, at(2));

        let rl = ev(
            Status::RateLimited,
            limit_reached(LimitKind::RequestsPerMinute),
            Some(12),
        );
        let tr = transition(&mut t, &rl, at(5));
        assert_eq!(tr.notice.key, "notif-rate-limited-workspace");
        assert_eq!(tr.notice.level, Level::Warning);
        assert_eq!(
            tr.notice.args.get("retry_after"),
            Some(&ArgValue::Number(12.0))
        );
        assert_eq!(tr.notice.action_keys[0], "action-wait-retry");
        // Same reason, shorter retry: silent.
        let rl2 = ev(
            Status::RateLimited,
            limit_reached(LimitKind::RequestsPerMinute),
            Some(3),
        );
        assert_eq!(t.update(&rl2, at(14)), None);
        // Upstream takes over the same status: notified.
        let up = ev(Status::RateLimited, Cause::UpstreamRateLimited, Some(20));
        let tr = transition(&mut t, &up, at(15));
        assert_eq!(tr.notice.key, "notif-rate-limited-upstream");

        let q = ev(Status::QuotaExceeded, Cause::AccountQuotaExceeded, None);
        let tr = transition(&mut t, &q, at(16));
        assert_eq!(tr.notice.key, "notif-quota-exceeded-account");
        assert_eq!(tr.notice.level, Level::Error);
        assert_eq!(
            tr.notice.action_keys,
            vec!["action-add-credit", "action-reset-after-credit"]
        );

        let d = ev(
            Status::Degraded,
            Cause::UpstreamFailures { consecutive: 3 },
            None,
        );
        let tr = transition(&mut t, &d, at(17));
        assert_eq!(
            (tr.notice.key, tr.notice.level),
            ("notif-degraded", Level::Error)
        );
        assert_eq!(
            tr.notice.args.get("consecutive"),
            Some(&ArgValue::Number(3.0))
        );
        // More failures: silent.
        let d5 = ev(
            Status::Degraded,
            Cause::UpstreamFailures { consecutive: 5 },
            None,
        );
        assert_eq!(t.update(&d5, at(18)), None);

        let tr = transition(&mut t, &Evaluation::normal(), at(19));
        assert_eq!((tr.from, tr.to), (Status::Degraded, Status::Normal));
        assert_eq!(
            (tr.notice.key, tr.notice.level),
            ("notif-recovered", Level::Info)
        );
        assert_eq!(
            tr.notice.args.get("from"),
            Some(&ArgValue::Text("degraded".into()))
        );
        assert!(tr.notice.action_keys.is_empty());
        assert_eq!(t.current(), (Status::Normal, &Cause::None, at(19)));
    }

    #[test]
    fn describe_gives_one_message_per_cause() {
        let (k, a, acts) = describe(&Evaluation::normal());
        assert_eq!((k, a.len(), acts.len()), ("status-normal", 0, 0));
        let (k, a, acts) = describe(&ev(
            Status::QuotaExceeded,
            limit_reached(LimitKind::BudgetUsdPerDay),
            Some(3600),
        ));
        assert_eq!(k, "status-quota-exceeded-workspace");
        assert_eq!(
            a.get("limit"),
            Some(&ArgValue::Text("budget_usd_per_day".into()))
        );
        assert_eq!(a.get("retry_after"), Some(&ArgValue::Number(3600.0)));
        assert_eq!(acts, vec!["action-wait-period-reset", "action-raise-limit"]);
        let (k, a, _) = describe(&ev(
            Status::Warning,
            Cause::UpstreamHeadroomLow {
                resource: Resource::Tokens,
                ratio: 0.125,
            },
            None,
        ));
        assert_eq!(k, "status-warning-upstream-headroom");
        assert_eq!(a.get("resource"), Some(&ArgValue::Text("tokens".into())));
        assert_eq!(a.get("percent"), Some(&ArgValue::Number(12.0)));
        let (k, _, acts) = describe(&ev(Status::RateLimited, Cause::UpstreamRateLimited, None));
        assert_eq!(k, "status-rate-limited-upstream");
        assert_eq!(acts[0], "action-retry-later");
        let (k, a, _) = describe(&ev(Status::Degraded, Cause::None, None));
        assert_eq!(k, "status-other");
        assert_eq!(a.get("status"), Some(&ArgValue::Text("degraded".into())));
        // A normal status ignores a stray cause.
        let (k, _, _) = describe(&ev(Status::Normal, Cause::UpstreamRateLimited, None));
        assert_eq!(k, "status-normal");
    }

    #[test]
    fn percent_rounds_down() {
        let cases = [
            (0.8, 80.0),
            (0.29, 29.0),
            (0.999, 99.0),
            (1.5, 150.0),
            (f64::NAN, 0.0),
            (-0.1, 0.0),
        ];
        for (ratio, want) in cases {
            assert_eq!(percent(ratio), want, "{ratio}");
        }
    }

    /// A whole scenario through `evaluate` and the tracker: refusal, its expiry, account states.
    #[test]
    fn a_day_in_the_life() {
        let mut m = meter(limits(&[
            (LimitKind::RequestsPerMinute, 5.0),
            (LimitKind::TokensPerDay, 10_000.0),
        ]));
        let mut a = AccountState::new(AccountPolicy::default());
        let mut t = StatusTracker::new(at(0));
        let mut seen = Vec::new();
        let mut step = |m: &WorkspaceMeter, a: &AccountState, t: &mut StatusTracker, now| {
            if let Some(tr) = t.update(&evaluate(m, a, now), now) {
                seen.push((tr.to, tr.notice.key, now));
            }
        };
        // Four calls: 4/5 = 0.8 → warning.
        for i in 0..4 {
            call(&mut m, demand(100, 0), unpriced(50), at(i));
            step(&m, &a, &mut t, at(i));
        }
        // Fifth: limit reached → rate limited until the first leaves (t+60).
        call(&mut m, Demand::default(), Actual::default(), at(10));
        step(&m, &a, &mut t, at(10));
        assert_eq!(evaluate(&m, &a, at(10)).retry_after_secs, Some(50));
        // Sixth refused.
        assert!(m.admit(Demand::default(), at(11)).is_err());
        step(&m, &a, &mut t, at(11));
        step(&m, &a, &mut t, at(59));
        // At t+60, 4 left in the window: warning again; t+120 normal.
        step(&m, &a, &mut t, at(60));
        step(&m, &a, &mut t, at(120));
        // The account runs out of credit, then is reset.
        a.observe(UpstreamObservation::QuotaExhausted, at(200));
        step(&m, &a, &mut t, at(200));
        a.reset(at(300));
        m.reset(at(300));
        step(&m, &a, &mut t, at(300));
        assert_eq!(
            seen,
            vec![
                (Status::Warning, "notif-warning-near-limit", at(3)),
                (Status::RateLimited, "notif-rate-limited-workspace", at(10)),
                (Status::Warning, "notif-warning-near-limit", at(60)),
                (Status::Normal, "notif-recovered", at(120)),
                (
                    Status::QuotaExceeded,
                    "notif-quota-exceeded-account",
                    at(200)
                ),
                (Status::Normal, "notif-recovered", at(300)),
            ]
        );
    }
}
