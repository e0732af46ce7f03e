//! Fluent translations, shared by the server (notifications, API messages, SSR) and the browser.
//!
//! Owns: the embedded `locales/<lang>/*.ftl` files, locale negotiation (cookie → `Accept-Language`
//! → `en`), and rendering a key with arguments. Translators edit only the `.ftl` files; adding a
//! language means adding a folder and one line in [`LOCALES`] (see `TRANSLATING.md`).
//! Must not: hold UI state or decide which message to show (callers pass the key).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use unic_langid::LanguageIdentifier;

use crate::types::ArgValue;

/// The name of the cookie that holds the chosen language.
pub const LOCALE_COOKIE: &str = "qs_lang";

/// The shipped languages and their files, embedded at compile time. `en` is the reference.
pub const LOCALES: &[(&str, &[&str])] = &[
    (
        "en",
        &[
            include_str!("../../locales/en/notifications.ftl"),
            include_str!("../../locales/en/ui.ftl"),
            include_str!("../../locales/en/alerts.ftl"),
        ],
    ),
    (
        "it",
        &[
            include_str!("../../locales/it/notifications.ftl"),
            include_str!("../../locales/it/ui.ftl"),
            include_str!("../../locales/it/alerts.ftl"),
        ],
    ),
    (
        "es",
        &[
            include_str!("../../locales/es/notifications.ftl"),
            include_str!("../../locales/es/ui.ftl"),
            include_str!("../../locales/es/alerts.ftl"),
        ],
    ),
    (
        "de",
        &[
            include_str!("../../locales/de/notifications.ftl"),
            include_str!("../../locales/de/ui.ftl"),
            include_str!("../../locales/de/alerts.ftl"),
        ],
    ),
];

/// A supported locale, by its index in [`LOCALES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Locale(usize);

impl Locale {
    pub const EN: Locale = Locale(0);

    /// The locale for a language tag (`it`, `it-IT`, `de-CH`…), if shipped.
    pub fn from_tag(tag: &str) -> Option<Locale> {
        let primary = tag
            .trim()
            .split(['-', '_'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        LOCALES
            .iter()
            .position(|(code, _)| *code == primary)
            .map(Locale)
    }

    pub fn code(self) -> &'static str {
        LOCALES.get(self.0).map(|(c, _)| *c).unwrap_or("en")
    }

    pub fn all() -> impl Iterator<Item = Locale> {
        (0..LOCALES.len()).map(Locale)
    }

    /// Picks the language: the cookie's if it names a shipped one, else the best of
    /// `Accept-Language` by quality, else `en`.
    pub fn negotiate(cookie: Option<&str>, accept_language: Option<&str>) -> Locale {
        if let Some(l) = cookie.and_then(Locale::from_tag) {
            return l;
        }
        let mut best: Option<(f32, Locale)> = None;
        for part in accept_language.unwrap_or_default().split(',') {
            let mut it = part.split(';');
            let tag = it.next().unwrap_or_default();
            let q = it
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            if let Some(l) = Locale::from_tag(tag) {
                if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                    best = Some((q, l));
                }
            }
        }
        best.map(|(_, l)| l).unwrap_or(Locale::EN)
    }
}

/// All bundles, built once.
pub struct Translations {
    bundles: Vec<FluentBundle<FluentResource>>,
}

/// The process-wide translations (parsed on first use).
pub fn translations() -> &'static Translations {
    static T: OnceLock<Translations> = OnceLock::new();
    T.get_or_init(Translations::load)
}

impl Translations {
    fn load() -> Translations {
        let bundles = LOCALES
            .iter()
            .map(|(code, files)| {
                let lang: LanguageIdentifier = code.parse().unwrap_or_default();
                let mut bundle = FluentBundle::new_concurrent(vec![lang]);
                // Unicode isolation marks around placeables confuse plain-text consumers
                // (logs, JSON clients, tests); our strings are never bidirectional.
                bundle.set_use_isolating(false);
                for src in files.iter() {
                    // A file with syntax errors still yields the messages that parsed; the
                    // locale tests fail on any error, so none ship.
                    let res =
                        FluentResource::try_new((*src).to_string()).unwrap_or_else(|(r, _)| r);
                    bundle.add_resource_overriding(res);
                }
                bundle
            })
            .collect();
        Translations { bundles }
    }

    /// Renders `key` (or `key.attr`) in `locale`, falling back to English, then to the key.
    pub fn render(&self, locale: Locale, key: &str, args: &BTreeMap<String, ArgValue>) -> String {
        let fargs = to_fluent_args(args);
        for idx in [locale.0, 0] {
            if let Some(s) = self.try_render(idx, key, fargs.as_ref()) {
                return s;
            }
        }
        key.to_string()
    }

    /// Renders a key without arguments.
    pub fn text(&self, locale: Locale, key: &str) -> String {
        self.render(locale, key, &BTreeMap::new())
    }

    /// A wait of `secs` in `locale` ("45 seconds", "21 h 1 min"); see [`duration_message`].
    pub fn duration(&self, locale: Locale, secs: u64) -> String {
        let (key, args) = duration_message(secs);
        self.render(locale, key, &args)
    }

    /// Whether `locale` itself (without fallback) has `key`.
    pub fn has(&self, locale: Locale, key: &str) -> bool {
        let (id, attr) = split_key(key);
        self.bundles
            .get(locale.0)
            .and_then(|b| b.get_message(id))
            .is_some_and(|m| match attr {
                None => m.value().is_some(),
                Some(a) => m.get_attribute(a).is_some(),
            })
    }

    fn try_render(&self, idx: usize, key: &str, args: Option<&FluentArgs>) -> Option<String> {
        let bundle = self.bundles.get(idx)?;
        let (id, attr) = split_key(key);
        let msg = bundle.get_message(id)?;
        let pattern = match attr {
            None => msg.value()?,
            Some(a) => msg.get_attribute(a)?.value(),
        };
        let mut errors = vec![];
        let s = bundle.format_pattern(pattern, args, &mut errors);
        Some(s.into_owned())
    }
}

/// Waits of at least this many seconds read in minutes (or hours and minutes), shorter ones
/// in seconds.
pub const MINUTE_SECS: u64 = 60;

/// How a wait of `secs` reads, as a Fluent key and its counted arguments: under a minute in
/// seconds (`duration-seconds`, `$seconds`), under an hour in whole minutes
/// (`duration-minutes`, `$minutes`), then in hours and minutes (`duration-hours`, `$hours`;
/// `duration-hours-minutes`, `$hours` and `$minutes`). Partial units are dropped: 75,685 s is
/// "21 h 1 min". The one place durations are shaped; [`Translations::duration`] renders it.
pub fn duration_message(secs: u64) -> (&'static str, BTreeMap<String, ArgValue>) {
    let num = |n: u64| ArgValue::Number(n as f64);
    let (hours, minutes) = (secs / 3600, secs % 3600 / 60);
    let (key, args) = if secs < MINUTE_SECS {
        ("duration-seconds", vec![("seconds", num(secs))])
    } else if hours == 0 {
        ("duration-minutes", vec![("minutes", num(minutes))])
    } else if minutes == 0 {
        ("duration-hours", vec![("hours", num(hours))])
    } else {
        (
            "duration-hours-minutes",
            vec![("hours", num(hours)), ("minutes", num(minutes))],
        )
    };
    (
        key,
        args.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
    )
}

fn split_key(key: &str) -> (&str, Option<&str>) {
    match key.split_once('.') {
        Some((id, attr)) => (id, Some(attr)),
        None => (key, None),
    }
}

fn to_fluent_args(args: &BTreeMap<String, ArgValue>) -> Option<FluentArgs<'_>> {
    if args.is_empty() {
        return None;
    }
    let mut f = FluentArgs::new();
    for (k, v) in args {
        match v {
            ArgValue::Number(n) => f.set(k.as_str(), FluentValue::from(*n)),
            ArgValue::Text(s) => f.set(k.as_str(), FluentValue::from(s.as_str())),
        }
    }
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fluent_syntax::ast;
    use std::collections::BTreeSet;

    /// Message ids and attributes (`id` and `id.attr`) with the variables each uses.
    fn keys_of(src: &str) -> BTreeMap<String, BTreeSet<String>> {
        let res = match fluent_syntax::parser::parse(src) {
            Ok(r) => r,
            Err((_, errs)) => panic!("syntax errors: {errs:?}"),
        };
        let mut out = BTreeMap::new();
        for entry in res.body {
            if let ast::Entry::Message(m) = entry {
                if let Some(v) = &m.value {
                    out.insert(m.id.name.to_string(), vars_of(v));
                }
                for a in &m.attributes {
                    out.insert(format!("{}.{}", m.id.name, a.id.name), vars_of(&a.value));
                }
            }
        }
        out
    }

    fn vars_of(p: &ast::Pattern<&str>) -> BTreeSet<String> {
        let mut vars = BTreeSet::new();
        for el in &p.elements {
            if let ast::PatternElement::Placeable { expression } = el {
                collect_expr(expression, &mut vars);
            }
        }
        vars
    }

    fn collect_expr(e: &ast::Expression<&str>, vars: &mut BTreeSet<String>) {
        match e {
            ast::Expression::Inline(i) => collect_inline(i, vars),
            ast::Expression::Select { selector, variants } => {
                collect_inline(selector, vars);
                for v in variants {
                    vars.extend(vars_of(&v.value));
                }
            }
        }
    }

    fn collect_inline(i: &ast::InlineExpression<&str>, vars: &mut BTreeSet<String>) {
        match i {
            ast::InlineExpression::VariableReference { id } => {
                vars.insert(id.name.to_string());
            }
            ast::InlineExpression::FunctionReference { arguments, .. } => {
                for a in &arguments.positional {
                    collect_inline(a, vars);
                }
            }
            ast::InlineExpression::Placeable { expression } => collect_expr(expression, vars),
            _ => {}
        }
    }

    fn locale_keys(files: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
        files.iter().flat_map(|f| keys_of(f)).collect()
    }

    #[test]
    fn every_locale_has_exactly_the_keys_and_variables_of_en() {
        let en = locale_keys(LOCALES[0].1);
        assert!(!en.is_empty());
        let mut problems = vec![];
        for (code, files) in &LOCALES[1..] {
            let other = locale_keys(files);
            for (k, vars) in &en {
                match other.get(k) {
                    None => problems.push(format!("{code}: missing key {k}")),
                    Some(ov) => {
                        for v in ov.difference(vars) {
                            problems.push(format!("{code}: {k} uses ${v}, which en does not pass"));
                        }
                    }
                }
            }
            for k in other.keys().filter(|k| !en.contains_key(*k)) {
                problems.push(format!("{code}: key {k} is not in en"));
            }
        }
        assert!(
            problems.is_empty(),
            "locale problems:\n{}",
            problems.join("\n")
        );
    }

    /// Number arguments that count something ("3 seconds", "1 failure"): a message must
    /// choose its words by their plural category. Other numbers (percentages, money, the
    /// figures of a usage bar) are shown with a symbol or stand alone and need no plural.
    const COUNTED: [&str; 6] = [
        "retry_after",
        "seconds",
        "minutes",
        "hours",
        "count",
        "consecutive",
    ];

    /// The counted variables that `p` shows outside a select on that same variable.
    fn unselected_counts(p: &ast::Pattern<&str>, under: &[String], out: &mut BTreeSet<String>) {
        for el in &p.elements {
            let ast::PatternElement::Placeable { expression } = el else {
                continue;
            };
            match expression {
                ast::Expression::Inline(ast::InlineExpression::VariableReference { id }) => {
                    if COUNTED.contains(&id.name) && !under.iter().any(|u| u == id.name) {
                        out.insert(id.name.to_string());
                    }
                }
                ast::Expression::Inline(_) => {}
                ast::Expression::Select { selector, variants } => {
                    let mut under = under.to_vec();
                    if let ast::InlineExpression::VariableReference { id } = selector {
                        under.push(id.name.to_string());
                    }
                    for v in variants {
                        unselected_counts(&v.value, &under, out);
                    }
                }
            }
        }
    }

    #[test]
    fn every_count_is_shown_through_a_plural_selector_in_every_locale() {
        let mut problems = vec![];
        for (code, files) in LOCALES {
            for src in *files {
                let res =
                    fluent_syntax::parser::parse(*src).unwrap_or_else(|(_, e)| panic!("{e:?}"));
                for entry in res.body {
                    let ast::Entry::Message(m) = entry else {
                        continue;
                    };
                    let patterns = m.value.iter().map(|v| (m.id.name.to_string(), v)).chain(
                        m.attributes
                            .iter()
                            .map(|a| (format!("{}.{}", m.id.name, a.id.name), &a.value)),
                    );
                    for (key, p) in patterns {
                        let mut bare = BTreeSet::new();
                        unselected_counts(p, &[], &mut bare);
                        for v in bare {
                            problems.push(format!(
                                "{code}: {key} shows ${v} without a plural selector"
                            ));
                        }
                    }
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        // "Retry in 1 seconds." was the case that slipped through.
        let t = translations();
        let one = BTreeMap::from([("retry_after".to_string(), ArgValue::Number(1.0))]);
        assert_eq!(
            t.render(Locale::EN, "action-wait-retry", &one),
            "Retry in 1 second."
        );
    }

    #[test]
    fn durations_read_in_seconds_then_minutes_then_hours_and_minutes() {
        let t = translations();
        let it = Locale::from_tag("it").unwrap_or_default();
        let de = Locale::from_tag("de").unwrap_or_default();
        let cases: [(u64, &str, &str, &str); 8] = [
            (0, "0 seconds", "0 secondi", "0 Sekunden"),
            (1, "1 second", "1 secondo", "1 Sekunde"),
            (59, "59 seconds", "59 secondi", "59 Sekunden"),
            (60, "1 min", "1 min", "1 Min."),
            (61, "1 min", "1 min", "1 Min."),
            (3600, "1 h", "1 h", "1 Std."),
            (3660, "1 h 1 min", "1 h 1 min", "1 Std. 1 Min."),
            (75_685, "21 h 1 min", "21 h 1 min", "21 Std. 1 Min."),
        ];
        for (secs, en, it_text, de_text) in cases {
            assert_eq!(t.duration(Locale::EN, secs), en, "{secs} s");
            assert_eq!(t.duration(it, secs), it_text, "{secs} s");
            assert_eq!(t.duration(de, secs), de_text, "{secs} s");
        }
        assert_eq!(duration_message(75_685).0, "duration-hours-minutes");
        assert_eq!(
            duration_message(75_685).1.get("hours"),
            Some(&ArgValue::Number(21.0))
        );
        // Every locale renders every shape (no key falls back to English or to itself).
        for l in Locale::all() {
            for secs in [1, 60, 3600, 3660] {
                let (key, _) = duration_message(secs);
                assert!(t.has(l, key), "{}: {key}", l.code());
            }
        }
    }

    #[test]
    fn negotiation_prefers_cookie_then_accept_language_then_en() {
        assert_eq!(Locale::negotiate(Some("it"), Some("de")).code(), "it");
        assert_eq!(
            Locale::negotiate(Some("xx"), Some("fr;q=1, de-CH;q=0.8, es;q=0.5")).code(),
            "de"
        );
        assert_eq!(Locale::negotiate(None, Some("fr, ja")).code(), "en");
        assert_eq!(Locale::negotiate(None, None).code(), "en");
    }

    #[test]
    fn renders_with_arguments_and_falls_back_to_the_key() {
        let t = translations();
        let mut args = BTreeMap::new();
        args.insert("model".to_string(), ArgValue::Text("gpt-x".into()));
        let s = t.render(Locale::EN, "notif-unpriced-model.body", &args);
        assert!(s.contains("gpt-x"), "{s}");
        assert_eq!(t.text(Locale::EN, "no-such-key"), "no-such-key");
    }
}
