//! memb_commit_token (type 4): circulates twice around a new ring to commit its membership
//! and collect each member's old-ring state.

use super::{count, open, PROCESSOR_COUNT_MAX};
use crate::endian::{Endian, Writer};
use crate::error::Result;
use crate::generation::Generation;
use crate::header::{Header, MessageType};
use crate::ring_id::RingId;
use crate::srp_addr::SrpAddr;

/// One member's entry: the ring it comes from and how far it got there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MembEntry {
    pub ring_id: RingId,
    pub aru: u32,
    pub high_delivered: u32,
    pub received_flg: u32,
}

impl MembEntry {
    /// Encoded size in `gen`: 42 or 24.
    pub const fn len(gen: Generation) -> usize {
        gen.ring_id_len() + 12
    }
}

/// A commit token, owned.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CommitToken {
    pub header: Header,
    pub token_seq: u32,
    /// The new ring.
    pub ring_id: RingId,
    pub retrans_flg: u32,
    /// Index of the next member to fill in its entry.
    pub memb_index: i32,
    /// Members of the new ring, in ring order.
    pub addr: Vec<SrpAddr>,
    /// One entry per member, same order as `addr`.
    pub memb_list: Vec<MembEntry>,
}

/// Size without the member arrays: 54 or 41.
pub const fn fixed_len(gen: Generation) -> usize {
    gen.header_len() + 4 + gen.ring_id_len() + 12
}

impl CommitToken {
    pub fn parse(buf: &[u8], gen: Generation) -> Result<Self> {
        let (header, mut r) = open(buf, gen, MessageType::MembCommitToken)?;
        let token_seq = r.u32("token_seq")?;
        let ring_id = RingId::read(&mut r, gen, "ring_id")?;
        let retrans_flg = r.u32("retrans_flg")?;
        let memb_index = r.i32("memb_index")?;
        let per = gen.srp_addr_len() + MembEntry::len(gen);
        let n = count(&mut r, "addr_entries", per, PROCESSOR_COUNT_MAX)?;
        let mut addr = Vec::with_capacity(n);
        for _ in 0..n {
            addr.push(SrpAddr::read(&mut r, gen, "addr")?);
        }
        let mut memb_list = Vec::with_capacity(n);
        for _ in 0..n {
            let ring_id = RingId::read(&mut r, gen, "memb_list")?;
            let aru = r.u32("memb_list.aru")?;
            let high_delivered = r.u32("memb_list.high_delivered")?;
            let received_flg = r.u32("memb_list.received_flg")?;
            memb_list.push(MembEntry {
                ring_id,
                aru,
                high_delivered,
                received_flg,
            });
        }
        Ok(CommitToken {
            header,
            token_seq,
            ring_id,
            retrans_flg,
            memb_index,
            addr,
            memb_list,
        })
    }
    pub fn buffer_len(&self) -> usize {
        let g = self.header.generation;
        fixed_len(g) + self.addr.len() * g.srp_addr_len() + self.memb_list.len() * MembEntry::len(g)
    }
    /// Encodes; `addr` and `memb_list` should have the same length (`addr_entries` is
    /// taken from `addr`).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let g = self.header.generation;
        let mut w = Writer::new(
            buf,
            self.header.endian,
            "memb_commit_token",
            self.buffer_len(),
        )?;
        self.header.write(&mut w);
        w.u32(self.token_seq);
        self.ring_id.write(&mut w, g, "ring_id")?;
        w.u32(self.retrans_flg);
        w.i32(self.memb_index);
        w.u32(self.addr.len() as u32);
        for a in &self.addr {
            a.write(&mut w, g, "addr")?;
        }
        for m in &self.memb_list {
            m.ring_id.write(&mut w, g, "memb_list")?;
            w.u32(m.aru);
            w.u32(m.high_delivered);
            w.u32(m.received_flg);
        }
        Ok(w.pos())
    }
}

/// A zero-copy view of a commit token.
#[derive(Debug, Clone, Copy)]
pub struct CommitTokenView<'a> {
    buf: &'a [u8],
    gen: Generation,
    endian: Endian,
    entries: usize,
}

impl<'a> CommitTokenView<'a> {
    pub fn new_checked(buf: &'a [u8], gen: Generation) -> Result<Self> {
        let (header, mut r) = open(buf, gen, MessageType::MembCommitToken)?;
        r.bytes("fixed fields", fixed_len(gen) - gen.header_len() - 4)?;
        let per = gen.srp_addr_len() + MembEntry::len(gen);
        let entries = count(&mut r, "addr_entries", per, PROCESSOR_COUNT_MAX)?;
        Ok(CommitTokenView {
            buf,
            gen,
            endian: header.endian,
            entries,
        })
    }
    pub fn token_seq(&self) -> u32 {
        self.endian.get_u32(&self.buf[self.gen.header_len()..])
    }
    pub fn memb_index(&self) -> i32 {
        self.endian.get_u32(&self.buf[fixed_len(self.gen) - 8..]) as i32
    }
    pub fn addr_entries(&self) -> usize {
        self.entries
    }
}
