//! The UI's rules as plain functions and structs: no DOM, no clock reads, no IO. Callers pass
//! `now` (milliseconds) and random numbers in, so every rule is unit-tested with `cargo test -p app`.
//!
//! | module | owns |
//! |---|---|
//! | [`live`] | reconnect backoff with jitter, connection states, staleness, notification de-duplication |
//! | [`seen`] | a bounded set of ids in insertion order (oldest forgotten first), shared with the server |
//! | [`toast`] | the toast queue: lifetimes by level, pause on hover/focus, collapse of repeats, ≤ 5 visible |
//! | [`format`] | locale-aware numbers, money, bar shares, countdowns |
//! | [`table`] | sorting and filtering of the admin table |
//! | [`chart`] | geometry of the SVG bar charts |
//! | [`policy`] | the limits-and-policies form: typed text ↔ the admin's edit, checked before sending |

pub mod chart;
pub mod format;
pub mod live;
pub mod policy;
pub mod seen;
pub mod table;
pub mod toast;
