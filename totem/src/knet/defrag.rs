//! Reassembly of fragmented knet data (threads_rx.c `pckt_defrag`): 32 buffers per source
//! host, each collecting the fragments (`frag_seq` 1..=`frag_num`) of one sequence number;
//! several messages can be in flight at once. A buffer whose sequence number falls too far
//! behind the window is reclaimed, and when all are busy the least recently updated one is.

use std::time::Instant;

use super::seqwin::{Map, SeqWindow};
use super::MAX_PACKET_SIZE;

/// Buffers per host (`KNET_DEFRAG_BUFFERS`).
pub const DEFRAG_BUFFERS: usize = 32;

#[derive(Debug, Clone, Default)]
struct Buf {
    in_use: bool,
    seq: u16,
    frag_num: u8,
    frags: Vec<Option<Vec<u8>>>,
    received: usize,
    bytes: usize,
    last_update: Option<Instant>,
}

/// What one fragment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Defragged {
    /// All fragments are in: the whole message.
    Complete(Vec<u8>),
    /// More fragments are needed.
    Pending,
    /// The message was already reassembled (or given up): a late duplicate fragment.
    AlreadyDone,
    /// The fragment numbers are impossible (`frag_seq` 0 or above `frag_num`, or a
    /// `frag_num` differing from the other fragments'), or the message grows too large.
    Invalid(&'static str),
}

/// One source host's reassembly buffers.
#[derive(Debug, Clone)]
pub struct Defrag {
    bufs: Vec<Buf>,
}

impl Default for Defrag {
    fn default() -> Self {
        Defrag {
            bufs: vec![Buf::default(); DEFRAG_BUFFERS],
        }
    }
}

impl Defrag {
    /// Drops every buffer.
    pub fn clear(&mut self) {
        self.bufs.iter_mut().for_each(|b| *b = Buf::default());
    }

    /// Number of messages being reassembled.
    pub fn in_flight(&self) -> usize {
        self.bufs.iter().filter(|b| b.in_use).count()
    }

    /// Expires buffers whose sequence number is outside (rx_seq − 33, rx_seq]
    /// (`_reclaim_old_defrag_bufs`).
    pub fn reclaim(&mut self, rx_seq: u16) {
        let head = rx_seq.wrapping_add(1);
        let tail = rx_seq.wrapping_sub(DEFRAG_BUFFERS as u16 + 1);
        for b in self.bufs.iter_mut().filter(|b| b.in_use) {
            let stale = if tail > head {
                b.seq >= head && b.seq <= tail
            } else {
                b.seq >= head || b.seq <= tail
            };
            if stale {
                *b = Buf::default();
            }
        }
    }

    /// Adds one fragment of message `seq`.
    pub fn add(
        &mut self,
        win: &mut SeqWindow,
        now: Instant,
        seq: u16,
        frag_num: u8,
        frag_seq: u8,
        data: &[u8],
    ) -> Defragged {
        if frag_seq == 0 || frag_seq > frag_num {
            return Defragged::Invalid("frag_seq outside 1..=frag_num");
        }
        let idx = match self.bufs.iter().position(|b| b.in_use && b.seq == seq) {
            Some(i) => i,
            None => {
                // knet reclaims against the window before deciding.
                self.reclaim(win.rx_seq);
                if !win.lookup(seq, Map::Defrag, false) {
                    return Defragged::AlreadyDone;
                }
                win.set(seq, Map::Defrag);
                let i = self
                    .bufs
                    .iter()
                    .position(|b| !b.in_use)
                    .or_else(|| (0..self.bufs.len()).min_by_key(|&i| self.bufs[i].last_update))
                    .unwrap_or(0);
                self.bufs[i] = Buf {
                    in_use: true,
                    seq,
                    frag_num,
                    frags: vec![None; usize::from(frag_num)],
                    received: 0,
                    bytes: 0,
                    last_update: Some(now),
                };
                i
            }
        };
        let b = &mut self.bufs[idx];
        b.last_update = Some(now);
        if b.frag_num != frag_num {
            return Defragged::Invalid("frag_num differs between fragments of one message");
        }
        let slot = usize::from(frag_seq - 1);
        if b.frags.get(slot).is_some_and(|f| f.is_some()) {
            return Defragged::Pending;
        }
        if b.bytes + data.len() > MAX_PACKET_SIZE + super::HEADER_ALL_SIZE {
            *b = Buf::default();
            return Defragged::Invalid("reassembled message larger than 65536 bytes");
        }
        if let Some(f) = b.frags.get_mut(slot) {
            *f = Some(data.to_vec());
        }
        b.received += 1;
        b.bytes += data.len();
        if b.received < usize::from(b.frag_num) {
            return Defragged::Pending;
        }
        let mut out = Vec::with_capacity(b.bytes);
        for f in b.frags.iter().flatten() {
            out.extend_from_slice(f);
        }
        *b = Buf::default();
        Defragged::Complete(out)
    }
}
