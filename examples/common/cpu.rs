//! CPU time as Linux's `/proc` reports it, shared by the benchmark examples.

/// User + system CPU time so far, in seconds, read from a `/proc` stat file:
/// `/proc/self/stat` for the whole process (every thread), `/proc/thread-self/stat` for the
/// calling thread alone. 0 where the file cannot be read (not Linux).
pub(crate) fn seconds(stat_file: &str) -> f64 {
    let stat = std::fs::read_to_string(stat_file).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|s| s.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    // /proc counts in USER_HZ, which Linux fixes at 100 whatever the kernel's own tick rate.
    ticks / 100.0
}
