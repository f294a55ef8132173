//! The send side of totempg: packing messages into packets and fragmenting large ones.

use super::packet::{Packet, HEADER_LEN};
use super::MESSAGE_SIZE_MAX;
use crate::endian::Endian;
use crate::error::{Error, Result};

/// Smallest usable net_mtu: header, one length and one data byte.
pub const NET_MTU_MIN: usize = HEADER_LEN + 3;

/// Packs messages into totempg packets of at most `net_mtu` bytes.
///
/// Budget (findings-old-versions-live §6 item 11, which corrects spec §5.1): a packet holding
/// k pieces carries at most net_mtu − 8 − 2·k data bytes, so a packet with one fragment is
/// exactly net_mtu long (2.4.6: 1270 = 8 + 2 + 1260). Fragment counters run 1..=255 and skip
/// 0; a packet's `continuation` is the previous packet's `fragmented`.
#[derive(Debug, Clone)]
pub struct Fragmenter {
    net_mtu: usize,
    endian: Endian,
    next_fragment: u8,
    /// `continuation` for the packet being filled.
    continuation: u8,
    pieces: Vec<Vec<u8>>,
    data_len: usize,
}

impl Fragmenter {
    /// A fragmenter for a data budget of `net_mtu` bytes per packet (little-endian output).
    pub fn new(net_mtu: usize) -> Result<Self> {
        if net_mtu < NET_MTU_MIN {
            return Err(Error::Invalid {
                message: "totempg",
                field: "net_mtu",
                offset: 0,
                value: net_mtu as u64,
            });
        }
        Ok(Fragmenter {
            net_mtu,
            endian: Endian::Little,
            next_fragment: 1,
            continuation: 0,
            pieces: Vec::new(),
            data_len: 0,
        })
    }

    /// Writes packets in byte order `endian` instead.
    pub fn with_endian(mut self, endian: Endian) -> Self {
        self.endian = endian;
        self
    }

    /// The per-packet budget this fragmenter fills up to.
    pub fn net_mtu(&self) -> usize {
        self.net_mtu
    }

    /// Whether messages are waiting for [`Fragmenter::flush`].
    pub fn has_pending(&self) -> bool {
        !self.pieces.is_empty()
    }

    fn close(&mut self, fragmented: u8) -> Packet {
        let mut p = Packet::new(
            fragmented,
            self.continuation,
            std::mem::take(&mut self.pieces),
        );
        p.endian = self.endian;
        self.data_len = 0;
        self.continuation = fragmented;
        p
    }

    fn take_fragment_number(&mut self) -> u8 {
        let n = self.next_fragment;
        self.next_fragment = match n.wrapping_add(1) {
            0 => 1,
            v => v,
        };
        n
    }

    /// Data bytes the open packet can still take if one more piece is added; `None` when
    /// not even the piece's length field fits.
    fn room(&self) -> Option<usize> {
        let pieces = self.pieces.len() + 1;
        if pieces > usize::from(u16::MAX) {
            return None;
        }
        self.net_mtu
            .checked_sub(HEADER_LEN + 2 * pieces + self.data_len)
    }

    /// Adds one message; every packet that fills up is appended to `out`. The last,
    /// partly filled packet stays open until [`Fragmenter::flush`] (corosync flushes when
    /// the token arrives).
    pub fn push(&mut self, msg: &[u8], out: &mut Vec<Packet>) -> Result<()> {
        if msg.len() > MESSAGE_SIZE_MAX {
            return Err(Error::Invalid {
                message: "totempg",
                field: "message length",
                offset: 0,
                value: msg.len() as u64,
            });
        }
        let mut rest = msg;
        loop {
            let room = self.room().unwrap_or(0);
            if self.room().is_some_and(|r| rest.len() <= r) {
                self.pieces.push(rest.to_vec());
                self.data_len += rest.len();
                return Ok(());
            }
            if room == 0 {
                // Full: send what we have (it ends on a complete message).
                out.push(self.close(0));
                continue;
            }
            self.pieces.push(rest[..room].to_vec());
            self.data_len += room;
            rest = &rest[room..];
            let n = self.take_fragment_number();
            out.push(self.close(n));
        }
    }

    /// Closes the open packet, if any, and appends it to `out`.
    pub fn flush(&mut self, out: &mut Vec<Packet>) {
        if self.has_pending() {
            out.push(self.close(0));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::totempg::{PacketView, Reassembler};
    use proptest::prelude::*;

    fn bytes(p: &Packet) -> Vec<u8> {
        let mut b = vec![0u8; p.buffer_len()];
        p.emit(&mut b).unwrap();
        b
    }

    /// 2.4.6 sends a 1568+5-byte downlist with net_mtu 1270 as 1260 + 313 (findings-old §4,
    /// §6 item 11); 1.4.10 with net_mtu 1374 as 1364 + 209.
    #[test]
    fn matches_corosync_split() {
        for (mtu, first, second) in [(1270, 1260, 313), (1374, 1364, 209)] {
            let mut f = Fragmenter::new(mtu).unwrap();
            let mut out = Vec::new();
            f.push(&[0u8; 1573], &mut out).unwrap();
            f.flush(&mut out);
            assert_eq!(out.len(), 2);
            assert_eq!(out[0].pieces[0].len(), first);
            assert_eq!(bytes(&out[0]).len(), mtu);
            assert_eq!((out[0].fragmented, out[0].continuation), (1, 0));
            assert_eq!(out[1].pieces[0].len(), second);
            assert_eq!((out[1].fragmented, out[1].continuation), (0, 1));
        }
    }

    #[test]
    fn packs_small_messages() {
        let mut f = Fragmenter::new(1270).unwrap();
        let mut out = Vec::new();
        f.push(&[1; 333], &mut out).unwrap();
        f.push(&[2; 56], &mut out).unwrap();
        assert!(out.is_empty());
        f.flush(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].pieces.len(), 2);
        f.flush(&mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn counter_skips_zero() {
        let mut f = Fragmenter::new(NET_MTU_MIN).unwrap();
        let mut out = Vec::new();
        f.push(&[7u8; 300], &mut out).unwrap();
        f.flush(&mut out);
        assert_eq!(out.len(), 300);
        assert_eq!(out[254].fragmented, 255);
        assert_eq!(out[255].continuation, 255);
        assert_eq!(out[255].fragmented, 1);
        assert!(out[..299].iter().all(|p| p.fragmented != 0));
        assert_eq!(out[299].fragmented, 0);
    }

    #[test]
    fn rejects_tiny_mtu_and_huge_messages() {
        assert!(Fragmenter::new(NET_MTU_MIN - 1).is_err());
        let mut f = Fragmenter::new(1500).unwrap();
        assert!(f
            .push(&vec![0; MESSAGE_SIZE_MAX + 1], &mut Vec::new())
            .is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn fragment_then_reassemble(
            sizes in proptest::collection::vec(
                prop_oneof![0usize..300, 300usize..5000, 5000usize..=MESSAGE_SIZE_MAX], 1..6),
            mtu in prop_oneof![NET_MTU_MIN..64usize, 64..9000usize],
            be: bool,
            seed: u8,
        ) {
            let e = if be { Endian::Big } else { Endian::Little };
            let msgs: Vec<Vec<u8>> = sizes.iter().enumerate()
                .map(|(i, &n)| (0..n).map(|j| (j as u8) ^ (i as u8).wrapping_add(seed)).collect())
                .collect();
            // Keep each case under ~20000 packets so tiny MTUs stay fast.
            let total: usize = sizes.iter().sum();
            let mtu = mtu.max(total / 20_000 + NET_MTU_MIN);
            let mut f = Fragmenter::new(mtu).unwrap().with_endian(e);
            let mut packets = Vec::new();
            for m in &msgs {
                f.push(m, &mut packets).unwrap();
            }
            f.flush(&mut packets);
            let mut r = Reassembler::new();
            let mut got = Vec::new();
            for p in &packets {
                let b = bytes(p);
                prop_assert!(b.len() <= mtu);
                let v = PacketView::new_checked(&b, e).unwrap();
                r.feed(3, &v, &mut got).unwrap();
            }
            prop_assert_eq!(got.len(), msgs.len());
            prop_assert!(got == msgs);
            prop_assert_eq!(r.stats().discontinuities, 0);
        }
    }
}
