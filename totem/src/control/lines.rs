//! Newline-terminated requests with a length limit: a client cannot make the node buffer an
//! endless line. [`LineReader::next_line`] is cancel-safe (bytes taken from the socket are
//! kept in the reader across cancellations), so it can sit in a `select!`.

use std::io;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// What the reader found.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// One line, without its `\n` (or `\r\n`).
    Text(String),
    /// The client closed the stream (a last line without `\n` is returned as text first).
    End,
    /// The line grew past the limit; nothing more of it is read.
    TooLong { limit: usize },
}

/// Reads lines of at most `limit` bytes (the newline not counted).
#[derive(Debug)]
pub struct LineReader<R> {
    r: BufReader<R>,
    buf: Vec<u8>,
    limit: usize,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    pub fn new(r: R, limit: usize) -> Self {
        LineReader {
            r: BufReader::new(r),
            buf: Vec::new(),
            limit,
        }
    }

    /// Changes the limit for the lines after this one.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// Bytes held for a line not yet complete (at most the limit).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The underlying buffered reader and the bytes it holds beyond the lines read (for a
    /// session that switches to binary frames after a line).
    pub fn into_parts(self) -> (R, Vec<u8>) {
        let mut pending = self.buf;
        pending.extend_from_slice(self.r.buffer());
        (self.r.into_inner(), pending)
    }

    /// The next line.
    pub async fn next_line(&mut self) -> io::Result<Line> {
        loop {
            let avail = self.r.fill_buf().await?;
            if avail.is_empty() {
                if self.buf.is_empty() {
                    return Ok(Line::End);
                }
                return self.finish();
            }
            let (take, done) = match avail.iter().position(|&b| b == b'\n') {
                Some(i) => (i, true),
                None => (avail.len(), false),
            };
            if self.buf.len() + take > self.limit {
                // Not consumed: the caller closes the connection.
                self.buf = Vec::new();
                return Ok(Line::TooLong { limit: self.limit });
            }
            self.buf
                .extend_from_slice(avail.get(..take).unwrap_or_default());
            self.r.consume(take + usize::from(done));
            if done {
                return self.finish();
            }
        }
    }

    fn finish(&mut self) -> io::Result<Line> {
        let mut line = std::mem::take(&mut self.buf);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        String::from_utf8(line)
            .map(Line::Text)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "request is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_split_anywhere_and_crlf() {
        let wire = b"{\"op\":\"status\"}\r\nsecond\nlast";
        for cut in 0..wire.len() {
            let (a, b) = wire.split_at(cut);
            let mut r = LineReader::new(tokio::io::AsyncReadExt::chain(a, b), 64);
            assert_eq!(
                r.next_line().await.unwrap(),
                Line::Text("{\"op\":\"status\"}".into())
            );
            assert_eq!(r.next_line().await.unwrap(), Line::Text("second".into()));
            assert_eq!(r.next_line().await.unwrap(), Line::Text("last".into()));
            assert_eq!(r.next_line().await.unwrap(), Line::End);
        }
    }

    #[tokio::test]
    async fn a_long_line_is_refused_without_buffering_it() {
        // 100 MB of 'x' without a newline, produced lazily: the reader stops at the limit.
        let endless = tokio::io::repeat(b'x');
        let mut r = LineReader::new(tokio::io::AsyncReadExt::take(endless, 100_000_000), 1000);
        assert_eq!(r.next_line().await.unwrap(), Line::TooLong { limit: 1000 });
        assert_eq!(r.buffered(), 0, "the partial line is released");
        // Exactly at the limit is fine; one more byte is not.
        let ok = [b'a'; 1000];
        let mut r = LineReader::new(&ok[..], 1000);
        assert!(matches!(r.next_line().await.unwrap(), Line::Text(t) if t.len() == 1000));
        let bad = [b'a'; 1001];
        let mut r = LineReader::new(&bad[..], 1000);
        assert_eq!(r.next_line().await.unwrap(), Line::TooLong { limit: 1000 });
    }

    #[tokio::test]
    async fn into_parts_keeps_unread_bytes() {
        let wire = b"joined\n\x05\x00\x00\x00\x01abcd";
        let mut r = LineReader::new(&wire[..], 64);
        assert_eq!(r.next_line().await.unwrap(), Line::Text("joined".into()));
        let (_, pending) = r.into_parts();
        assert_eq!(pending, b"\x05\x00\x00\x00\x01abcd");
    }
}
