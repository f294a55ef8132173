//! Borrowed views of received knet v1 frames and builders for the frames we send
//! (onwire.h: 6-byte common header, then the data, ping/pong or PMTUD header).

/// knet header version 1.
pub const VERSION: u8 = 0x01;
/// Frame types.
pub const TYPE_DATA: u8 = 0x00;
pub const TYPE_PING: u8 = 0x81;
pub const TYPE_PONG: u8 = 0x82;
pub const TYPE_PMTUD: u8 = 0x83;
pub const TYPE_PMTUD_REPLY: u8 = 0x84;
/// Common header length.
pub const HEADER_SIZE: usize = 6;
/// Common + data header length.
pub const DATA_HEADER_SIZE: usize = 14;
/// Common + ping header length (link 1, timestamp 16, seq 2, timed 1).
pub const PING_SIZE: usize = 26;
/// Common + PMTUD header length (link 1, size 2): the size of a PMTUD reply.
pub const PMTUD_SIZE: usize = 9;

/// Why a received datagram is not a knet frame we understand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("knet frame of {len} bytes is shorter than the {need}-byte {what} header")]
    Short {
        what: &'static str,
        len: usize,
        need: usize,
    },
    #[error("knet header version {0:#04x} at offset 0 (only version 1 exists)")]
    Version(u8),
    #[error("knet frame type {0:#04x} at offset 1 is unknown")]
    Type(u8),
}

/// A received frame's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body<'a> {
    Data {
        seq: u16,
        compress: u8,
        bcast: u8,
        frag_num: u8,
        frag_seq: u8,
        channel: u8,
        payload: &'a [u8],
    },
    /// Ping (`pong == false`) or pong: link id, the 16-byte timestamp, seq, timed flag.
    Ping {
        pong: bool,
        link: u8,
        time: [u8; 16],
        seq: u16,
        timed: u8,
    },
    /// PMTUD probe (`reply == false`) or reply: link id and the size bytes (sender order).
    Pmtud {
        reply: bool,
        link: u8,
        size: [u8; 2],
    },
}

/// A received frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub src_host: u16,
    pub body: Body<'a>,
}

fn need(buf: &[u8], n: usize, what: &'static str) -> Result<(), FrameError> {
    if buf.len() < n {
        Err(FrameError::Short {
            what,
            len: buf.len(),
            need: n,
        })
    } else {
        Ok(())
    }
}

/// Parses one frame (after the seal was opened).
pub fn parse(buf: &[u8]) -> Result<Frame<'_>, FrameError> {
    need(buf, HEADER_SIZE + 1, "common")?;
    if buf[0] != VERSION {
        return Err(FrameError::Version(buf[0]));
    }
    let src_host = u16::from_be_bytes([buf[2], buf[3]]);
    let body = match buf[1] {
        TYPE_DATA => {
            need(buf, DATA_HEADER_SIZE, "data")?;
            Body::Data {
                seq: u16::from_be_bytes([buf[6], buf[7]]),
                compress: buf[8],
                bcast: buf[10],
                frag_num: buf[11],
                frag_seq: buf[12],
                channel: buf[13],
                payload: &buf[DATA_HEADER_SIZE..],
            }
        }
        t @ (TYPE_PING | TYPE_PONG) => {
            need(buf, PING_SIZE, "ping")?;
            let mut time = [0u8; 16];
            time.copy_from_slice(&buf[7..23]);
            Body::Ping {
                pong: t == TYPE_PONG,
                link: buf[6],
                time,
                seq: u16::from_be_bytes([buf[23], buf[24]]),
                timed: buf[25],
            }
        }
        t @ (TYPE_PMTUD | TYPE_PMTUD_REPLY) => {
            need(buf, PMTUD_SIZE, "pmtud")?;
            Body::Pmtud {
                reply: t == TYPE_PMTUD_REPLY,
                link: buf[6],
                size: [buf[7], buf[8]],
            }
        }
        t => return Err(FrameError::Type(t)),
    };
    Ok(Frame { src_host, body })
}

/// The 14-byte data header (compress 0, channel 0: corosync's only channel).
pub fn data_header(src: u16, seq: u16, bcast: bool, frag_num: u8, frag_seq: u8) -> [u8; 14] {
    let s = src.to_be_bytes();
    let q = seq.to_be_bytes();
    [
        VERSION,
        TYPE_DATA,
        s[0],
        s[1],
        0,
        0,
        q[0],
        q[1],
        0,
        0,
        u8::from(bcast),
        frag_num,
        frag_seq,
        0,
    ]
}

/// A ping (or, with `pong`, a pong) frame.
pub fn ping(src: u16, pong: bool, link: u8, time: [u8; 16], seq: u16, timed: u8) -> [u8; 26] {
    let mut f = [0u8; PING_SIZE];
    f[0] = VERSION;
    f[1] = if pong { TYPE_PONG } else { TYPE_PING };
    f[2..4].copy_from_slice(&src.to_be_bytes());
    f[6] = link;
    f[7..23].copy_from_slice(&time);
    f[23..25].copy_from_slice(&seq.to_be_bytes());
    f[25] = timed;
    f
}

/// The 9-byte PMTUD reply: the probe's header with our host id and type 0x84.
pub fn pmtud_reply(src: u16, link: u8, size: [u8; 2]) -> [u8; 9] {
    let s = src.to_be_bytes();
    [
        VERSION,
        TYPE_PMTUD_REPLY,
        s[0],
        s[1],
        0,
        0,
        link,
        size[0],
        size[1],
    ]
}

/// The ping timestamp we send: a `struct timespec` {u64 s, u64 ns} in x86-64 (little-endian)
/// order; only we read it back, from the pong.
pub fn encode_time(d: std::time::Duration) -> [u8; 16] {
    let mut t = [0u8; 16];
    t[..8].copy_from_slice(&d.as_secs().to_le_bytes());
    t[8..].copy_from_slice(&u64::from(d.subsec_nanos()).to_le_bytes());
    t
}

/// Reads back [`encode_time`].
pub fn decode_time(t: &[u8; 16]) -> Option<std::time::Duration> {
    let s = u64::from_le_bytes(t[..8].try_into().ok()?);
    let ns = u64::from_le_bytes(t[8..].try_into().ok()?);
    (ns < 1_000_000_000).then(|| std::time::Duration::new(s, ns as u32))
}
