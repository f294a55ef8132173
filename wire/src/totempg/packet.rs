//! The totempg packet that fills the payload of one Totem mcast (spec §5.1).

use crate::endian::{Endian, Reader, Writer};
use crate::error::{Error, Result};

/// Size of the fixed part: version, type, fragmented, continuation, msg_count.
pub const HEADER_LEN: usize = 8;

/// A totempg packet, owned.
///
/// `version` and `kind` are kept raw: openais and corosync 1.x never set them, so they carry
/// stack garbage that must survive a round trip. Bytes after the last piece (1.x passes its
/// crypto trailer upward) are kept in `trailer`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Packet {
    pub endian: Endian,
    /// Raw `version` (0 in corosync, garbage in G1).
    pub version: u16,
    /// Raw `type` (garbage in G1, 0 in G3).
    pub kind: u16,
    /// Fragment counter of the last piece when it continues in the next packet, else 0.
    pub fragmented: u8,
    /// The previous packet's `fragmented` when the first piece continues it, else 0.
    pub continuation: u8,
    /// The packed (partial) messages, in order.
    pub pieces: Vec<Vec<u8>>,
    /// Bytes after the last piece; empty in anything a current corosync accepts.
    pub trailer: Vec<u8>,
}

/// The fixed fields and length table of a packet, and a reader at the first piece.
type Opened<'a> = (Reader<'a>, [u16; 2], u8, u8, Vec<usize>);

/// Reads the header and length table, returning the piece lengths and the reader after them.
fn open(buf: &[u8], endian: Endian) -> Result<Opened<'_>> {
    let mut r = Reader::new(buf, endian, "totempg");
    let version = r.u16("version")?;
    let kind = r.u16("type")?;
    let fragmented = r.u8("fragmented")?;
    let continuation = r.u8("continuation")?;
    let count = usize::from(r.u16("msg_count")?);
    if count * 2 > r.remaining() {
        return Err(r.truncated("msg_len", count * 2));
    }
    let mut lens = Vec::with_capacity(count);
    let mut total = 0usize;
    for _ in 0..count {
        let l = usize::from(r.u16("msg_len")?);
        total += l;
        lens.push(l);
    }
    if total > r.remaining() {
        return Err(r.truncated("data", total));
    }
    Ok((r, [version, kind], fragmented, continuation, lens))
}

impl Packet {
    /// A fresh packet as corosync 2.x/3.x writes it (version and type 0), little-endian.
    pub fn new(fragmented: u8, continuation: u8, pieces: Vec<Vec<u8>>) -> Self {
        Packet {
            endian: Endian::Little,
            version: 0,
            kind: 0,
            fragmented,
            continuation,
            pieces,
            trailer: Vec::new(),
        }
    }

    /// Decodes a packet written in byte order `endian` (the SRP layer's).
    pub fn parse(buf: &[u8], endian: Endian) -> Result<Self> {
        let (mut r, [version, kind], fragmented, continuation, lens) = open(buf, endian)?;
        let mut pieces = Vec::with_capacity(lens.len());
        for l in lens {
            pieces.push(r.bytes("data", l)?.to_vec());
        }
        let trailer = r.rest().to_vec();
        Ok(Packet {
            endian,
            version,
            kind,
            fragmented,
            continuation,
            pieces,
            trailer,
        })
    }

    /// Encoded size.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            + 2 * self.pieces.len()
            + self.pieces.iter().map(Vec::len).sum::<usize>()
            + self.trailer.len()
    }

    /// Encodes into `buf`; fails if a piece is longer than 65535 bytes or there are more
    /// than 65535 pieces (the wire fields are u16).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let count = u16::try_from(self.pieces.len()).map_err(|_| Error::Invalid {
            message: "totempg",
            field: "msg_count",
            offset: 6,
            value: self.pieces.len() as u64,
        })?;
        for (i, p) in self.pieces.iter().enumerate() {
            if p.len() > usize::from(u16::MAX) {
                return Err(Error::Invalid {
                    message: "totempg",
                    field: "msg_len",
                    offset: HEADER_LEN + 2 * i,
                    value: p.len() as u64,
                });
            }
        }
        let mut w = Writer::new(buf, self.endian, "totempg", self.buffer_len())?;
        w.u16(self.version);
        w.u16(self.kind);
        w.u8(self.fragmented);
        w.u8(self.continuation);
        w.u16(count);
        for p in &self.pieces {
            w.u16(p.len() as u16);
        }
        for p in &self.pieces {
            w.bytes(p);
        }
        w.bytes(&self.trailer);
        Ok(w.pos())
    }

    /// Whether the packet passes corosync ≥ 2.4.6 / 3.0.3's exact-length check (no trailer).
    pub fn is_exact(&self) -> bool {
        self.trailer.is_empty()
    }
}

/// A zero-copy view of a totempg packet.
#[derive(Debug, Clone)]
pub struct PacketView<'a> {
    buf: &'a [u8],
    endian: Endian,
    lens: Vec<usize>,
}

impl<'a> PacketView<'a> {
    /// Checks the length table against the buffer once; getters cannot fail afterwards.
    pub fn new_checked(buf: &'a [u8], endian: Endian) -> Result<Self> {
        let (_, _, _, _, lens) = open(buf, endian)?;
        Ok(PacketView { buf, endian, lens })
    }
    pub fn endian(&self) -> Endian {
        self.endian
    }
    /// Raw version field.
    pub fn version(&self) -> u16 {
        self.endian.get_u16(self.buf)
    }
    /// Raw type field.
    pub fn kind(&self) -> u16 {
        self.endian.get_u16(&self.buf[2..])
    }
    pub fn fragmented(&self) -> u8 {
        self.buf[4]
    }
    pub fn continuation(&self) -> u8 {
        self.buf[5]
    }
    pub fn msg_count(&self) -> usize {
        self.lens.len()
    }
    /// The piece lengths from the length table.
    pub fn msg_lens(&self) -> &[usize] {
        &self.lens
    }
    /// The packed pieces, in order.
    pub fn pieces(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        let buf = self.buf;
        let mut off = HEADER_LEN + 2 * self.lens.len();
        self.lens.iter().map(move |&l| {
            let s = &buf[off..off + l];
            off += l;
            s
        })
    }
    fn data_end(&self) -> usize {
        HEADER_LEN + 2 * self.lens.len() + self.lens.iter().sum::<usize>()
    }
    /// Bytes after the last piece.
    pub fn trailer(&self) -> &'a [u8] {
        &self.buf[self.data_end()..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{mcast_payload, sample};
    use crate::Generation;
    use proptest::prelude::*;

    // Spec §5.1 layout; the G2 bytes are 2.4.6-udpu-01-formation frame 32: two packed
    // messages of 333 (a cmap sync message, group "a") and 56 (a sync barrier) bytes.
    #[test]
    fn g2_two_pieces() {
        let (p, e) = mcast_payload(&sample("g2_cmap_barrier"), Generation::G2);
        assert_eq!(&p[..12], &[0, 0, 0, 0, 0, 0, 2, 0, 0x4d, 1, 0x38, 0]);
        let v = PacketView::new_checked(&p, e).unwrap();
        assert_eq!(
            (v.version(), v.kind(), v.fragmented(), v.continuation()),
            (0, 0, 0, 0)
        );
        assert_eq!(v.msg_lens(), &[333, 56]);
        let pieces: Vec<_> = v.pieces().collect();
        assert_eq!(&pieces[1][..8], b"\x01\x00\x04\x00sync");
        assert!(v.trailer().is_empty());
        let pkt = Packet::parse(&p, e).unwrap();
        let mut out = vec![0u8; pkt.buffer_len()];
        assert_eq!(pkt.emit(&mut out).unwrap(), p.len());
        assert_eq!(out, p);
    }

    // G1 senders leave version/type uninitialised (findings-old-versions-live §4, §6 item 12):
    // 1.4.10-udpu-01-formation frame 30 has type bytes 3b cb; they must round-trip.
    #[test]
    fn g1_garbage_type_round_trips() {
        let (p, e) = mcast_payload(&sample("g1_clm_nodejoin"), Generation::G1);
        let pkt = Packet::parse(&p, e).unwrap();
        assert_eq!(pkt.version, 0);
        assert_eq!(pkt.kind, 0xcb3b);
        assert_eq!(pkt.pieces.len(), 1);
        assert_eq!(pkt.pieces[0].len(), 397);
        let mut out = vec![0u8; pkt.buffer_len()];
        pkt.emit(&mut out).unwrap();
        assert_eq!(out, p);
    }

    // First fragment of a G3 downlist (mixed capture frame 124): fragmented = 1.
    #[test]
    fn g3_fragment_flags() {
        let (p, e) = mcast_payload(&sample("g3_downlist_1"), Generation::G3);
        let v = PacketView::new_checked(&p, e).unwrap();
        assert_eq!(
            (v.fragmented(), v.continuation(), v.msg_lens()),
            (1, 0, &[1400usize][..])
        );
        let (p, e) = mcast_payload(&sample("g3_downlist_2"), Generation::G3);
        let v = PacketView::new_checked(&p, e).unwrap();
        assert_eq!(
            (v.fragmented(), v.continuation(), v.msg_lens()),
            (0, 1, &[173usize][..])
        );
    }

    #[test]
    fn trailer_is_kept() {
        let buf = [0, 0, 0, 0, 0, 0, 1, 0, 2, 0, 0xaa, 0xbb, 0x00];
        let pkt = Packet::parse(&buf, Endian::Little).unwrap();
        assert_eq!(pkt.pieces, vec![vec![0xaa, 0xbb]]);
        assert_eq!(pkt.trailer, vec![0]);
        assert!(!pkt.is_exact());
        let mut out = [0u8; 13];
        pkt.emit(&mut out).unwrap();
        assert_eq!(out, buf);
    }

    #[test]
    fn truncated_lengths_fail() {
        let buf = [0, 0, 0, 0, 0, 0, 2, 0, 2, 0];
        assert!(matches!(
            Packet::parse(&buf, Endian::Little),
            Err(Error::Truncated {
                field: "msg_len",
                offset: 8,
                need: 4,
                have: 2,
                ..
            })
        ));
        let buf = [0, 0, 0, 0, 0, 0, 1, 0, 5, 0, 1];
        assert!(matches!(
            PacketView::new_checked(&buf, Endian::Little),
            Err(Error::Truncated { field: "data", .. })
        ));
    }

    fn arb_packet() -> impl Strategy<Value = Packet> {
        (
            any::<bool>(),
            any::<u16>(),
            any::<u16>(),
            any::<u8>(),
            any::<u8>(),
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..6),
            proptest::collection::vec(any::<u8>(), 0..3),
        )
            .prop_map(
                |(be, version, kind, fragmented, continuation, pieces, trailer)| Packet {
                    endian: if be { Endian::Big } else { Endian::Little },
                    version,
                    kind,
                    fragmented,
                    continuation,
                    pieces,
                    trailer,
                },
            )
    }

    proptest! {
        #[test]
        fn round_trip(pkt in arb_packet()) {
            let mut a = vec![0u8; pkt.buffer_len()];
            pkt.emit(&mut a).unwrap();
            let back = Packet::parse(&a, pkt.endian).unwrap();
            prop_assert_eq!(&back, &pkt);
            let mut b = vec![0u8; back.buffer_len()];
            back.emit(&mut b).unwrap();
            prop_assert_eq!(a, b);
        }

        #[test]
        fn random_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..200), be: bool) {
            let e = if be { Endian::Big } else { Endian::Little };
            if let Ok(v) = PacketView::new_checked(&buf, e) {
                let _ = (v.version(), v.kind(), v.pieces().count(), v.trailer());
            }
            if let Ok(p) = Packet::parse(&buf, e) {
                let mut out = vec![0u8; p.buffer_len()];
                p.emit(&mut out).unwrap();
                prop_assert_eq!(out, buf);
            }
        }
    }
}
