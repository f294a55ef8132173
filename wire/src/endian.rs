//! Byte order of a sender, and bounds-checked readers and writers that honour it.
//!
//! Totem writes every integer in the sender's native order; the order is found from the
//! endian detector (G1/G2) or the magic (G3) and then applies to every layer above.

use crate::error::{Error, Result};

/// The byte order a message was (or will be) written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Endian {
    /// Little-endian: every x86 and most ARM clusters. What we emit for new messages.
    #[default]
    Little,
    /// Big-endian: SPARC, POWER, s390x senders.
    Big,
}

impl Endian {
    /// Reads a `u16` from the first two bytes of `b` (caller guarantees the length).
    #[inline]
    pub(crate) fn get_u16(self, b: &[u8]) -> u16 {
        let a = [b[0], b[1]];
        match self {
            Endian::Little => u16::from_le_bytes(a),
            Endian::Big => u16::from_be_bytes(a),
        }
    }
    #[inline]
    pub(crate) fn get_u32(self, b: &[u8]) -> u32 {
        let a = [b[0], b[1], b[2], b[3]];
        match self {
            Endian::Little => u32::from_le_bytes(a),
            Endian::Big => u32::from_be_bytes(a),
        }
    }
    #[inline]
    pub(crate) fn get_u64(self, b: &[u8]) -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[..8]);
        match self {
            Endian::Little => u64::from_le_bytes(a),
            Endian::Big => u64::from_be_bytes(a),
        }
    }
    #[inline]
    pub(crate) fn put_u16(self, b: &mut [u8], v: u16) {
        let a = match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        };
        b[..2].copy_from_slice(&a);
    }
    #[inline]
    pub(crate) fn put_u32(self, b: &mut [u8], v: u32) {
        let a = match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        };
        b[..4].copy_from_slice(&a);
    }
    #[inline]
    pub(crate) fn put_u64(self, b: &mut [u8], v: u64) {
        let a = match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        };
        b[..8].copy_from_slice(&a);
    }
}

/// A cursor that reads fields in order and never reads past the end of its buffer.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    endian: Endian,
    message: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over `buf` for the message named `message`.
    pub fn new(buf: &'a [u8], endian: Endian, message: &'static str) -> Self {
        Reader {
            buf,
            pos: 0,
            endian,
            message,
        }
    }
    /// Byte order the reader decodes with.
    pub fn endian(&self) -> Endian {
        self.endian
    }
    /// Offset of the next field.
    pub fn pos(&self) -> usize {
        self.pos
    }
    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    /// Takes the next `n` bytes as a slice.
    pub fn bytes(&mut self, field: &'static str, n: usize) -> Result<&'a [u8]> {
        let have = self.remaining();
        if n > have {
            return Err(Error::Truncated {
                message: self.message,
                field,
                offset: self.pos,
                need: n,
                have,
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    /// Takes everything that is left.
    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }
    /// Takes `N` bytes as an array.
    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.bytes(field, N)?);
        Ok(a)
    }
    pub fn u8(&mut self, field: &'static str) -> Result<u8> {
        Ok(self.bytes(field, 1)?[0])
    }
    pub fn u16(&mut self, field: &'static str) -> Result<u16> {
        let e = self.endian;
        Ok(e.get_u16(self.bytes(field, 2)?))
    }
    pub fn u32(&mut self, field: &'static str) -> Result<u32> {
        let e = self.endian;
        Ok(e.get_u32(self.bytes(field, 4)?))
    }
    pub fn i32(&mut self, field: &'static str) -> Result<i32> {
        Ok(self.u32(field)? as i32)
    }
    pub fn u64(&mut self, field: &'static str) -> Result<u64> {
        let e = self.endian;
        Ok(e.get_u64(self.bytes(field, 8)?))
    }
    /// An error saying `need` bytes for `field` are not there.
    pub fn truncated(&self, field: &'static str, need: usize) -> Error {
        Error::Truncated {
            message: self.message,
            field,
            offset: self.pos,
            need,
            have: self.remaining(),
        }
    }
    /// An error for the field just read (offset `at`) holding a value the protocol forbids.
    pub fn invalid(&self, field: &'static str, at: usize, value: u64) -> Error {
        Error::Invalid {
            message: self.message,
            field,
            offset: at,
            value,
        }
    }
}

/// A cursor that writes fields in order into a buffer known to be large enough.
///
/// Encoders check the buffer size once against `buffer_len`, so the writes themselves
/// cannot run off the end.
#[derive(Debug)]
pub struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
    endian: Endian,
}

impl<'a> Writer<'a> {
    /// A writer for a message of `need` bytes; fails if `buf` is shorter.
    pub fn new(
        buf: &'a mut [u8],
        endian: Endian,
        message: &'static str,
        need: usize,
    ) -> Result<Self> {
        if buf.len() < need {
            return Err(Error::BufferTooSmall {
                message,
                need,
                have: buf.len(),
            });
        }
        Ok(Writer {
            buf,
            pos: 0,
            endian,
        })
    }
    pub fn endian(&self) -> Endian {
        self.endian
    }
    pub fn pos(&self) -> usize {
        self.pos
    }
    pub fn bytes(&mut self, b: &[u8]) {
        self.buf[self.pos..self.pos + b.len()].copy_from_slice(b);
        self.pos += b.len();
    }
    pub fn zeros(&mut self, n: usize) {
        self.buf[self.pos..self.pos + n].fill(0);
        self.pos += n;
    }
    pub fn u8(&mut self, v: u8) {
        self.buf[self.pos] = v;
        self.pos += 1;
    }
    pub fn u16(&mut self, v: u16) {
        self.endian.put_u16(&mut self.buf[self.pos..], v);
        self.pos += 2;
    }
    pub fn u32(&mut self, v: u32) {
        self.endian.put_u32(&mut self.buf[self.pos..], v);
        self.pos += 4;
    }
    pub fn i32(&mut self, v: i32) {
        self.u32(v as u32)
    }
    pub fn u64(&mut self, v: u64) {
        self.endian.put_u64(&mut self.buf[self.pos..], v);
        self.pos += 8;
    }
}
