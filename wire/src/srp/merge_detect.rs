//! memb_merge_detect (type 2): the representative's periodic "my ring is here" announcement.

use super::open;
use crate::endian::Writer;
use crate::error::Result;
use crate::generation::Generation;
use crate::header::{Header, MessageType};
use crate::ring_id::RingId;
use crate::srp_addr::SrpAddr;

/// A merge-detect message, owned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MergeDetect {
    pub header: Header,
    pub system_from: SrpAddr,
    pub ring_id: RingId,
}

/// Encoded size in `gen`: 82, 83 or 29.
pub const fn len(gen: Generation) -> usize {
    gen.header_len() + gen.srp_addr_len() + gen.ring_id_len()
}

impl MergeDetect {
    pub fn parse(buf: &[u8], gen: Generation) -> Result<Self> {
        let (header, mut r) = open(buf, gen, MessageType::MembMergeDetect)?;
        let system_from = SrpAddr::read(&mut r, gen, "system_from")?;
        let ring_id = RingId::read(&mut r, gen, "ring_id")?;
        Ok(MergeDetect {
            header,
            system_from,
            ring_id,
        })
    }
    pub fn buffer_len(&self) -> usize {
        len(self.header.generation)
    }
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let g = self.header.generation;
        let mut w = Writer::new(
            buf,
            self.header.endian,
            "memb_merge_detect",
            self.buffer_len(),
        )?;
        self.header.write(&mut w);
        self.system_from.write(&mut w, g, "system_from")?;
        self.ring_id.write(&mut w, g, "ring_id")?;
        Ok(w.pos())
    }
}

/// A zero-copy view of a merge-detect message.
#[derive(Debug, Clone, Copy)]
pub struct MergeDetectView<'a> {
    buf: &'a [u8],
    gen: Generation,
}

impl<'a> MergeDetectView<'a> {
    pub fn new_checked(buf: &'a [u8], gen: Generation) -> Result<Self> {
        let (_, mut r) = open(buf, gen, MessageType::MembMergeDetect)?;
        r.bytes("body", len(gen) - gen.header_len())?;
        Ok(MergeDetectView { buf, gen })
    }
    pub fn ring_id_bytes(&self) -> &'a [u8] {
        let off = self.gen.header_len() + self.gen.srp_addr_len();
        &self.buf[off..off + self.gen.ring_id_len()]
    }
}
