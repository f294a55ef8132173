//! Property tests: no input, however broken, makes the extractor or the file reader panic.

mod common;

use std::time::Duration;

use common::build::*;
use proptest::prelude::*;
use totem_captures::{read_udp_from_bytes, Extractor, PortFilter};

/// Every link type the extractor decodes, plus one it does not.
const LINKTYPES: [u32; 11] = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 147];

fn linktype() -> impl Strategy<Value = u32> {
    prop::sample::select(LINKTYPES.to_vec())
}

/// Valid-looking frames (so mutations reach the deeper layers) for a given link type.
fn plausible_frame(kind: u8, payload: &[u8], frag: u16) -> (u32, Vec<u8>) {
    let a = std::net::Ipv4Addr::new(192, 0, 2, 1);
    let b = std::net::Ipv4Addr::new(192, 0, 2, 2);
    let a6 = "fd00::1".parse().unwrap();
    let b6 = "fd00::2".parse().unwrap();
    let p4 = ipv4(a, b, 1, frag, 17, &udp(5405, 5405, payload));
    let p6 = ipv6(
        a6,
        b6,
        44,
        &ipv6_fragment(17, frag & 0xFFF8, frag & 1 == 1, 9, payload),
    );
    match kind % 5 {
        0 => (LINKTYPE_ETHERNET, ethernet(&[7], 0x0800, &p4)),
        1 => (LINKTYPE_SLL, sll(0x86DD, &p6)),
        2 => (LINKTYPE_SLL2, sll2(0x0800, &p4)),
        3 => (LINKTYPE_RAW, p6),
        _ => (LINKTYPE_ETHERNET, ethernet(&[], 0x86DD, &p6)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_frame_bodies_never_panic(
        frames in prop::collection::vec((linktype(), prop::collection::vec(any::<u8>(), 0..200)), 1..8)
    ) {
        let mut x = Extractor::new(PortFilter::any());
        for (i, (lt, body)) in frames.iter().enumerate() {
            x.push_frame(i as u64 + 1, *lt, Duration::from_secs(i as u64), body);
        }
        let stats = x.finish();
        prop_assert_eq!(stats.frames, frames.len() as u64);
    }

    #[test]
    fn mutated_plausible_frames_never_panic(
        frames in prop::collection::vec(
            (any::<u8>(), prop::collection::vec(any::<u8>(), 0..64), any::<u16>(),
             prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
             any::<prop::sample::Index>()),
            1..10)
    ) {
        let mut x = Extractor::new(PortFilter::default());
        for (i, (kind, payload, frag, flips, cut)) in frames.iter().enumerate() {
            let (lt, mut f) = plausible_frame(*kind, payload, *frag);
            for (at, val) in flips {
                let n = at.index(f.len());
                f[n] = *val;
            }
            let keep = cut.index(f.len() + 1);
            f.truncate(keep.max(f.len() / 2));
            x.push_frame(i as u64 + 1, lt, Duration::from_millis(i as u64), &f);
        }
        x.finish();
    }

    #[test]
    fn arbitrary_file_bytes_never_panic(
        magic in prop::sample::select(vec![
            vec![0x0A, 0x0D, 0x0D, 0x0A], vec![0xD4, 0xC3, 0xB2, 0xA1],
            vec![0xA1, 0xB2, 0xC3, 0xD4], vec![0x4D, 0x3C, 0xB2, 0xA1], vec![],
        ]),
        rest in prop::collection::vec(any::<u8>(), 0..300)
    ) {
        let mut bytes = magic;
        bytes.extend_from_slice(&rest);
        let _ = read_udp_from_bytes(&bytes, &PortFilter::any());
    }

    #[test]
    fn mutated_capture_files_never_panic(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        ng in any::<bool>()
    ) {
        let a = std::net::Ipv4Addr::new(192, 0, 2, 1);
        let frame = ethernet(&[], 0x0800, &ipv4(a, a, 1, 0, 17, &udp(1, 5405, b"payload")));
        let mut bytes = if ng {
            pcapng(&[(LINKTYPE_ETHERNET, Some(9)), (LINKTYPE_RAW, None)],
                   &[(0, 1, frame.clone()), (1, 2, frame[14..].to_vec()), (0, 3, frame)])
        } else {
            pcap(LINKTYPE_ETHERNET, &[(1, 2, frame.clone()), (3, 4, frame)])
        };
        for (at, val) in &flips {
            let n = at.index(bytes.len());
            bytes[n] = *val;
        }
        bytes.truncate(cut.index(bytes.len() + 1).max(bytes.len() / 2));
        let _ = read_udp_from_bytes(&bytes, &PortFilter::any());
    }
}
