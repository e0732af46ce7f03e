//! Alerts: the live fan-out to WebSockets ([`Hub`]) and the durable delivery of notifications
//! to alert channels — webhooks (Standard Webhooks signatures), Slack-compatible incoming
//! webhooks and email over SMTP.
//!
//! Owns: the channels in force at run time ([`Channels`]: the file's `[[channels]]` plus
//! those created through the admin API, one id space), and the delivery [`Worker`], which
//! claims due outbox rows (`crate::store` writes them with their notification), renders each
//! notification in the channel's locale and time zone (`crate::i18n`), sends it, and records
//! the attempt: delivered, retried later with exponential backoff and full jitter, or given
//! up. Must not: use the registry, the API or the server (the workspace status comes through
//! a [`StatusLookup`] that `server` wires), log or return a secret (webhook secrets, SMTP
//! passwords, Slack URLs), or send a row it has not leased.
//!
//! | file | owns |
//! |---|---|
//! | `hub.rs` | the per-workspace broadcast hub of WebSocket events |
//! | `channels.rs` | the run-time channel list: load, create (secrets made once), delete, filters to the store |
//! | `worker.rs` | claiming due rows, bounded concurrent attempts, backoff and give-up, the attempt log |
//! | `render.rs` | a notification's text in a channel's locale and time zone |
//! | `webhook.rs` | the Standard Webhooks request: payload, signature, what an answer means |
//! | `slack.rs` | the Slack incoming-webhook payload (text + blocks) |
//! | `email.rs` | the multipart (text + HTML) message and SMTP through `lettre` |

mod channels;
mod email;
mod hub;
mod render;
mod slack;
mod webhook;
mod worker;

pub use channels::{webhook_id, Channel, Channels, TEST_ALERT_KEY};
pub use hub::{Event, Hub};
pub use webhook::{sign, SIGNATURE_VERSION};
pub use worker::{StatusLookup, Worker, ATTEMPT_TIMEOUT, LEASE};

use crate::config::ChannelFieldError;
use crate::store::StoreError;

/// The alerts layer's error.
#[derive(Debug, thiserror::Error)]
pub enum AlertsError {
    /// A channel breaks a rule (the field and the rule, as the config file reports them).
    #[error(transparent)]
    Invalid(#[from] ChannelFieldError),
    #[error("A channel `{0}` already exists.")]
    Exists(String),
    #[error("No channel `{0}`.")]
    NotFound(String),
    #[error("Channel `{0}` is declared in the config file: remove it there.")]
    FromFile(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot build the HTTP client of alert channels: {0}")]
    Client(String),
    #[error("[smtp]: {0}")]
    Smtp(String),
}
