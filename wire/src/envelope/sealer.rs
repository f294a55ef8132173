//! One envelope type for every corosync format: a [`Sealer`] is built from the algorithm
//! settings ([`SealSettings`]) and the key bytes, seals fresh datagrams and opens received ones.
//!
//! Randomness is the caller's: [`Sealer::seal`] takes the [`RANDOM_LEN`] bytes the envelope
//! needs (the G1 salt, the G2 or knet CBC IV) and draws nothing itself. Sealing the plaintext
//! of a received datagram with the `random` [`Sealer::open`] recovered gives back that
//! datagram byte for byte.

use super::knet::{KnetCrypto, KnetCryptoConfig, KnetCryptoError};
use super::secauth::{Secauth, SecauthMode, SecauthParams};
use super::totemcrypto::{Cipher, CryptoConfig, TotemCrypto, TotemCryptoParams};
use super::EnvelopeError;

/// Bytes of randomness one seal uses at most (every envelope's salt or IV is 16 bytes).
pub const RANDOM_LEN: usize = 16;

/// Which envelope, with which algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SealSettings {
    /// No envelope: the datagram is the message (G1 without secauth, G3 on udp/udpu).
    Plain,
    /// G1 secauth: SOBER-128 or NSS-mode AES-256, and the trailer byte corosync 1.x appends
    /// (`None` for openais).
    Secauth {
        /// Cipher mode.
        mode: SecauthMode,
        /// Trailer byte after the ciphertext.
        trailer: Option<u8>,
    },
    /// G2 totemcrypto in any variant, cipher and hash.
    TotemCrypto(CryptoConfig),
    /// knet crypto (corosync 3's knet transport): the datagram is a sealed knet frame.
    Knet(KnetCryptoConfig),
}

impl SealSettings {
    /// Whether a seal uses the random bytes (false when nothing is encrypted).
    pub fn needs_random(&self) -> bool {
        match self {
            SealSettings::Plain => false,
            SealSettings::Secauth { .. } => true,
            SealSettings::TotemCrypto(c) => c.cipher != Cipher::None,
            SealSettings::Knet(c) => c.cipher.salt_len() != 0,
        }
    }
}

/// What [`Sealer::open`] recovered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsealed {
    /// The message (for knet, the knet frame).
    pub plaintext: Vec<u8>,
    /// The salt or IV the datagram was sealed with, `None` when nothing was encrypted.
    pub random: Option<[u8; RANDOM_LEN]>,
}

#[derive(Clone)]
enum Keyed {
    Plain,
    Secauth(Secauth),
    TotemCrypto(TotemCrypto),
    Knet(KnetCrypto),
}

/// Seals and opens datagrams of one envelope under one key.
#[derive(Clone)]
pub struct Sealer {
    settings: SealSettings,
    keyed: Keyed,
}

impl core::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print key material.
        f.debug_struct("Sealer")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl From<KnetCryptoError> for EnvelopeError {
    /// A knet HMAC mismatch is an [`EnvelopeError::Authentication`] like every other
    /// envelope's; the rest keep their knet detail.
    fn from(e: KnetCryptoError) -> Self {
        match e {
            KnetCryptoError::HmacMismatch { .. } => EnvelopeError::Authentication {
                envelope: "knet crypto",
                detail: e.to_string(),
            },
            other => EnvelopeError::Knet(other),
        }
    }
}

impl Sealer {
    /// Validates `settings` and keys them. `key` is what each format takes: the authkey
    /// (1..=128 bytes, see [`super::AuthKey`]) for G1 and G2, ignored for plain and G2
    /// none/none; for knet the key file's contents as corosync 3 passes them (128..=4096
    /// bytes, see [`super::knet::key_from_file_contents`]), ignored with knet crypto off.
    pub fn new(settings: SealSettings, key: &[u8]) -> Result<Sealer, EnvelopeError> {
        let keyed = match settings {
            SealSettings::Plain => Keyed::Plain,
            SealSettings::Secauth { mode, trailer } => {
                // Receivers read the trailer as the mode: any other pairing never opens.
                let opens = matches!(
                    (mode, trailer),
                    (SecauthMode::Sober, None | Some(0)) | (SecauthMode::Nss, Some(1))
                );
                if !opens {
                    return Err(EnvelopeError::Config {
                        field: "trailer",
                        detail: format!("{mode:?} mode cannot be sent with trailer {trailer:?}"),
                    });
                }
                Keyed::Secauth(Secauth::new(key)?)
            }
            SealSettings::TotemCrypto(c) => Keyed::TotemCrypto(TotemCrypto::new(c, key)?),
            SealSettings::Knet(c) => Keyed::Knet(KnetCrypto::new(c, key)?),
        };
        Ok(Sealer { settings, keyed })
    }

    /// The settings this sealer speaks.
    pub fn settings(&self) -> SealSettings {
        self.settings
    }

    /// Whether [`Sealer::seal`] reads its `random` argument.
    pub fn needs_random(&self) -> bool {
        self.settings.needs_random()
    }

    /// Wraps `plain` for the wire, with `random` as the salt or IV (fresh random bytes for a
    /// new datagram; ignored when [`Sealer::needs_random`] is false).
    pub fn seal(&self, plain: &[u8], random: &[u8; RANDOM_LEN]) -> Result<Vec<u8>, EnvelopeError> {
        Ok(match (&self.keyed, self.settings) {
            (Keyed::Plain, _) => plain.to_vec(),
            (Keyed::Secauth(s), SealSettings::Secauth { mode, trailer }) => s.seal(
                plain,
                &SecauthParams {
                    mode,
                    salt: *random,
                    trailer,
                },
            ),
            (Keyed::TotemCrypto(t), _) => t.seal(
                plain,
                &TotemCryptoParams {
                    salt: self.needs_random().then_some(*random),
                    pads: [0, 0],
                },
            )?,
            (Keyed::Knet(k), _) => k.seal(plain, random),
            (Keyed::Secauth(_), _) => {
                return Err(EnvelopeError::Config {
                    field: "settings",
                    detail: "secauth key without secauth settings".into(),
                })
            }
        })
    }

    /// Authenticates and decrypts one datagram. A wrong key (or tampering) is an
    /// [`EnvelopeError::Authentication`] for every envelope with a hash.
    pub fn open(&self, datagram: &[u8]) -> Result<Unsealed, EnvelopeError> {
        Ok(match &self.keyed {
            Keyed::Plain => Unsealed {
                plaintext: datagram.to_vec(),
                random: None,
            },
            Keyed::Secauth(s) => {
                let o = s.open(datagram)?;
                Unsealed {
                    plaintext: o.plaintext,
                    random: Some(o.params.salt),
                }
            }
            Keyed::TotemCrypto(t) => {
                let o = t.open(datagram)?;
                Unsealed {
                    plaintext: o.plaintext,
                    random: o.params.salt,
                }
            }
            Keyed::Knet(k) => {
                let o = k.open(datagram)?;
                Unsealed {
                    plaintext: o.frame,
                    random: o.salt,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::totemcrypto::{Hash, Variant};
    use crate::envelope::{KnetCipher, KnetModel};

    /// Every envelope kind the wire knows, with every cipher and hash it opens.
    fn every_setting() -> Vec<SealSettings> {
        let mut v = vec![SealSettings::Plain];
        for (mode, trailer) in [
            (SecauthMode::Sober, None),
            (SecauthMode::Sober, Some(0)),
            (SecauthMode::Nss, Some(1)),
        ] {
            v.push(SealSettings::Secauth { mode, trailer });
        }
        for variant in [Variant::V2_0, Variant::V2_2, Variant::V2_3] {
            for cipher in Cipher::ALL {
                for hash in Hash::ALL {
                    if cipher == Cipher::None || hash != Hash::None {
                        v.push(SealSettings::TotemCrypto(CryptoConfig {
                            cipher,
                            hash,
                            variant,
                        }));
                    }
                }
            }
        }
        for model in KnetModel::ALL {
            for cipher in KnetCipher::ALL {
                for hash in Hash::ALL {
                    let c = KnetCryptoConfig {
                        model,
                        cipher,
                        hash,
                    };
                    if c.validate().is_ok() {
                        v.push(SealSettings::Knet(c));
                    }
                }
            }
        }
        v
    }

    fn key() -> Vec<u8> {
        (0u8..128).collect()
    }

    #[test]
    fn seal_then_open_gives_back_the_plaintext_for_every_kind() {
        let random: [u8; 16] = core::array::from_fn(|i| 0xa0 + i as u8);
        let other: [u8; 16] = core::array::from_fn(|i| 0x10 + i as u8);
        let plain = b"\x70\xc0\x03\x00 a Totem message of some length";
        let all = every_setting();
        assert_eq!(all.len(), 1 + 3 + 3 * (6 + 4 * 5) + 2 * (6 + 3 * 5));
        for s in all {
            let sealer = Sealer::new(s, &key()).unwrap_or_else(|e| panic!("{s:?}: {e}"));
            let d = sealer.seal(plain, &random).unwrap();
            let o = sealer.open(&d).unwrap_or_else(|e| panic!("{s:?}: {e}"));
            assert_eq!(o.plaintext, plain, "{s:?}");
            assert_eq!(o.random, s.needs_random().then_some(random), "{s:?}");
            assert_eq!(sealer.seal(&o.plaintext, &random).unwrap(), d, "{s:?}");
            // The random bytes are the only source of freshness: other bytes, other datagram.
            let d2 = sealer.seal(plain, &other).unwrap();
            assert_eq!(d2 != d, s.needs_random(), "{s:?}");
        }
    }

    #[test]
    fn wrong_key_is_an_authentication_error() {
        let random = [7u8; 16];
        let mut wrong = key();
        // Not the low bit: DES ignores it (parity).
        wrong[3] ^= 0x80;
        for s in every_setting() {
            let authenticated = match s {
                SealSettings::Plain => false,
                SealSettings::Secauth { .. } => true,
                SealSettings::TotemCrypto(c) => c.hash != Hash::None,
                SealSettings::Knet(c) => c.hash != Hash::None,
            };
            if !authenticated {
                continue;
            }
            let d = Sealer::new(s, &key())
                .unwrap()
                .seal(b"hello", &random)
                .unwrap();
            let got = Sealer::new(s, &wrong).unwrap().open(&d);
            // G2 2.0 and 2.2 key their HMAC with nothing (corosync's format): only the
            // cipher, if any, depends on the key, so a wrong key gives bad padding or garbage.
            if let SealSettings::TotemCrypto(c) = s {
                if c.variant != Variant::V2_3 {
                    let garbled = got.map_or(true, |o| o.plaintext != b"hello");
                    assert_eq!(garbled, c.cipher != Cipher::None, "{s:?}");
                    continue;
                }
            }
            assert!(
                matches!(got, Err(EnvelopeError::Authentication { .. })),
                "{s:?}: {got:?}"
            );
        }
    }

    #[test]
    fn settings_the_key_cannot_serve_are_refused() {
        let knet = SealSettings::Knet(KnetCryptoConfig::COROSYNC_SECAUTH);
        assert!(matches!(
            Sealer::new(knet, &[1; 64]),
            Err(EnvelopeError::Knet(KnetCryptoError::Config {
                field: "authkey",
                ..
            }))
        ));
        let g2 = SealSettings::TotemCrypto(CryptoConfig {
            cipher: Cipher::Aes128,
            hash: Hash::None,
            variant: Variant::V2_3,
        });
        assert!(matches!(
            Sealer::new(g2, &key()),
            Err(EnvelopeError::Config {
                field: "crypto_hash",
                ..
            })
        ));
        assert!(Sealer::new(SealSettings::Plain, &[]).is_ok());
        let nss_without_trailer = SealSettings::Secauth {
            mode: SecauthMode::Nss,
            trailer: None,
        };
        assert!(matches!(
            Sealer::new(nss_without_trailer, &key()),
            Err(EnvelopeError::Config {
                field: "trailer",
                ..
            })
        ));
    }
}
