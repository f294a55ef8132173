//! orf_token (type 0): the token that orders messages and carries retransmit requests.

use super::{count, open, RETRANSMIT_ENTRIES_MAX};
use crate::endian::{Endian, Reader, Writer};
use crate::error::Result;
use crate::generation::Generation;
use crate::header::{Header, MessageType};
use crate::ring_id::RingId;

/// One retransmit request: a message `seq` of ring `ring_id` that some member lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RtrItem {
    pub ring_id: RingId,
    pub seq: u32,
}

impl RtrItem {
    /// Encoded size in `gen`.
    pub const fn len(gen: Generation) -> usize {
        gen.ring_id_len() + 4
    }
}

/// The ORF token, owned.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrfToken {
    pub header: Header,
    /// Highest message seq issued on the ring.
    pub seq: u32,
    /// Hop counter; a token with a token_seq already seen is a duplicate.
    pub token_seq: u32,
    /// All received up to.
    pub aru: u32,
    /// Nodeid of the member that last lowered `aru` (0 once aru == seq).
    pub aru_addr: u32,
    pub ring_id: RingId,
    pub backlog: u32,
    pub fcc: u32,
    pub retrans_flg: i32,
    pub rtr_list: Vec<RtrItem>,
}

/// Size of the fixed part after the header.
const fn fixed(gen: Generation) -> usize {
    16 + gen.ring_id_len() + 16
}

impl OrfToken {
    /// Decodes a token of generation `gen`.
    pub fn parse(buf: &[u8], gen: Generation) -> Result<Self> {
        let (header, mut r) = open(buf, gen, MessageType::OrfToken)?;
        let seq = r.u32("seq")?;
        let token_seq = r.u32("token_seq")?;
        let aru = r.u32("aru")?;
        let aru_addr = r.u32("aru_addr")?;
        let ring_id = RingId::read(&mut r, gen, "ring_id")?;
        let backlog = r.u32("backlog")?;
        let fcc = r.u32("fcc")?;
        let retrans_flg = r.i32("retrans_flg")?;
        let n = count(
            &mut r,
            "rtr_list_entries",
            RtrItem::len(gen),
            RETRANSMIT_ENTRIES_MAX,
        )?;
        let mut rtr_list = Vec::with_capacity(n);
        for _ in 0..n {
            let ring_id = RingId::read(&mut r, gen, "rtr_list")?;
            let seq = r.u32("rtr_list")?;
            rtr_list.push(RtrItem { ring_id, seq });
        }
        Ok(OrfToken {
            header,
            seq,
            token_seq,
            aru,
            aru_addr,
            ring_id,
            backlog,
            fcc,
            retrans_flg,
            rtr_list,
        })
    }

    /// Encoded size.
    pub fn buffer_len(&self) -> usize {
        let g = self.header.generation;
        g.header_len() + fixed(g) + self.rtr_list.len() * RtrItem::len(g)
    }

    /// Encodes into `buf`, returning the number of bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let g = self.header.generation;
        let mut w = Writer::new(buf, self.header.endian, "orf_token", self.buffer_len())?;
        self.header.write(&mut w);
        w.u32(self.seq);
        w.u32(self.token_seq);
        w.u32(self.aru);
        w.u32(self.aru_addr);
        self.ring_id.write(&mut w, g, "ring_id")?;
        w.u32(self.backlog);
        w.u32(self.fcc);
        w.i32(self.retrans_flg);
        w.u32(self.rtr_list.len() as u32);
        for item in &self.rtr_list {
            item.ring_id.write(&mut w, g, "rtr_list")?;
            w.u32(item.seq);
        }
        Ok(w.pos())
    }
}

/// A zero-copy view of a token, for the hot path of a running ring.
#[derive(Debug, Clone, Copy)]
pub struct OrfTokenView<'a> {
    buf: &'a [u8],
    gen: Generation,
    endian: Endian,
    rtr_entries: usize,
}

impl<'a> OrfTokenView<'a> {
    /// Checks type and lengths once; getters cannot fail afterwards.
    pub fn new_checked(buf: &'a [u8], gen: Generation) -> Result<Self> {
        let (header, mut r) = open(buf, gen, MessageType::OrfToken)?;
        r.bytes("fixed fields", fixed(gen) - 4)?;
        let rtr_entries = count(
            &mut r,
            "rtr_list_entries",
            RtrItem::len(gen),
            RETRANSMIT_ENTRIES_MAX,
        )?;
        Ok(OrfTokenView {
            buf,
            gen,
            endian: header.endian,
            rtr_entries,
        })
    }
    fn u32_at(&self, rel: usize) -> u32 {
        self.endian
            .get_u32(&self.buf[self.gen.header_len() + rel..])
    }
    pub fn endian(&self) -> Endian {
        self.endian
    }
    pub fn seq(&self) -> u32 {
        self.u32_at(0)
    }
    pub fn token_seq(&self) -> u32 {
        self.u32_at(4)
    }
    pub fn aru(&self) -> u32 {
        self.u32_at(8)
    }
    pub fn aru_addr(&self) -> u32 {
        self.u32_at(12)
    }
    /// Raw bytes of the ring id (compare these, as corosync does).
    pub fn ring_id_bytes(&self) -> &'a [u8] {
        let off = self.gen.header_len() + 16;
        &self.buf[off..off + self.gen.ring_id_len()]
    }
    pub fn backlog(&self) -> u32 {
        self.u32_at(16 + self.gen.ring_id_len())
    }
    pub fn fcc(&self) -> u32 {
        self.u32_at(20 + self.gen.ring_id_len())
    }
    pub fn retrans_flg(&self) -> i32 {
        self.u32_at(24 + self.gen.ring_id_len()) as i32
    }
    pub fn rtr_list_entries(&self) -> usize {
        self.rtr_entries
    }
    /// The retransmit requests, decoded one by one without allocating.
    pub fn rtr_items(&self) -> impl Iterator<Item = RtrItem> + 'a {
        let gen = self.gen;
        let start = gen.header_len() + fixed(gen);
        let mut r = Reader::new(&self.buf[start..], self.endian, "orf_token");
        (0..self.rtr_entries).filter_map(move |_| {
            let ring_id = RingId::read(&mut r, gen, "rtr_list").ok()?;
            let seq = r.u32("rtr_list").ok()?;
            Some(RtrItem { ring_id, seq })
        })
    }
}
