//! Rendering at the edge: turns unrendered status views and stored notifications into the
//! API's localized shapes, and picks a request's locale (`?locale=`, the `qs_lang` cookie,
//! `Accept-Language`, then `en`).
//!
//! Owns: the only place the server turns Fluent keys into text. The bundles themselves live in
//! [`app::i18n`], shared with the browser. Must not: choose which message applies (the quota
//! core does) or hold state.

use std::collections::BTreeMap;

use axum::http::HeaderMap;

pub use app::i18n::{translations, Locale, LOCALE_COOKIE};

use crate::model::StatusView;
use crate::model::StoredNotification;
use crate::quota::{limit_name_key, status_name_key};
use crate::types::{ArgValue, LimitKind, Notification, Status, StatusReport};

/// The locale of a request: an explicit `?locale=`, else the cookie, else `Accept-Language`.
pub fn request_locale(explicit: Option<&str>, headers: &HeaderMap) -> Locale {
    // One negotiation for the API and the pages: the cookie, then Accept-Language.
    explicit
        .and_then(Locale::from_tag)
        .unwrap_or_else(|| app::tr::locale_of_headers(headers))
}

/// Arguments with limit names and statuses translated (they travel as wire names), plus `wait`:
/// `retry_after` as a duration in words ("21 h 1 min"), for the messages that show long waits.
fn localize_args(locale: Locale, args: &BTreeMap<String, ArgValue>) -> BTreeMap<String, ArgValue> {
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
            let v = match key {
                Some(key) => ArgValue::Text(t.text(locale, key)),
                None => v.clone(),
            };
            (k.clone(), v)
        })
        .chain(wait)
        .collect()
}

/// A status view in `locale`.
pub fn render_status(v: &StatusView, locale: Locale) -> StatusReport {
    let t = translations();
    let args = localize_args(locale, &v.message_args);
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
            let a = localize_args(locale, &e.args);
            t.render(locale, e.key, &a)
        }),
    }
}

/// A stored notification in `locale`.
pub fn render_notification(n: &StoredNotification, locale: Locale) -> Notification {
    let t = translations();
    let args = localize_args(locale, &n.args);
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
        };
        let en = render_status(&v, Locale::EN);
        assert_eq!(en.suggested_actions[0], "Retry in 21 h 1 min.");
        assert_eq!(
            en.last_error.as_deref(),
            Some(
                "A call was refused: the workspace reached its limit of tokens per day. \
                 It resets at 00:00, in 21 h 1 min."
            )
        );
        let de = render_status(&v, Locale::from_tag("de").unwrap_or_default());
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
            let b = render_notification(&two, l).body;
            assert!(b.contains("m-a, m-b") && !b.contains("997"), "{code}: {b}");
            let b = render_notification(&many, l).body;
            assert!(
                b.contains("m-a, m-b, m-c") && b.contains("997"),
                "{code}: {b}"
            );
        }
        let en = render_notification(&many, Locale::from_tag("en").unwrap_or_default());
        assert_eq!(en.title, "Models without a price");
        assert!(en.body.contains("and 997 more"), "{}", en.body);
    }
}
