//! The per-datagram envelope of a running node: the wire's one [`Sealer`], with its settings
//! picked from the node's [`CryptoSetting`] and its random bytes drawn here (bare for G3 and
//! G1 without secauth, G2 totemcrypto 2.3+ where none/none is the 4-byte `FE FE 00 00`
//! header, or G1 secauth).

use rand_core::{OsRng, RngCore};
use totem_wire::envelope::{
    AuthKey, CryptoConfig, EnvelopeError, SealSettings, Sealer, Variant, RANDOM_LEN,
};

use crate::node_config::CryptoSetting;

/// Seals outgoing and opens incoming datagrams.
#[derive(Debug, Clone)]
pub struct Envelope {
    sealer: Sealer,
}

impl Envelope {
    /// Builds the envelope `setting` describes, reading its key file.
    pub fn from_setting(setting: &CryptoSetting) -> Result<Self, EnvelopeError> {
        let (settings, key) = match setting {
            CryptoSetting::None => (SealSettings::Plain, None),
            CryptoSetting::TotemCrypto {
                cipher,
                hash,
                keyfile,
            } => (
                SealSettings::TotemCrypto(CryptoConfig {
                    cipher: *cipher,
                    hash: *hash,
                    variant: Variant::V2_3,
                }),
                keyfile.as_deref(),
            ),
            CryptoSetting::Secauth {
                mode,
                trailer,
                keyfile,
            } => (
                SealSettings::Secauth {
                    mode: *mode,
                    trailer: *trailer,
                },
                Some(keyfile.as_path()),
            ),
        };
        let key = match key {
            Some(p) => AuthKey::from_file(p)?.as_bytes().to_vec(),
            None => Vec::new(),
        };
        Ok(Envelope {
            sealer: Sealer::new(settings, &key)?,
        })
    }

    /// Wraps one Totem message for the wire, under a fresh salt from the OS.
    pub fn seal(&self, msg: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
        let mut random = [0u8; RANDOM_LEN];
        if self.sealer.needs_random() {
            OsRng.fill_bytes(&mut random);
        }
        self.sealer.seal(msg, &random)
    }

    /// Unwraps one received datagram into its Totem message.
    pub fn open(&self, datagram: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
        self.sealer.open(datagram).map(|o| o.plaintext)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use totem_wire::envelope::{Cipher, Hash, SecauthMode};

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
        assert!(matches!(
            e.open(&bad),
            Err(EnvelopeError::Authentication { .. })
        ));
        // Two seals of one message differ: the salt is fresh each time.
        assert_ne!(e.seal(b"Hello, totem!").unwrap(), d);
        std::fs::remove_dir_all(&dir).ok();
    }
}
