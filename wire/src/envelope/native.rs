//! The native envelope of our encrypted rings (`totem::secure`): a 32-byte header, then
//! AEAD ciphertext and tag. This module holds the byte format only (owned [`Header`] and
//! borrowed [`EnvelopeView`]); the AEAD lives with the keys in `totem::secure`.
//!
//! Layout (big-endian); the 32-byte header is the AEAD associated data:
//!
//! ```text
//! offset size field
//!  0      2   magic "TS"
//!  2      1   version (1)
//!  3      1   key class: 1 cluster key, 2 group key
//!  4      4   sender nodeid
//!  8     16   key id
//!               class 1: session id = sender nodeid (4) ‖ 12 random bytes drawn at start
//!               class 2: ring representative (4) ‖ ring sequence (8) ‖ key epoch (4)
//! 24      8   per-sender counter (starts at 0 for every session or group key)
//! 32      n   ciphertext, then the 16-byte Poly1305 tag
//! ```
//!
//! Nonces:
//! * class 2 (ChaCha20-Poly1305, key unique to one (ring id, epoch)): nonce = sender (4) ‖
//!   counter (8). Nodeids are unique within a ring and a sender never reuses a counter under
//!   one key (it refuses to seal when the counter would wrap);
//! * class 1 (XChaCha20-Poly1305 under the long-lived cluster key): nonce = session id (16) ‖
//!   counter (8). The session id starts with the sender's nodeid, so two nodes never share a
//!   nonce; a restarted node draws 96 fresh random bits, so two runs of one node collide
//!   with probability 2^-96 per pair of runs; within a run the counter never repeats.

/// Magic bytes at the start of every envelope.
pub const MAGIC: [u8; 2] = *b"TS";
/// Envelope version.
pub const VERSION: u8 = 1;
/// Header length (also the associated data).
pub const HEADER_LEN: usize = 32;
/// Poly1305 tag length.
pub const TAG_LEN: usize = 16;
/// Smallest valid envelope (empty plaintext).
pub const MIN_LEN: usize = HEADER_LEN + TAG_LEN;

/// Why an envelope could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NativeEnvelopeError {
    /// Shorter than header and tag.
    #[error("envelope of {len} bytes is shorter than the {min}-byte minimum")]
    Truncated {
        /// Bytes present.
        len: usize,
        /// Bytes needed.
        min: usize,
    },
    /// Offset 0 does not hold "TS".
    #[error("bad magic {found:02x?} at offset 0 (want \"TS\")")]
    BadMagic {
        /// The two bytes found.
        found: [u8; 2],
    },
    /// Offset 2 holds an unknown version.
    #[error("unknown envelope version {0} at offset 2")]
    BadVersion(u8),
    /// Offset 3 holds an unknown key class.
    #[error("unknown key class {0} at offset 3")]
    BadClass(u8),
    /// A cluster-key session id does not start with the sender nodeid.
    #[error("session id at offset 8 names node {session_node}, sender field says {sender}")]
    SessionMismatch {
        /// Nodeid in the sender field.
        sender: u32,
        /// Nodeid in the session id.
        session_node: u32,
    },
}

/// Which key sealed a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyId {
    /// The cluster key (derived from the authkey), with the sender's session id.
    Cluster {
        /// Sender nodeid ‖ 12 random bytes.
        session: [u8; 16],
    },
    /// A group key agreed on a ring.
    Group {
        /// Ring representative nodeid.
        rep: u32,
        /// Ring sequence number.
        seq: u64,
        /// Key epoch within the ring.
        epoch: u32,
    },
}

impl KeyId {
    /// Key class byte.
    pub fn class(&self) -> u8 {
        match self {
            KeyId::Cluster { .. } => 1,
            KeyId::Group { .. } => 2,
        }
    }
}

/// The owned envelope header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Sender nodeid.
    pub sender: u32,
    /// Key the packet is sealed under.
    pub key: KeyId,
    /// Per-sender, per-key counter.
    pub counter: u64,
}

fn be32(b: &[u8], o: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[o..o + 4]);
    u32::from_be_bytes(a)
}
fn be64(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_be_bytes(a)
}

impl Header {
    /// Encodes the header.
    pub fn emit(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..2].copy_from_slice(&MAGIC);
        h[2] = VERSION;
        h[3] = self.key.class();
        h[4..8].copy_from_slice(&self.sender.to_be_bytes());
        match &self.key {
            KeyId::Cluster { session } => h[8..24].copy_from_slice(session),
            KeyId::Group { rep, seq, epoch } => {
                h[8..12].copy_from_slice(&rep.to_be_bytes());
                h[12..20].copy_from_slice(&seq.to_be_bytes());
                h[20..24].copy_from_slice(&epoch.to_be_bytes());
            }
        }
        h[24..32].copy_from_slice(&self.counter.to_be_bytes());
        h
    }

    /// The 96-bit ChaCha20-Poly1305 nonce of a group-key packet.
    pub fn group_nonce(&self) -> [u8; 12] {
        let mut n = [0u8; 12];
        n[..4].copy_from_slice(&self.sender.to_be_bytes());
        n[4..].copy_from_slice(&self.counter.to_be_bytes());
        n
    }

    /// The 192-bit XChaCha20-Poly1305 nonce of a cluster-key packet (zero session for a
    /// group-key header, which never uses it).
    pub fn cluster_nonce(&self) -> [u8; 24] {
        let mut n = [0u8; 24];
        if let KeyId::Cluster { session } = &self.key {
            n[..16].copy_from_slice(session);
        }
        n[16..].copy_from_slice(&self.counter.to_be_bytes());
        n
    }
}

/// A borrowed, checked envelope: its parsed header and the byte ranges the AEAD needs.
#[derive(Debug, Clone, Copy)]
pub struct EnvelopeView<'a> {
    /// Parsed header.
    pub header: Header,
    /// The raw header bytes (associated data).
    pub aad: &'a [u8],
    /// Ciphertext followed by the tag.
    pub sealed: &'a [u8],
}

impl<'a> EnvelopeView<'a> {
    /// Checks the framing of `buf` (not the tag).
    pub fn parse(buf: &'a [u8]) -> Result<Self, NativeEnvelopeError> {
        if buf.len() < MIN_LEN {
            return Err(NativeEnvelopeError::Truncated {
                len: buf.len(),
                min: MIN_LEN,
            });
        }
        let (h, sealed) = buf.split_at(HEADER_LEN);
        if h[0..2] != MAGIC {
            return Err(NativeEnvelopeError::BadMagic {
                found: [h[0], h[1]],
            });
        }
        if h[2] != VERSION {
            return Err(NativeEnvelopeError::BadVersion(h[2]));
        }
        let sender = be32(h, 4);
        let key = match h[3] {
            1 => {
                let mut session = [0u8; 16];
                session.copy_from_slice(&h[8..24]);
                let session_node = be32(h, 8);
                if session_node != sender {
                    return Err(NativeEnvelopeError::SessionMismatch {
                        sender,
                        session_node,
                    });
                }
                KeyId::Cluster { session }
            }
            2 => KeyId::Group {
                rep: be32(h, 8),
                seq: be64(h, 12),
                epoch: be32(h, 20),
            },
            c => return Err(NativeEnvelopeError::BadClass(c)),
        };
        Ok(EnvelopeView {
            header: Header {
                sender,
                key,
                counter: be64(h, 24),
            },
            aad: h,
            sealed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_bytes_are_the_documented_layout() {
        let h = Header {
            sender: 0x0102_0304,
            key: KeyId::Group {
                rep: 7,
                seq: 0x1122_3344_5566_7788,
                epoch: 9,
            },
            counter: 5,
        };
        let b = h.emit();
        let want: [u8; 32] = [
            b'T', b'S', 1, 2, 1, 2, 3, 4, 0, 0, 0, 7, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
            0x88, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 5,
        ];
        assert_eq!(b, want);
        assert_eq!(h.group_nonce(), [1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 5]);
        let mut env = want.to_vec();
        env.extend_from_slice(&[0u8; TAG_LEN]);
        let v = EnvelopeView::parse(&env).unwrap();
        assert_eq!(v.header, h);
        assert_eq!(v.sealed.len(), TAG_LEN);
    }

    #[test]
    fn parse_errors_name_the_field() {
        assert_eq!(
            EnvelopeView::parse(&[0u8; 10]).unwrap_err(),
            NativeEnvelopeError::Truncated { len: 10, min: 48 }
        );
        let mut b = [0u8; 48];
        assert!(matches!(
            EnvelopeView::parse(&b),
            Err(NativeEnvelopeError::BadMagic { .. })
        ));
        b[0..3].copy_from_slice(b"TS\x01");
        b[3] = 7;
        assert_eq!(
            EnvelopeView::parse(&b).unwrap_err(),
            NativeEnvelopeError::BadClass(7)
        );
        b[3] = 1;
        b[4..8].copy_from_slice(&5u32.to_be_bytes());
        assert_eq!(
            EnvelopeView::parse(&b).unwrap_err(),
            NativeEnvelopeError::SessionMismatch {
                sender: 5,
                session_node: 0
            }
        );
    }
}
