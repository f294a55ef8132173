//! The `totem` section's own keys: which are known, the protocol version, the transport
//! and the node-wide options (netmtu, block_unlisted_ips, ip_version).

use super::{
    invalid, num, qualified, refused, yes_no, IpVersion, Lookup, Result, TransportKind,
    KNET_TOTEM_KEYS, TOTEM_KEYS,
};
use crate::corosync_conf::Section;
use totem_wire::Generation;

/// Refuses keys of `totem` this implementation does not know or cannot honour.
pub(super) fn check_keys(totem: &Section, t: &Lookup<'_>) -> Result<()> {
    for e in totem.entries() {
        let k = e.key.as_str();
        if !TOTEM_KEYS.contains(&k) && !KNET_TOTEM_KEYS.contains(&k) {
            return Err(refused(
                &qualified("totem", e),
                "not supported by this implementation",
            ));
        }
    }
    if let Some(e) = t("version") {
        if e.value != "2" {
            return Err(refused(&e, "only totem version 2 exists on the wire"));
        }
    }
    if let Some(e) = t("threads") {
        if num::<u32>(&e)? != 0 {
            return Err(refused(&e, "threaded sending is not implemented (use 0)"));
        }
    }
    // rrp_mode and the other rrp_* keys: rrp.rs.
    Ok(())
}

/// `totem.transport` (default: knet in G3, udp before), and no knet options on another.
pub(super) fn transport(gen: Generation, t: &Lookup<'_>) -> Result<TransportKind> {
    let transport = match t("transport") {
        Some(e) => match e.value.as_str() {
            "udpu" => TransportKind::Udpu,
            "udp" => TransportKind::Udp,
            "knet" if gen == Generation::G3 => TransportKind::Knet,
            "knet" => {
                return Err(refused(
                    &e,
                    "knet exists only in corosync 3 (generation G3)",
                ))
            }
            "iba" => return Err(refused(&e, "InfiniBand verbs are not implemented")),
            _ => return Err(invalid(&e, "expected udpu, udp or knet")),
        },
        None if gen == Generation::G3 => TransportKind::Knet,
        None => TransportKind::Udp,
    };

    if transport != TransportKind::Knet {
        for &k in KNET_TOTEM_KEYS {
            if let Some(e) = t(k) {
                return Err(refused(&e, "a knet option; the transport is not knet"));
            }
        }
    }
    Ok(transport)
}

/// Node-wide options of the `totem` section.
#[derive(Debug, Clone, Copy)]
pub(super) struct TotemOptions {
    pub netmtu: usize,
    pub block_unlisted_ips: bool,
    pub ip_version: IpVersion,
}

/// `netmtu` (default: knet's packet size over knet, else 1500), `block_unlisted_ips`
/// (default yes) and `ip_version` (default ipv4; host names are not resolved).
pub(super) fn options(transport: TransportKind, t: &Lookup<'_>) -> Result<TotemOptions> {
    let netmtu = match t("netmtu") {
        Some(e) => {
            let v: usize = num(&e)?;
            if !(576..=65_536).contains(&v) {
                return Err(invalid(&e, "must be between 576 and 65536"));
            }
            v
        }
        None if transport == TransportKind::Knet => crate::knet::MAX_PACKET_SIZE,
        None => 1500,
    };
    let block_unlisted_ips = match t("block_unlisted_ips") {
        Some(e) => yes_no(&e)?,
        None => true,
    };
    let ip_version_entry = t("ip_version");
    let ip_version = match &ip_version_entry {
        Some(e) => match e.value.as_str() {
            "ipv4" => IpVersion::V4,
            "ipv6" => IpVersion::V6,
            "ipv4-6" | "ipv6-4" => {
                return Err(refused(
                    e,
                    "mixed-family resolution applies to host names, which are not resolved; use ipv4 or ipv6",
                ))
            }
            _ => return Err(invalid(e, "expected ipv4 or ipv6")),
        },
        None => IpVersion::V4,
    };
    Ok(TotemOptions {
        netmtu,
        block_unlisted_ips,
        ip_version,
    })
}
