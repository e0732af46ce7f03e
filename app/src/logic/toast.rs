//! The toast queue. One toast per notification; repeats of the same notification key (for the
//! same workspace) within [`COLLAPSE_WINDOW_MS`] of the last one collapse into it with a count.
//! Lifetimes depend on the level ([`lifetime_ms`]); errors stay until dismissed. At most
//! [`MAX_VISIBLE`] toasts show (the newest; [`MAX_VISIBLE_NARROW`] on a phone); a hidden or
//! hovered/focused toast keeps the time it had left and resumes when shown again. Time is passed in, so tests drive a fake clock.

use crate::types::{Level, Notification};

/// Toasts visible at once on a wide screen; the rest wait, counted in a "+N more" line.
pub const MAX_VISIBLE: usize = 3;
/// Toasts visible at once on a phone, where the stack spans the width: one, as a snackbar.
pub const MAX_VISIBLE_NARROW: usize = 1;
/// Repeats of a key within this long after the last one collapse into one toast.
pub const COLLAPSE_WINDOW_MS: u64 = 60_000;

/// How long a toast of `level` shows: info 5 s, warning 10 s, error until dismissed.
pub fn lifetime_ms(level: Level) -> Option<u64> {
    match level {
        Level::Info => Some(5_000),
        Level::Warning => Some(10_000),
        Level::Error => None,
    }
}

/// One toast.
#[derive(Clone, Debug, PartialEq)]
pub struct Toast {
    /// Local id (stable while the toast lives; used for DOM keys and dismissal).
    pub id: u64,
    pub notification: Notification,
    /// How many notifications collapsed into this toast (1 = just this one).
    pub count: u32,
    last_at_ms: u64,
    /// Time left when not counting down (hidden, hovered or not yet shown).
    remaining_ms: Option<u64>,
    /// When it disappears, while counting down.
    deadline_ms: Option<u64>,
    /// Hovered or focused.
    held: bool,
}

impl Toast {
    pub fn level(&self) -> Level {
        self.notification.level
    }

    fn collapse_key(&self) -> (&str, &str) {
        (&self.notification.workspace, &self.notification.key)
    }

    /// When the toast disappears, if it is counting down.
    pub fn deadline_ms(&self) -> Option<u64> {
        self.deadline_ms
    }
}

/// The queue of toasts, oldest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Toasts {
    items: Vec<Toast>,
    next_id: u64,
    /// How many show at once.
    cap: usize,
}

impl Default for Toasts {
    fn default() -> Toasts {
        Toasts {
            items: Vec::new(),
            next_id: 0,
            cap: MAX_VISIBLE,
        }
    }
}

impl Toasts {
    /// Sets how many toasts show at once (at least one): [`MAX_VISIBLE`], or
    /// [`MAX_VISIBLE_NARROW`] on a phone. Toasts that stop showing keep the time they had left.
    pub fn set_cap(&mut self, cap: usize, now_ms: u64) {
        self.cap = cap.max(1);
        self.arm(now_ms);
    }

    /// How many toasts show at once.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Adds a toast for `n`, or collapses it into a recent one with the same key. Returns the
    /// toast's id.
    pub fn push(&mut self, n: Notification, now_ms: u64) -> u64 {
        let pos = self.items.iter().position(|t| {
            t.collapse_key() == (n.workspace.as_str(), n.key.as_str())
                && now_ms.saturating_sub(t.last_at_ms) <= COLLAPSE_WINDOW_MS
        });
        let toast = match pos {
            Some(i) => {
                let mut t = self.items.remove(i);
                t.count = t.count.saturating_add(1);
                t.notification = n;
                t.last_at_ms = now_ms;
                t.remaining_ms = lifetime_ms(t.level());
                t.deadline_ms = None;
                t
            }
            None => {
                self.next_id += 1;
                Toast {
                    id: self.next_id,
                    remaining_ms: lifetime_ms(n.level),
                    notification: n,
                    count: 1,
                    last_at_ms: now_ms,
                    deadline_ms: None,
                    held: false,
                }
            }
        };
        let id = toast.id;
        self.items.push(toast);
        self.arm(now_ms);
        id
    }

    /// Closes a toast (close button, Esc).
    pub fn dismiss(&mut self, id: u64, now_ms: u64) {
        self.items.retain(|t| t.id != id);
        self.arm(now_ms);
    }

    /// Closes every toast, the waiting ones too ("Dismiss all").
    pub fn dismiss_all(&mut self) {
        self.items.clear();
    }

    /// Closes the newest visible toast (Esc with no toast focused).
    pub fn dismiss_newest(&mut self, now_ms: u64) {
        if let Some(t) = self.items.last() {
            let id = t.id;
            self.dismiss(id, now_ms);
        }
    }

    /// Hover or focus: the toast stops counting down.
    pub fn hold(&mut self, id: u64, now_ms: u64) {
        if let Some(t) = self.items.iter_mut().find(|t| t.id == id) {
            t.held = true;
        }
        self.arm(now_ms);
    }

    /// Hover or focus left: the toast counts down what it had left.
    pub fn release(&mut self, id: u64, now_ms: u64) {
        if let Some(t) = self.items.iter_mut().find(|t| t.id == id) {
            t.held = false;
        }
        self.arm(now_ms);
    }

    /// Removes toasts whose time is up. True if any was removed.
    pub fn tick(&mut self, now_ms: u64) -> bool {
        let before = self.items.len();
        self.items
            .retain(|t| t.deadline_ms.is_none_or(|d| now_ms < d));
        let changed = self.items.len() != before;
        if changed {
            self.arm(now_ms);
        }
        changed
    }

    /// The visible toasts, newest first.
    pub fn visible(&self) -> Vec<Toast> {
        self.items.iter().rev().take(self.cap).cloned().collect()
    }

    /// Toasts waiting beyond the visible ones.
    pub fn hidden_count(&self) -> usize {
        self.items.len().saturating_sub(self.cap)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Starts or stops each toast's countdown: visible, unheld toasts count down; the others
    /// keep what they had left.
    fn arm(&mut self, now_ms: u64) {
        let first_visible = self.items.len().saturating_sub(self.cap);
        for (i, t) in self.items.iter_mut().enumerate() {
            let running = i >= first_visible && !t.held;
            match (running, t.deadline_ms, t.remaining_ms) {
                (true, None, Some(left)) => {
                    t.deadline_ms = Some(now_ms + left);
                    t.remaining_ms = None;
                }
                (false, Some(d), _) => {
                    t.remaining_ms = Some(d.saturating_sub(now_ms));
                    t.deadline_ms = None;
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Status;
    use chrono::{TimeZone, Utc};
    use std::collections::BTreeMap;

    fn n(id: &str, key: &str, level: Level) -> Notification {
        Notification {
            id: id.into(),
            workspace: "acme".into(),
            level,
            status: Status::Normal,
            key: key.into(),
            args: BTreeMap::new(),
            action_keys: vec![],
            title: format!("title {id}"),
            body: String::new(),
            actions: vec![],
            created_at: Utc.timestamp_opt(0, 0).single().unwrap_or_default(),
        }
    }

    #[test]
    fn lifetimes_follow_the_level() {
        let mut q = Toasts::default();
        q.push(n("1", "a", Level::Info), 0);
        q.push(n("2", "b", Level::Warning), 0);
        q.push(n("3", "c", Level::Error), 0);
        assert!(!q.tick(4_999));
        assert!(q.tick(5_000));
        assert_eq!(q.len(), 2);
        assert!(q.tick(10_000));
        assert_eq!(q.len(), 1);
        assert!(!q.tick(10_000_000), "errors stay");
        assert_eq!(q.visible()[0].notification.id, "3");
    }

    #[test]
    fn hover_pauses_and_leaving_resumes_with_the_time_left() {
        let mut q = Toasts::default();
        let id = q.push(n("1", "a", Level::Info), 0);
        q.hold(id, 3_000);
        assert!(!q.tick(60_000), "held toasts do not expire");
        q.release(id, 60_000);
        assert!(!q.tick(61_999));
        assert!(q.tick(62_000), "2 s were left when hovered");
    }

    #[test]
    fn repeats_within_a_minute_collapse_with_a_count() {
        let mut q = Toasts::default();
        let a = q.push(n("1", "notif-rate-limited-upstream", Level::Warning), 0);
        q.push(n("2", "notif-degraded", Level::Error), 1_000);
        let b = q.push(n("3", "notif-rate-limited-upstream", Level::Warning), 9_000);
        assert_eq!(a, b);
        assert_eq!(q.len(), 2);
        let top = &q.visible()[0];
        assert_eq!(
            (top.count, top.notification.id.as_str()),
            (2, "3"),
            "newest first, latest text"
        );
        assert!(!q.tick(18_999), "the timer restarted at the repeat");
        assert!(q.tick(19_000));
        // A repeat more than a minute after the last one is a new toast.
        let mut q = Toasts::default();
        q.push(n("1", "k", Level::Error), 0);
        q.push(n("2", "k", Level::Error), 60_001);
        assert_eq!(q.len(), 2);
        // Other workspaces do not collapse together.
        let mut q = Toasts::default();
        q.push(n("1", "k", Level::Error), 0);
        let mut other = n("2", "k", Level::Error);
        other.workspace = "globex".into();
        q.push(other, 1);
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn at_most_three_show_and_hidden_ones_wait_with_their_time() {
        let mut q = Toasts::default();
        let first = q.push(n("0", "k0", Level::Info), 0);
        for i in 1..5 {
            q.push(n(&i.to_string(), &format!("k{i}"), Level::Error), 0);
        }
        assert_eq!(q.visible().len(), 3);
        assert_eq!(q.hidden_count(), 2);
        assert!(!q.visible().iter().any(|t| t.id == first));
        assert!(
            !q.tick(100_000),
            "the hidden info toast is not counting down"
        );
        for t in q.visible().iter().take(2) {
            q.dismiss(t.id, 100_000);
        }
        assert!(q.visible().iter().any(|t| t.id == first));
        assert!(!q.tick(104_999));
        assert!(q.tick(105_000), "shown again, it gets its 5 s");
    }

    #[test]
    fn a_phone_shows_one_and_the_others_wait_with_their_time() {
        let mut q = Toasts::default();
        let info = q.push(n("0", "k0", Level::Info), 0);
        q.push(n("1", "k1", Level::Error), 0);
        q.set_cap(MAX_VISIBLE_NARROW, 1_000);
        assert_eq!(q.visible().len(), 1);
        assert_eq!(q.hidden_count(), 1);
        assert!(!q.tick(60_000), "the hidden info toast keeps its 4 s");
        q.set_cap(MAX_VISIBLE, 60_000);
        assert!(q.visible().iter().any(|t| t.id == info));
        assert!(!q.tick(63_999));
        assert!(q.tick(64_000));
        q.set_cap(0, 64_000);
        assert_eq!(q.visible().len(), 1, "at least one shows");
    }

    #[test]
    fn dismiss_and_escape() {
        let mut q = Toasts::default();
        let a = q.push(n("1", "a", Level::Error), 0);
        q.push(n("2", "b", Level::Error), 0);
        q.dismiss_newest(1);
        assert_eq!(
            q.visible().iter().map(|t| t.id).collect::<Vec<_>>(),
            vec![a]
        );
        q.dismiss(a, 2);
        assert!(q.is_empty());
        for i in 0..5 {
            q.push(n(&i.to_string(), &format!("k{i}"), Level::Error), 3);
        }
        q.dismiss_all();
        assert!(q.is_empty() && q.hidden_count() == 0);
    }
}
