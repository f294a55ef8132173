//! Message queues: the sort queues that hold ordered mcasts by seq (regular and recovery),
//! and the send queue of messages waiting for the token.

use std::collections::{BTreeMap, VecDeque};

use totem_wire::seq::sq_lt;
use totem_wire::srp::mcast::Mcast;

/// Most seqs a sort queue spans past its release point (corosync's QUEUE_RTR_ITEMS_SIZE_MAX).
pub const QUEUE_SPAN: u32 = 16_384;

/// Received mcasts of one ring, keyed by seq, with per-seq miss counters.
///
/// Seqs above `released` and less than `QUEUE_SPAN` past it are in range; released seqs
/// are gone and never accepted again.
#[derive(Debug, Default, Clone)]
pub struct SortQueue {
    items: BTreeMap<u32, Mcast>,
    misses: BTreeMap<u32, u32>,
    released: u32,
}

impl SortQueue {
    /// An empty queue whose first accepted seq is `start + 1`.
    pub fn new(start: u32) -> Self {
        SortQueue {
            items: BTreeMap::new(),
            misses: BTreeMap::new(),
            released: start,
        }
    }
    /// Whether `seq` may be stored (above the release point, within the span).
    pub fn in_range(&self, seq: u32) -> bool {
        sq_lt(self.released, seq) && seq.wrapping_sub(self.released) < QUEUE_SPAN
    }
    pub fn contains(&self, seq: u32) -> bool {
        self.items.contains_key(&seq)
    }
    pub fn get(&self, seq: u32) -> Option<&Mcast> {
        self.items.get(&seq)
    }
    /// Stores `m` at `seq` unless it is out of range or already there; true if stored.
    pub fn insert(&mut self, seq: u32, m: Mcast) -> bool {
        if !self.in_range(seq) || self.items.contains_key(&seq) {
            return false;
        }
        self.items.insert(seq, m);
        self.misses.remove(&seq);
        true
    }
    /// Counts one more token visit on which `seq` was missing; returns the new count.
    pub fn miss(&mut self, seq: u32) -> u32 {
        let c = self.misses.entry(seq).or_insert(0);
        *c += 1;
        *c
    }
    /// The release point: every seq up to it has been freed.
    pub fn released(&self) -> u32 {
        self.released
    }
    /// Frees everything up to and including `to` (no-op if `to` is not past the release point).
    pub fn release_to(&mut self, to: u32) {
        if !sq_lt(self.released, to) {
            return;
        }
        let mut s = self.released;
        let mut n = 0;
        while s != to && n < QUEUE_SPAN {
            s = s.wrapping_add(1);
            self.items.remove(&s);
            self.misses.remove(&s);
            n += 1;
        }
        self.released = to;
    }
    /// Highest contiguous seq present starting after `from` (returns `from` if `from + 1` is missing).
    pub fn contiguous_from(&self, from: u32, limit: u32) -> u32 {
        let mut s = from;
        let mut n = 0;
        while s != limit && n < QUEUE_SPAN && self.items.contains_key(&s.wrapping_add(1)) {
            s = s.wrapping_add(1);
            n += 1;
        }
        s
    }
    pub fn len(&self) -> usize {
        self.items.len()
    }
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// A message waiting for the token: payload and requested guarantee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub payload: Vec<u8>,
    pub guarantee: i32,
}

/// The send queue of new messages, and in recovery the queue of old-ring messages to re-send.
#[derive(Debug, Default, Clone)]
pub struct SendQueues {
    /// New application messages, sent in OPERATIONAL.
    pub new: VecDeque<Pending>,
    /// Whole old-ring mcasts to re-send encapsulated during RECOVERY.
    pub retrans: VecDeque<Mcast>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use totem_wire::header::{Header, MessageType};
    use totem_wire::{Generation, RingId, SrpAddr};

    fn m(seq: u32) -> Mcast {
        Mcast {
            header: Header::new(Generation::G3, MessageType::Mcast, 1),
            system_from: SrpAddr::Node(1),
            seq,
            this_seqno: 0,
            ring_id: RingId::node(1, 4),
            node_id: 0,
            guarantee: 0,
            payload: vec![],
        }
    }

    #[test]
    fn range_and_release() {
        let mut q = SortQueue::new(0);
        assert!(!q.in_range(0));
        assert!(q.insert(1, m(1)));
        assert!(!q.insert(1, m(1)), "duplicate refused");
        assert!(q.insert(3, m(3)));
        assert_eq!(q.contiguous_from(0, 10), 1);
        assert!(q.insert(2, m(2)));
        assert_eq!(q.contiguous_from(0, 10), 3);
        q.release_to(2);
        assert!(!q.in_range(2));
        assert!(!q.contains(1));
        assert!(q.contains(3));
        assert!(!q.in_range(2 + QUEUE_SPAN));
    }

    /// A queue whose release point sits just below the u32 wrap keeps accepting seqs past it.
    #[test]
    fn range_across_wrap() {
        let mut q = SortQueue::new(0xFFFF_FFFE);
        assert!(q.insert(0xFFFF_FFFF, m(0xFFFF_FFFF)));
        assert!(q.insert(0, m(0)));
        assert!(q.insert(1, m(1)));
        assert_eq!(q.contiguous_from(0xFFFF_FFFE, 5), 1);
        q.release_to(0);
        assert!(!q.contains(0xFFFF_FFFF));
        assert!(q.contains(1));
        assert_eq!(q.released(), 0);
    }
}
