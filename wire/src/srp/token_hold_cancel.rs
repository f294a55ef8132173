//! token_hold_cancel (type 5): asks the representative to release a held token.

use super::open;
use crate::endian::Writer;
use crate::error::Result;
use crate::generation::Generation;
use crate::header::{Header, MessageType};
use crate::ring_id::RingId;

/// A token-hold-cancel message, owned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHoldCancel {
    pub header: Header,
    pub ring_id: RingId,
}

/// Encoded size in `gen`: 38 or 25.
pub const fn len(gen: Generation) -> usize {
    gen.header_len() + gen.ring_id_len()
}

impl TokenHoldCancel {
    pub fn parse(buf: &[u8], gen: Generation) -> Result<Self> {
        let (header, mut r) = open(buf, gen, MessageType::TokenHoldCancel)?;
        let ring_id = RingId::read(&mut r, gen, "ring_id")?;
        Ok(TokenHoldCancel { header, ring_id })
    }
    pub fn buffer_len(&self) -> usize {
        len(self.header.generation)
    }
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let mut w = Writer::new(
            buf,
            self.header.endian,
            "token_hold_cancel",
            self.buffer_len(),
        )?;
        self.header.write(&mut w);
        self.ring_id
            .write(&mut w, self.header.generation, "ring_id")?;
        Ok(w.pos())
    }
}

/// A zero-copy view of a token-hold-cancel message.
#[derive(Debug, Clone, Copy)]
pub struct TokenHoldCancelView<'a> {
    buf: &'a [u8],
    gen: Generation,
}

impl<'a> TokenHoldCancelView<'a> {
    pub fn new_checked(buf: &'a [u8], gen: Generation) -> Result<Self> {
        let (_, mut r) = open(buf, gen, MessageType::TokenHoldCancel)?;
        r.bytes("ring_id", gen.ring_id_len())?;
        Ok(TokenHoldCancelView { buf, gen })
    }
    pub fn ring_id_bytes(&self) -> &'a [u8] {
        &self.buf[self.gen.header_len()..len(self.gen)]
    }
}
