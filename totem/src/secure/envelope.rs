//! Sealing and opening of the native AEAD envelope around every datagram of a secure ring.
//!
//! The byte format (32-byte header: magic "TS", version, key class, sender, 16-byte key id,
//! counter; then ciphertext and tag) and the nonce scheme are defined and documented in
//! [`totem_wire::envelope::native`], which also has the fuzz target. Here: the AEADs.
//! * class 2, group key: ChaCha20-Poly1305, nonce = sender (4) ‖ counter (8);
//! * class 1, cluster key: XChaCha20-Poly1305, nonce = session id (16) ‖ counter (8).

use chacha20poly1305::aead::generic_array::GenericArray;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, XChaCha20Poly1305};
use totem_keygen::{KeyEpoch, RingId};

pub use totem_wire::envelope::native::{
    EnvelopeView, Header, KeyId, NativeEnvelopeError as EnvelopeError, HEADER_LEN, MAGIC, MIN_LEN,
    TAG_LEN, VERSION,
};

/// The key id of a group key epoch.
pub fn group_id(e: &KeyEpoch) -> KeyId {
    KeyId::Group {
        rep: e.ring.rep,
        seq: e.ring.seq,
        epoch: e.epoch,
    }
}

/// The group key epoch a key id names (`None` for the cluster key).
pub fn epoch_of(k: &KeyId) -> Option<KeyEpoch> {
    match *k {
        KeyId::Group { rep, seq, epoch } => Some(KeyEpoch {
            ring: RingId { rep, seq },
            epoch,
        }),
        KeyId::Cluster { .. } => None,
    }
}

/// Seals `plaintext` under a group key; `header.key` must be [`KeyId::Group`].
pub fn seal_group(cipher: &ChaCha20Poly1305, header: &Header, plaintext: &[u8]) -> Option<Vec<u8>> {
    seal(cipher, &header.group_nonce(), header, plaintext)
}

/// Seals `plaintext` under the cluster key; `header.key` must be [`KeyId::Cluster`].
pub fn seal_cluster(
    cipher: &XChaCha20Poly1305,
    header: &Header,
    plaintext: &[u8],
) -> Option<Vec<u8>> {
    seal(cipher, &header.cluster_nonce(), header, plaintext)
}

/// Opens a group-key envelope; `None` when the tag does not verify.
pub fn open_group(cipher: &ChaCha20Poly1305, v: &EnvelopeView<'_>) -> Option<Vec<u8>> {
    open(cipher, &v.header.group_nonce(), v)
}

/// Opens a cluster-key envelope; `None` when the tag does not verify.
pub fn open_cluster(cipher: &XChaCha20Poly1305, v: &EnvelopeView<'_>) -> Option<Vec<u8>> {
    open(cipher, &v.header.cluster_nonce(), v)
}

/// Header ‖ AEAD(plaintext) with the header as associated data. `nonce` is the header's own
/// nonce for this cipher, so its length always matches the cipher's.
fn seal<A: Aead>(cipher: &A, nonce: &[u8], header: &Header, plaintext: &[u8]) -> Option<Vec<u8>> {
    let h = header.emit();
    let ct = cipher
        .encrypt(
            GenericArray::from_slice(nonce),
            Payload {
                msg: plaintext,
                aad: &h,
            },
        )
        .ok()?;
    let mut out = Vec::with_capacity(HEADER_LEN + ct.len());
    out.extend_from_slice(&h);
    out.extend_from_slice(&ct);
    Some(out)
}

/// The plaintext of `v` if its tag verifies under `cipher` and `nonce`.
fn open<A: Aead>(cipher: &A, nonce: &[u8], v: &EnvelopeView<'_>) -> Option<Vec<u8>> {
    cipher
        .decrypt(
            GenericArray::from_slice(nonce),
            Payload {
                msg: v.sealed,
                aad: v.aad,
            },
        )
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chacha20poly1305::KeyInit;
    use proptest::prelude::*;

    fn epoch(rep: u32, seq: u64, e: u32) -> KeyEpoch {
        KeyEpoch {
            ring: RingId { rep, seq },
            epoch: e,
        }
    }

    #[test]
    fn header_bytes_are_the_documented_layout() {
        let h = Header {
            sender: 0x0102_0304,
            key: group_id(&epoch(7, 0x1122_3344_5566_7788, 9)),
            counter: 5,
        };
        let b = h.emit();
        let want: [u8; 32] = [
            b'T', b'S', 1, 2, 1, 2, 3, 4, 0, 0, 0, 7, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
            0x88, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 5,
        ];
        assert_eq!(b, want);
        assert_eq!(
            h.group_nonce(),
            [1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 5],
            "nonce = sender ‖ counter"
        );
    }

    #[test]
    fn rfc8439_aead_vector_through_group_seal() {
        // RFC 8439 §2.8.2: key, nonce and plaintext are the RFC's; our header is the AAD, so
        // only the keystream part can be compared: the first ciphertext bytes.
        let key: Vec<u8> = (0x80u8..=0x9f).collect();
        let cipher = ChaCha20Poly1305::new_from_slice(&key).unwrap();
        // nonce 07 00 00 00 40 41 42 43 44 45 46 47 = sender 0x07000000, counter 0x4041..47
        let h = Header {
            sender: 0x0700_0000,
            key: group_id(&epoch(1, 1, 0)),
            counter: 0x4041_4243_4445_4647,
        };
        let pt = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        let out = seal_group(&cipher, &h, pt).unwrap();
        assert_eq!(
            &out[HEADER_LEN..HEADER_LEN + 8],
            &[0xd3, 0x1a, 0x8d, 0x34, 0x64, 0x8e, 0x60, 0xdb]
        );
        let v = EnvelopeView::parse(&out).unwrap();
        assert_eq!(open_group(&cipher, &v).unwrap(), pt.to_vec());
    }

    #[test]
    fn tampering_any_byte_fails() {
        let cipher = XChaCha20Poly1305::new_from_slice(&[9u8; 32]).unwrap();
        let mut session = [0u8; 16];
        session[..4].copy_from_slice(&3u32.to_be_bytes());
        session[4..].copy_from_slice(&[0xAB; 12]);
        let h = Header {
            sender: 3,
            key: KeyId::Cluster { session },
            counter: 1,
        };
        let out = seal_cluster(&cipher, &h, b"join").unwrap();
        for i in 0..out.len() {
            let mut bad = out.clone();
            bad[i] ^= 0x01;
            let ok = EnvelopeView::parse(&bad)
                .ok()
                .and_then(|v| open_cluster(&cipher, &v));
            assert!(ok.is_none(), "flip at {i} accepted");
        }
    }

    proptest! {
        /// Arbitrary bytes never panic the parser; what parses re-emits to the same header.
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(v) = EnvelopeView::parse(&bytes) {
                prop_assert_eq!(&v.header.emit()[..], &bytes[..HEADER_LEN]);
            }
        }

        /// Distinct (sender, counter) pairs give distinct group nonces, and distinct
        /// (session, counter) pairs distinct cluster nonces.
        #[test]
        fn nonces_are_injective(a in any::<(u32, u64)>(), b in any::<(u32, u64)>()) {
            let h = |(s, c): (u32, u64)| Header { sender: s, key: group_id(&epoch(1, 1, 0)), counter: c };
            prop_assert_eq!(h(a).group_nonce() == h(b).group_nonce(), a == b);
            let hc = |(s, c): (u32, u64)| {
                let mut session = [0u8; 16];
                session[..4].copy_from_slice(&s.to_be_bytes());
                Header { sender: s, key: KeyId::Cluster { session }, counter: c }
            };
            prop_assert_eq!(hc(a).cluster_nonce() == hc(b).cluster_nonce(), a == b);
        }
    }
}
