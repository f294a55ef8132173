//! kronosnet (knet) v1 frames, as far as corosync 3's knet transport needs recognising them:
//! the common 6-byte header, the data header around a Totem message, ping/pong and PMTUD.
//!
//! Layout from the bytes of corosync 3.1.7 with libknet 1.25 (shared/spec/findings-corosync3-live
//! §5.5): host ids and data sequence numbers are big-endian; ping timestamps and the PMTUD
//! size are in the sender's host order and are carried as raw bytes.

use crate::endian::{Endian, Reader, Writer};
use crate::error::Result;
use crate::framing::{KnetKind, KNET_VERSION};

/// Common header size (`KNET_HEADER_SIZE`).
pub const HEADER_LEN: usize = 6;
/// `sizeof(struct knet_header)`: common header plus the largest payload header (ping, 20 bytes).
/// libknet subtracts it when it computes the application MTU.
pub const HEADER_ALL_LEN: usize = 26;
/// Largest user message knet carries (`KNET_MAX_PACKET_SIZE`); also the most bytes knet
/// authenticates in one datagram.
pub const MAX_PACKET_SIZE: usize = 65536;
/// Size of the data header (common header included) before the user payload.
pub const DATA_HEADER_LEN: usize = 14;

/// The part of a frame after the common header.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KnetBody {
    /// User data: a whole Totem message when `frag_num == 1`, else one fragment of it.
    Data {
        seq: u16,
        compress: u8,
        pad: u8,
        bcast: u8,
        frag_num: u8,
        frag_seq: u8,
        channel: u8,
        payload: Vec<u8>,
    },
    /// Ping or pong: link id, then bytes echoed verbatim (timestamp, seq, timed flag).
    Ping { link: u8, rest: Vec<u8> },
    /// PMTUD probe or reply: link id, then the size and padding, raw.
    Pmtud { link: u8, rest: Vec<u8> },
}

/// One knet frame, owned.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KnetFrame {
    pub kind: KnetKind,
    /// Raw type byte (0x00 data, 0x81 ping, 0x82 pong, 0x83 pmtud, 0x84 pmtud reply).
    pub type_byte: u8,
    /// Sender's knet host id (= corosync nodeid).
    pub src_host: u16,
    pub pad: [u8; 2],
    pub body: KnetBody,
}

impl KnetFrame {
    pub fn parse(buf: &[u8]) -> Result<Self> {
        let mut r = Reader::new(buf, Endian::Big, "knet");
        let version = r.u8("version")?;
        if version != KNET_VERSION {
            return Err(r.invalid("version", 0, u64::from(version)));
        }
        let type_byte = r.u8("type")?;
        let kind = match type_byte {
            0x00 => KnetKind::Data,
            0x81 => KnetKind::Ping,
            0x82 => KnetKind::Pong,
            0x83 => KnetKind::Pmtud,
            0x84 => KnetKind::PmtudReply,
            v => return Err(r.invalid("type", 1, u64::from(v))),
        };
        let src_host = r.u16("src_host")?;
        let pad = r.array::<2>("pad")?;
        let body = match kind {
            KnetKind::Data => KnetBody::Data {
                seq: r.u16("seq_num")?,
                compress: r.u8("compress")?,
                pad: r.u8("pad")?,
                bcast: r.u8("bcast")?,
                frag_num: r.u8("frag_num")?,
                frag_seq: r.u8("frag_seq")?,
                channel: r.u8("channel")?,
                payload: r.rest().to_vec(),
            },
            KnetKind::Ping | KnetKind::Pong => KnetBody::Ping {
                link: r.u8("link")?,
                rest: r.rest().to_vec(),
            },
            KnetKind::Pmtud | KnetKind::PmtudReply => KnetBody::Pmtud {
                link: r.u8("link")?,
                rest: r.rest().to_vec(),
            },
        };
        Ok(KnetFrame {
            kind,
            type_byte,
            src_host,
            pad,
            body,
        })
    }

    pub fn buffer_len(&self) -> usize {
        match &self.body {
            KnetBody::Data { payload, .. } => DATA_HEADER_LEN + payload.len(),
            KnetBody::Ping { rest, .. } | KnetBody::Pmtud { rest, .. } => {
                HEADER_LEN + 1 + rest.len()
            }
        }
    }

    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let mut w = Writer::new(buf, Endian::Big, "knet", self.buffer_len())?;
        w.u8(KNET_VERSION);
        w.u8(self.type_byte);
        w.u16(self.src_host);
        w.bytes(&self.pad);
        match &self.body {
            KnetBody::Data {
                seq,
                compress,
                pad,
                bcast,
                frag_num,
                frag_seq,
                channel,
                payload,
            } => {
                w.u16(*seq);
                for b in [*compress, *pad, *bcast, *frag_num, *frag_seq, *channel] {
                    w.u8(b);
                }
                w.bytes(payload);
            }
            KnetBody::Ping { link, rest } | KnetBody::Pmtud { link, rest } => {
                w.u8(*link);
                w.bytes(rest);
            }
        }
        Ok(w.pos())
    }

    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = vec![0u8; self.buffer_len()];
        let n = self.emit(&mut v).unwrap_or(0);
        v.truncate(n);
        v
    }

    /// The Totem message inside an unfragmented data frame.
    pub fn totem_payload(&self) -> Option<&[u8]> {
        match &self.body {
            KnetBody::Data {
                frag_num: 1,
                payload,
                ..
            } => Some(payload),
            _ => None,
        }
    }
}
