//! Number formatting and usage shares. Separators come from the locale's `.ftl` files
//! (`number-decimal-separator`, `number-group-separator`), so translators control them; the
//! words around numbers (currency, units, plurals) are Fluent messages.

/// A number's separators in one locale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Separators<'a> {
    pub decimal: &'a str,
    pub group: &'a str,
}

/// `1234567.891` with 2 decimals → `1,234,567.89` (en) or `1.234.567,89` (it, de, es).
pub fn format_number(value: f64, decimals: usize, sep: Separators<'_>) -> String {
    if !value.is_finite() {
        return "–".to_string();
    }
    let s = format!("{:.*}", decimals, value.abs());
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s.as_str(), None),
    };
    let mut out = String::new();
    if value < 0.0 && s.chars().any(|c| c.is_ascii_digit() && c != '0') {
        out.push('-');
    }
    let digits: Vec<char> = int.chars().collect();
    for (i, c) in digits.iter().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push_str(sep.group);
        }
        out.push(*c);
    }
    if let Some(f) = frac {
        out.push_str(sep.decimal);
        out.push_str(f);
    }
    out
}

/// Decimals that suit a USD amount: cents, or more for sub-cent amounts.
pub fn usd_decimals(value: f64) -> usize {
    let v = value.abs();
    if v == 0.0 || v >= 0.01 {
        2
    } else if v >= 0.0001 {
        4
    } else {
        6
    }
}

/// Share of a limit used, if the limit exists and is positive.
pub fn share(used: f64, limit: Option<f64>) -> Option<f64> {
    match limit {
        Some(l) if l > 0.0 && used.is_finite() => Some((used / l).max(0.0)),
        _ => None,
    }
}

/// How a usage bar is coloured (and labelled: colour is never the only cue).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarLevel {
    Ok,
    Warning,
    Full,
}

impl BarLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            BarLevel::Ok => "ok",
            BarLevel::Warning => "warning",
            BarLevel::Full => "full",
        }
    }
}

/// `ratio ≥ 1` is full, `≥ warning_at` is a warning, else fine.
pub fn bar_level(ratio: f64, warning_at: f64) -> BarLevel {
    if ratio >= 1.0 {
        BarLevel::Full
    } else if ratio >= warning_at {
        BarLevel::Warning
    } else {
        BarLevel::Ok
    }
}

/// The width of a bar in percent, clamped to 0–100.
pub fn bar_percent(ratio: f64) -> f64 {
    (ratio * 100.0).clamp(0.0, 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EN: Separators<'static> = Separators {
        decimal: ".",
        group: ",",
    };
    const IT: Separators<'static> = Separators {
        decimal: ",",
        group: ".",
    };

    #[test]
    fn groups_and_decimals_by_locale() {
        assert_eq!(format_number(1234567.891, 2, EN), "1,234,567.89");
        assert_eq!(format_number(1234567.891, 2, IT), "1.234.567,89");
        assert_eq!(format_number(999.0, 0, EN), "999");
        assert_eq!(format_number(1000.0, 0, EN), "1,000");
        assert_eq!(format_number(0.5, 2, IT), "0,50");
        assert_eq!(format_number(-1234.5, 1, EN), "-1,234.5");
        assert_eq!(format_number(-0.0001, 2, EN), "0.00");
        assert_eq!(format_number(f64::NAN, 2, EN), "–");
    }

    #[test]
    fn usd_keeps_sub_cent_amounts_visible() {
        assert_eq!(usd_decimals(12.5), 2);
        assert_eq!(usd_decimals(0.0), 2);
        assert_eq!(usd_decimals(0.0004), 4);
        assert_eq!(usd_decimals(0.000012), 6);
    }

    #[test]
    fn shares_and_levels() {
        assert_eq!(share(50.0, Some(100.0)), Some(0.5));
        assert_eq!(share(50.0, None), None);
        assert_eq!(share(50.0, Some(0.0)), None);
        assert_eq!(bar_level(0.79, 0.8), BarLevel::Ok);
        assert_eq!(bar_level(0.8, 0.8), BarLevel::Warning);
        assert_eq!(bar_level(1.2, 0.8), BarLevel::Full);
        assert_eq!(bar_percent(1.7), 100.0);
        assert_eq!(bar_percent(0.25), 25.0);
    }
}
