//! What two gateway ports of the multiple-ring protocol say to each other over a WAN link
//! (ours; `totem::mrp::port`): a handshake in the clear, then frames, each sealed on the
//! link (the sealing is the gateway's; this module is the plaintext).
//!
//! Handshake (52 bytes, sent by both sides first):
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 12 | `TOTEM-MRP-WN` |
//! | 12 | 2 | version (1), in the sender's byte order |
//! | 14 | 2 | zero |
//! | 16 | 32 | the sender's random nonce (both nonces salt the link keys) |
//! | 48 | 4 | the sender's ring number |
//!
//! Frame (after unsealing): magic `0x4c4b` in the sender's byte order (2), kind (1), zero
//! (1), then by kind: `Hello` the sender's clock (u64), a count of origins (u16) and per
//! origin its number (u32), a count of path hops (u16) and the hops `(ring, node)` (u32
//! each); `Element` an element (`crate::mrp`) to the end; `Groups` a count (u16) and per
//! group its name length (u16) and name; `Heartbeat` nothing.

use crate::endian::{Endian, Reader, Writer};
use crate::error::{Error, Result};
use crate::mrp::MAX_GROUP;

/// The handshake's first bytes.
pub const HANDSHAKE_MAGIC: &[u8; 12] = b"TOTEM-MRP-WN";
/// Size of the handshake.
pub const HANDSHAKE_LEN: usize = 52;
/// The only link version.
pub const LINK_VERSION: u16 = 1;
/// A frame's magic as a little-endian sender writes it (`4b 4c`).
pub const FRAME_MAGIC: u16 = 0x4c4b;
/// Size of a frame's header.
pub const FRAME_HEADER_LEN: usize = 4;
const NAME: &str = "mrp link frame";

/// The clear-text opening of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake {
    pub nonce: [u8; 32],
    pub ring: u32,
}

impl Handshake {
    /// Decodes a handshake (either byte order).
    pub fn parse(buf: &[u8]) -> Result<Self> {
        if buf.len() < HANDSHAKE_LEN {
            return Err(Error::Truncated {
                message: "mrp link handshake",
                field: "handshake",
                offset: 0,
                need: HANDSHAKE_LEN,
                have: buf.len(),
            });
        }
        if &buf[..12] != HANDSHAKE_MAGIC {
            return Err(Error::Invalid {
                message: "mrp link handshake",
                field: "magic",
                offset: 0,
                value: u64::from(buf[0]),
            });
        }
        let endian = if buf[12] == 0 && buf[13] != 0 {
            Endian::Big
        } else {
            Endian::Little
        };
        let mut r = Reader::new(&buf[12..HANDSHAKE_LEN], endian, "mrp link handshake");
        let v = r.u16("version")?;
        if v != LINK_VERSION {
            return Err(r.invalid("version", 12, u64::from(v)));
        }
        let z = r.u16("reserved")?;
        if z != 0 {
            return Err(r.invalid("reserved", 14, u64::from(z)));
        }
        let nonce = r.array::<32>("nonce")?;
        let ring = r.u32("ring")?;
        Ok(Handshake { nonce, ring })
    }

    /// Encodes little-endian.
    pub fn to_bytes(&self) -> [u8; HANDSHAKE_LEN] {
        let mut b = [0u8; HANDSHAKE_LEN];
        b[..12].copy_from_slice(HANDSHAKE_MAGIC);
        b[12..14].copy_from_slice(&LINK_VERSION.to_le_bytes());
        b[16..48].copy_from_slice(&self.nonce);
        b[48..52].copy_from_slice(&self.ring.to_le_bytes());
        b
    }
}

/// An origin and the gateway path it is reached through.
pub type OriginPath = (u32, Vec<(u32, u32)>);

/// One message of the link, in the order sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkMsg {
    /// Sent first on every connection: the origins on the sender's side and the gateway
    /// path each is reached through from there, and the sender's Lamport clock (both sides
    /// stamp their `Attach` above both clocks).
    Hello {
        origins: Vec<OriginPath>,
        clock: u64,
    },
    /// An element of the sender's side, keyed and flagged forwarded.
    Element(Vec<u8>),
    /// Groups with members on the sender's side (replaces the previous set).
    Groups(Vec<Vec<u8>>),
    /// The link is alive (no port sees it).
    Heartbeat,
}

const HELLO: u8 = 1;
const ELEMENT: u8 = 2;
const GROUPS: u8 = 3;
const HEARTBEAT: u8 = 4;

fn count(field: &'static str, n: usize) -> Result<u16> {
    u16::try_from(n).map_err(|_| Error::Invalid {
        message: NAME,
        field,
        offset: 0,
        value: n as u64,
    })
}

impl LinkMsg {
    /// Decodes a frame (either byte order, told by the magic).
    pub fn parse(buf: &[u8]) -> Result<Self> {
        if buf.len() < FRAME_HEADER_LEN {
            return Err(Error::Truncated {
                message: NAME,
                field: "header",
                offset: 0,
                need: FRAME_HEADER_LEN,
                have: buf.len(),
            });
        }
        let endian = match [buf[0], buf[1]] {
            [0x4b, 0x4c] => Endian::Little,
            [0x4c, 0x4b] => Endian::Big,
            _ => {
                return Err(Error::Invalid {
                    message: NAME,
                    field: "magic",
                    offset: 0,
                    value: u64::from(u16::from_le_bytes([buf[0], buf[1]])),
                })
            }
        };
        let mut r = Reader::new(buf, endian, NAME);
        r.u16("magic")?;
        let kind = r.u8("kind")?;
        let z = r.u8("reserved")?;
        if z != 0 {
            return Err(r.invalid("reserved", 3, u64::from(z)));
        }
        let m = match kind {
            HELLO => {
                let clock = r.u64("clock")?;
                let n = usize::from(r.u16("origins")?);
                // Each origin takes at least 6 bytes: no allocation beyond what is there.
                if n * 6 > r.remaining() {
                    return Err(r.truncated("origins", n * 6));
                }
                let mut origins = Vec::with_capacity(n);
                for _ in 0..n {
                    let o = r.u32("origin")?;
                    let hops = usize::from(r.u16("path")?);
                    if hops * 8 > r.remaining() {
                        return Err(r.truncated("path", hops * 8));
                    }
                    let path = (0..hops)
                        .map(|_| Ok((r.u32("hop ring")?, r.u32("hop node")?)))
                        .collect::<Result<Vec<_>>>()?;
                    origins.push((o, path));
                }
                LinkMsg::Hello { origins, clock }
            }
            ELEMENT => return Ok(LinkMsg::Element(r.rest().to_vec())),
            GROUPS => {
                let n = usize::from(r.u16("groups")?);
                if n * 2 > r.remaining() {
                    return Err(r.truncated("groups", n * 2));
                }
                let mut groups = Vec::with_capacity(n);
                for _ in 0..n {
                    let at = r.pos();
                    let len = usize::from(r.u16("group name length")?);
                    if len > MAX_GROUP {
                        return Err(r.invalid("group name length", at, len as u64));
                    }
                    groups.push(r.bytes("group name", len)?.to_vec());
                }
                LinkMsg::Groups(groups)
            }
            HEARTBEAT => LinkMsg::Heartbeat,
            k => return Err(r.invalid("kind", 2, u64::from(k))),
        };
        if r.remaining() != 0 {
            return Err(r.invalid("trailing bytes", r.pos(), r.remaining() as u64));
        }
        Ok(m)
    }

    /// Encoded size.
    pub fn buffer_len(&self) -> usize {
        FRAME_HEADER_LEN
            + match self {
                LinkMsg::Hello { origins, .. } => {
                    8 + 2 + origins.iter().map(|(_, p)| 6 + 8 * p.len()).sum::<usize>()
                }
                LinkMsg::Element(e) => e.len(),
                LinkMsg::Groups(g) => 2 + g.iter().map(|n| 2 + n.len()).sum::<usize>(),
                LinkMsg::Heartbeat => 0,
            }
    }

    /// Encodes little-endian into `buf`; refuses lists and names over their limits.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let mut w = Writer::new(buf, Endian::Little, NAME, self.buffer_len())?;
        w.u16(FRAME_MAGIC);
        match self {
            LinkMsg::Hello { origins, clock } => {
                w.u8(HELLO);
                w.u8(0);
                w.u64(*clock);
                w.u16(count("origins", origins.len())?);
                for (o, path) in origins {
                    w.u32(*o);
                    w.u16(count("path", path.len())?);
                    for (ring, node) in path {
                        w.u32(*ring);
                        w.u32(*node);
                    }
                }
            }
            LinkMsg::Element(e) => {
                w.u8(ELEMENT);
                w.u8(0);
                w.bytes(e);
            }
            LinkMsg::Groups(groups) => {
                w.u8(GROUPS);
                w.u8(0);
                w.u16(count("groups", groups.len())?);
                for g in groups {
                    if g.len() > MAX_GROUP {
                        return Err(Error::Invalid {
                            message: NAME,
                            field: "group name length",
                            offset: w.pos(),
                            value: g.len() as u64,
                        });
                    }
                    w.u16(g.len() as u16);
                    w.bytes(g);
                }
            }
            LinkMsg::Heartbeat => {
                w.u8(HEARTBEAT);
                w.u8(0);
            }
        }
        Ok(w.pos())
    }

    /// Encodes into a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        let mut v = vec![0u8; self.buffer_len()];
        let n = self.emit(&mut v)?;
        v.truncate(n);
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_hello_by_hand() {
        let m = LinkMsg::Hello {
            origins: vec![(1, vec![(0, 7)])],
            clock: 0x0102,
        };
        let b = m.to_vec().unwrap();
        assert_eq!(
            b,
            [
                0x4b, 0x4c, 1, 0, // magic, kind, zero
                2, 1, 0, 0, 0, 0, 0, 0, // clock
                1, 0, // one origin
                1, 0, 0, 0, 1, 0, // origin 1, one hop
                0, 0, 0, 0, 7, 0, 0, 0, // (ring 0, node 7)
            ]
        );
        assert_eq!(LinkMsg::parse(&b).unwrap(), m);
    }

    #[test]
    fn a_big_endian_sender_is_read() {
        let b = [0x4c, 0x4b, 3, 0, 0, 1, 0, 2, b'g', b'h'];
        assert_eq!(
            LinkMsg::parse(&b).unwrap(),
            LinkMsg::Groups(vec![b"gh".to_vec()])
        );
    }

    #[test]
    fn bad_frames_are_refused_by_field() {
        let e = LinkMsg::parse(&[0x4b, 0x4c, 9, 0]).unwrap_err();
        assert!(e.to_string().contains("kind"), "{e}");
        let e = LinkMsg::parse(&[0, 0, 1, 0]).unwrap_err();
        assert!(e.to_string().contains("magic"), "{e}");
        let e = LinkMsg::parse(&[0x4b, 0x4c, 3, 0, 0xff, 0xff]).unwrap_err();
        assert!(e.to_string().contains("groups"), "{e}");
        let e = LinkMsg::parse(&[0x4b, 0x4c, 4, 0, 1]).unwrap_err();
        assert!(e.to_string().contains("trailing"), "{e}");
        let long = LinkMsg::Groups(vec![vec![b'x'; MAX_GROUP + 1]]);
        assert!(long.to_vec().is_err());
    }

    #[test]
    fn handshakes_round_trip_and_refuse_strangers() {
        let h = Handshake {
            nonce: [7; 32],
            ring: 3,
        };
        let b = h.to_bytes();
        assert_eq!(Handshake::parse(&b).unwrap(), h);
        let mut bad = b;
        bad[0] = b'X';
        assert!(Handshake::parse(&bad).is_err());
        let mut v2 = b;
        v2[12] = 2;
        assert!(Handshake::parse(&v2)
            .unwrap_err()
            .to_string()
            .contains("version"));
        assert!(Handshake::parse(&b[..51]).is_err());
    }

    fn arb_msg() -> impl Strategy<Value = LinkMsg> {
        prop_oneof![
            (
                proptest::collection::vec(
                    (
                        any::<u32>(),
                        proptest::collection::vec((any::<u32>(), any::<u32>()), 0..4)
                    ),
                    0..5
                ),
                any::<u64>()
            )
                .prop_map(|(origins, clock)| LinkMsg::Hello { origins, clock }),
            proptest::collection::vec(any::<u8>(), 0..200).prop_map(LinkMsg::Element),
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..MAX_GROUP), 0..6)
                .prop_map(LinkMsg::Groups),
            Just(LinkMsg::Heartbeat),
        ]
    }

    proptest! {
        #[test]
        fn frames_round_trip(m in arb_msg()) {
            let b = m.to_vec().unwrap();
            prop_assert_eq!(b.len(), m.buffer_len());
            let back = LinkMsg::parse(&b).unwrap();
            prop_assert_eq!(back.to_vec().unwrap(), b);
            prop_assert_eq!(back, m);
        }

        #[test]
        fn garbage_never_panics(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(m) = LinkMsg::parse(&b) {
                // What parses re-encodes to the same bytes when it was little-endian.
                if b.starts_with(&[0x4b, 0x4c]) {
                    prop_assert_eq!(m.to_vec().unwrap(), b.clone());
                }
            }
            let _ = Handshake::parse(&b);
        }
    }
}
