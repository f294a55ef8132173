//! Traffic protection with ChaCha20-Poly1305 under per-(ring id, epoch) keys.
//!
//! Envelope (big-endian), the 30-byte header is the AEAD associated data:
//!
//! ```text
//! offset size field
//!  0      1   version (1)
//!  1      1   reserved, zero
//!  2      4   sender nodeid
//!  6      4   ring representative nodeid
//! 10      8   ring sequence
//! 18      4   key epoch
//! 22      8   per-sender counter
//! 30      n   ciphertext, then the 16-byte Poly1305 tag
//! ```
//!
//! Nonce (96 bits) = sender nodeid (4 bytes BE) ‖ counter (8 bytes BE). It never repeats
//! under one key: the key is unique to one (ring id, epoch); nodeids are unique within a
//! ring; each sender starts its counter at 0 for every key, increments it per packet and
//! refuses to seal once it would wrap; a slot is never installed twice for one epoch.
//!
//! Slots: `current` and `previous`. Sending always uses `current` (the newest key);
//! receiving accepts either, so packets sealed just before a rekey still open. Anything
//! else is rejected and counted: older epochs as `stale_epoch`, others as `unknown_key`.

use std::collections::BTreeMap;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

use crate::error::{OpenError, SealError};
use crate::ids::{KeyEpoch, NodeId, RingId};
use crate::kdf;
use crate::member::GroupKey;

/// Envelope version byte.
pub const ENVELOPE_VERSION: u8 = 1;
/// Envelope header length (also the associated data).
pub const ENVELOPE_HEADER_LEN: usize = 30;
/// Poly1305 tag length.
pub const TAG_LEN: usize = 16;
/// Largest plaintext accepted by `seal`.
pub const MAX_PLAINTEXT: usize = 65536;
/// Width of the per-sender replay window.
pub const REPLAY_WINDOW: u64 = 64;

/// The 96-bit nonce for `sender`'s packet number `counter`.
pub fn nonce(sender: NodeId, counter: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..4].copy_from_slice(&sender.to_be_bytes());
    n[4..].copy_from_slice(&counter.to_be_bytes());
    n
}

/// Counters of received packets by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RxStats {
    /// Opened successfully.
    pub ok: u64,
    /// Too short or bad version.
    pub malformed: u64,
    /// From an epoch older than both slots.
    pub stale_epoch: u64,
    /// From an epoch in no slot and not older.
    pub unknown_key: u64,
    /// Tag did not verify.
    pub auth_failed: u64,
    /// Counter replayed or below the window.
    pub replay: u64,
}

#[derive(Clone, Copy, Default)]
struct Window {
    highest: u64,
    bits: u64,
    any: bool,
}

impl Window {
    fn check(&self, c: u64) -> bool {
        if !self.any || c > self.highest {
            return true;
        }
        let d = self.highest - c;
        d < REPLAY_WINDOW && self.bits & (1u64 << d) == 0
    }
    fn mark(&mut self, c: u64) {
        if !self.any {
            *self = Window {
                highest: c,
                bits: 1,
                any: true,
            };
        } else if c > self.highest {
            let shift = c - self.highest;
            self.bits = if shift >= REPLAY_WINDOW {
                0
            } else {
                self.bits << shift
            } | 1;
            self.highest = c;
        } else {
            self.bits |= 1u64 << (self.highest - c);
        }
    }
}

struct Slot {
    epoch: KeyEpoch,
    cipher: ChaCha20Poly1305,
    next_counter: u64,
    windows: BTreeMap<NodeId, Window>,
}

/// The two traffic key slots of one node, with its send counter and receive statistics.
pub struct TrafficKeys {
    me: NodeId,
    current: Option<Slot>,
    previous: Option<Slot>,
    stats: RxStats,
}

/// A parsed envelope header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvelopeHeader {
    /// Sender nodeid.
    pub sender: NodeId,
    /// Key epoch the packet was sealed under.
    pub epoch: KeyEpoch,
    /// Per-sender counter.
    pub counter: u64,
}

impl EnvelopeHeader {
    /// Encodes the 30-byte header.
    pub fn emit(&self) -> [u8; ENVELOPE_HEADER_LEN] {
        let mut h = [0u8; ENVELOPE_HEADER_LEN];
        h[0] = ENVELOPE_VERSION;
        h[2..6].copy_from_slice(&self.sender.to_be_bytes());
        h[6..22].copy_from_slice(&self.epoch.to_bytes());
        h[22..30].copy_from_slice(&self.counter.to_be_bytes());
        h
    }

    /// Decodes the header of a packet.
    pub fn parse(p: &[u8]) -> Result<Self, OpenError> {
        let h = p
            .get(..ENVELOPE_HEADER_LEN)
            .ok_or(OpenError::Malformed("shorter than the envelope header"))?;
        if h[0] != ENVELOPE_VERSION {
            return Err(OpenError::Malformed("unknown envelope version"));
        }
        if h[1] != 0 {
            return Err(OpenError::Malformed("reserved byte not zero"));
        }
        let u32at = |o: usize| u32::from_be_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]);
        let u64at = |o: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&h[o..o + 8]);
            u64::from_be_bytes(a)
        };
        Ok(EnvelopeHeader {
            sender: u32at(2),
            epoch: KeyEpoch {
                ring: RingId {
                    rep: u32at(6),
                    seq: u64at(10),
                },
                epoch: u32at(18),
            },
            counter: u64at(22),
        })
    }
}

impl TrafficKeys {
    /// Empty slots for node `me`.
    pub fn new(me: NodeId) -> Self {
        TrafficKeys {
            me,
            current: None,
            previous: None,
            stats: RxStats::default(),
        }
    }

    /// Receive statistics.
    pub fn stats(&self) -> RxStats {
        self.stats
    }

    /// Epoch of the sending slot.
    pub fn current_epoch(&self) -> Option<KeyEpoch> {
        self.current.as_ref().map(|s| s.epoch)
    }

    /// Installs a newly agreed key: current moves to previous, the new key becomes current.
    /// Returns false (and changes nothing) for an epoch already installed or older.
    pub fn install(&mut self, gk: &GroupKey) -> bool {
        if let Some(cur) = &self.current {
            if gk.epoch.age_key() <= cur.epoch.age_key() {
                return false;
            }
        }
        let tk = kdf::traffic_key(&gk.key, &gk.epoch);
        let slot = Slot {
            epoch: gk.epoch,
            cipher: ChaCha20Poly1305::new(Key::from_slice(tk.as_ref())),
            next_counter: 0,
            windows: BTreeMap::new(),
        };
        self.previous = self.current.replace(slot);
        true
    }

    /// Seals `plaintext` under the current key.
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        if plaintext.len() > MAX_PLAINTEXT {
            return Err(SealError::TooLarge(plaintext.len()));
        }
        let slot = self.current.as_mut().ok_or(SealError::NoKey)?;
        let counter = slot.next_counter;
        slot.next_counter = counter.checked_add(1).ok_or(SealError::CounterExhausted)?;
        let header = EnvelopeHeader {
            sender: self.me,
            epoch: slot.epoch,
            counter,
        }
        .emit();
        let n = nonce(self.me, counter);
        let ct = slot
            .cipher
            .encrypt(
                Nonce::from_slice(&n),
                Payload {
                    msg: plaintext,
                    aad: &header,
                },
            )
            .map_err(|_| SealError::TooLarge(plaintext.len()))?;
        let mut out = Vec::with_capacity(ENVELOPE_HEADER_LEN + ct.len());
        out.extend_from_slice(&header);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Opens a packet sealed under the current or previous key; every rejection is counted.
    pub fn open(&mut self, packet: &[u8]) -> Result<Vec<u8>, OpenError> {
        let r = self.open_inner(packet);
        match &r {
            Ok(_) => self.stats.ok += 1,
            Err(OpenError::Malformed(_)) => self.stats.malformed += 1,
            Err(OpenError::StaleEpoch) => self.stats.stale_epoch += 1,
            Err(OpenError::UnknownKey) => self.stats.unknown_key += 1,
            Err(OpenError::AuthFailed) => self.stats.auth_failed += 1,
            Err(OpenError::Replay) => self.stats.replay += 1,
        }
        r
    }

    fn open_inner(&mut self, packet: &[u8]) -> Result<Vec<u8>, OpenError> {
        let h = EnvelopeHeader::parse(packet)?;
        if packet.len() < ENVELOPE_HEADER_LEN + TAG_LEN {
            return Err(OpenError::Malformed("shorter than header and tag"));
        }
        let oldest = self
            .previous
            .as_ref()
            .or(self.current.as_ref())
            .map(|s| s.epoch.age_key());
        let slot = match (&mut self.current, &mut self.previous) {
            (Some(c), _) if c.epoch == h.epoch => c,
            (_, Some(p)) if p.epoch == h.epoch => p,
            _ => {
                return Err(match oldest {
                    Some(o) if h.epoch.age_key() < o => OpenError::StaleEpoch,
                    _ => OpenError::UnknownKey,
                })
            }
        };
        let w = slot.windows.get(&h.sender).copied().unwrap_or_default();
        if !w.check(h.counter) {
            return Err(OpenError::Replay);
        }
        let n = nonce(h.sender, h.counter);
        let pt = slot
            .cipher
            .decrypt(
                Nonce::from_slice(&n),
                Payload {
                    msg: &packet[ENVELOPE_HEADER_LEN..],
                    aad: &packet[..ENVELOPE_HEADER_LEN],
                },
            )
            .map_err(|_| OpenError::AuthFailed)?;
        slot.windows.entry(h.sender).or_default().mark(h.counter);
        Ok(pt)
    }
}
