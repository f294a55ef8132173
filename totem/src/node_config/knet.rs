//! The knet transport's part of the configuration: link mode, compression, per-link
//! heartbeat settings and knet crypto.

use super::*;

/// The knet part of the configuration: link mode, compression (none only), per-link
/// heartbeat settings with corosync 3.1.7's defaults (totemconfig.c).
pub(super) fn knet_settings(
    t: &dyn Fn(&str) -> Option<Entry>,
    ifaces: &[(u8, &Section)],
    nodes: &[NodeEntry],
    nodeid: u32,
    engine: &Config,
) -> Result<KnetSettings> {
    use crate::knet::{LinkParams, LinkPolicy};
    let link_mode = match t("link_mode") {
        None => LinkPolicy::Passive,
        Some(e) => match e.value.as_str() {
            "passive" => LinkPolicy::Passive,
            "active" => LinkPolicy::Active,
            "rr" => LinkPolicy::Rr,
            _ => return Err(invalid(&e, "expected passive, active or rr")),
        },
    };
    if let Some(e) = t("knet_compression_model") {
        if e.value != "none" {
            return Err(refused(
                &e,
                "knet compression is not built in; set knet_compression_model: none (and on every node)",
            ));
        }
    }
    for k in ["knet_compression_threshold", "knet_compression_level"] {
        if let Some(e) = t(k) {
            e.value
                .parse::<i64>()
                .map_err(|_| invalid(&e, "not an integer"))?;
        }
    }
    let knet_mtu = t("knet_mtu")
        .map(|e| num::<u32>(&e))
        .transpose()?
        .unwrap_or(0);
    if knet_mtu != 0 && knet_mtu < 576 {
        let e = t("knet_mtu").unwrap_or_default_entry();
        return Err(invalid(&e, "must be 0 (discover) or at least 576"));
    }
    let pmtud_interval = t("knet_pmtud_interval")
        .map(|e| num::<u32>(&e))
        .transpose()?
        .unwrap_or(30);
    let crypto = knet_crypto(t)?;
    let me = nodes.iter().find(|n| n.nodeid == nodeid);
    let token_ms = engine.token_timeout().as_millis() as u64;
    let whole_ms = std::time::Duration::from_millis;
    let mut links = Vec::new();
    for (lid, _, _) in me.map(|n| n.ring_addrs.as_slice()).unwrap_or(&[]) {
        let sec = ifaces.iter().find(|(l, _)| l == lid).map(|(_, s)| *s);
        let g = |k: &str| {
            sec.and_then(|s| s.entry(k))
                .map(|e| qualified("totem.interface", e))
        };
        let port = match g("mcastport") {
            Some(e) => num::<u16>(&e)?,
            None => 5405 + u16::from(*lid),
        };
        if let Some(e) = g("knet_transport") {
            match e.value.as_str() {
                "udp" => {}
                "sctp" => {
                    return Err(refused(
                        &e,
                        "the knet SCTP transport is not implemented; use knet_transport: udp",
                    ))
                }
                _ => return Err(invalid(&e, "expected udp or sctp")),
            }
        }
        let pong_count = match g("knet_pong_count") {
            Some(e) => num::<u32>(&e)?,
            None => 2,
        };
        let pc = pong_count.max(1);
        let ms = |k: &str, dflt: std::time::Duration| -> Result<std::time::Duration> {
            match g(k) {
                Some(e) => {
                    let v: u64 = num(&e)?;
                    Ok(if v == 0 {
                        dflt
                    } else {
                        std::time::Duration::from_millis(v)
                    })
                }
                None => Ok(dflt),
            }
        };
        let params = LinkParams {
            // corosync computes these in whole milliseconds.
            ping_interval: ms("knet_ping_interval", whole_ms(token_ms / u64::from(pc * 2)))?,
            ping_timeout: ms("knet_ping_timeout", whole_ms(token_ms / u64::from(pc)))?,
            ping_precision: match g("knet_ping_precision") {
                Some(e) => num::<u32>(&e)?,
                None => 2048,
            },
            pong_count,
            priority: match g("knet_link_priority") {
                Some(e) => num::<u8>(&e)?,
                None => 1,
            },
        };
        links.push(KnetLinkConfig {
            linknumber: *lid,
            port,
            params,
        });
    }
    if links.is_empty() {
        return Err(NodeConfigError::OwnNode(
            "our nodelist entry has no ringN_addr for knet".into(),
        ));
    }
    Ok(KnetSettings {
        link_mode,
        links,
        knet_mtu,
        pmtud_interval,
        crypto,
    })
}

/// corosync 3.1.7 totem_get_crypto: model nss unless set; `secauth: on` means aes256/sha256;
/// crypto_cipher/crypto_hash override; a cipher needs a hash. The key file is
/// `totem.keyfile`, else /etc/corosync/authkey.
pub(super) fn knet_crypto(t: &dyn Fn(&str) -> Option<Entry>) -> Result<Option<KnetCryptoSetting>> {
    use totem_wire::envelope::knet::{KnetCryptoConfig, KnetCryptoError};
    let pick = |k: &str, dflt: &str| t(k).map(|e| e.value).unwrap_or_else(|| dflt.to_string());
    let secauth = t("secauth")
        .map(|e| yes_no(&e))
        .transpose()?
        .unwrap_or(false);
    let (dc, dh) = if secauth {
        ("aes256", "sha256")
    } else {
        ("none", "none")
    };
    let model = pick("crypto_model", "nss");
    let cipher = pick("crypto_cipher", dc);
    let hash = pick("crypto_hash", dh);
    let config = KnetCryptoConfig::from_names(&model, &cipher, &hash)
        .and_then(|c| c.validate().map(|_| c))
        .map_err(|e| {
            let key = match &e {
                KnetCryptoError::Config { field, .. } => format!("totem.{field}"),
                _ => "totem.crypto_cipher".into(),
            };
            // The key at fault, else whichever crypto key is set (one is: the defaults
            // are valid).
            let line = [
                key.trim_start_matches("totem."),
                "crypto_cipher",
                "crypto_hash",
                "crypto_model",
                "secauth",
            ]
            .into_iter()
            .find_map(|k| t(k).map(|e| e.line))
            .unwrap_or(0);
            NodeConfigError::Invalid {
                key,
                value: format!("{model}/{cipher}/{hash}"),
                line,
                reason: e.to_string(),
            }
        })?;
    if !config.is_enabled() {
        return Ok(None);
    }
    let keyfile = t("keyfile")
        .map(|e| PathBuf::from(e.value))
        .unwrap_or_else(|| PathBuf::from("/etc/corosync/authkey"));
    Ok(Some(KnetCryptoSetting { config, keyfile }))
}
