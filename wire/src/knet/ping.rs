//! Heartbeat ping and pong (`struct knet_header_payload_ping`, 20 bytes after the common
//! header). The pong echoes the ping's payload unchanged.

use core::time::Duration;

use super::header::{HeaderView, HEADER_LEN, TYPE_PING, TYPE_PONG};
use crate::endian::{Endian, Reader, Writer};
use crate::error::{Error, Result};
use crate::framing::KnetKind;

/// Size of the ping payload header.
pub const PING_LEN: usize = 20;
/// Size of a whole ping/pong frame as libknet sends it (`KNET_HEADER_PING_SIZE`).
pub const PING_FRAME_LEN: usize = HEADER_LEN + PING_LEN;

/// Zero-copy view of a whole ping or pong frame.
#[derive(Debug, Clone, Copy)]
pub struct PingView<'a> {
    buf: &'a [u8],
}

impl<'a> PingView<'a> {
    /// The whole frame.
    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// Checks the common header (type ping or pong) and the 20-byte ping payload.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self> {
        Self::from_header(HeaderView::new_checked(buf)?)
    }

    /// As [`Self::new_checked`] for a frame whose common header was checked already.
    pub fn from_header(h: HeaderView<'a>) -> Result<Self> {
        let buf = h.bytes();
        if !matches!(h.kind(), KnetKind::Ping | KnetKind::Pong) {
            return Err(Error::Invalid {
                message: "knet ping",
                field: "type",
                offset: 1,
                value: u64::from(h.type_byte()),
            });
        }
        // Length only: the owned parse would copy the tail.
        Reader::new(h.payload(), Endian::Big, "knet ping").bytes("payload", PING_LEN)?;
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
        &self.buf[HEADER_LEN + PING_LEN..]
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

/// A whole ping (or, with `pong`, pong) frame as libknet 1.25 sends it: no tail, pad bytes 0.
/// `time` is echoed verbatim by the pong; `seq` is the sender's data tx sequence number.
pub fn ping_frame(
    src_host: u16,
    pong: bool,
    link: u8,
    time: [u8; 16],
    seq: u16,
    timed: u8,
) -> [u8; PING_FRAME_LEN] {
    let mut f = [0u8; PING_FRAME_LEN];
    f[0] = crate::framing::KNET_VERSION;
    f[1] = if pong { TYPE_PONG } else { TYPE_PING };
    f[2..4].copy_from_slice(&src_host.to_be_bytes());
    f[HEADER_LEN] = link;
    f[7..23].copy_from_slice(&time);
    f[23..25].copy_from_slice(&seq.to_be_bytes());
    f[25] = timed;
    f
}

/// A ping timestamp: a `struct timespec` {u64 s, u64 ns} in x86-64 (little-endian) order, the
/// layout every sender in our captures uses. Only the pinger reads it back, from the pong.
pub fn encode_time(d: Duration) -> [u8; 16] {
    let mut t = [0u8; 16];
    t[..8].copy_from_slice(&d.as_secs().to_le_bytes());
    t[8..].copy_from_slice(&u64::from(d.subsec_nanos()).to_le_bytes());
    t
}

/// Reads back [`encode_time`]; `None` when the nanoseconds are out of range.
pub fn decode_time(t: &[u8; 16]) -> Option<Duration> {
    let mut s = [0u8; 8];
    let mut ns = [0u8; 8];
    s.copy_from_slice(&t[..8]);
    ns.copy_from_slice(&t[8..]);
    let ns = u64::from_le_bytes(ns);
    (ns < 1_000_000_000).then(|| Duration::new(u64::from_le_bytes(s), ns as u32))
}
