//! Rules of the live connection to `/api/quota/ws`: when to retry, what to call the connection's
//! state, when shown data is stale, and which notifications were already seen.

use serde::{Deserialize, Serialize};

/// The state of the live connection, as shown to the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Connection {
    /// The socket is open: data is pushed as it changes.
    Live,
    /// The first connection attempt is under way.
    Connecting,
    /// The socket dropped; reconnecting (data is polled meanwhile).
    Reconnecting,
    /// Several attempts failed and polling fails too: the server is unreachable.
    Offline,
}

impl Connection {
    pub fn as_str(self) -> &'static str {
        match self {
            Connection::Live => "live",
            Connection::Connecting => "connecting",
            Connection::Reconnecting => "reconnecting",
            Connection::Offline => "offline",
        }
    }
}

/// Failed attempts after which a connection that also cannot poll is called offline.
pub const OFFLINE_AFTER_ATTEMPTS: u32 = 3;

/// Names the connection's state from what is known about it.
pub fn classify(
    open: bool,
    ever_opened: bool,
    failed_attempts: u32,
    last_poll_ok: Option<bool>,
) -> Connection {
    if open {
        Connection::Live
    } else if failed_attempts >= OFFLINE_AFTER_ATTEMPTS && last_poll_ok != Some(true) {
        Connection::Offline
    } else if ever_opened || failed_attempts > 0 {
        Connection::Reconnecting
    } else {
        Connection::Connecting
    }
}

/// Exponential backoff with "equal jitter": attempt `n` waits between half and all of
/// `min(cap, base · 2ⁿ)`, so clients that lost the same server do not return in lockstep, and
/// no wait exceeds the cap. Never gives up.
#[derive(Clone, Debug, PartialEq)]
pub struct Backoff {
    base_ms: u64,
    cap_ms: u64,
    attempt: u32,
}

impl Default for Backoff {
    /// 500 ms doubling up to 30 s.
    fn default() -> Self {
        Backoff::new(500, 30_000)
    }
}

impl Backoff {
    pub fn new(base_ms: u64, cap_ms: u64) -> Backoff {
        Backoff {
            base_ms: base_ms.max(1),
            cap_ms: cap_ms.max(base_ms.max(1)),
            attempt: 0,
        }
    }

    /// Attempts made since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// The upper bound of the next wait.
    pub fn ceiling_ms(&self) -> u64 {
        let factor = 1u64.checked_shl(self.attempt.min(32)).unwrap_or(u64::MAX);
        self.base_ms.saturating_mul(factor).min(self.cap_ms)
    }

    /// The wait before the next attempt; `jitter` is a random number in `[0, 1)`.
    pub fn next_delay_ms(&mut self, jitter: f64) -> u64 {
        let ceiling = self.ceiling_ms();
        let half = ceiling / 2;
        let j = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.attempt = self.attempt.saturating_add(1);
        (half + ((ceiling - half) as f64 * j) as u64).min(self.cap_ms)
    }

    /// A connection succeeded: start again from the base.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// How often the status is polled over HTTP while the socket is down.
pub const POLL_EVERY_MS: u64 = 5_000;
/// Data not confirmed for this long while the socket is down is marked stale.
pub const FRESHNESS_WINDOW_MS: u64 = 12_000;

/// Data is stale when the socket is not live and nothing confirmed it within the window. While
/// the socket is live the server pushes every change, so silence means "unchanged".
pub fn is_stale(
    connection: Connection,
    last_confirmed_ms: u64,
    now_ms: u64,
    window_ms: u64,
) -> bool {
    connection != Connection::Live && now_ms.saturating_sub(last_confirmed_ms) > window_ms
}

/// Notification ids already shown, bounded so a long-open page does not grow without limit:
/// `SeenIds::new(SEEN_CAP)`.
pub type SeenIds = super::seen::BoundedSeen;

/// How many ids are remembered (far more than the server ever resends in a snapshot).
pub const SEEN_CAP: usize = 1_000;

/// The most a report's time on the way is taken to be (see [`retry_deadline_ms`]).
pub const MAX_TRANSIT_MS: u64 = 1_000;

/// When a retry can succeed, on this client's clock: the report's exact wait (else its
/// rounded-up seconds) from the moment the report arrived, less the time it spent on the way
/// (arrival on this clock minus `generated_at` on the server's). A busy socket can deliver a
/// report hundreds of ms late; counting from arrival alone would then show one second too
/// many. The transit is taken as 0 to [`MAX_TRANSIT_MS`]: a client whose clock runs behind the
/// server's counts from arrival, one whose clock runs ahead counts down at most 1 s early.
pub fn retry_deadline_ms(r: &crate::types::StatusReport, received_ms: u64) -> Option<u64> {
    let wait = r
        .retry_after_ms
        .or_else(|| r.retry_after_seconds.map(|s| s * 1000))?;
    let transit = r.generated_at.map_or(0, |at| {
        let made = u64::try_from(at.timestamp_millis()).unwrap_or(0);
        received_ms.saturating_sub(made).min(MAX_TRANSIT_MS)
    });
    Some(received_ms.saturating_add(wait).saturating_sub(transit))
}

/// Whole seconds left until `deadline_ms`, rounded up as the API rounds its
/// `retry_after_seconds`: 0 once it has passed.
pub fn countdown_secs(deadline_ms: u64, now_ms: u64) -> u64 {
    deadline_ms.saturating_sub(now_ms).div_ceil(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_countdown_starts_when_the_report_was_made_not_when_it_arrived() {
        let mut r =
            crate::logic::table::tests::row("w", "W", crate::types::Status::RateLimited, 0.0);
        r.retry_after_ms = Some(40_000);
        r.generated_at = chrono::DateTime::from_timestamp_millis(1_000_000);
        // 300 ms on the way: the wait is counted from when the report was made.
        assert_eq!(retry_deadline_ms(&r, 1_000_300), Some(1_040_000));
        // A clock behind the server's: from arrival.
        assert_eq!(retry_deadline_ms(&r, 999_800), Some(1_039_800));
        // A clock far ahead of the server's: at most a second early.
        assert_eq!(retry_deadline_ms(&r, 1_005_000), Some(1_044_000));
        // No time of making (an older server): from arrival.
        r.generated_at = None;
        assert_eq!(retry_deadline_ms(&r, 1_000_300), Some(1_040_300));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_never_gives_up() {
        let mut b = Backoff::new(500, 30_000);
        let ceilings: Vec<u64> = (0..10)
            .map(|_| {
                let c = b.ceiling_ms();
                b.next_delay_ms(0.99);
                c
            })
            .collect();
        assert_eq!(
            ceilings,
            vec![500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]
        );
        for _ in 0..1000 {
            assert!(b.next_delay_ms(1.0) <= 30_000);
        }
        assert_eq!(b.attempts(), 1010);
    }

    #[test]
    fn jitter_stays_between_half_and_all_of_the_ceiling() {
        for attempt in 0..12 {
            for j in [0.0, 0.25, 0.5, 0.999, 1.0, -3.0, f64::NAN] {
                let mut b = Backoff::new(500, 30_000);
                for _ in 0..attempt {
                    b.next_delay_ms(0.5);
                }
                let ceiling = b.ceiling_ms();
                let d = b.next_delay_ms(j);
                assert!(
                    d >= ceiling / 2 && d <= ceiling,
                    "attempt {attempt} jitter {j}: {d} vs {ceiling}"
                );
            }
        }
        let (mut a, mut b) = (Backoff::default(), Backoff::default());
        for _ in 0..4 {
            a.next_delay_ms(0.5);
            b.next_delay_ms(0.5);
        }
        assert_ne!(
            a.next_delay_ms(0.1),
            b.next_delay_ms(0.9),
            "jitter spreads clients"
        );
    }

    #[test]
    fn reset_starts_from_the_base() {
        let mut b = Backoff::default();
        for _ in 0..8 {
            b.next_delay_ms(0.5);
        }
        b.reset();
        assert_eq!(b.ceiling_ms(), 500);
        assert_eq!(b.attempts(), 0);
    }

    #[test]
    fn connection_states() {
        assert_eq!(classify(false, false, 0, None), Connection::Connecting);
        assert_eq!(classify(true, true, 0, None), Connection::Live);
        assert_eq!(classify(false, true, 0, None), Connection::Reconnecting);
        assert_eq!(
            classify(false, true, 2, Some(false)),
            Connection::Reconnecting
        );
        assert_eq!(classify(false, true, 3, Some(false)), Connection::Offline);
        assert_eq!(
            classify(false, true, 9, Some(true)),
            Connection::Reconnecting,
            "polling works: not offline"
        );
        assert_eq!(classify(false, false, 5, None), Connection::Offline);
    }

    #[test]
    fn data_goes_stale_only_while_disconnected_and_unconfirmed() {
        let w = FRESHNESS_WINDOW_MS;
        assert!(
            !is_stale(Connection::Live, 0, 1_000_000, w),
            "live data is pushed"
        );
        assert!(!is_stale(Connection::Reconnecting, 10_000, 10_000 + w, w));
        assert!(is_stale(Connection::Reconnecting, 10_000, 10_001 + w, w));
        assert!(is_stale(Connection::Offline, 0, w + 1, w));
        assert!(
            !is_stale(Connection::Offline, 5_000, 1_000, w),
            "clock skew is not stale"
        );
    }

    #[test]
    fn seen_ids_deduplicate_and_stay_bounded() {
        let mut s = SeenIds::new(SEEN_CAP);
        assert!(s.insert("a"));
        assert!(!s.insert("a"));
        assert!(s.contains("a"));
        for i in 0..SEEN_CAP {
            s.insert(&format!("n{i}"));
        }
        assert_eq!(s.len(), SEEN_CAP);
        assert!(!s.contains("a"), "the oldest is forgotten first");
        assert!(!s.insert(&format!("n{}", SEEN_CAP - 1)));
    }

    #[test]
    fn countdown_counts_whole_seconds_down_to_zero() {
        // A 2.6 s wait received at t = 1 s: the deadline is 3.6 s.
        assert_eq!(countdown_secs(3_600, 1_000), 3);
        assert_eq!(countdown_secs(3_600, 1_600), 2);
        assert_eq!(countdown_secs(3_600, 2_599), 2);
        assert_eq!(countdown_secs(3_600, 2_600), 1);
        assert_eq!(countdown_secs(3_600, 3_599), 1);
        assert_eq!(countdown_secs(3_600, 3_600), 0);
        assert_eq!(countdown_secs(3_600, 60_000), 0);
    }
}
