//! The knet crypto settings of a corosync 3 `corosync.conf` (its `totem` section's pairs, as
//! `totem::corosync_conf` parses them: wire reads no text grammar), read the way corosync 3.1.7 does:
//! model defaults to nss, cipher and hash to none; `secauth: on` means aes256 + sha256; explicit
//! `crypto_cipher` / `crypto_hash` win over `secauth`.

use super::knet::{
    hash_from_config_name, KnetCipher, KnetCryptoConfig, KnetCryptoError, KnetModel,
};

/// What the `totem` section of a corosync.conf says about knet crypto.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnetConfSettings {
    /// The effective crypto configuration.
    pub crypto: KnetCryptoConfig,
    /// `totem.keyfile`, if set (corosync's default is /etc/corosync/authkey).
    pub keyfile: Option<String>,
}

impl KnetConfSettings {
    /// Builds the settings from the `key: value` pairs of corosync.conf's `totem { }` section
    /// (parsed by `totem::corosync_conf`), in file order: the last of repeated keys wins,
    /// unknown keys are ignored, unknown crypto values are errors.
    pub fn from_totem_entries<'a>(
        entries: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, KnetCryptoError> {
        let (mut model, mut cipher, mut hash, mut secauth) = (None, None, None, None);
        let mut keyfile = None;
        for (k, v) in entries {
            match k {
                "crypto_model" => model = Some(v),
                "crypto_cipher" => cipher = Some(v),
                "crypto_hash" => hash = Some(v),
                "secauth" => secauth = Some(v),
                "keyfile" => keyfile = Some(v.to_string()),
                _ => {}
            }
        }
        let on = secauth == Some("on");
        let crypto = KnetCryptoConfig {
            model: KnetModel::from_config_name(model.unwrap_or("nss"))?,
            cipher: match cipher {
                Some(c) => KnetCipher::from_config_name(c)?,
                None if on => KnetCipher::Aes256,
                None => KnetCipher::None,
            },
            hash: match hash {
                Some(h) => hash_from_config_name(h)?,
                None if on => super::Hash::Sha256,
                None => super::Hash::None,
            },
        };
        crypto.validate()?;
        Ok(KnetConfSettings { crypto, keyfile })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Hash;

    fn settings(
        pairs: &[(&'static str, &'static str)],
    ) -> Result<KnetConfSettings, KnetCryptoError> {
        KnetConfSettings::from_totem_entries(pairs.iter().copied())
    }

    #[test]
    fn reads_totem_entries_with_corosync_defaults() {
        let s = settings(&[
            ("version", "2"),
            ("crypto_model", "openssl"),
            ("crypto_cipher", "aes128"),
            ("crypto_hash", "sha1"),
            ("keyfile", "/tmp/k"),
        ])
        .unwrap();
        assert_eq!(s.crypto.model, KnetModel::Openssl);
        assert_eq!(s.crypto.cipher, KnetCipher::Aes128);
        assert_eq!(s.crypto.hash, Hash::Sha1);
        assert_eq!(s.keyfile.as_deref(), Some("/tmp/k"));
        let d = settings(&[("version", "2")]).unwrap();
        assert_eq!(d.crypto, KnetCryptoConfig::default());
        assert!(!d.crypto.is_enabled());
        let s = settings(&[("secauth", "on")]).unwrap();
        assert_eq!(s.crypto, KnetCryptoConfig::COROSYNC_SECAUTH);
        let s = settings(&[("secauth", "on"), ("crypto_cipher", "none")]).unwrap();
        assert_eq!(s.crypto.cipher, KnetCipher::None);
        assert_eq!(s.crypto.hash, Hash::Sha256);
        assert!(settings(&[("crypto_cipher", "aes256")]).is_err());
        // The last of repeated keys wins; a value is taken as it is (no comment stripping).
        let s = settings(&[("crypto_hash", "sha1"), ("crypto_hash", "sha512")]);
        assert_eq!(s.unwrap().crypto.hash, Hash::Sha512);
        assert!(settings(&[("crypto_cipher", "aes128 # c"), ("crypto_hash", "sha1")]).is_err());
    }
}
