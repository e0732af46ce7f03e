//! Rendering at the edge: turns unrendered status views and stored notifications into the
//! API's localized shapes, and picks a request's locale (`?locale=`, the `qs_lang` cookie,
//! `Accept-Language`, then `en`).
//!
//! Owns: the only place the server turns Fluent keys into text. The bundles themselves live in
//! [`app::i18n`], shared with the browser. Must not: choose which message applies (the quota
//! core does) or hold state.

use std::collections::BTreeMap;

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};

pub use app::i18n::{translations, Locale, LOCALE_COOKIE};

use crate::model::StatusView;
use crate::model::StoredNotification;
use crate::quota::{limit_name_key, status_name_key};
use crate::types::{
    ArgValue, LimitForecast, LimitKind, NextResets, Notification, Status, StatusReport,
};

/// The locale of a request: an explicit `?locale=`, else the cookie, else `Accept-Language`.
pub fn request_locale(explicit: Option<&str>, headers: &HeaderMap) -> Locale {
    // One negotiation for the API and the pages: the cookie, then Accept-Language.
    explicit
        .and_then(Locale::from_tag)
        .unwrap_or_else(|| app::tr::locale_of_headers(headers))
}

/// Arguments with limit names and statuses translated (they travel as wire names), plus `wait`:
/// `retry_after` as a duration in words ("21 h 1 min"), for the messages that show long waits.
///
/// Instants (arguments named `*_at` holding RFC 3339 text) read as local times in `tz`: `15:40`
/// within a day of `reference` (when the message was made), else `2024-06-01 00:00`.
fn localize_args(
    locale: Locale,
    args: &BTreeMap<String, ArgValue>,
    tz: chrono_tz::Tz,
    reference: DateTime<Utc>,
) -> BTreeMap<String, ArgValue> {
    let t = translations();
    let wait = match args.get("retry_after") {
        Some(ArgValue::Number(secs)) if *secs >= 0.0 => Some((
            "wait".to_string(),
            ArgValue::Text(t.duration(locale, *secs as u64)),
        )),
        _ => None,
    };
    args.iter()
        .map(|(k, v)| {
            // The keys come from the quota core's one list; a name it does not know stays as is.
            let key = match (k.as_str(), v) {
                ("limit", ArgValue::Text(name)) => LimitKind::ALL
                    .into_iter()
                    .find(|l| l.as_str() == name)
                    .map(limit_name_key),
                ("status", ArgValue::Text(name)) => Status::ALL
                    .into_iter()
                    .find(|st| st.as_str() == name)
                    .map(status_name_key),
                _ => None,
            };
            let v = match (key, v) {
                (Some(key), _) => ArgValue::Text(t.text(locale, key)),
                (None, ArgValue::Text(at)) if k.ends_with("_at") => {
                    ArgValue::Text(local_time(at, tz, reference))
                }
                (None, v) => v.clone(),
            };
            (k.clone(), v)
        })
        .chain(wait)
        .collect()
}

/// An RFC 3339 instant as a local time in `tz` (see [`localize_args`]); other text as is.
fn local_time(at: &str, tz: chrono_tz::Tz, reference: DateTime<Utc>) -> String {
    let Ok(t) = DateTime::parse_from_rfc3339(at) else {
        return at.to_string();
    };
    local_instant(t.with_timezone(&Utc), tz, reference)
}

/// An instant as a local time in `tz`: `15:40` within a day after `reference`, else
/// `2024-06-01 00:00` (see [`localize_args`]).
fn local_instant(t: DateTime<Utc>, tz: chrono_tz::Tz, reference: DateTime<Utc>) -> String {
    let local = t.with_timezone(&tz);
    if t >= reference && t - reference <= chrono::TimeDelta::hours(24) {
        local.format("%H:%M").to_string()
    } else {
        local.format("%Y-%m-%d %H:%M").to_string()
    }
}

/// A status view in `locale`, its times in `tz`.
pub fn render_status(v: &StatusView, locale: Locale, tz: chrono_tz::Tz) -> StatusReport {
    let t = translations();
    let args = localize_args(locale, &v.message_args, tz, v.at);
    StatusReport {
        workspace: v.workspace.clone(),
        name: v.name.clone(),
        status: v.status,
        since: v.since,
        cause: v.cause.clone(),
        scope: v.cause.scope(),
        message: t.render(locale, v.message_key, &args),
        suggested_actions: v
            .action_keys
            .iter()
            .map(|k| t.render(locale, k, &args))
            .collect(),
        suggested_action_keys: v.action_keys.iter().map(|k| k.to_string()).collect(),
        usage: v.usage.clone(),
        limits: v.limits.clone(),
        upstream: v.upstream.clone(),
        retry_after_seconds: v.retry_after_secs,
        retry_after_ms: v.retry_after_ms,
        generated_at: Some(v.at),
        last_error: v.last_error.as_ref().map(|e| {
            let a = localize_args(locale, &e.args, tz, e.at);
            t.render(locale, e.key, &a)
        }),
        forecasts: v
            .forecasts
            .iter()
            .map(|f| render_forecast(f, locale, tz, v.at))
            .collect(),
        next_resets: v.next_resets.clone(),
        next_resets_local: v.next_resets.as_ref().map(|n| NextResets {
            day: local_instant(n.day, tz, v.at),
            // Always with its date: "00:00" alone would read as tonight's daily reset.
            month: n
                .month
                .with_timezone(&tz)
                .format("%Y-%m-%d %H:%M")
                .to_string(),
        }),
        downgrades: v.downgrades.clone(),
    }
}

/// A limit's forecast worded in `locale`, its times in `tz` (`reference`: when it was made).
pub fn render_forecast(
    f: &LimitForecast,
    locale: Locale,
    tz: chrono_tz::Tz,
    reference: DateTime<Utc>,
) -> LimitForecast {
    let key = if f.before_reset {
        "forecast-runs-out"
    } else {
        "forecast-lasts"
    };
    let args = BTreeMap::from([
        (
            "runs_out_at".to_string(),
            crate::quota::status::instant(f.runs_out_at),
        ),
        (
            "resets_at".to_string(),
            crate::quota::status::instant(f.resets_at),
        ),
    ]);
    let args = localize_args(locale, &args, tz, reference);
    LimitForecast {
        text: translations().render(locale, key, &args),
        ..f.clone()
    }
}

/// A stored notification in `locale`, its times in `tz`.
pub fn render_notification(
    n: &StoredNotification,
    locale: Locale,
    tz: chrono_tz::Tz,
) -> Notification {
    let t = translations();
    let args = localize_args(locale, &n.args, tz, n.ts);
    Notification {
        id: n.id.clone(),
        workspace: n.workspace.clone(),
        level: n.level,
        status: n.status,
        key: n.key.clone(),
        args: n.args.clone(),
        action_keys: n.action_keys.clone(),
        title: t.render(locale, &format!("{}.title", n.key), &args),
        body: t.render(locale, &format!("{}.body", n.key), &args),
        actions: n
            .action_keys
            .iter()
            .map(|k| t.render(locale, k, &args))
            .collect(),
        created_at: n.ts,
    }
}

/// A status' name in `locale` ("quota exceeded"), as notifications show it.
pub fn status_name(status: Status, locale: Locale) -> String {
    translations().text(locale, status_name_key(status))
}

/// Renders `key` in `locale` with text arguments (the words around a notification that an
/// alert channel adds: subject, labels, footer).
pub fn render_text(locale: Locale, key: &str, args: &[(&str, &str)]) -> String {
    let args: BTreeMap<String, ArgValue> = args
        .iter()
        .map(|(k, v)| (k.to_string(), ArgValue::Text(v.to_string())))
        .collect();
    translations().render(locale, key, &args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{header, HeaderValue};

    #[test]
    fn explicit_then_cookie_then_accept_language() {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_static("de-DE,de;q=0.9"),
        );
        assert_eq!(request_locale(None, &h).code(), "de");
        h.insert(header::COOKIE, HeaderValue::from_static("a=b; qs_lang=it"));
        assert_eq!(request_locale(None, &h).code(), "it");
        assert_eq!(request_locale(Some("es"), &h).code(), "es");
    }

    #[test]
    fn long_waits_read_as_hours_and_minutes_in_messages_actions_and_last_errors() {
        use crate::model::LastError;
        use crate::quota::{describe, Evaluation};
        use crate::types::{Cause, Status};
        let e = Evaluation {
            status: Status::RateLimited,
            cause: Cause::UpstreamRateLimited,
            retry_after_secs: Some(75_685),
        };
        let (message_key, message_args, action_keys) = describe(&e);
        let mut args = BTreeMap::new();
        args.insert("limit".to_string(), ArgValue::Text("tokens_per_day".into()));
        args.insert("retry_after".to_string(), ArgValue::Number(75_685.0));
        args.insert("resets_at".to_string(), ArgValue::Text("00:00".into()));
        let v = StatusView {
            workspace: "w".into(),
            name: "W".into(),
            status: e.status,
            since: chrono::Utc::now(),
            cause: e.cause.clone(),
            message_key,
            message_args,
            action_keys,
            usage: Default::default(),
            limits: Default::default(),
            upstream: None,
            retry_after_secs: e.retry_after_secs,
            retry_after_ms: e.retry_after_secs.map(|s| s * 1000),
            at: chrono::Utc::now(),
            last_error: Some(LastError {
                key: "error-workspace-limit-day",
                args,
                at: chrono::Utc::now(),
            }),
            forecasts: vec![],
            next_resets: None,
            downgrades: vec![],
        };
        let en = render_status(&v, Locale::EN, chrono_tz::UTC);
        assert_eq!(en.suggested_actions[0], "Retry in 21 h 1 min.");
        assert_eq!(
            en.last_error.as_deref(),
            Some(
                "A call was refused: the workspace reached its limit of tokens per day. \
                 It resets at 00:00, in 21 h 1 min."
            )
        );
        let de = render_status(
            &v,
            Locale::from_tag("de").unwrap_or_default(),
            chrono_tz::UTC,
        );
        assert_eq!(
            de.suggested_actions[0],
            "In 21 Std. 1 Min. erneut versuchen."
        );
        let last = de.last_error.unwrap_or_default();
        assert!(
            last.contains("um 00:00 Uhr") && !last.contains("75685"),
            "{last}"
        );
    }

    #[test]
    fn coalesced_unpriced_models_read_well_in_every_locale() {
        use crate::quota::unpriced_models_notice;
        use crate::types::Status;
        let stored = |names: &[&str], more| {
            let n = unpriced_models_notice(names, more, Status::Normal);
            StoredNotification {
                id: "n".into(),
                workspace: "w".into(),
                ts: chrono::Utc::now(),
                level: n.level,
                status: n.status,
                key: n.key.into(),
                args: n.args,
                action_keys: n.action_keys.iter().map(|k| k.to_string()).collect(),
            }
        };
        let two = stored(&["m-a", "m-b"], 0);
        let many = stored(&["m-a", "m-b", "m-c"], 997);
        for code in ["en", "it", "es", "de"] {
            let l = Locale::from_tag(code).unwrap_or_else(|| panic!("{code}"));
            let b = render_notification(&two, l, chrono_tz::UTC).body;
            assert!(b.contains("m-a, m-b") && !b.contains("997"), "{code}: {b}");
            let b = render_notification(&many, l, chrono_tz::UTC).body;
            assert!(
                b.contains("m-a, m-b, m-c") && b.contains("997"),
                "{code}: {b}"
            );
        }
        let en = render_notification(
            &many,
            Locale::from_tag("en").unwrap_or_default(),
            chrono_tz::UTC,
        );
        assert_eq!(en.title, "Models without a price");
        assert!(en.body.contains("and 997 more"), "{}", en.body);
    }

    #[test]
    fn alerts_read_with_amounts_and_local_times_in_every_locale() {
        use crate::quota::{alert_notice, Alert};
        use crate::types::Status;
        let at = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default()
        };
        let threshold = Alert::Threshold {
            limit: LimitKind::BudgetUsdPerDay,
            threshold: 0.8,
            round: Default::default(),
            used: 8.0,
            cap: 10.0,
            soft: false,
            resets_at: at("2024-05-10T22:00:00Z"),
        };
        let burn = Alert::BurnRate {
            limit: LimitKind::TokensPerDay,
            period: 1,
            runs_out_at: at("2024-05-10T13:40:00Z"),
            resets_at: at("2024-05-10T22:00:00Z"),
            used: 500.0,
            cap: 1000.0,
        };
        let stored = |a: &Alert| {
            let n = alert_notice(a, Status::Warning, 0.8);
            StoredNotification {
                id: "n".into(),
                workspace: "w".into(),
                ts: at("2024-05-10T12:00:00Z"),
                level: n.level,
                status: n.status,
                key: n.key.into(),
                args: n.args,
                action_keys: n.action_keys.iter().map(|k| k.to_string()).collect(),
            }
        };
        let rome = chrono_tz::Europe::Rome;
        let en = render_notification(&stored(&threshold), Locale::EN, rome);
        assert_eq!(en.title, "80% of a workspace limit used");
        assert_eq!(
            en.body,
            "This workspace has used 80% of its daily budget limit (8 of 10 USD). It resets at 00:00."
        );
        let de = render_notification(
            &stored(&burn),
            Locale::from_tag("de").unwrap_or_default(),
            rome,
        );
        assert!(
            de.body.contains("um 15:40") && de.body.contains("um 00:00"),
            "{}",
            de.body
        );
        for code in ["en", "de", "es", "it"] {
            let l = Locale::from_tag(code).unwrap_or_default();
            for a in [&threshold, &burn] {
                let n = render_notification(&stored(a), l, chrono_tz::UTC);
                assert!(
                    !n.title.is_empty() && !n.body.contains('{'),
                    "{code}: {n:?}"
                );
                assert!(n.body.contains("22:00"), "{code}: {}", n.body);
            }
        }
    }

    #[test]
    fn next_resets_read_as_local_times_of_the_server_zone() {
        use crate::types::{Cause, Status};
        let at = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default()
        };
        let v = StatusView {
            workspace: "w".into(),
            name: "W".into(),
            status: Status::Normal,
            since: at("2024-05-10T12:00:00Z"),
            cause: Cause::None,
            message_key: "status-normal",
            message_args: BTreeMap::new(),
            action_keys: vec![],
            usage: Default::default(),
            limits: Default::default(),
            upstream: None,
            retry_after_secs: None,
            retry_after_ms: None,
            at: at("2024-05-10T12:00:00Z"),
            last_error: None,
            forecasts: vec![],
            next_resets: Some(NextResets {
                day: at("2024-05-10T22:00:00Z"),
                month: at("2024-05-31T22:00:00Z"),
            }),
            downgrades: vec![],
        };
        let r = render_status(&v, Locale::EN, chrono_tz::Europe::Rome);
        assert_eq!(r.next_resets, v.next_resets);
        assert_eq!(
            r.next_resets_local,
            Some(NextResets {
                day: "00:00".to_string(),
                month: "2024-06-01 00:00".to_string(),
            })
        );
        let utc = render_status(&v, Locale::EN, chrono_tz::UTC);
        assert_eq!(
            utc.next_resets_local.map(|n| (n.day, n.month)),
            Some(("22:00".to_string(), "2024-05-31 22:00".to_string()))
        );
        let none = render_status(
            &StatusView {
                next_resets: None,
                ..v.clone()
            },
            Locale::EN,
            chrono_tz::UTC,
        );
        assert_eq!(none.next_resets_local, None);
        // On the month's last day the month reset is within a day, and still dated.
        let last_day = StatusView {
            at: at("2024-05-31T12:00:00Z"),
            ..v
        };
        let r = render_status(&last_day, Locale::EN, chrono_tz::Europe::Rome);
        assert_eq!(
            r.next_resets_local.map(|n| n.month),
            Some("2024-06-01 00:00".to_string())
        );
    }
}
