//! The Totem SRP messages, one module each, and the enum that holds any of them.

pub mod commit_token;
pub mod mcast;
pub mod memb_join;
pub mod merge_detect;
pub mod message;
pub mod orf_token;
pub mod ring_test;
pub mod token_hold_cancel;

use crate::endian::Reader;
use crate::error::{Error, Result};
use crate::generation::Generation;
use crate::header::{Header, MessageType};

/// Reads and checks the header of a message expected to be of type `want`, and returns a
/// reader positioned after it.
pub(crate) fn open<'a>(
    buf: &'a [u8],
    gen: Generation,
    want: MessageType,
) -> Result<(Header, Reader<'a>)> {
    let header = Header::parse(buf, gen)?;
    if header.msg_type != want {
        return Err(Error::Invalid {
            message: want.name(),
            field: "type",
            offset: if gen == Generation::G3 { 3 } else { 0 },
            value: header.msg_type as u64,
        });
    }
    let mut r = Reader::new(buf, header.endian, want.name());
    r.bytes("header", gen.header_len())?;
    Ok((header, r))
}

/// Reads a signed count field and checks that `count` entries of `entry_len` bytes fit in
/// what is left, so a hostile count can neither overflow nor allocate without bound.
pub(crate) fn count(
    r: &mut Reader<'_>,
    field: &'static str,
    entry_len: usize,
    max: usize,
) -> Result<usize> {
    let at = r.pos();
    let raw = r.u32(field)?;
    let n = raw as usize;
    if n > max {
        return Err(r.invalid(field, at, u64::from(raw)));
    }
    if n * entry_len > r.remaining() {
        return Err(r.truncated(field, n * entry_len));
    }
    Ok(n)
}

/// Most members a ring can have (PROCESSOR_COUNT_MAX in every corosync generation).
pub const PROCESSOR_COUNT_MAX: usize = 384;
/// Most retransmit requests a token carries.
pub const RETRANSMIT_ENTRIES_MAX: usize = 30;
