//! PLOAD exec messages of corosync 2.x (spec §9.4, service 4; 13 in 1.x).

use super::header::ServiceHeader;
use super::open;
use crate::endian::{Endian, Writer};
use crate::error::{Error, Result};
use crate::generation::Generation;

/// Any PLOAD exec message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PloadMessage {
    /// fn 0 (24 bytes): start a load test of `msg_count` messages of `msg_size` bytes.
    Start {
        header: ServiceHeader,
        msg_count: u32,
        msg_size: u32,
    },
    /// fn 1: a load message, header then data.
    Mcast {
        header: ServiceHeader,
        data: Vec<u8>,
    },
}

const M: &str = "pload";

impl PloadMessage {
    pub fn parse(buf: &[u8], gen: Generation, endian: Endian) -> Result<Self> {
        let (header, mut r) = open(buf, gen, endian, M)?;
        Ok(match header.fn_id() {
            0 => PloadMessage::Start {
                header,
                msg_count: r.u32("msg_count")?,
                msg_size: r.u32("msg_size")?,
            },
            1 => PloadMessage::Mcast {
                header,
                data: r.rest().to_vec(),
            },
            f => {
                return Err(Error::Invalid {
                    message: M,
                    field: "fn_id",
                    offset: 0,
                    value: u64::from(f),
                })
            }
        })
    }
    pub fn header(&self) -> &ServiceHeader {
        match self {
            PloadMessage::Start { header, .. } | PloadMessage::Mcast { header, .. } => header,
        }
    }
    pub fn buffer_len(&self) -> usize {
        match self {
            PloadMessage::Start { .. } => 24,
            PloadMessage::Mcast { data, .. } => 16 + data.len(),
        }
    }
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let h = self.header();
        let mut w = Writer::new(buf, h.endian, M, self.buffer_len())?;
        h.write(&mut w);
        match self {
            PloadMessage::Start {
                msg_count,
                msg_size,
                ..
            } => {
                w.u32(*msg_count);
                w.u32(*msg_size);
            }
            PloadMessage::Mcast { data, .. } => w.bytes(data),
        }
        Ok(w.pos())
    }
}

impl core::fmt::Display for PloadMessage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PloadMessage::Start {
                msg_count,
                msg_size,
                ..
            } => {
                write!(f, "pload.start count={msg_count} size={msg_size}")
            }
            PloadMessage::Mcast { data, .. } => write!(f, "pload.mcast len={}", data.len()),
        }
    }
}

/// A zero-copy view of a PLOAD START.
#[derive(Debug, Clone, Copy)]
pub struct PloadStartView<'a> {
    buf: &'a [u8],
    endian: Endian,
}

impl<'a> PloadStartView<'a> {
    pub fn new_checked(buf: &'a [u8], gen: Generation, endian: Endian) -> Result<Self> {
        match PloadMessage::parse(buf, gen, endian)? {
            PloadMessage::Start { .. } => Ok(PloadStartView { buf, endian }),
            PloadMessage::Mcast { .. } => Err(Error::Invalid {
                message: M,
                field: "fn_id",
                offset: 0,
                value: 1,
            }),
        }
    }
    pub fn msg_count(&self) -> u32 {
        self.endian.get_u32(&self.buf[16..])
    }
    pub fn msg_size(&self) -> u32 {
        self.endian.get_u32(&self.buf[20..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Spec §9.4: START {hdr; msg_count @16; msg_size @20} = 24 bytes (hand-built: no capture
    // holds pload traffic).
    #[test]
    fn start_layout() {
        let mut b = [0u8; 24];
        b[2] = 4; // id = (4 << 16) | 0
        b[8] = 24;
        b[16] = 10;
        b[20] = 0x10;
        let v = PloadStartView::new_checked(&b, Generation::G2, Endian::Little).unwrap();
        assert_eq!((v.msg_count(), v.msg_size()), (10, 16));
        let m = PloadMessage::parse(&b, Generation::G2, Endian::Little).unwrap();
        assert_eq!(m.to_string(), "pload.start count=10 size=16");
    }

    proptest! {
        #[test]
        fn round_trip(mut buf in proptest::collection::vec(any::<u8>(), 0..64), f in 0u8..3, be: bool) {
            let e = if be { Endian::Big } else { Endian::Little };
            if buf.len() >= 4 { buf[..4].fill(0); if be { buf[3] = f } else { buf[0] = f } }
            if let Ok(m) = PloadMessage::parse(&buf, Generation::G3, e) {
                let mut out = vec![0u8; m.buffer_len()];
                m.emit(&mut out).unwrap();
                prop_assert_eq!(&out[..], &buf[..out.len()]);
            }
        }
    }
}
