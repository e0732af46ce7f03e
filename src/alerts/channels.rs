//! The channels in force: the config file's, then those created through the admin API (stored
//! in the database), in one id space. Every change hands the store the new filters, so the
//! writer's next batch queues deliveries by them.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use secrecy::SecretString;

use super::AlertsError;
use crate::config::{channel_from, shown_url, ChannelConfig, ChannelTarget, Config};
use crate::model::StoredNotification;
use crate::store::Store;
use crate::types::{ArgValue, ChannelCreate, ChannelInfo, ChannelOrigin, Level, Status};

/// The key of the notification `POST /api/admin/channels/{id}/test` sends.
pub const TEST_ALERT_KEY: &str = "alert-test";

/// A channel in force.
#[derive(Debug)]
pub struct Channel {
    pub config: ChannelConfig,
    pub origin: ChannelOrigin,
}

impl Channel {
    /// How the admin API shows it: no secret, Slack URLs without their path.
    pub fn info(&self) -> ChannelInfo {
        let c = &self.config;
        let (url, secret, secret_env, to) = match &c.target {
            ChannelTarget::Webhook { url, secret } => (
                Some(shown_url(url, false)),
                Some("set".to_string()),
                secret.env.clone(),
                vec![],
            ),
            ChannelTarget::Slack { url } => (Some(shown_url(url, true)), None, None, vec![]),
            ChannelTarget::Email { to } => (None, None, None, to.clone()),
        };
        ChannelInfo {
            id: c.id.clone(),
            kind: c.target.kind().to_string(),
            origin: self.origin,
            url,
            secret,
            secret_env,
            workspaces: c.filter.workspaces.clone(),
            levels: c.filter.levels.clone(),
            statuses: c.filter.statuses.clone(),
            locale: c.locale.code().to_string(),
            time_zone: c.time_zone.name().to_string(),
            to,
        }
    }
}

/// The `webhook-id` of a notification's delivery to a channel: the same on every retry.
pub fn webhook_id(notification_id: &str, channel: &str) -> String {
    format!("{notification_id}:{channel}")
}

/// The channels in force. Reads take a std lock for a clone of an `Arc`; changes are
/// serialised by an async lock so the table and the list agree.
pub struct Channels {
    list: RwLock<BTreeMap<String, Arc<Channel>>>,
    edit: tokio::sync::Mutex<()>,
    store: Store,
    smtp: bool,
    time_zone: chrono_tz::Tz,
}

impl std::fmt::Debug for Channels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channels")
            .field(
                "ids",
                &self
                    .list()
                    .iter()
                    .map(|c| c.config.id.clone())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Channels {
    /// The file's channels, then the stored ones. A stored channel whose id the file now
    /// uses, or that no longer passes the checks (its `secret_env` unset, `[smtp]` removed),
    /// is left out with an error in the log naming it and the rule.
    pub async fn load(config: &Config, store: &Store) -> Result<Channels, AlertsError> {
        let mut list = BTreeMap::new();
        for c in &config.channels {
            list.insert(
                c.id.clone(),
                Arc::new(Channel {
                    config: c.clone(),
                    origin: ChannelOrigin::File,
                }),
            );
        }
        for stored in store.channels().await? {
            let id = stored.spec.id.clone();
            if list.contains_key(&id) {
                tracing::warn!(channel = %id, "channel is both in the config file and the database; the file wins");
                continue;
            }
            let secret = stored.secret.map(SecretString::from);
            match channel_from(
                &stored.spec,
                config.smtp.is_some(),
                config.time_zone,
                secret,
            ) {
                Ok(c) => {
                    list.insert(
                        id,
                        Arc::new(Channel {
                            config: c,
                            origin: ChannelOrigin::Api,
                        }),
                    );
                }
                Err(e) => {
                    tracing::error!(channel = %id, error = %e, "stored channel not loaded: it breaks a rule")
                }
            }
        }
        let channels = Channels {
            list: RwLock::new(list),
            edit: tokio::sync::Mutex::new(()),
            store: store.clone(),
            smtp: config.smtp.is_some(),
            time_zone: config.time_zone,
        };
        channels.publish_filters();
        Ok(channels)
    }

    pub fn get(&self, id: &str) -> Option<Arc<Channel>> {
        self.read().get(id).cloned()
    }

    /// Every channel, by id.
    pub fn list(&self) -> Vec<Arc<Channel>> {
        self.read().values().cloned().collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Channel>>> {
        self.list.read().unwrap_or_else(|p| p.into_inner())
    }

    fn publish_filters(&self) {
        let filters = self
            .read()
            .values()
            .map(|c| c.config.filter.clone())
            .collect();
        self.store.set_channel_filters(filters);
    }

    /// Creates a channel through the admin API: checked as the file's are; a webhook that
    /// names no `secret_env` gets a secret made here (`whsec_` + base64 of 32 random bytes),
    /// stored, and returned this once.
    pub async fn create(
        &self,
        spec: ChannelCreate,
        now: DateTime<Utc>,
    ) -> Result<(Arc<Channel>, Option<String>), AlertsError> {
        let made = (spec.kind == "webhook" && spec.secret_env.is_none()).then(new_secret);
        let config = channel_from(
            &spec,
            self.smtp,
            self.time_zone,
            made.clone().map(SecretString::from),
        )?;
        let _edit = self.edit.lock().await;
        if self.get(&spec.id).is_some() {
            return Err(AlertsError::Exists(spec.id));
        }
        self.store
            .insert_channel(&spec, made.as_deref(), now)
            .await?;
        let channel = Arc::new(Channel {
            config,
            origin: ChannelOrigin::Api,
        });
        self.list
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(spec.id.clone(), channel.clone());
        self.publish_filters();
        tracing::info!(channel = %spec.id, kind = %spec.kind, "alert channel created");
        Ok((channel, made))
    }

    /// Deletes a channel created through the API, with its pending deliveries and log. A file
    /// channel cannot be deleted here.
    pub async fn delete(&self, id: &str) -> Result<(), AlertsError> {
        let _edit = self.edit.lock().await;
        match self.get(id) {
            None => return Err(AlertsError::NotFound(id.to_string())),
            Some(c) if c.origin == ChannelOrigin::File => {
                return Err(AlertsError::FromFile(id.to_string()))
            }
            Some(_) => {}
        }
        // Out of the filters first: the writer queues nothing more for it.
        self.list
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        self.publish_filters();
        self.store.delete_channel(id).await?;
        tracing::info!(channel = %id, "alert channel deleted");
        Ok(())
    }

    /// Queues a test notification (`alert-test`, naming the channel) to channel `id` alone;
    /// the notification and its outbox row.
    pub async fn queue_test(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<(StoredNotification, i64), AlertsError> {
        if self.get(id).is_none() {
            return Err(AlertsError::NotFound(id.to_string()));
        }
        let n = StoredNotification {
            id: format!("alert-test-{}", uuid::Uuid::now_v7()),
            workspace: String::new(),
            ts: chrono::SubsecRound::trunc_subsecs(now, 3),
            level: Level::Info,
            status: Status::Normal,
            key: TEST_ALERT_KEY.to_string(),
            args: [("channel".to_string(), ArgValue::Text(id.to_string()))].into(),
            action_keys: vec![],
        };
        let outbox_id = self.store.enqueue_alert(&n, id, now).await?;
        Ok((n, outbox_id))
    }
}

/// A new webhook signing secret: `whsec_` and the base64 of 32 random bytes.
fn new_secret() -> String {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_secrets_decode_to_32_random_bytes() {
        let a = new_secret();
        let b = new_secret();
        assert_ne!(a, b);
        assert!(a.starts_with("whsec_"), "{a}");
        let key = crate::config::decode_webhook_secret(&a).unwrap_or_default();
        assert_eq!(key.len(), 32);
    }
}
