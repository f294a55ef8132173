//! Compares the datagrams we extract from the real captures in `shared/captures` with what tshark
//! (the independent oracle, IP reassembly on) reports for the same files: frame numbers, payload
//! bytes, timestamps, addresses, ports and fragment counts.
//!
//! tshark's filter excludes ICMP: a port-unreachable error quotes the offending IP+UDP header, and
//! `udp.port==5405` matches that quoted header too; those frames carry no datagram of their own.

mod common;

use common::{captures_dir, ours, tshark, tshark_present};
use totem_captures::{read_udp, PortFilter};

/// Checks one capture against tshark; returns (datagrams, fragmented datagrams), or None if skipped.
fn check(name: &str) -> Option<(usize, usize)> {
    if !tshark_present() {
        println!("SKIP: tshark missing");
        return None;
    }
    let file = captures_dir().join(name);
    let expected = tshark(&file);
    let (got, stats) = read_udp(&file, &PortFilter::default()).expect("read capture");
    assert_eq!(
        got.len(),
        expected.len(),
        "{name}: datagram count (ours vs tshark)"
    );
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(&ours(g), e, "{name}: frame {}", e.frame);
    }
    assert_eq!(
        stats.matched,
        expected.len() as u64,
        "{name}: stats.matched"
    );
    assert_eq!(stats.malformed, 0, "{name}: malformed frames");
    assert_eq!(
        stats.incomplete_fragments, 0,
        "{name}: incomplete reassemblies"
    );
    let fragmented = got.iter().filter(|d| d.fragments > 1).count();
    println!(
        "{name}: {} datagrams match tshark ({fragmented} reassembled), stats {stats:?}",
        got.len()
    );
    Some((got.len(), fragmented))
}

#[test]
fn g1_1_4_10_udp_formation() {
    if let Some((n, _)) = check("1.4.10-udp-01-formation.pcapng") {
        assert_eq!(n, 419);
    }
}

#[test]
fn g1_1_4_10_udpu_secauth_formation_has_fragments() {
    if let Some((n, fragmented)) = check("1.4.10-udpu-secauth-01-formation.pcapng") {
        // 16 fragment frames in tshark: 8 datagrams of two fragments each.
        assert_eq!((n, fragmented), (475, 8));
    }
}

#[test]
fn g1_openais_0_80_6_udp_formation() {
    if let Some((n, _)) = check("openais-0.80.6-udp-01-formation.pcapng") {
        assert_eq!(n, 480);
    }
}

#[test]
fn g2_2_4_6_udpu_formation() {
    if let Some((n, _)) = check("2.4.6-udpu-01-formation.pcapng") {
        assert_eq!(n, 343);
    }
}

#[test]
fn g2_2_4_6_udpu_ipv6_formation() {
    if let Some((n, _)) = check("2.4.6-udpu-ipv6-01-formation.pcapng") {
        assert_eq!(n, 338);
    }
}

#[test]
fn g2_2_4_6_rrp_active_with_icmp_errors() {
    if let Some((n, _)) = check("2.4.6-udpu-rrp-active-01-formation.pcapng") {
        assert_eq!(n, 693);
    }
}

/// Every capture in the directory, so new captures are covered without editing this file.
#[test]
fn every_shared_capture_matches_tshark() {
    if !tshark_present() {
        println!("SKIP: tshark missing");
        return;
    }
    let mut names: Vec<String> = std::fs::read_dir(captures_dir())
        .expect("list captures")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".pcapng") || n.ends_with(".pcap"))
        .collect();
    names.sort();
    assert!(names.len() >= 3, "too few captures: {names:?}");
    for name in &names {
        check(name);
    }
}
