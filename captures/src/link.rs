//! Link layers: strips Ethernet (with 802.1Q/802.1ad tags), Linux cooked SLL/SLL2, raw IP and
//! BSD loopback headers down to the IP packet inside.

use crate::malformed::{be16, bytes_at, Malformed};

/// LINKTYPE_NULL: BSD loopback, 4-byte address family in the capturing host's byte order.
pub const LINKTYPE_NULL: u32 = 0;
/// LINKTYPE_ETHERNET.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// DLT_RAW as written by some platforms (raw IPv4/IPv6, no link header).
pub const LINKTYPE_RAW_12: u32 = 12;
/// DLT_RAW as written by BSD/OS (raw IPv4/IPv6, no link header).
pub const LINKTYPE_RAW_14: u32 = 14;
/// LINKTYPE_RAW: raw IPv4/IPv6, no link header.
pub const LINKTYPE_RAW: u32 = 101;
/// LINKTYPE_LOOP: OpenBSD loopback, 4-byte big-endian address family.
pub const LINKTYPE_LOOP: u32 = 108;
/// LINKTYPE_LINUX_SLL: Linux "cooked" capture, version 1 (16-byte header).
pub const LINKTYPE_LINUX_SLL: u32 = 113;
/// LINKTYPE_IPV4: raw IPv4 only.
pub const LINKTYPE_IPV4: u32 = 228;
/// LINKTYPE_IPV6: raw IPv6 only.
pub const LINKTYPE_IPV6: u32 = 229;
/// LINKTYPE_LINUX_SLL2: Linux "cooked" capture, version 2 (20-byte header).
pub const LINKTYPE_LINUX_SLL2: u32 = 276;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86DD;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88A8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
/// The most VLAN tags we follow before calling the frame malformed.
const MAX_VLAN_TAGS: usize = 8;

/// What a frame carries once its link header is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NetworkLayer<'a> {
    /// An IPv4 packet (possibly with trailing link padding).
    Ipv4(&'a [u8]),
    /// An IPv6 packet (possibly with trailing link padding).
    Ipv6(&'a [u8]),
    /// Something that is not IP: the reason says what (ethertype, family, unsupported link type).
    NotIp(NotIp),
}

/// Why a frame was skipped as not IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotIp {
    EtherType(u16),
    Family(u32),
    LinkType(u32),
}

/// Strips the link header of `frame`, whose capture link type is `linktype`.
pub(crate) fn network_layer(linktype: u32, frame: &[u8]) -> Result<NetworkLayer<'_>, Malformed> {
    match linktype {
        LINKTYPE_ETHERNET => ethernet(frame),
        LINKTYPE_LINUX_SLL => {
            let proto = be16(frame, 14, "sll")?;
            by_ethertype(proto, rest(frame, 16, "sll")?)
        }
        LINKTYPE_LINUX_SLL2 => {
            let proto = be16(frame, 0, "sll2")?;
            by_ethertype(proto, rest(frame, 20, "sll2")?)
        }
        LINKTYPE_RAW | LINKTYPE_RAW_12 | LINKTYPE_RAW_14 => raw_ip(frame),
        LINKTYPE_IPV4 => Ok(NetworkLayer::Ipv4(frame)),
        LINKTYPE_IPV6 => Ok(NetworkLayer::Ipv6(frame)),
        LINKTYPE_NULL => {
            let b = bytes_at(frame, 0, 4, "null")?;
            // Host byte order of the capturing machine: families are small, so pick the order
            // that gives a value below 65536.
            let le = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            let family = if le > 0xFFFF { le.swap_bytes() } else { le };
            by_family(family, rest(frame, 4, "null")?)
        }
        LINKTYPE_LOOP => {
            let b = bytes_at(frame, 0, 4, "loop")?;
            let family = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            by_family(family, rest(frame, 4, "loop")?)
        }
        other => Ok(NetworkLayer::NotIp(NotIp::LinkType(other))),
    }
}

/// The bytes of `frame` after a header of `len` bytes, which must be present.
fn rest<'a>(frame: &'a [u8], len: usize, layer: &'static str) -> Result<&'a [u8], Malformed> {
    frame
        .get(len..)
        .ok_or_else(|| Malformed::truncated(layer, 0, len, frame.len()))
}

fn ethernet(frame: &[u8]) -> Result<NetworkLayer<'_>, Malformed> {
    let ethertype = be16(frame, 12, "ethernet")?;
    by_ethertype(ethertype, rest(frame, 14, "ethernet")?)
}

/// Dispatches on an Ethernet protocol type, following any 802.1Q/802.1ad tags first.
fn by_ethertype(mut ethertype: u16, mut payload: &[u8]) -> Result<NetworkLayer<'_>, Malformed> {
    for _ in 0..=MAX_VLAN_TAGS {
        match ethertype {
            ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD => {
                // Tag: 2 bytes TCI, then the inner type.
                ethertype = be16(payload, 2, "vlan")?;
                payload = rest(payload, 4, "vlan")?;
            }
            ETHERTYPE_IPV4 => return Ok(NetworkLayer::Ipv4(payload)),
            ETHERTYPE_IPV6 => return Ok(NetworkLayer::Ipv6(payload)),
            // Anything else, including 802.3 lengths (below 0x0600), is not IP.
            other => return Ok(NetworkLayer::NotIp(NotIp::EtherType(other))),
        }
    }
    Err(Malformed::new(
        "vlan",
        0,
        format!("more than {MAX_VLAN_TAGS} stacked VLAN tags"),
    ))
}

/// BSD address families for IPv4 and the several values used for IPv6.
fn by_family(family: u32, payload: &[u8]) -> Result<NetworkLayer<'_>, Malformed> {
    match family {
        2 => Ok(NetworkLayer::Ipv4(payload)),
        10 | 24 | 28 | 30 => Ok(NetworkLayer::Ipv6(payload)),
        other => Ok(NetworkLayer::NotIp(NotIp::Family(other))),
    }
}

/// Raw IP: the version nibble says which.
fn raw_ip(frame: &[u8]) -> Result<NetworkLayer<'_>, Malformed> {
    let first = frame
        .first()
        .ok_or_else(|| Malformed::truncated("raw ip", 0, 1, 0))?;
    match first >> 4 {
        4 => Ok(NetworkLayer::Ipv4(frame)),
        6 => Ok(NetworkLayer::Ipv6(frame)),
        v => Err(Malformed::new(
            "raw ip",
            0,
            format!("IP version {v} is neither 4 nor 6"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ethernet_ipv4() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00, 0x45, 0x00]);
        assert_eq!(
            network_layer(LINKTYPE_ETHERNET, &f),
            Ok(NetworkLayer::Ipv4(&[0x45, 0x00][..]))
        );
    }

    #[test]
    fn double_vlan_then_ipv6() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[
            0x88, 0xA8, 0x00, 0x64, 0x81, 0x00, 0x00, 0x0A, 0x86, 0xDD, 0x60,
        ]);
        assert_eq!(
            network_layer(LINKTYPE_ETHERNET, &f),
            Ok(NetworkLayer::Ipv6(&[0x60][..]))
        );
    }

    #[test]
    fn arp_is_not_ip() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x06, 0, 1]);
        assert_eq!(
            network_layer(LINKTYPE_ETHERNET, &f),
            Ok(NetworkLayer::NotIp(NotIp::EtherType(0x0806)))
        );
    }

    #[test]
    fn null_loopback_both_byte_orders() {
        assert_eq!(
            network_layer(LINKTYPE_NULL, &[2, 0, 0, 0, 0x45]),
            Ok(NetworkLayer::Ipv4(&[0x45][..]))
        );
        assert_eq!(
            network_layer(LINKTYPE_NULL, &[0, 0, 0, 30, 0x60]),
            Ok(NetworkLayer::Ipv6(&[0x60][..]))
        );
    }

    #[test]
    fn truncated_headers_are_malformed() {
        assert!(network_layer(LINKTYPE_ETHERNET, &[0u8; 13]).is_err());
        assert!(network_layer(LINKTYPE_LINUX_SLL, &[0u8; 15]).is_err());
        assert!(network_layer(LINKTYPE_LINUX_SLL2, &[0u8; 19]).is_err());
        assert!(network_layer(LINKTYPE_RAW, &[]).is_err());
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x81, 0x00, 0x00]);
        assert!(network_layer(LINKTYPE_ETHERNET, &f).is_err());
    }
}
