//! The data payload header (`struct knet_header_payload_data`, 8 bytes after the common header)
//! and the user data behind it.

use super::header::{HeaderView, HEADER_LEN};
use crate::endian::{Endian, Reader, Writer};
use crate::error::{Error, Result};
use crate::framing::KnetKind;

/// Size of the data payload header.
pub const DATA_LEN: usize = 8;
/// Size of the whole data header (`KNET_HEADER_DATA_SIZE`): common header + data header.
pub const DATA_HEADER_LEN: usize = HEADER_LEN + DATA_LEN;

/// Zero-copy view of a whole knet data frame.
#[derive(Debug, Clone, Copy)]
pub struct DataView<'a> {
    buf: &'a [u8],
}

impl<'a> DataView<'a> {
    /// The whole frame.
    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// Checks the common header (type data) and that the 14-byte data header is present.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self> {
        Self::from_header(HeaderView::new_checked(buf)?)
    }

    /// As [`Self::new_checked`] for a frame whose common header was checked already.
    pub fn from_header(h: HeaderView<'a>) -> Result<Self> {
        let buf = h.bytes();
        if h.kind() != KnetKind::Data {
            return Err(Error::Invalid {
                message: "knet data",
                field: "type",
                offset: 1,
                value: u64::from(h.type_byte()),
            });
        }
        // Length only: the getters read the fields.
        Reader::new(h.payload(), Endian::Big, "knet data").bytes("data header", DATA_LEN)?;
        Ok(DataView { buf })
    }

    /// The common header.
    pub fn header(&self) -> HeaderView<'a> {
        HeaderView::new_checked(self.buf).unwrap_or_else(|_| unreachable!())
    }

    /// Per-sender packet sequence number (big-endian on the wire).
    pub fn seq(&self) -> u16 {
        u16::from_be_bytes([self.buf[6], self.buf[7]])
    }

    /// Compression method id (0 = none).
    pub fn compress(&self) -> u8 {
        self.buf[8]
    }

    /// Pad byte at offset 9.
    pub fn pad(&self) -> u8 {
        self.buf[9]
    }

    /// 1 when sent to all hosts, 0 for unicast.
    pub fn bcast(&self) -> u8 {
        self.buf[10]
    }

    /// Number of fragments (1 = not fragmented).
    pub fn frag_num(&self) -> u8 {
        self.buf[11]
    }

    /// Fragment number, 1-based (0 when not fragmented).
    pub fn frag_seq(&self) -> u8 {
        self.buf[12]
    }

    /// Channel (corosync uses 0).
    pub fn channel(&self) -> u8 {
        self.buf[13]
    }

    /// The user data (a Totem message, or one fragment of it).
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[DATA_HEADER_LEN..]
    }
}

/// The 8-byte data payload header, owned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DataHeader {
    /// Per-sender sequence number.
    pub seq: u16,
    /// Compression method id.
    pub compress: u8,
    /// Pad byte, verbatim.
    pub pad: u8,
    /// Broadcast flag.
    pub bcast: u8,
    /// Number of fragments.
    pub frag_num: u8,
    /// Fragment number (1-based; 0 when unfragmented).
    pub frag_seq: u8,
    /// Channel.
    pub channel: u8,
}

impl DataHeader {
    /// Parses the 8 bytes that follow the common header.
    pub fn parse(buf: &[u8]) -> Result<Self> {
        let mut r = Reader::new(buf, Endian::Big, "knet data");
        Ok(DataHeader {
            seq: r.u16("seq_num")?,
            compress: r.u8("compress")?,
            pad: r.u8("pad")?,
            bcast: r.u8("bcast")?,
            frag_num: r.u8("frag_num")?,
            frag_seq: r.u8("frag_seq")?,
            channel: r.u8("channel")?,
        })
    }

    /// Always [`DATA_LEN`].
    pub fn buffer_len(&self) -> usize {
        DATA_LEN
    }

    /// Writes the 8 bytes.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let mut w = Writer::new(buf, Endian::Big, "knet data", DATA_LEN)?;
        w.u16(self.seq);
        for b in [
            self.compress,
            self.pad,
            self.bcast,
            self.frag_num,
            self.frag_seq,
            self.channel,
        ] {
            w.u8(b);
        }
        Ok(w.pos())
    }

    /// True when this frame carries a whole message.
    pub fn is_whole(&self) -> bool {
        self.frag_num <= 1
    }

    /// For a fragment (`frag_num > 1`): why its numbering is impossible, if it is
    /// (`frag_seq` must be in 1..=`frag_num`).
    pub fn fragment_error(&self) -> Option<&'static str> {
        (!self.is_whole() && (self.frag_seq == 0 || self.frag_seq > self.frag_num))
            .then_some("frag_seq outside 1..=frag_num")
    }

    /// The 14 bytes in front of the user data of a data frame from `src_host` (common header
    /// with pad bytes 0, then this header): what the live node writes before each fragment.
    pub fn frame_header(&self, src_host: u16) -> [u8; DATA_HEADER_LEN] {
        let s = src_host.to_be_bytes();
        let q = self.seq.to_be_bytes();
        [
            crate::framing::KNET_VERSION,
            super::header::TYPE_DATA,
            s[0],
            s[1],
            0,
            0,
            q[0],
            q[1],
            self.compress,
            self.pad,
            self.bcast,
            self.frag_num,
            self.frag_seq,
            self.channel,
        ]
    }
}
