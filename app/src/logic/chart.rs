//! Geometry of the project's SVG bar chart: a "nice" axis maximum and one bar per value.

/// A bar in chart coordinates (origin top-left).
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

/// The smallest of 1, 2, 2.5, 5 × 10ⁿ that is ≥ `max` (1 for empty or zero data).
pub fn nice_max(max: f64) -> f64 {
    if !max.is_finite() || max <= 0.0 {
        return 1.0;
    }
    let exp = max.log10().floor();
    let base = 10f64.powf(exp);
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * base >= max * (1.0 - 1e-12) {
            return m * base;
        }
    }
    10.0 * base
}

/// Bars for `values` in a `width` × `height` plot, with `gap` (0–1) of each slot left empty.
pub fn bars(values: &[f64], width: f64, height: f64, gap: f64) -> (f64, Vec<Bar>) {
    let top = nice_max(values.iter().copied().fold(0.0, f64::max));
    if values.is_empty() {
        return (top, vec![]);
    }
    let slot = width / values.len() as f64;
    let w = slot * (1.0 - gap.clamp(0.0, 0.9));
    let bars = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let h = (v.max(0.0) / top * height).min(height);
            Bar {
                x: i as f64 * slot + (slot - w) / 2.0,
                y: height - h,
                width: w,
                height: h,
            }
        })
        .collect();
    (top, bars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_maxima() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(10.0), 10.0);
        assert_eq!(nice_max(11.0), 20.0);
        assert_eq!(nice_max(230.0), 250.0);
        assert!((nice_max(0.03) - 0.05).abs() < 1e-12);
    }

    #[test]
    fn bars_fill_their_slots_and_scale_to_the_axis() {
        let (top, b) = bars(&[5.0, 10.0, 0.0, -1.0], 400.0, 100.0, 0.2);
        assert_eq!(top, 10.0);
        assert_eq!(b.len(), 4);
        assert_eq!(b[1].height, 100.0);
        assert_eq!(b[1].y, 0.0);
        assert_eq!(b[0].height, 50.0);
        assert_eq!(b[2].height, 0.0);
        assert_eq!(b[3].height, 0.0);
        assert!((b[0].width - 80.0).abs() < 1e-9);
        assert!((b[1].x - 110.0).abs() < 1e-9);
        assert!(bars(&[], 10.0, 10.0, 0.1).1.is_empty());
    }
}

/// One slot of a time series: its start and the row that falls in it, if any.
pub type Slot<'a, K> = (K, Option<&'a crate::types::UsageRow>);

/// The last `hours` whole hours up to `now`, each with its row (rows are keyed by the hour's
/// start in RFC 3339, in the server's time zone; hours without calls have no row).
pub fn hourly_slots(
    rows: &[crate::types::UsageRow],
    now: chrono::DateTime<chrono::Utc>,
    hours: i64,
) -> Vec<Slot<'_, chrono::DateTime<chrono::Utc>>> {
    use chrono::{DurationRound, TimeDelta};
    let top = now.duration_trunc(TimeDelta::hours(1)).unwrap_or(now);
    (0..hours)
        .rev()
        .map(|i| {
            let at = top - TimeDelta::hours(i);
            let row = rows.iter().find(|r| {
                chrono::DateTime::parse_from_rfc3339(&r.key)
                    .is_ok_and(|t| t.with_timezone(&chrono::Utc) == at)
            });
            (at, row)
        })
        .collect()
}

/// The last `days` calendar days up to `today`, each with its row (keyed `YYYY-MM-DD`).
pub fn daily_slots(
    rows: &[crate::types::UsageRow],
    today: chrono::NaiveDate,
    days: i64,
) -> Vec<Slot<'_, chrono::NaiveDate>> {
    (0..days)
        .rev()
        .map(|i| {
            let d = today - chrono::TimeDelta::days(i);
            let key = d.format("%Y-%m-%d").to_string();
            (d, rows.iter().find(|r| r.key == key))
        })
        .collect()
}

#[cfg(test)]
mod slot_tests {
    use super::*;
    use crate::types::UsageRow;
    use chrono::{NaiveDate, TimeZone, Utc};

    fn row(key: &str, requests: u64) -> UsageRow {
        UsageRow {
            requests,
            ..UsageRow::empty(key.into())
        }
    }

    #[test]
    fn sparse_rows_fill_their_slots() {
        let now = Utc
            .with_ymd_and_hms(2026, 11, 26, 10, 30, 0)
            .single()
            .unwrap_or_default();
        let rows = [
            row("2026-11-26T10:00:00+00:00", 3),
            row("2026-11-26T08:00:00+00:00", 1),
        ];
        let s = hourly_slots(&rows, now, 24);
        assert_eq!(s.len(), 24);
        assert_eq!(s[23].1.map(|r| r.requests), Some(3));
        assert_eq!(s[21].1.map(|r| r.requests), Some(1));
        assert!(s[22].1.is_none());
        let today = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap_or_default();
        let daily_rows = [row("2026-11-25", 7)];
        let d = daily_slots(&daily_rows, today, 30);
        assert_eq!(d.len(), 30);
        assert_eq!(d[28].1.map(|r| r.requests), Some(7));
        assert_eq!(d[29].0, today);
    }
}
