//! Corosync's own crypto: G1 secauth, G2/G3 totemcrypto settings from `secauth`,
//! `crypto_cipher`, `crypto_hash` and the key file.

use super::*;

pub(super) fn crypto_setting(
    gen: Generation,
    transport: TransportKind,
    t: &dyn Fn(&str) -> Option<Entry>,
) -> Result<CryptoSetting> {
    let cipher = t("crypto_cipher");
    let hash = t("crypto_hash");
    let secauth = t("secauth")
        .map(|e| yes_no(&e).map(|v| (v, e)))
        .transpose()?;
    let keyfile = t("keyfile").map(|e| PathBuf::from(e.value));
    match gen {
        Generation::G3 => {
            if transport == TransportKind::Knet {
                // Checked and kept in KnetSettings (knet_crypto); the datagram envelope of
                // the engine stays bare.
                return Ok(CryptoSetting::None);
            }
            for e in [&cipher, &hash].into_iter().flatten() {
                if e.value != "none" {
                    return Err(refused(
                        e,
                        "crypto_cipher & crypto_hash are only valid for the Knet transport",
                    ));
                }
            }
            if let Some((true, e)) = secauth {
                return Err(refused(
                    &e,
                    "crypto_cipher & crypto_hash are only valid for the Knet transport",
                ));
            }
            for k in ["crypto_type", "crypto_accept"] {
                if let Some(e) = t(k) {
                    return Err(refused(
                        &e,
                        "a corosync 1.x option; not valid in generation G3",
                    ));
                }
            }
            Ok(CryptoSetting::None)
        }
        Generation::G2 => {
            for k in ["crypto_type", "crypto_accept"] {
                if let Some(e) = t(k) {
                    return Err(refused(
                        &e,
                        "a corosync 1.x option; not valid in generation G2",
                    ));
                }
            }
            let secauth_off = matches!(secauth, Some((false, _)));
            let c = match &cipher {
                Some(e) => {
                    Cipher::from_config_name(&e.value).map_err(|x| invalid(e, x.to_string()))?
                }
                None if secauth_off => Cipher::None,
                None => Cipher::Aes256,
            };
            let h = match &hash {
                Some(e) => {
                    Hash::from_config_name(&e.value).map_err(|x| invalid(e, x.to_string()))?
                }
                None if secauth_off => Hash::None,
                None => Hash::Sha1,
            };
            if c != Cipher::None && h == Hash::None {
                let e = hash.or(cipher).unwrap_or(Entry {
                    key: "totem.crypto_hash".into(),
                    value: "none".into(),
                    line: 0,
                });
                return Err(invalid(
                    &e,
                    "crypto_cipher requires crypto_hash with value other than none",
                ));
            }
            let needs_key = c != Cipher::None || h != Hash::None;
            Ok(CryptoSetting::TotemCrypto {
                cipher: c,
                hash: h,
                keyfile: needs_key
                    .then(|| keyfile.unwrap_or_else(|| PathBuf::from("/etc/corosync/authkey"))),
            })
        }
        Generation::G1 => {
            if let Some(e) = cipher.as_ref().or(hash.as_ref()) {
                return Err(refused(e, "a corosync 2.x option; G1 uses secauth"));
            }
            // secauth defaults to on in openais 0.80 and corosync 1.x.
            if matches!(secauth, Some((false, _))) {
                return Ok(CryptoSetting::None);
            }
            let nss = match t("crypto_type") {
                None => false,
                Some(e) => match e.value.as_str() {
                    "sober" => false,
                    "nss" | "aes256" => true,
                    _ => return Err(invalid(&e, "expected sober or nss")),
                },
            };
            let accept_new = match t("crypto_accept") {
                None => false,
                Some(e) => match e.value.as_str() {
                    "old" => false,
                    "new" => true,
                    _ => return Err(invalid(&e, "expected old or new")),
                },
            };
            let (mode, trailer) = match (nss, accept_new) {
                (true, true) => (SecauthMode::Nss, Some(1)),
                (false, true) => (SecauthMode::Sober, Some(0)),
                (false, false) => (SecauthMode::Sober, Some(0)),
                (true, false) => {
                    let e = t("crypto_type").unwrap_or_default_entry();
                    return Err(refused(&e, "nss is only sent with crypto_accept: new"));
                }
            };
            Ok(CryptoSetting::Secauth {
                mode,
                trailer,
                keyfile: keyfile.unwrap_or_else(|| PathBuf::from("/etc/corosync/authkey")),
            })
        }
    }
}
