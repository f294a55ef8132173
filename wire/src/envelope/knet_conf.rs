//! The knet crypto settings of a corosync 3 `corosync.conf`, read the way corosync 3.1.7 does:
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

/// Reads the `totem { }` section of corosync.conf text. Unknown keys and other sections are
/// ignored; unknown crypto values are errors.
pub fn parse_corosync_conf(text: &str) -> Result<KnetConfSettings, KnetCryptoError> {
    let mut path: Vec<String> = Vec::new();
    let (mut model, mut cipher, mut hash, mut secauth) = (None, None, None, None);
    let mut keyfile = None;
    for raw in text.lines() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_suffix('{') {
            path.push(name.trim().to_string());
            continue;
        }
        if line == "}" {
            path.pop();
            continue;
        }
        if path.len() != 1 || path[0] != "totem" {
            continue;
        }
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim().to_string();
        match k.trim() {
            "crypto_model" => model = Some(v),
            "crypto_cipher" => cipher = Some(v),
            "crypto_hash" => hash = Some(v),
            "secauth" => secauth = Some(v),
            "keyfile" => keyfile = Some(v),
            _ => {}
        }
    }
    let on = secauth.as_deref() == Some("on");
    let crypto = KnetCryptoConfig {
        model: KnetModel::from_config_name(model.as_deref().unwrap_or("nss"))?,
        cipher: match cipher.as_deref() {
            Some(c) => KnetCipher::from_config_name(c)?,
            None if on => KnetCipher::Aes256,
            None => KnetCipher::None,
        },
        hash: match hash.as_deref() {
            Some(h) => hash_from_config_name(h)?,
            None if on => super::Hash::Sha256,
            None => super::Hash::None,
        },
    };
    crypto.validate()?;
    Ok(KnetConfSettings { crypto, keyfile })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Hash;

    #[test]
    fn reads_totem_section_with_corosync_defaults() {
        let s = parse_corosync_conf(
            "totem {\n  version: 2\n  crypto_model: openssl\n  crypto_cipher: aes128 # c\n  \
             crypto_hash: sha1\n  keyfile: /tmp/k\n}\nlogging {\n  crypto_hash: md5\n}\n",
        )
        .unwrap();
        assert_eq!(s.crypto.model, KnetModel::Openssl);
        assert_eq!(s.crypto.cipher, KnetCipher::Aes128);
        assert_eq!(s.crypto.hash, Hash::Sha1);
        assert_eq!(s.keyfile.as_deref(), Some("/tmp/k"));
        let d = parse_corosync_conf("totem {\n version: 2\n}\n").unwrap();
        assert_eq!(d.crypto, KnetCryptoConfig::default());
        assert!(!d.crypto.is_enabled());
        let s = parse_corosync_conf("totem {\n secauth: on\n}\n").unwrap();
        assert_eq!(s.crypto, KnetCryptoConfig::COROSYNC_SECAUTH);
        let s = parse_corosync_conf("totem {\n secauth: on\n crypto_cipher: none\n}\n").unwrap();
        assert_eq!(s.crypto.cipher, KnetCipher::None);
        assert_eq!(s.crypto.hash, Hash::Sha256);
        assert!(parse_corosync_conf("totem {\n crypto_cipher: aes256\n}\n").is_err());
    }
}
