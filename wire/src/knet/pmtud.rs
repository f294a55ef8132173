//! Path MTU discovery probe and reply (`struct knet_header_payload_pmtud`: link, size, then
//! fill bytes up to the probed size).

use super::header::{HeaderView, HEADER_LEN, TYPE_PMTUD_REPLY};
use crate::endian::{Endian, Reader, Writer};
use crate::error::{Error, Result};
use crate::framing::KnetKind;

/// Size of the PMTUD payload header (link + size).
pub const PMTUD_LEN: usize = 3;
/// Size of a PMTUD reply frame (`KNET_HEADER_PMTUD_SIZE`).
pub const PMTUD_FRAME_LEN: usize = HEADER_LEN + PMTUD_LEN;

/// Zero-copy view of a whole PMTUD probe or reply.
#[derive(Debug, Clone, Copy)]
pub struct PmtudView<'a> {
    buf: &'a [u8],
}

impl<'a> PmtudView<'a> {
    /// The whole frame.
    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// Checks the common header (type pmtud or pmtud reply) and the 3-byte payload header.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self> {
        Self::from_header(HeaderView::new_checked(buf)?)
    }

    /// As [`Self::new_checked`] for a frame whose common header was checked already.
    pub fn from_header(h: HeaderView<'a>) -> Result<Self> {
        let buf = h.bytes();
        if !matches!(h.kind(), KnetKind::Pmtud | KnetKind::PmtudReply) {
            return Err(Error::Invalid {
                message: "knet pmtud",
                field: "type",
                offset: 1,
                value: u64::from(h.type_byte()),
            });
        }
        // Length only: the owned parse would copy the padding.
        Reader::new(h.payload(), Endian::Big, "knet pmtud").bytes("payload", PMTUD_LEN)?;
        Ok(PmtudView { buf })
    }

    /// Link id.
    pub fn link(&self) -> u8 {
        self.buf[6]
    }

    /// The size field, raw (sender's host order).
    pub fn size_raw(&self) -> [u8; 2] {
        [self.buf[7], self.buf[8]]
    }

    /// Fill bytes after the size (the probe is padded to the probed size).
    pub fn padding(&self) -> &'a [u8] {
        &self.buf[HEADER_LEN + PMTUD_LEN..]
    }
}

/// PMTUD payload, owned.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Pmtud {
    /// Link id.
    pub link: u8,
    /// Probed on-wire size (IP packet length the sender aimed at), sender's host order.
    pub size_raw: [u8; 2],
    /// Fill bytes, verbatim.
    pub padding: Vec<u8>,
}

impl Pmtud {
    /// Parses the bytes after the common header.
    pub fn parse(buf: &[u8]) -> Result<Self> {
        let mut r = Reader::new(buf, Endian::Big, "knet pmtud");
        Ok(Pmtud {
            link: r.u8("link")?,
            size_raw: r.array::<2>("size")?,
            padding: r.rest().to_vec(),
        })
    }

    /// 3 + padding length.
    pub fn buffer_len(&self) -> usize {
        PMTUD_LEN + self.padding.len()
    }

    /// Writes the payload.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let mut w = Writer::new(buf, Endian::Big, "knet pmtud", self.buffer_len())?;
        w.u8(self.link);
        w.bytes(&self.size_raw);
        w.bytes(&self.padding);
        Ok(w.pos())
    }

    /// The size read in `endian` (little-endian for every sender in our captures).
    pub fn size(&self, endian: Endian) -> u16 {
        match endian {
            Endian::Little => u16::from_le_bytes(self.size_raw),
            Endian::Big => u16::from_be_bytes(self.size_raw),
        }
    }
}

/// The PMTUD reply libknet sends to a probe: the probe's link and size bytes under our host id
/// and type 0x84, without the padding (`KNET_HEADER_PMTUD_SIZE` bytes).
pub fn pmtud_reply_frame(src_host: u16, link: u8, size_raw: [u8; 2]) -> [u8; PMTUD_FRAME_LEN] {
    let s = src_host.to_be_bytes();
    [
        crate::framing::KNET_VERSION,
        TYPE_PMTUD_REPLY,
        s[0],
        s[1],
        0,
        0,
        link,
        size_raw[0],
        size_raw[1],
    ]
}
