//! Our secure layer's `keygen` section (see the module docs of `node_config`).

use super::*;

/// Keys of the `keygen` section.
const KEYGEN_KEYS: &[&str] = &[
    "enable",
    "keyfile",
    "rekey_interval",
    "rekey_packets",
    "retire_grace",
];

/// Corosync crypto keys of `totem` that cannot be combined with the secure layer.
const COROSYNC_CRYPTO_KEYS: &[&str] = &[
    "crypto_cipher",
    "crypto_hash",
    "crypto_model",
    "crypto_type",
    "crypto_accept",
    "secauth",
];

/// Longest `rekey_interval` / `retire_grace` accepted (one day, in ms).
const KEYGEN_MAX_MS: u64 = 86_400_000;

/// Maps the `keygen` section; `None` unless `enable: yes`.
pub(super) fn secure_settings(
    k: &Section,
    gen: Generation,
    t: &dyn Fn(&str) -> Option<Entry>,
) -> Result<Option<SecureSettings>> {
    let q = |e: &Entry| qualified("keygen", e);
    for e in k.entries() {
        if !KEYGEN_KEYS.contains(&e.key.as_str()) {
            return Err(refused(&q(e), "not a keygen option"));
        }
    }
    if let Some(s) = k.subsections().next() {
        return Err(NodeConfigError::Refused {
            key: format!("keygen.{}", s.name),
            value: String::new(),
            line: s.line,
            reason: "unknown section".into(),
        });
    }
    let enable = match k.entry("enable").map(q) {
        Some(e) => (yes_no(&e)?, e),
        None => {
            return Err(NodeConfigError::Missing {
                key: "keygen.enable".into(),
                reason: "a keygen section must say enable: yes or enable: no".into(),
            })
        }
    };
    let (true, enable) = enable else {
        return Ok(None);
    };
    if gen != Generation::G3 {
        return Err(refused(
            &enable,
            format!(
                "the secure layer runs only on our native rings (generation G3); {gen} rings are corosync-compatible and use corosync's own crypto"
            ),
        ));
    }
    match t("transport") {
        Some(e) if e.value == "knet" => {
            return Err(refused(
                &e,
                "keygen.enable: yes seals the Totem datagrams itself; use transport udpu or udp (knet has its own envelope)",
            ))
        }
        None => {
            return Err(refused(
                &enable,
                "the G3 default transport is knet; set totem.transport: udpu or udp for a keygen ring",
            ))
        }
        Some(_) => {}
    }
    for key in COROSYNC_CRYPTO_KEYS {
        if let Some(e) = t(key) {
            let off = matches!(e.value.as_str(), "none" | "off" | "no");
            if !off || *key == "crypto_model" {
                return Err(refused(
                    &e,
                    "corosync crypto cannot be combined with keygen.enable: yes (the secure layer seals every datagram)",
                ));
            }
        }
    }
    let keyfile = k
        .entry("keyfile")
        .map(|e| PathBuf::from(&e.value))
        .or_else(|| t("keyfile").map(|e| PathBuf::from(e.value)))
        .unwrap_or_else(|| PathBuf::from("/etc/corosync/authkey"));
    if let Some(e) = k.entry("keyfile").map(q) {
        if e.value.is_empty() {
            return Err(invalid(&e, "empty path"));
        }
    }
    let rekey_interval = match k.entry("rekey_interval").map(q) {
        Some(e) => match num::<u64>(&e)? {
            0 => None,
            v if v < 100 => {
                return Err(invalid(
                    &e,
                    "below 100 ms (0 turns rekeying by time off); a refresh needs a few token rotations",
                ))
            }
            v if v > KEYGEN_MAX_MS => return Err(invalid(&e, "above one day (86400000 ms)")),
            v => Some(Duration::from_millis(v)),
        },
        None => None,
    };
    let rekey_packets = match k.entry("rekey_packets").map(q) {
        Some(e) => match num::<u64>(&e)? {
            0 => None,
            v if v < 100 => {
                return Err(invalid(
                    &e,
                    "below 100 datagrams (0 turns rekeying by volume off); a refresh itself takes dozens",
                ))
            }
            v => Some(v),
        },
        None => None,
    };
    let retire_grace = match k.entry("retire_grace").map(q) {
        Some(e) => match num::<u64>(&e)? {
            0 => return Err(invalid(
                &e,
                "must be at least 1 ms: datagrams sealed just before a switch are still in flight",
            )),
            v if v > KEYGEN_MAX_MS => return Err(invalid(&e, "above one day (86400000 ms)")),
            v => Duration::from_millis(v),
        },
        None => Duration::from_secs(2),
    };
    Ok(Some(SecureSettings {
        keyfile,
        rekey_interval,
        rekey_packets,
        retire_grace,
    }))
}
