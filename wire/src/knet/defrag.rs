//! Reassembly of knet-fragmented data (`frag_num > 1`), as libknet does it (threads_rx.c
//! `pckt_defrag`): per sender host, [`DEFRAG_BUFFERS`] buffers, each collecting fragments
//! `frag_seq` 1..=`frag_num` of one data sequence number. Every fragment but the last carries
//! the same number of bytes (the sender's data MTU), so fragment `i` lands at offset
//! `(i - 1) × size` and the last one is kept aside until that size is known.
//!
//! Eviction, the policy a live node needs:
//! * bounded memory per host: at most [`DEFRAG_BUFFERS`] messages in flight, each refused
//!   once it would grow past [`MAX_MESSAGE_LEN`]; a buffer's bytes are reused by the next
//!   message, so a host never holds more than [`HostDefrag::MAX_HELD_BYTES`];
//! * no stall: a fragment of a new message always gets a buffer (a free one, else the least
//!   recently updated one, counted in [`HostDefrag::evicted`]), and [`HostDefrag::reclaim`]
//!   frees buffers whose sequence number fell behind the receive window as libknet's
//!   `_reclaim_old_defrag_bufs` does. "Least recently" is a counter of fragments fed, not a
//!   clock: this module reads no time.
//!
//! Whether a sequence number was already reassembled is the receive window's business (the
//! live node keeps it); this module only sees fragments.

use std::collections::BTreeMap;

use super::data::DataHeader;
use super::{HEADER_ALL_LEN, MAX_PACKET_SIZE};

/// Messages being reassembled per sender (`KNET_DEFRAG_BUFFERS`).
pub const DEFRAG_BUFFERS: usize = 32;
/// Largest reassembled message accepted: knet's largest packet plus the slack of one header.
pub const MAX_MESSAGE_LEN: usize = MAX_PACKET_SIZE + HEADER_ALL_LEN;

/// What one fragment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefragEvent<'a> {
    /// Not a fragment (`frag_num` 0 or 1): the payload is a whole message.
    Whole,
    /// Stored; the message is not complete yet.
    Pending,
    /// This fragment completed a message: the reassembled user data (valid until the next
    /// call).
    Complete(&'a [u8]),
    /// A fragment already held for this message: ignored (libknet drops it too).
    Duplicate,
    /// Impossible numbering (`frag_seq` 0 or above `frag_num`, a `frag_num` differing from
    /// the held fragments'), fragments before the last of different sizes, or a message
    /// larger than [`MAX_MESSAGE_LEN`]; the last two drop what was held of the message.
    Invalid(&'static str),
}

/// One buffer: the fragments of one sequence number.
#[derive(Debug, Clone, Default)]
struct Slot {
    in_use: bool,
    seq: u16,
    frag_num: u8,
    /// Which `frag_seq` values are held (bit `frag_seq`).
    have: [u64; 4],
    received: u8,
    /// Size of the fragments before the last, once one of them arrived.
    frag_size: Option<usize>,
    /// Fragments before the last, each at `(frag_seq - 1) × frag_size`.
    body: Vec<u8>,
    /// The last fragment (held aside: its offset needs `frag_size`).
    last: Vec<u8>,
    /// Value of the host's fragment counter when this buffer was last fed.
    touched: u64,
}

impl Slot {
    fn has(&self, frag_seq: u8) -> bool {
        self.have[usize::from(frag_seq / 64)] & (1 << (frag_seq % 64)) != 0
    }

    fn mark(&mut self, frag_seq: u8) {
        self.have[usize::from(frag_seq / 64)] |= 1 << (frag_seq % 64);
    }

    /// Starts `seq`, keeping the allocations.
    fn start(&mut self, seq: u16, frag_num: u8) {
        self.in_use = true;
        self.seq = seq;
        self.frag_num = frag_num;
        self.have = [0; 4];
        self.received = 0;
        self.frag_size = None;
        self.body.clear();
        self.last.clear();
    }

    /// The message length implied by what is known so far.
    fn implied_len(&self, last_len: usize) -> usize {
        let before = usize::from(self.frag_num - 1);
        self.frag_size.map_or(0, |s| before * s) + last_len
    }
}

/// One sender host's reassembly buffers.
#[derive(Debug, Clone)]
pub struct HostDefrag {
    slots: Vec<Slot>,
    clock: u64,
    evicted: u64,
}

impl Default for HostDefrag {
    fn default() -> Self {
        HostDefrag {
            slots: vec![Slot::default(); DEFRAG_BUFFERS],
            clock: 0,
            evicted: 0,
        }
    }
}

impl HostDefrag {
    /// Most bytes one host's buffers hold: every buffer at its largest message, plus a last
    /// fragment kept aside.
    pub const MAX_HELD_BYTES: usize = DEFRAG_BUFFERS * 2 * MAX_MESSAGE_LEN;

    /// Empty buffers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Drops every message in flight and releases the buffers' memory.
    pub fn clear(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = Slot::default());
    }

    /// Messages being reassembled.
    pub fn in_flight(&self) -> usize {
        self.slots.iter().filter(|s| s.in_use).count()
    }

    /// Incomplete messages dropped to make room for new ones.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Bytes allocated by the buffers (never above [`Self::MAX_HELD_BYTES`]).
    pub fn held_bytes(&self) -> usize {
        self.slots
            .iter()
            .map(|s| s.body.capacity() + s.last.capacity())
            .sum()
    }

    /// Whether fragments of `seq` are being collected.
    pub fn holds(&self, seq: u16) -> bool {
        self.slots.iter().any(|s| s.in_use && s.seq == seq)
    }

    /// Frees buffers whose sequence number is outside the window (rx_seq − 33, rx_seq] of the
    /// highest sequence number received (`_reclaim_old_defrag_bufs`).
    pub fn reclaim(&mut self, rx_seq: u16) {
        let head = rx_seq.wrapping_add(1);
        let tail = rx_seq.wrapping_sub(DEFRAG_BUFFERS as u16 + 1);
        for s in self.slots.iter_mut().filter(|s| s.in_use) {
            let stale = if tail > head {
                s.seq >= head && s.seq <= tail
            } else {
                s.seq >= head || s.seq <= tail
            };
            if stale {
                s.in_use = false;
            }
        }
    }

    /// Feeds the data header and user data of one frame.
    pub fn push(&mut self, h: &DataHeader, payload: &[u8]) -> DefragEvent<'_> {
        if h.is_whole() {
            return DefragEvent::Whole;
        }
        if let Some(why) = h.fragment_error() {
            return DefragEvent::Invalid(why);
        }
        self.clock += 1;
        let clock = self.clock;
        let i = match self.slots.iter().position(|s| s.in_use && s.seq == h.seq) {
            Some(i) => i,
            None => {
                let i = match self.slots.iter().position(|s| !s.in_use) {
                    Some(i) => i,
                    None => {
                        self.evicted += 1;
                        (0..self.slots.len())
                            .min_by_key(|&i| self.slots[i].touched)
                            .unwrap_or(0)
                    }
                };
                self.slots[i].start(h.seq, h.frag_num);
                i
            }
        };
        let s = &mut self.slots[i];
        s.touched = clock;
        if s.frag_num != h.frag_num {
            return DefragEvent::Invalid("frag_num differs between fragments of one message");
        }
        if s.has(h.frag_seq) {
            return DefragEvent::Duplicate;
        }
        if h.frag_seq == h.frag_num {
            if s.implied_len(payload.len()) > MAX_MESSAGE_LEN {
                s.in_use = false;
                return DefragEvent::Invalid("reassembled message larger than 65562 bytes");
            }
            s.last.reserve_exact(payload.len());
            s.last.extend_from_slice(payload);
        } else {
            let size = *s.frag_size.get_or_insert(payload.len());
            if size != payload.len() {
                s.in_use = false;
                return DefragEvent::Invalid("fragments before the last differ in size");
            }
            if s.implied_len(s.last.len()) > MAX_MESSAGE_LEN {
                s.in_use = false;
                return DefragEvent::Invalid("reassembled message larger than 65562 bytes");
            }
            // The body is always a whole number of fragments long: either this fragment's
            // place is inside it, or the body grows (zero-filling any gap) to hold it.
            let at = usize::from(h.frag_seq - 1) * size;
            if s.body.len() > at {
                s.body[at..at + size].copy_from_slice(payload);
            } else {
                s.body.reserve_exact(at + size - s.body.len());
                s.body.resize(at, 0);
                s.body.extend_from_slice(payload);
            }
        }
        s.mark(h.frag_seq);
        s.received += 1;
        if s.received < s.frag_num {
            return DefragEvent::Pending;
        }
        s.in_use = false;
        let before = s.implied_len(0);
        s.body.truncate(before);
        let Slot { body, last, .. } = s;
        body.reserve_exact(last.len());
        body.extend_from_slice(last);
        DefragEvent::Complete(body)
    }
}

/// Reassembles fragmented knet data of every sender (what a capture reader needs), one
/// [`HostDefrag`] per host id.
#[derive(Debug, Default)]
pub struct KnetDefrag {
    hosts: BTreeMap<u16, HostDefrag>,
}

impl KnetDefrag {
    /// An empty reassembler.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the data header and user data of one frame from `host`.
    pub fn push(&mut self, host: u16, h: &DataHeader, payload: &[u8]) -> DefragEvent<'_> {
        if h.is_whole() {
            return DefragEvent::Whole;
        }
        self.hosts.entry(host).or_default().push(h, payload)
    }

    /// The buffers of one host, once it sent a fragment.
    pub fn host(&self, host: u16) -> Option<&HostDefrag> {
        self.hosts.get(&host)
    }

    /// Incomplete messages currently held, over all hosts.
    pub fn pending(&self) -> usize {
        self.hosts.values().map(HostDefrag::in_flight).sum()
    }

    /// Incomplete messages dropped to make room, over all hosts.
    pub fn evicted(&self) -> u64 {
        self.hosts.values().map(HostDefrag::evicted).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn h(seq: u16, num: u8, s: u8) -> DataHeader {
        DataHeader {
            seq,
            frag_num: num,
            frag_seq: s,
            bcast: 1,
            ..Default::default()
        }
    }

    fn done(e: DefragEvent<'_>) -> Option<Vec<u8>> {
        match e {
            DefragEvent::Complete(m) => Some(m.to_vec()),
            _ => None,
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
            DefragEvent::Complete(b"abcdz")
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
        assert_eq!(d.evicted(), 100 - DEFRAG_BUFFERS as u64);
    }

    /// The buffer given up when all are busy is the one fed least recently, not the oldest.
    #[test]
    fn evicts_the_least_recently_updated() {
        let mut d = HostDefrag::new();
        for seq in 0..DEFRAG_BUFFERS as u16 {
            assert_eq!(d.push(&h(seq, 3, 1), b"ab"), DefragEvent::Pending);
        }
        // seq 0 is fed again, so seq 1 is now the least recently updated.
        assert_eq!(d.push(&h(0, 3, 2), b"cd"), DefragEvent::Pending);
        assert_eq!(d.push(&h(100, 2, 1), b"x"), DefragEvent::Pending);
        assert_eq!(d.evicted(), 1);
        assert!(d.holds(0) && !d.holds(1) && d.holds(100));
        assert_eq!(done(d.push(&h(0, 3, 3), b"e")), Some(b"abcde".to_vec()));
    }

    #[test]
    fn sizes_and_limits_are_checked() {
        let mut d = HostDefrag::new();
        assert_eq!(d.push(&h(1, 3, 1), b"abc"), DefragEvent::Pending);
        assert!(matches!(
            d.push(&h(1, 3, 2), b"ab"),
            DefragEvent::Invalid(_)
        ));
        assert!(!d.holds(1), "a message with unequal fragments is dropped");
        assert_eq!(d.push(&h(2, 3, 1), b"abc"), DefragEvent::Pending);
        assert!(matches!(
            d.push(&h(2, 4, 2), b"abc"),
            DefragEvent::Invalid(_)
        ));
        assert!(d.holds(2), "a stray frag_num does not drop the message");
        let big = vec![0u8; MAX_MESSAGE_LEN / 2 + 1];
        assert!(matches!(d.push(&h(3, 3, 1), &big), DefragEvent::Invalid(_)));
        assert_eq!(d.push(&h(3, 2, 1), &big), DefragEvent::Pending);
        assert!(matches!(d.push(&h(3, 2, 2), &big), DefragEvent::Invalid(_)));
        assert!(!d.holds(3));
        // A message of exactly the limit completes.
        let part = vec![7u8; MAX_MESSAGE_LEN / 2];
        assert_eq!(d.push(&h(4, 2, 2), &part), DefragEvent::Pending);
        assert_eq!(
            done(d.push(&h(4, 2, 1), &part)).map(|m| m.len()),
            Some(MAX_MESSAGE_LEN)
        );
    }

    #[test]
    fn reclaim_frees_what_fell_behind_the_window() {
        let mut d = HostDefrag::new();
        d.push(&h(10, 2, 1), b"a");
        d.push(&h(60, 2, 1), b"a");
        d.reclaim(60);
        assert!(!d.holds(10) && d.holds(60));
        // Across the wrap of the 16-bit sequence number.
        d.push(&h(65_530, 2, 1), b"a");
        d.reclaim(5);
        assert!(d.holds(65_530));
        d.clear();
        assert_eq!((d.in_flight(), d.held_bytes()), (0, 0));
    }

    /// A message cut into `frag_size` pieces, as the sender's `frag_num`/`frag_seq` numbers them.
    fn cut(msg: &[u8], frag_size: usize) -> Vec<(u8, Vec<u8>)> {
        msg.chunks(frag_size)
            .enumerate()
            .map(|(i, c)| (i as u8 + 1, c.to_vec()))
            .collect()
    }

    proptest! {
        /// Whatever the order (and with duplicates mixed in), the fragments give back the
        /// message, exactly once, at the moment the last missing fragment arrives.
        #[test]
        fn any_order_gives_the_same_message(
            msg in proptest::collection::vec(any::<u8>(), 2..3000),
            frag_size in 1usize..400,
            order in proptest::collection::vec(any::<u64>(), 255),
            dups in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
        ) {
            let mut frags = cut(&msg, frag_size.min(msg.len() - 1).max(msg.len().div_ceil(255)));
            prop_assume!(frags.len() >= 2 && frags.len() <= 255);
            let n = frags.len() as u8;
            // Shuffle by the random keys, then repeat some fragments.
            let mut keyed: Vec<(u64, (u8, Vec<u8>))> =
                frags.drain(..).zip(order.iter().copied()).map(|(f, k)| (k, f)).collect();
            keyed.sort_by_key(|(k, _)| *k);
            let mut feed: Vec<(u8, Vec<u8>)> = keyed.into_iter().map(|(_, f)| f).collect();
            for d in &dups {
                let f = feed[d.index(feed.len())].clone();
                let at = d.index(feed.len() + 1);
                feed.insert(at, f);
            }
            let mut d = HostDefrag::new();
            let mut seen = std::collections::BTreeSet::new();
            let mut got = Vec::new();
            for (s, part) in &feed {
                let first = seen.insert(*s);
                match d.push(&h(42, n, *s), part) {
                    DefragEvent::Complete(m) => {
                        prop_assert_eq!(seen.len(), usize::from(n));
                        got.push(m.to_vec());
                    }
                    DefragEvent::Pending => prop_assert!(first && seen.len() < usize::from(n)),
                    DefragEvent::Duplicate => prop_assert!(!first),
                    other => prop_assert!(false, "unexpected {:?}", other),
                }
                if seen.len() == usize::from(n) {
                    break;
                }
            }
            prop_assert_eq!(got, vec![msg]);
        }

        /// Arbitrary fragments never make a host hold more than its bound, in messages or bytes.
        #[test]
        fn never_holds_more_than_the_bound(
            frags in proptest::collection::vec(
                (any::<u16>(), 0u8..8, 0u8..8, 0usize..3000), 1..300),
        ) {
            let mut d = HostDefrag::new();
            for (seq, num, s, len) in frags {
                let _ = d.push(&h(seq % 64, num, s), &vec![1u8; len]);
                prop_assert!(d.in_flight() <= DEFRAG_BUFFERS);
                prop_assert!(d.held_bytes() <= HostDefrag::MAX_HELD_BYTES);
            }
        }
    }
}
