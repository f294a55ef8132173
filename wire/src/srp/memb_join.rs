//! memb_join (type 3): a member's view of who is alive (proc list) and who failed; with
//! header nodeid 0 it is a graceful leave.

use super::{count, open, PROCESSOR_COUNT_MAX};
use crate::endian::{Endian, Writer};
use crate::error::Result;
use crate::generation::Generation;
use crate::header::{Header, MessageType};
use crate::srp_addr::SrpAddr;

/// A join message, owned.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MembJoin {
    pub header: Header,
    pub system_from: SrpAddr,
    /// Sender's current ring seq.
    pub ring_seq: u64,
    pub proc_list: Vec<SrpAddr>,
    pub failed_list: Vec<SrpAddr>,
}

/// Size of a join without its lists: 68, 69 or 33.
pub const fn fixed_len(gen: Generation) -> usize {
    gen.header_len() + gen.srp_addr_len() + 16
}

impl MembJoin {
    pub fn parse(buf: &[u8], gen: Generation) -> Result<Self> {
        let (header, mut r) = open(buf, gen, MessageType::MembJoin)?;
        let system_from = SrpAddr::read(&mut r, gen, "system_from")?;
        let a = gen.srp_addr_len();
        let np = count(&mut r, "proc_list_entries", 0, PROCESSOR_COUNT_MAX)?;
        let nf = count(&mut r, "failed_list_entries", 0, PROCESSOR_COUNT_MAX)?;
        let ring_seq = r.u64("ring_seq")?;
        if (np + nf) * a > r.remaining() {
            return Err(r.truncated("proc_list/failed_list", (np + nf) * a));
        }
        let mut proc_list = Vec::with_capacity(np);
        for _ in 0..np {
            proc_list.push(SrpAddr::read(&mut r, gen, "proc_list")?);
        }
        let mut failed_list = Vec::with_capacity(nf);
        for _ in 0..nf {
            failed_list.push(SrpAddr::read(&mut r, gen, "failed_list")?);
        }
        Ok(MembJoin {
            header,
            system_from,
            ring_seq,
            proc_list,
            failed_list,
        })
    }
    pub fn buffer_len(&self) -> usize {
        let g = self.header.generation;
        fixed_len(g) + (self.proc_list.len() + self.failed_list.len()) * g.srp_addr_len()
    }
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let g = self.header.generation;
        let mut w = Writer::new(buf, self.header.endian, "memb_join", self.buffer_len())?;
        self.header.write(&mut w);
        self.system_from.write(&mut w, g, "system_from")?;
        w.u32(self.proc_list.len() as u32);
        w.u32(self.failed_list.len() as u32);
        w.u64(self.ring_seq);
        for a in self.proc_list.iter().chain(&self.failed_list) {
            a.write(&mut w, g, "proc_list")?;
        }
        Ok(w.pos())
    }
    /// Whether this join announces a graceful leave (header nodeid 0).
    pub fn is_leave(&self) -> bool {
        self.header.nodeid == 0
    }
}

/// A zero-copy view of a join.
#[derive(Debug, Clone, Copy)]
pub struct MembJoinView<'a> {
    buf: &'a [u8],
    gen: Generation,
    endian: Endian,
    procs: usize,
    failed: usize,
}

impl<'a> MembJoinView<'a> {
    pub fn new_checked(buf: &'a [u8], gen: Generation) -> Result<Self> {
        let (header, mut r) = open(buf, gen, MessageType::MembJoin)?;
        r.bytes("system_from", gen.srp_addr_len())?;
        let procs = count(&mut r, "proc_list_entries", 0, PROCESSOR_COUNT_MAX)?;
        let failed = count(&mut r, "failed_list_entries", 0, PROCESSOR_COUNT_MAX)?;
        r.u64("ring_seq")?;
        r.bytes(
            "proc_list/failed_list",
            (procs + failed) * gen.srp_addr_len(),
        )?;
        Ok(MembJoinView {
            buf,
            gen,
            endian: header.endian,
            procs,
            failed,
        })
    }
    pub fn ring_seq(&self) -> u64 {
        self.endian.get_u64(&self.buf[fixed_len(self.gen) - 8..])
    }
    pub fn proc_list_entries(&self) -> usize {
        self.procs
    }
    pub fn failed_list_entries(&self) -> usize {
        self.failed
    }
    /// Raw bytes of proc entry `i` (`None` past the end).
    pub fn proc_entry(&self, i: usize) -> Option<&'a [u8]> {
        (i < self.procs).then(|| self.entry(i))
    }
    /// Raw bytes of failed entry `i` (`None` past the end).
    pub fn failed_entry(&self, i: usize) -> Option<&'a [u8]> {
        (i < self.failed).then(|| self.entry(self.procs + i))
    }
    fn entry(&self, k: usize) -> &'a [u8] {
        let a = self.gen.srp_addr_len();
        let off = fixed_len(self.gen) + k * a;
        &self.buf[off..off + a]
    }
}
