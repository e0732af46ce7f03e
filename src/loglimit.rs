//! Rate-limited log lines: a burst of failures (an upstream outage, a key-guessing client)
//! must not flood the log. At most a fixed number of lines a second are written; the rest are
//! counted, and the next line written says how many were left out before it.
//!
//! Owns: the per-second budget. Must not: read the clock (the caller passes the second) or
//! write anything itself.

/// Which lines get written: at most `per_second` in any one second.
#[derive(Debug)]
pub struct LineBudget {
    per_second: u32,
    second: u64,
    written: u32,
    dropped: u64,
}

impl LineBudget {
    pub const fn new(per_second: u32) -> LineBudget {
        LineBudget {
            per_second,
            second: 0,
            written: 0,
            dropped: 0,
        }
    }

    /// `Some(lines dropped since the last written one)` when a line may be written in `second`
    /// (any monotonic count of seconds), `None` when it is dropped.
    pub fn take(&mut self, second: u64) -> Option<u64> {
        if second != self.second {
            self.second = second;
            self.written = 0;
        }
        if self.written < self.per_second {
            self.written += 1;
            Some(std::mem::take(&mut self.dropped))
        } else {
            self.dropped += 1;
            None
        }
    }
}

/// Everything `f` logs through `tracing`, as the log's text (tests of rate-limited lines).
#[cfg(test)]
pub(crate) fn captured_log(f: impl FnOnce()) -> String {
    use std::io;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let bytes = sink.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::LineBudget;

    #[test]
    fn lines_are_capped_per_second_and_the_next_one_counts_the_dropped() {
        let mut b = LineBudget::new(10);
        for _ in 0..10 {
            assert_eq!(b.take(100), Some(0));
        }
        for _ in 0..5 {
            assert_eq!(b.take(100), None);
        }
        // A new second: lines are written again, the first one says 5 were left out.
        assert_eq!(b.take(101), Some(5));
        assert_eq!(b.take(101), Some(0));
        // A clock that steps back starts a new second too, rather than staying silent.
        assert_eq!(b.take(99), Some(0));
    }
}
