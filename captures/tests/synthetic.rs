//! Hand-built frames and capture files: every link layer, VLAN tags, IPv4 and IPv6 fragments,
//! truncation. Expected values come from how each file was built; where tshark is installed the
//! same file is also checked against it.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use common::build::*;
use common::{ours, tshark, tshark_present};
use totem_captures::{
    read_udp, read_udp_from_bytes, CaptureError, CaptureStats, PortFilter, UdpDatagram,
};

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 11);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 12);
const A6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x51, 0, 0, 0, 0, 0, 0x11);
const B6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x51, 0, 0, 0, 0, 0, 0x12);
const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86DD;

fn v4(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(ip), port)
}

fn v6(ip: Ipv6Addr, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V6(ip), port)
}

/// A Totem-looking UDP/IPv4 packet from 5149 to 5405 carrying `payload`.
fn totem_v4(payload: &[u8]) -> Vec<u8> {
    ipv4(A, B, 7, 0, 17, &udp(5149, 5405, payload))
}

fn read(bytes: &[u8]) -> (Vec<UdpDatagram>, CaptureStats) {
    read_udp_from_bytes(bytes, &PortFilter::default()).expect("capture reads")
}

/// Writes `bytes` to a temporary file and, if tshark is present, requires it to agree with us.
fn agree_with_tshark(name: &str, bytes: &[u8], ours_list: &[UdpDatagram]) {
    if !tshark_present() {
        println!("SKIP: tshark missing");
        return;
    }
    let path: PathBuf =
        std::env::temp_dir().join(format!("totem-captures-{}-{name}", std::process::id()));
    std::fs::write(&path, bytes).expect("write temp capture");
    let expected = tshark(&path);
    let from_file = read_udp(&path, &PortFilter::default()).expect("read temp capture");
    std::fs::remove_file(&path).ok();
    let got: Vec<_> = ours_list.iter().map(ours).collect();
    assert_eq!(got, expected, "{name}: ours vs tshark");
    assert_eq!(
        &from_file.0, ours_list,
        "{name}: read_udp vs read_udp_from_bytes"
    );
}

#[test]
fn sll_frame() {
    let file = pcap(
        LINKTYPE_SLL,
        &[(1_700_000_000, 250_000, sll(ETH_IPV4, &totem_v4(b"sll-one")))],
    );
    let (got, stats) = read(&file);
    assert_eq!(
        got,
        vec![UdpDatagram {
            frame: 1,
            timestamp: Duration::new(1_700_000_000, 250_000_000),
            src: v4(A, 5149),
            dst: v4(B, 5405),
            payload: b"sll-one".to_vec(),
            fragments: 1,
        }]
    );
    assert_eq!(
        (stats.frames, stats.udp, stats.matched, stats.malformed),
        (1, 1, 1, 0)
    );
    agree_with_tshark("sll.pcap", &file, &got);
}

#[test]
fn sll2_frame_ipv6() {
    let pkt = ipv6(A6, B6, 17, &udp6(A6, B6, 40000, 5405, b"sll2 over v6"));
    let file = pcap(LINKTYPE_SLL2, &[(1_700_000_001, 1, sll2(ETH_IPV6, &pkt))]);
    let (got, _) = read(&file);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].src, got[0].dst), (v6(A6, 40000), v6(B6, 5405)));
    assert_eq!(got[0].payload, b"sll2 over v6");
    assert_eq!(got[0].timestamp, Duration::new(1_700_000_001, 1_000));
    agree_with_tshark("sll2.pcap", &file, &got);
}

#[test]
fn raw_ip_both_versions() {
    let file = pcap(
        LINKTYPE_RAW,
        &[
            (10, 0, totem_v4(b"raw4")),
            (11, 0, ipv6(A6, B6, 17, &udp6(A6, B6, 5404, 5405, b"raw6"))),
        ],
    );
    let (got, _) = read(&file);
    let payloads: Vec<&[u8]> = got.iter().map(|d| &d.payload[..]).collect();
    assert_eq!(payloads, vec![&b"raw4"[..], &b"raw6"[..]]);
    assert_eq!(got[1].frame, 2);
    agree_with_tshark("raw.pcap", &file, &got);
}

#[test]
fn bsd_null_loopback() {
    let mut frame = 2u32.to_le_bytes().to_vec();
    frame.extend_from_slice(&totem_v4(b"lo"));
    let (got, _) = read(&pcap(LINKTYPE_NULL, &[(1, 0, frame)]));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload, b"lo");
}

#[test]
fn vlan_tagged_ethernet() {
    let file = pcap(
        LINKTYPE_ETHERNET,
        &[
            (1, 0, ethernet(&[100], ETH_IPV4, &totem_v4(b"one tag"))),
            (
                2,
                0,
                ethernet(&[100, 200], ETH_IPV4, &totem_v4(b"two tags")),
            ),
        ],
    );
    let (got, stats) = read(&file);
    let payloads: Vec<&[u8]> = got.iter().map(|d| &d.payload[..]).collect();
    assert_eq!(payloads, vec![&b"one tag"[..], &b"two tags"[..]]);
    assert_eq!(stats.malformed, 0);
    agree_with_tshark("vlan.pcap", &file, &got);
}

#[test]
fn pcapng_interfaces_with_different_link_types_and_resolutions() {
    let file = pcapng(
        &[
            (LINKTYPE_ETHERNET, None),
            (LINKTYPE_SLL2, Some(9)),
            (LINKTYPE_RAW, Some(0x80 | 10)),
        ],
        &[
            (
                0,
                1_700_000_000_123_456,
                ethernet(&[], ETH_IPV4, &totem_v4(b"eth")),
            ),
            (
                1,
                1_700_000_000_123_456_789,
                sll2(ETH_IPV4, &totem_v4(b"sll2")),
            ),
            (2, 1_536 << 20, totem_v4(b"raw")),
        ],
    );
    let (got, _) = read(&file);
    let summary: Vec<(u64, Duration, &[u8])> = got
        .iter()
        .map(|d| (d.frame, d.timestamp, &d.payload[..]))
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, Duration::new(1_700_000_000, 123_456_000), &b"eth"[..]),
            (2, Duration::new(1_700_000_000, 123_456_789), &b"sll2"[..]),
            // 1536 * 2^20 ticks of 2^-10 s = 1536 * 1024 s.
            (3, Duration::from_secs(1_536 * 1_024), &b"raw"[..]),
        ]
    );
    agree_with_tshark("multi.pcapng", &file, &got);
}

#[test]
fn ipv4_fragments_out_of_order() {
    let payload: Vec<u8> = (0..100u8).collect();
    let whole = udp(5149, 5405, &payload); // 108 bytes: fragments of 48, 48, 12
    let frag = |off: usize, more: bool, end: usize| {
        let field = (off / 8) as u16 | if more { 0x2000 } else { 0 };
        ethernet(
            &[],
            ETH_IPV4,
            &ipv4(A, B, 0x4242, field, 17, &whole[off..end]),
        )
    };
    let file = pcap(
        LINKTYPE_ETHERNET,
        &[
            (1, 0, frag(96, false, 108)),
            (1, 1, frag(0, true, 48)),
            (1, 2, ethernet(&[], ETH_IPV4, &totem_v4(b"unrelated"))),
            (1, 3, frag(48, true, 96)),
        ],
    );
    let (got, stats) = read(&file);
    assert_eq!(got.len(), 2);
    assert_eq!(
        (got[0].payload.as_slice(), got[0].frame),
        (&b"unrelated"[..], 3)
    );
    assert_eq!(got[1].frame, 4, "completed by the fourth frame");
    assert_eq!(got[1].fragments, 3);
    assert_eq!(got[1].payload, payload);
    assert_eq!(got[1].timestamp, Duration::new(1, 3_000));
    assert_eq!(
        (stats.frames, stats.udp, stats.incomplete_fragments),
        (4, 2, 0)
    );
    agree_with_tshark("frag4.pcap", &file, &got);
}

#[test]
fn ipv6_fragments() {
    let payload: Vec<u8> = (0..60u8).collect();
    let whole = udp6(A6, B6, 5405, 5405, &payload); // 68 bytes: 32 + 36
    let id = 0xDEAD_BEEF;
    let first = ipv6(A6, B6, 44, &ipv6_fragment(17, 0, true, id, &whole[..32]));
    let second = ipv6(A6, B6, 44, &ipv6_fragment(17, 32, false, id, &whole[32..]));
    let file = pcap(
        LINKTYPE_ETHERNET,
        &[
            (5, 0, ethernet(&[], ETH_IPV6, &second)),
            (5, 9, ethernet(&[], ETH_IPV6, &first)),
        ],
    );
    let (got, stats) = read(&file);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].frame, got[0].fragments), (2, 2));
    assert_eq!(got[0].payload, payload);
    assert_eq!((got[0].src, got[0].dst), (v6(A6, 5405), v6(B6, 5405)));
    assert_eq!(stats.incomplete_fragments, 0);
    agree_with_tshark("frag6.pcap", &file, &got);
}

#[test]
fn lone_fragment_is_reported_incomplete() {
    let whole = udp(5149, 5405, &[0u8; 40]);
    let first = ipv4(A, B, 9, 0x2000, 17, &whole[..24]);
    let (got, stats) = read(&pcap(LINKTYPE_RAW, &[(1, 0, first)]));
    assert!(got.is_empty());
    assert_eq!(
        (stats.frames, stats.incomplete_fragments, stats.malformed),
        (1, 1, 0)
    );
}

#[test]
fn truncated_frames_are_counted_not_fatal() {
    let good = ethernet(&[], ETH_IPV4, &totem_v4(b"good"));
    let mut udp_len_too_big = totem_v4(b"short");
    udp_len_too_big[24..26].copy_from_slice(&200u16.to_be_bytes());
    let frames = vec![
        (1, 0, good[..10].to_vec()),             // inside the Ethernet header
        (1, 1, good[..20].to_vec()),             // inside the IPv4 header
        (1, 2, good[..good.len() - 2].to_vec()), // IP total length past the data
        (1, 3, ethernet(&[], ETH_IPV4, &udp_len_too_big)), // UDP length past IP payload
        (1, 4, ethernet(&[0x8100], ETH_IPV4, &[])[..15].to_vec()), // inside a VLAN tag
        (1, 5, good.clone()),
    ];
    let mut file = pcap(LINKTYPE_ETHERNET, &frames);
    // A record header that promises more bytes than the file holds.
    file.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 100, 0, 0, 0, 1, 2, 3]);
    let (got, stats) = read(&file);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].frame, got[0].payload.as_slice()), (6, &b"good"[..]));
    assert_eq!(stats.frames, 6);
    assert_eq!(stats.malformed, 6, "five bad frames and the cut-off tail");
}

#[test]
fn non_ip_and_port_filter() {
    let arp = ethernet(&[], 0x0806, &[0, 1, 8, 0, 6, 4, 0, 1]);
    let other_port = ethernet(&[], ETH_IPV4, &ipv4(A, B, 1, 0, 17, &udp(53, 53, b"dns")));
    let src_only = ethernet(
        &[],
        ETH_IPV4,
        &ipv4(A, B, 2, 0, 17, &udp(5405, 40000, b"src")),
    );
    let tcp = ethernet(&[], ETH_IPV4, &ipv4(A, B, 3, 0, 6, &[0; 20]));
    let file = pcap(
        LINKTYPE_ETHERNET,
        &[
            (1, 0, arp),
            (1, 1, other_port),
            (1, 2, src_only),
            (1, 3, tcp),
        ],
    );
    let (got, stats) = read(&file);
    assert_eq!(got.iter().map(|d| d.frame).collect::<Vec<_>>(), vec![3]);
    assert_eq!(
        (stats.frames, stats.udp, stats.matched, stats.skipped_non_ip),
        (4, 2, 1, 1)
    );
    let (all, _) = read_udp_from_bytes(&file, &PortFilter::any()).unwrap();
    assert_eq!(all.iter().map(|d| d.frame).collect::<Vec<_>>(), vec![2, 3]);
    let (only_53, _) = read_udp_from_bytes(&file, &PortFilter::new([53])).unwrap();
    assert_eq!(only_53.len(), 1);
    assert_eq!(only_53[0].payload, b"dns");
}

#[test]
fn whole_file_errors_name_the_file() {
    let e = read_udp_from_bytes(b"not a capture at all", &PortFilter::default()).unwrap_err();
    assert!(matches!(e, CaptureError::NotACapture { .. }), "{e:?}");
    assert!(e.to_string().contains("<bytes>"), "{e}");
    let missing = PathBuf::from("/nonexistent/dir/x.pcapng");
    let e = read_udp(&missing, &PortFilter::default()).unwrap_err();
    assert!(matches!(e, CaptureError::Io { .. }), "{e:?}");
    assert!(e.to_string().contains("/nonexistent/dir/x.pcapng"), "{e}");
}
