//! The one error type of the wire codecs.

/// What went wrong while decoding or encoding a message.
///
/// Every variant names the message and the field, and where it applies the byte offset, so a
/// malformed packet can be reported precisely without a hex dump.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The buffer ended before a field could be read.
    #[error("{message}: truncated in {field} at offset {offset}: need {need} bytes, have {have}")]
    Truncated {
        message: &'static str,
        field: &'static str,
        offset: usize,
        need: usize,
        have: usize,
    },
    /// A field holds a value the protocol does not allow.
    #[error("{message}: invalid {field} at offset {offset}: {value:#x}")]
    Invalid {
        message: &'static str,
        field: &'static str,
        offset: usize,
        value: u64,
    },
    /// The bytes are not a Totem message of any generation we know.
    #[error("not a Totem message: {0}")]
    Unrecognized(&'static str),
    /// A member identity or ring representative of the other generation's shape was given
    /// to a generation's encoder (a nodeid where G1/G2 carry an address, or the reverse).
    #[error("{field}: node {value} has no {generation} form here (a nodeid and an address are not interchangeable without an address book)")]
    ShapeMismatch {
        field: &'static str,
        generation: &'static str,
        value: u32,
    },
    /// A buffer handed to `emit` is smaller than `buffer_len`.
    #[error("{message}: output buffer too small: need {need} bytes, have {have}")]
    BufferTooSmall {
        message: &'static str,
        need: usize,
        have: usize,
    },
}

/// Shorthand for results of this crate.
pub type Result<T> = core::result::Result<T, Error>;
