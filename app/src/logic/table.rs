//! The admin table's sorting and filtering.

use std::cmp::Ordering;

use crate::types::{Status, StatusReport};

/// A sortable column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SortKey {
    Workspace,
    Status,
    SpendDay,
    SpendMonth,
    RequestsDay,
    TokensDay,
}

impl SortKey {
    pub const ALL: [SortKey; 6] = [
        SortKey::Workspace,
        SortKey::Status,
        SortKey::RequestsDay,
        SortKey::TokensDay,
        SortKey::SpendDay,
        SortKey::SpendMonth,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Workspace => "workspace",
            SortKey::Status => "status",
            SortKey::SpendDay => "spend_day",
            SortKey::SpendMonth => "spend_month",
            SortKey::RequestsDay => "requests_day",
            SortKey::TokensDay => "tokens_day",
        }
    }
}

fn compare(a: &StatusReport, b: &StatusReport, key: SortKey) -> Ordering {
    let f = |x: f64, y: f64| x.partial_cmp(&y).unwrap_or(Ordering::Equal);
    match key {
        SortKey::Workspace => a.workspace.cmp(&b.workspace),
        SortKey::Status => a.status.cmp(&b.status),
        SortKey::SpendDay => f(a.usage.cost_usd_day, b.usage.cost_usd_day),
        SortKey::SpendMonth => f(a.usage.cost_usd_month, b.usage.cost_usd_month),
        SortKey::RequestsDay => a.usage.requests_day.cmp(&b.usage.requests_day),
        SortKey::TokensDay => a.usage.tokens_day.cmp(&b.usage.tokens_day),
    }
}

/// Rows matching `query` (in id or name, case-insensitive) and `status` (if given), sorted by
/// `key` (ties by workspace id), descending when `desc`.
pub fn filter_and_sort<'a>(
    rows: impl IntoIterator<Item = &'a StatusReport>,
    query: &str,
    status: Option<Status>,
    key: SortKey,
    desc: bool,
) -> Vec<StatusReport> {
    let q = query.trim().to_lowercase();
    let mut out: Vec<StatusReport> = rows
        .into_iter()
        .filter(|r| status.is_none_or(|s| r.status == s))
        .filter(|r| {
            q.is_empty()
                || r.workspace.to_lowercase().contains(&q)
                || r.name.to_lowercase().contains(&q)
        })
        .cloned()
        .collect();
    out.sort_by(|a, b| {
        let o = compare(a, b, key);
        let o = if desc { o.reverse() } else { o };
        o.then_with(|| a.workspace.cmp(&b.workspace))
    });
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::types::{Cause, Limits, Usage};
    use chrono::Utc;

    /// A status report with only these fields set (tests of other modules use it too).
    pub(crate) fn row(id: &str, name: &str, status: Status, cost: f64) -> StatusReport {
        StatusReport {
            workspace: id.into(),
            name: name.into(),
            status,
            since: Utc::now(),
            cause: Cause::None,
            scope: None,
            message: String::new(),
            suggested_actions: vec![],
            suggested_action_keys: vec![],
            usage: Usage {
                cost_usd_day: cost,
                ..Usage::default()
            },
            limits: Limits::default(),
            upstream: None,
            retry_after_seconds: None,
            retry_after_ms: None,
            last_error: None,
            generated_at: None,
            forecasts: vec![],
            next_resets: None,
            next_resets_local: None,
            downgrades: vec![],
        }
    }

    #[test]
    fn filters_by_text_and_status_and_sorts() {
        let rows = [
            row("acme", "Acme Corp", Status::Normal, 3.0),
            row("globex", "Globex", Status::QuotaExceeded, 1.0),
            row("initech", "Initech", Status::Warning, 2.0),
        ];
        let ids = |v: Vec<StatusReport>| v.into_iter().map(|r| r.workspace).collect::<Vec<_>>();
        assert_eq!(
            ids(filter_and_sort(&rows, "", None, SortKey::Workspace, false)),
            ["acme", "globex", "initech"]
        );
        assert_eq!(
            ids(filter_and_sort(&rows, "", None, SortKey::Status, true)),
            ["globex", "initech", "acme"]
        );
        assert_eq!(
            ids(filter_and_sort(&rows, "", None, SortKey::SpendDay, false)),
            ["globex", "initech", "acme"]
        );
        assert_eq!(
            ids(filter_and_sort(
                &rows,
                "CORP",
                None,
                SortKey::Workspace,
                false
            )),
            ["acme"]
        );
        assert_eq!(
            ids(filter_and_sort(
                &rows,
                "",
                Some(Status::Warning),
                SortKey::Workspace,
                false
            )),
            ["initech"]
        );
    }
}
