//! Prometheus handles of the hot path, created once per (workspace, family) and reused:
//! `metrics::counter!` with dynamic labels builds and hashes a key on every call, which cost
//! about a tenth of the gateway's CPU per request in `make bench`.
//!
//! Owns: the metric names and labels of calls, tokens and cost. Must not: hold its lock while
//! incrementing (handles are cloned out; increments are atomic).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use metrics::{Counter, Histogram};

/// HTTP outcome classes used as the `status` label.
pub const STATUS_CLASSES: [&str; 6] = ["2xx", "4xx", "429", "5xx", "unreachable", "other"];

/// The class of an upstream status (`0` = never answered).
pub fn status_class(s: u16) -> usize {
    match s {
        200..=299 => 0,
        429 => 2,
        400..=499 => 1,
        500..=599 => 3,
        0 => 4,
        _ => 5,
    }
}

/// The counters of one workspace and family.
#[derive(Debug)]
pub struct FamilyMeters {
    /// The family's name, shared by every ledger row of it.
    pub family: Arc<str>,
    pub calls: [Counter; 6],
    pub input_tokens: Counter,
    pub output_tokens: Counter,
    pub cost_nanodollars: Counter,
}

/// All handles of the proxy.
#[derive(Debug)]
pub struct Meters {
    pub overhead: Histogram,
    pub upstream_latency: Histogram,
    /// workspace → family → handles; looked up by `&str`, so a call allocates nothing here.
    families: Mutex<HashMap<Arc<str>, FamiliesOf>>,
}

/// One workspace's handles by family (at most one per [`super::family::FAMILIES`] entry, plus
/// `other`: families are never client-chosen strings).
type FamiliesOf = HashMap<&'static str, Arc<FamilyMeters>>;

impl Default for Meters {
    fn default() -> Self {
        Meters {
            overhead: metrics::histogram!("qs_gateway_overhead_seconds"),
            upstream_latency: metrics::histogram!("qs_upstream_latency_seconds"),
            families: Mutex::new(HashMap::new()),
        }
    }
}

impl Meters {
    /// The handles of `(workspace, family)`, registered on first use.
    pub fn family(&self, workspace: &Arc<str>, family: &'static str) -> Arc<FamilyMeters> {
        let mut map = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let families = match map.get_mut(&**workspace) {
            Some(f) => f,
            None => map.entry(workspace.clone()).or_default(),
        };
        if let Some(m) = families.get(family) {
            return m.clone();
        }
        let ws = workspace.clone();
        let calls = STATUS_CLASSES.map(|status| {
            metrics::counter!("qs_calls_total", "workspace" => ws.clone(), "family" => family, "status" => status)
        });
        let m = Arc::new(FamilyMeters {
            family: Arc::from(family),
            calls,
            input_tokens: metrics::counter!("qs_tokens_total", "workspace" => ws.clone(), "family" => family, "kind" => "input"),
            output_tokens: metrics::counter!("qs_tokens_total", "workspace" => ws.clone(), "family" => family, "kind" => "output"),
            cost_nanodollars: metrics::counter!("qs_cost_nanodollars_total", "workspace" => ws, "family" => family),
        });
        families.insert(family, m.clone());
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes() {
        assert_eq!(STATUS_CLASSES[status_class(200)], "2xx");
        assert_eq!(STATUS_CLASSES[status_class(404)], "4xx");
        assert_eq!(STATUS_CLASSES[status_class(429)], "429");
        assert_eq!(STATUS_CLASSES[status_class(503)], "5xx");
        assert_eq!(STATUS_CLASSES[status_class(0)], "unreachable");
        assert_eq!(STATUS_CLASSES[status_class(101)], "other");
    }
}
