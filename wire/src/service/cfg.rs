//! CFG exec messages of corosync 2.x/3.x (spec §9.4, service 1). The 1.x CFG (service 7)
//! layouts are not documented in the spec; those messages decode as `Unknown`.

use super::cpg::MessageSource;
use super::header::ServiceHeader;
use super::{need, open, show_bytes};
use crate::endian::{Endian, Writer};
use crate::error::{Error, Result};
use crate::generation::Generation;

/// `mar_name_t`: u16 length in an 8-byte slot, then 256 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MarName {
    pub length: u16,
    pub pad: [u8; 6],
    pub value: [u8; 256],
}

impl MarName {
    /// The significant bytes (length clamped to 256).
    pub fn bytes(&self) -> &[u8] {
        &self.value[..usize::from(self.length).min(256)]
    }
}

/// Any 2.x/3.x CFG exec message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CfgMessage {
    /// fn 0 (32 bytes).
    RingReenable {
        header: ServiceHeader,
        source: MessageSource,
    },
    /// fn 1 (288 bytes).
    KillNode {
        header: ServiceHeader,
        nodeid: u32,
        nodeid_pad: [u8; 4],
        reason: Box<MarName>,
    },
    /// fn 2 (16 bytes).
    Shutdown { header: ServiceHeader },
    /// fn 3 (32 bytes).
    ReloadConfig {
        header: ServiceHeader,
        source: MessageSource,
    },
    /// fn 4, 3.x (24 bytes).
    CryptoReconfig {
        header: ServiceHeader,
        phase: u32,
        phase_pad: [u8; 4],
    },
}

const M: &str = "cfg";

impl CfgMessage {
    /// Decodes by function id.
    pub fn parse(buf: &[u8], gen: Generation, endian: Endian) -> Result<Self> {
        let (header, mut r) = open(buf, gen, endian, M)?;
        Ok(match header.fn_id() {
            0 => CfgMessage::RingReenable {
                header,
                source: MessageSource::read(&mut r)?,
            },
            1 => {
                need(buf, "cfg killnode", 288)?;
                CfgMessage::KillNode {
                    header,
                    nodeid: r.u32("nodeid")?,
                    nodeid_pad: r.array("nodeid pad")?,
                    reason: Box::new(MarName {
                        length: r.u16("reason.length")?,
                        pad: r.array("reason pad")?,
                        value: r.array("reason.value")?,
                    }),
                }
            }
            2 => CfgMessage::Shutdown { header },
            3 => CfgMessage::ReloadConfig {
                header,
                source: MessageSource::read(&mut r)?,
            },
            4 => CfgMessage::CryptoReconfig {
                header,
                phase: r.u32("phase")?,
                phase_pad: r.array("phase pad")?,
            },
            f => {
                let offset = if gen == Generation::G1 { 8 } else { 0 };
                return Err(Error::Invalid {
                    message: M,
                    field: "fn_id",
                    offset,
                    value: u64::from(f),
                });
            }
        })
    }
    pub fn header(&self) -> &ServiceHeader {
        match self {
            CfgMessage::RingReenable { header, .. }
            | CfgMessage::KillNode { header, .. }
            | CfgMessage::Shutdown { header }
            | CfgMessage::ReloadConfig { header, .. }
            | CfgMessage::CryptoReconfig { header, .. } => header,
        }
    }
    pub fn buffer_len(&self) -> usize {
        match self {
            CfgMessage::RingReenable { .. } | CfgMessage::ReloadConfig { .. } => 32,
            CfgMessage::KillNode { .. } => 288,
            CfgMessage::Shutdown { .. } => 16,
            CfgMessage::CryptoReconfig { .. } => 24,
        }
    }
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let h = self.header();
        let mut w = Writer::new(buf, h.endian, M, self.buffer_len())?;
        h.write(&mut w);
        match self {
            CfgMessage::RingReenable { source, .. } | CfgMessage::ReloadConfig { source, .. } => {
                source.write(&mut w)
            }
            CfgMessage::KillNode {
                nodeid,
                nodeid_pad,
                reason,
                ..
            } => {
                w.u32(*nodeid);
                w.bytes(nodeid_pad);
                w.u16(reason.length);
                w.bytes(&reason.pad);
                w.bytes(&reason.value);
            }
            CfgMessage::Shutdown { .. } => {}
            CfgMessage::CryptoReconfig {
                phase, phase_pad, ..
            } => {
                w.u32(*phase);
                w.bytes(phase_pad);
            }
        }
        Ok(w.pos())
    }
}

impl core::fmt::Display for CfgMessage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CfgMessage::RingReenable { source, .. } => {
                write!(f, "cfg.ringreenable nodeid={}", source.nodeid)
            }
            CfgMessage::KillNode { nodeid, reason, .. } => {
                write!(
                    f,
                    "cfg.killnode nodeid={nodeid} reason=\"{}\"",
                    show_bytes(reason.bytes())
                )
            }
            CfgMessage::Shutdown { .. } => f.write_str("cfg.shutdown"),
            CfgMessage::ReloadConfig { source, .. } => {
                write!(f, "cfg.reload_config nodeid={}", source.nodeid)
            }
            CfgMessage::CryptoReconfig { phase, .. } => {
                write!(f, "cfg.crypto_reconfig phase={phase}")
            }
        }
    }
}

/// A zero-copy view of a CFG message: just the function id and, for KILLNODE, the target.
#[derive(Debug, Clone, Copy)]
pub struct CfgMessageView<'a> {
    buf: &'a [u8],
    fn_id: u16,
    endian: Endian,
}

impl<'a> CfgMessageView<'a> {
    pub fn new_checked(buf: &'a [u8], gen: Generation, endian: Endian) -> Result<Self> {
        let m = CfgMessage::parse(buf, gen, endian)?;
        Ok(CfgMessageView {
            buf,
            fn_id: m.header().fn_id(),
            endian,
        })
    }
    pub fn fn_id(&self) -> u16 {
        self.fn_id
    }
    /// Target of a KILLNODE.
    pub fn killnode_nodeid(&self) -> Option<u32> {
        (self.fn_id == 1).then(|| self.endian.get_u32(&self.buf[16..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Spec §9.4 sizes: 32 / 288 / 16 / 32 / 24; KILLNODE nodeid @16, reason @24 (len u16,
    // value @32). No capture holds CFG traffic, so this test builds the bytes by hand.
    #[test]
    fn killnode_layout() {
        let mut b = vec![0u8; 288];
        b[0..4].copy_from_slice(&0x0001_0001u32.to_le_bytes());
        b[8..12].copy_from_slice(&288u32.to_le_bytes());
        b[16] = 3;
        b[24] = 4;
        b[32..36].copy_from_slice(b"test");
        let m = CfgMessage::parse(&b, Generation::G2, Endian::Little).unwrap();
        assert_eq!(m.to_string(), "cfg.killnode nodeid=3 reason=\"test\"");
        assert_eq!(
            CfgMessageView::new_checked(&b, Generation::G2, Endian::Little)
                .unwrap()
                .killnode_nodeid(),
            Some(3)
        );
        let mut out = vec![0u8; m.buffer_len()];
        m.emit(&mut out).unwrap();
        assert_eq!(out, b);
        for (f, len) in [(0u8, 32usize), (2, 16), (3, 32), (4, 24)] {
            let mut b = vec![0u8; len];
            b[0] = f;
            b[2] = 1;
            assert_eq!(
                CfgMessage::parse(&b, Generation::G3, Endian::Little)
                    .unwrap()
                    .buffer_len(),
                len
            );
            assert!(
                CfgMessage::parse(&b[..len - 1], Generation::G3, Endian::Little).is_err()
                    || len == 16
            );
        }
    }

    proptest! {
        #[test]
        fn round_trip_random(mut buf in proptest::collection::vec(any::<u8>(), 16..300), f in 0u8..6, be: bool) {
            buf[0] = 0; buf[1] = 0; buf[2] = 0; buf[3] = 0;
            let e = if be { Endian::Big } else { Endian::Little };
            if be { buf[3] = f; } else { buf[0] = f; }
            match CfgMessage::parse(&buf, Generation::G2, e) {
                Ok(m) => {
                    let mut out = vec![0u8; m.buffer_len()];
                    m.emit(&mut out).unwrap();
                    prop_assert_eq!(&out[..], &buf[..out.len()]);
                    let back = CfgMessage::parse(&out, Generation::G2, e).unwrap();
                    prop_assert_eq!(back, m);
                }
                Err(_) => prop_assert!(f > 4 || buf.len() < 288),
            }
        }
    }
}
