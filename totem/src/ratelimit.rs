//! Rate-limited logging of per-datagram refusals (sans-IO: every call takes `now`).
//!
//! A peer with a wrong key, a scanner or a misconfigured node sends refused datagrams by the
//! thousand; one log line each would drown the log. Per key (the log message), at most
//! [`LOG_BURST`] lines go out per [`LOG_INTERVAL`]; the rest are suppressed and counted, and
//! once the interval has ended one line says how many were suppressed (from
//! [`RateLimiter::expire`], which the owner calls at [`RateLimiter::poll_timeout`]), or the
//! next line that is let through says it first. The counters of the refusals themselves are
//! kept by the caller and stay exact: only log lines are dropped.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Length of a rate-limiting window.
pub const LOG_INTERVAL: Duration = Duration::from_secs(1);

/// Lines let through per key and window.
pub const LOG_BURST: u32 = 1;

/// What to do with one log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Log it; `suppressed` lines of the same key were dropped since the last report.
    Log { suppressed: u64 },
    /// Drop it (counted).
    Suppress,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    used: u32,
    suppressed: u64,
}

/// Per-key windows of at most `burst` lines per `interval`.
#[derive(Debug, Clone)]
pub struct RateLimiter<K> {
    interval: Duration,
    burst: u32,
    windows: HashMap<K, Window>,
    suppressed_total: u64,
}

impl<K: Copy + Eq + Hash> Default for RateLimiter<K> {
    fn default() -> Self {
        Self::new(LOG_INTERVAL, LOG_BURST)
    }
}

impl<K: Copy + Eq + Hash> RateLimiter<K> {
    /// At most `burst` (at least 1) lines per key in every `interval`.
    pub fn new(interval: Duration, burst: u32) -> Self {
        RateLimiter {
            interval,
            burst: burst.max(1),
            windows: HashMap::new(),
            suppressed_total: 0,
        }
    }

    /// Whether a line of `key` at `now` goes out.
    pub fn check(&mut self, key: K, now: Instant) -> Verdict {
        let interval = self.interval;
        match self.windows.get_mut(&key) {
            Some(w) if now < w.start + interval => {
                if w.used < self.burst {
                    w.used += 1;
                    Verdict::Log { suppressed: 0 }
                } else {
                    w.suppressed += 1;
                    self.suppressed_total += 1;
                    Verdict::Suppress
                }
            }
            Some(w) => {
                // The window ended without `expire` reporting it: this line reports it.
                let suppressed = w.suppressed;
                *w = Window {
                    start: now,
                    used: 1,
                    suppressed: 0,
                };
                Verdict::Log { suppressed }
            }
            None => {
                self.windows.insert(
                    key,
                    Window {
                        start: now,
                        used: 1,
                        suppressed: 0,
                    },
                );
                Verdict::Log { suppressed: 0 }
            }
        }
    }

    /// When a window with suppressed lines ends (the owner then calls [`Self::expire`]).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.windows
            .values()
            .filter(|w| w.suppressed > 0)
            .map(|w| w.start + self.interval)
            .min()
    }

    /// Ends the windows that are over at `now`; returns the keys that had suppressed lines,
    /// with their counts, for one summary line each.
    pub fn expire(&mut self, now: Instant) -> Vec<(K, u64)> {
        let interval = self.interval;
        let mut out = Vec::new();
        self.windows.retain(|k, w| {
            if now < w.start + interval {
                return true;
            }
            if w.suppressed > 0 {
                out.push((*k, w.suppressed));
            }
            false
        });
        out
    }

    /// Lines suppressed since the start.
    pub fn suppressed_total(&self) -> u64 {
        self.suppressed_total
    }
}

/// A log key: the level and the message of the line.
pub type LogKey = (tracing::Level, &'static str);

/// Logs the summary of `n` suppressed lines of `key` at the key's level.
pub fn log_suppressed((level, msg): LogKey, n: u64) {
    match level {
        tracing::Level::ERROR => {
            tracing::error!(suppressed = n, "{n} similar lines suppressed: {msg}")
        }
        tracing::Level::WARN => {
            tracing::warn!(suppressed = n, "{n} similar lines suppressed: {msg}")
        }
        tracing::Level::INFO => {
            tracing::info!(suppressed = n, "{n} similar lines suppressed: {msg}")
        }
        tracing::Level::DEBUG => {
            tracing::debug!(suppressed = n, "{n} similar lines suppressed: {msg}")
        }
        _ => tracing::trace!(suppressed = n, "{n} similar lines suppressed: {msg}"),
    }
}

/// Reports every window of `limiter` that ended at `now` with suppressed lines.
pub fn expire_and_log(limiter: &mut RateLimiter<LogKey>, now: Instant) {
    for (key, n) in limiter.expire(now) {
        log_suppressed(key, n);
    }
}

/// `limited!(limiter, now, warn, "message", fields...)`: a `tracing` event at that level,
/// through `limiter` (a [`RateLimiter<LogKey>`]); the message is a literal and the key.
#[macro_export]
macro_rules! limited {
    ($lim:expr, $now:expr, $level:ident, $msg:literal $(, $($field:tt)+)?) => {{
        let key: $crate::ratelimit::LogKey = ($crate::ratelimit::level!($level), $msg);
        match $lim.check(key, $now) {
            $crate::ratelimit::Verdict::Suppress => {}
            $crate::ratelimit::Verdict::Log { suppressed } => {
                if suppressed > 0 {
                    $crate::ratelimit::log_suppressed(key, suppressed);
                }
                ::tracing::$level!($($($field)+ ,)? $msg);
            }
        }
    }};
}

/// The `tracing::Level` of a level macro name (`warn` → `Level::WARN`).
#[doc(hidden)]
#[macro_export]
macro_rules! __limited_level {
    (error) => {
        ::tracing::Level::ERROR
    };
    (warn) => {
        ::tracing::Level::WARN
    };
    (info) => {
        ::tracing::Level::INFO
    };
    (debug) => {
        ::tracing::Level::DEBUG
    };
    (trace) => {
        ::tracing::Level::TRACE
    };
}

#[doc(hidden)]
pub use crate::__limited_level as level;
pub use crate::limited;

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(t0: Instant, n: u64) -> Instant {
        t0 + Duration::from_millis(n)
    }

    #[test]
    fn one_line_per_interval_then_a_count() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(Duration::from_secs(1), 1);
        assert_eq!(l.check("bad", t0), Verdict::Log { suppressed: 0 });
        assert_eq!(l.poll_timeout(), None, "nothing suppressed yet: no timer");
        for i in 1..=9 {
            assert_eq!(
                l.check("bad", ms(t0, i * 100)),
                Verdict::Suppress,
                "line {i}"
            );
        }
        assert_eq!(l.poll_timeout(), Some(ms(t0, 1000)));
        assert!(l.expire(ms(t0, 999)).is_empty(), "the window is not over");
        assert_eq!(l.expire(ms(t0, 1000)), vec![("bad", 9)]);
        assert_eq!(l.poll_timeout(), None);
        assert!(l.expire(ms(t0, 5000)).is_empty(), "reported once");
        // A new window opens with the next line.
        assert_eq!(l.check("bad", ms(t0, 1500)), Verdict::Log { suppressed: 0 });
        assert_eq!(l.suppressed_total(), 9);
    }

    #[test]
    fn keys_are_independent_and_bursts_allowed() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(Duration::from_secs(1), 3);
        for i in 0..3 {
            assert_eq!(l.check("a", ms(t0, i)), Verdict::Log { suppressed: 0 });
        }
        assert_eq!(l.check("a", ms(t0, 3)), Verdict::Suppress);
        assert_eq!(l.check("b", ms(t0, 4)), Verdict::Log { suppressed: 0 });
        assert_eq!(l.check("a", ms(t0, 5)), Verdict::Suppress);
        let mut got = l.expire(ms(t0, 1004));
        got.sort();
        assert_eq!(got, vec![("a", 2)], "b had nothing suppressed");
    }

    #[test]
    fn a_late_expire_does_not_lose_the_count() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(Duration::from_secs(1), 1);
        l.check("k", t0);
        l.check("k", ms(t0, 10));
        l.check("k", ms(t0, 20));
        // Nobody called expire: the next allowed line carries the count.
        assert_eq!(l.check("k", ms(t0, 2000)), Verdict::Log { suppressed: 2 });
        assert_eq!(l.check("k", ms(t0, 2001)), Verdict::Suppress);
        assert_eq!(l.expire(ms(t0, 3000)), vec![("k", 1)]);
    }

    #[test]
    fn the_macro_counts_suppressed_lines() {
        let t0 = Instant::now();
        let mut l: RateLimiter<LogKey> = RateLimiter::default();
        for i in 0..100u64 {
            limited!(l, ms(t0, i), warn, "test refusal", i);
        }
        assert_eq!(l.suppressed_total(), 99);
        assert_eq!(
            l.expire(ms(t0, 1000)),
            vec![((tracing::Level::WARN, "test refusal"), 99)]
        );
    }
}
