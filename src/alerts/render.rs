//! A notification's text for a channel: title and body in the channel's locale (through
//! `crate::i18n`, as the API renders them), its time in the channel's time zone, and the
//! words a channel adds around them.

use crate::config::ChannelConfig;
use crate::i18n::{render_notification, render_text, status_name, Locale};
use crate::model::StoredNotification;
use crate::types::Notification;

/// A notification rendered for one channel.
#[derive(Clone, Debug)]
pub(crate) struct Rendered {
    pub notification: Notification,
    pub locale: Locale,
    pub channel: String,
    /// When it happened, in the channel's time zone (`2026-11-30 14:05:09 CET`).
    pub time: String,
    /// The workspace's status, in words.
    pub status_name: String,
}

impl Rendered {
    pub(crate) fn new(n: &StoredNotification, ch: &ChannelConfig) -> Rendered {
        Rendered {
            notification: render_notification(n, ch.locale, ch.time_zone),
            locale: ch.locale,
            channel: ch.id.clone(),
            time: n
                .ts
                .with_timezone(&ch.time_zone)
                .format("%Y-%m-%d %H:%M:%S %Z")
                .to_string(),
            status_name: status_name(n.status, ch.locale),
        }
    }

    pub(crate) fn title(&self) -> &str {
        &self.notification.title
    }

    pub(crate) fn body(&self) -> &str {
        &self.notification.body
    }

    /// The workspace; empty for a test alert.
    pub(crate) fn workspace(&self) -> &str {
        &self.notification.workspace
    }

    /// `key` in the channel's locale, with the notification's pieces as arguments
    /// (`$title`, `$workspace`, `$status`, `$time`, `$channel`).
    pub(crate) fn words(&self, key: &str) -> String {
        render_text(
            self.locale,
            key,
            &[
                ("title", self.title()),
                ("workspace", self.workspace()),
                ("status", &self.status_name),
                ("time", &self.time),
                ("channel", &self.channel),
            ],
        )
    }

    /// The one line that says where and when: workspace, status and time (time alone for a
    /// test alert, which is in no workspace).
    pub(crate) fn context_line(&self) -> String {
        if self.workspace().is_empty() {
            self.words("alert-context-test")
        } else {
            self.words("alert-context")
        }
    }
}
