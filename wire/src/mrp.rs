//! Elements of the multiple-ring protocol: what our nodes send inside a ring's agreed
//! order when rings are joined by gateways (`totem::mrp`).
//!
//! Every element carries a Lamport timestamp and, once it has been ordered in its ring of
//! origin, that ring's position (ring seq and Totem seq); `(ts, origin, ring_seq, seq)` is
//! its place in the one global order. A gateway forwards elements unchanged apart from the
//! `forwarded` flag and the position, so a node on any ring sees the same key.
//!
//! Layout (36-byte header, then the group name, then a body that depends on the kind):
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 2 | magic `0x4d52`, in the sender's byte order |
//! | 2 | 1 | version (1) |
//! | 3 | 1 | kind ([`Kind`]) |
//! | 4 | 1 | flags: bit 0 forwarded; the rest zero |
//! | 5 | 1 | zero |
//! | 6 | 2 | group name length |
//! | 8 | 4 | origin ring |
//! | 12 | 4 | sender nodeid |
//! | 16 | 8 | timestamp |
//! | 24 | 8 | origin ring seq (0 until ordered) |
//! | 32 | 4 | origin Totem seq (0 until ordered) |
//!
//! Bodies: `Data` the payload; `Attach`/`Detach` a count of path hops `(ring, node)`, the
//! hops, a count of origins and the origins (u16 counts, u32 values); `RingConfig` a count
//! and the members; the others nothing (`Skip` keeps the group of the data it stands for).

use crate::endian::{Endian, Reader, Writer};
use crate::error::{Error, Result};

/// The magic as a little-endian sender writes it (`52 4d`).
pub const MAGIC: u16 = 0x4d52;
/// The only version.
pub const VERSION: u8 = 1;
/// Size of the fixed header.
pub const HEADER_LEN: usize = 36;
/// Longest group name (CPG's limit).
pub const MAX_GROUP: usize = 128;
const FLAG_FORWARDED: u8 = 1;
const NAME: &str = "mrp element";

/// What an element is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// An application message to a group.
    Data = 1,
    /// Advances its ring's place in the global order and carries nothing.
    Null = 2,
    /// A member's clock at the start of a configuration (never forwarded).
    Clock = 3,
    /// Origins that became reachable through a gateway.
    Attach = 4,
    /// Origins no longer reachable.
    Detach = 5,
    /// A ring's regular configuration, placed in the global order.
    RingConfig = 6,
    /// The sender joined a group.
    Join = 7,
    /// The sender left a group.
    Leave = 8,
    /// Stands for a data element a gateway did not forward (its group has no members
    /// beyond): it keeps the key and group, not the payload.
    Skip = 9,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Data,
        Kind::Null,
        Kind::Clock,
        Kind::Attach,
        Kind::Detach,
        Kind::RingConfig,
        Kind::Join,
        Kind::Leave,
        Kind::Skip,
    ];
    fn from_u8(v: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| *k as u8 == v)
    }
}

/// An element's place in the global order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Key {
    pub ts: u64,
    pub origin: u32,
    pub ring_seq: u64,
    pub seq: u32,
}

/// What follows the group name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Body {
    /// `Data`: the payload.
    Payload(Vec<u8>),
    /// `Attach` / `Detach`: the gateways the origins are reached through, and the origins.
    Origins {
        path: Vec<(u32, u32)>,
        origins: Vec<u32>,
    },
    /// `RingConfig`: the members.
    Members(Vec<u32>),
    /// Every other kind.
    Empty,
}

/// An element, owned.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Element {
    pub endian: Endian,
    pub kind: Kind,
    pub forwarded: bool,
    pub origin: u32,
    pub sender: u32,
    pub ts: u64,
    pub ring_seq: u64,
    pub seq: u32,
    pub group: Vec<u8>,
    pub body: Body,
}

/// Reads and checks the header; returns the reader at the group name.
fn header(buf: &[u8]) -> Result<(Reader<'_>, Kind, u8, usize)> {
    let endian = match buf.get(..2) {
        Some([0x52, 0x4d]) => Endian::Little,
        Some([0x4d, 0x52]) => Endian::Big,
        Some(b) => {
            return Err(Error::Invalid {
                message: NAME,
                field: "magic",
                offset: 0,
                value: u64::from(u16::from_le_bytes([b[0], b[1]])),
            })
        }
        None => {
            return Err(Error::Truncated {
                message: NAME,
                field: "magic",
                offset: 0,
                need: 2,
                have: buf.len(),
            })
        }
    };
    if buf.len() < HEADER_LEN {
        return Err(Error::Truncated {
            message: NAME,
            field: "header",
            offset: 0,
            need: HEADER_LEN,
            have: buf.len(),
        });
    }
    let mut r = Reader::new(buf, endian, NAME);
    r.u16("magic")?;
    let v = r.u8("version")?;
    if v != VERSION {
        return Err(r.invalid("version", 2, u64::from(v)));
    }
    let k = r.u8("kind")?;
    let kind = Kind::from_u8(k).ok_or_else(|| r.invalid("kind", 3, u64::from(k)))?;
    let flags = r.u8("flags")?;
    if flags & !FLAG_FORWARDED != 0 {
        return Err(r.invalid("flags", 4, u64::from(flags)));
    }
    let z = r.u8("reserved")?;
    if z != 0 {
        return Err(r.invalid("reserved", 5, u64::from(z)));
    }
    let glen = usize::from(r.u16("group name length")?);
    if glen > MAX_GROUP {
        return Err(r.invalid("group name length", 6, glen as u64));
    }
    if glen > buf.len() - HEADER_LEN {
        return Err(Error::Truncated {
            message: NAME,
            field: "group name",
            offset: HEADER_LEN,
            need: glen,
            have: buf.len() - HEADER_LEN,
        });
    }
    Ok((r, kind, flags, glen))
}

fn u32_list(r: &mut Reader<'_>, field: &'static str) -> Result<Vec<u32>> {
    let n = usize::from(r.u16(field)?);
    if n * 4 > r.remaining() {
        return Err(r.truncated(field, n * 4));
    }
    (0..n).map(|_| r.u32(field)).collect()
}

fn body_of(kind: Kind, r: &mut Reader<'_>) -> Result<Body> {
    let body = match kind {
        Kind::Data => return Ok(Body::Payload(r.rest().to_vec())),
        Kind::Attach | Kind::Detach => {
            let hops = u32_list(r, "path")?;
            if hops.len() % 2 != 0 {
                return Err(r.invalid("path", HEADER_LEN, hops.len() as u64));
            }
            let path = hops.chunks(2).map(|c| (c[0], c[1])).collect();
            Body::Origins {
                path,
                origins: u32_list(r, "origins")?,
            }
        }
        Kind::RingConfig => Body::Members(u32_list(r, "members")?),
        Kind::Null | Kind::Clock | Kind::Join | Kind::Leave | Kind::Skip => Body::Empty,
    };
    if r.remaining() != 0 {
        return Err(r.invalid("trailing bytes", r.pos(), r.remaining() as u64));
    }
    Ok(body)
}

impl Element {
    /// A new, not yet ordered element in little-endian byte order.
    pub fn new(kind: Kind, origin: u32, sender: u32, ts: u64, group: &[u8], body: Body) -> Self {
        Element {
            endian: Endian::Little,
            kind,
            forwarded: false,
            origin,
            sender,
            ts,
            ring_seq: 0,
            seq: 0,
            group: group.to_vec(),
            body,
        }
    }

    /// Decodes an element (either byte order, told by the magic).
    pub fn parse(buf: &[u8]) -> Result<Self> {
        let (mut r, kind, flags, glen) = header(buf)?;
        let origin = r.u32("origin ring")?;
        let sender = r.u32("sender")?;
        let ts = r.u64("timestamp")?;
        let ring_seq = r.u64("origin ring seq")?;
        let seq = r.u32("origin seq")?;
        let group = r.bytes("group name", glen)?.to_vec();
        let body = body_of(kind, &mut r)?;
        Ok(Element {
            endian: r.endian(),
            kind,
            forwarded: flags & FLAG_FORWARDED != 0,
            origin,
            sender,
            ts,
            ring_seq,
            seq,
            group,
            body,
        })
    }

    /// Its place in the global order (meaningful once ordered).
    pub fn key(&self) -> Key {
        Key {
            ts: self.ts,
            origin: self.origin,
            ring_seq: self.ring_seq,
            seq: self.seq,
        }
    }

    /// Sets the place in the global order.
    pub fn set_key(&mut self, k: Key) {
        self.ts = k.ts;
        self.origin = k.origin;
        self.ring_seq = k.ring_seq;
        self.seq = k.seq;
    }

    fn body_len(&self) -> usize {
        match &self.body {
            Body::Payload(p) => p.len(),
            Body::Origins { path, origins } => 4 + 8 * path.len() + 4 * origins.len(),
            Body::Members(m) => 2 + 4 * m.len(),
            Body::Empty => 0,
        }
    }

    /// Encoded size.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.group.len() + self.body_len()
    }

    /// Encodes into `buf`; refuses a group name, list or body the kind cannot carry.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let invalid = |field, value: usize| Error::Invalid {
            message: NAME,
            field,
            offset: 0,
            value: value as u64,
        };
        if self.group.len() > MAX_GROUP {
            return Err(invalid("group name length", self.group.len()));
        }
        let fits = matches!(
            (&self.body, self.kind),
            (Body::Payload(_), Kind::Data)
                | (Body::Origins { .. }, Kind::Attach | Kind::Detach)
                | (Body::Members(_), Kind::RingConfig)
                | (
                    Body::Empty,
                    Kind::Null | Kind::Clock | Kind::Join | Kind::Leave | Kind::Skip
                )
        );
        if !fits {
            return Err(invalid("body for kind", self.kind as usize));
        }
        let count = |field, n: usize| u16::try_from(n).map_err(|_| invalid(field, n));
        let mut w = Writer::new(buf, self.endian, NAME, self.buffer_len())?;
        w.u16(MAGIC);
        w.u8(VERSION);
        w.u8(self.kind as u8);
        w.u8(if self.forwarded { FLAG_FORWARDED } else { 0 });
        w.u8(0);
        w.u16(self.group.len() as u16);
        w.u32(self.origin);
        w.u32(self.sender);
        w.u64(self.ts);
        w.u64(self.ring_seq);
        w.u32(self.seq);
        w.bytes(&self.group);
        match &self.body {
            Body::Payload(p) => w.bytes(p),
            Body::Origins { path, origins } => {
                w.u16(count("path", path.len() * 2)?);
                for (ring, node) in path {
                    w.u32(*ring);
                    w.u32(*node);
                }
                w.u16(count("origins", origins.len())?);
                for o in origins {
                    w.u32(*o);
                }
            }
            Body::Members(m) => {
                w.u16(count("members", m.len())?);
                for n in m {
                    w.u32(*n);
                }
            }
            Body::Empty => {}
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

/// A zero-copy view of an element: the header and group are checked once, the body is
/// read only by [`ElementView::to_owned`].
#[derive(Debug, Clone, Copy)]
pub struct ElementView<'a> {
    buf: &'a [u8],
    endian: Endian,
    kind: Kind,
    flags: u8,
    glen: usize,
}

impl<'a> ElementView<'a> {
    pub fn new_checked(buf: &'a [u8]) -> Result<Self> {
        let (r, kind, flags, glen) = header(buf)?;
        Ok(ElementView {
            buf,
            endian: r.endian(),
            kind,
            flags,
            glen,
        })
    }
    pub fn kind(&self) -> Kind {
        self.kind
    }
    pub fn forwarded(&self) -> bool {
        self.flags & FLAG_FORWARDED != 0
    }
    pub fn origin(&self) -> u32 {
        self.endian.get_u32(&self.buf[8..12])
    }
    pub fn sender(&self) -> u32 {
        self.endian.get_u32(&self.buf[12..16])
    }
    pub fn key(&self) -> Key {
        Key {
            ts: self.endian.get_u64(&self.buf[16..24]),
            origin: self.origin(),
            ring_seq: self.endian.get_u64(&self.buf[24..32]),
            seq: self.endian.get_u32(&self.buf[32..36]),
        }
    }
    pub fn group(&self) -> &'a [u8] {
        &self.buf[HEADER_LEN..HEADER_LEN + self.glen]
    }
    /// The bytes after the group name.
    pub fn body(&self) -> &'a [u8] {
        &self.buf[HEADER_LEN + self.glen..]
    }
    /// The owned element (checks the body).
    pub fn to_owned(&self) -> Result<Element> {
        Element::parse(self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Element {
        let mut e = Element::new(
            Kind::Attach,
            2,
            7,
            99,
            b"grp",
            Body::Origins {
                path: vec![(2, 7)],
                origins: vec![1, 3],
            },
        );
        e.forwarded = true;
        e.set_key(Key {
            ts: 99,
            origin: 2,
            ring_seq: 8,
            seq: 4,
        });
        e
    }

    #[test]
    fn layout_of_a_little_endian_element() {
        let b = sample().to_vec().unwrap();
        assert_eq!(&b[..8], &[0x52, 0x4d, 1, 4, 1, 0, 3, 0]);
        assert_eq!(&b[8..12], &2u32.to_le_bytes());
        assert_eq!(&b[12..16], &7u32.to_le_bytes());
        assert_eq!(&b[16..24], &99u64.to_le_bytes());
        assert_eq!(&b[24..32], &8u64.to_le_bytes());
        assert_eq!(&b[32..36], &4u32.to_le_bytes());
        assert_eq!(&b[36..39], b"grp");
        // path: 2 values (one hop), then origins.
        assert_eq!(&b[39..41], &2u16.to_le_bytes());
        assert_eq!(b.len(), 39 + 2 + 8 + 2 + 8);
        let v = ElementView::new_checked(&b).unwrap();
        assert_eq!(v.key(), sample().key());
        assert_eq!(v.group(), b"grp");
        assert!(v.forwarded());
    }

    #[test]
    fn big_endian_is_read_and_written_back() {
        let mut e = sample();
        e.endian = Endian::Big;
        let b = e.to_vec().unwrap();
        assert_eq!(&b[..2], &[0x4d, 0x52]);
        let back = Element::parse(&b).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.to_vec().unwrap(), b);
    }

    #[test]
    fn refusals_name_the_field() {
        let b = sample().to_vec().unwrap();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b[..1].to_vec(), "magic"),
            (b[..20].to_vec(), "header"),
            (
                {
                    let mut x = b.clone();
                    x[0] = 0;
                    x
                },
                "magic",
            ),
            (
                {
                    let mut x = b.clone();
                    x[2] = 2;
                    x
                },
                "version",
            ),
            (
                {
                    let mut x = b.clone();
                    x[3] = 10;
                    x
                },
                "kind",
            ),
            (
                {
                    let mut x = b.clone();
                    x[4] = 2;
                    x
                },
                "flags",
            ),
            (
                {
                    let mut x = b.clone();
                    x[5] = 1;
                    x
                },
                "reserved",
            ),
            (
                {
                    let mut x = b.clone();
                    x[6] = 200;
                    x
                },
                "group name length",
            ),
            (
                {
                    let mut x = b.clone();
                    x.push(0);
                    x
                },
                "trailing bytes",
            ),
            (b[..b.len() - 1].to_vec(), "origins"),
        ];
        for (bytes, field) in cases {
            let err = Element::parse(&bytes).unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
    }

    #[test]
    fn emit_refuses_a_body_the_kind_does_not_carry() {
        let e = Element::new(Kind::Null, 1, 1, 1, b"", Body::Payload(vec![1]));
        assert!(e.to_vec().is_err());
    }

    #[test]
    fn keys_order_by_timestamp_then_origin_then_position() {
        let k = |ts, origin, ring_seq, seq| Key {
            ts,
            origin,
            ring_seq,
            seq,
        };
        assert!(k(1, 9, 9, 9) < k(2, 0, 0, 0));
        assert!(k(2, 1, 9, 9) < k(2, 2, 0, 0));
        assert!(k(2, 2, 4, 9) < k(2, 2, 8, 0));
        assert!(k(2, 2, 8, 0) < k(2, 2, 8, 1));
    }

    fn arb_element() -> impl Strategy<Value = Element> {
        let body = prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64)
                .prop_map(|p| (Kind::Data, Body::Payload(p))),
            (
                proptest::collection::vec((any::<u32>(), any::<u32>()), 0..4),
                proptest::collection::vec(any::<u32>(), 0..6),
                any::<bool>()
            )
                .prop_map(|(path, origins, a)| (
                    if a { Kind::Attach } else { Kind::Detach },
                    Body::Origins { path, origins }
                )),
            proptest::collection::vec(any::<u32>(), 0..8)
                .prop_map(|m| (Kind::RingConfig, Body::Members(m))),
            prop_oneof![
                Just(Kind::Null),
                Just(Kind::Clock),
                Just(Kind::Join),
                Just(Kind::Leave),
                Just(Kind::Skip)
            ]
            .prop_map(|k| (k, Body::Empty)),
        ];
        (
            body,
            any::<bool>(),
            any::<bool>(),
            any::<(u32, u32, u64, u64, u32)>(),
            proptest::collection::vec(any::<u8>(), 0..MAX_GROUP),
        )
            .prop_map(
                |((kind, body), big, fwd, (o, s, ts, rs, seq), group)| Element {
                    endian: if big { Endian::Big } else { Endian::Little },
                    kind,
                    forwarded: fwd,
                    origin: o,
                    sender: s,
                    ts,
                    ring_seq: rs,
                    seq,
                    group,
                    body,
                },
            )
    }

    proptest! {
        #[test]
        fn owned_round_trip(e in arb_element()) {
            let b = e.to_vec().unwrap();
            prop_assert_eq!(b.len(), e.buffer_len());
            let back = Element::parse(&b).unwrap();
            prop_assert_eq!(&back, &e);
            let v = ElementView::new_checked(&b).unwrap();
            prop_assert_eq!(v.key(), e.key());
            prop_assert_eq!(v.group(), &e.group[..]);
            prop_assert_eq!(v.kind(), e.kind);
        }

        #[test]
        fn decoded_bytes_re_encode_identically(data in proptest::collection::vec(any::<u8>(), 0..120)) {
            crate::roundtrip::mrp(&data);
        }
    }
}
