//! Telling generations and transports apart from the first bytes of a UDP payload.

use crate::endian::Endian;
use crate::generation::Generation;
use crate::header::{ENDIAN_DETECTOR, MAGIC, VERSION};

/// Variants of the G2 totemcrypto header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum G2Header {
    /// corosync 2.3–2.4: `FE FE 00 00`, the same whether or not crypto is on.
    V23,
    /// corosync 2.2: `FF FF 00 00`.
    V22,
    /// corosync 2.0–2.1: the real cipher and hash ids.
    V20 { cipher: u8, hash: u8 },
}

/// What the first bytes of a datagram say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Framing {
    /// A plaintext SRP message starts at offset 0 (G1 without secauth, or G3 udp/udpu).
    Plain {
        generation: Generation,
        endian: Endian,
    },
    /// A G2 datagram: 4-byte totemcrypto header, then (possibly encrypted) SRP.
    G2 { header: G2Header },
    /// A kronosnet frame (corosync 3 knet transport); not Totem at this layer.
    Knet { kind: KnetKind },
    /// None of the above: a G1 secauth packet (HMAC first) or foreign traffic.
    Opaque,
}

/// kronosnet v1 packet types, as far as we recognise them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KnetKind {
    Data,
    Ping,
    Pong,
    Pmtud,
    PmtudReply,
}

/// kronosnet onwire version we recognise.
pub const KNET_VERSION: u8 = 1;

/// Classifies a UDP payload by its first bytes.
///
/// G3 and G1 carry a detector that pins both generation and byte order. G2 starts with a
/// header we can see but, with crypto on, the SRP message behind it is opaque. knet frames
/// are reported as such so they are never misparsed as Totem. Encrypted G1 (SOBER) and
/// encrypted knet frames begin with random bytes and come out as `Opaque`.
pub fn classify(b: &[u8]) -> Framing {
    if b.len() >= 3 && b[2] == VERSION {
        if u16::from_le_bytes([b[0], b[1]]) == MAGIC {
            return Framing::Plain {
                generation: Generation::G3,
                endian: Endian::Little,
            };
        }
        if u16::from_be_bytes([b[0], b[1]]) == MAGIC {
            return Framing::Plain {
                generation: Generation::G3,
                endian: Endian::Big,
            };
        }
    }
    if b.len() >= 4 {
        if b[0] <= 7 {
            let d = [b[2], b[3]];
            if u16::from_le_bytes(d) == ENDIAN_DETECTOR {
                return Framing::Plain {
                    generation: Generation::G1,
                    endian: Endian::Little,
                };
            }
            if u16::from_be_bytes(d) == ENDIAN_DETECTOR {
                return Framing::Plain {
                    generation: Generation::G1,
                    endian: Endian::Big,
                };
            }
        }
        match [b[0], b[1], b[2], b[3]] {
            [0xFE, 0xFE, 0, 0] => {
                return Framing::G2 {
                    header: G2Header::V23,
                }
            }
            [0xFF, 0xFF, 0, 0] => {
                return Framing::G2 {
                    header: G2Header::V22,
                }
            }
            _ => {}
        }
    }
    if b.len() >= 6 && b[0] == KNET_VERSION {
        // A knet data frame carries a 14-byte header, then usually a G3 message.
        if let Some(kind) = crate::knet::header::kind_of(b[1]) {
            return Framing::Knet { kind };
        }
    }
    // corosync 2.0/2.1: real ids (cipher 0..=4, hash 0..=5), zero pads; with none/none the
    // SRP header (and its detector) follows right away.
    if b.len() >= 8 && b[0] <= 4 && b[1] <= 5 && b[2] == 0 && b[3] == 0 {
        let d = [b[6], b[7]];
        let plain_srp =
            u16::from_le_bytes(d) == ENDIAN_DETECTOR || u16::from_be_bytes(d) == ENDIAN_DETECTOR;
        if plain_srp || b[0] != 0 {
            return Framing::G2 {
                header: G2Header::V20 {
                    cipher: b[0],
                    hash: b[1],
                },
            };
        }
    }
    Framing::Opaque
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g2_header_variants() {
        assert_eq!(
            classify(&[0xFE, 0xFE, 0, 0, 1]),
            Framing::G2 {
                header: G2Header::V23
            }
        );
        assert_eq!(
            classify(&[0xFF, 0xFF, 0, 0, 1]),
            Framing::G2 {
                header: G2Header::V22
            }
        );
        // 2.0/2.1 aes256 (1) + sha1 (2): real ids in the header, then random-looking bytes.
        let b = [1, 2, 0, 0, 0x9c, 0x4f, 0x81, 0xf7, 0x41];
        assert_eq!(
            classify(&b),
            Framing::G2 {
                header: G2Header::V20 { cipher: 1, hash: 2 }
            }
        );
        // 2.0/2.1 none/none: a G1-shaped SRP header right after 00 00 00 00.
        let b = [0, 0, 0, 0, 5, 0, 0x22, 0xFF, 1, 0, 0, 0];
        assert_eq!(
            classify(&b),
            Framing::G2 {
                header: G2Header::V20 { cipher: 0, hash: 0 }
            }
        );
    }

    #[test]
    fn knet_frames_are_never_totem() {
        // findings-corosync3-live §5.5: a data frame carrying a token, a ping and a pong.
        let data = [
            1, 0x00, 0, 1, 0, 0, 0, 0x75, 0, 0, 0, 1, 0, 0, 0x70, 0xc0, 3, 0,
        ];
        assert_eq!(
            classify(&data),
            Framing::Knet {
                kind: KnetKind::Data
            }
        );
        assert_eq!(
            classify(&[1, 0x81, 0, 1, 0, 0, 0]),
            Framing::Knet {
                kind: KnetKind::Ping
            }
        );
        assert_eq!(
            classify(&[1, 0x82, 0, 3, 0, 0, 0]),
            Framing::Knet {
                kind: KnetKind::Pong
            }
        );
        assert_eq!(
            classify(&[1, 0x83, 0, 3, 0, 0, 0]),
            Framing::Knet {
                kind: KnetKind::Pmtud
            }
        );
        // A G1 mcast also starts with 01 but carries the endian detector: Totem, not knet.
        let g1 = [1, 2, 0x22, 0xFF, 2, 0, 0, 0];
        assert_eq!(
            classify(&g1),
            Framing::Plain {
                generation: Generation::G1,
                endian: Endian::Little
            }
        );
    }

    #[test]
    fn byte_orders_and_garbage() {
        assert_eq!(
            classify(&[0x70, 0xC0, 3, 0]),
            Framing::Plain {
                generation: Generation::G3,
                endian: Endian::Little
            }
        );
        assert_eq!(
            classify(&[0xC0, 0x70, 3, 0]),
            Framing::Plain {
                generation: Generation::G3,
                endian: Endian::Big
            }
        );
        assert_eq!(
            classify(&[0, 0, 0xFF, 0x22, 0, 0, 0, 1]),
            Framing::Plain {
                generation: Generation::G1,
                endian: Endian::Big
            }
        );
        // A G3 magic with another version is not G3 (corosync drops it as unsupported).
        assert_eq!(
            classify(&[0x70, 0xC0, 4, 0, 0, 0, 0, 0, 0]),
            Framing::Opaque
        );
        // An encrypted G1 datagram starts with an HMAC: opaque until a key opens it.
        assert_eq!(
            classify(&[0xf5, 0x64, 0x19, 0x64, 0xa4, 0x92, 0x53, 0xb1]),
            Framing::Opaque
        );
        assert_eq!(classify(&[]), Framing::Opaque);
    }
}
