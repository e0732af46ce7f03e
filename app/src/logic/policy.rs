//! The limits-and-policies form's rules: the fields as the admin types them (whole numbers,
//! USD, percentages for shares, `HH:MM`) ↔ the [`LimitFields`] of
//! `PATCH /api/admin/workspaces/{id}`. The edit holds only what differs from the limits in
//! force (a field left out keeps its value) and is checked by the same
//! [`LimitFields::resolve`] as on the server, so a value that breaks a rule is named, in the
//! reader's language, before anything is sent.

use crate::types::{
    parse_clock_time, DowngradeRule, LimitError, LimitFields, LimitKind, Limits, PriorityShares,
};

/// One downgrade rule as typed: two model names and a percentage.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleText {
    pub from: String,
    pub to: String,
    pub at: String,
}

/// The form's fields as typed.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyText {
    /// The six limits, in [`LimitKind::ALL`] order: whole numbers, USD for budgets; empty or
    /// `0` is no limit.
    pub limits: [String; LimitKind::COUNT],
    /// Percent of each limit.
    pub warning_at: String,
    /// Percent; empty: the default (the warning level).
    pub optional_share: String,
    /// Percent; empty: the default (95 %).
    pub normal_share: String,
    /// Rows whose three fields are empty are ignored.
    pub downgrade: Vec<RuleText>,
    /// Empty: 0 (off).
    pub upstream_retries: String,
    /// `HH:MM`; empty: midnight.
    pub reset_daily_at: String,
    /// 1 to 31; empty: the 1st.
    pub reset_monthly_on: String,
}

/// Why the form's values cannot be sent.
#[derive(Clone, Debug, PartialEq)]
pub enum PolicyError {
    /// A request or token limit that is not a whole number of 0 or more.
    Count(LimitKind),
    /// A rule of [`LimitFields::resolve`] (or a value that cannot be read for that field).
    Rule(LimitError),
}

impl PolicyError {
    /// The field at fault, as written in the API (`requests_per_day`, `reset_daily_at`).
    pub fn field(&self) -> &'static str {
        match self {
            PolicyError::Count(kind) => kind.as_str(),
            PolicyError::Rule(e) => e.field(),
        }
    }

    /// The Fluent key of the rule in words.
    pub fn key(&self) -> String {
        match self {
            PolicyError::Count(_) => "policies-rule-count".to_string(),
            PolicyError::Rule(e) => e.key(),
        }
    }
}

/// Every rule of [`LimitFields::resolve`], one per field.
pub const LIMIT_ERRORS: [LimitError; 10] = [
    LimitError::Budget(LimitKind::BudgetUsdPerDay),
    LimitError::Budget(LimitKind::BudgetUsdPerMonth),
    LimitError::WarningAt,
    LimitError::AlertThresholds,
    LimitError::AlertThresholdsByLimit,
    LimitError::PriorityShares,
    LimitError::Downgrade,
    LimitError::UpstreamRetries,
    LimitError::ResetDailyAt,
    LimitError::ResetMonthlyOn,
];

/// The Fluent key of the rule a refused edit names in `param` (the field at fault), if it is a
/// field the limits have: `budget_usd_per_day` → `limit-rule-budget`.
pub fn rule_key_of_param(param: &str) -> Option<String> {
    LIMIT_ERRORS
        .iter()
        .find(|e| e.field() == param)
        .map(LimitError::key)
}

/// The fields the form shows, by their API names.
pub const FORM_FIELDS: [&str; 6] = [
    "warning_at",
    "priority_shares",
    "downgrade",
    "upstream_retries",
    "reset_daily_at",
    "reset_monthly_on",
];

/// The Fluent key of a field's label in the form (`policies-limit-requests_per_day`,
/// `policies-warning_at`); `None` for a field the form does not show.
pub fn label_key(field: &str) -> Option<String> {
    if let Some(kind) = LimitKind::ALL.into_iter().find(|k| k.as_str() == field) {
        return Some(format!("policies-limit-{}", kind.as_str()));
    }
    FORM_FIELDS
        .contains(&field)
        .then(|| format!("policies-{field}"))
}

fn is_budget(kind: LimitKind) -> bool {
    matches!(
        kind,
        LimitKind::BudgetUsdPerDay | LimitKind::BudgetUsdPerMonth
    )
}

/// A decimal number as typed: `.` or `,` as the decimal separator, spaces ignored; `None` if it
/// is not a finite number.
pub fn parse_decimal(text: &str) -> Option<f64> {
    let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let t = if t.contains(',') && !t.contains('.') {
        t.replace(',', ".")
    } else {
        t
    };
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit() || b"+-.".contains(&b)) {
        return None;
    }
    t.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// A percentage as typed (`80`, `80 %`, `95,5`) as a share (`0.8`); `None` if not a number.
pub fn parse_percent(text: &str) -> Option<f64> {
    parse_decimal(text.trim().trim_end_matches('%')).map(|v| v / 100.0)
}

/// A share as the form shows it, in percent: `0.8` → `80`, `0.955` → `95.5`, `1e-7` →
/// `0.00001` (to a millionth of a percent).
pub fn format_percent(share: f64) -> String {
    format!("{}", (share * 1e8).round() / 1e6)
}

/// A whole number of 0 or more as typed; spaces, `_` and `'` may group the digits. Empty is 0.
pub fn parse_count(text: &str) -> Option<u64> {
    let t: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '_' && *c != '\'')
        .collect();
    if t.is_empty() {
        return Some(0);
    }
    if !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

/// Two amounts read from text and stored as floats are the same value.
fn same(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
}

fn same_opt(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => same(a, b),
        (None, None) => true,
        _ => false,
    }
}

fn same_rules(a: &[DowngradeRule], b: &[DowngradeRule]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.from == y.from && x.to == y.to && same(x.at, y.at))
}

fn set_limit(edit: &mut LimitFields, kind: LimitKind, v: f64) {
    let count = Some(v.max(0.0) as u64);
    match kind {
        LimitKind::RequestsPerMinute => edit.requests_per_minute = count,
        LimitKind::RequestsPerDay => edit.requests_per_day = count,
        LimitKind::TokensPerMinute => edit.tokens_per_minute = count,
        LimitKind::TokensPerDay => edit.tokens_per_day = count,
        LimitKind::BudgetUsdPerDay => edit.budget_usd_per_day = Some(v),
        LimitKind::BudgetUsdPerMonth => edit.budget_usd_per_month = Some(v),
    }
}

impl PolicyText {
    /// The form prefilled with the limits in force (defaults written out, so the admin sees
    /// what applies).
    pub fn from_limits(l: &Limits) -> PolicyText {
        let shares = l.priority_shares.unwrap_or_default();
        PolicyText {
            limits: LimitKind::ALL.map(|k| match l.get(k) {
                None => String::new(),
                Some(v) if is_budget(k) => format!("{v}"),
                Some(v) => format!("{}", v.max(0.0) as u64),
            }),
            warning_at: format_percent(l.warning_at),
            optional_share: shares.optional.map(format_percent).unwrap_or_default(),
            normal_share: shares.normal.map(format_percent).unwrap_or_default(),
            downgrade: l
                .downgrades()
                .iter()
                .map(|r| RuleText {
                    from: r.from.clone(),
                    to: r.to.clone(),
                    at: format_percent(r.at),
                })
                .collect(),
            upstream_retries: l.retries().to_string(),
            reset_daily_at: l
                .reset_daily_at
                .clone()
                .unwrap_or_else(|| "00:00".to_string()),
            reset_monthly_on: l.month_starts_on().to_string(),
        }
    }

    /// The edit that makes `current` (the limits in force) what the form says: only the fields
    /// that differ, checked as the server checks them. The first value that cannot be read or
    /// breaks its rule is named.
    pub fn to_edit(&self, current: &Limits) -> Result<LimitFields, PolicyError> {
        let mut edit = LimitFields::default();
        for (kind, text) in LimitKind::ALL.into_iter().zip(&self.limits) {
            let v = if is_budget(kind) {
                let t = text.trim().trim_start_matches('$');
                if t.trim().is_empty() {
                    0.0
                } else {
                    parse_decimal(t).ok_or(PolicyError::Rule(LimitError::Budget(kind)))?
                }
            } else {
                parse_count(text).ok_or(PolicyError::Count(kind))? as f64
            };
            if !same(v, current.get(kind).unwrap_or(0.0)) {
                set_limit(&mut edit, kind, v);
            }
        }
        let warning_at =
            parse_percent(&self.warning_at).ok_or(PolicyError::Rule(LimitError::WarningAt))?;
        if !same(warning_at, current.warning_at) {
            edit.warning_at = Some(warning_at);
        }
        let share = |t: &str| match t.trim() {
            "" => Ok(None),
            t => parse_percent(t)
                .map(Some)
                .ok_or(PolicyError::Rule(LimitError::PriorityShares)),
        };
        let shares = PriorityShares {
            optional: share(&self.optional_share)?,
            normal: share(&self.normal_share)?,
        };
        let now = current.priority_shares.unwrap_or_default();
        if !same_opt(shares.optional, now.optional) || !same_opt(shares.normal, now.normal) {
            edit.priority_shares = Some(shares);
        }
        let mut rules = Vec::new();
        for r in &self.downgrade {
            let (from, to, at) = (r.from.trim(), r.to.trim(), r.at.trim());
            if from.is_empty() && to.is_empty() && at.is_empty() {
                continue;
            }
            let at = parse_percent(at).ok_or(PolicyError::Rule(LimitError::Downgrade))?;
            rules.push(DowngradeRule {
                from: from.to_string(),
                to: to.to_string(),
                at,
            });
        }
        if !same_rules(&rules, current.downgrades()) {
            edit.downgrade = Some(rules);
        }
        let retries = match self.upstream_retries.trim() {
            "" => 0,
            t => t
                .parse::<u32>()
                .map_err(|_| PolicyError::Rule(LimitError::UpstreamRetries))?,
        };
        if retries != current.retries() {
            edit.upstream_retries = Some(retries);
        }
        let daily = match self.reset_daily_at.trim() {
            "" => "00:00",
            t => t,
        };
        if parse_clock_time(daily) != Some(current.day_starts_at_secs()) {
            edit.reset_daily_at = Some(daily.to_string());
        }
        let monthly = match self.reset_monthly_on.trim() {
            "" => 1,
            t => t
                .parse::<u32>()
                .map_err(|_| PolicyError::Rule(LimitError::ResetMonthlyOn))?,
        };
        if monthly != current.month_starts_on() {
            edit.reset_monthly_on = Some(monthly);
        }
        edit.resolve(current).map_err(PolicyError::Rule)?;
        Ok(edit)
    }
}

/// The PATCH body of an edit: the fields it gives, nothing for the others.
pub fn edit_body(edit: &LimitFields) -> serde_json::Value {
    match serde_json::to_value(edit) {
        Ok(serde_json::Value::Object(mut m)) => {
            m.retain(|_, v| !v.is_null());
            serde_json::Value::Object(m)
        }
        _ => serde_json::json!({}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            requests_per_day: Some(10_000),
            budget_usd_per_day: Some(20.0),
            ..Limits::default()
        }
    }

    #[test]
    fn numbers_and_percentages_read_as_typed() {
        assert_eq!(parse_percent("80"), Some(0.8));
        assert_eq!(parse_percent(" 95 % "), Some(0.95));
        assert_eq!(parse_percent("95,5"), Some(0.955));
        assert!(parse_percent("0.00001").is_some_and(|v| (v - 1e-7).abs() < 1e-20));
        assert_eq!(
            parse_percent("0.00001").map(format_percent).as_deref(),
            Some("0.00001")
        );
        for bad in ["", "%", "eighty", "1e3", "NaN", "inf", "1,000.5", "8 0x"] {
            assert_eq!(parse_percent(bad), None, "{bad}");
        }
        assert_eq!(parse_decimal("12.50"), Some(12.5));
        assert_eq!(parse_decimal("-1"), Some(-1.0));
        assert_eq!(format_percent(0.8), "80");
        assert_eq!(format_percent(0.955), "95.5");
        assert_eq!(format_percent(1e-7), "0.00001");
        assert_eq!(format_percent(1.0), "100");
        assert_eq!(parse_count(""), Some(0));
        assert_eq!(parse_count("10 000"), Some(10_000));
        assert_eq!(parse_count("1_000"), Some(1_000));
        for bad in ["1.5", "-3", "ten", "1,000", "99999999999999999999999"] {
            assert_eq!(parse_count(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_form_shows_the_limits_in_force_and_an_untouched_form_changes_nothing() {
        let mut l = limits();
        l.priority_shares = Some(PriorityShares {
            optional: Some(0.5),
            normal: None,
        });
        l.downgrade = Some(vec![DowngradeRule {
            from: "gpt-4o".into(),
            to: "gpt-4o-mini".into(),
            at: 0.9,
        }]);
        l.reset_daily_at = Some("06:30".into());
        let t = PolicyText::from_limits(&l);
        assert_eq!(t.limits[LimitKind::RequestsPerDay as usize], "10000");
        assert_eq!(t.limits[LimitKind::BudgetUsdPerDay as usize], "20");
        assert_eq!(t.limits[LimitKind::TokensPerDay as usize], "");
        assert_eq!(t.warning_at, "80");
        assert_eq!(
            (t.optional_share.as_str(), t.normal_share.as_str()),
            ("50", "")
        );
        assert_eq!(t.downgrade[0].at, "90");
        assert_eq!(
            (
                t.upstream_retries.as_str(),
                t.reset_daily_at.as_str(),
                t.reset_monthly_on.as_str()
            ),
            ("0", "06:30", "1")
        );
        assert_eq!(t.to_edit(&l), Ok(LimitFields::default()));
        assert_eq!(edit_body(&LimitFields::default()), serde_json::json!({}));
        // Defaults written out or left empty are the same thing.
        let d = Limits::default();
        let mut t = PolicyText::from_limits(&d);
        assert_eq!(t.reset_daily_at, "00:00");
        t.reset_daily_at.clear();
        t.reset_monthly_on.clear();
        t.upstream_retries.clear();
        assert_eq!(t.to_edit(&d), Ok(LimitFields::default()));
    }

    #[test]
    fn the_edit_holds_what_changed_and_resolves_to_the_form() {
        let l = limits();
        let mut t = PolicyText::from_limits(&l);
        t.limits[LimitKind::RequestsPerDay as usize] = "1".into();
        t.limits[LimitKind::BudgetUsdPerDay as usize] = "".into();
        t.limits[LimitKind::TokensPerMinute as usize] = "5 000".into();
        t.warning_at = "70".into();
        t.optional_share = "60".into();
        t.downgrade = vec![
            RuleText {
                from: " gpt-4o ".into(),
                to: "gpt-4o-mini".into(),
                at: "90 %".into(),
            },
            RuleText::default(),
        ];
        t.upstream_retries = "2".into();
        t.reset_daily_at = "06:00".into();
        t.reset_monthly_on = "15".into();
        let edit = t.to_edit(&l).unwrap_or_default();
        assert_eq!(
            edit_body(&edit),
            serde_json::json!({
                "requests_per_day": 1,
                "tokens_per_minute": 5000,
                "budget_usd_per_day": 0.0,
                "warning_at": 0.7,
                "priority_shares": { "optional": 0.6 },
                "downgrade": [{ "from": "gpt-4o", "to": "gpt-4o-mini", "at": 0.9 }],
                "upstream_retries": 2,
                "reset_daily_at": "06:00",
                "reset_monthly_on": 15,
            })
        );
        let after = edit.resolve(&l).unwrap_or_default();
        assert_eq!(after.requests_per_day, Some(1));
        assert_eq!(after.budget_usd_per_day, None);
        // The form made from the result is the form that was sent.
        let again = PolicyText::from_limits(&after);
        assert_eq!(again.to_edit(&after), Ok(LimitFields::default()));
        assert_eq!(again.downgrade.len(), 1);
        // Emptying the shares goes back to the defaults.
        let mut back = again.clone();
        back.optional_share.clear();
        assert_eq!(
            back.to_edit(&after).map(|e| e.priority_shares),
            Ok(Some(PriorityShares::default()))
        );
    }

    #[test]
    fn a_broken_value_names_its_field_and_rule() {
        let l = limits();
        /// Breaks one field of a form that was right.
        type Break = fn(&mut PolicyText);
        let cases: [(Break, &str, &str); 12] = [
            (
                |t| t.limits[LimitKind::RequestsPerDay as usize] = "1.5".into(),
                "requests_per_day",
                "policies-rule-count",
            ),
            (
                |t| t.limits[LimitKind::BudgetUsdPerMonth as usize] = "-3".into(),
                "budget_usd_per_month",
                "limit-rule-budget",
            ),
            (
                |t| t.limits[LimitKind::BudgetUsdPerDay as usize] = "lots".into(),
                "budget_usd_per_day",
                "limit-rule-budget",
            ),
            (
                |t| t.warning_at = "150".into(),
                "warning_at",
                "limit-rule-warning_at",
            ),
            (
                |t| t.warning_at = "".into(),
                "warning_at",
                "limit-rule-warning_at",
            ),
            (
                |t| {
                    t.optional_share = "99".into();
                    t.normal_share = "90".into();
                },
                "priority_shares",
                "limit-rule-priority_shares",
            ),
            (
                |t| t.normal_share = "x".into(),
                "priority_shares",
                "limit-rule-priority_shares",
            ),
            (
                |t| {
                    t.downgrade = vec![RuleText {
                        from: "gpt-4o".into(),
                        to: "".into(),
                        at: "90".into(),
                    }]
                },
                "downgrade",
                "limit-rule-downgrade",
            ),
            (
                |t| t.upstream_retries = "6".into(),
                "upstream_retries",
                "limit-rule-upstream_retries",
            ),
            (
                |t| t.reset_daily_at = "25:00".into(),
                "reset_daily_at",
                "limit-rule-reset_daily_at",
            ),
            (
                |t| t.reset_monthly_on = "0".into(),
                "reset_monthly_on",
                "limit-rule-reset_monthly_on",
            ),
            (
                |t| t.reset_monthly_on = "first".into(),
                "reset_monthly_on",
                "limit-rule-reset_monthly_on",
            ),
        ];
        for (break_it, field, key) in cases {
            let mut t = PolicyText::from_limits(&l);
            break_it(&mut t);
            let e = t.to_edit(&l).err();
            assert_eq!(e.as_ref().map(PolicyError::field), Some(field), "{t:?}");
            assert_eq!(e.map(|e| e.key()).as_deref(), Some(key));
            assert!(label_key(field).is_some(), "{field}");
        }
    }

    #[test]
    fn a_refused_param_maps_to_its_rule_and_every_key_exists() {
        assert_eq!(
            rule_key_of_param("budget_usd_per_day").as_deref(),
            Some("limit-rule-budget")
        );
        assert_eq!(
            rule_key_of_param("reset_daily_at").as_deref(),
            Some("limit-rule-reset_daily_at")
        );
        assert_eq!(rule_key_of_param("id"), None);
        assert_eq!(label_key("name"), None);
        let t = crate::i18n::translations();
        let en = crate::i18n::Locale::EN;
        let mut keys: Vec<String> = LIMIT_ERRORS.iter().map(LimitError::key).collect();
        keys.push(PolicyError::Count(LimitKind::RequestsPerDay).key());
        keys.extend(LimitKind::ALL.iter().filter_map(|k| label_key(k.as_str())));
        keys.extend(FORM_FIELDS.iter().filter_map(|f| label_key(f)));
        let missing: Vec<&String> = keys.iter().filter(|k| !t.has(en, k)).collect();
        assert!(
            missing.is_empty(),
            "keys missing from locales/en: {missing:?}"
        );
    }
}
