//! Real-time fan-out (the live half of [`super`]): one `tokio::sync::broadcast` channel per
//! workspace plus one for admins.
//!
//! Owns: who hears which event. A workspace subscriber hears only its own workspace; an admin
//! subscriber hears all. Events are unrendered (`StatusView`, stored notifications) so each
//! subscriber renders them in its own locale. A subscriber that lags is not dropped: the
//! WebSocket layer sees `RecvError::Lagged` and sends a fresh snapshot instead.
//! Must not: render text, touch storage, or block (send never waits).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::model::StatusView;
use crate::model::StoredNotification;

/// Capacity of each channel: past this a slow subscriber lags (and resynchronises).
const CAPACITY: usize = 256;

/// One event for subscribers.
#[derive(Clone, Debug)]
pub enum Event {
    Status(Arc<StatusView>),
    Notification(Arc<StoredNotification>),
}

impl Event {
    pub fn workspace(&self) -> &str {
        match self {
            Event::Status(s) => &s.workspace,
            Event::Notification(n) => &n.workspace,
        }
    }
}

/// The hub. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Hub {
    // A std Mutex: held only to look up or insert a sender, never across an await.
    per_workspace: Mutex<HashMap<String, broadcast::Sender<Event>>>,
    all: broadcast::Sender<Event>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            per_workspace: Mutex::new(HashMap::new()),
            all: broadcast::channel(CAPACITY * 4).0,
        }
    }
}

impl Hub {
    /// Events of one workspace.
    pub fn subscribe(&self, workspace: &str) -> broadcast::Receiver<Event> {
        let mut map = self.per_workspace.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(workspace.to_string())
            .or_insert_with(|| broadcast::channel(CAPACITY).0)
            .subscribe()
    }

    /// Events of every workspace (admins).
    pub fn subscribe_all(&self) -> broadcast::Receiver<Event> {
        self.all.subscribe()
    }

    /// Whether anyone listens to this workspace (to skip building snapshots nobody reads).
    pub fn has_subscribers(&self, workspace: &str) -> bool {
        if self.all.receiver_count() > 0 {
            return true;
        }
        let map = self.per_workspace.lock().unwrap_or_else(|p| p.into_inner());
        map.get(workspace).is_some_and(|s| s.receiver_count() > 0)
    }

    /// Sends to the workspace's subscribers and to admins; never waits.
    pub fn publish(&self, event: Event) {
        let sender = {
            let map = self.per_workspace.lock().unwrap_or_else(|p| p.into_inner());
            map.get(event.workspace()).cloned()
        };
        if let Some(s) = sender {
            // Err only means "no subscriber right now".
            let _ = s.send(event.clone());
        }
        let _ = self.all.send(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Level, Status};

    fn note(ws: &str) -> Event {
        Event::Notification(Arc::new(StoredNotification {
            id: format!("n-{ws}"),
            workspace: ws.into(),
            ts: chrono::Utc::now(),
            level: Level::Info,
            status: Status::Normal,
            key: "k".into(),
            args: Default::default(),
            action_keys: vec![],
        }))
    }

    #[tokio::test]
    async fn a_workspace_hears_only_its_own_events_and_admins_hear_all() {
        let hub = Hub::default();
        let mut a = hub.subscribe("a");
        let mut b = hub.subscribe("b");
        let mut all = hub.subscribe_all();
        hub.publish(note("a"));
        assert_eq!(
            a.recv().await.map(|e| e.workspace().to_string()).ok(),
            Some("a".into())
        );
        assert!(b.try_recv().is_err());
        assert_eq!(
            all.recv().await.map(|e| e.workspace().to_string()).ok(),
            Some("a".into())
        );
        assert!(hub.has_subscribers("b"));
        drop(b);
        drop(all);
        assert!(!hub.has_subscribers("b"));
    }
}
