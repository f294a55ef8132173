//! Any SRP message: decode by type, encode back.

use super::commit_token::CommitToken;
use super::mcast::Mcast;
use super::memb_join::MembJoin;
use super::merge_detect::MergeDetect;
use super::orf_token::OrfToken;
use super::ring_test::RingTest;
use super::token_hold_cancel::TokenHoldCancel;
use crate::error::Result;
use crate::generation::Generation;
use crate::header::{Header, MessageType};

/// One decoded Totem SRP message of any type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SrpMessage {
    OrfToken(OrfToken),
    Mcast(Mcast),
    MergeDetect(MergeDetect),
    MembJoin(MembJoin),
    CommitToken(CommitToken),
    TokenHoldCancel(TokenHoldCancel),
    RingTest(RingTest),
}

/// A decoded datagram body: the message and any bytes after its end.
///
/// Real senders produce exact lengths, but a receiver must survive more (corosync 1.x hands
/// the crypto trailer byte up); the extra bytes are kept so re-encoding is exact.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Decoded {
    pub message: SrpMessage,
    pub trailing: Vec<u8>,
}

impl SrpMessage {
    /// Decodes `buf` as a message of generation `gen`.
    pub fn parse(buf: &[u8], gen: Generation) -> Result<Decoded> {
        let header = Header::parse(buf, gen)?;
        let message = match header.msg_type {
            MessageType::OrfToken => SrpMessage::OrfToken(OrfToken::parse(buf, gen)?),
            MessageType::Mcast => SrpMessage::Mcast(Mcast::parse(buf, gen)?),
            MessageType::MembMergeDetect => SrpMessage::MergeDetect(MergeDetect::parse(buf, gen)?),
            MessageType::MembJoin => SrpMessage::MembJoin(MembJoin::parse(buf, gen)?),
            MessageType::MembCommitToken => SrpMessage::CommitToken(CommitToken::parse(buf, gen)?),
            MessageType::TokenHoldCancel => {
                SrpMessage::TokenHoldCancel(TokenHoldCancel::parse(buf, gen)?)
            }
            MessageType::RingTestActive | MessageType::RingTestActivate => {
                SrpMessage::RingTest(RingTest::parse(buf, gen)?)
            }
        };
        let used = message.buffer_len().min(buf.len());
        Ok(Decoded {
            message,
            trailing: buf[used..].to_vec(),
        })
    }

    /// The message type.
    pub fn msg_type(&self) -> MessageType {
        match self {
            SrpMessage::OrfToken(m) => m.header.msg_type,
            SrpMessage::Mcast(m) => m.header.msg_type,
            SrpMessage::MergeDetect(m) => m.header.msg_type,
            SrpMessage::MembJoin(m) => m.header.msg_type,
            SrpMessage::CommitToken(m) => m.header.msg_type,
            SrpMessage::TokenHoldCancel(m) => m.header.msg_type,
            SrpMessage::RingTest(m) => m.msg_type,
        }
    }

    /// The sender's byte order.
    pub fn endian(&self) -> crate::endian::Endian {
        match self {
            SrpMessage::OrfToken(m) => m.header.endian,
            SrpMessage::Mcast(m) => m.header.endian,
            SrpMessage::MergeDetect(m) => m.header.endian,
            SrpMessage::MembJoin(m) => m.header.endian,
            SrpMessage::CommitToken(m) => m.header.endian,
            SrpMessage::TokenHoldCancel(m) => m.header.endian,
            SrpMessage::RingTest(m) => m.endian,
        }
    }

    /// The sender's nodeid from the header (the ring number for ring tests).
    pub fn nodeid(&self) -> u32 {
        match self {
            SrpMessage::OrfToken(m) => m.header.nodeid,
            SrpMessage::Mcast(m) => m.header.nodeid,
            SrpMessage::MergeDetect(m) => m.header.nodeid,
            SrpMessage::MembJoin(m) => m.header.nodeid,
            SrpMessage::CommitToken(m) => m.header.nodeid,
            SrpMessage::TokenHoldCancel(m) => m.header.nodeid,
            SrpMessage::RingTest(m) => m.ring_number as u32,
        }
    }

    pub fn buffer_len(&self) -> usize {
        match self {
            SrpMessage::OrfToken(m) => m.buffer_len(),
            SrpMessage::Mcast(m) => m.buffer_len(),
            SrpMessage::MergeDetect(m) => m.buffer_len(),
            SrpMessage::MembJoin(m) => m.buffer_len(),
            SrpMessage::CommitToken(m) => m.buffer_len(),
            SrpMessage::TokenHoldCancel(m) => m.buffer_len(),
            SrpMessage::RingTest(m) => m.buffer_len(),
        }
    }

    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        match self {
            SrpMessage::OrfToken(m) => m.emit(buf),
            SrpMessage::Mcast(m) => m.emit(buf),
            SrpMessage::MergeDetect(m) => m.emit(buf),
            SrpMessage::MembJoin(m) => m.emit(buf),
            SrpMessage::CommitToken(m) => m.emit(buf),
            SrpMessage::TokenHoldCancel(m) => m.emit(buf),
            SrpMessage::RingTest(m) => m.emit(buf),
        }
    }

    /// Encodes into a new vector; a value that does not fit its generation's layout (an
    /// srp_addr or ring id of the other shape) is an error naming the field.
    pub fn try_to_vec(&self) -> Result<Vec<u8>> {
        let mut v = vec![0u8; self.buffer_len()];
        let n = self.emit(&mut v)?;
        v.truncate(n);
        Ok(v)
    }

    /// Encodes into a new vector, for messages built in their own generation's shape (as
    /// the engine builds them): the buffer is exactly `buffer_len` long, so only a shape
    /// mismatch can fail, which debug builds assert and release builds turn into an empty
    /// vector (a datagram no receiver accepts). Use [`try_to_vec`](Self::try_to_vec) for
    /// messages built from someone else's fields.
    pub fn to_vec(&self) -> Vec<u8> {
        match self.try_to_vec() {
            Ok(v) => v,
            Err(e) => {
                debug_assert!(false, "encoding a {}: {e}", self.msg_type().name());
                Vec::new()
            }
        }
    }
}

impl Decoded {
    /// Encodes the message and its trailing bytes: the original datagram body.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = self.message.to_vec();
        v.extend_from_slice(&self.trailing);
        v
    }
}
