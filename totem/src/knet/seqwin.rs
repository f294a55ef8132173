//! The receive sequence window knet keeps per source host (host.c `_seq_num_lookup`): one
//! 4096-slot map of delivered sequence numbers, one of sequence numbers whose defragmentation
//! has started, and the highest sequence number seen. In libknet 1.25 unicast and broadcast
//! data share the sender's single counter and this single window.

/// Slots in the circular buffers (`KNET_CBUFFER_SIZE`).
pub const CBUFFER_SIZE: usize = 4096;

/// One source host's duplicate window.
#[derive(Debug, Clone)]
pub struct SeqWindow {
    /// Highest sequence number seen (0 = none yet).
    pub rx_seq: u16,
    delivered: Vec<bool>,
    defrag: Vec<bool>,
}

impl Default for SeqWindow {
    fn default() -> Self {
        SeqWindow {
            rx_seq: 0,
            delivered: vec![false; CBUFFER_SIZE],
            defrag: vec![false; CBUFFER_SIZE],
        }
    }
}

/// Which of the two maps a lookup consults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Map {
    Delivered,
    Defrag,
}

impl SeqWindow {
    /// Forgets everything and restarts at `seq` (`_clear_cbuffers`).
    pub fn clear(&mut self, seq: u16) {
        self.delivered.iter_mut().for_each(|b| *b = false);
        self.defrag.iter_mut().for_each(|b| *b = false);
        self.rx_seq = seq;
    }

    /// Whether `seq` is new in `map`, moving the window forward as knet does. `clear` wipes
    /// the window first (a sender that restarted).
    pub fn lookup(&mut self, seq: u16, map: Map, clear: bool) -> bool {
        if self.rx_seq == 0 {
            self.rx_seq = seq;
        }
        if clear {
            self.clear(seq);
        }
        let dist = if seq < self.rx_seq {
            (u16::MAX - seq).wrapping_add(self.rx_seq)
        } else {
            self.rx_seq.wrapping_sub(seq)
        };
        let head = usize::from(seq) % CBUFFER_SIZE;
        if usize::from(dist) < CBUFFER_SIZE {
            let m = match map {
                Map::Delivered => &self.delivered,
                Map::Defrag => &self.defrag,
            };
            return !m[head];
        } else if usize::from(dist) <= usize::from(u16::MAX) - CBUFFER_SIZE {
            self.clear(seq);
        }
        // Clean the slots between the old head and the new one.
        let tail = (usize::from(self.rx_seq) + 1) % CBUFFER_SIZE;
        for m in [&mut self.delivered, &mut self.defrag] {
            if tail > head {
                m[tail..].iter_mut().for_each(|b| *b = false);
                m[..=head].iter_mut().for_each(|b| *b = false);
            } else {
                m[tail..=head].iter_mut().for_each(|b| *b = false);
            }
        }
        self.rx_seq = seq;
        true
    }

    /// Marks `seq` as done in `map` (`_seq_num_set`).
    pub fn set(&mut self, seq: u16, map: Map) {
        let i = usize::from(seq) % CBUFFER_SIZE;
        match map {
            Map::Delivered => self.delivered[i] = true,
            Map::Defrag => self.defrag[i] = true,
        }
    }
}
