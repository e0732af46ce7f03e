//! `GET /api/quota/{status,check,usage,notifications}`.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

use super::{Scope, Shared};
use crate::error::AppError;
use crate::i18n::{render_notification, render_status, request_locale};
use crate::model::StatusView;
use crate::store::{Page, UsageCursor};
use crate::types::{
    CheckResponse, GroupBy, NotificationList, Priority, Status, StatusReport, UsageReport,
    USAGE_PAGE_DEFAULT, USAGE_PAGE_MAX,
};

pub(super) fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, AppError> {
    q.map(|Query(v)| v)
        .map_err(|e| AppError::bad_request(e.body_text(), None))
}

/// The status of the workspace a caller asks about (its own, or `?workspace=` for an admin),
/// as of now.
fn scoped_view(shared: &Shared, headers: &HeaderMap, q: &Scope) -> Result<StatusView, AppError> {
    let p = shared.caller(headers, None)?;
    let w = shared.target(&p, q.workspace.as_deref())?;
    Ok(shared.registry.view(&w, Utc::now()))
}

pub(super) async fn status(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    q: Result<Query<Scope>, QueryRejection>,
) -> Result<Json<StatusReport>, AppError> {
    let q = query(q)?;
    let view = scoped_view(&shared, &headers, &q)?;
    Ok(Json(render_status(
        &view,
        request_locale(q.locale.as_deref(), &headers),
        shared.config.time_zone,
    )))
}

/// `GET /api/quota/check`'s query: the workspace, and the priority class of the call the
/// caller means to make (as its `X-Quota-Priority` would say).
#[derive(Debug, Deserialize)]
pub(super) struct CheckQuery {
    workspace: Option<String>,
    priority: Option<String>,
}

/// Whether a call would be admitted now: not while the workspace is limited, nor while its
/// class (`?priority=`) is shed at its share of a limit.
pub(super) async fn check(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    q: Result<Query<CheckQuery>, QueryRejection>,
) -> Result<Json<CheckResponse>, AppError> {
    let q = query(q)?;
    let priority = match q.priority.as_deref() {
        None | Some("") => None,
        Some(p) => Some(Priority::parse(p).ok_or_else(|| {
            AppError::bad_request(
                format!("priority must be critical, normal or optional, not `{p}`."),
                Some("priority"),
            )
        })?),
    };
    let p = shared.caller(&headers, None)?;
    let w = shared.target(&p, q.workspace.as_deref())?;
    let now = Utc::now();
    let view = shared.registry.view(&w, now);
    let limited = matches!(view.status, Status::RateLimited | Status::QuotaExceeded);
    let shed = if limited {
        None
    } else {
        shared.registry.shed_for(&w, priority, now)
    };
    Ok(Json(CheckResponse {
        allowed: !limited && shed.is_none(),
        status: view.status,
        retry_after_seconds: shed.or(view.retry_after_secs),
    }))
}

#[derive(Debug, Deserialize)]
pub(super) struct UsageQuery {
    workspace: Option<String>,
    from: Option<String>,
    to: Option<String>,
    group_by: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// `2026-11-26T10:00:00Z` (any RFC 3339) or a local date `2026-11-26` (its midnight).
fn parse_time(s: &str, tz: chrono_tz::Tz, param: &'static str) -> Result<DateTime<Utc>, AppError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        // The day's first instant, also where midnight does not exist (a DST gap).
        return Ok(crate::quota::window::start_of_local_day(d, tz));
    }
    Err(AppError::bad_request(
        format!("`{param}` must be an RFC 3339 time (2026-11-26T10:00:00Z) or a date (2026-11-26), not `{s}`."),
        Some(param),
    ))
}

pub(super) async fn usage(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    q: Result<Query<UsageQuery>, QueryRejection>,
) -> Result<Json<UsageReport>, AppError> {
    let q = query(q)?;
    let p = shared.caller(&headers, None)?;
    let w = shared.target(&p, q.workspace.as_deref())?;
    let tz = shared.config.time_zone;
    let now = Utc::now();
    let to = match q.to.as_deref() {
        Some(s) => parse_time(s, tz, "to")?,
        None => now,
    };
    let from = match q.from.as_deref() {
        Some(s) => parse_time(s, tz, "from")?,
        None => crate::quota::window::day_start(now, tz),
    };
    if from > to {
        return Err(AppError::bad_request(
            "`from` must not be after `to`.",
            Some("from"),
        ));
    }
    let group_by = match q.group_by.as_deref().unwrap_or("family") {
        "family" => GroupBy::Family,
        "model" => GroupBy::Model,
        "goal" => GroupBy::Goal,
        "task" => GroupBy::Task,
        "hour" => GroupBy::Hour,
        "day" => GroupBy::Day,
        other => {
            return Err(AppError::bad_request(
                format!(
                "`group_by` must be one of family, model, goal, task, hour, day, not `{other}`."
            ),
                Some("group_by"),
            ))
        }
    };
    let limit = q.limit.unwrap_or(USAGE_PAGE_DEFAULT);
    if limit == 0 || limit > USAGE_PAGE_MAX {
        return Err(AppError::bad_request(
            format!("`limit` must be between 1 and {USAGE_PAGE_MAX}."),
            Some("limit"),
        ));
    }
    let after = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(UsageCursor::decode(c, group_by).ok_or_else(|| {
            AppError::bad_request(
                "`cursor` must be a `next_cursor` of this endpoint with the same `group_by`.",
                Some("cursor"),
            )
        })?),
    };
    let page = shared
        .store
        .usage(
            &w.id,
            from,
            to,
            group_by,
            tz,
            Page {
                limit,
                after: after.as_ref(),
            },
        )
        .await?;
    Ok(Json(UsageReport {
        workspace: w.id.to_string(),
        from,
        to,
        group_by,
        rows: page.rows,
        next_cursor: page.next.map(|c| c.encode(group_by)),
    }))
}

#[derive(Debug, Deserialize)]
pub(super) struct NotificationsQuery {
    workspace: Option<String>,
    locale: Option<String>,
    limit: Option<u32>,
}

pub(super) async fn notifications(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    q: Result<Query<NotificationsQuery>, QueryRejection>,
) -> Result<Json<NotificationList>, AppError> {
    let q = query(q)?;
    let p = shared.caller(&headers, None)?;
    // An admin who names no workspace reads every workspace's (as the admin WebSocket hears).
    let w = match (&p, q.workspace.as_deref()) {
        (super::Principal::Admin, None) => None,
        (_, ws) => Some(shared.target(&p, ws)?),
    };
    let limit = q.limit.unwrap_or(50);
    if limit == 0 || limit > 500 {
        return Err(AppError::bad_request(
            "`limit` must be between 1 and 500.",
            Some("limit"),
        ));
    }
    let locale = request_locale(q.locale.as_deref(), &headers);
    let stored = match w {
        Some(w) => shared.store.notifications(&w.id, limit).await?,
        None => shared.store.notifications_of_all(limit).await?,
    };
    Ok(Json(NotificationList {
        notifications: stored
            .iter()
            .map(|n| render_notification(n, locale, shared.config.time_zone))
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_is_its_first_instant_even_where_midnight_does_not_exist() {
        let santiago = chrono_tz::America::Santiago;
        // 2024-09-08 00:00 does not exist in Santiago: the day starts at 01:00 (-03:00).
        let t = parse_time("2024-09-08", santiago, "from").unwrap_or_default();
        assert_eq!(t.to_rfc3339(), "2024-09-08T04:00:00+00:00");
        let t = parse_time("2026-11-26", chrono_tz::Europe::Rome, "from").unwrap_or_default();
        assert_eq!(t.to_rfc3339(), "2026-11-25T23:00:00+00:00");
        let t = parse_time("2026-11-26T10:00:00Z", santiago, "to").unwrap_or_default();
        assert_eq!(t.to_rfc3339(), "2026-11-26T10:00:00+00:00");
        assert!(parse_time("26/11/2026", santiago, "from").is_err());
    }
}
