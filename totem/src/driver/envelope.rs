//! The per-datagram envelope of a running node: bare (G3, G1 without secauth), G2
//! totemcrypto (none/none is the 4-byte `FE FE 00 00` header) or G1 secauth.

use rand_core::{OsRng, RngCore};
use totem_wire::envelope::{
    AuthKey, CryptoConfig, EnvelopeError, Secauth, SecauthMode, SecauthParams, TotemCrypto,
    TotemCryptoParams, Variant,
};

use crate::node_config::CryptoSetting;

/// Seals outgoing and opens incoming datagrams.
#[derive(Debug)]
pub enum Envelope {
    /// No envelope: the datagram is the Totem message.
    Plain,
    /// corosync 2.3+ totemcrypto.
    TotemCrypto(TotemCrypto),
    /// openais / corosync 1.x secauth.
    Secauth {
        secauth: Secauth,
        mode: SecauthMode,
        trailer: Option<u8>,
    },
}

impl Envelope {
    /// Builds the envelope `setting` describes, reading its key file.
    pub fn from_setting(setting: &CryptoSetting) -> Result<Self, EnvelopeError> {
        Ok(match setting {
            CryptoSetting::None => Envelope::Plain,
            CryptoSetting::TotemCrypto {
                cipher,
                hash,
                keyfile,
            } => {
                let key = match keyfile {
                    Some(p) => AuthKey::from_file(p)?.as_bytes().to_vec(),
                    None => Vec::new(),
                };
                Envelope::TotemCrypto(TotemCrypto::new(
                    CryptoConfig {
                        cipher: *cipher,
                        hash: *hash,
                        variant: Variant::V2_3,
                    },
                    &key,
                )?)
            }
            CryptoSetting::Secauth {
                mode,
                trailer,
                keyfile,
            } => Envelope::Secauth {
                secauth: Secauth::new(AuthKey::from_file(keyfile)?.as_bytes())?,
                mode: *mode,
                trailer: *trailer,
            },
        })
    }

    /// Wraps one Totem message for the wire.
    pub fn seal(&self, msg: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
        match self {
            Envelope::Plain => Ok(msg.to_vec()),
            Envelope::TotemCrypto(tc) => {
                let salt = (tc.config().cipher != totem_wire::envelope::Cipher::None).then(|| {
                    let mut s = [0u8; 16];
                    OsRng.fill_bytes(&mut s);
                    s
                });
                tc.seal(msg, &TotemCryptoParams { salt, pads: [0, 0] })
            }
            Envelope::Secauth {
                secauth,
                mode,
                trailer,
            } => {
                let mut salt = [0u8; 16];
                OsRng.fill_bytes(&mut salt);
                Ok(secauth.seal(
                    msg,
                    &SecauthParams {
                        mode: *mode,
                        salt,
                        trailer: *trailer,
                    },
                ))
            }
        }
    }

    /// Unwraps one received datagram into its Totem message.
    pub fn open(&self, datagram: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
        match self {
            Envelope::Plain => Ok(datagram.to_vec()),
            Envelope::TotemCrypto(tc) => tc.open(datagram).map(|o| o.plaintext),
            Envelope::Secauth { secauth, .. } => secauth.open(datagram).map(|o| o.plaintext),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use totem_wire::envelope::{Cipher, Hash};

    /// spec §1.3: G2 none/none is `FE FE 00 00` followed by the message.
    #[test]
    fn g2_none_none_header() {
        let e = Envelope::from_setting(&CryptoSetting::TotemCrypto {
            cipher: Cipher::None,
            hash: Hash::None,
            keyfile: None,
        })
        .unwrap();
        let d = e.seal(&[1, 2, 3]).unwrap();
        assert_eq!(d, [0xfe, 0xfe, 0, 0, 1, 2, 3]);
        assert_eq!(e.open(&d).unwrap(), [1, 2, 3]);
        assert!(e.open(&[0xff, 0xfe, 0, 0, 1]).is_err());
    }

    #[test]
    fn secauth_round_trip_with_capture_key() {
        let dir = std::env::temp_dir().join(format!("totem-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("authkey");
        std::fs::write(&key, (0u8..128).collect::<Vec<_>>()).unwrap();
        let e = Envelope::from_setting(&CryptoSetting::Secauth {
            mode: SecauthMode::Sober,
            trailer: Some(0),
            keyfile: key.clone(),
        })
        .unwrap();
        let d = e.seal(b"Hello, totem!").unwrap();
        assert_eq!(d.len(), 36 + 13 + 1);
        assert_eq!(d.last(), Some(&0));
        assert_eq!(e.open(&d).unwrap(), b"Hello, totem!");
        // Known-answer packet of spec §1.2 (authkey 00..7f, salt a0..af, no trailer).
        let kat = hex::decode(
            "f5641964a49253b11d77cdb9ef65a33582533a57a0a1a2a3a4a5a6a7a8a9aaabacadaeafeac5eafeb7802b31d83244c443",
        )
        .unwrap();
        assert_eq!(e.open(&kat).unwrap(), b"Hello, totem!");
        let mut bad = d.clone();
        bad[40] ^= 1;
        assert!(e.open(&bad).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
