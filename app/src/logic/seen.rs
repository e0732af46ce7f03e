//! A bounded set of ids in insertion order: once full, the oldest id is forgotten first. The
//! browser remembers the notifications it has shown with it ([`super::live::SeenIds`]); the
//! server remembers the assistant runs whose usage it has counted.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

/// At most `cap` ids; inserting a new one past the cap forgets the oldest. Re-inserting an id
/// already held does not make it younger. Each id is stored once, shared by the set and the
/// order, and an insertion hashes it once.
#[derive(Clone, Debug)]
pub struct BoundedSeen {
    cap: usize,
    set: HashSet<Arc<str>>,
    order: VecDeque<Arc<str>>,
}

impl BoundedSeen {
    /// An empty set that holds at most `cap` ids (at least one).
    pub fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            set: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// Records `id`; true if it was not held.
    pub fn insert(&mut self, id: &str) -> bool {
        let id: Arc<str> = Arc::from(id);
        if !self.set.insert(Arc::clone(&id)) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }

    pub fn contains(&self, id: &str) -> bool {
        self.set.contains(id)
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The most ids held at once.
    pub fn cap(&self) -> usize {
        self.cap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_new_once() {
        let mut s = BoundedSeen::new(3);
        assert!(s.is_empty());
        assert!(s.insert("a"));
        assert!(!s.insert("a"));
        assert!(s.contains("a"));
        assert!(!s.contains("b"));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn the_oldest_is_forgotten_first_at_the_cap() {
        let mut s = BoundedSeen::new(3);
        for id in ["a", "b", "c"] {
            assert!(s.insert(id));
        }
        assert_eq!(s.len(), 3);
        assert!(s.insert("d"));
        assert_eq!(s.len(), 3, "never more than the cap");
        assert!(!s.contains("a"), "the oldest went first");
        assert!(s.contains("b") && s.contains("c") && s.contains("d"));
        assert!(s.insert("a"), "a forgotten id is new again");
        assert!(!s.contains("b"));
    }

    #[test]
    fn re_inserting_does_not_refresh() {
        let mut s = BoundedSeen::new(3);
        for id in ["a", "b", "c"] {
            s.insert(id);
        }
        assert!(!s.insert("a"), "already held");
        s.insert("d");
        assert!(
            !s.contains("a"),
            "a is still the oldest although it was inserted again"
        );
        assert!(s.contains("b"));
    }

    #[test]
    fn a_zero_cap_still_holds_the_latest() {
        let mut s = BoundedSeen::new(0);
        assert_eq!(s.cap(), 1);
        assert!(s.insert("a"));
        assert!(!s.insert("a"));
        assert!(s.insert("b"));
        assert!(!s.contains("a"));
    }
}
