//! Error types of the crate.

use crate::ids::NodeId;

/// Why a key-agreement message could not be decoded or authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The buffer ended before a field could be read.
    #[error(
        "truncated message: field `{field}` at offset {offset} needs {need} bytes, {have} left"
    )]
    Truncated {
        /// Field being read.
        field: &'static str,
        /// Offset of the field.
        offset: usize,
        /// Bytes the field needs.
        need: usize,
        /// Bytes left in the buffer.
        have: usize,
    },
    /// A field holds a value this version does not accept.
    #[error("bad value {value:#x} in field `{field}` at offset {offset}")]
    BadValue {
        /// Field name.
        field: &'static str,
        /// Offset of the field.
        offset: usize,
        /// Value found.
        value: u64,
    },
    /// Bytes remain after the last field.
    #[error("{extra} trailing bytes after the message at offset {offset}")]
    Trailing {
        /// Offset of the first extra byte.
        offset: usize,
        /// Number of extra bytes.
        extra: usize,
    },
    /// The encoded tree is not a well-formed full binary tree.
    #[error("malformed tree at offset {offset}: {reason}")]
    BadTree {
        /// Offset where the problem was seen.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// The HMAC-SHA256 of the cluster authkey did not verify.
    #[error("message MAC does not verify (wrong authkey or altered message)")]
    BadMac,
    /// The Ed25519 signature of the sender did not verify.
    #[error("Ed25519 signature of node {sender} does not verify")]
    BadSignature {
        /// Claimed sender.
        sender: NodeId,
    },
    /// Signatures are required and this message has none.
    #[error("message from node {sender} is unsigned but signatures are required")]
    MissingSignature {
        /// Claimed sender.
        sender: NodeId,
    },
    /// No identity key is known for the sender.
    #[error("no identity key known for node {sender}")]
    UnknownSigner {
        /// Claimed sender.
        sender: NodeId,
    },
    /// The message is larger than the format allows.
    #[error("message too large: {what} = {len} exceeds {max}")]
    TooLarge {
        /// What overflowed.
        what: &'static str,
        /// Size found.
        len: usize,
        /// Limit.
        max: usize,
    },
}

/// Errors of key material handling (authkey, identity keys, DH).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The authkey is shorter than 16 bytes.
    #[error("authkey is {len} bytes, at least 16 are required")]
    AuthkeyTooShort {
        /// Length found.
        len: usize,
    },
    /// A blinded key is a low-order point (the DH output is all zero).
    #[error("blinded key is a low-order point")]
    LowOrderPoint,
    /// An identity key file has the wrong size.
    #[error("identity key is {len} bytes, expected {expected}")]
    BadIdentityKey {
        /// Length found.
        len: usize,
        /// Length expected.
        expected: usize,
    },
}

/// Errors of the group key agreement state machine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgreementError {
    /// The message did not decode or authenticate.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// A key could not be used.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The configuration change is unusable.
    #[error("bad configuration: {0}")]
    BadConfig(&'static str),
    /// The message belongs to another ring.
    #[error("message for ring {got_rep}/{got_seq}, current ring is {want_rep}/{want_seq}")]
    WrongRing {
        /// Ring representative in the message.
        got_rep: NodeId,
        /// Ring sequence in the message.
        got_seq: u64,
        /// Current ring representative.
        want_rep: NodeId,
        /// Current ring sequence.
        want_seq: u64,
    },
    /// The message is not expected in the current phase or round.
    #[error("unexpected {kind} message from node {sender}: {reason}")]
    Unexpected {
        /// Message kind.
        kind: &'static str,
        /// Sender.
        sender: NodeId,
        /// Why it is not expected.
        reason: &'static str,
    },
    /// The message contradicts the tree every member should share.
    #[error("inconsistent message from node {sender}: {reason}")]
    Inconsistent {
        /// Sender.
        sender: NodeId,
        /// What is inconsistent.
        reason: &'static str,
    },
    /// A refresh was based on an epoch that is no longer current (lost a race).
    #[error("refresh from node {sender} based on epoch {based_on}, current epoch is {current}")]
    StaleRefresh {
        /// Sender.
        sender: NodeId,
        /// Epoch the refresh was computed for.
        based_on: u32,
        /// Current epoch.
        current: u32,
    },
    /// A refresh was requested while an agreement is still running.
    #[error("no refresh while a key agreement is in progress")]
    Busy,
}

/// Why a traffic packet was rejected by `open`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Shorter than header plus tag, or bad version.
    #[error("malformed packet: {0}")]
    Malformed(&'static str),
    /// Key epoch older than the previous slot.
    #[error("packet from an older key epoch")]
    StaleEpoch,
    /// Key epoch not in either slot and not older: unknown key.
    #[error("packet under an unknown key epoch")]
    UnknownKey,
    /// AEAD tag did not verify.
    #[error("packet failed authentication")]
    AuthFailed,
    /// The (sender, counter) pair was seen already or is too old for the replay window.
    #[error("replayed or too old packet counter")]
    Replay,
}

/// Why a traffic packet could not be sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// No key installed yet.
    #[error("no traffic key installed")]
    NoKey,
    /// The per-sender counter of the current key is used up; a rekey is needed.
    #[error("nonce counter exhausted for the current key")]
    CounterExhausted,
    /// Plaintext larger than the format allows.
    #[error("plaintext too large: {0} bytes")]
    TooLarge(usize),
}
