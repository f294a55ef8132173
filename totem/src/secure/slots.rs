//! Group key slots: the key this node sends with and at most one other key it still
//! receives with (the next key before every member has it, or the previous one while it
//! retires), each with its send counter and per-sender replay windows.

use std::collections::BTreeMap;
use std::time::Instant;

use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
use totem_keygen::{kdf, GroupKey, KeyEpoch};

/// Width of the per-sender replay window, in packets.
pub const REPLAY_WINDOW: u64 = 256;

/// A sliding replay window over one sender's counters.
#[derive(Debug, Clone, Copy, Default)]
pub struct Window {
    highest: u64,
    bits: [u64; 4],
    any: bool,
}

impl Window {
    fn bit(&self, d: u64) -> bool {
        let d = d as usize;
        self.bits[d / 64] & (1u64 << (d % 64)) != 0
    }
    fn shift(&mut self, by: u64) {
        if by >= REPLAY_WINDOW {
            self.bits = [0; 4];
            return;
        }
        for _ in 0..by {
            let mut carry = 0u64;
            for w in self.bits.iter_mut() {
                let next = *w >> 63;
                *w = (*w << 1) | carry;
                carry = next;
            }
        }
    }
    /// Whether counter `c` has not been seen and is not below the window.
    pub fn fresh(&self, c: u64) -> bool {
        if !self.any || c > self.highest {
            return true;
        }
        let d = self.highest - c;
        d < REPLAY_WINDOW && !self.bit(d)
    }
    /// Records counter `c` as seen.
    pub fn mark(&mut self, c: u64) {
        if !self.any {
            *self = Window {
                highest: c,
                bits: [1, 0, 0, 0],
                any: true,
            };
            return;
        }
        if c > self.highest {
            self.shift(c - self.highest);
            self.highest = c;
        }
        let d = (self.highest - c) as usize;
        if (d as u64) < REPLAY_WINDOW {
            self.bits[d / 64] |= 1u64 << (d % 64);
        }
    }
}

/// One installed group key.
pub struct Slot {
    /// Its key epoch.
    pub epoch: KeyEpoch,
    /// The traffic cipher.
    pub cipher: ChaCha20Poly1305,
    /// Next counter this node seals with.
    pub next_counter: u64,
    /// Replay windows by sender.
    pub windows: BTreeMap<u32, Window>,
    /// Packets sealed and opened under this key here (drives volume rekeying).
    pub packets: u64,
}

impl Slot {
    fn new(gk: &GroupKey) -> Self {
        let tk = kdf::traffic_key(&gk.key, &gk.epoch);
        Slot {
            epoch: gk.epoch,
            cipher: ChaCha20Poly1305::new(tk.as_ref().into()),
            next_counter: 0,
            windows: BTreeMap::new(),
            packets: 0,
        }
    }
}

/// What the second slot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A new key, received with but not yet sent with.
    Next,
    /// The previous send key, received with until the instant given (`None`: until every
    /// member confirmed it switched, then a grace period).
    Retiring(Option<Instant>),
}

/// The send slot and the second receive slot.
#[derive(Default)]
pub struct KeySlots {
    active: Option<Slot>,
    other: Option<(Slot, Role)>,
    /// Keys dropped before they retired (a newer key arrived first).
    pub superseded: u64,
}

impl KeySlots {
    /// The key this node sends with.
    pub fn active(&mut self) -> Option<&mut Slot> {
        self.active.as_mut()
    }
    /// Epoch of the send key.
    pub fn active_epoch(&self) -> Option<KeyEpoch> {
        self.active.as_ref().map(|s| s.epoch)
    }
    /// Epoch and role of the second slot.
    pub fn other_epoch(&self) -> Option<(KeyEpoch, Role)> {
        self.other.as_ref().map(|(s, r)| (s.epoch, *r))
    }

    /// Installs a newly agreed key for receiving only (any other second key is dropped).
    pub fn install_next(&mut self, gk: &GroupKey) {
        if self.other.is_some() {
            self.superseded += 1;
        }
        self.other = Some((Slot::new(gk), Role::Next));
    }

    /// Starts sending with the next key `epoch`; the old send key becomes retiring (with no
    /// deadline until [`Self::arm_retire`]). Returns false when `epoch` is not the installed
    /// next key.
    pub fn activate(&mut self, epoch: KeyEpoch) -> bool {
        match self.other.take() {
            Some((s, Role::Next)) if s.epoch == epoch => {
                self.other = self
                    .active
                    .replace(s)
                    .map(|old| (old, Role::Retiring(None)));
                true
            }
            o => {
                self.other = o;
                false
            }
        }
    }

    /// Sets the instant the retiring key goes.
    pub fn arm_retire(&mut self, at: Instant) {
        if let Some((_, r @ Role::Retiring(None))) = &mut self.other {
            *r = Role::Retiring(Some(at));
        }
    }

    /// Whether a previous key is still held.
    pub fn retiring(&self) -> bool {
        matches!(self.other, Some((_, Role::Retiring(_))))
    }

    /// Drops a retiring key whose time has come.
    pub fn expire(&mut self, now: Instant) {
        if let Some((_, Role::Retiring(Some(at)))) = &self.other {
            if *at <= now {
                self.other = None;
            }
        }
    }

    /// When the retiring key goes.
    pub fn retire_deadline(&self) -> Option<Instant> {
        match &self.other {
            Some((_, Role::Retiring(at))) => *at,
            _ => None,
        }
    }

    /// The slot holding `epoch`, if any.
    pub fn find(&mut self, epoch: &KeyEpoch) -> Option<&mut Slot> {
        if self.active.as_ref().is_some_and(|s| s.epoch == *epoch) {
            return self.active.as_mut();
        }
        match &mut self.other {
            Some((s, _)) if s.epoch == *epoch => Some(s),
            _ => None,
        }
    }

    /// Whether `epoch` is older than every held key (ring sequence, then epoch).
    pub fn is_stale(&self, epoch: &KeyEpoch) -> bool {
        let oldest = [
            self.active.as_ref().map(|s| s.epoch.age_key()),
            self.other.as_ref().map(|(s, _)| s.epoch.age_key()),
        ]
        .into_iter()
        .flatten()
        .min();
        oldest.is_some_and(|o| epoch.age_key() < o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_rejects_repeats_and_old_counters() {
        let mut w = Window::default();
        for c in [5u64, 7, 6, 300] {
            assert!(w.fresh(c), "{c} first time");
            w.mark(c);
            assert!(!w.fresh(c), "{c} second time");
        }
        // 300 - 5 = 295 >= 256: below the window now.
        assert!(!w.fresh(5));
        assert!(!w.fresh(44)); // 300 - 44 = 256, just outside
        assert!(w.fresh(45)); // 255 inside, never seen
        w.mark(45);
        assert!(!w.fresh(45));
        assert!(w.fresh(299));
    }
}
