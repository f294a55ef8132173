//! Heartbeat ping and pong (`struct knet_header_payload_ping`, 20 bytes after the common
//! header). The pong echoes the ping's payload unchanged.

use super::header::HeaderView;
use crate::endian::{Endian, Reader, Writer};
use crate::error::{Error, Result};
use crate::framing::KnetKind;

/// Size of the ping payload header.
pub const PING_LEN: usize = 20;
/// Size of a whole ping/pong frame as libknet sends it (`KNET_HEADER_PING_SIZE`).
pub const PING_FRAME_LEN: usize = super::header::HEADER_LEN + PING_LEN;

/// Zero-copy view of a whole ping or pong frame.
#[derive(Debug, Clone, Copy)]
pub struct PingView<'a> {
    buf: &'a [u8],
}

impl<'a> PingView<'a> {
    /// Checks the common header (type ping or pong) and the 20-byte ping payload.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self> {
        let h = HeaderView::new_checked(buf)?;
        if !matches!(h.kind(), KnetKind::Ping | KnetKind::Pong) {
            return Err(Error::Invalid {
                message: "knet ping",
                field: "type",
                offset: 1,
                value: u64::from(h.type_byte()),
            });
        }
        Ping::parse(h.payload())?;
        Ok(PingView { buf })
    }

    /// Link id the ping was sent on.
    pub fn link(&self) -> u8 {
        self.buf[6]
    }

    /// The sender's `struct timespec` (CLOCK_MONOTONIC), 16 bytes in the sender's host order.
    pub fn time(&self) -> [u8; 16] {
        let mut t = [0u8; 16];
        t.copy_from_slice(&self.buf[7..23]);
        t
    }

    /// The pinger's current data tx sequence number (big-endian).
    pub fn seq(&self) -> u16 {
        u16::from_be_bytes([self.buf[23], self.buf[24]])
    }

    /// 1 for a timed ping, 0 for one forced by the sequence number.
    pub fn timed(&self) -> u8 {
        self.buf[25]
    }

    /// Bytes after the ping payload (none from libknet 1.25).
    pub fn tail(&self) -> &'a [u8] {
        &self.buf[super::header::HEADER_LEN + PING_LEN..]
    }
}

/// Ping/pong payload, owned.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Ping {
    /// Link id.
    pub link: u8,
    /// `struct timespec` bytes, sender's host order, echoed verbatim by the pong.
    pub time: [u8; 16],
    /// Sender's tx sequence number.
    pub seq: u16,
    /// Timed flag.
    pub timed: u8,
    /// Bytes after the 20-byte payload, verbatim (empty from libknet 1.25).
    pub tail: Vec<u8>,
}

impl Ping {
    /// Parses the bytes after the common header.
    pub fn parse(buf: &[u8]) -> Result<Self> {
        let mut r = Reader::new(buf, Endian::Big, "knet ping");
        Ok(Ping {
            link: r.u8("link")?,
            time: r.array::<16>("time")?,
            seq: r.u16("seq_num")?,
            timed: r.u8("timed")?,
            tail: r.rest().to_vec(),
        })
    }

    /// 20 + tail length.
    pub fn buffer_len(&self) -> usize {
        PING_LEN + self.tail.len()
    }

    /// Writes the payload.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let mut w = Writer::new(buf, Endian::Big, "knet ping", self.buffer_len())?;
        w.u8(self.link);
        w.bytes(&self.time);
        w.u16(self.seq);
        w.u8(self.timed);
        w.bytes(&self.tail);
        Ok(w.pos())
    }

    /// Seconds and nanoseconds of the timestamp, read as a little-endian 64-bit `timespec`
    /// (every sender in our captures is x86-64).
    pub fn time_le(&self) -> (u64, u64) {
        let mut s = [0u8; 8];
        let mut ns = [0u8; 8];
        s.copy_from_slice(&self.time[..8]);
        ns.copy_from_slice(&self.time[8..]);
        (u64::from_le_bytes(s), u64::from_le_bytes(ns))
    }
}
