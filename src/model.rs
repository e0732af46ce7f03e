//! The domain records that several layers share: what a status report holds before it is
//! rendered, a stored notification and status change, and the metered quantities of one call.
//!
//! Owns: plain data and the few constants that size it. Depends only on the shared wire types
//! ([`crate::types`]); everything above (quota core aside) may use it. Must not: do IO, read
//! clocks, format text or hold logic beyond a field's arithmetic.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::types::{
    ArgValue, Cause, Level, LimitForecast, Limits, Status, UpstreamHeadroom, Usage,
};

/// Everything a status report holds, before rendering in a locale.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusView {
    pub workspace: String,
    pub name: String,
    pub status: Status,
    pub since: DateTime<Utc>,
    pub cause: Cause,
    pub message_key: &'static str,
    pub message_args: BTreeMap<String, ArgValue>,
    pub action_keys: Vec<&'static str>,
    pub usage: Usage,
    pub limits: Limits,
    pub upstream: Option<UpstreamHeadroom>,
    pub retry_after_secs: Option<u64>,
    /// Milliseconds from the view's `now` to the moment a retry can succeed: exact for an
    /// upstream rate limit; for a workspace limit the quota core's wait in whole seconds,
    /// counted from the second `now` falls in.
    pub retry_after_ms: Option<u64>,
    pub last_error: Option<LastError>,
    /// When the view was made: the `now` its figures and waits are counted from.
    pub at: DateTime<Utc>,
    /// The burn-rate forecasts of the day and month limits (see `quota::alerting`).
    pub forecasts: Vec<LimitForecast>,
    /// When the day and month periods next begin.
    pub next_resets: Option<crate::types::NextResets>,
    /// The downgrade rules in effect at `at`.
    pub downgrades: Vec<crate::types::ActiveDowngrade>,
}

/// The last failure seen for a workspace: a Fluent key and its arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct LastError {
    pub key: &'static str,
    pub args: BTreeMap<String, ArgValue>,
    pub at: DateTime<Utc>,
}

/// How many counted run ids are remembered (and reloaded from the ledger at start).
pub const SEEN_RUNS_CAP: usize = 100_000;

/// A notification as stored: key and arguments, rendered per locale when read.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoredNotification {
    pub id: String,
    pub workspace: String,
    pub ts: DateTime<Utc>,
    pub level: Level,
    pub status: Status,
    pub key: String,
    pub args: BTreeMap<String, ArgValue>,
    pub action_keys: Vec<String>,
}

/// A status change, for history.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StatusChange {
    pub workspace: String,
    pub ts: DateTime<Utc>,
    pub from: Status,
    pub to: Status,
    pub cause_json: String,
}

/// The metered quantities of one call. Token counts follow OpenAI's convention: the
/// `*_details` counts are parts of their totals (`cached_tokens`, `audio_input_tokens` and
/// `image_input_tokens` are included in `input_tokens`; `reasoning_tokens` and
/// `audio_output_tokens` in `output_tokens`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallUsage {
    pub model: Option<String>,
    pub input_tokens: u64,
    pub cached_tokens: u64,
    pub output_tokens: u64,
    pub reasoning_tokens: u64,
    pub audio_input_tokens: u64,
    pub audio_output_tokens: u64,
    /// Image input tokens (`input_tokens_details.image_tokens`, gpt-image-*), part of
    /// `input_tokens`, priced at the model's image input price.
    pub image_input_tokens: u64,
    /// Images generated (dall-e: priced per image; gpt-image-*: priced by tokens).
    pub images: u64,
    /// Images only: the `size` of the images (from the response, else the request).
    pub image_size: Option<String>,
    /// Images only: the `quality` of the images (from the response, else the request).
    pub image_quality: Option<String>,
    pub audio_seconds: f64,
    /// Speech: characters of input text.
    pub characters: u64,
    /// The counts were estimated by the gateway, not reported by the upstream.
    pub estimated: bool,
}

impl CallUsage {
    /// Input plus output tokens (the details are parts of those, not added again).
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

/// Which notifications an alert channel takes: the outbox rule the store's writer applies when
/// it inserts a notification (`crate::store`). Empty `workspaces` and `statuses` mean all; the
/// config always resolves `levels` (all three when left out).
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelFilter {
    pub channel: String,
    pub workspaces: Vec<String>,
    pub levels: Vec<Level>,
    pub statuses: Vec<Status>,
}
