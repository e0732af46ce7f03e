//! The UI's access to translations: the page's [`Locale`] (chosen once per request on the
//! server and read back from `<html lang>` in the browser, so hydration never flips the
//! language) and [`Tr`], which renders keys, numbers, money and relative times through the
//! locale's Fluent messages.

use std::collections::BTreeMap;

use leptos::prelude::*;

use crate::i18n::{translations, Locale, LOCALE_COOKIE};
use crate::logic::format::{format_number, usd_decimals, Separators};
use crate::types::ArgValue;

/// Renders UI strings in one locale. `Copy`, so closures capture it freely.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tr(pub Locale);

impl Tr {
    pub fn locale(self) -> Locale {
        self.0
    }

    /// A message without arguments.
    pub fn t(self, key: &str) -> String {
        translations().text(self.0, key)
    }

    /// A message with arguments.
    pub fn ta(self, key: &str, args: &[(&str, ArgValue)]) -> String {
        let map: BTreeMap<String, ArgValue> = args
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        translations().render(self.0, key, &map)
    }

    fn separators(self) -> (String, String) {
        (
            self.t("number-decimal-separator"),
            self.t("number-group-separator"),
        )
    }

    /// A number with the locale's separators.
    pub fn num(self, value: f64, decimals: usize) -> String {
        let (d, g) = self.separators();
        // `number-group-separator` may be a space; Fluent trims, so translators write "space".
        let g = if g == "space" {
            "\u{202f}".to_string()
        } else {
            g
        };
        format_number(
            value,
            decimals,
            Separators {
                decimal: &d,
                group: &g,
            },
        )
    }

    pub fn int(self, value: u64) -> String {
        self.num(value as f64, 0)
    }

    /// A USD amount, e.g. `$1,234.50` (en) or `1.234,50 USD` (it), from `money-usd`.
    pub fn usd(self, value: f64) -> String {
        let amount = self.num(value, usd_decimals(value));
        self.ta("money-usd", &[("amount", ArgValue::Text(amount))])
    }

    /// "3 minutes ago" and friends, with Fluent plurals.
    pub fn ago(self, secs: i64) -> String {
        let s = secs.max(0);
        let (key, n) = if s < 60 {
            ("time-ago-seconds", s)
        } else if s < 3600 {
            ("time-ago-minutes", s / 60)
        } else if s < 86_400 {
            ("time-ago-hours", s / 3600)
        } else {
            ("time-ago-days", s / 86_400)
        };
        self.ta(key, &[("count", ArgValue::Number(n as f64))])
    }

    /// A wait in words: "45 seconds", "12 min", "21 h 1 min" (see [`crate::i18n::duration_message`]).
    pub fn duration(self, secs: u64) -> String {
        translations().duration(self.0, secs)
    }

    /// A calendar date in the locale's `date-short-format` (a chrono pattern).
    pub fn date(self, d: chrono::NaiveDate) -> String {
        let pattern = self.t("date-short-format");
        let items: Vec<_> = chrono::format::StrftimeItems::new(&pattern).collect();
        if items
            .iter()
            .any(|i| matches!(i, chrono::format::Item::Error))
        {
            return d.to_string();
        }
        d.format_with_items(items.into_iter()).to_string()
    }

    /// A UTC date and time in the locale's `datetime-format` (a chrono pattern).
    pub fn datetime(self, t: chrono::DateTime<chrono::Utc>) -> String {
        let pattern = self.t("datetime-format");
        let mut out = String::new();
        use std::fmt::Write;
        let items: Vec<_> = chrono::format::StrftimeItems::new(&pattern).collect();
        if items
            .iter()
            .any(|i| matches!(i, chrono::format::Item::Error))
        {
            return t.to_rfc3339();
        }
        let _ = write!(out, "{}", t.format_with_items(items.into_iter()));
        out
    }
}

/// The page's translator, from context (English if none was provided).
pub fn use_tr() -> Tr {
    use_context::<Tr>().unwrap_or(Tr(Locale::EN))
}

/// The locale of the current request (server) or page (browser).
pub fn page_locale() -> Locale {
    #[cfg(feature = "ssr")]
    {
        use_context::<http::request::Parts>()
            .map(|p| locale_of_headers(&p.headers))
            .unwrap_or_default()
    }
    #[cfg(not(feature = "ssr"))]
    {
        web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.document_element())
            .and_then(|e| e.get_attribute("lang"))
            .and_then(|l| Locale::from_tag(&l))
            .unwrap_or_default()
    }
}

/// The value of cookie `name` in a `Cookie` header's text.
pub fn cookie_value<'a>(cookies: &'a str, name: &str) -> Option<&'a str> {
    cookies.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// Cookie `qs_lang`, else `Accept-Language`, else English.
#[cfg(feature = "ssr")]
pub fn locale_of_headers(h: &http::HeaderMap) -> Locale {
    let cookie = h
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| cookie_value(v, LOCALE_COOKIE));
    let accept = h
        .get(http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    Locale::negotiate(cookie, accept)
}

/// Stores the chosen language in the `qs_lang` cookie (a year) and reloads the page, so the
/// server renders it, the socket speaks it, and the choice survives reloads.
pub fn switch_language(code: &str) {
    #[cfg(not(feature = "ssr"))]
    {
        use wasm_bindgen::JsCast;
        let Some(doc) = web_sys::window().and_then(|w| w.document()) else {
            return;
        };
        if let Ok(html) = doc.dyn_into::<web_sys::HtmlDocument>() {
            let _ = html.set_cookie(&format!(
                "{LOCALE_COOKIE}={code}; Path=/; Max-Age=31536000; SameSite=Lax"
            ));
        }
        if let Some(w) = web_sys::window() {
            let _ = w.location().reload();
        }
    }
    #[cfg(feature = "ssr")]
    let _ = (code, LOCALE_COOKIE);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_money_and_times_follow_the_locale() {
        let en = Tr(Locale::EN);
        let it = Tr(Locale::from_tag("it").unwrap_or_default());
        let de = Tr(Locale::from_tag("de").unwrap_or_default());
        assert_eq!(en.num(1234.5, 2), "1,234.50");
        assert_eq!(it.num(1234.5, 2), "1.234,50");
        assert_eq!(de.int(1234567), "1.234.567");
        assert!(en.usd(3.5).contains("3.50"), "{}", en.usd(3.5));
        assert!(it.usd(3.5).contains("3,50"), "{}", it.usd(3.5));
        assert_eq!(en.ago(1), "1 second ago");
        assert_eq!(en.ago(125), "2 minutes ago");
        assert_ne!(it.ago(125), en.ago(125));
        assert_eq!(en.duration(75_685), "21 h 1 min");
        assert_eq!(it.duration(1), "1 secondo");
    }

    /// Every key the UI renders exists in English (the locale test then requires it everywhere).
    #[test]
    fn every_ui_key_exists() {
        use crate::logic::live::Connection;
        use crate::logic::table::SortKey;
        use crate::types::{LimitKind, Status};
        let sources = [
            include_str!("components.rs"),
            include_str!("pages/mod.rs"),
            include_str!("pages/login.rs"),
            include_str!("pages/workspace.rs"),
            include_str!("pages/admin.rs"),
            include_str!("pages/rules.rs"),
            include_str!("pages/policies.rs"),
            include_str!("lib.rs"),
            include_str!("tr.rs"),
        ];
        let mut keys: Vec<String> = vec![];
        for src in sources {
            for pat in ["t(\"", "ta(\"", "ta(\n                \"", "line(\""] {
                for (i, _) in src.match_indices(pat) {
                    let rest = &src[i + pat.len()..];
                    let key: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                        .collect();
                    if rest[key.len()..].starts_with('"') && key.contains('-') {
                        keys.push(key);
                    }
                }
            }
        }
        keys.extend(
            SortKey::ALL
                .iter()
                .map(|k| format!("admin-col-{}", k.as_str())),
        );
        keys.extend(
            Status::ALL
                .iter()
                .map(|s| format!("status-label-{}", s.as_str())),
        );
        keys.extend(
            Status::ALL
                .iter()
                .map(|s| format!("banner-title-{}", s.as_str())),
        );
        keys.extend(
            LimitKind::ALL
                .iter()
                .map(|k| format!("usage-label-{}", k.as_str())),
        );
        keys.extend(
            LimitKind::ALL
                .iter()
                .map(|k| format!("policies-limit-{}", k.as_str())),
        );
        for c in [
            Connection::Live,
            Connection::Connecting,
            Connection::Reconnecting,
            Connection::Offline,
        ] {
            keys.push(format!("connection-{}", c.as_str()));
        }
        for l in ["info", "warning", "error"] {
            keys.push(format!("level-{l}"));
        }
        for k in [
            "usage-of-limit",
            "upstream-remaining-of",
            "time-ago-seconds",
            "time-ago-minutes",
            "time-ago-hours",
            "time-ago-days",
            "duration-seconds",
            "duration-minutes",
            "duration-hours",
            "duration-hours-minutes",
            "language-name",
            "upstream-requests",
            "upstream-tokens",
        ] {
            keys.push(k.to_string());
        }
        assert!(keys.len() > 80, "{}", keys.len());
        let t = translations();
        let missing: Vec<&String> = keys.iter().filter(|k| !t.has(Locale::EN, k)).collect();
        assert!(
            missing.is_empty(),
            "keys missing from locales/en: {missing:?}"
        );
    }

    #[test]
    fn cookie_values() {
        assert_eq!(cookie_value("a=b; qs_lang=it", "qs_lang"), Some("it"));
        assert_eq!(cookie_value("a=b", "qs_lang"), None);
    }
}
