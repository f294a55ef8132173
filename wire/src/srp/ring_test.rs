//! RRP ring test messages (types 6 and 7, G1/G2 only): probe and re-enable a faulty ring.

use crate::endian::{Endian, Reader, Writer};
use crate::error::{Error, Result};
use crate::generation::Generation;
use crate::header::{Header, MessageType, ENDIAN_DETECTOR};

/// A ring test message, owned. Its header has the ring number where others have the nodeid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RingTest {
    pub generation: Generation,
    pub endian: Endian,
    /// `RingTestActive` or `RingTestActivate`.
    pub msg_type: MessageType,
    pub encapsulated: u8,
    pub ring_number: i32,
    pub nodeid_activator: i32,
}

/// Encoded size.
pub const LEN: usize = 12;

impl RingTest {
    pub fn parse(buf: &[u8], gen: Generation) -> Result<Self> {
        if gen == Generation::G3 {
            return Err(Error::Unrecognized("ring test messages do not exist in G3"));
        }
        let h = Header::parse(buf, gen)?;
        if !matches!(
            h.msg_type,
            MessageType::RingTestActive | MessageType::RingTestActivate
        ) {
            return Err(Error::Invalid {
                message: "ring_test",
                field: "type",
                offset: 0,
                value: h.msg_type as u64,
            });
        }
        let mut r = Reader::new(buf, h.endian, "ring_test");
        r.bytes("header", 4)?;
        let ring_number = r.i32("ring_number")?;
        let nodeid_activator = r.i32("nodeid_activator")?;
        Ok(RingTest {
            generation: gen,
            endian: h.endian,
            msg_type: h.msg_type,
            encapsulated: h.encapsulated,
            ring_number,
            nodeid_activator,
        })
    }
    pub fn buffer_len(&self) -> usize {
        LEN
    }
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let mut w = Writer::new(buf, self.endian, "ring_test", LEN)?;
        w.u8(self.msg_type as u8);
        w.u8(self.encapsulated);
        w.u16(ENDIAN_DETECTOR);
        w.i32(self.ring_number);
        w.i32(self.nodeid_activator);
        Ok(w.pos())
    }
}
