//! mcast (type 1): an ordered multicast carrying a totempg packet, or during recovery a
//! whole older-ring mcast (encapsulated).

use super::open;
use crate::endian::{Endian, Writer};
use crate::error::Result;
use crate::generation::Generation;
use crate::header::{Header, MessageType, ENCAPSULATED};
use crate::ring_id::RingId;
use crate::srp_addr::SrpAddr;

/// Delivery guarantee requested by the sender.
pub const GUARANTEE_AGREED: i32 = 0;
/// Safe delivery: only once every member has the message.
pub const GUARANTEE_SAFE: i32 = 1;

/// An mcast message, owned.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mcast {
    pub header: Header,
    /// Originator.
    pub system_from: SrpAddr,
    /// Ring sequence number assigned from the token.
    pub seq: u32,
    /// Sender-local running counter; informational.
    pub this_seqno: i32,
    pub ring_id: RingId,
    /// Never set by corosync: zero or garbage. Carried, never interpreted.
    pub node_id: u32,
    pub guarantee: i32,
    /// The totempg packet, or an encapsulated mcast when `header.encapsulated == 1`.
    pub payload: Vec<u8>,
}

/// Size of an mcast header (everything before the payload) in `gen`: 98, 99 or 45.
pub const fn header_len(gen: Generation) -> usize {
    gen.header_len() + gen.srp_addr_len() + 8 + gen.ring_id_len() + 8
}

impl Mcast {
    pub fn parse(buf: &[u8], gen: Generation) -> Result<Self> {
        let (header, mut r) = open(buf, gen, MessageType::Mcast)?;
        let system_from = SrpAddr::read(&mut r, gen, "system_from")?;
        let seq = r.u32("seq")?;
        let this_seqno = r.i32("this_seqno")?;
        let ring_id = RingId::read(&mut r, gen, "ring_id")?;
        let node_id = r.u32("node_id")?;
        let guarantee = r.i32("guarantee")?;
        let payload = r.rest().to_vec();
        Ok(Mcast {
            header,
            system_from,
            seq,
            this_seqno,
            ring_id,
            node_id,
            guarantee,
            payload,
        })
    }
    pub fn buffer_len(&self) -> usize {
        header_len(self.header.generation) + self.payload.len()
    }
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let g = self.header.generation;
        let mut w = Writer::new(buf, self.header.endian, "mcast", self.buffer_len())?;
        self.header.write(&mut w);
        self.system_from.write(&mut w, g, "system_from")?;
        w.u32(self.seq);
        w.i32(self.this_seqno);
        self.ring_id.write(&mut w, g, "ring_id")?;
        w.u32(self.node_id);
        w.i32(self.guarantee);
        w.bytes(&self.payload);
        Ok(w.pos())
    }
    /// Whether this is a recovery re-send whose payload is an old-ring mcast.
    pub fn is_encapsulated(&self) -> bool {
        self.header.encapsulated == ENCAPSULATED
    }
    /// Decodes the old-ring mcast inside an encapsulated one.
    pub fn inner(&self) -> Option<Result<Mcast>> {
        self.is_encapsulated()
            .then(|| Mcast::parse(&self.payload, self.header.generation))
    }
}

/// A zero-copy view of an mcast.
#[derive(Debug, Clone, Copy)]
pub struct McastView<'a> {
    buf: &'a [u8],
    gen: Generation,
    header: Header,
}

impl<'a> McastView<'a> {
    pub fn new_checked(buf: &'a [u8], gen: Generation) -> Result<Self> {
        let (header, mut r) = open(buf, gen, MessageType::Mcast)?;
        r.bytes("mcast header", header_len(gen) - gen.header_len())?;
        Ok(McastView { buf, gen, header })
    }
    fn base(&self) -> usize {
        self.gen.header_len() + self.gen.srp_addr_len()
    }
    pub fn header(&self) -> &Header {
        &self.header
    }
    pub fn endian(&self) -> Endian {
        self.header.endian
    }
    /// Nodeid of the originator (from system_from).
    pub fn source_nodeid(&self) -> u32 {
        let off = self.gen.header_len() + if self.gen == Generation::G2 { 1 } else { 0 };
        self.header.endian.get_u32(&self.buf[off..])
    }
    pub fn seq(&self) -> u32 {
        self.header.endian.get_u32(&self.buf[self.base()..])
    }
    pub fn ring_id_bytes(&self) -> &'a [u8] {
        let off = self.base() + 8;
        &self.buf[off..off + self.gen.ring_id_len()]
    }
    pub fn guarantee(&self) -> i32 {
        self.header
            .endian
            .get_u32(&self.buf[header_len(self.gen) - 4..]) as i32
    }
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[header_len(self.gen)..]
    }
}
