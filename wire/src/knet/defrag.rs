//! Reassembly of knet-fragmented data (`frag_num > 1`), keyed by sender host and data sequence
//! number as libknet does: fragments 1..n of one message share `seq`, and every fragment but
//! the last carries the same number of bytes.

use std::collections::{BTreeMap, VecDeque};

use super::data::DataHeader;

/// Messages being reassembled per sender before the oldest is dropped (`KNET_DEFRAG_BUFFERS`).
pub const DEFRAG_BUFFERS: usize = 32;

/// What [`KnetDefrag::push`] did with a fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefragEvent {
    /// Not a fragment: the payload is a whole message.
    Whole,
    /// Stored; the message is not complete yet.
    Pending,
    /// This fragment completed a message: the reassembled user data.
    Complete(Vec<u8>),
    /// A fragment already held for this message: ignored (libknet drops it too).
    Duplicate,
    /// `frag_seq` is 0 or above `frag_num`, or disagrees with the held fragments.
    Invalid(&'static str),
}

#[derive(Debug)]
struct Partial {
    frag_num: u8,
    frags: BTreeMap<u8, Vec<u8>>,
}

/// Reassembles fragmented knet data per (host, seq), holding at most [`DEFRAG_BUFFERS`]
/// incomplete messages per host.
#[derive(Debug, Default)]
pub struct KnetDefrag {
    partial: BTreeMap<(u16, u16), Partial>,
    order: BTreeMap<u16, VecDeque<u16>>,
    /// Incomplete messages dropped to make room.
    pub evicted: u64,
}

impl KnetDefrag {
    /// An empty reassembler.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the data header and user data of one frame from `host`.
    pub fn push(&mut self, host: u16, h: &DataHeader, payload: &[u8]) -> DefragEvent {
        if h.frag_num <= 1 {
            return DefragEvent::Whole;
        }
        if h.frag_seq == 0 || h.frag_seq > h.frag_num {
            return DefragEvent::Invalid("frag_seq outside 1..=frag_num");
        }
        let key = (host, h.seq);
        if !self.partial.contains_key(&key) {
            let q = self.order.entry(host).or_default();
            if q.len() >= DEFRAG_BUFFERS {
                if let Some(old) = q.pop_front() {
                    self.partial.remove(&(host, old));
                    self.evicted += 1;
                }
            }
            q.push_back(h.seq);
            self.partial.insert(
                key,
                Partial {
                    frag_num: h.frag_num,
                    frags: BTreeMap::new(),
                },
            );
        }
        let Some(p) = self.partial.get_mut(&key) else {
            return DefragEvent::Invalid("lost partial message");
        };
        if p.frag_num != h.frag_num {
            return DefragEvent::Invalid("frag_num differs between fragments");
        }
        if p.frags.contains_key(&h.frag_seq) {
            return DefragEvent::Duplicate;
        }
        p.frags.insert(h.frag_seq, payload.to_vec());
        if p.frags.len() < usize::from(p.frag_num) {
            return DefragEvent::Pending;
        }
        let done = self.partial.remove(&key);
        if let Some(q) = self.order.get_mut(&host) {
            q.retain(|s| *s != h.seq);
        }
        let Some(done) = done else {
            return DefragEvent::Invalid("lost partial message");
        };
        // All but the last fragment must have the same size (the sender's data MTU).
        let first_len = done.frags.values().next().map_or(0, Vec::len);
        let n = done.frags.len();
        if done
            .frags
            .values()
            .take(n.saturating_sub(1))
            .any(|f| f.len() != first_len)
        {
            return DefragEvent::Invalid("fragments before the last differ in size");
        }
        DefragEvent::Complete(done.frags.into_values().flatten().collect())
    }

    /// Incomplete messages currently held.
    pub fn pending(&self) -> usize {
        self.partial.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(seq: u16, num: u8, s: u8) -> DataHeader {
        DataHeader {
            seq,
            frag_num: num,
            frag_seq: s,
            bcast: 1,
            ..Default::default()
        }
    }

    #[test]
    fn out_of_order_fragments_reassemble() {
        let mut d = KnetDefrag::new();
        assert_eq!(d.push(1, &h(7, 3, 3), b"z"), DefragEvent::Pending);
        assert_eq!(d.push(2, &h(7, 2, 1), b"other"), DefragEvent::Pending);
        assert_eq!(d.push(1, &h(7, 3, 1), b"ab"), DefragEvent::Pending);
        assert_eq!(d.push(1, &h(7, 3, 1), b"ab"), DefragEvent::Duplicate);
        assert_eq!(
            d.push(1, &h(7, 3, 2), b"cd"),
            DefragEvent::Complete(b"abcdz".to_vec())
        );
        assert_eq!(d.pending(), 1);
        assert_eq!(d.push(1, &h(8, 1, 0), b"x"), DefragEvent::Whole);
        assert!(matches!(
            d.push(1, &h(9, 3, 4), b"x"),
            DefragEvent::Invalid(_)
        ));
    }

    #[test]
    fn holds_a_bounded_number_per_host() {
        let mut d = KnetDefrag::new();
        for seq in 0..100u16 {
            d.push(3, &h(seq, 2, 1), b"a");
        }
        assert_eq!(d.pending(), DEFRAG_BUFFERS);
        assert_eq!(d.evicted, 100 - DEFRAG_BUFFERS as u64);
    }
}
