//! Bounded polling.

use std::time::{Duration, Instant};

/// Polls `f` every `every` until it returns `Some` or `timeout` passes.
pub fn until<T>(timeout: Duration, every: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(every);
    }
}
