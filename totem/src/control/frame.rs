//! Binary framing of a CPG session that joined with `"encoding":"binary"`.
//!
//! After the `joined` reply line, both directions carry frames: a little-endian `u32` length
//! of what follows, then a kind byte and its body.
//!
//! | direction | kind | body |
//! |---|---|---|
//! | client → node | 1 `mcast` | the message bytes |
//! | client → node | 2 `leave` | empty |
//! | node → client | 1 `deliver` | `u32` LE nodeid, `u32` LE pid, the message bytes |
//! | node → client | 2 `reply` | any other [`super::Reply`] as JSON text (no newline) |
//!
//! A frame longer than [`FRAME_MAX`] or of an unknown kind ends the session with an error.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

/// Client → node: multicast the body.
pub const MCAST: u8 = 1;
/// Client → node: leave the group and close.
pub const LEAVE: u8 = 2;
/// Node → client: a delivery.
pub const DELIVER: u8 = 1;
/// Node → client: a JSON reply (events other than deliveries, errors).
pub const REPLY: u8 = 2;

/// Longest frame accepted: a largest CPG message plus the delivery header.
pub const FRAME_MAX: usize = crate::cpg::MESSAGE_MAX + 16;

/// A length prefix of 0 or over [`FRAME_MAX`] (the `io::Error` payload of
/// [`FrameReader::next`], see [`BadFrameLength::of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("frame length {len} outside 1..={max} bytes")]
pub struct BadFrameLength {
    pub len: usize,
    pub max: usize,
}

impl BadFrameLength {
    /// The bad length `e` reports, if that is what it is.
    pub fn of(e: &io::Error) -> Option<BadFrameLength> {
        e.get_ref()?.downcast_ref::<BadFrameLength>().copied()
    }
}

/// Appends one frame of `kind` whose body is `parts` concatenated.
pub fn put(buf: &mut Vec<u8>, kind: u8, parts: &[&[u8]]) {
    let body: usize = parts.iter().map(|p| p.len()).sum();
    let len = u32::try_from(body.saturating_add(1)).unwrap_or(u32::MAX);
    buf.extend_from_slice(&len.to_le_bytes());
    buf.push(kind);
    for p in parts {
        buf.extend_from_slice(p);
    }
}

/// Appends a delivery frame.
pub fn put_deliver(buf: &mut Vec<u8>, nodeid: u32, pid: u32, data: &[u8]) {
    put(
        buf,
        DELIVER,
        &[&nodeid.to_le_bytes(), &pid.to_le_bytes(), data],
    );
}

/// Splits a delivery body into (nodeid, pid, data).
pub fn parse_deliver(body: &[u8]) -> io::Result<(u32, u32, &[u8])> {
    match body {
        [a, b, c, d, e, f, g, h, data @ ..] => Ok((
            u32::from_le_bytes([*a, *b, *c, *d]),
            u32::from_le_bytes([*e, *f, *g, *h]),
            data,
        )),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "deliver frame body of {} bytes, need at least 8",
                body.len()
            ),
        )),
    }
}

/// Reads frames from a stream; [`FrameReader::next`] is cancel-safe (one `read` per await,
/// whole frames kept in its own buffer), so it can sit in a `select!`.
#[derive(Debug)]
pub struct FrameReader<R> {
    r: R,
    buf: Vec<u8>,
    /// Start of unread bytes in `buf`.
    pos: usize,
    /// Read space, allocated once.
    scratch: Box<[u8]>,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Reads from `r`, starting with bytes already read from it (`pending`).
    pub fn new(r: R, pending: Vec<u8>) -> Self {
        FrameReader {
            r,
            buf: pending,
            pos: 0,
            scratch: vec![0u8; 64 * 1024].into_boxed_slice(),
        }
    }

    /// The next frame as (kind, body); `Ok(None)` at a clean end of stream.
    pub async fn next(&mut self) -> io::Result<Option<(u8, Vec<u8>)>> {
        loop {
            if let Some(frame) = self.take()? {
                return Ok(Some(frame));
            }
            // Compact rarely: always when everything was read (no copy), else once the
            // consumed head is large.
            if self.pos == self.buf.len() {
                self.buf.clear();
                self.pos = 0;
            } else if self.pos > 256 * 1024 {
                self.buf.drain(..self.pos);
                self.pos = 0;
            }
            // Read into scratch space and append after: a read cancelled by `select!` then
            // leaves `buf` as it was.
            let n = self.r.read(&mut self.scratch).await?;
            self.buf
                .extend_from_slice(self.scratch.get(..n).unwrap_or_default());
            if n == 0 {
                return if self.buf.len() == self.pos {
                    Ok(None)
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "stream ended inside a frame ({} bytes)",
                            self.buf.len() - self.pos
                        ),
                    ))
                };
            }
        }
    }

    /// A whole frame from the buffer, if there is one.
    fn take(&mut self) -> io::Result<Option<(u8, Vec<u8>)>> {
        let avail = self.buf.get(self.pos..).unwrap_or_default();
        let Some(len) = avail.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        if len == 0 || len > FRAME_MAX {
            // Refused from the length prefix alone: nothing of the frame is buffered.
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                BadFrameLength {
                    len,
                    max: FRAME_MAX,
                },
            ));
        }
        let Some(frame) = avail.get(4..4 + len) else {
            return Ok(None);
        };
        let kind = frame[0];
        let body = frame[1..].to_vec();
        self.pos += 4 + len;
        Ok(Some((kind, body)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_split_anywhere_come_back_whole() {
        let mut wire = Vec::new();
        put(&mut wire, MCAST, &[b"hello"]);
        put_deliver(&mut wire, 7, 4242, &[0xde, 0xad]);
        put(&mut wire, LEAVE, &[]);
        // Hand-written bytes of the first frame: length 6 (kind + 5), kind 1, "hello".
        assert_eq!(&wire[..10], &[6, 0, 0, 0, 1, b'h', b'e', b'l', b'l', b'o']);
        for cut in 0..wire.len() {
            let (a, b) = wire.split_at(cut);
            let chained = tokio::io::AsyncReadExt::chain(a, b);
            let mut r = FrameReader::new(chained, Vec::new());
            assert_eq!(r.next().await.unwrap(), Some((MCAST, b"hello".to_vec())));
            let (k, body) = r.next().await.unwrap().unwrap();
            assert_eq!(k, DELIVER);
            assert_eq!(parse_deliver(&body).unwrap(), (7, 4242, &[0xde, 0xad][..]));
            assert_eq!(r.next().await.unwrap(), Some((LEAVE, Vec::new())));
            assert_eq!(r.next().await.unwrap(), None);
        }
    }

    #[tokio::test]
    async fn bad_lengths_and_truncation_are_errors() {
        let mut r = FrameReader::new(&[0u8, 0, 0, 0][..], Vec::new());
        assert!(r.next().await.is_err(), "zero length");
        let big = ((FRAME_MAX + 1) as u32).to_le_bytes();
        let mut r = FrameReader::new(&big[..], Vec::new());
        let e = r.next().await.unwrap_err();
        assert_eq!(
            BadFrameLength::of(&e),
            Some(BadFrameLength {
                len: FRAME_MAX + 1,
                max: FRAME_MAX
            }),
            "too long: {e}"
        );
        let mut r = FrameReader::new(&[5u8, 0, 0, 0, 1, b'a'][..], Vec::new());
        assert!(r.next().await.is_err(), "ends inside a frame");
        assert!(parse_deliver(&[1, 2, 3]).is_err());
    }

    #[tokio::test]
    async fn a_cancelled_read_loses_nothing() {
        use tokio::io::AsyncWriteExt;
        let (mut tx, rx) = tokio::io::duplex(1024);
        let mut r = FrameReader::new(rx, Vec::new());
        // Nothing to read: the read is cancelled by the timeout, as select! would.
        let t = tokio::time::timeout(std::time::Duration::from_millis(20), r.next()).await;
        assert!(t.is_err());
        let mut f = Vec::new();
        put(&mut f, MCAST, &[b"after"]);
        tx.write_all(&f[..3]).await.unwrap();
        let t = tokio::time::timeout(std::time::Duration::from_millis(20), r.next()).await;
        assert!(t.is_err(), "half a length prefix is not a frame");
        tx.write_all(&f[3..]).await.unwrap();
        assert_eq!(r.next().await.unwrap(), Some((MCAST, b"after".to_vec())));
    }

    #[tokio::test]
    async fn pending_bytes_are_read_first() {
        let mut first = Vec::new();
        put(&mut first, MCAST, &[b"a"]);
        let mut rest = Vec::new();
        put(&mut rest, MCAST, &[b"b"]);
        let mut r = FrameReader::new(&rest[..], first);
        assert_eq!(r.next().await.unwrap(), Some((MCAST, b"a".to_vec())));
        assert_eq!(r.next().await.unwrap(), Some((MCAST, b"b".to_vec())));
    }
}
