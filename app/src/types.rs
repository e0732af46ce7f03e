//! Every JSON shape of the REST API and the WebSocket, shared by the server and the browser.
//!
//! This module depends on `serde` and `chrono` only, so the gateway core can use its enums
//! without pulling in anything of the UI. Field names here are the public contract of the API:
//! changing one is a breaking change for every client.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A workspace's quota status. The derive order is the precedence: when several causes hold at
/// once, the greatest wins (`QuotaExceeded` > `RateLimited` > `Degraded` > `Warning` > `Normal`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Normal,
    Warning,
    Degraded,
    RateLimited,
    QuotaExceeded,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Normal,
        Status::Warning,
        Status::Degraded,
        Status::RateLimited,
        Status::QuotaExceeded,
    ];

    /// The wire name (`"rate_limited"`), also used in Fluent keys and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Normal => "normal",
            Status::Warning => "warning",
            Status::Degraded => "degraded",
            Status::RateLimited => "rate_limited",
            Status::QuotaExceeded => "quota_exceeded",
        }
    }

    /// Statuses during which calls are (or are likely to be) refused: the UI shows a banner.
    pub fn is_blocking(self) -> bool {
        matches!(
            self,
            Status::RateLimited | Status::QuotaExceeded | Status::Degraded
        )
    }
}

/// The severity of a notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Info,
    Warning,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// One of a workspace's limits. `kind as usize` is its index in [`LimitKind::ALL`], and
/// [`strum::EnumCount::COUNT`] (also [`LimitKind::COUNT`]) how many there are.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::EnumCount,
)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    RequestsPerMinute,
    RequestsPerDay,
    TokensPerMinute,
    TokensPerDay,
    BudgetUsdPerDay,
    BudgetUsdPerMonth,
}

impl LimitKind {
    /// How many kinds there are (counted by the derive, never written down).
    pub const COUNT: usize = <LimitKind as strum::EnumCount>::COUNT;

    /// Every kind, in declaration order: `ALL[k as usize] == k`.
    pub const ALL: [LimitKind; LimitKind::COUNT] = [
        LimitKind::RequestsPerMinute,
        LimitKind::RequestsPerDay,
        LimitKind::TokensPerMinute,
        LimitKind::TokensPerDay,
        LimitKind::BudgetUsdPerDay,
        LimitKind::BudgetUsdPerMonth,
    ];

    /// The config / JSON field name (`"tokens_per_day"`), also used in Fluent keys.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::RequestsPerMinute => "requests_per_minute",
            LimitKind::RequestsPerDay => "requests_per_day",
            LimitKind::TokensPerMinute => "tokens_per_minute",
            LimitKind::TokensPerDay => "tokens_per_day",
            LimitKind::BudgetUsdPerDay => "budget_usd_per_day",
            LimitKind::BudgetUsdPerMonth => "budget_usd_per_month",
        }
    }

    /// The error `type` of a 429 refused because of this limit: `requests`, `tokens` or `budget`.
    pub fn error_type(self) -> &'static str {
        match self {
            LimitKind::RequestsPerMinute | LimitKind::RequestsPerDay => "requests",
            LimitKind::TokensPerMinute | LimitKind::TokensPerDay => "tokens",
            LimitKind::BudgetUsdPerDay | LimitKind::BudgetUsdPerMonth => "budget",
        }
    }

    /// Minute limits recover within a minute (`rate_limited`); day and month limits at the end
    /// of their calendar period (`quota_exceeded`).
    pub fn is_per_minute(self) -> bool {
        matches!(
            self,
            LimitKind::RequestsPerMinute | LimitKind::TokensPerMinute
        )
    }
}

/// Whose limit caused a status: the workspace's own, or the OpenAI account's behind the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Workspace,
    Account,
}

/// Why a workspace is in its status. Carries structured data; text is rendered at the edge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Cause {
    /// Nothing to report.
    None,
    /// A workspace limit is at or above its warning threshold.
    NearLimit { limit: LimitKind, ratio: f64 },
    /// The upstream account's `x-ratelimit-remaining-*` headroom is low.
    UpstreamHeadroomLow { resource: Resource, ratio: f64 },
    /// A workspace limit is reached (minute limits → rate_limited, others → quota_exceeded).
    WorkspaceLimit { limit: LimitKind },
    /// The upstream answered 429 `rate_limit_exceeded`.
    UpstreamRateLimited,
    /// The upstream answered 429 `insufficient_quota` or 400 `billing_hard_limit_reached`:
    /// the OpenAI account is out of credit.
    AccountQuotaExceeded,
    /// Consecutive upstream failures (5xx, timeouts, refused connections).
    UpstreamFailures { consecutive: u32 },
}

impl Cause {
    pub fn scope(&self) -> Option<Scope> {
        match self {
            Cause::None => None,
            Cause::NearLimit { .. } | Cause::WorkspaceLimit { .. } => Some(Scope::Workspace),
            Cause::UpstreamHeadroomLow { .. }
            | Cause::UpstreamRateLimited
            | Cause::AccountQuotaExceeded
            | Cause::UpstreamFailures { .. } => Some(Scope::Account),
        }
    }
}

/// An upstream rate-limit resource (`x-ratelimit-*-requests` or `x-ratelimit-*-tokens`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    Requests,
    Tokens,
}

/// Usage in the current windows and calendar periods.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub requests_minute: u64,
    pub requests_day: u64,
    pub tokens_minute: u64,
    pub tokens_day: u64,
    pub cost_usd_day: f64,
    pub cost_usd_month: f64,
}

/// The limit fields, spelled once, in two forms:
/// - [`Limits`] (`W = f64`): a workspace's limits in force; `None` means "no limit". Part of
///   every status report.
/// - [`LimitFields`] (`W = Option<f64>`): the limits as written, in the config file's
///   `[defaults]` and `[[workspaces]]`, the admin API's create body and the stored workspaces. A
///   field left out takes another's value ([`LimitFields::or`], [`LimitFields::resolve`]); `0`
///   means "no limit".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSet<W> {
    pub requests_per_minute: Option<u64>,
    pub requests_per_day: Option<u64>,
    pub tokens_per_minute: Option<u64>,
    pub tokens_per_day: Option<u64>,
    pub budget_usd_per_day: Option<f64>,
    pub budget_usd_per_month: Option<f64>,
    /// The share of a limit used at which the workspace is warned, in (0, 1].
    pub warning_at: W,
    /// The shares of each day and month limit at which an alert is raised, once per period
    /// (each in (0, 1]); `None` means [`DEFAULT_ALERT_THRESHOLDS`], `[]` no threshold alerts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_thresholds: Option<Vec<f64>>,
    /// Thresholds of single day or month limits, in place of `alert_thresholds` for them
    /// (`{ budget_usd_per_day = [0.9, 1.0] }`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_thresholds_by_limit: Option<BTreeMap<LimitKind, Vec<f64>>>,
    /// Limits that only warn: they raise their alerts and never refuse a call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_limits: Option<Vec<LimitKind>>,
    /// The shares of every limit from which `optional` and `normal` calls
    /// (`X-Quota-Priority`) are refused; `critical` calls and calls without the header are
    /// refused only at the limit. See [`Limits::share_of`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_shares: Option<PriorityShares>,
    /// Model downgrade rules, applied in order; `[]` (the default) downgrades nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downgrade: Option<Vec<DowngradeRule>>,
    /// Gateway-side retries of an upstream `rate_limit_exceeded` (0 to
    /// [`MAX_UPSTREAM_RETRIES`]); 0, the default, is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_retries: Option<u32>,
    /// The local time (`HH:MM`, in `[server] time_zone`) at which day limits reset and days
    /// begin; the default is midnight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_daily_at: Option<String>,
    /// The day of the month (1 to 31) on which month limits reset, at `reset_daily_at`; a
    /// shorter month resets on its last day. The default is the 1st.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_monthly_on: Option<u32>,
}

/// A call's priority class, from `X-Quota-Priority`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Optional,
    Normal,
    Critical,
}

impl Priority {
    /// The header value (`"optional"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Optional => "optional",
            Priority::Normal => "normal",
            Priority::Critical => "critical",
        }
    }

    /// The class of a header value; `None` for anything but the three names.
    pub fn parse(s: &str) -> Option<Priority> {
        match s {
            "optional" => Some(Priority::Optional),
            "normal" => Some(Priority::Normal),
            "critical" => Some(Priority::Critical),
            _ => None,
        }
    }
}

/// `priority_shares` as written: either share may be left out (its default then applies).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorityShares {
    /// Default: the workspace's `warning_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<f64>,
    /// Default: [`DEFAULT_NORMAL_SHARE`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normal: Option<f64>,
}

/// The share of a limit from which `normal` calls are refused when `priority_shares` does not
/// say.
pub const DEFAULT_NORMAL_SHARE: f64 = 0.95;

/// One downgrade rule: calls for model `from` use `to` instead once the workspace's USD budgets
/// reach the share `at` (the day's or the month's, whichever is further along).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DowngradeRule {
    pub from: String,
    pub to: String,
    pub at: f64,
}

/// At most this many downgrade rules per workspace.
pub const MAX_DOWNGRADE_RULES: usize = 20;
/// At most this many gateway-side retries per call.
pub const MAX_UPSTREAM_RETRIES: u32 = 5;

/// The alert thresholds of a workspace that sets none.
pub const DEFAULT_ALERT_THRESHOLDS: [f64; 4] = [0.5, 0.8, 0.95, 1.0];

/// At most this many alert thresholds per workspace.
pub const MAX_ALERT_THRESHOLDS: usize = 10;

/// A workspace's limits in force; `None` means "no limit".
pub type Limits = LimitSet<f64>;

/// Limits as written: `None` means "not given", `0` "no limit". See [`LimitSet`].
pub type LimitFields = LimitSet<Option<f64>>;

impl Default for Limits {
    fn default() -> Self {
        LimitFields::default().with_warning_at(0.8)
    }
}

impl Default for LimitFields {
    fn default() -> Self {
        LimitFields {
            requests_per_minute: None,
            requests_per_day: None,
            tokens_per_minute: None,
            tokens_per_day: None,
            budget_usd_per_day: None,
            budget_usd_per_month: None,
            warning_at: None,
            alert_thresholds: None,
            alert_thresholds_by_limit: None,
            soft_limits: None,
            priority_shares: None,
            downgrade: None,
            upstream_retries: None,
            reset_daily_at: None,
            reset_monthly_on: None,
        }
    }
}

impl<W> LimitSet<W> {
    /// The same limits with another `warning_at`.
    fn with_warning_at<V>(self, warning_at: V) -> LimitSet<V> {
        LimitSet {
            requests_per_minute: self.requests_per_minute,
            requests_per_day: self.requests_per_day,
            tokens_per_minute: self.tokens_per_minute,
            tokens_per_day: self.tokens_per_day,
            budget_usd_per_day: self.budget_usd_per_day,
            budget_usd_per_month: self.budget_usd_per_month,
            warning_at,
            alert_thresholds: self.alert_thresholds,
            alert_thresholds_by_limit: self.alert_thresholds_by_limit,
            soft_limits: self.soft_limits,
            priority_shares: self.priority_shares,
            downgrade: self.downgrade,
            upstream_retries: self.upstream_retries,
            reset_daily_at: self.reset_daily_at,
            reset_monthly_on: self.reset_monthly_on,
        }
    }
}

impl Limits {
    /// The limit of one kind as a float (USD limits as dollars, the others as counts).
    pub fn get(&self, kind: LimitKind) -> Option<f64> {
        match kind {
            LimitKind::RequestsPerMinute => self.requests_per_minute.map(|v| v as f64),
            LimitKind::RequestsPerDay => self.requests_per_day.map(|v| v as f64),
            LimitKind::TokensPerMinute => self.tokens_per_minute.map(|v| v as f64),
            LimitKind::TokensPerDay => self.tokens_per_day.map(|v| v as f64),
            LimitKind::BudgetUsdPerDay => self.budget_usd_per_day,
            LimitKind::BudgetUsdPerMonth => self.budget_usd_per_month,
        }
    }

    /// The alert thresholds in force for every limit without its own, ascending.
    pub fn thresholds(&self) -> &[f64] {
        self.alert_thresholds
            .as_deref()
            .unwrap_or(&DEFAULT_ALERT_THRESHOLDS)
    }

    /// The alert thresholds in force for `kind`, ascending: its own, else [`Limits::thresholds`].
    pub fn thresholds_of(&self, kind: LimitKind) -> &[f64] {
        self.alert_thresholds_by_limit
            .as_ref()
            .and_then(|m| m.get(&kind))
            .map_or_else(|| self.thresholds(), Vec::as_slice)
    }

    /// Whether `kind` only warns (never refuses).
    pub fn is_soft(&self, kind: LimitKind) -> bool {
        self.soft_limits.as_ref().is_some_and(|s| s.contains(&kind))
    }

    /// The share of each limit up to which calls of `priority` are admitted: `optional` ones to
    /// `priority_shares.optional` (default `warning_at`), `normal` ones to
    /// `priority_shares.normal` (default [`DEFAULT_NORMAL_SHARE`]), `critical` ones and calls
    /// without a class (`None`) to the whole limit (1.0).
    pub fn share_of(&self, priority: Option<Priority>) -> f64 {
        let shares = self.priority_shares.unwrap_or_default();
        match priority {
            Some(Priority::Optional) => shares.optional.unwrap_or(self.warning_at),
            Some(Priority::Normal) => shares.normal.unwrap_or(DEFAULT_NORMAL_SHARE),
            Some(Priority::Critical) | None => 1.0,
        }
    }

    /// The downgrade rules in force (none by default).
    pub fn downgrades(&self) -> &[DowngradeRule] {
        self.downgrade.as_deref().unwrap_or_default()
    }

    /// Gateway-side retries of an upstream `rate_limit_exceeded` (0: off).
    pub fn retries(&self) -> u32 {
        self.upstream_retries.unwrap_or(0)
    }

    /// Seconds after local midnight at which days begin (`reset_daily_at`; 0 by default).
    pub fn day_starts_at_secs(&self) -> u32 {
        self.reset_daily_at
            .as_deref()
            .and_then(parse_clock_time)
            .unwrap_or(0)
    }

    /// The day of the month on which months begin (`reset_monthly_on`; 1 by default).
    pub fn month_starts_on(&self) -> u32 {
        self.reset_monthly_on.unwrap_or(1)
    }
}

/// `HH:MM` (or `HH:MM:SS`), 24-hour, as seconds after midnight; `None` when malformed.
pub fn parse_clock_time(s: &str) -> Option<u32> {
    let mut parts = s.split(':');
    let mut next = |max: u32| -> Option<Option<u32>> {
        match parts.next() {
            None => Some(None),
            Some(p) if p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit()) => {
                let v: u32 = p.parse().ok()?;
                (v <= max).then_some(Some(v))
            }
            Some(_) => None,
        }
    };
    let h = next(23)??;
    let m = next(59)??;
    let sec = next(59)?.unwrap_or(0);
    if parts.next().is_some() {
        return None;
    }
    Some(h * 3600 + m * 60 + sec)
}

/// Why written limits are refused; the message is the rule, [`LimitError::field`] the field.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LimitError {
    #[error("must be a non-negative number of USD")]
    Budget(LimitKind),
    #[error("must be a fraction in (0, 1], e.g. 0.8")]
    WarningAt,
    #[error("must be a list of at most 10 fractions in (0, 1], e.g. [0.5, 0.8, 0.95, 1.0]")]
    AlertThresholds,
    #[error("must map day and month limits (minute limits have no thresholds) to lists of at most 10 fractions in (0, 1], e.g. {{ budget_usd_per_day = [0.9, 1.0] }}")]
    AlertThresholdsByLimit,
    #[error("must give optional and normal as fractions in (0, 1] with optional at most normal, e.g. {{ optional = 0.8, normal = 0.95 }}")]
    PriorityShares,
    #[error("must be a list of at most 20 rules {{ from, to, at }}: two different model names and a fraction in (0, 1], each model downgraded by one rule at most, e.g. [{{ from = \"gpt-4o\", to = \"gpt-4o-mini\", at = 0.9 }}]")]
    Downgrade,
    #[error("must be a whole number of retries from 0 to 5")]
    UpstreamRetries,
    #[error("must be a local time HH:MM (24-hour), e.g. 06:00")]
    ResetDailyAt,
    #[error("must be a day of the month from 1 to 31 (a shorter month resets on its last day)")]
    ResetMonthlyOn,
}

impl LimitError {
    /// The field at fault, as written (`budget_usd_per_day`, `warning_at`).
    pub fn field(&self) -> &'static str {
        match self {
            LimitError::Budget(kind) => kind.as_str(),
            LimitError::WarningAt => "warning_at",
            LimitError::AlertThresholds => "alert_thresholds",
            LimitError::AlertThresholdsByLimit => "alert_thresholds_by_limit",
            LimitError::PriorityShares => "priority_shares",
            LimitError::Downgrade => "downgrade",
            LimitError::UpstreamRetries => "upstream_retries",
            LimitError::ResetDailyAt => "reset_daily_at",
            LimitError::ResetMonthlyOn => "reset_monthly_on",
        }
    }

    /// The Fluent key of the rule in words (`limit-rule-warning_at`), for clients that show it
    /// in the reader's language; every locale has one per field.
    pub fn key(&self) -> String {
        match self {
            LimitError::Budget(_) => "limit-rule-budget".to_string(),
            other => format!("limit-rule-{}", other.field()),
        }
    }
}

/// Checks `priority_shares` as written: each share in (0, 1], `optional` at most `normal`
/// (each side's default included).
fn checked_shares(s: PriorityShares, warning_at: f64) -> Option<PriorityShares> {
    let ok = |v: Option<f64>| v.is_none_or(|v| v > 0.0 && v <= 1.0);
    let optional = s.optional.unwrap_or(warning_at);
    let normal = s.normal.unwrap_or(DEFAULT_NORMAL_SHARE);
    (ok(s.optional) && ok(s.normal) && optional <= normal).then_some(s)
}

/// Whether a model name can be written in a downgrade rule: 1 to 200 visible ASCII
/// characters.
fn model_name_ok(m: &str) -> bool {
    !m.is_empty() && m.len() <= 200 && m.bytes().all(|b| b.is_ascii_graphic())
}

/// Checks downgrade rules as written (see [`LimitError::Downgrade`]).
fn checked_downgrade(rules: &[DowngradeRule]) -> Option<Vec<DowngradeRule>> {
    if rules.len() > MAX_DOWNGRADE_RULES {
        return None;
    }
    for (i, r) in rules.iter().enumerate() {
        let ok = model_name_ok(&r.from)
            && model_name_ok(&r.to)
            && r.from != r.to
            && r.at > 0.0
            && r.at <= 1.0;
        if !ok || rules[..i].iter().any(|o| o.from == r.from) {
            return None;
        }
    }
    Some(rules.to_vec())
}

/// Alert thresholds as written, checked: at most [`MAX_ALERT_THRESHOLDS`] shares in (0, 1],
/// ascending without repeats. `None` if one breaks the rule.
fn checked_thresholds(t: &[f64]) -> Option<Vec<f64>> {
    if t.len() > MAX_ALERT_THRESHOLDS || !t.iter().all(|v| *v > 0.0 && *v <= 1.0) {
        return None;
    }
    let mut t = t.to_vec();
    t.sort_by(f64::total_cmp);
    t.dedup();
    Some(t)
}

impl LimitFields {
    /// Each field given here, else `fallback`'s.
    pub fn or(self, fallback: LimitFields) -> LimitFields {
        LimitFields {
            requests_per_minute: self.requests_per_minute.or(fallback.requests_per_minute),
            requests_per_day: self.requests_per_day.or(fallback.requests_per_day),
            tokens_per_minute: self.tokens_per_minute.or(fallback.tokens_per_minute),
            tokens_per_day: self.tokens_per_day.or(fallback.tokens_per_day),
            budget_usd_per_day: self.budget_usd_per_day.or(fallback.budget_usd_per_day),
            budget_usd_per_month: self.budget_usd_per_month.or(fallback.budget_usd_per_month),
            warning_at: self.warning_at.or(fallback.warning_at),
            alert_thresholds: self.alert_thresholds.or(fallback.alert_thresholds),
            alert_thresholds_by_limit: self
                .alert_thresholds_by_limit
                .or(fallback.alert_thresholds_by_limit),
            soft_limits: self.soft_limits.or(fallback.soft_limits),
            priority_shares: self.priority_shares.or(fallback.priority_shares),
            downgrade: self.downgrade.or(fallback.downgrade),
            upstream_retries: self.upstream_retries.or(fallback.upstream_retries),
            reset_daily_at: self.reset_daily_at.or(fallback.reset_daily_at),
            reset_monthly_on: self.reset_monthly_on.or(fallback.reset_monthly_on),
        }
    }

    /// Checks the fields and makes the limits in force: a field left out takes `base`'s value,
    /// `0` means "no limit". Budgets must be non-negative USD, `warning_at` and each alert
    /// threshold in (0, 1]; the first field that breaks its rule is named. Thresholds come out
    /// ascending without repeats, soft limits without repeats.
    pub fn resolve(&self, base: &Limits) -> Result<Limits, LimitError> {
        let warning_at = self.warning_at.unwrap_or(base.warning_at);
        if !(warning_at > 0.0 && warning_at <= 1.0) {
            return Err(LimitError::WarningAt);
        }
        let alert_thresholds = match &self.alert_thresholds {
            Some(t) => Some(checked_thresholds(t).ok_or(LimitError::AlertThresholds)?),
            None => base.alert_thresholds.clone(),
        };
        let alert_thresholds_by_limit = match &self.alert_thresholds_by_limit {
            Some(m) => {
                let mut out = BTreeMap::new();
                for (kind, t) in m {
                    if kind.is_per_minute() {
                        return Err(LimitError::AlertThresholdsByLimit);
                    }
                    let t = checked_thresholds(t).ok_or(LimitError::AlertThresholdsByLimit)?;
                    out.insert(*kind, t);
                }
                Some(out)
            }
            None => base.alert_thresholds_by_limit.clone(),
        };
        let soft_limits = match &self.soft_limits {
            Some(s) => {
                let mut s = s.clone();
                s.sort();
                s.dedup();
                Some(s)
            }
            None => base.soft_limits.clone(),
        };
        let priority_shares = match self.priority_shares {
            Some(s) => Some(checked_shares(s, warning_at).ok_or(LimitError::PriorityShares)?),
            None => match base.priority_shares {
                Some(s) => Some(checked_shares(s, warning_at).ok_or(LimitError::PriorityShares)?),
                None => None,
            },
        };
        let downgrade = match &self.downgrade {
            Some(d) => Some(checked_downgrade(d).ok_or(LimitError::Downgrade)?),
            None => base.downgrade.clone(),
        };
        let upstream_retries = match self.upstream_retries {
            Some(n) if n > MAX_UPSTREAM_RETRIES => return Err(LimitError::UpstreamRetries),
            Some(n) => Some(n),
            None => base.upstream_retries,
        };
        let reset_daily_at = match &self.reset_daily_at {
            Some(t) => {
                let secs = parse_clock_time(t).ok_or(LimitError::ResetDailyAt)?;
                Some(
                    format!("{:02}:{:02}", secs / 3600, secs / 60 % 60)
                        + &if secs % 60 == 0 {
                            String::new()
                        } else {
                            format!(":{:02}", secs % 60)
                        },
                )
            }
            None => base.reset_daily_at.clone(),
        };
        let reset_monthly_on = match self.reset_monthly_on {
            Some(d) if !(1..=31).contains(&d) => return Err(LimitError::ResetMonthlyOn),
            Some(d) => Some(d),
            None => base.reset_monthly_on,
        };
        let count = |v: Option<u64>, base: Option<u64>| match v {
            Some(0) => None,
            Some(v) => Some(v),
            None => base,
        };
        let money = |kind: LimitKind, v: Option<f64>, base: Option<f64>| match v {
            Some(v) if !v.is_finite() || v < 0.0 => Err(LimitError::Budget(kind)),
            Some(0.0) => Ok(None),
            Some(v) => Ok(Some(v)),
            None => Ok(base),
        };
        Ok(Limits {
            requests_per_minute: count(self.requests_per_minute, base.requests_per_minute),
            requests_per_day: count(self.requests_per_day, base.requests_per_day),
            tokens_per_minute: count(self.tokens_per_minute, base.tokens_per_minute),
            tokens_per_day: count(self.tokens_per_day, base.tokens_per_day),
            budget_usd_per_day: money(
                LimitKind::BudgetUsdPerDay,
                self.budget_usd_per_day,
                base.budget_usd_per_day,
            )?,
            budget_usd_per_month: money(
                LimitKind::BudgetUsdPerMonth,
                self.budget_usd_per_month,
                base.budget_usd_per_month,
            )?,
            warning_at,
            alert_thresholds,
            alert_thresholds_by_limit,
            soft_limits,
            priority_shares,
            downgrade,
            upstream_retries,
            reset_daily_at,
            reset_monthly_on,
        })
    }
}

impl Usage {
    /// The usage counted against one kind of limit.
    pub fn get(&self, kind: LimitKind) -> f64 {
        match kind {
            LimitKind::RequestsPerMinute => self.requests_minute as f64,
            LimitKind::RequestsPerDay => self.requests_day as f64,
            LimitKind::TokensPerMinute => self.tokens_minute as f64,
            LimitKind::TokensPerDay => self.tokens_day as f64,
            LimitKind::BudgetUsdPerDay => self.cost_usd_day,
            LimitKind::BudgetUsdPerMonth => self.cost_usd_month,
        }
    }
}

/// The upstream account's headroom, from the last `x-ratelimit-*` headers seen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UpstreamHeadroom {
    pub limit_requests: Option<u64>,
    pub remaining_requests: Option<u64>,
    pub reset_requests_ms: Option<u64>,
    pub limit_tokens: Option<u64>,
    pub remaining_tokens: Option<u64>,
    pub reset_tokens_ms: Option<u64>,
    pub observed_at: DateTime<Utc>,
}

/// `GET /api/quota/status`, the WebSocket `status` message and each row of the admin list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    pub workspace: String,
    pub name: String,
    pub status: Status,
    pub since: DateTime<Utc>,
    pub cause: Cause,
    /// `cause.scope()`, spelled out for clients that do not model causes.
    pub scope: Option<Scope>,
    /// Rendered in the requester's locale.
    pub message: String,
    /// Rendered in the requester's locale.
    pub suggested_actions: Vec<String>,
    /// The message key of each of `suggested_actions`, in the same order (`action-…`).
    #[serde(default)]
    pub suggested_action_keys: Vec<String>,
    pub usage: Usage,
    pub limits: Limits,
    pub upstream: Option<UpstreamHeadroom>,
    pub retry_after_seconds: Option<u64>,
    /// The same wait, exact: milliseconds from `generated_at`. A client counts down on its own
    /// clock from when the report arrived, less the time it spent on the way (see
    /// `logic::live::retry_deadline_ms`).
    #[serde(default)]
    pub retry_after_ms: Option<u64>,
    /// When the server made this report, on the server's clock.
    #[serde(default)]
    pub generated_at: Option<DateTime<Utc>>,
    /// The last upstream or gateway error seen for this workspace, rendered.
    pub last_error: Option<String>,
    /// When each day and month limit runs out at the recent rate of spending (only limits
    /// with a rate; none in a workspace's first minutes or after a quiet quarter hour).
    #[serde(default)]
    pub forecasts: Vec<LimitForecast>,
    /// When the day limits next reset (`reset_daily_at`), and the month limit
    /// (`reset_monthly_on`), whether or not the workspace sets such limits.
    #[serde(default)]
    pub next_resets: Option<NextResets>,
    /// `next_resets` as local times in the server's time zone (`[server] time_zone`): the day's
    /// as the forecasts word theirs (`HH:MM` within a day of `generated_at`, else
    /// `YYYY-MM-DD HH:MM`), the month's always `YYYY-MM-DD HH:MM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_resets_local: Option<NextResets<String>>,
    /// The downgrade rules in effect now: calls for `from` use `to`.
    #[serde(default)]
    pub downgrades: Vec<ActiveDowngrade>,
}

/// When a workspace's periods next begin: UTC instants, or (`NextResets<String>`) the same as
/// local times in words.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NextResets<T = DateTime<Utc>> {
    pub day: T,
    pub month: T,
}

/// A downgrade in effect: calls for `from` use `to`, since the USD budgets passed `at`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActiveDowngrade {
    pub from: String,
    pub to: String,
    pub at: f64,
}

/// A limit's projected exhaustion at the recent rate of spending.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LimitForecast {
    pub limit: LimitKind,
    /// When the limit runs out at this rate.
    pub runs_out_at: DateTime<Utc>,
    /// When its period ends and it resets.
    pub resets_at: DateTime<Utc>,
    /// `runs_out_at` comes before `resets_at`.
    pub before_reset: bool,
    /// The forecast in words, in the requester's locale and the server's time zone ("At this
    /// rate it runs out at 15:40, before it resets at 00:00.").
    #[serde(default)]
    pub text: String,
}

/// `GET /api/quota/check`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckResponse {
    pub allowed: bool,
    pub status: Status,
    pub retry_after_seconds: Option<u64>,
}

/// A Fluent argument value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ArgValue {
    Number(f64),
    Text(String),
}

/// A notification: a Fluent message key with arguments, rendered into `title` and `body` in the
/// requester's locale. `id` is unique and stable, so clients de-duplicate by it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub id: String,
    pub workspace: String,
    pub level: Level,
    pub status: Status,
    pub key: String,
    #[serde(default)]
    pub args: BTreeMap<String, ArgValue>,
    /// Fluent keys of the suggested actions.
    #[serde(default)]
    pub action_keys: Vec<String>,
    pub title: String,
    pub body: String,
    /// Rendered suggested actions.
    #[serde(default)]
    pub actions: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// `GET /api/quota/notifications`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NotificationList {
    pub notifications: Vec<Notification>,
}

/// How `GET /api/quota/usage` groups its rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Family,
    Model,
    Goal,
    Task,
    Hour,
    Day,
}

impl GroupBy {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Family => "family",
            GroupBy::Model => "model",
            GroupBy::Goal => "goal",
            GroupBy::Task => "task",
            GroupBy::Hour => "hour",
            GroupBy::Day => "day",
        }
    }
}

/// One group of `GET /api/quota/usage`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UsageRow {
    pub key: String,
    pub requests: u64,
    pub input_tokens: u64,
    pub cached_tokens: u64,
    pub output_tokens: u64,
    /// Sum of the priced calls' cost.
    pub cost_usd: f64,
    /// Calls whose cost is unknown (model without a price).
    pub unpriced_requests: u64,
    pub estimated_requests: u64,
}

impl UsageRow {
    /// A group with nothing counted yet.
    pub fn empty(key: String) -> UsageRow {
        UsageRow {
            key,
            requests: 0,
            input_tokens: 0,
            cached_tokens: 0,
            output_tokens: 0,
            cost_usd: 0.0,
            unpriced_requests: 0,
            estimated_requests: 0,
        }
    }
}

/// Groups per page of `GET /api/quota/usage` when `limit` is not given.
pub const USAGE_PAGE_DEFAULT: usize = 100;
/// The largest `limit` of `GET /api/quota/usage` (the web UI asks for one page this size).
pub const USAGE_PAGE_MAX: usize = 1000;

/// `GET /api/quota/usage`: one page of groups, in key order (time order for hours and days).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UsageReport {
    pub workspace: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub group_by: GroupBy,
    pub rows: Vec<UsageRow>,
    /// Pass as `cursor` for the next page; `null` on the last page. Opaque.
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// `GET /api/admin/workspaces?q=&status=&limit=&cursor=`: a page of the workspaces whose id or
/// name contains `q` (and that have `status`), sorted by id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkspaceList {
    pub workspaces: Vec<StatusReport>,
    /// Pass as `cursor` for the next page; `null` on the last page. Opaque.
    #[serde(default)]
    pub next_cursor: Option<String>,
    /// How many workspaces match `q` in all pages.
    #[serde(default)]
    pub total: usize,
}

/// The admin list's page size when the request names none, and the largest it may name.
pub const WORKSPACE_PAGE_DEFAULT: usize = 50;
pub const WORKSPACE_PAGE_MAX: usize = 500;

/// `GET /api/admin/overview`: what the admin's overview shows of every workspace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdminOverview {
    /// How many workspaces there are.
    pub workspaces: usize,
    /// Spend today and this month, summed over every workspace.
    pub cost_usd_day: f64,
    pub cost_usd_month: f64,
    /// The greatest spenders today, greatest first (a few).
    pub top_spend: Vec<WorkspaceSpend>,
    /// The limits forecast to run out before they reset, soonest first (a few).
    pub burning: Vec<WorkspaceForecast>,
    /// The account's status: the greatest status any workspace has for an account-wide cause,
    /// and that workspace's message.
    pub account_status: Status,
    pub account_message: Option<String>,
    pub upstream: Option<UpstreamHeadroom>,
}

/// One of [`AdminOverview::top_spend`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkspaceSpend {
    pub workspace: String,
    pub name: String,
    pub cost_usd_day: f64,
}

/// One of [`AdminOverview::burning`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkspaceForecast {
    pub workspace: String,
    pub name: String,
    pub forecast: LimitForecast,
}

/// `POST /api/admin/workspaces`: the id, the name and the limit fields side by side (limits
/// left out take the defaults; `0` means "no limit").
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkspace {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(flatten)]
    pub limits: LimitFields,
}

/// `POST /api/admin/workspaces/{id}/keys`: the key is shown once and stored only as a hash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MintedKey {
    pub workspace: String,
    pub key_id: String,
    pub key: String,
    pub key_sha256: String,
}

/// `POST /api/quota/reset`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    pub workspace: String,
}

/// A message from the server on `/api/quota/ws`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum ServerMessage {
    Status(Box<StatusReport>),
    Notification(Box<Notification>),
    Pong,
}

/// A message from the client on `/api/quota/ws`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    Ping,
}

/// OpenAI's error body: `{"error":{"message","type","param","code"}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub param: Option<String>,
    pub code: Option<String>,
}

/// An alert channel as written: a `[[channels]]` entry of the config file, and the body of
/// `POST /api/admin/channels` (the same fields, as JSON). Checked by one validation for both
/// (`config::channel_from`), whose messages name the field.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelCreate {
    /// 1 to 64 of `a-z 0-9 _ -`, unique across the file and the API.
    pub id: String,
    /// `webhook`, `slack` or `email`.
    pub kind: String,
    /// Webhook and Slack: where notifications are posted (http or https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Webhook: the environment variable holding the signing secret (base64, optionally after
    /// `whsec_`). Through the API it may be left out: the gateway then makes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
    /// The workspaces whose notifications it takes; empty: every workspace.
    #[serde(default)]
    pub workspaces: Vec<String>,
    /// The levels it takes (`info`, `warning`, `error`); left out: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub levels: Option<Vec<String>>,
    /// The workspace statuses it takes (`normal`, `warning`, …); empty: all.
    #[serde(default)]
    pub statuses: Vec<String>,
    /// `en`, `de`, `es` or `it` (default `en`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// IANA time zone that times are shown in (default: `[server] time_zone`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Email: the recipients.
    #[serde(default)]
    pub to: Vec<String>,
}

/// Where a channel was declared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelOrigin {
    /// `[[channels]]` in the config file: read-only through the API.
    File,
    /// Created through `POST /api/admin/channels`.
    Api,
}

/// A channel as `GET /api/admin/channels` shows it: never a secret. A Slack URL (whose path
/// is its secret) is shown as its origin and `/***`; a webhook URL without its query.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelInfo {
    pub id: String,
    pub kind: String,
    pub origin: ChannelOrigin,
    #[serde(default)]
    pub url: Option<String>,
    /// Webhook: `"set"` (a secret is in force; its value is never shown), else absent.
    #[serde(default)]
    pub secret: Option<String>,
    /// Webhook: the environment variable the secret comes from, if it comes from one.
    #[serde(default)]
    pub secret_env: Option<String>,
    pub workspaces: Vec<String>,
    pub levels: Vec<Level>,
    pub statuses: Vec<Status>,
    pub locale: String,
    pub time_zone: String,
    #[serde(default)]
    pub to: Vec<String>,
}

/// `GET /api/admin/channels`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelList {
    pub channels: Vec<ChannelInfo>,
}

/// `POST /api/admin/channels`: the channel, and the webhook signing secret the gateway made
/// for it (shown this once; absent when it came from `secret_env` or the kind has none).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelCreated {
    pub channel: ChannelInfo,
    #[serde(default)]
    pub secret: Option<String>,
}

/// `POST /api/admin/channels/{id}/test`: the test notification queued to the channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestAlertQueued {
    pub channel: String,
    pub notification_id: String,
    /// The outbox row: its attempts are listed by `GET /api/admin/channels/{id}/deliveries`.
    pub outbox_id: i64,
    /// The `webhook-id` header a webhook receives (stable across retries).
    pub webhook_id: String,
}

/// How one delivery attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    Delivered,
    WillRetry,
    GaveUp,
}

/// One delivery attempt, as the log keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub at: DateTime<Utc>,
    pub channel: String,
    pub notification_id: String,
    pub outbox_id: i64,
    /// 1 for the first attempt of a notification on a channel.
    pub attempt: u32,
    pub outcome: DeliveryOutcome,
    /// The receiver's HTTP status (webhook, Slack).
    #[serde(default)]
    pub http_status: Option<u16>,
    /// The SMTP reply code (email).
    #[serde(default)]
    pub smtp_code: Option<u16>,
    /// The SMTP reply text or the error, truncated; never a secret.
    #[serde(default)]
    pub detail: Option<String>,
    pub latency_ms: u64,
}

/// `GET /api/admin/channels/{id}/deliveries`: newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryList {
    pub deliveries: Vec<DeliveryRecord>,
}

/// `GET /api/admin/account`: the account-wide budget (`[account]`), if one is set, and its
/// burn-rate forecasts (worded in the requester's locale).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountBudgetReport {
    pub budget_usd_per_day: Option<f64>,
    pub budget_usd_per_month: Option<f64>,
    #[serde(default)]
    pub forecasts: Vec<LimitForecast>,
}

/// One admin action in the audit trail (`GET /api/admin/audit`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// `admin-key`, or `session:` and the first characters of the admin session's id.
    pub actor: String,
    /// The caller's IP address, when known.
    pub address: Option<String>,
    /// `workspace.create`, `key.mint`, `key.revoke`, `quota.reset`, `channel.create`, …
    pub action: String,
    /// What it acted on: a workspace id, a key id, a channel id.
    pub target: String,
    /// The state before and after, secrets masked.
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// `GET /api/admin/audit`: newest first; `next_before` pages on (`?before=`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditList {
    pub entries: Vec<AuditRecord>,
    pub next_before: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_precedence_follows_declaration_order() {
        assert!(Status::QuotaExceeded > Status::RateLimited);
        assert!(Status::RateLimited > Status::Degraded);
        assert!(Status::Degraded > Status::Warning);
        assert!(Status::Warning > Status::Normal);
    }

    #[test]
    fn websocket_messages_have_the_documented_shape() {
        let pong = serde_json::to_string(&ServerMessage::Pong).unwrap_or_default();
        assert_eq!(pong, r#"{"type":"pong"}"#);
        let ping: ClientMessage = serde_json::from_str(r#"{"type":"ping"}"#)
            .unwrap_or_else(|e| panic!("ping does not parse: {e}"));
        assert_eq!(ping, ClientMessage::Ping);
    }

    #[test]
    fn limit_kinds_are_listed_once_in_declaration_order() {
        assert_eq!(LimitKind::ALL.len(), LimitKind::COUNT);
        for (i, k) in LimitKind::ALL.into_iter().enumerate() {
            assert_eq!(k as usize, i, "{k:?}");
        }
    }

    #[test]
    fn the_create_body_keeps_its_flat_shape_and_refuses_unknown_fields() {
        let body: CreateWorkspace = serde_json::from_str(
            r#"{"id":"g","name":null,"requests_per_day":1234,"budget_usd_per_day":2,"warning_at":0.5}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(body.id, "g");
        assert_eq!(body.limits.requests_per_day, Some(1234));
        assert_eq!(body.limits.budget_usd_per_day, Some(2.0));
        assert_eq!(body.limits.warning_at, Some(0.5));
        assert_eq!(body.limits.tokens_per_day, None);
        let v = serde_json::to_value(&body).unwrap_or_default();
        assert_eq!(v["requests_per_day"], 1234, "{v}");
        assert!(v.get("limits").is_none(), "{v}");
        for bad in [
            r#"{"id":"g","tokens_per_dya":5}"#,
            r#"{"id":"g","limits":{}}"#,
        ] {
            let e = serde_json::from_str::<CreateWorkspace>(bad)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains("unknown field"), "{bad}: {e}");
        }
    }

    #[test]
    fn policies_resolve_with_their_defaults_and_name_the_broken_field() {
        let base = Limits::default();
        let written: LimitFields = serde_json::from_str::<LimitFields>(
            r#"{"priority_shares":{"optional":0.5},"downgrade":[{"from":"gpt-4o","to":"gpt-4o-mini","at":0.9}],
                "upstream_retries":2,"reset_daily_at":"6:00","reset_monthly_on":15}"#,
        )
        .unwrap_or_default();
        // "6:00" is not HH:MM.
        assert_eq!(
            written.resolve(&base).map_err(|e| e.field()),
            Err("reset_daily_at")
        );
        let written = LimitFields {
            reset_daily_at: Some("06:00".into()),
            ..written
        };
        let l = written.resolve(&base).unwrap_or_default();
        assert_eq!(l.share_of(Some(Priority::Optional)), 0.5);
        assert_eq!(l.share_of(Some(Priority::Normal)), DEFAULT_NORMAL_SHARE);
        assert_eq!(l.share_of(Some(Priority::Critical)), 1.0);
        assert_eq!(l.share_of(None), 1.0);
        assert_eq!(l.downgrades().len(), 1);
        assert_eq!(l.retries(), 2);
        assert_eq!(l.day_starts_at_secs(), 6 * 3600);
        assert_eq!(l.month_starts_on(), 15);
        // Defaults: optional at warning_at, no downgrade, no retry, midnight, the 1st.
        let d = Limits::default();
        assert_eq!(d.share_of(Some(Priority::Optional)), d.warning_at);
        assert!(d.downgrades().is_empty());
        assert_eq!(
            (d.retries(), d.day_starts_at_secs(), d.month_starts_on()),
            (0, 0, 1)
        );
        assert_eq!(parse_clock_time("23:59:30"), Some(86_370));
        for bad in [
            "24:00",
            "12:60",
            "1200",
            "12:00:00:00",
            "",
            "ab:cd",
            "+1:00",
        ] {
            assert_eq!(parse_clock_time(bad), None, "{bad}");
        }
        let rule = |from: &str, to: &str, at: f64| DowngradeRule {
            from: from.into(),
            to: to.into(),
            at,
        };
        for (bad, field) in [
            (
                LimitFields {
                    priority_shares: Some(PriorityShares {
                        optional: Some(0.99),
                        normal: Some(0.9),
                    }),
                    ..LimitFields::default()
                },
                "priority_shares",
            ),
            (
                LimitFields {
                    priority_shares: Some(PriorityShares {
                        optional: None,
                        normal: Some(1.5),
                    }),
                    ..LimitFields::default()
                },
                "priority_shares",
            ),
            (
                LimitFields {
                    downgrade: Some(vec![rule("gpt-4o", "gpt-4o", 0.9)]),
                    ..LimitFields::default()
                },
                "downgrade",
            ),
            (
                LimitFields {
                    downgrade: Some(vec![rule("a", "b", 0.5), rule("a", "c", 0.9)]),
                    ..LimitFields::default()
                },
                "downgrade",
            ),
            (
                LimitFields {
                    downgrade: Some(vec![rule("a", "b", 0.0)]),
                    ..LimitFields::default()
                },
                "downgrade",
            ),
            (
                LimitFields {
                    upstream_retries: Some(6),
                    ..LimitFields::default()
                },
                "upstream_retries",
            ),
            (
                LimitFields {
                    reset_monthly_on: Some(0),
                    ..LimitFields::default()
                },
                "reset_monthly_on",
            ),
            (
                LimitFields {
                    reset_monthly_on: Some(32),
                    ..LimitFields::default()
                },
                "reset_monthly_on",
            ),
        ] {
            let e = bad.resolve(&base).err();
            assert_eq!(e.as_ref().map(|e| e.field()), Some(field), "{bad:?}");
            assert_eq!(e.map(|e| e.key()), Some(format!("limit-rule-{field}")));
        }
    }

    #[test]
    fn written_limits_resolve_against_a_base_and_name_the_broken_field() {
        let base = Limits {
            requests_per_minute: Some(500),
            tokens_per_day: Some(9),
            ..Limits::default()
        };
        let written = LimitFields {
            requests_per_day: Some(7),
            tokens_per_day: Some(0),
            budget_usd_per_month: Some(0.0),
            budget_usd_per_day: Some(1.5),
            ..LimitFields::default()
        };
        assert_eq!(
            written.resolve(&base),
            Ok(Limits {
                requests_per_minute: Some(500),
                requests_per_day: Some(7),
                tokens_per_day: None,
                budget_usd_per_day: Some(1.5),
                ..Limits::default()
            })
        );
        let fallback = LimitFields {
            requests_per_day: Some(1),
            warning_at: Some(0.5),
            ..LimitFields::default()
        };
        let merged = written.clone().or(fallback);
        assert_eq!(merged.requests_per_day, Some(7), "the first given wins");
        assert_eq!(merged.warning_at, Some(0.5), "else the fallback's");
        for (bad, field) in [
            (
                LimitFields {
                    budget_usd_per_day: Some(-1.0),
                    ..LimitFields::default()
                },
                "budget_usd_per_day",
            ),
            (
                LimitFields {
                    budget_usd_per_month: Some(f64::NAN),
                    ..LimitFields::default()
                },
                "budget_usd_per_month",
            ),
            (
                LimitFields {
                    warning_at: Some(0.0),
                    ..LimitFields::default()
                },
                "warning_at",
            ),
            (
                LimitFields {
                    warning_at: Some(1.5),
                    ..LimitFields::default()
                },
                "warning_at",
            ),
        ] {
            let e = bad.resolve(&base).err();
            assert_eq!(e.as_ref().map(LimitError::field), Some(field), "{bad:?}");
        }
    }

    #[test]
    fn cause_serializes_with_a_kind_tag() {
        let c = Cause::WorkspaceLimit {
            limit: LimitKind::TokensPerDay,
        };
        let v = serde_json::to_value(&c).unwrap_or_default();
        assert_eq!(v["kind"], "workspace_limit");
        assert_eq!(v["limit"], "tokens_per_day");
        assert_eq!(c.scope(), Some(Scope::Workspace));
    }
}
