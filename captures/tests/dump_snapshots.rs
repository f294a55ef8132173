//! Reviewed decodes: the text dump of the start of a few real captures, one per generation
//! and envelope. Each snapshot was read by hand against shared/spec/corosync-wire.md (offsets
//! and meanings) and the findings files (what the daemons did); see the notes above each test.

use std::path::Path;

use totem_captures::dump::{datagram_text, DumpDecoder};
use totem_captures::knet::keys_for_capture;
use totem_captures::layers::{table_for_file, DumpLayers};
use totem_captures::{read_udp, PortFilter};

fn dump(rel: &str, frames: std::ops::RangeInclusive<u64>) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    let keys = keys_for_capture(&path, None, None).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let mut layers = DumpLayers::new(table_for_file(&name));
    let (datagrams, _) = read_udp(&path, &PortFilter::default()).unwrap();
    let mut out = String::new();
    let mut decoder = DumpDecoder::new();
    for d in datagrams.iter() {
        let decoded = decoder.decode(d, &keys);
        // Layers need every earlier packet for reassembly, so describe all, print some.
        let text = datagram_text(d, &decoded, &mut layers);
        if frames.contains(&d.frame) {
            out.push_str(&text);
        }
    }
    assert!(!out.is_empty(), "{rel}: no frames in {frames:?}");
    out
}

/// corosync 1.4.10 udpu formation: joins with G1 padding pattern in the addresses, the commit
/// token's two rotations (memb_index 1, 2), the initial token (aru 0xffffffff, aru_addr = rep),
/// ring seq 8 = 4 + 4, then sync v1 barriers and the dummy openais CLM NODEJOIN in group "a".
#[test]
fn g1_formation() {
    insta::assert_snapshot!(dump("real/1.4.10-udpu-01-formation.pcapng", 1..=30));
}

/// corosync 1.4.10 with secauth (SOBER-128): the same kind of traffic through the envelope
/// with trailer byte 0.
#[test]
fn g1_secauth_formation() {
    insta::assert_snapshot!(dump(
        "real/1.4.10-udpu-secauth-01-formation.pcapng",
        11..=20
    ));
}

/// corosync 2.4.6 formation: FE FE 00 00 header with crypto none, 45-byte srp_addr with
/// no_addrs 2, first ring seq 9 (joins start at 1), then votequorum nodeinfo, sync
/// service_build (568 B), cmap sync item NOT_EXIST, CPG downlist in two fragments, barriers.
#[test]
fn g2_formation() {
    insta::assert_snapshot!(dump("real/2.4.6-udpu-01-formation.pcapng", 11..=45));
}

/// corosync 3.1.7 steady CPG traffic: 45-byte mcast header, cpg.mcast in group "a", and a
/// 64 KiB message split by totempg (fragmented/continuation counters) and reassembled.
#[test]
fn g3_steady_cpg() {
    insta::assert_snapshot!(dump("g3/3.1.7-udpu-02-steady-cpg.pcapng", 1..=60));
}

/// corosync 3.1.7 over knet: Totem inside knet data frames (host id, seq, bcast), pings and
/// pongs recognised as knet control frames (link, seq, timed). Frame 63 completes a 2-fragment
/// knet message (615 bytes: 482 = libknet's pre-PMTUD data MTU for crypto off, + 133), shown
/// as the Totem mcast it carries (sync service_build).
#[test]
fn g3_knet() {
    insta::assert_snapshot!(dump("g3/3.1.7-knet-01-formation.pcapng", 36..=70));
}

/// Only the service messages totempg reassembled from a whole capture, in the order they
/// completed: for corosync 3.1.7 steady CPG traffic (udpu) this shows the cpgsend workload of
/// captures/scripts (joins, small messages, then one 64 KiB and one ~300 KiB message, each
/// reassembled from dozens of totempg fragments into one cpg.mcast) and the leave.
#[test]
fn g3_steady_cpg_messages() {
    let all = dump("g3/3.1.7-udpu-02-steady-cpg.pcapng", 0..=u64::MAX);
    let lines: Vec<&str> = all
        .lines()
        .filter(|l| {
            l.starts_with("      ")
                && !l.starts_with("       ")
                && !l.contains("copy of seq")
                && !l.contains("continues in")
        })
        .map(str::trim)
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("cpg.mcast") && l.contains("len=65536")),
        "no 64 KiB message"
    );
    insta::assert_snapshot!(lines.join("\n"));
}
