//! IPv4 (with options) and IPv6 (with extension headers) parsing down to the upper-layer payload,
//! handing fragments to the reassembler.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crate::malformed::{be16, be32, byte, bytes_at, Malformed};
use crate::reassembly::{Fragment, FragmentKey, Reassembler};

const IPV4_MIN_HEADER: usize = 20;
const IPV6_HEADER: usize = 40;
const IPV4_MORE_FRAGMENTS: u16 = 0x2000;
const IPV4_OFFSET_MASK: u16 = 0x1FFF;

// IPv6 next-header values that we walk over.
const HOP_BY_HOP: u8 = 0;
const ROUTING: u8 = 43;
const FRAGMENT: u8 = 44;
const AUTH_HEADER: u8 = 51;
const DEST_OPTIONS: u8 = 60;
const MOBILITY: u8 = 135;
const HIP: u8 = 139;
const SHIM6: u8 = 140;
/// The most extension headers we walk before calling the packet malformed.
const MAX_EXTENSION_HEADERS: usize = 16;

/// The upper-layer payload of an IP packet, reassembled if it was fragmented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IpPayload<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Upper-layer protocol number (17 for UDP).
    pub proto: u8,
    pub payload: Cow<'a, [u8]>,
    /// How many fragments made it; 1 if not fragmented.
    pub fragments: u32,
}

/// What one IP packet yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IpOutcome<'a> {
    /// A whole upper-layer payload (from this packet alone or completed by it).
    Payload(IpPayload<'a>),
    /// A fragment was stored; its datagram is not complete yet.
    FragmentHeld,
}

/// Parses an IPv4 packet; `data` may carry trailing link padding past the total length.
pub(crate) fn ipv4<'a>(
    data: &'a [u8],
    now: Duration,
    reasm: &mut Reassembler,
) -> Result<IpOutcome<'a>, Malformed> {
    const L: &str = "ipv4";
    let vihl = byte(data, 0, L)?;
    if vihl >> 4 != 4 {
        return Err(Malformed::new(
            L,
            0,
            format!("version {} is not 4", vihl >> 4),
        ));
    }
    let header_len = usize::from(vihl & 0x0F) * 4;
    if header_len < IPV4_MIN_HEADER {
        return Err(Malformed::new(
            L,
            0,
            format!("header length {header_len} is below 20"),
        ));
    }
    // The header including options must be present.
    bytes_at(data, 0, header_len, L)?;
    let total_len = usize::from(be16(data, 2, L)?);
    // A zero total length is what TCP segmentation offload leaves behind: use what was captured.
    let total_len = if total_len == 0 {
        data.len()
    } else {
        total_len
    };
    if total_len < header_len {
        return Err(Malformed::new(
            L,
            2,
            format!("total length {total_len} is shorter than the header ({header_len})"),
        ));
    }
    let packet = data.get(..total_len).ok_or_else(|| {
        Malformed::new(
            L,
            2,
            format!(
                "total length {total_len} exceeds the {} captured bytes",
                data.len()
            ),
        )
    })?;
    let id = be16(data, 4, L)?;
    let flags_offset = be16(data, 6, L)?;
    let proto = byte(data, 9, L)?;
    let src = Ipv4Addr::from(be32(data, 12, L)?);
    let dst = Ipv4Addr::from(be32(data, 16, L)?);
    let payload = packet.get(header_len..).unwrap_or_default();

    let more = flags_offset & IPV4_MORE_FRAGMENTS != 0;
    let offset = usize::from(flags_offset & IPV4_OFFSET_MASK) * 8;
    let (src, dst) = (IpAddr::V4(src), IpAddr::V4(dst));
    if !more && offset == 0 {
        return Ok(IpOutcome::Payload(IpPayload {
            src,
            dst,
            proto,
            payload: Cow::Borrowed(payload),
            fragments: 1,
        }));
    }
    let key = FragmentKey {
        src,
        dst,
        id: u32::from(id),
        proto,
    };
    let frag = Fragment {
        offset,
        more,
        data: payload,
    };
    Ok(match reasm.add(key, frag, now)? {
        Some(done) => IpOutcome::Payload(IpPayload {
            src,
            dst,
            proto,
            payload: Cow::Owned(done.payload),
            fragments: done.fragments,
        }),
        None => IpOutcome::FragmentHeld,
    })
}

/// Parses an IPv6 packet, walking extension headers; `data` may carry trailing link padding.
pub(crate) fn ipv6<'a>(
    data: &'a [u8],
    now: Duration,
    reasm: &mut Reassembler,
) -> Result<IpOutcome<'a>, Malformed> {
    const L: &str = "ipv6";
    let first = byte(data, 0, L)?;
    if first >> 4 != 6 {
        return Err(Malformed::new(
            L,
            0,
            format!("version {} is not 6", first >> 4),
        ));
    }
    let payload_len = usize::from(be16(data, 4, L)?);
    let next = byte(data, 6, L)?;
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(bytes_at(data, 8, 16, L)?).unwrap_or_default());
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(bytes_at(data, 24, 16, L)?).unwrap_or_default());
    if payload_len == 0 && next == HOP_BY_HOP {
        return Err(Malformed::new(L, 4, "jumbograms are not supported"));
    }
    let payload = bytes_at(data, IPV6_HEADER, payload_len, L).map_err(|_| {
        Malformed::new(
            L,
            4,
            format!(
                "payload length {payload_len} exceeds the {} captured bytes after the header",
                data.len().saturating_sub(IPV6_HEADER)
            ),
        )
    })?;
    let (src, dst) = (IpAddr::V6(src), IpAddr::V6(dst));

    let (proto, offset) = match walk_extensions(next, payload, false)? {
        Walked::Upper { proto, offset } => (proto, offset),
        Walked::Fragment {
            next,
            offset,
            frag_offset,
            more,
            id,
        } => {
            let frag_data = payload.get(offset..).unwrap_or_default();
            if frag_offset == 0 && !more {
                // An atomic fragment (RFC 6946): nothing to reassemble.
                return upper_after_fragment(src, dst, next, Cow::Borrowed(frag_data), 1);
            }
            let key = FragmentKey {
                src,
                dst,
                id,
                proto: next,
            };
            let frag = Fragment {
                offset: frag_offset,
                more,
                data: frag_data,
            };
            return match reasm.add(key, frag, now)? {
                Some(done) => {
                    upper_after_fragment(src, dst, next, Cow::Owned(done.payload), done.fragments)
                }
                None => Ok(IpOutcome::FragmentHeld),
            };
        }
    };
    Ok(IpOutcome::Payload(IpPayload {
        src,
        dst,
        proto,
        payload: Cow::Borrowed(payload.get(offset..).unwrap_or_default()),
        fragments: 1,
    }))
}

/// Walks the extension headers of a reassembled fragmentable part down to the upper layer.
fn upper_after_fragment<'a>(
    src: IpAddr,
    dst: IpAddr,
    next: u8,
    data: Cow<'a, [u8]>,
    fragments: u32,
) -> Result<IpOutcome<'a>, Malformed> {
    let (proto, offset) = match walk_extensions(next, &data, true)? {
        Walked::Upper { proto, offset } => (proto, offset),
        Walked::Fragment { offset, .. } => {
            return Err(Malformed::new(
                "ipv6",
                offset,
                "fragment header inside a fragmented packet",
            ))
        }
    };
    let payload = match data {
        Cow::Borrowed(b) => Cow::Borrowed(b.get(offset..).unwrap_or_default()),
        Cow::Owned(mut v) => {
            v.drain(..offset.min(v.len()));
            Cow::Owned(v)
        }
    };
    Ok(IpOutcome::Payload(IpPayload {
        src,
        dst,
        proto,
        payload,
        fragments,
    }))
}

/// Where the walk over IPv6 extension headers stopped.
#[derive(Debug)]
enum Walked {
    /// At the upper-layer header `proto`, which starts at `offset`.
    Upper { proto: u8, offset: usize },
    /// At a fragment header; the fragment data starts at `offset`.
    Fragment {
        next: u8,
        offset: usize,
        frag_offset: usize,
        more: bool,
        id: u32,
    },
}

fn walk_extensions(mut next: u8, data: &[u8], reassembled: bool) -> Result<Walked, Malformed> {
    const L: &str = "ipv6 extension header";
    let mut offset = 0usize;
    for _ in 0..MAX_EXTENSION_HEADERS {
        let len = match next {
            HOP_BY_HOP | ROUTING | DEST_OPTIONS | MOBILITY | HIP | SHIM6 => {
                (usize::from(byte(data, offset.saturating_add(1), L)?) + 1) * 8
            }
            AUTH_HEADER => (usize::from(byte(data, offset.saturating_add(1), L)?) + 2) * 4,
            FRAGMENT if !reassembled => {
                let h = bytes_at(data, offset, 8, "ipv6 fragment header")?;
                let off_flags = u16::from_be_bytes([h[2], h[3]]);
                return Ok(Walked::Fragment {
                    next: h[0],
                    offset: offset.saturating_add(8),
                    frag_offset: usize::from(off_flags & 0xFFF8),
                    more: off_flags & 1 != 0,
                    id: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
                });
            }
            proto => return Ok(Walked::Upper { proto, offset }),
        };
        let header = bytes_at(data, offset, len, L)?;
        next = header[0];
        offset = offset.saturating_add(len);
    }
    Err(Malformed::new(
        L,
        offset,
        format!("more than {MAX_EXTENSION_HEADERS} extension headers"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reassembly::Limits;

    fn v4_header(total: u16, flags_offset: u16, proto: u8, ihl: u8) -> Vec<u8> {
        let mut h = vec![0x40 | ihl, 0, 0, 0, 0x12, 0x34, 0, 0, 64, proto, 0, 0];
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h[6..8].copy_from_slice(&flags_offset.to_be_bytes());
        h.extend_from_slice(&[192, 0, 2, 1, 192, 0, 2, 2]);
        h.resize(usize::from(ihl) * 4, 1); // options: NOPs
        h
    }

    #[test]
    fn ipv4_with_options_and_padding() {
        let mut p = v4_header(24 + 3, 0, 17, 6);
        p.extend_from_slice(&[9, 8, 7, 0, 0, 0]); // 3 payload bytes + 3 padding
        let mut r = Reassembler::new(Limits::default());
        match ipv4(&p, Duration::ZERO, &mut r).unwrap() {
            IpOutcome::Payload(ip) => {
                assert_eq!(&*ip.payload, &[9, 8, 7]);
                assert_eq!(ip.proto, 17);
                assert_eq!(ip.src, "192.0.2.1".parse::<IpAddr>().unwrap());
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn ipv4_total_length_past_capture_is_malformed() {
        let mut p = v4_header(100, 0, 17, 5);
        p.extend_from_slice(&[0; 10]);
        let mut r = Reassembler::new(Limits::default());
        assert!(ipv4(&p, Duration::ZERO, &mut r).is_err());
    }

    #[test]
    fn ipv6_skips_hop_by_hop_and_dest_options() {
        let mut p = vec![0x60, 0, 0, 0, 0, 0, HOP_BY_HOP, 64];
        p.extend_from_slice(&[0xfd; 32]);
        // hop-by-hop (8 bytes) -> dest options (16 bytes) -> UDP payload "xy"
        p.extend_from_slice(&[DEST_OPTIONS, 0, 1, 4, 0, 0, 0, 0]);
        p.extend_from_slice(&[17, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        p.extend_from_slice(b"xy");
        let plen = (p.len() - 40) as u16;
        p[4..6].copy_from_slice(&plen.to_be_bytes());
        let mut r = Reassembler::new(Limits::default());
        match ipv6(&p, Duration::ZERO, &mut r).unwrap() {
            IpOutcome::Payload(ip) => {
                assert_eq!(ip.proto, 17);
                assert_eq!(&*ip.payload, b"xy");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
