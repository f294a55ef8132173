//! The reason a single frame could not be decoded, and checked field readers that produce it.

use std::fmt;

/// Why one frame could not be decoded: the layer, the byte offset within that layer, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Malformed {
    pub layer: &'static str,
    pub offset: usize,
    pub reason: String,
}

impl Malformed {
    pub(crate) fn new(layer: &'static str, offset: usize, reason: impl Into<String>) -> Self {
        Malformed {
            layer,
            offset,
            reason: reason.into(),
        }
    }

    /// A header or field that needs `need` bytes at `offset` but only `have` bytes exist.
    pub(crate) fn truncated(layer: &'static str, offset: usize, need: usize, have: usize) -> Self {
        Malformed::new(
            layer,
            offset,
            format!("truncated: need {need} bytes, have {have}"),
        )
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at offset {}: {}",
            self.layer, self.offset, self.reason
        )
    }
}

/// The `len` bytes at `offset` of `data`, or a truncation error naming `layer`.
pub(crate) fn bytes_at<'a>(
    data: &'a [u8],
    offset: usize,
    len: usize,
    layer: &'static str,
) -> Result<&'a [u8], Malformed> {
    offset
        .checked_add(len)
        .and_then(|end| data.get(offset..end))
        .ok_or_else(|| Malformed::truncated(layer, offset, len, data.len().saturating_sub(offset)))
}

/// The big-endian u16 at `offset`.
pub(crate) fn be16(data: &[u8], offset: usize, layer: &'static str) -> Result<u16, Malformed> {
    let b = bytes_at(data, offset, 2, layer)?;
    Ok(u16::from_be_bytes([b[0], b[1]]))
}

/// The big-endian u32 at `offset`.
pub(crate) fn be32(data: &[u8], offset: usize, layer: &'static str) -> Result<u32, Malformed> {
    let b = bytes_at(data, offset, 4, layer)?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// The byte at `offset`.
pub(crate) fn byte(data: &[u8], offset: usize, layer: &'static str) -> Result<u8, Malformed> {
    data.get(offset)
        .copied()
        .ok_or_else(|| Malformed::truncated(layer, offset, 1, 0))
}
