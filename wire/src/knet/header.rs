//! The 6-byte common header every knet v1 frame starts with (`struct knet_header` without its
//! payload union): version, type, source host id (big-endian), two pad bytes.
//!
//! libknet 1.25 (and every 1.x release up to 1.29) calls offsets 4 and 5 `kh_pad1` / `kh_pad2`
//! and sends zeros there (every frame of our captures, sealed or not). Only libknet's 2.x
//! development line reuses offset 4 as `kh_max_ver`. Both bytes are kept verbatim.

use crate::endian::{Endian, Reader, Writer};
use crate::error::{Error, Result};
use crate::framing::{KnetKind, KNET_VERSION};

/// Common header size (`KNET_HEADER_SIZE`).
pub const HEADER_LEN: usize = 6;
/// Type byte of a data frame.
pub const TYPE_DATA: u8 = 0x00;
/// Mask shared by all control types (`KNET_HEADER_TYPE_PMSK`).
pub const TYPE_CONTROL_MASK: u8 = 0x80;
/// Type byte of a ping (heartbeat).
pub const TYPE_PING: u8 = 0x81;
/// Type byte of a pong (heartbeat reply).
pub const TYPE_PONG: u8 = 0x82;
/// Type byte of a PMTUD probe.
pub const TYPE_PMTUD: u8 = 0x83;
/// Type byte of a PMTUD reply.
pub const TYPE_PMTUD_REPLY: u8 = 0x84;

/// Maps a type byte to its kind.
pub fn kind_of(type_byte: u8) -> Option<KnetKind> {
    match type_byte {
        TYPE_DATA => Some(KnetKind::Data),
        TYPE_PING => Some(KnetKind::Ping),
        TYPE_PONG => Some(KnetKind::Pong),
        TYPE_PMTUD => Some(KnetKind::Pmtud),
        TYPE_PMTUD_REPLY => Some(KnetKind::PmtudReply),
        _ => None,
    }
}

/// The type byte libknet sends for a kind.
pub fn type_byte_of(kind: KnetKind) -> u8 {
    match kind {
        KnetKind::Data => TYPE_DATA,
        KnetKind::Ping => TYPE_PING,
        KnetKind::Pong => TYPE_PONG,
        KnetKind::Pmtud => TYPE_PMTUD,
        KnetKind::PmtudReply => TYPE_PMTUD_REPLY,
    }
}

/// Zero-copy view of a knet frame's common header.
#[derive(Debug, Clone, Copy)]
pub struct HeaderView<'a> {
    buf: &'a [u8],
}

impl<'a> HeaderView<'a> {
    /// Checks length, version 1 and a known type byte.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self> {
        KnetHeader::parse(buf)?;
        Ok(HeaderView { buf })
    }

    /// Version byte (always 1).
    pub fn version(&self) -> u8 {
        self.buf[0]
    }

    /// Raw type byte.
    pub fn type_byte(&self) -> u8 {
        self.buf[1]
    }

    /// Frame kind.
    pub fn kind(&self) -> KnetKind {
        kind_of(self.buf[1]).unwrap_or(KnetKind::Data)
    }

    /// Sender's knet host id (corosync nodeid), big-endian on the wire.
    pub fn src_host(&self) -> u16 {
        u16::from_be_bytes([self.buf[2], self.buf[3]])
    }

    /// Offsets 4 and 5 (`kh_pad1`, `kh_pad2` in libknet 1.25), verbatim.
    pub fn pad(&self) -> [u8; 2] {
        [self.buf[4], self.buf[5]]
    }

    /// The whole frame.
    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// Everything after the common header.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[HEADER_LEN..]
    }
}

/// The common header, owned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KnetHeader {
    /// Frame kind (from the type byte).
    pub kind: KnetKind,
    /// Sender's knet host id.
    pub src_host: u16,
    /// Offsets 4 and 5, verbatim.
    pub pad: [u8; 2],
}

impl KnetHeader {
    /// Parses the first 6 bytes of `buf`.
    pub fn parse(buf: &[u8]) -> Result<Self> {
        let mut r = Reader::new(buf, Endian::Big, "knet header");
        let version = r.u8("version")?;
        if version != KNET_VERSION {
            return Err(r.invalid("version", 0, u64::from(version)));
        }
        let t = r.u8("type")?;
        let kind = kind_of(t).ok_or(Error::Invalid {
            message: "knet header",
            field: "type",
            offset: 1,
            value: u64::from(t),
        })?;
        Ok(KnetHeader {
            kind,
            src_host: r.u16("src_host")?,
            pad: r.array::<2>("pad")?,
        })
    }

    /// Always [`HEADER_LEN`].
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the 6 header bytes.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let mut w = Writer::new(buf, Endian::Big, "knet header", HEADER_LEN)?;
        w.u8(KNET_VERSION);
        w.u8(type_byte_of(self.kind));
        w.u16(self.src_host);
        w.bytes(&self.pad);
        Ok(w.pos())
    }
}
