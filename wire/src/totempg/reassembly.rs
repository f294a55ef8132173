//! Per-sender reassembly of totempg packets into whole messages (spec §5.1, §14 item 10).
//!
//! Pure: no clocks, no I/O. Feed each sender's packets in Totem agreed order.

use std::collections::HashMap;

use super::packet::PacketView;
use super::MESSAGE_SIZE_MAX;
use crate::error::{Error, Result};

/// Counters of what the reassembler has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReassemblyStats {
    /// Packets fed.
    pub packets: u64,
    /// Whole messages handed out.
    pub delivered: u64,
    /// Packets whose `continuation` did not match the sender's last `fragmented`.
    pub discontinuities: u64,
    /// Packets dropped in throw-away mode.
    pub thrown_away: u64,
    /// Messages that grew past [`MESSAGE_SIZE_MAX`].
    pub oversize: u64,
}

/// One sender's partial message.
#[derive(Debug, Clone, Default)]
struct Assembly {
    data: Vec<u8>,
    last_frag: u8,
    throw_away: bool,
}

/// Reassembles messages from every sender of a ring.
///
/// Rules (corosync exec/totempg.c, as described in spec §5.1): a packet whose `continuation`
/// differs from the sender's last `fragmented` value switches the sender to throw-away mode;
/// every packet is then dropped until, and including, one with `fragmented` ∈ {0, 1}. Where
/// that last packet ends in a fragment that starts a message, the fragment is kept (corosync's
/// own buffer index is inconsistent in that corner; we choose the usable reading).
#[derive(Debug, Clone, Default)]
pub struct Reassembler {
    senders: HashMap<u32, Assembly>,
    stats: ReassemblyStats,
}

impl Reassembler {
    /// An empty reassembler.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counters so far.
    pub fn stats(&self) -> ReassemblyStats {
        self.stats
    }

    /// Bytes buffered for `nodeid`'s unfinished message.
    pub fn pending_len(&self, nodeid: u32) -> usize {
        self.senders.get(&nodeid).map_or(0, |a| a.data.len())
    }

    /// Whether `nodeid` is in throw-away mode.
    pub fn is_throwing_away(&self, nodeid: u32) -> bool {
        self.senders.get(&nodeid).is_some_and(|a| a.throw_away)
    }

    /// Forgets a sender (it left the ring).
    pub fn reset_sender(&mut self, nodeid: u32) {
        self.senders.remove(&nodeid);
    }

    /// Forgets every sender.
    pub fn clear(&mut self) {
        self.senders.clear();
    }

    /// Feeds one packet from `nodeid`, appending every message it completes to `out`.
    ///
    /// Messages completed before an error stay in `out`. Errors: a fragmented packet without
    /// pieces, or a message longer than [`MESSAGE_SIZE_MAX`]; either resets the sender.
    pub fn feed(
        &mut self,
        nodeid: u32,
        pkt: &PacketView<'_>,
        out: &mut Vec<Vec<u8>>,
    ) -> Result<()> {
        self.stats.packets += 1;
        let stats = &mut self.stats;
        let a = self.senders.entry(nodeid).or_default();
        let (frag, cont, n) = (pkt.fragmented(), pkt.continuation(), pkt.msg_count());

        if frag != 0 && n == 0 {
            *a = Assembly::default();
            return Err(Error::Invalid {
                message: "totempg",
                field: "msg_count",
                offset: 6,
                value: 0,
            });
        }
        if !a.throw_away && cont != a.last_frag {
            stats.discontinuities += 1;
            a.throw_away = true;
        }
        if a.throw_away {
            stats.thrown_away += 1;
            if frag <= 1 {
                *a = Assembly::default();
                if frag == 1 {
                    if n > 1 || cont == 0 {
                        a.data = pkt.pieces().last().unwrap_or_default().to_vec();
                        a.last_frag = 1;
                    } else {
                        a.throw_away = true;
                    }
                }
            }
            return Ok(());
        }

        let complete = if frag != 0 { n - 1 } else { n };
        for (i, piece) in pkt.pieces().enumerate() {
            if a.data.len() + piece.len() > MESSAGE_SIZE_MAX {
                stats.oversize += 1;
                let value = (a.data.len() + piece.len()) as u64;
                *a = Assembly::default();
                return Err(Error::Invalid {
                    message: "totempg",
                    field: "reassembled length",
                    offset: 0,
                    value,
                });
            }
            a.data.extend_from_slice(piece);
            if i < complete {
                out.push(std::mem::take(&mut a.data));
                stats.delivered += 1;
            }
        }
        if frag == 0 {
            a.data.clear();
        }
        a.last_frag = frag;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endian::Endian;
    use crate::testdata::{mcast_payload, sample};
    use crate::totempg::Packet;
    use crate::Generation;

    fn feed(r: &mut Reassembler, node: u32, pkt: &Packet) -> Result<Vec<Vec<u8>>> {
        let mut buf = vec![0u8; pkt.buffer_len()];
        pkt.emit(&mut buf).unwrap();
        let v = PacketView::new_checked(&buf, pkt.endian).unwrap();
        let mut out = Vec::new();
        r.feed(node, &v, &mut out).map(|_| out)
    }

    /// A real CPG downlist split in two packets reassembles to 1568 bytes of service payload
    /// plus the 5-byte group header "a" (spec §9.1 size 1568; findings-old-versions-live §4
    /// "fragments 1260+313" for 2.4.6, "1364+209" for 1.4.10; corosync3-live §5.3 "1395+173").
    #[test]
    fn real_downlist_fragments() {
        for (gen, name, first) in [
            (Generation::G1, "g1_downlist", 1364),
            (Generation::G2, "g2_downlist", 1260),
            (Generation::G3, "g3_downlist", 1400),
        ] {
            let mut r = Reassembler::new();
            let mut out = Vec::new();
            for part in ["_1", "_2"] {
                let (p, e) = mcast_payload(&sample(&format!("{name}{part}")), gen);
                let v = PacketView::new_checked(&p, e).unwrap();
                r.feed(7, &v, &mut out).unwrap();
                if part == "_1" {
                    assert!(out.is_empty());
                    assert_eq!(r.pending_len(7), first);
                }
            }
            assert_eq!(out.len(), 1, "{gen}");
            let m = &out[0];
            assert_eq!(m.len(), 5 + 1568, "{gen}");
            assert_eq!(&m[..5], b"\x01\x00\x01\x00a");
            // Service header: G1 size@0 id@8 (service 8 fn 5); G2/G3 id@0 (service 2 fn 5) size@8.
            let (id, size) = if gen == Generation::G1 {
                (&m[13..17], &m[5..9])
            } else {
                (&m[5..9], &m[13..17])
            };
            let svc: u32 = if gen == Generation::G1 { 8 } else { 2 };
            assert_eq!(u32::from_le_bytes(id.try_into().unwrap()), (svc << 16) | 5);
            assert_eq!(u32::from_le_bytes(size.try_into().unwrap()), 1568);
            assert_eq!(r.pending_len(7), 0);
        }
    }

    #[test]
    fn continuation_mismatch_throws_away_until_frag_0_or_1() {
        let mut r = Reassembler::new();
        // Node joins mid-chain: a continuation with nothing before it.
        let p = Packet::new(2, 1, vec![vec![1; 10]]);
        assert!(feed(&mut r, 1, &p).unwrap().is_empty());
        assert!(r.is_throwing_away(1));
        let p = Packet::new(3, 2, vec![vec![2; 10], vec![3; 4]]);
        assert!(feed(&mut r, 1, &p).unwrap().is_empty());
        // fragmented = 0 ends throw-away; that packet is dropped too (corosync does).
        let p = Packet::new(0, 3, vec![vec![4; 3], vec![5; 2]]);
        assert!(feed(&mut r, 1, &p).unwrap().is_empty());
        assert!(!r.is_throwing_away(1));
        let p = Packet::new(0, 0, vec![vec![6; 2]]);
        assert_eq!(feed(&mut r, 1, &p).unwrap(), vec![vec![6; 2]]);
        let s = r.stats();
        assert_eq!((s.discontinuities, s.thrown_away, s.delivered), (1, 3, 1));
    }

    #[test]
    fn senders_are_independent_and_counter_wraps() {
        let mut r = Reassembler::new();
        assert!(feed(&mut r, 1, &Packet::new(255, 0, vec![vec![1; 3]]))
            .unwrap()
            .is_empty());
        assert_eq!(
            feed(&mut r, 2, &Packet::new(0, 0, vec![vec![9]])).unwrap(),
            vec![vec![9]]
        );
        // 255 is followed by 1 (0 is skipped).
        assert!(feed(&mut r, 1, &Packet::new(1, 255, vec![vec![2; 3]]))
            .unwrap()
            .is_empty());
        let out = feed(&mut r, 1, &Packet::new(0, 1, vec![vec![3], vec![4, 4]])).unwrap();
        assert_eq!(out, vec![vec![1, 1, 1, 2, 2, 2, 3], vec![4, 4]]);
    }

    #[test]
    fn oversize_is_an_error_and_resets() {
        let mut r = Reassembler::new();
        let chunk = vec![0u8; 60000];
        let mut frag = 1u8;
        let mut cont = 0u8;
        let mut err = None;
        for _ in 0..20 {
            match feed(&mut r, 4, &Packet::new(frag, cont, vec![chunk.clone()])) {
                Ok(out) => assert!(out.is_empty()),
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
            cont = frag;
            frag += 1;
        }
        assert!(matches!(
            err,
            Some(Error::Invalid {
                field: "reassembled length",
                ..
            })
        ));
        assert_eq!(r.stats().oversize, 1);
        assert_eq!(r.pending_len(4), 0);
        // The next continuation no longer matches: thrown away, not appended.
        assert!(feed(&mut r, 4, &Packet::new(0, frag, vec![vec![1]]))
            .unwrap()
            .is_empty());
        assert_eq!(r.stats().discontinuities, 1);
        let _ = Endian::Little;
    }

    #[test]
    fn fragmented_without_pieces_is_rejected() {
        let mut r = Reassembler::new();
        assert!(feed(&mut r, 1, &Packet::new(1, 0, vec![])).is_err());
    }
}
