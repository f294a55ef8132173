//! The engine's deadlines: one slot per corosync timer, all driven by `handle_timeout`.

use std::time::{Duration, Instant};

/// Which timer a deadline belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// Token loss (OPERATIONAL/COMMIT/RECOVERY) and the late consensus check in GATHER.
    TokenLoss,
    /// Re-send the last token (or commit token) if no newer one arrived.
    TokenRetransmit,
    /// The representative releases a held token.
    TokenHold,
    /// The idle representative announces its ring.
    MergeDetect,
    /// Periodic join while gathering.
    Join,
    /// Gather gives up waiting for agreement.
    Consensus,
}

impl Timer {
    /// Every timer, in the order expired ones fire.
    pub const ALL: [Timer; 6] = [
        Timer::TokenLoss,
        Timer::Consensus,
        Timer::Join,
        Timer::TokenRetransmit,
        Timer::TokenHold,
        Timer::MergeDetect,
    ];
    fn index(self) -> usize {
        self as usize
    }
}

/// Armed deadlines.
#[derive(Debug, Default, Clone)]
pub struct Timers {
    slots: [Option<Instant>; 6],
}

impl Timers {
    /// Arms (or re-arms) `t` to fire `after` from `now`.
    pub fn set(&mut self, t: Timer, now: Instant, after: Duration) {
        self.slots[t.index()] = Some(now + after);
    }
    /// Arms `t` only if it is not armed already.
    pub fn start_if_idle(&mut self, t: Timer, now: Instant, after: Duration) {
        if self.slots[t.index()].is_none() {
            self.set(t, now, after);
        }
    }
    pub fn cancel(&mut self, t: Timer) {
        self.slots[t.index()] = None;
    }
    pub fn is_armed(&self, t: Timer) -> bool {
        self.slots[t.index()].is_some()
    }
    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.slots.iter().flatten().min().copied()
    }
    /// Disarms and returns `t` if its deadline is at or before `now`.
    pub fn take_expired(&mut self, t: Timer, now: Instant) -> bool {
        match self.slots[t.index()] {
            Some(d) if d <= now => {
                self.slots[t.index()] = None;
                true
            }
            _ => false,
        }
    }
    pub fn cancel_all(&mut self) {
        self.slots = [None; 6];
    }
}
