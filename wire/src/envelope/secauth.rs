//! G1 `secauth` envelope (openais 0.80 and corosync 1.x).
//!
//! Layout: `HMAC-SHA1 digest (20) ‖ salt (16) ‖ ciphertext ‖ [trailer (1), corosync 1.x only]`.
//!
//! * SOBER mode (trailer 0 or absent): a SOBER-128 PRNG keyed with the authkey and loaded with the
//!   salt yields 48 bytes = IV ‖ cipher key ‖ HMAC key (16 each); the message is XORed with a
//!   second SOBER-128 stream keyed with the cipher key and loaded with the IV; the digest is
//!   HMAC-SHA1 under the 16-byte HMAC key over `salt ‖ ciphertext`.
//! * NSS mode (trailer 1, corosync 1.x `crypto_type: nss`): AES-256-CBC with PKCS#7, key =
//!   authkey bytes 0..32, IV = salt; digest = HMAC-SHA1 keyed with the same 32 bytes over
//!   `salt ‖ ciphertext`.
//!
//! Receiving follows corosync 1.x: take the last byte as the mode, try that mode on the rest, and
//! if that fails try SOBER over the whole datagram (an openais packet without trailer).
//! Note that corosync 1.x then hands `datagram.len() - 36` bytes upward, i.e. the plaintext plus the
//! trailer byte; [`SecauthOpened::plaintext`] excludes the trailer.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

use super::authkey::{check_key_len, padded_prefix};
use super::cbc_pad::CbcKey;
use super::sober128::Sober128Prng;
use super::{need, EnvelopeError};

/// Length of the HMAC-SHA1 digest at the start of every secauth datagram.
pub const DIGEST_LEN: usize = 20;
/// Length of the salt that follows the digest.
pub const SALT_LEN: usize = 16;
/// Digest plus salt: offset of the ciphertext.
pub const HEADER_LEN: usize = DIGEST_LEN + SALT_LEN;
/// Trailer byte value announcing SOBER mode.
pub const TRAILER_SOBER: u8 = 0;
/// Trailer byte value announcing NSS (AES-256-CBC) mode.
pub const TRAILER_NSS: u8 = 1;

/// Name used in error messages.
const ENVELOPE: &str = "secauth";

type HmacSha1 = Hmac<Sha1>;

/// Which cipher protects a secauth datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecauthMode {
    /// SOBER-128 stream cipher + HMAC-SHA1 with derived keys (mode 0).
    Sober,
    /// AES-256-CBC + HMAC-SHA1 keyed with authkey[0..32] (mode 1, corosync 1.x NSS).
    Nss,
}

/// Everything besides the plaintext needed to rebuild a datagram byte for byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecauthParams {
    /// Cipher mode.
    pub mode: SecauthMode,
    /// The 16-byte salt (SOBER key-derivation nonce, or the AES IV in NSS mode).
    pub salt: [u8; SALT_LEN],
    /// Trailer byte after the ciphertext (`Some(0)` SOBER / `Some(1)` NSS in corosync 1.x,
    /// `None` for openais and the 1.x threaded send path). Written verbatim by `seal`.
    pub trailer: Option<u8>,
}

/// A successfully authenticated and decrypted secauth datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecauthOpened {
    /// Parameters to pass back to [`Secauth::seal`] to reproduce the datagram.
    pub params: SecauthParams,
    /// The Totem message (trailer excluded).
    pub plaintext: Vec<u8>,
}

/// Opens and seals G1 secauth datagrams under one authkey.
#[derive(Clone)]
pub struct Secauth {
    /// The authkey as used for SOBER key loading (`private_key_len` bytes).
    key: Vec<u8>,
    /// AES-256 key and NSS HMAC key: the authkey zero-padded, first 32 bytes.
    nss_key: [u8; 32],
}

impl std::fmt::Debug for Secauth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secauth(key: {} bytes)", self.key.len())
    }
}

/// The three 16-byte values derived per salt in SOBER mode.
struct SoberKeys {
    /// IV loaded into the stream cipher.
    iv: [u8; 16],
    /// Key of the stream cipher.
    cipher_key: [u8; 16],
    /// HMAC-SHA1 key.
    hmac_key: [u8; 16],
}

impl Secauth {
    /// Creates an envelope for `authkey` (1..=128 bytes, a multiple of 4 as SOBER key loading
    /// requires; a key file always gives 128).
    pub fn new(authkey: &[u8]) -> Result<Secauth, EnvelopeError> {
        check_key_len(authkey)?;
        if authkey.len() % 4 != 0 {
            return Err(EnvelopeError::Config {
                field: "authkey",
                detail: format!(
                    "secauth key length {} is not a multiple of 4",
                    authkey.len()
                ),
            });
        }
        Ok(Secauth {
            key: authkey.to_vec(),
            nss_key: padded_prefix::<32>(authkey),
        })
    }

    /// Authenticates and decrypts one datagram, trying modes in corosync 1.x order.
    pub fn open(&self, datagram: &[u8]) -> Result<SecauthOpened, EnvelopeError> {
        need("secauth datagram", HEADER_LEN, datagram.len())?;
        let mut stripped_err: Option<(u8, EnvelopeError)> = None;
        if let Some((&last, stripped)) = datagram.split_last() {
            if stripped.len() >= HEADER_LEN {
                let attempt = match last {
                    TRAILER_SOBER => {
                        Some(self.open_sober(stripped).map(|r| (SecauthMode::Sober, r)))
                    }
                    TRAILER_NSS => Some(self.open_nss(stripped).map(|r| (SecauthMode::Nss, r))),
                    _ => None,
                };
                match attempt {
                    Some(Ok((mode, (salt, plaintext)))) => {
                        return Ok(SecauthOpened {
                            params: SecauthParams {
                                mode,
                                salt,
                                trailer: Some(last),
                            },
                            plaintext,
                        })
                    }
                    Some(Err(e)) => stripped_err = Some((last, e)),
                    None => {}
                }
            }
        }
        match self.open_sober(datagram) {
            Ok((salt, plaintext)) => Ok(SecauthOpened {
                params: SecauthParams {
                    mode: SecauthMode::Sober,
                    salt,
                    trailer: None,
                },
                plaintext,
            }),
            Err(whole_err) => Err(match stripped_err {
                // An authenticated NSS datagram with broken padding is the more useful report.
                Some((_, e @ EnvelopeError::BadPadding { .. })) => e,
                Some((t, _)) => EnvelopeError::Authentication {
                    envelope: ENVELOPE,
                    detail: format!(
                        "HMAC-SHA1 mismatch both as {} with trailer {t:#04x} stripped and as SOBER over the whole datagram",
                        if t == TRAILER_NSS { "NSS" } else { "SOBER" }
                    ),
                },
                None => whole_err,
            }),
        }
    }

    /// Builds a datagram: digest ‖ salt ‖ ciphertext ‖ optional trailer.
    pub fn seal(&self, plaintext: &[u8], params: &SecauthParams) -> Vec<u8> {
        let salt = &params.salt;
        let ciphertext = match params.mode {
            SecauthMode::Sober => {
                let keys = self.sober_keys(salt);
                let mut ct = plaintext.to_vec();
                sober_stream(&keys).read(&mut ct);
                ct
            }
            SecauthMode::Nss => CbcKey::Aes256(self.nss_key).encrypt(salt, plaintext),
        };
        let digest = match params.mode {
            SecauthMode::Sober => hmac_sha1(&self.sober_keys(salt).hmac_key, salt, &ciphertext),
            SecauthMode::Nss => hmac_sha1(&self.nss_key, salt, &ciphertext),
        };
        let mut out = Vec::with_capacity(HEADER_LEN + ciphertext.len() + 1);
        out.extend_from_slice(&digest);
        out.extend_from_slice(salt);
        out.extend_from_slice(&ciphertext);
        if let Some(t) = params.trailer {
            out.push(t);
        }
        out
    }

    /// Derives IV, cipher key and HMAC key for `salt` (SOBER mode).
    fn sober_keys(&self, salt: &[u8; SALT_LEN]) -> SoberKeys {
        let mut prng = Sober128Prng::new();
        // Lengths were validated in `new` (key) and are fixed (salt), so loading cannot fail.
        let _ = prng.add_entropy(&self.key);
        let _ = prng.add_entropy(salt);
        let mut keys = [0u8; 48];
        prng.read(&mut keys);
        SoberKeys {
            iv: padded_prefix::<16>(&keys[0..16]),
            cipher_key: padded_prefix::<16>(&keys[16..32]),
            hmac_key: padded_prefix::<16>(&keys[32..48]),
        }
    }

    /// SOBER-mode open of `digest ‖ salt ‖ ct` (no trailer).
    fn open_sober(&self, body: &[u8]) -> Result<([u8; SALT_LEN], Vec<u8>), EnvelopeError> {
        let Body { digest, salt, ct } = split_body(body)?;
        let keys = self.sober_keys(&salt);
        verify(&hmac_sha1(&keys.hmac_key, &salt, ct), digest, "SOBER")?;
        let mut pt = ct.to_vec();
        sober_stream(&keys).read(&mut pt);
        Ok((salt, pt))
    }

    /// NSS-mode open of `digest ‖ salt ‖ ct` (no trailer).
    fn open_nss(&self, body: &[u8]) -> Result<([u8; SALT_LEN], Vec<u8>), EnvelopeError> {
        let Body { digest, salt, ct } = split_body(body)?;
        verify(&hmac_sha1(&self.nss_key, &salt, ct), digest, "NSS")?;
        let pt = CbcKey::Aes256(self.nss_key).decrypt(&salt, ct)?;
        Ok((salt, pt))
    }
}

/// A datagram without trailer, split into its parts.
struct Body<'a> {
    /// Received HMAC-SHA1 digest.
    digest: &'a [u8],
    /// The salt.
    salt: [u8; SALT_LEN],
    /// Ciphertext after the salt.
    ct: &'a [u8],
}

/// Splits `digest ‖ salt ‖ ct`.
fn split_body(body: &[u8]) -> Result<Body<'_>, EnvelopeError> {
    need("secauth datagram", HEADER_LEN, body.len())?;
    let (digest, rest) = body.split_at(DIGEST_LEN);
    let (salt, ct) = rest.split_at(SALT_LEN);
    Ok(Body {
        digest,
        salt: padded_prefix::<SALT_LEN>(salt),
        ct,
    })
}

/// The SOBER-128 stream cipher for one datagram.
fn sober_stream(keys: &SoberKeys) -> Sober128Prng {
    let mut prng = Sober128Prng::new();
    let _ = prng.add_entropy(&keys.cipher_key);
    let _ = prng.add_entropy(&keys.iv);
    prng
}

/// HMAC-SHA1 over `salt ‖ ct`.
fn hmac_sha1(key: &[u8], salt: &[u8], ct: &[u8]) -> [u8; DIGEST_LEN] {
    // HMAC accepts keys of any length, so construction cannot fail.
    let mut mac = <HmacSha1 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(salt);
    mac.update(ct);
    mac.finalize().into_bytes().into()
}

/// Constant-time digest comparison.
fn verify(expected: &[u8], got: &[u8], mode: &str) -> Result<(), EnvelopeError> {
    if bool::from(expected.ct_eq(got)) {
        Ok(())
    } else {
        Err(EnvelopeError::Authentication {
            envelope: ENVELOPE,
            detail: format!("HMAC-SHA1 mismatch in {mode} mode"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn kat() -> (Secauth, [u8; 16]) {
        let key: Vec<u8> = (0u8..0x80).collect();
        let salt: [u8; 16] = core::array::from_fn(|i| 0xa0 + i as u8);
        (Secauth::new(&key).unwrap(), salt)
    }

    const KAT_PACKET: &str = "f5641964a49253b11d77cdb9ef65a33582533a57 \
        a0a1a2a3a4a5a6a7a8a9aaabacadaeaf eac5eafeb7802b31d83244c443";

    #[test]
    fn derived_keys_match_spec_kat() {
        let (s, salt) = kat();
        let k = s.sober_keys(&salt);
        assert_eq!(k.iv.to_vec(), hex("628e965fceb4fd1efdddda684f0ea924"));
        assert_eq!(
            k.cipher_key.to_vec(),
            hex("06c0379079070a97d2c6880a6d6b67ae")
        );
        assert_eq!(k.hmac_key.to_vec(), hex("4548f592e522e18c6ae5752c468ad86b"));
    }

    #[test]
    fn seal_matches_spec_kat_packet() {
        let (s, salt) = kat();
        let params = SecauthParams {
            mode: SecauthMode::Sober,
            salt,
            trailer: None,
        };
        assert_eq!(s.seal(b"Hello, totem!", &params), hex(KAT_PACKET));
        let mut with_trailer = hex(KAT_PACKET);
        with_trailer.push(0);
        let p2 = SecauthParams {
            trailer: Some(0),
            ..params
        };
        assert_eq!(s.seal(b"Hello, totem!", &p2), with_trailer);
    }

    #[test]
    fn open_spec_kat_packet_with_and_without_trailer() {
        let (s, salt) = kat();
        let o = s.open(&hex(KAT_PACKET)).unwrap();
        assert_eq!(o.plaintext, b"Hello, totem!");
        assert_eq!(o.params.salt, salt);
        assert_eq!(o.params.trailer, None);
        let mut t = hex(KAT_PACKET);
        t.push(0);
        let o = s.open(&t).unwrap();
        assert_eq!(o.params.trailer, Some(0));
        assert_eq!(o.plaintext, b"Hello, totem!");
    }

    #[test]
    fn key_length_rules() {
        assert!(matches!(
            Secauth::new(&[1, 2, 3]),
            Err(EnvelopeError::Config { .. })
        ));
        assert!(Secauth::new(&[]).is_err());
        assert!(Secauth::new(&[0u8; 132]).is_err());
        assert!(Secauth::new(&[0u8; 8]).is_ok());
    }
}
